//! A cassette as replay holds it: each recorded request (matched) and response (headers, and
//! the body as the compact bytes replay sends), kept out of memory in a spill file; in memory
//! only where each is. A large directory's cassette is large; holding it made replay's memory
//! grow with the directory, which a sync over HTTP does not (BENCHMARKS.md, "Memory bounded by
//! a page").

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::{Deserializer, Error as _, SeqAccess, Visitor};
use serde::Deserialize;

use crate::cassette::{check_format, Cassette, RecordedRequest};

/// A response as spans of the body store: its headers (as JSON, with `content-type:
/// application/json` added to a JSON body that recorded none) and its body. Nothing of a
/// response stays in memory, so the index grows by a few bytes per interaction.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    headers: Span,
    body: Span,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    offset: u64,
    len: usize,
}

/// A recorded response ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// Where response bodies live: memory for a cassette already in memory (tests, small
/// scenarios), an anonymous temporary file for one streamed from disk.
enum Store {
    Memory(Vec<u8>),
    File { file: BufWriter<File>, len: u64 },
}

pub struct BodyStore(Store);

impl BodyStore {
    fn memory() -> Self {
        BodyStore(Store::Memory(Vec::new()))
    }

    fn spill_file() -> std::io::Result<Self> {
        Ok(BodyStore(Store::File {
            file: BufWriter::new(tempfile::tempfile()?),
            len: 0,
        }))
    }

    fn append(&mut self, bytes: &[u8]) -> std::io::Result<Span> {
        let offset = match &mut self.0 {
            Store::Memory(buf) => {
                let offset = buf.len() as u64;
                buf.extend_from_slice(bytes);
                offset
            }
            Store::File { file, len } => {
                let offset = *len;
                file.write_all(bytes)?;
                *len += bytes.len() as u64;
                offset
            }
        };
        Ok(Span {
            offset,
            len: bytes.len(),
        })
    }

    /// Writes out what loading buffered; reads need it done.
    fn seal(&mut self) -> std::io::Result<()> {
        match &mut self.0 {
            Store::Memory(_) => Ok(()),
            Store::File { file, .. } => file.flush(),
        }
    }

    /// Reads at an offset (`pread`), so that a sealed store is read through `&self`.
    fn read(&self, span: Span) -> std::io::Result<Vec<u8>> {
        match &self.0 {
            Store::Memory(buf) => {
                let start = usize::try_from(span.offset).unwrap_or(usize::MAX);
                buf.get(start..start.saturating_add(span.len))
                    .map(<[u8]>::to_vec)
                    .ok_or_else(|| std::io::Error::other("body span outside the store"))
            }
            Store::File { file, .. } => {
                let mut body = vec![0; span.len];
                file.get_ref().read_exact_at(&mut body, span.offset)?;
                Ok(body)
            }
        }
    }
}

/// Interactions as spans of one store: the recorded requests (read when matching), and the
/// responses replay sends. In memory stay a few bytes per interaction, so a cassette of a
/// million users replays in the memory of a small one.
pub struct ReplayCassette {
    requests: Vec<Span>,
    responses: Vec<StoredResponse>,
    bodies: BodyStore,
}

impl ReplayCassette {
    /// Streams `path` once: each response body is re-serialised compactly straight from the
    /// parser into the spill file (no JSON tree, no copy of the file in memory).
    pub fn load(path: &Path) -> Result<Self> {
        let file =
            File::open(path).with_context(|| format!("cannot read cassette {}", path.display()))?;
        let head: ReplayFile = serde_json::from_reader(BufReader::with_capacity(1 << 16, file))
            .with_context(|| format!("cassette {} is not a valid cassette", path.display()))?;
        check_format(&head.format, path)?;
        Ok(head.interactions.0)
    }

