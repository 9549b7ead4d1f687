use super::*;
use std::collections::HashSet;

struct Listed(HashSet<&'static str>);

impl Blocklist for Listed {
    fn contains(&self, password: &str) -> bool {
        self.0.contains(password)
    }
}

fn common() -> Listed {
    Listed(["passwordpassword1", "iloveyouiloveyou"].into_iter().collect())
}

fn failures(password: &str, policy: &PasswordPolicy, context: &[&str]) -> Vec<PolicyFailure> {
    check(password, policy, context, &common()).err().unwrap_or_default()
}

#[test]
fn nist_minimums_depend_on_mfa() {
    assert_eq!(PasswordPolicy::nist(false).min_length, 15);
    assert_eq!(PasswordPolicy::nist(true).min_length, 8);
    assert_eq!(PasswordPolicy::nist(false).max_length, 64);
}

#[test]
fn a_long_passphrase_passes_without_composition_rules() {
    let policy = PasswordPolicy::nist(false);
    // No digit, no symbol, no capital: allowed.
    let accepted = check("correct horse battery staple", &policy, &[], &common()).unwrap();
    assert_eq!(accepted.expose(), b"correct horse battery staple");
    assert!(check("tr0ub4dour&3 plus", &policy, &[], &common()).is_ok());
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let policy = PasswordPolicy::nist(false);
    let found = failures("acmeacmeacme", &policy, &["acme", "alice"]);
    let codes: Vec<&str> = found.iter().map(PolicyFailure::code).collect();
    assert_eq!(codes, vec!["too_short", "pattern", "contains_context"], "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "Use at least 15 characters (this one has 12). A few unrelated words make a good one."
    );
    assert_eq!(found[2].to_string(), "Leave out \"acme\": it is easy to guess here.");
}

#[test]
fn common_repeated_and_sequential_passwords_are_refused() {
    let policy = PasswordPolicy::nist(true);
    assert_eq!(failures("PasswordPassword1", &policy, &[]), vec![PolicyFailure::Common], "case-insensitive");
    for pattern in [
        "aaaaaaaaaaaaaaaa",
        "abcdefghijklmnop",
        "9876543210",
        "1234567890",
        "0987654321",
        "abcabcabcabc",
        "passpasspass",
    ] {
        assert!(failures(pattern, &policy, &[]).contains(&PolicyFailure::Pattern), "{pattern}");
    }
    assert!(failures("abcdefgh plus more", &policy, &[]).is_empty(), "a run inside a passphrase is fine");
}

#[test]
fn context_words_are_found_whatever_their_case_and_spelling() {
    let policy = PasswordPolicy::nist(true);
    let found = failures("MyAcmeCorpPassphrase", &policy, &["ACME", "bob"]);
    assert_eq!(found, vec![PolicyFailure::ContainsContext { word: "ACME".into() }], "short words are ignored");
    // Full-width letters normalise to ASCII under NFKC.
    let found = failures("ｍｙａｃｍｅ secret phrase", &policy, &["acme"]);
    assert_eq!(found, vec![PolicyFailure::ContainsContext { word: "acme".into() }]);
}

#[test]
fn length_is_counted_in_code_points_after_nfkc_and_never_truncated() {
    let policy = PasswordPolicy { min_length: 4, max_length: 64 };
    // Four characters of four bytes each: four characters, not sixteen.
    assert_eq!(failures("𝄞𝄞x𝄞", &policy, &[]), Vec::new());
    let two = PasswordPolicy { min_length: 2, ..policy.clone() };
    assert_eq!(failures("é", &two, &[]), vec![PolicyFailure::TooShort { min: 2, actual: 1 }]);
    // A decomposed é (e + combining acute) composes to one character.
    assert_eq!(normalize("e\u{301}"), "é");
    let exactly = "ab".repeat(31) + "xy";
    assert_eq!(exactly.chars().count(), 64);
    assert!(failures(&exactly, &policy, &[]).is_empty());
    let one_more = format!("{exactly}z");
    assert_eq!(failures(&one_more, &policy, &[]), vec![PolicyFailure::TooLong { max: 64 }], "refused, not cut");
}

#[test]
fn the_same_password_typed_differently_normalises_the_same() {
    let policy = PasswordPolicy::nist(true);
    let composed = check("café au lait, s'il vous plaît", &policy, &[], &NoBlocklist).unwrap();
    let decomposed = check("cafe\u{301} au lait, s'il vous plai\u{302}t", &policy, &[], &NoBlocklist).unwrap();
    assert_eq!(composed.expose(), decomposed.expose());
    let ligature = check("ﬁne ﬁshing trip", &policy, &[], &NoBlocklist).unwrap();
    assert_eq!(ligature.expose(), b"fine fishing trip", "NFKC: compatibility characters become plain ones");
}

proptest::proptest! {
    #![proptest_config(crate::testing::generative(256))]

    /// Any text: no panic; NFKC is idempotent; a refusal always says why, an acceptance passed
    /// every rule.
    #[test]
    fn any_text_is_judged_without_a_panic(password in "\\PC{0,90}", word in "\\PC{0,8}") {
        let policy = PasswordPolicy::nist(false);
        let once = normalize(&password);
        proptest::prop_assert_eq!(normalize(&once), once.clone());
        match check(&password, &policy, &[&word], &NoBlocklist) {
            Ok(accepted) => {
                let length = once.chars().count();
                proptest::prop_assert!((15..=64).contains(&length));
                proptest::prop_assert_eq!(accepted.expose(), once.as_bytes());
            }
            Err(found) => proptest::prop_assert!(!found.is_empty()),
        }
    }

    /// A password is refused for its length exactly when its normalised length is out of bounds.
    #[test]
    fn length_bounds_are_exact(length in 0usize..100) {
        let policy = PasswordPolicy::nist(false);
        let password: String = "xq7 ".chars().cycle().take(length).collect();
        let found = failures(&password, &policy, &[]);
        proptest::prop_assert_eq!(found.iter().any(|f| matches!(f, PolicyFailure::TooShort { .. })), length < 15);
        proptest::prop_assert_eq!(found.iter().any(|f| matches!(f, PolicyFailure::TooLong { .. })), length > 64);
    }
}
