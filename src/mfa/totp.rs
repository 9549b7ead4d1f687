//! Time-based one-time passwords (RFC 6238) over HOTP (RFC 4226): the secret, the code of a time
//! step, the check of a presented code (±1 step, constant time), and the enrolment's `otpauth://`
//! URI. Time comes in as an argument (the clock port); a matched step is returned so that the
//! caller spends it once in the ledger (RFC 6238 §5.2: a code must not be accepted twice).

use crate::ports::{Entropy, Unavailable};
use crate::secret::SecretBytes;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// The HMAC of the codes (RFC 6238 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-1, what every authenticator app speaks (the default).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    fn uri_name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// How codes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC.
    pub algorithm: Algorithm,
    /// Digits per code (6 to 8).
    pub digits: u32,
    /// Seconds per step.
    pub step_s: u64,
}

impl Default for TotpParams {
    /// What authenticator apps assume without being told: SHA-1, 6 digits, 30 s.
    fn default() -> Self {
        Self { algorithm: Algorithm::Sha1, digits: 6, step_s: 30 }
    }
}

/// The secret's length: 160 bits, RFC 4226 §4's recommendation (and the HMAC-SHA-1 block's).
pub const SECRET_BYTES: usize = 20;

/// A new secret from the entropy port.
pub fn new_secret(entropy: &impl Entropy) -> Result<SecretBytes, Unavailable> {
    Ok(SecretBytes::new(entropy.bytes::<SECRET_BYTES>()?.to_vec()))
}

/// The secret as the enrolment page shows it: base32 (RFC 4648) without padding, in groups of 4.
pub fn display_secret(secret: &SecretBytes) -> String {
    let encoded = data_encoding::BASE32_NOPAD.encode(secret.expose());
    encoded.as_bytes().chunks(4).map(|chunk| String::from_utf8_lossy(chunk).into_owned()).collect::<Vec<_>>().join(" ")
}

