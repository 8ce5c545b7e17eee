//! What to do about a [`Notice`]: is it about mail this list sent, to which subscriber, and
//! does it end the address (hard bounce, complaint, unsubscribe request), count against it
//! (soft bounce), or change nothing?
//!
//! A report is ours when the `Message-ID` it quotes is one [`crate::compose::message`] made for
//! this list's domain: that id names the issue and, as a digest, the recipient, so the
//! subscriber is found even when the report gives a forwarded address. A report that quotes
//! another `Message-ID` is about other mail and is ignored. A report that quotes none is ours
//! only if it names a subscriber.

use std::collections::{HashMap, HashSet};

use crate::{
    bounces::{
        notice::{Action, Notice, Recipient, Returned},
        status::{Failure, Severity},
    },
    compose::message::{OurMessageId, parse_message_id, recipient_digest},
};

/// What is known of the list: the domain of its `Message-ID`s, its subscribers and its
/// unsubscribe address.
#[derive(Debug, Default)]
pub(crate) struct Ours {
    message_id_domain: String,
    unsubscribe_mailto: Option<String>,
    subscribers: HashSet<String>,
    by_digest: HashMap<String, String>,
}

impl Ours {
    pub(crate) fn new(message_id_domain: &str, unsubscribe_mailto: Option<&str>) -> Ours {
        Ours {
            message_id_domain: message_id_domain.to_owned(),
            unsubscribe_mailto: unsubscribe_mailto.map(str::to_lowercase),
            ..Ours::default()
        }
    }

    /// Adds an address of the subscriber file (whatever its status: a reader who left is
    /// still someone we may have mailed).
    pub(crate) fn add_subscriber(&mut self, email: &str) {
        let email = email.trim().to_lowercase();
        self.by_digest
            .insert(recipient_digest(&email), email.clone());
        self.subscribers.insert(email);
    }

    fn our_id(&self, returned: &Returned) -> Option<OurMessageId> {
        returned
            .message_id
            .as_deref()
            .and_then(|id| parse_message_id(id, &self.message_id_domain))
    }

    /// The subscriber a report is about: by the quoted `Message-ID` when it is ours, else by
    /// the addresses the report gives, if one is a subscriber.
    fn subscriber<'a>(
        &self,
        our_id: Option<&OurMessageId>,
        returned: &Returned,
        candidates: impl IntoIterator<Item = &'a String>,
    ) -> Result<String, Ignored> {
        let mut candidates = candidates.into_iter();
        match our_id {
            Some(id) => {
                if let Some(email) = self.by_digest.get(&id.recipient) {
                    return Ok(email.clone());
                }
                // Sent to an address that has left the subscriber file since.
                candidates
                    .find(|address| recipient_digest(address) == id.recipient)
                    .cloned()
                    .ok_or(Ignored::NotASubscriber)
            }
            None if returned.message_id.is_some() => Err(Ignored::NotOurs),
            None => candidates
                .find(|address| self.subscribers.contains(*address))
                .cloned()
                .ok_or(Ignored::NotOurs),
        }
    }
}

/// Why a message changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Ignored {
    /// `Action: delayed`: the server is still trying.
    Delayed,
    /// A success report (`delivered`, `relayed`, `expanded`).
    Delivered,
    AutoReply,
    /// A report about mail this list did not send.
    NotOurs,
    /// About our mail, or asking to unsubscribe, but not for a current subscriber.
    NotASubscriber,
    /// A feedback report that is not an abuse complaint, or another kind of report.
    OtherReport,
    /// Ordinary mail.
    NotABounce,
}

impl Ignored {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Ignored::Delayed => "delayed",
            Ignored::Delivered => "delivery report",
            Ignored::AutoReply => "auto-reply",
            Ignored::NotOurs => "not our mail",
            Ignored::NotASubscriber => "not a subscriber",
            Ignored::OtherReport => "other report",
            Ignored::NotABounce => "not a bounce",
        }
    }
}

