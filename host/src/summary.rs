//! Results of a run: operation success and latency, message counts and
//! sizes, crashes. Written as `summary.json` by the CLI.

use crate::intern::{Interner, kind_of};
use serde::Serialize;
use std::collections::BTreeMap;

/// Message counters for one message kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KindStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
}

/// Message counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MessageStats {
    /// Messages handed to the network (including ones dropped at once).
    pub sent: u64,
    /// Messages delivered to a handler.
    pub delivered: u64,
    /// Messages dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Bytes handed to the network.
    pub bytes_sent: u64,
    /// Bytes delivered.
    pub bytes_delivered: u64,
    /// Counters per message kind.
    pub by_kind: BTreeMap<String, KindStats>,
}

/// Distribution of operation latencies, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Mean.
    pub mean: f64,
    /// Smallest.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl LatencyStats {
    /// Statistics of the given latencies in nanoseconds (`None` if empty).
    /// Percentiles use the nearest-rank method.
    pub fn from_nanos(values: &[u64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let ms = |n: u64| n as f64 / 1e6;
        let rank = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        let sum: u128 = v.iter().map(|&x| u128::from(x)).sum();
        Some(LatencyStats {
            mean: sum as f64 / v.len() as f64 / 1e6,
            min: ms(v[0]),
            p50: ms(rank(0.5)),
            p90: ms(rank(0.9)),
            p99: ms(rank(0.99)),
            max: ms(v[v.len() - 1]),
        })
    }
}

/// Results of one kind of operation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OperationStats {
    /// Operations issued by the workload.
    pub issued: u64,
    /// Operations completed (successfully or not).
    pub completed: u64,
    /// Operations completed successfully.
    pub succeeded: u64,
    /// Operations completed unsuccessfully.
    pub failed: u64,
    /// Operations never completed by the end of the run.
    pub pending: u64,
    /// `succeeded / issued`, 0 when none were issued.
    pub success_rate: f64,
    /// Latency of completed operations.
    pub latency_ms: Option<LatencyStats>,
}

/// Everything `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The run's seed.
    pub seed: u64,
    /// Virtual time at the end, in seconds.
    pub end_time_s: f64,
    /// Number of nodes.
    pub nodes: usize,
    /// Nodes that crashed, with the reason.
    pub crashed: BTreeMap<u32, String>,
    /// Number of events that happened.
    pub events: u64,
    /// Message counters.
    pub messages: MessageStats,
    /// Results per operation kind.
    pub operations: BTreeMap<String, OperationStats>,
    /// Total WebAssembly fuel consumed by all handlers.
    pub fuel_consumed: u64,
    /// Handler calls that completed (for the fuel per call).
    pub handler_calls: u64,
    /// The most fuel one handler call consumed.
    pub max_fuel_per_call: u64,
    /// Nodes a fault had taken down at the end, with the fault.
    pub down: BTreeMap<u32, u32>,
    /// What each fault did.
    pub faults: Vec<FaultSummary>,
    /// Published states whose conventional fields had the wrong type, one
    /// line per node and field.
    pub convention_warnings: Vec<String>,
    /// Routing answers judged against global knowledge (see
    /// [`crate::correctness`]); absent when there were none to judge or no
    /// event log was kept.
    pub correctness: Option<crate::correctness::Correctness>,
    /// Consensus safety violations the referee found ([`crate::referee`];
    /// absent when it did not watch or found none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub safety_violations: Vec<crate::referee::Violation>,
    /// The linearizability check of a replicated key/value store's clients
    /// ([`crate::kv`]; absent without one). Its violations are among
    /// `safety_violations` too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<crate::kv::LinearizabilityReport>,
}

/// What one fault did in a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FaultSummary {
    /// The fault's id.
    pub id: u32,
    /// Its label.
    pub name: Option<String>,
    /// Its kind.
    pub kind: String,
    /// When it started (seconds), if it did.
    pub started_s: Option<f64>,
    /// When it ended (seconds), if it did.
    pub ended_s: Option<f64>,
    /// Nodes it affected (node faults, churn) or in a partition's named sides.
    pub nodes: usize,
    /// Messages it dropped (including messages to the nodes it took down).
    pub dropped: u64,
    /// Messages it delayed, copied or altered.
    pub altered: u64,
    /// Times it took a node down.
    pub departures: u64,
    /// Times a node it took down came back.
    pub returns: u64,
}

/// Running counters the engine updates as the run goes.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub messages: MessageStats,
    kinds: Interner,
    by_kind: Vec<KindStats>,
    pub fuel_consumed: u64,
}

impl Metrics {
    fn kind_stats(&mut self, kind: &str) -> &mut KindStats {
        let i = self.kinds.intern(kind) as usize;
        if i == self.by_kind.len() {
            self.by_kind.push(KindStats::default());
        }
        &mut self.by_kind[i]
    }

    /// Counts a message of `kind` and `size` bytes handed to the network.
    pub fn on_sent(&mut self, kind: &str, size: usize) {
        self.messages.sent += 1;
        self.messages.bytes_sent += size as u64;
        let s = self.kind_stats(kind);
        s.sent += 1;
        s.bytes_sent += size as u64;
    }

    pub fn on_delivered(&mut self, bytes: &[u8]) {
        self.messages.delivered += 1;
        self.messages.bytes_delivered += bytes.len() as u64;
        self.kind_stats(kind_of(bytes)).delivered += 1;
    }

    pub fn on_dropped(&mut self, reason: &str) {
        *self.messages.dropped.entry(reason.to_string()).or_default() += 1;
    }

    pub fn message_stats(&self) -> MessageStats {
        let mut m = self.messages.clone();
        m.by_kind = self.kinds.names().iter().cloned().zip(self.by_kind.iter().cloned()).collect();
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        let s = LatencyStats::from_nanos(&values).unwrap();
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1.0, 50.0, 90.0, 99.0, 100.0));
        assert!((s.mean - 50.5).abs() < 1e-9);
        assert!(LatencyStats::from_nanos(&[]).is_none());
    }
}
