//! The `host` interface as seen from inside a guest: every call becomes an
//! effect in the node's context or a read of it.

use super::peershare::sim::{host, types};
use super::plugin::NodeState;
use crate::node::Level;
use crate::time::SimDuration;

impl types::Host for NodeState {}

impl host::Host for NodeState {
    fn send(&mut self, to: types::NodeIndex, message: Vec<u8>) {
        self.ctx.send(to, message);
    }

    fn now(&mut self) -> types::Nanos {
        self.ctx.now().as_nanos()
    }

    fn set_timer(&mut self, delay: types::Nanos, tag: u64) -> u64 {
        self.ctx.set_timer(SimDuration(delay), tag)
    }

    fn cancel_timer(&mut self, timer: u64) {
        self.ctx.cancel_timer(timer);
    }

    fn random_u64(&mut self) -> u64 {
        self.ctx.random_u64()
    }

    fn log(&mut self, level: types::Level, text: String) {
        let level = match level {
            types::Level::Debug => Level::Debug,
            types::Level::Info => Level::Info,
            types::Level::Warn => Level::Warn,
            types::Level::Error => Level::Error,
        };
        self.ctx.log(level, text);
    }

    fn publish_state(&mut self, state: Vec<u8>) {
        self.ctx.publish_state(state);
    }

    fn complete(&mut self, op: types::OpId, ok: bool, outcome: Vec<u8>) {
        self.ctx.complete(op, ok, outcome);
    }

    fn trace(&mut self, op: types::OpId, step: Vec<u8>) {
        self.ctx.trace(op, step);
    }

    fn committed(&mut self, index: u64, value: Vec<u8>) {
        self.ctx.committed(index, value);
    }
}
