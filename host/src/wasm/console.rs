//! A guest's standard output and error: captured per node and turned into
//! output lines in the event log, so students can debug with `println!`.

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes one stream may hold between two drains; the rest is discarded and
/// a marker says so.
const CAPACITY: usize = 64 * 1024;

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    truncated: bool,
}

#[derive(Default)]
struct Shared {
    /// Set by every write, so that draining an untouched stream (the common
    /// case, after every event) costs one load and no lock.
    written: AtomicBool,
    buffer: Mutex<Buffer>,
}

/// One of a node's output streams. Cloning shares the buffer.
#[derive(Clone, Default)]
pub(crate) struct Console(Arc<Shared>);

impl Console {
    /// Removes the complete lines written so far (and, with `flush`, the
    /// unfinished last line too).
    pub fn take_lines(&self, flush: bool) -> Vec<String> {
        if !self.0.written.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let mut buf = self.0.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if buf.bytes.is_empty() && !buf.truncated {
            self.0.written.store(false, Ordering::Relaxed);
            return Vec::new();
        }
        let end = if flush { buf.bytes.len() } else { buf.bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) };
        if end == 0 && !buf.truncated {
            return Vec::new();
        }
        let taken: Vec<u8> = buf.bytes.drain(..end).collect();
        if buf.bytes.is_empty() {
            self.0.written.store(false, Ordering::Relaxed);
        }
        let mut lines: Vec<String> = String::from_utf8_lossy(&taken).lines().map(str::to_string).collect();
        if std::mem::take(&mut buf.truncated) {
            lines.push(format!("[output truncated: more than {CAPACITY} bytes in one event]"));
        }
        lines
    }

    fn write(&self, data: &[u8]) {
        self.0.written.store(true, Ordering::Relaxed);
        let mut buf = self.0.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let room = CAPACITY.saturating_sub(buf.bytes.len());
        if data.len() > room {
            buf.truncated = true;
        }
        buf.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}

impl IsTerminal for Console {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Console {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Console {
    async fn ready(&mut self) {}
}

impl OutputStream for Console {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        Console::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always accept: excess output is discarded, never an error, so a
        // chatty guest cannot crash itself by printing.
        Ok(CAPACITY)
    }
}

impl tokio::io::AsyncWrite for Console {
    fn poll_write(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>, data: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        Console::write(&self, data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
