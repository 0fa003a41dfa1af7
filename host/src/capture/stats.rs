//! Per-kind and per-node statistics of a selection of messages.

use super::{Capture, Fate};
use crate::NodeIndex;
use crate::events::MessageId;
use std::collections::BTreeMap;

/// Counters of one message kind.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct KindSummary {
    /// Messages.
    pub messages: u64,
    /// Delivered.
    pub delivered: u64,
    /// Dropped, for any reason.
    pub dropped: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Mean time from sending to delivery, in milliseconds.
    pub mean_latency_ms: Option<f64>,
}

/// Counters of one node.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct NodeSummary {
    /// Messages it sent.
    pub sent: u64,
    /// Messages delivered to it.
    pub received: u64,
    /// Bytes it sent.
    pub bytes_sent: u64,
    /// Bytes delivered to it.
    pub bytes_received: u64,
    /// Its messages that were dropped.
    pub dropped: u64,
}

impl Capture {
    /// Counters per message kind over `selection`.
    pub fn kind_summary(&self, selection: &[MessageId]) -> BTreeMap<String, KindSummary> {
        let mut by_kind: Vec<(KindSummary, f64)> = vec![(KindSummary::default(), 0.0); self.kinds().len()];
        for &id in selection {
            let i = id as usize;
            let (s, latency) = &mut by_kind[self.kind[i] as usize];
            s.messages += 1;
            s.bytes += u64::from(self.size[i]);
            match self.fate[i] {
                Fate::Delivered => {
                    s.delivered += 1;
                    *latency += (self.ended[i] - self.sent[i]) as f64 / 1e6;
                }
                Fate::InFlight => {}
                _ => s.dropped += 1,
            }
        }
        by_kind
            .into_iter()
            .enumerate()
            .filter(|(_, (s, _))| s.messages > 0)
            .map(|(k, (mut s, latency))| {
                s.mean_latency_ms = (s.delivered > 0).then(|| latency / s.delivered as f64);
                (self.kinds()[k].clone(), s)
            })
            .collect()
    }

    /// Counters per node over `selection`.
    pub fn node_summary(&self, selection: &[MessageId]) -> BTreeMap<NodeIndex, NodeSummary> {
        let mut out: BTreeMap<NodeIndex, NodeSummary> = BTreeMap::new();
        for &id in selection {
            let i = id as usize;
            let size = u64::from(self.size[i]);
            let sender = out.entry(self.from[i]).or_default();
            sender.sent += 1;
            sender.bytes_sent += size;
            if self.fate[i].is_dropped() {
                sender.dropped += 1;
            }
            if self.fate[i] == Fate::Delivered {
                let receiver = out.entry(self.to[i]).or_default();
                receiver.received += 1;
                receiver.bytes_received += size;
            }
        }
        out
    }
}
