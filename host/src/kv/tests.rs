use super::*;
use crate::app::AppEffect;

fn ms(n: u64) -> SimTime {
    SimTime::from_millis(n)
}

/// Drives the store as the engine would: returns the proposal's peer
/// operation id (if it proposed) and the client completion (if any).
struct Driver {
    store: KeyValueStore,
    next_op: OpId,
}

impl Driver {
    fn new(reads: Reads) -> Self {
        Driver { store: KeyValueStore::new(KvConfig { reads, ..KvConfig::default() }), next_op: 1000 }
    }

    fn run(&mut self, at: u64, f: impl FnOnce(&mut KeyValueStore, &mut AppContext)) -> Vec<AppEffect> {
        let mut ctx = AppContext::new(ms(at), self.next_op);
        f(&mut self.store, &mut ctx);
        let effects = ctx.into_effects();
        self.next_op += effects.len() as u64;
        effects
    }

    /// A client operation: the proposal it makes (peer op id and command)
    /// or its immediate answer.
    fn start(&mut self, at: u64, op: OpId, node: NodeIndex, request: Record) -> Vec<AppEffect> {
        self.run(at, |s, ctx| s.start(ctx, op, node, &request))
    }

    fn commit(&mut self, at: u64, node: NodeIndex, index: u64, value: &[u8]) {
        assert!(self.run(at, |s, ctx| s.on_committed(ctx, node, index, value)).is_empty());
    }

    fn complete(&mut self, at: u64, node: NodeIndex, peer_op: OpId, ok: bool) -> Vec<AppEffect> {
        self.run(at, |s, ctx| s.on_peer_complete(ctx, node, peer_op, ok, &Record::new("committed")))
    }
}

fn proposal(effects: &[AppEffect]) -> (OpId, Vec<u8>) {
    match effects {
        [AppEffect::PeerOperation { op, operation: Operation::Propose { value }, .. }] => (*op, value.clone()),
        other => panic!("expected one proposal, got {other:?}"),
    }
}

fn answer(effects: &[AppEffect]) -> (bool, Record) {
    match effects {
        [AppEffect::Complete { ok, result, .. }] => (*ok, result.clone()),
        other => panic!("expected one completion, got {other:?}"),
    }
}

fn put(key: &str, value: &str) -> Record {
    Record::new("kv-put").with("key", key).with("value", value.as_bytes().to_vec())
}
fn get(key: &str) -> Record {
    Record::new("kv-get").with("key", key)
}
fn cas(key: &str, value: &str) -> Record {
    Record::new("kv-cas").with("key", key).with("value", value.as_bytes().to_vec())
}

#[test]
fn clients_are_answered_from_their_node_s_copy_in_log_order() {
    let mut d = Driver::new(Reads::Log);
    let (p1, c1) = proposal(&d.start(0, 1, 0, put("a", "x")));
    let (p2, c2) = proposal(&d.start(1, 2, 1, get("a")));
    // Both nodes apply the same log: the put, then the get.
    for node in [0, 1] {
        d.commit(10, node, 1, &c1);
        d.commit(11, node, 2, &c2);
    }
    assert_eq!(answer(&d.complete(12, 0, p1, true)), (true, Record::new("written")));
    assert_eq!(answer(&d.complete(13, 1, p2, true)), (true, Record::new("value").with("value", b"x".to_vec())));
    assert_eq!(d.store.value_at(1, "a"), Some(&b"x"[..]));
    let report = d.store.report();
    assert_eq!((report.operations, report.answered, report.registers, report.linearizable), (2, 2, 1, 1));
    assert!(report.violations.is_empty());
}

#[test]
fn cas_expects_what_the_client_last_saw() {
    let mut d = Driver::new(Reads::Log);
    let (p, c) = proposal(&d.start(0, 1, 0, cas("a", "one")));
    d.commit(5, 0, 1, &c);
    // Nothing seen yet: expects absent, swaps, answers what was there.
    assert_eq!(answer(&d.complete(6, 0, p, true)), (true, Record::new("absent")));
    let (p, c) = proposal(&d.start(7, 2, 0, cas("a", "two")));
    assert_eq!(parse_command(&c).unwrap().2, KvInput::Cas { expected: Some(b"one".to_vec()), new: b"two".to_vec() });
    d.commit(8, 0, 2, &c);
    assert_eq!(answer(&d.complete(9, 0, p, true)).1, Record::new("value").with("value", b"one".to_vec()));
    assert_eq!(d.store.value_at(0, "a"), Some(&b"two"[..]));
    assert_eq!(d.store.report().linearizable, 1);
}

