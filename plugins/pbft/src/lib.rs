//! PBFT (Castro and Liskov, "Practical Byzantine Fault Tolerance", 1999)
//! on the host's signatures.
//!
//! A cluster is the node and its bootstrap contacts (use the scenario's
//! `bootstrap = { strategy = "clusters", size = 4 }`), or, with config
//! `replicas = N`, the block of N consecutive node indices the node is in
//! (so that groups running different builds can form one cluster):
//! n = 3f + 1 replicas, sorted by index; the primary of view v is replica
//! v mod n. Every
//! protocol message is signed (`ctx.sign_record`) and checked on receipt,
//! so a Byzantine replica can lie as itself but never in another's name.
//!
//! - `propose`: the replica that receives it is the request's client. It
//!   sends the signed `REQUEST` (origin, request number, value) to every
//!   replica, and completes the operation when f + 1 replicas have sent a
//!   matching `REPLY` (the same sequence number): at least one of them is
//!   correct. It fails it after `request_timeout_ms` (default 5000).
//! - The primary assigns the request the next sequence number within the
//!   water marks and sends `PRE_PREPARE` (view, seq, digest = SHA-256 of
//!   the request, the request). A backup accepts it if it is the primary's,
//!   in its view, within the marks, and no other digest was accepted for
//!   that view and number; it sends `PREPARE`. Prepared = the pre-prepare
//!   and 2f matching prepares from other replicas; it then sends `COMMIT`.
//!   Committed = prepared and 2f + 1 matching commits. Requests execute in
//!   sequence order: each is reported through `committed(seq, value)` and
//!   answered with a `REPLY` to its client.
//! - Every `checkpoint` (default 16) executions a replica sends
//!   `CHECKPOINT` (seq, digest of everything executed); 2f + 1 matching
//!   make it stable: the low water mark moves there, older log entries
//!   are dropped, and the high water mark is 2 x `checkpoint` above.
//! - View change: a backup with a request it knows of not executed within
//!   `view_timeout_ms` (default 1000; doubled with each further view change)
//!   sends `VIEW_CHANGE` for the next view with its stable checkpoint (and
//!   the 2f + 1 signed checkpoints that prove it) and every request it has
//!   prepared since (each with its signed pre-prepare and 2f prepares). The
//!   new primary, with 2f + 1 of them, sends `NEW_VIEW`: those messages and
//!   a pre-prepare in the new view for every number between the highest
//!   stable checkpoint and the highest prepared request (the request
//!   prepared in the latest view, or a null request). Backups check it by
//!   recomputing those pre-prepares, then go on as in any view. A replica
//!   that sees f + 1 view changes for later views joins the smallest.
//!
//! Byzantine builds of the same source: `equivocate` (built-in
//! `pbft-equivocate`) as primary sends one request to half of the backups
//! and another under the same number to the other half, and commits both;
//! `liar` (`pbft-liar`) prepares and commits every digest it hears of.
//! Neither reports what it commits (a faulty replica's word is not part of
//! the state machine). With at most f of them the correct replicas stay
//! safe and live; with f + 1 the referee sees two of them commit different
//! requests at one number. A buggy build, `weak-quorum` (built-in
//! `pbft-weak-quorum`), commits on 2f matching commits instead of 2f + 1
//! and reports it: the referee's quorum audit catches it.
//!
//! Votes are [`Vote`] records (`PREPARE`, `COMMIT`), the convention the
//! referee counts from the messages each replica really received.
//!
//! Observable state: `view`, `role` ("leader" for the primary, else
//! "follower"), `leader` (the primary), `term` (the view, for timelines),
//! `members` (the cluster), `log_length` and `commit_index` (the last
//! executed number), `stable_checkpoint`, `view_changing`.

use peershare_sdk::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The view-change timer.
const VIEW_TIMER: u64 = 1;
/// A client request's timeout: this bit plus the request number.
const REQUEST_TIMER: u64 = 1 << 62;

/// This build equivocates as primary.
const EQUIVOCATES: bool = cfg!(feature = "equivocate");
/// This build votes for every digest it hears of.
const LIES: bool = cfg!(feature = "liar");
/// This build commits on 2f matching commits (a bug, not malice: it
/// reports its commits like a correct replica).
const WEAK_QUORUM: bool = cfg!(feature = "weak-quorum");
/// Byzantine builds do not report commits.
const FAULTY: bool = EQUIVOCATES || LIES;

