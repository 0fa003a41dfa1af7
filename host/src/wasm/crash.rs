//! Turning what ended a guest call into a readable [`CrashReason`]: one
//! line, naming the guest function where it can.

use super::runtime::BlockingCall;
use crate::node::CrashReason;
use wasmtime::{Trap, WasmBacktrace};
use wasmtime_wasi::I32Exit;

/// Frames a backtrace needs, three quarters of them one function, to count
/// a memory fault as a stack overflow from deep recursion. (A Rust guest's
/// 128 KiB stack holds about 20 frames of a function with a 6 KiB frame.)
const RECURSION_FRAMES: usize = 16;

/// Why a guest call failed. `memory_exceeded` says the memory limiter
/// refused growth; `stderr` holds the lines the guest wrote to stderr in
/// that call (a Rust panic's message arrives there).
pub(crate) fn classify(error: &wasmtime::Error, memory_exceeded: bool, stderr: &[String]) -> CrashReason {
    if memory_exceeded {
        return CrashReason::MemoryLimit;
    }
    if let Some(exit) = error.downcast_ref::<I32Exit>() {
        return CrashReason::Exited(exit.0);
    }
    if let Some(blocking) = error.downcast_ref::<BlockingCall>() {
        return CrashReason::Blocked(blocking.0.to_string());
    }
    let backtrace = error.downcast_ref::<WasmBacktrace>();
    let place = backtrace.and_then(innermost_function).map(|f| format!(" in {f}")).unwrap_or_default();
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => CrashReason::OutOfFuel,
        Some(Trap::StackOverflow) => CrashReason::StackOverflow,
        Some(Trap::Interrupt) => CrashReason::WallClockLimit,
        Some(Trap::UnreachableCodeReached) => {
            if stderr.iter().any(|l| l.starts_with("memory allocation of")) {
                return CrashReason::MemoryLimit;
            }
            match stderr.iter().position(|l| l.contains("panicked at")) {
                Some(i) => CrashReason::Panic(stderr[i..].join("\n")),
                None => CrashReason::Trap(format!("unreachable code reached{place} (an abort, or a panic whose message was not printed)")),
            }
        }
        // A Rust guest's stack lives at the bottom of its linear memory and
        // grows down: overflowing it wraps below address 0, which is an
        // out-of-bounds access, not a stack-overflow trap.
        Some(Trap::MemoryOutOfBounds) if backtrace.is_some_and(is_deep_recursion) => CrashReason::StackOverflow,
        Some(Trap::MemoryOutOfBounds) => CrashReason::Trap(format!("out-of-bounds memory access{place}")),
        Some(trap) => CrashReason::Trap(format!("{trap}{place}")),
        // Not a trap: a host call failed. Its message, without the chain of
        // context and the backtrace.
        None => CrashReason::Trap(format!("{}{place}", first_line(&error.to_string()))),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// The name of the innermost guest function with a name, demangled.
fn innermost_function(backtrace: &WasmBacktrace) -> Option<String> {
    let name = backtrace.frames().iter().find_map(|f| f.func_name())?;
    Some(format!("{:#}", rustc_demangle::demangle(name)))
}

/// Whether the backtrace is deep and three quarters one function.
fn is_deep_recursion(backtrace: &WasmBacktrace) -> bool {
    let frames = backtrace.frames();
    if frames.len() < RECURSION_FRAMES {
        return false;
    }
    let mut counts = std::collections::BTreeMap::new();
    for f in frames {
        *counts.entry((f.module().name().map(str::to_owned), f.func_index())).or_insert(0usize) += 1;
    }
    counts.values().max().is_some_and(|&most| most * 4 >= frames.len() * 3)
}
