//! The network model, checked end to end through the engine with native
//! peers: latency distributions (sample mean, variance and quantiles against
//! theory), independent loss, exact bandwidth transfer times, FIFO queueing
//! on uplinks and downlinks, determinism of the event log, and independence
//! of the random streams (per-link draws: the `n`-th message on a link draws
//! the same latency, loss and fault-plan outcome whatever other links carry).
//!
//! Statistical bounds are 5 standard errors unless stated otherwise: a
//! correct model fails one with probability below 1e-6, while a model whose
//! mean or loss rate is off by 10% fails it by far. Every run has a fixed
//! seed, so the tests are deterministic.

use peershare::capture::Fate;
use peershare::events::{DropReason, Event, MessageId};
use peershare::prelude::*;
use peershare_e2e::trace_bytes;
use std::collections::BTreeMap;

/// Number of standard errors a statistic may lie from its expected value.
const Z: f64 = 5.0;

/// Messages per latency-model test.
const LATENCY_SAMPLES: u64 = 20_000;

/// Messages per loss test with 0 < p < 1.
const LOSS_SAMPLES: u64 = 100_000;

/// Sends per handler call; well below the host's per-event send limit.
const PER_ROUND: u64 = 1_000;

// ---------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------

/// A message of kind "DATA" with a sequence number and `pad` bytes of
/// padding; its size on the network is its encoded length.
fn data(seq: u64, pad: usize) -> Vec<u8> {
    Record::new("DATA").with("seq", seq).with("pad", vec![0u8; pad]).encode()
}

/// Sends `rounds` bursts of `per_round` messages to node `to`: the first
/// burst `first` after it starts, then one every `interval`.
#[derive(Clone, Debug)]
struct Burst {
    to: NodeIndex,
    first: SimDuration,
    interval: SimDuration,
    rounds: u64,
    per_round: u64,
    pad: usize,
    sent: u64,
    rounds_done: u64,
}

impl Burst {
    /// `count` messages to `to`, in bursts of at most [`PER_ROUND`] one
    /// second apart, starting one second in.
    fn messages(to: NodeIndex, count: u64) -> Self {
        let per_round = count.min(PER_ROUND);
        Burst {
            to,
            first: SimDuration::from_secs(1),
            interval: SimDuration::from_secs(1),
            rounds: count.div_ceil(per_round),
            per_round,
            pad: 0,
            sent: 0,
            rounds_done: 0,
        }
    }

    /// One burst of `count` messages of `pad` padding bytes, `first` after
    /// the start.
    fn once(to: NodeIndex, count: u64, pad: usize, first: SimDuration) -> Self {
        Burst { first, rounds: 1, per_round: count, pad, ..Burst::messages(to, count) }
    }
}

impl Peer for Burst {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(self.first, 0);
    }

    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}

    fn on_timer(&mut self, ctx: &mut NodeContext, _tag: u64) {
        for _ in 0..self.per_round {
            ctx.send(self.to, data(self.sent, self.pad));
            self.sent += 1;
        }
        self.rounds_done += 1;
        if self.rounds_done < self.rounds {
            ctx.set_timer(self.interval, 0);
        }
    }
}

/// Receives and ignores everything.
struct Sink;

impl Peer for Sink {
    fn init(&mut self, _ctx: &mut NodeContext, _args: &InitArgs) {}
    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}
}

/// Draws `per_tick` numbers from its own random stream on each of `ticks`
/// timer ticks and publishes all of them as state (field "draws").
#[derive(Clone)]
struct Drawer {
    first: SimDuration,
    ticks: u64,
    per_tick: u64,
    draws: Vec<u64>,
}

impl Peer for Drawer {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(self.first, 0);
    }

    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}

    fn on_timer(&mut self, ctx: &mut NodeContext, tick: u64) {
        for _ in 0..self.per_tick {
            let x = ctx.random_u64();
            self.draws.push(x);
        }
        ctx.publish_state(Record::new("draws").with("draws", Value::U64s(self.draws.clone())).encode());
        if tick + 1 < self.ticks {
            ctx.set_timer(SimDuration::from_millis(10), tick + 1);
        }
    }
}

/// Every 10 ms for `ticks` ticks, sends a message to a random other node
/// (chosen from its own stream); if `extra` is set, node 0 also sends one
/// more message to node 1 on tick 50. What it receives changes nothing it
/// does, so two runs differ only by that one message.
#[derive(Clone)]
struct Chatter {
    nodes: u64,
    ticks: u64,
    extra: bool,
}

