//! Paths under attack: an issue reached through a symbolic link is the same issue (one journal,
//! one lock, one slug), nothing newsletter writes follows a symbolic link or replaces a file
//! the run reads, a file that is not a journal is never cut or appended to, and a journal that
//! lost its end stops the run instead of mailing everyone after the cut again.

use std::{
    fs,
    net::TcpListener,
    time::{Duration, Instant},
};

use crate::{
    harness::{Output, Test},
    smtp_server::CaptureServer,
};

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";
const ALIAS: &str = "newsletters/alias.yaml";
const JOURNAL: &str = "newsletters/2019-06-uk-sg-mou.journal";
const SUBSCRIBERS: &str = "newsletters/subscribers.csv";
/// Everyone the sample list mails.
const RECIPIENTS: usize = 7;

/// The sample newsletters with `alias.yaml` linked to the MoU issue.
fn with_alias() -> Test {
    Test::newsletters()
        .unsubscribe_key()
        .symlink(ALIAS, "2019-06-uk-sg-mou.yaml")
}

fn send(test: Test, issue: &str, server: &CaptureServer) -> Test {
    test.args(["send", issue, "--yes", "--progress", "none", "--smtp"])
        .arg(server.smtp_url())
}

fn dry_run(test: Test) -> Test {
    test.unsubscribe_key()
        .args(["send", MOU, "--dry-run", "--progress", "none"])
}

#[test]
fn an_issue_sent_through_a_symlink_then_its_real_path_mails_nobody_twice() {
    let server = CaptureServer::start();
    let output = send(with_alias(), ALIAS, &server)
        .stdout_contains(&format!("sent {RECIPIENTS} via "))
        .stdout_contains(&format!("journal:       {JOURNAL}\n"))
        .run();
    assert!(!output.path("newsletters/alias.journal").exists());
    // The Message-IDs name the real issue, whichever spelling was sent.
    for received in server.summary() {
        let id = received.message_id.clone().unwrap_or_default();
        assert!(id.starts_with("<2019-06-uk-sg-mou."), "{id}");
    }
    let output = send(output.again().unsubscribe_key(), MOU, &server)
        .stdout_contains("sent 0 via ")
        .stdout_contains(&format!("{RECIPIENTS} already sent (not sent again)"))
        .run();
    assert_eq!(server.stats().messages, RECIPIENTS);
    // And back through the link: still nothing.
    send(output.again().unsubscribe_key(), ALIAS, &server)
        .stdout_contains("sent 0 via ")
        .run();
    assert_eq!(server.stats().messages, RECIPIENTS);
}

#[test]
fn the_lock_refuses_a_concurrent_run_through_the_other_spelling() {
    // A relay that accepts the connection and never greets: the first run holds its journal
    // locked while it waits.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let first = with_alias()
        .args([
            "send",
            ALIAS,
            "--yes",
            "--progress",
            "none",
            "--timeout",
            "60s",
        ])
        .arg("--smtp")
        .arg(format!("smtp://127.0.0.1:{port}"))
        .spawn();
    silent.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let _connection = loop {
        match silent.accept() {
            Ok((connection, _)) => break connection,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => panic!("the first run never connected: {error}"),
        }
    };
    let real_issue = first.path(MOU);
    let journal = first.path(JOURNAL);
    Test::new()
        .unsubscribe_key()
        .arg("send")
        .arg(&real_issue)
        .args(["--yes", "--progress", "none", "--smtp"])
        .arg(format!("smtp://127.0.0.1:{port}"))
        .status(1)
        .stderr(&format!(
            "error: another `newsletter send` of this issue is running (the journal `{}` is locked)\n",
            journal.display()
        ))
        .run();
    let mut first = first;
    first.child.kill().unwrap();
    first.finish();
}

#[test]
fn a_report_over_the_subscriber_file_is_refused_and_the_file_kept() {
    let before =
        fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SUBSCRIBERS)).unwrap();
    let output = dry_run(Test::newsletters())
        .args(["--report", "newsletters/./subscribers.csv"])
        .status(1)
        .stderr(
            "error: `newsletters/./subscribers.csv` is `newsletters/subscribers.csv`, which this run reads; refusing to write over it\nhint: choose another file name for what newsletter writes\n",
        )
        .run();
    assert_eq!(output.read_bytes(SUBSCRIBERS), before);
}

#[test]
fn a_dry_run_report_over_the_journal_is_refused_and_the_journal_kept() {
    let server = CaptureServer::start();
    let output = send(Test::newsletters().unsubscribe_key(), MOU, &server).run();
    let journal = output.read(JOURNAL);
    let output = dry_run(output.again())
        .args(["--report", JOURNAL])
        .status(1)
        .stderr(&format!(
            "error: `{JOURNAL}` is `{JOURNAL}`, which this run reads; refusing to write over it\nhint: choose another file name for what newsletter writes\n"
        ))
        .run();
    assert_eq!(output.read(JOURNAL), journal);
}

