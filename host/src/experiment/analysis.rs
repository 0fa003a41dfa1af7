//! The statistics of an experiment's results: every metric of every
//! variant described, and every variant compared with the baseline.
//!
//! Comparisons are paired by seed whenever both variants have the metric
//! on at least two common seeds (the paired t-test and the Wilcoxon
//! signed-rank test on the per-seed differences); otherwise unpaired
//! (Welch's t-test and the Mann-Whitney U test). With more than one
//! variant compared with the baseline, the p-values of each metric are
//! Holm-corrected across those comparisons. A difference is called
//! significant when the corrected p-value of the t-test is below 0.05.

use super::Results;
use super::stats::{self, Description, Interval, Test};
use serde::Serialize;
use std::collections::BTreeMap;

/// The significance level of verdicts.
pub const ALPHA: f64 = 0.05;

/// One metric of one variant over its runs.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// The metric.
    pub metric: String,
    /// The variant's label.
    pub variant: String,
    /// The statistics of its values (one per successful run that has it).
    pub description: Description,
}

/// One variant against the baseline on one metric.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The metric.
    pub metric: String,
    /// The variant compared.
    pub variant: String,
    /// The baseline.
    pub baseline: String,
    /// Whether the runs were paired by seed.
    pub paired: bool,
    /// Pairs (paired) or the smaller sample's size (unpaired).
    pub n: usize,
    /// Mean of variant - baseline (of the per-seed differences when paired).
    pub difference: f64,
    /// Its 95 % interval (t; Welch's when unpaired).
    pub difference_ci: Interval,
    /// The difference relative to the baseline's mean (0.1: 10 % more),
    /// NaN when the baseline's mean is 0.
    pub relative: f64,
    /// The interval's bounds relative to the baseline's mean.
    pub relative_ci: Interval,
    /// Paired t-test (paired) or Welch's t-test.
    pub t_test: Test,
    /// Wilcoxon signed-rank (paired) or Mann-Whitney U.
    pub rank_test: Test,
    /// The t-test's p-value, Holm-corrected over the variants compared on this metric.
    pub p_adjusted: f64,
    /// The rank test's p-value, Holm-corrected likewise.
    pub rank_p_adjusted: f64,
    /// Cohen's d (d_z of the differences when paired).
    pub cohens_d: f64,
    /// Cliff's delta of variant against baseline.
    pub cliffs_delta: f64,
    /// Whether `p_adjusted` < [`ALPHA`].
    pub significant: bool,
    /// The comparison in one sentence.
    pub verdict: String,
}

/// The statistics of one experiment.
#[derive(Clone, Debug, Serialize)]
pub struct Analysis {
    /// The experiment's name.
    pub experiment: String,
    /// The baseline's label.
    pub baseline: String,
    /// The variants' labels, in order.
    pub variants: Vec<String>,
    /// The metrics analysed, in order.
    pub metrics: Vec<String>,
    /// Every (metric, variant) that has values, metric by metric.
    pub cells: Vec<Cell>,
    /// Every variant but the baseline against it, metric by metric.
    pub comparisons: Vec<Comparison>,
    /// Runs per variant that failed.
    pub failed: BTreeMap<String, usize>,
}

