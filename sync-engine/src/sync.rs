//! The host-driven sync loop: resource types, then every synced type's resources page by
//! page, with entitlements and grants spooled and written after all resources (entitlements
//! first), so that memory holds one page of resources at a time.
//!
//! The loop is `async` because the native harness drives the guest on a tokio runtime; a host
//! whose calls never wait (the command adapter calls its imports synchronously) runs it with
//! [`crate::block_on`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::time::Instant;

use connector_sdk::model::{EntitlementPage, GrantPage, ResourcePage, ResourceRef, ResourceType};
use serde::Serialize;

use crate::jsonl::Line;

/// The contract calls a sync makes, over the SDK's plain types. A host implements it on its
/// handle of the connector (moving its binding types into these); tests implement fakes.
// `async fn` in a public trait leaves the futures' `Send` bound to each implementation: the
// harness's futures are `Send`, the command adapter's need not be, and both are wanted.
#[allow(async_fn_in_trait)]
pub trait Contract {
    /// What a failed call returns; it ends the sync as [`SyncError::Contract`].
    type Error;

    async fn resource_types(&mut self) -> Result<Vec<ResourceType>, Self::Error>;
    async fn list_resources(
        &mut self,
        resource_type: &str,
        page_token: Option<&str>,
    ) -> Result<ResourcePage, Self::Error>;
    async fn list_entitlements(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<EntitlementPage, Self::Error>;
    async fn list_grants(
        &mut self,
        resource: &ResourceRef,
        page_token: Option<&str>,
    ) -> Result<GrantPage, Self::Error>;
    /// What the connector learnt about the system (API flavour, discovery cost), called once
    /// after a successful sync; it goes into [`SyncStats::session`].
    async fn session_info(&mut self) -> Result<Vec<(String, String)>, Self::Error>;
    /// HTTP requests the connector has made so far; a host that cannot see them reports 0.
    fn requests(&self) -> u64 {
        0
    }
}

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

/// Watches a sync; every method does nothing unless overridden.
pub trait Progress {
    /// Called after every page of resources with the running totals.
    fn update(&self, _stats: &SyncStats) {}
    /// Called once when the sync ends, successfully or not.
    fn finish(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Where entitlement and grant lines wait until every resource is written.
pub trait Spool {
    fn push(&mut self, line: &Line<'_>) -> io::Result<()>;
    /// Writes every pushed line to `out`, in the order pushed.
    fn copy_to<W: Write + ?Sized>(self, out: &mut W) -> io::Result<()>
    where
        Self: Sized;
}

/// Lines held in memory: for hosts without a file system (a command component).
#[derive(Debug, Default)]
pub struct MemorySpool {
    lines: Vec<u8>,
}

/// A new [`MemorySpool`]; the spool factory to pass to [`run`] for an in-memory sync.
pub fn memory_spool() -> io::Result<MemorySpool> {
    Ok(MemorySpool::default())
}

impl Spool for MemorySpool {
    fn push(&mut self, line: &Line<'_>) -> io::Result<()> {
        line.write_to(&mut self.lines)
    }

    fn copy_to<W: Write + ?Sized>(self, out: &mut W) -> io::Result<()> {
        out.write_all(&self.lines)
    }
}

/// Lines in an anonymous temporary file, so memory stays bounded by one page whatever the
/// directory's size.
#[cfg(feature = "file-spool")]
#[derive(Debug)]
pub struct FileSpool {
    file: io::BufWriter<std::fs::File>,
}

/// A new [`FileSpool`]; the spool factory to pass to [`run`] for a file-backed sync.
#[cfg(feature = "file-spool")]
pub fn file_spool() -> io::Result<FileSpool> {
    let file = tempfile::tempfile()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create spool file: {e}")))?;
    Ok(FileSpool {
        file: io::BufWriter::new(file),
    })
}

#[cfg(feature = "file-spool")]
impl Spool for FileSpool {
    fn push(&mut self, line: &Line<'_>) -> io::Result<()> {
        line.write_to(&mut self.file)
    }

    fn copy_to<W: Write + ?Sized>(self, out: &mut W) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(SeekFrom::Start(0))?;
        io::copy(&mut file, out)?;
        Ok(())
    }
}

/// A page token came back that the same listing had already returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedToken {
    pub token: String,
    /// The listing, e.g. "resources of type `user`" or "grants of role:Admin".
    pub what: String,
}

impl fmt::Display for RepeatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connector returned page token `{}` twice while listing {}; stopping to avoid an endless loop",
            self.token, self.what
        )
    }
}

