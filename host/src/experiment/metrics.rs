//! The metrics of one finished run: named numbers computed from its
//! operations, its message capture and its event log.
//!
//! Every metric is defined here exactly; the experiment framework computes
//! them for every run, and a user adds more with the [`Metric`] trait or
//! with derived metrics in the experiment file. A metric that cannot be
//! computed for a run (no operation of that kind succeeded, say) is left
//! out of that run's values rather than given a made-up number.
//!
//! ## Per operation kind `K`
//! Only operations the workload issued count (not those the host-side
//! file-sharing application starts for itself). `K` is the operation's
//! kind as in `summary.json`: `lookup`, `get`, `put`, `announce`,
//! `find-providers`, `propose`, `publish`, `download`, or a request's kind.
//!
//! | name | definition |
//! |---|---|
//! | `K.issued` | operations of kind `K` issued |
//! | `K.success_rate` | succeeded / issued (an operation still pending at the end counts as not succeeded) |
//! | `K.latency_mean_ms`, `K.latency_p50_ms`, `K.latency_p90_ms`, `K.latency_p99_ms` | completion time minus issue time of the operations that succeeded, in ms; percentiles by the nearest-rank method |
//! | `K.rounds_mean` | mean of the `rounds` field of successful outcomes that report it (the plugin's own hop count, `Outcome::rounds`) |
//! | `K.messages_mean`, `K.bytes_mean` | mean over issued operations of the messages (and their bytes) in the operation's causal chain: every message sent while handling the operation or anything it caused (the capture's `Cause`), until the run's end |
//! | `K.depth_mean` | mean over issued operations with at least one message of the longest causal chain: the largest hop number among its messages |
//! | `K.coverage` | (requests only) mean over operations of the share of the nodes up at the operation's start that the causal chain reached (the issuing node counts as reached) |
//! | `K.duplicate_ratio` | (requests only) over all operations, deliveries to a node the chain had already reached (or to the issuer) / all deliveries of the chains |
//! | `K.convergence_ms` | (requests only) mean over the operations that reached every node up at their start of the time from issue to the last node's first delivery |
//! | `lookup.exact_rate` | successful lookups that returned exactly the right nodes against global knowledge (the k closest live nodes by XOR, or the key's true successor on a ring; see [`crate::correctness`]) / successful lookups judged |
//! | `get.after_put_rate` | gets issued after a successful put of the same key that returned the value put / such gets |
//! | `download.throughput_mbps` | mean over successful downloads of the file's bits / download time, in Mbit/s |
//!
//! ## Whole run
//! | name | definition |
//! |---|---|
//! | `messages_per_node_per_s`, `bytes_per_node_per_s` | messages (bytes) handed to the network / nodes / seconds of virtual time |
//! | `delivery_rate` | messages delivered / messages handed to the network |
//! | `load_max_over_mean` | the largest number of messages delivered to one node over the mean per node |
//! | `load_gini` | the Gini coefficient of messages delivered per node (0: all equal; near 1: one node handles all) |
//! | `fuel_per_operation` | WebAssembly fuel of all handlers / operations issued by the workload |
//! | `fuel_per_call` | WebAssembly fuel / handler calls |
//! | `nodes_crashed` | nodes that failed on their own (traps, limits), not by a fault |
//!
//! ## Consensus (nodes that publish a `role`)
//! Roles and terms are those of each node's last published state (see
//! [`super::consensus::Leadership`]); commit latency is `propose.latency_*`.
//!
//! | name | definition |
//! |---|---|
//! | `consensus.first_leader_ms` | when a node first published the role "leader", in ms from the run's start |
//! | `consensus.leaderships` | times a node's published role became "leader" (1 for a run with one stable leader) |
//! | `consensus.max_term` | the highest term published |
//! | `consensus.unavailable_ms` | from the first leader on, the time during which no node up held the role "leader" (a leader crash's unavailability window) |
//! | `consensus.entries_committed` | distinct (index, value) pairs reported through `committed` |
//! | `consensus.messages_per_commit` | messages handed to the network / entries committed |
//! | `consensus.commits_per_s` | entries committed / seconds of virtual time |
//!
//! ## Published state (gossip, anti-entropy)
//! A node's state here is the last record it published (`Context::publish`),
//! byte for byte; a node up but yet to publish holds none.
//!
//! | name | definition |
//! |---|---|
//! | `state.agreement` | share of the nodes up at the run's end that hold the state most of them hold |
//! | `state.convergence_ms` | (only if every node up at the end holds the same state) the virtual time, in ms from the run's start, from which on every node up held one and the same state: the last moment agreement began |

