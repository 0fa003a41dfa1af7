//! Vega-Lite specifications with their data inlined, for the standard plots:
//! latency CDF, hop-count histogram, messages over time by kind, load per
//! node. Jupyter (Altair, or the Vega-Lite MIME type), the Vega editor and
//! `vl2png` render them as they are.

use crate::capture::{Capture, Fate};
use crate::events::MessageId;
use crate::sim::Simulation;
use crate::time::SimDuration;
use peershare_wire::Record;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The Vega-Lite schema every specification declares.
pub const SCHEMA: &str = "https://vega.github.io/schema/vega-lite/v5.json";

fn spec(title: &str, values: Vec<Value>, mark: Value, encoding: Value) -> Value {
    json!({ "$schema": SCHEMA, "title": title, "width": 480, "height": 300, "data": { "values": values }, "mark": mark, "encoding": encoding })
}

/// Empirical CDFs of latencies in milliseconds, one line per named series
/// (for example operation kinds, or algorithms compared).
pub fn latency_cdf(title: &str, series: &[(&str, Vec<f64>)]) -> Value {
    let mut values = Vec::new();
    for (name, latencies) in series {
        let mut sorted = latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        for (i, l) in sorted.iter().enumerate() {
            values.push(json!({ "series": name, "latency_ms": l, "fraction": (i + 1) as f64 / n }));
        }
    }
    spec(
        title,
        values,
        json!({ "type": "line", "interpolate": "step-after" }),
        json!({
            "x": { "field": "latency_ms", "type": "quantitative", "title": "latency (ms)" },
            "y": { "field": "fraction", "type": "quantitative", "title": "fraction of operations", "scale": { "domain": [0, 1] } },
            "color": { "field": "series", "type": "nominal" }
        }),
    )
}

/// A histogram of hop counts (one bar per count).
pub fn hop_histogram(title: &str, hops: &[u64]) -> Value {
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for &h in hops {
        *counts.entry(h).or_default() += 1;
    }
    let values = counts.into_iter().map(|(h, c)| json!({ "hops": h, "count": c })).collect();
    spec(
        title,
        values,
        json!({ "type": "bar" }),
        json!({
            "x": { "field": "hops", "type": "ordinal", "title": "hops" },
            "y": { "field": "count", "type": "quantitative", "title": "operations" }
        }),
    )
}

/// Messages sent per time bin, stacked by kind, over `selection`.
pub fn messages_over_time(title: &str, capture: &Capture, selection: &[MessageId], bin: SimDuration) -> Value {
    let bin_ns = bin.as_nanos().max(1);
    let mut counts: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for &id in selection {
        let m = capture.message(id);
        *counts.entry((m.sent().as_nanos() / bin_ns, m.kind())).or_default() += 1;
    }
    let values =
        counts.into_iter().map(|((b, kind), c)| json!({ "time_s": (b * bin_ns) as f64 / 1e9, "kind": kind, "messages": c })).collect();
    spec(
        title,
        values,
        json!({ "type": "area" }),
        json!({
            "x": { "field": "time_s", "type": "quantitative", "title": "virtual time (s)" },
            "y": { "field": "messages", "type": "quantitative", "stack": "zero", "title": format!("messages per {bin}") },
            "color": { "field": "kind", "type": "nominal" }
        }),
    )
}

/// Messages sent and received per node over `selection`, busiest first.
pub fn load_per_node(title: &str, capture: &Capture, selection: &[MessageId]) -> Value {
    let mut rows: Vec<(u32, u64, u64)> = capture.node_summary(selection).into_iter().map(|(n, s)| (n, s.sent, s.received)).collect();
    rows.sort_by_key(|&(n, s, r)| (std::cmp::Reverse(s + r), n));
    let values = rows
        .iter()
        .flat_map(|&(n, s, r)| {
            [json!({ "node": n, "direction": "sent", "messages": s }), json!({ "node": n, "direction": "received", "messages": r })]
        })
        .collect();
    spec(
        title,
        values,
        json!({ "type": "bar" }),
        json!({
            "x": { "field": "node", "type": "ordinal", "sort": "-y", "title": "node" },
            "y": { "field": "messages", "type": "quantitative", "stack": "zero" },
            "color": { "field": "direction", "type": "nominal" }
        }),
    )
}

