//! DKIM signatures (RFC 6376) for outgoing messages, made with lettre when the list file names
//! a selector and a private key is given (`--dkim-key`, or `NEWSLETTER_DKIM_KEY_FILE`).
//!
//! The signature covers `From`, `To`, `Subject`, `Date`, `Message-ID`, `List-Id`,
//! `List-Unsubscribe`, `List-Unsubscribe-Post` (so the one-click unsubscribe cannot be altered
//! in transit), `Reply-To` and `MIME-Version`, with relaxed/relaxed canonicalization. (lettre
//! writes a multipart message's `Content-Type` with the body, after signing, so it cannot be
//! covered; the body hash covers the parts.) Keys: RSA in PKCS#1 or PKCS#8 PEM (`openssl genpkey -algorithm rsa`), or
//! Ed25519 in PKCS#8 PEM (`openssl genpkey -algorithm ed25519`).

use std::path::Path;

use crate::error::Error;
use base64::{Engine, engine::general_purpose::STANDARD};
use lettre::message::{
    Message,
    dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    },
    header::HeaderName,
};

/// The headers every signature covers.
pub(crate) const SIGNED_HEADERS: [&str; 10] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
    "MIME-Version",
];

/// Signs messages with one key.
#[derive(Debug)]
pub(crate) struct Signer {
    config: DkimConfig,
}

impl Signer {
    /// Reads the private key at `key_file` for `selector` and `domain`.
    pub(crate) fn load(key_file: &Path, selector: &str, domain: &str) -> Result<Signer, Error> {
        let pem = std::fs::read_to_string(key_file).map_err(|source| Error::Read {
            path: key_file.to_owned(),
            source,
        })?;
        let (key, algorithm) = signing_key(&pem).map_err(|reason| Error::DkimKey {
            path: key_file.to_owned(),
            reason,
        })?;
        let key = DkimSigningKey::new(&key, algorithm).map_err(|error| Error::DkimKey {
            path: key_file.to_owned(),
            reason: error.to_string(),
        })?;
        let headers = SIGNED_HEADERS
            .iter()
            .map(|name| HeaderName::new_from_ascii_str(name))
            .collect();
        let config = DkimConfig::new(
            selector.to_owned(),
            domain.to_owned(),
            key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(Signer { config })
    }

    /// Adds a `DKIM-Signature` header to `message`.
    pub(crate) fn sign(&self, message: &mut Message) {
        message.sign(&self.config);
    }
}

/// The DER object identifier of Ed25519 inside a PKCS#8 private key (RFC 8410).
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Turns a PEM private key into what lettre takes: PKCS#1 PEM for RSA, the base64 seed for
/// Ed25519. Error messages never contain key material.
fn signing_key(pem: &str) -> Result<(String, DkimSigningAlgorithm), String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;

    if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        return Ok((pem.to_owned(), DkimSigningAlgorithm::Rsa));
    }
    if !pem.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(
            "it is not a PEM private key (`BEGIN PRIVATE KEY` or `BEGIN RSA PRIVATE KEY`)".into(),
        );
    }
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(body.trim())
        .map_err(|_| "its PEM body is not valid base64".to_owned())?;
    if der.len() == 48 && der.starts_with(&ED25519_PKCS8_PREFIX) {
        return Ok((STANDARD.encode(&der[16..]), DkimSigningAlgorithm::Ed25519));
    }
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .map_err(|_| "it is neither an RSA nor an Ed25519 PKCS#8 key".to_owned())?;
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
        .map_err(|_| "the RSA key cannot be re-encoded".to_owned())?;
    Ok((pkcs1.to_string(), DkimSigningAlgorithm::Rsa))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_keys_are_refused_without_echoing_them() {
        let error = signing_key("hunter2 secret").unwrap_err();
        assert!(!error.contains("hunter2"));
        let error = signing_key("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
        assert!(error.contains("base64"), "{error}");
    }

    #[test]
    fn ed25519_pkcs8_becomes_its_seed() {
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend([7u8; 32]);
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(&der)
        );
        let (key, algorithm) = signing_key(&pem).unwrap();
        assert!(matches!(algorithm, DkimSigningAlgorithm::Ed25519));
        assert_eq!(STANDARD.decode(key).unwrap(), [7u8; 32]);
    }
}
