use super::*;
use crate::ports::SystemEntropy;

/// Cheap parameters, so that the generative tests run hundreds of hashes.
const CHEAP: HashParams = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };

fn pepper() -> SecretBytes {
    SecretBytes::new(b"a pepper of at least thirty-two bytes!".to_vec())
}

fn is_match(verdict: &Result<Verified, HashError>) -> bool {
    matches!(verdict, Ok(Verified::Match { .. }))
}

#[test]
fn a_hash_is_argon2id_in_phc_format_with_the_owasp_minimum_by_default() {
    let stored = hash(b"correct horse battery staple", None, HashParams::default(), &SystemEntropy).unwrap();
    assert!(stored.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", stored.as_str());
    let parts: Vec<&str> = stored.as_str().split('$').collect();
    assert_eq!(parts.len(), 6, "{}", stored.as_str());
    assert_eq!(parts[4].len(), 22, "16 salt bytes in unpadded base64");
    assert_eq!(parts[5].len(), 43, "32 hash bytes in unpadded base64");
    let verdict = verify(b"correct horse battery staple", None, stored.as_str(), HashParams::default());
    assert_eq!(verdict, Ok(Verified::Match { needs_rehash: false }));
    let wrong = verify(b"correct horse battery stapl", None, stored.as_str(), HashParams::default());
    assert_eq!(wrong, Ok(Verified::Mismatch));
}

#[test]
fn the_same_password_never_hashes_the_same_twice() {
    let first = hash(b"password", None, CHEAP, &SystemEntropy).unwrap();
    let second = hash(b"password", None, CHEAP, &SystemEntropy).unwrap();
    assert_ne!(first, second, "a fresh salt each time");
}

#[test]
fn without_a_pepper_the_hash_is_argon2id_of_the_password_itself() {
    let salt = *b"0123456789abcdef";
    let ours = hash_with_salt(b"password", None, CHEAP, &salt).unwrap();
    let mut raw = [0u8; OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, Some(OUTPUT_LEN)).unwrap())
        .hash_password_into(b"password", &salt, &mut raw)
        .unwrap();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
    assert!(ours.as_str().ends_with(&format!("${encoded}")), "{} vs {encoded}", ours.as_str());
}

#[test]
fn a_peppered_hash_needs_the_pepper() {
    let stored = hash(b"hunter2hunter2", Some(&pepper()), CHEAP, &SystemEntropy).unwrap();
    let right = verify(b"hunter2hunter2", Some(&pepper()), stored.as_str(), CHEAP);
    assert_eq!(right, Ok(Verified::Match { needs_rehash: false }));
    assert_eq!(verify(b"hunter2hunter2", None, stored.as_str(), CHEAP), Ok(Verified::Mismatch));
    let other = SecretBytes::new(b"another pepper of thirty-two bytes or more".to_vec());
    assert_eq!(verify(b"hunter2hunter2", Some(&other), stored.as_str(), CHEAP), Ok(Verified::Mismatch));
}

#[test]
fn other_parameters_ask_for_a_rehash() {
    let stored = hash(b"a long enough passphrase", None, CHEAP, &SystemEntropy).unwrap();
    let stronger = HashParams { memory_kib: 128, ..CHEAP };
    let verdict = verify(b"a long enough passphrase", None, stored.as_str(), stronger);
    assert_eq!(verdict, Ok(Verified::Match { needs_rehash: true }));
    assert_eq!(verify(b"wrong", None, stored.as_str(), stronger), Ok(Verified::Mismatch), "no rehash on a mismatch");
}

#[test]
fn long_passwords_are_hashed_whole() {
    let long = vec![b'a'; 4096];
    let mut longer = long.clone();
    longer.push(b'b');
    let stored = hash(&long, None, CHEAP, &SystemEntropy).unwrap();
    assert_eq!(verify(&longer, None, stored.as_str(), CHEAP), Ok(Verified::Mismatch), "no truncation");
}

