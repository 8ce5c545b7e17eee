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
//!
//! An address in a URL leaks into proxy logs and referrers, so a URL can carry an opaque id
//! (`{id}`) instead of `{email}`: the address encrypted deterministically (a synthetic-IV
//! construction built from HMAC-SHA256 alone, so any endpoint can reimplement it):
//!
//! ```text
//! siv_key    = HMAC-SHA256(key, "newsletter unsubscribe id: siv")
//! stream_key = HMAC-SHA256(key, "newsletter unsubscribe id: stream")
//! address    = lowercase(email)                                     (UTF-8)
//! siv        = first 16 bytes of HMAC-SHA256(siv_key, list_id + "\n" + address)
//! stream     = HMAC-SHA256(stream_key, siv + u32_be(0)) + HMAC-SHA256(stream_key, siv + u32_be(1)) + …
//! id         = base64url_without_padding(siv + (address XOR stream))
//! ```
//!
//! To open an id: decode it, XOR the rest with the stream made from its first 16 bytes, and
//! accept the address only if the `siv` computed from it equals those 16 bytes (compared in
//! constant time). The `siv` authenticates the address and binds it to the list, so a forged,
//! truncated or other list's id opens to nothing. The same address always gets the same id.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{env::MIN_UNSUBSCRIBE_KEY_BYTES, input::list::UrlTemplate, secret::Secret};

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

    /// A key for one purpose, derived from the unsubscribe key.
    fn derived(&self, purpose: &str) -> Hmac<Sha256> {
        let mut derive = Hmac::<Sha256>::new_from_slice(self.key.expose())
            .expect("HMAC accepts keys of any length");
        derive.update(purpose.as_bytes());
        Hmac::<Sha256>::new_from_slice(&derive.finalize().into_bytes())
            .expect("HMAC accepts keys of any length")
    }

    fn siv(&self, list_id: &str, address: &str) -> Hmac<Sha256> {
        let mut mac = self.derived(ID_SIV_PURPOSE);
        mac.update(list_id.as_bytes());
        mac.update(b"\n");
        mac.update(address.as_bytes());
        mac
    }

    /// XORs `bytes` with the key stream of `siv`.
    fn apply_stream(&self, siv: &[u8], bytes: &mut [u8]) {
        let stream_key = self.derived(ID_STREAM_PURPOSE);
        for (counter, chunk) in (0u32..).zip(bytes.chunks_mut(32)) {
            let mut block = stream_key.clone();
            block.update(siv);
            block.update(&counter.to_be_bytes());
            for (byte, pad) in chunk.iter_mut().zip(block.finalize().into_bytes()) {
                *byte ^= pad;
            }
        }
    }

    /// The opaque id of `email` on `list_id` (see the module documentation).
    pub fn id(&self, list_id: &str, email: &str) -> String {
        let address = email.trim().to_lowercase();
        let siv = self.siv(list_id, &address).finalize().into_bytes();
        let mut bytes = siv[..ID_SIV_BYTES].to_vec();
        let mut sealed = address.into_bytes();
        self.apply_stream(&bytes, &mut sealed);
        bytes.extend(sealed);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The address an id made by [`TokenKey::id`] for `list_id` stands for, or `None` if the
    /// id was not made with this key for this list.
    pub fn open_id(&self, list_id: &str, id: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(id.trim()).ok()?;
        if bytes.len() <= ID_SIV_BYTES || bytes.len() > ID_SIV_BYTES + MAX_ID_ADDRESS_BYTES {
            return None;
        }
        let (siv, sealed) = bytes.split_at(ID_SIV_BYTES);
        let mut address = sealed.to_vec();
        self.apply_stream(siv, &mut address);
        let address = String::from_utf8(address).ok()?;
        self.siv(list_id, &address)
            .verify_truncated_left(siv)
            .is_ok()
            .then_some(address)
    }

    /// Whether `token` is the token for `email` on `list_id`, compared in constant time.
    pub fn verify(&self, list_id: &str, email: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token.trim())
            .is_ok_and(|bytes| self.mac(list_id, email).verify_slice(&bytes).is_ok())
    }
}

const ID_SIV_PURPOSE: &str = "newsletter unsubscribe id: siv";
const ID_STREAM_PURPOSE: &str = "newsletter unsubscribe id: stream";
/// The length of the synthetic IV at the start of an id.
const ID_SIV_BYTES: usize = 16;
/// The longest address an id may hold (RFC 5321's limit on a path, with room for UTF-8).
const MAX_ID_ADDRESS_BYTES: usize = 1024;

