//! Portcullis's own endpoints, under the edge prefix (`/auth` by default).
//!
//! `/.well-known/jwks.json` also belongs to Portcullis. Every path under the prefix belongs to Portcullis and never reaches the origin: an unknown one is
//! a 404 `not_found`, not a pass-through.

use crate::directory::connections::connection_id_ok;
use crate::directory::domains::normalize_domain;
use crate::directory::onboarding::setup_link_id_ok;
use crate::directory::scim::token::token_id_ok;
use crate::directory::{tenant_id_ok, user_id_ok, UserStatus};
use crate::gateway::path::CanonicalPath;
use crate::gateway::refusals::RouteError;
use crate::session::index::handle_ok as session_handle_ok;

/// An endpoint that Portcullis serves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeEndpoint {
    /// `GET {prefix}/health`: liveness and configuration status.
    Health,
    /// `GET {prefix}/static/...`: a file from `www/static/`, by its asset path.
    Asset(String),
    /// `GET /.well-known/jwks.json`: the public keys that verify identity assertions.
    AssertionKeys,
    /// The API key management API under `{prefix}/api-keys`.
    KeyAdmin(KeyAdmin),
    /// Browser login and sessions (404 unless `login` is configured).
    Login(LoginEndpoint),
    /// A SAML provider's service-provider endpoints (404 unless it is configured).
    Saml(SamlEndpoint),
    /// The directory's administration under `{prefix}/directory`.
    DirectoryAdmin(DirectoryAdmin),
    /// Self-service onboarding of a tenant's IdP under `{prefix}/setup` (404 unless login is
    /// configured).
    Setup(SetupEndpoint),
    /// A local-account page under `{prefix}/accounts` (404 unless `local_accounts` is configured):
    /// `GET` shows it, `POST` submits its form.
    Accounts {
        /// Which page.
        page: AccountsPage,
        /// A form submission (`POST`) rather than the page (`GET`/`HEAD`).
        submit: bool,
    },
    /// A step of a passkey ceremony under `{prefix}/accounts/passkeys/` (`POST`, JSON; 404 unless
    /// `local_accounts.passkeys` is configured).
    Passkey(PasskeyStep),
    /// The SCIM 2.0 service provider of a tenant, under `/scim/v2/:tenant`.
    Scim {
        /// The tenant the path names (its token must be this tenant's).
        tenant: String,
        /// What the rest of the path names.
        resource: ScimResource,
    },
}

/// A step of a passkey ceremony: each ceremony's options, then its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyStep {
    /// `registration-options`: options to register a passkey.
    RegistrationOptions,
    /// `register`: the new credential.
    Register,
    /// `sign-in-options`: options to sign in (a second factor, a step-up, or passwordless).
    SignInOptions,
    /// `sign-in`: the assertion.
    SignIn,
}

/// A local-account page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountsPage {
    /// `{prefix}/accounts/sign-up`: email and a new password.
    SignUp,
    /// `{prefix}/accounts/sign-in`: email and password.
    SignIn,
    /// `{prefix}/accounts/verify?token=`: confirm a sign-up's email (the page's button submits it, so
    /// that a mail scanner opening the link spends nothing).
    Verify,
    /// `{prefix}/accounts/forgot`: ask for a reset link.
    Forgot,
    /// `{prefix}/accounts/reset?token=`: choose a new password.
    Reset,
    /// `{prefix}/accounts/password`: change the password of the signed-in account.
    ChangePassword,
    /// `{prefix}/accounts/mfa`: present a second factor (after the password, or to step up).
    SecondFactor,
    /// `{prefix}/accounts/totp`: enrol an authenticator app.
    EnrolTotp,
    /// `{prefix}/accounts/security`: the account's second factors and recovery codes.
    Security,
}

/// What a SCIM search looks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchOf {
    /// Users, then Groups (`/.search`).
    All,
    /// Users.
    Users,
    /// Groups.
    Groups,
}

/// A SAML provider's endpoints, by the provider's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlEndpoint {
    /// `POST {prefix}/callback/:provider`: the assertion consumer service (HTTP-POST binding).
    AssertionConsumer(String),
    /// `GET {prefix}/saml/:provider/metadata`: this service provider's metadata for the IdP.
    Metadata(String),
    /// `GET {prefix}/saml/handoff`: a sign-in the ACS completed, finished where the browser's
    /// `SameSite=Lax` cookies are seen (its old session ended, the new one's cookie set).
    Handoff,
    /// `GET {prefix}/saml/:provider/slo`: Single Logout over HTTP-Redirect, the IdP's
    /// `LogoutRequest` (which ends the user's sessions here) or its `LogoutResponse` to ours.
    SingleLogout(String),
}

