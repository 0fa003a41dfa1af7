//! Quorum votes: the message convention of protocols that count votes
//! (PBFT's `PREPARE` and `COMMIT`), which the host's consensus referee
//! audits. A peer that sends its votes as [`Vote`] records has every
//! commit it reports checked against the votes it really received.
//!
//! ```
//! use peershare_wire::vote::{Phase, Vote};
//! let vote = Vote { phase: Phase::Commit, view: 2, seq: 7, digest: vec![0xab; 4] };
//! let record = vote.to_record(3);
//! assert_eq!(record.kind, "COMMIT");
//! assert_eq!(record.node("replica"), Some(3));
//! assert_eq!(Vote::from_record(&record), Some(vote));
//! ```

use crate::{Record, Value};

/// Which round of voting a vote belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// A replica accepted the primary's proposal (PBFT's `PREPARE`).
    Prepare,
    /// A replica saw the proposal prepared (PBFT's `COMMIT`).
    Commit,
}

impl Phase {
    /// The record kind of a vote of this phase: `"PREPARE"` or `"COMMIT"`.
    pub fn kind(self) -> &'static str {
        match self {
            Phase::Prepare => "PREPARE",
            Phase::Commit => "COMMIT",
        }
    }

    /// The phase whose votes have record kind `kind`.
    pub fn of_kind(kind: &str) -> Option<Phase> {
        match kind {
            "PREPARE" => Some(Phase::Prepare),
            "COMMIT" => Some(Phase::Commit),
            _ => None,
        }
    }
}

/// One replica's vote for the proposal with `digest` at sequence number
/// `seq` in `view`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// Prepare or commit.
    pub phase: Phase,
    /// The view (PBFT) or term the vote is cast in.
    pub view: u64,
    /// The sequence number (log index) voted on.
    pub seq: u64,
    /// The digest of the proposal voted for.
    pub digest: Vec<u8>,
}

impl Vote {
    /// The vote as a message from `replica`: kind [`Phase::kind`], fields
    /// `view`, `seq`, `digest` and `replica`. Sign it before sending if the
    /// protocol needs signatures; the extra field does not change the vote.
    pub fn to_record(&self, replica: u32) -> Record {
        Record::new(self.phase.kind())
            .with("view", self.view)
            .with("seq", self.seq)
            .with("digest", self.digest.clone())
            .with("replica", Value::Node(replica))
    }

    /// The vote a record carries, if it is one.
    pub fn from_record(record: &Record) -> Option<Vote> {
        Some(Vote {
            phase: Phase::of_kind(&record.kind)?,
            view: record.u64("view")?,
            seq: record.u64("seq")?,
            digest: record.bytes("digest")?.to_vec(),
        })
    }
}