use crate::NodeIndex;
use crate::capture::Fate;
use crate::correctness::Liveness;
use crate::events::Event;
use crate::node::{OpId, Operation};
use crate::sim::Simulation;
use crate::summary::LatencyStats;
use peershare_wire::Record;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The values of one run's metrics, by name.
pub type Values = BTreeMap<String, f64>;

/// A metric of one's own, computed from a finished run: its operations
/// (`Simulation::operations`), capture, event log, node states and summary.
///
/// ```
/// use peershare::experiment::metrics::{Metric, Values};
/// use peershare::Simulation;
///
/// /// Share of the nodes that crashed on their own.
/// struct CrashShare;
/// impl Metric for CrashShare {
///     fn name(&self) -> &str {
///         "crash_share"
///     }
///     fn measure(&self, sim: &Simulation, values: &mut Values) {
///         let crashed = sim.summary().crashed.len();
///         values.insert("crash_share".into(), crashed as f64 / sim.node_count() as f64);
///     }
/// }
/// ```
pub trait Metric: Send + Sync {
    /// A name for listings and errors.
    fn name(&self) -> &str;
    /// Adds this metric's values (one or more names) for a finished run.
    fn measure(&self, sim: &Simulation, values: &mut Values);
}

/// Per-operation figures from the capture.
#[derive(Clone, Debug, Default)]
struct Chain {
    messages: u64,
    bytes: u64,
    depth: u16,
    deliveries: u64,
    duplicates: u64,
    reached: BTreeSet<NodeIndex>,
    last_first_delivery: Option<crate::time::SimTime>,
}