/// A stable seed for one bootstrap, from what it is about.
fn bootstrap_seed(metric: &str, variant: &str) -> u64 {
    // FNV-1a: fixed, so the same data always give the same interval.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in metric.bytes().chain([0]).chain(variant.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Analysis {
    /// Analyses `results`: the experiment's chosen metrics, or every
    /// metric some successful run has.
    pub fn of(results: &Results) -> Analysis {
        let exp = &results.experiment;
        let variants: Vec<String> = exp.variants.iter().map(|v| v.label.clone()).collect();
        let metrics: Vec<String> = if exp.metrics.is_empty() {
            let mut all: Vec<String> = results.runs.iter().flat_map(|r| r.metrics.keys().cloned()).collect();
            all.sort();
            all.dedup();
            all
        } else {
            exp.metrics.clone()
        };
        // values[metric][variant] = seed -> value
        let mut values: BTreeMap<&str, BTreeMap<&str, BTreeMap<u64, f64>>> = BTreeMap::new();
        let mut failed: BTreeMap<String, usize> = BTreeMap::new();
        for r in &results.runs {
            if !r.is_ok() {
                *failed.entry(r.spec.variant.clone()).or_default() += 1;
                continue;
            }
            for m in &metrics {
                if let Some(v) = r.metrics.get(m) {
                    values.entry(m).or_default().entry(&r.spec.variant).or_default().insert(r.spec.seed, *v);
                }
            }
        }
        let mut cells = Vec::new();
        let mut comparisons = Vec::new();
        for m in &metrics {
            let Some(by_variant) = values.get(m.as_str()) else { continue };
            for v in &variants {
                if let Some(seeds) = by_variant.get(v.as_str()) {
                    let xs: Vec<f64> = seeds.values().copied().collect();
                    cells.push(Cell { metric: m.clone(), variant: v.clone(), description: stats::describe(&xs, bootstrap_seed(m, v)) });
                }
            }
            let Some(base) = by_variant.get(exp.baseline.as_str()) else { continue };
            let first = comparisons.len();
            for v in variants.iter().filter(|v| **v != exp.baseline) {
                let Some(other) = by_variant.get(v.as_str()) else { continue };
                comparisons.push(compare(m, v, &exp.baseline, other, base));
            }
            let family = &mut comparisons[first..];
            let adjusted = stats::holm(&family.iter().map(|c| c.t_test.p).collect::<Vec<_>>());
            let rank_adjusted = stats::holm(&family.iter().map(|c| c.rank_test.p).collect::<Vec<_>>());
            for ((c, p), rp) in family.iter_mut().zip(adjusted).zip(rank_adjusted) {
                c.p_adjusted = p;
                c.rank_p_adjusted = rp;
                c.significant = p < ALPHA;
            }
            let m_size = comparisons.len() - first;
            for c in &mut comparisons[first..] {
                c.verdict = verdict(c, m_size);
            }
        }
        Analysis { experiment: exp.name.clone(), baseline: exp.baseline.clone(), variants, metrics, cells, comparisons, failed }
    }

    /// The description of `metric` for `variant`, if it has values.
    pub fn cell(&self, metric: &str, variant: &str) -> Option<&Description> {
        self.cells.iter().find(|c| c.metric == metric && c.variant == variant).map(|c| &c.description)
    }

    /// The comparison of `variant` with the baseline on `metric`.
    pub fn comparison(&self, metric: &str, variant: &str) -> Option<&Comparison> {
        self.comparisons.iter().find(|c| c.metric == metric && c.variant == variant)
    }
}

fn compare(metric: &str, variant: &str, baseline: &str, other: &BTreeMap<u64, f64>, base: &BTreeMap<u64, f64>) -> Comparison {
    let common: Vec<u64> = other.keys().filter(|s| base.contains_key(s)).copied().collect();
    let paired = common.len() >= 2;
    let base_mean = stats::mean(&base.values().copied().collect::<Vec<_>>());
    // Paired: the values of the common seeds, in seed order; unpaired: all.
    let (a, b): (Vec<f64>, Vec<f64>) = if paired {
        common.iter().map(|s| (other[s], base[s])).unzip()
    } else {
        (other.values().copied().collect(), base.values().copied().collect())
    };
    let n = if paired { common.len() } else { a.len().min(b.len()) };
    let difference = stats::mean(&a) - stats::mean(&b);
    let (difference_ci, t_test, rank_test, cohens_d) = if paired {
        (stats::paired_difference_interval(&a, &b), stats::paired_t(&a, &b), stats::wilcoxon(&a, &b), stats::cohens_d_paired(&a, &b))
    } else {
        (stats::welch_difference_interval(&a, &b), stats::welch_t(&a, &b), stats::mann_whitney(&a, &b), stats::cohens_d(&a, &b))
    };
    let cliffs_delta = stats::cliffs_delta(&a, &b);
    let rel = |x: f64| if base_mean == 0.0 { f64::NAN } else { x / base_mean.abs() };
    Comparison {
        metric: metric.to_string(),
        variant: variant.to_string(),
        baseline: baseline.to_string(),
        paired,
        n,
        difference,
        difference_ci,
        relative: rel(difference),
        relative_ci: Interval { lo: rel(difference_ci.lo), hi: rel(difference_ci.hi) },
        t_test,
        rank_test,
        p_adjusted: t_test.p,
        rank_p_adjusted: rank_test.p,
        cohens_d,
        cliffs_delta,
        significant: t_test.p < ALPHA,
        verdict: String::new(),
    }
}

