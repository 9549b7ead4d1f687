//! Request ids from the platform CSPRNG (Web Crypto on Workers, the OS on the host); other
//! randomness comes through [`crate::ports::Entropy`].

/// A fresh 128-bit request id, as 32 lower-case hex digits.
pub fn request_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_32_hex_digits_and_distinct() {
        let a = super::request_id().unwrap();
        let b = super::request_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
