//! Seeded random streams.
//!
//! One seed per run; every subsystem and every node draws from its own
//! ChaCha stream derived from that seed, so that draws in one stream never
//! shift another: enabling capture, adding a log line or a timer in one node
//! leaves every other stream's numbers unchanged.
//!
//! Messages draw differently: the network's latency and loss draws and the
//! fault plan's draws for a message (loss faults, delay jitter, reordering,
//! duplication, corruption) are counter-based ([`LinkDraws`]): the `n`-th
//! message on the ordered link `(from, to)` has a generator of its own,
//! derived from the seed, the link and `n` alone. One message more on one
//! link shifts nothing on any other link.
//!
//! # What two variants of an experiment share
//!
//! Two runs with the same seed whose setups differ (say Kademlia with k = 8
//! and with k = 20) see the same random numbers wherever the draws do not
//! depend on what the peers do ("common random numbers"):
//!
//! - node identifiers ([`Stream::Ids`]) and bootstrap contacts
//!   ([`Stream::Topology`]), given the same node count and groups;
//! - the workload ([`Stream::Workload`]) and file contents
//!   ([`Stream::Content`]);
//! - the fault schedule ([`Stream::Faults`]: targets, churn sessions);
//! - per link, the network's and the fault plan's draws of the `n`-th
//!   message ([`LinkDraws`]): same latency and loss, same fault-plan
//!   outcome.
//!
//! What cannot be shared: the draws a peer makes itself ([`Stream::Node`],
//! [`Stream::NodeWasi`]; how many it takes depends on its code), and
//! anything downstream of different behaviour: a message that exists in
//! only one variant, or the draws of the messages that follow it on its
//! link (their numbers are shifted by one).

use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};

/// The random number generator used everywhere in the simulator.
pub type SimRng = ChaCha12Rng;

/// Names one independent random stream of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The key of the network model's latency and loss draws, which are
    /// per link and per message ([`LinkDraws`]).
    Network,
    /// Operations issued by the workload (which node, which key).
    Workload,
    /// Fault injection (which nodes, when, churn sessions): the fault
    /// schedule.
    Faults,
    /// The key of the fault plan's draws for each message (loss, jitter,
    /// reordering, duplication, corruption), which are per link and per
    /// message ([`LinkDraws`]).
    FaultPlan,
    /// Node identifiers.
    Ids,
    /// Bootstrap contacts and other topology choices.
    Topology,
    /// Contents of shared files.
    Content,
    /// A node's own stream, read by the peer through `random-u64`.
    Node(u32),
    /// A node's WASI randomness (hash-map seeds and the like), kept apart
    /// from [`Stream::Node`] so that library internals never shift the
    /// protocol's draws.
    NodeWasi(u32),
    /// A node's own stream after its `n`-th restart from scratch (a fault's
    /// state-losing recovery), so that a new incarnation does not replay
    /// the draws of the old one.
    Restart(u32, u32),
    /// The WASI randomness of a node's `n`-th restart.
    RestartWasi(u32, u32),
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Workload => 2,
            Stream::Faults => 3,
            Stream::Ids => 4,
            Stream::Topology => 5,
            Stream::Content => 6,
            Stream::FaultPlan => 7,
            Stream::Node(i) => (1 << 32) | u64::from(i),
            Stream::NodeWasi(i) => (2 << 32) | u64::from(i),
            Stream::Restart(i, n) => (3 << 60) | (u64::from(n.min(1 << 27)) << 32) | u64::from(i),
            Stream::RestartWasi(i, n) => (4 << 60) | (u64::from(n.min(1 << 27)) << 32) | u64::from(i),
        }
    }
}

/// Derives independent random streams from one run seed.
#[derive(Clone, Copy, Debug)]
pub struct SeedTree {
    key: [u8; 32],
}

impl SeedTree {
    /// The streams of the run with this seed.
    pub fn new(seed: u64) -> Self {
        // Expand the 64-bit seed into a 256-bit ChaCha key with SplitMix64.
        let mut key = [0u8; 32];
        let mut state = seed;
        for chunk in key.chunks_mut(8) {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes());
        }
        SeedTree { key }
    }

    /// A fresh generator for `stream`; the same seed and stream always give
    /// the same sequence.
    pub fn stream(&self, stream: Stream) -> SimRng {
        let mut rng = SimRng::from_seed(self.key);
        rng.set_stream(stream.number());
        rng
    }

    /// Per-link, per-message draws keyed by `domain` (the first 32 bytes of
    /// that stream): [`Stream::Network`] for the network model,
    /// [`Stream::FaultPlan`] for the faults in force.
    pub fn link_draws(&self, domain: Stream) -> LinkDraws {
        let mut key = [0u8; 32];
        self.stream(domain).fill_bytes(&mut key);
        LinkDraws { key }
    }
}