impl Peer for Chatter {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(SimDuration::from_millis(10), 0);
    }

    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}

    fn on_timer(&mut self, ctx: &mut NodeContext, tick: u64) {
        let me = u64::from(ctx.index());
        let to = ((me + 1 + ctx.random_u64() % (self.nodes - 1)) % self.nodes) as NodeIndex;
        ctx.send(to, data(tick, 0));
        if self.extra && me == 0 && tick == 50 {
            ctx.send(1, data(u64::MAX, 0));
        }
        if tick + 1 < self.ticks {
            ctx.set_timer(SimDuration::from_millis(10), tick + 1);
        }
    }
}

/// Every 20 ms, sends a message to a random other node (chosen from its own
/// stream), and forwards every message it receives to another random node
/// with probability 1/2: random latency, loss and queueing all at once.
struct Gossip {
    nodes: u64,
}

impl Gossip {
    fn someone_else(&self, ctx: &mut NodeContext) -> NodeIndex {
        let me = u64::from(ctx.index());
        ((me + 1 + ctx.random_u64() % (self.nodes - 1)) % self.nodes) as NodeIndex
    }
}

impl Peer for Gossip {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(SimDuration::from_millis(20), 0);
    }

    fn on_message(&mut self, ctx: &mut NodeContext, _from: NodeIndex, message: &[u8]) {
        if ctx.random_u64().is_multiple_of(2) {
            let to = self.someone_else(ctx);
            ctx.send(to, message.to_vec());
        }
    }

    fn on_timer(&mut self, ctx: &mut NodeContext, tick: u64) {
        let to = self.someone_else(ctx);
        let pad = (ctx.random_u64() % 2_000) as usize;
        ctx.send(to, data(tick, pad));
        ctx.set_timer(SimDuration::from_millis(20), tick + 1);
    }
}

// ---------------------------------------------------------------------------
// Building, running and reading runs
// ---------------------------------------------------------------------------

/// Node 0 (group "sender", uplink `up`) runs `sender`; node 1 (group
/// "receiver", downlink `down`) is a sink; every link follows `link`.
fn pair(seed: u64, link: LinkModel, sender: Burst, up: Bandwidth, down: Bandwidth) -> Simulation {
    let mut sender_group = GroupSpec::new("sender", 1, PeerSource::native(move |_| sender.clone()));
    sender_group.uplink = up;
    let mut receiver_group = GroupSpec::new("receiver", 1, PeerSource::native(|_| Sink));
    receiver_group.downlink = down;
    SimulationBuilder::new(seed).group(sender_group).group(receiver_group).default_link(link).build().expect("simulation builds")
}

fn lossless(latency: LatencyModel) -> LinkModel {
    LinkModel { latency, loss: 0.0 }
}

fn constant(latency: SimDuration) -> LinkModel {
    lossless(LatencyModel::constant(latency))
}

/// Runs until nothing is pending (every test workload is finite).
fn run_to_end(sim: &mut Simulation) {
    sim.run_until(SimTime::MAX).expect("run completes");
    assert_eq!(sim.next_event_time(), None);
}

/// What became of one message.
#[derive(Debug)]
struct Trip {
    from: NodeIndex,
    size: usize,
    sent: SimTime,
    delivered: Option<SimTime>,
    dropped: Option<DropReason>,
}

/// Every message of the run, indexed by message id.
fn trips(sim: &Simulation) -> Vec<Trip> {
    let mut trips: Vec<Trip> = Vec::new();
    for e in sim.events().events() {
        match &e.event {
            Event::Sent { msg, from, bytes, .. } => {
                assert_eq!(*msg as usize, trips.len(), "message ids are dense, in sending order");
                trips.push(Trip { from: *from, size: bytes.len(), sent: e.time, delivered: None, dropped: None });
            }
            Event::Delivered { msg, .. } => {
                let t = &mut trips[*msg as usize];
                assert!(t.delivered.is_none() && t.dropped.is_none(), "message {msg} ends twice");
                t.delivered = Some(e.time);
            }
            Event::Dropped { msg, reason, .. } => {
                let t = &mut trips[*msg as usize];
                assert!(t.delivered.is_none() && t.dropped.is_none(), "message {msg} ends twice");
                t.dropped = Some(reason.clone());
            }
            _ => {}
        }
    }
    trips
}

/// Message ids in the order they were delivered.
fn delivery_order(sim: &Simulation) -> Vec<MessageId> {
    sim.events()
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::Delivered { msg, .. } => Some(msg),
            _ => None,
        })
        .collect()
}

