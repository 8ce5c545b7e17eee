//! `newsletter send` end to end: the real binary delivers to a real SMTP server (the capture
//! server of [`crate::smtp_server`]) on 127.0.0.1, and the tests read back what the server
//! received, the `--report` file and the journal.
//!

use std::{fs, path::Path};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use mail_parser::{Message, MimeHeaders};
use newsletter::testing::TokenKey;
use serde::Deserialize;

use crate::{
    faults::without_taken_back,
    harness::{Output, Test, UNSUBSCRIBE_KEY},
    smtp_server::{CaptureServer, Certificates, Received, Stats},
};

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";
const JOURNAL: &str = "newsletters/2019-06-uk-sg-mou.journal";
const SUBJECT: &str = "UK–Singapore MoU: a “significant milestone” for digital government";
const SENDER: &str = "bulletin@sin-singapore.example.org";
const LIST_ID: &str = "bulletin.sin-singapore.example.org";
const USER: &str = "bulletin";

/// A recipient of the sample issue, as their message should greet them.
struct Recipient {
    email: &'static str,
    name: Option<&'static str>,
    text_greeting: &'static str,
    html_greeting: &'static str,
}

/// Everyone the sample list mails, in file order: the unsubscribed (line 8), duplicate
/// (line 9) and suppressed (line 11) rows are left out.
const RECIPIENTS: [Recipient; 7] = [
    Recipient {
        email: "zoe.martin@example.org",
        name: Some("Zoë Martin"),
        text_greeting: "Dear Zoë Martin,",
        html_greeting: "Dear Zoë Martin,",
    },
    Recipient {
        email: "li.ming@example.com",
        name: Some("李明"),
        text_greeting: "Dear 李明,",
        html_greeting: "Dear 李明,",
    },
    Recipient {
        email: "sean.obrien@example.org",
        name: Some("Seán O'Brien"),
        text_greeting: "Dear Seán O'Brien,",
        html_greeting: "Dear Seán O&#39;Brien,",
    },
    Recipient {
        email: "mallory@example.com",
        name: Some("<script>alert('hi')</script> & <b>Mallory</b>"),
        text_greeting: "Dear <script>alert('hi')</script> & <b>Mallory</b>,",
        html_greeting: "Dear &#60;script&#62;alert(&#39;hi&#39;)&#60;/script&#62; &#38; &#60;b&#62;Mallory&#60;/b&#62;,",
    },
    Recipient {
        email: "priya.nair@example.org",
        name: Some("Priya Nair"),
        text_greeting: "Dear Priya Nair,",
        html_greeting: "Dear Priya Nair,",
    },
    Recipient {
        email: "anonymous@example.com",
        name: None,
        text_greeting: "Dear colleague,",
        html_greeting: "Dear colleague,",
    },
    Recipient {
        email: "kwame.mensah@example.org",
        name: Some("Kwame \"KM\" Mensah"),
        text_greeting: "Dear Kwame \"KM\" Mensah,",
        html_greeting: "Dear Kwame &#34;KM&#34; Mensah,",
    },
];

/// The rows of the sample list that are not mailed, with the reason the report gives.
const SKIPPED: [(&str, &str); 3] = [
    (
        "old.reader@example.org",
        "status is `unsubscribed` (line 8)",
    ),
    ("ZOE.MARTIN@EXAMPLE.ORG", "duplicate of line 2 (line 9)"),
    (
        "blocked@example.com",
        "address is in the suppression file (line 11)",
    ),
];

/// The lines of the summary after the first, for a run over the whole sample list.
const LIST_SUMMARY: &str = "  recipients:    7 in the subscriber file
  skipped rows:  1 unsubscribed, 1 duplicate, 1 suppressed
";

/// One line of a `--report` file.
#[derive(Debug, Deserialize)]
struct ReportLine {
    email: String,
    outcome: String,
    reply: Option<String>,
    reason: Option<String>,
    message_id: Option<String>,
    size: Option<usize>,
}

/// One line of a journal (the fields the tests read).
#[derive(Debug, Deserialize)]
struct JournalLine {
    e: String,
    to: Option<String>,
    id: Option<String>,
    reply: Option<String>,
    relay: Option<String>,
    issue: Option<String>,
}

/// `newsletter send` of the sample issue through `server`, in a new folder.
fn send(server: &CaptureServer) -> Test {
    send_in(Test::newsletters(), server)
}

/// `newsletter send` of the sample issue through `server`, with the unsubscribe key. Progress
/// lines are off: a slow run would print one to stderr, which the tests expect empty.
fn send_in(test: Test, server: &CaptureServer) -> Test {
    test.unsubscribe_key()
        .args(["send", MOU, "--progress", "none", "--smtp"])
        .arg(server.smtp_url())
}

