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

#[test]
fn a_run_in_chunks_gives_the_same_trace_as_one_run() {
    let scenario = example("flood.toml");
    let whole = trace_bytes(&run(&scenario));
    let mut sim = scenario.build().unwrap();
    let mut chunks = 0;
    while !sim.run_until_at_most(scenario.end(), 997).unwrap() {
        chunks += 1;
    }
    assert!(chunks > 10, "the run took {chunks} chunks");
    assert_eq!(sim.now(), scenario.end(), "the clock ends at the end, like run_until");
    assert!(trace_bytes(&sim) == whole, "chunked and whole runs differ");
    assert!(sim.run_until_at_most(scenario.end(), 1).unwrap(), "nothing is left up to the end");
}
