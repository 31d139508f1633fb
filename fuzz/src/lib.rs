//! One fuzz input = one conversation with a hostile "Airflow": which contract call the host
//! makes, with which arguments and settings, and the HTTP answers the server gives, in order.
//! The input drives the real `Connector` through a scripted `Transport`, and also feeds every
//! answer body and argument straight to the parsers (errors, JWT expiry, page tokens, ids,
//! settings) and to the mapping. A panic anywhere is a crash; so is a configured secret that
//! shows up in any output although the input never contained it.
//!
//! Format (text-friendly, so libFuzzer's mutations and the dictionary work on it):
//!
//! ```text
//! <op byte><config byte><arg>\x1f<arg>\x1f…      the control chunk
//! \n\x1e\n<status>[ <retry-after>]\n<body>       one answer; repeat
//! ```
//!
//! `scripts/fuzz-seeds.py` writes one such input per recorded cassette.

use airflow_connector::airflow::api::{Role, RoleCollection, User, UserCollection};
use airflow_connector::airflow::{errors, jwt};
use airflow_connector::config::Config;
use airflow_connector::connector::Connector;
use airflow_connector::http::{Request, Response, Transport};
use airflow_connector::model::{
    AccountRequest, ProvisionAction, ResourceRef, ResourceRequest, RevokeTarget,
};
use airflow_connector::{ids, mapping, metadata, paging};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

pub const CHUNK_SEPARATOR: &[u8] = b"\n\x1e\n";
pub const ARG_SEPARATOR: char = '\x1f';

/// Credentials the connector is configured with. The base64 form is what a Basic header holds.
pub const PASSWORD: &str = "Fuzz-Secret-Pa55word";
pub const TOKEN: &str = "fuzz-static-operator-token-0123";
pub const BASIC_PAIR: &str = "YWRtaW46RnV6ei1TZWNyZXQtUGE1NXdvcmQ="; // admin:Fuzz-Secret-Pa55word

/// Bounds so one input stays fast: pages followed per type and per-resource calls in a sync.
const MAX_PAGES: usize = 16;
const MAX_RESOURCE_CALLS: usize = 64;

/// Answers requests from the fuzzed script; when it runs dry, the connection is refused.
pub struct ScriptedTransport {
    answers: RefCell<VecDeque<Response>>,
    clock: Cell<u64>,
    pub requests: Cell<usize>,
}

impl ScriptedTransport {
    pub fn new(answers: Vec<Response>) -> Self {
        ScriptedTransport {
            answers: RefCell::new(answers.into()),
            clock: Cell::new(1_800_000_000),
            requests: Cell::new(0),
        }
    }
}

impl Transport for &ScriptedTransport {
    fn send(&self, _request: &Request) -> Result<Response, String> {
        self.requests.set(self.requests.get() + 1);
        self.answers
            .borrow_mut()
            .pop_front()
            .ok_or_else(|| "connection refused (the fuzz script has no more answers)".to_string())
    }

    /// Pauses advance the clock (so JWT renewal is reachable) instead of sleeping.
    fn pause(&self, duration: std::time::Duration) {
        self.clock
            .set(self.clock.get().saturating_add(duration.as_secs().max(1)));
    }

    fn now_unix(&self) -> u64 {
        self.clock.get()
    }

