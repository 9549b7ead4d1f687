//! The relying party's checks against a software authenticator: each algorithm registers and
//! signs in, and every negative the issue lists is refused with its reason.

use super::super::test_authenticator::{Authenticator, ORIGIN, RP_ID};
use super::*;
use crate::mfa::webauthn::signature::RustSignatures;
use crate::ports::memory::block_on;
use proptest::prelude::*;

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;

fn origins() -> Vec<String> {
    vec![ORIGIN.to_owned()]
}

fn rp(origins: &[String]) -> RelyingParty<'_> {
    RelyingParty { id: RP_ID, name: "Example", origins }
}

fn ceremony(kind: Kind, user: Option<&str>, user_verification: bool) -> Ceremony {
    Ceremony {
        kind,
        challenge: crate::mfa::webauthn::b64url(&[0x5a; 32]),
        tenant: "acme".into(),
        user_id: user.map(str::to_owned),
        user_verification,
        issued_at_s: 1_000,
    }
}

fn register(ceremony: &Ceremony, response: Value) -> Result<NewPasskey, Failure> {
    let origins = origins();
    let credential: RegistrationJson = serde_json::from_value(response).expect("registration JSON");
    block_on(verify_registration(rp(&origins), ceremony, &credential, &RustSignatures))
}

fn stored(authenticator: &Authenticator, sign_count: u32) -> StoredPasskey {
    let registration = register(
        &ceremony(Kind::Register, Some("usr_ann"), true),
        authenticator.register(&ceremony(Kind::Register, None, true).challenge, ORIGIN, UP | UV),
    )
    .expect("registered");
    StoredPasskey {
        credential_id: registration.credential_id,
        user_id: String::from_utf8(authenticator.user_handle.clone()).expect("utf-8"),
        key: registration.key,
        sign_count,
        backup_eligible: registration.backup_eligible,
    }
}

fn authenticate(ceremony: &Ceremony, response: Value, stored: &StoredPasskey) -> Result<VerifiedAssertion, Failure> {
    authenticate_with(ceremony, response, stored, SignCountPolicy::Refuse)
}

fn authenticate_with(
    ceremony: &Ceremony,
    response: Value,
    stored: &StoredPasskey,
    policy: SignCountPolicy,
) -> Result<VerifiedAssertion, Failure> {
    let origins = origins();
    let credential: AssertionJson = match serde_json::from_value(response) {
        Ok(credential) => credential,
        Err(_) => return Err(PasskeyError::Malformed("credential JSON").into()),
    };
    block_on(verify_assertion(rp(&origins), ceremony, &credential, stored, policy, &RustSignatures))
}

fn refused(reason: PasskeyError) -> Result<(), Failure> {
    Err(Failure::Refused(reason))
}

#[test]
fn each_algorithm_registers_and_then_signs_in() {
    for authenticator in Authenticator::all() {
        let registering = ceremony(Kind::Register, Some("usr_ann"), false);
        let passkey = register(&registering, authenticator.register(&registering.challenge, ORIGIN, UP | BE)).unwrap();
        assert_eq!(passkey.key.alg, authenticator.alg());
        assert!(passkey.backup_eligible && !passkey.backed_up);
        assert_eq!(passkey.transports, ["internal", "hybrid"], "unknown transports are dropped");
        let stored = StoredPasskey {
            credential_id: passkey.credential_id,
            user_id: "usr_ann".into(),
            key: passkey.key,
            sign_count: 0,
            backup_eligible: passkey.backup_eligible,
        };
        for user in [Some("usr_ann"), None] {
            let signing_in = ceremony(Kind::Authenticate, user, true);
            let verified = authenticate(
                &signing_in,
                authenticator.assert(&signing_in.challenge, ORIGIN, UP | UV | BE, 1),
                &stored,
            )
            .unwrap();
            assert_eq!((verified.sign_count, verified.user_verified, verified.method()), (1, true, "swk"));
        }
        // The backup-eligible flag is the registration's for the credential's life.
        let signing_in = ceremony(Kind::Authenticate, None, false);
        let flipped = authenticate(&signing_in, authenticator.assert(&signing_in.challenge, ORIGIN, UP, 2), &stored);
        assert_eq!(flipped.map(|_| ()), refused(PasskeyError::BackupEligibilityChanged));
        let device_bound_key = StoredPasskey { backup_eligible: false, ..stored.clone() };
        let device_bound =
            authenticate(&signing_in, authenticator.assert(&signing_in.challenge, ORIGIN, UP, 2), &device_bound_key)
                .unwrap();
        assert_eq!(device_bound.method(), "hwk");
        let gained = authenticate(
            &signing_in,
            authenticator.assert(&signing_in.challenge, ORIGIN, UP | BE, 3),
            &device_bound_key,
        );
        assert_eq!(gained.map(|_| ()), refused(PasskeyError::BackupEligibilityChanged), "hwk cannot turn swk");
    }
}

