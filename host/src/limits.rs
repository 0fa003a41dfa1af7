//! Limits the host enforces on what a node asks of it, so that no peer can
//! make the host stall or run out of memory.
//!
//! Every call a handler makes into the host (`send`, `set-timer`, `log`,
//! `publish-state`, `trace`, `complete`, `committed`, and printed output) is
//! checked against [`HostLimits`] *as it happens*, in [`crate::node::NodeContext`]:
//! a call over a limit is refused on the spot, nothing of it is kept, and the
//! refusal is counted. After the event the engine records one
//! [`crate::events::Event::LimitExceeded`] per limit that refused something.
//! Refusals are part of the simulation (the node goes on running); a node
//! that keeps the host busy without letting virtual time advance is crashed
//! ([`crate::node::CrashReason::EventStorm`]).
//!
//! Not here: limits on the guest's own CPU and memory, which the WebAssembly
//! runtime enforces ([`crate::wasm::WasmLimits`]).

/// Limits the host enforces on what one node may ask for.
///
/// ```
/// use peershare::limits::HostLimits;
/// let strict = HostLimits { max_message_bytes: 64 * 1024, ..HostLimits::default() };
/// assert!(strict.max_message_bytes < HostLimits::default().max_message_bytes);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostLimits {
    /// Messages one event may send; further sends are refused.
    pub max_sends_per_event: usize,
    /// Largest message a peer may send, in encoded bytes; a larger send is
    /// refused.
    pub max_message_bytes: usize,
    /// Largest message, in bytes of memory its receiver needs to decode it
    /// ([`peershare_wire::decoded_size`]); larger ones are dropped at send
    /// time as `too-large`, so that one small but dense message cannot
    /// exhaust its receivers' memory.
    pub max_decoded_message_bytes: usize,
    /// Largest published state, trace step, operation outcome or committed
    /// value, in bytes; a larger one is refused (an oversized outcome fails
    /// the operation).
    pub max_record_bytes: usize,
    /// Bytes one event may hand to the host in all (messages, records, log
    /// and output text); calls past it are refused.
    pub max_bytes_per_event: usize,
    /// Host calls one event may make that leave something for the host to
    /// do (sends, timers, logs, ...); calls past it are refused.
    pub max_calls_per_event: usize,
    /// Longest log or output line, in bytes; longer lines are cut, with a
    /// note saying how much was cut.
    pub max_log_line_bytes: usize,
    /// Log and output text one node may write over the whole run; after
    /// that its lines are refused (and counted).
    pub max_log_bytes_per_node: u64,
    /// Timers one node may have pending at once; further `set-timer` calls
    /// are refused and return 0.
    pub max_pending_timers: usize,
    /// Handler calls one node may run within one second of virtual time
    /// (in consecutive one-second windows). A node that exceeds it is
    /// crashed: it is looping without letting virtual time advance (a timer
    /// of 0 ns that re-arms itself, or messages bounced over a link without
    /// latency).
    pub max_handler_calls_per_second: u64,
    /// Bytes one node's durable store may hold ([`crate::storage`]: the
    /// contents reads see plus the writes not yet durable); a write past it
    /// is refused and returns false.
    pub max_storage_bytes_per_node: u64,
}

impl Default for HostLimits {
    fn default() -> Self {
        HostLimits {
            max_sends_per_event: 10_000,
            max_message_bytes: 1 << 20,
            max_decoded_message_bytes: 8 << 20,
            max_record_bytes: 1 << 20,
            max_bytes_per_event: 32 << 20,
            max_calls_per_event: 100_000,
            max_log_line_bytes: 8 << 10,
            max_log_bytes_per_node: 4 << 20,
            max_pending_timers: 10_000,
            max_handler_calls_per_second: 100_000,
            max_storage_bytes_per_node: 64 << 20,
        }
    }
}

/// Which of the [`HostLimits`] refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostLimit {
    /// [`HostLimits::max_sends_per_event`].
    SendsPerEvent,
    /// [`HostLimits::max_message_bytes`].
    MessageBytes,
    /// [`HostLimits::max_record_bytes`].
    RecordBytes,
    /// [`HostLimits::max_bytes_per_event`].
    BytesPerEvent,
    /// [`HostLimits::max_calls_per_event`].
    CallsPerEvent,
    /// [`HostLimits::max_pending_timers`].
    PendingTimers,
    /// [`HostLimits::max_log_bytes_per_node`].
    LogBytesPerNode,
    /// [`HostLimits::max_storage_bytes_per_node`].
    StorageBytesPerNode,
}

impl HostLimit {
    /// Every limit, in the order refusals are reported.
    pub const ALL: [HostLimit; 8] = [
        HostLimit::SendsPerEvent,
        HostLimit::MessageBytes,
        HostLimit::RecordBytes,
        HostLimit::BytesPerEvent,
        HostLimit::CallsPerEvent,
        HostLimit::PendingTimers,
        HostLimit::LogBytesPerNode,
        HostLimit::StorageBytesPerNode,
    ];

