//! Local-account passwords: the policy a new password must meet ([`policy`], NIST SP 800-63B-4)
//! with the shipped list of common passwords ([`blocklist`]), hashing and verification, argon2id
//! in PHC string format with an optional pepper ([`hash`]), and the breached-password check by
//! k-anonymity ([`breach`]). The account flows ([`crate::accounts`]) build on them.

pub mod blocklist;
pub mod breach;
pub mod hash;
pub mod policy;

#[cfg(test)]
mod tests {
    /// Production Workers refuse WebCrypto PBKDF2 above 100,000 iterations while local workerd
    /// accepts any count, so a green local run would prove nothing: passwords are argon2id in
    /// wasm, and no code of the worker may derive keys with PBKDF2.
    #[test]
    fn no_worker_code_uses_webcrypto_pbkdf2() {
        fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("a source directory").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        assert!(files.len() > 100, "the walk found the sources");
        let this_file = file!().rsplit('/').next().unwrap_or_default().to_owned();
        let mut offenders = Vec::new();
        for path in files.iter().filter(|path| !path.ends_with(format!("password/{this_file}"))) {
            let text = std::fs::read_to_string(path).expect("source").to_ascii_lowercase();
            // The algorithm's name as WebCrypto takes it, or the call that would run it.
            if text.contains("\"pbkdf2\"") || text.contains("derive_bits") || text.contains("derivebits") {
                offenders.push(path.display().to_string());
            }
        }
        for shim in crate::testing::files_in("scripts", "mjs") {
            let text = std::fs::read_to_string(&shim).expect("script");
            assert!(!text.contains("PBKDF2"), "{} uses PBKDF2", shim.display());
        }
        assert!(offenders.is_empty(), "WebCrypto PBKDF2 in {offenders:?}");
        let manifest = crate::testing::repository_file("Cargo.toml");
        assert!(!manifest.contains("Pbkdf2Params"), "web-sys's PBKDF2 binding is not enabled");
    }
}