#[test]
fn packed_self_attestation_is_checked_with_the_new_key() {
    let authenticator = Authenticator::es256();
    let c = ceremony(Kind::Register, Some("usr_ann"), false);
    assert!(register(&c, authenticator.register_packed(&c.challenge, ORIGIN, UP, -7, false)).is_ok());
    assert_eq!(
        register(&c, authenticator.register_packed(&c.challenge, ORIGIN, UP, -7, true)).map(|_| ()),
        refused(PasskeyError::SignatureInvalid)
    );
    // A statement naming another algorithm than the key's.
    assert_eq!(
        register(&c, authenticator.register_packed(&c.challenge, ORIGIN, UP, -8, false)).map(|_| ()),
        refused(PasskeyError::AttestationUnsupported)
    );
}

#[test]
fn registration_negatives() {
    let authenticator = Authenticator::es256();
    let c = ceremony(Kind::Register, Some("usr_ann"), true);
    let check = |response: Value| register(&c, response).map(|_| ());
    assert_eq!(
        check(authenticator.register(&c.challenge, "https://evil.example", UP | UV)),
        refused(PasskeyError::OriginMismatch)
    );
    assert_eq!(check(authenticator.register("b3RoZXI", ORIGIN, UP | UV)), refused(PasskeyError::ChallengeMismatch));
    assert_eq!(check(authenticator.register(&c.challenge, ORIGIN, UV)), refused(PasskeyError::UserNotPresent));
    assert_eq!(check(authenticator.register(&c.challenge, ORIGIN, UP)), refused(PasskeyError::UserNotVerified));
    let elsewhere = Authenticator::es256().for_rp("evil.example");
    assert_eq!(check(elsewhere.register(&c.challenge, ORIGIN, UP | UV)), refused(PasskeyError::RpIdMismatch));
    // clientDataJSON of an authentication, replayed into a registration.
    let mut swapped = authenticator.register(&c.challenge, ORIGIN, UP | UV);
    swapped["response"]["clientDataJSON"] =
        Value::String(b64url(&Authenticator::client_data("webauthn.get", &c.challenge, ORIGIN)));
    assert_eq!(check(swapped), refused(PasskeyError::WrongType));
    // rawId and the attested credential id disagree.
    let mut other_id = authenticator.register(&c.challenge, ORIGIN, UP | UV);
    other_id["id"] = Value::String(b64url(b"another id"));
    other_id["rawId"] = Value::String(b64url(b"another id"));
    assert_eq!(check(other_id), refused(PasskeyError::Malformed("credential id")));
    // An authentication ceremony cannot complete a registration.
    let auth = ceremony(Kind::Authenticate, Some("usr_ann"), true);
    assert_eq!(
        register(&auth, authenticator.register(&auth.challenge, ORIGIN, UP | UV)).map(|_| ()),
        refused(PasskeyError::CeremonyExpired)
    );
    // Malformed CBOR.
    let mut garbage = authenticator.register(&c.challenge, ORIGIN, UP | UV);
    garbage["response"]["attestationObject"] = Value::String(b64url(&[0xa3, 0x63, b'f', b'm']));
    assert_eq!(check(garbage), refused(PasskeyError::Malformed("attestationObject")));
}