/// The sample issue sent to the whole list through a plain server, with a report.
fn send_to_everyone(server: &CaptureServer) -> Output {
    send(server)
        .args(["--yes", "--report", "report.jsonl"])
        .run()
}

/// `text` with the elapsed time and any rate of a summary's first line (`in 0.02 s`, `in
/// 1.20 s (350/s)`) replaced by `in [ELAPSED]`.
fn redact_elapsed(text: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let Some(start) = line.find(" in ").filter(|_| index == 0) else {
                return line.to_owned();
            };
            let time = &line[start + 4..];
            let Some(seconds) = time.find(" s") else {
                return line.to_owned();
            };
            let mut rest = &time[seconds + 2..];
            if rest.starts_with(" (") && rest.contains("/s)") {
                rest = &rest[rest.find("/s)").expect("checked") + 3..];
            }
            format!("{} in [ELAPSED]{rest}", &line[..start])
        })
        .map(|line| line + "\n")
        .collect()
}

fn report(output: &Output, path: &str) -> Vec<ReportLine> {
    output
        .read(path)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

fn journal(output: &Output) -> Vec<JournalLine> {
    output
        .read(JOURNAL)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// The `skipped` lines of a report, as (address, reason), sorted.
fn skipped_lines(report: &[ReportLine]) -> Vec<(&str, &str)> {
    let mut skipped: Vec<(&str, &str)> = report
        .iter()
        .filter(|line| line.outcome == "skipped")
        .map(|line| {
            assert_eq!(
                (&line.reply, &line.message_id, line.size),
                (&None, &None, None),
                "{line:?}"
            );
            (
                line.email.as_str(),
                line.reason
                    .as_deref()
                    .expect("a skipped line without a reason"),
            )
        })
        .collect();
    skipped.sort_unstable();
    skipped
}

fn sorted(addresses: impl IntoIterator<Item = impl Into<String>>) -> Vec<String> {
    let mut addresses: Vec<String> = addresses.into_iter().map(Into::into).collect();
    addresses.sort();
    addresses
}

/// The one message the server received for `email`.
fn received_by<'a>(received: &'a [Received], email: &str) -> &'a Received {
    let mut matching = received.iter().filter(|message| message.to == [email]);
    let message = matching
        .next()
        .unwrap_or_else(|| panic!("nothing was delivered to {email}"));
    assert!(
        matching.next().is_none(),
        "{email} got more than one message"
    );
    message
}

/// The display name and address of the first mailbox of an address header.
fn mailbox(address: Option<&mail_parser::Address<'_>>) -> (Option<String>, String) {
    let first = address.and_then(|a| a.first()).expect("no address");
    (
        first.name.as_deref().map(str::to_owned),
        first.address.as_deref().expect("no address").to_owned(),
    )
}

/// The content types of the parts of a multipart message, in order.
fn part_types(message: &Message<'_>) -> Vec<String> {
    message
        .root_part()
        .sub_parts()
        .expect("not multipart")
        .iter()
        .map(|&id| {
            let content_type = message
                .part(id)
                .and_then(MimeHeaders::content_type)
                .expect("a part without Content-Type");
            format!(
                "{}/{}",
                content_type.ctype(),
                content_type.subtype().unwrap_or_default()
            )
        })
        .collect()
}

use crate::harness::{html_part as html, text_part as text};

/// The targets of the `List-Unsubscribe` header.
fn unsubscribe_targets(message: &Message<'_>) -> Vec<String> {
    message
        .list_unsubscribe()
        .as_address()
        .expect("List-Unsubscribe is not a list of URLs")
        .iter()
        .map(|target| target.address.as_deref().unwrap_or_default().to_owned())
        .collect()
}

/// The unsubscribe URL of `email`, with the token made with the suite's key.
fn unsubscribe_url(email: &str) -> String {
    let key = TokenKey::new(UNSUBSCRIBE_KEY.into()).expect("the suite's key is long enough");
    format!(
        "https://sin-singapore.example.org/unsubscribe?id={}&token={}",
        key.id(LIST_ID, email),
        key.token(LIST_ID, email)
    )
}

// ---------------------------------------------------------------------------------------------
// A real send of the sample issue

