//! What one piece of returned mail says, read with mail-parser and nothing guessed: a delivery
//! report (RFC 3464, or the plain-text reports of Exim and qmail, or an Amazon SES
//! notification), a complaint (RFC 5965 ARF, or SES), an auto-reply, another kind of report,
//! ordinary mail, or something that looks like a bounce but cannot be read.
//!
//! Whether the mail is about a message *we* sent, and what to do about it, is for
//! [`crate::bounces::verdict`]; this module only reads.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::bounces::status::{Failure, Status, says_host_unknown};

/// Reports with more recipients than this are read only up to it: a real report names a few,
/// and a crafted one must not cost more than the mailbox's size in work.
const MAX_RECIPIENTS: usize = 1_000;

/// What a returned message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// A delivery report: what happened to each recipient it names.
    Delivery {
        /// Who wrote it, for messages: `RFC 3464`, `Exim`, `qmail`, `Amazon SES`.
        format: &'static str,
        recipients: Vec<Recipient>,
        returned: Returned,
    },
    /// A complaint: a reader marked the message as spam.
    Complaint {
        /// ARF's `Feedback-Type` (`abuse`, `fraud`, `not-spam`…).
        feedback_type: String,
        /// Who complained, as far as the report says (often redacted).
        recipients: Vec<String>,
        returned: Returned,
    },
    /// An automatic reply (out of office, vacation): not a bounce.
    AutoReply,
    /// Some other machine-written report, such as a read receipt.
    OtherReport(String),
    /// Mail written by a person (or at least not a report).
    Mail {
        /// `To`, `Cc`, `Delivered-To`, `X-Original-To` and `Envelope-To`, lower-cased.
        recipients: Vec<String>,
        /// The `From` address, lower-cased.
        from: Option<String>,
        /// Whether the subject or the first lines of the body say "unsubscribe".
        asks_to_unsubscribe: bool,
    },
    /// It looks like a report but could not be read; says why.
    NotUnderstood(String),
}

/// One recipient of a delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recipient {
    /// The addresses the report gives for the recipient, lower-cased: `Original-Recipient`
    /// first (the address the message was sent to), then `Final-Recipient`.
    pub(crate) addresses: Vec<String>,
    pub(crate) action: Action,
    pub(crate) failure: Failure,
}

/// What the reporting server did (RFC 3464 `Action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Failed,
    Delayed,
    /// `delivered`, `relayed` or `expanded`: success reports.
    Delivered,
    Unknown(String),
}

/// What a report quotes of the message it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Returned {
    pub(crate) message_id: Option<String>,
    /// Its `To` addresses, lower-cased.
    pub(crate) to: Vec<String>,
}

/// Reads one message.
pub(crate) fn read(bytes: &[u8]) -> Notice {
    let Some(message) = MessageParser::default().parse(bytes) else {
        return Notice::NotUnderstood("no mail headers".into());
    };
    if let Some(notice) = multipart_report(&message) {
        return notice;
    }
    if let Some(notice) = ses_notification(&message) {
        return notice;
    }
    if let Some(notice) = qmail_report(&message) {
        return notice;
    }
    if let Some(notice) = exim_report(&message) {
        return notice;
    }
    if is_auto_reply(&message) {
        return Notice::AutoReply;
    }
    if looks_like_a_bounce(&message) {
        return Notice::NotUnderstood(format!(
            "looks like a bounce but is in no format this command reads (subject `{}`)",
            clip(message.subject().unwrap_or(""), 80)
        ));
    }
    plain_mail(&message)
}

// ---- RFC 3464 delivery status notifications and RFC 5965 feedback reports ----

