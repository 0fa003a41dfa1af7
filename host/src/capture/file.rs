//! The capture file (`capture.bin`): the columns as they are in memory,
//! little-endian, after a header, so that `peershare inspect` reads a run's
//! messages back without replaying it.

use super::{Capture, Cause, Fate};
use std::io::{self, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"PSCAP\x00\x00\x01";

/// A capture file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CaptureFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The file is not a capture, or is damaged.
    #[error("{path} is not a PeerShare capture file: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl Capture {
    /// Writes the capture to `path`.
    pub fn save(&self, path: &Path) -> Result<(), CaptureFileError> {
        let io_error = |source| CaptureFileError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::create(path).map_err(io_error)?;
        let mut out = io::BufWriter::new(file);
        self.write_to(&mut out).and_then(|_| out.flush()).map_err(io_error)
    }

    fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(&(self.len() as u64).to_le_bytes())?;
        out.write_all(&(self.kinds().len() as u32).to_le_bytes())?;
        for k in self.kinds() {
            out.write_all(&(k.len() as u32).to_le_bytes())?;
            out.write_all(k.as_bytes())?;
        }
        for v in [&self.sent, &self.ended, &self.delivered_after, &self.body_end] {
            for x in v.iter() {
                out.write_all(&x.to_le_bytes())?;
            }
        }
        for v in [&self.from, &self.to, &self.kind, &self.size, &self.fault] {
            for x in v.iter() {
                out.write_all(&x.to_le_bytes())?;
            }
        }
        for c in &self.cause {
            out.write_all(&c.op.to_le_bytes())?;
            out.write_all(&c.hop.to_le_bytes())?;
        }
        out.write_all(&self.fate.iter().map(|f| *f as u8).collect::<Vec<u8>>())?;
        out.write_all(&(self.bodies.len() as u64).to_le_bytes())?;
        out.write_all(&self.bodies)?;
        // Messages that killed their receivers (absent in older files).
        out.write_all(&(self.fatal.len() as u64).to_le_bytes())?;
        for id in &self.fatal {
            out.write_all(&id.to_le_bytes())?;
        }
        Ok(())
    }

    /// Reads a capture written by [`Capture::save`].
    pub fn load(path: &Path) -> Result<Capture, CaptureFileError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| CaptureFileError::Io { path: name.clone(), source })?;
        Capture::from_bytes(&bytes).map_err(|message| CaptureFileError::Format { path: name, message })
    }

    fn from_bytes(bytes: &[u8]) -> Result<Capture, String> {
        let mut r = bytes;
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic).map_err(|_| "too short for a header".to_string())?;
        if &magic != MAGIC {
            return Err("wrong magic number (not written by this version of PeerShare?)".into());
        }
        let truncated = |what: &str| format!("truncated in {what}");
        let mut take = |n: usize, what: &str| -> Result<&[u8], String> {
            if r.len() < n {
                return Err(truncated(what));
            }
            let (head, tail) = r.split_at(n);
            r = tail;
            Ok(head)
        };
        let u64_at = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let u32_at = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
        let n = u64_at(take(8, "the header")?) as usize;
        let kinds = u32_at(take(4, "the header")?) as usize;
        let mut capture = Capture::new();
        for _ in 0..kinds {
            let len = u32_at(take(4, "the kinds")?) as usize;
            let kind = std::str::from_utf8(take(len, "the kinds")?).map_err(|_| "a kind is not UTF-8".to_string())?;
            capture.kinds.intern(kind);
        }
        let mut col64 = |what: &str| -> Result<Vec<u64>, String> {
            Ok(take(n.checked_mul(8).ok_or("too many messages")?, what)?.chunks_exact(8).map(u64_at).collect())
        };
        capture.sent = col64("send times")?;
        capture.ended = col64("end times")?;
        capture.delivered_after = col64("delivery order")?;
        capture.body_end = col64("body offsets")?;
        let mut col32 = |what: &str| -> Result<Vec<u32>, String> { Ok(take(n * 4, what)?.chunks_exact(4).map(u32_at).collect()) };
        capture.from = col32("senders")?;
        capture.to = col32("receivers")?;
        capture.kind = col32("kinds")?;
        capture.size = col32("sizes")?;
        capture.fault = col32("faults")?;
        capture.cause = take(n * 6, "operations")?
            .chunks_exact(6)
            .map(|c| Cause { op: u32_at(&c[..4]), hop: u16::from_le_bytes([c[4], c[5]]) })
            .collect();
        capture.fate = take(n, "fates")?
            .iter()
            .map(|&f| Fate::ALL.get(f as usize).copied().ok_or_else(|| format!("unknown fate number {f}")))
            .collect::<Result<_, _>>()?;
        let body_len = u64_at(take(8, "the bodies' length")?) as usize;
        capture.bodies = take(body_len, "the bodies")?.to_vec();
        if let Ok(count) = take(8, "the fatal messages' count") {
            let count = u64_at(count) as usize;
            let ids = take(count.checked_mul(8).ok_or("too many fatal messages")?, "the fatal messages")?;
            capture.fatal = ids.chunks_exact(8).map(u64_at).collect();
            if capture.fatal.iter().any(|&id| id as usize >= n) {
                return Err("a fatal message is not in the capture".into());
            }
        }
        if capture.kind.iter().any(|&k| k as usize >= kinds) {
            return Err("a message names a kind that is not in the table".into());
        }
        if capture.body_end.windows(2).any(|w| w[0] > w[1]) || capture.body_end.last().is_some_and(|&e| e as usize != body_len) {
            return Err("body offsets are inconsistent".into());
        }
        Ok(capture)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Cause;
    use crate::events::DropReason;
    use crate::time::SimTime;
    use peershare_wire::Record;

    #[test]
    fn a_capture_survives_a_round_trip_and_damage_is_reported() {
        let mut c = Capture::new();
        c.on_sent(0, SimTime(5), 1, 2, "PING", &Record::new("PING").with("n", 1u64).encode(), Cause::NONE);
        c.on_sent(1, SimTime(7), 2, 1, "PONG", &Record::new("PONG").encode(), Cause::new(3, 2));
        c.on_delivered(0, SimTime(9), 2);
        c.on_dropped(1, SimTime(8), &DropReason::Partitioned { fault: 4 });
        c.on_fatal(0);
        let mut bytes = Vec::new();
        c.write_to(&mut bytes).unwrap();
        let back = Capture::from_bytes(&bytes).unwrap();
        for id in 0..2 {
            let (a, b) = (c.message(id), back.message(id));
            assert_eq!(a.to_json(), b.to_json());
        }
        assert_eq!(back.message(1).op(), Some(3));
        assert_eq!(back.message(1).fault(), Some(4));
        assert!(back.message(0).killed_receiver() && !back.message(1).killed_receiver());
        assert!(Capture::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err().contains("truncated in the fatal messages"));
        // A file from before fatal messages were recorded still loads.
        let old = &bytes[..bytes.len() - 16];
        assert!(Capture::from_bytes(old).unwrap().fatal().is_empty());
        assert!(Capture::from_bytes(&old[..old.len() - 3]).unwrap_err().contains("truncated in the bodies"));
        assert!(Capture::from_bytes(b"not a capture at all").unwrap_err().contains("wrong magic"));
    }
}
