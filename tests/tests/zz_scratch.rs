#![allow(dead_code, unused_imports)]
mod nm {
    include!("/tmp/nm_body.rs");

    fn z(xs: &[f64], m: &Moments) -> (f64, f64) {
        let n = xs.len() as f64;
        let (mean, var) = mean_and_variance(xs);
        ((mean - m.mean) / (m.variance / n).sqrt(), (var - m.variance) / ((m.fourth - m.variance.powi(2)) / n).sqrt())
    }
    fn zq(xs: &[f64], q: f64, x: f64) -> f64 {
        let n = xs.len() as f64;
        let b = xs.iter().filter(|&&v| v <= x).count() as f64;
        (b / n - q) / (q * (1.0 - q) / n).sqrt()
    }

    #[test]
    fn seeds() {
        let handles: Vec<_> = (0..8u64).map(|t| std::thread::spawn(move || {
            let mut out = Vec::new();
            for seed in (t * 5)..(t * 5 + 5) {
                let u = latency_samples(seed, LatencyModel::Uniform { min: SimDuration::from_millis(10), max: SimDuration::from_millis(30) }, LATENCY_SAMPLES);
                let (a, b) = (10e6f64, 30e6f64);
                let zu = z(&u, &Moments { mean: 20e6, variance: (b - a).powi(2) / 12.0, fourth: (b - a).powi(4) / 80.0 });
                let nrm = latency_samples(seed, LatencyModel::Normal { mean: SimDuration::from_millis(100), std_dev: SimDuration::from_millis(10) }, LATENCY_SAMPLES);
                let zn = z(&nrm, &Moments { mean: 100e6, variance: 1e14, fourth: 3e28 });
                let l = latency_samples(seed, LatencyModel::LogNormal { median: SimDuration::from_millis(50), sigma: 0.4 }, LATENCY_SAMPLES);
                let (median, s) = (50e6f64, 0.4f64); let s2 = s*s;
                let variance = (s2.exp() - 1.0) * median.powi(2) * s2.exp();
                let k = (4.0 * s2).exp() + 2.0 * (3.0 * s2).exp() + 3.0 * (2.0 * s2).exp() - 3.0;
                let zl = z(&l, &Moments { mean: median * (s2 / 2.0).exp(), variance, fourth: k * variance.powi(2) });
                let p = latency_samples(seed, LatencyModel::Pareto { scale: SimDuration::from_millis(10), shape: 3.0 }, LATENCY_SAMPLES);
                let zp = z(&p, &Moments { mean: 15e6, variance: 75e12, fourth: 1e40 }).0;
                let zpq: Vec<f64> = [0.5, 0.9, 0.99].iter().map(|&q| zq(&p, q, 10e6 * (1.0f64 - q).powf(-1.0 / 3.0))).collect();
                out.push(format!("seed {seed}: U {:.2} {:.2} N {:.2} {:.2} L {:.2} {:.2} {:.2} P {:.2} {:.2?}", zu.0, zu.1, zn.0, zn.1, zl.0, zl.1, zq(&l, 0.5, median), zp, zpq));
            }
            out
        })).collect();
        for h in handles { for l in h.join().unwrap() { println!("{l}"); } }
    }
}
