//! The guest's stderr, kept in memory (the last few KiB) so a failure can show what the
//! component said just before it. Writes never fail: a full buffer drops its oldest bytes, as
//! a guest whose `eprintln!` failed would itself panic.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Bytes of guest stderr kept.
pub const CAPACITY: usize = 16 * 1024;
/// Lines shown in an error message.
pub const TAIL_LINES: usize = 20;

#[derive(Clone, Default)]
pub struct GuestStderr {
    buf: Arc<Mutex<VecDeque<u8>>>,
}

impl GuestStderr {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, bytes: &[u8]) {
        let mut buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        buf.extend(bytes);
        let excess = buf.len().saturating_sub(CAPACITY);
        buf.drain(..excess);
    }

    /// The last `n` lines written (lossy UTF-8).
    pub fn tail(&self, n: usize) -> Vec<String> {
        let buf = self.buf.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes: Vec<u8> = buf.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .map(|l| l.to_string())
            .collect()
    }

    /// `"\ncomponent stderr (last N lines):\n  …"`, or nothing when the guest wrote nothing.
    pub fn context(&self, scrub: &crate::scrub::Scrubber) -> String {
        let lines = self.tail(TAIL_LINES);
        if lines.is_empty() {
            return String::new();
        }
        let mut out = format!("\ncomponent stderr (last {} lines):", lines.len());
        for line in lines {
            out.push_str("\n  ");
            out.push_str(&scrub.text(&redact_auth_schemes(&line)));
        }
        out
    }
}

/// Replaces the credential after `Basic ` / `Bearer ` (any case): a guest printing a header
/// leaks an encoding of the password that literal scrubbing cannot recognise.
pub fn redact_auth_schemes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut redact_next = false;
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if redact_next && !word.is_empty() {
            out.push_str(crate::scrub::REDACTED);
        } else {
            out.push_str(word);
        }
        redact_next = ["basic", "bearer"].iter().any(|s| {
            word.trim_start_matches(['"', '\'', ':'])
                .eq_ignore_ascii_case(s)
        });
    }
    out
}

impl IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStderr {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for GuestStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrub::Scrubber;

    #[test]
    fn keeps_the_last_bytes_and_lines_scrubbed() {
        let s = GuestStderr::new();
        for i in 0..5000 {
            s.push(format!("line {i}\n").as_bytes());
        }
        let tail = s.tail(3);
        assert_eq!(tail, ["line 4997", "line 4998", "line 4999"]);
        s.push(b"login failed for s3cret-pass\n");
        let ctx = s.context(&Scrubber::for_display(&["s3cret-pass".to_string()]));
        assert!(
            ctx.starts_with("\ncomponent stderr (last 20 lines):"),
            "{ctx}"
        );
        assert!(ctx.ends_with("login failed for [REDACTED]"), "{ctx}");
        assert!(GuestStderr::new().context(&Scrubber::default()).is_empty());
        assert_eq!(
            redact_auth_schemes("authorization: Basic YWRtaW46cHc= sent; bearer eyJx.y"),
            "authorization: Basic [REDACTED] sent; bearer [REDACTED]"
        );
    }
}
