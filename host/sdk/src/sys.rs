//! The host calls, in one place: on WebAssembly they go to the simulator;
//! natively they are recorded by [`crate::testing`], so peers can be
//! unit-tested without a simulator.

use crate::context::Level;

#[cfg(target_family = "wasm")]
mod imp {
    use super::Level;
    use crate::bindings::peershare::sim::{host, signing, storage, types};

    pub fn send(to: u32, bytes: &[u8]) {
        host::send(to, bytes);
    }
    pub fn now() -> u64 {
        host::now()
    }
    pub fn set_timer(delay: u64, tag: u64) -> u64 {
        host::set_timer(delay, tag)
    }
    pub fn cancel_timer(handle: u64) {
        host::cancel_timer(handle);
    }
    pub fn random_u64() -> u64 {
        host::random_u64()
    }
    pub fn log(level: Level, text: &str) {
        let level = match level {
            Level::Debug => types::Level::Debug,
            Level::Info => types::Level::Info,
            Level::Warn => types::Level::Warn,
            Level::Error => types::Level::Error,
        };
        host::log(level, text);
    }
    pub fn publish_state(bytes: &[u8]) {
        host::publish_state(bytes);
    }
    pub fn complete(op: u64, ok: bool, bytes: &[u8]) {
        host::complete(op, ok, bytes);
    }
    pub fn trace(op: u64, bytes: &[u8]) {
        host::trace(op, bytes);
    }
    pub fn committed(index: u64, bytes: &[u8]) {
        host::committed(index, bytes);
    }
    pub fn sign(data: &[u8]) -> Vec<u8> {
        signing::sign(data)
    }
    pub fn verify(signer: u32, data: &[u8], signature: &[u8]) -> bool {
        signing::verify(signer, data, signature)
    }
    pub fn storage_put(key: &[u8], value: &[u8]) -> bool {
        storage::put(key, value)
    }
    pub fn storage_delete(key: &[u8]) {
        storage::delete(key);
    }
    pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        storage::get(key)
    }
    pub fn storage_keys(prefix: &[u8]) -> Vec<Vec<u8>> {
        storage::keys(prefix)
    }
    pub fn storage_sync(tag: u64) -> u64 {
        storage::sync(tag)
    }
}

#[cfg(not(target_family = "wasm"))]
mod imp {
    use super::Level;
    use crate::testing::{Effect, record, with_host};
    use crate::{Record, Step};

    fn decoded(bytes: &[u8]) -> Record {
        Record::decode(bytes).unwrap_or_else(|e| Record::new("malformed").with("error", e.to_string()))
    }

    pub fn send(to: u32, bytes: &[u8]) {
        record(Effect::Sent { to, message: decoded(bytes) });
    }
    pub fn now() -> u64 {
        with_host(|h| h.now)
    }
    pub fn set_timer(delay: u64, tag: u64) -> u64 {
        let handle = with_host(|h| {
            h.next_handle += 1;
            h.next_handle
        });
        record(Effect::TimerSet { handle, delay, tag });
        handle
    }
    pub fn cancel_timer(handle: u64) {
        record(Effect::TimerCancelled { handle });
    }
    pub fn random_u64() -> u64 {
        with_host(|h| h.random())
    }
    pub fn log(level: Level, text: &str) {
        record(Effect::Log { level, text: text.to_string() });
    }
    pub fn publish_state(bytes: &[u8]) {
        record(Effect::Published(decoded(bytes)));
    }
    pub fn complete(op: u64, ok: bool, bytes: &[u8]) {
        record(Effect::Completed { op, ok, outcome: decoded(bytes) });
    }
    pub fn trace(op: u64, bytes: &[u8]) {
        record(Effect::Traced { op, step: Step::from_record(decoded(bytes)) });
    }
    pub fn committed(index: u64, bytes: &[u8]) {
        record(Effect::Committed { index, value: bytes.to_vec() });
    }
    pub fn sign(data: &[u8]) -> Vec<u8> {
        with_host(|h| {
            let me = h.me;
            h.signatures.sign(me, data)
        })
    }
    pub fn verify(signer: u32, data: &[u8], signature: &[u8]) -> bool {
        with_host(|h| h.signatures.verify(signer, data, signature))
    }
    pub fn storage_put(key: &[u8], value: &[u8]) -> bool {
        with_host(|h| h.disk.put(key, value));
        true
    }
    pub fn storage_delete(key: &[u8]) {
        with_host(|h| h.disk.delete(key));
    }
    pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
        with_host(|h| h.disk.get(key))
    }
    pub fn storage_keys(prefix: &[u8]) -> Vec<Vec<u8>> {
        with_host(|h| h.disk.keys(prefix))
    }
    pub fn storage_sync(tag: u64) -> u64 {
        with_host(|h| h.disk.start_sync(tag));
        let handle = with_host(|h| {
            h.next_handle += 1;
            h.next_handle
        });
        record(Effect::Synced { handle, tag });
        handle
    }
}

pub(crate) use imp::*;
