//! The findings of an access review, from one sync of any connector.
//!
//! Who holds what follows the grants: a principal granted a membership entitlement (purpose
//! `assignment`) of a role or group is a member of it and holds whatever that role or group
//! holds, through any depth of groups; entitlements of purpose `permission` are what roles (or
//! accounts) may do. Privilege is derived from those permissions (perms.rs), never from a
//! role's name.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::diff::Diff;
use crate::perms::{self, Danger};
use crate::records::{Entitlement, Resource, ResourceType, Sync};
use crate::time;

pub const DEFAULT_STALE_DAYS: u32 = 90;
pub const DEFAULT_FAILED_SIGN_INS: u64 = 5;
/// Airflow's own roles (FAB): a role with any other name is custom.
pub const DEFAULT_BUILTIN_ROLES: [&str; 5] = ["Admin", "Op", "User", "Viewer", "Public"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    pub stale_days: u32,
    pub failed_sign_ins: u64,
    pub builtin_roles: Vec<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            stale_days: DEFAULT_STALE_DAYS,
            failed_sign_ins: DEFAULT_FAILED_SIGN_INS,
            builtin_roles: DEFAULT_BUILTIN_ROLES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// When the sync was taken, and how that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenAt {
    pub at: Timestamp,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::High, Severity::Medium, Severity::Low];

    pub fn label(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    fn raised_if(self, privileged: bool) -> Severity {
        match (self, privileged) {
            (Severity::Low, true) => Severity::Medium,
            (_, true) => Severity::High,
            (s, false) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    AdminViaCustomRole,
    DangerousCustomRole,
    Stale,
    NeverSignedIn,
    DisabledWithRoles,
    FailedSignIns,
    RoleWithoutMembers,
    AccountWithoutRole,
}

impl FindingKind {
    /// Stable name, as in the CSV export.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::AdminViaCustomRole => "admin_via_custom_role",
            FindingKind::DangerousCustomRole => "dangerous_custom_role",
            FindingKind::Stale => "stale_account",
            FindingKind::NeverSignedIn => "never_signed_in",
            FindingKind::DisabledWithRoles => "disabled_with_roles",
            FindingKind::FailedSignIns => "failed_sign_ins",
            FindingKind::RoleWithoutMembers => "role_without_members",
            FindingKind::AccountWithoutRole => "account_without_role",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            FindingKind::AdminViaCustomRole => "Admin-equivalent through a custom role",
            FindingKind::DangerousCustomRole => "Custom role with dangerous permissions",
            FindingKind::Stale => "No sign-in for a long time",
            FindingKind::NeverSignedIn => "Never signed in",
            FindingKind::DisabledWithRoles => "Disabled but still holds roles",
            FindingKind::FailedSignIns => "Failed sign-ins",
            FindingKind::RoleWithoutMembers => "Role without members",
            FindingKind::AccountWithoutRole => "Account without a role",
        }
    }

    pub fn why(self) -> &'static str {
        match self {
            FindingKind::AdminViaCustomRole => {
                "This account can create, change or delete accounts or roles, so it can give \
                 itself any access; the role that allows it is not one of the system's own \
                 administrator roles, so a review that checks only those misses it."
            }
            FindingKind::DangerousCustomRole => {
                "What a role may do matters, not its name: a custom role that manages accounts \
                 or roles is admin-equivalent, and one that reaches stored credentials or \
                 configuration lets its members act as the systems those credentials open."
            }
            FindingKind::Stale => {
                "An account nobody uses keeps its access: if its password leaks or its owner has \
                 left, the access is used without anyone noticing. Disable it, or confirm the \
                 owner still needs it."
            }
            FindingKind::NeverSignedIn => {
                "Access that was granted and never used was probably not needed, or the account \
                 is a leftover of a set-up that never finished; it is a way in that nobody \
                 watches."
            }
            FindingKind::DisabledWithRoles => {
                "A disabled account cannot sign in, but enabling it again restores every role \
                 at once, without a new approval. Remove the roles of accounts that are off."
            }
            FindingKind::FailedSignIns => {
                "Many wrong passwords mean someone is guessing this account's password, or its \
                 owner is locked out and may be working around it; both need a look."
            }
            FindingKind::RoleWithoutMembers => {
                "A role nobody holds is clutter that hides the roles that matter, and it can be \
                 granted later without anyone reviewing what it allows."
            }
            FindingKind::AccountWithoutRole => {
                "An account with no role has no purpose here; it is usually a leftover of an \
                 off-boarding or of a set-up that never finished, and still a way in."
            }
        }
    }
}

