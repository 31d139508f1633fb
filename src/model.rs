//! Domain records, one for each WIT record the connector returns. `lib.rs` converts them into
//! the generated binding types; everything else works with these, so it is testable natively.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigField {
    pub name: &'static str,
    pub description: &'static str,
    pub required: bool,
    pub secret: bool,
    pub default_value: Option<&'static str>,
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
    pub id: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    pub traits: Vec<ResourceTrait>,
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRequest {
    pub login: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub entitlement_ids: Vec<String>,
    pub password: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCredential {
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionOutcome {
    pub status: OutcomeStatus,
    pub message: String,
    pub resource: Option<Resource>,
    pub grant: Option<Grant>,
    pub credential: Option<SecretCredential>,
}
