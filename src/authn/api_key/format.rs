//! The API key format: `<prefix>_<id>_<secret><checksum>`.
//!
//! - `prefix`: per environment, such as `pk_live` or `pk_test`, so secret scanners (and people)
//!   recognise a leaked key and where it works;
//! - `id`: 12 base62 characters (71 bits), the public handle the key is stored under;
//! - `secret`: 24 base62 characters from the CSPRNG (142 bits);
//! - `checksum`: 6 base62 characters of CRC-32 over `<prefix>_<id>_<secret>`, so a typo or a
//!   truncated paste is refused without a store lookup (the scheme GitHub's tokens use).

use crate::secret::SecretBytes;
use std::fmt;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the id part.
pub const ID_LEN: usize = 12;
/// Length of the secret part.
pub const SECRET_LEN: usize = 24;
/// Length of the checksum.
pub const CHECKSUM_LEN: usize = 6;

/// Why a string is not a well-formed API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Not `<prefix>_<id>_<secret><checksum>` with base62 parts of the right lengths.
    Malformed,
    /// The prefix is not this deployment's.
    WrongPrefix,
    /// The checksum does not match: a typo or a truncated key.
    BadChecksum,
}

/// A well-formed API key, split into its parts. The secret part never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedKey {
    /// The key id.
    pub id: String,
    /// The secret part.
    pub secret: SecretBytes,
}

impl fmt::Debug for ParsedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey").field("id", &self.id).field("secret", &self.secret).finish()
    }
}

