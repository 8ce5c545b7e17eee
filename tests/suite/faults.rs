//! `send` against an SMTP server that fails on cue (`fault_server.rs`): refusals, temporary
//! failures, dropped connections, silence, a refused login. Each test sends the minimal issue to
//! a small generated subscriber list and checks what became of every recipient three ways: the
//! `--report` file, the journal, and what the server took. A recipient is delivered exactly once,
//! or recorded as failed, deferred or in doubt; none is missing, none is there twice.

use std::{
    fmt::Write as _,
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use serde_json::Value;

use crate::{
    fault_server::{Answer, Fate, FaultServer, Script, Step},
    harness::{Output, Test},
};

pub(crate) const SUBSCRIBERS: &str = "readers.csv";
pub(crate) const REPORT: &str = "report.jsonl";
pub(crate) const JOURNAL: &str = "issue.journal";
pub(crate) const PASSWORD_VARIABLE: &str = "NEWSLETTER_SMTP_PASSWORD";

/// The address of the `index`th generated subscriber (from 1).
pub(crate) fn reader(index: usize) -> String {
    format!("reader{index:02}@example.org")
}

/// A subscriber file of `count` readers.
pub(crate) fn subscribers(count: usize) -> String {
    let mut csv = String::from("email,name\n");
    for index in 1..=count {
        let _ = writeln!(csv, "{},Reader {index}", reader(index));
    }
    csv
}

/// `newsletter send` of the minimal issue to `count` generated readers through `server`, with a
/// report, short retry delays and timeouts (unless `flags` set them) and no progress display.
pub(crate) fn send(server: &FaultServer, count: usize, flags: &[&str]) -> Test {
    Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(count))
        .args(send_arguments(&server.url(), flags))
}

/// A further `send` in the folder of an earlier one (same readers, same journal).
pub(crate) fn send_again(earlier: Output, url: &str, flags: &[&str]) -> Test {
    earlier
        .again()
        .unsubscribe_key()
        .args(send_arguments(url, flags))
}

pub(crate) fn send_arguments(url: &str, flags: &[&str]) -> Vec<String> {
    let mut arguments: Vec<String> = [
        "send",
        "issue.yaml",
        "--subscribers",
        SUBSCRIBERS,
        "--smtp",
        url,
        "--yes",
        "--report",
        REPORT,
        "--progress",
        "none",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for (flag, default) in [("--retry-delay", "10ms"), ("--timeout", "2s")] {
        if !flags.contains(&flag) {
            arguments.extend([flag.to_owned(), default.to_owned()]);
        }
    }
    arguments.extend(flags.iter().map(|flag| (*flag).to_owned()));
    arguments
}

/// What a recipient's part in one run must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// `sent` in the report and the journal; the server took it exactly once.
    Sent,
    /// `failed` in the report and the journal; the server did not take it.
    Failed,
    /// `deferred` in the report and the journal; the server did not take it.
    Deferred,
    /// `in-doubt` in the report, `doubt` in the journal after a `data` record; the server did
    /// not take it (it may have got the body: the test checks what it wants of that).
    InDoubt,
    /// `skipped` in the report on account of an earlier run; nothing in the journal.
    Skipped,
    /// Not tried: in neither the report nor the journal, but for a `data` record written ahead
    /// and taken back by `unsent` (the run stopped before its body went).
    Untried,
}

impl Expect {
    fn report_outcome(self) -> Option<&'static str> {
        match self {
            Expect::Sent => Some("sent"),
            Expect::Failed => Some("failed"),
            Expect::Deferred => Some("deferred"),
            Expect::InDoubt => Some("in-doubt"),
            Expect::Skipped => Some("skipped"),
            Expect::Untried => None,
        }
    }

    fn journal_outcome(self) -> Option<&'static str> {
        match self {
            Expect::Sent => Some("sent"),
            Expect::Failed => Some("failed"),
            Expect::Deferred => Some("deferred"),
            Expect::InDoubt => Some("doubt"),
            Expect::Skipped | Expect::Untried => None,
        }
    }
}

/// Readers 1 to `count`, all expected to end as `expect`, but for the `exceptions`.
pub(crate) fn everyone(
    count: usize,
    expect: Expect,
    exceptions: &[(usize, Expect)],
) -> Vec<(String, Expect)> {
    (1..=count)
        .map(|index| {
            let expect = exceptions
                .iter()
                .find(|(exception, _)| *exception == index)
                .map_or(expect, |(_, expect)| *expect);
            (reader(index), expect)
        })
        .collect()
}

pub(crate) fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// The journal records of the last run (after its `run` record).
pub(crate) fn last_run(output: &Output) -> Vec<Value> {
    let records = json_lines(&output.read(JOURNAL));
    let start = records
        .iter()
        .rposition(|record| record["e"] == "run")
        .expect("the journal records no run");
    records[start + 1..].to_vec()
}

