//! Interning of message kinds: each distinct name gets a dense number.

use std::collections::HashMap;

/// The name of the kind of a message that is not a well-formed record.
pub(crate) const MALFORMED: &str = "<malformed>";

/// Dense numbers for names, in order of first appearance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    /// The number of `name`, assigning the next one if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        // Protocols have a handful of message kinds: a scan beats hashing.
        if self.names.len() <= 16 {
            if let Some(i) = self.names.iter().position(|n| n == name) {
                return i as u32;
            }
        } else if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    /// Every name, by number.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The kind of an encoded message, or [`MALFORMED`].
pub(crate) fn kind_of(bytes: &[u8]) -> &str {
    peershare_wire::peek_kind(bytes).unwrap_or(MALFORMED)
}
