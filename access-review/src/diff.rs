//! What changed between two syncs, streamed.
//!
//! The smaller file (by size) is indexed: for each record a hash of its key (what it is: a
//! resource's type and id, a grant's entitlement, principal and id), a hash of its line and
//! where the line starts, 48 bytes in all. The larger file is then read once, each record looked
//! up by key. Records found on one side only, and records whose line hash differs, are kept as
//! offsets and read back at the end to say what changed. Memory is the smaller side's index plus
//! the entitlements' kinds (to tell a role's permission from a membership) plus the changes,
//! never whole records.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::ReviewError;
use crate::records::{parse_key, Entitlement, LineReader, Record, RecordAt, Resource};

/// Sign-in bookkeeping: it moves whenever someone signs in (the connector's own account on
/// every sync), which is not a change of access.
pub const ACTIVITY_FIELDS: [&str; 3] = ["last_login", "login_count", "fail_login_count"];
/// Attributes that record when something was last touched: a grant to an account moves its
/// `changed_on` in Airflow, so comparing them would report each grant twice.
pub const BOOKKEEPING_ATTRIBUTES: [&str; 5] = [
    "changed_on",
    "updated_at",
    "modified_at",
    "last_modified",
    "last_seen",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// Compare the activity fields and bookkeeping attributes too.
    pub all_fields: bool,
}

/// The kinds of change, in the order a reader wants them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    AccountAdded,
    AccountRemoved,
    AccountChanged,
    GrantAdded,
    GrantRemoved,
    PermissionAdded,
    PermissionRemoved,
    ResourceAdded,
    ResourceRemoved,
    ResourceChanged,
    EntitlementAdded,
    EntitlementRemoved,
    EntitlementChanged,
    ResourceTypeAdded,
    ResourceTypeRemoved,
    ResourceTypeChanged,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 16] = [
        ChangeKind::AccountAdded,
        ChangeKind::AccountRemoved,
        ChangeKind::AccountChanged,
        ChangeKind::GrantAdded,
        ChangeKind::GrantRemoved,
        ChangeKind::PermissionAdded,
        ChangeKind::PermissionRemoved,
        ChangeKind::ResourceAdded,
        ChangeKind::ResourceRemoved,
        ChangeKind::ResourceChanged,
        ChangeKind::EntitlementAdded,
        ChangeKind::EntitlementRemoved,
        ChangeKind::EntitlementChanged,
        ChangeKind::ResourceTypeAdded,
        ChangeKind::ResourceTypeRemoved,
        ChangeKind::ResourceTypeChanged,
    ];

    /// The stable name, as in `--format jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::AccountAdded => "account_added",
            ChangeKind::AccountRemoved => "account_removed",
            ChangeKind::AccountChanged => "account_changed",
            ChangeKind::GrantAdded => "grant_added",
            ChangeKind::GrantRemoved => "grant_removed",
            ChangeKind::PermissionAdded => "permission_added",
            ChangeKind::PermissionRemoved => "permission_removed",
            ChangeKind::ResourceAdded => "resource_added",
            ChangeKind::ResourceRemoved => "resource_removed",
            ChangeKind::ResourceChanged => "resource_changed",
            ChangeKind::EntitlementAdded => "entitlement_added",
            ChangeKind::EntitlementRemoved => "entitlement_removed",
            ChangeKind::EntitlementChanged => "entitlement_changed",
            ChangeKind::ResourceTypeAdded => "resource_type_added",
            ChangeKind::ResourceTypeRemoved => "resource_type_removed",
            ChangeKind::ResourceTypeChanged => "resource_type_changed",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ChangeKind::AccountAdded => "Accounts added",
            ChangeKind::AccountRemoved => "Accounts removed",
            ChangeKind::AccountChanged => "Accounts changed",
            ChangeKind::GrantAdded => "Grants added (who gained access)",
            ChangeKind::GrantRemoved => "Grants removed (who lost access)",
            ChangeKind::PermissionAdded => "Permissions added",
            ChangeKind::PermissionRemoved => "Permissions removed",
            ChangeKind::ResourceAdded => "Resources added",
            ChangeKind::ResourceRemoved => "Resources removed",
            ChangeKind::ResourceChanged => "Resources changed",
            ChangeKind::EntitlementAdded => "Entitlements added",
            ChangeKind::EntitlementRemoved => "Entitlements removed",
            ChangeKind::EntitlementChanged => "Entitlements changed",
            ChangeKind::ResourceTypeAdded => "Resource types added",
            ChangeKind::ResourceTypeRemoved => "Resource types removed",
            ChangeKind::ResourceTypeChanged => "Resource types changed",
        }
    }

    fn sign(self) -> char {
        match self.name().rsplit('_').next() {
            Some("added") => '+',
            Some("removed") => '-',
            _ => '~',
        }
    }
}

