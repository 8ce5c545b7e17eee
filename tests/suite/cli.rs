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
        .stdout_contains("  3    the send finished, but some recipients failed")
        .stdout_contains(
            "  4    invalid input: the issue, list, subscriber, suppression or soft-bounce",
        )
        .stdout_contains("  5    the send paused at its --cap")
        .stdout_contains("  130  the send was interrupted (Ctrl-C)")
        .run();
}