/// One-way latencies (delivery time minus send time, in ns) of `count`
/// messages sent one after another over a lossless link with unlimited
/// bandwidth, so that latency is all that counts.
fn latency_samples(seed: u64, model: LatencyModel, count: u64) -> Vec<f64> {
    let mut sim = pair(seed, lossless(model), Burst::messages(1, count), Bandwidth::Unlimited, Bandwidth::Unlimited);
    run_to_end(&mut sim);
    let trips = trips(&sim);
    assert_eq!(trips.len() as u64, count);
    trips.iter().map(|t| t.delivered.expect("a lossless link delivers everything").since(t.sent).as_nanos() as f64).collect()
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// Theoretical moments of a latency distribution, in nanoseconds.
struct Moments {
    mean: f64,
    variance: f64,
    /// Fourth central moment, `E[(X - mean)^4]`.
    fourth: f64,
}

/// Sample mean and unbiased sample variance.
fn mean_and_variance(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let variance = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

fn assert_within(what: &str, observed: f64, expected: f64, standard_error: f64) {
    let bound = Z * standard_error;
    assert!(
        (observed - expected).abs() <= bound,
        "{what}: observed {observed:.6e}, expected {expected:.6e} ± {bound:.3e} ({Z} standard errors of {standard_error:.3e})"
    );
}

/// The sample mean lies within 5 standard errors `sqrt(var / n)` of the
/// mean, and the sample variance within 5 standard errors
/// `sqrt((mu4 - var^2) / n)` of the variance (the asymptotic standard error
/// of a sample variance; `sigma^2 sqrt(2 / n)` for a normal distribution).
fn assert_moments(xs: &[f64], theory: &Moments) {
    let n = xs.len() as f64;
    let (mean, variance) = mean_and_variance(xs);
    assert_within("sample mean", mean, theory.mean, (theory.variance / n).sqrt());
    assert_within("sample variance", variance, theory.variance, ((theory.fourth - theory.variance.powi(2)) / n).sqrt());
}

/// The fraction of samples at or below `x_q`, the theoretical `q`-quantile,
/// is binomial: it lies within 5 standard deviations `sqrt(q (1 - q) / n)`
/// of `q`. Exact and distribution-free, so it holds for heavy tails too.
fn assert_quantile(xs: &[f64], q: f64, x_q: f64) {
    let n = xs.len() as f64;
    let below = xs.iter().filter(|&&x| x <= x_q).count() as f64;
    assert_within(&format!("fraction of samples at or below the {q}-quantile {x_q:.0} ns"), below / n, q, (q * (1.0 - q) / n).sqrt());
}

/// The host's own `LatencyModel::mean` agrees with the theoretical mean (to
/// the nanosecond it rounds to).
fn assert_host_mean(model: &LatencyModel, mean: f64) {
    let host = model.mean().expect("the mean is finite").as_nanos() as f64;
    assert!((host - mean).abs() <= 0.5, "{model:?}: host mean {host} ns, theory {mean} ns");
}

/// The fraction `count / n` of Bernoulli(p) trials lies within 5 binomial
/// standard deviations `sqrt(p (1 - p) / n)` of `p`.
fn assert_binomial(what: &str, count: u64, n: u64, p: f64) {
    assert_within(what, count as f64 / n as f64, p, (p * (1.0 - p) / n as f64).sqrt());
}

// ---------------------------------------------------------------------------
// 1. Latency models
// ---------------------------------------------------------------------------

#[test]
fn constant_latency_is_exact() {
    let value = SimDuration::from_nanos(37_123_457);
    let xs = latency_samples(1, LatencyModel::constant(value), LATENCY_SAMPLES);
    assert!(xs.iter().all(|&x| x == value.as_nanos() as f64), "every latency is exactly {value}");
}

#[test]
fn uniform_latency_has_uniform_mean_and_variance() {
    let (a, b) = (10e6, 30e6);
    let model = LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(30) };
    let xs = latency_samples(2, model.clone(), LATENCY_SAMPLES);
    assert!(xs.iter().all(|&x| (a..=b).contains(&x)), "uniform draws stay within [min, max]");
    // mean (a+b)/2, variance (b-a)^2/12, fourth central moment (b-a)^4/80.
    let theory = Moments { mean: (a + b) / 2.0, variance: (b - a).powi(2) / 12.0, fourth: (b - a).powi(4) / 80.0 };
    assert_host_mean(&model, theory.mean);
    assert_moments(&xs, &theory);
    // Also evenly spread: a quarter of the draws below the first quartile.
    assert_quantile(&xs, 0.25, a + (b - a) / 4.0);
}

#[test]
fn normal_latency_has_normal_mean_and_variance() {
    // Zero is 10 standard deviations below the mean: truncation changes
    // nothing measurable (P(X < 0) ~ 1e-23).
    let (mu, sigma) = (100e6, 10e6);
    let model = LatencyModel::Normal { mean: SimDuration::from_millis(100), std_dev: SimDuration::from_millis(10) };
    let xs = latency_samples(3, model, LATENCY_SAMPLES);
    assert!(xs.iter().all(|&x| x >= 0.0));
    // Fourth central moment 3 sigma^4: the variance's standard error is sigma^2 sqrt(2/n).
    assert_moments(&xs, &Moments { mean: mu, variance: sigma * sigma, fourth: 3.0 * sigma.powi(4) });
    // The normal CDF at mu + sigma is 0.841345.
    assert_quantile(&xs, 0.841_344_746, mu + sigma);
}

#[test]
fn lognormal_latency_has_lognormal_mean_variance_and_median() {
    let (median, s) = (50e6_f64, 0.4_f64);
    let model = LatencyModel::LogNormal { median: SimDuration::from_millis(50), sigma: s };
    let xs = latency_samples(4, model.clone(), LATENCY_SAMPLES);
    // With mu = ln(median): mean e^(mu + s^2/2), variance (e^(s^2) - 1) e^(2mu + s^2),
    // kurtosis e^(4s^2) + 2e^(3s^2) + 3e^(2s^2) - 3. The tail is heavier than
    // a normal's but every moment is finite (kurtosis about 6.3 at s = 0.4), so
    // the variance's standard error is meaningful: 5 of them are 8% of it.
    let s2 = s * s;
    let variance = (s2.exp() - 1.0) * median.powi(2) * s2.exp();
    let kurtosis = (4.0 * s2).exp() + 2.0 * (3.0 * s2).exp() + 3.0 * (2.0 * s2).exp() - 3.0;
    let theory = Moments { mean: median * (s2 / 2.0).exp(), variance, fourth: kurtosis * variance.powi(2) };
    assert_host_mean(&model, theory.mean);
    assert_moments(&xs, &theory);
    // Half the draws below the median; 90% below median e^(1.281552 s).
    assert_quantile(&xs, 0.5, median);
    assert_quantile(&xs, 0.9, median * (1.281_551_566 * s).exp());
}

#[test]
fn pareto_latency_has_pareto_mean_and_quantiles() {
    let (xm, a) = (10e6_f64, 3.0_f64);
    let model = LatencyModel::Pareto { scale: SimDuration::from_millis(10), shape: a };
    let xs = latency_samples(5, model.clone(), LATENCY_SAMPLES);
    assert!(xs.iter().all(|&x| x >= xm), "Pareto draws are at least the scale");
    // Shape > 2: the variance xm^2 a / ((a-1)^2 (a-2)) is finite, so the
    // sample mean a xm / (a-1) has a standard error and the usual bound holds.
    let mean = a * xm / (a - 1.0);
    let variance = xm * xm * a / ((a - 1.0).powi(2) * (a - 2.0));
    assert_host_mean(&model, mean);
    assert_within("sample mean", mean_and_variance(&xs).0, mean, (variance / xs.len() as f64).sqrt());
    // The sample variance, though, is not checked against the variance: for
    // shape <= 4 the fourth moment is infinite, so the sample variance has
    // no standard error and a single far-tail draw moves it by tens of
    // percent; any bound it essentially never breaks would be too loose to
    // catch anything. Quantiles x_q = xm (1-q)^(-1/a) are checked instead,
    // body and tail, with exact binomial bounds.
    for q in [0.5, 0.9, 0.99] {
        assert_quantile(&xs, q, xm * (1.0 - q).powf(-1.0 / a));
    }
}

// ---------------------------------------------------------------------------
// 2. Loss
// ---------------------------------------------------------------------------

/// Sends `n` messages over a link with loss probability `p`; returns how
/// many were lost, after checking every message was either lost or
/// delivered and that the summary agrees with the event log.
fn lost_messages(seed: u64, p: f64, n: u64) -> u64 {
    let link = LinkModel { latency: LatencyModel::constant(SimDuration::from_millis(10)), loss: p };
    let mut sim = pair(seed, link, Burst::messages(1, n), Bandwidth::Unlimited, Bandwidth::Unlimited);
    run_to_end(&mut sim);
    let trips = trips(&sim);
    assert_eq!(trips.len() as u64, n);
    let lost = trips.iter().filter(|t| t.dropped == Some(DropReason::Lost)).count() as u64;
    let delivered = trips.iter().filter(|t| t.delivered.is_some()).count() as u64;
    assert_eq!(lost + delivered, n, "a message is either lost or delivered");
    let summary = sim.summary().messages;
    assert_eq!((summary.sent, summary.delivered), (n, delivered));
    assert_eq!(summary.dropped.get("lost").copied().unwrap_or(0), lost);
    lost
}

#[test]
fn loss_rate_ten_percent_is_binomial() {
    let lost = lost_messages(10, 0.1, LOSS_SAMPLES);
    // 5 sd = 0.0047: a rate of 0.09 or 0.11 fails.
    assert_binomial("lost fraction", lost, LOSS_SAMPLES, 0.1);
}

#[test]
fn loss_rate_one_half_is_binomial() {
    let lost = lost_messages(11, 0.5, LOSS_SAMPLES);
    // 5 sd = 0.0079: a rate of 0.45 or 0.55 fails.
    assert_binomial("lost fraction", lost, LOSS_SAMPLES, 0.5);
}

#[test]
fn zero_loss_drops_nothing() {
    assert_eq!(lost_messages(12, 0.0, 10_000), 0);
}

#[test]
fn full_loss_drops_everything() {
    assert_eq!(lost_messages(13, 1.0, 10_000), 10_000);
}

// ---------------------------------------------------------------------------
// 3. Bandwidth
// ---------------------------------------------------------------------------

const LATENCY: SimDuration = SimDuration::from_millis(40);
const START: SimDuration = SimDuration::from_millis(1_500);

/// Sends one message of about 100 kB from node 0 (uplink `up`) to node 1
/// (downlink `down`) under constant latency; returns its size and how long
/// it took from send to delivery.
fn single_transfer(up: Bandwidth, down: Bandwidth) -> (usize, SimDuration) {
    let mut sim = pair(20, constant(LATENCY), Burst::once(1, 1, 100_000, START), up, down);
    run_to_end(&mut sim);
    let trips = trips(&sim);
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].sent, SimTime::ZERO + START);
    (trips[0].size, trips[0].delivered.expect("delivered").since(trips[0].sent))
}