#[test]
fn send_delivers_exactly_one_message_to_each_subscriber() {
    let server = CaptureServer::start();
    let output = send_to_everyone(&server);
    assert_eq!(
        redact_elapsed(&output.stdout),
        format!(
            "sent 7 via 127.0.0.1:{} (no TLS) in [ELAPSED]\n{LIST_SUMMARY}  journal:       {JOURNAL}\n  report:        report.jsonl\n",
            server.smtp_port()
        )
    );
    let received = server.summary();
    assert_eq!(
        sorted(received.iter().flat_map(|message| message.to.clone())),
        sorted(RECIPIENTS.map(|recipient| recipient.email)),
    );
    for message in &received {
        assert_eq!(message.to.len(), 1, "{message:?}");
        assert_eq!(message.from, SENDER, "{message:?}");
        assert!(!message.tls && message.auth_user.is_none(), "{message:?}");
    }
    // MailHog's view of the same messages, with the name the client greeted the server with.
    let page = server.messages(50);
    assert_eq!((page.total, page.count), (7, 7));
    for item in &page.items {
        let summary = received
            .iter()
            .find(|message| message.id == item.id)
            .expect("a message missing from the summary");
        assert_eq!(item.raw.from, SENDER);
        assert_eq!(item.raw.to, summary.to);
        assert_eq!(item.raw.helo, "sin-singapore.example.org");
    }
}

#[test]
fn each_delivered_message_is_personalised_for_its_recipient() {
    let server = CaptureServer::start();
    send_to_everyone(&server);
    let received = server.summary();
    for recipient in &RECIPIENTS {
        let email = recipient.email;
        let message = server.email(&received_by(&received, email).id);
        assert_eq!(
            mailbox(message.to()),
            (recipient.name.map(str::to_owned), email.to_owned()),
            "{email}"
        );
        assert_eq!(message.subject(), Some(SUBJECT), "{email}");
        assert_eq!(
            part_types(&message),
            ["text/plain", "text/html"],
            "{email}: text first, HTML last"
        );
        assert!(
            text(&message).contains(&format!("\n\n{}\n\n", recipient.text_greeting)),
            "{email}: no greeting in the text part"
        );
        let html = html(&message);
        assert!(
            html.contains(&format!(">{}</p>", recipient.html_greeting)),
            "{email}: no greeting in the HTML part"
        );
        assert!(!html.contains("<script"), "{email}: markup from a name");
        assert_eq!(
            unsubscribe_targets(&message),
            [
                unsubscribe_url(email),
                "mailto:unsubscribe@sin-singapore.example.org?subject=unsubscribe".to_owned()
            ],
            "{email}"
        );
        assert_eq!(
            message.header_raw("List-Unsubscribe-Post").map(str::trim),
            Some("List-Unsubscribe=One-Click"),
            "{email}"
        );
    }
}

#[test]
fn delivered_message_is_the_built_message_byte_for_byte() {
    let server = CaptureServer::start();
    let output = send_to_everyone(&server);
    let report = report(&output, "report.jsonl");
    for message in server.summary() {
        let line = report
            .iter()
            .find(|line| line.email == message.to[0])
            .expect("a delivery missing from the report");
        // The size newsletter built is the size the server stored: nothing was added on the
        // way (such as an empty line before the end-of-data dot).
        assert_eq!(line.size, Some(message.size), "{}", line.email);
        let raw = server.raw(&message.id);
        assert!(
            raw.ends_with(b"--\r\n") && !raw.ends_with(b"\r\n\r\n"),
            "{}: the message does not end with its closing MIME boundary: {:?}",
            line.email,
            String::from_utf8_lossy(&raw[raw.len().saturating_sub(60)..])
        );
    }
}

#[test]
fn report_has_the_servers_reply_for_each_delivery_and_a_reason_for_each_skipped_row() {
    let server = CaptureServer::start();
    let output = send_to_everyone(&server);
    let report = report(&output, "report.jsonl");
    assert_eq!(report.len(), 10, "{report:#?}");
    let received = server.summary();
    let mut sent: Vec<&str> = Vec::new();
    for line in report.iter().filter(|line| line.outcome == "sent") {
        let message = received_by(&received, &line.email);
        assert_eq!(
            line.reply.as_deref(),
            Some(format!("250 2.0.0 Ok: queued as {}", message.id).as_str()),
            "{line:?}"
        );
        assert_eq!(line.message_id, message.message_id, "{line:?}");
        assert_eq!(line.reason, None, "{line:?}");
        sent.push(&line.email);
    }
    assert_eq!(
        sorted(sent),
        sorted(RECIPIENTS.map(|recipient| recipient.email))
    );
    assert_eq!(skipped_lines(&report), sorted_pairs(&SKIPPED));
}

fn sorted_pairs<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = pairs.to_vec();
    pairs.sort_unstable();
    pairs
}