/// One change: one line of `--format jsonl`. Fields that do not apply to a kind are left out
/// (docs/review.md lists which kind has which).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub change: ChangeKind,
    /// The resource (or, for `resource_type_*`, the type) that was added, removed or changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `*_changed`: which field, and its value before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// Grants and permissions: the entitlement and who holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// The grant's id: it tells two grants of one entitlement to one principal apart (held
    /// explicitly, and through a group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// A resource added or removed with the entitlements it held (as a principal): a new
    /// account's roles, a new role's permissions. Not listed again as grants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<String>,
    /// … and the principals (`type:id`) that held its entitlements: a removed role's members.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held_by: Vec<String>,
    /// … and its own entitlements.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    /// Where it is: (new side's offset, or old side's for removals) to keep file order.
    #[serde(skip)]
    order: u64,
}

impl Change {
    fn new(change: ChangeKind, order: u64) -> Self {
        Change {
            change,
            resource_type: None,
            id: None,
            display_name: None,
            login: None,
            email: None,
            status: None,
            field: None,
            old: None,
            new: None,
            entitlement: None,
            entitlement_name: None,
            principal_type: None,
            principal_id: None,
            grant: None,
            holds: Vec::new(),
            held_by: Vec::new(),
            entitlements: Vec::new(),
            order,
        }
    }

    /// `type:id` of the resource, or of the grant's principal.
    pub fn subject(&self) -> String {
        match (&self.principal_type, &self.principal_id) {
            (Some(t), Some(id)) => format!("{t}:{id}"),
            _ => match &self.resource_type {
                Some(t) if self.id.is_some() && !self.is_resource_type() => {
                    format!("{t}:{}", self.id.as_deref().unwrap_or(""))
                }
                _ => self.id.clone().unwrap_or_default(),
            },
        }
    }

    fn is_resource_type(&self) -> bool {
        matches!(
            self.change,
            ChangeKind::ResourceTypeAdded
                | ChangeKind::ResourceTypeRemoved
                | ChangeKind::ResourceTypeChanged
        )
    }

    /// One readable line, without the leading sign.
    pub fn describe(&self) -> String {
        let quoted = |v: &Option<Value>| v.as_ref().map_or("null".into(), Value::to_string);
        match self.change {
            ChangeKind::GrantAdded | ChangeKind::PermissionAdded => format!(
                "{} gained {}{}{}",
                self.subject(),
                self.entitlement.as_deref().unwrap_or(""),
                name_suffix(&self.entitlement_name),
                self.unusual_grant_id()
            ),
            ChangeKind::GrantRemoved | ChangeKind::PermissionRemoved => format!(
                "{} lost {}{}{}",
                self.subject(),
                self.entitlement.as_deref().unwrap_or(""),
                name_suffix(&self.entitlement_name),
                self.unusual_grant_id()
            ),
            ChangeKind::AccountChanged
            | ChangeKind::ResourceChanged
            | ChangeKind::EntitlementChanged
            | ChangeKind::ResourceTypeChanged => format!(
                "{} {}: {} → {}",
                self.subject(),
                self.field.as_deref().unwrap_or(""),
                quoted(&self.old),
                quoted(&self.new)
            ),
            _ => {
                let mut s = self.subject();
                if let Some(name) = self.display_name.as_deref().filter(|n| !n.is_empty()) {
                    s.push_str(&format!(" \"{name}\""));
                }
                if let Some(email) = &self.email {
                    s.push_str(&format!(" <{email}>"));
                }
                if let Some(status) = &self.status {
                    s.push_str(&format!(", {status}"));
                }
                let removed = self.change.sign() == '-';
                for (label, list) in [
                    (if removed { "held" } else { "holds" }, &self.holds),
                    (
                        if removed { "was held by" } else { "held by" },
                        &self.held_by,
                    ),
                    ("entitlements", &self.entitlements),
                ] {
                    if !list.is_empty() {
                        s.push_str(&format!("; {label} {}", list.join(", ")));
                    }
                }
                s
            }
        }
    }
}