fn hmac_of(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so these cannot fail.
    match algorithm {
        Algorithm::Sha1 => {
            let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut mac = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

/// The HOTP value of a counter (RFC 4226 §5.3: dynamic truncation), as `digits` decimal digits.
pub fn hotp(secret: &SecretBytes, counter: u64, algorithm: Algorithm, digits: u32) -> String {
    let mac = hmac_of(algorithm, secret.expose(), &counter.to_be_bytes());
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    let digits = digits.clamp(6, 8);
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// The time step of a moment (RFC 6238 §4.2, T0 = 0).
pub fn step_at(now_s: u64, params: &TotpParams) -> u64 {
    now_s / params.step_s.max(1)
}

/// The code of the step `now_s` falls in.
pub fn code_at(secret: &SecretBytes, now_s: u64, params: &TotpParams) -> String {
    hotp(secret, step_at(now_s, params), params.algorithm, params.digits)
}

/// The step a presented code matches, among the current one and its neighbours (±1 step, RFC
/// 6238 §5.2's allowance for clock drift and typing time). Every candidate is compared, in
/// constant time. Spaces are ignored (apps show `123 456`); anything but digits matches nothing.
pub fn matching_step(secret: &SecretBytes, presented: &str, now_s: u64, params: &TotpParams) -> Option<u64> {
    let digits: String = presented.chars().filter(|c| *c != ' ').collect();
    let wanted = params.digits.clamp(6, 8) as usize;
    if digits.len() != wanted || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now_s, params);
    let mut matched = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = hotp(secret, step, params.algorithm, params.digits);
        if bool::from(expected.as_bytes().ct_eq(digits.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// The ledger id that spends a user's step once.
pub fn step_once_id(user_id: &str, step: u64) -> String {
    format!("totp:{user_id}:{step}")
}

/// The enrolment URI that authenticator apps read from the QR code (Google Authenticator's Key
/// URI format): `otpauth://totp/Issuer:account?secret=...&issuer=...`.
pub fn otpauth_uri(secret: &SecretBytes, issuer: &str, account: &str, params: &TotpParams) -> String {
    let encode =
        |text: &str| percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string();
    let secret = data_encoding::BASE32_NOPAD.encode(secret.expose());
    format!(
        "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm={}&digits={}&period={}",
        encode(issuer),
        encode(account),
        encode(issuer),
        params.algorithm.uri_name(),
        params.digits,
        params.step_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 6238 Appendix B: the seeds are the ASCII strings "1234567890" repeated to the HMAC's
    /// key length, 8 digits, 30 s steps.
    #[test]
    fn rfc_6238_appendix_b_vectors() {
        let seed = |len: usize| SecretBytes::new(b"1234567890".iter().cycle().take(len).copied().collect());
        let cases: &[(u64, &str, &str, &str)] = &[
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in cases {
            for (algorithm, len, expected) in
                [(Algorithm::Sha1, 20, sha1), (Algorithm::Sha256, 32, sha256), (Algorithm::Sha512, 64, sha512)]
            {
                let params = TotpParams { algorithm, digits: 8, step_s: 30 };
                assert_eq!(code_at(&seed(len), *time, &params), **expected, "{algorithm:?} at {time}");
            }
        }
    }

    /// RFC 4226 Appendix D: HOTP of the counters 0 to 9, 6 digits.
    #[test]
    fn rfc_4226_appendix_d_vectors() {
        let secret = SecretBytes::new(b"12345678901234567890".to_vec());
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(&secret, counter as u64, Algorithm::Sha1, 6), *code, "counter {counter}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = SecretBytes::new(b"12345678901234567890".to_vec());
        let params = TotpParams::default();
        let now = 1_700_000_015;
        let step = step_at(now, &params);
        let code = |step: u64| hotp(&secret, step, Algorithm::Sha1, 6);
        let cases = [
            (code(step), Some(step)),
            (code(step - 1), Some(step - 1)),
            (code(step + 1), Some(step + 1)),
            (code(step - 2), None),
            (code(step + 2), None),
            (format!("{} {}", &code(step)[..3], &code(step)[3..]), Some(step)),
            ("12345".to_owned(), None),
            ("1234567".to_owned(), None),
            ("12345a".to_owned(), None),
            ("".to_owned(), None),
            ("１２３４５６".to_owned(), None),
        ];
        for (presented, expected) in cases {
            let matched = matching_step(&secret, &presented, now, &params);
            // A neighbour's code may equal this step's by chance (1 in a million): the step found
            // is then the first of them, still a real match.
            if presented == code(step) || expected.is_none() {
                assert_eq!(matched.is_some(), expected.is_some(), "{presented:?}");
            } else {
                assert_eq!(matched, expected, "{presented:?}");
            }
        }
        assert_eq!(step_once_id("usr_a", 7), "totp:usr_a:7");
    }

    #[test]
    fn enrolment_shows_the_secret_in_base32_and_an_otpauth_uri() {
        let secret = SecretBytes::new(b"12345678901234567890".to_vec());
        assert_eq!(display_secret(&secret), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
        let uri = otpauth_uri(&secret, "Acme Cloud", "ann@acme.test", &TotpParams::default());
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Cloud:ann%40acme%2Etest?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Cloud&algorithm=SHA1&digits=6&period=30"
        );
        let entropy = crate::ports::SystemEntropy;
        assert_ne!(new_secret(&entropy).unwrap(), new_secret(&entropy).unwrap());
        assert_eq!(new_secret(&entropy).unwrap().len(), SECRET_BYTES);
    }

    proptest! {
        #![proptest_config(crate::testing::generative(256))]
        #[test]
        fn arbitrary_input_never_panics_and_only_the_window_matches(presented in "\\PC{0,12}", now in 0u64..4_000_000_000) {
            let secret = SecretBytes::new(b"12345678901234567890".to_vec());
            let params = TotpParams::default();
            if let Some(step) = matching_step(&secret, &presented, now, &params) {
                let current = step_at(now, &params);
                prop_assert!(step + 1 >= current && step <= current + 1);
                prop_assert_eq!(hotp(&secret, step, Algorithm::Sha1, 6), presented.replace(' ', ""));
            }
        }

        /// A changed code (any digit altered) is never accepted for the step it came from.
        #[test]
        fn a_mutated_code_is_refused(now in 0u64..4_000_000_000, position in 0usize..6, bump in 1u8..10) {
            let secret = SecretBytes::new(b"12345678901234567890".to_vec());
            let params = TotpParams::default();
            let mut code = code_at(&secret, now, &params).into_bytes();
            code[position] = b'0' + (code[position] - b'0' + bump) % 10;
            let mutated = String::from_utf8(code).unwrap();
            let current = step_at(now, &params);
            let matched = matching_step(&secret, &mutated, now, &params);
            // It may only match a neighbouring step whose own code it happens to be.
            prop_assert!(matched.is_none_or(|step| step != current && hotp(&secret, step, Algorithm::Sha1, 6) == mutated));
        }
    }
}
