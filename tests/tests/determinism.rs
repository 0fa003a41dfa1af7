//! Same seed, same scenario, same plugins: the same trace, byte for byte.

use peershare_e2e::{example, run, trace_bytes};

#[test]
fn same_seed_gives_byte_identical_traces() {
    let a = trace_bytes(&run(&example("flood.toml")));
    let b = trace_bytes(&run(&example("flood.toml")));
    assert!(a.len() > 100_000, "the flood example produces a substantial trace ({} bytes)", a.len());
    assert!(a == b, "two runs with seed 42 differ");
}

#[test]
fn another_seed_gives_another_trace() {
    let a = trace_bytes(&run(&example("flood.toml")));
    let b = trace_bytes(&run(&example("flood.toml").with_seed(43)));
    assert_ne!(a, b);
}
