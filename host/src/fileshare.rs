//! Peer-to-peer file sharing on top of any discovery plugin.
//!
//! A file is split into chunks of `chunk_size` bytes, each addressed by its
//! SHA-256 hash; a manifest (a record of kind "manifest": name, size, chunk
//! size, chunk hashes) describes the file, and the file's key is the
//! manifest's SHA-256 hash truncated to the network's id length.
//!
//! - `publish` (request field `file`): the node gets the whole file and
//!   announces itself as a provider of the key through the peer's discovery
//!   interface.
//! - `download` (request field `file`): find providers through the peer,
//!   fetch the manifest from one, then the chunks from several providers in
//!   parallel as real simulated transfers (they use the bandwidth model).
//!   Every chunk's hash is checked; a bad hash, a timeout or a gone provider
//!   makes the chunk be fetched again from another provider, and a provider
//!   that served a corrupt chunk is avoided from then on. The result records
//!   the bytes, the providers used, the retries and the corrupt chunks seen.
//!
//! Only the discovery interface is used, so any discovery plugin can be
//! compared on the same workload. File contents are drawn from the run's
//! seed; nodes of the groups listed in `corrupt_groups` serve chunks with one
//! byte flipped (a Byzantine provider).

use crate::NodeIndex;
use crate::app::{AppContext, Application};
use crate::node::{OpId, Operation};
use crate::rng::{SeedTree, SimRng};
use crate::time::SimDuration;
use peershare_wire::{Record, Value};
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A file that the workload can publish and download.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSpec {
    /// Its name, used by `publish` and `download` requests.
    pub name: String,
    /// Its size in bytes.
    pub size: usize,
}

/// Settings of the file-sharing application.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSharingConfig {
    /// The files.
    pub files: Vec<FileSpec>,
    /// Chunk size in bytes.
    pub chunk_size: usize,
    /// Chunk requests in flight per download.
    pub parallel: usize,
    /// How long to wait for a chunk before asking another provider.
    pub request_timeout: SimDuration,
    /// Length of keys in bytes (the network's id length).
    pub key_bytes: usize,
    /// Nodes that serve corrupt chunks.
    pub corrupt_nodes: BTreeSet<NodeIndex>,
    /// Whether a node that finished a download announces itself as a
    /// provider.
    pub reseed: bool,
}

impl Default for FileSharingConfig {
    fn default() -> Self {
        FileSharingConfig {
            files: Vec::new(),
            chunk_size: 256 * 1024,
            parallel: 4,
            request_timeout: SimDuration::from_secs(30),
            key_bytes: 20,
            corrupt_nodes: BTreeSet::new(),
            reseed: false,
        }
    }
}

/// A file's content, cut into chunks, and its manifest.
#[derive(Debug)]
struct SharedFile {
    chunks: Vec<Arc<[u8]>>,
    hashes: Vec<Vec<u8>>,
    manifest: Vec<u8>,
    key: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

impl SharedFile {
    fn new(spec: &FileSpec, chunk_size: usize, key_bytes: usize, rng: &mut SimRng) -> Self {
        let mut content = vec![0u8; spec.size];
        rng.fill_bytes(&mut content);
        let chunks: Vec<Arc<[u8]>> = content.chunks(chunk_size.max(1)).map(Arc::from).collect();
        let hashes: Vec<Vec<u8>> = chunks.iter().map(|c| sha256(c)).collect();
        let manifest = Record::new("manifest")
            .with("name", spec.name.as_str())
            .with("size", spec.size as u64)
            .with("chunk_size", chunk_size as u64)
            .with("chunks", Value::Ids(hashes.clone()))
            .encode();
        let mut key = sha256(&manifest);
        key.resize(key_bytes, 0);
        SharedFile { chunks, hashes, manifest, key }
    }
}

/// How one chunk of a download stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    Missing,
    Requested { from: NodeIndex, attempt: u64 },
    Done,
}