    /// A clock that stands still: the verification wait (and whether a second read back is
    /// sent) depends on measured time, and an input must replay the same requests every run.
    fn monotonic_now() -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// `<status>[ <retry-after>]\n<body>`; a status that is not a number is 200.
pub fn parse_answer(chunk: &[u8]) -> Response {
    let (head, body) = match chunk.iter().position(|&b| b == b'\n') {
        Some(i) => (&chunk[..i], &chunk[i + 1..]),
        None => (chunk, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let (status, retry_after) = match head.split_once(' ') {
        Some((s, r)) => (s, Some(r)),
        None => (head.as_ref(), None),
    };
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(r) = retry_after {
        headers.push(("retry-after".to_string(), r.to_string()));
    }
    Response {
        status: status.trim().parse().unwrap_or(200),
        headers,
        body: body.to_vec(),
    }
}

fn split_chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest
        .windows(CHUNK_SEPARATOR.len())
        .position(|w| w == CHUNK_SEPARATOR)
    {
        out.push(&rest[..i]);
        rest = &rest[i + CHUNK_SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// Settings from the config byte: bits 0-1 the API generation (0 = detect), bit 2 token
/// auth, bit 3 provisioning, bit 4 a username beside the token.
fn settings(config: u8) -> Vec<(String, String)> {
    let mut s = vec![
        ("base_url".to_string(), "http://127.0.0.1:28080".to_string()),
        ("verify_delay_ms".to_string(), "0".to_string()),
    ];
    let generation = ["auto", "fab-fastapi", "fab-connexion", "airflow2"][usize::from(config & 3)];
    s.push(("api_generation".into(), generation.into()));
    if config & 4 != 0 {
        s.push(("auth_mode".into(), "token".into()));
        s.push(("token".into(), TOKEN.into()));
        if config & 16 != 0 {
            s.push(("username".into(), "admin".into()));
        }
    } else {
        s.push(("username".into(), "admin".into()));
        s.push(("password".into(), PASSWORD.into()));
    }
    if config & 8 != 0 {
        s.push(("provisioning".into(), "true".into()));
    }
    s
}

/// Everything the connector returned or said, for the leak check.
#[derive(Default)]
struct Said(String);

impl Said {
    fn note<T: std::fmt::Debug, E: std::fmt::Display>(&mut self, result: &Result<T, E>) {
        match result {
            Ok(v) => self.0.push_str(&format!("{v:?}\n")),
            Err(e) => self.0.push_str(&format!("{e}\n")),
        }
    }
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(String::as_str).unwrap_or("")
}

/// An optional argument: absent means None (the first page), present may be empty.
fn opt(args: &[String], i: usize) -> Option<&str> {
    args.get(i).map(String::as_str)
}

pub fn run(data: &[u8]) {
    let chunks = split_chunks(data);
    let control = chunks[0];
    let op = control.first().copied().unwrap_or(0);
    let config = control.get(1).copied().unwrap_or(0);
    let args: Vec<String> = String::from_utf8_lossy(control.get(2..).unwrap_or(&[]))
        .split(ARG_SEPARATOR)
        .map(str::to_string)
        .collect();
    let answers: Vec<Response> = chunks[1..].iter().map(|c| parse_answer(c)).collect();

    let mut said = Said::default();
    parsers(&args, &answers, &mut said);
    conversation(op, config, &args, answers, &mut said);

    // The configured credentials never appear in what the connector says, unless the fuzzed
    // server (or argument) put them there itself.
    if let Some(secret) = revealed(data, &said.0) {
        panic!(
            "the connector revealed the configured {secret}:\n{}",
            said.0
        );
    }
}

/// Which configured secret `said` holds that the input did not plant, if any.
fn revealed(data: &[u8], said: &str) -> Option<&'static str> {
    [
        ("password", PASSWORD),
        ("token", TOKEN),
        ("Basic pair", BASIC_PAIR),
    ]
    .into_iter()
    .find(|(_, secret)| {
        said.contains(secret) && !data.windows(secret.len()).any(|w| w == secret.as_bytes())
    })
    .map(|(name, _)| name)
}

/// The parsers and the mapping, called directly on every argument and answer.
fn parsers(args: &[String], answers: &[Response], said: &mut Said) {
    for a in args {
        let renew = jwt::renew_at(a);
        let _ = jwt::expiry(a);
        let _ = jwt::needs_renewal(renew, 1_800_000_000);
        said.note(&paging::decode(Some(a)));
        said.note(&ids::role_of_member_entitlement(a));
        said.note(&ids::parse_grant_id(a));
        said.note(&ids::addressable("role", a));
        said.note(&ids::username_of(&ResourceRef::new(mapping::USER, a)));
    }
    // Settings as the host would pass them: alternate keys and values.
    let pairs: Vec<(String, String)> = args
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv.get(1).cloned().unwrap_or_default()))
        .collect();
    said.note(&Config::parse(&pairs));

    for response in answers {
        said.0.push_str(&errors::server_detail(response));
        said.note::<(), _>(&Err(errors::status_error("fuzzing", response)));
        if let Ok(page) = serde_json::from_slice::<UserCollection>(&response.body) {
            map_users(&page.users, said);
        }
        if let Ok(page) = serde_json::from_slice::<RoleCollection>(&response.body) {
            map_roles(&page.roles, said);
        }
        if let Ok(user) = serde_json::from_slice::<User>(&response.body) {
            map_users(std::slice::from_ref(&user), said);
        }
        if let Ok(role) = serde_json::from_slice::<Role>(&response.body) {
            map_roles(std::slice::from_ref(&role), said);
        }
    }
}

fn map_users(users: &[User], said: &mut Said) {
    for u in users {
        said.0.push_str(&format!(
            "{:?}{:?}{}",
            mapping::user_resource(u),
            mapping::user_grants(u),
            mapping::holds_role(u, "Admin")
        ));
    }
}

fn map_roles(roles: &[Role], said: &mut Said) {
    for r in roles {
        said.0.push_str(&format!(
            "{:?}{:?}{:?}",
            mapping::role_resource(r),
            mapping::role_permission_grants(r),
            mapping::role_member_entitlement(&r.name)
        ));
        for p in mapping::role_permissions(r) {
            said.0.push_str(&format!(
                "{:?}{:?}",
                mapping::permission_resource(p),
                mapping::permission_entitlement(p)
            ));
        }
    }
}

/// One contract call (or a whole sync) through the real connector.
fn conversation(op: u8, config: u8, args: &[String], answers: Vec<Response>, said: &mut Said) {
    let config = match Config::parse(&settings(config)) {
        Ok(c) => c,
        Err(e) => panic!("the fuzz settings are valid: {e}"),
    };
    let transport = ScriptedTransport::new(answers);
    let mut c = Connector::new(&transport, config);
    let user = |i: usize| ResourceRef::new(mapping::USER, arg(args, i));
    match op % 12 {
        0 => said.note(&c.validate()),
        1 => sync(&mut c, said),
        2 => said.note(&c.list_resources(arg(args, 0), opt(args, 1))),
        3 => said.note(
            &c.list_entitlements(&ResourceRef::new(arg(args, 0), arg(args, 1)), opt(args, 2)),
        ),
        4 => said.note(&c.list_grants(&ResourceRef::new(arg(args, 0), arg(args, 1)), opt(args, 2))),
        5 => said.note(&c.provision(&ProvisionAction::Grant(arg(args, 0).into(), user(1)))),
        6 => said.note(&c.provision(&ProvisionAction::Revoke(RevokeTarget::GrantId(
            arg(args, 0).into(),
        )))),
        7 => said.note(
            &c.provision(&ProvisionAction::Revoke(RevokeTarget::Membership(
                arg(args, 0).into(),
                user(1),
            ))),
        ),
        8 => said.note(
            &c.provision(&ProvisionAction::CreateAccount(AccountRequest {
                login: arg(args, 0).into(),
                email: arg(args, 1).into(),
                first_name: arg(args, 2).into(),
                last_name: arg(args, 3).into(),
                entitlement_ids: args.iter().skip(5).cloned().collect(),
                password: opt(args, 4).filter(|p| !p.is_empty()).map(str::to_string),
            })),
        ),
        9 => said.note(&c.provision(&ProvisionAction::DeleteAccount(user(0)))),
        10 => said.note(
            &c.provision(&ProvisionAction::CreateResource(ResourceRequest {
                resource_type: mapping::ROLE.into(),
                id: arg(args, 0).into(),
                entitlement_ids: args.iter().skip(1).cloned().collect(),
            })),
        ),
        _ => said.note(
            &c.provision(&ProvisionAction::DeleteResource(ResourceRef::new(
                mapping::ROLE,
                arg(args, 0),
            ))),
        ),
    }
    said.0.push_str(&format!("{:?}", c.session_info()));
}

/// The host's sync loop (host-harness/src/sync.rs) in small: every synced type page by page,
/// and per resource the entitlement and grant listings its capabilities call for.
fn sync<T: Transport>(c: &mut Connector<T>, said: &mut Said) {
    let types = metadata::resource_types();
    let mut per_resource = 0;
    for t in types
        .iter()
        .filter(|t| t.capabilities.sync && !t.capabilities.inline_resources)
    {
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = c.list_resources(t.id, token.as_deref());
            said.note(&page);
            let Ok(page) = page else { return };
            for r in &page.resources {
                let caps = types
                    .iter()
                    .find(|x| x.id == r.resource_type)
                    .map(|x| x.capabilities)
                    .unwrap_or(t.capabilities);
                if caps.inline_resources || per_resource >= MAX_RESOURCE_CALLS {
                    continue;
                }
                per_resource += 1;
                let rref = ResourceRef::new(&r.resource_type, &r.id);
                if !caps.inline_entitlements {
                    said.note(&c.list_entitlements(&rref, None));
                }
                if !caps.inline_grants {
                    let grants = c.list_grants(&rref, None);
                    said.note(&grants);
                    if let Ok(g) = grants {
                        if let Some(next) = g.next_page_token {
                            said.note(&c.list_grants(&rref, Some(&next)));
                        }
                    }
                }
            }
            match page.next_page_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(op: u8, config: u8, args: &str, answers: &[&str]) -> Vec<u8> {
        let mut data = vec![op, config];
        data.extend_from_slice(args.as_bytes());
        for a in answers {
            data.extend_from_slice(CHUNK_SEPARATOR);
            data.extend_from_slice(a.as_bytes());
        }
        data
    }

    #[test]
    fn answers_parse_with_status_retry_after_and_body() {
        let r = parse_answer(b"429 7\n{\"detail\":\"slow\"}");
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("7"));
        assert_eq!(r.body, b"{\"detail\":\"slow\"}");
        assert_eq!(parse_answer(b"x").status, 200);
        assert_eq!(
            split_chunks(&input(0, 0, "a", &["200\n{}", "404"])).len(),
            3
        );
    }

    #[test]
    fn a_scripted_sync_reaches_the_connector() {
        let users = r#"200
{"users":[{"username":"bob","roles":[{"name":"Op"}]}],"total_entries":1}"#;
        let roles = r#"200
{"roles":[{"name":"Op","actions":[{"action":{"name":"can_read"},"resource":{"name":"DAGs"}}]}],"total_entries":1}"#;
        let transport = ScriptedTransport::new(
            [
                "400\n{\"detail\":\"x\"}",
                "201\n{\"access_token\":\"opaque\"}",
                users,
                roles,
            ]
            .iter()
            .map(|a| parse_answer(a.as_bytes()))
            .collect(),
        );
        let config = Config::parse(&settings(0)).unwrap();
        let mut c = Connector::new(&transport, config);
        let mut said = Said::default();
        sync(&mut c, &mut said);
        assert!(said.0.contains("bob"), "{}", said.0);
        assert!(transport.requests.get() >= 4);
        // The whole input path, with every op, ends without a panic.
        for op in 0..12 {
            run(&input(op, 0b1000, "role:Op:member\x1fbob", &[users, roles]));
        }
    }

    #[test]
    fn the_leak_check_tells_a_leak_from_a_planted_secret() {
        assert_eq!(
            revealed(b"input", &format!("x {PASSWORD} y")),
            Some("password")
        );
        assert_eq!(
            revealed(b"input", &format!("Basic {BASIC_PAIR}")),
            Some("Basic pair")
        );
        assert_eq!(revealed(PASSWORD.as_bytes(), PASSWORD), None);
        assert_eq!(revealed(b"input", "nothing secret"), None);
        use base64::Engine;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}")),
            BASIC_PAIR
        );
    }
}