#[test]
fn journal_records_each_delivery_and_a_second_run_sends_nothing() {
    let server = CaptureServer::start();
    let output = send_to_everyone(&server);
    let received = server.summary();
    let relay = format!("127.0.0.1:{} (no TLS)", server.smtp_port());

    let lines = journal(&output);
    assert_eq!(lines.len(), 2 + 2 * 7, "{lines:#?}");
    assert_eq!(
        (lines[0].e.as_str(), lines[0].issue.as_deref()),
        ("open", Some("2019-06-uk-sg-mou"))
    );
    assert_eq!(
        (lines[1].e.as_str(), lines[1].relay.as_deref()),
        ("run", Some(relay.as_str()))
    );
    for recipient in &RECIPIENTS {
        let message = received_by(&received, recipient.email);
        let records: Vec<&JournalLine> = lines
            .iter()
            .filter(|line| line.to.as_deref() == Some(recipient.email))
            .collect();
        // `data` before the body was sent, `sent` with the server's reply after.
        let [data, sent] = records.as_slice() else {
            panic!("{}: {records:#?}", recipient.email);
        };
        assert_eq!(
            (data.e.as_str(), data.id.as_ref()),
            ("data", message.message_id.as_ref())
        );
        assert_eq!(
            (sent.e.as_str(), sent.reply.clone()),
            (
                "sent",
                Some(format!("250 2.0.0 Ok: queued as {}", message.id))
            )
        );
    }
    let stats = server.stats();

    let output = send_in(output.again(), &server)
        .args(["--yes", "--report", "again.jsonl"])
        .run();
    assert_eq!(
        redact_elapsed(&output.stdout),
        format!(
            "sent 0 via {relay} in [ELAPSED]\n{LIST_SUMMARY}  earlier runs:  7 already sent (not sent again)\n  journal:       {JOURNAL}\n  report:        again.jsonl\n"
        )
    );
    // Not even a connection.
    assert_eq!(server.stats(), stats);
    assert_eq!(stats.messages, 7);
    let report = report(&output, "again.jsonl");
    let mut expected: Vec<(&str, &str)> = RECIPIENTS
        .iter()
        .map(|recipient| (recipient.email, "already sent by an earlier run"))
        .chain(SKIPPED)
        .collect();
    expected.sort_unstable();
    assert_eq!(skipped_lines(&report), expected);
    assert_eq!(report.len(), 10);
    let lines = journal(&output);
    assert_eq!(lines.len(), 2 + 2 * 7 + 1);
    assert_eq!(
        (lines[16].e.as_str(), lines[16].relay.as_deref()),
        ("run", Some(relay.as_str()))
    );
}

// ---------------------------------------------------------------------------------------------
// Test sends