/// A SCIM endpoint of a tenant (the method is the handler's to check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimResource {
    /// `/ServiceProviderConfig`.
    ServiceProviderConfig,
    /// `/ResourceTypes`, or one of them.
    ResourceTypes(Option<String>),
    /// `/Schemas`, or one of them.
    Schemas(Option<String>),
    /// `/Users`.
    Users,
    /// `POST /.search`, `/Users/.search` or `/Groups/.search`: a list whose query is in the body.
    Search(SearchOf),
    /// `/Users/:id`.
    User(String),
    /// `/Groups`.
    Groups,
    /// `/Groups/:id`.
    Group(String),
    /// Anything else: a SCIM 404.
    Unknown,
}

/// A directory administration operation: creating a tenant, or an operation within one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryAdmin {
    /// `POST {prefix}/directory/tenants`: create a tenant (deployment administrators only).
    CreateTenant,
    /// `GET {prefix}/directory/tenants/:tenant`: the tenant, its domains and role mappings.
    GetTenant {
        /// The tenant.
        tenant: String,
    },
    /// `POST {prefix}/directory/tenants/:tenant/domains`: claim a domain; the answer holds the TXT
    /// record that proves it.
    ClaimDomain {
        /// The tenant.
        tenant: String,
    },
    /// `POST {prefix}/directory/tenants/:tenant/domains/:domain/verify`: look the TXT record up.
    VerifyDomain {
        /// The tenant.
        tenant: String,
        /// The domain, as stored.
        domain: String,
    },
    /// `DELETE {prefix}/directory/tenants/:tenant/domains/:domain`: drop the claim.
    ReleaseDomain {
        /// The tenant.
        tenant: String,
        /// The domain, as stored.
        domain: String,
    },
    /// `PUT {prefix}/directory/tenants/:tenant/role-mappings`: replace the group → role mappings.
    SetRoleMappings {
        /// The tenant.
        tenant: String,
    },
    /// `POST {prefix}/directory/tenants/:tenant/scim-tokens`: issue a SCIM token (shown once), or
    /// `GET`: list them (never the tokens).
    ScimTokens {
        /// The tenant.
        tenant: String,
        /// Issue one (`POST`) rather than list (`GET`).
        issue: bool,
    },
    /// `POST {prefix}/directory/tenants/:tenant/connections`: create a connection to the tenant's
    /// IdP (its client secret sealed), or `GET`: list them (never the secrets).
    Connections {
        /// The tenant.
        tenant: String,
        /// Create one (`POST`) rather than list (`GET`).
        create: bool,
    },
    /// `POST {prefix}/directory/tenants/:tenant/connections/:id/activate`: make a connection that
    /// a setup link saved sign users in without its setup finishing.
    ActivateConnection {
        /// The tenant.
        tenant: String,
        /// The connection's id.
        id: String,
    },
    /// `DELETE {prefix}/directory/tenants/:tenant/connections/:id`.
    RemoveConnection {
        /// The tenant.
        tenant: String,
        /// The connection's id.
        id: String,
    },
    /// `DELETE {prefix}/directory/tenants/:tenant/scim-tokens/:id`: revoke a SCIM token.
    RevokeScimToken {
        /// The tenant.
        tenant: String,
        /// The token's id.
        id: String,
    },
    /// `POST {prefix}/directory/tenants/:tenant/setup-links`: make a setup link (its URL shown
    /// once), or `GET`: list them (never their tokens).
    SetupLinks {
        /// The tenant.
        tenant: String,
        /// Make one (`POST`) rather than list (`GET`).
        issue: bool,
    },
    /// `DELETE {prefix}/directory/tenants/:tenant/setup-links/:id`: withdraw a link (ending its
    /// session); the connection it saved stays.
    RemoveSetupLink {
        /// The tenant.
        tenant: String,
        /// The link's id.
        id: String,
    },
    /// `GET {prefix}/directory/tenants/:tenant/users[?filter=&count=]`: search users with a SCIM
    /// filter.
    ListUsers {
        /// The tenant.
        tenant: String,
    },
    /// `POST {prefix}/directory/tenants/:tenant/users/:id/block` (ends the user's sessions at once)
    /// or `.../unblock`.
    SetStatus {
        /// The tenant.
        tenant: String,
        /// The user's directory id.
        user: String,
        /// The new status.
        status: UserStatus,
    },
    /// `GET {prefix}/directory/tenants/:tenant/users/:id/sessions`: the user's live sessions, or
    /// `DELETE`: end them all at once.
    UserSessions {
        /// The tenant.
        tenant: String,
        /// The user's directory id.
        user: String,
        /// End them (`DELETE`) rather than list them (`GET`).
        end: bool,
    },
    /// `DELETE {prefix}/directory/tenants/:tenant/users/:id/sessions/:session`: end one session.
    EndUserSession {
        /// The tenant.
        tenant: String,
        /// The user's directory id.
        user: String,
        /// The session's handle (as listed).
        session: String,
    },
}

