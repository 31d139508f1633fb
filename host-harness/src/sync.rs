//! The host-driven sync loop: resource types, then every synced type's resources page by
//! page, with entitlements and grants spooled to temporary files and written after all
//! resources (entitlements first), so memory stays bounded by one page.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::time::Instant;

use serde::Serialize;

use crate::bindings::wit;
use crate::error::HarnessError;
use crate::jsonl::Line;
use crate::progress::Progress;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStats {
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
    /// HTTP requests the connector made during the sync.
    pub requests: u64,
    pub elapsed_ms: u64,
    pub resource_types: u64,
    pub resources_by_type: BTreeMap<String, u64>,
    /// What the connector reported learning (e.g. `api`, `discovery_requests`).
    pub session: BTreeMap<String, String>,
}

/// The connector calls a sync needs; implemented by the harness (and by fakes in tests).
pub(crate) trait SyncSource {
    async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, HarnessError>;
    async fn list_resources(
        &mut self,
        resource_type: &str,
        token: Option<String>,
    ) -> Result<wit::ResourcePage, HarnessError>;
    async fn list_entitlements(
        &mut self,
        resource: &wit::ResourceRef,
        token: Option<String>,
    ) -> Result<wit::EntitlementPage, HarnessError>;
    async fn list_grants(
        &mut self,
        resource: &wit::ResourceRef,
        token: Option<String>,
    ) -> Result<wit::GrantPage, HarnessError>;
    fn requests(&self) -> u64;
}

/// Refuses any page token seen before in the same listing, so that neither an immediate repeat
/// (A→A) nor a longer cycle (A→B→A) pages forever. One guard per listing (one type's
/// resources, one resource's entitlements or grants): tokens may recur across listings. It
/// holds the tokens of that one listing, one per page, and is dropped when the listing ends.
struct TokenGuard {
    what: String,
    seen: HashSet<String>,
}

impl TokenGuard {
    fn new(what: String) -> Self {
        Self {
            what,
            seen: HashSet::new(),
        }
    }

    fn next(&mut self, token: Option<String>) -> Result<Option<String>, HarnessError> {
        match token {
            None => Ok(None),
            Some(t) if self.seen.insert(t.clone()) => Ok(Some(t)),
            Some(t) => Err(HarnessError::Host(anyhow::anyhow!(
                "connector returned page token `{t}` twice while listing {}; stopping to avoid an endless loop",
                self.what
            ))),
        }
    }
}

struct Spool {
    file: BufWriter<std::fs::File>,
}

impl Spool {
    fn new() -> Result<Self, HarnessError> {
        let file = tempfile::tempfile()
            .map_err(|e| HarnessError::Host(anyhow::anyhow!("cannot create spool file: {e}")))?;
        Ok(Self {
            file: BufWriter::new(file),
        })
    }

    fn push(&mut self, line: &Line<'_>) -> Result<(), HarnessError> {
        line.write_to(&mut self.file).map_err(io_error)
    }

    fn copy_to(self, out: &mut (dyn Write + Send)) -> Result<(), HarnessError> {
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| io_error(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io_error)?;
        std::io::copy(&mut file, out).map_err(io_error)?;
        Ok(())
    }
}

fn io_error(e: std::io::Error) -> HarnessError {
    HarnessError::Host(anyhow::anyhow!("writing sync output: {e}"))
}

/// Writes one line through `buf`, so that `out` (behind `dyn`, often unbuffered stdout) gets
/// one `write_all` per line rather than one per JSON token.
fn write_line(
    out: &mut (dyn Write + Send),
    buf: &mut Vec<u8>,
    line: &Line<'_>,
) -> Result<(), HarnessError> {
    buf.clear();
    line.write_to(&mut *buf).map_err(io_error)?;
    out.write_all(buf).map_err(io_error)
}

pub(crate) async fn run<S: SyncSource>(
    source: &mut S,
    out: &mut (dyn Write + Send),
    progress: &dyn Progress,
) -> Result<SyncStats, HarnessError> {
    let started = Instant::now();
    let requests_before = source.requests();
    let result = run_inner(source, out, progress, started, requests_before).await;
    progress.finish();
    result
}

