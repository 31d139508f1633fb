//! Northflank members, roles and directory groups as resources, entitlements and grants.
//!
//! Ids:
//! - resources: `user` = the member id, `role` = the role id, `group` = the directory-group id;
//! - entitlements: `role:<role>:member`, `group:<group>:member`;
//! - grants: `<entitlement>:user:<member>`, and for a role membership that comes through a
//!   directory group `role:<role>:member:user:<member>:implicit`, followed by
//!   `:via:<group>,<group>…` naming the groups linked to the role when they are known. The
//!   contract's grant has no field for how it is held, so its id says it: an explicit and an
//!   implicit membership of one member in one role are two grants, each revocable (or not) on
//!   its own terms.
//!
//! Directory users without a Northflank account (a group member whose `id` is null) are never
//! dropped: each becomes a grant of `group:<group>:member` to a principal of the type
//! `directory_user` (declared in the metadata, never listed on its own: it has nothing to list
//! but what the group says), whose id is the user's first e-mail, else `name:<name>`, else
//! `unnamed:<group>:<n>` (its place in the group's listing). A reviewer sees them among the
//! group's grants, told apart from members by the principal type, and the operator's summary
//! counts them (`directory_users_without_account`).

use crate::api::{DirectoryGroup, DirectoryMember, Member, MembershipType, Role};
use connector_sdk::model::{
    AccountStatus, Entitlement, EntitlementPurpose, Grant, Resource, ResourceRef, UserProfile,
};

pub const USER: &str = "user";
pub const ROLE: &str = "role";
pub const GROUP: &str = "group";
pub const DIRECTORY_USER: &str = "directory_user";
pub const MEMBER: &str = "member";
const IMPLICIT: &str = "implicit";
const VIA: &str = "via";

pub fn member_entitlement_id(resource_type: &str, id: &str) -> String {
    format!("{resource_type}:{id}:{MEMBER}")
}

/// The verified address, else none: an unverified one may not be the member's.
fn verified_email(member: &Member) -> Option<String> {
    member
        .emails
        .iter()
        .flatten()
        .find(|e| e.verified == Some(true))
        .and_then(|e| e.address.clone())
}

pub fn user_resource(member: &Member) -> Resource {
    let display_name = member
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(&member.id)
        .to_string();
    let emails: Vec<String> = member
        .emails
        .iter()
        .flatten()
        .filter_map(|e| {
            let address = e.address.as_deref()?;
            Some(match e.verified {
                Some(true) => address.to_string(),
                _ => format!("{address} (unverified)"),
            })
        })
        .collect();
    let finalized = match member.finalized {
        Some(true) => "true",
        Some(false) => "false",
        None => "unknown",
    };
    let mut attributes = vec![("finalized".to_string(), finalized.to_string())];
    if !emails.is_empty() {
        attributes.push(("emails".to_string(), emails.join(", ")));
    }
    if let Some(joined) = &member.joined_at {
        attributes.push(("joined_at".to_string(), joined.clone()));
    }
    if member.finalized != Some(true) {
        // Northflank: "for users who are not finalized this ID may change on finalisation".
        attributes.push((
            "note".to_string(),
            "account not finalised: the user has not finished setting it up, and its id may \
             change when they do"
                .to_string(),
        ));
    }
    Resource {
        resource_type: USER.to_string(),
        id: member.id.clone(),
        display_name,
        user: Some(UserProfile {
            login: member.id.clone(),
            email: verified_email(member),
            // Northflank has no disabled org member; an unfinalised one is not yet a usable
            // account, so its state is left unknown rather than called enabled.
            status: if member.finalized == Some(true) {
                AccountStatus::Enabled
            } else {
                AccountStatus::Unknown
            },
            last_login: None,
            login_count: None,
            fail_login_count: None,
            created_at: member.joined_at.clone(),
        }),
        attributes,
    }
}