/// An endpoint of the onboarding page. Everything but the page and `open` needs the setup
/// session's cookie; every `POST` and `PUT` must come from the page's own origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupEndpoint {
    /// `GET {prefix}/setup`: the onboarding page (its token is in the URL's fragment).
    Page,
    /// `POST {prefix}/setup/peek` `{"token"}`: which tenant the link sets up, without spending it.
    Peek,
    /// `POST {prefix}/setup/open` `{"token"}`: spends the link; begins the setup session.
    Open,
    /// `GET {prefix}/setup/state`: the tenant, its connection, the last test and its domains.
    State,
    /// `PUT {prefix}/setup/connection`: saves the link's connection.
    SaveConnection,
    /// `GET {prefix}/setup/test`: a test sign-in with the saved connection.
    Test,
    /// `POST {prefix}/setup/domains` `{"domain"}`: claims a domain for the tenant.
    ClaimDomain,
    /// `POST {prefix}/setup/domains/:domain/verify`: looks the domain's TXT record up.
    VerifyDomain(String),
    /// `POST {prefix}/setup/finish`: ends the setup session.
    Finish,
}

/// A browser login endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginEndpoint {
    /// `GET {prefix}/login`: the provider choice page, home-realm discovery, or the start of a
    /// flow with `provider`.
    Start,
    /// `GET {prefix}/callback`: the authorisation response.
    Callback,
    /// `GET {prefix}/logout`: the sign-out confirmation page.
    LogoutPage,
    /// `POST {prefix}/logout`: end the session (CSRF-protected), then RP-initiated logout.
    Logout,
    /// `GET {prefix}/logged-out`.
    LoggedOut,
    /// `GET {prefix}/session`: the current user as JSON, for single-page apps.
    SessionInfo,
    /// `GET {prefix}/branding.css`: the configured colours.
    BrandingCss,
    /// `POST {prefix}/sessions/revoke`: the administrator ends a user's sessions.
    RevokeSessions,
}

/// An API key management operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAdmin {
    /// `POST {prefix}/api-keys`: create a key; the response holds the secret, once.
    Create,
    /// `GET {prefix}/api-keys`: list metadata.
    List,
    /// `GET {prefix}/api-keys/:id`: one key's metadata.
    Get(String),
    /// `POST {prefix}/api-keys/:id/rotate`: issue a replacement; the old key has a grace period.
    Rotate(String),
    /// `POST {prefix}/api-keys/:id/revoke` or `DELETE {prefix}/api-keys/:id`.
    Revoke(String),
}

/// The directory administration endpoint of a path under `{prefix}/directory`.
fn directory_endpoint(rest: &[&str], method: &str) -> Option<Result<DirectoryAdmin, RouteError>> {
    let domain_ok = |domain: &str| normalize_domain(domain).is_ok_and(|stored| stored == domain);
    let on = |wanted: &str, op: DirectoryAdmin| {
        Some(if method == wanted { Ok(op) } else { Err(RouteError::MethodNotAllowed) })
    };
    let owned = |text: &str| text.to_owned();
    match rest {
        ["directory", "tenants"] => on("POST", DirectoryAdmin::CreateTenant),
        ["directory", "tenants", tenant] if tenant_id_ok(tenant) => {
            on("GET", DirectoryAdmin::GetTenant { tenant: owned(tenant) })
        }
        ["directory", "tenants", tenant, "users"] if tenant_id_ok(tenant) => {
            on("GET", DirectoryAdmin::ListUsers { tenant: owned(tenant) })
        }
        ["directory", "tenants", tenant, "users", user, action @ ("block" | "unblock")]
            if tenant_id_ok(tenant) && user_id_ok(user) =>
        {
            let status = if *action == "block" { UserStatus::Blocked } else { UserStatus::Active };
            on("POST", DirectoryAdmin::SetStatus { tenant: owned(tenant), user: owned(user), status })
        }
        ["directory", "tenants", tenant, "users", user, "sessions"] if tenant_id_ok(tenant) && user_id_ok(user) => {
            match method {
                "GET" | "DELETE" => Some(Ok(DirectoryAdmin::UserSessions {
                    tenant: owned(tenant),
                    user: owned(user),
                    end: method == "DELETE",
                })),
                _ => Some(Err(RouteError::MethodNotAllowed)),
            }
        }
        ["directory", "tenants", tenant, "users", user, "sessions", session]
            if tenant_id_ok(tenant) && user_id_ok(user) && session_handle_ok(session) =>
        {
            on(
                "DELETE",
                DirectoryAdmin::EndUserSession { tenant: owned(tenant), user: owned(user), session: owned(session) },
            )
        }
        ["directory", "tenants", tenant, "domains"] if tenant_id_ok(tenant) => {
            on("POST", DirectoryAdmin::ClaimDomain { tenant: owned(tenant) })
        }
        ["directory", "tenants", tenant, "domains", domain] if tenant_id_ok(tenant) && domain_ok(domain) => {
            on("DELETE", DirectoryAdmin::ReleaseDomain { tenant: owned(tenant), domain: owned(domain) })
        }
        ["directory", "tenants", tenant, "domains", domain, "verify"] if tenant_id_ok(tenant) && domain_ok(domain) => {
            on("POST", DirectoryAdmin::VerifyDomain { tenant: owned(tenant), domain: owned(domain) })
        }
        ["directory", "tenants", tenant, "role-mappings"] if tenant_id_ok(tenant) => {
            on("PUT", DirectoryAdmin::SetRoleMappings { tenant: owned(tenant) })
        }
        ["directory", "tenants", tenant, "scim-tokens"] if tenant_id_ok(tenant) => match method {
            "POST" | "GET" => Some(Ok(DirectoryAdmin::ScimTokens { tenant: owned(tenant), issue: method == "POST" })),
            _ => Some(Err(RouteError::MethodNotAllowed)),
        },
        ["directory", "tenants", tenant, "connections"] if tenant_id_ok(tenant) => match method {
            "POST" | "GET" => Some(Ok(DirectoryAdmin::Connections { tenant: owned(tenant), create: method == "POST" })),
            _ => Some(Err(RouteError::MethodNotAllowed)),
        },
        ["directory", "tenants", tenant, "connections", id] if tenant_id_ok(tenant) && connection_id_ok(id) => {
            on("DELETE", DirectoryAdmin::RemoveConnection { tenant: owned(tenant), id: owned(id) })
        }
        ["directory", "tenants", tenant, "connections", id, "activate"]
            if tenant_id_ok(tenant) && connection_id_ok(id) =>
        {
            on("POST", DirectoryAdmin::ActivateConnection { tenant: owned(tenant), id: owned(id) })
        }
        ["directory", "tenants", tenant, "scim-tokens", id] if tenant_id_ok(tenant) && token_id_ok(id) => {
            on("DELETE", DirectoryAdmin::RevokeScimToken { tenant: owned(tenant), id: owned(id) })
        }
        ["directory", "tenants", tenant, "setup-links"] if tenant_id_ok(tenant) => match method {
            "POST" | "GET" => Some(Ok(DirectoryAdmin::SetupLinks { tenant: owned(tenant), issue: method == "POST" })),
            _ => Some(Err(RouteError::MethodNotAllowed)),
        },
        ["directory", "tenants", tenant, "setup-links", id] if tenant_id_ok(tenant) && setup_link_id_ok(id) => {
            on("DELETE", DirectoryAdmin::RemoveSetupLink { tenant: owned(tenant), id: owned(id) })
        }
        ["directory", ..] => Some(Err(RouteError::UnknownEdgePath)),
        _ => None,
    }
}