impl Change {
    /// ` as ID` when the grant's id says more than `ENTITLEMENT:TYPE:ID` (e.g. `…:implicit:via:…`).
    fn unusual_grant_id(&self) -> String {
        let plain = format!(
            "{}:{}",
            self.entitlement.as_deref().unwrap_or(""),
            self.subject()
        );
        match self.grant.as_deref() {
            Some(id) if !id.is_empty() && id != plain => format!(" as {id}"),
            _ => String::new(),
        }
    }
}

fn name_suffix(name: &Option<String>) -> String {
    match name.as_deref() {
        Some(n) if !n.is_empty() => format!(" ({n})"),
        _ => String::new(),
    }
}

#[derive(Debug, Clone)]
pub struct Diff {
    pub old: PathBuf,
    pub new: PathBuf,
    pub old_records: u64,
    pub new_records: u64,
    pub changes: Vec<Change>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self, kind: ChangeKind) -> usize {
        self.changes.iter().filter(|c| c.change == kind).count()
    }

    /// The readable summary `host-harness diff` prints by default.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let (old, new) = (self.old.display(), self.new.display());
        if self.is_empty() {
            s.push_str(&format!(
                "No changes from {old} ({} records) to {new} ({} records).\n",
                self.old_records, self.new_records
            ));
        } else {
            let n = self.changes.len();
            s.push_str(&format!(
                "{n} change{} from {old} ({} records) to {new} ({} records):\n",
                if n == 1 { "" } else { "s" },
                self.old_records,
                self.new_records
            ));
            for kind in ChangeKind::ALL {
                let of_kind: Vec<&Change> =
                    self.changes.iter().filter(|c| c.change == kind).collect();
                if of_kind.is_empty() {
                    continue;
                }
                s.push_str(&format!("\n{} ({})\n", kind.title(), of_kind.len()));
                for c in of_kind {
                    s.push_str(&format!("  {} {}\n", kind.sign(), c.describe()));
                }
            }
        }
        s
    }

    /// `--format jsonl`: one change per line.
    pub fn to_jsonl(&self) -> String {
        let mut s = String::new();
        for c in &self.changes {
            // A struct of strings and JSON values always serialises.
            s.push_str(&serde_json::to_string(c).unwrap_or_default());
            s.push('\n');
        }
        s
    }
}

/// What the diff keeps of an entitlement of either side.
#[derive(Debug, Clone)]
struct EntInfo {
    permission: bool,
    resource: (String, String),
    display_name: String,
}

/// What the index keeps per record of the smaller file: 32 bytes, beside its 16-byte key.
struct Slot {
    hash: u128,
    offset: u64,
    line: u32,
    /// The line of the other file where the key was found; 0 until then.
    seen_at: u32,
}

/// The keys are already uniform (BLAKE3): their low bits are the table's hash.
#[derive(Default)]
struct LowBits(u64);

impl std::hash::Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        // Truncation is the point: the low 64 of 128 uniform bits.
        self.0 = v as u64;
    }
}

type Index = HashMap<u128, Slot, std::hash::BuildHasherDefault<LowBits>>;

fn line32(line: u64) -> u32 {
    u32::try_from(line).unwrap_or(u32::MAX)
}

/// A record to read back: on one side only, or on both with different lines.
struct Pending {
    old: Option<(u64, u32)>,
    new: Option<(u64, u32)>,
}

/// 128 bits of BLAKE3: a record's key is identified by it (a collision among a sync's records
/// is as likely as one among random 128-bit numbers), and a line's content compared by it.
fn hash(bytes: &[u8]) -> u128 {
    let full = blake3::hash(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(full.as_bytes().get(..16).unwrap_or(&[0u8; 16]));
    u128::from_le_bytes(out)
}

/// Lines in `path`, to size the index once instead of growing it (a growing table holds its old
/// and new storage at once).
fn count_lines(path: &Path) -> Result<usize, ReviewError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| ReviewError::read(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| ReviewError::read(path, e))?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf
            .get(..n)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
    }
}

