//! Unsubscribe tokens: the URL in each message carries the token of that address, which
//! `newsletter token --verify` accepts, and which fails for any other address.

use crate::harness::{Test, UNSUBSCRIBE_KEY};

const LIST_ID: &str = "bulletin.sin-singapore.example.org";

fn token_of(email: &str) -> String {
    let output = Test::newsletters()
        .unsubscribe_key()
        .args(["token", "--list", "newsletters/list.yaml", email])
        .run();
    output.stdout.trim().to_owned()
}

#[test]
fn the_token_in_a_message_verifies_for_its_address_only() {
    let output = Test::preview_mou(&["--for", "zoe.martin@example.org"]).run();
    let message = output.email("out/0002-zoe.martin_example.org.eml");
    let unsubscribe = message
        .header_raw("List-Unsubscribe")
        .expect("List-Unsubscribe")
        .to_owned();
    let token = unsubscribe
        .split("token=")
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a token in the URL")
        .to_owned();
    assert_eq!(token, token_of("zoe.martin@example.org"));

    verify(LIST_ID, "Zoe.Martin@example.org", &token)
        .stdout(&format!(
            "valid: the token belongs to Zoe.Martin@example.org on {LIST_ID}\n"
        ))
        .run();
    verify(LIST_ID, "li.ming@example.com", &token)
        .status(1)
        .stderr(&format!(
            "error: invalid: the token does not belong to `li.ming@example.com` on `{LIST_ID}`\n"
        ))
        .run();
    verify("other.example.org", "zoe.martin@example.org", &token)
        .status(1)
        .stderr(
            "error: invalid: the token does not belong to `zoe.martin@example.org` on `other.example.org`\n",
        )
        .run();
}

/// `newsletter token --list-id LIST_ID EMAIL --verify TOKEN`, with the test key.
fn verify(list_id: &str, email: &str, token: &str) -> Test {
    Test::new()
        .unsubscribe_key()
        .args(["token", "--list-id", list_id, email, "--verify", token])
}

#[test]
fn another_key_makes_another_token() {
    let other = Test::newsletters()
        .env(
            "NEWSLETTER_UNSUBSCRIBE_KEY",
            format!("{UNSUBSCRIBE_KEY}-rotated"),
        )
        .args([
            "token",
            "--list",
            "newsletters/list.yaml",
            "zoe.martin@example.org",
        ])
        .run();
    assert_ne!(other.stdout.trim(), token_of("zoe.martin@example.org"));
}

#[test]
fn token_needs_the_key_and_a_list() {
    Test::new()
        .args(["token", "--list-id", LIST_ID, "zoe.martin@example.org"])
        .status(4)
        .stderr_contains("error: NEWSLETTER_UNSUBSCRIBE_KEY is not set\n")
        .run();
    Test::new()
        .unsubscribe_key()
        .args(["token", "zoe.martin@example.org"])
        .status(2)
        .stderr_contains("the following required arguments were not provided")
        .run();
}

#[test]
fn token_refuses_both_a_list_file_and_a_list_id() {
    // Either could be the one meant; a token for the wrong list would not work, silently.
    Test::newsletters()
        .unsubscribe_key()
        .args([
            "token",
            "--list",
            "newsletters/list.yaml",
            "--list-id",
            "other.example.org",
            "zoe.martin@example.org",
        ])
        .status(2)
        .stderr_contains("error: the argument '--list <FILE>' cannot be used with '--list-id <ID>'")
        .stdout("")
        .run();
}

#[test]
fn verify_url_accepts_the_sample_lists_id_urls_and_the_email_scheme() {
    let output = Test::preview_mou(&["--for", "zoe.martin@example.org"]).run();
    let message = output.email("out/0002-zoe.martin_example.org.eml");
    let header = message
        .header_raw("List-Unsubscribe")
        .expect("List-Unsubscribe")
        .to_owned();
    let url = header
        .split('<')
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .expect("a URL")
        .to_owned();
    assert!(url.contains("?id=") && !url.contains("zoe"), "{url}");
    let check = |url: &str| {
        Test::newsletters().unsubscribe_key().args([
            "token",
            "--list",
            "newsletters/list.yaml",
            "--verify-url",
            url,
        ])
    };
    check(&url)
        .stdout(&format!(
            "valid: the URL unsubscribes zoe.martin@example.org from {LIST_ID}\n"
        ))
        .run();
    let id = Test::newsletters()
        .unsubscribe_key()
        .args([
            "token",
            "--list",
            "newsletters/list.yaml",
            "zoe.martin@example.org",
            "--id",
        ])
        .run();
    assert!(url.contains(&format!("id={}&", id.stdout.trim())), "{url}");
    let invalid =
        format!("error: invalid: the URL is not a valid unsubscribe URL of `{LIST_ID}`\n");
    for broken in [
        url.replace("token=", "token=x"),
        url[..url.len() - 4].to_owned(),
        url.replace("/unsubscribe", "/elsewhere"),
        "not a url".to_owned(),
    ] {
        check(&broken).status(1).stderr(&invalid).run();
    }

    // A list that still uses `{email}` and `{token}` is understood too.
    let token = token_of("zoe.martin@example.org");
    Test::newsletters()
        .unsubscribe_key()
        .write(
            "newsletters/list.yaml",
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("newsletters/list.yaml"),
            )
            .unwrap()
            .replace("?id={id}&token={token}", "?list={list}&email={email}&token={token}"),
        )
        .args([
            "token",
            "--list",
            "newsletters/list.yaml",
            "--verify-url",
            &format!(
                "https://sin-singapore.example.org/unsubscribe?list={LIST_ID}&email=zoe.martin%40example.org&token={token}"
            ),
        ])
        .stdout(&format!(
            "valid: the URL unsubscribes zoe.martin@example.org from {LIST_ID}\n"
        ))
        .run();
}
