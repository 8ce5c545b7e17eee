//! Builds the exact email one subscriber receives: headers and a multipart/alternative body
//! (text first, HTML last), both parts quoted-printable (7-bit safe for any relay). An issue
//! with image files (and no `assets_url`) carries them with the HTML part:
//! `multipart/alternative { text/plain, multipart/related { text/html, image/* … } }`, each
//! image a base64 part with the `Content-ID` the HTML's `cid:` URLs name, encoded once per
//! issue. Preview, check, dry run and send all build messages here, so what a
//! preview shows is byte for byte what is sent (but for `Date` and the MIME boundary).

use std::{sync::Arc, time::SystemTime};

use lettre::{
    Message,
    address::Envelope,
    message::{
        Body, Mailbox, MultiPart, SinglePart,
        header::{
            ContentDisposition, ContentId, ContentTransferEncoding, ContentType, Header,
            HeaderName, HeaderValue,
        },
    },
};
use sha2::{Digest, Sha256};

use crate::{
    compose::render::{Encoded, Personal},
    compose::{dkim::Signer, encoded_words},
    error::Error,
    input::images::ImageFile,
    input::issue::Issue,
    input::subscribers::Subscriber,
};

/// A message ready to send: its envelope, its bytes, and its `Message-ID`.
#[derive(Debug, Clone)]
pub struct Built {
    pub(crate) envelope: Envelope,
    pub bytes: Vec<u8>,
    pub(crate) message_id: String,
}

/// What every message of an issue shares, computed once.
#[derive(Debug, Clone)]
pub(crate) struct Composer {
    from: Mailbox,
    /// `MAIL FROM`: the list's `bounce_address`, or the `From` address.
    envelope_sender: lettre::Address,
    reply_to: Option<Mailbox>,
    list_id: String,
    unsubscribe_mailto: Option<String>,
    /// The subject as written (placeholders in braces), for summaries.
    subject: String,
    /// `[TEST] ` for a test send, before each message's subject.
    subject_prefix: &'static str,
    /// `slug.content-hash`: the part of every `Message-ID` that names the issue.
    message_id_stem: String,
    message_id_domain: String,
    user_agent: String,
    signer: Option<Arc<Signer>>,
    /// The image files every message carries, encoded once.
    inline_images: Arc<[InlineImage]>,
}

/// An image file as a part of the message, encoded once per issue.
#[derive(Debug)]
pub(crate) struct InlineImage {
    content_id: String,
    content_type: ContentType,
    file_name: String,
    /// The bytes in base64, in lines of 76 characters with CRLF ends.
    encoded: Vec<u8>,
}

impl InlineImage {
    pub(crate) fn new(file: &ImageFile, domain: &str) -> InlineImage {
        let mut encoded =
            String::with_capacity(email_encoding::body::base64::encoded_len(file.bytes.len()));
        // Writing to a String cannot fail.
        let _ = email_encoding::body::base64::encode(&file.bytes, &mut encoded);
        InlineImage {
            content_id: file.content_id(domain),
            content_type: ContentType::parse(file.kind.mime())
                .expect("an image type is a valid content type"),
            file_name: file.file_name(),
            encoded: encoded.into_bytes(),
        }
    }

    /// The `Content-ID`, without angle brackets.
    pub(crate) fn content_id(&self) -> &str {
        &self.content_id
    }

    fn part(&self) -> SinglePart {
        SinglePart::builder()
            .header(self.content_type.clone())
            .header(ContentDisposition::inline_with_name(&self.file_name))
            .header(ContentId::from(format!("<{}>", self.content_id)))
            .body(Body::dangerous_pre_encoded(
                self.encoded.clone(),
                ContentTransferEncoding::Base64,
            ))
    }
}

impl Composer {
    pub(crate) fn new(issue: &Issue, signer: Option<Arc<Signer>>) -> Composer {
        let list = &issue.list.file;
        let from = Mailbox::new(
            Some(list.from.name.to_string()),
            list.from.address.address().clone(),
        );
        let reply_to = list
            .reply_to
            .as_ref()
            .map(|address| Mailbox::new(None, address.address().clone()));
        let envelope_sender = list
            .bounce_address
            .as_ref()
            .map_or_else(|| from.email.clone(), |address| address.address().clone());
        Composer {
            from,
            envelope_sender,
            reply_to,
            list_id: list_id_header(list.name.as_str(), list.id.as_str()),
            unsubscribe_mailto: list
                .unsubscribe
                .mailto
                .as_ref()
                .map(|address| format!("mailto:{address}?subject=unsubscribe")),
            subject: issue.file.subject.to_string(),
            subject_prefix: "",
            message_id_stem: format!(
                "{}.{}",
                message_id_slug(&issue.slug()),
                &issue.content_hash()[..12]
            ),
            message_id_domain: issue.list.message_id_domain().to_owned(),
            user_agent: format!("newsletter/{}", env!("CARGO_PKG_VERSION")),
            signer,
            inline_images: Arc::from([]),
        }
    }