    /// The limit's name in logs: `"sends-per-event"`, `"message-bytes"`, ...
    pub fn name(self) -> &'static str {
        match self {
            HostLimit::SendsPerEvent => "sends-per-event",
            HostLimit::MessageBytes => "message-bytes",
            HostLimit::RecordBytes => "record-bytes",
            HostLimit::BytesPerEvent => "bytes-per-event",
            HostLimit::CallsPerEvent => "calls-per-event",
            HostLimit::PendingTimers => "pending-timers",
            HostLimit::LogBytesPerNode => "log-bytes-per-node",
            HostLimit::StorageBytesPerNode => "storage-bytes-per-node",
        }
    }

    /// The limit's value in `limits`.
    pub fn value(self, limits: &HostLimits) -> u64 {
        match self {
            HostLimit::SendsPerEvent => limits.max_sends_per_event as u64,
            HostLimit::MessageBytes => limits.max_message_bytes as u64,
            HostLimit::RecordBytes => limits.max_record_bytes as u64,
            HostLimit::BytesPerEvent => limits.max_bytes_per_event as u64,
            HostLimit::CallsPerEvent => limits.max_calls_per_event as u64,
            HostLimit::PendingTimers => limits.max_pending_timers as u64,
            HostLimit::LogBytesPerNode => limits.max_log_bytes_per_node,
            HostLimit::StorageBytesPerNode => limits.max_storage_bytes_per_node,
        }
    }
}

/// Calls refused under one limit during one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// How many calls.
    pub calls: u64,
    /// How many bytes they carried.
    pub bytes: u64,
}

/// What one event has used of a node's allowance, and what was refused.
#[derive(Clone, Debug, Default)]
pub(crate) struct Allowance {
    /// Sends so far in this event.
    pub sends: usize,
    /// Host calls that left an effect so far.
    pub calls: usize,
    /// Bytes handed over so far.
    pub bytes: usize,
    /// Timers pending, counting those set in this event.
    pub pending_timers: usize,
    /// Refusals per limit, in [`HostLimit::ALL`] order.
    pub refused: [Refused; HostLimit::ALL.len()],
}

impl Allowance {
    /// Counts a refused call of `bytes` under `limit`.
    pub fn refuse(&mut self, limit: HostLimit, bytes: usize) {
        let slot = &mut self.refused[limit as usize];
        slot.calls += 1;
        slot.bytes += bytes as u64;
    }

    /// Checks a call carrying `bytes` against the per-event call and byte
    /// allowance, and takes it from the allowance if it fits.
    pub fn admit(&mut self, limits: &HostLimits, bytes: usize) -> bool {
        if self.calls >= limits.max_calls_per_event {
            self.refuse(HostLimit::CallsPerEvent, bytes);
            return false;
        }
        if self.bytes.saturating_add(bytes) > limits.max_bytes_per_event {
            self.refuse(HostLimit::BytesPerEvent, bytes);
            return false;
        }
        self.calls += 1;
        self.bytes += bytes;
        true
    }
}

/// Counts a node's handler calls in consecutive one-second windows of
/// virtual time, to catch a node that never lets time advance.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallRate {
    window_start: u64,
    calls: u64,
}

impl CallRate {
    /// Counts one call at `now_ns`; false if it is over `limit` in its window.
    pub fn admit(&mut self, now_ns: u64, limit: u64) -> bool {
        if now_ns >= self.window_start.saturating_add(1_000_000_000) {
            self.window_start = now_ns;
            self.calls = 0;
        }
        self.calls += 1;
        self.calls <= limit
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with a note
/// saying how much was cut; `None` if it fits. The cut line is a new, small
/// allocation, so nothing of a long line is kept.
pub(crate) fn cut_line(text: &str, max: usize) -> Option<String> {
    if text.len() <= max {
        return None;
    }
    let total = text.len();
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{} [line cut: {} of {total} bytes not kept]", &text[..end], total - end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_at_a_character_boundary_with_a_note() {
        let cut = cut_line("ééééé", 5).unwrap();
        assert_eq!(cut, "éé [line cut: 6 of 10 bytes not kept]");
        assert!(cut_line(&"x".repeat(1 << 20), 10).unwrap().capacity() < 100, "the long line's memory is not kept");
        assert_eq!(cut_line("short", 5), None);
    }

    #[test]
    fn the_call_rate_resets_each_second_of_virtual_time() {
        let mut rate = CallRate::default();
        assert!((0..3).all(|_| rate.admit(5, 3)));
        assert!(!rate.admit(999_999_999, 3));
        assert!(rate.admit(1_000_000_000, 3), "a new window starts at 1 s");
    }

    #[test]
    fn the_allowance_refuses_past_the_byte_and_call_budgets() {
        let limits = HostLimits { max_bytes_per_event: 10, max_calls_per_event: 3, ..HostLimits::default() };
        let mut a = Allowance::default();
        assert!(a.admit(&limits, 6));
        assert!(!a.admit(&limits, 5), "6 + 5 bytes is over 10");
        assert!(a.admit(&limits, 4));
        assert!(a.admit(&limits, 0));
        assert!(!a.admit(&limits, 0), "a fourth call is over 3");
        assert_eq!(a.refused[HostLimit::BytesPerEvent as usize], Refused { calls: 1, bytes: 5 });
        assert_eq!(a.refused[HostLimit::CallsPerEvent as usize], Refused { calls: 1, bytes: 0 });
    }
}