/// A report with a `message/delivery-status` or `message/feedback-report` part (wherever the
/// part sits: some gateways wrap the report in another multipart), or a `multipart/report`
/// of another type.
fn multipart_report(message: &Message<'_>) -> Option<Notice> {
    let report_type = message
        .content_type()
        .filter(|t| t.ctype().eq_ignore_ascii_case("multipart"))
        .filter(|t| {
            t.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .map(|t| {
            t.attribute("report-type")
                .unwrap_or("")
                .to_ascii_lowercase()
        });
    let mut status_part = None;
    let mut feedback_part = None;
    for part in &message.parts {
        let Some(content_type) = part.content_type() else {
            continue;
        };
        if !content_type.ctype().eq_ignore_ascii_case("message") {
            continue;
        }
        let subtype = content_type.subtype().unwrap_or("").to_ascii_lowercase();
        match subtype.as_str() {
            // A part that does not decode as it says is not read from its raw bytes: what
            // they would say is a guess.
            "delivery-status" | "global-delivery-status" | "feedback-report"
                if part.is_encoding_problem =>
            {
                return Some(Notice::NotUnderstood(format!(
                    "its message/{subtype} part is not in the encoding it declares"
                )));
            }
            "delivery-status" | "global-delivery-status" if status_part.is_none() => {
                status_part = Some(part.contents());
            }
            "feedback-report" if feedback_part.is_none() => feedback_part = Some(part.contents()),
            _ => {}
        }
    }
    let returned = returned_message(message);
    if let Some(contents) = status_part {
        return Some(delivery_status(contents, returned));
    }
    if let Some(contents) = feedback_part {
        return Some(feedback_report(contents, returned));
    }
    match report_type.as_deref() {
        None => None,
        Some("delivery-status") => Some(Notice::NotUnderstood(
            "a delivery report without its message/delivery-status part".into(),
        )),
        Some("feedback-report") => Some(Notice::NotUnderstood(
            "a feedback report without its message/feedback-report part".into(),
        )),
        Some("disposition-notification") => Some(Notice::OtherReport("a read receipt".into())),
        Some(other) => Some(Notice::NotUnderstood(format!(
            "a report of type `{}`",
            clip(other, 40)
        ))),
    }
}

fn delivery_status(contents: &[u8], returned: Returned) -> Notice {
    let text = String::from_utf8_lossy(contents);
    let blocks = field_blocks(&text);
    let mut recipients = Vec::new();
    let mut unreadable = 0;
    for block in blocks
        .iter()
        .filter(|block| {
            field(block, "action").is_some() || field(block, "final-recipient").is_some()
        })
        .take(MAX_RECIPIENTS)
    {
        let mut addresses = Vec::new();
        for name in ["original-recipient", "final-recipient"] {
            if let Some(address) = field(block, name).and_then(typed_address)
                && !addresses.contains(&address)
            {
                addresses.push(address);
            }
        }
        let action = match field(block, "action").map(str::to_ascii_lowercase) {
            Some(action) => match action.split_whitespace().next().unwrap_or("") {
                "failed" => Action::Failed,
                "delayed" => Action::Delayed,
                "delivered" | "relayed" | "expanded" => Action::Delivered,
                other => Action::Unknown(clip(other, 40)),
            },
            None => Action::Unknown("none".into()),
        };
        if addresses.is_empty() {
            unreadable += 1;
            continue;
        }
        let diagnostic = field(block, "diagnostic-code").map_or_else(String::new, |code| {
            // `smtp; 550 5.1.1 …`: the type before `;` says nothing to the reader.
            code.split_once(';')
                .map_or(code, |(_, text)| text)
                .trim()
                .to_owned()
        });
        recipients.push(Recipient {
            addresses,
            action,
            failure: Failure {
                status: field(block, "status").and_then(Status::parse),
                diagnostic,
            },
        });
    }
    if recipients.is_empty() {
        let why = if unreadable > 0 {
            "a delivery report whose recipients have no readable address"
        } else {
            "a delivery report that names no recipient"
        };
        return Notice::NotUnderstood(why.into());
    }
    Notice::Delivery {
        format: "RFC 3464",
        recipients,
        returned,
    }
}

fn feedback_report(contents: &[u8], returned: Returned) -> Notice {
    let text = String::from_utf8_lossy(contents);
    let blocks = field_blocks(&text);
    let Some(block) = blocks.first() else {
        return Notice::NotUnderstood("an empty feedback report".into());
    };
    let Some(feedback_type) = field(block, "feedback-type") else {
        return Notice::NotUnderstood("a feedback report without `Feedback-Type`".into());
    };
    let recipients = block
        .iter()
        .filter(|(name, _)| name == "original-rcpt-to")
        .filter_map(|(_, value)| bare_address(value))
        .take(MAX_RECIPIENTS)
        .collect();
    Notice::Complaint {
        feedback_type: clip(&feedback_type.trim().to_ascii_lowercase(), 40),
        recipients,
        returned,
    }
}

/// The headers of the message a report is about: its `message/rfc822` (or `message/global`)
/// part, or its `text/rfc822-headers` part.
fn returned_message(message: &Message<'_>) -> Returned {
    for part in message.parts.iter().skip(1) {
        if let PartType::Message(inner) = &part.body {
            return returned_from(inner);
        }
        let Some(content_type) = part.content_type() else {
            continue;
        };
        let subtype = content_type.subtype().unwrap_or("").to_ascii_lowercase();
        let headers_only = matches!(subtype.as_str(), "rfc822-headers" | "global-headers");
        // A message/rfc822 nested deeper than mail-parser reads is left as bytes.
        let unparsed = content_type.ctype().eq_ignore_ascii_case("message")
            && matches!(subtype.as_str(), "rfc822" | "global");
        if (headers_only || unparsed)
            && let Some(inner) = MessageParser::default().parse_headers(part.contents())
        {
            return returned_from(&inner);
        }
    }
    Returned::default()
}

fn returned_from(message: &Message<'_>) -> Returned {
    Returned {
        message_id: message.message_id().map(|id| clip(id, 250)),
        to: addresses_of(message.to()),
    }
}

/// The headers after a plain-text report's "copy of the message" line.
fn returned_after(text: &str, markers: &[&str]) -> Returned {
    for marker in markers {
        if let Some(at) = text.find(marker) {
            let rest = &text[at + marker.len()..];
            let rest = rest.split_once('\n').map_or("", |(_, rest)| rest);
            let rest = rest.trim_start_matches(['\r', '\n']);
            if let Some(inner) = MessageParser::default().parse_headers(rest.as_bytes()) {
                return returned_from(&inner);
            }
        }
    }
    Returned::default()
}

// ---- formats that are not RFC 3464 ----

/// Amazon SES bounce and complaint notifications, delivered as mail (the SNS email
/// subscription): a JSON body with `notificationType`, sometimes wrapped in an SNS envelope
/// whose `Message` holds that JSON as a string.
fn ses_notification(message: &Message<'_>) -> Option<Notice> {
    let body = body_text(message)?.trim();
    if !body.starts_with('{') || !body.contains("notificationType") {
        return None;
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(body) else {
        return Some(Notice::NotUnderstood(
            "an Amazon SES notification that is not valid JSON".into(),
        ));
    };
    if let Some(inner) = value.get("Message").and_then(|m| m.as_str())
        && let Ok(inner) = serde_json::from_str::<serde_json::Value>(inner)
    {
        value = inner;
    }
    let text = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let mail = value.get("mail");
    let returned = Returned {
        message_id: mail
            .and_then(|m| m.get("commonHeaders"))
            .and_then(|h| text(h, "messageId"))
            .map(|id| clip(id.trim().trim_start_matches('<').trim_end_matches('>'), 250)),
        to: mail
            .and_then(|m| m.get("destination"))
            .and_then(serde_json::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().and_then(bare_address))
                    .take(MAX_RECIPIENTS)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let listed = |section: &serde_json::Value, key: &str| -> Vec<serde_json::Value> {
        section
            .get(key)
            .and_then(serde_json::Value::as_array)
            .map(|list| list.iter().take(MAX_RECIPIENTS).cloned().collect())
            .unwrap_or_default()
    };
    let kind = text(&value, "notificationType")
        .or_else(|| text(&value, "eventType"))
        .unwrap_or_default();
    match kind.as_str() {
        "Bounce" => Some(value.get("bounce").map_or_else(
            || Notice::NotUnderstood("an Amazon SES bounce without its `bounce` object".into()),
            |bounce| ses_bounce(bounce, returned),
        )),
        "Complaint" => {
            let complaint = value.get("complaint")?;
            let recipients = listed(complaint, "complainedRecipients")
                .iter()
                .filter_map(|entry| text(entry, "emailAddress").and_then(|a| bare_address(&a)))
                .collect();
            Some(Notice::Complaint {
                // SES passes on the feedback loop's type when there is one; a complaint
                // without one is still a reader pressing "spam".
                feedback_type: text(complaint, "complaintFeedbackType")
                    .map_or_else(|| "abuse".into(), |t| clip(&t.to_ascii_lowercase(), 40)),
                recipients,
                returned,
            })
        }
        "Delivery" => Some(Notice::OtherReport(
            "an Amazon SES delivery notification".into(),
        )),
        _ => Some(Notice::NotUnderstood(format!(
            "an Amazon SES notification of type `{}`",
            clip(&kind, 40)
        ))),
    }
}

/// The `bounce` object of an Amazon SES notification.
fn ses_bounce(bounce: &serde_json::Value, returned: Returned) -> Notice {
    let text = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let bounce_type = text(bounce, "bounceType").unwrap_or_default();
    let sub_type = text(bounce, "bounceSubType").unwrap_or_default();
    let recipients: Vec<Recipient> = bounce
        .get("bouncedRecipients")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .take(MAX_RECIPIENTS)
        .filter_map(|entry| {
            let address = text(entry, "emailAddress").and_then(|a| bare_address(&a))?;
            let diagnostic = text(entry, "diagnosticCode").unwrap_or_default();
            let mut status = text(entry, "status").and_then(|s| Status::parse(&s));
            // SES says `NoEmail` when the address does not exist, often without a code.
            if status.is_none() && bounce_type == "Permanent" && sub_type == "NoEmail" {
                status = Status::parse("5.1.1");
            }
            if bounce_type == "Transient" && status.is_some_and(|s| s.class == 5) {
                // SES calls it transient: the code must not make it hard.
                status = Status::parse("4.0.0");
            }
            Some(Recipient {
                addresses: vec![address],
                action: Action::Failed,
                failure: Failure {
                    status,
                    diagnostic: diagnostic
                        .split_once(';')
                        .map_or(diagnostic.as_str(), |(_, d)| d)
                        .trim()
                        .to_owned(),
                },
            })
        })
        .collect();
    if recipients.is_empty() {
        return Notice::NotUnderstood("an Amazon SES bounce that names no recipient".into());
    }
    Notice::Delivery {
        format: "Amazon SES",
        recipients,
        returned,
    }
}

/// qmail's report: "Hi. This is the qmail-send program…", then `<address>:` and the reason
/// for each recipient, then the returned message.
fn qmail_report(message: &Message<'_>) -> Option<Notice> {
    let body = body_text(message)?;
    if !body.contains("This is the qmail-send program") {
        return None;
    }
    let (report, _) = body
        .split_once("--- Below this line is a copy of the message.")
        .or_else(|| body.split_once("--- Enclosed are the original headers of the message."))
        .unwrap_or((body, ""));
    let delayed = report.contains("I'm still trying") || report.contains("not been delivered yet");
    let mut recipients = Vec::new();
    let mut lines = report.lines().peekable();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(address) = line
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix(">:"))
            .and_then(bare_address)
        else {
            continue;
        };
        let mut diagnostic = String::new();
        while let Some(next) = lines.peek() {
            if next.trim().is_empty() || next.trim_start().starts_with('<') {
                break;
            }
            if !diagnostic.is_empty() {
                diagnostic.push(' ');
            }
            diagnostic.push_str(next.trim());
            lines.next();
        }
        if recipients.len() < MAX_RECIPIENTS {
            recipients.push(Recipient {
                addresses: vec![address],
                action: if delayed {
                    Action::Delayed
                } else {
                    Action::Failed
                },
                failure: Failure {
                    status: Status::find(&diagnostic).or_else(|| reply_class(&diagnostic)),
                    diagnostic: clip(&diagnostic, 500),
                },
            });
        }
    }
    if recipients.is_empty() {
        return Some(Notice::NotUnderstood(
            "a qmail report that names no recipient".into(),
        ));
    }
    Some(Notice::Delivery {
        format: "qmail",
        recipients,
        returned: returned_after(
            body,
            &[
                "--- Below this line is a copy of the message.",
                "--- Enclosed are the original headers of the message.",
            ],
        ),
    })
}

/// Exim's default report: `X-Failed-Recipients` names the addresses, the body explains each
/// (the address on its own line, the reason indented below it) and quotes the message after
/// "------ This is a copy of the message".
fn exim_report(message: &Message<'_>) -> Option<Notice> {
    let failed = message.header_raw("X-Failed-Recipients")?;
    let body = body_text(message).unwrap_or_default();
    let addresses: Vec<String> = failed
        .split(',')
        .filter_map(bare_address)
        .take(MAX_RECIPIENTS)
        .collect();
    if addresses.is_empty() {
        return Some(Notice::NotUnderstood(
            "`X-Failed-Recipients` names no readable address".into(),
        ));
    }
    // Offsets found in the lower-cased copy are used in the original: ASCII lower-casing keeps
    // every byte where it is. Line ends are made `\n` so that the blocks are found either way.
    let report = body
        .split("------ This is a copy of the message")
        .next()
        .unwrap_or(body)
        .replace("\r\n", "\n");
    let report = report.as_str();
    let lower = report.to_ascii_lowercase();
    let recipients = addresses
        .into_iter()
        .map(|address| {
            // The reason is the indented block below the address's own line.
            let diagnostic = lower
                .find(&format!("\n  {address}\n"))
                .map(|at| {
                    let start = at + address.len() + 4;
                    let block = &report[start.min(report.len())..];
                    let end = block.find("\n\n").unwrap_or(block.len());
                    block[..end]
                        .lines()
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            let status = Status::find(&diagnostic)
                .or_else(|| reply_class(&diagnostic))
                .or_else(|| {
                    // Exim marks permanent failures in words, and a routing failure may carry no
                    // SMTP reply at all; the wording is then all there is.
                    (says_host_unknown(&diagnostic) && lower.contains("permanent error"))
                        .then(|| Status::parse("5.0.0"))
                        .flatten()
                });
            Recipient {
                addresses: vec![address],
                action: Action::Failed,
                failure: Failure {
                    status,
                    diagnostic: clip(&diagnostic, 500),
                },
            }
        })
        .collect();
    Some(Notice::Delivery {
        format: "Exim",
        recipients,
        returned: returned_after(
            body,
            &[
                "------ This is a copy of the message",
                "------ This is a copy of the message's headers",
            ],
        ),
    })
}

// ---- everything else ----

/// RFC 3834 `Auto-Submitted`, and the headers and subjects of the common vacation responders.
fn is_auto_reply(message: &Message<'_>) -> bool {
    let header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
    };
    if header("Auto-Submitted").is_some_and(|v| v != "no") {
        return true;
    }
    if header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("Precedence").is_some_and(|v| v == "auto_reply")
    {
        return true;
    }
    let subject = message.subject().unwrap_or("").to_lowercase();
    [
        "auto:",
        "automatic reply",
        "autoreply",
        "auto-reply",
        "out of office",
        "out of the office",
    ]
    .iter()
    .any(|prefix| subject.starts_with(prefix))
}

/// A message from a mailer daemon, or with a bounce's subject, that no reader above took.
fn looks_like_a_bounce(message: &Message<'_>) -> bool {
    let from = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .unwrap_or("")
        .to_ascii_lowercase();
    let local = from.split('@').next().unwrap_or("");
    if matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon") {
        return true;
    }
    let subject = message.subject().unwrap_or("").to_lowercase();
    [
        "undeliver",
        "delivery status notification",
        "delivery failure",
        "failure notice",
        "returned mail",
        "mail delivery failed",
        "delivery has failed",
        "could not be delivered",
    ]
    .iter()
    .any(|phrase| subject.contains(phrase))
}

fn plain_mail(message: &Message<'_>) -> Notice {
    let mut recipients = addresses_of(message.to());
    recipients.extend(addresses_of(message.cc()));
    // The envelope recipient, as the delivering server recorded it: mail to the unsubscribe
    // address may reach the mailbox by Bcc or an alias, with another `To`.
    for name in ["Delivered-To", "X-Original-To", "Envelope-To"] {
        for value in message.header_values(name) {
            if let Some(address) = value.as_text().and_then(bare_address) {
                recipients.push(address);
            }
        }
    }
    let from = message
        .from()
        .and_then(|from| from.first())
        .and_then(|addr| addr.address())
        .and_then(bare_address);
    let subject = message.subject().unwrap_or("");
    let body = body_text(message).unwrap_or_default();
    // The first few lines: a reply quoting the whole issue must not count because the
    // issue's footer says "unsubscribe".
    let opening: String = body
        .lines()
        .filter(|line| !line.trim_start().starts_with('>'))
        .take(5)
        .collect::<Vec<_>>()
        .join(" ");
    let says = |text: &str| text.to_lowercase().contains("unsubscribe");
    Notice::Mail {
        recipients,
        from,
        asks_to_unsubscribe: says(subject) || says(&opening),
    }
}

// ---- small readers ----

/// `x.0.0` from the first SMTP reply code (`550`, `452`) in a plain-text report's reason,
/// when the server gave no enhanced code: it says permanent or temporary, nothing more.
fn reply_class(diagnostic: &str) -> Option<Status> {
    diagnostic
        .split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 3 && matches!(word.as_bytes()[0], b'4' | b'5'))
        .and_then(|code| Status::parse(&format!("{}.0.0", &code[..1])))
}

/// The first text body (mail-parser's own `body_text` borrows the message for longer than a
/// caller holding a reference can lend it).
fn body_text<'m>(message: &'m Message<'_>) -> Option<&'m str> {
    message.text_part(0).and_then(|part| part.text_contents())
}

/// The groups of `Name: value` fields of a delivery-status or feedback-report body, separated
/// by empty lines; names lower-cased, folded lines joined.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks = Vec::new();
    let mut block: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !block.is_empty() {
                blocks.push(std::mem::take(&mut block));
                if blocks.len() > MAX_RECIPIENTS {
                    break;
                }
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = block.last_mut()
                && value.len() < 2_000
            {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':')
            && block.len() < 100
        {
            block.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    if !block.is_empty() {
        blocks.push(block);
    }
    blocks
}

fn field<'b>(block: &'b [(String, String)], name: &str) -> Option<&'b str> {
    block
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

/// `rfc822; Zoe@Example.org` → `zoe@example.org`; other address types are not mail addresses.
fn typed_address(value: &str) -> Option<String> {
    let (kind, address) = value.split_once(';').unwrap_or(("rfc822", value));
    if !kind.trim().eq_ignore_ascii_case("rfc822") {
        return None;
    }
    bare_address(address)
}

/// An address with any angle brackets and spaces removed, lower-cased; `None` unless it has the
/// shape `local@domain` (whether it is valid is for the subscriber list to say).
pub(crate) fn bare_address(value: &str) -> Option<String> {
    let address = value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let (local, domain) = address.rsplit_once('@')?;
    let plausible = !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 254
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','));
    plausible.then(|| address.to_lowercase())
}