/// Reads every line of `path`, handing each record's key, line hash and place to `each`.
fn scan(
    path: &Path,
    ents: &mut HashMap<String, EntInfo>,
    mut each: impl FnMut(u128, u128, u64, u32, &dyn Fn() -> String) -> Result<(), ReviewError>,
) -> Result<u64, ReviewError> {
    let mut reader = LineReader::open(path)?;
    let mut records = 0;
    while let Some(raw) = reader.next_line()? {
        let view = parse_key(path, &raw)?;
        let key = view
            .key()
            .map_err(|r| ReviewError::bad_line(path, raw.line, r))?;
        if view.kind.as_deref() == Some("entitlement") {
            let s = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().unwrap_or("").to_string();
            ents.insert(
                s(&view.id),
                EntInfo {
                    permission: view.purpose.as_deref() == Some("permission"),
                    resource: (s(&view.resource_type), s(&view.resource_id)),
                    display_name: s(&view.display_name),
                },
            );
        }
        each(
            hash(&key),
            hash(raw.bytes),
            raw.offset,
            line32(raw.line),
            &|| view.describe(),
        )?;
        records += 1;
    }
    if records == 0 {
        return Err(ReviewError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(records)
}

pub fn diff(old: &Path, new: &Path, opts: DiffOptions) -> Result<Diff, ReviewError> {
    let size = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| ReviewError::read(p, e))
    };
    let index_old = size(old)? <= size(new)?;
    let (index_path, stream_path) = if index_old { (old, new) } else { (new, old) };

    let mut index = Index::with_capacity_and_hasher(count_lines(index_path)?, Default::default());
    let mut index_ents = HashMap::new();
    let index_records = scan(
        index_path,
        &mut index_ents,
        |key, hash, offset, line, what| {
            if let Some(first) = index.get(&key) {
                return Err(ReviewError::Duplicate {
                    path: index_path.to_path_buf(),
                    line: line.into(),
                    first: first.line.into(),
                    what: what(),
                });
            }
            index.insert(
                key,
                Slot {
                    hash,
                    offset,
                    line,
                    seen_at: 0,
                },
            );
            Ok(())
        },
    )?;

    let mut pending = Vec::new();
    let place = |indexed: Option<(u64, u32)>, streamed: Option<(u64, u32)>| {
        if index_old {
            Pending {
                old: indexed,
                new: streamed,
            }
        } else {
            Pending {
                old: streamed,
                new: indexed,
            }
        }
    };
    let mut stream_ents = HashMap::new();
    let stream_records = scan(
        stream_path,
        &mut stream_ents,
        |key, hash, offset, line, what| {
            match index.get_mut(&key) {
                None => pending.push(place(None, Some((offset, line)))),
                Some(slot) if slot.seen_at != 0 => {
                    return Err(ReviewError::Duplicate {
                        path: stream_path.to_path_buf(),
                        line: line.into(),
                        first: slot.seen_at.into(),
                        what: what(),
                    })
                }
                Some(slot) => {
                    slot.seen_at = line;
                    if slot.hash != hash {
                        pending.push(place(Some((slot.offset, slot.line)), Some((offset, line))));
                    }
                }
            }
            Ok(())
        },
    )?;
    pending.extend(
        index
            .values()
            .filter(|s| s.seen_at == 0)
            .map(|s| place(Some((s.offset, s.line)), None)),
    );
    drop(index);

    let (old_ents, new_ents) = if index_old {
        (index_ents, stream_ents)
    } else {
        (stream_ents, index_ents)
    };
    let (old_records, new_records) = if index_old {
        (index_records, stream_records)
    } else {
        (stream_records, index_records)
    };
    let changes = materialise(old, new, pending, &old_ents, &new_ents, opts)?;
    Ok(Diff {
        old: old.to_path_buf(),
        new: new.to_path_buf(),
        old_records,
        new_records,
        changes,
    })
}

fn materialise(
    old: &Path,
    new: &Path,
    pending: Vec<Pending>,
    old_ents: &HashMap<String, EntInfo>,
    new_ents: &HashMap<String, EntInfo>,
    opts: DiffOptions,
) -> Result<Vec<Change>, ReviewError> {
    let mut old_at = RecordAt::open(old)?;
    let mut new_at = RecordAt::open(new)?;
    let mut changes = Vec::new();
    for p in pending {
        let o = match p.old {
            Some((offset, line)) => Some((offset, old_at.read(offset, line.into())?)),
            None => None,
        };
        let n = match p.new {
            Some((offset, line)) => Some((offset, new_at.read(offset, line.into())?)),
            None => None,
        };
        match (o, n) {
            (None, Some((at, r))) => changes.push(one_side(r, true, at, new_ents, old_ents)),
            (Some((at, r)), None) => changes.push(one_side(r, false, at, old_ents, new_ents)),
            (Some((_, a)), Some((at, b))) => changes.extend(changed(&a, &b, at, opts)),
            (None, None) => {}
        }
    }
    // Removals come from the old file and additions from the new: their offsets only order
    // changes of one kind, which always share a side.
    changes.sort_by_key(|c| (c.change, c.order));
    fold(&mut changes, old_ents, new_ents);
    Ok(changes)
}

