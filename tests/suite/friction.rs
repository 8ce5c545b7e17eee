//! What a new user trips over on a first run (issue 14): a relay that is not running, a URL
//! without its scheme, a declined prompt, a folder named as the issue, a machine without a
//! browser, and the conventions of a CLI (completions, a man page, help that fits).

use crate::harness::Test;

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";

#[test]
fn smtp_url_without_a_scheme_says_how_to_write_it() {
    Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--to", "me@example.org", "--smtp", "127.0.0.1:1025"])
        .status(2)
        .stderr(
            "error: `--smtp` is not a valid SMTP URL: it has no scheme; write it as smtp://127.0.0.1:1025\n",
        )
        .run();
}

#[test]
fn a_folder_named_as_the_issue_is_invalid_input_like_a_missing_file() {
    Test::newsletters()
        .args(["check", "newsletters/missing.yaml"])
        .status(4)
        .stderr_contains("error: cannot read `newsletters/missing.yaml`\n")
        .run();
    Test::newsletters()
        .args(["check", "newsletters"])
        .status(4)
        .stderr_contains("error: cannot read `newsletters`\n")
        .stderr_contains("hint: name a file inside the folder")
        .run();
}
