//! Experiment files: a base scenario, the factors to vary and the seeds.
//!
//! ```toml
//! name = "kademlia-k"            # default: the file's name
//! scenario = "../kademlia.toml"  # the base scenario, relative to this file
//! seeds = 30                     # seeds 1 to 30; or a list: seeds = [4, 8, 15]
//! run_timeout = "20m"            # wall-clock limit per run (default 30m)
//! baseline = "k=8"               # the variant the others are compared with (default: the first)
//! metrics = ["lookup.success_rate", "lookup.messages_mean"]  # reported (default: all)
//!
//! [[plugins]]                    # one variant per entry
//! label = "kademlia"
//! plugin = "kademlia"            # built-in name or a .wasm path (relative to this file)
//! groups = ["peers"]             # the groups that run it (default: all)
//! config = { k = 20 }            # replaces those groups' config (default: kept)
//! set = { "groups.*.bootstrap" = { strategy = "random", count = 2 } }  # any other edits (paths as below)
//!
//! [[factors]]                    # each factor multiplies the variants (a full grid)
//! name = "k"                     # its column (default: the path's last part)
//! path = "groups.peers.config.k" # or paths = [...] to set several together
//! values = [8, 20]               # or range = { from = 100, to = 10000, steps = 5, scale = "log" }
//!
//! [[derived]]                    # a metric computed from the others, the numeric
//! name = "messages_per_success"  # factor levels and summary.json's numbers
//! expr = "lookup.messages_mean / lookup.success_rate"  # or "summary.messages.by_kind.PING.sent / summary.nodes"
//! # reference_for = "lookup.rounds_mean"  # a theoretical curve: drawn in that metric's plot
//! ```
//!
//! A path addresses any value of the scenario file: tables by key
//! (`network.loss`, `network.latency.max`, `duration`), arrays of tables
//! by an element's `name` (`groups.peers.count`, `faults.churn.churn.session.mean`),
//! by position (`groups[0].count`, `workload[2].rate`) or all at once
//! (`groups.*.plugin`). A missing last key is added (`groups.peers.config.alpha`).
//! The scenario file is edited in place, so its own errors keep their lines.
//!
//! Errors name the file, the line and the field, like scenario errors.