    /// Makes every message carry `images` beside its HTML part.
    #[must_use]
    pub(crate) fn with_inline_images(mut self, images: Vec<InlineImage>) -> Composer {
        self.inline_images = images.into();
        self
    }

    /// Marks every message as a test send: `[TEST]` before the subject and a `Message-ID` of
    /// its own, so a test never shares an id with the real send.
    #[must_use]
    pub(crate) fn for_test_send(mut self, run: &str) -> Composer {
        self.subject_prefix = "[TEST] ";
        self.subject = format!("{}{}", self.subject_prefix, self.subject);
        self.message_id_stem = format!("{}.test-{run}", self.message_id_stem);
        self
    }

    pub(crate) fn subject(&self) -> &str {
        &self.subject
    }

    /// The `Message-ID` of the message to `email`. It is the same each time the same issue is
    /// sent to the same address, so a resent message (after a crash left its delivery in doubt)
    /// can be recognised as a duplicate by the receiving side.
    pub(crate) fn message_id(&self, email: &str) -> String {
        format!(
            "<{}.{}@{}>",
            self.message_id_stem,
            recipient_digest(email),
            self.message_id_domain
        )
    }

    /// Builds the message to `subscriber`.
    pub(crate) fn build(
        &self,
        subscriber: &Subscriber,
        personal: &Personal,
        parts: Encoded,
        date: SystemTime,
    ) -> Result<Built, Error> {
        let to = Mailbox::new(
            Some(subscriber.name.clone()).filter(|name| !name.is_empty()),
            subscriber.email.clone(),
        );
        let message_id = self.message_id(subscriber.email.as_ref());
        let mut unsubscribe = format!("<{}>", personal.unsubscribe_url);
        if let Some(mailto) = &self.unsubscribe_mailto {
            unsubscribe.push_str(", <");
            unsubscribe.push_str(mailto);
            unsubscribe.push('>');
        }
        let envelope = Envelope::new(
            Some(self.envelope_sender.clone()),
            vec![subscriber.email.clone()],
        )
        .map_err(|source| Error::MessageBuild {
            email: subscriber.email.to_string(),
            source,
        })?;
        // lettre checks that a message has a `From` by parsing it back, and without an
        // envelope parses it again with the others to make one: with the display name, the
        // most expensive step of building a message. So the envelope is given, the check
        // reads a bare address, and the real `From` takes its place once the message is built.
        let mut builder = Message::builder()
            .envelope(envelope.clone())
            .from(Mailbox::new(None, self.from.email.clone()))
            .to(to.clone())
            // lettre's own headers write text that looks like an encoded word raw.
            .header(encoded_words::To(to))
            .header(encoded_words::Subject(format!(
                "{}{}",
                self.subject_prefix, personal.subject
            )))
            .date(date)
            .message_id(Some(message_id.clone()))
            .user_agent(self.user_agent.clone())
            .header(ListId(self.list_id.clone()))
            .header(ListUnsubscribe(unsubscribe))
            .header(ListUnsubscribePost);
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let text = encoded_part(ContentType::TEXT_PLAIN, parts.text);
        let html = encoded_part(ContentType::TEXT_HTML, parts.html);
        let body = if self.inline_images.is_empty() {
            MultiPart::alternative().singlepart(text).singlepart(html)
        } else {
            let related = self
                .inline_images
                .iter()
                .fold(related().singlepart(html), |related, image| {
                    related.singlepart(image.part())
                });
            MultiPart::alternative().singlepart(text).multipart(related)
        };
        let mut message = builder
            .multipart(body)
            .map_err(|source| Error::MessageBuild {
                email: subscriber.email.to_string(),
                source,
            })?;
        // In the place of the bare one, so the headers keep their order.
        message
            .headers_mut()
            .set(encoded_words::From(self.from.clone()));
        let mut bytes = message.formatted();
        if let Some(signer) = &self.signer {
            // Signed last, over the bytes as sent, so that `Content-Type` is covered.
            bytes = signer
                .sign(&bytes, date)
                .map_err(|reason| Error::DkimSign {
                    email: subscriber.email.to_string(),
                    reason,
                })?;
        }
        Ok(Built {
            envelope,
            bytes,
            message_id,
        })
    }

    /// The DKIM signer, if messages are signed.
    pub(crate) fn signs(&self) -> Option<&Signer> {
        self.signer.as_deref()
    }
}

/// The last part of a `Message-ID` before the `@`: 16 hex digits of the SHA-256 of the
/// recipient's address in lower case. It names the recipient without showing the address, so
/// a bounce that quotes the `Message-ID` can be traced to the subscriber it was sent to.
pub(crate) fn recipient_digest(email: &str) -> String {
    let digest = Sha256::digest(email.to_lowercase().as_bytes());
    crate::units::hex(&digest[..8])
}

/// What one of our `Message-ID`s says: the issue it belongs to and the recipient's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OurMessageId {
    /// The issue's name (its file name without `.yaml`); a test send's id names the issue too.
    pub(crate) issue: String,
    /// [`recipient_digest`] of the address it was sent to.
    pub(crate) recipient: String,
}

