//! Device cookies (OWASP's answer to lock-out by strangers): a browser that once signed in to an
//! account gets a cookie that names it, bound to that account by an HMAC under the login secret.
//! Its sign-ins are throttled on a counter of their own, so an attacker who locks the email from
//! elsewhere (ten wrong passwords from anywhere) does not lock its owner out of a known browser.
//! A browser without one (or with another account's) counts on the email's shared counter.

use crate::secret::SecretBytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name (`__Host-`: Secure, Path=/, no Domain); never forwarded to the origin.
pub use crate::session::DEVICE_COOKIE_NAME as COOKIE_NAME;
/// How long a device stays known.
pub const LIFETIME_S: u64 = 365 * 86_400;

/// The account a device cookie is bound to: the user, and its password as of when the cookie was
/// made (a reset or change voids every device cookie, so a stolen one does not outlive it).
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The directory user.
    pub user_id: &'a str,
    /// When its password last changed.
    pub password_changed_at_ms: u64,
}

fn mac(key: &SecretBytes, id: &str, binding: Binding<'_>) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).unwrap_or_else(|_| unreachable!());
    let Binding { tenant, user_id, password_changed_at_ms } = binding;
    mac.update(format!("portcullis-device.{id}\n{tenant}\n{user_id}\n{password_changed_at_ms}").as_bytes());
    URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16])
}

/// The cookie's value for a device id (16 random bytes) and the account it signed in to.
pub fn value(key: &SecretBytes, id_bytes: &[u8; 16], binding: Binding<'_>) -> String {
    let id = URL_SAFE_NO_PAD.encode(id_bytes);
    let tag = mac(key, &id, binding);
    format!("{id}.{tag}")
}

/// The `Set-Cookie` line.
pub fn set_cookie(value: &str) -> String {
    format!("{COOKIE_NAME}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={LIFETIME_S}")
}

/// The device id, when the presented value is a device cookie of this account (and password).
pub fn recognise(key: &SecretBytes, presented: &str, binding: Binding<'_>) -> Option<String> {
    let (id, tag) = presented.split_once('.')?;
    let well_formed = id.len() == 22 && URL_SAFE_NO_PAD.decode(id).is_ok_and(|bytes| bytes.len() == 16);
    if !well_formed {
        return None;
    }
    let expected = mac(key, id, binding);
    bool::from(expected.as_bytes().ct_eq(tag.as_bytes())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_names_its_account_only() {
        let key = SecretBytes::new(b"login secret for tests, 32 bytes!!".to_vec());
        let ann = Binding { tenant: "acme", user_id: "usr_ann", password_changed_at_ms: 100 };
        let cookie = value(&key, &[7; 16], ann);
        assert!(recognise(&key, &cookie, ann).is_some());
        let refused = [
            recognise(&key, &cookie, Binding { user_id: "usr_bob", ..ann }),
            recognise(&key, &cookie, Binding { tenant: "other", ..ann }),
            // The password changed since: every device cookie of the account is void.
            recognise(&key, &cookie, Binding { password_changed_at_ms: 200, ..ann }),
            recognise(&SecretBytes::new(b"another key".to_vec()), &cookie, ann),
            recognise(&key, &cookie.replace('.', ""), ann),
            recognise(&key, &format!("{}x", cookie), ann),
            recognise(&key, "", ann),
        ];
        assert!(refused.iter().all(Option::is_none), "{refused:?}");
        assert!(set_cookie(&cookie).starts_with("__Host-portcullis-device=") && set_cookie(&cookie).contains("Secure"));
    }
}
