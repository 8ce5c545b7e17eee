//! `send` against a relay that lies or attacks (`fault_server.rs`): lines and replies without
//! end, replies nobody asked for, replies that do not fit their command, a relay that drops
//! every message before answering, terminal escape sequences and quoted passwords in replies.
//! Like `faults.rs`, each test checks every recipient three ways (the report, the journal and
//! what the server took); where the relay could make the client hoard memory, the run's peak
//! memory is measured too.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};

use crate::{
    fault_server::{Answer, Fate, FaultServer, Script, Step},
    faults::{
        Expect, JOURNAL, PASSWORD_VARIABLE, REPORT, SUBSCRIBERS, assert_outcomes, assert_summary,
        attempts, everyone, fates, journal_kinds, json_lines, last_run_outcomes, reader, send,
        send_arguments, subscribers,
    },
    harness::{Output, Test},
};

/// The most memory a run may hold at its peak, whatever the relay sends.
const MEMORY_LIMIT_KIB: u64 = 100 * 1024;

fn assert_small_peak_memory(output: &Output) {
    let peak = output.peak_memory_kib();
    assert!(
        peak < MEMORY_LIMIT_KIB,
        "the run held {peak} KiB at its peak; the limit is {MEMORY_LIMIT_KIB} KiB"
    );
}

/// Checks that every journal record of the last run that has a reply has this one.
fn assert_replies(output: &Output, expected: &str) {
    let records = last_run_outcomes(output);
    assert!(!records.is_empty());
    for record in records {
        assert_eq!(record["reply"], expected, "{record}");
    }
}

// Replies without end.

/// A relay that answers at `step` with a line or reply without end, on every connection:
/// every recipient is deferred with `reason`, after a retry, and the run's memory stays small.
fn endless_before_any_message(script: Script, reason: &str) {
    let server = FaultServer::start(script);
    let output = send(&server, 2, &["--concurrency", "2", "--retries", "1"])
        .measure_memory()
        .status(3)
        .run();
    assert_outcomes(&output, &server, &everyone(2, Expect::Deferred, &[]));
    assert_summary(&output, &server.relay(), "sent 0, deferred 2");
    assert_replies(&output, reason);
    assert_eq!(server.connections(), 4, "{}", server.transcript());
    assert_small_peak_memory(&output);
}

#[test]
fn an_endless_greeting_line_is_cut_at_the_line_limit_and_everyone_deferred() {
    endless_before_any_message(
        Script::new(|step| match step {
            Step::Greeting { .. } => Answer::EndlessLine("220 "),
            _ => Answer::Accept,
        }),
        "protocol error: the relay sent a reply line over 4096 bytes (at the greeting)",
    );
}

#[test]
fn an_endless_ehlo_reply_is_cut_at_the_reply_limit_and_everyone_deferred() {
    endless_before_any_message(
        Script::new(|step| match step {
            Step::Ehlo { .. } => Answer::EndlessReply("250-fault.test says more"),
            _ => Answer::Accept,
        }),
        "protocol error: the relay sent a reply over 65536 bytes (at EHLO)",
    );
}

#[test]
fn an_endless_ehlo_line_once_costs_one_connection_and_everyone_is_sent() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Ehlo { connection: 1, .. } => Answer::EndlessLine("250 "),
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "1"])
        .measure_memory()
        .run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_eq!(server.connections(), 2, "{}", server.transcript());
    assert_small_peak_memory(&output);
}

#[test]
fn an_endless_line_after_the_end_of_data_leaves_that_message_in_doubt() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot {
            to: "reader04@example.org",
            ..
        } => Answer::EndlessLine("250 "),
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "1"])
        .measure_memory()
        .status(3)
        .stdout_contains("\n  reader04@example.org: in-doubt: protocol error: the relay sent a reply line over 4096 bytes (at the end of DATA)\n")
        .run();
    assert_outcomes(
        &output,
        &server,
        &everyone(10, Expect::Sent, &[(4, Expect::InDoubt)]),
    );
    assert_summary(&output, &server.relay(), "sent 9, in doubt 1");
    assert_eq!(attempts(&server, 4), 1);
    assert_eq!(fates(&server, 4), [Fate::Unanswered]);
    assert_small_peak_memory(&output);
}

// Replies out of step.

/// Reader 3's message is answered with its 250 and, in the same write, one more line nobody
/// asked for; reader 4 is unknown. Read in step, the extra line would answer reader 4's MAIL,
/// and every later reply would answer the wrong command (reader 4 recorded `sent` with the 250
/// meant for its RCPT, the next reader given reader 4's 550).
fn extra_line_after_a_message(step: &Step<'_>) -> Answer {
    match step {
        Step::Dot {
            to: "reader03@example.org",
            attempt: 0,
        } => {
            Answer::Say("250 2.0.0 Ok: queued as 3\r\n250 2.0.0 Ok: and this line nobody asked for")
        }
        Step::Rcpt {
            to: "reader04@example.org",
            ..
        } => Answer::Say(USER_UNKNOWN),
        _ => Answer::Accept,
    }
}

