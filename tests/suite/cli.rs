//! The command line itself: usage errors exit with 2, and help documents the exit codes.

use crate::harness::Test;

#[test]
fn check_without_an_issue_is_a_usage_error() {
    Test::new()
        .arg("check")
        .status(2)
        .stderr(
            "error: the following required arguments were not provided:\n  <ISSUE>\n\nUsage: newsletter check <ISSUE>\n\nFor more information, try '--help'.\n",
        )
        .run();
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    Test::new()
        .arg("frobnicate")
        .status(2)
        .stderr_contains("error: unrecognized subcommand 'frobnicate'\n")
        .run();
}

#[test]
fn help_documents_the_exit_codes() {
    Test::new()
        .arg("--help")
        .stdout_contains("Exit codes:\n  0    success\n")
        .stdout_contains("  2    wrong command-line usage (including a send that needs --yes")
        .stdout_contains("  3    the send finished, but some recipients (of this run or an earlier one)\n       failed")
        .stdout_contains(
            "  4    invalid input: the issue, list, subscriber, suppression or soft-bounce",
        )
        .stdout_contains("  5    the send paused at its --cap")
        .stdout_contains("  130  the send was interrupted (Ctrl-C)")
        .run();
}

#[test]
fn help_never_shows_a_password_held_in_the_environment() {
    let output = Test::new()
        .env(
            "NEWSLETTER_SMTP_URL",
            "smtp://user:hunter2@relay.example.org:587",
        )
        .args(["send", "--help"])
        .run();
    assert!(
        output.stdout.contains("NEWSLETTER_SMTP_URL"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("hunter2"), "{}", output.stdout);
}
