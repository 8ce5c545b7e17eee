//! `newsletter check`: the summary of a good issue, and one clear error (with the right exit
//! code) for each kind of bad input.

use crate::harness::Test;

const ISSUE_HINT: &str = "hint: the file format is described in README.md, section \"The files\"\n";

/// `check issue.yaml` in a copy of the `minimal` fixture with `case` laid over it.
fn check_case(case: &str) -> Test {
    Test::fixture("minimal")
        .with_fixture(case)
        .unsubscribe_key()
        .args(["check", "issue.yaml"])
}

#[test]
fn mou_issue_checks_ok_with_recipients_skips_and_largest_message() {
    let output = Test::newsletters()
        .unsubscribe_key()
        .args(["check", "newsletters/2019-06-uk-sg-mou.yaml"])
        .stdout_contains(
            "newsletters/2019-06-uk-sg-mou.yaml: issue 1 of SIN Singapore Bulletin, 28 June 2019\n",
        )
        .stdout_contains(
            "  subject:      UK–Singapore MoU: a “significant milestone” for digital government\n",
        )
        .stdout_contains("  suppression:  newsletters/suppressed.txt\n")
        .stdout_contains("  recipients:   7\n")
        .stdout_contains("  skipped:      1 unsubscribed, 1 duplicate, 1 suppressed\n")
        .stderr(
            "note: `newsletters/subscribers.csv` line 9: `ZOE.MARTIN@EXAMPLE.ORG` is a duplicate of line 2; it is sent once\n",
        )
        .run();
    let largest = output
        .stdout
        .lines()
        .find(|line| line.starts_with("  largest:      "))
        .expect("no `largest:` line");
    // Sizes change with the templates; who the largest message goes to does not (the longest
    // name, escaped in the HTML part).
    assert!(
        largest.contains(" KB to mallory@example.com (HTML part ") && largest.ends_with(" KB)"),
        "{largest}"
    );
    assert!(output.stdout.ends_with("\nok: no problems found\n"));
    assert!(!output.stderr.contains("throwaway"), "{}", output.stderr);
}

#[test]
fn check_without_unsubscribe_key_notes_the_throwaway_key() {
    Test::newsletters()
        .args(["check", "newsletters/2019-06-uk-sg-mou.yaml"])
        .stderr_contains(
            "note: NEWSLETTER_UNSUBSCRIBE_KEY is not set, so unsubscribe links were made with a throwaway key; `send` needs the real key\n",
        )
        .stdout_contains("ok: no problems found\n")
        .run();
}

#[test]
fn short_unsubscribe_key_is_refused() {
    Test::newsletters()
        .env("NEWSLETTER_UNSUBSCRIBE_KEY", "too-short")
        .args(["check", "newsletters/2019-06-uk-sg-mou.yaml"])
        .status(4)
        .stderr(
            "error: NEWSLETTER_UNSUBSCRIBE_KEY must be at least 32 characters long\n\
             hint: set NEWSLETTER_UNSUBSCRIBE_KEY to a random secret of at least 32 characters (e.g. `openssl rand -hex 32`), the same one your unsubscribe endpoint checks tokens with\n",
        )
        .run();
}

#[test]
fn minimal_issue_checks_ok_without_notes() {
    Test::fixture("minimal")
        .unsubscribe_key()
        .args(["check", "issue.yaml"])
        .stdout_contains("issue.yaml: issue 7 of Test Bulletin, 1 March 2024\n")
        .stdout_contains("  recipients:   2\n  skipped:      none\n")
        .run();
}

#[test]
fn unterminated_quote_names_line_and_column() {
    check_case("unterminated-quote")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 5, column 12: did not find expected key, while parsing a block mapping\n{ISSUE_HINT}"
        ))
        .run();
}

#[test]
fn unquoted_colon_names_line_and_column() {
    check_case("unquoted-colon")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 4, column 16: mapping values are not allowed in this context: a value containing `: ` must be in quotes; put the value in quotes, e.g. subject: \"Budget: what changes\"\n{ISSUE_HINT}"
        ))
        .run();
}

#[test]
fn unknown_field_names_file_line_column_and_field_path() {
    check_case("unknown-field")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 12, column 7: field `stories[0].image.widht`: unknown field `widht`, expected one of `src`, `alt`, `width`, `link`\n{ISSUE_HINT}"
        ))
        .run();
}

