//! The simulated network: latency, loss and bandwidth between nodes.
//!
//! The model is plain data and functions driven by the engine; it knows
//! nothing about peers or WebAssembly. A message's journey:
//!
//! 1. [`Network::transmit`] at send time: a loss draw; the message queues
//!    FIFO behind earlier ones on the sender's uplink and occupies it for
//!    `size / uplink`; a latency draw for the link.
//! 2. If the receiver's downlink is limited, [`Network::arrive`] when the
//!    first bit reaches the receiver: the message queues FIFO on the downlink
//!    and occupies it for `size / downlink`.
//! 3. Delivery when the last bit is in: with both links at capacity `C` and
//!    empty queues, a message of `S` bytes takes exactly `S / C + latency`.

mod bandwidth;
mod latency;
mod matrix;

pub use bandwidth::{Bandwidth, ParseBandwidthError};
pub use latency::LatencyModel;
pub use matrix::{LatencyMatrix, MatrixError};

use crate::NodeIndex;
use crate::rng::{SimRng, unit_f64};
use crate::time::{SimDuration, SimTime};

/// The properties of the links from one group of nodes to another.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkModel {
    /// One-way latency.
    pub latency: LatencyModel,
    /// Independent probability that a message is lost, in `[0, 1]`.
    pub loss: f64,
}

impl Default for LinkModel {
    fn default() -> Self {
        LinkModel { latency: LatencyModel::default(), loss: 0.0 }
    }
}

/// What happens to a message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transit {
    /// Lost in the network (after leaving the sender's uplink).
    Lost,
    /// The first bit reaches the receiver at `at`; the receiver's downlink is
    /// limited, so call [`Network::arrive`] then. The message cannot be
    /// delivered before `earliest` (the last bit left the sender plus latency).
    Arrives {
        /// When the first bit arrives.
        at: SimTime,
        /// Earliest possible delivery.
        earliest: SimTime,
    },
    /// Delivered at this time (the receiver's downlink is unlimited).
    Delivers {
        /// Delivery time.
        at: SimTime,
    },
}

/// The network of one run: per-node link capacities and queues, and the link
/// model between every pair of groups.
#[derive(Debug)]
pub struct Network {
    group_count: usize,
    group_of: Vec<u32>,
    links: Vec<LinkModel>,
    uplink: Vec<Bandwidth>,
    downlink: Vec<Bandwidth>,
    uplink_free: Vec<SimTime>,
    downlink_free: Vec<SimTime>,
    rng: SimRng,
}

impl Network {
    /// A network for nodes in `group_count` groups, where
    /// `links[from * group_count + to]` is the model of links from group
    /// `from` to group `to`; `rng` is the network's own stream.
    pub fn new(group_count: usize, links: Vec<LinkModel>, rng: SimRng) -> Self {
        assert_eq!(links.len(), group_count * group_count, "one link model per ordered pair of groups");
        Network {
            group_count,
            group_of: Vec::new(),
            links,
            uplink: Vec::new(),
            downlink: Vec::new(),
            uplink_free: Vec::new(),
            downlink_free: Vec::new(),
            rng,
        }
    }

    /// Adds a node in `group` with the given capacities; returns its index.
    pub fn add_node(&mut self, group: usize, uplink: Bandwidth, downlink: Bandwidth) -> NodeIndex {
        assert!(group < self.group_count, "group {group} out of range");
        self.group_of.push(group as u32);
        self.uplink.push(uplink);
        self.downlink.push(downlink);
        self.uplink_free.push(SimTime::ZERO);
        self.downlink_free.push(SimTime::ZERO);
        (self.group_of.len() - 1) as NodeIndex
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.group_of.len()
    }

    /// The link model from `from`'s group to `to`'s group.
    pub fn link(&self, from: NodeIndex, to: NodeIndex) -> &LinkModel {
        let (g, h) = (self.group_of[from as usize] as usize, self.group_of[to as usize] as usize);
        &self.links[g * self.group_count + h]
    }

