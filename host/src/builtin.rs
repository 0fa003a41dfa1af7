//! Plugins that ship with PeerShare, compiled to `wasm32-wasip2` by the
//! build script and embedded in the binary.

macro_rules! builtins {
    ($($name:literal => $file:literal),* $(,)?) => {
        const BUILTINS: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!(env!("PEERSHARE_WASM_DIR"), "/", $file)))),*
        ];
    };
}

builtins! {
    "flood" => "peershare_flood.wasm",
    "gossip" => "peershare_gossip.wasm",
    "chord" => "peershare_chord.wasm",
    "hostile" => "peershare_hostile.wasm",
    "kademlia" => "peershare_kademlia.wasm",
    "kademlia-eclipse" => "peershare_kademlia_eclipse.wasm",
    "template" => "student_peer.wasm",
    "tracker" => "peershare_tracker.wasm",
    "gnutella" => "peershare_gnutella.wasm",
    "cyclon" => "peershare_cyclon.wasm",
    "raft" => "peershare_raft.wasm",
    "raft-figure8" => "peershare_raft_figure8.wasm",
    "pbft" => "peershare_pbft.wasm",
    "pbft-equivocate" => "peershare_pbft_equivocate.wasm",
    "pbft-liar" => "peershare_pbft_liar.wasm",
    "pbft-weak-quorum" => "peershare_pbft_weak_quorum.wasm",
}

/// The folder holding the WebAssembly files the build script produced,
/// including test components that are not built-in plugins
/// (`peershare_misfit.wasm`, a component of another world;
/// `peershare_mismatch.wasm`, a peer export with a wrong signature).
pub fn wasm_dir() -> &'static std::path::Path {
    std::path::Path::new(env!("PEERSHARE_WASM_DIR"))
}

/// Names of the built-in plugins.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _)| *n).collect()
}

/// The component bytes of a built-in plugin.
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}
