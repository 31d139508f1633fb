//! The cassette file format: one pretty-printed JSON file per scenario.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const FORMAT: &str = "governance-connector-cassette/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cassette {
    pub format: String,
    /// Where the interactions came from, e.g. `real Airflow 3.1.0 on 127.0.0.1`.
    pub source: String,
    /// RFC 3339.
    pub recorded_at: String,
    /// True for a hand-made cassette (a fault scenario no real server can be made to produce).
    #[serde(default)]
    pub synthetic: bool,
    /// Non-secret settings the scenario was recorded with; replay starts from these.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    pub interactions: Vec<Interaction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Absolute URL; matching uses only its path and query.
    pub url: String,
    /// Lower-cased names; repeated headers joined with `, `.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: Body,
}

/// A body is stored as parsed JSON when it parses, so it reads (and diffs) as data; else as
/// text; absent when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Body {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Self::default();
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(json) => Self {
                json: Some(json),
                text: None,
            },
            Err(_) => Self {
                json: None,
                text: Some(String::from_utf8_lossy(bytes).into_owned()),
            },
        }
    }

    /// The bytes to send on replay: JSON re-serialised compactly.
    pub fn to_bytes(&self) -> Vec<u8> {
        match (&self.json, &self.text) {
            (Some(json), _) => serde_json::to_vec(json).unwrap_or_default(),
            (None, Some(text)) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.json.is_none() && self.text.as_deref().is_none_or(str::is_empty)
    }

    /// A one-line excerpt for messages.
    pub fn excerpt(&self, max_chars: usize) -> String {
        let full = match (&self.json, &self.text) {
            (Some(json), _) => json.to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => return String::new(),
        };
        let one_line = full.replace(['\n', '\r'], " ");
        if one_line.chars().count() <= max_chars {
            one_line
        } else {
            let cut: String = one_line.chars().take(max_chars).collect();
            format!("{cut}…")
        }
    }
}

impl Cassette {
    pub fn new(source: String, recorded_at: String, settings: BTreeMap<String, String>) -> Self {
        Self {
            format: FORMAT.to_string(),
            source,
            recorded_at,
            synthetic: false,
            settings,
            interactions: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read cassette {}", path.display()))?;
        let cassette: Cassette = serde_json::from_str(&text)
            .with_context(|| format!("cassette {} is not a valid cassette", path.display()))?;
        check_format(&cassette.format, path)?;
        Ok(cassette)
    }

    /// For replay: response bodies are kept as their compact JSON text (what replay sends)
    /// rather than as parsed trees, one interaction at a time while reading, so a 33 MB
    /// cassette costs about 33 MB of memory instead of ten times that.
    pub fn load_for_replay(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read cassette {}", path.display()))?;
        let compact: CompactCassette = serde_json::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("cassette {} is not a valid cassette", path.display()))?;
        let cassette = Cassette {
            format: compact.format,
            source: compact.source,
            recorded_at: compact.recorded_at,
            synthetic: compact.synthetic,
            settings: compact.settings,
            interactions: compact.interactions.0,
        };
        check_format(&cassette.format, path)?;
        Ok(cassette)
    }

    /// Only the settings a cassette was recorded with; the interactions are skipped without
    /// being built, so a large cassette is not held in memory twice (replay loads it again).
    pub fn load_settings(path: &Path) -> Result<BTreeMap<String, String>> {
        #[derive(Deserialize)]
        struct Head {
            format: String,
            #[serde(default)]
            settings: BTreeMap<String, String>,
        }
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read cassette {}", path.display()))?;
        let head: Head = serde_json::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("cassette {} is not a valid cassette", path.display()))?;
        check_format(&head.format, path)?;
        Ok(head.settings)
    }

    /// Pretty-printed, written through a temporary file so a failed write never leaves a
    /// truncated cassette behind.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes())?;
        tmp.persist(path)
            .with_context(|| format!("cannot write cassette {}", path.display()))?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct CompactCassette {
    format: String,
    source: String,
    recorded_at: String,
    #[serde(default)]
    synthetic: bool,
    #[serde(default)]
    settings: BTreeMap<String, String>,
    interactions: CompactInteractions,
}

/// Interactions whose response bodies are compacted as each one is read.
struct CompactInteractions(Vec<Interaction>);

impl<'de> Deserialize<'de> for CompactInteractions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = CompactInteractions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of interactions")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(mut interaction) = seq.next_element::<Interaction>()? {
                    compact_response(&mut interaction.response);
                    out.push(interaction);
                }
                Ok(CompactInteractions(out))
            }
        }
        d.deserialize_seq(Visit)
    }
}

/// A JSON body becomes its compact text, with the content type replay would have added.
fn compact_response(response: &mut RecordedResponse) {
    if let Some(json) = response.body.json.take() {
        if !response
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            response
                .headers
                .insert("content-type".into(), "application/json".into());
        }
        response.body.text = Some(serde_json::to_string(&json).unwrap_or_default());
    }
}