/// The last run's records that say what became of a recipient: not the `data` records, nor the
/// `unsent` ones that take back a `data` record written ahead.
pub(crate) fn last_run_outcomes(output: &Output) -> Vec<Value> {
    last_run(output)
        .into_iter()
        .filter(|record| record["e"] != "data" && record["e"] != "unsent")
        .collect()
}

/// `kinds` (one recipient's journal records) without the `data` records that an `unsent` took
/// back: written ahead for a body that never went.
pub(crate) fn without_taken_back(kinds: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for kind in kinds {
        if kind == "unsent" {
            assert_eq!(
                kept.pop().as_deref(),
                Some("data"),
                "`unsent` must follow a `data` record: {kinds:?}"
            );
        } else {
            kept.push(kind.clone());
        }
    }
    kept
}

pub(crate) fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

/// Checks the outcome of every recipient of the run that made `output`, three ways, and that
/// nobody else is mentioned:
/// - the report has exactly one line for each, with the expected outcome;
/// - the journal's records of this run hold exactly one outcome for each, the expected one,
///   after a `data` record (with the same message id as the report) when the body went out;
/// - `server` took a message for each `Sent` recipient exactly once, the one with the
///   Message-ID the report gives, and none for anybody else.
pub(crate) fn assert_outcomes(
    output: &Output,
    server: &FaultServer,
    expected: &[(String, Expect)],
) {
    let report = json_lines(&output.read(REPORT));
    let journal = last_run(output);
    let mut problems = Vec::new();
    for line in &report {
        let email = text(line, "email");
        if !expected.iter().any(|(expected, _)| *expected == email) {
            problems.push(format!("the report has an unexpected line: {line}"));
        }
    }
    for record in &journal {
        let to = text(record, "to");
        if !expected.iter().any(|(expected, _)| *expected == to) {
            problems.push(format!("the journal has an unexpected record: {record}"));
        }
    }
    for (email, expect) in expected {
        let lines: Vec<&Value> = report
            .iter()
            .filter(|line| text(line, "email") == *email)
            .collect();
        let outcomes: Vec<String> = lines.iter().map(|line| text(line, "outcome")).collect();
        let wanted: Vec<&str> = expect.report_outcome().into_iter().collect();
        if outcomes != wanted {
            problems.push(format!(
                "{email}: the report says {outcomes:?}, expected {wanted:?}"
            ));
        }
        let records: Vec<&Value> = journal
            .iter()
            .filter(|record| text(record, "to") == *email)
            .collect();
        let kinds: Vec<String> = records.iter().map(|record| text(record, "e")).collect();
        let kinds = without_taken_back(&kinds);
        let final_kinds: Vec<&str> = kinds
            .iter()
            .map(String::as_str)
            .filter(|kind| *kind != "data")
            .collect();
        let wanted: Vec<&str> = expect.journal_outcome().into_iter().collect();
        let data_first = kinds.first().is_some_and(|kind| kind == "data");
        let needs_data = matches!(expect, Expect::Sent | Expect::InDoubt);
        if final_kinds != wanted
            || kinds.last().map(String::as_str) != wanted.last().copied()
            || (needs_data && !data_first)
            || (expect.journal_outcome().is_none() && !kinds.is_empty())
        {
            problems.push(format!(
                "{email}: the journal records {kinds:?} in this run, expected {}{wanted:?}",
                if needs_data { "`data` then " } else { "" }
            ));
        }
        let delivered = server.delivered_to(email);
        if *expect == Expect::Sent {
            let report_id = lines.first().map(|line| text(line, "message_id"));
            let data_id = records
                .iter()
                .rev()
                .find(|record| record["e"] == "data")
                .map(|record| text(record, "id"));
            let server_ids: Vec<Option<String>> = delivered
                .iter()
                .map(|message| message.header("Message-ID"))
                .collect();
            if server_ids.len() != 1 || server_ids[0] != report_id || data_id != report_id {
                problems.push(format!(
                    "{email}: the server took {server_ids:?}; the report names {report_id:?}, the journal's `data` {data_id:?}"
                ));
            }
        } else if !delivered.is_empty() {
            problems.push(format!(
                "{email}: expected {expect:?}, but the server took it {} time(s)",
                delivered.len()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "outcomes differ from what was expected:\n  {}\n--- report ---\n{}--- journal (this run) ---\n{}\n--- stdout ---\n{}--- server ---\n{}",
        problems.join("\n  "),
        output.read(REPORT),
        journal
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        output.stdout,
        server.transcript(),
    );
}

/// Checks the first line of the summary: the counts, and the relay.
pub(crate) fn assert_summary(output: &Output, relay: &str, counts: &str) {
    let first = output.stdout.lines().next().unwrap_or_default();
    let expected = format!("{counts} via {relay} in ");
    assert!(
        first.starts_with(&expected),
        "the summary starts with:\n{first}\nexpected:\n{expected}…\n--- stdout ---\n{}",
        output.stdout
    );
}

/// The times a recipient's address was given in `RCPT TO`.
pub(crate) fn attempts(server: &FaultServer, index: usize) -> usize {
    server.rcpts_of(&reader(index)).len()
}

/// The journal records of this run for `index`th reader: `data`, `sent`, ….
pub(crate) fn journal_kinds(output: &Output, index: usize) -> Vec<String> {
    last_run(output)
        .iter()
        .filter(|record| record["to"] == reader(index))
        .map(|record| text(record, "e"))
        .collect()
}

/// What became of each message body to the `index`th reader that reached the server.
pub(crate) fn fates(server: &FaultServer, index: usize) -> Vec<Fate> {
    server
        .messages()
        .into_iter()
        .filter(|message| message.to == [reader(index)])
        .map(|message| message.fate)
        .collect()
}

// 421 at the greeting and in mid-session.

#[test]
fn a_421_greeting_is_retried_on_a_new_connection() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Greeting { connection: 1 } => Answer::SayAndClose("421 4.3.2 Service shutting down"),
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "1"]).run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_summary(&output, &server.relay(), "sent 10");
    // Turned away, the worker tried again on a new connection, and kept it.
    assert_eq!(server.connections(), 2, "{}", server.transcript());
}