const USER_UNKNOWN: &str = "550 5.1.1 <reader04@example.org>: Recipient address rejected";

fn an_unasked_line_ends_the_connection(script: Script) {
    let server = FaultServer::start(script);
    let output = send(&server, 10, &["--concurrency", "1"])
        .status(3)
        .stdout_contains(&format!(
            "\n  reader04@example.org: failed: {USER_UNKNOWN} (at RCPT TO)\n"
        ))
        .run();
    assert_outcomes(
        &output,
        &server,
        &everyone(10, Expect::Sent, &[(4, Expect::Failed)]),
    );
    assert_summary(&output, &server.relay(), "sent 9, failed 1");
    let report = json_lines(&output.read(REPORT));
    let third = report
        .iter()
        .find(|line| line["email"] == reader(3))
        .expect("reader 3 is in the report");
    assert_eq!(third["reply"], "250 2.0.0 Ok: queued as 3");
    // The extra line was noticed before reader 4's MAIL went out: the connection was dropped
    // and reader 4 tried again on a new one, where its own RCPT got its own 550.
    assert_eq!(server.connections(), 2, "{}", server.transcript());
    assert_eq!(attempts(&server, 4), 1);
    for message in server.messages() {
        assert_eq!(message.fate, Fate::Accepted, "{}", server.transcript());
        assert!(!message.data.is_empty());
    }
}

#[test]
fn an_unasked_reply_line_ends_the_connection_and_no_reply_goes_to_the_wrong_recipient() {
    an_unasked_line_ends_the_connection(Script::new(extra_line_after_a_message));
}

#[test]
fn an_unasked_reply_line_without_pipelining_ends_the_connection() {
    an_unasked_line_ends_the_connection(
        Script::new(extra_line_after_a_message).without_pipelining(),
    );
}

#[test]
fn a_250_in_answer_to_data_sends_no_body() {
    // Only 354 lets a body go. Reader 4's DATA is always answered 250: its body is never sent,
    // so it is certainly not delivered, and after its retries it is deferred.
    let reason = "protocol error: the relay answered DATA with `250 2.0.0 Ok`";
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Data {
            to: "reader04@example.org",
            ..
        } => Answer::Say("250 2.0.0 Ok"),
        _ => Answer::Accept,
    }));
    let output = send(&server, 6, &["--concurrency", "1", "--retries", "1"])
        .status(3)
        .stdout_contains(&format!("\n  reader04@example.org: deferred: {reason}\n"))
        .run();
    assert_outcomes(
        &output,
        &server,
        &everyone(6, Expect::Sent, &[(4, Expect::Deferred)]),
    );
    assert_eq!(attempts(&server, 4), 2);
    // The server waited for a body that never came.
    for message in server.messages() {
        if message.to == [reader(4)] {
            assert_eq!(message.fate, Fate::Incomplete);
            assert!(message.data.is_empty(), "{}", server.transcript());
        }
    }
    // The `data` record written ahead, then `deferred`: the body never went.
    assert_eq!(journal_kinds(&output, 4), ["data", "deferred"]);
}

#[test]
fn a_354_or_334_in_answer_to_the_end_of_data_is_in_doubt_not_delivered() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot {
            to: "reader03@example.org",
            ..
        } => Answer::Say("354 go ahead"),
        Step::Dot {
            to: "reader06@example.org",
            ..
        } => Answer::Say("334 VXNlcm5hbWU6"),
        _ => Answer::Accept,
    }));
    let output = send(&server, 8, &["--concurrency", "2"])
        .status(3)
        .stdout_contains("\n  reader03@example.org: in-doubt: protocol error: the relay answered the end of DATA with `354 go ahead`\n")
        .stdout_contains("\n  reader06@example.org: in-doubt: protocol error: the relay answered the end of DATA with `334 VXNlcm5hbWU6`\n")
        .run();
    assert_outcomes(
        &output,
        &server,
        &everyone(
            8,
            Expect::Sent,
            &[(3, Expect::InDoubt), (6, Expect::InDoubt)],
        ),
    );
    assert_summary(&output, &server.relay(), "sent 6, in doubt 2");
    assert_eq!((attempts(&server, 3), attempts(&server, 6)), (1, 1));
}