/// An account or role as a finding names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Named {
    /// `type:id` in the sync.
    pub key: String,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    pub account: Option<Named>,
    pub role: Option<Named>,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub role: Named,
    /// The groups or roles it comes through, when not held directly.
    pub via: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub account: Named,
    pub login: String,
    pub email: Option<String>,
    pub status: String,
    pub last_login: Option<Timestamp>,
    pub days_since_sign_in: Option<i64>,
    pub login_count: Option<u64>,
    pub fail_login_count: Option<u64>,
    pub created_at: Option<Timestamp>,
    pub roles: Vec<RoleRef>,
    pub admin_equivalent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub role: Named,
    pub builtin: bool,
    pub members: usize,
    pub permissions: usize,
    /// Dangerous permissions it holds, worst first, by their names in the sync.
    pub dangerous: Vec<(Danger, String)>,
}

impl RoleRow {
    pub fn admin_equivalent(&self) -> bool {
        self.dangerous
            .iter()
            .any(|(d, _)| *d == Danger::AccessAdmin)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegedRow {
    pub account: Named,
    pub status: String,
    /// The role (or group) that holds the admin-equivalent permissions; the account itself
    /// when it holds them directly.
    pub role: Named,
    pub via: Option<String>,
    pub custom: bool,
    pub permissions: Vec<String>,
}

/// What the sync carries: a finding that needs missing data is not made, and the report says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub sign_ins: bool,
    pub permissions: bool,
    pub created: bool,
}

impl Coverage {
    pub fn notes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.sign_ins {
            out.push(
                "This sync carries no sign-in data (no account has a last sign-in or a sign-in \
                 count), so no account is reported as stale, never used or failing to sign in.",
            );
        }
        if !self.permissions {
            out.push(
                "This sync carries no permissions of roles, so privileged access cannot be \
                 derived from what roles allow: review who holds each role in the Roles table.",
            );
        }
        if self.sign_ins && !self.created {
            out.push(
                "No account has a creation time, so accounts that never signed in cannot be \
                 aged.",
            );
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Headline {
    pub accounts: usize,
    pub enabled: usize,
    pub disabled: usize,
    pub other_status: usize,
    pub roles: usize,
    pub privileged: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub source: PathBuf,
    pub taken_at: TakenAt,
    pub thresholds: Thresholds,
    pub resource_types: Vec<ResourceType>,
    pub accounts: Vec<AccountRow>,
    pub roles: Vec<RoleRow>,
    pub privileged: Vec<PrivilegedRow>,
    pub findings: Vec<Finding>,
    pub coverage: Coverage,
    pub drift: Option<Diff>,
}

impl Review {
    pub fn headline(&self) -> Headline {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        let status = |s: &str| self.accounts.iter().filter(|a| a.status == s).count();
        let enabled = status("enabled");
        let disabled = status("disabled");
        Headline {
            accounts: self.accounts.len(),
            enabled,
            disabled,
            other_status: self.accounts.len() - enabled - disabled,
            roles: self.roles.len(),
            privileged: self.accounts.iter().filter(|a| a.admin_equivalent).count(),
            high: count(Severity::High),
            medium: count(Severity::Medium),
            low: count(Severity::Low),
        }
    }

    pub fn findings_of(&self, kinds: &[FindingKind]) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| kinds.contains(&f.kind))
            .collect()
    }
}

type Key<'a> = (&'a str, &'a str);

fn sort_key(s: &str) -> (String, String) {
    (s.to_lowercase(), s.to_string())
}

struct Index<'a> {
    traits: HashMap<&'a str, &'a [String]>,
    resources: HashMap<Key<'a>, &'a Resource>,
    /// What each principal was granted, in grant order.
    holds: HashMap<Key<'a>, Vec<&'a Entitlement>>,
}