/// Computes every metric of the catalogue that applies to the run.
pub fn standard(sim: &Simulation) -> Values {
    let mut values = Values::new();
    let ops = sim.operations();
    let workload: Vec<&crate::sim::OperationRecord> = ops.iter().filter(|r| !r.started_by_app).collect();
    let chains = sim.capture().map(|capture| {
        let mut chains: BTreeMap<OpId, Chain> = BTreeMap::new();
        for m in capture.messages() {
            let Some(op) = m.op() else { continue };
            let c = chains.entry(op).or_default();
            c.messages += 1;
            c.bytes += u64::from(m.size());
            c.depth = c.depth.max(m.hop());
        }
        // Reach: deliveries in time order (capture order is send order).
        let mut deliveries: Vec<(crate::time::SimTime, OpId, NodeIndex)> =
            capture.messages().filter(|m| m.fate() == Fate::Delivered).filter_map(|m| Some((m.ended()?, m.op()?, m.to()))).collect();
        deliveries.sort();
        for (at, op, to) in deliveries {
            let issuer = ops.get(op as usize).map(|r| r.node);
            let c = chains.entry(op).or_default();
            c.deliveries += 1;
            if Some(to) == issuer || !c.reached.insert(to) {
                c.duplicates += 1;
            } else {
                c.last_first_delivery = Some(at);
            }
        }
        chains
    });
    let live = (sim.events().is_recording()).then(|| Liveness::of(sim));

    let mut kinds: BTreeMap<&str, Vec<&crate::sim::OperationRecord>> = BTreeMap::new();
    for r in &workload {
        kinds.entry(r.operation.kind()).or_default().push(r);
    }
    for (kind, recs) in &kinds {
        let put = |values: &mut Values, name: &str, v: f64| {
            values.insert(format!("{kind}.{name}"), v);
        };
        let issued = recs.len() as f64;
        put(&mut values, "issued", issued);
        let ok: Vec<&&crate::sim::OperationRecord> = recs.iter().filter(|r| r.outcome.as_ref().is_some_and(|o| o.ok)).collect();
        put(&mut values, "success_rate", ok.len() as f64 / issued);
        let latencies: Vec<u64> = ok.iter().map(|r| r.outcome.as_ref().expect("ok").at.since(r.issued_at).as_nanos()).collect();
        if let Some(l) = LatencyStats::from_nanos(&latencies) {
            put(&mut values, "latency_mean_ms", l.mean);
            put(&mut values, "latency_p50_ms", l.p50);
            put(&mut values, "latency_p90_ms", l.p90);
            put(&mut values, "latency_p99_ms", l.p99);
        }
        let rounds: Vec<f64> = ok
            .iter()
            .filter_map(|r| Record::decode(&r.outcome.as_ref().expect("ok").result).ok()?.u64("rounds"))
            .map(|x| x as f64)
            .collect();
        if !rounds.is_empty() {
            put(&mut values, "rounds_mean", rounds.iter().sum::<f64>() / rounds.len() as f64);
        }
        let Some(chains) = &chains else { continue };
        let empty = Chain::default();
        let chain = |r: &crate::sim::OperationRecord| chains.get(&r.op).unwrap_or(&empty);
        put(&mut values, "messages_mean", recs.iter().map(|r| chain(r).messages as f64).sum::<f64>() / issued);
        put(&mut values, "bytes_mean", recs.iter().map(|r| chain(r).bytes as f64).sum::<f64>() / issued);
        let depths: Vec<f64> = recs.iter().map(|r| chain(r)).filter(|c| c.messages > 0).map(|c| f64::from(c.depth)).collect();
        if !depths.is_empty() {
            put(&mut values, "depth_mean", depths.iter().sum::<f64>() / depths.len() as f64);
        }
        if let (Some(live), true) = (&live, recs.iter().all(|r| matches!(r.operation, Operation::Request(_)))) {
            let (mut coverage, mut deliveries, mut duplicates, mut converged) = (0.0, 0u64, 0u64, Vec::new());
            for r in recs {
                let c = chain(r);
                let up: Vec<NodeIndex> = (0..sim.node_count() as NodeIndex).filter(|&n| live.up_at(n, r.issued_at)).collect();
                let reached = up.iter().filter(|&&n| n == r.node || c.reached.contains(&n)).count();
                coverage += reached as f64 / up.len().max(1) as f64;
                deliveries += c.deliveries;
                duplicates += c.duplicates;
                if reached == up.len()
                    && let Some(last) = c.last_first_delivery
                {
                    converged.push(last.since(r.issued_at).as_nanos() as f64 / 1e6);
                }
            }
            put(&mut values, "coverage", coverage / issued);
            if deliveries > 0 {
                put(&mut values, "duplicate_ratio", duplicates as f64 / deliveries as f64);
            }
            if !converged.is_empty() {
                put(&mut values, "convergence_ms", converged.iter().sum::<f64>() / converged.len() as f64);
            }
        }
    }
    // The summary judges lookups against global knowledge once; its
    // figures serve here too.
    let summary = sim.summary();
    if let Some(c) = &summary.correctness {
        if c.lookups_checked > 0 {
            values.insert("lookup.exact_rate".into(), c.lookups_correct as f64 / c.lookups_checked as f64);
        }
        if c.gets_after_put > 0 {
            values.insert("get.after_put_rate".into(), c.gets_after_put_correct as f64 / c.gets_after_put as f64);
        }
    }
    let throughputs: Vec<f64> = workload
        .iter()
        .filter(|r| r.operation.kind() == "download")
        .filter_map(|r| {
            let o = r.outcome.as_ref().filter(|o| o.ok)?;
            let bytes = Record::decode(&o.result).ok()?.u64("bytes")?;
            let secs = o.at.since(r.issued_at).as_secs_f64();
            (secs > 0.0).then(|| bytes as f64 * 8.0 / secs / 1e6)
        })
        .collect();
    if !throughputs.is_empty() {
        values.insert("download.throughput_mbps".into(), throughputs.iter().sum::<f64>() / throughputs.len() as f64);
    }

    let nodes = sim.node_count().max(1) as f64;
    let secs = sim.now().as_secs_f64();
    if secs > 0.0 {
        values.insert("messages_per_node_per_s".into(), summary.messages.sent as f64 / nodes / secs);
        values.insert("bytes_per_node_per_s".into(), summary.messages.bytes_sent as f64 / nodes / secs);
    }
    if summary.messages.sent > 0 {
        values.insert("delivery_rate".into(), summary.messages.delivered as f64 / summary.messages.sent as f64);
    }
    if let Some(capture) = sim.capture() {
        let mut handled = vec![0u64; sim.node_count()];
        for m in capture.messages().filter(|m| m.fate() == Fate::Delivered) {
            if let Some(h) = handled.get_mut(m.to() as usize) {
                *h += 1;
            }
        }
        let total: u64 = handled.iter().sum();
        if total > 0 {
            let mean = total as f64 / handled.len() as f64;
            values.insert("load_max_over_mean".into(), *handled.iter().max().expect("nodes") as f64 / mean);
            values.insert("load_gini".into(), gini(&handled));
        }
    }
    if !workload.is_empty() {
        values.insert("fuel_per_operation".into(), summary.fuel_consumed as f64 / workload.len() as f64);
    }
    if summary.handler_calls > 0 {
        values.insert("fuel_per_call".into(), summary.fuel_consumed as f64 / summary.handler_calls as f64);
    }
    values.insert("nodes_crashed".into(), summary.crashed.len() as f64);
    if let Some(l) = super::consensus::Leadership::of(sim) {
        if let Some(first) = l.first_leader {
            values.insert("consensus.first_leader_ms".into(), first.as_nanos() as f64 / 1e6);
            values.insert("consensus.unavailable_ms".into(), l.unavailable.as_nanos() as f64 / 1e6);
        }
        values.insert("consensus.leaderships".into(), l.leaderships as f64);
        values.insert("consensus.max_term".into(), l.max_term as f64);
        values.insert("consensus.entries_committed".into(), l.entries_committed as f64);
        if l.entries_committed > 0 {
            values.insert("consensus.messages_per_commit".into(), summary.messages.sent as f64 / l.entries_committed as f64);
        }
        if secs > 0.0 {
            values.insert("consensus.commits_per_s".into(), l.entries_committed as f64 / secs);
        }
    }
    if let Some(agreement) = StateAgreement::of(sim) {
        values.insert("state.agreement".into(), agreement.share);
        if let Some(since) = agreement.since {
            values.insert("state.convergence_ms".into(), since.as_nanos() as f64 / 1e6);
        }
    }
    values
}

