//! `newsletter bounces`: returned mail read from mbox, Maildir and .eml files, the summary, the
//! suppression and soft-bounce files it writes, reading the same mail twice, `--dry-run`, a
//! `send` afterwards that skips whoever was suppressed, and hostile reports that must neither
//! crash nor hang it.
//!
//! The mail is in `tests/fixtures/bounces/mail/`, written for these tests in the shapes
//! Postfix, Exim, Microsoft 365, Gmail, qmail and Amazon SES produce (see `mail/README.md`).

use std::{fmt::Write as _, fs, path::Path, time::Duration};

use crate::{
    harness::{Output, Test},
    smtp_server::CaptureServer,
};

/// The fixture messages, in file-name order, as (name, bytes).
fn fixture_mail() -> Vec<(String, Vec<u8>)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces/mail");
    let mut mail: Vec<(String, Vec<u8>)> = fs::read_dir(&folder)
        .expect("the bounce fixtures are there")
        .map(|entry| entry.expect("a readable folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).unwrap())
        })
        .collect();
    mail.sort();
    mail
}

/// `messages` as an mboxrd file, as a mail server's local delivery writes it: a `From ` line
/// before each, body lines starting with `From ` (after any `>`) quoted with one more `>`.
fn mbox<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut mbox = Vec::new();
    for message in messages {
        mbox.extend_from_slice(b"From MAILER-DAEMON Tue Dec  1 09:00:00 2026\n");
        let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
        for line in text.lines() {
            if line.trim_start_matches('>').starts_with("From ") {
                mbox.push(b'>');
            }
            mbox.extend_from_slice(line.as_bytes());
            mbox.push(b'\n');
        }
        mbox.push(b'\n');
    }
    mbox
}

/// The list fixture with all the fixture mail in `bounces.mbox`.
fn with_mbox() -> Test {
    let mail = fixture_mail();
    Test::fixture("bounces").write(
        "bounces.mbox",
        mbox(mail.iter().map(|(_, bytes)| bytes.as_slice())),
    )
}

/// The lines of the suppression file with the time at their end cut off, after checking that
/// it is an RFC 3339 UTC time.
fn suppressed_lines(output: &Output) -> Vec<String> {
    output
        .read("suppressed.txt")
        .lines()
        .map(|line| match line.rsplit_once(' ') {
            Some((rest, time)) if line.contains("  # ") => {
                assert!(
                    time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
                    "not an RFC 3339 UTC time at the end of `{line}`"
                );
                rest.to_owned()
            }
            _ => line.to_owned(),
        })
        .collect()
}

const FIRST_RUN: &str = "\
read 18 message(s) from 1 mailbox(es)
  hard bounces         6  (6 newly suppressed)
  soft bounces         3  (3 newly counted, 0 newly suppressed after soft bounces in 3 issues)
  complaints           1  (1 newly suppressed)
  unsubscribes         1  (1 newly suppressed)
  ignored              4  (1 delayed, 1 auto-reply, 1 not our mail, 1 not a bounce)
  not understood       3
    bounces.mbox, message 16: a delivery report without its message/delivery-status part
    bounces.mbox, message 17: RFC 3464 report of a failed delivery to keep@example.org without a status code
    bounces.mbox, message 18: looks like a bounce but is in no format this command reads (subject `Returned mail: see transcript for details`)
added to `suppressed.txt`:
  zoe@example.net  # hard bounce 5.1.1 (550 5.1.1 <zoe@example.net>: Recipient address rejected: User unknown in virtual mailbox table)
  li.ming@example.com  # hard bounce 5.1.1 (host mx1.example.com [192.0.2.20] SMTP error from remote mail server after RCPT TO:<li.ming@example.com>: 550 5.1.1 <li.ming@example.com>: No such user here)
  sean@example.ie  # hard bounce 5.1.10 (550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup)
  ana@example.es  # hard bounce 5.1.1 (550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 un…)
  pat@example.nz  # hard bounce 5.1.1 (Sorry, no mailbox here by that name. (#5.1.1))
  sam@example.us  # hard bounce 5.1.1 (550 5.1.1 <sam@example.us>: Recipient address rejected: User unknown)
  mia@example.de  # complaint (abuse report)
  joe@example.org  # unsubscribed by mail
";