impl std::error::Error for RepeatedToken {}

/// Why a sync stopped.
#[derive(Debug)]
pub enum SyncError<E> {
    /// A contract call failed.
    Contract(E),
    /// Writing the output (or a spool) failed.
    Output(io::Error),
    /// The spool factory failed.
    Spool(io::Error),
    /// Paging on would never end.
    RepeatedToken(RepeatedToken),
}

impl<E: fmt::Display> fmt::Display for SyncError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Contract(e) => write!(f, "{e}"),
            SyncError::Output(e) => write!(f, "writing sync output: {e}"),
            SyncError::Spool(e) => write!(f, "{e}"),
            SyncError::RepeatedToken(r) => write!(f, "{r}"),
        }
    }
}

impl<E: fmt::Display + fmt::Debug> std::error::Error for SyncError<E> {}

impl<E> From<RepeatedToken> for SyncError<E> {
    fn from(r: RepeatedToken) -> Self {
        SyncError::RepeatedToken(r)
    }
}

/// Refuses any page token seen before in the same listing, so that neither an immediate repeat
/// (A→A) nor a longer cycle (A→B→A) pages forever. One guard per listing (one type's
/// resources, one resource's entitlements or grants): tokens may recur across listings. It
/// holds a keyed 64-bit fingerprint of each token of that one listing, not the token: tokens
/// run to hundreds of bytes (Airflow's carry 16 row fingerprints), and a 1M-user listing has
/// 10,000 pages. Two different tokens of one listing share a fingerprint with a chance below
/// 10⁻⁹ at 100,000 pages; that would end the sync with an error, never skip a page.
#[derive(Debug)]
pub struct TokenGuard {
    what: String,
    keys: std::collections::hash_map::RandomState,
    seen: HashSet<u64>,
}

impl TokenGuard {
    /// `what` names the listing in the error, e.g. "resources of type `user`".
    pub fn new(what: String) -> Self {
        Self {
            what,
            keys: std::collections::hash_map::RandomState::new(),
            seen: HashSet::new(),
        }
    }

    /// The token to ask for next: `None` ends the listing, a token seen before is refused.
    pub fn next(&mut self, token: Option<String>) -> Result<Option<String>, RepeatedToken> {
        use std::hash::BuildHasher;
        match token {
            None => Ok(None),
            Some(t) if self.seen.insert(self.keys.hash_one(&t)) => Ok(Some(t)),
            Some(token) => Err(RepeatedToken {
                token,
                what: self.what.clone(),
            }),
        }
    }
}

/// Writes one line through `buf`, so that `out` (often unbuffered stdout) gets one
/// `write_all` per line rather than one per JSON token.
fn write_line<W: Write + ?Sized, E>(
    out: &mut W,
    buf: &mut Vec<u8>,
    line: &Line<'_>,
) -> Result<(), SyncError<E>> {
    buf.clear();
    line.write_to(buf).map_err(SyncError::Output)?;
    out.write_all(buf).map_err(SyncError::Output)
}

/// A full sync of `contract` as JSON Lines on `out`: resource types; every synced type's
/// resources page by page (types whose resources arrive inline with another type's pages are
/// not listed, and each of their resources and entitlements is written once); then all
/// entitlements, then all grants, from two spools made by `new_spool` ([`memory_spool`], or
/// `file_spool` with the `file-spool` feature). `progress` sees the totals after every page.
/// On success the stats include the connector's [`Contract::session_info`].
pub async fn run<C, W, S, F, P>(
    contract: &mut C,
    out: &mut W,
    new_spool: F,
    progress: &P,
) -> Result<SyncStats, SyncError<C::Error>>
where
    C: Contract,
    W: Write + ?Sized,
    S: Spool,
    F: Fn() -> io::Result<S>,
    P: Progress + ?Sized,
{
    let started = Instant::now();
    let requests_before = contract.requests();
    let result = run_inner(contract, out, new_spool, progress, started, requests_before).await;
    progress.finish();
    let mut stats = result?;
    stats.session = contract
        .session_info()
        .await
        .map_err(SyncError::Contract)?
        .into_iter()
        .collect();
    Ok(stats)
}