impl<'a> Index<'a> {
    fn new(sync: &'a Sync) -> Self {
        let traits = sync
            .resource_types
            .iter()
            .map(|t| (t.id.as_str(), t.traits.as_slice()))
            .collect();
        let resources = sync
            .resources
            .iter()
            .map(|r| ((r.resource_type.as_str(), r.id.as_str()), r))
            .collect();
        let entitlements: HashMap<&str, &Entitlement> = sync
            .entitlements
            .iter()
            .map(|e| (e.id.as_str(), e))
            .collect();
        let mut holds: HashMap<Key, Vec<&Entitlement>> = HashMap::new();
        for g in &sync.grants {
            if let Some(e) = entitlements.get(g.entitlement.as_str()) {
                holds
                    .entry((g.principal_type.as_str(), g.principal_id.as_str()))
                    .or_default()
                    .push(e);
            }
        }
        Index {
            traits,
            resources,
            holds,
        }
    }

    fn has_trait(&self, resource_type: &str, t: &str) -> bool {
        match self.traits.get(resource_type) {
            Some(traits) => traits.iter().any(|x| x == t),
            None => resource_type == t,
        }
    }

    fn named(&self, key: Key<'_>) -> Named {
        let name = self
            .resources
            .get(&key)
            .map(|r| r.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| key.1.to_string());
        Named {
            key: format!("{}:{}", key.0, key.1),
            id: key.1.to_string(),
            name,
        }
    }

    /// A permission's name as a reviewer reads it, and its danger.
    fn permission(&self, e: &Entitlement) -> (String, Option<Danger>) {
        let resource = self
            .resources
            .get(&(e.resource_type.as_str(), e.resource_id.as_str()));
        let attr = |k: &str| resource.and_then(|r| r.attributes.get(k));
        let (action, target) = perms::split(&e.resource_id, attr("action"), attr("resource"));
        let name = resource
            .map(|r| r.display_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| e.resource_id.clone());
        (name, perms::classify(&action, &target))
    }
}

/// Everything one account holds, found by following memberships breadth-first (so each role
/// is reached by its shortest path).
struct Reach<'a> {
    /// Resources it is a member of, with the resources in between.
    members_of: Vec<(Key<'a>, Vec<Key<'a>>)>,
    /// Permissions, with the principal that holds each and the path to that principal.
    permissions: Vec<(&'a Entitlement, Key<'a>, Vec<Key<'a>>)>,
}

fn reach<'a>(index: &Index<'a>, start: Key<'a>) -> Reach<'a> {
    let mut seen: HashSet<Key> = HashSet::from([start]);
    let mut queue: VecDeque<(Key, Vec<Key>)> = VecDeque::from([(start, Vec::new())]);
    let mut out = Reach {
        members_of: Vec::new(),
        permissions: Vec::new(),
    };
    while let Some((holder, path)) = queue.pop_front() {
        for e in index
            .holds
            .get(&holder)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if e.is_permission() {
                out.permissions.push((e, holder, path.clone()));
                continue;
            }
            let target = (e.resource_type.as_str(), e.resource_id.as_str());
            if seen.insert(target) {
                let mut p = path.clone();
                p.push(target);
                out.members_of.push((target, p.clone()));
                queue.push_back((target, p));
            }
        }
    }
    out
}