/// Settings from the group's config.
#[derive(Clone, Debug)]
struct Config {
    checkpoint: u64,
    view_timeout: Duration,
    request_timeout: Duration,
}

impl Config {
    fn from(r: &Record) -> Self {
        Config {
            checkpoint: r.u64("checkpoint").unwrap_or(16).max(1),
            view_timeout: Duration::from_millis(r.u64("view_timeout_ms").unwrap_or(1000).max(1)),
            request_timeout: Duration::from_millis(r.u64("request_timeout_ms").unwrap_or(5000).max(1)),
        }
    }
}

/// A client request: who asked, its number there, and the value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    origin: NodeIndex,
    req: u64,
    value: Vec<u8>,
}

impl Request {
    fn record(&self) -> Record {
        Record::new("request").with("origin", Value::Node(self.origin)).with("req", self.req).with("value", self.value.clone())
    }
    fn from_fields(r: &Record) -> Option<Request> {
        Some(Request { origin: r.node("origin")?, req: r.u64("req")?, value: r.bytes("value")?.to_vec() })
    }
    /// The null request of a view change: executes as nothing.
    fn null() -> Request {
        Request { origin: u32::MAX, req: 0, value: Vec::new() }
    }
    fn is_null(&self) -> bool {
        self.origin == u32::MAX
    }
    fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.record().encode()).to_vec()
    }
}

/// What a replica holds for one sequence number in its current view.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// The accepted pre-prepare (signed, encoded) and its request.
    pre_prepare: Option<(Vec<u8>, Request)>,
    digest: Vec<u8>,
    /// Signed prepares by replica, for the accepted digest.
    prepares: BTreeMap<NodeIndex, Vec<u8>>,
    /// Commits by replica, for the accepted digest.
    commits: BTreeSet<NodeIndex>,
    sent_commit: bool,
    /// Votes heard for other digests (kept until a pre-prepare settles which).
    early: Vec<(NodeIndex, Record)>,
}

/// Proof that a request prepared: the view, and the signed pre-prepare
/// (which holds the request) and 2f prepares.
#[derive(Clone, Debug)]
struct Prepared {
    view: u64,
    proof: Vec<Vec<u8>>,
}

/// Signed messages (encoded) by the replica that signed them.
type Signed = BTreeMap<NodeIndex, Vec<u8>>;
/// Replies a client has, by sequence number: the replicas that sent them.
type Replies = BTreeMap<u64, BTreeSet<NodeIndex>>;
/// Requests a view change shows prepared: seq -> (view, request).
type PreparedRequests = BTreeMap<u64, (u64, Request)>;

/// One PBFT replica.
pub struct Pbft {
    me: NodeIndex,
    members: Vec<NodeIndex>,
    config: Config,
    view: u64,
    /// In a view change towards `view` (no new view yet).
    changing: bool,
    /// How many view changes in a row (the timeout doubles with each).
    changes: u32,
    next_seq: u64,
    slots: BTreeMap<u64, Slot>,
    prepared: BTreeMap<u64, Prepared>,
    /// Committed requests waiting for the ones before them.
    ready: BTreeMap<u64, Request>,
    last_exec: u64,
    /// Digest of everything executed so far.
    state_digest: Vec<u8>,
    executed: BTreeSet<(NodeIndex, u64)>,
    /// Checkpoint messages by number: digest -> signed messages by replica.
    checkpoints: BTreeMap<u64, BTreeMap<Vec<u8>, Signed>>,
    stable: u64,
    stable_proof: Vec<Vec<u8>>,
    /// Requests known and not executed, and which number the primary gave
    /// them in this view.
    pending: BTreeMap<(NodeIndex, u64), Request>,
    /// The signed `REQUEST` messages of pending requests, to hand to a new
    /// primary that may not have them.
    signed_requests: BTreeMap<(NodeIndex, u64), Record>,
    assigned: BTreeMap<(NodeIndex, u64), u64>,
    /// View changes received: view -> replica -> signed message.
    view_changes: BTreeMap<u64, Signed>,
    view_timer: Option<Timer>,
    /// This replica's own clients: request number -> (operation, timer,
    /// replies: seq -> replicas).
    clients: BTreeMap<u64, (OpId, Timer, Replies)>,
    next_req: u64,
    /// What the liar build already echoed (so two liars do not echo each
    /// other forever).
    echoed: BTreeSet<(u64, u64, Vec<u8>)>,
    /// Pre-prepares and votes for a view this replica has not entered yet
    /// (they can overtake the new view's announcement), replayed when it does.
    early_views: Vec<(NodeIndex, Record)>,
}