const SECOND_RUN: &str = "\
read 18 message(s) from 1 mailbox(es)
  hard bounces         6  (0 newly suppressed)
  soft bounces         3  (0 newly counted, 0 newly suppressed after soft bounces in 3 issues)
  complaints           1  (0 newly suppressed)
  unsubscribes         1  (0 newly suppressed)
  ignored              4  (1 delayed, 1 auto-reply, 1 not our mail, 1 not a bounce)
  not understood       3
    bounces.mbox, message 16: a delivery report without its message/delivery-status part
    bounces.mbox, message 17: RFC 3464 report of a failed delivery to keep@example.org without a status code
    bounces.mbox, message 18: looks like a bounce but is in no format this command reads (subject `Returned mail: see transcript for details`)
";

/// Who stays on the list: soft bounces (ravi, kim, eve), the delayed one (tom), the
/// auto-reply (ola), and keep, whose bounces are of other mail or unreadable.
const STILL_MAILED: [&str; 6] = [
    "eve@example.fr",
    "keep@example.org",
    "kim@example.kr",
    "ola@example.no",
    "ravi@example.in",
    "tom@example.co.uk",
];

#[test]
fn an_mbox_of_bounces_suppresses_hard_bounces_complaints_and_unsubscribes_then_send_skips_them() {
    let output = with_mbox()
        .args(["bounces", "list.yaml", "bounces.mbox"])
        .status(3)
        .stdout(FIRST_RUN)
        .run();
    assert_eq!(
        suppressed_lines(&output),
        [
            "# addresses never to mail",
            "zoe@example.net  # hard bounce 5.1.1 (550 5.1.1 <zoe@example.net>: Recipient address rejected: User unknown in virtual mailbox table)",
            "li.ming@example.com  # hard bounce 5.1.1 (host mx1.example.com [192.0.2.20] SMTP error from remote mail server after RCPT TO:<li.ming@example.com>: 550 5.1.1 <li.ming@example.com>: No such user here)",
            "sean@example.ie  # hard bounce 5.1.10 (550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup)",
            "ana@example.es  # hard bounce 5.1.1 (550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 un…)",
            "pat@example.nz  # hard bounce 5.1.1 (Sorry, no mailbox here by that name. (#5.1.1))",
            "sam@example.us  # hard bounce 5.1.1 (550 5.1.1 <sam@example.us>: Recipient address rejected: User unknown)",
            "mia@example.de  # complaint (abuse report)",
            "joe@example.org  # unsubscribed by mail",
        ]
    );
    let soft = output.read("suppressed.txt.soft-bounces");
    let soft_records: Vec<Vec<&str>> = soft
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split('\t').take(3).collect())
        .collect();
    assert_eq!(
        soft_records,
        [
            ["ravi@example.in", "2026-11", "5.2.2"],
            ["kim@example.kr", "2026-11", "4.4.7"],
            ["eve@example.fr", "2026-11", "5.7.1"],
        ]
    );

    // The same mailbox again: the same summary, nothing new, no file touched.
    let suppressed = output.read("suppressed.txt");
    let output = output
        .again()
        .args(["bounces", "list.yaml", "bounces.mbox"])
        .status(3)
        .stdout(SECOND_RUN)
        .run();
    assert_eq!(output.read("suppressed.txt"), suppressed);
    assert_eq!(output.read("suppressed.txt.soft-bounces"), soft);

    // The next send mails only who is left, with the bounce address as envelope sender.
    let server = CaptureServer::start();
    output
        .again()
        .unsubscribe_key()
        .args([
            "send",
            "issue.yaml",
            "--yes",
            "--progress",
            "none",
            "--smtp",
        ])
        .arg(server.smtp_url())
        .stdout_contains("8 suppressed")
        .run();
    let received = server.summary();
    let mut recipients: Vec<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients, STILL_MAILED);
    assert!(
        received.iter().all(|m| m.from == "bounces@example.org"),
        "MAIL FROM is the list's bounce_address"
    );
}

#[test]
fn a_maildir_reads_like_the_mbox() {
    let mut test = Test::fixture("bounces");
    for (index, (_, bytes)) in fixture_mail().into_iter().enumerate() {
        // Half the messages already seen by a mail client (cur/, with flags), half new.
        let path = if index % 2 == 0 {
            format!("Maildir/cur/1764579600.{index:02}.mx:2,S")
        } else {
            format!("Maildir/new/1764579600.{index:02}.mx")
        };
        test = test.write(path, bytes);
    }
    let output = test
        .write("Maildir/tmp/1764579699.99.mx", "still being delivered")
        .args(["bounces", "list.yaml", "Maildir"])
        .status(3)
        .stdout_contains("read 18 message(s) from 1 mailbox(es)\n")
        .stdout_contains("  hard bounces         6  (6 newly suppressed)\n")
        .stdout_contains(
            "  ignored              4  (1 delayed, 1 auto-reply, 1 not our mail, 1 not a bounce)\n",
        )
        .stdout_contains("  not understood       3\n")
        .run();
    assert_eq!(suppressed_lines(&output).len(), 9);
}

