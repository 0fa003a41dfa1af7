//! Link capacity: how long a message occupies an uplink or a downlink.

use crate::time::SimDuration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A link capacity in bits per second. `Unlimited` means transfers take no
/// time on that link (only latency counts).
///
/// Scenario files write capacities as strings: `"10Mbps"`, `"512kbps"`,
/// `"1Gbps"`, `"2MB/s"` (bytes), or `"unlimited"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bandwidth {
    /// No capacity limit.
    #[default]
    Unlimited,
    /// At most this many bits per second.
    BitsPerSecond(u64),
}

impl Bandwidth {
    /// A capacity of `n` megabits per second.
    pub const fn mbps(n: u64) -> Self {
        Bandwidth::BitsPerSecond(n * 1_000_000)
    }

    /// How long `bytes` bytes occupy a link of this capacity (rounded up to
    /// the next nanosecond).
    pub fn transfer_time(self, bytes: usize) -> SimDuration {
        match self {
            Bandwidth::Unlimited => SimDuration::ZERO,
            Bandwidth::BitsPerSecond(bps) => {
                let bits = bytes as u128 * 8 * 1_000_000_000;
                SimDuration(bits.div_ceil(u128::from(bps)).min(u128::from(u64::MAX)) as u64)
            }
        }
    }
}

/// Why a bandwidth string could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid bandwidth {input:?}: expected e.g. \"10Mbps\", \"512kbps\", \"2MB/s\" or \"unlimited\"")]
pub struct ParseBandwidthError {
    /// The text that was given.
    pub input: String,
}

impl FromStr for Bandwidth {
    type Err = ParseBandwidthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseBandwidthError { input: s.to_string() };
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") {
            return Ok(Bandwidth::Unlimited);
        }
        let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(err)?;
        let (num, unit) = t.split_at(split);
        let num: f64 = num.parse().map_err(|_| err())?;
        let bits_per_unit = match unit.trim() {
            "bps" => 1.0,
            "kbps" | "Kbps" => 1e3,
            "Mbps" => 1e6,
            "Gbps" => 1e9,
            "B/s" => 8.0,
            "kB/s" | "KB/s" => 8e3,
            "MB/s" => 8e6,
            "GB/s" => 8e9,
            _ => return Err(err()),
        };
        let bps = (num * bits_per_unit).round();
        if !bps.is_finite() || bps < 1.0 {
            return Err(err());
        }
        Ok(Bandwidth::BitsPerSecond(bps as u64))
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Bandwidth::Unlimited => write!(f, "unlimited"),
            Bandwidth::BitsPerSecond(b) if b % 1_000_000_000 == 0 => write!(f, "{}Gbps", b / 1_000_000_000),
            Bandwidth::BitsPerSecond(b) if b % 1_000_000 == 0 => write!(f, "{}Mbps", b / 1_000_000),
            Bandwidth::BitsPerSecond(b) if b % 1_000 == 0 => write!(f, "{}kbps", b / 1_000),
            Bandwidth::BitsPerSecond(b) => write!(f, "{b}bps"),
        }
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("10Mbps".parse::<Bandwidth>().unwrap(), Bandwidth::BitsPerSecond(10_000_000));
        assert_eq!("2MB/s".parse::<Bandwidth>().unwrap(), Bandwidth::BitsPerSecond(16_000_000));
        assert_eq!("unlimited".parse::<Bandwidth>().unwrap(), Bandwidth::Unlimited);
        assert!("10 furlongs".parse::<Bandwidth>().is_err());
        assert!("0Mbps".parse::<Bandwidth>().is_err());
    }

    #[test]
    fn transfer_time_is_size_over_capacity() {
        // 1 MB over 8 Mbit/s is exactly one second.
        assert_eq!(Bandwidth::mbps(8).transfer_time(1_000_000), SimDuration::from_secs(1));
        assert_eq!(Bandwidth::Unlimited.transfer_time(1_000_000), SimDuration::ZERO);
        // Rounded up: 1 byte over 3 bit/s.
        assert_eq!(Bandwidth::BitsPerSecond(3).transfer_time(1), SimDuration(2_666_666_667));
    }
}
