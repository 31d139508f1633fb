//! What one connector instance may consume: wall-clock time per export call, time per HTTP
//! request, linear memory, and response body size. Every limit names the flag (and config key)
//! that raises it, so an operator who hits one knows the fix.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::ResourceLimiter;

pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MEMORY_LIMIT_MIB: u64 = 256;
pub const DEFAULT_MAX_BODY_MIB: u64 = 16;

pub const MIB: u64 = 1024 * 1024;

/// How often the engine's epoch advances; guest code yields to the runtime at each tick, so a
/// deadline is noticed within about this long even while the guest computes.
const EPOCH_TICK: Duration = Duration::from_millis(50);

/// The limits of one harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time one export call (metadata, validate, one page, …) may take.
    pub deadline: Duration,
    /// Caps on the guest's own per-request timeouts (live and record mode).
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    /// Linear memory of the instance, in bytes.
    pub memory_bytes: u64,
    /// Largest response body handed to the guest, in bytes (every mode, replay included).
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            between_bytes_timeout: DEFAULT_BETWEEN_BYTES_TIMEOUT,
            memory_bytes: DEFAULT_MEMORY_LIMIT_MIB * MIB,
            max_body_bytes: DEFAULT_MAX_BODY_MIB * MIB,
        }
    }
}

impl Limits {
    /// One line for `--verbose`.
    pub fn describe(&self) -> String {
        format!(
            "deadline {} per call; request timeouts: connect {}, first byte {}, between bytes {}; \
             memory {}; response body {}",
            secs(self.deadline),
            secs(self.connect_timeout),
            secs(self.first_byte_timeout),
            secs(self.between_bytes_timeout),
            size(self.memory_bytes),
            size(self.max_body_bytes),
        )
    }
}

/// Which limit stopped an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// An export call ran past `--deadline`; the instance was discarded.
    Deadline,
    /// An HTTP request ran past a per-request timeout.
    RequestTimeout,
    /// The guest tried to grow its memory past `--memory-limit-mib`; the instance was discarded.
    Memory,
    /// A response body was larger than `--max-body-mib`.
    ResponseBody,
}

/// `1.5 s`, `60 s`, `250 ms`.
pub fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

/// `16 MiB`, `1.1 MiB`, `64 KiB`, `40 bytes`.
pub fn size(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// The store's resource limiter: a memory cap whose failure is a trap naming the limit (the
/// guest's allocator would otherwise abort with an anonymous `unreachable`).
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// The size the guest asked for when it hit the limit.
    pub(crate) exceeded: Option<usize>,
    /// The largest linear memory granted (bytes), once the guest has grown it.
    pub(crate) peak: Option<usize>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        Self {
            limit: usize::try_from(limit_bytes).unwrap_or(usize::MAX),
            exceeded: None,
            peak: None,
        }
    }

    /// The same limit for new options, keeping what was measured.
    pub(crate) fn with_limit(&self, limit_bytes: u64) -> Self {
        Self {
            limit: usize::try_from(limit_bytes).unwrap_or(usize::MAX),
            ..*self
        }
    }
}

/// The operator-facing message of a memory-limit failure.
pub fn memory_message(limit_bytes: u64, desired: Option<usize>) -> String {
    let wanted = desired
        .map(|d| format!(" (the connector asked for {})", size(d as u64)))
        .unwrap_or_default();
    format!(
        "memory limit ({}) exceeded{wanted}; raise it with --memory-limit-mib or config \
         `memory_limit_mib`",
        size(limit_bytes)
    )
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = Some(desired);
            return Err(wasmtime::Error::msg(memory_message(
                self.limit as u64,
                Some(desired),
            )));
        }
        let granted = maximum.is_none_or(|m| desired <= m);
        if granted {
            self.peak = Some(self.peak.map_or(desired, |p| p.max(desired)));
        }
        Ok(granted)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }
}

/// Makes guest code in `store` yield to the async runtime at every epoch tick, so a timer
/// around a call fires even while the guest computes without calling the host.
pub(crate) fn yield_on_epoch<T>(store: &mut wasmtime::Store<T>) {
    ensure_epoch_ticker();
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
}

/// Starts (once per process) the thread that advances the engine's epoch. Stores yield to the
/// async runtime at every tick, which lets the deadline's timer fire even while guest code
/// never calls the host.
pub(crate) fn ensure_epoch_ticker() {
    static TICKER: OnceLock<()> = OnceLock::new();
    TICKER.get_or_init(|| {
        let engine = crate::engine::engine().clone();
        let spawned = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            });
        // Without the ticker deadlines still hold for guests waiting on the host (HTTP, sleep);
        // only pure compute could overrun, so a failed spawn is reported rather than fatal.
        if let Err(e) = spawned {
            eprintln!(
                "warning: cannot start the epoch thread ({e}); deadlines cover host calls only"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(size(16 * MIB), "16 MiB");
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1_179_648), "1.1 MiB");
        assert_eq!(secs(Duration::from_secs(60)), "60 s");
        assert_eq!(secs(Duration::from_millis(250)), "250 ms");
        assert_eq!(secs(Duration::from_millis(1500)), "1.500 s");
    }

    /// `(module (func (export "spin") (loop (br 0))))`: compute that never calls the host.
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // one function of type 0
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
    ];

    #[tokio::test(flavor = "multi_thread")]
    async fn a_deadline_stops_guest_code_that_never_calls_the_host() {
        let engine = crate::engine::engine();
        let module = wasmtime::Module::new(engine, SPIN).unwrap();
        let mut store = wasmtime::Store::new(engine, ());
        yield_on_epoch(&mut store);
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        // Without the epoch yields this would never return: the loop never gives the timer
        // a chance to fire.
        let r =
            tokio::time::timeout(Duration::from_millis(200), spin.call_async(&mut store, ())).await;
        assert!(r.is_err(), "the endless loop returned: {r:?}");
    }

    #[test]
    fn memory_limiter_refuses_growth_past_the_limit_with_a_named_error() {
        let mut l = MemoryLimiter::new(2 * MIB);
        assert!(l.memory_growing(0, MIB as usize, None).unwrap());
        assert!(!l.memory_growing(0, MIB as usize, Some(1024)).unwrap());
        let err = l.memory_growing(0, 3 * MIB as usize, None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("memory limit (2 MiB) exceeded"), "{msg}");
        assert!(msg.contains("--memory-limit-mib"), "{msg}");
        assert_eq!(l.exceeded, Some(3 * MIB as usize));
    }
}
