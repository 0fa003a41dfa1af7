//! The `host` interface as seen from inside a guest: every call becomes an
//! effect in the node's context or a read of it.

use super::peershare::sim::{host, signing, storage, types};
use super::plugin::NodeState;
use crate::limits::cut_line;
use crate::node::{Level, RecordCall};
use crate::time::SimDuration;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, WasmList, WasmStr};

impl types::Host for NodeState {}

fn level_of(level: types::Level) -> Level {
    match level {
        types::Level::Debug => Level::Debug,
        types::Level::Info => Level::Info,
        types::Level::Warn => Level::Warn,
        types::Level::Error => Level::Error,
    }
}

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
        self.ctx.log(level_of(level), text);
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

/// Replaces the `host` calls that hand over bytes (send, log, publish-state,
/// complete, trace, committed) and `storage.put` with versions that read the guest's memory
/// in place: the limits are checked on the length first, and only what is
/// kept is copied, so a refused 15 MB call costs nothing. The generated
/// versions above stay as the trait requires; these shadow them.
pub(crate) fn add_borrowing_calls(linker: &mut Linker<NodeState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut host = linker.instance("peershare:sim/host@0.1.0")?;
    host.func_wrap("send", |mut store: StoreContextMut<'_, NodeState>, (to, message): (u32, WasmList<u8>)| {
        if store.data_mut().ctx.admit_send(message.len()) {
            let bytes = message.as_le_slice(&store).to_vec();
            store.data_mut().ctx.push_send(to, bytes);
        }
        Ok(())
    })?;
    host.func_wrap("log", |mut store: StoreContextMut<'_, NodeState>, (level, text): (types::Level, WasmStr)| {
        let max = store.data().ctx.limits().max_log_line_bytes;
        let kept = {
            let text = text.to_str(&store)?;
            cut_line(&text, max).unwrap_or_else(|| text.into_owned())
        };
        store.data_mut().ctx.keep_log(level_of(level), kept);
        Ok(())
    })?;
    host.func_wrap("publish-state", |store: StoreContextMut<'_, NodeState>, (state,): (WasmList<u8>,)| {
        record_call(store, RecordCall::State, &state);
        Ok(())
    })?;
    host.func_wrap("trace", |store: StoreContextMut<'_, NodeState>, (op, step): (u64, WasmList<u8>)| {
        record_call(store, RecordCall::Trace(op), &step);
        Ok(())
    })?;
    host.func_wrap("committed", |store: StoreContextMut<'_, NodeState>, (index, value): (u64, WasmList<u8>)| {
        record_call(store, RecordCall::Committed(index), &value);
        Ok(())
    })?;
    host.func_wrap("complete", |mut store: StoreContextMut<'_, NodeState>, (op, ok, outcome): (u64, bool, WasmList<u8>)| {
        if store.data_mut().ctx.admit_record(outcome.len()) {
            let bytes = outcome.as_le_slice(&store).to_vec();
            store.data_mut().ctx.push_complete(op, ok, bytes);
        } else {
            store.data_mut().ctx.complete_refused(op, outcome.len());
        }
        Ok(())
    })?;
    linker.allow_shadowing(false);
    add_borrowing_storage_calls(linker)
}

/// Checks a record call's length, then copies and keeps it if admitted.
fn record_call(mut store: StoreContextMut<'_, NodeState>, call: RecordCall, bytes: &WasmList<u8>) {
    if store.data_mut().ctx.admit_record(bytes.len()) {
        let bytes = bytes.as_le_slice(&store).to_vec();
        store.data_mut().ctx.push_record(call, bytes);
    }
}

impl storage::Host for NodeState {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.ctx.storage_put(key, value)
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.ctx.storage_delete(&key);
    }

    fn get(&mut self, key: Vec<u8>) -> Option<Vec<u8>> {
        self.ctx.storage_get(&key).map(<[u8]>::to_vec)
    }

    fn keys(&mut self, prefix: Vec<u8>) -> Vec<Vec<u8>> {
        self.ctx.storage_keys(&prefix)
    }

    fn sync(&mut self, tag: u64) -> u64 {
        self.ctx.storage_sync(tag)
    }
}

impl signing::Host for NodeState {
    fn sign(&mut self, data: Vec<u8>) -> Vec<u8> {
        self.ctx.sign(&data)
    }

    fn verify(&mut self, signer: u32, data: Vec<u8>, signature: Vec<u8>) -> bool {
        self.ctx.verify(signer, &data, &signature)
    }
}

/// Replaces `storage.put` with a version that checks the limits on the
/// lengths before it copies the key and value out of the guest.
fn add_borrowing_storage_calls(linker: &mut Linker<NodeState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut storage = linker.instance("peershare:sim/storage@0.1.0")?;
    storage.func_wrap("put", |mut store: StoreContextMut<'_, NodeState>, (key, value): (WasmList<u8>, WasmList<u8>)| {
        let (key_len, value_len) = (key.len(), value.len());
        let cost = store.data().ctx.storage_write_cost(key.as_le_slice(&store), value_len);
        if !store.data_mut().ctx.admit_storage_write(key_len, value_len, cost) {
            return Ok((false,));
        }
        let (k, v) = (key.as_le_slice(&store).to_vec(), value.as_le_slice(&store).to_vec());
        store.data_mut().ctx.storage_put_admitted(k, v);
        Ok((true,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
