//! The suppression file as the list's memory: `newsletter unsubscribe` adds addresses by hand
//! with a reason and a time, keeps the hand-written lines as they are, adds nobody twice, and
//! `status` counts who is suppressed and why.

use crate::harness::Test;

const SUPPRESSED: &str = "newsletters/suppressed.txt";

#[test]
fn unsubscribe_appends_new_addresses_with_reason_and_time_once() {
    let output = Test::newsletters()
        .args([
            "unsubscribe",
            "newsletters/list.yaml",
            "zoe.martin@example.org",
            "Blocked@Example.com",
            "--reason",
            "asked by phone",
        ])
        .stdout("1 address(es) added to `newsletters/suppressed.txt`; 1 already there\n")
        .run();
    let text = output.read(SUPPRESSED);
    let (kept, added) = text.split_at(text.find("zoe.martin").expect("zoe added"));
    assert_eq!(
        kept,
        "# Addresses never to mail, whatever subscribers.csv says (hard bounces, complaints).\nblocked@example.com\n"
    );
    assert!(
        added.starts_with("zoe.martin@example.org  # asked by phone 20"),
        "{added}"
    );
    assert!(
        added.ends_with("Z\n") && added.lines().count() == 1,
        "{added}"
    );

    let again = output
        .again()
        .args([
            "unsubscribe",
            "newsletters/list.yaml",
            "ZOE.MARTIN@example.org",
        ])
        .stdout("0 address(es) added to `newsletters/suppressed.txt`; 1 already there\n")
        .run();
    assert_eq!(again.read(SUPPRESSED), text);

    let status = again
        .again()
        .args(["status", "newsletters/2019-06-uk-sg-mou.yaml"])
        .stdout(
            "2019-06-uk-sg-mou: nothing sent yet (no journal at `newsletters/2019-06-uk-sg-mou.journal`)\nsuppressed: 2 in `newsletters/suppressed.txt`: 1 asked by phone, 1 no reason recorded\n",
        )
        .run();

    // Scripts get the same counts as people.
    let json = status
        .again()
        .args(["status", "newsletters/2019-06-uk-sg-mou.yaml", "--json"])
        .run();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    assert_eq!(
        value["suppressed"],
        serde_json::json!({
            "file": "newsletters/suppressed.txt",
            "exists": true,
            "total": 2,
            "reasons": [
                {"reason": "asked by phone", "count": 1},
                {"reason": "no reason recorded", "count": 1},
            ],
        }),
        "{value}"
    );
}

#[test]
fn unsubscribe_refuses_what_is_not_an_address_and_writes_nothing() {
    let output = Test::newsletters()
        .args([
            "unsubscribe",
            "newsletters/list.yaml",
            "zoe.martin@example.org",
            "not an address\n#x",
        ])
        .status(2)
        .stderr(
            "error: `not an address\\n#x` cannot go in the suppression file (it must be one address, without spaces or `#`)\n",
        )
        .run();
    assert!(!output.read(SUPPRESSED).contains("zoe"));
}

#[test]
fn unsubscribe_needs_a_suppression_file() {
    let original = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("newsletters/list.yaml"),
    )
    .unwrap();
    Test::newsletters()
        .write(
            "newsletters/list.yaml",
            original.replace("suppression: suppressed.txt\n", ""),
        )
        .args(["unsubscribe", "newsletters/list.yaml", "zoe.martin@example.org"])
        .status(4)
        .stderr(
            "error: `newsletters/list.yaml` names no suppression file\nhint: add `suppression: suppressed.txt` to the list file (the file is created when needed), or pass --suppression FILE\n",
        )
        .run();
}