fn one_side(
    record: Record,
    added: bool,
    order: u64,
    ents: &HashMap<String, EntInfo>,
    other_ents: &HashMap<String, EntInfo>,
) -> Change {
    let pick = |a: ChangeKind, r: ChangeKind| if added { a } else { r };
    match record {
        Record::ResourceType(t) => {
            let mut c = Change::new(
                pick(
                    ChangeKind::ResourceTypeAdded,
                    ChangeKind::ResourceTypeRemoved,
                ),
                order,
            );
            c.id = Some(t.id);
            c.display_name = Some(t.display_name);
            c
        }
        Record::Resource(r) => {
            let account = r.user.is_some();
            let mut c = Change::new(
                if account {
                    pick(ChangeKind::AccountAdded, ChangeKind::AccountRemoved)
                } else {
                    pick(ChangeKind::ResourceAdded, ChangeKind::ResourceRemoved)
                },
                order,
            );
            if let Some(u) = r.user {
                c.login = Some(u.login);
                c.email = u.email;
                c.status = Some(u.status);
            }
            c.resource_type = Some(r.resource_type);
            c.id = Some(r.id);
            c.display_name = Some(r.display_name);
            c
        }
        Record::Entitlement(e) => {
            let mut c = Change::new(
                pick(ChangeKind::EntitlementAdded, ChangeKind::EntitlementRemoved),
                order,
            );
            c.resource_type = Some(e.resource_type);
            c.id = Some(e.id);
            c.display_name = Some(e.display_name);
            c
        }
        Record::Grant(g) => {
            let info = ents
                .get(&g.entitlement)
                .or_else(|| other_ents.get(&g.entitlement));
            let permission = info.is_some_and(|i| i.permission);
            let mut c = Change::new(
                if permission {
                    pick(ChangeKind::PermissionAdded, ChangeKind::PermissionRemoved)
                } else {
                    pick(ChangeKind::GrantAdded, ChangeKind::GrantRemoved)
                },
                order,
            );
            c.entitlement_name = info.map(|i| i.display_name.clone());
            c.entitlement = Some(g.entitlement);
            c.principal_type = Some(g.principal_type);
            c.principal_id = Some(g.principal_id);
            c.grant = Some(g.id).filter(|id| !id.is_empty());
            c
        }
    }
}

