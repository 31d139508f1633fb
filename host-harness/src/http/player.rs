//! Replay: answering requests from a cassette, each interaction consumed once.

use super::replay_cassette::{Answer, ReplayCassette};
use crate::cassette::{path_and_query, Body, Cassette, RecordedRequest};

/// A request as the replay matcher sees it (already scrubbed like the cassette was).
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub method: String,
    /// Absolute URL; only path and query take part in matching.
    pub url: String,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    method: String,
    path: String,
    /// Sorted, so `?a=1&b=2` matches `?b=2&a=1`.
    query: Vec<(String, String)>,
}

impl Key {
    fn unreadable() -> Self {
        Self {
            method: String::new(),
            path: "(unreadable)".into(),
            query: Vec::new(),
        }
    }

    fn new(method: &str, url: &str) -> Self {
        let pq = path_and_query(url);
        let (path, query) = pq.split_once('?').unwrap_or((pq.as_str(), ""));
        let mut query: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        query.sort();
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
            query,
        }
    }
}

/// `METHOD path?query` as it appears in messages.
pub fn describe(method: &str, url: &str) -> String {
    format!("{} {}", method.to_ascii_uppercase(), path_and_query(url))
}

fn bodies_match(recorded: &Body, incoming: &Body) -> bool {
    if recorded.is_empty() || incoming.is_empty() {
        return recorded.is_empty() && incoming.is_empty();
    }
    match (&recorded.json, &incoming.json) {
        (Some(a), Some(b)) => a == b,
        (None, None) => recorded.text == incoming.text,
        _ => false,
    }
}

pub struct Player {
    name: String,
    cassette: ReplayCassette,
    /// (hash of the key, interaction) sorted: the interactions a request may match, found by
    /// binary search, for a few bytes per interaction.
    index: Vec<(u64, usize)>,
    used: Vec<bool>,
}

fn key_hash(key: &Key) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

const EXCERPT: usize = 200;

impl Player {
    /// `name` identifies the cassette in messages (its path).
    pub fn new(cassette: Cassette, name: String) -> Self {
        Self::from_replay(ReplayCassette::from_cassette(cassette), name)
    }

    /// A cassette streamed from disk for replay (`ReplayCassette::load`).
    pub fn from_replay(cassette: ReplayCassette, name: String) -> Self {
        // An interaction whose request cannot be read back gets a key no request has, and
        // shows as unreadable where interactions are listed.
        let mut index: Vec<(u64, usize)> = (0..cassette.len())
            .map(|i| {
                let key = cassette
                    .request(i)
                    .map_or_else(|_| Key::unreadable(), |r| Key::new(&r.method, &r.url));
                (key_hash(&key), i)
            })
            .collect();
        index.sort_unstable();
        let used = vec![false; cassette.len()];
        Self {
            name,
            cassette,
            index,
            used,
        }
    }

    /// The response of the first unused interaction matching `req`, which is then used up;
    /// or a message showing the request and the closest recorded interaction.
    pub fn take(&mut self, req: &IncomingRequest) -> Result<Answer, String> {
        let key = Key::new(&req.method, &req.url);
        let hash = key_hash(&key);
        let from = self.index.partition_point(|(h, _)| *h < hash);
        // In recorded order, since the index sorts equal hashes by interaction.
        let found = self.index[from..]
            .iter()
            .take_while(|(h, _)| *h == hash)
            .map(|(_, i)| *i)
            .find(|&i| {
                !self.used[i]
                    && self.cassette.request(i).is_ok_and(|r| {
                        Key::new(&r.method, &r.url) == key && bodies_match(&r.body, &req.body)
                    })
            });
        match found {
            Some(i) => {
                self.used[i] = true;
                self.cassette.answer(i).map_err(|e| {
                    format!(
                        "replay: cannot read the recorded response to {} from the spill file: {e}",
                        describe(&req.method, &req.url)
                    )
                })
            }
            None => Err(self.mismatch_message(req, &key)),
        }
    }

