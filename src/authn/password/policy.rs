//! The password policy of NIST SP 800-63B-4 §3.1.1.2, checked before a password is hashed:
//!
//! - at least 15 characters when the password is the only factor, or 8 when MFA is enforced;
//! - at most `max_length` (at least 64) characters, and never truncated;
//! - no composition rules (no "one digit and one symbol") and no forced rotation;
//! - Unicode normalised with NFKC first, each code point one character, so that a password typed
//!   on another keyboard or platform is the same password;
//! - refused when it is a common password (the blocklist), a repetition or a sequence
//!   (`aaaaaaaaaaaaaaaa`, `1234567890123456`), or contains a word of its context (the email's
//!   local part, the tenant's and the app's names).
//!
//! Every rule a password breaks is reported at once, in words a person understands.

use crate::secret::SecretString;
use icu_normalizer::ComposingNormalizerBorrowed;
use std::fmt;

/// The least `max_length` NIST allows.
pub const MIN_MAX_LENGTH: usize = 64;
/// Context words shorter than this are not looked for (a tenant called "ab" would refuse half of
/// all passwords).
const MIN_CONTEXT_WORD: usize = 4;

/// The rules, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The fewest characters (code points after NFKC).
    pub min_length: usize,
    /// The most characters; longer passwords are refused, never cut.
    pub max_length: usize,
}

impl PasswordPolicy {
    /// NIST's minimums: 15 characters for a password that is the only factor, 8 when MFA is
    /// enforced; at most 64.
    pub fn nist(mfa_enforced: bool) -> Self {
        Self { min_length: if mfa_enforced { 8 } else { 15 }, max_length: MIN_MAX_LENGTH }
    }
}

/// Passwords too common to allow. The shipped one is built from a public list at build time.
pub trait Blocklist {
    /// Whether this (NFKC-normalised) password is on the list; case-insensitive.
    fn contains(&self, password: &str) -> bool;
}

/// A blocklist with nothing on it.
pub struct NoBlocklist;

impl Blocklist for NoBlocklist {
    fn contains(&self, _: &str) -> bool {
        false
    }
}

/// One rule a password breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyFailure {
    /// Fewer characters than the minimum.
    TooShort {
        /// The minimum.
        min: usize,
        /// How many it has.
        actual: usize,
    },
    /// More characters than the maximum.
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// A commonly used password.
    Common,
    /// One character repeated, or a run such as `abcdef` or `987654`.
    Pattern,
    /// It contains a word of its context.
    ContainsContext {
        /// The word, as given in the context.
        word: String,
    },
}

impl PolicyFailure {
    /// A stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyFailure::TooShort { .. } => "too_short",
            PolicyFailure::TooLong { .. } => "too_long",
            PolicyFailure::Common => "common",
            PolicyFailure::Pattern => "pattern",
            PolicyFailure::ContainsContext { .. } => "contains_context",
        }
    }
}

impl fmt::Display for PolicyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyFailure::TooShort { min, actual } => {
                write!(
                    f,
                    "Use at least {min} characters (this one has {actual}). A few unrelated words make a good one."
                )
            }
            PolicyFailure::TooLong { max } => write!(f, "Use at most {max} characters."),
            PolicyFailure::Common => write!(f, "This password is too common: it is among those attackers try first."),
            PolicyFailure::Pattern => write!(f, "Avoid a repeated character or a run such as abcdef or 123456."),
            PolicyFailure::ContainsContext { word } => write!(f, "Leave out \"{word}\": it is easy to guess here."),
        }
    }
}

/// A password that passed the policy, normalised: what is hashed.
pub struct AcceptedPassword(SecretString);

impl AcceptedPassword {
    /// The normalised password's bytes, for hashing.
    pub fn expose(&self) -> &[u8] {
        self.0.expose().as_bytes()
    }
}

/// A password normalised with NFKC, as both sign-up and sign-in hash it.
pub fn normalize(password: &str) -> String {
    ComposingNormalizerBorrowed::new_nfkc().normalize(password).into_owned()
}

/// Whether the password is one character repeated, a run of consecutive characters up or down
/// (`abcd...`, `4321...`), or a short block repeated (`abcabcabc`), ignoring case.
fn is_pattern(lower: &[char]) -> bool {
    if lower.len() < 2 {
        return false;
    }
    // On a keyboard 0 follows 9: `1234567890` is a run, and so is `0987654321`.
    let step = |a: char, b: char| match (a, b) {
        ('9', '0') => 1,
        ('0', '9') => -1,
        _ => i64::from(u32::from(b)) - i64::from(u32::from(a)),
    };
    let steps: Vec<i64> = lower.windows(2).map(|pair| step(pair[0], pair[1])).collect();
    let first = steps[0];
    let one_step_run = (-1..=1).contains(&first) && steps.iter().all(|&step| step == first);
    one_step_run || is_repeated_block(lower)
}

/// `abcabcabcabc`, `passpasspass`: a block of up to 4 characters, repeated.
fn is_repeated_block(chars: &[char]) -> bool {
    (1..=4).any(|block| {
        chars.len() >= block * 3
            && chars.len().is_multiple_of(block)
            && chars.chunks(block).all(|c| c == &chars[..block])
    })
}

/// Checks a password against the policy, the blocklist and its context words; every broken rule
/// at once.
pub fn check(
    password: &str,
    policy: &PasswordPolicy,
    context: &[&str],
    blocklist: &impl Blocklist,
) -> Result<AcceptedPassword, Vec<PolicyFailure>> {
    let normalized = normalize(password);
    let length = normalized.chars().count();
    let lower = normalized.to_lowercase();
    let mut failures = Vec::new();
    if length < policy.min_length {
        failures.push(PolicyFailure::TooShort { min: policy.min_length, actual: length });
    }
    if length > policy.max_length {
        failures.push(PolicyFailure::TooLong { max: policy.max_length });
    }
    if blocklist.contains(&lower) {
        failures.push(PolicyFailure::Common);
    }
    if is_pattern(&lower.chars().collect::<Vec<char>>()) {
        failures.push(PolicyFailure::Pattern);
    }
    for word in context {
        let needle = normalize(word).to_lowercase();
        if needle.chars().count() >= MIN_CONTEXT_WORD && lower.contains(&needle) {
            failures.push(PolicyFailure::ContainsContext { word: (*word).to_owned() });
        }
    }
    if failures.is_empty() {
        Ok(AcceptedPassword(SecretString::new(normalized)))
    } else {
        Err(failures)
    }
}

#[cfg(test)]
mod tests;
