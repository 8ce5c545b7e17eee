//! Snapshots of the sample issue (`newsletters/2019-06-uk-sg-mou.yaml`) as two subscribers
//! receive it: the text part, the HTML part and the whole `.eml`. The `.snap` files in
//! `snapshots/` are reviewed like code (see README.md).
//!
//! Redacted before snapshotting, because they differ per run: the `Date` header and the MIME
//! boundary. `Message-ID`s are kept: they are derived from the issue, the list and the address
//! (see `message_id_is_the_same_in_every_run`), so a change in one is a change to review. The
//! unsubscribe tokens are stable because the key is fixed. Line ends are shown as `\n`; that
//! the file uses CRLF is checked in the message tests.

use crate::harness::{Output, Test};

fn mou(address: &str) -> Output {
    Test::newsletters()
        .unsubscribe_key()
        .args([
            "preview",
            "newsletters/2019-06-uk-sg-mou.yaml",
            "--for",
            address,
            "--out",
            "out",
        ])
        .stdout_contains("wrote 1 message(s)")
        .run()
}

/// The `.eml` with LF line ends, `Date: [DATE]`, and `[BOUNDARY]` for the MIME boundary.
fn redact(eml: &str) -> String {
    let eml = eml.replace("\r\n", "\n");
    let (head, body) = eml.split_once("\n\n").expect("no end of header");
    let boundary = head
        .split_once("boundary=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(boundary, _)| boundary.to_owned())
        .expect("no MIME boundary");
    let head: Vec<String> = head
        .lines()
        .map(|line| {
            if line.starts_with("Date: ") {
                "Date: [DATE]".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    format!("{}\n\n{body}", head.join("\n")).replace(&boundary, "[BOUNDARY]")
}

/// Snapshots `NAME_text`, `NAME_html` and `NAME_eml` of the message in `out/STEM.eml`.
fn assert_parts(output: &Output, stem: &str, name: &str) {
    let eml = output.read(format!("out/{stem}.eml"));
    let message = output.email(format!("out/{stem}.eml"));
    let text = message
        .body_text(0)
        .expect("no text part")
        .replace("\r\n", "\n");
    let html = message
        .body_html(0)
        .expect("no HTML part")
        .replace("\r\n", "\n");
    insta::assert_snapshot!(format!("{name}_text"), text);
    insta::assert_snapshot!(format!("{name}_html"), html);
    insta::assert_snapshot!(format!("{name}_eml"), redact(&eml));
}

#[test]
fn mou_issue_to_zoe_martin() {
    assert_parts(
        &mou("zoe.martin@example.org"),
        "0002-zoe.martin_example.org",
        "mou_zoe_martin",
    );
}

#[test]
fn mou_issue_to_a_name_with_markup() {
    assert_parts(
        &mou("mallory@example.com"),
        "0005-mallory_example.com",
        "mou_mallory_markup",
    );
}

#[test]
fn redact_replaces_date_and_boundary_only() {
    let eml = "Subject: Date: 1 May\r\nDate: Thu, 26 Nov 2026 23:00:32 +0000\r\nContent-Type: multipart/alternative;\r\n boundary=\"abc123\"\r\n\r\n--abc123\r\nDate: in the body\r\n--abc123--\r\n";
    assert_eq!(
        redact(eml),
        "Subject: Date: 1 May\nDate: [DATE]\nContent-Type: multipart/alternative;\n boundary=\"[BOUNDARY]\"\n\n--[BOUNDARY]\nDate: in the body\n--[BOUNDARY]--\n"
    );
}