async fn run_inner<C, W, S, F, P>(
    contract: &mut C,
    out: &mut W,
    new_spool: F,
    progress: &P,
    started: Instant,
    requests_before: u64,
) -> Result<SyncStats, SyncError<C::Error>>
where
    C: Contract,
    W: Write + ?Sized,
    S: Spool,
    F: Fn() -> io::Result<S>,
    P: Progress + ?Sized,
{
    let mut stats = SyncStats::default();
    let mut entitlements = new_spool().map_err(SyncError::Spool)?;
    let mut grants = new_spool().map_err(SyncError::Spool)?;
    let mut buf = Vec::with_capacity(1024);

    let types = contract
        .resource_types()
        .await
        .map_err(SyncError::Contract)?;
    // The type lines wait for the first page: a connector that fails its first call (a token
    // without a permission, a server that is down) leaves no output at all, rather than a
    // header a reader could take for an empty directory.
    let mut header_written = false;
    let mut write_header = |out: &mut W, buf: &mut Vec<u8>, stats: &mut SyncStats| {
        if !header_written {
            header_written = true;
            for t in &types {
                write_line(out, buf, &Line::resource_type(t))?;
                stats.resource_types += 1;
            }
        }
        Ok::<(), SyncError<C::Error>>(())
    };

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
        let mut token: Option<String> = None;
        loop {
            let page = contract
                .list_resources(&t.id, token.as_deref())
                .await
                .map_err(SyncError::Contract)?;
            write_header(out, &mut buf, &mut stats)?;
            for r in &page.resources {
                if inline.contains(r.resource_type.as_str())
                    && !seen_inline.insert((r.resource_type.clone(), r.id.clone()))
                {
                    continue;
                }
                write_line(out, &mut buf, &Line::resource(r))?;
                stats.resources += 1;
                // Looked up before inserting: an owned key per resource would be an
                // allocation each.
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
                entitlements
                    .push(&Line::entitlement(e))
                    .map_err(SyncError::Output)?;
                stats.entitlements += 1;
            }
            for g in &page.grants {
                grants.push(&Line::grant(g)).map_err(SyncError::Output)?;
                stats.grants += 1;
            }
            for r in &page.resources {
                // Inline resources follow their own type's capabilities.
                let caps = capabilities(&r.resource_type).unwrap_or(t.capabilities);
                if caps.inline_resources || (caps.inline_entitlements && caps.inline_grants) {
                    continue;
                }
                let rref = ResourceRef::new(&r.resource_type, &r.id);
                if !caps.inline_entitlements {
                    list_entitlements(contract, &rref, &mut entitlements, &mut stats).await?;
                }
                if !caps.inline_grants {
                    list_grants(contract, &rref, &mut grants, &mut stats).await?;
                }
            }
            // Resources are on their way to the reader before the next page is asked for.
            out.flush().map_err(SyncError::Output)?;
            stats.requests = contract.requests().saturating_sub(requests_before);
            stats.elapsed_ms = elapsed_ms(started);
            progress.update(&stats);
            token = guard.next(page.next_page_token)?;
            if token.is_none() {
                break;
            }
        }
    }

    // A connector with nothing to list still describes its types.
    write_header(out, &mut buf, &mut stats)?;
    entitlements.copy_to(out).map_err(SyncError::Output)?;
    grants.copy_to(out).map_err(SyncError::Output)?;
    out.flush().map_err(SyncError::Output)?;
    stats.requests = contract.requests().saturating_sub(requests_before);
    stats.elapsed_ms = elapsed_ms(started);
    Ok(stats)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn describe_ref(r: &ResourceRef) -> String {
    format!("{}:{}", r.resource_type, r.id)
}

async fn list_entitlements<C: Contract, S: Spool>(
    contract: &mut C,
    rref: &ResourceRef,
    spool: &mut S,
    stats: &mut SyncStats,
) -> Result<(), SyncError<C::Error>> {
    let mut guard = TokenGuard::new(format!("entitlements of {}", describe_ref(rref)));
    let mut token: Option<String> = None;
    loop {
        let page = contract
            .list_entitlements(rref, token.as_deref())
            .await
            .map_err(SyncError::Contract)?;
        for e in &page.entitlements {
            spool
                .push(&Line::entitlement(e))
                .map_err(SyncError::Output)?;
            stats.entitlements += 1;
        }
        token = guard.next(page.next_page_token)?;
        if token.is_none() {
            return Ok(());
        }
    }
}