#[test]
fn a_failed_proposal_has_no_answer_and_may_still_take_effect() {
    let mut d = Driver::new(Reads::Log);
    let (p, c) = proposal(&d.start(0, 1, 0, put("a", "x")));
    assert!(!answer(&d.complete(5, 0, p, false)).0);
    // It commits after all; a later read sees it: still linearizable.
    d.commit(6, 1, 1, &c);
    let (p, c) = proposal(&d.start(7, 2, 1, get("a")));
    d.commit(8, 1, 2, &c);
    assert_eq!(answer(&d.complete(9, 1, p, true)).1, Record::new("value").with("value", b"x".to_vec()));
    let report = d.store.report();
    assert_eq!((report.answered, report.linearizable, report.not_linearizable), (1, 1, 0));
}

#[test]
fn local_reads_can_be_stale_and_the_check_says_so() {
    let mut d = Driver::new(Reads::Local);
    let (p, c) = proposal(&d.start(0, 1, 0, put("a", "x")));
    d.commit(5, 0, 1, &c);
    assert!(answer(&d.complete(6, 0, p, true)).0);
    // Node 2 is in the same cluster (it applies the put later) but reads
    // its own copy before it has: absent, after the put returned.
    let (ok, result) = answer(&d.start(10, 2, 2, get("a")));
    assert_eq!((ok, result), (true, Record::new("absent")));
    d.commit(20, 2, 1, &c);
    let report = d.store.report();
    assert_eq!((report.registers, report.not_linearizable), (1, 1));
    let v = &report.violations[0];
    assert_eq!(v.property, Property::Linearizability);
    assert_eq!(v.nodes, vec![2, 0], "the stale reader, then the client of the write it missed");
    assert_eq!((v.since, v.at), (ms(0), ms(10)));
    assert!(v.detail.contains("get at node 2 answering nothing"), "{}", v.detail);
    assert!(v.detail.contains("the last write to return before it was issued: put 0x78 at node 0"), "{}", v.detail);
}

#[test]
fn clusters_are_separate_stores() {
    let mut d = Driver::new(Reads::Log);
    // Two clusters, {0, 1} and {5, 6}, each with its own "a".
    let (p0, c0) = proposal(&d.start(0, 1, 0, put("a", "x")));
    let (p5, c5) = proposal(&d.start(0, 2, 5, put("a", "y")));
    d.commit(2, 0, 1, &c0);
    d.commit(2, 1, 1, &c0);
    d.commit(2, 5, 1, &c5);
    d.commit(2, 6, 1, &c5);
    d.complete(3, 0, p0, true);
    d.complete(3, 5, p5, true);
    let (g1, c1) = proposal(&d.start(4, 3, 1, get("a")));
    let (g6, c6) = proposal(&d.start(4, 4, 6, get("a")));
    d.commit(5, 1, 2, &c1);
    d.commit(5, 6, 2, &c6);
    assert_eq!(answer(&d.complete(6, 1, g1, true)).1, Record::new("value").with("value", b"x".to_vec()));
    assert_eq!(answer(&d.complete(6, 6, g6, true)).1, Record::new("value").with("value", b"y".to_vec()));
    let report = d.store.report();
    assert_eq!((report.registers, report.linearizable), (2, 2), "{report:?}");
}

#[test]
fn a_restarted_node_replays_its_log_from_the_start() {
    let mut d = Driver::new(Reads::Log);
    let (_, c1) = proposal(&d.start(0, 1, 0, put("a", "x")));
    let (_, c2) = proposal(&d.start(0, 2, 0, put("a", "y")));
    d.commit(1, 0, 1, &c1);
    d.commit(1, 0, 2, &c2);
    assert_eq!(d.store.value_at(0, "a"), Some(&b"y"[..]));
    // Restarted from scratch, it applies index 1 again.
    d.commit(9, 0, 1, &c1);
    assert_eq!(d.store.value_at(0, "a"), Some(&b"x"[..]));
    // A gap leaves the copy untrusted: nothing more is applied.
    d.commit(9, 0, 5, &c2);
    assert_eq!(d.store.value_at(0, "a"), Some(&b"x"[..]));
}

#[test]
fn commands_survive_the_log_as_records() {
    for input in [
        KvInput::Put(b"v".to_vec()),
        KvInput::Get,
        KvInput::Cas { expected: None, new: b"n".to_vec() },
        KvInput::Cas { expected: Some(Vec::new()), new: b"n".to_vec() },
    ] {
        assert_eq!(parse_command(&command(7, "k", &input).encode()), Some((7, "k".to_string(), input)));
    }
    assert_eq!(parse_command(b"not a record"), None);
    assert_eq!(parse_command(&Record::new("other").encode()), None);
}
