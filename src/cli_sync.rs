//! The full sync behind `wasmtime run … sync`, in the harness's order and with its
//! de-duplication (`host-harness/src/sync.rs`), over domain types.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::time::Duration;

use crate::cli_jsonl::Line;
use crate::connector::Connector;
use crate::error::{Error, Result};
use crate::http::Transport;
use crate::metadata;
use crate::model::{EntitlementPage, GrantPage, ResourcePage, ResourceRef, ResourceType};

/// The calls a sync makes; the connector implements it, tests use fakes.
pub trait SyncSource {
    fn resource_types(&mut self) -> Vec<ResourceType>;
    fn list_resources(&mut self, resource_type: &str, token: Option<&str>) -> Result<ResourcePage>;
    fn list_entitlements(
        &mut self,
        r: &ResourceRef,
        token: Option<&str>,
    ) -> Result<EntitlementPage>;
    fn list_grants(&mut self, r: &ResourceRef, token: Option<&str>) -> Result<GrantPage>;
}

impl<T: Transport> SyncSource for Connector<T> {
    fn resource_types(&mut self) -> Vec<ResourceType> {
        metadata::resource_types()
    }
    fn list_resources(&mut self, resource_type: &str, token: Option<&str>) -> Result<ResourcePage> {
        Connector::list_resources(self, resource_type, token)
    }
    fn list_entitlements(
        &mut self,
        r: &ResourceRef,
        token: Option<&str>,
    ) -> Result<EntitlementPage> {
        Connector::list_entitlements(self, r, token)
    }
    fn list_grants(&mut self, r: &ResourceRef, token: Option<&str>) -> Result<GrantPage> {
        Connector::list_grants(self, r, token)
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub resource_types: u64,
    pub resources: u64,
    pub entitlements: u64,
    pub grants: u64,
    pub resources_by_type: BTreeMap<String, u64>,
}

/// Why a sync stopped.
#[derive(Debug)]
pub enum SyncError {
    Connector(Error),
    Output(std::io::Error),
    /// A page token already seen in the same listing came back (at once, A→A, or after
    /// others, A→B→A): paging on would never end.
    RepeatedToken {
        token: String,
        what: String,
    },
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Connector(e) => write!(f, "{e}"),
            SyncError::Output(e) => write!(f, "writing the output: {e}"),
            SyncError::RepeatedToken { token, what } => write!(
                f,
                "connector returned page token `{token}` twice while listing {what}; \
                 stopping to avoid an endless loop"
            ),
        }
    }
}

impl From<Error> for SyncError {
    fn from(e: Error) -> Self {
        SyncError::Connector(e)
    }
}

impl From<std::io::Error> for SyncError {
    fn from(e: std::io::Error) -> Self {
        SyncError::Output(e)
    }
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
        TokenGuard {
            what,
            seen: HashSet::new(),
        }
    }

    fn next(&mut self, token: Option<String>) -> std::result::Result<Option<String>, SyncError> {
        match token {
            None => Ok(None),
            Some(t) if self.seen.insert(t.clone()) => Ok(Some(t)),
            Some(token) => Err(SyncError::RepeatedToken {
                token,
                what: self.what.clone(),
            }),
        }
    }
}