use super::expr::Expr;
use crate::scenario::Scenario;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// An experiment file is malformed, or its results cannot be written:
/// [`crate::error::FileError`].
pub type ExperimentError = crate::error::FileError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    scenario: Spanned<String>,
    seeds: Spanned<Seeds>,
    run_timeout: Option<Spanned<String>>,
    baseline: Option<Spanned<String>>,
    #[serde(default)]
    metrics: Vec<Spanned<String>>,
    #[serde(default)]
    plugins: Vec<Spanned<PluginSection>>,
    #[serde(default)]
    factors: Vec<Spanned<FactorSection>>,
    #[serde(default)]
    derived: Vec<DerivedSection>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seeds {
    Count(u64),
    List(Vec<u64>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSection {
    label: Option<String>,
    plugin: Spanned<String>,
    groups: Option<Vec<Spanned<String>>>,
    config: Option<toml::Table>,
    set: Option<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FactorSection {
    name: Option<String>,
    path: Option<Spanned<String>>,
    paths: Option<Vec<Spanned<String>>>,
    values: Option<Vec<Spanned<toml::Value>>>,
    range: Option<Spanned<RangeSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeSection {
    from: f64,
    to: f64,
    steps: usize,
    #[serde(default)]
    scale: Scale,
    /// Round to integers (default: when `from` and `to` are whole numbers).
    integer: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Scale {
    #[default]
    Linear,
    Log,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DerivedSection {
    name: Spanned<String>,
    expr: Spanned<String>,
    reference_for: Option<Spanned<String>>,
}

/// One level of a factor while the file is read: its label, its edits,
/// and where it was written (offset and field, for errors).
type Level = (String, Vec<Override>, usize, String);

/// One edit of the base scenario: set the value at `path`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Override {
    /// Where, in the path syntax of [`crate::experiment::file`].
    pub path: String,
    /// The value, as TOML (`8`, `"kademlia"`, `{ k = 20 }`).
    pub value: String,
}

/// One combination of factor levels: what every seed runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its label in tables and plots (`kademlia, k=20`).
    pub label: String,
    /// The level of every factor, by factor name, in the file's order
    /// (`plugin` first when the file has `[[plugins]]`).
    pub levels: Vec<(String, String)>,
    /// The edits that make its scenario from the base scenario.
    pub overrides: Vec<Override>,
}

/// A derived metric: a formula over other metrics of the same run.
#[derive(Clone, Debug)]
pub struct Derived {
    /// Its name.
    pub name: String,
    /// The formula.
    pub expr: Expr,
    /// A metric this one is the theory of (`reference_for`): plots
    /// against a factor draw it as a reference line in that metric's panel.
    pub reference_for: Option<String>,
}

/// A loaded, checked experiment.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// Its name (reports, the output folder's files).
    pub name: String,
    /// Where it came from (a file, or a description for `peershare compare`).
    pub origin: String,
    /// The base scenario file.
    pub scenario: PathBuf,
    /// The variants, in grid order (the first factor varies slowest).
    pub variants: Vec<Variant>,
    /// The seeds every variant runs.
    pub seeds: Vec<u64>,
    /// The wall-clock limit per run.
    pub run_timeout: std::time::Duration,
    /// The label of the variant the others are compared with.
    pub baseline: String,
    /// The metrics to report; empty: all.
    pub metrics: Vec<String>,
    /// Derived metrics, computed after the standard ones in this order.
    pub derived: Vec<Derived>,
    /// The names of the factors, in order (the columns of the results).
    pub factors: Vec<String>,
    /// A digest of the inputs besides the specs (see [`super::RunSpec::inputs`]).
    pub inputs: String,
}

/// The default wall-clock limit per run.
pub const DEFAULT_RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn invalid(&self, offset: usize, field: impl Into<String>, message: impl Into<String>) -> ExperimentError {
        let line = self.text[..offset.min(self.text.len())].matches('\n').count() + 1;
        ExperimentError::Invalid { path: self.path.to_string(), line, field: field.into(), message: message.into() }
    }
}

impl Experiment {
    /// Reads and checks an experiment file: every variant's scenario is
    /// made and checked, so a bad path or value is reported before any run.
    pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExperimentError::Read { path: path.display().to_string(), source })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "experiment".into());
        Self::parse(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")), &name)
    }

    /// Reads an experiment from text; `origin` names it in errors, `base`
    /// is the folder its relative paths start from and `default_name` its
    /// name unless the file sets one.
    pub fn parse(text: &str, origin: &str, base: &Path, default_name: &str) -> Result<Experiment, ExperimentError> {
        let src = Source { path: origin, text };
        let file: File = toml::from_str(text)
            .map_err(|e| ExperimentError::Syntax { path: origin.to_string(), message: e.to_string().trim_end().to_string() })?;
        let scenario = base.join(file.scenario.get_ref());
        let scenario_text = std::fs::read_to_string(&scenario)
            .map_err(|e| src.invalid(file.scenario.span().start, "scenario", format!("cannot read {}: {e}", scenario.display())))?;

        let seeds = match file.seeds.get_ref() {
            Seeds::Count(0) => return Err(src.invalid(file.seeds.span().start, "seeds", "an experiment needs at least one seed")),
            Seeds::Count(n) => (1..=*n).collect(),
            Seeds::List(list) if list.is_empty() => {
                return Err(src.invalid(file.seeds.span().start, "seeds", "an experiment needs at least one seed"));
            }
            Seeds::List(list) => {
                let mut sorted = list.clone();
                sorted.sort_unstable();
                if sorted.windows(2).any(|w| w[0] == w[1]) {
                    return Err(src.invalid(file.seeds.span().start, "seeds", "a seed is listed twice"));
                }
                list.clone()
            }
        };
        let run_timeout = match &file.run_timeout {
            Some(t) => {
                let d: SimDuration = t
                    .get_ref()
                    .parse()
                    .map_err(|e: crate::time::ParseDurationError| src.invalid(t.span().start, "run_timeout", e.to_string()))?;
                std::time::Duration::from_nanos(d.as_nanos())
            }
            None => DEFAULT_RUN_TIMEOUT,
        };

        // Factor levels: (factor name, its levels).
        let mut factors: Vec<(String, Vec<Level>)> = Vec::new();
        // Where each factor's path was written (for errors about the path).
        let mut path_wheres: Vec<(usize, String)> = Vec::new();
        if !file.plugins.is_empty() {
            let mut levels = Vec::new();
            for (i, p) in file.plugins.iter().enumerate() {
                let at = p.span().start;
                let p = p.get_ref();
                let plugin = p.plugin.get_ref();
                let is_path = plugin.ends_with(".wasm") || plugin.contains('/');
                let plugin_value = if is_path {
                    let file = base.join(plugin);
                    if !file.is_file() {
                        return Err(src.invalid(
                            p.plugin.span().start,
                            format!("plugins[{i}].plugin"),
                            format!("no such file: {}", file.display()),
                        ));
                    }
                    // The scenario resolves paths against its own folder.
                    std::path::absolute(&file).unwrap_or(file).display().to_string()
                } else {
                    if !crate::builtin::names().contains(&plugin.as_str()) {
                        return Err(src.invalid(
                            p.plugin.span().start,
                            format!("plugins[{i}].plugin"),
                            format!(
                                "no built-in plugin {plugin:?} (built-in: {}); a path must end in .wasm",
                                crate::builtin::names().join(", ")
                            ),
                        ));
                    }
                    plugin.clone()
                };
                let groups: Vec<String> = match &p.groups {
                    Some(g) => g.iter().map(|g| g.get_ref().clone()).collect(),
                    None => vec!["*".to_string()],
                };
                let mut overrides = Vec::new();
                for g in &groups {
                    overrides.push(Override {
                        path: format!("groups.{g}.plugin"),
                        value: toml_literal(&toml::Value::String(plugin_value.clone())),
                    });
                    if let Some(config) = &p.config {
                        overrides.push(Override {
                            path: format!("groups.{g}.config"),
                            value: toml_literal(&toml::Value::Table(config.clone())),
                        });
                    }
                }
                if let Some(set) = &p.set {
                    for (path, value) in set.get_ref() {
                        parse_path(path).map_err(|m| src.invalid(set.span().start, format!("plugins[{i}].set"), m))?;
                        overrides.push(Override { path: path.clone(), value: toml_literal(value) });
                    }
                }
                let label = p.label.clone().unwrap_or_else(|| plugin.clone());
                levels.push((label, overrides, at, format!("plugins[{i}]")));
            }
            factors.push(("plugin".to_string(), levels));
            path_wheres.push((file.plugins[0].span().start, "plugins".to_string()));
        }
        for (i, f) in file.factors.iter().enumerate() {
            let at = f.span().start;
            let f = f.get_ref();
            let paths: Vec<&Spanned<String>> = match (&f.path, &f.paths) {
                (Some(p), None) => vec![p],
                (None, Some(ps)) if !ps.is_empty() => ps.iter().collect(),
                _ => return Err(src.invalid(at, format!("factors[{i}]"), "a factor needs `path` or a non-empty `paths` (not both)")),
            };
            let name = f.name.clone().unwrap_or_else(|| last_segment(paths[0].get_ref()).to_string());
            if ["variant", "seed", "metric", "value", "plugin"].contains(&name.as_str()) {
                return Err(src.invalid(
                    at,
                    format!("factors[{i}].name"),
                    format!("{name:?} names a column of the results; call the factor something else"),
                ));
            }
            if factors.iter().any(|(n, _)| *n == name) {
                return Err(src.invalid(at, format!("factors[{i}].name"), format!("two factors are named {name:?}")));
            }
            let values: Vec<(toml::Value, usize, String)> = match (&f.values, &f.range) {
                (Some(v), None) if !v.is_empty() => {
                    v.iter().enumerate().map(|(j, x)| (x.get_ref().clone(), x.span().start, format!("factors[{i}].values[{j}]"))).collect()
                }
                (None, Some(r)) => range_values(r.get_ref())
                    .map_err(|m| src.invalid(r.span().start, format!("factors[{i}].range"), m))?
                    .into_iter()
                    .map(|x| (x, r.span().start, format!("factors[{i}].range")))
                    .collect(),
                _ => {
                    return Err(src.invalid(
                        at,
                        format!("factors[{i}]"),
                        "a factor needs `values` (a non-empty list) or a `range` (not both)",
                    ));
                }
            };
            for p in &paths {
                parse_path(p.get_ref()).map_err(|m| src.invalid(p.span().start, format!("factors[{i}].path"), m))?;
            }
            let levels = values
                .into_iter()
                .map(|(v, at, field)| {
                    let overrides = paths.iter().map(|p| Override { path: p.get_ref().clone(), value: toml_literal(&v) }).collect();
                    (format!("{name}={}", level_text(&v)), overrides, at, field)
                })
                .collect();
            factors.push((name, levels));
            path_wheres.push((paths[0].span().start, format!("factors[{i}].path")));
        }
        if factors.is_empty() {
            return Err(src.invalid(0, "factors", "nothing varies: add [[plugins]] or [[factors]]"));
        }

        // The full grid, first factor slowest. Beside each variant: where
        // each of its levels was written, and which factor each override
        // comes from (to point errors at the right line).
        type Wheres = Vec<(usize, String)>;
        let empty = Variant { label: String::new(), levels: vec![], overrides: vec![] };
        let mut variants: Vec<(Variant, Wheres, Vec<usize>)> = vec![(empty, vec![], vec![])];
        for (f, (name, levels)) in factors.iter().enumerate() {
            let mut next = Vec::new();
            for (v, wheres, owners) in &variants {
                for (label, overrides, at, field) in levels {
                    let mut v = v.clone();
                    let level = if name == "plugin" { label.clone() } else { label[name.len() + 1..].to_string() };
                    v.label = if v.label.is_empty() { label.clone() } else { format!("{}, {label}", v.label) };
                    v.levels.push((name.clone(), level));
                    v.overrides.extend(overrides.iter().cloned());
                    let mut wheres = wheres.clone();
                    wheres.push((*at, field.clone()));
                    let mut owners = owners.clone();
                    owners.extend(std::iter::repeat_n(f, overrides.len()));
                    next.push((v, wheres, owners));
                }
            }
            variants = next;
        }
        for (v, wheres, owners) in &variants {
            if variants.iter().filter(|(w, _, _)| w.label == v.label).count() > 1 {
                let (at, field) = wheres.last().cloned().unwrap_or_default();
                return Err(src.invalid(at, field, format!("two variants are labelled {:?}; give each plugin its own label", v.label)));
            }
            // Every variant's scenario must exist and be valid.
            if let Err(e) = variant_scenario(&scenario, &scenario_text, &v.overrides) {
                let (at, field) = match &e {
                    VariantError::Path { index, .. } => path_wheres[owners[*index]].clone(),
                    VariantError::Scenario { index: Some(index), .. } => wheres[owners[*index]].clone(),
                    VariantError::Scenario { index: None, .. } => wheres[wheres.len() - 1].clone(),
                };
                return Err(src.invalid(at, field, format!("variant {:?}: {e}", v.label)));
            }
        }
        let variants: Vec<Variant> = variants.into_iter().map(|(v, _, _)| v).collect();

        let baseline = match &file.baseline {
            Some(b) => {
                if !variants.iter().any(|v| v.label == *b.get_ref()) {
                    let labels: Vec<&str> = variants.iter().map(|v| v.label.as_str()).collect();
                    return Err(src.invalid(
                        b.span().start,
                        "baseline",
                        format!("no variant is labelled {:?} (variants: {})", b.get_ref(), labels.join("; ")),
                    ));
                }
                b.get_ref().clone()
            }
            None => variants[0].label.clone(),
        };
        let mut derived = Vec::new();
        for (i, d) in file.derived.iter().enumerate() {
            let expr = Expr::parse(d.expr.get_ref()).map_err(|m| src.invalid(d.expr.span().start, format!("derived[{i}].expr"), m))?;
            derived.push(Derived {
                name: d.name.get_ref().clone(),
                expr,
                reference_for: d.reference_for.as_ref().map(|r| r.get_ref().clone()),
            });
        }
        for (i, m) in file.metrics.iter().enumerate() {
            if m.get_ref().trim().is_empty() {
                return Err(src.invalid(m.span().start, format!("metrics[{i}]"), "a metric name is empty"));
            }
        }
        // The plugin files the runs may load: those the variants name and
        // those of the base scenario.
        let mut plugin_files: Vec<PathBuf> = variants
            .iter()
            .flat_map(|v| &v.overrides)
            .filter_map(|o| {
                o.value.parse::<toml::Value>().ok().or_else(|| toml::from_str::<toml::Table>(&format!("v = {}", o.value)).ok()?.remove("v"))
            })
            .filter_map(|v| v.as_str().filter(|s| s.ends_with(".wasm")).map(PathBuf::from))
            .collect();
        if let Ok(table) = scenario_text.parse::<toml::Table>()
            && let Some(groups) = table.get("groups").and_then(|g| g.as_array())
        {
            let dir = scenario.parent().unwrap_or(Path::new("."));
            plugin_files
                .extend(groups.iter().filter_map(|g| g.get("plugin")?.as_str().filter(|s| s.ends_with(".wasm")).map(|s| dir.join(s))));
        }
        plugin_files.sort();
        plugin_files.dedup();
        let inputs = super::inputs_digest(&scenario_text, &plugin_files);
        Ok(Experiment {
            inputs,
            name: file.name.clone().unwrap_or_else(|| default_name.to_string()),
            origin: origin.to_string(),
            scenario,
            variants,
            seeds,
            run_timeout,
            baseline,
            metrics: file.metrics.iter().map(|m| m.get_ref().clone()).collect(),
            derived,
            factors: factors.iter().map(|(n, _)| n.clone()).collect(),
        })
    }

    /// Plugins head to head on one scenario (what `peershare compare`
    /// runs): one variant per plugin (a built-in name or a .wasm path),
    /// run by every group, on seeds 1 to `seeds`.
    pub fn plugins_head_to_head(
        scenario: &Path,
        plugins: &[String],
        seeds: u64,
        metrics: &[String],
    ) -> Result<Experiment, ExperimentError> {
        let mut text = format!("scenario = {}\nseeds = {seeds}\n", toml_literal(&toml::Value::String(scenario.display().to_string())));
        if !metrics.is_empty() {
            let list: Vec<String> = metrics.iter().map(|m| toml_literal(&toml::Value::String(m.clone()))).collect();
            text += &format!("metrics = [{}]\n", list.join(", "));
        }
        for p in plugins {
            let label = Path::new(p).file_stem().map_or(p.clone(), |s| s.to_string_lossy().into_owned());
            let plugin = toml_literal(&toml::Value::String(p.clone()));
            text += &format!("\n[[plugins]]\nlabel = {}\nplugin = {plugin}\n", toml_literal(&toml::Value::String(label)));
        }
        let name = scenario.file_stem().map_or("compare".to_string(), |s| format!("compare-{}", s.to_string_lossy()));
        Self::parse(&text, "the compare command's arguments", Path::new("."), &name)
    }

    /// The label of the variant the others are compared with.
    pub fn baseline(&self) -> &Variant {
        self.variants.iter().find(|v| v.label == self.baseline).expect("checked when loading")
    }

    /// Every run of the experiment, variant by variant, seed by seed.
    pub fn runs(&self) -> Vec<super::RunSpec> {
        let scenario = std::path::absolute(&self.scenario).unwrap_or_else(|_| self.scenario.clone());
        self.variants
            .iter()
            .flat_map(|v| {
                let scenario = scenario.clone();
                self.seeds.iter().map(move |&seed| super::RunSpec {
                    scenario: scenario.clone(),
                    variant: v.label.clone(),
                    levels: v.levels.clone(),
                    overrides: v.overrides.clone(),
                    seed,
                    timeout_s: self.run_timeout.as_secs_f64(),
                    derived: self.derived.iter().map(|d| super::Formula { name: d.name.clone(), expr: d.expr.clone() }).collect(),
                    inputs: self.inputs.clone(),
                })
            })
            .collect()
    }
}

