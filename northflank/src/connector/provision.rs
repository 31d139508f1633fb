//! Org-role membership changes: grant and revoke explicit membership.
//!
//! Every change reads the member's memberships of the role first (the `userIds` filter of the
//! role's member listing; the rows are still checked one by one in case a server ignores it),
//! writes only when the state differs, and reads back to verify. What is already so is
//! `already-done` with no write.
//!
//! Decisions where Northflank is silent:
//! - Granting writes an explicit membership even when the member holds the role through a
//!   directory group: that one ends when the identity provider removes them from the group,
//!   and the grant asked for is the one the connector manages. Only an explicit membership
//!   already held is `already-done`.
//! - Revoking an implicit membership is refused (`unsupported`), naming the directory
//!   group(s) that grant it: Directory Sync owns it, and the identity provider would restore
//!   it. Revoking a member who holds the role both ways removes the explicit membership and
//!   says which group(s) still grant the role.
//! - A write whose answer is lost, or that answers 404/409, is judged by reading back: if the
//!   state asked for holds, the change is reported as done (or already done), else the error
//!   stands.

use super::{holds, Connector};
use crate::api::{is_plain_id, MembershipType};
use crate::config::excerpt;
use crate::mapping::{self, DIRECTORY_USER, GROUP, USER};
use connector_sdk::error::{Error, Result};
use connector_sdk::http::Transport;
use connector_sdk::model::{
    OutcomeStatus, ProvisionAction, ProvisionOutcome, ResourceRef, RevokeTarget,
};

/// Pages of one role's listing read to find one member; a longer listing is an error rather
/// than a request storm.
const MAX_PAGES: u32 = 200;

pub(super) fn run<T: Transport>(
    c: &mut Connector<T>,
    action: &ProvisionAction,
) -> Result<ProvisionOutcome> {
    match action {
        ProvisionAction::Grant(entitlement, principal) => {
            let (role, member) = target(entitlement, principal)?;
            grant(c, &role, &member)
        }
        ProvisionAction::Revoke(RevokeTarget::Membership(entitlement, principal)) => {
            let (role, member) = target(entitlement, principal)?;
            revoke(c, &role, &member, false)
        }
        ProvisionAction::Revoke(RevokeTarget::GrantId(id)) => {
            let parsed = mapping::parse_role_grant_id(id).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "grant `{}` is not an org-role membership of this connector \
                     (`role:<role>:member:user:<member>`); only those can be revoked",
                    excerpt(id)
                ))
            })?;
            check_ids(&parsed.role, &parsed.member)?;
            revoke(c, &parsed.role, &parsed.member, parsed.implicit)
        }
        ProvisionAction::CreateAccount(_) | ProvisionAction::DeleteAccount(_) => {
            Err(Error::Unsupported(
                "Northflank's API cannot add or remove organisation members (people join by \
                 invitation); this connector grants and revokes org-role membership only"
                    .into(),
            ))
        }
        ProvisionAction::CreateResource(_) | ProvisionAction::DeleteResource(_) => {
            Err(Error::Unsupported(
                "creating or deleting org roles and directory groups is not supported; this \
                 connector grants and revokes org-role membership only"
                    .into(),
            ))
        }
    }
}

/// The role and member a grant or membership revoke names.
fn target(entitlement: &str, principal: &ResourceRef) -> Result<(String, String)> {
    let Some(role) = mapping::parse_role_entitlement(entitlement) else {
        if entitlement.starts_with("group:") {
            return Err(Error::Unsupported(format!(
                "`{}`: directory group membership comes from the identity provider through \
                 Directory Sync; change it there",
                excerpt(entitlement)
            )));
        }
        return Err(Error::InvalidArgument(format!(
            "entitlement `{}` is not an org-role membership (`role:<role>:member`)",
            excerpt(entitlement)
        )));
    };
    match principal.resource_type.as_str() {
        USER => {}
        DIRECTORY_USER => {
            return Err(Error::Unsupported(format!(
                "`{}` has no Northflank account yet, so it cannot hold an org role; it can \
                 once the user signs in",
                excerpt(&principal.id)
            )))
        }
        GROUP => {
            return Err(Error::Unsupported(
                "linking a directory group to an org role is not supported; grant the role to \
                 users"
                    .into(),
            ))
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "org roles are granted to `{USER}`, not `{}`",
                excerpt(other)
            )))
        }
    }
    check_ids(role, &principal.id)?;
    Ok((role.to_string(), principal.id.clone()))
}

fn check_ids(role: &str, member: &str) -> Result<()> {
    for (what, id) in [("role", role), ("member", member)] {
        if !is_plain_id(id) {
            return Err(Error::InvalidArgument(format!(
                "{what} id `{}` is not a Northflank id (letters, digits and `-`)",
                excerpt(id)
            )));
        }
    }
    Ok(())
}

/// How a member holds a role right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    explicit: bool,
    implicit: bool,
}

fn held<T: Transport>(c: &mut Connector<T>, role: &str, member: &str) -> Result<Held> {
    let mut cursor: Option<String> = None;
    let mut found = Held {
        explicit: false,
        implicit: false,
    };
    for _ in 0..MAX_PAGES {
        let page = c
            .client
            .role_members_page(role, cursor.as_deref(), Some(member))?;
        found.explicit |= holds(&page.rows, member, MembershipType::Explicit);
        found.implicit |= holds(&page.rows, member, MembershipType::Implicit);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(found),
        }
    }
    Err(Error::UpstreamProtocol(format!(
        "reading the members of org role `{role}` took more than {MAX_PAGES} pages without \
         an end; not changing it"
    )))
}