#[test]
fn a_relay_that_drops_every_message_before_answering_stops_the_run() {
    // Every body reaches the relay, which hangs up before answering: each message is in doubt
    // and not retried. Without a limit the run would go through the whole list leaving
    // everyone in doubt; in-doubt messages count as failures in a row, so it stops after 10.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot { .. } => Answer::Hangup,
        _ => Answer::Accept,
    }));
    let output = send(&server, 15, &["--concurrency", "1"])
        .status(1)
        .stderr_contains(&format!(
            "error: {}: the relay keeps failing (10 temporary failures in a row; the last: the relay closed the connection (at the end of DATA))\n",
            server.relay()
        ))
        .run();
    let expected = everyone(
        15,
        Expect::InDoubt,
        &(11..=15)
            .map(|index| (index, Expect::Untried))
            .collect::<Vec<_>>(),
    );
    assert_outcomes(&output, &server, &expected);
    assert_summary(&output, &server.relay(), "sent 0, in doubt 10");
    assert_eq!(server.messages().len(), 10);
}

// What a relay's text can do to the terminal and to secrets.

const ESCAPES: &str = "550 5.1.1 \u{1b}]0;owned\u{7}\u{1b}[2J\u{1b}[31mgone\u{9b}";
const ESCAPED: &str = "550 5.1.1 \\x1b]0;owned\\x07\\x1b[2J\\x1b[31mgone\\x9b";

#[test]
fn escape_sequences_in_replies_are_shown_escaped() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt {
            to: "reader02@example.org",
            ..
        } => Answer::Say(ESCAPES),
        _ => Answer::Accept,
    }));
    let output = send(&server, 3, &["--concurrency", "1"])
        .status(3)
        .stdout_contains(&format!(
            "\n  reader02@example.org: failed: {ESCAPED} (at RCPT TO)\n"
        ))
        .run();
    assert_outcomes(
        &output,
        &server,
        &everyone(3, Expect::Sent, &[(2, Expect::Failed)]),
    );
    let stored = format!("{ESCAPED} (at RCPT TO)");
    for file in [REPORT, JOURNAL] {
        let lines = json_lines(&output.read(file));
        let line = lines
            .iter()
            .rfind(|line| line["email"] == reader(2) || line["to"] == reader(2))
            .expect("reader 2 is recorded");
        assert_eq!(line["reply"], stored.as_str(), "{file}");
    }
    assert!(!output.stdout.contains('\u{1b}'), "{}", output.stdout);
    let output = output
        .again()
        .unsubscribe_key()
        .args(["status", "issue.yaml", "--subscribers", SUBSCRIBERS])
        .stdout_contains(&format!("\n  reader02@example.org  {stored}  ("))
        .run();
    assert!(!output.stdout.contains('\u{1b}'));

    // In an error message too.
    let refusing = FaultServer::start(Script::new(|step| match step {
        Step::Greeting { .. } => Answer::Say(ESCAPES),
        _ => Answer::Accept,
    }));
    let output = send(&refusing, 3, &["--concurrency", "1"])
        .status(1)
        .stderr(&format!(
            "error: {}: session failed: the relay refused the session: {ESCAPED}\n",
            refusing.relay()
        ))
        .run();
    assert!(!output.stderr.contains('\u{1b}'));
}

/// A login refused with a 535 that quotes the credentials (as decoded, and as sent): the
/// password, and the base64 forms it was sent in, appear nowhere.
fn a_quoted_password_is_never_shown(mechanism: &'static str, shown: &str) {
    let password = format!("pw-{:016x}-S3CRET", fastrand::u64(..));
    let server = FaultServer::start(
        Script::accept_all()
            .login("bulletin", "right horse")
            .mechanisms(mechanism)
            .quoting_credentials(),
    );
    let output = Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(3))
        .env(PASSWORD_VARIABLE, &password)
        .args(send_arguments(&server.url_as("bulletin"), &[]))
        .status(1)
        .stderr(&format!(
            "error: {} as bulletin: authentication failed: the relay refused the login of `bulletin`: permanent error (535): 5.7.8 Authentication failed for bulletin:[redacted] (sent: {shown})\nhint: check the user name in --smtp and the password in {PASSWORD_VARIABLE}\n",
            server.relay()
        ))
        .run();
    assert_outcomes(&output, &server, &everyone(3, Expect::Untried, &[]));
    let forms = [
        password.clone(),
        BASE64.encode(&password),
        BASE64.encode(format!("\0bulletin\0{password}")),
    ];
    let mut texts = vec![
        ("stdout".to_owned(), output.stdout.clone()),
        ("stderr".to_owned(), output.stderr.clone()),
    ];
    for file in [REPORT, JOURNAL] {
        texts.push((file.to_owned(), output.read(file)));
    }
    for (name, text) in texts {
        for form in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{name} holds `{form}`:\n{text}"
            );
        }
    }
}

#[test]
fn a_535_quoting_auth_plain_credentials_never_shows_the_password() {
    a_quoted_password_is_never_shown("PLAIN", "[redacted]");
}

#[test]
fn a_535_quoting_auth_login_credentials_never_shows_the_password() {
    // The user name is no secret; its base64 form stays.
    a_quoted_password_is_never_shown("LOGIN", "YnVsbGV0aW4= [redacted]");
}
