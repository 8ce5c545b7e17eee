//! Unsubscribe tokens: proof, in each subscriber's unsubscribe URL, that the URL was made by the
//! list owner for that address, so an endpoint can refuse forged requests.
//!
//! The scheme, which any endpoint can reimplement:
//!
//! ```text
//! message = list_id + "\n" + lowercase(email)        (UTF-8; list_id as in List-Id)
//! token   = base64url_without_padding(HMAC-SHA256(key, message))    (43 characters)
//! ```
//!
//! `key` is the bytes of the `NEWSLETTER_UNSUBSCRIBE_KEY` environment variable (at least 32
//! characters). Compare tokens in constant time.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{env::MIN_UNSUBSCRIBE_KEY_BYTES, secret::Secret};

/// The key tokens are made with.
#[derive(Clone, Debug)]
pub struct TokenKey {
    key: Secret<Vec<u8>>,
    /// Whether the key is a throwaway one made for a preview (tokens will not verify).
    pub(crate) throwaway: bool,
}

impl TokenKey {
    /// A key from the given bytes, or `None` if it is too short.
    pub fn new(key: Vec<u8>) -> Option<TokenKey> {
        (key.len() >= MIN_UNSUBSCRIBE_KEY_BYTES).then(|| TokenKey {
            key: Secret::new(key),
            throwaway: false,
        })
    }

    /// A random key for previews made without the real one.
    pub(crate) fn throwaway() -> TokenKey {
        let mut key = vec![0; MIN_UNSUBSCRIBE_KEY_BYTES];
        fill_random(&mut key);
        TokenKey {
            key: Secret::new(key),
            throwaway: true,
        }
    }

    fn mac(&self, list_id: &str, email: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose())
            .expect("HMAC accepts keys of any length");
        mac.update(list_id.as_bytes());
        mac.update(b"\n");
        mac.update(email.to_lowercase().as_bytes());
        mac
    }

    /// The token for `email` on the list `list_id`.
    pub fn token(&self, list_id: &str, email: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(list_id, email).finalize().into_bytes())
    }

    /// Whether `token` is the token for `email` on `list_id`, compared in constant time.
    pub fn verify(&self, list_id: &str, email: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token.trim())
            .is_ok_and(|bytes| self.mac(list_id, email).verify_slice(&bytes).is_ok())
    }
}

/// What the key is needed for: a send must use the real key; a preview or check can do with
/// a throwaway one (its tokens will not verify) when the real one is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Send,
    Preview,
}

/// Fills `bytes` from the operating system's random source.
fn fill_random(bytes: &mut [u8]) {
    use std::io::Read;
    // /dev/urandom is always present on the systems we support; fall back to the clock and
    // process id (good enough for a key that only makes previews unverifiable).
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(bytes))
        .is_err()
    {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id());
        for (index, byte) in bytes.iter_mut().enumerate() {
            *byte = seed.to_le_bytes()[index % 16];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    #[test]
    fn token_round_trips() {
        let token = key().token("bulletin.example.org", "Zoe@Example.org");
        assert_eq!(token.len(), 43);
        assert!(key().verify("bulletin.example.org", "zoe@example.org", &token));
    }

    #[test]
    fn token_for_one_address_fails_for_another() {
        let token = key().token("bulletin.example.org", "zoe@example.org");
        assert!(!key().verify("bulletin.example.org", "li@example.org", &token));
        assert!(!key().verify("other.example.org", "zoe@example.org", &token));
        assert!(!key().verify("bulletin.example.org", "zoe@example.org", "not base64!"));
    }

    #[test]
    fn known_answer() {
        // Independent check: printf 'bulletin.example.org\nzoe@example.org' |
        //   openssl dgst -sha256 -hmac 0123456789abcdef0123456789abcdef -binary | basenc --base64url (without the `=`)
        assert_eq!(
            key().token("bulletin.example.org", "zoe@example.org"),
            "UNGOyH6ca3IMz_1B97q1LgwYJsvD0W46altrkEoO5GI"
        );
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKey::new(b"short".to_vec()).is_none());
        assert!(TokenKey::throwaway().throwaway);
    }
}