/// The full sync, in the harness's order (`host-harness/src/sync.rs`): resource types; every
/// synced type's resources page by page (types whose resources arrive inline are not listed,
/// and each of their resources and entitlements is written once); then all entitlements, then
/// all grants. Entitlements and grants wait in memory (the harness spools them to files; a
/// command component has no file system).
pub fn sync(
    source: &mut impl SyncSource,
    out: &mut dyn Write,
) -> std::result::Result<SyncStats, SyncError> {
    let mut stats = SyncStats::default();
    let mut entitlements: Vec<String> = Vec::new();
    let mut grants: Vec<String> = Vec::new();

    let types = source.resource_types();
    for t in &types {
        writeln!(out, "{}", Line::resource_type(t).to_json())?;
        stats.resource_types += 1;
    }
    let inline: HashSet<&str> = types
        .iter()
        .filter(|t| t.capabilities.inline_resources)
        .map(|t| t.id)
        .collect();
    let capabilities = |id: &str| types.iter().find(|t| t.id == id).map(|t| t.capabilities);
    let mut seen_inline: HashSet<(String, String)> = HashSet::new();
    let mut seen_inline_entitlements: HashSet<String> = HashSet::new();

    for t in types
        .iter()
        .filter(|t| t.capabilities.sync && !t.capabilities.inline_resources)
    {
        let mut guard = TokenGuard::new(format!("resources of type `{}`", t.id));
        let mut token: Option<String> = None;
        loop {
            let page = source.list_resources(t.id, token.as_deref())?;
            for r in &page.resources {
                if inline.contains(r.resource_type.as_str())
                    && !seen_inline.insert((r.resource_type.clone(), r.id.clone()))
                {
                    continue;
                }
                writeln!(out, "{}", Line::resource(r).to_json())?;
                stats.resources += 1;
                *stats
                    .resources_by_type
                    .entry(r.resource_type.clone())
                    .or_default() += 1;
            }
            for e in &page.entitlements {
                if inline.contains(e.resource.resource_type.as_str())
                    && !seen_inline_entitlements.insert(e.id.clone())
                {
                    continue;
                }
                entitlements.push(Line::entitlement(e).to_json());
            }
            grants.extend(page.grants.iter().map(|g| Line::grant(g).to_json()));
            for r in &page.resources {
                let rref = ResourceRef::new(&r.resource_type, &r.id);
                // Inline resources follow their own type's capabilities.
                let caps = capabilities(&r.resource_type).unwrap_or(t.capabilities);
                if caps.inline_resources {
                    continue;
                }
                if !caps.inline_entitlements {
                    list_entitlements(source, &rref, &mut entitlements)?;
                }
                if !caps.inline_grants {
                    list_grants(source, &rref, &mut grants)?;
                }
            }
            // Resources are on their way to the reader before the next page is asked for.
            out.flush()?;
            token = guard.next(page.next_page_token)?;
            if token.is_none() {
                break;
            }
        }
    }

    stats.entitlements = entitlements.len() as u64;
    stats.grants = grants.len() as u64;
    for line in entitlements.iter().chain(&grants) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(stats)
}

fn list_entitlements(
    source: &mut impl SyncSource,
    rref: &ResourceRef,
    lines: &mut Vec<String>,
) -> std::result::Result<(), SyncError> {
    let mut guard = TokenGuard::new(format!(
        "entitlements of {}:{}",
        rref.resource_type, rref.id
    ));
    let mut token: Option<String> = None;
    loop {
        let page = source.list_entitlements(rref, token.as_deref())?;
        lines.extend(
            page.entitlements
                .iter()
                .map(|e| Line::entitlement(e).to_json()),
        );
        token = guard.next(page.next_page_token)?;
        if token.is_none() {
            return Ok(());
        }
    }
}

fn list_grants(
    source: &mut impl SyncSource,
    rref: &ResourceRef,
    lines: &mut Vec<String>,
) -> std::result::Result<(), SyncError> {
    let mut guard = TokenGuard::new(format!("grants of {}:{}", rref.resource_type, rref.id));
    let mut token: Option<String> = None;
    loop {
        let page = source.list_grants(rref, token.as_deref())?;
        lines.extend(page.grants.iter().map(|g| Line::grant(g).to_json()));
        token = guard.next(page.next_page_token)?;
        if token.is_none() {
            return Ok(());
        }
    }
}

/// The harness's one-line summary (`host-harness/src/main.rs`), from what the component saw.
pub fn summary(
    stats: &SyncStats,
    requests: u64,
    elapsed: Duration,
    session: &[(String, String)],
) -> String {
    let by_type = stats
        .resources_by_type
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let session = |key: &str| {
        session
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let discovery = match session("discovery_requests") {
        Some("0") | None => String::new(),
        Some(n) => format!(" ({n} to detect the API)"),
    };
    let api = session("api")
        .map(|a| format!("\n  api: {a}"))
        .unwrap_or_default();
    let shifted = match (session("shifted_pages"), session("realign_requests")) {
        (Some(pages), Some(extra)) if pages != "0" => format!(
            "\n  the directory changed during the sync: {pages} pages re-aligned ({extra} extra requests)"
        ),
        _ => String::new(),
    };
    format!(
        "sync complete: {} resource types, {} resources ({by_type}), {} entitlements, {} grants; \
         {requests} HTTP requests{discovery}; {:.2} s{api}{shifted}",
        stats.resource_types,
        stats.resources,
        stats.entitlements,
        stats.grants,
        elapsed.as_secs_f64()
    )
}