/// Why a variant's scenario could not be made.
#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    /// An override's path does not fit the scenario.
    #[error("cannot set `{path}`: {message}")]
    Path {
        /// Which override.
        index: usize,
        /// Its path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The edited scenario is invalid.
    #[error("{message}")]
    Scenario {
        /// The override whose value the error is about, when known.
        index: Option<usize>,
        /// The scenario's error.
        message: String,
    },
}

/// The base scenario with `overrides` applied, checked.
pub fn variant_scenario(path: &Path, text: &str, overrides: &[Override]) -> Result<Scenario, VariantError> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| VariantError::Scenario { index: None, message: format!("{}: {e}", path.display()) })?;
    for (index, o) in overrides.iter().enumerate() {
        let value: toml_edit::Value = o.value.parse().map_err(|e: toml_edit::TomlError| VariantError::Path {
            index,
            path: o.path.clone(),
            message: format!("bad value {}: {e}", o.value),
        })?;
        let segments = parse_path(&o.path).map_err(|message| VariantError::Path { index, path: o.path.clone(), message })?;
        let mut hits = 0;
        set_path(doc.as_item_mut(), &segments, &value, "", &mut hits).map_err(|message| VariantError::Path {
            index,
            path: o.path.clone(),
            message,
        })?;
    }
    let edited = doc.to_string();
    let origin = if overrides.is_empty() { path.display().to_string() } else { format!("{} (edited by the experiment)", path.display()) };
    Scenario::parse(&edited, &origin, path.parent().unwrap_or(Path::new("."))).map_err(|e| {
        let message = e.to_string();
        // Blame the override whose path the scenario's error names.
        let index = overrides.iter().rposition(|o| message.contains(&format!("`{}", first_field(&o.path))));
        VariantError::Scenario { index, message }
    })
}