/// The server shuts down twice in mid-session: at the fourth `MAIL` of the first connection,
/// and after the body of reader 8's first message, which it does not take. Each time the rest
/// go over a new connection.
fn shut_down_mid_session(step: &Step<'_>) -> Answer {
    match step {
        Step::Mail {
            connection: 1,
            nth: 4,
        }
        | Step::Dot {
            to: "reader08@example.org",
            attempt: 0,
        } => Answer::SayAndClose("421 4.3.2 Service shutting down"),
        _ => Answer::Accept,
    }
}

fn mid_session_421(script: Script) {
    let server = FaultServer::start(script);
    let output = send(&server, 10, &["--concurrency", "1"]).run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_summary(&output, &server.relay(), "sent 10");
    assert_eq!(server.connections(), 3, "{}", server.transcript());
    // Reader 4's MAIL was refused (a pipelined RCPT that came with it is discarded unread); it
    // went again on the second connection.
    let fourth: Vec<usize> = server
        .rcpts_of(&reader(4))
        .iter()
        .map(|rcpt| rcpt.connection)
        .collect();
    assert_eq!(fourth, [2]);
    let taken: Vec<usize> = server
        .delivered_to(&reader(4))
        .iter()
        .map(|message| message.connection)
        .collect();
    assert_eq!(taken, [2]);
    // Reader 8's body reached the server twice; the 421 after the first means it was not
    // taken, so it was not in doubt but retried.
    assert_eq!(
        fates(&server, 8),
        [
            Fate::Refused("421 4.3.2 Service shutting down".into()),
            Fate::Accepted
        ]
    );
    assert_eq!(journal_kinds(&output, 8), ["data", "data", "sent"]);
}

#[test]
fn a_421_mid_session_is_retried_on_a_new_connection() {
    mid_session_421(Script::new(shut_down_mid_session));
}

#[test]
fn a_421_mid_session_without_pipelining_is_retried_on_a_new_connection() {
    mid_session_421(Script::new(shut_down_mid_session).without_pipelining());
}

/// A relay that shuts down whenever it is asked for anything, with 421 at `step` (the
/// greeting or MAIL): every attempt is turned away and everyone is deferred, with the relay's
/// reply `reason`, for the next run to deliver.
fn relay_answering_421_for_good(script: Script, reason: &str) {
    let down = FaultServer::start(script);
    // Few readers: every temporary failure doubles the pause before the next attempt.
    let output = send(&down, 2, &["--concurrency", "2", "--retries", "1"])
        .status(3)
        .run();
    assert_outcomes(&output, &down, &everyone(2, Expect::Deferred, &[]));
    assert_summary(&output, &down.relay(), "sent 0, deferred 2");
    for record in last_run_outcomes(&output) {
        assert_eq!(record["reply"], reason, "{record}");
    }
    // One connection per attempt: the first and one retry each.
    assert_eq!(down.connections(), 4, "{}", down.transcript());

    let up = FaultServer::start(Script::accept_all());
    let output = send_again(output, &up.url(), &[]).run();
    assert_outcomes(&output, &up, &everyone(2, Expect::Sent, &[]));
    assert_summary(&output, &up.relay(), "sent 2");
}

const SHUTTING_DOWN: &str = "421 4.3.2 Service shutting down";

fn shut_down_at_mail(step: &Step<'_>) -> Answer {
    match step {
        Step::Mail { .. } => Answer::SayAndClose(SHUTTING_DOWN),
        _ => Answer::Accept,
    }
}

#[test]
fn a_relay_answering_421_at_the_greeting_for_good_leaves_everyone_deferred() {
    relay_answering_421_for_good(
        Script::new(|step| match step {
            Step::Greeting { .. } => Answer::SayAndClose(SHUTTING_DOWN),
            _ => Answer::Accept,
        }),
        SHUTTING_DOWN,
    );
}

