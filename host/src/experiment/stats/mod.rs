//! Statistics over the runs of an experiment: descriptive figures,
//! confidence intervals, paired and unpaired tests, effect sizes and the
//! Holm correction.
//!
//! Every function takes plain slices of values (one per run) and is pure:
//! the bootstrap draws from a ChaCha stream seeded by the caller, so the
//! same data and seed give the same interval. Distributions and special
//! functions come from `statrs`. The definitions follow scipy's (1.17)
//! defaults, and `host/tests/data/stats/` holds fixed data sets with
//! scipy's answers that the tests compare against; where a definition
//! differs from scipy's it says so.
//!
//! ```
//! use peershare::experiment::stats::{describe, paired_t};
//! let before = [12.0, 15.0, 11.0, 14.0, 13.0];
//! let after = [10.0, 13.0, 10.0, 11.0, 12.0];
//! let d = describe(&after, 1);
//! assert_eq!(d.n, 5);
//! assert!(d.ci_t.lo < d.mean && d.mean < d.ci_t.hi);
//! let t = paired_t(&before, &after);
//! assert!(t.p < 0.01);
//! ```

use crate::rng::{SimRng, below};
use rand_core::SeedableRng;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The confidence level of every interval: 95 %.
pub const CONFIDENCE: f64 = 0.95;

/// Bootstrap resamples per interval.
pub const BOOTSTRAP_RESAMPLES: usize = 9_999;

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Interval {
    /// An interval that says nothing (too few values): both bounds NaN,
    /// written as `null` in JSON.
    pub const UNKNOWN: Interval = Interval { lo: f64::NAN, hi: f64::NAN };

    /// Whether the interval contains `x`.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Descriptive statistics of one sample (one metric of one variant).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Description {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator); NaN below 2 values.
    pub sd: f64,
    /// Median (the mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// 95 % interval for the mean from Student's t distribution.
    pub ci_t: Interval,
    /// 95 % bootstrap percentile interval for the mean.
    pub ci_percentile: Interval,
    /// 95 % bootstrap bias-corrected and accelerated (BCa) interval for the mean.
    pub ci_bca: Interval,
}

/// The result of a hypothesis test (two-sided).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Test {
    /// The test statistic (t, W or U, as the test's documentation says).
    pub statistic: f64,
    /// Degrees of freedom for t tests; NaN for rank tests.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Arithmetic mean; NaN for no values.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample variance (n - 1 in the denominator); NaN below 2 values.
pub fn variance(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64
}

/// Median; NaN for no values.
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// The `q`-quantile (0..=1) of sorted values by linear interpolation
/// between closest ranks (numpy's default).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    if i + 1 >= sorted.len() { sorted[sorted.len() - 1] } else { sorted[i] + frac * (sorted[i + 1] - sorted[i]) }
}

/// Everything [`Description`] holds; `seed` seeds the bootstrap.
pub fn describe(xs: &[f64], seed: u64) -> Description {
    let n = xs.len();
    let (min, max) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let (percentile, bca) = bootstrap_mean(xs, BOOTSTRAP_RESAMPLES, seed);
    Description {
        n,
        mean: if n == 0 { f64::NAN } else { mean(xs) },
        sd: variance(xs).sqrt(),
        median: median(xs),
        min: if n == 0 { f64::NAN } else { min },
        max: if n == 0 { f64::NAN } else { max },
        ci_t: t_interval(xs),
        ci_percentile: percentile,
        ci_bca: bca,
    }
}

/// The 95 % Student t interval for the mean: mean ± t(0.975, n-1) · sd/√n
/// (scipy: `stats.t.interval(0.95, n-1, loc=mean, scale=sem)`). A sample
/// without spread gives the point itself.
pub fn t_interval(xs: &[f64]) -> Interval {
    if xs.len() < 2 {
        return Interval::UNKNOWN;
    }
    let n = xs.len() as f64;
    let m = mean(xs);
    let half = t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, n - 1.0) * (variance(xs) / n).sqrt();
    Interval { lo: m - half, hi: m + half }
}