#[test]
fn transfer_over_equal_links_takes_size_over_capacity_plus_latency() {
    // 3 Mbit/s: 100 kB do not take a whole number of nanoseconds.
    let c = Bandwidth::BitsPerSecond(3_000_000);
    let (size, took) = single_transfer(c, c);
    let transfer = c.transfer_time(size);
    // transfer_time is S*8/C rounded up to the nanosecond.
    let exact_ns = size as f64 * 8.0 / 3e6 * 1e9;
    assert!((transfer.as_nanos() as f64 - exact_ns).abs() < 1.0, "{transfer} vs {exact_ns} ns");
    assert_eq!(took, transfer + LATENCY);
}

#[test]
fn slower_downlink_determines_transfer_time() {
    let (fast, slow) = (Bandwidth::mbps(100), Bandwidth::BitsPerSecond(1_500_000));
    let (size, took) = single_transfer(fast, slow);
    assert_eq!(took, slow.transfer_time(size) + LATENCY);
}

#[test]
fn slower_uplink_determines_transfer_time() {
    let (fast, slow) = (Bandwidth::mbps(100), Bandwidth::BitsPerSecond(1_500_000));
    let (size, took) = single_transfer(slow, fast);
    assert_eq!(took, slow.transfer_time(size) + LATENCY);
}