#[test]
fn a_relay_answering_421_at_mail_for_good_leaves_everyone_deferred() {
    relay_answering_421_for_good(
        Script::new(shut_down_at_mail),
        "421 4.3.2 Service shutting down (at MAIL FROM)",
    );
}

#[test]
fn a_relay_answering_421_at_mail_for_good_without_pipelining_leaves_everyone_deferred() {
    relay_answering_421_for_good(
        Script::new(shut_down_at_mail).without_pipelining(),
        "421 4.3.2 Service shutting down (at MAIL FROM)",
    );
}

// Temporary and permanent refusals of a recipient.

const TRY_AGAIN: &str = "451 4.3.0 Try again later";

// Every temporary failure doubles the pause between deliveries (the next test but one shows
// it), so the failures come near the end of the list, where few deliveries are held back.

/// Reader 9's `RCPT` is refused with 451 once, reader 10's twice; then they are accepted.
fn refuse_recipients_for_a_while(step: &Step<'_>) -> Answer {
    match step {
        Step::Rcpt {
            to: "reader09@example.org",
            attempt: 0,
        }
        | Step::Rcpt {
            to: "reader10@example.org",
            attempt: 0 | 1,
        } => Answer::Say(TRY_AGAIN),
        _ => Answer::Accept,
    }
}

fn a_451_at_rcpt_is_retried_until_accepted(script: Script) {
    let server = FaultServer::start(script);
    let output = send(&server, 10, &["--concurrency", "2"]).run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_summary(&output, &server.relay(), "sent 10");
    let rcpts: Vec<usize> = (8..=10).map(|index| attempts(&server, index)).collect();
    assert_eq!(rcpts, [1, 2, 3]);
    // A 451 leaves the session usable: the retries went over the workers' connections, after
    // an RSET (without one, the next MAIL would be a protocol error: the server keeps the
    // refused transaction open, as Postfix does).
    assert!(server.connections() <= 2, "{}", server.transcript());
    assert!(server.commands("RSET") >= 3, "{}", server.transcript());
}

#[test]
fn a_451_at_rcpt_is_retried_until_accepted_once() {
    a_451_at_rcpt_is_retried_until_accepted(Script::new(refuse_recipients_for_a_while));
}

#[test]
fn a_451_at_rcpt_without_pipelining_is_retried_until_accepted_once() {
    a_451_at_rcpt_is_retried_until_accepted(
        Script::new(refuse_recipients_for_a_while).without_pipelining(),
    );
}

/// 451 at the other stages, once each: the eighth `MAIL` of the connection (reader 8's, since
/// there is one worker), reader 9's `DATA`, and reader 10's final dot.
fn refuse_other_stages_once(step: &Step<'_>) -> Answer {
    match step {
        Step::Mail {
            connection: 1,
            nth: 8,
        }
        | Step::Data {
            to: "reader09@example.org",
            attempt: 0,
        }
        | Step::Dot {
            to: "reader10@example.org",
            attempt: 0,
        } => Answer::Say(TRY_AGAIN),
        _ => Answer::Accept,
    }
}

fn a_451_at_mail_data_or_the_dot_is_retried_until_accepted(script: Script) {
    let server = FaultServer::start(script);
    let output = send(&server, 10, &["--concurrency", "1"]).run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_summary(&output, &server.relay(), "sent 10");
    assert_eq!(fates(&server, 9), [Fate::Accepted]);
    assert_eq!(
        fates(&server, 10),
        [Fate::Refused(TRY_AGAIN.into()), Fate::Accepted]
    );
    // The body refused at the dot was not taken: not in doubt, retried.
    assert_eq!(journal_kinds(&output, 10), ["data", "data", "sent"]);
    assert_eq!(journal_kinds(&output, 9), ["data", "sent"]);
    assert_eq!(server.connections(), 1, "{}", server.transcript());
}

#[test]
fn a_451_at_mail_data_or_the_final_dot_is_retried_until_accepted_once() {
    a_451_at_mail_data_or_the_dot_is_retried_until_accepted(Script::new(refuse_other_stages_once));
}

#[test]
fn a_451_at_mail_data_or_the_final_dot_without_pipelining_is_retried_until_accepted_once() {
    a_451_at_mail_data_or_the_dot_is_retried_until_accepted(
        Script::new(refuse_other_stages_once).without_pipelining(),
    );
}

const USER_UNKNOWN: &str = "550 5.1.1 <reader>: Recipient address rejected: User unknown";
const SPAM: &str = "554 5.7.1 Message rejected as spam";

/// Readers 2 and 5 are unknown; reader 7's message is refused after its body.
fn refuse_three_for_good(step: &Step<'_>) -> Answer {
    match step {
        Step::Rcpt {
            to: "reader02@example.org" | "reader05@example.org",
            ..
        } => Answer::Say(USER_UNKNOWN),
        Step::Dot {
            to: "reader07@example.org",
            ..
        } => Answer::Say(SPAM),
        _ => Answer::Accept,
    }
}