async fn list_grants<C: Contract, S: Spool>(
    contract: &mut C,
    rref: &ResourceRef,
    spool: &mut S,
    stats: &mut SyncStats,
) -> Result<(), SyncError<C::Error>> {
    let mut guard = TokenGuard::new(format!("grants of {}", describe_ref(rref)));
    let mut token: Option<String> = None;
    loop {
        let page = contract
            .list_grants(rref, token.as_deref())
            .await
            .map_err(SyncError::Contract)?;
        for g in &page.grants {
            spool.push(&Line::grant(g)).map_err(SyncError::Output)?;
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
    use crate::block_on;
    use connector_sdk::model::{
        Capabilities, Entitlement, EntitlementPurpose, Grant, Resource, ResourceType,
    };

    fn caps(inline: bool) -> Capabilities {
        Capabilities {
            sync: true,
            provision: false,
            inline_entitlements: inline,
            inline_grants: inline,
            inline_resources: false,
        }
    }

    fn rtype(id: &str, inline: bool) -> ResourceType {
        ResourceType {
            id: id.into(),
            display_name: id.into(),
            description: String::new(),
            traits: vec![],
            capabilities: caps(inline),
        }
    }

    fn resource(t: &str, id: &str) -> Resource {
        Resource {
            resource_type: t.into(),
            id: id.into(),
            display_name: id.into(),
            user: None,
            attributes: vec![],
        }
    }

    fn entitlement(role: &str) -> Entitlement {
        Entitlement {
            id: format!("role:{role}:member"),
            resource: ResourceRef::new("role", role),
            slug: "member".into(),
            display_name: role.into(),
            description: String::new(),
            purpose: EntitlementPurpose::Assignment,
            grantable_to: vec!["user".into()],
        }
    }

    fn grant(role: &str, user: &str) -> Grant {
        Grant {
            id: format!("role:{role}:member:user:{user}"),
            entitlement_id: format!("role:{role}:member"),
            principal: ResourceRef::new("user", user),
        }
    }

    /// Users inline (two pages, carrying role grants); roles not inline (entitlements and
    /// grants listed per role).
    struct Fake {
        calls: Vec<String>,
        /// The token the user page `p2` hands back: `None` ends the listing.
        after_p2: Option<&'static str>,
    }

    fn fake(after_p2: Option<&'static str>) -> Fake {
        Fake {
            calls: vec![],
            after_p2,
        }
    }

    impl Contract for Fake {
        type Error = String;

        async fn resource_types(&mut self) -> Result<Vec<ResourceType>, String> {
            self.calls.push("types".into());
            let mut hidden = rtype("hidden", true);
            hidden.capabilities.sync = false;
            Ok(vec![rtype("user", true), rtype("role", false), hidden])
        }
        async fn list_resources(
            &mut self,
            t: &str,
            token: Option<&str>,
        ) -> Result<ResourcePage, String> {
            self.calls.push(format!("resources {t} {token:?}"));
            Ok(match (t, token) {
                ("user", None) => ResourcePage {
                    resources: vec![resource("user", "alice")],
                    entitlements: vec![],
                    grants: vec![grant("Admin", "alice")],
                    next_page_token: Some("p2".into()),
                },
                ("user", Some("p2")) => ResourcePage {
                    resources: vec![resource("user", "bob")],
                    entitlements: vec![],
                    grants: vec![],
                    next_page_token: self.after_p2.map(str::to_string),
                },
                ("user", Some("p3")) => ResourcePage {
                    resources: vec![resource("user", "carol")],
                    entitlements: vec![],
                    grants: vec![],
                    next_page_token: Some("p2".into()),
                },
                ("role", None) => ResourcePage {
                    resources: vec![resource("role", "Admin")],
                    entitlements: vec![],
                    grants: vec![],
                    next_page_token: None,
                },
                other => return Err(format!("unexpected {other:?}")),
            })
        }
        async fn list_entitlements(
            &mut self,
            r: &ResourceRef,
            token: Option<&str>,
        ) -> Result<EntitlementPage, String> {
            self.calls.push(format!("entitlements {} {token:?}", r.id));
            Ok(EntitlementPage {
                entitlements: vec![entitlement(&r.id)],
                next_page_token: None,
            })
        }
        async fn list_grants(
            &mut self,
            r: &ResourceRef,
            token: Option<&str>,
        ) -> Result<GrantPage, String> {
            self.calls.push(format!("grants {} {token:?}", r.id));
            Ok(match token {
                None => GrantPage {
                    grants: vec![grant(&r.id, "bob")],
                    next_page_token: Some("g2".into()),
                },
                _ => GrantPage {
                    grants: vec![grant(&r.id, "carol")],
                    next_page_token: None,
                },
            })
        }
        async fn session_info(&mut self) -> Result<Vec<(String, String)>, String> {
            Ok(vec![("api".into(), "fake".into())])
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

    fn sync(contract: &mut impl Contract<Error = String>) -> Result<(Vec<u8>, SyncStats), String> {
        let mut out = Vec::new();
        let stats = block_on(run(contract, &mut out, memory_spool, &NoProgress))
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok((out, stats))
    }

    #[test]
    fn pages_spool_and_order_the_output() {
        let mut fake = fake(None);
        let (out, stats) = sync(&mut fake).unwrap();
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
        assert_eq!(stats.session["api"], "fake");
    }

    /// A connector that refuses its first page (a token without a permission) leaves no output,
    /// not even the type lines: nothing a reader could take for an empty directory.
    #[test]
    fn a_first_page_refused_writes_nothing() {
        struct Refusing;
        impl Contract for Refusing {
            type Error = String;
            async fn resource_types(&mut self) -> Result<Vec<ResourceType>, String> {
                Ok(vec![rtype("user", true), rtype("role", false)])
            }
            async fn list_resources(
                &mut self,
                _: &str,
                _: Option<&str>,
            ) -> Result<ResourcePage, String> {
                Err("permission denied: Members Read".into())
            }
            async fn list_entitlements(
                &mut self,
                _: &ResourceRef,
                _: Option<&str>,
            ) -> Result<EntitlementPage, String> {
                Err("not reached".into())
            }
            async fn list_grants(
                &mut self,
                _: &ResourceRef,
                _: Option<&str>,
            ) -> Result<GrantPage, String> {
                Err("not reached".into())
            }
            async fn session_info(&mut self) -> Result<Vec<(String, String)>, String> {
                Ok(vec![])
            }
        }
        let mut out = Vec::new();
        let result = block_on(run(&mut Refusing, &mut out, memory_spool, &NoProgress)).unwrap();
        assert!(
            matches!(&result, Err(SyncError::Contract(e)) if e.contains("Members Read")),
            "{result:?}"
        );
        assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    }

    /// Every spool writes the same bytes: the file spool is the memory spool on disk.
    #[cfg(feature = "file-spool")]
    #[test]
    fn the_file_spool_writes_what_the_memory_spool_does() {
        let mut in_memory = Vec::new();
        block_on(run(
            &mut fake(None),
            &mut in_memory,
            memory_spool,
            &NoProgress,
        ))
        .unwrap()
        .unwrap();
        let mut on_disk = Vec::new();
        block_on(run(&mut fake(None), &mut on_disk, file_spool, &NoProgress))
            .unwrap()
            .unwrap();
        assert_eq!(in_memory, on_disk);
    }

    #[test]
    fn progress_sees_every_page_and_the_end() {
        use std::cell::RefCell;
        #[derive(Default)]
        struct Seen(RefCell<Vec<String>>);
        impl Progress for Seen {
            fn update(&self, s: &SyncStats) {
                self.0
                    .borrow_mut()
                    .push(format!("{} resources", s.resources));
            }
            fn finish(&self) {
                self.0.borrow_mut().push("finish".into());
            }
        }
        let seen = Seen::default();
        let mut out = Vec::new();
        block_on(run(&mut fake(None), &mut out, memory_spool, &seen))
            .unwrap()
            .unwrap();
        assert_eq!(
            seen.0.into_inner(),
            ["1 resources", "2 resources", "3 resources", "finish"]
        );
        let seen = Seen::default();
        block_on(run(&mut fake(Some("p2")), &mut out, memory_spool, &seen))
            .unwrap()
            .unwrap_err();
        assert_eq!(
            seen.0.into_inner().last().map(String::as_str),
            Some("finish")
        );
    }

    #[test]
    fn a_repeated_page_token_stops_the_sync() {
        sync_stopped_on_p2(Some("p2"));
    }

    /// Runs a sync whose page after `p2` hands back `after_p2`, checks that it stops on `p2`
    /// seen twice, and returns the calls made.
    fn sync_stopped_on_p2(after_p2: Option<&'static str>) -> Fake {
        let mut fake = fake(after_p2);
        let mut out = Vec::new();
        let err = block_on(run(&mut fake, &mut out, memory_spool, &NoProgress))
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, SyncError::RepeatedToken(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("page token `p2` twice while listing resources of type `user`"),
            "{err}"
        );
        fake
    }

    /// p2 → p3 → p2: no token repeats immediately, but paging on would never end.
    #[test]
    fn a_page_token_cycle_stops_the_sync() {
        let fake = sync_stopped_on_p2(Some("p3"));
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
    fn a_contract_error_ends_the_sync_as_itself() {
        struct Failing;
        impl Contract for Failing {
            type Error = String;
            async fn resource_types(&mut self) -> Result<Vec<ResourceType>, String> {
                Err("unauthenticated: bad credentials".into())
            }
            async fn list_resources(
                &mut self,
                _: &str,
                _: Option<&str>,
            ) -> Result<ResourcePage, String> {
                unreachable!()
            }
            async fn list_entitlements(
                &mut self,
                _: &ResourceRef,
                _: Option<&str>,
            ) -> Result<EntitlementPage, String> {
                unreachable!()
            }
            async fn list_grants(
                &mut self,
                _: &ResourceRef,
                _: Option<&str>,
            ) -> Result<GrantPage, String> {
                unreachable!()
            }
            async fn session_info(&mut self) -> Result<Vec<(String, String)>, String> {
                unreachable!()
            }
        }
        let mut out = Vec::new();
        let err = block_on(run(&mut Failing, &mut out, memory_spool, &NoProgress))
            .unwrap()
            .unwrap_err();
        match err {
            SyncError::Contract(e) => assert_eq!(e, "unauthenticated: bad credentials"),
            other => panic!("{other:?}"),
        }
        assert!(out.is_empty());
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
        assert!(
            s.ends_with(r#""resource_types":0,"resources_by_type":{},"session":{}}"#),
            "{s}"
        );
    }

    /// A type whose resources arrive inline with another type's pages, repeated across pages
    /// (as Airflow permissions arrive with every role page that holds them).
    struct InlineFake {
        calls: Vec<String>,
    }

    fn permission(id: &str) -> Resource {
        resource("perm", id)
    }

    fn permission_entitlement(id: &str) -> Entitlement {
        Entitlement {
            id: format!("perm:{id}:assigned"),
            resource: ResourceRef::new("perm", id),
            slug: "assigned".into(),
            display_name: id.into(),
            description: String::new(),
            purpose: EntitlementPurpose::Permission,
            grantable_to: vec!["role".into()],
        }
    }

    impl Contract for InlineFake {
        type Error = String;

        async fn resource_types(&mut self) -> Result<Vec<ResourceType>, String> {
            let mut perm = rtype("perm", true);
            perm.capabilities.inline_resources = true;
            Ok(vec![rtype("role", true), perm])
        }
        async fn list_resources(
            &mut self,
            t: &str,
            token: Option<&str>,
        ) -> Result<ResourcePage, String> {
            self.calls.push(format!("resources {t} {token:?}"));
            let (role, next) = match token {
                None => ("Admin", Some("p2".to_string())),
                _ => ("Op", None),
            };
            Ok(ResourcePage {
                resources: vec![resource("role", role), permission("read"), permission(role)],
                entitlements: vec![permission_entitlement("read"), permission_entitlement(role)],
                grants: vec![],
                next_page_token: next,
            })
        }
        async fn list_entitlements(
            &mut self,
            r: &ResourceRef,
            _: Option<&str>,
        ) -> Result<EntitlementPage, String> {
            Err(format!("inline entitlements must not be listed: {}", r.id))
        }
        async fn list_grants(
            &mut self,
            r: &ResourceRef,
            _: Option<&str>,
        ) -> Result<GrantPage, String> {
            Err(format!("inline grants must not be listed: {}", r.id))
        }
        async fn session_info(&mut self) -> Result<Vec<(String, String)>, String> {
            Ok(vec![])
        }
        fn requests(&self) -> u64 {
            self.calls.len() as u64
        }
    }

    #[test]
    fn inline_resources_are_not_listed_and_appear_once() {
        let mut fake = InlineFake { calls: vec![] };
        let (out, stats) = sync(&mut fake).unwrap();
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