// ---------------------------------------------------------------------------
// 4. FIFO queueing
// ---------------------------------------------------------------------------

#[test]
fn simultaneous_sends_queue_fifo_on_the_uplink() {
    let k = 20;
    let up = Bandwidth::BitsPerSecond(2_000_000);
    let mut sim = pair(30, constant(LATENCY), Burst::once(1, k, 5_000, START), up, Bandwidth::Unlimited);
    run_to_end(&mut sim);
    let trips = trips(&sim);
    assert_eq!(trips.len() as u64, k);
    assert_eq!(delivery_order(&sim), (0..k).collect::<Vec<_>>(), "delivered in send order");
    let t0 = SimTime::ZERO + START;
    let per_message = up.transfer_time(trips[0].size);
    for (i, t) in trips.iter().enumerate() {
        assert_eq!(t.sent, t0, "all sent at the same instant");
        assert_eq!(t.size, trips[0].size);
        // The (i+1)-th message leaves after the i before it and itself.
        let expected = t0 + SimDuration(per_message.as_nanos() * (i as u64 + 1)) + LATENCY;
        assert_eq!(t.delivered, Some(expected), "message {i}");
    }
}

/// A sender whose i-th message has 1000 (i+1) bytes of padding, all sent at
/// once.
struct Growing {
    count: u64,
}