#[test]
fn start_over_counts_everyone_and_so_still_asks_before_mailing_them_again() {
    // After a full send the old journal rules everyone out; `--start-over` mails them all again,
    // so the run must count them all and ask (here: refuse without a terminal and `--yes`).
    let server = CaptureServer::start();
    let output = send(Test::newsletters().unsubscribe_key(), MOU, &server).run();
    let issue = output.read(MOU).replace("subject:", "# edited\nsubject:");
    // A dry run of the edited issue says what the send would: the issue changed, choose; and
    // with `--start-over` it builds a message for everyone, setting nothing aside.
    let output = output
        .again()
        .unsubscribe_key()
        .write(MOU, issue)
        .args(["send", MOU, "--dry-run"])
        .status(1)
        .stderr_contains("--start-over")
        .run();
    let output = output
        .again()
        .unsubscribe_key()
        .args(["send", MOU, "--dry-run", "--start-over"])
        .stdout_contains(&format!("dry run: {RECIPIENTS} message(s) built"))
        .run();
    let output = output
        .again()
        .unsubscribe_key()
        .args(["send", MOU, "--start-over", "--progress", "none", "--smtp"])
        .arg(server.smtp_url())
        .status(2)
        .stderr_contains(&format!("to {RECIPIENTS} subscribers"))
        .run();
    assert_eq!(server.stats().messages, RECIPIENTS, "nobody mailed again");
    assert!(
        output
            .files("newsletters")
            .iter()
            .all(|name| !name.contains(".journal."))
    );
}

#[test]
fn a_first_sends_report_over_its_new_journal_is_refused_and_nothing_is_sent() {
    // The journal does not exist until this run makes it: the report must still not be
    // written over it (it was emptied, and both then wrote into one file).
    let server = CaptureServer::start();
    let output = send(Test::newsletters().unsubscribe_key(), MOU, &server)
        .args(["--report", JOURNAL])
        .status(1)
        .stderr(&format!(
            "error: `{JOURNAL}` is `{JOURNAL}`, which this run reads; refusing to write over it\nhint: choose another file name for what newsletter writes\n"
        ))
        .run();
    assert_eq!(server.stats().messages, 0);
    let journal = output.read(JOURNAL);
    assert!(
        journal
            .lines()
            .next()
            .is_some_and(|line| line.contains("\"e\":\"open\"")),
        "the journal keeps its header: {journal}"
    );
}

#[test]
fn a_journal_option_naming_an_input_file_is_refused_and_the_file_kept() {
    let server = CaptureServer::start();
    let output = send(Test::newsletters().unsubscribe_key(), MOU, &server)
        .args(["--journal", "newsletters/list.yaml"])
        .status(1)
        .stderr(
            "error: `newsletters/list.yaml` is `newsletters/list.yaml`, which this run reads; refusing to write over it\nhint: choose another file name for what newsletter writes\n",
        )
        .run();
    assert_eq!(
        output.read("newsletters/list.yaml"),
        fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("newsletters/list.yaml")
        )
        .unwrap()
    );
    assert_eq!(server.stats().connections, 0);
}

#[test]
fn a_journal_option_naming_a_file_that_is_not_a_journal_leaves_it_untouched() {
    let server = CaptureServer::start();
    // No newline at the end: an old reader would have cut the "torn" last line.
    let notes = "meeting notes\nsend the bulletin on Friday";
    let output = send(
        Test::newsletters().unsubscribe_key().write("notes.txt", notes),
        MOU,
        &server,
    )
    .args(["--journal", "notes.txt"])
    .status(1)
    .stderr(
        "error: `notes.txt` is not a newsletter journal (it does not start with a journal header); refusing to write to it\nhint: name a new file with --journal, or move that file out of the way\n",
    )
    .run();
    assert_eq!(output.read("notes.txt"), notes);
    assert_eq!(server.stats().connections, 0);
}

#[test]
fn a_report_or_journal_that_is_a_symlink_is_not_written_through() {
    let server = CaptureServer::start();
    let victim = "keep me\n";
    let output = dry_run(
        Test::newsletters()
            .write("victim.txt", victim)
            .symlink("report.jsonl", "victim.txt"),
    )
    .args(["--report", "report.jsonl"])
    .status(1)
    .stderr(
        "error: `report.jsonl` is a symbolic link; newsletter does not write through one\nhint: name the real file, or remove the link first\n",
    )
    .run();
    assert_eq!(output.read("victim.txt"), victim);

    let output = send(
        output.again().unsubscribe_key().symlink(JOURNAL, "../victim.txt"),
        MOU,
        &server,
    )
    .status(1)
    .stderr(&format!(
        "error: `{JOURNAL}` is a symbolic link; newsletter does not write through one\nhint: name the real file, or remove the link first\n"
    ))
    .run();
    assert_eq!(output.read("victim.txt"), victim);
    assert_eq!(server.stats().connections, 0);
}

