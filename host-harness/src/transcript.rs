//! The test transcript: with `TEST_TRANSCRIPT_DIR` set (`make test` sets it), every message the
//! guest returns is appended there as the guest wrote it, before the harness scrubs it, so the
//! secret scan after the suite checks what the component itself said. Unset, nothing is written.

use std::io::Write;

pub const ENV: &str = "TEST_TRANSCRIPT_DIR";

/// Appends `text` as one line to `guest-<pid>.log` in the transcript directory. Best effort:
/// a transcript that cannot be written must not change what the harness does.
pub fn record(kind: &str, text: &str) {
    let Some(dir) = std::env::var_os(ENV) else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("guest-{}.log", std::process::id()));
    let line = format!("{kind}: {}\n", text.replace(['\n', '\r'], " "));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}