/// The decision about one recipient of a report, or about a whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The address does not exist: suppress it.
    Hard {
        address: String,
        failure: Failure,
    },
    /// Count it against the address; `issue` is `None` when the report does not say which
    /// issue bounced (it quotes no `Message-ID` of ours), and then it cannot count.
    Soft {
        address: String,
        issue: Option<String>,
        failure: Failure,
    },
    /// An abuse complaint: suppress it.
    Complaint {
        address: String,
        feedback_type: String,
    },
    /// A subscriber asked by mail to leave: suppress it.
    Unsubscribe {
        address: String,
    },
    Ignored(Ignored),
    NotUnderstood(String),
}

/// Decides about `notice`: one verdict per recipient of a delivery report, one otherwise.
pub(crate) fn judge(notice: &Notice, ours: &Ours) -> Vec<Verdict> {
    match notice {
        Notice::Delivery {
            format,
            recipients,
            returned,
        } => {
            let our_id = ours.our_id(returned);
            recipients
                .iter()
                .map(|recipient| {
                    judge_recipient(format, recipient, returned, our_id.as_ref(), ours)
                })
                .collect()
        }
        Notice::Complaint {
            feedback_type,
            recipients,
            returned,
        } => {
            if feedback_type != "abuse" {
                return vec![Verdict::Ignored(Ignored::OtherReport)];
            }
            let our_id = ours.our_id(returned);
            let candidates = recipients.iter().chain(&returned.to);
            vec![
                match ours.subscriber(our_id.as_ref(), returned, candidates) {
                    Ok(address) => Verdict::Complaint {
                        address,
                        feedback_type: feedback_type.clone(),
                    },
                    Err(ignored) => Verdict::Ignored(ignored),
                },
            ]
        }
        Notice::AutoReply => vec![Verdict::Ignored(Ignored::AutoReply)],
        Notice::OtherReport(_) => vec![Verdict::Ignored(Ignored::OtherReport)],
        Notice::Mail {
            recipients,
            from,
            asks_to_unsubscribe,
        } => {
            let to_mailto = ours
                .unsubscribe_mailto
                .as_ref()
                .is_some_and(|mailto| recipients.contains(mailto));
            if !to_mailto || !asks_to_unsubscribe {
                return vec![Verdict::Ignored(Ignored::NotABounce)];
            }
            vec![match from {
                Some(from) if ours.subscribers.contains(from) => Verdict::Unsubscribe {
                    address: from.clone(),
                },
                _ => Verdict::Ignored(Ignored::NotASubscriber),
            }]
        }
        Notice::NotUnderstood(why) => vec![Verdict::NotUnderstood(why.clone())],
    }
}