/// `team-a (projects in p1, p2); team-b`: who a restricted role applies to.
fn restriction_text(role: &Role) -> Option<String> {
    let r = role.restrictions.as_ref().filter(|r| r.enabled)?;
    let teams: Vec<String> = r
        .teams
        .iter()
        .flatten()
        .map(|t| match t.restrictions.as_ref().filter(|p| p.enabled) {
            Some(p) => format!(
                "{} (projects {} {})",
                t.team_id,
                match p.restriction_mode.as_deref() {
                    Some("notIn") => "not in",
                    _ => "in",
                },
                p.projects.as_deref().unwrap_or_default().join(", ")
            ),
            None => t.team_id.clone(),
        })
        .collect();
    Some(if teams.is_empty() {
        "restricted to no team".to_string()
    } else {
        teams.join("; ")
    })
}

pub fn role_resource(role: &Role) -> Resource {
    let mut attributes = Vec::new();
    if let Some(d) = role.description.as_deref().filter(|d| !d.is_empty()) {
        attributes.push(("description".to_string(), d.to_string()));
    }
    let restricted = role.restrictions.as_ref().map(|r| r.enabled);
    attributes.push((
        "restricted".to_string(),
        match restricted {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        }
        .to_string(),
    ));
    if let Some(text) = restriction_text(role) {
        attributes.push(("restrictions".to_string(), text));
    }
    let groups = role.directory_groups.as_deref().unwrap_or_default();
    if !groups.is_empty() {
        attributes.push(("directory_groups".to_string(), groups.join(", ")));
    }
    for (key, value) in [
        ("created_at", &role.created_at),
        ("updated_at", &role.updated_at),
    ] {
        if let Some(v) = value {
            attributes.push((key.to_string(), v.clone()));
        }
    }
    Resource {
        resource_type: ROLE.to_string(),
        id: role.id.clone(),
        display_name: role.name.clone(),
        user: None,
        attributes,
    }
}

pub fn role_entitlement(id: &str, name: &str) -> Entitlement {
    Entitlement {
        id: member_entitlement_id(ROLE, id),
        resource: ResourceRef::new(ROLE, id),
        slug: MEMBER.to_string(),
        display_name: format!("Member of org role {name}"),
        description: format!(
            "Holds the Northflank organisation role `{name}`, explicitly or through a linked \
             directory group"
        ),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![USER.to_string()],
    }
}

pub fn group_resource(group: &DirectoryGroup) -> Resource {
    let mut attributes = Vec::new();
    for (key, value) in [
        ("idp_id", &group.idp_id),
        ("created_at", &group.created_at),
        ("updated_at", &group.updated_at),
    ] {
        if let Some(v) = value {
            attributes.push((key.to_string(), v.clone()));
        }
    }
    Resource {
        resource_type: GROUP.to_string(),
        id: group.id.clone(),
        display_name: group_name(group),
        user: None,
        attributes,
    }
}

pub fn group_name(group: &DirectoryGroup) -> String {
    group
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&group.id)
        .to_string()
}

pub fn group_entitlement(id: &str, name: &str) -> Entitlement {
    Entitlement {
        id: member_entitlement_id(GROUP, id),
        resource: ResourceRef::new(GROUP, id),
        slug: MEMBER.to_string(),
        display_name: format!("Member of directory group {name}"),
        description: format!(
            "Belongs to the directory group `{name}` (synced from the identity provider; \
             changed there, not in Northflank)"
        ),
        purpose: EntitlementPurpose::Assignment,
        grantable_to: vec![USER.to_string(), DIRECTORY_USER.to_string()],
    }
}

/// A member's grant of a role, its id saying how it is held.
pub fn role_grant(role: &str, member: &str, kind: MembershipType, via: &[String]) -> Grant {
    let entitlement_id = member_entitlement_id(ROLE, role);
    let mut id = format!("{entitlement_id}:{USER}:{member}");
    if kind == MembershipType::Implicit {
        id.push(':');
        id.push_str(IMPLICIT);
        if !via.is_empty() {
            id.push_str(&format!(":{VIA}:{}", via.join(",")));
        }
    }
    Grant {
        id,
        entitlement_id,
        principal: ResourceRef::new(USER, member),
    }
}

