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
    /// Where the interactions came from, e.g. `real <system> 3.1.0 on 127.0.0.1`.
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

    /// Only the settings a cassette was recorded with. Reading stops as soon as `format` and
    /// `settings` are known (they come first in what `save` writes), so a large cassette is
    /// not scanned just for its head.
    pub fn load_settings(path: &Path) -> Result<BTreeMap<String, String>> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read cassette {}", path.display()))?;
        let mut head = Head::default();
        let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
        let parsed = serde::Deserializer::deserialize_map(&mut de, HeadVisitor(&mut head));
        // The visitor ends early with an error once it has both; only then is it not one.
        let (Some(format), Some(settings)) = (head.format, head.settings) else {
            let err = match parsed {
                Err(e) => anyhow::Error::new(e),
                Ok(()) => anyhow::anyhow!("no `format` field"),
            };
            return Err(err)
                .with_context(|| format!("cassette {} is not a valid cassette", path.display()));
        };
        check_format(&format, path)?;
        Ok(settings)
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

#[derive(Default)]
struct Head {
    format: Option<String>,
    settings: Option<BTreeMap<String, String>>,
}

struct HeadVisitor<'a>(&'a mut Head);

impl<'de> serde::de::Visitor<'de> for HeadVisitor<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a cassette object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => self.0.format = Some(map.next_value()?),
                "settings" => self.0.settings = Some(map.next_value()?),
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            if self.0.format.is_some() && self.0.settings.is_some() {
                return Err(serde::de::Error::custom("head read"));
            }
        }
        // `settings` is optional.
        self.0.settings.get_or_insert_with(BTreeMap::new);
        Ok(())
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
pub(crate) fn check_format(format: &str, path: &Path) -> Result<()> {
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
    fn settings_load_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        sample().save(&path).unwrap();
        assert_eq!(Cassette::load_settings(&path).unwrap(), sample().settings);
        // Settings after the interactions, or none at all, are found by reading on.
        let text = r#"{"interactions":[{"x":[1,{"y":2}]}],"settings":{"a":"b"},"format":"governance-connector-cassette/1"}"#;
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            Cassette::load_settings(&path).unwrap(),
            [("a".to_string(), "b".to_string())].into()
        );
        std::fs::write(
            &path,
            r#"{"format":"governance-connector-cassette/1","interactions":[]}"#,
        )
        .unwrap();
        assert!(Cassette::load_settings(&path).unwrap().is_empty());
        std::fs::write(&path, r#"{"settings":{}}"#).unwrap();
        let err = format!("{:#}", Cassette::load_settings(&path).unwrap_err());
        assert!(
            err.contains("not a valid cassette") && err.contains("format"),
            "{err}"
        );
        std::fs::write(
            &path,
            r#"{"format":"governance-connector-cassette/1","settings":{"#,
        )
        .unwrap();
        assert!(Cassette::load_settings(&path).is_err());
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
