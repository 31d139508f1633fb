//! The JSON Lines a sync writes (sync-engine's `jsonl::Line`), read back: one record per line,
//! `type` first. sync-engine's types borrow and only serialise, so these are their owned
//! mirror; a test writes lines with sync-engine and reads them here, so the two cannot drift.
//!
//! Fields this reader does not know are ignored, so a newer writer's extra fields do not break
//! a review.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::ReviewError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub traits: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub resource_type: String,
    pub id: String,
    pub display_name: String,
    /// Present on accounts.
    pub user: Option<User>,
    pub attributes: Attributes,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub login: String,
    #[serde(default)]
    pub email: Option<String>,
    pub status: String,
    #[serde(default)]
    pub last_login: Option<String>,
    #[serde(default)]
    pub login_count: Option<u64>,
    #[serde(default)]
    pub fail_login_count: Option<u64>,
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A resource's key/value pairs in the connector's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(pub Vec<(String, String)>);

impl Attributes {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Attributes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    pairs.push((k, v));
                }
                Ok(Attributes(pairs))
            }
            fn visit_unit<E>(self) -> Result<Attributes, E> {
                Ok(Attributes::default())
            }
        }
        d.deserialize_any(Pairs)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub slug: String,
    pub display_name: String,
    pub description: String,
    /// `assignment` (membership) or `permission`.
    pub purpose: String,
    pub grantable_to: Vec<String>,
}

impl Entitlement {
    pub fn is_permission(&self) -> bool {
        self.purpose == "permission"
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub entitlement: String,
    pub principal_type: String,
    pub principal_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    ResourceType(ResourceType),
    Resource(Resource),
    Entitlement(Entitlement),
    Grant(Grant),
}

/// Every field any record type has, flat: one parse per line, no tagged-enum buffering.
#[derive(Deserialize)]
struct Flat<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    traits: Option<Vec<String>>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    attributes: Option<Attributes>,
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    grantable_to: Option<Vec<String>>,
    #[serde(default)]
    entitlement: Option<String>,
    #[serde(default)]
    principal_type: Option<String>,
    #[serde(default)]
    principal_id: Option<String>,
}

/// What identifies a record, and what the diff needs of an entitlement; the rest of the line
/// is skipped unparsed (no allocation for profiles and attributes).
#[derive(Deserialize)]
pub struct KeyView<'a> {
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub resource_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub resource_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub display_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub purpose: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub entitlement: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub principal_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub principal_id: Option<Cow<'a, str>>,
}

pub const KINDS: &str = "resource_type, resource, entitlement and grant";

fn missing(kind: &str, field: &str) -> String {
    format!("a `{kind}` record without `{field}`")
}

fn unknown_kind(kind: &str) -> String {
    format!("unknown record type `{kind}` (a sync holds {KINDS} records)")
}

impl KeyView<'_> {
    /// The identity of the record: the same thing in two syncs has the same key. Each part is
    /// length-prefixed, so no id can run into the next.
    pub fn key(&self) -> Result<Vec<u8>, String> {
        let kind = self.kind.as_deref().ok_or_else(no_type)?;
        fn need<'s>(
            v: &'s Option<Cow<'_, str>>,
            kind: &str,
            field: &str,
        ) -> Result<&'s str, String> {
            v.as_deref().ok_or_else(|| missing(kind, field))
        }
        let (tag, parts): (u8, Vec<&str>) = match kind {
            "resource_type" => (b'T', vec![need(&self.id, kind, "id")?]),
            "resource" => (
                b'R',
                vec![
                    need(&self.resource_type, kind, "resource_type")?,
                    need(&self.id, kind, "id")?,
                ],
            ),
            "entitlement" => {
                need(&self.resource_type, kind, "resource_type")?;
                need(&self.resource_id, kind, "resource_id")?;
                need(&self.purpose, kind, "purpose")?;
                (b'E', vec![need(&self.id, kind, "id")?])
            }
            // The id is part of it: a principal can hold one entitlement twice, e.g.
            // explicitly and through a group (Northflank), and each can change alone.
            "grant" => (
                b'G',
                vec![
                    need(&self.entitlement, kind, "entitlement")?,
                    need(&self.principal_type, kind, "principal_type")?,
                    need(&self.principal_id, kind, "principal_id")?,
                    self.id.as_deref().unwrap_or(""),
                ],
            ),
            other => return Err(unknown_kind(other)),
        };
        let mut key = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 4).sum::<usize>());
        key.push(tag);
        for p in parts {
            key.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_le_bytes());
            key.extend_from_slice(p.as_bytes());
        }
        Ok(key)
    }

    /// How a duplicate is named in an error.
    pub fn describe(&self) -> String {
        let s = |v: &Option<Cow<'_, str>>| v.as_deref().unwrap_or("").to_string();
        match self.kind.as_deref() {
            Some("resource_type") => format!("resource type `{}`", s(&self.id)),
            Some("resource") => format!("resource `{}:{}`", s(&self.resource_type), s(&self.id)),
            Some("entitlement") => format!("entitlement `{}`", s(&self.id)),
            _ => format!(
                "grant `{}` of `{}` to `{}:{}`",
                s(&self.id),
                s(&self.entitlement),
                s(&self.principal_type),
                s(&self.principal_id)
            ),
        }
    }
}