#[test]
fn dry_run_reports_what_would_change_and_writes_nothing() {
    let output = with_mbox()
        .args(["bounces", "list.yaml", "bounces.mbox", "--dry-run"])
        .status(3)
        .stdout_contains("read 18 message(s) from 1 mailbox(es) (dry run)\n")
        .stdout_contains("  hard bounces         6  (6 newly to suppress)\n")
        .stdout_contains("would add to `suppressed.txt`:\n  zoe@example.net  # hard bounce 5.1.1")
        .stdout_contains("dry run: nothing was written\n")
        .run();
    assert_eq!(output.read("suppressed.txt"), "# addresses never to mail\n");
    assert!(!output.path("suppressed.txt.soft-bounces").exists());
}

/// A Postfix-shaped soft bounce (5.2.2, mailbox full) of `issue` for ravi@example.in.
fn mailbox_full(issue: &str) -> String {
    let template = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bounces/mail/07-soft-mailbox-full.eml"),
    )
    .unwrap();
    template.replace("<2026-11.", &format!("<{issue}."))
}

#[test]
fn soft_bounces_suppress_only_after_three_different_issues() {
    let two = mbox([
        mailbox_full("2026-09").as_bytes(),
        mailbox_full("2026-10").as_bytes(),
        // A second soft bounce of the same issue does not count again.
        mailbox_full("2026-10").as_bytes(),
    ]);
    let output = Test::fixture("bounces")
        .write("first.mbox", two)
        .args(["bounces", "list.yaml", "first.mbox"])
        .stdout_contains("  soft bounces         3  (2 newly counted, 0 newly suppressed after soft bounces in 3 issues)\n")
        .run();
    assert_eq!(output.read("suppressed.txt"), "# addresses never to mail\n");
    let output = output
        .again()
        .write("second.eml", mailbox_full("2026-11"))
        .args(["bounces", "list.yaml", "second.eml"])
        .stdout_contains("  soft bounces         1  (1 newly counted, 1 newly suppressed after soft bounces in 3 issues)\n")
        .stdout_contains("added to `suppressed.txt`:\n  ravi@example.in  # soft bounces in 3 issues\n")
        .run();
    assert_eq!(
        suppressed_lines(&output),
        [
            "# addresses never to mail",
            "ravi@example.in  # soft bounces in 3 issues"
        ]
    );
    let soft = output.read("suppressed.txt.soft-bounces");
    let issues: Vec<&str> = soft
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(issues, ["2026-09", "2026-10", "2026-11"]);
}

#[test]
fn a_folder_that_is_not_a_maildir_is_refused() {
    Test::fixture("bounces")
        .write("not-a-maildir/message.eml", "Subject: x\n\n")
        .args(["bounces", "list.yaml", "not-a-maildir"])
        .status(4)
        .stderr(
            "error: `not-a-maildir` is a folder but not a Maildir (it has no `cur` or `new` folder)\n\
             hint: give a Maildir folder (with `cur/` and `new/`), an mbox file or an .eml file\n",
        )
        .run();
}

#[test]
fn a_list_without_a_suppression_file_is_refused() {
    Test::fixture("minimal")
        .write("bounce.eml", "Subject: x\n\n")
        .args(["bounces", "list.yaml", "bounce.eml"])
        .status(4)
        .stderr(
            "error: `list.yaml` names no suppression file, so there is nowhere to record bounces\n\
             hint: add `suppression: suppressed.txt` to the list file (send then skips the addresses in it), or pass --suppression FILE\n",
        )
        .run();
}