impl Peer for Growing {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(START, 0);
    }
    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}
    fn on_timer(&mut self, ctx: &mut NodeContext, _tag: u64) {
        for i in 0..self.count {
            ctx.send(1, data(i, 1000 * (i as usize + 1)));
        }
    }
}

#[test]
fn uplink_queue_holds_each_message_for_its_own_size() {
    let up = Bandwidth::BitsPerSecond(2_000_000);
    let mut sender = GroupSpec::new("sender", 1, PeerSource::native(|_| Growing { count: 10 }));
    sender.uplink = up;
    let mut sim = SimulationBuilder::new(31)
        .group(sender)
        .group(GroupSpec::new("receiver", 1, PeerSource::native(|_| Sink)))
        .default_link(constant(LATENCY))
        .build()
        .unwrap();
    run_to_end(&mut sim);
    let trips = trips(&sim);
    assert_eq!(trips.len(), 10);
    assert!(trips.windows(2).all(|w| w[0].size < w[1].size));
    let mut done = SimTime::ZERO + START;
    for (i, t) in trips.iter().enumerate() {
        assert_eq!(t.sent, SimTime::ZERO + START);
        done += up.transfer_time(t.size);
        assert_eq!(t.delivered, Some(done + LATENCY), "message {i} leaves once the ones before it have");
    }
}

/// Sends `count` single messages to node `to`, one every `every`, the
/// first `first` after the start.
#[derive(Clone)]
struct Ticker {
    to: NodeIndex,
    first: SimDuration,
    every: SimDuration,
    count: u64,
    sent: u64,
}

impl Peer for Ticker {
    fn init(&mut self, ctx: &mut NodeContext, _args: &InitArgs) {
        ctx.set_timer(self.first, 0);
    }
    fn on_message(&mut self, _ctx: &mut NodeContext, _from: NodeIndex, _message: &[u8]) {}
    fn on_timer(&mut self, ctx: &mut NodeContext, _tag: u64) {
        ctx.send(self.to, data(self.sent, 2_000));
        self.sent += 1;
        if self.sent < self.count {
            ctx.set_timer(self.every, 0);
        }
    }
}

#[test]
fn downlink_queues_two_senders_fifo_in_arrival_order() {
    // Senders 0 and 1 (unlimited uplinks) alternate, 1 ms apart, so their
    // messages reach node 2 interleaved; each takes T > 1 ms on its limited
    // downlink, so each must wait for the previous arrival to be taken in.
    let (k, gap) = (10u64, SimDuration::from_millis(1));
    let senders = PeerSource::native(move |i| Ticker {
        to: 2,
        first: START + SimDuration(gap.as_nanos() * u64::from(i)),
        every: SimDuration(2 * gap.as_nanos()),
        count: k,
        sent: 0,
    });
    let down = Bandwidth::BitsPerSecond(1_000_000);
    let mut receiver = GroupSpec::new("receiver", 1, PeerSource::native(|_| Sink));
    receiver.downlink = down;
    let mut sim = SimulationBuilder::new(32)
        .group(GroupSpec::new("senders", 2, senders))
        .group(receiver)
        .default_link(constant(LATENCY))
        .build()
        .unwrap();
    run_to_end(&mut sim);
    let trips = trips(&sim);
    assert_eq!(trips.len() as u64, 2 * k);
    let size = trips[0].size;
    let per_message = down.transfer_time(size);
    assert!(per_message > gap);
    // Arrival order is send order: message ids alternate between senders.
    assert!(trips.iter().enumerate().all(|(i, t)| t.from == i as u32 % 2 && t.size == size));
    assert!(trips.windows(2).all(|w| w[0].sent < w[1].sent));
    assert_eq!(delivery_order(&sim), (0..2 * k).collect::<Vec<_>>(), "delivered in arrival order");
    let t0 = SimTime::ZERO + START + LATENCY;
    for (m, t) in trips.iter().enumerate() {
        let expected = t0 + SimDuration(per_message.as_nanos() * (m as u64 + 1));
        assert_eq!(t.delivered, Some(expected), "arrival {m}");
    }
}