async fn run_inner<S: SyncSource>(
    source: &mut S,
    out: &mut (dyn Write + Send),
    progress: &dyn Progress,
    started: Instant,
    requests_before: u64,
) -> Result<SyncStats, HarnessError> {
    let mut stats = SyncStats::default();
    let mut entitlements = Spool::new()?;
    let mut grants = Spool::new()?;
    let mut buf = Vec::with_capacity(1024);

    let types = source.resource_types().await?;
    for t in &types {
        write_line(out, &mut buf, &Line::resource_type(t))?;
        stats.resource_types += 1;
    }

    // Types whose resources come inline with other types' pages, possibly repeatedly.
    let inline: HashSet<&str> = types
        .iter()
        .filter(|t| t.capabilities.inline_resources)
        .map(|t| t.id.as_str())
        .collect();
    let capabilities = |resource_type: &str| {
        types
            .iter()
            .find(|t| t.id == resource_type)
            .map(|t| t.capabilities)
    };
    let mut seen_inline: HashSet<(String, String)> = HashSet::new();
    let mut seen_inline_entitlements: HashSet<String> = HashSet::new();

    for t in types
        .iter()
        .filter(|t| t.capabilities.sync && !t.capabilities.inline_resources)
    {
        let mut guard = TokenGuard::new(format!("resources of type `{}`", t.id));
        let mut token = None;
        loop {
            let page = source.list_resources(&t.id, token).await?;
            for r in &page.resources {
                if inline.contains(r.resource_type.as_str())
                    && !seen_inline.insert((r.resource_type.clone(), r.id.clone()))
                {
                    continue;
                }
                write_line(out, &mut buf, &Line::resource(r))?;
                stats.resources += 1;
                // Looked up before inserting: an owned key per resource was an allocation each.
                match stats.resources_by_type.get_mut(&r.resource_type) {
                    Some(n) => *n += 1,
                    None => {
                        stats.resources_by_type.insert(r.resource_type.clone(), 1);
                    }
                }
            }
            for e in &page.entitlements {
                if inline.contains(e.resource.resource_type.as_str())
                    && !seen_inline_entitlements.insert(e.id.clone())
                {
                    continue;
                }
                entitlements.push(&Line::entitlement(e))?;
                stats.entitlements += 1;
            }
            for g in &page.grants {
                grants.push(&Line::grant(g))?;
                stats.grants += 1;
            }
            for r in &page.resources {
                // Inline resources follow their own type's capabilities.
                let caps = capabilities(&r.resource_type).unwrap_or(t.capabilities);
                if caps.inline_resources || (caps.inline_entitlements && caps.inline_grants) {
                    continue;
                }
                let rref = wit::ResourceRef {
                    resource_type: r.resource_type.clone(),
                    id: r.id.clone(),
                };
                if !caps.inline_entitlements {
                    list_entitlements(source, &rref, &mut entitlements, &mut stats).await?;
                }
                if !caps.inline_grants {
                    list_grants(source, &rref, &mut grants, &mut stats).await?;
                }
            }
            // Resources are on their way to the reader before the next page is asked for.
            out.flush().map_err(io_error)?;
            stats.requests = source.requests() - requests_before;
            stats.elapsed_ms = elapsed_ms(started);
            progress.update(&stats);
            token = guard.next(page.next_page_token)?;
            if token.is_none() {
                break;
            }
        }
    }

    entitlements.copy_to(out)?;
    grants.copy_to(out)?;
    out.flush().map_err(io_error)?;
    stats.requests = source.requests() - requests_before;
    stats.elapsed_ms = elapsed_ms(started);
    Ok(stats)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn describe_ref(r: &wit::ResourceRef) -> String {
    format!("{}:{}", r.resource_type, r.id)
}

async fn list_entitlements<S: SyncSource>(
    source: &mut S,
    rref: &wit::ResourceRef,
    spool: &mut Spool,
    stats: &mut SyncStats,
) -> Result<(), HarnessError> {
    let mut guard = TokenGuard::new(format!("entitlements of {}", describe_ref(rref)));
    let mut token = None;
    loop {
        let page = source.list_entitlements(rref, token).await?;
        for e in &page.entitlements {
            spool.push(&Line::entitlement(e))?;
            stats.entitlements += 1;
        }
        token = guard.next(page.next_page_token)?;
        if token.is_none() {
            return Ok(());
        }
    }
}

async fn list_grants<S: SyncSource>(
    source: &mut S,
    rref: &wit::ResourceRef,
    spool: &mut Spool,
    stats: &mut SyncStats,
) -> Result<(), HarnessError> {
    let mut guard = TokenGuard::new(format!("grants of {}", describe_ref(rref)));
    let mut token = None;
    loop {
        let page = source.list_grants(rref, token).await?;
        for g in &page.grants {
            spool.push(&Line::grant(g))?;
            stats.grants += 1;
        }
        token = guard.next(page.next_page_token)?;
        if token.is_none() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    fn caps(inline: bool) -> wit::Capabilities {
        wit::Capabilities {
            sync: true,
            provision: false,
            inline_entitlements: inline,
            inline_grants: inline,
            inline_resources: false,
        }
    }

    fn rtype(id: &str, inline: bool) -> wit::ResourceType {
        wit::ResourceType {
            id: id.into(),
            display_name: id.into(),
            description: String::new(),
            traits: vec![],
            capabilities: caps(inline),
        }
    }

    fn resource(t: &str, id: &str) -> wit::Resource {
        wit::Resource {
            resource_type: t.into(),
            id: id.into(),
            display_name: id.into(),
            user: None,
            attributes: vec![],
        }
    }

    fn rref(t: &str, id: &str) -> wit::ResourceRef {
        wit::ResourceRef {
            resource_type: t.into(),
            id: id.into(),
        }
    }

    fn entitlement(role: &str) -> wit::Entitlement {
        wit::Entitlement {
            id: format!("role:{role}:member"),
            resource: rref("role", role),
            slug: "member".into(),
            display_name: role.into(),
            description: String::new(),
            purpose: wit::EntitlementPurpose::Assignment,
            grantable_to: vec!["user".into()],
        }
    }

    fn grant(role: &str, user: &str) -> wit::Grant {
        wit::Grant {
            id: format!("role:{role}:member:user:{user}"),
            entitlement_id: format!("role:{role}:member"),
            principal: rref("user", user),
        }
    }

    /// Users inline (two pages, carrying role grants); roles not inline (entitlements and
    /// grants listed per role).
    struct Fake {
        calls: Vec<String>,
        /// The token the user page `p2` hands back: `None` ends the listing.
        after_p2: Option<&'static str>,
    }

    impl SyncSource for Fake {
        async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, HarnessError> {
            self.calls.push("types".into());
            let mut hidden = rtype("hidden", true);
            hidden.capabilities.sync = false;
            Ok(vec![rtype("user", true), rtype("role", false), hidden])
        }
        async fn list_resources(
            &mut self,
            t: &str,
            token: Option<String>,
        ) -> Result<wit::ResourcePage, HarnessError> {
            self.calls.push(format!("resources {t} {token:?}"));
            Ok(match (t, token.as_deref()) {
                ("user", None) => wit::ResourcePage {
                    resources: vec![resource("user", "alice")],
                    entitlements: vec![],
                    grants: vec![grant("Admin", "alice")],
                    next_page_token: Some("p2".into()),
                },
                ("user", Some("p2")) => wit::ResourcePage {
                    resources: vec![resource("user", "bob")],
                    entitlements: vec![],
                    grants: vec![],
                    next_page_token: self.after_p2.map(str::to_string),
                },
                ("user", Some("p3")) => wit::ResourcePage {
                    resources: vec![resource("user", "carol")],
                    entitlements: vec![],
                    grants: vec![],
                    next_page_token: Some("p2".into()),
                },
                ("role", None) => wit::ResourcePage {
                    resources: vec![resource("role", "Admin")],
                    entitlements: vec![],
                    grants: vec![],
                    next_page_token: None,
                },
                other => panic!("unexpected {other:?}"),
            })
        }
        async fn list_entitlements(
            &mut self,
            r: &wit::ResourceRef,
            token: Option<String>,
        ) -> Result<wit::EntitlementPage, HarnessError> {
            self.calls.push(format!("entitlements {} {token:?}", r.id));
            Ok(wit::EntitlementPage {
                entitlements: vec![entitlement(&r.id)],
                next_page_token: None,
            })
        }
        async fn list_grants(
            &mut self,
            r: &wit::ResourceRef,
            token: Option<String>,
        ) -> Result<wit::GrantPage, HarnessError> {
            self.calls.push(format!("grants {} {token:?}", r.id));
            Ok(match token.as_deref() {
                None => wit::GrantPage {
                    grants: vec![grant(&r.id, "bob")],
                    next_page_token: Some("g2".into()),
                },
                _ => wit::GrantPage {
                    grants: vec![grant(&r.id, "carol")],
                    next_page_token: None,
                },
            })
        }
        fn requests(&self) -> u64 {
            self.calls.len() as u64
        }
    }

    fn line_types(out: &[u8]) -> Vec<String> {
        String::from_utf8(out.to_vec())
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let id = v["id"].as_str().unwrap().to_string();
                format!("{} {id}", v["type"].as_str().unwrap())
            })
            .collect()
    }

    #[tokio::test]
    async fn pages_spool_and_order_the_output() {
        let mut fake = Fake {
            calls: vec![],
            after_p2: None,
        };
        let mut out = Vec::new();
        let stats = run(&mut fake, &mut out, &NoProgress).await.unwrap();
        assert_eq!(
            line_types(&out),
            [
                "resource_type user",
                "resource_type role",
                "resource_type hidden",
                "resource alice",
                "resource bob",
                "resource Admin",
                "entitlement role:Admin:member",
                "grant role:Admin:member:user:alice",
                "grant role:Admin:member:user:bob",
                "grant role:Admin:member:user:carol",
            ]
        );
        assert_eq!(
            fake.calls,
            [
                "types",
                "resources user None",
                "resources user Some(\"p2\")",
                "resources role None",
                "entitlements Admin None",
                "grants Admin None",
                "grants Admin Some(\"g2\")",
            ]
        );
        assert_eq!(
            (
                stats.resource_types,
                stats.resources,
                stats.entitlements,
                stats.grants
            ),
            (3, 3, 1, 3)
        );
        assert_eq!(stats.requests, 7);
        assert_eq!(stats.resources_by_type["user"], 2);
    }

    #[tokio::test]
    async fn a_repeated_page_token_stops_the_sync() {
        sync_stopped_on_p2(Some("p2")).await;
    }

    /// Runs a sync whose page after `p2` hands back `after_p2`, checks that it stops on `p2`
    /// seen twice, and returns the calls made.
    async fn sync_stopped_on_p2(after_p2: Option<&'static str>) -> Fake {
        let mut fake = Fake {
            calls: vec![],
            after_p2,
        };
        let mut out = Vec::new();
        let err = run(&mut fake, &mut out, &NoProgress).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("page token `p2` twice while listing resources of type `user`"),
            "{err}"
        );
        fake
    }

    /// p2 → p3 → p2: no token repeats immediately, but paging on would never end.
    #[tokio::test]
    async fn a_page_token_cycle_stops_the_sync() {
        let fake = sync_stopped_on_p2(Some("p3")).await;
        assert_eq!(
            fake.calls,
            [
                "types",
                "resources user None",
                "resources user Some(\"p2\")",
                "resources user Some(\"p3\")",
            ],
            "the cycle ends before `p2` is asked for again"
        );
    }

    #[test]
    fn the_token_guard_refuses_any_token_seen_in_its_listing() {
        let mut guard = TokenGuard::new("resources of type `user`".into());
        assert_eq!(guard.next(Some("A".into())).unwrap(), Some("A".into()));
        assert_eq!(guard.next(Some("B".into())).unwrap(), Some("B".into()));
        let err = guard.next(Some("A".into())).unwrap_err().to_string();
        assert!(
            err.contains("page token `A` twice while listing resources of type `user`"),
            "{err}"
        );
        assert_eq!(guard.next(None).unwrap(), None);
        // Another listing has its own guard: the same token is fine there.
        let mut other = TokenGuard::new("grants of role:Admin".into());
        assert_eq!(other.next(Some("A".into())).unwrap(), Some("A".into()));
    }

    #[test]
    fn stats_serialise_with_the_documented_leading_fields() {
        let s = serde_json::to_string(&SyncStats::default()).unwrap();
        assert!(
            s.starts_with(
                r#"{"resources":0,"entitlements":0,"grants":0,"requests":0,"elapsed_ms":0,"#
            ),
            "{s}"
        );
    }

    /// A type whose resources arrive inline with another type's pages, repeated across pages
    /// (as Airflow permissions arrive with every role page that holds them).
    struct InlineFake {
        calls: Vec<String>,
    }

    fn permission(id: &str) -> wit::Resource {
        resource("perm", id)
    }

    fn permission_entitlement(id: &str) -> wit::Entitlement {
        wit::Entitlement {
            id: format!("perm:{id}:assigned"),
            resource: rref("perm", id),
            slug: "assigned".into(),
            display_name: id.into(),
            description: String::new(),
            purpose: wit::EntitlementPurpose::Permission,
            grantable_to: vec!["role".into()],
        }
    }

    impl SyncSource for InlineFake {
        async fn resource_types(&mut self) -> Result<Vec<wit::ResourceType>, HarnessError> {
            let mut perm = rtype("perm", true);
            perm.capabilities.inline_resources = true;
            Ok(vec![rtype("role", true), perm])
        }
        async fn list_resources(
            &mut self,
            t: &str,
            token: Option<String>,
        ) -> Result<wit::ResourcePage, HarnessError> {
            self.calls.push(format!("resources {t} {token:?}"));
            let (role, next) = match token.as_deref() {
                None => ("Admin", Some("p2".to_string())),
                _ => ("Op", None),
            };
            Ok(wit::ResourcePage {
                resources: vec![resource("role", role), permission("read"), permission(role)],
                entitlements: vec![permission_entitlement("read"), permission_entitlement(role)],
                grants: vec![],
                next_page_token: next,
            })
        }
        async fn list_entitlements(
            &mut self,
            r: &wit::ResourceRef,
            _: Option<String>,
        ) -> Result<wit::EntitlementPage, HarnessError> {
            panic!("inline entitlements must not be listed: {}", r.id)
        }
        async fn list_grants(
            &mut self,
            r: &wit::ResourceRef,
            _: Option<String>,
        ) -> Result<wit::GrantPage, HarnessError> {
            panic!("inline grants must not be listed: {}", r.id)
        }
        fn requests(&self) -> u64 {
            self.calls.len() as u64
        }
    }

    #[tokio::test]
    async fn inline_resources_are_not_listed_and_appear_once() {
        let mut fake = InlineFake { calls: vec![] };
        let mut out = Vec::new();
        let stats = run(&mut fake, &mut out, &NoProgress).await.unwrap();
        assert_eq!(
            fake.calls,
            ["resources role None", "resources role Some(\"p2\")"]
        );
        let lines = line_types(&out);
        let count = |l: &str| lines.iter().filter(|x| *x == l).count();
        assert_eq!(count("resource read"), 1, "{lines:?}");
        assert_eq!(count("entitlement perm:read:assigned"), 1, "{lines:?}");
        assert_eq!(
            count("resource Admin"),
            2,
            "role Admin and permission Admin: {lines:?}"
        );
        assert_eq!(stats.resources_by_type["perm"], 3);
        assert_eq!(stats.entitlements, 3);
    }
}
