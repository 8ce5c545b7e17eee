//! `Subject`, `From` and `To` written so that no text from an issue, list or subscriber file
//! is read by a mail client as an RFC 2047 encoded word it was not.
//!
//! lettre writes a word of plain ASCII as it is, so a subject `=?utf-8?b?SGFja2Vk?=` reaches
//! the reader as `Hacked`, and a display name (which lettre writes as a quoted string) is
//! decoded by clients that look for encoded words inside quotes. Here a word that holds `=?`
//! is encoded like a non-ASCII word, and a display name holding `=?` is written as encoded
//! words instead of a quoted string; everything else is written exactly as lettre writes it.

use std::fmt::Write as _;

use email_encoding::headers::{quoted_string, rfc2047, writer::EmailWriter};
use lettre::message::{
    Mailbox,
    header::{Header, HeaderName, HeaderValue},
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether text could be taken for the start of an encoded word.
fn looks_encoded(text: &str) -> bool {
    text.contains("=?")
}

/// Whether lettre would write `word` unencoded (its `allowed_char`: 7-bit, no NUL, CR or LF).
fn is_plain(word: &str) -> bool {
    word.bytes()
        .all(|c| matches!(c, 1..=9 | 11 | 12 | 14..=127))
}

/// Writes unstructured text (a subject) the way lettre does, but with words that look like
/// encoded words encoded.
fn encode_text(name: &str, value: &str) -> String {
    let mut out = String::new();
    {
        let mut writer = EmailWriter::new(&mut out, name.len() + 2, 0, false);
        let mut pending = String::new();
        let flush = |pending: &mut String, writer: &mut EmailWriter<'_>| {
            if pending.is_empty() {
                return;
            }
            let prefix = pending.trim_end_matches(' ');
            // Writing to a String cannot fail.
            let _ = rfc2047::encode(prefix, writer);
            for _ in 0..pending.len() - prefix.len() {
                writer.space();
            }
            pending.clear();
        };
        for word in value.split_inclusive(' ') {
            if is_plain(word) && !looks_encoded(word) {
                flush(&mut pending, &mut writer);
                let _ = writer.folding().write_str(word);
            } else {
                pending.push_str(word);
            }
        }
        flush(&mut pending, &mut writer);
    }
    out
}

/// Writes a mailbox the way lettre does, but with a display name that looks like an encoded
/// word written as encoded words.
fn encode_mailbox(name: &str, mailbox: &Mailbox) -> String {
    let mut out = String::new();
    {
        let mut writer = EmailWriter::new(&mut out, name.len() + 2, 0, false);
        if let Some(display) = &mailbox.name {
            let _ = if looks_encoded(display) {
                rfc2047::encode(display, &mut writer)
            } else {
                quoted_string::encode(display, &mut writer)
            };
            writer.space();
            let _ = writer.write_char('<');
        }
        let _ = writer.write_str(mailbox.email.as_ref());
        if mailbox.name.is_some() {
            let _ = writer.write_char('>');
        }
    }
    out
}

/// The `Subject` header.
#[derive(Debug, Clone)]
pub(crate) struct Subject(pub(crate) String);

impl Header for Subject {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Subject")
    }

    fn parse(value: &str) -> Result<Self, BoxError> {
        Ok(Subject(value.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::dangerous_new_pre_encoded(
            Self::name(),
            self.0.clone(),
            encode_text("Subject", &self.0),
        )
    }
}

macro_rules! mailbox_header {
    ($type:ident, $name:literal) => {
        /// A one-mailbox header; it replaces lettre's own (which the builder needs to have
        /// been set first, to check the message has a sender).
        #[derive(Debug, Clone)]
        pub(crate) struct $type(pub(crate) Mailbox);

        impl Header for $type {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(value: &str) -> Result<Self, BoxError> {
                Ok($type(value.parse()?))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::dangerous_new_pre_encoded(
                    Self::name(),
                    self.0.to_string(),
                    encode_mailbox($name, &self.0),
                )
            }
        }
    };
}

mailbox_header!(From, "From");
mailbox_header!(To, "To");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_looks_encoded_is_encoded() {
        assert_eq!(
            encode_text("Subject", "Hello =?utf-8?b?SGFja2Vk?= world"),
            "Hello =?utf-8?b?PT91dGYtOD9iP1NHRmphMlZrPz0=?= world"
        );
        assert_eq!(encode_text("Subject", "Plain subject"), "Plain subject");
    }

    #[test]
    fn display_names_that_look_encoded_are_encoded() {
        let mailbox = Mailbox::new(
            Some("=?utf-8?q?Boss?=".into()),
            "a@example.org".parse().unwrap(),
        );
        assert_eq!(
            encode_mailbox("From", &mailbox),
            "=?utf-8?b?PT91dGYtOD9xP0Jvc3M/PQ==?= <a@example.org>"
        );
        let plain = Mailbox::new(
            Some("Ada Lovelace".into()),
            "a@example.org".parse().unwrap(),
        );
        assert_eq!(
            encode_mailbox("From", &plain),
            "\"Ada Lovelace\" <a@example.org>"
        );
    }
}
