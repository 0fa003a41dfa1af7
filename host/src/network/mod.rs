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
//!
//! The loss and latency draws are counter-based: every message handed to
//! the network takes the next number `n` on its ordered link `(from, to)`
//! ([`Network::next_number`]; a copy the network makes is the link's next
//! message too), and draws from the generator [`LinkDraws`] gives that
//! link and number. So the `n`-th message on a link has the same loss and
//! latency draws in every run with the same seed, however many messages
//! other links carry: two variants of an experiment see the same network
//! (see [`crate::rng`] for what else they share). Queueing on the uplinks
//! and downlinks still depends on the traffic.

mod bandwidth;
mod latency;
mod matrix;
mod numbers;

pub use bandwidth::{Bandwidth, ParseBandwidthError};
pub use latency::LatencyModel;
pub use matrix::{LatencyMatrix, MatrixError};

use crate::NodeIndex;
use crate::rng::{LinkDraws, unit_f64};
use crate::time::{SimDuration, SimTime};
use numbers::MessageNumbers;

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
    numbers: MessageNumbers,
    draws: LinkDraws,
}

impl Network {
    /// A network for nodes in `group_count` groups, where
    /// `links[from * group_count + to]` is the model of links from group
    /// `from` to group `to`; `draws` gives each message's loss and latency
    /// draws (made from [`crate::rng::Stream::Network`] by the engine).
    pub fn new(group_count: usize, links: Vec<LinkModel>, draws: LinkDraws) -> Self {
        assert_eq!(links.len(), group_count * group_count, "one link model per ordered pair of groups");
        Network {
            group_count,
            group_of: Vec::new(),
            links,
            uplink: Vec::new(),
            downlink: Vec::new(),
            uplink_free: Vec::new(),
            downlink_free: Vec::new(),
            numbers: MessageNumbers::default(),
            draws,
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
        self.numbers.add_node();
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

    /// Numbers the next message `from` hands to the network for `to`:
    /// 0, 1, 2, ... per ordered link. The number picks the message's draws,
    /// here and in the fault plan; [`Network::transmit`] and
    /// [`Network::duplicate_last`] take one themselves.
    pub fn next_number(&mut self, from: NodeIndex, to: NodeIndex) -> u32 {
        self.numbers.take(from, to)
    }

    /// Hands a message of `size` bytes from `from` to the network at `now`
    /// (the link's next message).
    pub fn transmit(&mut self, now: SimTime, from: NodeIndex, to: NodeIndex, size: usize) -> Transit {
        let n = self.next_number(from, to);
        self.transmit_adjusted(now, from, to, n, size, SimDuration::ZERO, None)
    }

    /// Like [`Network::transmit`] for the message numbered `n` on its link
    /// (by [`Network::next_number`]), with `extra` latency added and the
    /// latency drawn from `latency` instead of the link's model if given
    /// (what latency faults do).
    #[allow(clippy::too_many_arguments)]
    pub fn transmit_adjusted(
        &mut self,
        now: SimTime,
        from: NodeIndex,
        to: NodeIndex,
        n: u32,
        size: usize,
        extra: SimDuration,
        latency: Option<&LatencyModel>,
    ) -> Transit {
        let start = now.max(self.uplink_free[from as usize]);
        let sent = start + self.uplink[from as usize].transfer_time(size);
        self.uplink_free[from as usize] = sent;
        self.propagate(start, sent, from, to, n, extra, latency)
    }

    /// A copy the network makes of the message `from` has just transmitted
    /// to `to` (of `size` bytes): it left the uplink with the original, is
    /// the link's next message and takes its own loss and latency draws.
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
        let n = self.next_number(from, to);
        self.propagate(start, sent, from, to, n, extra, latency)
    }

    /// The loss and latency draws of message `n` on the link, from its own
    /// generator: the loss draw first (only if the link loses messages),
    /// then the latency model's.
    #[allow(clippy::too_many_arguments)]
    fn propagate(
        &self,
        start: SimTime,
        sent: SimTime,
        from: NodeIndex,
        to: NodeIndex,
        n: u32,
        extra: SimDuration,
        latency: Option<&LatencyModel>,
    ) -> Transit {
        let (g, h) = (self.group_of[from as usize] as usize, self.group_of[to as usize] as usize);
        let link = &self.links[g * self.group_count + h];
        let latency = latency.unwrap_or(&link.latency);
        if let LatencyModel::Constant { value } = latency
            && link.loss <= 0.0
        {
            // Nothing to draw: no generator to build.
            return self.arrival(start, sent, to, *value + extra);
        }
        let mut rng = self.draws.message(from, to, n);
        if link.loss > 0.0 && unit_f64(&mut rng) < link.loss {
            return Transit::Lost;
        }
        let latency = latency.sample(&mut rng) + extra;
        self.arrival(start, sent, to, latency)
    }

    /// Where a message that started to leave at `start` and left at `sent`
    /// goes after `latency`.
    fn arrival(&self, start: SimTime, sent: SimTime, to: NodeIndex, latency: SimDuration) -> Transit {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{SeedTree, Stream};

    /// Four nodes in one group, unlimited capacities, links that lose 30%
    /// and have log-normal latency.
    fn lossy_network(seed: u64) -> Network {
        let link = LinkModel { latency: LatencyModel::LogNormal { median: SimDuration::from_millis(40), sigma: 0.7 }, loss: 0.3 };
        let mut network = Network::new(1, vec![link], SeedTree::new(seed).link_draws(Stream::Network));
        for _ in 0..4 {
            network.add_node(0, Bandwidth::Unlimited, Bandwidth::Unlimited);
        }
        network
    }

    /// What became of one message: `None` if lost, else its latency.
    fn fate(transit: Transit, now: SimTime) -> Option<SimDuration> {
        match transit {
            Transit::Lost => None,
            Transit::Delivers { at } => Some(at.since(now)),
            Transit::Arrives { .. } => unreachable!("unlimited downlinks deliver directly"),
        }
    }

    /// Sends 50 rounds of one message on each link of `links`; with
    /// `extra`, also a message from 0 to 3 after every 7th message. Returns
    /// each link's fates in order.
    fn run(seed: u64, links: &[(NodeIndex, NodeIndex)], extra: bool) -> Vec<Vec<Option<SimDuration>>> {
        let mut network = lossy_network(seed);
        let mut fates = vec![Vec::new(); links.len()];
        let mut sent = 0;
        for round in 0..50u64 {
            let now = SimTime(round * 1_000_000);
            for (i, &(from, to)) in links.iter().enumerate() {
                fates[i].push(fate(network.transmit(now, from, to, 100), now));
                sent += 1;
                if extra && sent % 7 == 0 {
                    network.transmit(now, 0, 3, 100);
                }
            }
        }
        fates
    }

    #[test]
    fn an_extra_message_on_one_link_leaves_other_links_draws_unchanged() {
        let links = [(0, 1), (1, 0), (1, 2), (2, 3), (3, 0), (0, 2)];
        let (alone, beside_extra) = (run(5, &links, false), run(5, &links, true));
        for (i, link) in links.iter().enumerate() {
            assert_eq!(alone[i], beside_extra[i], "link {link:?}: the extra messages on (0, 3) changed its draws");
        }
        // The draws are random: losses and varied latencies on every link.
        for fates in &alone {
            let lost = fates.iter().filter(|f| f.is_none()).count();
            assert!((5..=30).contains(&lost), "{lost} of 50 lost at p = 0.3");
            let mut latencies: Vec<_> = fates.iter().flatten().collect();
            latencies.sort();
            latencies.dedup();
            assert!(latencies.len() > 10);
        }
        // Another seed draws otherwise.
        assert_ne!(alone, run(6, &links, false));
    }

    #[test]
    fn a_network_copy_is_the_links_next_message() {
        let now = SimTime(0);
        let mut copies = lossy_network(9);
        let mut sends = lossy_network(9);
        let with_copy: Vec<_> = (0..40)
            .flat_map(|_| {
                let original = fate(copies.transmit(now, 0, 1, 0), now);
                [original, fate(copies.duplicate_last(0, 1, 0, SimDuration::ZERO, None), now)]
            })
            .collect();
        let plain: Vec<_> = (0..80).map(|_| fate(sends.transmit(now, 0, 1, 0), now)).collect();
        assert_eq!(with_copy, plain);
    }

    #[test]
    fn numbers_count_per_ordered_link() {
        let mut network = lossy_network(1);
        assert_eq!([network.next_number(0, 1), network.next_number(0, 1), network.next_number(1, 0)], [0, 1, 0]);
        network.transmit(SimTime(0), 0, 1, 10);
        assert_eq!(network.next_number(0, 1), 3);
    }
}
