//! One WebAuthn ceremony, from the options the browser gets to the verified result.
//!
//! The relying party keeps no state between the two requests of a ceremony: the challenge (256
//! bits from the CSPRNG), the tenant, the user and the policy travel in a sealed [`Ceremony`]
//! that the page hands back with the credential. It lives [`CEREMONY_LIFETIME_S`], and the shell
//! spends its challenge once in the ledger ([`Ceremony::once_id`]) before it acts on it.
//!
//! [`verify_registration`] and [`verify_assertion`] are the relying party's checks (WebAuthn
//! §7.1 and §7.2), in that order; the signature goes through the [`SignatureVerifier`] port.

use super::attestation::{AttestationObject, Statement};
use super::authenticator_data::AuthenticatorData;
use super::client_data::{self, CeremonyType, Expected};
use super::cose::{self, CoseKey};
use super::signature::{self, Failure, SignatureVerifier};
use super::{b64url, b64url_decode, PasskeyError};
use crate::secret::{Sealer, SecretBytes};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// How long a ceremony may take, from its options to its response.
pub const CEREMONY_LIFETIME_S: i64 = 300;

/// The relying party.
#[derive(Debug, Clone, Copy)]
pub struct RelyingParty<'a> {
    /// The RP ID: a registrable domain suffix of the origins (never an IP address).
    pub id: &'a str,
    /// The name authenticators show.
    pub name: &'a str,
    /// The origins ceremonies may run on.
    pub origins: &'a [String],
}

/// Which ceremony a sealed state is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Registering a new passkey.
    Register,
    /// Signing in (or stepping up) with one.
    Authenticate,
}

/// The state of one ceremony, sealed between its two requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    /// Registration or authentication.
    pub kind: Kind,
    /// The challenge, base64url.
    pub challenge: String,
    /// The tenant.
    pub tenant: String,
    /// The user it is for; `None` for a passwordless sign-in, where the credential names the user.
    pub user_id: Option<String>,
    /// Whether the authenticator must verify the user (PIN or biometrics).
    pub user_verification: bool,
    /// When the options were made.
    pub issued_at_s: i64,
}

fn sealer(login_secret: &SecretBytes) -> Sealer {
    Sealer::new(b"portcullis passkey ceremony v1\0", login_secret)
}

const AAD: &[u8] = b"portcullis passkey ceremony";

impl Ceremony {
    /// A new ceremony with a fresh challenge.
    pub fn new(
        entropy: &impl crate::ports::Entropy,
        kind: Kind,
        tenant: &str,
        user_id: Option<&str>,
        user_verification: bool,
        now_s: i64,
    ) -> Result<Self, crate::ports::Unavailable> {
        Ok(Self {
            kind,
            challenge: b64url(&entropy.bytes::<32>()?),
            tenant: tenant.to_owned(),
            user_id: user_id.map(str::to_owned),
            user_verification,
            issued_at_s: now_s,
        })
    }

    /// The sealed form the page carries.
    pub fn seal(&self, login_secret: &SecretBytes, nonce: &[u8; 12]) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        sealer(login_secret).seal(AAD, &json, nonce)
    }

    /// Opens a sealed ceremony of `kind` that is still good at `now_s`.
    pub fn open(sealed: &str, login_secret: &SecretBytes, kind: Kind, now_s: i64) -> Result<Self, PasskeyError> {
        let json = sealer(login_secret).open(AAD, sealed).ok_or(PasskeyError::CeremonyExpired)?;
        let ceremony: Self = serde_json::from_slice(&json).map_err(|_| PasskeyError::CeremonyExpired)?;
        if ceremony.kind != kind || !(0..=CEREMONY_LIFETIME_S).contains(&(now_s - ceremony.issued_at_s)) {
            return Err(PasskeyError::CeremonyExpired);
        }
        Ok(ceremony)
    }

    /// The ledger id that spends the challenge once.
    pub fn once_id(&self) -> String {
        format!("passkey-challenge:{}", self.challenge)
    }

    fn challenge_bytes(&self) -> Vec<u8> {
        b64url_decode("challenge", &self.challenge).unwrap_or_default()
    }

    fn user_verification_name(&self) -> &'static str {
        if self.user_verification {
            "required"
        } else {
            "preferred"
        }
    }
}

/// A credential the browser may use or must not register again: its id and transports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialDescriptor {
    /// The credential id, base64url.
    pub id: String,
    /// The transports it reported (`internal`, `usb`, `hybrid`, ...).
    pub transports: Vec<String>,
}

fn descriptors(credentials: &[CredentialDescriptor]) -> Vec<Value> {
    credentials
        .iter()
        .map(|credential| json!({ "type": "public-key", "id": credential.id, "transports": credential.transports }))
        .collect()
}

/// Who a new passkey is for.
#[derive(Debug, Clone, Copy)]
pub struct PasskeyUser<'a> {
    /// The directory user id (the user handle: random, no personal data).
    pub id: &'a str,
    /// The account name (the email).
    pub name: &'a str,
}