/// A number in a sentence: 3 significant digits, no exponent for everyday sizes.
pub fn number(x: f64) -> String {
    if x.is_nan() {
        return "n/a".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..=8).contains(&magnitude) {
        return format!("{x:.2e}");
    }
    let decimals = (2 - magnitude).max(0) as usize;
    format!("{x:.decimals$}")
}

/// A p-value as reports write it.
pub fn p_text(p: f64) -> String {
    if p.is_nan() {
        "p n/a".into()
    } else if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

fn percent(x: f64) -> String {
    format!("{:.1}%", 100.0 * x.abs())
}

/// The plain-language sentence for one comparison, e.g. "kademlia, k=20
/// has a 38.0% lower lookup.messages_mean than kademlia, k=8 (difference
/// -12.1, 95% CI -13.0 to -11.2; -41.0% to -35.0%), p < 0.001, 30 paired seeds".
fn verdict(c: &Comparison, family: usize) -> String {
    let correction = if family > 1 { " (Holm)" } else { "" };
    let pairing = if c.paired { format!("{} paired seeds", c.n) } else { format!("unpaired, n = {}", c.n) };
    let ci = format!("difference {}, 95% CI {} to {}", number(c.difference), number(c.difference_ci.lo), number(c.difference_ci.hi));
    let rel_ci = if c.relative.is_nan() {
        String::new()
    } else {
        format!("; {:+.1}% to {:+.1}%", 100.0 * c.relative_ci.lo, 100.0 * c.relative_ci.hi)
    };
    if c.significant {
        let direction = if c.difference < 0.0 { "lower" } else { "higher" };
        let size = if c.relative.is_nan() { String::new() } else { format!("{} ", percent(c.relative)) };
        format!(
            "{}: {} is {size}{direction} than {} ({ci}{rel_ci}), {}{correction}, {pairing}",
            c.metric,
            c.variant,
            c.baseline,
            p_text(c.p_adjusted)
        )
    } else {
        format!(
            "{}: no significant difference between {} and {} ({ci}{rel_ci}), {}{correction}, {pairing}",
            c.metric,
            c.variant,
            c.baseline,
            p_text(c.p_adjusted)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comparison(a: &[f64], b: &[f64]) -> Comparison {
        let map = |xs: &[f64]| xs.iter().enumerate().map(|(i, x)| (i as u64 + 1, *x)).collect::<BTreeMap<u64, f64>>();
        let mut c = compare("m", "new", "old", &map(a), &map(b));
        c.verdict = verdict(&c, 1);
        c
    }

    #[test]
    fn a_clear_paired_difference_gets_a_verdict_with_its_size() {
        let old: Vec<f64> = (0..30).map(|i| 100.0 + (i % 7) as f64).collect();
        let new: Vec<f64> = old.iter().enumerate().map(|(i, x)| x * 0.62 + (i % 3) as f64 * 0.1).collect();
        let c = comparison(&new, &old);
        assert!(c.paired && c.n == 30 && c.significant);
        assert!((c.relative + 0.38).abs() < 0.01, "{}", c.relative);
        assert!(c.verdict.starts_with("m: new is 3") && c.verdict.contains("lower than old"), "{}", c.verdict);
        assert!(c.verdict.contains("p < 0.001") && c.verdict.contains("30 paired seeds"), "{}", c.verdict);
    }

    #[test]
    fn noise_is_not_called_a_difference() {
        let old = [5.0, 6.0, 5.5, 6.2, 5.1, 5.9];
        let new = [5.9, 5.1, 6.2, 5.4, 6.0, 5.0];
        let c = comparison(&new, &old);
        assert!(!c.significant, "{c:?}");
        assert!(c.verdict.starts_with("m: no significant difference between new and old"), "{}", c.verdict);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(0.123456), "0.123");
        assert_eq!(number(12345.6), "12346");
        assert_eq!(number(-12.3456), "-12.3");
        assert_eq!(p_text(0.0004), "p < 0.001");
        assert_eq!(p_text(0.04321), "p = 0.043");
    }
}
