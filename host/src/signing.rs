//! Message authentication the host enforces (the WIT interface `signing`).
//!
//! A node signs bytes; any node can check that a signature is the one a
//! given node made of given bytes. The host knows who calls: a signature
//! is the SHA-256 of the signer's index and the bytes, and it is valid only
//! if that signer really asked for it. Knowing how signatures are computed
//! does not help a Byzantine node: it can replay a signature with the bytes
//! it came with, and sign anything as itself (equivocate), but it cannot
//! make a signature another node never made. No secret is involved, so
//! runs stay deterministic.
//!
//! ```
//! use peershare::signing::Signatures;
//! let signatures = Signatures::default();
//! let sig = signatures.sign(3, b"PREPARE v=1 n=7");
//! assert!(signatures.verify(3, b"PREPARE v=1 n=7", &sig));
//! assert!(!signatures.verify(4, b"PREPARE v=1 n=7", &sig), "not node 4's");
//! assert!(!signatures.verify(3, b"PREPARE v=1 n=8", &sig), "not these bytes");
//! // Computing node 5's signature of new bytes does not make one.
//! let forged = Signatures::digest(5, b"COMMIT");
//! assert!(!signatures.verify(5, b"COMMIT", &forged));
//! ```

use crate::NodeIndex;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The signatures made in a run, shared by every node's context.
#[derive(Clone, Debug, Default)]
pub struct Signatures {
    made: Arc<Mutex<HashSet<[u8; 32]>>>,
}

impl Signatures {
    /// The signature `signer` would make of `data`.
    pub fn digest(signer: NodeIndex, data: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"peershare-signature");
        h.update(signer.to_le_bytes());
        h.update(data);
        h.finalize().into()
    }

    /// `signer` signs `data`.
    pub fn sign(&self, signer: NodeIndex, data: &[u8]) -> Vec<u8> {
        let sig = Self::digest(signer, data);
        self.made.lock().expect("the set of signatures is never left half-written").insert(sig);
        sig.to_vec()
    }

    /// Whether `signature` is one `signer` made of `data`.
    pub fn verify(&self, signer: NodeIndex, data: &[u8], signature: &[u8]) -> bool {
        let sig = Self::digest(signer, data);
        signature == sig && self.made.lock().expect("the set of signatures is never left half-written").contains(&sig)
    }

    /// How many distinct signatures were made.
    pub fn count(&self) -> usize {
        self.made.lock().expect("the set of signatures is never left half-written").len()
    }
}
