//! Seeded random streams.
//!
//! One seed per run; every subsystem and every node draws from its own
//! ChaCha stream derived from that seed, so that draws in one stream never
//! shift another: enabling capture, adding a log line or a timer in one node
//! leaves every other stream's numbers unchanged.

use rand_chacha::ChaCha12Rng;
use rand_core::{Rng, SeedableRng};

/// The random number generator used everywhere in the simulator.
pub type SimRng = ChaCha12Rng;

/// Names one independent random stream of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Latency and loss draws of the network model.
    Network,
    /// Operations issued by the workload (which node, which key).
    Workload,
    /// Fault injection (which nodes, when).
    Faults,
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