#[test]
fn assertion_negatives() {
    let authenticator = Authenticator::es256();
    let passkey = stored(&authenticator, 5);
    let c = ceremony(Kind::Authenticate, Some("usr_ann"), true);
    let check = |response: Value| authenticate(&c, response, &passkey).map(|_| ());
    let good = || authenticator.assert(&c.challenge, ORIGIN, UP | UV, 6);
    assert_eq!(check(good()), Ok(()));
    assert_eq!(
        check(authenticator.assert(&c.challenge, "https://evil.example", UP | UV, 6)),
        refused(PasskeyError::OriginMismatch)
    );
    assert_eq!(check(authenticator.assert("b3RoZXI", ORIGIN, UP | UV, 6)), refused(PasskeyError::ChallengeMismatch));
    assert_eq!(check(authenticator.assert(&c.challenge, ORIGIN, UV, 6)), refused(PasskeyError::UserNotPresent));
    assert_eq!(check(authenticator.assert(&c.challenge, ORIGIN, UP, 6)), refused(PasskeyError::UserNotVerified));
    let elsewhere = Authenticator::es256().for_rp("evil.example");
    assert_eq!(check(elsewhere.assert(&c.challenge, ORIGIN, UP | UV, 6)), refused(PasskeyError::RpIdMismatch));
    // The counter must increase past the stored 5.
    for count in [5, 4, 0] {
        assert_eq!(
            check(authenticator.assert(&c.challenge, ORIGIN, UP | UV, count)),
            refused(PasskeyError::SignCountRegressed)
        );
    }
    let flagged =
        authenticate_with(&c, authenticator.assert(&c.challenge, ORIGIN, UP | UV, 5), &passkey, SignCountPolicy::Flag)
            .unwrap();
    assert!(flagged.sign_count_regressed && flagged.sign_count == 5);
    // A signature over other data.
    let client_data = Authenticator::client_data("webauthn.get", &c.challenge, ORIGIN);
    let auth_data = authenticator.assertion_auth_data(UP | UV, 6);
    let over_other = authenticator.assert_with(&client_data, &auth_data, b"something else");
    assert_eq!(check(over_other), refused(PasskeyError::SignatureInvalid));
    // The signature over the raw client data (not its hash).
    let raw = authenticator.assert_with(&client_data, &auth_data, &[auth_data.clone(), client_data.clone()].concat());
    assert_eq!(check(raw), refused(PasskeyError::SignatureInvalid));
    // clientDataJSON.type swapped to a registration's.
    let create = Authenticator::client_data("webauthn.create", &c.challenge, ORIGIN);
    let swapped = authenticator.assert_with(&create, &auth_data, &signature::signed_message(&auth_data, &create));
    assert_eq!(check(swapped), refused(PasskeyError::WrongType));
    // Another user's credential, in this user's ceremony; and a user handle that is not the owner.
    let bob = StoredPasskey { user_id: "usr_bob".into(), ..passkey.clone() };
    assert_eq!(authenticate(&c, good(), &bob).map(|_| ()), refused(PasskeyError::WrongUser));
    let passwordless = ceremony(Kind::Authenticate, None, true);
    let mut mislabelled = authenticator.assert(&passwordless.challenge, ORIGIN, UP | UV, 6);
    mislabelled["response"]["userHandle"] = Value::String(b64url(b"usr_bob"));
    assert_eq!(authenticate(&passwordless, mislabelled, &passkey).map(|_| ()), refused(PasskeyError::WrongUser));
    let mut unnamed = authenticator.assert(&passwordless.challenge, ORIGIN, UP | UV, 6);
    unnamed["response"]["userHandle"] = Value::Null;
    assert_eq!(
        authenticate(&passwordless, unnamed, &passkey).map(|_| ()),
        refused(PasskeyError::Malformed("userHandle"))
    );
    // Another credential than the stored one.
    let other = Authenticator::another_es256();
    assert_eq!(check(other.assert(&c.challenge, ORIGIN, UP | UV, 6)), refused(PasskeyError::UnknownCredential));
    // The other credential's signature presented under this credential's id.
    let mut borrowed = other.assert(&c.challenge, ORIGIN, UP | UV, 6);
    borrowed["id"] = Value::String(passkey.credential_id.clone());
    borrowed["rawId"] = Value::String(passkey.credential_id.clone());
    assert_eq!(check(borrowed), refused(PasskeyError::SignatureInvalid));
    // A truncated authenticatorData, and one that carries a credential.
    let mut truncated = good();
    truncated["response"]["authenticatorData"] = Value::String(b64url(&auth_data[..36]));
    assert_eq!(check(truncated), refused(PasskeyError::Malformed("authenticatorData")));
    let attested = authenticator.registration_auth_data(UP | UV);
    let with_credential =
        authenticator.assert_with(&client_data, &attested, &signature::signed_message(&attested, &client_data));
    assert_eq!(check(with_credential), refused(PasskeyError::Malformed("authenticatorData")));
    // A registration ceremony cannot complete an authentication.
    let registering = ceremony(Kind::Register, Some("usr_ann"), true);
    assert_eq!(
        authenticate(&registering, authenticator.assert(&registering.challenge, ORIGIN, UP | UV, 6), &passkey)
            .map(|_| ()),
        refused(PasskeyError::CeremonyExpired)
    );
}