fn no_type() -> String {
    format!("no `type` field: not a sync record (a sync holds {KINDS} records)")
}

impl Record {
    fn from_flat(f: Flat<'_>) -> Result<Record, String> {
        let kind = f.kind.as_deref().ok_or_else(no_type)?.to_string();
        let need = |v: Option<String>, field: &str| v.ok_or_else(|| missing(&kind, field));
        Ok(match kind.as_str() {
            "resource_type" => Record::ResourceType(ResourceType {
                id: need(f.id, "id")?,
                display_name: f.display_name.unwrap_or_default(),
                description: f.description.unwrap_or_default(),
                traits: f.traits.unwrap_or_default(),
            }),
            "resource" => Record::Resource(Resource {
                resource_type: need(f.resource_type, "resource_type")?,
                id: need(f.id, "id")?,
                display_name: f.display_name.unwrap_or_default(),
                user: f.user,
                attributes: f.attributes.unwrap_or_default(),
            }),
            "entitlement" => Record::Entitlement(Entitlement {
                id: need(f.id, "id")?,
                resource_type: need(f.resource_type, "resource_type")?,
                resource_id: need(f.resource_id, "resource_id")?,
                slug: f.slug.unwrap_or_default(),
                display_name: f.display_name.unwrap_or_default(),
                description: f.description.unwrap_or_default(),
                purpose: need(f.purpose, "purpose")?,
                grantable_to: f.grantable_to.unwrap_or_default(),
            }),
            "grant" => Record::Grant(Grant {
                id: f.id.unwrap_or_default(),
                entitlement: need(f.entitlement, "entitlement")?,
                principal_type: need(f.principal_type, "principal_type")?,
                principal_id: need(f.principal_id, "principal_id")?,
            }),
            other => return Err(unknown_kind(other)),
        })
    }
}

/// One line as read: where it starts, its number, its bytes without the line end.
pub struct RawLine<'b> {
    pub line: u64,
    pub offset: u64,
    pub bytes: &'b [u8],
    /// Whether a newline ended it: the last line of a truncated file has none.
    pub terminated: bool,
}

/// A sync file read line by line.
pub struct LineReader {
    path: PathBuf,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line: u64,
    offset: u64,
}

impl LineReader {
    pub fn open(path: &Path) -> Result<Self, ReviewError> {
        let file = File::open(path).map_err(|e| ReviewError::read(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 16, file),
            buf: Vec::with_capacity(1024),
            line: 0,
            offset: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next line, or `None` at the end. An empty line is bad input: a sync has none.
    pub fn next_line(&mut self) -> Result<Option<RawLine<'_>>, ReviewError> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ReviewError::read(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let offset = self.offset;
        self.offset += n as u64;
        let mut bytes = self.buf.as_slice();
        let terminated = bytes.last() == Some(&b'\n');
        if terminated {
            bytes = bytes.get(..bytes.len() - 1).unwrap_or_default();
        }
        if bytes.last() == Some(&b'\r') {
            bytes = bytes.get(..bytes.len() - 1).unwrap_or_default();
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ReviewError::bad_line(
                &self.path,
                self.line,
                "empty line (a sync has one record on every line)",
            ));
        }
        Ok(Some(RawLine {
            line: self.line,
            offset,
            bytes,
            terminated,
        }))
    }
}

