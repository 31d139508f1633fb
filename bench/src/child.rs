//! Runs the harness CLI as a child process and reads its peak RSS from `wait4`.
//!
//! Not directly: Linux carries the peak RSS of the address space a process `exec`s from into
//! its `ru_maxrss`, and std spawns with `vfork` semantics, so a harness spawned by this
//! process (which holds the loopback server's rendered pages: ~40 MB at 100k users) would
//! report this process's peak. Each harness is therefore spawned by a fresh, small copy of
//! this binary (`connector-bench --peak-rss-of PROGRAM ARGS…`, see `peak_rss_of`), whose
//! `wait4` sees only the harness, and which prints that figure as its last stderr line.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct ChildRun {
    /// The exit status.
    pub status: i32,
    pub wall: Duration,
    /// Peak resident set size, bytes.
    pub max_rss: u64,
    pub stderr: String,
}

/// Starts the last stderr line of `peak_rss_of`, followed by the kilobytes.
const PEAK_RSS_LINE: &str = "connector-bench peak RSS kB: ";

pub fn run(command: &mut Command) -> Result<ChildRun, String> {
    run_expecting(command, 0)
}

/// [`run`] for a program whose success is another exit status (`diff` exits 1 on changes).
pub fn run_expecting(command: &mut Command, status: i32) -> Result<ChildRun, String> {
    let what = format!("{command:?}");
    let mut wrapped = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    wrapped.arg("--peak-rss-of").arg(command.get_program());
    wrapped.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    let mut run = wait_for(&mut wrapped, &what, Some(status))?;
    let (rest, kb) = run
        .stderr
        .trim_end()
        .rsplit_once('\n')
        .map_or(("", run.stderr.trim_end()), |(a, b)| (a, b));
    let kb = kb
        .strip_prefix(PEAK_RSS_LINE)
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| format!("{what}: no peak RSS line from the wrapper:\n{}", run.stderr))?;
    run.max_rss = kb * 1024;
    run.stderr = rest.to_string();
    Ok(run)
}

/// `connector-bench --peak-rss-of PROGRAM ARGS…`: runs PROGRAM with this process's stdio and
/// environment, then prints its own `ru_maxrss` line; exits with PROGRAM's status.
pub fn peak_rss_of(args: &[String]) -> std::process::ExitCode {
    let Some((program, rest)) = args.split_first() else {
        eprintln!("--peak-rss-of needs a program");
        return std::process::ExitCode::FAILURE;
    };
    let mut command = Command::new(program);
    command.args(rest);
    match wait_for(&mut command, program, None) {
        Ok(run) => {
            eprint!("{}", run.stderr);
            eprintln!("{PEAK_RSS_LINE}{}", run.max_rss / 1024);
            std::process::ExitCode::from(u8::try_from(run.status).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Waits for the child; `expect`: the exit status that counts as success (`None`: any).
fn wait_for(command: &mut Command, what: &str, expect: Option<i32>) -> Result<ChildRun, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut stderr_pipe = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr_pipe.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped (std never waited on it); the pointers
    // are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let stderr = reader.join().unwrap_or_default();
    if reaped != pid {
        return Err(format!("wait4 on {what} failed"));
    }
    if !libc::WIFEXITED(status) || expect.is_some_and(|e| libc::WEXITSTATUS(status) != e) {
        return Err(format!("{what} failed (status {status}):\n{stderr}"));
    }
    Ok(ChildRun {
        status: libc::WEXITSTATUS(status),
        wall,
        // Linux reports kilobytes.
        max_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        stderr,
    })
}
