//! An experiment's output folder: tidy tables for pandas, the statistics,
//! a report to paste into a lab report, and Vega-Lite plots.
//!
//! | file | contents |
//! |---|---|
//! | `runs/*.json` | one file per run: its spec, status, metrics and wall-clock time (written as each run ends) |
//! | `runs.csv`, `runs.jsonl` | one row per run and metric: `variant`, one column per factor, `seed`, `metric`, `value` |
//! | `failed.csv` | one row per failed run: `variant`, factors, `seed`, `reason` |
//! | `stats.csv`, `stats.json` | per metric and variant: n, mean, sd, median, min, max, the t, percentile-bootstrap and BCa intervals, and the comparison with the baseline (difference and its interval, relative difference, tests, Holm-corrected p-values, effect sizes, verdict) |
//! | `report.md` | the command that reproduces the results, the verdicts and one table per metric |
//! | `plots/by-variant.vl.json` | box and strip plot of every metric per variant |
//! | `plots/differences.vl.json` | each variant's difference from the baseline with its 95 % interval, per metric |
//! | `plots/vs-FACTOR.vl.json` | for a numeric factor: each metric's mean against it, with its 95 % interval as a band |
//!
//! Everything but `runs/*.json` is a function of the results alone: the
//! same experiment gives the same bytes whatever the number of jobs.

use super::analysis::{Analysis, number, p_text};
use super::{ExperimentError, Results};
use crate::viz::vega::SCHEMA;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExperimentError + '_ {
    move |source| ExperimentError::Write { path: path.display().to_string(), source }
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> ExperimentError + '_ {
    move |e| ExperimentError::Write { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) }
}

/// A factor level as JSON: a number when it reads as one.
fn level_json(level: &str) -> Value {
    match level.parse::<f64>() {
        Ok(x) if x.is_finite() => serde_json::Number::from_f64(x).map_or(Value::String(level.into()), |n| {
            if x.fract() == 0.0 && x.abs() < 9e15 { Value::from(x as i64) } else { Value::Number(n) }
        }),
        _ => Value::String(level.into()),
    }
}

/// Writes every table, the report and the plots into `dir`; returns the
/// files written.
pub fn write_all(results: &Results, analysis: &Analysis, dir: &Path, command: &str) -> Result<Vec<PathBuf>, ExperimentError> {
    std::fs::create_dir_all(dir.join("plots")).map_err(io(dir))?;
    let mut written = Vec::new();
    written.extend(write_runs(results, dir)?);
    written.extend(write_stats(results, analysis, dir)?);
    let report = dir.join("report.md");
    std::fs::write(&report, report_markdown(results, analysis, command)).map_err(io(&report))?;
    written.push(report);
    for (name, plot) in plots(results, analysis) {
        let path = dir.join("plots").join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&plot).expect("json") + "\n").map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