#[test]
fn stored_values_that_are_not_our_argon2id_are_refused() {
    let good = hash(b"pw", None, CHEAP, &SystemEntropy).unwrap();
    let cases = [
        String::new(),
        "plaintext".into(),
        good.as_str().replace("argon2id", "argon2i"),
        good.as_str().replace("argon2id", "argon2d"),
        good.as_str().replace("v=19", "v=16"),
        good.as_str().replace("$m=64,t=1,p=1", ""),
        // bcrypt, scrypt and PBKDF2 strings are not taken for argon2id.
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into(),
        "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E".into(),
        "$pbkdf2-sha256$29000$N2bMOSciRAjhvNc6x7h3rg$vXbIGb6ry7.U0sTXcWW4ACbz9JBiNvFvRj.UPcvQNpM".into(),
    ];
    for case in cases {
        assert_eq!(verify(b"pw", None, &case, CHEAP), Err(HashError::MalformedStoredHash), "{case:?}");
    }
}

#[test]
fn parameters_argon2id_refuses_are_an_error_not_a_panic() {
    for params in [
        HashParams { memory_kib: 0, ..CHEAP },
        HashParams { iterations: 0, ..CHEAP },
        HashParams { parallelism: 0, ..CHEAP },
    ] {
        assert!(matches!(hash(b"pw", None, params, &SystemEntropy), Err(HashError::InvalidParams(_))), "{params:?}");
    }
}

proptest::proptest! {
    #![proptest_config(crate::testing::generative(128))]

    /// Any text in place of the stored hash is refused or mismatched: never a panic, never a match.
    #[test]
    fn arbitrary_stored_values_never_panic_nor_match(
        stored in "\\PC{0,120}",
        password in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
    ) {
        proptest::prop_assert!(!is_match(&verify(&password, None, &stored, CHEAP)), "{stored:?} matched");
    }

    /// Values shaped like a PHC string, with any parameters: the same.
    #[test]
    fn phc_shaped_values_never_panic_nor_match(
        alg in "argon2(id|i|d)?",
        m in 0u32..2_000,
        t in 0u32..4,
        p in 0u32..4,
        salt in "[A-Za-z0-9+/]{0,30}",
        out in "[A-Za-z0-9+/]{0,60}",
    ) {
        let stored = format!("${alg}$v=19$m={m},t={t},p={p}${salt}${out}");
        proptest::prop_assert!(!is_match(&verify(b"password", None, &stored, CHEAP)), "{stored:?} matched");
    }

    /// Every password round-trips; any other password does not match.
    #[test]
    fn hashes_round_trip(
        password in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        other in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
    ) {
        let stored = hash(&password, None, CHEAP, &SystemEntropy).unwrap();
        proptest::prop_assert_eq!(verify(&password, None, stored.as_str(), CHEAP), Ok(Verified::Match { needs_rehash: false }));
        if other != password {
            proptest::prop_assert_eq!(verify(&other, None, stored.as_str(), CHEAP), Ok(Verified::Mismatch));
        }
    }

    /// A stored hash with one character changed never verifies the right password.
    #[test]
    fn a_mutated_stored_hash_never_verifies(
        at in proptest::prelude::any::<proptest::sample::Index>(),
        replacement in proptest::char::range('!', '~'),
    ) {
        let stored = hash(b"the right password", None, CHEAP, &SystemEntropy).unwrap();
        let mut chars: Vec<char> = stored.as_str().chars().collect();
        let index = at.index(chars.len());
        proptest::prop_assume!(chars[index] != replacement);
        chars[index] = replacement;
        let mutated: String = chars.into_iter().collect();
        proptest::prop_assert!(!is_match(&verify(b"the right password", None, &mutated, CHEAP)), "{mutated} matched");
    }
}

#[test]
fn the_dummy_hash_matches_nothing_and_costs_what_the_parameters_cost() {
    let cheap = HashParams { memory_kib: 64, iterations: 1, parallelism: 1 };
    let dummy = dummy_hash(cheap);
    for password in [&b""[..], b"correct horse battery staple", b"portcullis-dummy"] {
        assert_eq!(verify(password, None, &dummy, cheap), Ok(Verified::Mismatch));
    }
    // It is parsed as a real argon2id hash with the configured parameters (so it runs them).
    assert!(dummy.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
    assert_eq!(verify(b"x", None, &dummy_hash(HashParams::default()), cheap), Ok(Verified::Mismatch));
}
