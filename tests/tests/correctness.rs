//! The summary's correctness figures equal a brute-force check against
//! global knowledge, and wrong answers count as wrong.

use peershare::correctness::Correctness;
use peershare::prelude::*;
use peershare_e2e::kademlia::{K, Liveness, key, network, phase};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[test]
fn kademlia_lookups_are_judged_exactly_as_the_brute_force_check_judges_them() {
    let n = 150;
    let (mut b, joined) = network(n, 21, Record::new("config"));
    for i in 0..120u64 {
        b = b.operation(
            joined + SimDuration::from_millis(20 * i),
            ((i * 7) % n as u64) as NodeIndex,
            Operation::Lookup { key: key(21, i, 20) },
        );
    }
    // Crash a tenth of the nodes half way, so that some answers go stale.
    let half = joined + SimDuration::from_millis(1200);
    b = b.fault(Fault::new(half, Target::Nodes(NodeSet::all().fraction(0.1)), FaultKind::Crash { recovery: Recovery::KeepState }));
    let mut sim = b.build().unwrap();
    sim.run_until(joined + SimDuration::from_secs(8)).unwrap();
    let live = Liveness::of(&sim);
    let brute = phase(&sim, &live, SimTime::ZERO, SimTime(u64::MAX), |_| true);
    let c = sim.summary().correctness.expect("lookups were judged");
    assert_eq!((c.lookups_checked as usize, c.lookups_correct as usize), (brute.succeeded, brute.exact));
    assert_eq!(c.xor_lookups, c.lookups_checked);
    assert!(brute.exact > 0 && brute.exact_rate() < 1.0, "the crash made some answers wrong: {} of {}", brute.exact, brute.succeeded);
    assert_eq!(K, peershare::correctness::DEFAULT_K);
}

/// Every node of a ring "DHT" knows every id (through `ring`) and answers
/// lookups with the key's true successor, except every `wrong_every`-th
/// lookup it answers, which gets the successor's successor. It stores puts
/// in a shared table and answers gets from it, wrongly for gets of keys
/// starting with 0xFF.
struct RingPeer {
    index: NodeIndex,
    ring: Arc<Mutex<BTreeMap<NodeIndex, Vec<u8>>>>,
    store: Arc<Mutex<BTreeMap<Vec<u8>, Vec<u8>>>>,
    answered: u64,
    wrong_every: u64,
}

impl Peer for RingPeer {
    fn init(&mut self, _ctx: &mut NodeContext, args: &InitArgs) {
        self.index = args.index;
        self.ring.lock().unwrap().insert(args.index, args.id.clone());
    }

    fn on_message(&mut self, _: &mut NodeContext, _: NodeIndex, _: &[u8]) {}

    fn on_operation(&mut self, ctx: &mut NodeContext, op: u64, operation: &Operation) {
        match operation {
            Operation::Lookup { key } => {
                // Order the ring clockwise from the key, by the test's own arithmetic.
                let ring = self.ring.lock().unwrap();
                let distance = |id: &[u8]| {
                    let (mut d, mut borrow) = (vec![0u8; id.len()], 0i16);
                    for i in (0..id.len()).rev() {
                        let mut x = id[i] as i16 - key[i] as i16 - borrow;
                        borrow = i16::from(x < 0);
                        if x < 0 {
                            x += 256;
                        }
                        d[i] = x as u8;
                    }
                    d
                };
                let mut order: Vec<NodeIndex> = ring.keys().copied().collect();
                order.sort_by_key(|n| distance(&ring[n]));
                self.answered += 1;
                let pick = if self.answered.is_multiple_of(self.wrong_every) { order[1] } else { order[0] };
                let result = Record::new("contacts").with("nodes", Value::Nodes(vec![pick])).with("metric", "ring");
                ctx.complete(op, true, result.encode());
            }
            Operation::Put { key, value } => {
                self.store.lock().unwrap().insert(key.clone(), value.clone());
                ctx.complete(op, true, Record::new("stored").encode());
            }
            Operation::Get { key } => {
                let found = self.store.lock().unwrap().get(key).cloned();
                let value = match found {
                    Some(v) if key[0] == 0xFF => [v, b"!".to_vec()].concat(),
                    Some(v) => v,
                    None => return ctx.complete(op, false, Record::new("not-found").encode()),
                };
                ctx.complete(op, true, Record::new("value").with("value", value).encode());
            }
            _ => ctx.complete(op, false, Record::new("error").encode()),
        }
    }
}

#[test]
fn ring_answers_and_gets_after_puts_are_counted_right_and_wrong() {
    let ring = Arc::new(Mutex::new(BTreeMap::new()));
    let store = Arc::new(Mutex::new(BTreeMap::new()));
    let (r, s) = (ring.clone(), store.clone());
    let group = GroupSpec::new(
        "ring",
        40,
        PeerSource::native(move |_| RingPeer { index: 0, ring: r.clone(), store: s.clone(), answered: 0, wrong_every: 3 }),
    );
    let mut b = SimulationBuilder::new(4).id_bits(16).group(group);
    // Node 5 answers 30 lookups: every third is wrong.
    for i in 0..30u64 {
        b = b.operation(SimTime::from_secs(1) + SimDuration::from_millis(i), 5, Operation::Lookup { key: key(4, i, 2) });
    }
    // Four puts, then gets: of the keys put, one (0xFF..) is answered wrongly;
    // a get of a key never put is not judged.
    let keys = [vec![0x01, 0x02], vec![0x40, 0x00], vec![0xFF, 0x10], vec![0x80, 0x80]];
    for (i, k) in keys.iter().enumerate() {
        b = b.operation(SimTime::from_secs(2), i as NodeIndex, Operation::Put { key: k.clone(), value: vec![i as u8] });
        b = b.operation(SimTime::from_secs(3), 10 + i as NodeIndex, Operation::Get { key: k.clone() });
    }
    b = b.operation(SimTime::from_secs(3), 20, Operation::Get { key: vec![0x55, 0x55] });
    // A get issued before its put completed is not judged either.
    b = b.operation(SimTime::from_secs(1), 21, Operation::Get { key: keys[0].clone() });
    let mut sim = b.build().unwrap();
    sim.run_for(SimDuration::from_secs(5)).unwrap();
    let mut c = sim.summary().correctness.unwrap();
    // The first wrong answer is the third lookup (issued at 1.002 s):
    // named with what the true successor was and what came back instead.
    let mistake = c.first_mistake.take().expect("wrong answers were given");
    assert_eq!((mistake.kind.as_str(), mistake.node), ("lookup", 5));
    let third = sim.operations().iter().find(|r| r.issued_at == SimTime::from_secs(1) + SimDuration::from_millis(2)).unwrap();
    assert_eq!(mistake.op, third.op);
    assert!(mistake.expected.starts_with("the key's successor, node "), "{mistake}");
    assert!(mistake.got.starts_with("node ") && mistake.got != mistake.expected["the key's successor, ".len()..], "{mistake}");
    assert_eq!(
        c,
        Correctness {
            lookups_checked: 30,
            lookups_correct: 20,
            xor_lookups: 0,
            ring_lookups: 30,
            gets_after_put: 4,
            gets_after_put_correct: 3,
            first_mistake: None,
        }
    );
}