/// Reads `id` (with or without angle brackets) as a `Message-ID` that [`Composer`] made for
/// the domain `domain`: `<ISSUE.HASH12[.test-RUN].DIGEST16@DOMAIN>`. Anything else is not ours.
pub(crate) fn parse_message_id(id: &str, domain: &str) -> Option<OurMessageId> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, id_domain) = id.rsplit_once('@')?;
    if !id_domain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let is_hex = |part: &str, length: usize| {
        part.len() == length
            && part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let parts: Vec<&str> = local.split('.').collect();
    let (&recipient, stem) = parts.split_last()?;
    if !is_hex(recipient, 16) {
        return None;
    }
    // The issue's name may itself contain dots: it ends before the content hash.
    let hash_at = stem.iter().rposition(|part| is_hex(part, 12))?;
    let tail_ok = match &stem[hash_at + 1..] {
        [] => true,
        [test] => test.starts_with("test-"),
        _ => false,
    };
    if hash_at == 0 || !tail_ok {
        return None;
    }
    Some(OurMessageId {
        issue: stem[..hash_at].join("."),
        recipient: recipient.to_owned(),
    })
}

/// The issue's name as it may appear in a `Message-ID` (RFC 5322 `dot-atom-text`, kept short):
/// ASCII letters, digits, `-` and `_`, with every other run of characters (spaces, line breaks,
/// non-ASCII, `<`, `>`, `@`) made one `-`. A file name is the user's to choose; a header is not.
fn message_id_slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len().min(48));
    for c in name.chars() {
        if slug.len() >= 48 {
            break;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "issue".to_owned()
    } else {
        slug.to_owned()
    }
}

/// A body part already encoded as quoted-printable by [`crate::compose::render`].
fn encoded_part(content_type: ContentType, body: Vec<u8>) -> SinglePart {
    SinglePart::builder()
        .header(content_type)
        .body(Body::dangerous_pre_encoded(
            body,
            ContentTransferEncoding::QuotedPrintable,
        ))
}

/// `List-Id` (RFC 2919): the list name as a phrase when it is plain ASCII, then the id.
fn list_id_header(name: &str, id: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\');
    if plain {
        format!("\"{name}\" <{id}>")
    } else {
        format!("<{id}>")
    }
}

macro_rules! text_header {
    ($type:ident, $name:literal) => {
        #[derive(Debug, Clone)]
        struct $type(String);

        impl Header for $type {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(value: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($type(value.to_owned()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(ListId, "List-Id");
text_header!(ListUnsubscribe, "List-Unsubscribe");

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// An empty `multipart/related` whose `Content-Type` names its root part's type
/// (`type="text/html"`, required by RFC 2387 §3.1; lettre writes only the boundary), so that
/// clients show the images inside the HTML rather than as attachments.
fn related() -> lettre::message::MultiPartBuilder {
    let boundary: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(40)
        .collect();
    let content_type = ContentType::parse(&format!(
        "multipart/related; type=\"text/html\"; boundary=\"{boundary}\""
    ))
    .expect("a fixed content type with an alphanumeric boundary parses");
    MultiPart::builder().header(content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_message_ids_are_read_back() {
        let digest = recipient_digest("Zoe@Example.org");
        assert_eq!(digest, recipient_digest("zoe@example.org"));
        let id = format!("<2019-06.mou.0123456789ab.{digest}@example.org>");
        assert_eq!(
            parse_message_id(&id, "EXAMPLE.org"),
            Some(OurMessageId {
                issue: "2019-06.mou".into(),
                recipient: digest.clone(),
            })
        );
        let test = format!("2019-06.0123456789ab.test-1700000000.{digest}@example.org");
        assert_eq!(
            parse_message_id(&test, "example.org").unwrap().issue,
            "2019-06"
        );
        for other in [
            format!("<2019-06.0123456789ab.{digest}@other.example>"),
            format!("<0123456789ab.{digest}@example.org>"),
            "<2019-06.0123456789ab.xyz@example.org>".to_owned(),
            format!("<2019-06.0123456789ab.extra.more.{digest}@example.org>"),
            "<CAF=abc@mail.gmail.com>".to_owned(),
        ] {
            assert_eq!(parse_message_id(&other, "example.org"), None, "{other}");
        }
    }

    #[test]
    fn message_id_slugs_are_safe() {
        assert_eq!(message_id_slug("2019-06-uk-sg-mou"), "2019-06-uk-sg-mou");
        assert_eq!(message_id_slug("Spring issue\r\n<x>@é"), "spring-issue-x");
        assert_eq!(message_id_slug("ééé"), "issue");
        assert_eq!(message_id_slug(&"a".repeat(300)).len(), 48);
    }

    #[test]
    fn list_id_quotes_plain_names_only() {
        assert_eq!(
            list_id_header("SIN Singapore Bulletin", "bulletin.example.org"),
            "\"SIN Singapore Bulletin\" <bulletin.example.org>"
        );
        assert_eq!(
            list_id_header("Zoë's \"list\"", "bulletin.example.org"),
            "<bulletin.example.org>"
        );
    }
}