fn judge_recipient(
    format: &str,
    recipient: &Recipient,
    returned: &Returned,
    our_id: Option<&OurMessageId>,
    ours: &Ours,
) -> Verdict {
    match &recipient.action {
        Action::Failed => {}
        Action::Delayed => return Verdict::Ignored(Ignored::Delayed),
        Action::Delivered => return Verdict::Ignored(Ignored::Delivered),
        Action::Unknown(action) => {
            return Verdict::NotUnderstood(format!("{format} report with the action `{action}`"));
        }
    }
    let address = match ours.subscriber(our_id, returned, &recipient.addresses) {
        Ok(address) => address,
        Err(ignored) => return Verdict::Ignored(ignored),
    };
    if recipient.failure.effective_status().is_none() {
        return Verdict::NotUnderstood(format!(
            "{format} report of a failed delivery to {address} without a status code"
        ));
    }
    match recipient.failure.severity() {
        Severity::Hard => Verdict::Hard {
            address,
            failure: recipient.failure.clone(),
        },
        Severity::Soft => Verdict::Soft {
            address,
            issue: our_id.map(|id| id.issue.clone()),
            failure: recipient.failure.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounces::status::Status;

    fn ours() -> Ours {
        let mut ours = Ours::new("example.org", Some("leave@example.org"));
        ours.add_subscriber("Zoe@example.net");
        ours
    }

    fn delivery(address: &str, status: &str, message_id: Option<String>) -> Notice {
        Notice::Delivery {
            format: "RFC 3464",
            recipients: vec![Recipient {
                addresses: vec![address.into()],
                action: Action::Failed,
                failure: Failure {
                    status: Status::parse(status),
                    diagnostic: String::new(),
                },
            }],
            returned: Returned {
                message_id,
                to: Vec::new(),
            },
        }
    }

    fn our_id(address: &str) -> String {
        format!(
            "<issue-7.0123456789ab.{}@example.org>",
            recipient_digest(address)
        )
    }

    #[test]
    fn the_message_id_finds_the_subscriber_behind_a_forwarded_address() {
        let verdicts = judge(
            &delivery(
                "zoe@forward.example",
                "5.1.1",
                Some(our_id("zoe@example.net")),
            ),
            &ours(),
        );
        assert!(
            matches!(&verdicts[..], [Verdict::Hard { address, .. }] if address == "zoe@example.net")
        );
    }

    #[test]
    fn soft_bounces_carry_the_issue_of_our_message_id() {
        let verdicts = judge(
            &delivery("zoe@example.net", "5.2.2", Some(our_id("zoe@example.net"))),
            &ours(),
        );
        assert!(
            matches!(&verdicts[..], [Verdict::Soft { issue: Some(issue), .. }] if issue == "issue-7")
        );
        let without_id = judge(&delivery("zoe@example.net", "4.4.7", None), &ours());
        assert!(matches!(
            &without_id[..],
            [Verdict::Soft { issue: None, .. }]
        ));
    }

    #[test]
    fn other_mail_and_strangers_are_ignored() {
        let other = judge(
            &delivery(
                "zoe@example.net",
                "5.1.1",
                Some("<abc@mail.example.com>".into()),
            ),
            &ours(),
        );
        assert_eq!(other, [Verdict::Ignored(Ignored::NotOurs)]);
        let stranger = judge(&delivery("who@example.com", "5.1.1", None), &ours());
        assert_eq!(stranger, [Verdict::Ignored(Ignored::NotOurs)]);
    }

    #[test]
    fn a_complaint_with_the_recipient_redacted_is_traced_by_its_message_id() {
        let complaint = |feedback_type: &str| Notice::Complaint {
            feedback_type: feedback_type.into(),
            recipients: vec!["redacted@example.net".into()],
            returned: Returned {
                message_id: Some(our_id("zoe@example.net")),
                to: vec!["hidden@example.net".into()],
            },
        };
        assert_eq!(
            judge(&complaint("abuse"), &ours()),
            [Verdict::Complaint {
                address: "zoe@example.net".into(),
                feedback_type: "abuse".into(),
            }]
        );
        assert_eq!(
            judge(&complaint("not-spam"), &ours()),
            [Verdict::Ignored(Ignored::OtherReport)]
        );
    }

    #[test]
    fn unsubscribe_mail_counts_only_from_subscribers_to_the_mailto_address() {
        let mail = |to: &str, from: &str, asks| Notice::Mail {
            recipients: vec![to.into()],
            from: Some(from.into()),
            asks_to_unsubscribe: asks,
        };
        assert_eq!(
            judge(&mail("leave@example.org", "zoe@example.net", true), &ours()),
            [Verdict::Unsubscribe {
                address: "zoe@example.net".into()
            }]
        );
        assert_eq!(
            judge(&mail("leave@example.org", "x@example.com", true), &ours()),
            [Verdict::Ignored(Ignored::NotASubscriber)]
        );
        assert_eq!(
            judge(&mail("news@example.org", "zoe@example.net", true), &ours()),
            [Verdict::Ignored(Ignored::NotABounce)]
        );
        assert_eq!(
            judge(
                &mail("leave@example.org", "zoe@example.net", false),
                &ours()
            ),
            [Verdict::Ignored(Ignored::NotABounce)]
        );
    }
}