/// `path?query` of an absolute or origin-relative URL.
pub fn path_and_query(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let start = if url.contains("://") {
        rest.find(['/', '?']).map_or("", |i| &rest[i..])
    } else {
        rest
    };
    if start.starts_with('/') {
        start.to_string()
    } else {
        format!("/{start}")
    }
}

/// Current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Every loader refuses a cassette of another format the same way.
fn check_format(format: &str, path: &Path) -> Result<()> {
    if format != FORMAT {
        bail!(
            "cassette {} has format `{format}`; this harness reads `{FORMAT}`",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Cassette {
        let mut c = Cassette::new(
            "real Airflow".into(),
            "2026-11-22T16:40:00Z".into(),
            [("base_url".to_string(), "http://127.0.0.1:28080".to_string())].into(),
        );
        c.interactions.push(Interaction {
            request: RecordedRequest {
                method: "POST".into(),
                url: "http://127.0.0.1:28080/auth/token".into(),
                headers: [("content-type".to_string(), "application/json".to_string())].into(),
                body: Body::from_bytes(br#"{"username":"admin","password":"[REDACTED]"}"#),
            },
            response: RecordedResponse {
                status: 201,
                headers: BTreeMap::new(),
                body: Body::from_bytes(b"not json"),
            },
        });
        c.interactions.push(Interaction {
            request: RecordedRequest {
                method: "GET".into(),
                url: "http://127.0.0.1:28080/api/v2/roles?limit=1".into(),
                headers: BTreeMap::new(),
                body: Body::from_bytes(b""),
            },
            response: RecordedResponse {
                status: 200,
                headers: BTreeMap::new(),
                body: Body::from_bytes(br#"{"roles": [], "total_entries": 0}"#),
            },
        });
        c
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/scenario.json");
        let c = sample();
        c.save(&path).unwrap();
        assert_eq!(Cassette::load(&path).unwrap(), c);
    }

    #[test]
    fn serialised_shape_matches_the_documented_format() {
        let v = serde_json::to_value(sample()).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "format",
                "source",
                "recorded_at",
                "synthetic",
                "settings",
                "interactions"
            ]
        );
        let first = &v["interactions"][0];
        assert_eq!(first["request"]["json"]["username"], "admin");
        assert_eq!(first["response"]["text"], "not json");
        assert!(first["response"].get("json").is_none());
        assert!(first["response"].get("headers").is_none());
        let second = &v["interactions"][1];
        assert!(second["request"].get("json").is_none() && second["request"].get("text").is_none());
        assert_eq!(
            second["response"]["json"],
            json!({"roles": [], "total_entries": 0})
        );
    }

    #[test]
    fn replayed_json_is_compact() {
        let body = Body::from_bytes(b"{ \"a\" : [1, 2] }\n");
        assert_eq!(body.to_bytes(), br#"{"a":[1,2]}"#);
    }

    #[test]
    fn replay_loading_keeps_responses_as_the_bytes_replay_sends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let c = sample();
        c.save(&path).unwrap();
        let loaded = Cassette::load_for_replay(&path).unwrap();
        assert_eq!(loaded.settings, c.settings);
        for (a, b) in loaded.interactions.iter().zip(&c.interactions) {
            assert_eq!(a.request, b.request);
            assert_eq!(a.response.status, b.response.status);
            assert_eq!(a.response.body.to_bytes(), b.response.body.to_bytes());
        }
        let second = &loaded.interactions[1].response;
        assert!(second.body.json.is_none());
        assert_eq!(second.headers["content-type"], "application/json");
    }

    #[test]
    fn settings_load_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        sample().save(&path).unwrap();
        assert_eq!(Cassette::load_settings(&path).unwrap(), sample().settings);
    }

    #[test]
    fn wrong_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let mut c = sample();
        c.format = "something/2".into();
        c.save(&path).unwrap();
        let err = Cassette::load(&path).unwrap_err().to_string();
        assert!(err.contains("something/2"), "{err}");
    }

    #[test]
    fn path_and_query_of_urls() {
        assert_eq!(path_and_query("http://h:1/a/b?x=1"), "/a/b?x=1");
        assert_eq!(path_and_query("http://h:1?x=1"), "/?x=1");
        assert_eq!(path_and_query("http://h:1"), "/");
        assert_eq!(path_and_query("/a"), "/a");
    }

    #[test]
    fn excerpt_is_one_line_and_bounded() {
        let body = Body::from_bytes(b"line one\nline two that is long");
        assert_eq!(body.excerpt(12), "line one lin…");
    }

    #[test]
    fn rfc3339_timestamp_shape() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.ends_with('Z'));
    }
}