/// How far the nodes up at a run's end agree on their published state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StateAgreement {
    /// Share of the nodes up at the end holding the most common state.
    pub share: f64,
    /// When every node up came to hold one state, if they all do at the end.
    pub since: Option<crate::time::SimTime>,
}

impl StateAgreement {
    /// Replays the event log's publications and up/down changes; `None`
    /// when no node published or the log was not recorded.
    pub fn of(sim: &Simulation) -> Option<StateAgreement> {
        let mut up = vec![false; sim.node_count()];
        let mut state: Vec<Option<Arc<[u8]>>> = vec![None; sim.node_count()];
        // The nodes up, counted by the state they hold (`None`: yet to publish).
        let mut holders: BTreeMap<Option<Arc<[u8]>>, usize> = BTreeMap::new();
        let hold = |holders: &mut BTreeMap<_, usize>, s: &Option<Arc<[u8]>>| *holders.entry(s.clone()).or_default() += 1;
        let release = |holders: &mut BTreeMap<_, usize>, s: &Option<Arc<[u8]>>| {
            let n = holders.get_mut(s).expect("a held state");
            *n -= 1;
            if *n == 0 {
                holders.remove(s);
            }
        };
        let (mut published, mut since) = (false, None);
        for e in sim.events().events() {
            match &e.event {
                Event::NodeStarted { node, .. } | Event::NodeUp { node, .. } if !up[*node as usize] => {
                    let i = *node as usize;
                    // A node restarted from scratch holds nothing until it publishes.
                    if matches!(e.event, Event::NodeUp { state_kept: false, .. }) {
                        state[i] = None;
                    }
                    up[i] = true;
                    hold(&mut holders, &state[i]);
                }
                Event::NodeDown { node, .. } | Event::Crashed { node, .. } if up[*node as usize] => {
                    let i = *node as usize;
                    up[i] = false;
                    release(&mut holders, &state[i]);
                }
                Event::StatePublished { node, state: new } => {
                    let i = *node as usize;
                    published = true;
                    if up[i] {
                        release(&mut holders, &state[i]);
                    }
                    state[i] = Some(new.clone());
                    if up[i] {
                        hold(&mut holders, &state[i]);
                    }
                }
                _ => continue,
            }
            let agree = holders.len() == 1 && !holders.contains_key(&None);
            since = if agree { since.or(Some(e.time)) } else { None };
        }
        let up_count: usize = holders.values().sum();
        if !published || up_count == 0 {
            return None;
        }
        let most = holders.iter().filter(|(s, _)| s.is_some()).map(|(_, n)| *n).max().unwrap_or(0);
        Some(StateAgreement { share: most as f64 / up_count as f64, since })
    }
}

/// The Gini coefficient of non-negative counts: the mean absolute
/// difference over all ordered pairs divided by twice the mean, computed
/// from the sorted values as (2 Σ i·x_i) / (n Σ x) - (n + 1) / n.
pub fn gini(counts: &[u64]) -> f64 {
    let n = counts.len() as f64;
    let total: u64 = counts.iter().sum();
    if counts.is_empty() || total == 0 {
        return 0.0;
    }
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let weighted: f64 = sorted.iter().enumerate().map(|(i, &x)| (i + 1) as f64 * x as f64).sum();
    2.0 * weighted / (n * total as f64) - (n + 1.0) / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_is_the_mean_absolute_difference_over_twice_the_mean() {
        let brute = |xs: &[u64]| {
            let n = xs.len() as f64;
            let mean = xs.iter().sum::<u64>() as f64 / n;
            let sum: f64 = xs.iter().flat_map(|a| xs.iter().map(move |b| (*a as f64 - *b as f64).abs())).sum();
            sum / (n * n) / (2.0 * mean)
        };
        for xs in [&[5u64, 5, 5, 5][..], &[0, 0, 0, 12], &[1, 2, 3, 4, 10], &[7]] {
            assert!((gini(xs) - brute(xs)).abs() < 1e-12, "{xs:?}: {} vs {}", gini(xs), brute(xs));
        }
        assert_eq!(gini(&[0, 0]), 0.0);
    }
}