fn write_runs(results: &Results, dir: &Path) -> Result<Vec<PathBuf>, ExperimentError> {
    let factors = &results.experiment.factors;
    let csv_path = dir.join("runs.csv");
    let jsonl_path = dir.join("runs.jsonl");
    let failed_path = dir.join("failed.csv");
    let mut csv = csv::Writer::from_path(&csv_path).map_err(csv_error(&csv_path))?;
    let mut failed = csv::Writer::from_path(&failed_path).map_err(csv_error(&failed_path))?;
    let mut jsonl = String::new();
    let header: Vec<&str> = ["variant"].into_iter().chain(factors.iter().map(String::as_str)).chain(["seed", "metric", "value"]).collect();
    csv.write_record(&header).map_err(csv_error(&csv_path))?;
    let failed_header: Vec<&str> = ["variant"].into_iter().chain(factors.iter().map(String::as_str)).chain(["seed", "reason"]).collect();
    failed.write_record(&failed_header).map_err(csv_error(&failed_path))?;
    for r in &results.runs {
        let levels: Vec<&str> = r.spec.levels.iter().map(|(_, l)| l.as_str()).collect();
        if let super::RunStatus::Failed { reason } = &r.status {
            let row: Vec<String> = [r.spec.variant.clone()]
                .into_iter()
                .chain(levels.iter().map(|l| l.to_string()))
                .chain([r.spec.seed.to_string(), reason.clone()])
                .collect();
            failed.write_record(&row).map_err(csv_error(&failed_path))?;
            continue;
        }
        for (metric, value) in &r.metrics {
            let row: Vec<String> = [r.spec.variant.clone()]
                .into_iter()
                .chain(levels.iter().map(|l| l.to_string()))
                .chain([r.spec.seed.to_string(), metric.clone(), value.to_string()])
                .collect();
            csv.write_record(&row).map_err(csv_error(&csv_path))?;
            let mut obj = serde_json::Map::new();
            obj.insert("variant".into(), json!(r.spec.variant));
            for (name, level) in &r.spec.levels {
                obj.insert(name.clone(), level_json(level));
            }
            obj.insert("seed".into(), json!(r.spec.seed));
            obj.insert("metric".into(), json!(metric));
            obj.insert("value".into(), json!(value));
            jsonl += &Value::Object(obj).to_string();
            jsonl.push('\n');
        }
    }
    csv.flush().map_err(io(&csv_path))?;
    failed.flush().map_err(io(&failed_path))?;
    std::fs::write(&jsonl_path, jsonl).map_err(io(&jsonl_path))?;
    Ok(vec![csv_path, jsonl_path, failed_path])
}