    /// Hands a message of `size` bytes from `from` to the network at `now`.
    pub fn transmit(&mut self, now: SimTime, from: NodeIndex, to: NodeIndex, size: usize) -> Transit {
        self.transmit_adjusted(now, from, to, size, SimDuration::ZERO, None)
    }

    /// Like [`Network::transmit`], with `extra` latency added and the
    /// latency drawn from `latency` instead of the link's model if given
    /// (what latency faults do).
    pub fn transmit_adjusted(
        &mut self,
        now: SimTime,
        from: NodeIndex,
        to: NodeIndex,
        size: usize,
        extra: SimDuration,
        latency: Option<&LatencyModel>,
    ) -> Transit {
        let start = now.max(self.uplink_free[from as usize]);
        let sent = start + self.uplink[from as usize].transfer_time(size);
        self.uplink_free[from as usize] = sent;
        self.propagate(start, sent, from, to, extra, latency)
    }

    /// A copy the network makes of the message `from` has just transmitted
    /// to `to` (of `size` bytes): it left the uplink with the original and
    /// takes its own loss and latency draws.
    pub fn duplicate_last(
        &mut self,
        from: NodeIndex,
        to: NodeIndex,
        size: usize,
        extra: SimDuration,
        latency: Option<&LatencyModel>,
    ) -> Transit {
        let sent = self.uplink_free[from as usize];
        let start = SimTime(sent.0.saturating_sub(self.uplink[from as usize].transfer_time(size).0));
        self.propagate(start, sent, from, to, extra, latency)
    }

    fn propagate(
        &mut self,
        start: SimTime,
        sent: SimTime,
        from: NodeIndex,
        to: NodeIndex,
        extra: SimDuration,
        latency: Option<&LatencyModel>,
    ) -> Transit {
        let (g, h) = (self.group_of[from as usize] as usize, self.group_of[to as usize] as usize);
        let link = &self.links[g * self.group_count + h];
        if link.loss > 0.0 && unit_f64(&mut self.rng) < link.loss {
            return Transit::Lost;
        }
        let latency = latency.unwrap_or(&link.latency).sample(&mut self.rng) + extra;
        match self.downlink[to as usize] {
            Bandwidth::Unlimited => Transit::Delivers { at: sent + latency },
            Bandwidth::BitsPerSecond(_) => Transit::Arrives { at: start + latency, earliest: sent + latency },
        }
    }

    /// A node's current upload and download capacities.
    pub fn capacities(&self, node: NodeIndex) -> (Bandwidth, Bandwidth) {
        (self.uplink[node as usize], self.downlink[node as usize])
    }

    /// Changes a node's capacities (for messages handed over from now on;
    /// transfers already booked keep their times).
    pub fn set_capacities(&mut self, node: NodeIndex, uplink: Bandwidth, downlink: Bandwidth) {
        self.uplink[node as usize] = uplink;
        self.downlink[node as usize] = downlink;
    }

    /// The first bit of a message of `size` bytes reached `to` at `now`;
    /// returns when its last bit is in, after the downlink's FIFO queue.
    pub fn arrive(&mut self, now: SimTime, to: NodeIndex, size: usize, earliest: SimTime) -> SimTime {
        let start = now.max(self.downlink_free[to as usize]);
        let done = start + self.downlink[to as usize].transfer_time(size);
        self.downlink_free[to as usize] = done;
        done.max(earliest)
    }

    /// When `node`'s uplink is free again.
    pub fn uplink_free_at(&self, node: NodeIndex) -> SimTime {
        self.uplink_free[node as usize]
    }

    /// The latency model's expected transfer time for diagnostics: the time
    /// `size` bytes take on `from`'s uplink.
    pub fn uplink_time(&self, from: NodeIndex, size: usize) -> SimDuration {
        self.uplink[from as usize].transfer_time(size)
    }
}
