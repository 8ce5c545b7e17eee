//! `newsletter new`: a new issue with the next number and today's date that passes `check`, a
//! sample list and subscriber file when there is no list, and never an overwritten file; and
//! `check`'s warning for issues beside each other that share a number or date.

use crate::harness::Test;

fn today() -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn new_without_a_list_writes_a_sample_list_and_an_issue_that_checks() {
    let output = Test::new()
        .args(["new", "bulletin/first.yaml"])
        .stdout("wrote bulletin/list.yaml\nwrote bulletin/subscribers.csv\nwrote bulletin/first.yaml\nnext: edit bulletin/first.yaml, then `newsletter check bulletin/first.yaml`\n")
        .run();
    let issue = output.read("bulletin/first.yaml");
    assert!(issue.contains("\nlist: list.yaml\n"), "{issue}");
    assert!(issue.contains("\nnumber: 1\n"), "{issue}");
    assert!(issue.contains(&format!("\ndate: {}\n", today())), "{issue}");
    assert!(
        issue.contains("# The subject line."),
        "fields are explained"
    );
    output
        .again()
        .unsubscribe_key()
        .args(["check", "bulletin/first.yaml"])
        .stdout_contains("ok: no problems found")
        .run();
}

#[test]
fn new_takes_the_next_number_and_the_given_list() {
    let output = Test::newsletters()
        .args(["new", "newsletters/2019-07-next.yaml"])
        .stdout_contains("wrote newsletters/2019-07-next.yaml\n")
        .run();
    let issue = output.read("newsletters/2019-07-next.yaml");
    // The MoU issue beside it is number 1.
    assert!(issue.contains("\nnumber: 2\n"), "{issue}");
    assert!(issue.contains("\nlist: list.yaml\n"), "{issue}");
    let output = output
        .again()
        .args(["new", "elsewhere/issue.yaml", "--list", "newsletters/list.yaml"])
        .stdout("wrote elsewhere/issue.yaml\nnext: edit elsewhere/issue.yaml, then `newsletter check elsewhere/issue.yaml`\n")
        .run();
    let issue = output.read("elsewhere/issue.yaml");
    assert!(
        issue.contains("\nlist: ../newsletters/list.yaml\n"),
        "{issue}"
    );
}

#[test]
fn new_never_overwrites_a_file() {
    let output = Test::new()
        .write("first.yaml", "mine\n")
        .args(["new", "first.yaml"])
        .status(1)
        .stderr("error: `first.yaml` already exists; `newsletter new` never overwrites a file\nhint: give a new file name, e.g. `newsletters/2026-07-summer.yaml`\n")
        .run();
    assert_eq!(output.read("first.yaml"), "mine\n");
    assert!(output.files(".").iter().all(|name| name != "list.yaml"));
}

#[test]
fn check_warns_when_an_issue_beside_it_shares_its_number_or_date() {
    let issue = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minimal/issue.yaml"
    ))
    .unwrap();
    Test::fixture("minimal")
        .write("copy.yaml", issue)
        .args(["check", "issue.yaml"])
        .stderr_contains("warning[issue-copy]: `issue.yaml` line 2: `copy.yaml` beside this issue has the same number 7; was it copied and not updated?\n")
        .stderr_contains("warning[issue-copy]: `issue.yaml` line 3: `copy.yaml` beside this issue has the same date 2024-03-01; was it copied and not updated?\n")
        .run();
}