// ---------------------------------------------------------------------------
// 5. Determinism
// ---------------------------------------------------------------------------

/// Eight gossiping nodes over log-normal links with 20% loss and limited
/// links, for five virtual seconds.
fn gossip_trace(seed: u64) -> Vec<u8> {
    let mut peers = GroupSpec::new("peers", 8, PeerSource::native(|_| Gossip { nodes: 8 }));
    peers.uplink = Bandwidth::mbps(1);
    peers.downlink = Bandwidth::mbps(2);
    let link = LinkModel { latency: LatencyModel::LogNormal { median: SimDuration::from_millis(30), sigma: 0.8 }, loss: 0.2 };
    let mut sim = SimulationBuilder::new(seed).group(peers).default_link(link).build().unwrap();
    sim.run_for(SimDuration::from_secs(5)).unwrap();
    let summary = sim.summary().messages;
    assert!(summary.delivered > 500 && summary.dropped.get("lost").copied().unwrap_or(0) > 100, "{summary:?}");
    trace_bytes(&sim)
}

#[test]
fn same_seed_gives_identical_event_log() {
    let (a, b) = (gossip_trace(7), gossip_trace(7));
    assert!(!a.is_empty());
    assert!(a == b, "two runs with seed 7 differ");
}

#[test]
fn different_seed_gives_different_event_log() {
    assert!(gossip_trace(7) != gossip_trace(8), "seeds 7 and 8 give the same run");
}

// ---------------------------------------------------------------------------
// 6. Independent random streams
// ---------------------------------------------------------------------------

/// Node 0 draws 5 numbers on each of 20 ticks; node 1 draws `other_draws`
/// per tick on ticks that fall between node 0's. Returns node 0's draws,
/// and node 1's.
fn draws(other_draws: u64) -> (Vec<u64>, Vec<u64>) {
    let peers = PeerSource::native(move |i| Drawer {
        first: SimDuration::from_millis(1 + 5 * u64::from(i)),
        ticks: 20,
        per_tick: if i == 0 { 5 } else { other_draws },
        draws: Vec::new(),
    });
    let mut sim = SimulationBuilder::new(40).group(GroupSpec::new("drawers", 2, peers)).build().unwrap();
    run_to_end(&mut sim);
    let read = |node| sim.node_state(node).and_then(|r| r.u64s("draws").map(<[u64]>::to_vec)).unwrap_or_default();
    (read(0), read(1))
}

#[test]
fn node_random_stream_is_unaffected_by_other_nodes_draws() {
    let (alone, none) = draws(0);
    let (beside_busy_node, busy) = draws(50);
    assert_eq!((alone.len(), none.len(), busy.len()), (100, 0, 1000));
    assert_eq!(alone, beside_busy_node, "node 0's draws depend on node 1's");
    assert!(busy.iter().all(|x| !alone.contains(x)), "nodes 0 and 1 share a stream");
}

#[test]
fn timer_only_group_does_not_shift_network_draws() {
    // The network's latency and loss draws are per link and per message, so
    // an extra group whose nodes only set timers and draw from their own
    // streams (added after the pair, so the pair keeps node indices 0 and 1)
    // leaves the pair's latencies and losses exactly as they were.
    let run = |extra: bool| {
        let link = LinkModel { latency: LatencyModel::Pareto { scale: SimDuration::from_millis(5), shape: 2.5 }, loss: 0.3 };
        let mut sender = GroupSpec::new("sender", 1, PeerSource::native(|_| Burst::messages(1, 2_000)));
        sender.uplink = Bandwidth::mbps(10);
        let mut builder =
            SimulationBuilder::new(41).group(sender).group(GroupSpec::new("receiver", 1, PeerSource::native(|_| Sink))).default_link(link);
        if extra {
            let drawers =
                PeerSource::native(|_| Drawer { first: SimDuration::from_micros(500), ticks: 50, per_tick: 10, draws: Vec::new() });
            builder = builder.group(GroupSpec::new("timers", 3, drawers));
        }
        let mut sim = builder.build().unwrap();
        run_to_end(&mut sim);
        trips(&sim).into_iter().map(|t| (t.sent, t.delivered, t.dropped)).collect::<Vec<_>>()
    };
    let (without, with) = (run(false), run(true));
    assert_eq!(without.len(), 2_000);
    assert!(without.iter().any(|t| t.2.is_some()) && without.iter().any(|t| t.1.is_some()));
    assert!(without == with, "a timer-only group changed the pair's latency or loss draws");
}