/// Counter-based draws for messages on ordered links ("common random
/// numbers" for the network).
///
/// Guarantee: [`LinkDraws::message`]`(from, to, n)` depends only on the run
/// seed, the domain it was made for ([`SeedTree::link_draws`]), the ordered
/// link `(from, to)` and `n`. So the `n`-th message `from` hands to the
/// network for `to` draws the same numbers in every run with the same seed,
/// whatever happens on other links, in other streams, or at other times.
///
/// Layout: ChaCha12 keyed by the domain's key, ChaCha stream
/// `(from << 32) | to` (one stream per ordered link), and message `n`
/// starting at word `n * WORDS_PER_MESSAGE` of it. Messages therefore never
/// share words: a draw loop (the truncated normal's rejection, a long
/// corrupted string) reads on into its own message's reservation, never into
/// the next message's. Building a generator costs a key setup; the first
/// draw computes four ChaCha12 blocks (64 words), more only if a message
/// draws more than that.
#[derive(Clone, Debug)]
pub struct LinkDraws {
    key: [u8; 32],
}

impl LinkDraws {
    /// 32-bit words reserved for each message's draws: 2^32 (16 GiB),
    /// generous on purpose, since the stream has 2^68 words and the range
    /// costs nothing. A latency draw takes a few words (the truncated
    /// normal two per attempt); the fault plan a few per fault in force,
    /// plus what corrupting a message takes (about two per character of a
    /// corrupted string, so a few million at the default 1 MiB message
    /// limit). With 32-bit message numbers, the reservations of a link's
    /// 2^32 messages fill 2^64 words; its 2^32-th message would draw the same
    /// numbers as its first.
    pub const WORDS_PER_MESSAGE: u128 = 1 << 32;

    /// The generator of the `n`-th message (counting from 0) from `from` to
    /// `to`.
    pub fn message(&self, from: u32, to: u32, n: u32) -> SimRng {
        let mut rng = SimRng::from_seed(self.key);
        rng.set_stream((u64::from(from) << 32) | u64::from(to));
        rng.set_word_pos(u128::from(n) * Self::WORDS_PER_MESSAGE);
        rng
    }
}

/// A uniform float in `[0, 1)` with 53 bits of precision.
pub fn unit_f64(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform float in `(0, 1]`, safe to take the logarithm of.
pub fn open_unit_f64(rng: &mut impl Rng) -> f64 {
    1.0 - unit_f64(rng)
}

/// A uniform integer in `0..n` (unbiased, by rejection). `n` must be positive.
pub fn below(rng: &mut impl Rng, n: u64) -> u64 {
    assert!(n > 0, "below(0) has no values");
    let zone = u64::MAX - (u64::MAX - n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= zone {
            return x % n;
        }
    }
}

/// A standard normal draw (Box–Muller, one value per call).
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1 = open_unit_f64(rng);
    let u2 = unit_f64(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_same_draws() {
        let a: Vec<u64> = (0..8)
            .map({
                let mut r = SeedTree::new(7).stream(Stream::Node(3));
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..8)
            .map({
                let mut r = SeedTree::new(7).stream(Stream::Node(3));
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn streams_and_seeds_are_independent() {
        let draw = |seed, s| SeedTree::new(seed).stream(s).next_u64();
        assert_ne!(draw(7, Stream::Node(3)), draw(7, Stream::Node(4)));
        assert_ne!(draw(7, Stream::Node(3)), draw(7, Stream::NodeWasi(3)));
        assert_ne!(draw(7, Stream::Network), draw(8, Stream::Network));
        assert_ne!(draw(7, Stream::Network), draw(7, Stream::Workload));
    }

    #[test]
    fn link_draws_depend_on_seed_domain_link_and_number_only() {
        let draws = |seed, domain, from, to, n| {
            let mut rng = SeedTree::new(seed).link_draws(domain).message(from, to, n);
            [rng.next_u64(), rng.next_u64()]
        };
        let one = draws(7, Stream::Network, 3, 5, 2);
        assert_eq!(one, draws(7, Stream::Network, 3, 5, 2));
        assert_ne!(one, draws(8, Stream::Network, 3, 5, 2), "seed");
        assert_ne!(one, draws(7, Stream::FaultPlan, 3, 5, 2), "domain");
        assert_ne!(one, draws(7, Stream::Network, 5, 3, 2), "direction of the link");
        assert_ne!(one, draws(7, Stream::Network, 3, 6, 2), "link");
        assert_ne!(one, draws(7, Stream::Network, 3, 5, 3), "message number");
    }

    #[test]
    fn a_message_reads_on_into_its_own_reservation() {
        // Message 0 draws far past one ChaCha buffer (64 words) and stays
        // clear of message 1, which starts WORDS_PER_MESSAGE words later.
        let draws = SeedTree::new(9).link_draws(Stream::Network);
        let mut first = draws.message(0, 1, 0);
        let long: Vec<u64> = (0..1_000).map(|_| first.next_u64()).collect();
        assert_eq!(first.get_word_pos(), 2_000);
        let mut second = draws.message(0, 1, 1);
        assert_eq!(second.get_word_pos(), LinkDraws::WORDS_PER_MESSAGE);
        assert!(!long.contains(&second.next_u64()));
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SeedTree::new(1).stream(Stream::Workload);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let x = below(&mut rng, 5);
            seen[x as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