fn is_base62(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a prefix is acceptable: lower-case letters and digits in `_`-separated words, at most
/// 16 characters, starting with a letter.
pub fn valid_prefix(prefix: &str) -> bool {
    prefix.len() <= 16
        && prefix
            .split('_')
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && prefix.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

fn checksum(body: &str) -> String {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Turns random bytes into base62 characters without modulo bias (rejection sampling); returns
/// `None` when the bytes ran out first.
fn base62_from(random: &mut impl Iterator<Item = u8>, len: usize) -> Option<String> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let byte = random.next()?;
        // 248 = 4 * 62: bytes at or above it would favour the first characters.
        if byte < 248 {
            out.push(ALPHABET[(byte % 62) as usize] as char);
        }
    }
    Some(out)
}

/// Builds a key from random bytes (at least 64 are needed; more is fine). Returns the full key
/// and its id, or `None` when the bytes did not suffice.
pub fn compose(prefix: &str, random: &[u8]) -> Option<(String, String)> {
    let mut bytes = random.iter().copied();
    let id = base62_from(&mut bytes, ID_LEN)?;
    let secret = base62_from(&mut bytes, SECRET_LEN)?;
    let body = format!("{prefix}_{id}_{secret}");
    let key = format!("{body}{}", checksum(&body));
    Some((key, id))
}

/// Parses a presented key for this deployment's prefix.
pub fn parse(prefix: &str, key: &str) -> Result<ParsedKey, FormatError> {
    let (rest, tail) = key.rsplit_once('_').ok_or(FormatError::Malformed)?;
    let (key_prefix, id) = rest.rsplit_once('_').ok_or(FormatError::Malformed)?;
    if tail.len() != SECRET_LEN + CHECKSUM_LEN || id.len() != ID_LEN || !is_base62(tail) || !is_base62(id) {
        return Err(FormatError::Malformed);
    }
    if key_prefix != prefix {
        return Err(FormatError::WrongPrefix);
    }
    let (secret, sum) = tail.split_at(SECRET_LEN);
    if checksum(&format!("{key_prefix}_{id}_{secret}")) != sum {
        return Err(FormatError::BadChecksum);
    }
    Ok(ParsedKey { id: id.to_owned(), secret: SecretBytes::new(secret.as_bytes().to_vec()) })
}

/// Whether a credential looks like one of this deployment's API keys (cheap; no checksum).
pub fn has_prefix(prefix: &str, credential: &str) -> bool {
    credential.len() > prefix.len() && credential.starts_with(prefix) && credential.as_bytes()[prefix.len()] == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (String, String) {
        let random: Vec<u8> = (0..200u16).map(|i| (i.wrapping_mul(97) % 251) as u8).collect();
        compose("pk_test", &random).unwrap()
    }

    #[test]
    fn keys_round_trip() {
        let (key, id) = key();
        assert!(key.starts_with("pk_test_"));
        assert_eq!(key.len(), "pk_test_".len() + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN);
        let parsed = parse("pk_test", &key).unwrap();
        assert_eq!(parsed.id, id);
        assert_eq!(parsed.secret.len(), SECRET_LEN);
        assert!(format!("{parsed:?}").contains("[redacted]"));
        assert!(!format!("{parsed:?}").contains(&key[key.len() - 30..key.len() - 6]));
    }

    #[test]
    fn corrupted_keys_are_refused_without_a_lookup() {
        let (key, _) = key();
        let flip = |index: usize| {
            let mut bytes = key.clone().into_bytes();
            bytes[index] = if bytes[index] == b'a' { b'b' } else { b'a' };
            String::from_utf8(bytes).unwrap()
        };
        let cases: Vec<(String, FormatError)> = vec![
            (flip(key.len() - 10), FormatError::BadChecksum), // a typo in the secret
            (flip(10), FormatError::BadChecksum),             // a typo in the id
            (flip(key.len() - 1), FormatError::BadChecksum),  // a typo in the checksum
            (key[..key.len() - 1].to_owned(), FormatError::Malformed), // truncated
            (format!("{key}x"), FormatError::Malformed),      // extended
            (key.replacen("pk_test", "pk_live", 1), FormatError::WrongPrefix),
            (key.replace('_', "-"), FormatError::Malformed),
            ("pk_test_short_key".to_owned(), FormatError::Malformed),
            (String::new(), FormatError::Malformed),
            (format!("{}é{}", &key[..20], &key[21..]), FormatError::Malformed),
        ];
        for (candidate, expected) in cases {
            assert_eq!(parse("pk_test", &candidate), Err(expected), "{candidate}");
        }
    }

    #[test]
    fn random_bytes_are_used_without_bias_and_can_run_out() {
        assert!(compose("pk_test", &[255; 100]).is_none(), "bytes >= 248 are rejected, so this runs out");
        assert!(compose("pk_test", &[7; 35]).is_none(), "36 accepted bytes are needed");
        assert!(compose("pk_test", &[7; 36]).is_some());
    }

    #[test]
    fn prefixes_table() {
        for good in ["pk_live", "pk_test", "sk", "acme_prod_2"] {
            assert!(valid_prefix(good), "{good}");
        }
        for bad in ["", "PK_live", "pk__live", "_pk", "pk_", "9pk", "pk-live", "a_very_long_prefix_x"] {
            assert!(!valid_prefix(bad), "{bad}");
        }
        assert!(has_prefix("pk_test", "pk_test_abc"));
        assert!(!has_prefix("pk_test", "pk_testx_abc"));
        assert!(!has_prefix("pk_test", "pk_test"));
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::generative(256))]

        /// Any text is parsed or refused, never a panic; what parses is exactly what was composed.
        #[test]
        fn arbitrary_text_is_parsed_or_refused(text in "\\PC{0,120}|pk_test_[A-Za-z0-9_-]{0,90}") {
            if let Ok(parsed) = parse("pk_test", &text) {
                proptest::prop_assert!(text.starts_with("pk_test_"));
                proptest::prop_assert_eq!(parsed.secret.len(), SECRET_LEN);
            }
        }

        /// Any composed key round-trips, and any single changed character is refused before a
        /// lookup (the checksum), so no typo ever reaches the key store.
        #[test]
        fn no_changed_character_of_a_key_is_accepted(
            random in proptest::collection::vec(0u8..248, 36..64),
            position in proptest::prelude::any::<proptest::sample::Index>(),
            replacement in proptest::prelude::any::<char>(),
        ) {
            let (key, id) = compose("pk_test", &random).expect("enough unbiased bytes");
            proptest::prop_assert_eq!(parse("pk_test", &key).map(|parsed| parsed.id), Ok(id));
            let mut chars: Vec<char> = key.chars().collect();
            let at = position.index(chars.len());
            proptest::prop_assume!(chars[at] != replacement);
            chars[at] = replacement;
            let changed: String = chars.into_iter().collect();
            proptest::prop_assert!(parse("pk_test", &changed).is_err(), "{} was accepted", changed);
        }
    }
}