/// Reports built to hurt a parser: huge, deeply nested, thousands of recipients, wrong and
/// unknown charsets, broken encodings, cut short anywhere. Each must be read in seconds, end
/// as "not understood" (or ignored) and crash nothing; a hang fails at the timeout.
fn hostile_reports() -> Vec<(String, Vec<u8>)> {
    let postfix = fixture_mail()
        .into_iter()
        .find(|(name, _)| name.starts_with("01-"))
        .unwrap()
        .1;
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    // Cut short at many points, through the headers, the boundaries and the status fields.
    for cut in (0..postfix.len()).step_by(97) {
        cases.push((format!("truncated-at-{cut}"), postfix[..cut].to_vec()));
    }
    let nested = |depth: usize| {
        let mut text = String::from(
            "From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail\nMIME-Version: 1.0\n",
        );
        for level in 0..depth {
            let _ = write!(
                text,
                "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b{level}\"\n\n--b{level}\n"
            );
        }
        text.push_str(
            "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; zoe@example.net\n",
        );
        text.into_bytes()
    };
    cases.push(("nested-2000".into(), nested(2_000)));
    cases.push(("nested-20000".into(), nested(20_000)));
    let mut rfc822_nested = String::new();
    for _ in 0..500 {
        rfc822_nested.push_str("Content-Type: message/rfc822\n\n");
    }
    cases.push((
        "nested-rfc822".into(),
        format!(
            "From: MAILER-DAEMON@example.org\nMIME-Version: 1.0\n{rfc822_nested}Subject: x\n\n"
        )
        .into_bytes(),
    ));
    let mut many_recipients = String::new();
    for n in 0..50_000 {
        let _ = write!(
            many_recipients,
            "Final-Recipient: rfc822; r{n}@example.net\nAction: failed\nStatus: 5.1.1\n\n"
        );
    }
    cases.push((
        "fifty-thousand-recipients".into(),
        format!(
            "From: MAILER-DAEMON@example.org\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\n\n--x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n{many_recipients}--x--\n"
        )
        .into_bytes(),
    ));
    let huge_line = "A".repeat(3_000_000);
    cases.push((
        "huge-header-line".into(),
        format!("From: MAILER-DAEMON@example.org\nSubject: {huge_line}\n\nbody\n").into_bytes(),
    ));
    cases.push((
        "larger-than-the-limit".into(),
        format!(
            "From: MAILER-DAEMON@example.org\nSubject: big\n\n{}\n",
            "0123456789\n".repeat(900_000)
        )
        .into_bytes(),
    ));
    let wrong_charset = String::from_utf8_lossy(&postfix)
        .replace("charset=us-ascii", "charset=x-no-such-charset")
        .replace("Content-Type: message/delivery-status", "Content-Type: message/delivery-status; charset=utf-7\nContent-Transfer-Encoding: base64");
    cases.push((
        "wrong-charset-and-encoding".into(),
        wrong_charset.into_bytes(),
    ));
    let mut latin1 = b"From: MAILER-DAEMON@example.org\nSubject: =?iso-8859-1?Q?R=E9ponse?= \xe9\xe8\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"z\"\n\n--z\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; \xff\xfe@\xe9.example\nAction: failed\nStatus: 5.1.1\n\n--z--\n".to_vec();
    latin1.extend(std::iter::repeat_n(0u8, 1000));
    cases.push(("latin1-and-nul-bytes".into(), latin1));
    let mut garbage = Vec::with_capacity(1 << 20);
    let mut state: u32 = 0x1234_5678;
    for _ in 0..(1 << 20) {
        // xorshift: the same bytes on every run.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        garbage.push(state.to_le_bytes()[0]);
    }
    cases.push(("random-bytes".into(), garbage));
    cases.push((
        "ses-json-bomb".into(),
        format!(
            "From: no-reply@sns.amazonaws.com\nSubject: AWS Notification Message\n\n{{\"notificationType\":\"Bounce\",\"bounce\":{}1{}}}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        )
        .into_bytes(),
    ));
    cases
}

#[test]
fn hostile_reports_neither_crash_nor_hang() {
    for (name, bytes) in hostile_reports() {
        let file = format!("{name}.eml");
        let output = Test::fixture("bounces")
            .write(&file, &bytes)
            .args(["bounces", "list.yaml", &file])
            .timeout(Duration::from_secs(30))
            // 3 when listed as not understood; 0 when read as something harmless, such as a
            // report cut off before its first MIME header, which is then plain mail.
            .status_any_of(&[0, 3])
            .run();
        // A report cut short after its status fields is still a readable hard bounce of
        // zoe@example.net; nothing else may suppress anyone.
        let suppressed = suppressed_lines(&output);
        assert!(
            suppressed == ["# addresses never to mail"]
                || (name.starts_with("truncated-at-")
                    && suppressed.len() == 2
                    && suppressed[1].starts_with("zoe@example.net  # hard bounce 5.1.1")),
            "{name}: {suppressed:?}"
        );
    }
}
