//! Virtual time: instants and durations in integer nanoseconds.
//!
//! Nothing in the simulator reads the wall clock; time advances only when the
//! engine takes the next event from its queue.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

/// A point in virtual time, in nanoseconds since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SimTime(pub u64);

/// A span of virtual time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable instant.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `n` seconds after the start.
    pub const fn from_secs(n: u64) -> Self {
        SimTime(n * 1_000_000_000)
    }

    /// The instant `n` milliseconds after the start.
    pub const fn from_millis(n: u64) -> Self {
        SimTime(n * 1_000_000)
    }

    /// Nanoseconds since the start of the run.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the start of the run, as a float (for reports only).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// The time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);

    /// A duration of `n` nanoseconds.
    pub const fn from_nanos(n: u64) -> Self {
        SimDuration(n)
    }
    /// A duration of `n` microseconds.
    pub const fn from_micros(n: u64) -> Self {
        SimDuration(n * 1_000)
    }
    /// A duration of `n` milliseconds.
    pub const fn from_millis(n: u64) -> Self {
        SimDuration(n * 1_000_000)
    }
    /// A duration of `n` seconds.
    pub const fn from_secs(n: u64) -> Self {
        SimDuration(n * 1_000_000_000)
    }
    /// A duration from fractional seconds, rounded to the nearest nanosecond
    /// (negative and NaN become zero).
    pub fn from_secs_f64(s: f64) -> Self {
        if s.is_nan() || s <= 0.0 { SimDuration(0) } else { SimDuration((s * 1e9).round().min(u64::MAX as f64) as u64) }
    }
    /// The duration in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The duration in seconds, as a float (for reports and statistics).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The duration in milliseconds, as a float (for reports and statistics).
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.since(earlier)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.as_secs_f64())
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n == 0 {
            write!(f, "0s")
        } else if n.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", n / 1_000_000_000)
        } else if n.is_multiple_of(1_000_000) {
            write!(f, "{}ms", n / 1_000_000)
        } else if n.is_multiple_of(1_000) {
            write!(f, "{}us", n / 1_000)
        } else {
            write!(f, "{n}ns")
        }
    }
}

/// Why a duration string could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid duration {input:?}: expected a number with a unit (ns, us, ms, s, min, h), e.g. \"150ms\"")]
pub struct ParseDurationError {
    /// The text that was given.
    pub input: String,
}

impl FromStr for SimDuration {
    type Err = ParseDurationError;

    /// Reads durations such as `"150ms"`, `"2.5s"`, `"10us"`, `"1min"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError { input: s.to_string() };
        let t = s.trim();
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let num: f64 = num.replace('_', "").parse().map_err(|_| err())?;
        let scale = match unit.trim() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "min" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        if !num.is_finite() || num < 0.0 {
            return Err(err());
        }
        Ok(SimDuration((num * scale).round() as u64))
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!("150ms".parse::<SimDuration>().unwrap(), SimDuration::from_millis(150));
        assert_eq!("2.5s".parse::<SimDuration>().unwrap(), SimDuration::from_millis(2500));
        assert_eq!("10us".parse::<SimDuration>().unwrap(), SimDuration::from_micros(10));
        assert_eq!("7ns".parse::<SimDuration>().unwrap(), SimDuration(7));
        assert_eq!("1min".parse::<SimDuration>().unwrap(), SimDuration::from_secs(60));
        assert!("150".parse::<SimDuration>().is_err());
        assert!("ms".parse::<SimDuration>().is_err());
        assert!("3 parsecs".parse::<SimDuration>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for d in [SimDuration(0), SimDuration(7), SimDuration::from_micros(3), SimDuration::from_millis(150), SimDuration::from_secs(2)] {
            assert_eq!(d.to_string().parse::<SimDuration>().unwrap(), d);
        }
    }
}