fn first_field(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    /// A key of a table, or an element of an array of tables by its `name`.
    Key(String),
    /// An element of an array by position.
    Index(usize),
    /// Every element of an array.
    All,
}

/// Whether `path` is a well-formed path of the syntax above (it may still
/// not fit a given scenario: [`variant_scenario`] says).
pub fn check_path(path: &str) -> Result<(), String> {
    parse_path(path).map(drop)
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        match key {
            "" if rest.is_empty() => return Err(format!("path {path:?} has an empty part")),
            "" => {}
            "*" => out.push(Segment::All),
            k => out.push(Segment::Key(k.to_string())),
        }
        let mut rest = rest;
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("path {path:?}: `[` without `]`"))?;
            let inner = &r[..end];
            out.push(if inner == "*" {
                Segment::All
            } else {
                Segment::Index(inner.parse().map_err(|_| format!("path {path:?}: [{inner}] is not a position"))?)
            });
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("path {path:?}: unexpected {rest:?}"));
        }
    }
    if out.is_empty() {
        return Err("the path is empty".into());
    }
    Ok(out)
}

fn set_path(item: &mut toml_edit::Item, segments: &[Segment], value: &toml_edit::Value, at: &str, hits: &mut usize) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        *item = toml_edit::Item::Value(value.clone());
        *hits += 1;
        return Ok(());
    };
    let here = |s: &Segment| match s {
        Segment::Key(k) if at.is_empty() => k.clone(),
        Segment::Key(k) => format!("{at}.{k}"),
        Segment::Index(i) => format!("{at}[{i}]"),
        Segment::All => format!("{at}.*"),
    };
    // Arrays: of tables ([[groups]]) or of inline tables (groups = [{...}]).
    if item.is_array_of_tables() || item.as_array().is_some_and(|a| a.iter().all(|v| v.is_inline_table())) {
        let mut elements: Vec<&mut dyn toml_edit::TableLike> = match item {
            toml_edit::Item::ArrayOfTables(a) => a.iter_mut().map(|t| t as &mut dyn toml_edit::TableLike).collect(),
            toml_edit::Item::Value(toml_edit::Value::Array(a)) => {
                a.iter_mut().filter_map(|v| v.as_inline_table_mut()).map(|t| t as &mut dyn toml_edit::TableLike).collect()
            }
            _ => unreachable!("checked above"),
        };
        let names: Vec<String> = elements.iter().filter_map(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_string)).collect();
        let chosen: Vec<usize> = match first {
            Segment::All => (0..elements.len()).collect(),
            Segment::Index(i) if *i < elements.len() => vec![*i],
            Segment::Index(i) => return Err(format!("`{at}` has {} entries; there is no [{i}]", elements.len())),
            Segment::Key(k) => {
                let found: Vec<usize> =
                    (0..elements.len()).filter(|&i| elements[i].get("name").and_then(|n| n.as_str()) == Some(k.as_str())).collect();
                if found.is_empty() {
                    let known = if names.is_empty() {
                        "its entries have no names; use [N]".to_string()
                    } else {
                        format!("names: {}", names.join(", "))
                    };
                    return Err(format!("`{at}` has no entry named {k:?} ({known})"));
                }
                found
            }
        };
        if chosen.is_empty() {
            return Err(format!("`{at}` is empty"));
        }
        let label = here(first);
        for (i, t) in elements.iter_mut().enumerate() {
            if chosen.contains(&i) {
                set_in_table(*t, rest, value, &label, hits)?;
            }
        }
        return Ok(());
    }
    match first {
        Segment::Key(_) => {
            let table = item.as_table_like_mut().ok_or_else(|| format!("`{at}` is not a table"))?;
            set_in_table(table, segments, value, at, hits)
        }
        _ => Err(format!("`{at}` is not an array of tables")),
    }
}