/// `PublicKeyCredentialCreationOptionsJSON` for a registration: a discoverable credential (so
/// that it also signs in without a password), no attestation, none of the user's existing
/// credentials again.
pub fn creation_options(
    rp: RelyingParty<'_>,
    ceremony: &Ceremony,
    user: PasskeyUser<'_>,
    existing: &[CredentialDescriptor],
) -> Value {
    json!({
        "rp": { "id": rp.id, "name": rp.name },
        "user": { "id": b64url(user.id.as_bytes()), "name": user.name, "displayName": user.name },
        "challenge": ceremony.challenge,
        "pubKeyCredParams": cose::SUPPORTED_ALGORITHMS.iter().map(|alg| json!({ "type": "public-key", "alg": alg })).collect::<Vec<_>>(),
        "timeout": CEREMONY_LIFETIME_S * 1000,
        "excludeCredentials": descriptors(existing),
        "authenticatorSelection": {
            "residentKey": "required",
            "requireResidentKey": true,
            "userVerification": ceremony.user_verification_name(),
        },
        "attestation": "none",
    })
}

/// `PublicKeyCredentialRequestOptionsJSON` for an authentication: the user's credentials, or none
/// for a passwordless sign-in (the authenticator offers its discoverable ones).
pub fn request_options(rp: RelyingParty<'_>, ceremony: &Ceremony, allowed: &[CredentialDescriptor]) -> Value {
    json!({
        "challenge": ceremony.challenge,
        "rpId": rp.id,
        "timeout": CEREMONY_LIFETIME_S * 1000,
        "allowCredentials": descriptors(allowed),
        "userVerification": ceremony.user_verification_name(),
    })
}

/// The `response` member of a registration (`AuthenticatorAttestationResponseJSON`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    attestation_object: String,
    #[serde(default)]
    transports: Vec<String>,
}

/// The `response` member of an authentication (`AuthenticatorAssertionResponseJSON`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    authenticator_data: String,
    signature: String,
    #[serde(default)]
    user_handle: Option<String>,
}

/// A `PublicKeyCredential` as `toJSON()` gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialJson<R> {
    id: String,
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: R,
}

impl<R> CredentialJson<R> {
    /// The credential id, checked to be the same in `id` and `rawId`.
    pub fn credential_id(&self) -> Result<Vec<u8>, PasskeyError> {
        if self.kind != "public-key" {
            return Err(PasskeyError::Malformed("type"));
        }
        let raw = b64url_decode("rawId", &self.raw_id)?;
        if b64url_decode("id", &self.id)? != raw || raw.is_empty() {
            return Err(PasskeyError::Malformed("id"));
        }
        Ok(raw)
    }
}

/// A registration's credential.
pub type RegistrationJson = CredentialJson<AttestationResponse>;
/// An authentication's credential.
pub type AssertionJson = CredentialJson<AssertionResponse>;

/// The transports worth remembering (WebAuthn's `AuthenticatorTransport` values).
const KNOWN_TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// A verified registration: what to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPasskey {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its public key.
    pub key: CoseKey,
    /// Its signature counter at registration.
    pub sign_count: u32,
    /// Backup eligible: a synced passkey.
    pub backup_eligible: bool,
    /// Backed up at registration.
    pub backed_up: bool,
    /// The transports it reported.
    pub transports: Vec<String>,
    /// The authenticator model (AAGUID), hex.
    pub aaguid: String,
}

fn rp_checks(data: &AuthenticatorData, rp: RelyingParty<'_>, user_verification: bool) -> Result<(), PasskeyError> {
    if data.rp_id_hash[..] != Sha256::digest(rp.id.as_bytes())[..] {
        return Err(PasskeyError::RpIdMismatch);
    }
    if !data.flags.user_present() {
        return Err(PasskeyError::UserNotPresent);
    }
    if user_verification && !data.flags.user_verified() {
        return Err(PasskeyError::UserNotVerified);
    }
    Ok(())
}