    pub fn unused(&self) -> Vec<String> {
        (0..self.cassette.len())
            .filter(|&i| !self.used[i])
            .map(|i| {
                let r = self.recorded(i);
                describe(&r.method, &r.url)
            })
            .collect()
    }

    /// Recorded request `i` for messages; one the spill file cannot give back says so.
    fn recorded(&self, i: usize) -> RecordedRequest {
        self.cassette
            .request(i)
            .unwrap_or_else(|e| RecordedRequest {
                method: "?".into(),
                url: format!("(interaction {i}: cannot read it back from the spill file: {e})"),
                headers: Default::default(),
                body: Body::default(),
            })
    }

    fn key(&self, i: usize) -> Key {
        let r = self.recorded(i);
        Key::new(&r.method, &r.url)
    }

    fn closest(&self, key: &Key, req: &IncomingRequest) -> Option<usize> {
        let same_route = |i: &usize| {
            let k = self.key(*i);
            k.method == key.method && k.path == key.path
        };
        let all = 0..self.cassette.len();
        // Prefer what replay could still have served, then anything on the same route, then
        // the nearest by text.
        all.clone()
            .filter(|i| !self.used[*i] && same_route(i))
            .min_by_key(|i| self.route_distance(*i, req))
            .or_else(|| {
                all.clone()
                    .filter(same_route)
                    .min_by_key(|i| self.route_distance(*i, req))
            })
            .or_else(|| all.min_by_key(|i| (self.used[*i], self.route_distance(*i, req))))
    }

    fn route_distance(&self, i: usize, req: &IncomingRequest) -> usize {
        let recorded = self.recorded(i);
        strsim::levenshtein(
            &describe(&recorded.method, &recorded.url),
            &describe(&req.method, &req.url),
        )
    }

    fn mismatch_message(&self, req: &IncomingRequest, key: &Key) -> String {
        let request_line = describe(&req.method, &req.url);
        let mut msg = format!(
            "replay mismatch: no unused interaction in cassette {} matches {request_line}\n  request: {request_line}",
            self.name
        );
        push_body(&mut msg, &req.body);
        match self.closest(key, req) {
            Some(i) => {
                let rec = &self.recorded(i);
                msg.push_str(&format!("\n  closest: {}", describe(&rec.method, &rec.url)));
                push_body(&mut msg, &rec.body);
                let mut diffs = Vec::new();
                let k = &self.key(i);
                if k.method != key.method {
                    diffs.push("method");
                }
                if k.path != key.path {
                    diffs.push("path");
                }
                if k.query != key.query {
                    diffs.push("query");
                }
                if !bodies_match(&rec.body, &req.body) {
                    diffs.push("body");
                }
                let note = if diffs.is_empty() {
                    "identical but already used: the connector sent this request more often than recorded".to_string()
                } else {
                    let used = if self.used[i] { ", already used" } else { "" };
                    format!("differs in {}{used}", diffs.join(", "))
                };
                msg.push_str(&format!("\n  ({note})"));
            }
            None => msg.push_str("\n  (the cassette has no interactions)"),
        }
        let used = self.used.iter().filter(|u| **u).count();
        msg.push_str(&format!(
            "\n  {used} of {} recorded interactions used so far",
            self.cassette.len()
        ));
        msg
    }
}