/// Turns serde_json's message into one about this line.
fn json_reason(e: &serde_json::Error, raw: &RawLine<'_>) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let bare = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    match e.classify() {
        Category::Eof if !raw.terminated => {
            "the file ends in the middle of this record: it looks truncated".into()
        }
        Category::Eof => "the record is cut short: incomplete JSON".into(),
        Category::Syntax => format!("not JSON at column {}: {bare}", e.column()),
        Category::Data | Category::Io => format!("not a sync record: {bare}"),
    }
}

fn check_object(raw: &RawLine<'_>) -> Result<(), String> {
    match raw.bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err("not a JSON object (a sync has one object per line)".into()),
    }
}

pub fn parse_key<'b>(path: &Path, raw: &RawLine<'b>) -> Result<KeyView<'b>, ReviewError> {
    check_object(raw).map_err(|r| ReviewError::bad_line(path, raw.line, r))?;
    serde_json::from_slice::<KeyView<'b>>(raw.bytes)
        .map_err(|e| ReviewError::bad_line(path, raw.line, json_reason(&e, raw)))
}

pub fn parse_record(path: &Path, raw: &RawLine<'_>) -> Result<Record, ReviewError> {
    check_object(raw).map_err(|r| ReviewError::bad_line(path, raw.line, r))?;
    let flat: Flat<'_> = serde_json::from_slice(raw.bytes)
        .map_err(|e| ReviewError::bad_line(path, raw.line, json_reason(&e, raw)))?;
    Record::from_flat(flat).map_err(|r| ReviewError::bad_line(path, raw.line, r))
}

/// A whole sync in memory, in file order (the report reads one sync; the diff streams).
#[derive(Debug, Clone, Default)]
pub struct Sync {
    pub resource_types: Vec<ResourceType>,
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
}

impl Sync {
    pub fn records(&self) -> usize {
        self.resource_types.len()
            + self.resources.len()
            + self.entitlements.len()
            + self.grants.len()
    }
}

