//! A starting point for consensus: one fixed leader, no failures handled.
//!
//! Node `leader` (config, default 0) orders every proposal: a node that is
//! asked to propose a value sends it to the leader, the leader appends it
//! to its log and sends COMMIT with the entry's index to every node, and
//! every node commits entries in index order. The proposer completes the
//! operation when its entry commits. This is correct only while no node
//! fails and no message is lost: make it Raft (elections, terms, log
//! matching) and let the fault timeline test it. Keep the term, the vote
//! and the log on the node's disk (`ctx.storage()`, synced before you
//! answer) so that a crash that wipes memory does not make you forget a
//! vote, and run your scenarios with `referee = "watch"`: the host checks
//! election safety, log matching and every commit from outside.

use peershare_sdk::prelude::*;
use std::collections::BTreeMap;

/// This node's state.
pub struct MyConsensus {
    leader: NodeIndex,
    /// Committed entries, from index 1.
    log: Vec<Vec<u8>>,
    /// Entries that arrived ahead of a gap, by index.
    ahead: BTreeMap<u64, (Vec<u8>, NodeIndex, u64)>,
    /// This node's proposals waiting to commit, by request number.
    waiting: BTreeMap<u64, OpId>,
    next_request: u64,
}

impl MyConsensus {
    fn apply(&mut self, ctx: &mut Context) {
        while let Some((value, origin, req)) = self.ahead.remove(&(self.log.len() as u64 + 1)) {
            self.log.push(value.clone());
            let index = self.log.len() as u64;
            ctx.committed(index, &value);
            if origin == ctx.index()
                && let Some(op) = self.waiting.remove(&req)
            {
                ctx.complete(op, Outcome::committed(index));
            }
        }
    }
}

impl Peer for MyConsensus {
    fn init(_ctx: &mut Context, start: Start) -> Self {
        let leader = start.config.u64("leader").unwrap_or(0) as NodeIndex;
        MyConsensus { leader, log: Vec::new(), ahead: BTreeMap::new(), waiting: BTreeMap::new(), next_request: 0 }
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        match message.kind.as_str() {
            // Only the leader gets proposals: it numbers them and tells everyone.
            "PROPOSE" if ctx.index() == self.leader => {
                let index = self.log.len() as u64 + self.ahead.len() as u64 + 1;
                let commit = message.with("index", index).with("origin", Value::Node(from));
                let commit = Record { kind: "COMMIT".into(), ..commit };
                for node in 0..ctx.node_count() {
                    ctx.send(node, &commit);
                }
            }
            "COMMIT" => {
                let (Some(index), Some(value), Some(origin)) = (message.u64("index"), message.bytes("value"), message.node("origin")) else {
                    return;
                };
                self.ahead.insert(index, (value.to_vec(), origin, message.u64("req").unwrap_or(0)));
                self.apply(ctx);
            }
            other => ctx.log(Level::Warn, &format!("unexpected {other} from node {from}")),
        }
    }

    fn propose(&mut self, ctx: &mut Context, op: OpId, value: Vec<u8>) {
        self.next_request += 1;
        self.waiting.insert(self.next_request, op);
        ctx.send(self.leader, &Record::new("PROPOSE").with("req", self.next_request).with("value", value));
    }

    fn inspect(&self, ctx: &Context) -> State {
        let role = if ctx.index() == self.leader { Role::Leader } else { Role::Follower };
        let committed = self.log.len() as u64;
        State::new().role(role).leader(self.leader).term(1).log_length(committed).commit_index(committed)
    }
}

peershare_sdk::export_peer!(MyConsensus);
