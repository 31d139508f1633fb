//! `make bench`: full syncs of synthetic 1k/10k/100k-user directories through the release
//! harness (replay, and loopback HTTP against a server answering like Airflow 3), beside a
//! native floor (same pages, same server, serde_json, no wasm) and the same connector compiled
//! natively (same server, same sync, a connection per request); start-up cold and warm;
//! component size. Prints the tables as markdown (also written to target/bench/results.md).
//!
//! ```text
//! connector-bench [--sizes 1000,10000,100000] [--roles 50] [--reps 5]
//!                 [--harness target/release/host-harness] [--component PATH] [--work target/bench]
//! connector-bench serve --users N [--roles 50]      # the loopback server alone, for profiling
//! connector-bench cassette --users N --out FILE     # a synthetic replay cassette alone
//! connector-bench review [--sizes …] [--reps N]     # the drift diff alone (`host-harness diff`)
//! connector-bench native-sync --port P --out FILE   # the native program: fetch, parse, emit
//! ```
//!
//! `--linear N` (default 1,000,000; 0 skips it) adds a replay of N users, for the growth of
//! time and memory beyond the largest of `--sizes`.

mod cassette;
mod child;
mod directory;
mod in_process;
mod measure;
mod native;
mod native_connector;
mod review;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

pub struct Options {
    pub sizes: Vec<usize>,
    pub roles: usize,
    pub reps: usize,
    pub harness: PathBuf,
    pub component: PathBuf,
    pub work: PathBuf,
    pub users: usize,
    pub out: Option<PathBuf>,
    pub port: u16,
    pub linear: usize,
}

fn parse(args: &[String]) -> Result<(String, Options), String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut opts = Options {
        sizes: vec![1_000, 10_000, 100_000],
        roles: 50,
        reps: 5,
        harness: root.join("target/release/host-harness"),
        component: root.join("target/wasm32-wasip2/release/airflow_connector.wasm"),
        work: root.join("target/bench"),
        users: 1_000,
        out: None,
        port: 0,
        linear: 1_000_000,
    };
    let mut command = "run".to_string();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = |name: &str, v: String| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|_| format!("{name} takes a whole number, got `{v}`"))
        };
        match arg.as_str() {
            "run" | "serve" | "cassette" | "review" | "native-sync" => command = arg.clone(),
            "--port" => {
                opts.port = u16::try_from(number("--port", value("--port")?)?)
                    .map_err(|_| "--port takes a port number".to_string())?
            }
            "--linear" => opts.linear = number("--linear", value("--linear")?)?,
            "--sizes" => {
                opts.sizes = value("--sizes")?
                    .split(',')
                    .map(|s| number("--sizes", s.to_string()))
                    .collect::<Result<_, _>>()?
            }
            "--roles" => opts.roles = number("--roles", value("--roles")?)?,
            "--reps" => opts.reps = number("--reps", value("--reps")?)?.max(1),
            "--users" => opts.users = number("--users", value("--users")?)?,
            "--harness" => opts.harness = value("--harness")?.into(),
            "--component" => opts.component = value("--component")?.into(),
            "--work" => opts.work = value("--work")?.into(),
            "--out" => opts.out = Some(value("--out")?.into()),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; see the top of bench/src/main.rs"
                ))
            }
        }
    }
    if opts.roles == 0 {
        return Err("--roles must be at least 1".into());
    }
    Ok((command, opts))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--peak-rss-of") {
        return child::peak_rss_of(args.get(1..).unwrap_or_default());
    }
    let result = parse(&args).and_then(|(command, opts)| match command.as_str() {
        "serve" => serve(&opts),
        "cassette" => {
            let out = opts.out.clone().ok_or("cassette needs --out FILE")?;
            cassette::write(&directory::Directory::new(opts.users, opts.roles), &out)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))
        }
        "review" => review::measure(&opts).map(|rows| print!("{}", review::render(&rows))),
        "native-sync" => native_sync(&opts),
        _ => measure::run(&opts),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The native program the whole harness process is measured against: one kept-alive
/// connection, serde_json, the sync's JSON Lines written to `--out`.
fn native_sync(opts: &Options) -> Result<(), String> {
    let out = opts.out.clone().ok_or("native-sync needs --out FILE")?;
    let file =
        std::fs::File::create(&out).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(64 * 1024, file);
    let run = native::sync_into(opts.port, native::Connections::KeepAlive, Some(&mut writer))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "native-sync: {} users, {} roles, {} lines, {} requests",
        run.users, run.roles, run.lines, run.requests
    );
    Ok(())
}

fn serve(opts: &Options) -> Result<(), String> {
    let server = server::Server::start(opts.users, opts.roles).map_err(|e| e.to_string())?;
    println!("{}", server.base_url());
    eprintln!(
        "serving {} users, {} roles like Airflow 3 FAB FastAPI; any password; Ctrl-C stops",
        opts.users, opts.roles
    );
    loop {
        std::thread::park();
    }
}