#[derive(Debug, Default)]
struct ProviderState {
    in_flight: usize,
    /// Avoided: it served corrupt data (for good) or failed twice in a row
    /// (until the providers are looked up again).
    bad: bool,
    corrupt: bool,
    failures: u32,
}

#[derive(Debug)]
enum Phase {
    FindingProviders,
    FetchingManifest { from: NodeIndex, attempt: u64 },
    Fetching,
}

#[derive(Debug)]
struct Download {
    node: NodeIndex,
    file: usize,
    phase: Phase,
    providers: BTreeMap<NodeIndex, ProviderState>,
    chunks: Vec<ChunkState>,
    bytes: u64,
    retries: u64,
    corrupt: u64,
    sources: BTreeSet<NodeIndex>,
    refreshes: u32,
}

/// The file-sharing application (see the module documentation).
#[derive(Debug)]
pub struct FileSharing {
    config: FileSharingConfig,
    files: Vec<SharedFile>,
    /// Which nodes hold which files (all chunks).
    holders: BTreeMap<NodeIndex, BTreeSet<usize>>,
    downloads: BTreeMap<OpId, Download>,
    /// Peer operations in progress: (app operation, purpose).
    peer_ops: BTreeMap<OpId, (OpId, PeerPurpose)>,
    next_attempt: u64,
}

#[derive(Debug, Clone, Copy)]
enum PeerPurpose {
    Announce,
    FindProviders,
    Reseed,
}

/// Message kinds of the application (all start with "fs.").
const GET_MANIFEST: &str = "fs.get-manifest";
const MANIFEST: &str = "fs.manifest";
const GET_CHUNK: &str = "fs.get-chunk";
/// The kind of the message that carries one chunk's bytes (field `data`).
pub const CHUNK: &str = "fs.chunk";
const MISSING: &str = "fs.missing";

impl FileSharing {
    /// The application for a run with this seed.
    pub fn new(config: FileSharingConfig, seed: u64) -> Self {
        let mut rng = SeedTree::new(seed).stream(crate::rng::Stream::Content);
        let files = config
            .files
            .iter()
            .map(|spec| {
                let mut file_rng = SimRng::seed_from_u64(rng.next_u64());
                SharedFile::new(spec, config.chunk_size, config.key_bytes, &mut file_rng)
            })
            .collect();
        FileSharing { config, files, holders: BTreeMap::new(), downloads: BTreeMap::new(), peer_ops: BTreeMap::new(), next_attempt: 0 }
    }

    /// The key under which a file is announced.
    pub fn key_of(&self, name: &str) -> Option<&[u8]> {
        self.file_index(name).map(|i| self.files[i].key.as_slice())
    }

    fn file_index(&self, name: &str) -> Option<usize> {
        self.config.files.iter().position(|f| f.name == name)
    }

    fn file_by_key(&self, key: &[u8]) -> Option<usize> {
        self.files.iter().position(|f| f.key == key)
    }

    fn holds(&self, node: NodeIndex, file: usize) -> bool {
        self.holders.get(&node).is_some_and(|f| f.contains(&file))
    }

    fn fail(&mut self, ctx: &mut AppContext, op: OpId, reason: String) {
        if let Some(d) = self.downloads.remove(&op) {
            ctx.complete(op, false, stats(&d).with("reason", reason));
        }
    }

