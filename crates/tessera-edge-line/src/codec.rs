//! Bounded line reading.
//!
//! A [`LineReader`] hands out newline-terminated lines and never holds more than `max_line + 2`
//! bytes of one line (room for the line, a `\r` and the `\n`): a peer that sends a longer line gets
//! [`LineError::TooLong`] as soon as the buffer fills, however much more it keeps sending. The
//! buffer starts small and grows only while a long line is arriving, so idle connections stay
//! cheap.
//!
//! [`LineReader::read_line`] is cancel-safe: every state change happens after its only `.await`
//! returns, so it can sit in a `tokio::select!` or under a timeout without losing bytes.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The first buffer size; it doubles up to the limit while a long line arrives.
const INITIAL_BUFFER: usize = 512;

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The peer sent a line longer than the configured maximum.
    #[error("line longer than {max} bytes")]
    TooLong {
        /// The configured maximum, in bytes, without the line terminator.
        max: usize,
    },
    /// The transport failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads `\n`-terminated lines (a trailing `\r` is dropped) from an [`AsyncRead`], holding at most
/// one line of at most `max_line` bytes.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes from `start` known to hold no `\n`, so a drip-fed line is scanned once, not per byte.
    scanned: usize,
    max_line: usize,
    failed: bool,
    keep_cr: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps `inner`; lines longer than `max_line` bytes (terminator excluded) are refused.
    pub fn new(inner: R, max_line: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            max_line,
            failed: false,
            keep_cr: false,
        }
    }

    /// Leaves a `\r` before the `\n` in the line (counted against the limit), for callers whose
    /// grammar must see every byte.
    pub fn keep_carriage_returns(mut self) -> Self {
        self.keep_cr = true;
        self
    }

    /// The underlying reader; bytes buffered but not yet returned as a line are dropped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The most bytes this reader ever buffers.
    pub fn capacity_limit(&self) -> usize {
        self.max_line + 2
    }

    /// The next line without its terminator, `Ok(None)` at end of stream.
    ///
    /// An unterminated fragment at end of stream is not a line and is dropped. After
    /// [`LineError::TooLong`] the stream is out of step with the protocol, so every later call fails
    /// the same way.
    pub async fn read_line(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        if self.failed {
            return Err(LineError::TooLong { max: self.max_line });
        }
        loop {
            if let Some(line) = self.take_line()? {
                return Ok(Some(line));
            }
            self.make_room();
            if self.end == self.buf.len() {
                self.failed = true;
                return Err(LineError::TooLong { max: self.max_line });
            }
            let read = self.inner.read(&mut self.buf[self.end..]).await?;
            if read == 0 {
                self.start = self.end;
                self.scanned = 0;
                return Ok(None);
            }
            self.end += read;
        }
    }

    /// Splits off the first complete line in the buffer, if there is one.
    fn take_line(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        let unscanned = &self.buf[self.start + self.scanned..self.end];
        let Some(offset) = unscanned.iter().position(|&b| b == b'\n') else {
            self.scanned = self.end - self.start;
            return Ok(None);
        };
        let newline = self.start + self.scanned + offset;
        let mut line = &self.buf[self.start..newline];
        if let (false, [rest @ .., b'\r']) = (self.keep_cr, line) {
            line = rest;
        }
        if line.len() > self.max_line {
            self.failed = true;
            return Err(LineError::TooLong { max: self.max_line });
        }
        let line = line.to_vec();
        self.start = newline + 1;
        self.scanned = 0;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(Some(line))
    }

    /// Ensures free space after `end` by moving the pending fragment to the front, then by growing
    /// the buffer up to the limit. Leaves `end == buf.len()` only when the limit is reached.
    fn make_room(&mut self) {
        if self.end < self.buf.len() {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let limit = self.capacity_limit();
        if self.end == self.buf.len() && self.buf.len() < limit {
            let grown = (self.buf.len() * 2).clamp(INITIAL_BUFFER.min(limit), limit);
            self.buf.resize(grown, 0);
        }
    }
}

/// Splits a line on ASCII whitespace, the way replies from an upstream are tokenised.
pub fn ascii_tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests;