#[test]
fn preview_files_do_not_follow_symlinks_or_replace_an_input() {
    let victim = "keep me\n";
    let output = Test::preview_mou(&[])
        .write("victim.txt", victim)
        .symlink("out/index.html", "../victim.txt")
        .status(1)
        .stderr_contains("is a symbolic link; newsletter does not write through one\n")
        .run();
    assert_eq!(output.read("victim.txt"), victim);

    // A subscriber file that sits where the preview writes its index.
    let csv = output.read(SUBSCRIBERS);
    let output = Test::preview_mou(&["--subscribers", "out/index.html"])
        .status(1)
        .stderr_contains(
            "error: `out/index.html` is `out/index.html`, which this run reads; refusing to write over it\n",
        )
        .write("out/index.html", &csv)
        .run();
    assert_eq!(output.read("out/index.html"), csv);
}

/// The journal after a complete send, cut after its header and `keep` records.
fn cut_journal(output: &Output, keep: usize) {
    let text = output.read(JOURNAL);
    let kept: String = text.split_inclusive('\n').take(1 + keep).collect();
    fs::write(output.path(JOURNAL), kept).unwrap();
}

#[test]
fn a_journal_cut_at_a_line_boundary_stops_the_next_run_with_a_choice() {
    let server = CaptureServer::start();
    let output = send(Test::newsletters().unsubscribe_key(), MOU, &server).run();
    let records = output.read(JOURNAL).lines().count() - 1;
    assert_eq!(
        records,
        1 + 2 * RECIPIENTS,
        "a run record, then data and sent"
    );
    // Keep the run record and the first recipient's two: six recipients' records are lost.
    cut_journal(&output, 3);
    let cut = output.read(JOURNAL);
    let output = send(output.again().unsubscribe_key(), MOU, &server)
        .status(1)
        .stderr(&format!(
            "error: the journal `{JOURNAL}` ends early: its header counts {records} records but only 3 are there\nhint: records after line 4 were lost (a truncated copy or a restored backup?): put the whole journal back and run again, or rerun with `--accept-lost-tail` to go on from what is there (recipients whose records were lost may be mailed again)\n"
        ))
        .run();
    assert_eq!(output.read(JOURNAL), cut, "the refused run wrote nothing");
    assert_eq!(server.stats().messages, RECIPIENTS);
    // `status` and a dry run say the same.
    let output = output
        .again()
        .unsubscribe_key()
        .args(["status", MOU])
        .status(1)
        .stderr_contains("ends early: its header counts")
        .run();

    // The user chooses to go on: those with no record left are mailed again (workers run in
    // parallel, so the three records kept may name one recipient or two).
    let kept: std::collections::BTreeSet<String> = cut
        .lines()
        .skip(1)
        .filter_map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["to"].as_str().map(str::to_owned)
        })
        .collect();
    assert!(!kept.is_empty());
    let again = RECIPIENTS - kept.len();
    // A kept `data` record without its `sent` leaves that recipient in doubt, so the run exits
    // 3 (someone is unresolved) instead of 0.
    let sent = cut
        .lines()
        .skip(1)
        .filter(|line| line.contains("\"e\":\"sent\""))
        .count();
    let status = if sent == kept.len() { 0 } else { 3 };
    // A dry run reads the journal as the send would: refused without the choice, and with it
    // it builds exactly the messages the send will send, writing nothing.
    let output = output
        .again()
        .unsubscribe_key()
        .args(["send", MOU, "--dry-run"])
        .status(1)
        .stderr_contains("ends early: its header counts")
        .run();
    let output = output
        .again()
        .unsubscribe_key()
        .args(["send", MOU, "--dry-run", "--accept-lost-tail"])
        .stdout_contains(&format!("dry run: {again} message(s) built"))
        .run();
    assert_eq!(output.read(JOURNAL), cut, "the dry runs wrote nothing");
    send(output.again().unsubscribe_key(), MOU, &server)
        .arg("--accept-lost-tail")
        .status(status)
        .stdout_contains(&format!("sent {again} via "))
        .stderr(&format!(
            "note: `{JOURNAL}` lost {} record(s) at its end; going on from the 3 that are there\n",
            records - 3
        ))
        .run();
    assert_eq!(server.stats().messages, RECIPIENTS + again);
}
