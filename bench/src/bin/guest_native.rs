//! The connector's own work, natively: `airflow_connector::Connector` driven over an in-memory
//! transport that answers from a synthetic replay cassette (no wasm, no harness, no network).
//! Used to attribute the component's per-page cost (BENCHMARKS.md, "Reading the results"):
//! profile it with `valgrind --tool=callgrind` beside the harness replaying the same cassette.
//!
//! ```text
//! guest-native CASSETTE [--mode pages|sync] [--reps N]
//!   pages: list_resources page by page (fetch, parse, map), output dropped
//!   sync:  the full sync of the shared engine with JSON Lines rendered into a sink
//! ```

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

#[path = "../in_process.rs"]
mod in_process;

use airflow_connector::config::Config;
use airflow_connector::connector::Connector;
use airflow_connector::http::{Request, Response, Transport};
use serde_json::Value;

/// Answers by URL from the cassette's recorded responses, rendered to bytes up front.
struct Cassette {
    answers: HashMap<String, (u16, Vec<u8>)>,
    base_url: String,
}

impl Cassette {
    fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        let base_url = doc["settings"]["base_url"]
            .as_str()
            .ok_or("cassette has no settings.base_url")?
            .to_string();
        let mut answers = HashMap::new();
        for i in doc["interactions"].as_array().ok_or("no interactions")? {
            let url = i["request"]["url"]
                .as_str()
                .ok_or("interaction without url")?;
            let status = i["response"]["status"].as_u64().unwrap_or(200) as u16;
            let body = serde_json::to_vec(&i["response"]["json"]).map_err(|e| e.to_string())?;
            answers.insert(url.to_string(), (status, body));
        }
        Ok(Cassette { answers, base_url })
    }
}

impl Transport for &Cassette {
    fn send(&self, request: &Request) -> Result<Response, String> {
        let (status, body) = self
            .answers
            .get(&request.url)
            .ok_or_else(|| format!("no recorded answer for {}", request.url))?;
        Ok(Response {
            status: *status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.clone(),
        })
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let path = args
        .first()
        .ok_or("usage: guest-native CASSETTE [--mode pages|sync] [--reps N]")?;
    let mut mode = "pages".to_string();
    let mut reps = 1usize;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--mode" => mode = it.next().ok_or("--mode needs pages or sync")?.clone(),
            "--reps" => {
                reps = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--reps takes a whole number")?
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let cassette = Cassette::load(path)?;
    let settings: Vec<(String, String)> = [
        ("base_url", cassette.base_url.as_str()),
        ("username", "admin"),
        ("password", "bench"),
        ("api_generation", "fab-fastapi"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for _ in 0..reps {
        let config = Config::parse(&settings).map_err(|e| e.to_string())?;
        let mut connector = Connector::new(&cassette, config);
        let started = Instant::now();
        let (pages, items) = match mode.as_str() {
            "pages" => pages(&mut connector)?,
            "sync" => {
                let stats = in_process::sync(connector, &mut std::io::sink())?;
                (0, stats.resources + stats.entitlements + stats.grants)
            }
            other => return Err(format!("--mode takes pages or sync, got `{other}`")),
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!("{mode}: {pages} pages, {items} records, {ms:.1} ms");
    }
    Ok(())
}

/// Every resource page of every type: what the component does per request, minus the harness.
fn pages(connector: &mut Connector<&Cassette>) -> Result<(u64, u64), String> {
    let (mut pages, mut items) = (0u64, 0u64);
    for t in ["user", "role"] {
        let mut token: Option<String> = None;
        loop {
            let page = connector
                .list_resources(t, token.as_deref())
                .map_err(|e| e.to_string())?;
            pages += 1;
            items += (page.resources.len() + page.entitlements.len() + page.grants.len()) as u64;
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
    }
    Ok((pages, items))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