    /// From a cassette already in memory; bodies stay in memory.
    pub fn from_cassette(cassette: Cassette) -> Self {
        let mut out = ReplayCassette {
            requests: Vec::with_capacity(cassette.interactions.len()),
            responses: Vec::with_capacity(cassette.interactions.len()),
            bodies: BodyStore::memory(),
        };
        for i in cassette.interactions {
            let bytes = i.response.body.to_bytes();
            let json = i.response.body.json.is_some();
            // Appending to memory cannot fail.
            if let Ok(span) = out.bodies.append(&bytes) {
                let mut request = i.request;
                request.headers = BTreeMap::new();
                let _ = out.push(&request, i.response.status, i.response.headers, json, span);
            }
        }
        out
    }

    fn push(
        &mut self,
        request: &RecordedRequest,
        status: u16,
        mut headers: BTreeMap<String, String>,
        json: bool,
        body: Span,
    ) -> std::io::Result<()> {
        // Hand-written cassettes often leave the content type out of a JSON answer.
        if json
            && !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            headers.insert("content-type".into(), "application/json".into());
        }
        let headers = self
            .bodies
            .append(&serde_json::to_vec(&headers).map_err(std::io::Error::other)?)?;
        let request = self
            .bodies
            .append(&serde_json::to_vec(request).map_err(std::io::Error::other)?)?;
        self.requests.push(request);
        self.responses.push(StoredResponse {
            status,
            headers,
            body,
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.requests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Recorded request `i` (without its headers, which matching never reads).
    pub fn request(&self, i: usize) -> std::io::Result<RecordedRequest> {
        let span = *self
            .requests
            .get(i)
            .ok_or_else(|| std::io::Error::other("no such interaction"))?;
        serde_json::from_slice(&self.bodies.read(span)?).map_err(std::io::Error::other)
    }

    /// Response `i` with its body read back from the store.
    pub fn answer(&self, i: usize) -> std::io::Result<Answer> {
        let stored = self
            .responses
            .get(i)
            .ok_or_else(|| std::io::Error::other("no such interaction"))?;
        let (status, headers, body) = (stored.status, stored.headers, stored.body);
        let headers =
            serde_json::from_slice(&self.bodies.read(headers)?).map_err(std::io::Error::other)?;
        Ok(Answer {
            status,
            headers,
            body: self.bodies.read(body)?,
        })
    }
}

/// The fields replay needs; `source`, `recorded_at` and `synthetic` are skipped.
#[derive(Deserialize)]
struct ReplayFile {
    format: String,
    interactions: Interactions,
}

struct Interactions(ReplayCassette);

/// No `#[serde(flatten)]` (it buffers every value it sees), so each field streams.
#[derive(Deserialize)]
struct InteractionIn {
    request: RecordedRequest,
    response: ResponseIn,
}

#[derive(Deserialize)]
struct ResponseIn {
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    json: Option<CompactJson>,
    #[serde(default)]
    text: Option<String>,
}

thread_local! {
    /// The body being loaded. One buffer for all of them: a new `Vec` per body, grown by
    /// doubling and freed once spilled, fragments the heap so that its peak grows with the
    /// number of interactions (BENCHMARKS.md, "Replay of 1M users").
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A JSON value re-serialised compactly as it is parsed, into [`SCRATCH`], without building a
/// tree: a `Value` tree per body, or capturing the raw text and stripping its whitespace, cost
/// more to load (BENCHMARKS.md; serde_json reads a `Read` one byte at a time either way).
struct CompactJson;

impl<'de> Deserialize<'de> for CompactJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        SCRATCH.with(|scratch| {
            let mut out = scratch.borrow_mut();
            out.clear();
            serde_transcode::transcode(d, &mut serde_json::Serializer::new(&mut *out))
                .map_err(D::Error::custom)
        })?;
        Ok(CompactJson)
    }
}

impl<'de> Deserialize<'de> for Interactions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Interactions;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of interactions")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let bodies = BodyStore::spill_file()
                    .map_err(|e| A::Error::custom(format!("cannot create a spill file: {e}")))?;
                let mut out = ReplayCassette {
                    requests: Vec::new(),
                    responses: Vec::new(),
                    bodies,
                };
                while let Some(i) = seq.next_element::<InteractionIn>()? {
                    let ResponseIn {
                        status,
                        headers,
                        json,
                        text,
                    } = i.response;
                    let spilled = match (json, text) {
                        (Some(CompactJson), _) => SCRATCH
                            .with(|s| out.bodies.append(&s.borrow()))
                            .map(|s| (true, s)),
                        (None, Some(text)) => {
                            out.bodies.append(text.as_bytes()).map(|s| (false, s))
                        }
                        (None, None) => out.bodies.append(&[]).map(|s| (false, s)),
                    };
                    let (json, span) = spilled.map_err(|e| {
                        A::Error::custom(format!("cannot write the spill file: {e}"))
                    })?;
                    // Matching never reads the recorded request headers.
                    let mut request = i.request;
                    request.headers = BTreeMap::new();
                    out.push(&request, status, headers, json, span)
                        .map_err(|e| {
                            A::Error::custom(format!("cannot write the spill file: {e}"))
                        })?;
                }
                out.bodies
                    .seal()
                    .map_err(|e| A::Error::custom(format!("cannot write the spill file: {e}")))?;
                Ok(Interactions(out))
            }
        }
        d.deserialize_seq(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Interaction, RecordedResponse};

    fn cassette() -> Cassette {
        let mut c = Cassette::new("t".into(), "t".into(), BTreeMap::new());
        for (status, body, content_type) in [
            (
                200,
                &br#"{ "users": [ {"name": "a\"b"} ], "n": 1.5 }"#[..],
                None,
            ),
            (502, &b"<html>bad gateway"[..], Some("text/html")),
            (204, &b""[..], None),
            (200, &b"[1, 2]"[..], Some("application/problem+json")),
        ] {
            c.interactions.push(Interaction {
                request: RecordedRequest {
                    method: "GET".into(),
                    url: format!("http://h/{status}"),
                    headers: BTreeMap::new(),
                    body: Body::default(),
                },
                response: RecordedResponse {
                    status,
                    headers: content_type
                        .map(|t| [("content-type".to_string(), t.to_string())].into())
                        .unwrap_or_default(),
                    body: Body::from_bytes(body),
                },
            });
        }
        c
    }

    #[test]
    fn streamed_and_in_memory_answers_are_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        cassette().save(&path).unwrap();
        let streamed = ReplayCassette::load(&path).unwrap();
        let in_memory = ReplayCassette::from_cassette(cassette());
        assert_eq!(streamed.len(), 4);
        // Out of order, as replay may take them.
        for i in [3, 0, 2, 1] {
            assert_eq!(streamed.answer(i).unwrap(), in_memory.answer(i).unwrap());
        }
        let first = streamed.answer(0).unwrap();
        assert_eq!(first.body, br#"{"users":[{"name":"a\"b"}],"n":1.5}"#);
        assert_eq!(first.headers["content-type"], "application/json");
        let html = streamed.answer(1).unwrap();
        assert_eq!(html.body, b"<html>bad gateway");
        assert_eq!(html.headers["content-type"], "text/html");
        assert!(streamed.answer(2).unwrap().body.is_empty());
        assert_eq!(
            streamed.answer(3).unwrap().headers["content-type"],
            "application/problem+json"
        );
        for i in 0..4 {
            let request = streamed.request(i).unwrap();
            assert_eq!(request, in_memory.request(i).unwrap());
            assert_eq!(request.url, cassette().interactions[i].request.url);
        }
    }

    #[test]
    fn a_broken_cassette_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.json");
        std::fs::write(
            &path,
            r#"{"format":"governance-connector-cassette/1","interactions":[{"request":"#,
        )
        .unwrap();
        let err = format!("{:#}", ReplayCassette::load(&path).err().unwrap());
        assert!(
            err.contains("broken.json") && err.contains("not a valid cassette"),
            "{err}"
        );
        std::fs::write(&path, r#"{"format":"x/2","interactions":[]}"#).unwrap();
        let err = format!("{:#}", ReplayCassette::load(&path).err().unwrap());
        assert!(err.contains("x/2"), "{err}");
    }
}