fn write_stats(results: &Results, analysis: &Analysis, dir: &Path) -> Result<Vec<PathBuf>, ExperimentError> {
    let json_path = dir.join("stats.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(analysis).expect("json") + "\n").map_err(io(&json_path))?;
    let csv_path = dir.join("stats.csv");
    let mut w = csv::Writer::from_path(&csv_path).map_err(csv_error(&csv_path))?;
    let factors = &results.experiment.factors;
    let mut header: Vec<String> = vec!["metric".into(), "variant".into()];
    header.extend(factors.iter().cloned());
    header.extend(
        [
            "n",
            "mean",
            "sd",
            "median",
            "min",
            "max",
            "ci_t_lo",
            "ci_t_hi",
            "ci_percentile_lo",
            "ci_percentile_hi",
            "ci_bca_lo",
            "ci_bca_hi",
            "baseline",
            "paired",
            "pairs",
            "difference",
            "difference_lo",
            "difference_hi",
            "relative",
            "relative_lo",
            "relative_hi",
            "t",
            "t_df",
            "t_p",
            "rank_statistic",
            "rank_p",
            "p_adjusted",
            "rank_p_adjusted",
            "cohens_d",
            "cliffs_delta",
            "significant",
            "verdict",
        ]
        .map(String::from),
    );
    w.write_record(&header).map_err(csv_error(&csv_path))?;
    let f = |x: f64| if x.is_nan() { String::new() } else { x.to_string() };
    for cell in &analysis.cells {
        let d = &cell.description;
        let variant = results.experiment.variants.iter().find(|v| v.label == cell.variant).expect("analysed variants exist");
        let mut row: Vec<String> = vec![cell.metric.clone(), cell.variant.clone()];
        row.extend(variant.levels.iter().map(|(_, l)| l.clone()));
        row.extend([d.n.to_string(), f(d.mean), f(d.sd), f(d.median), f(d.min), f(d.max)]);
        row.extend([f(d.ci_t.lo), f(d.ci_t.hi), f(d.ci_percentile.lo), f(d.ci_percentile.hi), f(d.ci_bca.lo), f(d.ci_bca.hi)]);
        match analysis.comparison(&cell.metric, &cell.variant) {
            Some(c) => row.extend([
                c.baseline.clone(),
                c.paired.to_string(),
                c.n.to_string(),
                f(c.difference),
                f(c.difference_ci.lo),
                f(c.difference_ci.hi),
                f(c.relative),
                f(c.relative_ci.lo),
                f(c.relative_ci.hi),
                f(c.t_test.statistic),
                f(c.t_test.df),
                f(c.t_test.p),
                f(c.rank_test.statistic),
                f(c.rank_test.p),
                f(c.p_adjusted),
                f(c.rank_p_adjusted),
                f(c.cohens_d),
                f(c.cliffs_delta),
                c.significant.to_string(),
                c.verdict.clone(),
            ]),
            None => row.extend(std::iter::repeat_n(String::new(), 20)),
        }
        w.write_record(&row).map_err(csv_error(&csv_path))?;
    }
    w.flush().map_err(io(&csv_path))?;
    Ok(vec![csv_path, json_path])
}

/// The report: how to reproduce, the verdicts, one table per metric.
pub fn report_markdown(results: &Results, analysis: &Analysis, command: &str) -> String {
    let exp = &results.experiment;
    let mut s = String::new();
    let _ = writeln!(s, "# Experiment `{}`\n", exp.name);
    let seeds = if exp.seeds.iter().copied().eq(1..=exp.seeds.len() as u64) {
        format!("seeds 1 to {}", exp.seeds.len())
    } else {
        format!("seeds {}", exp.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))
    };
    let _ = writeln!(
        s,
        "Base scenario `{}`; {} variants x {} = {} runs ({} failed). Every variant ran on the same seeds (paired design); baseline: **{}**.\n",
        exp.scenario.display(),
        exp.variants.len(),
        seeds,
        results.runs.len(),
        results.runs.iter().filter(|r| !r.is_ok()).count(),
        analysis.baseline
    );
    let _ = writeln!(s, "Reproduce with PeerShare {}:\n\n```\n{command}\n```\n", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        s,
        "Intervals are 95 %: for means from Student's t (BCa bootstrap in stats.csv), for differences from the paired t (Welch's when unpaired). p-values are from the paired t-test{}.\n",
        if exp.variants.len() > 2 { ", Holm-corrected over the variants compared on each metric" } else { "" }
    );
    if !analysis.comparisons.is_empty() {
        let _ = writeln!(s, "## Verdicts\n");
        for c in &analysis.comparisons {
            let _ = writeln!(s, "- {}", c.verdict);
        }
        s.push('\n');
    }
    for m in &analysis.metrics {
        let rows: Vec<_> = analysis.cells.iter().filter(|c| c.metric == *m).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## {m}\n");
        let _ = writeln!(s, "| variant | n | mean | 95% CI | median | sd | vs {} | 95% CI | p |", analysis.baseline);
        let _ = writeln!(s, "|---|---:|---:|---|---:|---:|---:|---|---|");
        for cell in rows {
            let d = &cell.description;
            let (diff, ci, p) = match analysis.comparison(m, &cell.variant) {
                Some(c) => {
                    let rel = if c.relative.is_nan() { String::new() } else { format!(" ({:+.1}%)", 100.0 * c.relative) };
                    (
                        format!("{}{rel}", number(c.difference)),
                        format!("{} to {}", number(c.difference_ci.lo), number(c.difference_ci.hi)),
                        p_text(c.p_adjusted),
                    )
                }
                None => ("(baseline)".into(), String::new(), String::new()),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} to {} | {} | {} | {diff} | {ci} | {p} |",
                cell.variant,
                d.n,
                number(d.mean),
                number(d.ci_t.lo),
                number(d.ci_t.hi),
                number(d.median),
                number(d.sd)
            );
        }
        s.push('\n');
    }
    let failed: Vec<_> = results.runs.iter().filter(|r| !r.is_ok()).collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "## Failed runs\n");
        for r in failed {
            if let super::RunStatus::Failed { reason } = &r.status {
                let _ = writeln!(s, "- {}, seed {}: {reason}", r.spec.variant, r.spec.seed);
            }
        }
        s.push('\n');
    }
    s
}

