//! Domain records, one for each WIT record the connector returns. `lib.rs` converts them into
//! the generated binding types; everything else works with these, so it is testable natively.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigField {
    pub name: String,
    pub description: String,
    pub required: bool,
    pub secret: bool,
    pub default_value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceTrait {
    User,
    Role,
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub sync: bool,
    pub provision: bool,
    pub inline_entitlements: bool,
    pub inline_grants: bool,
    pub inline_resources: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub traits: Vec<ResourceTrait>,
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_fields: Vec<ConfigField>,
    pub resource_types: Vec<ResourceType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Enabled,
    Disabled,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    pub login: String,
    pub email: Option<String>,
    pub status: AccountStatus,
    pub last_login: Option<String>,
    pub login_count: Option<u64>,
    pub fail_login_count: Option<u64>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceRef {
    pub resource_type: String,
    pub id: String,
}

impl ResourceRef {
    pub fn new(resource_type: &str, id: &str) -> Self {
        ResourceRef {
            resource_type: resource_type.to_string(),
            id: id.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub resource_type: String,
    pub id: String,
    pub display_name: String,
    pub user: Option<UserProfile>,
    pub attributes: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntitlementPurpose {
    Assignment,
    Permission,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    pub id: String,
    pub resource: ResourceRef,
    pub slug: String,
    pub display_name: String,
    pub description: String,
    pub purpose: EntitlementPurpose,
    pub grantable_to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub entitlement_id: String,
    pub principal: ResourceRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePage {
    pub resources: Vec<Resource>,
    pub entitlements: Vec<Entitlement>,
    pub grants: Vec<Grant>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntitlementPage {
    pub entitlements: Vec<Entitlement>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantPage {
    pub grants: Vec<Grant>,
    pub next_page_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub identity: String,
    pub system: String,
}

/// `Debug` is written by hand: the supplied password never appears, only whether there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRequest {
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub entitlement_ids: Vec<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for AccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRequest")
            .field("login", &self.login)
            .field("email", &self.email)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("entitlement_ids", &self.entitlement_ids)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// What `Debug` shows in place of a secret.
const REDACTED: Redacted = Redacted;

struct Redacted;

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    pub resource_type: String,
    pub id: String,
    pub entitlement_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    GrantId(String),
    Membership(String, ResourceRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionAction {
    Grant(String, ResourceRef),
    Revoke(RevokeTarget),
    CreateAccount(AccountRequest),
    DeleteAccount(ResourceRef),
    CreateResource(ResourceRequest),
    DeleteResource(ResourceRef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeStatus {
    Done,
    AlreadyDone,
}

/// `Debug` is written by hand: the secret value never appears.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretCredential {
    pub kind: String,
    pub value: String,
}

impl std::fmt::Debug for SecretCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretCredential")
            .field("kind", &self.kind)
            .field("value", &REDACTED)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionOutcome {
    pub status: OutcomeStatus,
    pub message: String,
    pub resource: Option<Resource>,
    pub grant: Option<Grant>,
    pub credential: Option<SecretCredential>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Sup3r-Secret-Pa55word";

    fn account(password: Option<&str>) -> AccountRequest {
        AccountRequest {
            login: "alice".into(),
            email: "alice@example.com".into(),
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            entitlement_ids: vec!["role:Viewer:member".into()],
            password: password.map(str::to_string),
        }
    }

    #[test]
    fn account_request_debug_never_shows_the_supplied_password() {
        let request = account(Some(SECRET));
        for shown in [
            format!("{request:?}"),
            format!("{request:#?}"),
            format!("{:?}", ProvisionAction::CreateAccount(request.clone())),
        ] {
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.contains("alice@example.com"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        let shown = format!("{request:?}");
        assert!(shown.contains("password: Some(<redacted>)"), "{shown}");
        let shown = format!("{:?}", account(None));
        assert!(shown.contains("password: None"), "{shown}");
    }

    #[test]
    fn secret_credential_debug_never_shows_the_secret() {
        let credential = SecretCredential {
            kind: "password".into(),
            value: SECRET.into(),
        };
        let outcome = ProvisionOutcome {
            status: OutcomeStatus::Done,
            message: "created".into(),
            resource: None,
            grant: None,
            credential: Some(credential.clone()),
        };
        for shown in [
            format!("{credential:?}"),
            format!("{credential:#?}"),
            format!("{outcome:?}"),
        ] {
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.contains(r#"kind: "password""#), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}