fn t_quantile(p: f64, df: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df).expect("df > 0").inverse_cdf(p)
}

fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    (2.0 * StudentsT::new(0.0, 1.0, df).expect("df > 0").cdf(-t.abs())).min(1.0)
}

fn normal() -> Normal {
    Normal::standard()
}

/// Bootstrap intervals for the mean: percentile and BCa, from `resamples`
/// resamples drawn with replacement from a ChaCha stream seeded by `seed`.
///
/// BCa follows Efron & Tibshirani (1993, ch. 14) as scipy's
/// `stats.bootstrap(method="BCa")` does: the bias correction
/// z0 = Φ⁻¹(share of resampled means below the sample mean) and the
/// acceleration from the jackknife. The resampled means differ from
/// scipy's (another random generator), so the intervals agree with scipy's
/// to the resampling error only. Below 2 values, or with every value
/// equal, both are the sample mean itself (n = 0: unknown).
pub fn bootstrap_mean(xs: &[f64], resamples: usize, seed: u64) -> (Interval, Interval) {
    let n = xs.len();
    if n == 0 {
        return (Interval::UNKNOWN, Interval::UNKNOWN);
    }
    let m = mean(xs);
    if n < 2 || xs.iter().all(|&x| x == xs[0]) {
        let point = Interval { lo: m, hi: m };
        return (point, point);
    }
    let mut rng = SimRng::seed_from_u64(seed);
    let mut means: Vec<f64> =
        (0..resamples).map(|_| (0..n).map(|_| xs[below(&mut rng, n as u64) as usize]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - CONFIDENCE) / 2.0;
    let percentile = Interval { lo: quantile_sorted(&means, alpha), hi: quantile_sorted(&means, 1.0 - alpha) };

    let below_mean = means.iter().filter(|&&b| b < m).count() as f64 / resamples as f64;
    let z0 = normal().inverse_cdf(below_mean.clamp(0.5 / resamples as f64, 1.0 - 0.5 / resamples as f64));
    let sum: f64 = xs.iter().sum();
    let jack: Vec<f64> = xs.iter().map(|x| (sum - x) / (n - 1) as f64).collect();
    let jack_mean = mean(&jack);
    let (num, den) = jack.iter().fold((0.0, 0.0), |(a, b), j| {
        let d = jack_mean - j;
        (a + d * d * d, b + d * d)
    });
    let accel = if den == 0.0 { 0.0 } else { num / (6.0 * den.powf(1.5)) };
    let adjusted = |z: f64| normal().cdf(z0 + (z0 + z) / (1.0 - accel * (z0 + z)));
    let (zlo, zhi) = (normal().inverse_cdf(alpha), normal().inverse_cdf(1.0 - alpha));
    let bca = Interval { lo: quantile_sorted(&means, adjusted(zlo)), hi: quantile_sorted(&means, adjusted(zhi)) };
    (percentile, bca)
}

/// Paired t-test of `a` against `b` (same length, pair i = seed i): the
/// one-sample t-test of the differences a - b (scipy: `stats.ttest_rel`).
/// Differences all equal give t = ±∞ and p = 0, or NaN and p = 1 when
/// they are all zero.
pub fn paired_t(a: &[f64], b: &[f64]) -> Test {
    let d = differences(a, b);
    let n = d.len() as f64;
    if d.len() < 2 {
        return Test { statistic: f64::NAN, df: f64::NAN, p: f64::NAN };
    }
    let (m, v) = (mean(&d), variance(&d));
    if v == 0.0 {
        let (statistic, p) = if m == 0.0 { (f64::NAN, 1.0) } else { (m.signum() * f64::INFINITY, 0.0) };
        return Test { statistic, df: n - 1.0, p };
    }
    let t = m / (v / n).sqrt();
    Test { statistic: t, df: n - 1.0, p: t_two_sided_p(t, n - 1.0) }
}

/// Welch's t-test of two independent samples, unequal variances (scipy:
/// `stats.ttest_ind(a, b, equal_var=False)`).
pub fn welch_t(a: &[f64], b: &[f64]) -> Test {
    if a.len() < 2 || b.len() < 2 {
        return Test { statistic: f64::NAN, df: f64::NAN, p: f64::NAN };
    }
    let (va, vb) = (variance(a) / a.len() as f64, variance(b) / b.len() as f64);
    let diff = mean(a) - mean(b);
    if va + vb == 0.0 {
        let (statistic, p) = if diff == 0.0 { (f64::NAN, 1.0) } else { (diff.signum() * f64::INFINITY, 0.0) };
        return Test { statistic, df: (a.len() + b.len() - 2) as f64, p };
    }
    let t = diff / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
    Test { statistic: t, df, p: t_two_sided_p(t, df) }
}

/// Wilcoxon signed-rank test of the paired differences a - b (scipy:
/// `stats.wilcoxon(a, b)`): zero differences dropped, average ranks for
/// ties; the statistic is min(W+, W-). Exact null distribution when at
/// most 50 differences remain and none are tied; otherwise the normal
/// approximation with the tie correction and no continuity correction
/// (scipy's `method="asymptotic"`; scipy's default would run a
/// permutation test for ties in small samples).
pub fn wilcoxon(a: &[f64], b: &[f64]) -> Test {
    let d: Vec<f64> = differences(a, b).into_iter().filter(|&x| x != 0.0).collect();
    let n = d.len();
    if n == 0 {
        return Test { statistic: 0.0, df: f64::NAN, p: 1.0 };
    }
    let abs: Vec<f64> = d.iter().map(|x| x.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let w_plus: f64 = d.iter().zip(&ranks).filter(|(x, _)| **x > 0.0).map(|(_, r)| r).sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    let w = w_plus.min(total - w_plus);
    let p = if n <= 50 && ties.iter().all(|&t| t == 1) {
        (2.0 * signed_rank_cdf(n, w.round() as usize)).min(1.0)
    } else {
        let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>() / 48.0;
        let nf = n as f64;
        let se = (nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tie_term).sqrt();
        let z = (w - total / 2.0) / se;
        (2.0 * normal().cdf(-z.abs())).min(1.0)
    };
    Test { statistic: w, df: f64::NAN, p }
}

/// P(W <= w) for the signed-rank statistic of n untied differences:
/// counts of subsets of 1..=n by sum.
fn signed_rank_cdf(n: usize, w: usize) -> f64 {
    let max = n * (n + 1) / 2;
    let mut counts = vec![0f64; max + 1];
    counts[0] = 1.0;
    for k in 1..=n {
        for s in (k..=max).rev() {
            counts[s] += counts[s - k];
        }
    }
    let total = 2f64.powi(n as i32);
    counts[..=w.min(max)].iter().sum::<f64>() / total
}

/// Mann-Whitney U test of two independent samples (scipy:
/// `stats.mannwhitneyu(a, b)`): the statistic is U of `a`
/// (R_a - n_a(n_a+1)/2, average ranks for ties). Exact null distribution
/// when either sample has at most 8 values and there are no ties;
/// otherwise the normal approximation with tie and continuity corrections.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Test {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return Test { statistic: f64::NAN, df: f64::NAN, p: f64::NAN };
    }
    let all: Vec<f64> = a.iter().chain(b).copied().collect();
    let (ranks, ties) = average_ranks(&all);
    let r1: f64 = ranks[..n1].iter().sum();
    let u1 = r1 - (n1 * (n1 + 1)) as f64 / 2.0;
    let u = u1.max((n1 * n2) as f64 - u1);
    let p = if (n1 <= 8 || n2 <= 8) && ties.iter().all(|&t| t == 1) {
        2.0 * u_survival(n1, n2, u.round() as usize)
    } else {
        let n = (n1 + n2) as f64;
        let tie_term: f64 = ties.iter().map(|&t| (t * t * t - t) as f64).sum::<f64>() / (n * (n - 1.0));
        let s = ((n1 * n2) as f64 / 12.0 * ((n + 1.0) - tie_term)).sqrt();
        let z = (u - (n1 * n2) as f64 / 2.0 - 0.5) / s;
        2.0 * normal().cdf(-z)
    };
    Test { statistic: u1, df: f64::NAN, p: p.clamp(0.0, 1.0) }
}