    /// Sends chunk requests while fewer than `parallel` are in flight.
    fn request_chunks(&mut self, ctx: &mut AppContext, op: OpId) {
        let parallel = self.config.parallel.max(1);
        let timeout = self.config.request_timeout;
        let Some(d) = self.downloads.get_mut(&op) else { return };
        if d.chunks.iter().all(|c| *c == ChunkState::Done) {
            let d = self.downloads.remove(&op).expect("present");
            let (node, file) = (d.node, d.file);
            ctx.complete(op, true, stats(&d));
            self.holders.entry(node).or_default().insert(file);
            if self.config.reseed {
                let lookup = ctx.peer_operation(node, Operation::Announce { key: self.files[file].key.clone() });
                self.peer_ops.insert(lookup, (op, PeerPurpose::Reseed));
            }
            return;
        }
        let mut in_flight = d.chunks.iter().filter(|c| matches!(c, ChunkState::Requested { .. })).count();
        for i in 0..d.chunks.len() {
            if in_flight >= parallel {
                break;
            }
            if d.chunks[i] != ChunkState::Missing {
                continue;
            }
            // The good provider with the fewest requests in flight.
            let Some((&from, _)) = d.providers.iter().filter(|(_, p)| !p.bad).min_by_key(|(n, p)| (p.in_flight, p.failures, **n)) else {
                break;
            };
            self.next_attempt += 1;
            let attempt = self.next_attempt;
            d.chunks[i] = ChunkState::Requested { from, attempt };
            d.providers.get_mut(&from).expect("chosen from the map").in_flight += 1;
            in_flight += 1;
            let hash = self.files[d.file].hashes[i].clone();
            ctx.send(d.node, from, Record::new(GET_CHUNK).with("op", op).with("chunk", i as u64).with("hash", Value::Id(hash)));
            ctx.set_timer(d.node, timeout, attempt);
        }
        if in_flight == 0 {
            // No good provider left: look for providers again, a few times.
            let d = self.downloads.get_mut(&op).expect("present");
            if d.refreshes < 3 {
                d.refreshes += 1;
                let key = self.files[d.file].key.clone();
                let lookup = ctx.peer_operation(d.node, Operation::FindProviders { key });
                d.phase = Phase::FindingProviders;
                self.peer_ops.insert(lookup, (op, PeerPurpose::FindProviders));
            } else {
                self.fail(ctx, op, "no provider could serve the missing chunks".into());
            }
        }
    }

    fn ask_manifest(&mut self, ctx: &mut AppContext, op: OpId) {
        let timeout = self.config.request_timeout;
        let Some(d) = self.downloads.get_mut(&op) else { return };
        let Some((&from, _)) = d.providers.iter().filter(|(_, p)| !p.bad).min_by_key(|(n, p)| (p.failures, **n)) else {
            return self.fail(ctx, op, "no provider answered with the manifest".into());
        };
        self.next_attempt += 1;
        let attempt = self.next_attempt;
        d.phase = Phase::FetchingManifest { from, attempt };
        let key = self.files[d.file].key.clone();
        ctx.send(d.node, from, Record::new(GET_MANIFEST).with("op", op).with("key", Value::Id(key)));
        ctx.set_timer(d.node, timeout, attempt);
    }

    fn serve(&self, ctx: &mut AppContext, node: NodeIndex, from: NodeIndex, message: &Record) {
        let op = message.u64("op").unwrap_or(0);
        match message.kind.as_str() {
            GET_MANIFEST => {
                let key = message.id("key").unwrap_or_default();
                match self.file_by_key(key).filter(|&f| self.holds(node, f)) {
                    Some(f) => ctx.send(node, from, Record::new(MANIFEST).with("op", op).with("manifest", self.files[f].manifest.clone())),
                    None => ctx.send(node, from, Record::new(MISSING).with("op", op)),
                }
            }
            GET_CHUNK => {
                let chunk = message.u64("chunk").unwrap_or(0) as usize;
                let hash = message.id("hash").unwrap_or_default();
                let found = self
                    .files
                    .iter()
                    .enumerate()
                    .find(|(f, file)| file.hashes.get(chunk).is_some_and(|h| h == hash) && self.holds(node, *f));
                match found {
                    Some((_, file)) => {
                        let mut data = file.chunks[chunk].to_vec();
                        if self.config.corrupt_nodes.contains(&node)
                            && let Some(b) = data.first_mut()
                        {
                            *b ^= 0xFF;
                        }
                        ctx.send(node, from, Record::new(CHUNK).with("op", op).with("chunk", chunk as u64).with("data", data));
                    }
                    None => ctx.send(node, from, Record::new(MISSING).with("op", op).with("chunk", chunk as u64)),
                }
            }
            _ => {}
        }
    }

