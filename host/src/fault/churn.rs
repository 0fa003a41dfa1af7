//! Churn: nodes leaving and joining with measured session-time distributions.

use crate::rng::{SimRng, open_unit_f64};
use crate::time::SimDuration;

/// A distribution of session (or down) times, as fitted in measurement
/// studies of P2P networks. In scenario files:
/// `{ distribution = "weibull", scale = "30min", shape = 0.5 }`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "distribution", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SessionDistribution {
    /// Memoryless, with this mean.
    Exponential {
        /// The mean.
        mean: SimDuration,
    },
    /// Heavy-tailed: `P(X > x) = (scale / x)^shape` for `x >= scale`.
    Pareto {
        /// The minimum (x_m).
        scale: SimDuration,
        /// The tail index (alpha > 0).
        shape: f64,
    },
    /// `P(X > x) = exp(-(x / scale)^shape)`; shape < 1 gives the many short
    /// and few very long sessions seen in deployed networks.
    Weibull {
        /// The scale (lambda).
        scale: SimDuration,
        /// The shape (k > 0).
        shape: f64,
    },
    /// Always the same length.
    Constant {
        /// The length.
        value: SimDuration,
    },
}

impl SessionDistribution {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            SessionDistribution::Exponential { mean } if mean.0 == 0 => Err("an exponential distribution needs a mean above zero".into()),
            SessionDistribution::Pareto { scale, shape } | SessionDistribution::Weibull { scale, shape }
                if scale.0 == 0 || !(shape.is_finite() && shape > 0.0) =>
            {
                Err(format!("a distribution needs a scale above zero and a positive shape, got scale {scale}, shape {shape}"))
            }
            _ => Ok(()),
        }
    }

    /// One draw, by inversion of the distribution function.
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        let secs = match *self {
            SessionDistribution::Exponential { mean } => -mean.as_secs_f64() * open_unit_f64(rng).ln(),
            SessionDistribution::Pareto { scale, shape } => scale.as_secs_f64() / open_unit_f64(rng).powf(1.0 / shape),
            SessionDistribution::Weibull { scale, shape } => scale.as_secs_f64() * (-open_unit_f64(rng).ln()).powf(1.0 / shape),
            SessionDistribution::Constant { value } => return value,
        };
        SimDuration::from_secs_f64(secs.min(1e9))
    }

    /// The distribution function at `x` seconds: `P(X <= x)`.
    pub fn cdf(&self, x: f64) -> f64 {
        match *self {
            SessionDistribution::Exponential { mean } => 1.0 - (-x / mean.as_secs_f64()).exp(),
            SessionDistribution::Pareto { scale, shape } => {
                let m = scale.as_secs_f64();
                if x < m { 0.0 } else { 1.0 - (m / x).powf(shape) }
            }
            SessionDistribution::Weibull { scale, shape } => 1.0 - (-(x.max(0.0) / scale.as_secs_f64()).powf(shape)).exp(),
            SessionDistribution::Constant { value } => {
                if x < value.as_secs_f64() {
                    0.0
                } else {
                    1.0
                }
            }
        }
    }
}

/// Churn among the targeted nodes: each online node stays for a session
/// drawn from `session`, then leaves; nodes come back after a `downtime`
/// draw, or, with an `arrival_rate`, one at a time as a Poisson process
/// picking a random node among those that are down. When the churn ends,
/// every node it took down comes back.
#[derive(Clone, Debug, PartialEq)]
pub struct Churn {
    /// Session lengths.
    pub session: SessionDistribution,
    /// Time until a node that left comes back (give this or `arrival_rate`).
    pub downtime: Option<SessionDistribution>,
    /// Joins per second of virtual time, among the nodes that are down.
    pub arrival_rate: Option<f64>,
    /// Fraction of the targeted nodes that are down when the churn starts.
    pub initially_down: f64,
    /// Whether a node that comes back keeps its state (a frozen node) or
    /// starts afresh (a new instance, `init` again; the usual case).
    pub keep_state: bool,
}

impl Churn {
    /// Churn with these session and down times, nodes coming back afresh.
    pub fn new(session: SessionDistribution, downtime: SessionDistribution) -> Self {
        Churn { session, downtime: Some(downtime), arrival_rate: None, initially_down: 0.0, keep_state: false }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        self.session.validate().map_err(|m| format!("session: {m}"))?;
        if let Some(d) = &self.downtime {
            d.validate().map_err(|m| format!("downtime: {m}"))?;
        }
        match (self.downtime.is_some(), self.arrival_rate) {
            (true, Some(_)) | (false, None) => return Err("churn needs exactly one of `downtime` and `arrival_rate`".into()),
            (_, Some(r)) if !(r.is_finite() && r > 0.0) => {
                return Err(format!("`arrival_rate` must be a positive number of joins per second, got {r}"));
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&self.initially_down) {
            return Err(format!("`initially_down` must be a fraction within [0, 1], got {}", self.initially_down));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeedTree, Stream};

    #[test]
    fn draws_follow_the_distribution_function() {
        let dists = [
            SessionDistribution::Exponential { mean: SimDuration::from_secs(10) },
            SessionDistribution::Pareto { scale: SimDuration::from_secs(5), shape: 1.5 },
            SessionDistribution::Weibull { scale: SimDuration::from_secs(20), shape: 0.5 },
        ];
        for d in dists {
            let mut rng = SeedTree::new(3).stream(Stream::Faults);
            let n = 20_000;
            let mut xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng).as_secs_f64()).collect();
            xs.sort_by(f64::total_cmp);
            // Kolmogorov-Smirnov distance; 1.36 / sqrt(n) is the 5% critical value.
            let ks = xs.iter().enumerate().map(|(i, &x)| (d.cdf(x) - i as f64 / n as f64).abs()).fold(0.0, f64::max);
            assert!(ks < 1.36 / (n as f64).sqrt() * 1.5, "{d:?}: KS distance {ks}");
        }
    }

    #[test]
    fn invalid_parameters_are_named() {
        let bad = Churn {
            arrival_rate: Some(1.0),
            ..Churn::new(
                SessionDistribution::Constant { value: SimDuration::from_secs(1) },
                SessionDistribution::Constant { value: SimDuration::from_secs(1) },
            )
        };
        assert!(bad.validate().unwrap_err().contains("exactly one"));
        let bad = SessionDistribution::Weibull { scale: SimDuration::from_secs(1), shape: 0.0 };
        assert!(bad.validate().unwrap_err().contains("positive shape"));
    }
}