/// The plots, by file name.
pub fn plots(results: &Results, analysis: &Analysis) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let order: Vec<&str> = analysis.variants.iter().map(String::as_str).collect();
    let mut points = Vec::new();
    for r in results.runs.iter().filter(|r| r.is_ok()) {
        for m in &analysis.metrics {
            if let Some(v) = r.metrics.get(m) {
                points.push(json!({ "metric": m, "variant": r.spec.variant, "seed": r.spec.seed, "value": v }));
            }
        }
    }
    let width = (40 * order.len()).clamp(160, 640);
    out.push((
        "by-variant.vl.json".to_string(),
        json!({
            "$schema": SCHEMA,
            "title": format!("{}: every metric per variant (one point per seed)", analysis.experiment),
            "data": { "values": points },
            "facet": { "row": { "field": "metric", "type": "nominal", "title": null } },
            "resolve": { "scale": { "y": "independent" } },
            "spec": {
                "width": width, "height": 160,
                "layer": [
                    { "mark": { "type": "boxplot", "extent": 1.5, "opacity": 0.5 },
                      "encoding": { "x": { "field": "variant", "type": "nominal", "sort": order }, "y": { "field": "value", "type": "quantitative", "scale": { "zero": false } } } },
                    { "mark": { "type": "point", "filled": true, "size": 18 },
                      "encoding": { "x": { "field": "variant", "type": "nominal", "sort": order }, "y": { "field": "value", "type": "quantitative" },
                                    "xOffset": { "field": "seed", "type": "quantitative", "scale": { "range": [-8, 8] } },
                                    "tooltip": [{ "field": "seed" }, { "field": "value" }] } }
                ]
            }
        }),
    ));
    let diffs: Vec<Value> = analysis
        .comparisons
        .iter()
        .filter(|c| !c.relative.is_nan())
        .map(|c| {
            json!({ "metric": c.metric, "variant": c.variant, "relative": 100.0 * c.relative, "lo": 100.0 * c.relative_ci.lo,
                    "hi": 100.0 * c.relative_ci.hi, "significant": c.significant })
        })
        .collect();
    out.push((
        "differences.vl.json".to_string(),
        json!({
            "$schema": SCHEMA,
            "title": format!("{}: difference from {} (%, 95% CI, paired by seed)", analysis.experiment, analysis.baseline),
            "data": { "values": diffs },
            "facet": { "row": { "field": "metric", "type": "nominal", "title": null } },
            "spec": {
                "width": 400, "height": { "step": 18 },
                "layer": [
                    { "mark": "rule", "encoding": { "y": { "field": "variant", "type": "nominal", "sort": order, "title": null },
                        "x": { "field": "lo", "type": "quantitative", "title": format!("% difference from {}", analysis.baseline) }, "x2": { "field": "hi" } } },
                    { "mark": { "type": "point", "filled": true }, "encoding": { "y": { "field": "variant", "type": "nominal", "sort": order },
                        "x": { "field": "relative", "type": "quantitative" }, "color": { "field": "significant", "type": "nominal" } } },
                    { "mark": { "type": "rule", "strokeDash": [4, 4] }, "encoding": { "x": { "datum": 0 } } }
                ]
            },
            "resolve": { "scale": { "x": "independent" } }
        }),
    ));
    // Numeric factors: means against the factor, one line per combination
    // of the other factors.
    let exp = &results.experiment;
    for (f, factor) in exp.factors.iter().enumerate() {
        let numeric: Option<Vec<f64>> = exp.variants.iter().map(|v| v.levels[f].1.parse::<f64>().ok()).collect();
        let Some(levels) = numeric else { continue };
        let mut distinct = levels.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        if distinct.len() < 2 {
            continue;
        }
        let log = distinct[0] > 0.0 && distinct[distinct.len() - 1] / distinct[0] >= 20.0;
        let mut values = Vec::new();
        let mut references_drawn: Vec<(String, u64)> = Vec::new();
        for (v, level) in exp.variants.iter().zip(&levels) {
            let series: Vec<String> = v.levels.iter().enumerate().filter(|(i, _)| *i != f).map(|(_, (n, l))| format!("{n}={l}")).collect();
            let series = if series.is_empty() { "all".to_string() } else { series.join(", ") };
            for m in &analysis.metrics {
                if let Some(d) = analysis.cell(m, &v.label) {
                    values.push(json!({ "metric": m, factor: level, "series": series, "mean": d.mean,
                                        "lo": if d.ci_t.lo.is_nan() { d.mean } else { d.ci_t.lo },
                                        "hi": if d.ci_t.hi.is_nan() { d.mean } else { d.ci_t.hi } }));
                }
            }
            // Theoretical curves, in the panel of the metric they are for.
            for d in exp.derived.iter().filter(|d| d.reference_for.as_ref().is_some_and(|m| analysis.metrics.contains(m))) {
                let target = d.reference_for.as_ref().expect("filtered");
                // A curve of the factor levels: the same in every run of the variant.
                let value = results.runs.iter().filter(|r| r.spec.variant == v.label).find_map(|r| r.metrics.get(&d.name).copied());
                if let Some(x) = value
                    && !references_drawn.contains(&(d.name.clone(), level.to_bits()))
                {
                    references_drawn.push((d.name.clone(), level.to_bits()));
                    values.push(json!({ "metric": target, factor: level, "series": format!("{} (reference)", d.name), "mean": x, "lo": x, "hi": x, "reference": true }));
                }
            }
        }
        let x = json!({ "field": factor, "type": "quantitative", "scale": { "type": if log { "log" } else { "linear" } } });
        out.push((
            format!("vs-{}.vl.json", factor.replace(|c: char| !c.is_ascii_alphanumeric(), "-")),
            json!({
                "$schema": SCHEMA,
                "title": format!("{}: metrics against {factor} (mean, 95% CI)", analysis.experiment),
                "data": { "values": values },
                "facet": { "row": { "field": "metric", "type": "nominal", "title": null } },
                "resolve": { "scale": { "y": "independent" } },
                "spec": {
                    "width": 420, "height": 160,
                    "layer": [
                        { "mark": { "type": "area", "opacity": 0.25 }, "encoding": { "x": x, "y": { "field": "lo", "type": "quantitative", "title": null }, "y2": { "field": "hi" }, "color": { "field": "series", "type": "nominal" } } },
                        { "mark": { "type": "line", "point": true }, "encoding": { "x": x, "y": { "field": "mean", "type": "quantitative" }, "color": { "field": "series", "type": "nominal" },
                          "strokeDash": { "field": "reference", "type": "nominal", "legend": null } } }
                    ]
                }
            }),
        ));
    }
    out
}

/// The comparison table the CLI prints: per metric, each variant's mean
/// with its interval and the verdict against the baseline.
pub fn text_table(analysis: &Analysis) -> String {
    let mut s = String::new();
    let width = analysis.variants.iter().map(|v| v.len()).max().unwrap_or(8).max(8);
    for m in &analysis.metrics {
        let rows: Vec<_> = analysis.cells.iter().filter(|c| c.metric == *m).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{m}");
        for cell in rows {
            let d = &cell.description;
            let versus = match analysis.comparison(m, &cell.variant) {
                Some(c) => {
                    let rel = if c.relative.is_nan() { number(c.difference) } else { format!("{:+.1}%", 100.0 * c.relative) };
                    format!("{rel:>8} {}{}", p_text(c.p_adjusted), if c.significant { " *" } else { "" })
                }
                None => "baseline".into(),
            };
            let _ = writeln!(
                s,
                "  {:width$}  n={:<3} mean {:>10}  95% CI [{}, {}]  {versus}",
                cell.variant,
                d.n,
                number(d.mean),
                number(d.ci_t.lo),
                number(d.ci_t.hi)
            );
        }
    }
    s
}