    /// A chunk request ended: with data (checked here), or without (a
    /// timeout or a "missing" answer).
    fn chunk_done(&mut self, ctx: &mut AppContext, op: OpId, from: NodeIndex, chunk: usize, data: Option<&[u8]>) {
        let Some(d) = self.downloads.get_mut(&op) else { return };
        let Some(ChunkState::Requested { from: asked, .. }) = d.chunks.get(chunk).copied() else { return };
        if asked != from {
            return;
        }
        let provider = d.providers.entry(from).or_default();
        provider.in_flight = provider.in_flight.saturating_sub(1);
        match data {
            Some(bytes) if sha256(bytes) == self.files[d.file].hashes[chunk] => {
                provider.failures = 0;
                d.chunks[chunk] = ChunkState::Done;
                d.bytes += bytes.len() as u64;
                d.sources.insert(from);
            }
            Some(_) => {
                d.corrupt += 1;
                d.retries += 1;
                provider.bad = true;
                provider.corrupt = true;
                d.chunks[chunk] = ChunkState::Missing;
            }
            None => {
                d.retries += 1;
                provider.failures += 1;
                if provider.failures >= 2 {
                    provider.bad = true;
                }
                d.chunks[chunk] = ChunkState::Missing;
            }
        }
        self.request_chunks(ctx, op);
    }
}

fn stats(d: &Download) -> Record {
    Record::new("download")
        .with("bytes", d.bytes)
        .with("chunks_done", d.chunks.iter().filter(|c| **c == ChunkState::Done).count() as u64)
        .with("chunks", d.chunks.len() as u64)
        .with("sources", Value::Nodes(d.sources.iter().copied().collect()))
        .with("retries", d.retries)
        .with("corrupt_chunks", d.corrupt)
}

impl Application for FileSharing {
    fn check_request(&self, request: &Record) -> Result<(), String> {
        match request.kind.as_str() {
            "publish" | "download" => match request.str("file") {
                Some(name) if self.file_index(name).is_some() => Ok(()),
                Some(name) => Err(format!("no file is named {name:?}")),
                None => Err(format!("a {} request needs a `file`", request.kind)),
            },
            other => Err(format!("file sharing has no operation {other:?} (use publish or download)")),
        }
    }

    fn start(&mut self, ctx: &mut AppContext, op: OpId, node: NodeIndex, request: &Record) {
        let Some(file) = request.str("file").and_then(|n| self.file_index(n)) else {
            ctx.complete(op, false, Record::new("error").with("reason", format!("bad request {request}")));
            return;
        };
        let key = self.files[file].key.clone();
        match request.kind.as_str() {
            "publish" => {
                self.holders.entry(node).or_default().insert(file);
                let announce = ctx.peer_operation(node, Operation::Announce { key });
                self.peer_ops.insert(announce, (op, PeerPurpose::Announce));
            }
            "download" => {
                let lookup = ctx.peer_operation(node, Operation::FindProviders { key });
                self.peer_ops.insert(lookup, (op, PeerPurpose::FindProviders));
                let chunks = vec![ChunkState::Missing; self.files[file].chunks.len()];
                let d = Download {
                    node,
                    file,
                    phase: Phase::FindingProviders,
                    providers: BTreeMap::new(),
                    chunks,
                    bytes: 0,
                    retries: 0,
                    corrupt: 0,
                    sources: BTreeSet::new(),
                    refreshes: 0,
                };
                self.downloads.insert(op, d);
            }
            other => ctx.complete(op, false, Record::new("error").with("reason", format!("unknown operation {other:?}"))),
        }
    }