fn push_body(msg: &mut String, body: &Body) {
    if !body.is_empty() {
        msg.push_str("  body: ");
        msg.push_str(&body.excerpt(EXCERPT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Interaction, RecordedRequest, RecordedResponse};
    use std::collections::BTreeMap;

    fn interaction(method: &str, url: &str, body: &str, status: u16) -> Interaction {
        Interaction {
            request: RecordedRequest {
                method: method.into(),
                url: url.into(),
                headers: BTreeMap::new(),
                body: Body::from_bytes(body.as_bytes()),
            },
            response: RecordedResponse {
                status,
                headers: BTreeMap::new(),
                body: Body::default(),
            },
        }
    }

    fn player(interactions: Vec<Interaction>) -> Player {
        let mut c = Cassette::new("t".into(), "t".into(), BTreeMap::new());
        c.interactions = interactions;
        Player::new(c, "test.json".into())
    }

    fn req(method: &str, url: &str, body: &str) -> IncomingRequest {
        IncomingRequest {
            method: method.into(),
            url: url.into(),
            body: Body::from_bytes(body.as_bytes()),
        }
    }

    #[test]
    fn query_order_and_json_formatting_do_not_matter() {
        let mut p = player(vec![
            interaction("GET", "http://h:1/api/v2/users?limit=2&offset=0", "", 200),
            interaction("POST", "http://h:1/auth/token", r#"{"a":1,"b":[1,2]}"#, 201),
        ]);
        assert_eq!(
            p.take(&req(
                "get",
                "http://other:9/api/v2/users?offset=0&limit=2",
                ""
            ))
            .unwrap()
            .status,
            200
        );
        assert_eq!(
            p.take(&req(
                "POST",
                "http://h:1/auth/token",
                "{ \"b\": [1, 2], \"a\": 1 }"
            ))
            .unwrap()
            .status,
            201
        );
        assert!(p.unused().is_empty());
    }

    #[test]
    fn each_interaction_is_consumed_once_in_order() {
        let mut p = player(vec![
            interaction("GET", "http://h/x", "", 500),
            interaction("GET", "http://h/x", "", 200),
        ]);
        assert_eq!(p.take(&req("GET", "http://h/x", "")).unwrap().status, 500);
        assert_eq!(p.take(&req("GET", "http://h/x", "")).unwrap().status, 200);
        let msg = p.take(&req("GET", "http://h/x", "")).unwrap_err();
        assert!(msg.contains("already used"), "{msg}");
        assert!(msg.contains("2 of 2"), "{msg}");
    }

    #[test]
    fn mismatch_shows_request_and_closest_same_route() {
        let mut p = player(vec![
            interaction("GET", "http://h/api/v2/roles", "", 200),
            interaction(
                "POST",
                "http://h/auth/token",
                r#"{"username":"admin"}"#,
                201,
            ),
            interaction("GET", "http://h/api/v2/users?limit=100", "", 200),
        ]);
        let msg = p
            .take(&req("POST", "http://h/auth/token", r#"{"username":"bob"}"#))
            .unwrap_err();
        assert!(
            msg.contains("request: POST /auth/token  body: {\"username\":\"bob\"}"),
            "{msg}"
        );
        assert!(
            msg.contains("closest: POST /auth/token  body: {\"username\":\"admin\"}"),
            "{msg}"
        );
        assert!(msg.contains("differs in body"), "{msg}");

        let msg = p
            .take(&req("GET", "http://h/api/v2/users?limit=50", ""))
            .unwrap_err();
        assert!(
            msg.contains("closest: GET /api/v2/users?limit=100"),
            "{msg}"
        );
        assert!(msg.contains("differs in query"), "{msg}");

        let msg = p
            .take(&req("GET", "http://h/api/v2/rolez", ""))
            .unwrap_err();
        assert!(msg.contains("closest: GET /api/v2/roles"), "{msg}");
        assert_eq!(p.unused().len(), 3);
    }

    #[test]
    fn text_bodies_match_exactly_and_empty_only_matches_empty() {
        let mut p = player(vec![interaction("POST", "http://h/x", "a=1", 200)]);
        assert!(p.take(&req("POST", "http://h/x", "a=2")).is_err());
        assert!(p.take(&req("POST", "http://h/x", "")).is_err());
        assert!(p.take(&req("POST", "http://h/x", "a=1")).is_ok());
    }

    #[test]
    fn unused_lists_method_and_path() {
        let p = player(vec![interaction(
            "DELETE",
            "http://h/api/v2/users/bob?x=1",
            "",
            204,
        )]);
        assert_eq!(p.unused(), vec!["DELETE /api/v2/users/bob?x=1".to_string()]);
    }
}