/// P(U >= u) under the null for samples of n1 and n2 untied values.
fn u_survival(n1: usize, n2: usize, u: usize) -> f64 {
    // ways[i][j][s]: arrangements of i values of a and j of b with U = s,
    // built one sample size at a time with the recurrence
    // f(i, j, s) = f(i - 1, j, s - j) + f(i, j - 1, s).
    let max = n1 * n2;
    let mut prev: Vec<Vec<f64>> = (0..=n2).map(|_| single(0)).collect();
    fn single(at: usize) -> Vec<f64> {
        let mut v = vec![0.0; at + 1];
        v[at] = 1.0;
        v
    }
    for i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n2 + 1);
        cur.push(single(0));
        for j in 1..=n2 {
            let mut v = vec![0.0; i * j + 1];
            for (s, w) in prev[j].iter().enumerate() {
                v[s + j] += w;
            }
            for (s, w) in cur[j - 1].iter().enumerate() {
                v[s] += w;
            }
            cur.push(v);
        }
        prev = cur;
    }
    let dist = &prev[n2];
    let total: f64 = dist.iter().sum();
    dist[u.min(max)..].iter().sum::<f64>() / total
}

/// Average ranks (1-based) of `xs`, and the sizes of the groups of tied values.
fn average_ranks(xs: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        ties.push(j - i + 1);
        i = j + 1;
    }
    (ranks, ties)
}