    fn on_peer_complete(&mut self, ctx: &mut AppContext, _node: NodeIndex, peer_op: OpId, ok: bool, result: &Record) {
        let Some((op, purpose)) = self.peer_ops.remove(&peer_op) else { return };
        match purpose {
            PeerPurpose::Reseed => {}
            PeerPurpose::Announce => ctx.complete(op, ok, Record::new("published").with("announced", ok)),
            PeerPurpose::FindProviders => {
                let Some(d) = self.downloads.get_mut(&op) else { return };
                let found = if ok { result.nodes("nodes").unwrap_or_default().to_vec() } else { Vec::new() };
                for n in found.into_iter().filter(|n| *n != d.node) {
                    let p = d.providers.entry(n).or_default();
                    // A provider found again gets another chance, unless it lied.
                    if !p.corrupt {
                        p.bad = false;
                        p.failures = 0;
                    }
                }
                if d.providers.values().all(|p| p.bad) {
                    return self.fail(ctx, op, "no provider found".into());
                }
                match d.phase {
                    Phase::FindingProviders if d.chunks.iter().any(|c| *c != ChunkState::Missing) || d.refreshes > 0 => {
                        d.phase = Phase::Fetching;
                        self.request_chunks(ctx, op);
                    }
                    _ => self.ask_manifest(ctx, op),
                }
            }
        }
    }

    fn on_message(&mut self, ctx: &mut AppContext, node: NodeIndex, from: NodeIndex, message: &Record) {
        let op = message.u64("op").unwrap_or(0);
        match message.kind.as_str() {
            GET_MANIFEST | GET_CHUNK => self.serve(ctx, node, from, message),
            MANIFEST => {
                let Some(d) = self.downloads.get_mut(&op) else { return };
                let Phase::FetchingManifest { from: asked, .. } = d.phase else { return };
                if asked != from {
                    return;
                }
                let manifest = message.bytes("manifest").unwrap_or_default();
                let mut hash = sha256(manifest);
                hash.resize(self.config.key_bytes, 0);
                if hash == self.files[d.file].key {
                    d.phase = Phase::Fetching;
                    self.request_chunks(ctx, op);
                } else {
                    d.corrupt += 1;
                    let p = d.providers.entry(from).or_default();
                    p.bad = true;
                    p.corrupt = true;
                    self.ask_manifest(ctx, op);
                }
            }
            CHUNK => {
                let chunk = message.u64("chunk").unwrap_or(u64::MAX) as usize;
                self.chunk_done(ctx, op, from, chunk, Some(message.bytes("data").unwrap_or_default()));
            }
            MISSING => match message.u64("chunk") {
                Some(chunk) => self.chunk_done(ctx, op, from, chunk as usize, None),
                None => {
                    if let Some(d) = self.downloads.get_mut(&op) {
                        d.providers.entry(from).or_default().bad = true;
                        self.ask_manifest(ctx, op);
                    }
                }
            },
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut AppContext, _node: NodeIndex, attempt: u64) {
        // Find the request this timer guards; if it is still open, it timed out.
        let mut timed_out = None;
        for (op, d) in &self.downloads {
            if let Phase::FetchingManifest { from, attempt: a } = d.phase
                && a == attempt
            {
                timed_out = Some((*op, from, None));
            }
            for (i, c) in d.chunks.iter().enumerate() {
                if let ChunkState::Requested { from, attempt: a } = c
                    && *a == attempt
                {
                    timed_out = Some((*op, *from, Some(i)));
                }
            }
        }
        match timed_out {
            Some((op, from, Some(chunk))) => self.chunk_done(ctx, op, from, chunk, None),
            Some((op, from, None)) => {
                if let Some(d) = self.downloads.get_mut(&op) {
                    d.retries += 1;
                    d.providers.entry(from).or_default().bad = true;
                }
                self.ask_manifest(ctx, op);
            }
            None => {}
        }
    }
}