fn a_5xx_fails_once_and_is_not_retried(script: Script) {
    let server = FaultServer::start(script);
    let failed = [
        (2, Expect::Failed),
        (5, Expect::Failed),
        (7, Expect::Failed),
    ];
    let output = send(&server, 10, &["--concurrency", "2"])
        .status(3)
        .stdout_contains(&format!(
            "\n  reader02@example.org: failed: {USER_UNKNOWN} (at RCPT TO)\n"
        ))
        .stdout_contains(&format!(
            "\n  reader07@example.org: failed: {SPAM} (at end of DATA)\n"
        ))
        .run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &failed));
    assert_summary(&output, &server.relay(), "sent 7, failed 3");
    let rcpts: Vec<usize> = [2, 5, 7].map(|index| attempts(&server, index)).to_vec();
    assert_eq!(rcpts, [1, 1, 1]);
    assert_eq!(fates(&server, 7), [Fate::Refused(SPAM.into())]);
    assert_eq!(journal_kinds(&output, 7), ["data", "failed"]);
    // A refusal leaves the session usable.
    assert!(server.connections() <= 2, "{}", server.transcript());
    let report = json_lines(&output.read(REPORT));
    let line = report
        .iter()
        .find(|line| line["email"] == reader(5))
        .expect("reader 5 is in the report");
    assert_eq!(line["reply"], format!("{USER_UNKNOWN} (at RCPT TO)"));

    // A rerun sends nothing: the failed ones are not retried, the others are done; it still
    // exits 3, since three recipients never got the issue.
    let rerun = FaultServer::start(Script::accept_all());
    let output = send_again(output, &rerun.url(), &[])
        .status(3)
        .stdout_contains("\nunresolved: 3 recipient(s) failed, deferred or in doubt in earlier runs (`newsletter status` lists them)\n")
        .run();
    assert_outcomes(&output, &rerun, &everyone(10, Expect::Skipped, &[]));
    assert_summary(&output, &rerun.relay(), "sent 0");
    assert_eq!(rerun.connections(), 0);
}

#[test]
fn a_5xx_fails_once_without_retry_and_exits_3() {
    a_5xx_fails_once_and_is_not_retried(Script::new(refuse_three_for_good));
}

#[test]
fn a_5xx_without_pipelining_fails_once_without_retry_and_exits_3() {
    a_5xx_fails_once_and_is_not_retried(Script::new(refuse_three_for_good).without_pipelining());
}

// Connections that break during DATA, and replies that never come.

#[test]
fn a_hangup_at_data_is_retried_and_not_in_doubt() {
    // The server hangs up on the DATA command: no body was sent, so the message is certainly
    // not delivered, and is retried.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Data {
            to: "reader04@example.org",
            attempt: 0,
        } => Answer::Hangup,
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "1"]).run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_summary(&output, &server.relay(), "sent 10");
    assert_eq!(attempts(&server, 4), 2);
    assert_eq!(server.connections(), 2, "{}", server.transcript());
    assert_eq!(fates(&server, 4), [Fate::Accepted]);
    // No `data` record for the first attempt: the server never agreed to take the body.
    assert_eq!(journal_kinds(&output, 4), ["data", "sent"]);
}

#[test]
fn a_hangup_before_the_final_dot_is_acted_on_is_in_doubt() {
    // The whole body reached the server, which hangs up without acting on the final dot. The
    // client cannot tell this from a server that queued the message and crashed before
    // answering, so the message is in doubt: not retried, and sent again only on request.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot {
            to: "reader04@example.org",
            attempt: 0,
        } => Answer::Hangup,
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "1"]).status(3).run();
    assert_outcomes(
        &output,
        &server,
        &everyone(10, Expect::Sent, &[(4, Expect::InDoubt)]),
    );
    assert_summary(&output, &server.relay(), "sent 9, in doubt 1");
    assert_eq!(attempts(&server, 4), 1);
    assert_eq!(fates(&server, 4), [Fate::Dropped]);

    let again = FaultServer::start(Script::accept_all());
    let output = send_again(output, &again.url(), &["--resend-in-doubt"]).run();
    assert_outcomes(
        &output,
        &again,
        &everyone(10, Expect::Skipped, &[(4, Expect::Sent)]),
    );
}

#[test]
fn a_relay_refusing_the_size_of_the_message_stops_the_run_and_fails_nobody() {
    // "Message too big" after the body is the relay's limit, the same for every recipient:
    // nobody may be recorded failed for it (a rerun after a smaller issue must send to all).
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot { .. } => {
            Answer::Say("552 5.3.4 Message size exceeds fixed maximum message size")
        }
        _ => Answer::Accept,
    }));
    let output = send(&server, 4, &["--concurrency", "1"])
        .status(1)
        .stderr_contains(&format!(
            "error: {} refuses messages of this size: ",
            server.relay()
        ))
        .stderr_contains("552 5.3.4 Message size exceeds fixed maximum message size")
        .stderr_contains("hint: nobody was recorded failed for it")
        .run();
    assert_outcomes(&output, &server, &everyone(4, Expect::Untried, &[]));
    let up = FaultServer::start(Script::accept_all());
    let output = send_again(output, &up.url(), &[]).run();
    assert_outcomes(&output, &up, &everyone(4, Expect::Sent, &[]));
}

