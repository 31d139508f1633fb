//! Replay cassettes of a synthetic directory, in the harness's cassette format and marked
//! `synthetic`: the same interactions a real Airflow 3 FAB FastAPI server gives a full sync.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::directory::{jwt, Directory, Kind, PAGE};

/// Where the synthetic server claims to be; replay never connects to it.
const BASE_URL: &str = "http://127.0.0.1:28080";

fn interaction(
    method: &str,
    target: &str,
    request_json: Option<Value>,
    status: u16,
    response: Value,
) -> Value {
    let mut request = json!({
        "method": method,
        "url": format!("{BASE_URL}{target}"),
        "headers": { "accept": "application/json" },
    });
    if let Some(body) = request_json {
        request["json"] = body;
    }
    json!({
        "request": request,
        "response": {
            "status": status,
            "headers": { "content-type": "application/json" },
            "json": response,
        },
    })
}

/// Writes the cassette of a full sync (`api_generation` configured, so no detection probe).
pub fn write(directory: &Directory, path: &Path) -> std::io::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    let head = json!({
        "format": "governance-connector-cassette/1",
        "source": format!(
            "synthetic (connector-bench): {} users, {} roles, shaped like real Airflow 3.3 FAB FastAPI answers",
            directory.users, directory.roles
        ),
        "recorded_at": "2026-11-22T00:00:00Z",
        "synthetic": true,
        "settings": {
            "base_url": BASE_URL,
            "username": "admin",
            "api_generation": "fab-fastapi",
        },
    });
    // Streamed one interaction at a time: the 100k cassette is tens of megabytes.
    let head = serde_json::to_string(&head)?;
    let head = head.strip_suffix('}').unwrap_or(&head);
    write!(out, "{head},\"interactions\":[")?;
    let token = interaction(
        "POST",
        "/auth/token",
        Some(json!({ "username": "admin", "password": "[REDACTED]" })),
        201,
        json!({ "access_token": jwt() }),
    );
    serde_json::to_writer(&mut out, &token)?;
    for kind in [Kind::Users, Kind::Roles] {
        for offset in directory.offsets(kind) {
            let target = format!("/auth/fab/v1/{}?limit={PAGE}&offset={offset}", kind.key());
            out.write_all(b",")?;
            let page = interaction(
                "GET",
                &target,
                None,
                200,
                directory.page(kind, offset, PAGE),
            );
            serde_json::to_writer(&mut out, &page)?;
        }
    }
    out.write_all(b"]}\n")?;
    out.flush()
}
