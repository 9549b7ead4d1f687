//! The shipped blocklist of common passwords: `common-passwords.bin`, built by `npm run blocklist`
//! from a public list an npm package provides (@zxcvbn-ts/language-common's 49,233 leaked
//! passwords, of which the 17,950 of 8 or more characters are kept). Each entry is the first 4
//! bytes of the SHA-256 of the password (NFKC, lower case), sorted and big-endian: 70 KiB, looked
//! up by binary search. A test in `tests/blocklist.test.mjs` rebuilds it from the package and
//! fails if the shipped file differs.

use super::policy::Blocklist;
use sha2::{Digest, Sha256};

const FILTER: &[u8] = include_bytes!("common-passwords.bin");

/// The common passwords of the shipped list.
pub struct CommonPasswords;

impl CommonPasswords {
    /// How many passwords the filter holds.
    pub fn len(&self) -> usize {
        FILTER.len() / 4
    }

    /// Whether it holds none (never, for the shipped file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(index: usize) -> u32 {
        let at = index * 4;
        FILTER.get(at..at + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl Blocklist for CommonPasswords {
    fn contains(&self, password: &str) -> bool {
        let digest = Sha256::digest(password.as_bytes());
        let wanted = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match Self::entry(middle).cmp(&wanted) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::password::policy::{check, PasswordPolicy, PolicyFailure};

    #[test]
    fn the_filter_is_sorted_and_whole() {
        assert_eq!(FILTER.len() % 4, 0);
        assert!(CommonPasswords.len() > 17_000, "{}", CommonPasswords.len());
        assert!(
            (1..CommonPasswords.len()).all(|i| CommonPasswords::entry(i - 1) < CommonPasswords::entry(i)),
            "sorted, unique"
        );
    }

    #[test]
    fn common_passwords_are_found_and_uncommon_ones_are_not() {
        for common in ["password", "12345678", "baseball", "qwertyuiop", "1qaz2wsx", "jennifer", "1qaz2wsx3edc4rfv"] {
            assert!(CommonPasswords.contains(common), "{common}");
        }
        for uncommon in ["correct horse battery staple", "plover-kettle-ninety-umbra", "", "passwor"] {
            assert!(!CommonPasswords.contains(uncommon), "{uncommon}");
        }
    }

    #[test]
    fn the_policy_refuses_a_common_password_in_any_case() {
        let policy = PasswordPolicy::nist(true);
        let found = check("BaseBall", &policy, &[], &CommonPasswords).err().unwrap_or_default();
        assert_eq!(found, vec![PolicyFailure::Common]);
        let long = check("1qaz2wsx3edc4rfv", &PasswordPolicy::nist(false), &[], &CommonPasswords);
        assert_eq!(long.err().unwrap_or_default(), vec![PolicyFailure::Common], "also at 15+ characters");
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::generative(256))]

        /// Any text is looked up without a panic.
        #[test]
        fn any_text_is_looked_up(text in "\\PC{0,80}") {
            let _ = CommonPasswords.contains(&text);
        }
    }
}