#[test]
fn a_second_ctrl_c_leaves_in_doubt_only_the_message_whose_body_went() {
    // Reader 1's body reaches the server, which never answers it; meanwhile the next readers
    // are handed to the workers with their `data` records written ahead.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot {
            to: "reader01@example.org",
            ..
        } => Answer::Stall,
        _ => Answer::Accept,
    }));
    // Two a second, so that readers are still waiting, written ahead, when the run stops.
    let running = send(
        &server,
        10,
        &["--concurrency", "2", "--timeout", "60s", "--rate", "2"],
    )
    .spawn();
    // The server can be read only once every connection is closed: give the run time to
    // reach reader 1's final dot and the others.
    std::thread::sleep(Duration::from_millis(1500));
    let interrupt = || {
        let status = std::process::Command::new("kill")
            .args(["-INT", &running.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    interrupt();
    // The first stops the other worker after its message; reader 1's worker still waits.
    std::thread::sleep(Duration::from_millis(500));
    interrupt();
    let (code, stdout, stderr, output) = running.finish();
    assert_eq!(code, Some(130), "{stdout}{stderr}");
    assert!(stderr.contains("aborted: "), "{stderr}");
    let status = output
        .again()
        .unsubscribe_key()
        .args(["status", "issue.yaml"])
        .run();
    // Only reader 1 may have the message without a recorded reply; everyone whose record was
    // written ahead but whose body never went is back to "not sent yet".
    assert!(
        status.stdout.contains("  in doubt:      1\n"),
        "{}\n--- journal ---\n{}",
        status.stdout,
        status.read(JOURNAL)
    );
    assert!(
        status.stdout.contains("  reader01@example.org "),
        "{}",
        status.stdout
    );
    let sent = server
        .messages()
        .iter()
        .filter(|message| message.fate == Fate::Accepted)
        .count();
    assert!(
        status
            .stdout
            .contains(&format!("  sent:          {sent}\n")),
        "{}",
        status.stdout
    );
}

#[test]
fn no_reply_to_the_final_dot_is_in_doubt_until_resent_on_request() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Dot {
            to: "reader04@example.org",
            attempt: 0,
        } => Answer::Stall,
        _ => Answer::Accept,
    }));
    let in_doubt = [(4, Expect::InDoubt)];
    let output = send(&server, 10, &["--concurrency", "2", "--timeout", "500ms"])
        .status(3)
        .stdout_contains(
            "\n  reader04@example.org: in-doubt: no reply to the end of DATA within 0.5 s\n",
        )
        .run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &in_doubt));
    assert_summary(&output, &server.relay(), "sent 9, in doubt 1");
    // The server did get it, and it was not sent again.
    assert_eq!(fates(&server, 4), [Fate::Unanswered]);
    assert_eq!(attempts(&server, 4), 1);

    // A rerun leaves it alone, says so, and exits 3 while it is in doubt.
    let rerun = FaultServer::start(Script::accept_all());
    let output = send_again(output, &rerun.url(), &[])
        .status(3)
        .stdout_contains("\n  in doubt:      1 from earlier runs, perhaps delivered, not sent again (`newsletter status` lists them; --resend-in-doubt sends them)\n")
        .run();
    assert_outcomes(&output, &rerun, &everyone(10, Expect::Skipped, &[]));
    assert_eq!(rerun.connections(), 0);
    let report = json_lines(&output.read(REPORT));
    let line = report
        .iter()
        .find(|line| line["email"] == reader(4))
        .expect("reader 4 is in the report");
    assert_eq!(
        line["reason"],
        "in doubt after an interrupted run: perhaps delivered; --resend-in-doubt sends it again"
    );

    // `status` lists it.
    let output = output.again()
        .unsubscribe_key()
        .args(["status", "issue.yaml", "--subscribers", SUBSCRIBERS])
        .stdout_contains("  sent:          9\n  failed:        0\n  deferred:      0\n  in doubt:      1\n")
        .stdout_contains("\nin doubt (perhaps delivered; `send --resend-in-doubt` sends them again):\n  reader04@example.org  no reply to the end of DATA within 0.5 s  (")
        .run();

    // Sent again when asked, and only that one.
    let resend = FaultServer::start(Script::accept_all());
    let output = send_again(output, &resend.url(), &["--resend-in-doubt"]).run();
    assert_outcomes(
        &output,
        &resend,
        &everyone(10, Expect::Skipped, &[(4, Expect::Sent)]),
    );
    assert_summary(&output, &resend.relay(), "sent 1");
}

// A server that says nothing.

