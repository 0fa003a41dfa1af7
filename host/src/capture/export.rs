//! Exports of captured messages for tools students already use: ShiViz
//! (space-time diagrams from vector clocks) and the Chrome trace event format
//! (Perfetto, chrome://tracing).

use super::{Capture, Fate};
use crate::NodeIndex;
use crate::events::MessageId;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

/// The ShiViz parser expression written on the first line of a ShiViz log:
/// one event per line, `HOST CLOCK EVENT`.
pub const SHIVIZ_REGEX: &str = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)";

/// One send or receive, in the order the engine carried them out.
struct Step {
    /// Sends: the message id; receives: the number of messages sent before.
    position: u64,
    receive: bool,
    time: u64,
    msg: MessageId,
}

fn host(n: NodeIndex) -> String {
    format!("n{n}")
}

impl Capture {
    /// Writes the messages of `selection` as a ShiViz log: the parser
    /// expression, an empty line (no execution delimiter), then one line per
    /// send and per delivery with the vector clock the host computes (each
    /// node counts its own events; a delivery merges the sender's clock at
    /// sending). Dropped messages appear as sends only, with their fate.
    pub fn write_shiviz(&self, selection: &[MessageId], out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "{SHIVIZ_REGEX}")?;
        writeln!(out)?;
        let mut steps: Vec<Step> = Vec::with_capacity(selection.len() * 2);
        for &msg in selection {
            let m = self.message(msg);
            steps.push(Step { position: msg, receive: false, time: m.sent().as_nanos(), msg });
            if m.fate() == Fate::Delivered {
                let time = m.ended().expect("delivered").as_nanos();
                steps.push(Step { position: self.delivered_after[msg as usize], receive: true, time, msg });
            }
        }
        // A delivery comes after the sends before it and before the next
        // send (message ids count sends in order).
        steps.sort_by_key(|s| (s.position, !s.receive, s.time, s.msg));
        let mut clocks: HashMap<NodeIndex, BTreeMap<String, u64>> = HashMap::new();
        let mut in_flight: HashMap<MessageId, BTreeMap<String, u64>> = HashMap::new();
        for step in steps {
            let m = self.message(step.msg);
            let node = if step.receive { m.to() } else { m.from() };
            let clock = clocks.entry(node).or_default();
            if step.receive
                && let Some(sent) = in_flight.remove(&step.msg)
            {
                for (h, t) in sent {
                    let mine = clock.entry(h).or_default();
                    *mine = (*mine).max(t);
                }
            }
            *clock.entry(host(node)).or_default() += 1;
            let text = if step.receive {
                format!("receive {} #{} from {} at {:.6} s", m.kind(), m.id(), host(m.from()), step.time as f64 / 1e9)
            } else {
                let fate = if m.fate() == Fate::Delivered { String::new() } else { format!(" ({})", m.fate().name()) };
                format!("send {} #{} to {} at {:.6} s{fate} {}", m.kind(), m.id(), host(m.to()), step.time as f64 / 1e9, m.fields_json())
            };
            if !step.receive && m.fate() == Fate::Delivered {
                in_flight.insert(step.msg, clock.clone());
            }
            writeln!(out, "{} {} {}", host(node), serde_json::to_string(clock).map_err(io::Error::other)?, text)?;
        }
        Ok(())
    }

    /// Writes the messages of `selection` in the Chrome trace event format
    /// (open it in Perfetto or chrome://tracing): one track per node, a
    /// slice for each send and each delivery joined by a flow arrow, an
    /// instant event for each drop; times in microseconds of virtual time.
    pub fn write_chrome_trace(&self, selection: &[MessageId], out: &mut impl Write) -> io::Result<()> {
        let mut nodes: Vec<NodeIndex> = selection.iter().flat_map(|&m| [self.message(m).from(), self.message(m).to()]).collect();
        nodes.sort_unstable();
        nodes.dedup();
        let mut events = Vec::with_capacity(nodes.len() + selection.len() * 4);
        for &n in &nodes {
            events.push(json!({ "ph": "M", "name": "thread_name", "pid": 1, "tid": n, "args": { "name": format!("node {n}") } }));
        }
        let us = |ns: u64| ns as f64 / 1e3;
        for &msg in selection {
            let m = self.message(msg);
            let args = json!({ "id": msg, "size": m.size(), "fate": m.fate().name(), "op": m.op(), "hop": m.op().map(|_| m.hop()), "fault": m.fault(), "fields": m.fields_json() });
            let sent = us(m.sent().as_nanos());
            events.push(json!({ "ph": "X", "name": format!("send {}", m.kind()), "cat": "message", "pid": 1, "tid": m.from(), "ts": sent, "dur": 1, "args": args }));
            match (m.fate(), m.ended()) {
                (Fate::Delivered, Some(at)) => {
                    let at = us(at.as_nanos());
                    events.push(json!({ "ph": "s", "name": m.kind(), "cat": "message", "id": msg, "pid": 1, "tid": m.from(), "ts": sent }));
                    events.push(json!({ "ph": "X", "name": format!("receive {}", m.kind()), "cat": "message", "pid": 1, "tid": m.to(), "ts": at, "dur": 1, "args": { "id": msg, "from": m.from() } }));
                    events.push(
                        json!({ "ph": "f", "bp": "e", "name": m.kind(), "cat": "message", "id": msg, "pid": 1, "tid": m.to(), "ts": at }),
                    );
                }
                (fate, Some(at)) => {
                    events.push(json!({ "ph": "i", "s": "t", "name": format!("{} {} to node {}", fate.name(), m.kind(), m.to()), "cat": "drop", "pid": 1, "tid": m.from(), "ts": us(at.as_nanos()), "args": { "id": msg, "fault": m.fault() } }));
                }
                (_, None) => {}
            }
        }
        serde_json::to_writer(&mut *out, &json!({ "traceEvents": events, "displayTimeUnit": "ms" })).map_err(io::Error::other)?;
        writeln!(out)
    }
}
