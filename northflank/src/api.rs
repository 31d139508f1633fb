//! Northflank's answers, as typed by its official JS client (`@northflank/js-client` 0.9.5,
//! generated from the OpenAPI spec). Fields the client marks optional are optional here; a
//! field it marks required fails the parse when missing, except where the docs' own examples
//! leave it out (`finalized`, `restrictions`), which are read leniently.

use serde::Deserialize;

/// The permissions Northflank names on each endpoint ("Required permission").
pub const MEMBERS_READ: &str = "Organisation > Admin > Members > Read";
pub const ROLES_READ: &str = "Organisation > Admin > Roles > Read";
pub const ROLES_MANAGE: &str = "Organisation > Admin > Roles > Manage";

/// Most rows a page may hold.
pub const PER_PAGE: u32 = 100;

#[derive(Debug, Deserialize)]
pub struct Paged<D> {
    pub data: D,
    #[serde(default)]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
pub struct Pagination {
    #[serde(rename = "hasNextPage", default)]
    pub has_next_page: bool,
    /// Absent on the last page (the official client pages while it is present).
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Single<D> {
    pub data: D,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Email {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub verified: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Members {
    pub members: Vec<Member>,
}

/// An org member; in a role's listing also how it holds the role.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub emails: Option<Vec<Email>>,
    #[serde(rename = "joinedAt", default)]
    pub joined_at: Option<String>,
    /// Required by the types, missing from the docs' example: unknown is reported as such.
    #[serde(default)]
    pub finalized: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MembershipType {
    /// Added to the role by hand.
    Explicit,
    /// Provisioned through a directory group linked to the role.
    Implicit,
}

#[derive(Debug, Deserialize)]
pub struct RoleMembers {
    pub members: Vec<RoleMember>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct RoleMember {
    pub id: String,
    /// Required: a role member of unknown kind fails the parse rather than be guessed.
    #[serde(rename = "type")]
    pub kind: MembershipType,
}

#[derive(Debug, Deserialize)]
pub struct Roles {
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub restrictions: Option<Restrictions>,
    #[serde(rename = "directoryGroups", default)]
    pub directory_groups: Option<Vec<String>>,
    #[serde(rename = "createdAt", default)]
    pub created_at: Option<String>,
    #[serde(rename = "updatedAt", default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Restrictions {
    pub enabled: bool,
    #[serde(default)]
    pub teams: Option<Vec<TeamRestriction>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct TeamRestriction {
    #[serde(rename = "teamId")]
    pub team_id: String,
    #[serde(default)]
    pub restrictions: Option<ProjectRestrictions>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ProjectRestrictions {
    pub enabled: bool,
    #[serde(default)]
    pub projects: Option<Vec<String>>,
    #[serde(rename = "restrictionMode", default)]
    pub restriction_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DirectoryGroups {
    #[serde(rename = "directoryGroups")]
    pub directory_groups: Vec<DirectoryGroup>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DirectoryGroup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "idpId", default)]
    pub idp_id: Option<String>,
    #[serde(rename = "createdAt", default)]
    pub created_at: Option<String>,
    #[serde(rename = "updatedAt", default)]
    pub updated_at: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DirectoryMembers {
    pub members: Vec<DirectoryMember>,
}

/// A member of a directory group. `id` is null for a directory user with no Northflank account
/// yet; its e-mails are plain strings here, unlike an org member's.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DirectoryMember {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub emails: Option<Vec<String>>,
}

/// Northflank ids of members and roles: `^[A-Za-z0-9-]+$`. Checked before an id goes into a
/// write's path or body, so a malformed one fails as the caller's mistake.
pub fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples_parse() {
        let m: Paged<Members> = serde_json::from_str(
            r#"{"data":{"members":[{"id":"john-doe","name":"John Doe","emails":[{"address":"john@example.com","verified":true}],"joinedAt":"2021-01-20T11:19:53.175Z"}]},"pagination":{"hasNextPage":false,"count":1}}"#,
        )
        .unwrap();
        assert_eq!(m.data.members[0].finalized, None);
        assert_eq!(m.pagination.unwrap().cursor, None);
        let r: Paged<RoleMembers> = serde_json::from_str(
            r#"{"data":{"members":[{"id":"john-doe","name":"John Doe","type":"implicit"}]},"pagination":{"hasNextPage":true,"cursor":"abc","count":1}}"#,
        )
        .unwrap();
        assert_eq!(r.data.members[0].kind, MembershipType::Implicit);
        let g: Paged<DirectoryMembers> = serde_json::from_str(
            r#"{"data":{"members":[{"id":null,"name":"New Hire","emails":["new@example.com"]}]}}"#,
        )
        .unwrap();
        assert_eq!(g.data.members[0].id, None);
        let d: Single<DirectoryGroups> = serde_json::from_str(
            r#"{"data":{"directoryGroups":[{"id":"directory_group_1234567890ABCDEFGHIJKLMNOP"}]}}"#,
        )
        .unwrap();
        assert_eq!(d.data.directory_groups.len(), 1);
    }

    #[test]
    fn a_role_member_of_unknown_kind_is_refused() {
        let r =
            serde_json::from_str::<RoleMembers>(r#"{"members":[{"id":"a","type":"inherited"}]}"#);
        assert!(r.is_err());
        let r = serde_json::from_str::<RoleMembers>(r#"{"members":[{"id":"a"}]}"#);
        assert!(r.is_err());
    }

    #[test]
    fn plain_ids() {
        assert!(is_plain_id("john-doe-2"));
        for bad in ["", "a/b", "a b", "a:b", "directory_group_1", "é"] {
            assert!(!is_plain_id(bad), "{bad}");
        }
    }
}