#[test]
fn a_silent_greeting_times_out_and_defers_then_a_healthy_relay_delivers_all() {
    let silent = FaultServer::start(Script::new(|step| match step {
        Step::Greeting { .. } => Answer::Stall,
        _ => Answer::Accept,
    }));
    // Few readers, one worker each, so that the first attempts wait out their timeouts side by
    // side; every failure doubles the pause before the next attempt, so a longer list would
    // spend most of the test waiting.
    let output = send(
        &silent,
        2,
        &["--concurrency", "2", "--retries", "1", "--timeout", "500ms"],
    )
    .status(3)
    .timeout(Duration::from_secs(30))
    .run();
    assert_outcomes(&output, &silent, &everyone(2, Expect::Deferred, &[]));
    assert_summary(&output, &silent.relay(), "sent 0, deferred 2");
    for record in last_run_outcomes(&output) {
        assert_eq!(record["reply"], "the relay sent no greeting", "{record}");
    }
    assert_eq!(silent.connections(), 4, "{}", silent.transcript());

    let healthy = FaultServer::start(Script::accept_all());
    let output = send_again(output, &healthy.url(), &[]).run();
    assert_outcomes(&output, &healthy, &everyone(2, Expect::Sent, &[]));
    assert_summary(&output, &healthy.relay(), "sent 2");
}

#[test]
fn a_server_silent_before_data_is_left_and_the_message_retried() {
    // No reply to reader 3's RCPT: the body was never sent, so after the timeout the message is
    // certainly not delivered, and goes again over a new connection.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt {
            to: "reader03@example.org",
            attempt: 0,
        } => Answer::Stall,
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "1", "--timeout", "500ms"]).run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
    assert_summary(&output, &server.relay(), "sent 10");
    assert_eq!(attempts(&server, 3), 2);
    assert_eq!(journal_kinds(&output, 3), ["data", "sent"]);
    assert_eq!(server.connections(), 2, "{}", server.transcript());
}

#[test]
fn a_relay_refusing_the_session_stops_the_run_with_one_error() {
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Greeting { .. } => Answer::Say("554 5.3.2 No service here"),
        _ => Answer::Accept,
    }));
    let output = send(&server, 10, &["--concurrency", "2"])
        .status(1)
        .stderr(&format!(
            "error: {}: session failed: the relay refused the session: 554 5.3.2 No service here\n",
            server.relay()
        ))
        .run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Untried, &[]));
    assert_summary(&output, &server.relay(), "sent 0");
    assert!(server.connections() <= 2, "{}", server.transcript());
}

#[test]
fn a_stop_for_a_fatal_error_defers_a_recipient_waiting_to_be_retried() {
    // One worker's first MAIL gets 451, so it waits to retry (10 s or more); only then is the
    // other worker's connection refused for good, which stops the run. The waiting recipient
    // is deferred at once, not retried on a relay the run has given up on.
    let refused_once = Arc::new((Mutex::new(false), Condvar::new()));
    let signal = Arc::clone(&refused_once);
    let server = FaultServer::start(Script::new(move |step| {
        let (refused, changed) = &*signal;
        match step {
            Step::Mail {
                connection: 1,
                nth: 1,
            } => {
                *refused.lock().unwrap() = true;
                changed.notify_all();
                Answer::Say(TRY_AGAIN)
            }
            Step::Greeting { connection: 2 } => {
                let guard = refused.lock().unwrap();
                let (guard, _) = changed
                    .wait_timeout_while(guard, Duration::from_secs(10), |refused| !*refused)
                    .unwrap();
                assert!(*guard, "the first connection's MAIL never came");
                Answer::Say("554 5.3.2 No service here")
            }
            _ => Answer::Accept,
        }
    }));
    let output = send(
        &server,
        2,
        &[
            "--concurrency",
            "2",
            "--retries",
            "1",
            "--retry-delay",
            "10s",
        ],
    )
    .status(1)
    .stderr(&format!(
        "error: {}: session failed: the relay refused the session: 554 5.3.2 No service here\n",
        server.relay()
    ))
    .run();
    let report = json_lines(&output.read(REPORT));
    let deferred = report
        .first()
        .map(|line| text(line, "email"))
        .expect("the report is empty");
    let untried = if deferred == reader(1) { 2 } else { 1 };
    let expected = everyone(2, Expect::Deferred, &[(untried, Expect::Untried)]);
    assert_outcomes(&output, &server, &expected);
    assert_eq!(
        report[0]["reply"],
        format!("{TRY_AGAIN} (at MAIL FROM)"),
        "{report:?}"
    );
    assert_eq!(server.commands("MAIL"), 1, "{}", server.transcript());
}

// Logging in.