/// At most this many messages wait for a view to begin.
const EARLY_VIEW_MESSAGES: usize = 4096;

fn digest_of(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

impl Pbft {
    fn n(&self) -> usize {
        self.members.len()
    }
    fn f(&self) -> usize {
        (self.n() - 1) / 3
    }
    fn primary_of(&self, view: u64) -> NodeIndex {
        self.members[(view % self.n() as u64) as usize]
    }
    fn is_primary(&self) -> bool {
        self.primary_of(self.view) == self.me
    }
    fn high_mark(&self) -> u64 {
        self.stable + 2 * self.config.checkpoint
    }

    fn broadcast(&self, ctx: &mut Context, message: &Record) {
        for &m in &self.members {
            if m != self.me {
                ctx.send(m, message);
            }
        }
    }

    /// A signed message from `from` in a blob: decoded, of `kind`, signed
    /// by `signer`.
    fn open(ctx: &mut Context, blob: &[u8], kind: &str, signer: NodeIndex) -> Option<Record> {
        let r = Record::decode(blob).ok()?;
        (r.kind == kind && ctx.verify_record(signer, &r)).then_some(r)
    }

    // ---- client side ----

    fn on_request(&mut self, ctx: &mut Context, request: Request) {
        let key = (request.origin, request.req);
        if self.executed.contains(&key) {
            return;
        }
        self.pending.entry(key).or_insert_with(|| request.clone());
        if self.is_primary() && !self.changing {
            self.assign(ctx, request);
        } else {
            self.arm_view_timer(ctx);
        }
    }

    /// The primary gives a request the next number, if it has none yet and
    /// the number is within the marks.
    fn assign(&mut self, ctx: &mut Context, request: Request) {
        let key = (request.origin, request.req);
        if self.assigned.contains_key(&key) || self.next_seq + 1 > self.high_mark() {
            return;
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        self.assigned.insert(key, seq);
        if EQUIVOCATES {
            return self.equivocate(ctx, seq, request);
        }
        let pp = self.pre_prepare(ctx, self.view, seq, &request);
        self.broadcast(ctx, &pp);
        self.accept_pre_prepare(ctx, &pp, request);
    }

    fn pre_prepare(&self, ctx: &mut Context, view: u64, seq: u64, request: &Request) -> Record {
        let mut r = Record::new("PRE_PREPARE").with("view", view).with("seq", seq).with("digest", request.digest());
        r.fields.extend(request.record().fields);
        ctx.sign_record(r)
    }

    /// The equivocating primary: one request to half of the backups,
    /// another under the same number to the rest, and commits for both.
    fn equivocate(&mut self, ctx: &mut Context, seq: u64, request: Request) {
        let mut other = request.clone();
        match other.value.first_mut() {
            Some(b) => *b ^= 0xFF,
            None => other.value.push(0xFF),
        }
        for (k, &m) in self.members.iter().filter(|&&m| m != self.me).enumerate() {
            let r = if k % 2 == 0 { &request } else { &other };
            let pp = self.pre_prepare(ctx, self.view, seq, r);
            ctx.send(m, &pp);
            let commit = self.vote(ctx, Phase::Commit, self.view, seq, &r.digest());
            ctx.send(m, &commit);
        }
    }

    /// A signed vote: the host's referee audits every commit against them.
    fn vote(&self, ctx: &mut Context, phase: Phase, view: u64, seq: u64, digest: &[u8]) -> Record {
        ctx.sign_record(Vote { phase, view, seq, digest: digest.to_vec() }.to_record(self.me))
    }

    // ---- normal case ----

    /// Keeps a message of a view not entered yet; true if it was one.
    fn too_early(&mut self, from: NodeIndex, view: u64, m: &Record) -> bool {
        let early = view > self.view || (view == self.view && self.changing);
        if early && self.early_views.len() < EARLY_VIEW_MESSAGES {
            self.early_views.push((from, m.clone()));
        }
        early
    }

    fn on_pre_prepare(&mut self, ctx: &mut Context, from: NodeIndex, m: Record) {
        let (Some(view), Some(seq)) = (m.u64("view"), m.u64("seq")) else { return };
        if self.too_early(from, view, &m) {
            return;
        }
        if view != self.view || self.changing || from != self.primary_of(view) || !ctx.verify_record(from, &m) {
            return;
        }
        let Some(request) = Request::from_fields(&m) else { return };
        if m.bytes("digest") != Some(&request.digest()[..]) || seq <= self.stable || seq > self.high_mark() {
            return;
        }
        if self.slots.get(&seq).is_some_and(|s| s.pre_prepare.is_some() && s.digest != request.digest()) {
            return;
        }
        self.pending.entry((request.origin, request.req)).or_insert_with(|| request.clone());
        self.arm_view_timer(ctx);
        self.accept_pre_prepare(ctx, &m, request);
    }

    fn accept_pre_prepare(&mut self, ctx: &mut Context, m: &Record, request: Request) {
        let (view, seq) = (self.view, m.u64("seq").unwrap_or(0));
        let digest = request.digest();
        let primary = self.is_primary();
        let slot = self.slots.entry(seq).or_default();
        if slot.pre_prepare.is_some() {
            return;
        }
        slot.pre_prepare = Some((m.encode(), request));
        slot.digest = digest.clone();
        let early = std::mem::take(&mut slot.early);
        if !primary {
            let prepare = self.vote(ctx, Phase::Prepare, view, seq, &digest);
            self.broadcast(ctx, &prepare);
            self.slots.get_mut(&seq).expect("just made").prepares.insert(self.me, prepare.encode());
        }
        for (from, vote) in early {
            self.on_vote(ctx, from, vote);
        }
        self.progress(ctx, seq);
    }

    fn on_vote(&mut self, ctx: &mut Context, from: NodeIndex, m: Record) {
        let (Some(view), Some(seq), Some(digest)) = (m.u64("view"), m.u64("seq"), m.bytes("digest").map(<[u8]>::to_vec)) else { return };
        if self.too_early(from, view, &m) {
            return;
        }
        if m.node("replica") != Some(from) || !ctx.verify_record(from, &m) || view != self.view || seq <= self.stable {
            return;
        }
        if LIES && m.kind == "PREPARE" && self.echoed.insert((view, seq, digest.clone())) {
            // Votes for whatever anyone prepares.
            let prepare = self.vote(ctx, Phase::Prepare, view, seq, &digest);
            let commit = self.vote(ctx, Phase::Commit, view, seq, &digest);
            self.broadcast(ctx, &prepare);
            self.broadcast(ctx, &commit);
        }
        let primary = self.primary_of(view);
        let slot = self.slots.entry(seq).or_default();
        if slot.pre_prepare.is_none() {
            if slot.early.len() < 4 * 64 {
                slot.early.push((from, m));
            }
            return;
        }
        if digest != slot.digest {
            return;
        }
        match m.kind.as_str() {
            "PREPARE" if from != primary => {
                slot.prepares.insert(from, m.encode());
            }
            "COMMIT" => {
                slot.commits.insert(from);
            }
            _ => return,
        }
        self.progress(ctx, seq);
    }

    /// Moves a slot on: prepared -> send commit; committed -> ready.
    fn progress(&mut self, ctx: &mut Context, seq: u64) {
        let (f, view, me) = (self.f(), self.view, self.me);
        let Some(slot) = self.slots.get_mut(&seq) else { return };
        let Some((pp, request)) = slot.pre_prepare.clone() else { return };
        let prepared = slot.prepares.len() >= 2 * f;
        if prepared && !slot.sent_commit {
            slot.sent_commit = true;
            let mut proof = vec![pp];
            proof.extend(slot.prepares.values().take(2 * f).cloned());
            self.prepared.insert(seq, Prepared { view, proof });
            let digest = slot.digest.clone();
            let commit = self.vote(ctx, Phase::Commit, view, seq, &digest);
            self.broadcast(ctx, &commit);
            self.slots.get_mut(&seq).expect("still there").commits.insert(me);
        }
        let slot = &self.slots[&seq];
        // The correct quorum is 2f + 1 commits; the buggy build takes 2f.
        let quorum = if WEAK_QUORUM { 2 * f } else { 2 * f + 1 };
        if slot.sent_commit && slot.commits.len() >= quorum && seq > self.last_exec {
            self.ready.insert(seq, request);
            self.execute(ctx);
        }
    }

    fn execute(&mut self, ctx: &mut Context) {
        while let Some(request) = self.ready.remove(&(self.last_exec + 1)) {
            self.last_exec += 1;
            let seq = self.last_exec;
            let mut chain = self.state_digest.clone();
            chain.extend(request.digest());
            self.state_digest = digest_of(&chain);
            if !FAULTY {
                ctx.committed(seq, &request.value);
            }
            if !request.is_null() {
                let key = (request.origin, request.req);
                self.pending.remove(&key);
                self.signed_requests.remove(&key);
                if self.executed.insert(key) {
                    let reply = ctx
                        .sign_record(Record::new("REPLY").with("seq", seq).with("req", request.req).with("replica", Value::Node(self.me)));
                    if request.origin == self.me {
                        self.on_reply(ctx, self.me, reply);
                    } else {
                        ctx.send(request.origin, &reply);
                    }
                }
            }
            if seq.is_multiple_of(self.config.checkpoint) {
                let cp = ctx.sign_record(
                    Record::new("CHECKPOINT")
                        .with("seq", seq)
                        .with("digest", self.state_digest.clone())
                        .with("replica", Value::Node(self.me)),
                );
                self.broadcast(ctx, &cp);
                self.on_checkpoint(ctx, self.me, cp);
            }
        }
        // Progress was made: the view is working.
        self.changes = 0;
        if self.pending.is_empty() {
            if let Some(t) = self.view_timer.take() {
                ctx.cancel(t);
            }
        } else {
            self.restart_view_timer(ctx);
        }
    }

    fn on_reply(&mut self, ctx: &mut Context, from: NodeIndex, m: Record) {
        let (Some(seq), Some(req)) = (m.u64("seq"), m.u64("req")) else { return };
        if m.node("replica") != Some(from) || !ctx.verify_record(from, &m) {
            return;
        }
        let f = self.f();
        let Some((_, _, replies)) = self.clients.get_mut(&req) else { return };
        let voters = replies.entry(seq).or_default();
        voters.insert(from);
        if voters.len() > f {
            let (op, timer, _) = self.clients.remove(&req).expect("just seen");
            ctx.cancel(timer);
            ctx.complete(op, Outcome::committed(seq));
        }
    }

    // ---- checkpoints ----

    fn on_checkpoint(&mut self, ctx: &mut Context, from: NodeIndex, m: Record) {
        let (Some(seq), Some(digest)) = (m.u64("seq"), m.bytes("digest").map(<[u8]>::to_vec)) else { return };
        if m.node("replica") != Some(from) || !ctx.verify_record(from, &m) || seq <= self.stable {
            return;
        }
        let quorum = 2 * self.f() + 1;
        let votes = self.checkpoints.entry(seq).or_default().entry(digest).or_default();
        votes.insert(from, m.encode());
        if votes.len() >= quorum {
            self.stable_proof = votes.values().cloned().collect();
            self.make_stable(seq);
        }
    }

    fn make_stable(&mut self, seq: u64) {
        self.stable = seq;
        self.slots = self.slots.split_off(&(seq + 1));
        self.prepared = self.prepared.split_off(&(seq + 1));
        self.checkpoints = self.checkpoints.split_off(&(seq + 1));
        self.ready = self.ready.split_off(&(seq + 1));
        self.next_seq = self.next_seq.max(seq);
    }

    // ---- view change ----

    fn arm_view_timer(&mut self, ctx: &mut Context) {
        if self.view_timer.is_none() && !self.pending.is_empty() {
            self.restart_view_timer(ctx);
        }
    }

    fn restart_view_timer(&mut self, ctx: &mut Context) {
        if let Some(t) = self.view_timer.take() {
            ctx.cancel(t);
        }
        let timeout = self.config.view_timeout * 2u32.saturating_pow(self.changes.min(10));
        self.view_timer = Some(ctx.set_timer(timeout, VIEW_TIMER));
    }

    fn start_view_change(&mut self, ctx: &mut Context, view: u64) {
        if view <= self.view && self.changing {
            return;
        }
        self.view = view;
        self.changing = true;
        self.changes += 1;
        let prepared: Vec<Vec<u8>> = self
            .prepared
            .iter()
            .map(|(seq, p)| {
                Record::new("cert").with("seq", *seq).with("view", p.view).with("proof", Value::Blobs(p.proof.clone())).encode()
            })
            .collect();
        let vc = ctx.sign_record(
            Record::new("VIEW_CHANGE")
                .with("view", view)
                .with("stable", self.stable)
                .with("stable_proof", Value::Blobs(self.stable_proof.clone()))
                .with("prepared", Value::Blobs(prepared))
                .with("replica", Value::Node(self.me)),
        );
        self.broadcast(ctx, &vc);
        self.on_view_change(ctx, self.me, vc);
        self.restart_view_timer(ctx);
    }

    /// Checks a view change: signed by its replica, its checkpoint proven
    /// by 2f + 1 signed checkpoints, each prepared request by a signed
    /// pre-prepare and 2f prepares. Returns the stable number and the
    /// prepared requests (seq -> (view, request)).
    fn check_view_change(&self, ctx: &mut Context, from: NodeIndex, m: &Record) -> Option<(u64, PreparedRequests)> {
        if m.node("replica") != Some(from) || !ctx.verify_record(from, m) {
            return None;
        }
        let view = m.u64("view")?;
        let stable = m.u64("stable")?;
        if stable > 0 {
            let mut signers = BTreeSet::new();
            let mut digest = None;
            for blob in m.blobs("stable_proof")? {
                let r = Record::decode(blob).ok()?;
                let signer = r.node("replica")?;
                if r.kind != "CHECKPOINT" || r.u64("seq")? != stable || !ctx.verify_record(signer, &r) {
                    return None;
                }
                if *digest.get_or_insert_with(|| r.bytes("digest").unwrap_or_default().to_vec()) != r.bytes("digest")? {
                    return None;
                }
                signers.insert(signer);
            }
            if signers.len() <= 2 * self.f() {
                return None;
            }
        }
        let mut prepared = BTreeMap::new();
        for cert in m.blobs("prepared")? {
            let c = Record::decode(cert).ok()?;
            let (seq, cview) = (c.u64("seq")?, c.u64("view")?);
            if cview >= view || seq <= stable {
                return None;
            }
            let proof = c.blobs("proof")?;
            let pp = Self::open(ctx, proof.first()?, "PRE_PREPARE", self.primary_of(cview))?;
            let request = Request::from_fields(&pp)?;
            let digest = request.digest();
            if pp.u64("seq")? != seq || pp.u64("view")? != cview || pp.bytes("digest")? != &digest[..] {
                return None;
            }
            let mut signers = BTreeSet::new();
            for blob in &proof[1..] {
                let p = Record::decode(blob).ok()?;
                let signer = p.node("replica")?;
                let matches = p.kind == "PREPARE" && p.u64("seq")? == seq && p.u64("view")? == cview && p.bytes("digest")? == &digest[..];
                if !matches || signer == self.primary_of(cview) || !ctx.verify_record(signer, &p) {
                    return None;
                }
                signers.insert(signer);
            }
            if signers.len() < 2 * self.f() {
                return None;
            }
            prepared.insert(seq, (cview, request));
        }
        Some((stable, prepared))
    }

    fn on_view_change(&mut self, ctx: &mut Context, from: NodeIndex, m: Record) {
        let Some(view) = m.u64("view") else { return };
        if view < self.view || (view == self.view && !self.changing) {
            return;
        }
        if self.check_view_change(ctx, from, &m).is_none() {
            return;
        }
        self.view_changes.entry(view).or_default().insert(from, m.encode());
        // f + 1 replicas want later views: join the smallest of them.
        let later: BTreeSet<NodeIndex> = self.view_changes.range(self.view + 1..).flat_map(|(_, v)| v.keys().copied()).collect();
        if later.len() > self.f()
            && let Some((&smallest, _)) = self.view_changes.range(self.view + 1..).next()
        {
            self.start_view_change(ctx, smallest);
        }
        let count = self.view_changes.get(&self.view).map_or(0, BTreeMap::len);
        if self.changing && self.primary_of(self.view) == self.me && count > 2 * self.f() {
            self.send_new_view(ctx);
        }
    }

    /// The pre-prepares a new view must hold, from its 2f + 1 view changes:
    /// the highest stable checkpoint among them, and for every number up to
    /// the highest prepared one the request prepared in the latest view (or
    /// a null request).
    fn new_view_plan(&self, ctx: &mut Context, messages: &[(NodeIndex, Record)]) -> Option<(u64, BTreeMap<u64, Request>)> {
        let mut low = 0;
        let mut best: PreparedRequests = BTreeMap::new();
        for (from, m) in messages {
            let (stable, prepared) = self.check_view_change(ctx, *from, m)?;
            low = low.max(stable);
            for (seq, (view, request)) in prepared {
                if best.get(&seq).is_none_or(|(v, _)| view > *v) {
                    best.insert(seq, (view, request));
                }
            }
        }
        let high = best.keys().next_back().copied().unwrap_or(low).max(low);
        let plan = (low + 1..=high).map(|seq| (seq, best.get(&seq).map_or_else(Request::null, |(_, r)| r.clone()))).collect();
        Some((low, plan))
    }

    fn send_new_view(&mut self, ctx: &mut Context) {
        let view = self.view;
        let messages: Vec<(NodeIndex, Record)> = self.view_changes[&view]
            .iter()
            .take(2 * self.f() + 1)
            .filter_map(|(from, blob)| Some((*from, Record::decode(blob).ok()?)))
            .collect();
        let Some((low, plan)) = self.new_view_plan(ctx, &messages) else { return };
        let pre_prepares: Vec<Vec<u8>> = plan.iter().map(|(seq, r)| self.pre_prepare(ctx, view, *seq, r).encode()).collect();
        let nv = ctx.sign_record(
            Record::new("NEW_VIEW")
                .with("view", view)
                .with("view_changes", Value::Blobs(messages.iter().map(|(_, m)| m.encode()).collect()))
                .with("pre_prepares", Value::Blobs(pre_prepares)),
        );
        self.broadcast(ctx, &nv);
        self.enter_view(ctx, view, low, &plan, &nv);
    }

    fn on_new_view(&mut self, ctx: &mut Context, from: NodeIndex, m: Record) {
        let Some(view) = m.u64("view") else { return };
        if view < self.view || (view == self.view && !self.changing) || from != self.primary_of(view) || !ctx.verify_record(from, &m) {
            return;
        }
        let mut messages = Vec::new();
        for blob in m.blobs("view_changes").unwrap_or_default() {
            let Ok(vc) = Record::decode(blob) else { return };
            let Some(signer) = vc.node("replica") else { return };
            if vc.u64("view") != Some(view) || messages.iter().any(|(s, _)| *s == signer) {
                return;
            }
            messages.push((signer, vc));
        }
        if messages.len() <= 2 * self.f() {
            return;
        }
        let Some((low, plan)) = self.new_view_plan(ctx, &messages) else { return };
        // The primary's pre-prepares must be exactly the plan.
        let given = m.blobs("pre_prepares").unwrap_or_default();
        if given.len() != plan.len() {
            return;
        }
        for (blob, (seq, request)) in given.iter().zip(&plan) {
            let Some(pp) = Self::open(ctx, blob, "PRE_PREPARE", from) else { return };
            if pp.u64("view") != Some(view) || pp.u64("seq") != Some(*seq) || Request::from_fields(&pp).as_ref() != Some(request) {
                return;
            }
        }
        self.view = view;
        self.enter_view(ctx, view, low, &plan, &m);
    }

    /// Starts view `view` from a checked new view.
    fn enter_view(&mut self, ctx: &mut Context, view: u64, low: u64, plan: &BTreeMap<u64, Request>, nv: &Record) {
        self.changing = false;
        self.slots.clear();
        self.assigned.clear();
        self.view_changes = self.view_changes.split_off(&(view + 1));
        if low > self.stable {
            // Behind the new view's checkpoint: what it covers is settled by
            // 2f + 1 replicas (this one does not fetch the state).
            self.stable_proof.clear();
            self.make_stable(low);
            self.last_exec = self.last_exec.max(low);
        }
        self.next_seq = plan.keys().next_back().copied().unwrap_or(low).max(self.stable);
        let pre_prepares = nv.blobs("pre_prepares").unwrap_or_default().to_vec();
        // Every number of the plan is agreed on again in this view, also
        // those this replica executed already: replicas that had not (they
        // accepted another digest from an equivocating primary) need the
        // votes to catch up.
        for (blob, (seq, request)) in pre_prepares.iter().zip(plan) {
            if *seq <= self.stable {
                continue;
            }
            let Ok(pp) = Record::decode(blob) else { continue };
            self.accept_pre_prepare(ctx, &pp, request.clone());
        }
        if self.is_primary() {
            let waiting: Vec<Request> = self.pending.values().cloned().collect();
            for r in waiting {
                self.assign(ctx, r);
            }
        } else {
            // The new primary may never have heard of some requests.
            let primary = self.primary_of(view);
            for m in self.signed_requests.values() {
                ctx.send(primary, m);
            }
        }
        // What came before the announcement of this view, in order; later
        // views' messages wait on.
        for (from, m) in std::mem::take(&mut self.early_views) {
            match m.kind.as_str() {
                "PRE_PREPARE" => self.on_pre_prepare(ctx, from, m),
                _ => self.on_vote(ctx, from, m),
            }
        }
        if self.pending.is_empty() {
            if let Some(t) = self.view_timer.take() {
                ctx.cancel(t);
            }
        } else {
            self.restart_view_timer(ctx);
        }
    }

    fn publish(&self, ctx: &mut Context) {
        ctx.publish(&self.state());
    }

    fn state(&self) -> State {
        let role = if self.is_primary() && !self.changing { Role::Leader } else { Role::Follower };
        State::new()
            .role(role)
            .term(self.view)
            .leader(self.primary_of(self.view))
            .members(self.members.iter().copied())
            .log_length(self.last_exec + self.ready.len() as u64)
            .commit_index(self.last_exec)
            .field("view", self.view)
            .field("stable_checkpoint", self.stable)
            .field("view_changing", self.changing)
    }
}

impl Peer for Pbft {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let mut members: Vec<NodeIndex> = match start.config.u64("replicas") {
            Some(n) if n > 0 => {
                let n = n as u32;
                let first = start.index / n * n;
                (first..first + n).collect()
            }
            _ => start.bootstrap.iter().map(|c| c.node).chain([start.index]).collect(),
        };
        members.sort_unstable();
        members.dedup();
        let pbft = Pbft {
            me: start.index,
            members,
            config: Config::from(&start.config),
            view: 0,
            changing: false,
            changes: 0,
            next_seq: 0,
            slots: BTreeMap::new(),
            prepared: BTreeMap::new(),
            ready: BTreeMap::new(),
            last_exec: 0,
            state_digest: Vec::new(),
            executed: BTreeSet::new(),
            checkpoints: BTreeMap::new(),
            stable: 0,
            stable_proof: Vec::new(),
            pending: BTreeMap::new(),
            signed_requests: BTreeMap::new(),
            assigned: BTreeMap::new(),
            view_changes: BTreeMap::new(),
            view_timer: None,
            clients: BTreeMap::new(),
            next_req: 0,
            echoed: BTreeSet::new(),
            early_views: Vec::new(),
        };
        pbft.publish(ctx);
        pbft
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        if !self.members.contains(&from) {
            return;
        }
        match message.kind.as_str() {
            // From its client, or handed on by a replica after a view change.
            "REQUEST" => {
                if let Some(r) = Request::from_fields(&message)
                    && ctx.verify_record(r.origin, &message)
                {
                    let key = (r.origin, r.req);
                    if !self.executed.contains(&key) {
                        self.signed_requests.entry(key).or_insert(message);
                    }
                    self.on_request(ctx, r);
                }
            }
            "PRE_PREPARE" => self.on_pre_prepare(ctx, from, message),
            "PREPARE" | "COMMIT" => self.on_vote(ctx, from, message),
            "REPLY" => self.on_reply(ctx, from, message),
            "CHECKPOINT" => self.on_checkpoint(ctx, from, message),
            "VIEW_CHANGE" => self.on_view_change(ctx, from, message),
            "NEW_VIEW" => self.on_new_view(ctx, from, message),
            _ => {}
        }
        self.publish(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Context, tag: u64) {
        match tag {
            VIEW_TIMER => {
                self.view_timer = None;
                self.start_view_change(ctx, self.view + 1);
            }
            t if t & REQUEST_TIMER != 0 => {
                if let Some((op, _, _)) = self.clients.remove(&(t & !REQUEST_TIMER)) {
                    ctx.complete(op, Outcome::error("no f + 1 matching replies in time"));
                }
            }
            _ => {}
        }
        self.publish(ctx);
    }

    fn propose(&mut self, ctx: &mut Context, op: OpId, value: Vec<u8>) {
        self.next_req += 1;
        let req = self.next_req;
        let timer = ctx.set_timer(self.config.request_timeout, REQUEST_TIMER | req);
        self.clients.insert(req, (op, timer, BTreeMap::new()));
        let request = Request { origin: self.me, req, value };
        let mut message = Record::new("REQUEST");
        message.fields = request.record().fields;
        let message = ctx.sign_record(message);
        self.broadcast(ctx, &message);
        self.signed_requests.insert((self.me, req), message);
        self.on_request(ctx, request);
        self.publish(ctx);
    }

    fn inspect(&self, _ctx: &Context) -> State {
        self.state()
    }
}

peershare_sdk::export_peer!(Pbft);
