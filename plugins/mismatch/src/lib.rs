//! A component that exports `peershare:sim/peer@0.1.0` under the right
//! name but with a wrong signature (`on-timer` takes a string, not a u64).
//! The host must refuse it when the plugin loads, naming the export.

wit_bindgen::generate!({
    inline: "
        package peershare:sim@0.1.0;
        interface peer {
            record init-args { index: u32 }
            init: func(args: init-args);
            on-message: func(%from: u32, message: list<u8>);
            on-timer: func(tag: string);
            on-request: func(op: u64, request: list<u8>);
        }
        world mismatch { export peer; }
    ",
});

use exports::peershare::sim::peer::{Guest, InitArgs};

struct Mismatch;

impl Guest for Mismatch {
    fn init(_args: InitArgs) {}
    fn on_message(_from: u32, _message: Vec<u8>) {}
    fn on_timer(_tag: String) {}
    fn on_request(_op: u64, _request: Vec<u8>) {}
}

export!(Mismatch);