fn outcome(
    status: OutcomeStatus,
    message: String,
    grant: Option<connector_sdk::model::Grant>,
) -> ProvisionOutcome {
    ProvisionOutcome {
        status,
        message,
        resource: None,
        grant,
        credential: None,
    }
}

fn grant<T: Transport>(c: &mut Connector<T>, role: &str, member: &str) -> Result<ProvisionOutcome> {
    let explicit = || {
        Some(mapping::role_grant(
            role,
            member,
            MembershipType::Explicit,
            &[],
        ))
    };
    let before = held(c, role, member)?;
    if before.explicit {
        return Ok(outcome(
            OutcomeStatus::AlreadyDone,
            format!("`{member}` already holds org role `{role}` explicitly; nothing written"),
            explicit(),
        ));
    }
    if let Err(e) = c.client.add_role_member(role, member) {
        if !matches!(e, Error::Unavailable(_) | Error::Conflict(_)) {
            return Err(e);
        }
        // The add may have landed (a lost answer) or someone else's did (409).
        if held(c, role, member)?.explicit {
            let status = match e {
                Error::Conflict(_) => OutcomeStatus::AlreadyDone,
                _ => OutcomeStatus::Done,
            };
            return Ok(outcome(
                status,
                format!(
                    "`{member}` holds org role `{role}` explicitly (read back after the add \
                     answered: {e})"
                ),
                explicit(),
            ));
        }
        return Err(e);
    }
    if !held(c, role, member)?.explicit {
        return Err(Error::Conflict(format!(
            "Northflank accepted adding `{member}` to org role `{role}`, but reading the role \
             back does not show them as an explicit member; another writer may have removed \
             them meanwhile"
        )));
    }
    let also = if before.implicit {
        " (they also hold it through a directory group)"
    } else {
        ""
    };
    Ok(outcome(
        OutcomeStatus::Done,
        format!("added `{member}` to org role `{role}` explicitly, verified by reading back{also}"),
        explicit(),
    ))
}

/// `implicit_grant`: the grant id named the implicit membership, which is never removed here.
fn revoke<T: Transport>(
    c: &mut Connector<T>,
    role: &str,
    member: &str,
    implicit_grant: bool,
) -> Result<ProvisionOutcome> {
    let before = held(c, role, member)?;
    if implicit_grant || !before.explicit {
        if before.implicit {
            let groups = granting_groups(c, role, member)?;
            return Err(Error::Unsupported(format!(
                "`{member}` holds org role `{role}` {}through {groups}, which Northflank's \
                 Directory Sync keeps from the identity provider; remove them from that group \
                 there (this membership cannot be revoked through the API)",
                if before.explicit && implicit_grant {
                    "also "
                } else {
                    "only "
                }
            )));
        }
        let how = if implicit_grant {
            "through a directory group"
        } else {
            "explicitly"
        };
        return Ok(outcome(
            OutcomeStatus::AlreadyDone,
            format!("`{member}` does not hold org role `{role}` {how}; nothing written"),
            None,
        ));
    }
    if let Err(e) = c.client.remove_role_member(role, member) {
        if !matches!(
            e,
            Error::Unavailable(_) | Error::NotFound(_) | Error::Conflict(_)
        ) {
            return Err(e);
        }
        let after = held(c, role, member)?;
        if after.explicit {
            return Err(e);
        }
        return Ok(outcome(
            match e {
                Error::Unavailable(_) => OutcomeStatus::Done,
                _ => OutcomeStatus::AlreadyDone,
            },
            format!(
                "`{member}` no longer holds org role `{role}` explicitly (read back after the \
                 removal answered: {e})"
            ),
            None,
        ));
    }
    let after = held(c, role, member)?;
    if after.explicit {
        return Err(Error::Conflict(format!(
            "Northflank accepted removing `{member}` from org role `{role}`, but reading the \
             role back still shows them as an explicit member; another writer may have added \
             them again"
        )));
    }
    let still = if after.implicit {
        format!(
            "; they still hold the role through {}",
            granting_groups(c, role, member)?
        )
    } else {
        String::new()
    };
    Ok(outcome(
        OutcomeStatus::Done,
        format!(
            "removed `{member}`'s explicit membership of org role `{role}`, verified by reading \
             back{still}"
        ),
        None,
    ))
}

/// "directory group `Engineering` (directory_group_…)": the groups linked to the role that
/// list the member; all linked groups if none lists them (the listing moved meanwhile).
fn granting_groups<T: Transport>(c: &mut Connector<T>, role: &str, member: &str) -> Result<String> {
    // Read afresh: the link may have changed since the roles were listed.
    let linked = c.client.role(role)?.directory_groups.unwrap_or_default();
    if linked.is_empty() {
        return Ok("a directory group (the role lists no linked group)".into());
    }
    let mut listing: Vec<&String> = Vec::new();
    for group in &linked {
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = c.client.group_members_page(group, cursor.as_deref())?;
            if page.rows.iter().any(|m| m.id.as_deref() == Some(member)) {
                listing.push(group);
                break;
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let names = c.client.directory_groups()?;
    let shown: Vec<String> = (if listing.is_empty() {
        linked.iter().collect()
    } else {
        listing
    })
    .into_iter()
    .map(|id| match names.iter().find(|g| &g.id == id) {
        Some(g) => format!("directory group `{}` ({id})", mapping::group_name(g)),
        None => format!("directory group `{id}`"),
    })
    .collect();
    Ok(shown.join(", "))
}