fn addresses_of(address: Option<&mail_parser::Address<'_>>) -> Vec<String> {
    address
        .map(|address| {
            address
                .iter()
                .filter_map(|addr| addr.address())
                .filter_map(bare_address)
                .take(MAX_RECIPIENTS)
                .collect()
        })
        .unwrap_or_default()
}

/// At most `limit` characters of `text`, on one line.
pub(crate) fn clip(text: &str, limit: usize) -> String {
    let mut clipped: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(limit)
        .collect();
    if text.chars().count() > limit {
        clipped.push('…');
    }
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_fold_and_split_into_blocks() {
        let blocks = field_blocks(
            "Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; Zoe@Example.org\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n  user unknown\r\n",
        );
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            field(&blocks[1], "diagnostic-code"),
            Some("smtp; 550 5.1.1 user unknown")
        );
        assert_eq!(
            field(&blocks[1], "final-recipient").and_then(typed_address),
            Some("zoe@example.org".into())
        );
        assert_eq!(typed_address("x400; /C=gb/"), None);
    }

    #[test]
    fn bare_addresses_are_checked_for_shape_only() {
        assert_eq!(bare_address(" <A@B.example> "), Some("a@b.example".into()));
        assert_eq!(bare_address("no at sign"), None);
        assert_eq!(bare_address("a b@example.org"), None);
        assert_eq!(bare_address("@example.org"), None);
    }

    macro_rules! fixture {
        ($name:literal) => {
            read(include_bytes!(concat!(
                "../../tests/fixtures/bounces/mail/",
                $name
            )))
        };
    }

    /// The format, the first recipient's addresses and effective status, and the quoted
    /// `Message-ID` of a delivery report.
    fn delivery(notice: &Notice) -> (&'static str, Vec<String>, String, Option<String>) {
        let Notice::Delivery {
            format,
            recipients,
            returned,
        } = notice
        else {
            panic!("not a delivery report: {notice:?}");
        };
        (
            format,
            recipients[0].addresses.clone(),
            recipients[0].failure.label(),
            returned.message_id.clone(),
        )
    }

    #[test]
    fn each_mta_shape_is_read_as_a_delivery_report() {
        let cases = [
            (
                fixture!("01-postfix-hard.eml"),
                "RFC 3464",
                "zoe@example.net",
                "5.1.1",
                "e81c76cb385b65d7",
            ),
            (
                fixture!("02-exim-hard.eml"),
                "Exim",
                "li.ming@example.com",
                "5.1.1",
                "56564754dfe2652e",
            ),
            (
                fixture!("03-microsoft365-hard.eml"),
                "RFC 3464",
                "sean@example.ie",
                "5.1.10",
                "f5cb18c1f0fca050",
            ),
            (
                fixture!("04-gmail-hard.eml"),
                "RFC 3464",
                "ana@example.es",
                "5.1.1",
                "e980b7480b879225",
            ),
            (
                fixture!("05-qmail-hard.eml"),
                "qmail",
                "pat@example.nz",
                "5.1.1",
                "046355f4a952a657",
            ),
            (
                fixture!("06-ses-hard.eml"),
                "Amazon SES",
                "sam@example.us",
                "5.1.1",
                "40991b000fd0aa26",
            ),
            (
                fixture!("07-soft-mailbox-full.eml"),
                "RFC 3464",
                "ravi@example.in",
                "5.2.2",
                "4d694c865bafea7f",
            ),
            (
                fixture!("08-soft-expired.eml"),
                "RFC 3464",
                "kim@example.kr",
                "4.4.7",
                "2c7fb226b5ae4e35",
            ),
        ];
        for (notice, format, address, status, digest) in cases {
            let (got_format, addresses, label, id) = delivery(&notice);
            assert_eq!(
                (got_format, addresses[0].as_str(), label.as_str()),
                (format, address, status)
            );
            assert!(id.unwrap().contains(digest), "{address}");
        }
    }

    #[test]
    fn delayed_reports_complaints_mail_and_auto_replies_are_told_apart() {
        let Notice::Delivery { recipients, .. } = fixture!("10-delayed.eml") else {
            panic!("the delayed DSN is a delivery report");
        };
        assert_eq!(recipients[0].action, Action::Delayed);
        assert_eq!(
            fixture!("11-arf-complaint.eml"),
            Notice::Complaint {
                feedback_type: "abuse".into(),
                recipients: vec!["mia@example.de".into()],
                returned: Returned {
                    message_id: Some("2026-11.a1b2c3d4e5f6.a7ef5b42a8d32e4e@example.org".into()),
                    to: vec!["mia@example.de".into()],
                },
            }
        );
        assert_eq!(
            fixture!("12-mailto-unsubscribe.eml"),
            Notice::Mail {
                recipients: vec!["leave@example.org".into(), "leave@example.org".into()],
                from: Some("joe@example.org".into()),
                asks_to_unsubscribe: true,
            }
        );
        assert_eq!(fixture!("13-auto-reply.eml"), Notice::AutoReply);
        assert!(matches!(
            fixture!("15-unrelated-mail.eml"),
            Notice::Mail { recipients, .. } if recipients == ["bounces@example.org"]
        ));
        assert!(matches!(
            fixture!("16-malformed-report-without-status-part.eml"),
            Notice::NotUnderstood(_)
        ));
        assert!(matches!(
            fixture!("18-unknown-free-text-bounce.eml"),
            Notice::NotUnderstood(_)
        ));
    }

    #[test]
    fn an_exim_routing_failure_without_a_reply_is_read_from_its_wording() {
        let notice = read(
            b"From: Mail Delivery System <Mailer-Daemon@mx.example.org>\r\n\
              X-Failed-Recipients: nobody@nowhere.example\r\n\
              Subject: Mail delivery failed: returning message to sender\r\n\r\n\
              A message that you sent could not be delivered to one or more of its\r\n\
              recipients. This is a permanent error. The following address(es) failed:\r\n\r\n\
              \x20 nobody@nowhere.example\r\n\
              \x20   Unrouteable address\r\n\r\n",
        );
        let (format, addresses, label, _) = delivery(&notice);
        assert_eq!(
            (format, addresses[0].as_str(), label.as_str()),
            ("Exim", "nobody@nowhere.example", "5.0.0")
        );
        let Notice::Delivery { recipients, .. } = notice else {
            unreachable!()
        };
        assert_eq!(recipients[0].failure.diagnostic, "Unrouteable address");
        assert_eq!(
            recipients[0].failure.severity(),
            crate::bounces::status::Severity::Hard
        );
    }

    #[test]
    fn unreadable_bytes_are_not_understood() {
        assert!(matches!(read(b""), Notice::NotUnderstood(_)));
    }
}