pub fn read_sync(path: &Path) -> Result<Sync, ReviewError> {
    let mut reader = LineReader::open(path)?;
    let mut sync = Sync::default();
    while let Some(raw) = reader.next_line()? {
        match parse_record(path, &raw)? {
            Record::ResourceType(t) => sync.resource_types.push(t),
            Record::Resource(r) => sync.resources.push(r),
            Record::Entitlement(e) => sync.entitlements.push(e),
            Record::Grant(g) => sync.grants.push(g),
        }
    }
    if sync.records() == 0 {
        return Err(ReviewError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(sync)
}

/// Reads single records back by offset (the diff keeps offsets, not records).
pub struct RecordAt {
    path: PathBuf,
    reader: BufReader<File>,
    buf: Vec<u8>,
}

impl RecordAt {
    pub fn open(path: &Path) -> Result<Self, ReviewError> {
        let file = File::open(path).map_err(|e| ReviewError::read(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 13, file),
            buf: Vec::new(),
        })
    }

    pub fn read(&mut self, offset: u64, line: u64) -> Result<Record, ReviewError> {
        self.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| ReviewError::read(&self.path, e))?;
        self.buf.clear();
        self.reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| ReviewError::read(&self.path, e))?;
        let terminated = self.buf.last() == Some(&b'\n');
        let mut bytes = self.buf.as_slice();
        while let Some((b'\n' | b'\r', rest)) = bytes.split_last() {
            bytes = rest;
        }
        parse_record(
            &self.path,
            &RawLine {
                line,
                offset,
                bytes,
                terminated,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_sdk::model::{
        AccountStatus, Entitlement as SdkEntitlement, EntitlementPurpose, Grant as SdkGrant,
        Resource as SdkResource, ResourceRef, UserProfile,
    };
    use std::io::Write;
    use sync_engine::jsonl::Line;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn error_of(text: &str) -> String {
        let f = file(text);
        read_sync(f.path())
            .unwrap_err()
            .to_string()
            .replace(&f.path().display().to_string(), "FILE")
    }

    #[test]
    fn reads_back_what_sync_engine_writes() {
        let account = SdkResource {
            resource_type: "user".into(),
            id: "o'brien \"x\"".into(),
            display_name: "Seán O'Brien".into(),
            user: Some(UserProfile {
                login: "o'brien".into(),
                email: None,
                status: AccountStatus::Disabled,
                last_login: Some("2026-01-02T03:04:05.123456".into()),
                login_count: Some(4),
                fail_login_count: Some(0),
                created_at: None,
            }),
            attributes: vec![("z".into(), "1".into()), ("a".into(), "2".into())],
        };
        let ent = SdkEntitlement {
            id: "role:Admin:member".into(),
            resource: ResourceRef::new("role", "Admin"),
            slug: "member".into(),
            display_name: "Admin member".into(),
            description: "d".into(),
            purpose: EntitlementPurpose::Permission,
            grantable_to: vec!["user".into()],
        };
        let grant = SdkGrant {
            id: "g".into(),
            entitlement_id: "role:Admin:member".into(),
            principal: ResourceRef::new("user", "o'brien \"x\""),
        };
        let text = [
            Line::resource(&account).to_json(),
            Line::entitlement(&ent).to_json(),
            Line::grant(&grant).to_json(),
        ]
        .join("\n")
            + "\n";
        let f = file(&text);
        let sync = read_sync(f.path()).unwrap();
        let r = &sync.resources[0];
        assert_eq!(r.id, "o'brien \"x\"");
        let u = r.user.as_ref().unwrap();
        assert_eq!(u.status, "disabled");
        assert_eq!(u.email, None);
        assert_eq!(u.login_count, Some(4));
        assert_eq!(r.attributes.0[0], ("z".into(), "1".into()));
        assert!(sync.entitlements[0].is_permission());
        assert_eq!(sync.entitlements[0].resource_id, "Admin");
        assert_eq!(sync.grants[0].principal_id, "o'brien \"x\"");
    }

    #[test]
    fn bad_input_names_the_line_and_the_reason() {
        let good = r#"{"type":"resource_type","id":"user","display_name":"User"}"#;
        assert_eq!(
            error_of(&format!("{good}\n{{\"type\":\"grant\",\"id\":\"g\"")),
            "FILE, line 2: the file ends in the middle of this record: it looks truncated"
        );
        assert_eq!(
            error_of(&format!("{good}\nnot json\n")),
            "FILE, line 2: not a JSON object (a sync has one object per line)"
        );
        assert_eq!(
            error_of(&format!("{good}\n{{\"type\": oops}}\n")),
            "FILE, line 2: not JSON at column 10: expected value"
        );
        assert_eq!(
            error_of(&format!("{good}\n{{\"type\":\"group\",\"id\":\"x\"}}\n")),
            "FILE, line 2: unknown record type `group` (a sync holds resource_type, resource, \
             entitlement and grant records)"
        );
        assert_eq!(
            error_of(&format!(
                "{good}\n{{\"type\":\"grant\",\"entitlement\":\"e\"}}\n"
            )),
            "FILE, line 2: a `grant` record without `principal_type`"
        );
        assert_eq!(
            error_of(&format!("{good}\n\n{good}\n")),
            "FILE, line 2: empty line (a sync has one record on every line)"
        );
        assert_eq!(
            error_of(r#"{"resources":[]}"#),
            "FILE, line 1: no `type` field: not a sync record (a sync holds resource_type, \
             resource, entitlement and grant records)"
        );
        assert!(error_of("").starts_with("FILE holds no records"));
    }

    #[test]
    fn keys_identify_records_across_syncs() {
        let key = |s: &str| {
            let raw = RawLine {
                line: 1,
                offset: 0,
                bytes: s.as_bytes(),
                terminated: true,
            };
            parse_key(Path::new("f"), &raw).unwrap().key().unwrap()
        };
        // One entitlement held twice by one principal (explicitly, and through a group) is two
        // grants; the order of the fields does not matter.
        let g = |id: &str| {
            key(&format!(
                r#"{{"type":"grant","id":"{id}","entitlement":"e","principal_type":"user","principal_id":"u"}}"#
            ))
        };
        assert_ne!(g("a"), g("a:implicit"));
        assert_eq!(
            g("a"),
            key(
                r#"{"entitlement":"e","principal_id":"u","id":"a","type":"grant","principal_type":"user"}"#
            )
        );
        // Length prefixes: ("ab","c") is not ("a","bc").
        assert_ne!(
            key(r#"{"type":"resource","resource_type":"ab","id":"c"}"#),
            key(r#"{"type":"resource","resource_type":"a","id":"bc"}"#)
        );
    }
}
