//! Every message of a run with its fate, rebuilt from the event log.

use peershare::events::{DropReason, Event, FaultAction};
use peershare::fault::FaultId;
use peershare::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One message and what became of it.
#[derive(Clone, Debug)]
pub struct Fate {
    /// Its id.
    pub msg: u64,
    /// Sender.
    pub from: NodeIndex,
    /// Destination.
    pub to: NodeIndex,
    /// When it was sent.
    pub sent: SimTime,
    /// What the sender sent.
    pub bytes: Arc<[u8]>,
    /// When it was delivered, if it was.
    pub delivered: Option<SimTime>,
    /// Why it was dropped, if it was.
    pub dropped: Option<DropReason>,
    /// What faults did to it.
    pub faults: Vec<(FaultId, FaultAction)>,
}

impl Fate {
    /// The message's kind.
    pub fn kind(&self) -> String {
        Record::decode(&self.bytes).map(|r| r.kind).unwrap_or_default()
    }
}

/// Every message sent in the run, by id.
pub fn fates(sim: &Simulation) -> BTreeMap<u64, Fate> {
    let mut out: BTreeMap<u64, Fate> = BTreeMap::new();
    for e in sim.events().events() {
        match &e.event {
            Event::Sent { msg, from, to, bytes } => {
                out.insert(
                    *msg,
                    Fate {
                        msg: *msg,
                        from: *from,
                        to: *to,
                        sent: e.time,
                        bytes: bytes.clone(),
                        delivered: None,
                        dropped: None,
                        faults: Vec::new(),
                    },
                );
            }
            Event::Delivered { msg, .. } => out.get_mut(msg).expect("delivered after sent").delivered = Some(e.time),
            Event::Dropped { msg, reason, .. } => out.get_mut(msg).expect("dropped after sent").dropped = Some(reason.clone()),
            Event::MessageFaulted { msg, fault, action } => {
                out.get_mut(msg).expect("faulted after sent").faults.push((*fault, action.clone()))
            }
            _ => {}
        }
    }
    out
}

/// The binomial check: `hits` of `n` is within `z` standard errors of `p`.
pub fn within_binomial(hits: usize, n: usize, p: f64, z: f64) -> bool {
    let observed = hits as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    (observed - p).abs() <= z * se + 1e-12
}