#[test]
fn test_send_goes_only_to_the_given_addresses_with_a_marked_subject_and_no_journal() {
    let server = CaptureServer::start();
    // No --yes: a test send needs no confirmation.
    let output = send(&server)
        .args(["--to", "a@example.net", "--to", "zoe.martin@example.org"])
        .run();
    assert_eq!(
        redact_elapsed(&output.stdout),
        format!(
            "sent 2 via 127.0.0.1:{} (no TLS) in [ELAPSED]\n  test send:     to 2 address(es), not the list; the journal was not used\n",
            server.smtp_port()
        )
    );
    let received = server.summary();
    assert_eq!(
        sorted(received.iter().flat_map(|message| message.to.clone())),
        ["a@example.net", "zoe.martin@example.org"]
    );
    for (email, name, greeting) in [
        ("a@example.net", None, "Dear colleague,"),
        // On the list: personalised from her row.
        (
            "zoe.martin@example.org",
            Some("Zoë Martin"),
            "Dear Zoë Martin,",
        ),
    ] {
        let summary = received_by(&received, email);
        let message = server.email(&summary.id);
        assert_eq!(
            message.subject(),
            Some(format!("[TEST] {SUBJECT}").as_str())
        );
        assert_eq!(
            mailbox(message.to()),
            (name.map(str::to_owned), email.to_owned())
        );
        assert!(
            text(&message).contains(&format!("\n\n{greeting}\n\n")),
            "{email}"
        );
        assert!(
            html(&message).contains(&format!(">{greeting}</p>")),
            "{email}"
        );
        // Its own Message-ID, never the one the real send will use.
        let id = message.message_id().expect("no Message-ID");
        assert!(
            id.starts_with("2019-06-uk-sg-mou.") && id.contains(".test-"),
            "{id}"
        );
    }
    assert_eq!(
        output.files("newsletters"),
        [
            "2019-06-uk-sg-mou.yaml",
            "list.yaml",
            "subscribers.csv",
            "suppressed.txt"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Dry runs

#[test]
fn dry_run_connects_to_nothing_and_says_what_would_be_sent() {
    let server = CaptureServer::start();
    let output = send(&server).arg("--dry-run").run();
    let stdout = redact_elapsed(&output.stdout);
    let (first, rest) = stdout.split_once('\n').expect("no summary");
    assert_eq!(
        first,
        "dry run: 7 message(s) built for 2019-06-uk-sg-mou in [ELAPSED]; nothing was sent, no connection was made"
    );
    let (via, rest) = rest.split_once('\n').expect("no relay line");
    assert_eq!(
        via,
        format!(
            "  relay:         127.0.0.1:{} (no TLS), not contacted",
            server.smtp_port()
        )
    );
    let (sizes, rest) = rest.split_once('\n').expect("no sizes line");
    let sizes = sizes
        .strip_prefix("  sizes:         ")
        .unwrap_or_else(|| panic!("{sizes}"));
    assert!(
        sizes.contains(" KB in all, ") && sizes.contains(" KB on average, largest "),
        "{sizes}"
    );
    assert_eq!(rest, LIST_SUMMARY);
    assert_eq!(
        server.stats(),
        Stats {
            connections: 0,
            messages: 0
        }
    );
    assert!(!output.path(JOURNAL).exists());
}

#[test]
fn dry_run_with_out_writes_each_message_as_an_eml_file() {
    let server = CaptureServer::start();
    let output = send(&server).args(["--dry-run", "--out", "out"]).run();
    let files = output.files("out");
    assert_eq!(
        files,
        [
            "0002-zoe.martin_example.org.eml",
            "0003-li.ming_example.com.eml",
            "0004-sean.obrien_example.org.eml",
            "0005-mallory_example.com.eml",
            "0006-priya.nair_example.org.eml",
            "0007-anonymous_example.com.eml",
            "0010-kwame.mensah_example.org.eml",
        ]
    );
    let mut sizes = Vec::new();
    for (file, recipient) in files.iter().zip(&RECIPIENTS) {
        let path = format!("out/{file}");
        sizes.push(output.read_bytes(&path).len());
        let message = output.email(&path);
        assert_eq!(message.subject(), Some(SUBJECT), "{file}");
        assert_eq!(
            mailbox(message.to()),
            (
                recipient.name.map(str::to_owned),
                recipient.email.to_owned()
            ),
            "{file}"
        );
        assert!(text(&message).contains(recipient.text_greeting), "{file}");
    }
    let total: usize = sizes.iter().sum();
    let size = newsletter::testing::size;
    assert_eq!(
        redact_elapsed(&output.stdout),
        format!(
            "dry run: 7 message(s) built for 2019-06-uk-sg-mou in [ELAPSED]; nothing was sent, no connection was made
  relay:         127.0.0.1:{} (no TLS), not contacted
  sizes:         {} in all, {} on average, largest {}
{LIST_SUMMARY}  .eml files:    out
",
            server.smtp_port(),
            size(total),
            size(total / sizes.len()),
            size(sizes.iter().copied().max().unwrap_or_default()),
        )
    );
    assert_eq!(server.stats().connections, 0);
}

// ---------------------------------------------------------------------------------------------
// Refused recipients

#[test]
fn rejected_recipient_fails_exit_3_and_everyone_else_gets_one_message() {
    let rejection =
        "550 5.1.1 <li.ming@example.com>: Recipient address rejected: User unknown (at RCPT TO)";
    let server = CaptureServer::builder()
        .reject("li.ming@example.com")
        .start();
    let output = send(&server)
        .args(["--yes", "--report", "report.jsonl"])
        .status(3)
        .run();
    let relay = format!("127.0.0.1:{} (no TLS)", server.smtp_port());
    assert_eq!(
        redact_elapsed(&output.stdout),
        format!(
            "sent 6, failed 1 via {relay} in [ELAPSED]\n{LIST_SUMMARY}  li.ming@example.com: failed: {rejection}\n  journal:       {JOURNAL}\n  report:        report.jsonl\n"
        )
    );
    let received = server.summary();
    let delivered: Vec<&str> = RECIPIENTS
        .iter()
        .map(|recipient| recipient.email)
        .filter(|email| *email != "li.ming@example.com")
        .collect();
    assert_eq!(
        sorted(received.iter().flat_map(|message| message.to.clone())),
        sorted(delivered.iter().copied())
    );

    let report = report(&output, "report.jsonl");
    let failed: Vec<(&str, Option<&str>)> = report
        .iter()
        .filter(|line| line.outcome == "failed")
        .map(|line| (line.email.as_str(), line.reply.as_deref()))
        .collect();
    assert_eq!(failed, [("li.ming@example.com", Some(rejection))]);
    assert_eq!(
        report.iter().filter(|line| line.outcome == "sent").count(),
        6
    );

    let li: Vec<(String, Option<String>)> = journal(&output)
        .into_iter()
        .filter(|line| line.to.as_deref() == Some("li.ming@example.com"))
        .map(|line| (line.e, line.reply))
        .collect();
    // The `data` record written ahead of the transaction, then the refusal.
    assert_eq!(
        li,
        [
            ("data".to_owned(), None),
            ("failed".to_owned(), Some(rejection.to_owned()))
        ]
    );

    // A failure for good is not retried by the next run, which exits 3 as long as it stands.
    let output = send_in(output.again(), &server)
        .args(["--yes", "--report", "again.jsonl"])
        .status(3)
        .stdout_contains("\nunresolved: 1 recipient(s) failed, deferred or in doubt in earlier runs (`newsletter status` lists them)\n")
        .run();
    assert!(
        report_reasons(&output, "li.ming@example.com")
            == ["failed for good in an earlier run (see `newsletter status`)"],
        "{}",
        output.read("again.jsonl")
    );
    assert_eq!(server.stats().messages, 6);
}

fn report_reasons(output: &Output, email: &str) -> Vec<String> {
    report(output, "again.jsonl")
        .into_iter()
        .filter(|line| line.email == email)
        .filter_map(|line| line.reason)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Confirmation

/// A real send to the whole list without `--yes`; the harness gives it no terminal.
fn unconfirmed_send(server: &CaptureServer) -> Output {
    send(server)
        .status(2)
        .stderr(&format!(
            "error: this would send `2019-06-uk-sg-mou` to 7 subscribers via 127.0.0.1:{} (no TLS); there is no terminal to confirm it\nhint: add --yes to send without asking, or --dry-run to see what would be sent\n",
            server.smtp_port()
        ))
        .stdout("")
        .run()
}

#[test]
fn real_send_without_yes_and_without_a_terminal_is_refused() {
    let server = CaptureServer::start();
    unconfirmed_send(&server);
    assert_eq!(
        server.stats(),
        Stats {
            connections: 0,
            messages: 0
        }
    );
}

#[test]
fn issue_edited_after_a_refused_send_is_sent_without_a_journal_choice() {
    let server = CaptureServer::start();
    let output = unconfirmed_send(&server);
    // Nobody was sent the first version, so nobody can get the issue twice: no need for
    // --continue-changed or --start-over.
    let issue = output.read(MOU).replace(
        "greeting: \"Dear {name},\"",
        "greeting: \"Dear {name} (corrected),\"",
    );
    fs::write(output.path(MOU), issue).expect("cannot edit the issue");
    send_in(output.again(), &server)
        .arg("--yes")
        .stdout_contains("sent 7 via")
        .run();
    let received = server.summary();
    assert_eq!(received.len(), 7);
    let message = server.email(&received_by(&received, "zoe.martin@example.org").id);
    assert!(text(&message).contains("\n\nDear Zoë Martin (corrected),\n\n"));
}

// ---------------------------------------------------------------------------------------------
// STARTTLS and AUTH

/// A server that requires STARTTLS, then AUTH as [`USER`] with `password`.
fn secure_server(certificates: &Certificates, password: &str) -> CaptureServer {
    CaptureServer::builder()
        .starttls(certificates)
        .require_tls()
        .auth(USER, password)
        .start()
}

/// `smtp://bulletin@127.0.0.1:PORT?tls=required`.
fn secure_url(server: &CaptureServer) -> String {
    format!(
        "smtp://{USER}@127.0.0.1:{}?tls=required",
        server.smtp_port()
    )
}

/// A send through `server` as [`USER`] with `password`, trusting the test CA.
fn send_securely(
    test: Test,
    server: &CaptureServer,
    certificates: &Certificates,
    password: &str,
) -> Test {
    test.unsubscribe_key()
        .env("NEWSLETTER_SMTP_PASSWORD", password)
        .args(["send", MOU, "--progress", "none", "--smtp"])
        .arg(secure_url(server))
        .arg("--ca-file")
        .arg(certificates.ca())
}

#[test]
fn starttls_and_auth_deliver_over_tls_as_the_user() {
    let certificates = Certificates::generate();
    let server = secure_server(&certificates, "correct horse");
    let output = send_securely(Test::newsletters(), &server, &certificates, "correct horse")
        .arg("--yes")
        .run();
    assert_everyone_got_it_over_tls_as_the_user(&output, &server, "STARTTLS");
}

/// The summary of a send of the sample issue to everyone through `server` (`security` as
/// the summary names it), and that each message arrived encrypted, from the logged-in user.
fn assert_everyone_got_it_over_tls_as_the_user(
    output: &Output,
    server: &CaptureServer,
    security: &str,
) {
    assert_eq!(
        redact_elapsed(&output.stdout),
        format!(
            "sent 7 via 127.0.0.1:{} ({security}) as {USER} in [ELAPSED]\n{LIST_SUMMARY}  journal:       {JOURNAL}\n",
            server.smtp_port()
        )
    );
    let received = server.summary();
    assert_eq!(received.len(), 7);
    for message in &received {
        assert!(message.tls, "{message:?}");
        assert_eq!(message.auth_user.as_deref(), Some(USER), "{message:?}");
    }
}

#[test]
fn implicit_tls_with_auth_delivers_over_tls_as_the_user() {
    let certificates = Certificates::generate();
    let server = CaptureServer::builder()
        .implicit_tls(&certificates)
        .auth(USER, "correct horse")
        .start();
    let output = Test::newsletters()
        .unsubscribe_key()
        .env("NEWSLETTER_SMTP_PASSWORD", "correct horse")
        .args(["send", MOU, "--progress", "none", "--yes", "--smtp"])
        .arg(format!("smtps://{USER}@127.0.0.1:{}", server.smtp_port()))
        .arg("--ca-file")
        .arg(certificates.ca())
        .run();
    assert_everyone_got_it_over_tls_as_the_user(&output, &server, "TLS");
}

#[test]
fn implicit_tls_without_the_ca_file_fails_certificate_verification() {
    let certificates = Certificates::generate();
    let server = CaptureServer::builder().implicit_tls(&certificates).start();
    Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--progress", "none", "--yes", "--smtp"])
        .arg(format!("smtps://127.0.0.1:{}", server.smtp_port()))
        .status(1)
        .stderr_contains(&format!(
            "error: 127.0.0.1:{} (TLS): TLS failed: TLS handshake failed: invalid peer certificate: UnknownIssuer\n",
            server.smtp_port()
        ))
        .run();
    assert_eq!(server.stats().messages, 0);
}

#[test]
fn wrong_password_stops_the_run_with_one_authentication_error() {
    let certificates = Certificates::generate();
    let server = secure_server(&certificates, "correct horse");
    let output = send_securely(Test::newsletters(), &server, &certificates, "battery staple")
        .args(["--yes", "--report", "report.jsonl"])
        .status(1)
        .stderr(&format!(
            "error: 127.0.0.1:{} (STARTTLS) as {USER}: authentication failed: the relay refused the login of `{USER}`: permanent error (535): 5.7.8 Authentication credentials invalid\nhint: check the user name in --smtp and the password in NEWSLETTER_SMTP_PASSWORD\n",
            server.smtp_port()
        ))
        .run();
    let stats = server.stats();
    assert_eq!(stats.messages, 0);
    // One failed login, not one per worker or per subscriber: until a session has opened,
    // workers open theirs one at a time (relays lock accounts after a few failed logins).
    assert_eq!(stats.connections, 1, "{stats:?}");
    // Nobody is recorded as failed: the run stopped before any delivery.
    let report = report(&output, "report.jsonl");
    assert_eq!(skipped_lines(&report), sorted_pairs(&SKIPPED));
    assert_eq!(report.len(), 3);
    // Beyond the header and the run, only `data` records written ahead, each taken back by
    // `unsent`: nobody may have the message.
    let kinds: Vec<String> = journal(&output).into_iter().map(|line| line.e).collect();
    assert_eq!(kinds[..2], ["open", "run"]);
    assert!(without_taken_back(&kinds[2..]).is_empty(), "{kinds:?}");
}

#[test]
fn tls_required_fails_against_a_server_without_starttls() {
    let server = CaptureServer::start();
    let port = server.smtp_port();
    Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--progress", "none", "--yes", "--smtp"])
        .arg(format!("smtp://127.0.0.1:{port}?tls=required"))
        .status(1)
        .stderr(&format!(
            "error: 127.0.0.1:{port} (STARTTLS): TLS failed: 127.0.0.1:{port} does not offer STARTTLS, and the URL says `tls=required`\nhint: port 465 uses `smtps://`, port 587 uses `smtp://HOST:587?tls=required`; for a private CA pass --ca-file\n"
        ))
        .run();
    assert_eq!(server.stats().messages, 0);
}

#[test]
fn starttls_without_the_ca_file_fails_certificate_verification() {
    let certificates = Certificates::generate();
    let server = secure_server(&certificates, "correct horse");
    Test::newsletters()
        .unsubscribe_key()
        .env("NEWSLETTER_SMTP_PASSWORD", "correct horse")
        .args(["send", MOU, "--progress", "none", "--yes", "--smtp"])
        .arg(secure_url(&server))
        .status(1)
        .stderr_contains(&format!(
            "error: 127.0.0.1:{} (STARTTLS) as {USER}: TLS failed: TLS handshake failed: invalid peer certificate: UnknownIssuer\n",
            server.smtp_port()
        ))
        .stderr_contains("invalid peer certificate: UnknownIssuer\nhint: port 465 uses `smtps://`, port 587 uses `smtp://HOST:587?tls=required`; for a private CA pass --ca-file\n")
        .run();
    assert_eq!(server.stats().messages, 0);
    // The client, not the server, ended the handshake.
    assert!(
        server
            .log()
            .contains("STARTTLS handshake failed: SSLError(1, '[SSL: TLSV1_ALERT_UNKNOWN_CA]"),
        "{}",
        server.log()
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets

/// Every file under `folder`, recursively.
fn files_under(folder: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(folder).expect("cannot list a folder") {
        let path = entry.expect("cannot list a folder").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn smtp_password_appears_in_no_output_and_no_file() {
    let password = format!("pw-{:016x}-S3CRET", fastrand::u64(..));
    let wrong = format!("pw-{:016x}-WR0NG", fastrand::u64(..));
    let certificates = Certificates::generate();
    let server = secure_server(&certificates, &password);
    let port = server.smtp_port();
    let mut streams = Vec::new();

    let output = send_securely(Test::newsletters(), &server, &certificates, &password)
        .args(["--yes", "--report", "report.jsonl"])
        .run();
    assert_eq!(server.stats().messages, 7);
    streams.push(output.stdout.clone());

    // A test send with the wrong password (a test send, so that there is someone to send to).
    let output = send_securely(output.again(), &server, &certificates, &wrong)
        .args(["--to", "a@example.net", "--report", "wrong.jsonl"])
        .status(1)
        .stderr_contains("authentication failed")
        .run();
    streams.extend([output.stdout.clone(), output.stderr.clone()]);

    // The right password, but the certificate is not trusted: the run fails before AUTH.
    let output = output
        .again()
        .unsubscribe_key()
        .env("NEWSLETTER_SMTP_PASSWORD", &password)
        .args([
            "send",
            MOU,
            "--progress",
            "none",
            "--to",
            "a@example.net",
            "--smtp",
        ])
        .arg(secure_url(&server))
        .status(1)
        .stderr_contains("TLS failed")
        .run();
    streams.extend([output.stdout.clone(), output.stderr.clone()]);

    // The password in the URL is refused, and not repeated.
    let output = output
        .again()
        .unsubscribe_key()
        .args(["send", MOU, "--progress", "none", "--yes", "--smtp"])
        .arg(format!("smtp://{USER}:{password}@127.0.0.1:{port}?tls=required"))
        .status(2)
        .stderr("error: the SMTP URL contains a password\nhint: remove it from the URL (it would show in the process list and shell history) and set NEWSLETTER_SMTP_PASSWORD instead\n")
        .run();
    streams.extend([output.stdout.clone(), output.stderr.clone()]);
    assert_eq!(server.stats().messages, 7);

    let mut secrets = Vec::new();
    for secret in [&password, &wrong] {
        secrets.push(secret.clone());
        // As AUTH LOGIN and AUTH PLAIN send it, should a protocol log be written.
        secrets.push(BASE64.encode(secret));
        secrets.push(BASE64.encode(format!("\0{USER}\0{secret}")));
    }
    let files = files_under(output.tempdir.path());
    for expected in [JOURNAL, "report.jsonl", "wrong.jsonl"] {
        assert!(
            files.contains(&output.path(expected)),
            "{expected} was not written"
        );
    }
    for secret in &secrets {
        for (index, stream) in streams.iter().enumerate() {
            assert!(
                !stream.contains(secret.as_str()),
                "output {index} holds the password"
            );
        }
        for file in &files {
            let bytes = fs::read(file).expect("cannot read a file");
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{} holds the password",
                file.display()
            );
        }
    }
}

#[test]
fn a_bad_sender_address_stops_the_send_before_anyone_is_recorded() {
    let server = CaptureServer::start();
    let list = include_str!("../../newsletters/list.yaml");
    let broken = list.replace(
        "address: bulletin@sin-singapore.example.org",
        "address: '\"x>, <https://evil.example/u?\"@sin-singapore.example.org'",
    );
    let output = send_in(
        Test::newsletters().write("newsletters/list.yaml", broken),
        &server,
    )
    .arg("--yes")
    .status(4)
    .stderr_contains("`newsletters/list.yaml` line 7, column 3: field `from.address`: ")
    .run();
    assert_eq!(server.stats().messages, 0);
    assert!(!output.path(JOURNAL).exists(), "a journal was written");
    // Once the file is fixed, everyone gets the issue.
    send_in(output.again().write("newsletters/list.yaml", list), &server)
        .arg("--yes")
        .stdout_contains("sent 7 via ")
        .run();
    assert_eq!(server.stats().messages, 7);
}
