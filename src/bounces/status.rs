//! Enhanced mail system status codes (RFC 3463, `5.1.1`) and the one decision that matters
//! for a list: does the failure say the address does not exist (a hard bounce, suppressed at
//! once), or only that this delivery failed (a soft bounce, counted)?
//!
//! Only "this address does not exist" is hard: 5.1.1 (no such mailbox), 5.1.2 (no such host or
//! domain), 5.1.6 (mailbox moved, no forwarding address), 5.1.10 (null MX: the domain takes no
//! mail), and a failure whose diagnostic says the host or domain is unknown. Everything else —
//! 5.2.2 mailbox full, 5.7.x policy and spam blocks, other 5.x.x and every 4.x.x — is soft: the
//! reader still exists, and a later issue may well arrive.

use std::fmt;

/// An enhanced status code: class (2, 4 or 5), subject and detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) class: u8,
    pub(crate) subject: u16,
    pub(crate) detail: u16,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl Status {
    /// Reads a status field value such as `5.1.1` or `5.1.1 (user unknown)`.
    pub(crate) fn parse(value: &str) -> Option<Status> {
        let token = value.split_whitespace().next()?;
        let mut numbers = token.split('.');
        let class = numbers.next()?.parse::<u8>().ok()?;
        let subject = short_number(numbers.next()?)?;
        let detail = short_number(numbers.next()?)?;
        if numbers.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        Some(Status {
            class,
            subject,
            detail,
        })
    }

    /// The first enhanced status code in free text, such as a diagnostic
    /// `smtp; 550 5.1.1 <zoe@example.org>: user unknown` or qmail's `(#5.1.1)`.
    pub(crate) fn find(text: &str) -> Option<Status> {
        let bytes = text.as_bytes();
        let mut start = 0;
        while let Some(offset) = bytes[start..]
            .iter()
            .position(|b| matches!(b, b'2' | b'4' | b'5'))
        {
            let at = start + offset;
            start = at + 1;
            let before_ok =
                at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'.');
            if !before_ok {
                continue;
            }
            let end = bytes[at..]
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b'.'))
                .map_or(bytes.len(), |length| at + length);
            let token = text[at..end].trim_end_matches('.');
            if token.matches('.').count() == 2
                && let Some(status) = Status::parse(token)
            {
                return Some(status);
            }
        }
        None
    }

    fn is(self, subject: u16, detail: u16) -> bool {
        self.subject == subject && self.detail == detail
    }
}

fn short_number(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether a failed delivery ends the address or only this message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The address does not exist: suppress it now.
    Hard,
    /// The reader exists but this delivery failed: count it.
    Soft,
}

/// A failed delivery as a report gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The status field, or the code found in the diagnostic when there is no field.
    pub(crate) status: Option<Status>,
    /// The remote server's reply or the report's explanation, as written.
    pub(crate) diagnostic: String,
}

impl Failure {
    /// The status that decides: a report's generic `5.0.0` gives way to the specific code of
    /// the same class in the diagnostic (`smtp; 550 5.1.1 user unknown`).
    pub(crate) fn effective_status(&self) -> Option<Status> {
        let found = Status::find(&self.diagnostic);
        match (self.status, found) {
            (Some(status), Some(found))
                if status.subject == 0 && status.detail == 0 && found.class == status.class =>
            {
                Some(found)
            }
            (Some(status), _) => Some(status),
            (None, found) => found,
        }
    }

    /// Hard only when the address does not exist; everything else is soft.
    pub(crate) fn severity(&self) -> Severity {
        let Some(status) = self.effective_status() else {
            return Severity::Soft;
        };
        let missing = [(1, 1), (1, 2), (1, 6), (1, 10)]
            .iter()
            .any(|&(subject, detail)| status.is(subject, detail));
        if status.class == 5 && (missing || says_host_unknown(&self.diagnostic)) {
            Severity::Hard
        } else {
            Severity::Soft
        }
    }

    /// `5.1.1`, or `host unknown` when only the diagnostic says so, for summaries.
    pub(crate) fn label(&self) -> String {
        match self.effective_status() {
            Some(status) => status.to_string(),
            None => "no status code".into(),
        }
    }
}

/// Whether a diagnostic says the recipient's domain or host does not exist (Postfix reports
/// that as `5.4.4 Host or domain name not found`, Exim as `Unrouteable address`).
pub(crate) fn says_host_unknown(diagnostic: &str) -> bool {
    let text = diagnostic.to_ascii_lowercase();
    [
        "host or domain name not found",
        "host not found",
        "host unknown",
        "unknown host",
        "domain not found",
        "no such domain",
        "unrouteable address",
        "unrouteable mail domain",
        "all relevant mx records point to non-existent hosts",
        "nxdomain",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: Option<&str>, diagnostic: &str) -> Failure {
        Failure {
            status: status.and_then(Status::parse),
            diagnostic: diagnostic.into(),
        }
    }

    #[test]
    fn only_address_does_not_exist_is_hard() {
        for hard in ["5.1.1", "5.1.2", "5.1.6", "5.1.10"] {
            assert_eq!(failure(Some(hard), "").severity(), Severity::Hard, "{hard}");
        }
        for soft in [
            "5.2.2", "5.7.1", "5.7.26", "5.0.0", "5.4.1", "4.2.2", "4.1.1", "5.1.3",
        ] {
            assert_eq!(failure(Some(soft), "").severity(), Severity::Soft, "{soft}");
        }
    }

    #[test]
    fn a_generic_status_gives_way_to_the_diagnostic_code() {
        let generic = failure(
            Some("5.0.0"),
            "smtp; 550 5.1.1 <zoe@example.org>: user unknown",
        );
        assert_eq!(generic.label(), "5.1.1");
        assert_eq!(generic.severity(), Severity::Hard);
        // A specific status is kept even if the text says something else.
        let full = failure(Some("5.2.2"), "smtp; 550 5.1.1 mailbox full");
        assert_eq!(full.severity(), Severity::Soft);
        assert_eq!(
            failure(None, "Sorry, no mailbox here by that name. (#5.1.1)").label(),
            "5.1.1"
        );
    }

    #[test]
    fn host_unknown_in_a_permanent_failure_is_hard() {
        let postfix = failure(
            Some("5.4.4"),
            "Host or domain name not found. Name service error for name=nowhere.example type=A: Host not found",
        );
        assert_eq!(postfix.severity(), Severity::Hard);
        let temporary = failure(Some("4.4.3"), "Host or domain name not found");
        assert_eq!(temporary.severity(), Severity::Soft);
    }

    #[test]
    fn status_parsing_rejects_what_is_not_a_code() {
        assert_eq!(Status::parse("5.1.10").unwrap().to_string(), "5.1.10");
        assert!(Status::parse("3.1.1").is_none());
        assert!(Status::parse("5.1").is_none());
        assert!(Status::parse("5.1.1.1").is_none());
        assert!(Status::parse("5.1.1234").is_none());
        assert!(Status::find("version 15.1.1 of the server").is_none());
        assert!(Status::find("at 10.5.1.2").is_none());
        assert_eq!(
            Status::find("550-5.7.26 unauthenticated")
                .unwrap()
                .to_string(),
            "5.7.26"
        );
    }
}