/// What became of each message, by ordered link, in the order the link
/// carried them: (sent, ended, fate, fault).
type LinkFates = BTreeMap<(NodeIndex, NodeIndex), Vec<(SimTime, Option<SimTime>, Fate, Option<FaultId>)>>;

/// Eight chatter nodes for 100 ticks over lossy log-normal links, with
/// unlimited bandwidth (so a message's delivery time is its send time plus
/// its latency draw, and no queue couples links), under `faults`.
fn chatter_fates(extra: bool, faults: &[Fault]) -> LinkFates {
    let peers = PeerSource::native(move |_| Chatter { nodes: 8, ticks: 100, extra });
    let link = LinkModel { latency: LatencyModel::LogNormal { median: SimDuration::from_millis(30), sigma: 0.8 }, loss: 0.2 };
    let mut builder = SimulationBuilder::new(44).group(GroupSpec::new("peers", 8, peers)).default_link(link).capture(true);
    for fault in faults {
        builder = builder.fault(fault.clone());
    }
    let mut sim = builder.build().unwrap();
    run_to_end(&mut sim);
    let mut fates = LinkFates::new();
    for m in sim.capture().expect("capture is on").messages() {
        fates.entry((m.from(), m.to())).or_default().push((m.sent(), m.ended(), m.fate(), m.fault()));
    }
    fates
}

/// One extra message on link (0, 1) leaves every message of every other
/// link exactly as it was (same send and end times, so the same latency,
/// same fate); on (0, 1) itself the run has one message more.
fn assert_extra_message_changes_only_its_link(faults: &[Fault]) -> LinkFates {
    let (without, with) = (chatter_fates(false, faults), chatter_fates(true, faults));
    assert_eq!(with[&(0, 1)].len(), without[&(0, 1)].len() + 1);
    assert_eq!(without.keys().collect::<Vec<_>>(), with.keys().collect::<Vec<_>>());
    let mut compared = 0;
    for (link, fates) in without.iter().filter(|(link, _)| **link != (0, 1)) {
        assert_eq!(fates.len(), with[link].len(), "link {link:?} carried another number of messages");
        for (n, (a, b)) in fates.iter().zip(&with[link]).enumerate() {
            assert_eq!(a, b, "message {n} on link {link:?} fared otherwise beside the extra message");
        }
        compared += fates.len();
    }
    assert!(compared > 700, "only {compared} messages on the other links");
    without
}

#[test]
fn an_extra_message_on_one_link_leaves_every_other_link_as_it_was() {
    let fates = assert_extra_message_changes_only_its_link(&[]);
    // The draws are random: lost messages and varied latencies.
    let all: Vec<_> = fates.values().flatten().collect();
    let lost = all.iter().filter(|m| m.2 == Fate::Lost).count() as u64;
    assert_binomial("loss rate", lost, all.len() as u64, 0.2);
    let mut latencies: Vec<_> = all.iter().filter_map(|m| m.1.map(|end| end.since(m.0))).collect();
    latencies.sort();
    latencies.dedup();
    assert!(latencies.len() > 500, "{} distinct latencies", latencies.len());
}

#[test]
fn an_extra_message_on_one_link_leaves_every_other_links_fault_draws_as_they_were() {
    // Loss, delay jitter, reordering and duplication all draw for each
    // message from the fault plan's per-link draws; duplicates are further
    // messages on their link.
    let all = Target::default();
    let faults = [
        Fault::new(SimTime::ZERO, all.clone(), FaultKind::Loss { rate: 0.1 }),
        Fault::new(
            SimTime::ZERO,
            all.clone(),
            FaultKind::Delay { added: SimDuration::from_millis(5), jitter: SimDuration::from_millis(20) },
        ),
        Fault::new(SimTime::ZERO, all.clone(), FaultKind::Reorder { rate: 0.2, window: SimDuration::from_millis(50) }),
        Fault::new(SimTime::ZERO, all, FaultKind::Duplicate { rate: 0.1 }),
    ];
    let fates = assert_extra_message_changes_only_its_link(&faults);
    let count = |fate| fates.values().flatten().filter(|m| m.2 == fate).count();
    assert!(
        count(Fate::FaultLoss) > 20 && count(Fate::Lost) > 50,
        "{} fault losses, {} link losses",
        count(Fate::FaultLoss),
        count(Fate::Lost)
    );
    let copies = fates.values().flatten().filter(|m| m.3 == Some(3)).count();
    assert!(copies > 20, "{copies} duplicates");
}