/// A directory group member's grant; `position` is its place in the group's listing.
pub fn group_grant(group: &str, member: &DirectoryMember, position: u64) -> Grant {
    let entitlement_id = member_entitlement_id(GROUP, group);
    let principal = match member.id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => ResourceRef::new(USER, id),
        None => ResourceRef::new(DIRECTORY_USER, &directory_user_id(group, member, position)),
    };
    Grant {
        id: format!(
            "{entitlement_id}:{}:{}",
            principal.resource_type, principal.id
        ),
        entitlement_id,
        principal,
    }
}

fn directory_user_id(group: &str, member: &DirectoryMember, position: u64) -> String {
    if let Some(email) = member
        .emails
        .iter()
        .flatten()
        .find(|e| !e.trim().is_empty())
    {
        return email.trim().to_ascii_lowercase();
    }
    if let Some(name) = member
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        return format!("name:{name}");
    }
    format!("unnamed:{group}:{position}")
}

/// A grant id of a role membership, read back: the role, the member, and whether the id says
/// the membership is implicit.
#[derive(Debug, PartialEq, Eq)]
pub struct RoleGrantId {
    pub role: String,
    pub member: String,
    pub implicit: bool,
}

pub fn parse_role_grant_id(id: &str) -> Option<RoleGrantId> {
    let rest = id.strip_prefix(ROLE)?.strip_prefix(':')?;
    let (role, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix(MEMBER)?.strip_prefix(':')?;
    let rest = rest.strip_prefix(USER)?.strip_prefix(':')?;
    let (member, tail) = match rest.split_once(':') {
        Some((m, t)) => (m, Some(t)),
        None => (rest, None),
    };
    let implicit = match tail {
        None => false,
        Some(t) if t == IMPLICIT || t.starts_with("implicit:via:") => true,
        Some(_) => return None,
    };
    (!role.is_empty() && !member.is_empty()).then(|| RoleGrantId {
        role: role.to_string(),
        member: member.to_string(),
        implicit,
    })
}

/// `role:<id>:member` -> the role id.
pub fn parse_role_entitlement(id: &str) -> Option<&str> {
    id.strip_prefix("role:")?
        .strip_suffix(":member")
        .filter(|r| !r.is_empty() && !r.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Email, ProjectRestrictions, Restrictions, TeamRestriction};

    fn member(id: &str, finalized: Option<bool>) -> Member {
        Member {
            id: id.into(),
            name: Some("Ada Lovelace".into()),
            emails: Some(vec![
                Email {
                    address: Some("old@example.com".into()),
                    verified: Some(false),
                },
                Email {
                    address: Some("ada@example.com".into()),
                    verified: Some(true),
                },
            ]),
            joined_at: Some("2026-01-20T11:19:53.175Z".into()),
            finalized,
        }
    }

    fn attr<'a>(r: &'a Resource, key: &str) -> Option<&'a str> {
        r.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_member_maps_to_a_user_with_the_verified_email() {
        let r = user_resource(&member("ada", Some(true)));
        assert_eq!(
            (r.id.as_str(), r.display_name.as_str()),
            ("ada", "Ada Lovelace")
        );
        let u = r.user.clone().unwrap();
        assert_eq!(u.email.as_deref(), Some("ada@example.com"));
        assert_eq!(u.status, AccountStatus::Enabled);
        assert_eq!(u.created_at.as_deref(), Some("2026-01-20T11:19:53.175Z"));
        assert_eq!(attr(&r, "finalized"), Some("true"));
        assert_eq!(
            attr(&r, "emails"),
            Some("old@example.com (unverified), ada@example.com")
        );
        assert_eq!(attr(&r, "note"), None);
    }

    #[test]
    fn an_unfinalised_member_is_reported_and_marked() {
        for finalized in [Some(false), None] {
            let r = user_resource(&member("tmp-1", finalized));
            assert_eq!(r.user.as_ref().unwrap().status, AccountStatus::Unknown);
            assert!(attr(&r, "note").unwrap().contains("id may"));
        }
        let mut m = member("x", Some(false));
        m.name = None;
        m.emails = None;
        let r = user_resource(&m);
        assert_eq!(r.display_name, "x");
        assert_eq!(r.user.unwrap().email, None);
    }

    #[test]
    fn a_role_carries_its_restrictions_and_linked_groups() {
        let role = Role {
            id: "dev".into(),
            name: "Developer".into(),
            description: Some("Builds things".into()),
            restrictions: Some(Restrictions {
                enabled: true,
                teams: Some(vec![
                    TeamRestriction {
                        team_id: "team-a".into(),
                        restrictions: Some(ProjectRestrictions {
                            enabled: true,
                            projects: Some(vec!["p1".into(), "p2".into()]),
                            restriction_mode: Some("notIn".into()),
                        }),
                    },
                    TeamRestriction {
                        team_id: "team-b".into(),
                        restrictions: None,
                    },
                ]),
            }),
            directory_groups: Some(vec!["directory_group_A".into(), "directory_group_B".into()]),
            created_at: None,
            updated_at: Some("2026-02-01T00:00:00.000Z".into()),
        };
        let r = role_resource(&role);
        assert_eq!(r.display_name, "Developer");
        assert_eq!(attr(&r, "restricted"), Some("true"));
        assert_eq!(
            attr(&r, "restrictions"),
            Some("team-a (projects not in p1, p2); team-b")
        );
        assert_eq!(
            attr(&r, "directory_groups"),
            Some("directory_group_A, directory_group_B")
        );
        assert_eq!(attr(&r, "updated_at"), Some("2026-02-01T00:00:00.000Z"));
        assert_eq!(role_entitlement("dev", "Developer").id, "role:dev:member");
    }

    #[test]
    fn role_grants_say_explicit_or_implicit_and_read_back() {
        let e = role_grant("dev", "ada", MembershipType::Explicit, &["g".into()]);
        assert_eq!(e.id, "role:dev:member:user:ada");
        assert_eq!(e.entitlement_id, "role:dev:member");
        let i = role_grant(
            "dev",
            "ada",
            MembershipType::Implicit,
            &["g1".into(), "g2".into()],
        );
        assert_eq!(i.id, "role:dev:member:user:ada:implicit:via:g1,g2");
        assert_eq!(i.principal, ResourceRef::new(USER, "ada"));
        assert_eq!(
            role_grant("dev", "ada", MembershipType::Implicit, &[]).id,
            "role:dev:member:user:ada:implicit"
        );
        assert_eq!(
            parse_role_grant_id(&e.id),
            Some(RoleGrantId {
                role: "dev".into(),
                member: "ada".into(),
                implicit: false
            })
        );
        assert!(parse_role_grant_id(&i.id).unwrap().implicit);
        for bad in [
            "role:dev:member:user:",
            "group:g:member:user:a",
            "role:dev:member:user:a:other",
            "role::member:user:a",
        ] {
            assert_eq!(parse_role_grant_id(bad), None, "{bad}");
        }
        assert_eq!(parse_role_entitlement("role:dev:member"), Some("dev"));
        assert_eq!(parse_role_entitlement("group:g:member"), None);
    }

    #[test]
    fn group_members_without_an_id_become_directory_users() {
        let with_id = DirectoryMember {
            id: Some("ada".into()),
            name: None,
            emails: None,
        };
        let g = group_grant("directory_group_1", &with_id, 0);
        assert_eq!(g.id, "group:directory_group_1:member:user:ada");
        let cases = [
            (
                Some(vec!["New.Hire@Example.com".to_string()]),
                Some("New"),
                "new.hire@example.com",
            ),
            (None, Some("Nora New"), "name:Nora New"),
            (Some(vec![]), None, "unnamed:directory_group_1:7"),
        ];
        for (emails, name, want) in cases {
            let m = DirectoryMember {
                id: None,
                name: name.map(str::to_string),
                emails,
            };
            let g = group_grant("directory_group_1", &m, 7);
            assert_eq!(g.principal, ResourceRef::new(DIRECTORY_USER, want));
            assert_eq!(
                g.id,
                format!("group:directory_group_1:member:directory_user:{want}")
            );
        }
    }
}