#[test]
fn a_sealed_ceremony_opens_for_its_kind_while_fresh() {
    let key = SecretBytes::new(vec![8; 32]);
    let c = ceremony(Kind::Authenticate, Some("usr_ann"), true);
    let sealed = c.seal(&key, &[1; 12]);
    assert!(!sealed.contains("acme"));
    assert_eq!(Ceremony::open(&sealed, &key, Kind::Authenticate, 1_000 + CEREMONY_LIFETIME_S), Ok(c.clone()));
    let expired = Err(PasskeyError::CeremonyExpired);
    assert_eq!(Ceremony::open(&sealed, &key, Kind::Authenticate, 1_001 + CEREMONY_LIFETIME_S), expired);
    assert_eq!(Ceremony::open(&sealed, &key, Kind::Authenticate, 999), expired);
    assert_eq!(Ceremony::open(&sealed, &key, Kind::Register, 1_000), expired);
    assert_eq!(Ceremony::open(&sealed, &SecretBytes::new(vec![9; 32]), Kind::Authenticate, 1_000), expired);
    assert_eq!(c.once_id(), format!("passkey-challenge:{}", c.challenge));
}

#[test]
fn the_options_name_the_rp_the_user_and_the_credentials() {
    let origins = origins();
    let c = ceremony(Kind::Register, Some("usr_ann"), false);
    let existing = [CredentialDescriptor { id: "Y3JlZA".into(), transports: vec!["internal".into()] }];
    let options = creation_options(rp(&origins), &c, PasskeyUser { id: "usr_ann", name: "ann@acme.test" }, &existing);
    assert_eq!(options["rp"]["id"], RP_ID);
    assert_eq!(options["user"]["id"], b64url(b"usr_ann"));
    assert_eq!(options["challenge"], c.challenge);
    assert_eq!(options["excludeCredentials"][0]["id"], "Y3JlZA");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(options["attestation"], "none");
    let algs: Vec<i64> =
        options["pubKeyCredParams"].as_array().unwrap().iter().map(|p| p["alg"].as_i64().unwrap()).collect();
    assert_eq!(algs, [-8, -7, -257]);
    let request = request_options(rp(&origins), &ceremony(Kind::Authenticate, None, true), &[]);
    assert_eq!((request["rpId"].as_str(), request["userVerification"].as_str()), (Some(RP_ID), Some("required")));
    assert_eq!(request["allowCredentials"], json!([]));
}

fn flip(value: &mut Value, field: &str, index: prop::sample::Index, xor: u8) {
    let encoded = value["response"][field].as_str().unwrap().to_owned();
    let mut bytes = crate::mfa::webauthn::b64url_decode("test", &encoded).unwrap();
    let at = index.index(bytes.len());
    bytes[at] ^= xor;
    value["response"][field] = Value::String(b64url(&bytes));
}

proptest! {
    #![proptest_config(crate::testing::generative(96))]

    #[test]
    fn no_changed_byte_of_a_signed_assertion_is_accepted(
        field in prop::sample::select(vec!["clientDataJSON", "authenticatorData", "signature"]),
        index in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let authenticator = Authenticator::es256();
        let passkey = stored(&authenticator, 0);
        let c = ceremony(Kind::Authenticate, Some("usr_ann"), false);
        let mut response = authenticator.assert(&c.challenge, ORIGIN, UP, 1);
        prop_assert!(authenticate(&c, response.clone(), &passkey).is_ok());
        flip(&mut response, field, index, xor);
        prop_assert!(authenticate(&c, response, &passkey).is_err());
    }

    #[test]
    fn no_changed_byte_of_a_self_attested_registration_is_accepted(
        field in prop::sample::select(vec!["clientDataJSON", "attestationObject"]),
        index in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let authenticator = Authenticator::ed25519();
        let c = ceremony(Kind::Register, Some("usr_ann"), false);
        let mut response = authenticator.register_packed(&c.challenge, ORIGIN, UP, -8, false);
        let original = register(&c, response.clone()).expect("registers");
        flip(&mut response, field, index, xor);
        // A flipped flag bit (BE, say) in authData breaks the self signature; a flipped bit in a
        // part nobody signs must not change what is registered.
        if let Ok(changed) = register(&c, response) {
            prop_assert_eq!(changed, original);
        }
    }

    #[test]
    fn arbitrary_json_responses_never_panic(value in crate::testing::any_json(&[
        "id", "rawId", "type", "response", "clientDataJSON", "authenticatorData", "signature", "userHandle", "attestationObject",
    ])) {
        let authenticator = Authenticator::es256();
        let passkey = stored(&authenticator, 0);
        let c = ceremony(Kind::Authenticate, None, false);
        let _ = authenticate(&c, value.clone(), &passkey);
        if let Ok(credential) = serde_json::from_value::<RegistrationJson>(value) {
            let origins = origins();
            let _ = block_on(verify_registration(rp(&origins), &ceremony(Kind::Register, None, false), &credential, &RustSignatures));
        }
    }
}