fn field_change(
    kind: ChangeKind,
    order: u64,
    subject: (&str, &str),
    field: &str,
    old: Value,
    new: Value,
) -> Change {
    let mut c = Change::new(kind, order);
    if !subject.0.is_empty() {
        c.resource_type = Some(subject.0.to_string());
    }
    c.id = Some(subject.1.to_string());
    c.field = Some(field.to_string());
    c.old = Some(old);
    c.new = Some(new);
    c
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn num(v: Option<u64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// The fields of a resource that count, named as in the sync (`user.email`, `attributes.x`).
fn resource_fields(r: &Resource, opts: DiffOptions) -> Vec<(String, Value)> {
    let mut out = vec![(
        "display_name".to_string(),
        Value::String(r.display_name.clone()),
    )];
    match &r.user {
        Some(u) => {
            out.push(("user.login".into(), Value::String(u.login.clone())));
            out.push(("user.email".into(), opt(&u.email)));
            out.push(("user.status".into(), Value::String(u.status.clone())));
            out.push(("user.created_at".into(), opt(&u.created_at)));
            if opts.all_fields {
                out.push(("user.last_login".into(), opt(&u.last_login)));
                out.push(("user.login_count".into(), num(u.login_count)));
                out.push(("user.fail_login_count".into(), num(u.fail_login_count)));
            }
        }
        None => out.push(("user".into(), Value::Null)),
    }
    for (k, v) in &r.attributes.0 {
        if opts.all_fields || !BOOKKEEPING_ATTRIBUTES.contains(&k.as_str()) {
            out.push((format!("attributes.{k}"), Value::String(v.clone())));
        }
    }
    out
}

/// Field-by-field differences of two versions of one record, in the newer one's field order,
/// then fields only the older one had.
fn pairs_changed(a: Vec<(String, Value)>, b: Vec<(String, Value)>) -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    for (k, nv) in &b {
        let ov = a
            .iter()
            .find(|(ak, _)| ak == k)
            .map_or(Value::Null, |(_, v)| v.clone());
        if &ov != nv {
            out.push((k.clone(), ov, nv.clone()));
        }
    }
    for (k, ov) in a {
        if !b.iter().any(|(bk, _)| *bk == k) && ov != Value::Null {
            out.push((k, ov, Value::Null));
        }
    }
    out
}

fn changed(a: &Record, b: &Record, order: u64, opts: DiffOptions) -> Vec<Change> {
    let (kind, subject, fields) = match (a, b) {
        (Record::Resource(x), Record::Resource(y)) => {
            let mut fx = resource_fields(x, opts);
            let mut fy = resource_fields(y, opts);
            // An account that stops being one (or becomes one) shows as `user`.
            if x.user.is_some() != y.user.is_some() {
                fx.retain(|(k, _)| !k.starts_with("user"));
                fy.retain(|(k, _)| !k.starts_with("user"));
                fx.push(("user".into(), Value::Bool(x.user.is_some())));
                fy.push(("user".into(), Value::Bool(y.user.is_some())));
            }
            let kind = if x.user.is_some() || y.user.is_some() {
                ChangeKind::AccountChanged
            } else {
                ChangeKind::ResourceChanged
            };
            (
                kind,
                (y.resource_type.as_str(), y.id.as_str()),
                pairs_changed(fx, fy),
            )
        }
        (Record::Entitlement(x), Record::Entitlement(y)) => {
            let f = |e: &Entitlement| {
                vec![
                    ("slug".to_string(), Value::String(e.slug.clone())),
                    ("display_name".into(), Value::String(e.display_name.clone())),
                    ("description".into(), Value::String(e.description.clone())),
                    ("purpose".into(), Value::String(e.purpose.clone())),
                    ("grantable_to".into(), strings(&e.grantable_to)),
                ]
            };
            (
                ChangeKind::EntitlementChanged,
                (y.resource_type.as_str(), y.id.as_str()),
                pairs_changed(f(x), f(y)),
            )
        }
        (Record::ResourceType(x), Record::ResourceType(y)) => {
            let f = |t: &crate::records::ResourceType| {
                vec![
                    (
                        "display_name".to_string(),
                        Value::String(t.display_name.clone()),
                    ),
                    ("description".into(), Value::String(t.description.clone())),
                    ("traits".into(), strings(&t.traits)),
                ]
            };
            (
                ChangeKind::ResourceTypeChanged,
                ("", y.id.as_str()),
                pairs_changed(f(x), f(y)),
            )
        }
        // A grant is all key: two lines of one key are the same grant written differently.
        _ => return Vec::new(),
    };
    fields
        .into_iter()
        .map(|(field, o, n)| {
            let mut c = field_change(kind, order, subject, &field, o, n);
            if kind == ChangeKind::EntitlementChanged {
                // The entitlement's own resource type is not its identity; its id is.
                c.resource_type = None;
            }
            c
        })
        .collect()
}

/// Entitlements and grants of a resource that was itself added or removed are listed with it,
/// not again on their own: a new account is one change, with its roles.
fn fold(
    changes: &mut Vec<Change>,
    old_ents: &HashMap<String, EntInfo>,
    new_ents: &HashMap<String, EntInfo>,
) {
    let mut whole: HashMap<(bool, String, String), usize> = HashMap::new();
    for (i, c) in changes.iter().enumerate() {
        let added = match c.change {
            ChangeKind::AccountAdded | ChangeKind::ResourceAdded => true,
            ChangeKind::AccountRemoved | ChangeKind::ResourceRemoved => false,
            _ => continue,
        };
        if let (Some(t), Some(id)) = (&c.resource_type, &c.id) {
            whole.insert((added, t.clone(), id.clone()), i);
        }
    }
    if whole.is_empty() {
        return;
    }
    enum Into {
        Holds(usize, String),
        HeldBy(usize, String),
        Entitlement(usize, String),
    }
    let mut moves = Vec::new();
    let mut folded = HashSet::new();
    for (i, c) in changes.iter().enumerate() {
        let added = match c.change {
            ChangeKind::GrantAdded | ChangeKind::PermissionAdded | ChangeKind::EntitlementAdded => {
                true
            }
            ChangeKind::GrantRemoved
            | ChangeKind::PermissionRemoved
            | ChangeKind::EntitlementRemoved => false,
            _ => continue,
        };
        let ents = if added { new_ents } else { old_ents };
        let find = |t: &str, id: &str| whole.get(&(added, t.to_string(), id.to_string())).copied();
        if matches!(
            c.change,
            ChangeKind::EntitlementAdded | ChangeKind::EntitlementRemoved
        ) {
            let id = c.id.clone().unwrap_or_default();
            if let Some(info) = ents.get(&id) {
                if let Some(owner) = find(&info.resource.0, &info.resource.1) {
                    moves.push(Into::Entitlement(owner, id));
                    folded.insert(i);
                }
            }
            continue;
        }
        let (Some(ent), Some(pt), Some(pid)) = (&c.entitlement, &c.principal_type, &c.principal_id)
        else {
            continue;
        };
        if let Some(owner) = find(pt, pid) {
            moves.push(Into::Holds(owner, ent.clone()));
            folded.insert(i);
        } else if let Some(owner) = ents
            .get(ent)
            .and_then(|info| find(&info.resource.0, &info.resource.1))
        {
            moves.push(Into::HeldBy(owner, format!("{pt}:{pid}")));
            folded.insert(i);
        }
    }
    for m in moves {
        let (owner, list, value) = match m {
            Into::Holds(o, v) => (o, 0, v),
            Into::HeldBy(o, v) => (o, 1, v),
            Into::Entitlement(o, v) => (o, 2, v),
        };
        if let Some(c) = changes.get_mut(owner) {
            match list {
                0 => c.holds.push(value),
                1 => c.held_by.push(value),
                _ => c.entitlements.push(value),
            }
        }
    }
    let mut i = 0;
    changes.retain(|_| {
        let keep = !folded.contains(&i);
        i += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TYPES: &str = r#"{"type":"resource_type","id":"user","display_name":"User","description":"","traits":["user"]}
{"type":"resource_type","id":"role","display_name":"Role","description":"","traits":["role"]}
"#;

    fn user(id: &str, status: &str, last_login: &str, changed_on: &str) -> String {
        format!(
            r#"{{"type":"resource","resource_type":"user","id":"{id}","display_name":"{id} name","user":{{"login":"{id}","email":"{id}@example.com","status":"{status}","last_login":{last_login},"login_count":3,"fail_login_count":0,"created_at":null}},"attributes":{{"first_name":"F","changed_on":"{changed_on}"}}}}
"#
        )
    }

    fn role(id: &str) -> String {
        format!(
            r#"{{"type":"resource","resource_type":"role","id":"{id}","display_name":"{id}"}}
{{"type":"entitlement","id":"role:{id}:member","resource_type":"role","resource_id":"{id}","slug":"member","display_name":"{id} member","description":"","purpose":"assignment","grantable_to":["user"]}}
"#
        )
    }

    fn perm(id: &str) -> String {
        format!(
            r#"{{"type":"resource","resource_type":"permission","id":"{id}","display_name":"{id}"}}
{{"type":"entitlement","id":"permission:{id}:assigned","resource_type":"permission","resource_id":"{id}","slug":"assigned","display_name":"Assigned: {id}","description":"","purpose":"permission","grantable_to":["role"]}}
"#
        )
    }

    fn grant(ent: &str, pt: &str, pid: &str) -> String {
        format!(
            r#"{{"type":"grant","id":"{ent}:{pt}:{pid}","entitlement":"{ent}","principal_type":"{pt}","principal_id":"{pid}"}}
"#
        )
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn run(a: &str, b: &str) -> Diff {
        let (fa, fb) = (file(a), file(b));
        diff(fa.path(), fb.path(), DiffOptions::default()).unwrap()
    }

    fn base() -> String {
        [
            TYPES.to_string(),
            user("alice", "enabled", "\"2026-01-01T00:00:00\"", "x"),
            user("bob", "enabled", "null", "x"),
            role("Admin"),
            role("Viewer"),
            perm("can_edit:Users"),
            grant("role:Admin:member", "user", "alice"),
            grant("role:Viewer:member", "user", "bob"),
            grant("permission:can_edit:Users:assigned", "role", "Admin"),
        ]
        .concat()
    }

    #[test]
    fn equal_syncs_differ_in_nothing_even_in_another_order_or_with_new_sign_ins() {
        let a = base();
        assert!(run(&a, &a).is_empty());
        let mut lines: Vec<&str> = a.lines().collect();
        lines.reverse();
        let b = lines.join("\n") + "\n";
        // Sign-in bookkeeping and `changed_on` move without any change of access.
        let b = b.replace(
            "\"last_login\":null",
            "\"last_login\":\"2026-02-01T00:00:00\"",
        );
        let b = b.replace("\"changed_on\":\"x\"", "\"changed_on\":\"y\"");
        let d = run(&a, &b);
        assert!(d.is_empty(), "{}", d.to_text());
        let (fa, fb) = (file(&a), file(&b));
        let all = diff(fa.path(), fb.path(), DiffOptions { all_fields: true }).unwrap();
        let fields: Vec<_> = all
            .changes
            .iter()
            .map(|c| c.field.clone().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "user.last_login",
                "attributes.changed_on",
                "attributes.changed_on"
            ]
        );
    }

    #[test]
    fn grants_accounts_and_permissions_each_once_whichever_side_is_smaller() {
        let a = base();
        let b = base()
            // bob: Viewer -> Admin, and disabled
            .replace(
                &grant("role:Viewer:member", "user", "bob"),
                &grant("role:Admin:member", "user", "bob"),
            )
            .replace(
                &user("bob", "enabled", "null", "x"),
                &user("bob", "disabled", "null", "x"),
            )
            // Viewer quietly gains can_edit on Users
            + &grant("permission:can_edit:Users:assigned", "role", "Viewer")
            // a new account with a role: one change, its role with it
            + &user("carol", "enabled", "null", "x")
            + &grant("role:Viewer:member", "user", "carol");
        let forward = run(&a, &b);
        let lines: Vec<String> = forward
            .to_text()
            .lines()
            .skip(1)
            .map(String::from)
            .collect();
        assert_eq!(
            lines,
            [
                "",
                "Accounts added (1)",
                "  + user:carol \"carol name\" <carol@example.com>, enabled; holds role:Viewer:member",
                "",
                "Accounts changed (1)",
                "  ~ user:bob user.status: \"enabled\" → \"disabled\"",
                "",
                "Grants added (who gained access) (1)",
                "  + user:bob gained role:Admin:member (Admin member)",
                "",
                "Grants removed (who lost access) (1)",
                "  - user:bob lost role:Viewer:member (Viewer member)",
                "",
                "Permissions added (1)",
                "  + role:Viewer gained permission:can_edit:Users:assigned (Assigned: can_edit:Users)",
            ]
        );
        // Reversed: the same changes, mirrored (the index is now the other file).
        let back = run(&b, &a);
        let kinds: Vec<&str> = back.changes.iter().map(|c| c.change.name()).collect();
        assert_eq!(
            kinds,
            [
                "account_removed",
                "account_changed",
                "grant_added",
                "grant_removed",
                "permission_removed"
            ]
        );
        assert_eq!(back.changes[0].holds, ["role:Viewer:member"]);
        let jsonl = forward.to_jsonl();
        let first: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
        assert_eq!(
            first,
            serde_json::json!({"change":"account_added","resource_type":"user","id":"carol",
                "display_name":"carol name","login":"carol","email":"carol@example.com",
                "status":"enabled","holds":["role:Viewer:member"]})
        );
    }

    #[test]
    fn a_removed_role_takes_its_entitlement_and_memberships_with_it() {
        let a = base();
        let b = base()
            .replace(&role("Viewer"), "")
            .replace(&grant("role:Viewer:member", "user", "bob"), "");
        let d = run(&a, &b);
        assert_eq!(d.changes.len(), 1, "{}", d.to_text());
        let c = &d.changes[0];
        assert_eq!(c.change, ChangeKind::ResourceRemoved);
        assert_eq!(c.held_by, ["user:bob"]);
        assert_eq!(c.entitlements, ["role:Viewer:member"]);
    }

    #[test]
    fn bad_input_and_duplicates_name_file_and_line() {
        let a = base();
        let (fa, fb) = (file(&a), file(&(a.clone() + "{\"type\":\"grant\"")));
        let e = diff(fa.path(), fb.path(), DiffOptions::default()).unwrap_err();
        assert!(
            e.to_string().ends_with(&format!(
                ", line {}: the file ends in the middle of this record: it looks truncated",
                a.lines().count() + 1
            )),
            "{e}"
        );
        let dup = a.clone() + &grant("role:Admin:member", "user", "alice");
        let (fa, fb) = (
            file(&dup),
            file(&(a.clone() + &user("zed", "enabled", "null", "x"))),
        );
        let e = diff(fa.path(), fb.path(), DiffOptions::default()).unwrap_err();
        assert!(
            e.to_string().ends_with(&format!(
                ", line {}: the same grant `role:Admin:member:user:alice` of \
                 `role:Admin:member` to `user:alice` as line 11; a sync lists each once",
                a.lines().count() + 1
            )),
            "{e}"
        );
    }
}