#[test]
fn wrong_type_names_the_field_and_the_expected_type() {
    check_case("wrong-type")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 2, column 9: field `number`: expected a whole number, found the text \"seven\"\n{ISSUE_HINT}"
        ))
        .run();
}

#[test]
fn missing_subject_is_named() {
    check_case("missing-subject")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 1, column 1: missing field `subject`\n{ISSUE_HINT}"
        ))
        .run();
}

#[test]
fn empty_issue_file_says_what_an_issue_needs() {
    check_case("empty-issue")
        .status(4)
        .stderr(
            "error: `issue.yaml` is empty; an issue needs at least `list`, `number`, `date`, `subject` and `stories`\n",
        )
        .run();
}

#[test]
fn non_utf8_issue_file_names_the_line() {
    // The issue saved as Latin-1: `é` is the single byte 0xE9 on line 4.
    Test::fixture("minimal")
        .write(
            "issue.yaml",
            b"list: list.yaml\nnumber: 7\ndate: 2024-03-01\nsubject: \"Caf\xe9 issue\"\n",
        )
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr("error: `issue.yaml` line 4: the file is not UTF-8 text\n")
        .run();
}

#[test]
fn issue_over_one_mebibyte_is_refused_before_parsing() {
    // A valid issue padded with comments: only its size is wrong.
    let mut issue = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minimal/issue.yaml"
    ))
    .unwrap();
    while issue.len() <= 1024 * 1024 {
        issue.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    let size = issue.len();
    Test::fixture("minimal")
        .write("issue.yaml", issue)
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` is {size} bytes; issue files are limited to 1048576 bytes\n"
        ))
        .run();
}

#[test]
fn missing_list_file_is_reported_at_the_list_field() {
    check_case("missing-list")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 1: field `list`: the list file `lists/bulletin.yaml` does not exist\n{ISSUE_HINT}"
        ))
        .run();
}

#[test]
fn bad_address_names_the_line_and_fails_the_check() {
    check_case("bad-address")
        .status(4)
        .stdout_contains("  recipients:   2\n")
        .stderr(
            "error: `subscribers.csv` line 3: `ada at example.org` is not a valid email address\n\
             error: 1 error(s) and 0 warning(s) found\n",
        )
        .run();
}

#[test]
fn duplicate_address_is_noted_and_sent_once() {
    check_case("duplicate-address")
        .stdout_contains("  recipients:   2\n  skipped:      1 duplicate\n")
        .stderr(
            "note: `subscribers.csv` line 4: `ADA@Example.org` is a duplicate of line 2; it is sent once\n",
        )
        .stdout_contains("ok: no problems found\n")
        .run();
}

#[test]
fn crlf_subscriber_file_with_byte_order_mark_is_read() {
    check_case("crlf-bom")
        .stdout_contains("  recipients:   2\n  skipped:      none\n")
        .stdout_contains("ok: no problems found\n")
        .run();
}

#[test]
fn line_break_in_a_name_is_accepted_with_a_warning() {
    check_case("name-with-line-break")
        .stdout_contains("  recipients:   2\n")
        .stderr(
            "warning[subscriber-name]: `subscribers.csv` line 2: the name contains line breaks or control characters; it is used as `Eve Bcc: victim@example.org`\n",
        )
        .stdout_contains("ok: no errors, 1 warning(s)\n")
        .run();
}

#[test]
fn markup_in_a_name_is_accepted_without_warning() {
    // The name is data, not a mistake: it is escaped where it is shown (see preview and
    // message tests).
    let output = check_case("name-with-markup")
        .stdout_contains("  recipients:   2\n")
        .stdout_contains("ok: no problems found\n")
        .run();
    assert!(!output.stderr.contains("warning"), "{}", output.stderr);
}

#[test]
fn missing_email_column_names_the_columns_found() {
    check_case("no-email-column")
        .status(4)
        .stderr(
            "error: `subscribers.csv` line 1: the header row has no `email` column (it has `mail`, `name`)\n\
             hint: the first row of the subscriber file names its columns, e.g. `email,name,status`; see README.md, section \"The subscriber file\"\n",
        )
        .run();
}

#[test]
fn greeting_placeholder_must_be_a_subscriber_column() {
    check_case("unknown-placeholder")
        .status(4)
        .stderr(&format!(
            "error: `issue.yaml` line 5, column 17: field `greeting`: `{{first_name}}` is not a column of `subscribers.csv` (its columns are `email`, `name`)\n{ISSUE_HINT}"
        ))
        .run();
}