fn via(index: &Index<'_>, path: &[Key<'_>]) -> Option<String> {
    let between = path.get(..path.len().saturating_sub(1))?;
    if between.is_empty() {
        return None;
    }
    Some(
        between
            .iter()
            .map(|k| format!("{} `{}`", k.0, index.named(*k).name))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn join_names(names: &[String]) -> String {
    names.join(", ")
}

pub fn review(
    sync: &Sync,
    source: &Path,
    taken_at: TakenAt,
    thresholds: Thresholds,
    drift: Option<Diff>,
) -> Review {
    let index = Index::new(sync);
    let now = taken_at.at;
    let builtin = |r: &Named| {
        thresholds
            .builtin_roles
            .iter()
            .any(|b| *b == r.id || *b == r.name)
    };

    let account_resources: Vec<&Resource> =
        sync.resources.iter().filter(|r| r.user.is_some()).collect();
    let coverage = Coverage {
        sign_ins: account_resources.iter().any(|r| {
            r.user.as_ref().is_some_and(|u| {
                u.last_login.is_some() || u.login_count.is_some() || u.fail_login_count.is_some()
            })
        }),
        permissions: sync.entitlements.iter().any(Entitlement::is_permission),
        created: account_resources
            .iter()
            .any(|r| r.user.as_ref().is_some_and(|u| u.created_at.is_some())),
    };

    let mut accounts = Vec::new();
    let mut privileged = Vec::new();
    let mut members: HashMap<String, usize> = HashMap::new();
    for r in &account_resources {
        let Some(u) = &r.user else { continue };
        let key = (r.resource_type.as_str(), r.id.as_str());
        let account = index.named(key);
        let reached = reach(&index, key);
        let mut roles = Vec::new();
        for (target, path) in &reached.members_of {
            if index.has_trait(target.0, "role") {
                let role = index.named(*target);
                *members.entry(role.key.clone()).or_default() += 1;
                roles.push(RoleRef {
                    role,
                    via: via(&index, path),
                });
            }
        }
        roles.sort_by_key(|r| sort_key(&r.role.name));
        // Admin-equivalent permissions, grouped by the principal that holds them.
        let mut by_holder: Vec<(Key, Vec<Key>, Vec<String>)> = Vec::new();
        for (e, holder, path) in &reached.permissions {
            let (name, danger) = index.permission(e);
            if danger != Some(Danger::AccessAdmin) {
                continue;
            }
            match by_holder.iter_mut().find(|(h, _, _)| h == holder) {
                Some((_, _, names)) => names.push(name),
                None => by_holder.push((*holder, path.clone(), vec![name])),
            }
        }
        for (holder, path, names) in by_holder {
            let role = index.named(holder);
            let direct = holder == key;
            privileged.push(PrivilegedRow {
                account: account.clone(),
                status: u.status.clone(),
                custom: direct || !builtin(&role),
                via: if direct {
                    Some("held by the account itself".into())
                } else {
                    via(&index, &path)
                },
                role,
                permissions: names,
            });
        }
        let last_login = u.last_login.as_deref().and_then(time::parse);
        accounts.push(AccountRow {
            admin_equivalent: privileged.iter().any(|p| p.account.key == account.key),
            account,
            login: u.login.clone(),
            email: u.email.clone(),
            status: u.status.clone(),
            days_since_sign_in: last_login.map(|t| time::days_between(t, now)),
            last_login,
            login_count: u.login_count,
            fail_login_count: u.fail_login_count,
            created_at: u.created_at.as_deref().and_then(time::parse),
            roles,
        });
    }
    accounts.sort_by_key(|a| sort_key(&a.account.id));
    privileged.sort_by_key(|p| (sort_key(&p.account.id), sort_key(&p.role.name)));

    let mut roles: Vec<RoleRow> = sync
        .resources
        .iter()
        .filter(|r| index.has_trait(&r.resource_type, "role"))
        .map(|r| {
            let key = (r.resource_type.as_str(), r.id.as_str());
            let role = index.named(key);
            let held = index.holds.get(&key).map(Vec::as_slice).unwrap_or_default();
            let perms: Vec<&&Entitlement> = held.iter().filter(|e| e.is_permission()).collect();
            let mut dangerous: Vec<(Danger, String)> = perms
                .iter()
                .filter_map(|e| {
                    let (name, d) = index.permission(e);
                    d.map(|d| (d, name))
                })
                .collect();
            dangerous.sort_by_key(|(d, _)| *d);
            RoleRow {
                builtin: builtin(&role),
                members: members.get(&role.key).copied().unwrap_or(0),
                permissions: perms.len(),
                dangerous,
                role,
            }
        })
        .collect();
    roles.sort_by_key(|r| sort_key(&r.role.name));

    let mut findings = Vec::new();
    for p in privileged.iter().filter(|p| p.custom) {
        findings.push(Finding {
            kind: FindingKind::AdminViaCustomRole,
            severity: Severity::High,
            account: Some(p.account.clone()),
            role: Some(p.role.clone()),
            what: if p.role.key == p.account.key {
                format!(
                    "Can administer access through permissions granted to the account itself: {}",
                    join_names(&p.permissions)
                )
            } else {
                format!(
                    "Can administer access through the custom role `{}`{}: {}",
                    p.role.name,
                    p.via
                        .as_deref()
                        .map(|v| format!(" (through {v})"))
                        .unwrap_or_default(),
                    join_names(&p.permissions)
                )
            },
        });
    }
    for r in roles
        .iter()
        .filter(|r| !r.builtin && !r.dangerous.is_empty())
    {
        let mut parts = Vec::new();
        for d in [Danger::AccessAdmin, Danger::Secrets, Danger::Config] {
            let names: Vec<String> = r
                .dangerous
                .iter()
                .filter(|(x, _)| *x == d)
                .map(|(_, n)| n.clone())
                .collect();
            if !names.is_empty() {
                parts.push(format!("{} ({})", d.label(), join_names(&names)));
            }
        }
        findings.push(Finding {
            kind: FindingKind::DangerousCustomRole,
            severity: if r.admin_equivalent() {
                Severity::High
            } else {
                Severity::Medium
            },
            account: None,
            role: Some(r.role.clone()),
            what: format!(
                "{}{}; {} member{}",
                if r.admin_equivalent() {
                    "Admin-equivalent: "
                } else {
                    ""
                },
                parts.join("; "),
                r.members,
                if r.members == 1 { "" } else { "s" }
            ),
        });
    }
    let stale_days = i64::from(thresholds.stale_days);
    for a in &accounts {
        let role_names: Vec<String> = a.roles.iter().map(|r| r.role.name.clone()).collect();
        let first_role = a.roles.first().map(|r| r.role.clone());
        let mut push = |kind, severity: Severity, role: Option<Named>, what: String| {
            findings.push(Finding {
                kind,
                severity: severity.raised_if(a.admin_equivalent),
                account: Some(a.account.clone()),
                role,
                what,
            })
        };
        if a.status == "disabled" {
            if !a.roles.is_empty() {
                push(
                    FindingKind::DisabledWithRoles,
                    Severity::Low,
                    first_role.clone(),
                    format!("Disabled, still holds {}", join_names(&role_names)),
                );
            }
        } else {
            if coverage.sign_ins {
                match (a.last_login, a.days_since_sign_in, a.created_at) {
                    (Some(t), Some(days), _) if days >= stale_days => push(
                        FindingKind::Stale,
                        Severity::Medium,
                        first_role.clone(),
                        format!(
                            "No sign-in for {days} days (last {}); holds {}",
                            time::date(t),
                            if role_names.is_empty() {
                                "no role".into()
                            } else {
                                join_names(&role_names)
                            }
                        ),
                    ),
                    (None, _, Some(created)) if time::days_between(created, now) >= stale_days => {
                        push(
                            FindingKind::NeverSignedIn,
                            Severity::Medium,
                            first_role.clone(),
                            format!(
                                "Never signed in; created {} days ago ({}); holds {}",
                                time::days_between(created, now),
                                time::date(created),
                                if role_names.is_empty() {
                                    "no role".into()
                                } else {
                                    join_names(&role_names)
                                }
                            ),
                        )
                    }
                    _ => {}
                }
            }
            if a.roles.is_empty() {
                push(
                    FindingKind::AccountWithoutRole,
                    Severity::Low,
                    None,
                    "Holds no role".into(),
                );
            }
        }
        if let Some(n) = a.fail_login_count {
            if thresholds.failed_sign_ins > 0 && n >= thresholds.failed_sign_ins {
                push(
                    FindingKind::FailedSignIns,
                    Severity::Medium,
                    first_role.clone(),
                    format!(
                        "{n} failed sign-ins (threshold {}){}",
                        thresholds.failed_sign_ins,
                        match a.last_login {
                            Some(t) => format!("; last successful sign-in {}", time::date(t)),
                            None => "; never signed in successfully".into(),
                        }
                    ),
                );
            }
        }
    }
    for r in roles.iter().filter(|r| r.members == 0) {
        findings.push(Finding {
            kind: FindingKind::RoleWithoutMembers,
            severity: Severity::Low,
            account: None,
            role: Some(r.role.clone()),
            what: format!(
                "No account holds this role{}",
                if r.permissions > 0 {
                    format!(" ({} permissions)", r.permissions)
                } else {
                    String::new()
                }
            ),
        });
    }
    findings.sort_by(|a, b| {
        (a.severity, a.kind)
            .cmp(&(b.severity, b.kind))
            .then_with(|| {
                let k = |f: &Finding| {
                    (
                        f.account.as_ref().map(|n| sort_key(&n.id)),
                        f.role.as_ref().map(|n| sort_key(&n.name)),
                    )
                };
                k(a).cmp(&k(b))
            })
    });

    Review {
        source: source.to_path_buf(),
        taken_at,
        thresholds,
        resource_types: sync.resource_types.clone(),
        accounts,
        roles,
        privileged,
        findings,
        coverage,
        drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Attributes, Grant, User};

    fn user(
        id: &str,
        status: &str,
        last: Option<&str>,
        fails: Option<u64>,
        created: &str,
    ) -> Resource {
        Resource {
            resource_type: "user".into(),
            id: id.into(),
            display_name: format!("{id} name"),
            user: Some(User {
                login: id.into(),
                email: None,
                status: status.into(),
                last_login: last.map(String::from),
                login_count: last.map(|_| 1),
                fail_login_count: fails,
                created_at: Some(created.into()),
            }),
            attributes: Attributes::default(),
        }
    }

    fn resource(t: &str, id: &str, attrs: &[(&str, &str)]) -> Resource {
        Resource {
            resource_type: t.into(),
            id: id.into(),
            display_name: id.into(),
            user: None,
            attributes: Attributes(
                attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }

    fn ent(t: &str, id: &str, purpose: &str) -> Entitlement {
        Entitlement {
            id: format!("{t}:{id}:{purpose}"),
            resource_type: t.into(),
            resource_id: id.into(),
            slug: purpose.into(),
            display_name: String::new(),
            description: String::new(),
            purpose: purpose.into(),
            grantable_to: vec![],
        }
    }

    fn grant(e: &str, pt: &str, pid: &str) -> Grant {
        Grant {
            id: String::new(),
            entitlement: e.into(),
            principal_type: pt.into(),
            principal_id: pid.into(),
        }
    }

    fn types() -> Vec<ResourceType> {
        ["user", "role", "group", "permission"]
            .iter()
            .map(|t| ResourceType {
                id: t.to_string(),
                display_name: t.to_string(),
                description: String::new(),
                traits: if *t == "permission" {
                    vec![]
                } else {
                    vec![t.to_string()]
                },
            })
            .collect()
    }

    fn sync() -> Sync {
        Sync {
            resource_types: types(),
            resources: vec![
                user(
                    "admin",
                    "enabled",
                    Some("2026-12-01T00:00:00"),
                    Some(0),
                    "2026-01-01",
                ),
                user(
                    "keys",
                    "enabled",
                    Some("2026-11-30T00:00:00Z"),
                    Some(0),
                    "2026-01-01",
                ),
                user(
                    "old",
                    "enabled",
                    Some("2026-01-01T00:00:00"),
                    Some(0),
                    "2025-01-01",
                ),
                user("never", "enabled", None, None, "2026-06-01"),
                user("new", "enabled", None, None, "2026-11-30"),
                user(
                    "guess",
                    "enabled",
                    Some("2026-12-01T00:00:00"),
                    Some(9),
                    "2026-01-01",
                ),
                user("gone", "disabled", None, None, "2026-01-01"),
                user(
                    "loner",
                    "enabled",
                    Some("2026-12-01T00:00:00"),
                    Some(0),
                    "2026-01-01",
                ),
                resource("role", "Admin", &[]),
                resource("role", "Keymaster", &[]),
                resource("role", "Ops", &[]),
                resource("role", "Empty", &[]),
                resource("group", "sre", &[]),
                resource(
                    "permission",
                    "can_edit:Users",
                    &[("action", "can_edit"), ("resource", "Users")],
                ),
                resource("permission", "can_read:Connections", &[]),
            ],
            entitlements: vec![
                ent("role", "Admin", "member"),
                ent("role", "Keymaster", "member"),
                ent("role", "Ops", "member"),
                ent("role", "Empty", "member"),
                ent("group", "sre", "member"),
                ent("permission", "can_edit:Users", "permission"),
                ent("permission", "can_read:Connections", "permission"),
            ]
            .into_iter()
            .map(|mut e| {
                if e.purpose == "member" {
                    e.purpose = "assignment".into();
                }
                e
            })
            .collect(),
            grants: vec![
                grant("role:Admin:member", "user", "admin"),
                grant("group:sre:member", "user", "keys"),
                grant("role:Keymaster:member", "group", "sre"),
                grant("role:Ops:member", "user", "old"),
                grant("role:Ops:member", "user", "never"),
                grant("role:Ops:member", "user", "new"),
                grant("role:Ops:member", "user", "guess"),
                grant("role:Ops:member", "user", "gone"),
                grant("permission:can_edit:Users:permission", "role", "Admin"),
                grant("permission:can_edit:Users:permission", "role", "Keymaster"),
                grant("permission:can_read:Connections:permission", "role", "Ops"),
            ],
        }
    }

    fn run(t: Thresholds) -> Review {
        review_of(&sync(), t)
    }

    fn review_of(s: &Sync, t: Thresholds) -> Review {
        review(
            s,
            Path::new("s.jsonl"),
            TakenAt {
                at: time::parse("2026-12-03T00:00:00Z").unwrap(),
                source: "test".into(),
            },
            t,
            None,
        )
    }

    fn found(r: &Review) -> Vec<(String, &'static str, String, String)> {
        r.findings
            .iter()
            .map(|f| {
                (
                    f.kind.name().to_string(),
                    f.severity.label(),
                    f.account.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                    f.role.as_ref().map(|n| n.id.clone()).unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn findings_follow_permissions_groups_and_thresholds() {
        let r = run(Thresholds {
            builtin_roles: vec!["Admin".into()],
            ..Thresholds::default()
        });
        let s = |a: &str, b: &'static str, c: &str, d: &str| {
            (a.to_string(), b, c.to_string(), d.to_string())
        };
        assert_eq!(
            found(&r),
            [
                s("admin_via_custom_role", "high", "keys", "Keymaster"),
                s("dangerous_custom_role", "high", "", "Keymaster"),
                s("dangerous_custom_role", "medium", "", "Ops"),
                s("stale_account", "medium", "old", "Ops"),
                s("never_signed_in", "medium", "never", "Ops"),
                s("failed_sign_ins", "medium", "guess", "Ops"),
                s("disabled_with_roles", "low", "gone", "Ops"),
                s("role_without_members", "low", "", "Empty"),
                s("account_without_role", "low", "loner", ""),
            ]
        );
        let keys = r.accounts.iter().find(|a| a.account.id == "keys").unwrap();
        assert!(keys.admin_equivalent);
        assert_eq!(keys.roles[0].via.as_deref(), Some("group `sre`"));
        let p: Vec<(&str, &str, bool)> = r
            .privileged
            .iter()
            .map(|p| (p.account.id.as_str(), p.role.id.as_str(), p.custom))
            .collect();
        assert_eq!(p, [("admin", "Admin", false), ("keys", "Keymaster", true)]);
        assert_eq!(r.privileged[1].permissions, ["can_edit:Users"]);
        let h = r.headline();
        assert_eq!(
            (h.accounts, h.enabled, h.disabled, h.roles, h.privileged),
            (8, 7, 1, 4, 2)
        );
        assert_eq!((h.high, h.medium, h.low), (2, 4, 3));
        assert!(r.coverage.notes().is_empty());
    }

    #[test]
    fn thresholds_move_findings_and_privilege_raises_severity() {
        let r = run(Thresholds {
            stale_days: 400,
            failed_sign_ins: 10,
            builtin_roles: vec!["Admin".into(), "Keymaster".into(), "Ops".into()],
        });
        let kinds: Vec<String> = found(&r).into_iter().map(|f| f.0).collect();
        assert_eq!(
            kinds,
            [
                "disabled_with_roles",
                "role_without_members",
                "account_without_role"
            ]
        );

        let mut s = sync();
        s.grants.push(grant("role:Admin:member", "user", "old"));
        let r = review_of(&s, Thresholds::default());
        let stale = r
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::Stale)
            .unwrap();
        assert_eq!(stale.severity, Severity::High, "stale and admin-equivalent");
        assert_eq!(
            stale.what,
            "No sign-in for 336 days (last 2026-01-01); holds Admin, Ops"
        );
    }

    #[test]
    fn a_permission_granted_to_the_account_itself_counts_too() {
        let mut s = sync();
        s.grants.push(grant(
            "permission:can_edit:Users:permission",
            "user",
            "loner",
        ));
        let r = review_of(&s, Thresholds::default());
        let f = r
            .findings
            .iter()
            .find(|f| f.account.as_ref().is_some_and(|a| a.id == "loner"))
            .unwrap();
        assert_eq!(f.kind, FindingKind::AdminViaCustomRole);
        assert_eq!(
            f.what,
            "Can administer access through permissions granted to the account itself: \
             can_edit:Users"
        );
    }

    #[test]
    fn a_sync_without_sign_ins_or_permissions_says_so_instead_of_guessing() {
        let mut s = sync();
        s.entitlements.retain(|e| !e.is_permission());
        for r in &mut s.resources {
            if let Some(u) = &mut r.user {
                u.last_login = None;
                u.login_count = None;
                u.fail_login_count = None;
            }
        }
        let r = review_of(&s, Thresholds::default());
        assert!(r.privileged.is_empty());
        assert!(!r.findings.iter().any(|f| matches!(
            f.kind,
            FindingKind::Stale | FindingKind::NeverSignedIn | FindingKind::FailedSignIns
        )));
        assert_eq!(r.coverage.notes().len(), 2);
    }
}