#[test]
fn a_refused_login_stops_the_run_with_one_error_then_good_credentials_deliver_all() {
    let server = FaultServer::start(Script::accept_all().login("bulletin", "right horse"));
    let url = server.url_as("bulletin");
    let output = Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(10))
        .env(PASSWORD_VARIABLE, "wrong horse")
        .args(send_arguments(&url, &["--concurrency", "4"]))
        .status(1)
        .stderr(&format!(
            "error: {} as bulletin: authentication failed: the relay refused the login of `bulletin`: permanent error (535): 5.7.8 Error: authentication failed: bad credentials\nhint: check the user name in --smtp and the password in {PASSWORD_VARIABLE}\n",
            server.relay()
        ))
        .run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Untried, &[]));
    assert_summary(
        &output,
        &format!("{} as bulletin", server.relay()),
        "sent 0",
    );
    assert_eq!(server.commands("MAIL"), 0);
    // At most one try per worker: nobody tries again after the first refusal.
    assert!(server.commands("AUTH") <= 4, "{}", server.transcript());

    let output = output
        .again()
        .unsubscribe_key()
        .env(PASSWORD_VARIABLE, "right horse")
        .args(send_arguments(&url, &["--concurrency", "4"]))
        .run();
    assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
}

#[test]
fn auth_login_is_used_when_it_is_the_only_mechanism() {
    let server = FaultServer::start(
        Script::accept_all()
            .login("bulletin", "right horse")
            .mechanisms("LOGIN"),
    );
    let output = Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(3))
        .env(PASSWORD_VARIABLE, "right horse")
        .args(send_arguments(&server.url_as("bulletin"), &[]))
        .run();
    assert_outcomes(&output, &server, &everyone(3, Expect::Sent, &[]));
    assert!(server.transcript().contains("S: 334 UGFzc3dvcmQ6"));
}

// PIPELINING.

#[test]
fn pipelining_is_used_when_offered_and_not_otherwise() {
    for pipelining in [true, false] {
        let script = if pipelining {
            Script::accept_all()
        } else {
            Script::accept_all().without_pipelining()
        };
        let server = FaultServer::start(script);
        let output = send(&server, 10, &["--concurrency", "2"]).run();
        assert_outcomes(&output, &server, &everyone(10, Expect::Sent, &[]));
        // With PIPELINING, MAIL, RCPT and DATA arrive together; without, the client waits for
        // each reply (the server reports a client that does not as a protocol error).
        let pipelined: Vec<bool> = server
            .messages()
            .iter()
            .map(|message| message.pipelined)
            .collect();
        assert_eq!(pipelined, [pipelining; 10], "{}", server.transcript());
        for message in server.messages() {
            assert_eq!(message.from, "news@example.org");
        }
    }
}

// The slowdown after temporary failures.

#[test]
fn a_temporary_failure_slows_every_worker_down() {
    // Reader 1 is refused once. The other worker goes on with readers 2, 3, …; after the
    // refusal the run pauses (a fifth of the 1 s retry delay: 200 ms), so the other worker's
    // deliveries are held back too. One of them may already have passed the pace when the
    // refusal came; the one after it may not. Lower bounds only, so a slow machine cannot make
    // this fail.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt {
            to: "reader01@example.org",
            attempt: 0,
        } => Answer::Say("451 4.7.1 Slow down"),
        _ => Answer::Accept,
    }));
    let output = send(&server, 8, &["--concurrency", "2", "--retry-delay", "1s"]).run();
    assert_outcomes(&output, &server, &everyone(8, Expect::Sent, &[]));
    let refused_at = server.rcpts_of(&reader(1))[0].at;
    let others_after: Vec<_> = server
        .rcpts()
        .into_iter()
        .filter(|rcpt| rcpt.to != reader(1) && rcpt.at > refused_at)
        .collect();
    assert!(others_after.len() >= 2, "{}", server.transcript());
    let held_back = others_after[1].at - refused_at;
    assert!(
        held_back >= Duration::from_millis(200),
        "the second delivery to another reader came {held_back:?} after the refusal; expected the run to pause at least 200 ms"
    );
}

#[test]
fn a_relay_that_keeps_failing_stops_the_run_with_everything_recorded() {
    // Every RCPT gets 451. With 2 workers the run stops after 10 temporary failures in a row,
    // with the recipients it was working on deferred and the rest untouched; a later run
    // against a healthy relay sends to everyone once.
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt { .. } => Answer::Say("451 4.3.0 Try again later"),
        _ => Answer::Accept,
    }));
    let output = send(&server, 20, &["--concurrency", "2", "--retries", "20"])
        .status(1)
        .stderr_contains(&format!(
            "error: {}: the relay keeps failing (10 temporary failures in a row; the last: 451 4.3.0 Try again later (at RCPT TO))\n",
            server.relay()
        ))
        .stderr_contains(
            "hint: everything done so far is in the journal; run the same command again to continue when the relay is back\n",
        )
        .run();
    assert!(server.messages().is_empty());
    let report = json_lines(&output.read(REPORT));
    let deferred: Vec<_> = report
        .iter()
        .filter(|line| line["outcome"] == "deferred")
        .collect();
    assert!((1..=2).contains(&deferred.len()), "{report:?}");
    assert_eq!(
        report.len(),
        deferred.len(),
        "only the recipients under way are recorded"
    );

    let healthy = FaultServer::start(Script::accept_all());
    let rerun = send_again(output, &healthy.url(), &[]).run();
    assert_outcomes(&rerun, &healthy, &everyone(20, Expect::Sent, &[]));
}