/// Who a request for the unsubscribe URL of `template` unsubscribes, given the placeholder
/// values read from it, or `None` if the values do not prove it: the list (if the URL names
/// it) must be `list_id`, an `{id}` must open and an `{email}` must match it, and a URL with a
/// `{token}` must carry the address's token. A URL with neither `{token}` nor `{id}` proves
/// nothing. Which check failed is not said, on purpose.
pub(crate) fn verify_request(
    key: &TokenKey,
    list_id: &str,
    template: &UrlTemplate,
    values: &[(&str, String)],
) -> Option<String> {
    let value = |name: &str| {
        values
            .iter()
            .find(|(given, _)| *given == name)
            .map(|(_, value)| value.as_str())
    };
    if template.uses("list") && value("list")? != list_id {
        return None;
    }
    let from_id = if template.uses("id") {
        Some(key.open_id(list_id, value("id")?)?)
    } else {
        None
    };
    let address = match (from_id, template.uses("email")) {
        (Some(address), false) => address,
        (Some(address), true) if value("email")?.trim().eq_ignore_ascii_case(&address) => address,
        (Some(_), true) => return None,
        (None, _) => value("email")?.trim().to_lowercase(),
    };
    if template.uses("token") {
        key.verify(list_id, &address, value("token")?)
            .then_some(address)
    } else if template.uses("id") {
        Some(address)
    } else {
        None
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
    fn id_opens_to_the_address_on_its_list_only() {
        let id = key().id("bulletin.example.org", "Zoe@Example.org");
        assert!(!id.contains("zoe") && !id.contains('@'));
        assert_eq!(id, key().id("bulletin.example.org", "zoe@example.org"));
        assert_eq!(
            key().open_id("bulletin.example.org", &id).as_deref(),
            Some("zoe@example.org")
        );
        assert_eq!(key().open_id("other.example.org", &id), None);
        let other_key = TokenKey::new(b"another key, also 32 bytes long!!".to_vec()).unwrap();
        assert_eq!(other_key.open_id("bulletin.example.org", &id), None);
        assert_eq!(
            key().open_id("bulletin.example.org", &id[..id.len() - 2]),
            None
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&id).unwrap();
        *forged.last_mut().unwrap() ^= 1;
        let forged = URL_SAFE_NO_PAD.encode(forged);
        assert_eq!(key().open_id("bulletin.example.org", &forged), None);
        assert_eq!(key().open_id("bulletin.example.org", ""), None);
        assert_eq!(key().open_id("bulletin.example.org", "!!"), None);
    }

    #[test]
    fn id_known_answer() {
        // Pins the scheme the README documents; a change here breaks every URL already sent.
        assert_eq!(
            key().id("bulletin.example.org", "zoe@example.org"),
            KNOWN_ID
        );
    }

    // Independently computed with Python's hmac module from the scheme in the module docs.
    const KNOWN_ID: &str = "rrWbYlvFVpc-9q0cmOfeCw8_ZLdbPLzqtbvnLpuHDQ";

    #[test]
    fn requests_prove_the_address_only_with_a_valid_token_or_id() {
        let list = "bulletin.example.org";
        let both: UrlTemplate = "https://e.org/u?list={list}&id={id}&token={token}"
            .parse()
            .unwrap();
        let id = key().id(list, "zoe@example.org");
        let token = key().token(list, "zoe@example.org");
        let values = |list: &str, id: &str, token: &str| {
            vec![
                ("list", list.to_owned()),
                ("id", id.to_owned()),
                ("token", token.to_owned()),
            ]
        };
        assert_eq!(
            verify_request(&key(), list, &both, &values(list, &id, &token)).as_deref(),
            Some("zoe@example.org")
        );
        assert_eq!(
            verify_request(&key(), list, &both, &values("other.org", &id, &token)),
            None
        );
        assert_eq!(
            verify_request(&key(), list, &both, &values(list, &id, &token[1..])),
            None
        );
        let li = key().id(list, "li@example.org");
        assert_eq!(
            verify_request(&key(), list, &both, &values(list, &li, &token)),
            None
        );
        assert_eq!(
            verify_request(&key(), list, &both, &values(list, &id, "")[..2]),
            None
        );

        let plain: UrlTemplate = "https://e.org/u?e={email}&t={token}".parse().unwrap();
        let values = vec![
            ("email", "Zoe@Example.org".to_owned()),
            ("token", token.clone()),
        ];
        assert_eq!(
            verify_request(&key(), list, &plain, &values).as_deref(),
            Some("zoe@example.org")
        );
        let unsigned: UrlTemplate = "https://e.org/u?e={email}".parse().unwrap();
        assert_eq!(verify_request(&key(), list, &unsigned, &values[..1]), None);
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKey::new(b"short".to_vec()).is_none());
        assert!(TokenKey::throwaway().throwaway);
    }
}
