//! The Northflank stand-in (`tests/northflank_standin/server.py`) as Rust tests use it: started
//! on a free loopback port, stopped when dropped, with its test tokens and its data.
#![allow(dead_code)]

use host_harness::HarnessOptions;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub struct Standin {
    child: Child,
    pub base_url: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built Northflank component; a missing build is a failure, not a skip.
pub fn component() -> PathBuf {
    let path = host_harness::engine::component_path_for("northflank").unwrap();
    assert!(
        path.exists(),
        "{} is missing: run `make component` (make test does)",
        path.display()
    );
    path
}

impl Standin {
    /// Live harness options for the Northflank component against this stand-in, signed in
    /// with the named test token. The base URL is plain http on loopback, which the connector
    /// accepts without `allow_insecure_http`.
    pub fn harness_options(&self, token: &str) -> HarnessOptions {
        let mut opts = HarnessOptions {
            component: component(),
            ..Default::default()
        };
        opts.settings
            .insert("api_token".into(), Standin::token(token));
        opts.settings
            .insert("base_url".into(), self.base_url.clone());
        opts
    }

    /// Starts the server with `args` (e.g. `["--rate-limit", "5", "--reset-seconds", "2"]`).
    pub fn start(args: &[&str]) -> Standin {
        let mut child = Command::new("python3")
            .arg(repo().join("tests/northflank_standin/server.py"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the Northflank stand-in");
        let stdout = child.stdout.take().expect("the stand-in's stdout is piped");
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .expect("the stand-in prints where it listens");
        let base_url = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the stand-in: {first:?}"))
            .to_string();
        Standin { child, base_url }
    }

    /// The named test token (`full`, `writer`, `no-members-read`, `no-roles-read`,
    /// `no-directory-groups-read`, `team-scoped`) from the seeded organisation.
    pub fn token(name: &str) -> String {
        let org: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("tests/northflank_standin/org.json"))
                .expect("tests/northflank_standin/org.json is readable"),
        )
        .expect("org.json is JSON");
        org["tokens"]
            .as_array()
            .and_then(|tokens| tokens.iter().find(|t| t["name"] == name))
            .and_then(|t| t["token"].as_str())
            .unwrap_or_else(|| panic!("no test token named {name}"))
            .to_string()
    }

    fn admin(&self, method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
        let url = format!("{}/__standin/{path}", self.base_url);
        let mut cmd = Command::new("python3");
        cmd.args([
            "-c",
            "import json,sys,urllib.request as u\n\
             r=u.Request(sys.argv[1],method=sys.argv[2],data=(sys.argv[3].encode() if len(sys.argv)>3 else None),headers={'content-type':'application/json'})\n\
             print(u.urlopen(r).read().decode())",
            &url,
            method,
        ]);
        if let Some(body) = body {
            cmd.arg(body);
        }
        let out = cmd.output().expect("python3 runs");
        assert!(
            out.status.success(),
            "{method} {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The stand-in's own data: members, roles (with explicit members), directory groups and the
    /// rows each role's member listing returns.
    pub fn org(&self) -> serde_json::Value {
        self.admin("GET", "org", None)
    }

    /// The requests served so far (never token values).
    pub fn requests(&self) -> serde_json::Value {
        self.admin("GET", "requests", None)
    }

    /// The entries of [`Standin::requests`], oldest first.
    pub fn request_log(&self) -> Vec<serde_json::Value> {
        self.requests()["requests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn reset(&self) {
        self.admin("POST", "reset", Some("{}"));
    }

    /// `{"rateLimit","resetSeconds","remaining","directorySync","bothMembership"}`, any of them.
    pub fn configure(&self, config: &str) {
        self.admin("POST", "config", Some(config));
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
