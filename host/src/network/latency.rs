//! Latency models: how long a message takes to cross one link.

use crate::rng::{open_unit_f64, standard_normal, unit_f64};
use crate::time::SimDuration;
use rand_core::Rng;
use serde::{Deserialize, Serialize};

/// A distribution of one-way link latency. Each message's draw comes from
/// that message's own generator ([`crate::rng::LinkDraws`]); results are
/// rounded to whole nanoseconds.
///
/// ```
/// use peershare::network::LatencyModel;
/// use peershare::time::SimDuration;
/// let m = LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(30) };
/// assert_eq!(m.mean(), Some(SimDuration::from_millis(20)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LatencyModel {
    /// Every message takes exactly `value`.
    Constant {
        /// The latency.
        value: SimDuration,
    },
    /// Uniform between `min` and `max` (inclusive of `min`).
    Uniform {
        /// Smallest latency.
        min: SimDuration,
        /// Largest latency.
        max: SimDuration,
    },
    /// Normal with the given mean and standard deviation, truncated at zero
    /// (negative draws are drawn again).
    Normal {
        /// Mean of the untruncated normal.
        mean: SimDuration,
        /// Standard deviation of the untruncated normal.
        std_dev: SimDuration,
    },
    /// Log-normal: `median * exp(sigma * Z)` with `Z` standard normal.
    LogNormal {
        /// The median latency.
        median: SimDuration,
        /// Standard deviation of the latency's natural logarithm.
        sigma: f64,
    },
    /// Pareto (heavy-tailed) with minimum `scale` and tail index `shape`.
    Pareto {
        /// The smallest possible latency (x_m).
        scale: SimDuration,
        /// The tail index (alpha); the mean is finite only above 1.
        shape: f64,
    },
}

impl LatencyModel {
    /// A constant latency model.
    pub fn constant(value: SimDuration) -> Self {
        LatencyModel::Constant { value }
    }

    /// Draws one latency.
    pub fn sample(&self, rng: &mut impl Rng) -> SimDuration {
        let nanos = match *self {
            LatencyModel::Constant { value } => return value,
            LatencyModel::Uniform { min, max } => {
                let span = max.0.saturating_sub(min.0) as f64;
                min.0 as f64 + span * unit_f64(rng)
            }
            LatencyModel::Normal { mean, std_dev } => loop {
                let x = mean.0 as f64 + std_dev.0 as f64 * standard_normal(rng);
                if x >= 0.0 {
                    break x;
                }
            },
            LatencyModel::LogNormal { median, sigma } => median.0 as f64 * (sigma * standard_normal(rng)).exp(),
            LatencyModel::Pareto { scale, shape } => scale.0 as f64 / open_unit_f64(rng).powf(1.0 / shape),
        };
        SimDuration(nanos.round().min(u64::MAX as f64) as u64)
    }

    /// The distribution's mean, where it is finite (the truncated normal's
    /// mean is not given in closed form here and returns `None`).
    pub fn mean(&self) -> Option<SimDuration> {
        let nanos = match *self {
            LatencyModel::Constant { value } => value.0 as f64,
            LatencyModel::Uniform { min, max } => (min.0 as f64 + max.0 as f64) / 2.0,
            LatencyModel::Normal { .. } => return None,
            LatencyModel::LogNormal { median, sigma } => median.0 as f64 * (sigma * sigma / 2.0).exp(),
            LatencyModel::Pareto { scale, shape } if shape > 1.0 => scale.0 as f64 * shape / (shape - 1.0),
            LatencyModel::Pareto { .. } => return None,
        };
        Some(SimDuration(nanos.round() as u64))
    }

    /// Checks the parameters, describing the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            LatencyModel::Uniform { min, max } if max < min => Err(format!("uniform latency has max {max} below min {min}")),
            LatencyModel::LogNormal { sigma, .. } if !(sigma.is_finite() && sigma >= 0.0) => {
                Err(format!("log-normal sigma must be a finite number >= 0, got {sigma}"))
            }
            LatencyModel::Pareto { shape, .. } if !(shape.is_finite() && shape > 0.0) => {
                Err(format!("pareto shape must be a finite number > 0, got {shape}"))
            }
            LatencyModel::Pareto { scale, .. } if scale.0 == 0 => Err("pareto scale must be above 0".to_string()),
            _ => Ok(()),
        }
    }
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::constant(SimDuration::from_millis(50))
    }
}
