//! Recovery codes: ten single-use codes, shown once, stored as their SHA-256 (each carries 59
//! random bits, so a fast hash suffices: there is nothing to guess offline that the rate limiter
//! does not guard online), regenerated as a set (the old set stops working).

use crate::ports::{Entropy, Unavailable};
use crate::secret::sha256_hex;
use crate::secret::SecretString;
use subtle::ConstantTimeEq;

/// How many codes a set holds.
pub const CODES_PER_SET: usize = 10;

/// The alphabet: lower-case letters and digits without the look-alikes (0/o, 1/l/i): 31 symbols,
/// so 12 of them carry 59 bits.
const ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A fresh set: the codes to show once, and what to store.
pub struct RecoverySet {
    /// `xxxx-xxxx-xxxx`, for the user to write down.
    pub shown: Vec<SecretString>,
    /// Their digests, in the same order.
    pub stored: Vec<String>,
}

impl std::fmt::Debug for RecoverySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoverySet({} codes, [redacted])", self.shown.len())
    }
}

/// A code's stored digest, from the code as a person types it (case, spaces and dashes ignored).
pub fn digest(presented: &str) -> Option<String> {
    let normalized: String =
        presented.chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_lowercase()).collect();
    let well_formed = normalized.len() == 12 && normalized.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then(|| sha256_hex(&normalized))
}

/// A new set of [`CODES_PER_SET`] codes, 12 characters (59 bits) each.
pub fn generate(entropy: &impl Entropy) -> Result<RecoverySet, Unavailable> {
    let mut shown = Vec::with_capacity(CODES_PER_SET);
    let mut stored = Vec::with_capacity(CODES_PER_SET);
    for _ in 0..CODES_PER_SET {
        let mut chars = Vec::with_capacity(12);
        while chars.len() < 12 {
            // Bytes from 248 up would make the first symbols likelier: they are drawn again.
            let [byte] = entropy.bytes::<1>()?;
            if byte < 248 {
                chars.push(ALPHABET[usize::from(byte % 31)]);
            }
        }
        let text = String::from_utf8_lossy(&chars).into_owned();
        let display = format!("{}-{}-{}", &text[..4], &text[4..8], &text[8..]);
        stored.push(digest(&display).ok_or_else(|| Unavailable("a generated code is malformed".into()))?);
        shown.push(SecretString::new(display));
    }
    Ok(RecoverySet { shown, stored })
}

/// Which stored code a presented one is (its index, to spend it), comparing every digest in
/// constant time.
pub fn find(presented: &str, stored: &[String]) -> Option<usize> {
    let wanted = digest(presented)?;
    let mut found = None;
    for (index, candidate) in stored.iter().enumerate() {
        if bool::from(candidate.as_bytes().ct_eq(wanted.as_bytes())) && found.is_none() {
            found = Some(index);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::SystemEntropy;

    #[test]
    fn a_set_has_ten_distinct_codes_each_found_once_and_only_in_its_set() {
        let set = generate(&SystemEntropy).expect("codes");
        assert_eq!((set.shown.len(), set.stored.len()), (CODES_PER_SET, CODES_PER_SET));
        for (index, code) in set.shown.iter().enumerate() {
            let text = code.expose();
            assert_eq!(text.len(), 14);
            assert_eq!(find(text, &set.stored), Some(index));
            // As typed: upper case, spaces instead of dashes.
            assert_eq!(find(&text.to_uppercase().replace('-', " "), &set.stored), Some(index));
            assert!(!set.stored[index].contains(&text.replace('-', "")), "only the digest is stored");
        }
        let mut unique = set.stored.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), CODES_PER_SET);
        // After regeneration, the old codes fail.
        let next = generate(&SystemEntropy).expect("codes");
        assert!(set.shown.iter().all(|code| find(code.expose(), &next.stored).is_none()));
        for junk in ["", "abcd-efgh-jkm", "abcd-efgh-jkmn-p", "0000-0000-0000", "abcd_efgh_jkmn"] {
            assert_eq!(find(junk, &set.stored), None, "{junk:?}");
        }
        assert_eq!(format!("{set:?}"), "RecoverySet(10 codes, [redacted])");
    }
}