fn set_in_table(
    table: &mut dyn toml_edit::TableLike,
    segments: &[Segment],
    value: &toml_edit::Value,
    at: &str,
    hits: &mut usize,
) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Err(format!("`{at}` is a table; the path must name one of its keys"));
    };
    let Segment::Key(key) = first else { return Err(format!("`{at}` is a table, not an array")) };
    let here = if at.is_empty() { key.clone() } else { format!("{at}.{key}") };
    if rest.is_empty() {
        match table.get_mut(key) {
            Some(item) => *item = toml_edit::Item::Value(value.clone()),
            None => {
                table.insert(key, toml_edit::Item::Value(value.clone()));
            }
        }
        *hits += 1;
        return Ok(());
    }
    if table.get(key).is_none() {
        if !matches!(rest[0], Segment::Key(_)) {
            return Err(format!("`{here}` does not exist"));
        }
        table.insert(key, toml_edit::Item::Value(toml_edit::Value::InlineTable(Default::default())));
    }
    let child = table.get_mut(key).expect("present");
    set_path(child, rest, value, &here, hits)
}

/// A TOML value as inline TOML text.
pub fn toml_literal(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.1}"),
        toml::Value::Float(x) => format!("{x:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(toml_literal).collect::<Vec<_>>().join(", ")),
        toml::Value::Table(t) => {
            let entries: Vec<String> = t.iter().map(|(k, v)| format!("{} = {}", key_literal(k), toml_literal(v))).collect();
            if entries.is_empty() { "{}".into() } else { format!("{{ {} }}", entries.join(", ")) }
        }
    }
}

fn key_literal(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        toml_literal(&toml::Value::String(k.to_string()))
    }
}

/// A factor level as it appears in labels: strings without quotes.
fn level_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => toml_literal(other),
    }
}

fn range_values(r: &RangeSection) -> Result<Vec<toml::Value>, String> {
    if r.steps < 2 {
        return Err("a range needs at least 2 steps".into());
    }
    if !(r.from.is_finite() && r.to.is_finite()) {
        return Err("a range's ends must be numbers".into());
    }
    if r.scale == Scale::Log && (r.from <= 0.0 || r.to <= 0.0) {
        return Err("a log-scale range needs ends above 0".into());
    }
    let integer = r.integer.unwrap_or(r.from.fract() == 0.0 && r.to.fract() == 0.0);
    let mut out: Vec<toml::Value> = Vec::new();
    for i in 0..r.steps {
        let f = i as f64 / (r.steps - 1) as f64;
        let x = match r.scale {
            Scale::Linear => r.from + f * (r.to - r.from),
            Scale::Log => (r.from.ln() + f * (r.to.ln() - r.from.ln())).exp(),
        };
        let v = if integer { toml::Value::Integer(x.round() as i64) } else { toml::Value::Float((x * 1e9).round() / 1e9) };
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