fn differences(a: &[f64], b: &[f64]) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "paired samples need one value each per pair");
    a.iter().zip(b).map(|(x, y)| x - y).collect()
}

/// Cohen's d for paired samples (d_z): mean difference over the standard
/// deviation of the differences.
pub fn cohens_d_paired(a: &[f64], b: &[f64]) -> f64 {
    let d = differences(a, b);
    mean(&d) / variance(&d).sqrt()
}

/// Cohen's d for independent samples: difference of means over the pooled
/// standard deviation.
pub fn cohens_d(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let pooled = (((na - 1.0) * variance(a) + (nb - 1.0) * variance(b)) / (na + nb - 2.0)).sqrt();
    (mean(a) - mean(b)) / pooled
}

/// Cliff's delta: P(a > b) - P(a < b) over all pairs of one value of each
/// sample; from -1 (every a below every b) to 1.
pub fn cliffs_delta(a: &[f64], b: &[f64]) -> f64 {
    let (mut greater, mut less) = (0u64, 0u64);
    for x in a {
        for y in b {
            if x > y {
                greater += 1;
            } else if x < y {
                less += 1;
            }
        }
    }
    (greater as f64 - less as f64) / (a.len() * b.len()) as f64
}

/// Holm's step-down adjustment of p-values for a family of tests: sorted
/// ascending, the i-th (from 0) is multiplied by m - i, made monotone and
/// capped at 1; returned in the input's order. NaN p-values are left out
/// of the family and stay NaN.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..ps.len()).filter(|&i| !ps[i].is_nan()).collect();
    order.sort_by(|&i, &j| ps[i].total_cmp(&ps[j]));
    let m = order.len();
    let mut adjusted = vec![f64::NAN; ps.len()];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * ps[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The 95 % t interval of the paired differences a - b.
pub fn paired_difference_interval(a: &[f64], b: &[f64]) -> Interval {
    t_interval(&differences(a, b))
}

/// The 95 % Welch interval of mean(a) - mean(b) for independent samples.
pub fn welch_difference_interval(a: &[f64], b: &[f64]) -> Interval {
    let t = welch_t(a, b);
    if t.df.is_nan() {
        return Interval::UNKNOWN;
    }
    let diff = mean(a) - mean(b);
    let se = (variance(a) / a.len() as f64 + variance(b) / b.len() as f64).sqrt();
    let half = t_quantile(1.0 - (1.0 - CONFIDENCE) / 2.0, t.df) * se;
    Interval { lo: diff - half, hi: diff + half }
}

#[cfg(test)]
mod tests;
