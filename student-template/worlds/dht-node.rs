//! A starting point for a distributed hash table: a one-hop DHT.
//!
//! Each node learns the peers it hears of: it says HELLO to every node it
//! learns of, and each answers WELCOME with the contacts it knows, so in a
//! small network every node soon knows every other. It answers every
//! operation from what it knows: `find-closest` returns the known nodes closest to the key by
//! XOR distance, `put` stores at the closest known node, `get` asks it.
//! That is exact only while every node knows every other: replace it with a
//! real routing scheme (Kademlia's k-buckets, Chord's fingers) and watch the
//! summary's correctness figures. Unanswered requests fail after a timeout.

use peershare_sdk::prelude::*;
use std::collections::BTreeMap;

/// How many contacts a lookup returns (Kademlia's k).
const K: usize = 20;
/// How long to wait for an answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What a request in flight is for.
enum Waiting {
    Put(OpId),
    Get(OpId),
}

/// This node's state.
pub struct MyDht {
    me: Contact,
    known: BTreeMap<NodeIndex, Vec<u8>>,
    store: BTreeMap<Vec<u8>, Vec<u8>>,
    waiting: BTreeMap<u64, Waiting>,
    next_request: u64,
}

impl MyDht {
    /// The `n` known nodes (this one included) closest to `key`.
    fn closest(&self, key: &[u8], n: usize) -> Vec<Contact> {
        let mut all: Vec<Contact> = self.known.iter().map(|(&node, id)| Contact::new(node, id.clone())).collect();
        all.push(self.me.clone());
        all.sort_by(|a, b| id::cmp_xor_distance(key, &a.id, &b.id));
        all.truncate(n);
        all
    }

    /// Remembers a contact; true if it is new.
    fn learn(&mut self, contact: &Contact) -> bool {
        contact.node != self.me.node && self.known.insert(contact.node, contact.id.clone()).is_none()
    }

    fn hello(&self, ctx: &mut Context, to: NodeIndex) {
        ctx.send(to, &Record::new("HELLO").with("id", Value::Id(self.me.id.clone())));
    }

    fn contacts(&self) -> Value {
        Value::Contacts(self.known.iter().map(|(&n, id)| Contact::new(n, id.clone())).chain([self.me.clone()]).collect())
    }

    /// Sends `message` as request `req` and arms its timeout.
    fn request(&mut self, ctx: &mut Context, to: NodeIndex, message: Record, waiting: Waiting) {
        self.next_request += 1;
        let req = self.next_request;
        self.waiting.insert(req, waiting);
        ctx.send(to, &message.with("req", req));
        ctx.set_timer(TIMEOUT, req);
    }
}

impl Peer for MyDht {
    fn init(ctx: &mut Context, start: Start) -> Self {
        let mut dht =
            MyDht { me: Contact::new(start.index, start.id), known: BTreeMap::new(), store: BTreeMap::new(), waiting: BTreeMap::new(), next_request: 0 };
        for contact in &start.bootstrap {
            dht.learn(contact);
            dht.hello(ctx, contact.node);
        }
        dht
    }

    fn on_message(&mut self, ctx: &mut Context, from: NodeIndex, message: Record) {
        if let Some(id) = message.id("id") {
            self.learn(&Contact::new(from, id.to_vec()));
        }
        let req = message.u64("req").unwrap_or(0);
        match message.kind.as_str() {
            "HELLO" => ctx.send(from, &Record::new("WELCOME").with("contacts", self.contacts())),
            "WELCOME" => {
                for contact in message.contacts("contacts").unwrap_or_default() {
                    if self.learn(contact) {
                        self.hello(ctx, contact.node);
                    }
                }
            }
            "STORE" => {
                let (Some(key), Some(value)) = (message.bytes("key"), message.bytes("value")) else { return };
                self.store.insert(key.to_vec(), value.to_vec());
                ctx.send(from, &Record::new("STORED").with("req", req));
            }
            "FIND_VALUE" => {
                let value = message.bytes("key").and_then(|k| self.store.get(k));
                let reply = Record::new("VALUE").with("req", req).with("found", value.is_some());
                ctx.send(from, &reply.with("value", value.cloned().unwrap_or_default()));
            }
            "STORED" => {
                if let Some(Waiting::Put(op)) = self.waiting.remove(&req) {
                    ctx.complete(op, Outcome::stored(1));
                }
            }
            "VALUE" => {
                if let Some(Waiting::Get(op)) = self.waiting.remove(&req) {
                    let outcome = match message.bool("found") {
                        Some(true) => Outcome::value(message.bytes("value").unwrap_or_default().to_vec()),
                        _ => Outcome::not_found(),
                    };
                    ctx.complete(op, outcome);
                }
            }
            other => ctx.log(Level::Warn, &format!("unexpected {other} from node {from}")),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context, req: u64) {
        if let Some(Waiting::Put(op) | Waiting::Get(op)) = self.waiting.remove(&req) {
            ctx.complete(op, Outcome::error("no answer in time"));
        }
    }

    fn find_closest(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        ctx.complete(op, Outcome::contacts(&self.closest(&key, K)).rounds(0));
    }

    fn put(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>, value: Vec<u8>) {
        let target = self.closest(&key, 1).remove(0);
        if target.node == self.me.node {
            self.store.insert(key, value);
            ctx.complete(op, Outcome::stored(1));
        } else {
            let store = Record::new("STORE").with("key", key).with("value", value);
            self.request(ctx, target.node, store, Waiting::Put(op));
        }
    }

    fn get(&mut self, ctx: &mut Context, op: OpId, key: Vec<u8>) {
        let target = self.closest(&key, 1).remove(0);
        if target.node == self.me.node {
            let outcome = self.store.get(&key).map_or_else(Outcome::not_found, |v| Outcome::value(v.clone()));
            ctx.complete(op, outcome);
        } else {
            self.request(ctx, target.node, Record::new("FIND_VALUE").with("key", key), Waiting::Get(op));
        }
    }

    fn inspect(&self, _ctx: &Context) -> State {
        State::new().routing_nodes(self.known.keys().copied()).field("keys", self.store.len() as u64)
    }
}

peershare_sdk::export_peer!(MyDht);