/// The onboarding endpoint of a path under `{prefix}/setup`.
fn setup_endpoint(rest: &[&str], method: &str) -> Option<Result<SetupEndpoint, RouteError>> {
    let domain_ok = |domain: &str| normalize_domain(domain).is_ok_and(|stored| stored == domain);
    let (wanted, endpoint) = match rest {
        ["setup"] => ("GET", SetupEndpoint::Page),
        ["setup", "peek"] => ("POST", SetupEndpoint::Peek),
        ["setup", "open"] => ("POST", SetupEndpoint::Open),
        ["setup", "state"] => ("GET", SetupEndpoint::State),
        ["setup", "connection"] => ("PUT", SetupEndpoint::SaveConnection),
        ["setup", "test"] => ("GET", SetupEndpoint::Test),
        ["setup", "domains"] => ("POST", SetupEndpoint::ClaimDomain),
        ["setup", "domains", domain, "verify"] if domain_ok(domain) => {
            ("POST", SetupEndpoint::VerifyDomain((*domain).to_owned()))
        }
        ["setup", "finish"] => ("POST", SetupEndpoint::Finish),
        ["setup", ..] => return Some(Err(RouteError::UnknownEdgePath)),
        _ => return None,
    };
    let allowed = method == wanted || (wanted == "GET" && method == "HEAD");
    Some(if allowed { Ok(endpoint) } else { Err(RouteError::MethodNotAllowed) })
}

