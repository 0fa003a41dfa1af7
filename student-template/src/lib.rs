//! A starting point for your own peer: ping/echo with a membership list.
//!
//! Every node knows the bootstrap contacts the host gives it. Every
//! `interval_ms` (scenario config, default 500) it PINGs one of its known
//! peers, chosen at random; a node that receives a PING learns the sender
//! and answers PONG. The node publishes how many pongs it has received and
//! whom it knows, so that `peershare run --viz` and tests can see it.
//!
//! Replace the behaviour with your protocol. Each handler reacts to one
//! event and returns; to wait, set a timer. The SDK (`peershare_sdk`) keeps
//! your `MyPeer` between events: it is this node's whole state.

use peershare_sdk::prelude::*;
use std::collections::BTreeSet;

/// Tag of the periodic ping timer.
const PING: u64 = 1;

/// Everything this node remembers between events.
pub struct MyPeer {
    known: BTreeSet<NodeIndex>,
    pongs: u64,
}

impl MyPeer {
    fn state(&self) -> State {
        State::new().neighbours(self.known.iter().copied()).field("pongs", self.pongs)
    }
}

impl Peer for MyPeer {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let interval = Duration::from_millis(start.config.u64("interval_ms").unwrap_or(500));
        let peer = MyPeer { known: start.bootstrap.iter().map(|c| c.node).collect(), pongs: 0 };
        // println! works: the line shows up in the event log as this node's output.
        println!("node {} starting with {} contacts", start.index, peer.known.len());
        ctx.every(interval, PING);
        ctx.publish(&peer.state());
        peer
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        self.known.insert(from);
        match message.kind.as_str() {
            "PING" => ctx.send(from, &Record::new("PONG").with("seq", message.u64("seq").unwrap_or(0))),
            "PONG" => self.pongs += 1,
            other => ctx.log(Level::Warn, &format!("unexpected {other} from node {from}")),
        }
        ctx.publish(&self.state());
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        if tag == PING && !self.known.is_empty() {
            let pick = ctx.random_below(self.known.len() as u64) as usize;
            let peer = *self.known.iter().nth(pick).expect("pick is in range");
            let seq = ctx.now().as_nanos() as u64;
            ctx.send(peer, &Record::new("PING").with("seq", seq));
        }
    }

    fn inspect(&self, _ctx: &Context) -> State {
        self.state()
    }
}

peershare_sdk::export_peer!(MyPeer);

#[cfg(test)]
mod tests {
    //! Run with `cargo test --target x86_64-unknown-linux-gnu` (your
    //! machine's target): the default target, wasm32-wasip2, cannot run tests.

    use super::*;
    use peershare_sdk::testing::Harness;

    #[test]
    fn a_ping_is_answered_with_a_pong_carrying_its_seq() {
        let mut node = Harness::<MyPeer>::start(0, Record::new("config"), &[]);
        node.effects();
        node.deliver(7, Record::new("PING").with("seq", 42u64));
        assert_eq!(node.sent(), vec![(7, Record::new("PONG").with("seq", 42u64))]);
        assert_eq!(node.inspect().nodes("neighbours"), Some(&[7][..]), "the sender is now known");
    }

    #[test]
    fn the_ping_timer_pings_a_known_peer_and_stays_armed() {
        let mut node = Harness::<MyPeer>::start(0, Record::new("config"), &[Contact::new(3, vec![3])]);
        node.effects();
        assert!(node.fire(PING));
        let sent = node.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].0, sent[0].1.kind.as_str()), (3, "PING"));
        assert_eq!(node.pending_timers(), vec![PING], "periodic timers re-arm themselves");
    }
}
