//! Spam scoring: the sample issue's message (and one that carries images) run through Debian's SpamAssassin with local
//! rules only (`spamassassin -L -t`, installed by `tests/run`) must score at most 1.0. The
//! rules that fired are printed, so a rise in the score says which rule to look at.

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

use crate::harness::Test;

/// The most the sample message may score; SpamAssassin's own threshold is 5.0.
const MAX_SCORE: f64 = 1.0;

/// The sample list's unsubscribe URL without the plain address (`email={email}` scores 1.0
/// on its own); the opaque-id URL scheme of the unsubscribe endpoint carries none either.
const URL_WITHOUT_ADDRESS: &str =
    "https://sin-singapore.example.org/unsubscribe?list={list}&token={token}";

#[test]
fn sample_issue_scores_at_most_one_with_spamassassin() {
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/newsletters/list.yaml"
    ))
    .unwrap();
    let list = list
        .lines()
        .map(|line| match line.trim_start().strip_prefix("url: ") {
            Some(_) => format!("  url: \"{URL_WITHOUT_ADDRESS}\""),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(list.contains(URL_WITHOUT_ADDRESS), "{list}");
    let output = Test::newsletters()
        .write("newsletters/list.yaml", list)
        .unsubscribe_key()
        .args([
            "preview",
            "newsletters/2019-06-uk-sg-mou.yaml",
            "--out",
            "out",
            "--for",
            "zoe.martin@example.org",
        ])
        .run();
    assert_scores_low(
        &output.read_bytes("out/0002-zoe.martin_example.org.eml"),
        "the sample issue",
    );
}

#[test]
fn issue_with_embedded_images_scores_at_most_one_with_spamassassin() {
    let output = Test::fixture("images")
        .args([
            "preview",
            "issue.yaml",
            "--out",
            "out",
            "--for",
            "ada@example.org",
        ])
        .run();
    assert_scores_low(
        &output.read_bytes("out/0002-ada_example.org.eml"),
        "the issue with images",
    );
}

/// Runs `message` through SpamAssassin and fails when it scores over [`MAX_SCORE`].
fn assert_scores_low(message: &[u8], what: &str) {
    let mut child = Command::new("spamassassin")
        .args(["-L", "-t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run `spamassassin`: install Debian's spamassassin (tests/run does)");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let result = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&result.stdout);
    let status = report
        .lines()
        .find(|line| line.starts_with("X-Spam-Status:"))
        .unwrap_or_else(|| {
            panic!(
                "no X-Spam-Status in SpamAssassin's output:\n{report}\n{}",
                String::from_utf8_lossy(&result.stderr)
            )
        });
    let score: f64 = status
        .split("score=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|score| score.parse().ok())
        .unwrap_or_else(|| panic!("no score in `{status}`"));
    // The report's table: "pts rule name  description", one rule a line.
    let rules: Vec<&str> = report
        .lines()
        .skip_while(|line| !line.starts_with(" pts rule"))
        .skip(2)
        .take_while(|line| !line.trim().is_empty() && !line.starts_with("Return-Path"))
        .collect();
    println!(
        "SpamAssassin score {score}; rules that fired:\n{}",
        rules.join("\n")
    );
    assert!(
        score <= MAX_SCORE,
        "{what} scores {score} (at most {MAX_SCORE} allowed); rules that fired:\n{}",
        rules.join("\n")
    );
}