/// Verifies a registration against its ceremony (WebAuthn §7.1).
pub async fn verify_registration(
    rp: RelyingParty<'_>,
    ceremony: &Ceremony,
    credential: &RegistrationJson,
    verifier: &impl SignatureVerifier,
) -> Result<NewPasskey, Failure> {
    if ceremony.kind != Kind::Register {
        return Err(PasskeyError::CeremonyExpired.into());
    }
    let credential_id = credential.credential_id()?;
    let client_data_json = b64url_decode("clientDataJSON", &credential.response.client_data_json)?;
    let challenge = ceremony.challenge_bytes();
    let expected = Expected { ceremony: CeremonyType::Create, challenge: &challenge, origins: rp.origins };
    client_data::check(&client_data_json, expected)?;
    let object_bytes = b64url_decode("attestationObject", &credential.response.attestation_object)?;
    let object = AttestationObject::parse(&object_bytes)?;
    let data = AuthenticatorData::parse(object.auth_data)?;
    rp_checks(&data, rp, ceremony.user_verification)?;
    let attested = data.attested.ok_or(PasskeyError::Malformed("attested credential data"))?;
    if attested.credential_id != credential_id {
        return Err(PasskeyError::Malformed("credential id").into());
    }
    if let Statement::SelfSigned { alg, sig } = object.statement {
        if alg != attested.public_key.cose_alg() {
            return Err(PasskeyError::AttestationUnsupported.into());
        }
        let message = signature::signed_message(object.auth_data, &client_data_json);
        signature::verify(verifier, &attested.public_key, &message, sig).await?;
    }
    let mut transports: Vec<String> = credential
        .response
        .transports
        .iter()
        .filter(|transport| KNOWN_TRANSPORTS.contains(&transport.as_str()))
        .cloned()
        .collect();
    transports.dedup();
    Ok(NewPasskey {
        credential_id: b64url(&credential_id),
        key: attested.public_key,
        sign_count: data.sign_count,
        backup_eligible: data.flags.backup_eligible(),
        backed_up: data.flags.backed_up(),
        transports,
        aaguid: attested.aaguid.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// A registered passkey, as the store gives it to an authentication.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPasskey {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its owner.
    pub user_id: String,
    /// Its public key.
    pub key: CoseKey,
    /// The highest signature counter seen.
    pub sign_count: u32,
    /// Backup eligible at registration (fixed for the credential's life).
    pub backup_eligible: bool,
}

/// What a passed authentication shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its owner.
    pub user_id: String,
    /// The new signature counter.
    pub sign_count: u32,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// Backup eligible (a synced passkey: `swk`), or bound to one device (`hwk`), as registered.
    pub backup_eligible: bool,
    /// Backed up now.
    pub backed_up: bool,
    /// The counter did not increase, and the policy only flags that.
    pub sign_count_regressed: bool,
}

impl VerifiedAssertion {
    /// The RFC 8176 method: `hwk` for a key bound to its device, `swk` for a synced passkey.
    pub fn method(&self) -> &'static str {
        if self.backup_eligible {
            "swk"
        } else {
            "hwk"
        }
    }
}

/// What to do when a signature counter does not increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignCountPolicy {
    /// Refuse the assertion (the default: the credential may be cloned).
    Refuse,
    /// Accept it and flag it in the audit.
    Flag,
}

/// Verifies an assertion of `stored` against its ceremony (WebAuthn §7.2).
pub async fn verify_assertion(
    rp: RelyingParty<'_>,
    ceremony: &Ceremony,
    credential: &AssertionJson,
    stored: &StoredPasskey,
    sign_count_policy: SignCountPolicy,
    verifier: &impl SignatureVerifier,
) -> Result<VerifiedAssertion, Failure> {
    if ceremony.kind != Kind::Authenticate {
        return Err(PasskeyError::CeremonyExpired.into());
    }
    if b64url(&credential.credential_id()?) != stored.credential_id {
        return Err(PasskeyError::UnknownCredential.into());
    }
    if ceremony.user_id.as_ref().is_some_and(|user| *user != stored.user_id) {
        return Err(PasskeyError::WrongUser.into());
    }
    match &credential.response.user_handle {
        Some(handle) if b64url_decode("userHandle", handle)? != stored.user_id.as_bytes() => {
            return Err(PasskeyError::WrongUser.into())
        }
        // A passwordless sign-in names its user by the handle of a discoverable credential.
        None if ceremony.user_id.is_none() => return Err(PasskeyError::Malformed("userHandle").into()),
        _ => {}
    }
    let client_data_json = b64url_decode("clientDataJSON", &credential.response.client_data_json)?;
    let challenge = ceremony.challenge_bytes();
    let expected = Expected { ceremony: CeremonyType::Get, challenge: &challenge, origins: rp.origins };
    client_data::check(&client_data_json, expected)?;
    let data_bytes = b64url_decode("authenticatorData", &credential.response.authenticator_data)?;
    let data = AuthenticatorData::parse(&data_bytes)?;
    if data.attested.is_some() {
        return Err(PasskeyError::Malformed("authenticatorData").into());
    }
    rp_checks(&data, rp, ceremony.user_verification)?;
    let signature_bytes = b64url_decode("signature", &credential.response.signature)?;
    let message = signature::signed_message(&data_bytes, &client_data_json);
    signature::verify(verifier, &stored.key, &message, &signature_bytes).await?;
    // After the signature: an unsigned response learns nothing of how the credential was made.
    if data.flags.backup_eligible() != stored.backup_eligible {
        return Err(PasskeyError::BackupEligibilityChanged.into());
    }
    let counted = data.sign_count != 0 || stored.sign_count != 0;
    let regressed = counted && data.sign_count <= stored.sign_count;
    if regressed && sign_count_policy == SignCountPolicy::Refuse {
        return Err(PasskeyError::SignCountRegressed.into());
    }
    Ok(VerifiedAssertion {
        credential_id: stored.credential_id.clone(),
        user_id: stored.user_id.clone(),
        sign_count: data.sign_count.max(stored.sign_count),
        user_verified: data.flags.user_verified(),
        backup_eligible: stored.backup_eligible,
        backed_up: data.flags.backed_up(),
        sign_count_regressed: regressed,
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