fn read_only(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// Finds the edge endpoint for a path, if the path is under the edge prefix.
/// `None` means the path is not Portcullis's; `Some(Err(..))` means it is, but is refused.
pub fn dispatch(prefix: &str, method: &str, path: &CanonicalPath) -> Option<Result<EdgeEndpoint, RouteError>> {
    let prefix_segment = prefix.trim_start_matches('/');
    let segments = path.segments();
    if segments == [".well-known", "jwks.json"] {
        return Some(if read_only(method) {
            Ok(EdgeEndpoint::AssertionKeys)
        } else {
            Err(RouteError::MethodNotAllowed)
        });
    }
    if let ["scim", "v2", tenant, rest @ ..] = segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        let resource = match rest {
            _ if !tenant_id_ok(tenant) => ScimResource::Unknown,
            ["ServiceProviderConfig"] => ScimResource::ServiceProviderConfig,
            [".search"] => ScimResource::Search(SearchOf::All),
            ["ResourceTypes"] => ScimResource::ResourceTypes(None),
            ["ResourceTypes", id] => ScimResource::ResourceTypes(Some((*id).to_owned())),
            ["Schemas"] => ScimResource::Schemas(None),
            ["Schemas", id] => ScimResource::Schemas(Some((*id).to_owned())),
            ["Users"] => ScimResource::Users,
            ["Users", ".search"] => ScimResource::Search(SearchOf::Users),
            ["Groups", ".search"] => ScimResource::Search(SearchOf::Groups),
            ["Users", id] => ScimResource::User((*id).to_owned()),
            ["Groups"] => ScimResource::Groups,
            ["Groups", id] => ScimResource::Group((*id).to_owned()),
            _ => ScimResource::Unknown,
        };
        return Some(Ok(EdgeEndpoint::Scim { tenant: (*tenant).to_owned(), resource }));
    }
    if segments.first().map(String::as_str) != Some(prefix_segment) {
        return None;
    }
    let rest: Vec<&str> = segments[1..].iter().map(String::as_str).collect();
    let key_id_ok =
        |id: &str| id.len() == crate::authn::api_key::format::ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let admin = match (rest.as_slice(), method) {
        (["api-keys"], "POST") => Some(Ok(KeyAdmin::Create)),
        (["api-keys"], "GET") => Some(Ok(KeyAdmin::List)),
        (["api-keys", id], "GET") if key_id_ok(id) => Some(Ok(KeyAdmin::Get((*id).to_owned()))),
        (["api-keys", id], "DELETE") if key_id_ok(id) => Some(Ok(KeyAdmin::Revoke((*id).to_owned()))),
        (["api-keys", id, "rotate"], "POST") if key_id_ok(id) => Some(Ok(KeyAdmin::Rotate((*id).to_owned()))),
        (["api-keys", id, "revoke"], "POST") if key_id_ok(id) => Some(Ok(KeyAdmin::Revoke((*id).to_owned()))),
        (["api-keys"], _) => Some(Err(RouteError::MethodNotAllowed)),
        (["api-keys", id] | ["api-keys", id, "rotate" | "revoke"], _) if key_id_ok(id) => {
            Some(Err(RouteError::MethodNotAllowed))
        }
        (["api-keys", ..], _) => Some(Err(RouteError::UnknownEdgePath)),
        _ => None,
    };
    if let Some(admin) = admin {
        return Some(admin.map(EdgeEndpoint::KeyAdmin));
    }
    let directory = directory_endpoint(&rest, method);
    if let Some(directory) = directory {
        return Some(directory.map(EdgeEndpoint::DirectoryAdmin));
    }
    if let ["accounts", "passkeys", name] = rest.as_slice() {
        let step = match *name {
            "registration-options" => PasskeyStep::RegistrationOptions,
            "register" => PasskeyStep::Register,
            "sign-in-options" => PasskeyStep::SignInOptions,
            "sign-in" => PasskeyStep::SignIn,
            _ => return Some(Err(RouteError::UnknownEdgePath)),
        };
        return Some(if method == "POST" {
            Ok(EdgeEndpoint::Passkey(step))
        } else {
            Err(RouteError::MethodNotAllowed)
        });
    }
    if let ["accounts", name] = rest.as_slice() {
        let page = match *name {
            "sign-up" => AccountsPage::SignUp,
            "sign-in" => AccountsPage::SignIn,
            "verify" => AccountsPage::Verify,
            "forgot" => AccountsPage::Forgot,
            "reset" => AccountsPage::Reset,
            "password" => AccountsPage::ChangePassword,
            "mfa" => AccountsPage::SecondFactor,
            "totp" => AccountsPage::EnrolTotp,
            "security" => AccountsPage::Security,
            _ => return Some(Err(RouteError::UnknownEdgePath)),
        };
        return Some(match method {
            "GET" | "HEAD" => Ok(EdgeEndpoint::Accounts { page, submit: false }),
            "POST" => Ok(EdgeEndpoint::Accounts { page, submit: true }),
            _ => Err(RouteError::MethodNotAllowed),
        });
    }
    if let Some(setup) = setup_endpoint(&rest, method) {
        return Some(setup.map(EdgeEndpoint::Setup));
    }
    match (rest.as_slice(), method) {
        // A SAML response is POSTed to its provider's own callback; OIDC answers come with GET.
        (["callback", provider], "POST") => {
            return Some(Ok(EdgeEndpoint::Saml(SamlEndpoint::AssertionConsumer((*provider).to_owned()))))
        }
        (["saml", "handoff"], method) => {
            return Some(match read_only(method) {
                true => Ok(EdgeEndpoint::Saml(SamlEndpoint::Handoff)),
                false => Err(RouteError::MethodNotAllowed),
            })
        }
        (["saml", provider, "metadata"], method) => {
            return Some(match read_only(method) {
                true => Ok(EdgeEndpoint::Saml(SamlEndpoint::Metadata((*provider).to_owned()))),
                false => Err(RouteError::MethodNotAllowed),
            })
        }
        (["saml", provider, "slo"], method) => {
            return Some(match read_only(method) {
                true => Ok(EdgeEndpoint::Saml(SamlEndpoint::SingleLogout((*provider).to_owned()))),
                false => Err(RouteError::MethodNotAllowed),
            })
        }
        _ => {}
    }
    let login = match (rest.as_slice(), method) {
        (["logout"], "POST") => Some(Ok(LoginEndpoint::Logout)),
        (["sessions", "revoke"], "POST") => Some(Ok(LoginEndpoint::RevokeSessions)),
        (["sessions", "revoke"], _) => Some(Err(RouteError::MethodNotAllowed)),
        (["login"], _) => Some(Ok(LoginEndpoint::Start)),
        (["callback"] | ["callback", _], _) => Some(Ok(LoginEndpoint::Callback)),
        (["logout"], _) => Some(Ok(LoginEndpoint::LogoutPage)),
        (["logged-out"], _) => Some(Ok(LoginEndpoint::LoggedOut)),
        (["session"], _) => Some(Ok(LoginEndpoint::SessionInfo)),
        (["branding.css"], _) => Some(Ok(LoginEndpoint::BrandingCss)),
        _ => None,
    };
    if let Some(login) = login {
        let state_changing = matches!(login, Ok(LoginEndpoint::Logout | LoginEndpoint::RevokeSessions));
        return Some(match login {
            Ok(_) if !state_changing && !read_only(method) => Err(RouteError::MethodNotAllowed),
            other => other.map(EdgeEndpoint::Login),
        });
    }
    let endpoint = match rest.as_slice() {
        ["health"] => EdgeEndpoint::Health,
        ["static", file @ ..] if !file.is_empty() && file.iter().all(|s| !s.is_empty()) => {
            EdgeEndpoint::Asset(format!("/static/{}", file.join("/")))
        }
        _ => return Some(Err(RouteError::UnknownEdgePath)),
    };
    Some(if read_only(method) { Ok(endpoint) } else { Err(RouteError::MethodNotAllowed) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_dispatch_table() {
        let directory = EdgeEndpoint::DirectoryAdmin;
        let cases: &[(&str, &str, Option<Result<EdgeEndpoint, RouteError>>)] = &[
            ("GET", "/auth/health", Some(Ok(EdgeEndpoint::Health))),
            ("GET", "/auth/setup", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::Page)))),
            ("POST", "/auth/setup", Some(Err(RouteError::MethodNotAllowed))),
            ("POST", "/auth/setup/open", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::Open)))),
            ("POST", "/auth/setup/peek", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::Peek)))),
            ("GET", "/auth/setup/open", Some(Err(RouteError::MethodNotAllowed))),
            ("HEAD", "/auth/setup/state", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::State)))),
            ("PUT", "/auth/setup/connection", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::SaveConnection)))),
            ("POST", "/auth/setup/connection", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/setup/test", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::Test)))),
            ("POST", "/auth/setup/domains", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::ClaimDomain)))),
            (
                "POST",
                "/auth/setup/domains/acme.test/verify",
                Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::VerifyDomain("acme.test".into())))),
            ),
            ("POST", "/auth/setup/domains/ACME.test/verify", Some(Err(RouteError::UnknownEdgePath))),
            ("POST", "/auth/setup/finish", Some(Ok(EdgeEndpoint::Setup(SetupEndpoint::Finish)))),
            ("GET", "/auth/setup/elsewhere", Some(Err(RouteError::UnknownEdgePath))),
            (
                "POST",
                "/auth/directory/tenants/acme/setup-links",
                Some(Ok(directory(DirectoryAdmin::SetupLinks { tenant: "acme".into(), issue: true }))),
            ),
            (
                "DELETE",
                "/auth/directory/tenants/acme/setup-links/stl_abcdefghijklmnop",
                Some(Ok(directory(DirectoryAdmin::RemoveSetupLink {
                    tenant: "acme".into(),
                    id: "stl_abcdefghijklmnop".into(),
                }))),
            ),
            (
                "DELETE",
                "/auth/directory/tenants/acme/setup-links/con_abcdefghijklmnop",
                Some(Err(RouteError::UnknownEdgePath)),
            ),
            (
                "POST",
                "/auth/directory/tenants/acme/connections/con_abcdefghijklmnop/activate",
                Some(Ok(directory(DirectoryAdmin::ActivateConnection {
                    tenant: "acme".into(),
                    id: "con_abcdefghijklmnop".into(),
                }))),
            ),
            (
                "GET",
                "/auth/directory/tenants/acme/users",
                Some(Ok(EdgeEndpoint::DirectoryAdmin(DirectoryAdmin::ListUsers { tenant: "acme".into() }))),
            ),
            (
                "POST",
                "/auth/directory/tenants/acme/users/usr_AAAAAAAAAAAAAAAAAAAAAA/block",
                Some(Ok(EdgeEndpoint::DirectoryAdmin(DirectoryAdmin::SetStatus {
                    tenant: "acme".into(),
                    user: "usr_AAAAAAAAAAAAAAAAAAAAAA".into(),
                    status: UserStatus::Blocked,
                }))),
            ),
            ("POST", "/auth/directory/tenants/acme/users", Some(Err(RouteError::MethodNotAllowed))),
            (
                "DELETE",
                "/auth/directory/tenants/acme/users/usr_AAAAAAAAAAAAAAAAAAAAAA/sessions",
                Some(Ok(directory(DirectoryAdmin::UserSessions {
                    tenant: "acme".into(),
                    user: "usr_AAAAAAAAAAAAAAAAAAAAAA".into(),
                    end: true,
                }))),
            ),
            (
                "DELETE",
                "/auth/directory/tenants/acme/users/usr_AAAAAAAAAAAAAAAAAAAAAA/sessions/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                Some(Ok(directory(DirectoryAdmin::EndUserSession {
                    tenant: "acme".into(),
                    user: "usr_AAAAAAAAAAAAAAAAAAAAAA".into(),
                    session: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
                }))),
            ),
            (
                "DELETE",
                "/auth/directory/tenants/acme/users/usr_AAAAAAAAAAAAAAAAAAAAAA/sessions/short",
                Some(Err(RouteError::UnknownEdgePath)),
            ),
            (
                "POST",
                "/auth/directory/tenants/acme/users/usr_AAAAAAAAAAAAAAAAAAAAAA/sessions",
                Some(Err(RouteError::MethodNotAllowed)),
            ),
            (
                "GET",
                "/auth/directory/tenants/acme/users/usr_AAAAAAAAAAAAAAAAAAAAAA/block",
                Some(Err(RouteError::MethodNotAllowed)),
            ),
            ("GET", "/auth/directory/tenants/Acme/users", Some(Err(RouteError::UnknownEdgePath))),
            ("POST", "/auth/directory/tenants/acme/users/usr_short/block", Some(Err(RouteError::UnknownEdgePath))),
            (
                "GET",
                "/auth/directory/tenants/acme",
                Some(Ok(directory(DirectoryAdmin::GetTenant { tenant: "acme".into() }))),
            ),
            ("POST", "/auth/directory/tenants", Some(Ok(directory(DirectoryAdmin::CreateTenant)))),
            ("GET", "/auth/directory/tenants", Some(Err(RouteError::MethodNotAllowed))),
            (
                "POST",
                "/auth/directory/tenants/acme/domains",
                Some(Ok(directory(DirectoryAdmin::ClaimDomain { tenant: "acme".into() }))),
            ),
            (
                "POST",
                "/auth/directory/tenants/acme/domains/acme.test/verify",
                Some(Ok(directory(DirectoryAdmin::VerifyDomain { tenant: "acme".into(), domain: "acme.test".into() }))),
            ),
            (
                "DELETE",
                "/auth/directory/tenants/acme/domains/acme.test",
                Some(Ok(directory(DirectoryAdmin::ReleaseDomain {
                    tenant: "acme".into(),
                    domain: "acme.test".into(),
                }))),
            ),
            ("POST", "/auth/directory/tenants/acme/domains/Acme.Test/verify", Some(Err(RouteError::UnknownEdgePath))),
            ("POST", "/auth/directory/tenants/acme/domains/localhost/verify", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/directory/tenants/acme/domains/acme.test", Some(Err(RouteError::MethodNotAllowed))),
            (
                "PUT",
                "/auth/directory/tenants/acme/role-mappings",
                Some(Ok(directory(DirectoryAdmin::SetRoleMappings { tenant: "acme".into() }))),
            ),
            ("POST", "/auth/directory/tenants/acme/role-mappings", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/directory/tenants/acme/groups", Some(Err(RouteError::UnknownEdgePath))),
            (
                "GET",
                "/scim/v2/acme/Users",
                Some(Ok(EdgeEndpoint::Scim { tenant: "acme".into(), resource: ScimResource::Users })),
            ),
            (
                "PATCH",
                "/scim/v2/acme/Users/usr_1",
                Some(Ok(EdgeEndpoint::Scim { tenant: "acme".into(), resource: ScimResource::User("usr_1".into()) })),
            ),
            (
                "GET",
                "/scim/v2/Acme/Users",
                Some(Ok(EdgeEndpoint::Scim { tenant: "Acme".into(), resource: ScimResource::Unknown })),
            ),
            (
                "GET",
                "/scim/v2/acme/Users/usr_1/extra",
                Some(Ok(EdgeEndpoint::Scim { tenant: "acme".into(), resource: ScimResource::Unknown })),
            ),
            ("GET", "/scim/v1/acme/Users", None),
            ("HEAD", "/auth/health", Some(Ok(EdgeEndpoint::Health))),
            ("POST", "/auth/health", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/static/portcullis.css", Some(Ok(EdgeEndpoint::Asset("/static/portcullis.css".into())))),
            ("GET", "/auth/static/img/logo.svg", Some(Ok(EdgeEndpoint::Asset("/static/img/logo.svg".into())))),
            ("GET", "/auth/static/", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/static", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/whatever", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/authx/health", None),
            ("GET", "/api/auth/health", None),
            ("GET", "/", None),
            ("GET", "/.well-known/jwks.json", Some(Ok(EdgeEndpoint::AssertionKeys))),
            ("POST", "/.well-known/jwks.json", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/.well-known/other", None),
            ("POST", "/auth/api-keys", Some(Ok(EdgeEndpoint::KeyAdmin(KeyAdmin::Create)))),
            ("GET", "/auth/api-keys", Some(Ok(EdgeEndpoint::KeyAdmin(KeyAdmin::List)))),
            ("PUT", "/auth/api-keys", Some(Err(RouteError::MethodNotAllowed))),
            (
                "GET",
                "/auth/api-keys/AbCdEf123456",
                Some(Ok(EdgeEndpoint::KeyAdmin(KeyAdmin::Get("AbCdEf123456".into())))),
            ),
            (
                "DELETE",
                "/auth/api-keys/AbCdEf123456",
                Some(Ok(EdgeEndpoint::KeyAdmin(KeyAdmin::Revoke("AbCdEf123456".into())))),
            ),
            (
                "POST",
                "/auth/api-keys/AbCdEf123456/revoke",
                Some(Ok(EdgeEndpoint::KeyAdmin(KeyAdmin::Revoke("AbCdEf123456".into())))),
            ),
            (
                "POST",
                "/auth/api-keys/AbCdEf123456/rotate",
                Some(Ok(EdgeEndpoint::KeyAdmin(KeyAdmin::Rotate("AbCdEf123456".into())))),
            ),
            ("GET", "/auth/api-keys/AbCdEf123456/rotate", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/api-keys/short", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/api-keys/AbCdEf123456/other", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/login", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::Start)))),
            ("POST", "/auth/login", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/callback", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::Callback)))),
            ("POST", "/auth/callback", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/callback/github", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::Callback)))),
            (
                "POST",
                "/auth/callback/okta",
                Some(Ok(EdgeEndpoint::Saml(SamlEndpoint::AssertionConsumer("okta".into())))),
            ),
            ("GET", "/auth/saml/okta/metadata", Some(Ok(EdgeEndpoint::Saml(SamlEndpoint::Metadata("okta".into()))))),
            ("POST", "/auth/saml/okta/metadata", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/saml/handoff", Some(Ok(EdgeEndpoint::Saml(SamlEndpoint::Handoff)))),
            ("GET", "/auth/saml/okta/slo", Some(Ok(EdgeEndpoint::Saml(SamlEndpoint::SingleLogout("okta".into()))))),
            ("POST", "/auth/saml/okta/slo", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/logout", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::LogoutPage)))),
            ("POST", "/auth/logout", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::Logout)))),
            ("DELETE", "/auth/logout", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/logged-out", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::LoggedOut)))),
            ("GET", "/auth/session", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::SessionInfo)))),
            ("GET", "/auth/branding.css", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::BrandingCss)))),
            ("POST", "/auth/sessions/revoke", Some(Ok(EdgeEndpoint::Login(LoginEndpoint::RevokeSessions)))),
            ("GET", "/auth/sessions/revoke", Some(Err(RouteError::MethodNotAllowed))),
            ("GET", "/auth/login/extra", Some(Err(RouteError::UnknownEdgePath))),
            (
                "GET",
                "/auth/accounts/sign-up",
                Some(Ok(EdgeEndpoint::Accounts { page: AccountsPage::SignUp, submit: false })),
            ),
            (
                "POST",
                "/auth/accounts/sign-in",
                Some(Ok(EdgeEndpoint::Accounts { page: AccountsPage::SignIn, submit: true })),
            ),
            (
                "HEAD",
                "/auth/accounts/password",
                Some(Ok(EdgeEndpoint::Accounts { page: AccountsPage::ChangePassword, submit: false })),
            ),
            ("PUT", "/auth/accounts/reset", Some(Err(RouteError::MethodNotAllowed))),
            ("POST", "/auth/accounts/mfa", Some(Ok(EdgeEndpoint::Accounts { page: AccountsPage::SecondFactor, submit: true }))),
            ("GET", "/auth/accounts/totp", Some(Ok(EdgeEndpoint::Accounts { page: AccountsPage::EnrolTotp, submit: false }))),
            ("POST", "/auth/accounts/security", Some(Ok(EdgeEndpoint::Accounts { page: AccountsPage::Security, submit: true }))),
            ("GET", "/auth/accounts/other", Some(Err(RouteError::UnknownEdgePath))),
            ("POST", "/auth/accounts/passkeys/sign-in", Some(Ok(EdgeEndpoint::Passkey(PasskeyStep::SignIn)))),
            (
                "POST",
                "/auth/accounts/passkeys/registration-options",
                Some(Ok(EdgeEndpoint::Passkey(PasskeyStep::RegistrationOptions))),
            ),
            ("GET", "/auth/accounts/passkeys/sign-in", Some(Err(RouteError::MethodNotAllowed))),
            ("POST", "/auth/accounts/passkeys/other", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/accounts", Some(Err(RouteError::UnknownEdgePath))),
            ("GET", "/auth/accounts/sign-in/extra", Some(Err(RouteError::UnknownEdgePath))),
        ];
        for (method, raw, expected) in cases {
            let path = CanonicalPath::parse(raw).unwrap();
            assert_eq!(&dispatch("/auth", method, &path), expected, "{method} {raw}");
        }
    }
}