/// Delivery latencies (ms) of the delivered messages in `selection`.
pub fn delivery_latencies(capture: &Capture, selection: &[MessageId]) -> Vec<f64> {
    selection
        .iter()
        .map(|&id| capture.message(id))
        .filter(|m| m.fate() == Fate::Delivered)
        .map(|m| m.ended().expect("delivered").since(m.sent()).as_millis_f64())
        .collect()
}

/// The standard plots of a run, by name, for those it has data for:
/// `latency-cdf` (operation latencies by kind), `hops` (the `rounds`
/// operations report), and with capture on `messages-over-time` (in 100
/// bins, at least 1 ms each) and `load-per-node`. `peershare run --viz`
/// writes them as `NAME.vl.json`.
pub fn run_plots(sim: &Simulation) -> Vec<(&'static str, Value)> {
    let mut plots = Vec::new();
    let mut latencies: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut hops = Vec::new();
    for rec in sim.operations() {
        if let Some(outcome) = &rec.outcome {
            latencies.entry(rec.operation.kind()).or_default().push(outcome.at.since(rec.issued_at).as_millis_f64());
            if let Some(rounds) = Record::decode(&outcome.result).ok().and_then(|r| r.u64("rounds")) {
                hops.push(rounds);
            }
        }
    }
    if !latencies.is_empty() {
        let series: Vec<(&str, Vec<f64>)> = latencies.into_iter().collect();
        plots.push(("latency-cdf", latency_cdf("operation latency", &series)));
    }
    if !hops.is_empty() {
        plots.push(("hops", hop_histogram("hops per operation", &hops)));
    }
    if let Some(capture) = sim.capture() {
        let all: Vec<MessageId> = (0..capture.len() as u64).collect();
        plots.push(("messages-over-time", messages_over_time("messages by kind", capture, &all, default_bin(sim))));
        plots.push(("load-per-node", load_per_node("messages per node", capture, &all)));
    }
    plots
}

/// The time bin of `messages-over-time`: a hundredth of the run so far,
/// at least 1 ms.
pub fn default_bin(sim: &Simulation) -> SimDuration {
    SimDuration::from_nanos((sim.now().as_nanos() / 100).max(1_000_000))
}

/// A histogram of a class's scores, in ten bins from 0 to `max_score`.
pub fn score_histogram(title: &str, scores: &[f64], max_score: f64) -> Value {
    let values = scores.iter().map(|s| json!({ "score": s })).collect();
    let step = if max_score > 0.0 { max_score / 10.0 } else { 1.0 };
    spec(
        title,
        values,
        json!({ "type": "bar" }),
        json!({
            "x": { "field": "score", "type": "quantitative", "title": "score", "bin": { "extent": [0, max_score.max(step)], "step": step } },
            "y": { "aggregate": "count", "type": "quantitative", "title": "submissions" }
        }),
    )
}

/// The share of submissions passing each test, one bar per test, the
/// most failed first.
pub fn pass_rates(title: &str, tests: &[(String, f64)]) -> Value {
    let values = tests.iter().map(|(name, rate)| json!({ "test": name, "passed": rate })).collect();
    spec(
        title,
        values,
        json!({ "type": "bar" }),
        json!({
            "y": { "field": "test", "type": "nominal", "title": null, "sort": { "field": "passed", "order": "ascending" } },
            "x": { "field": "passed", "type": "quantitative", "title": "share of submissions passing", "scale": { "domain": [0, 1] } }
        }),
    )
}
