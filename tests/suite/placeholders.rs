//! Placeholders in every text a reader sees (`{column}` and `{column|default}`): filled per
//! subscriber and escaped for where they land (HTML, text, the RFC 2047 subject, URLs), their
//! defaults on the web page, unknown columns refused at their line and column, and the default
//! greeting with a subscriber file of addresses only.

use crate::harness::{Output, Test, html_part as html, text_part as text};

const ISSUE: &str = r#"list: list.yaml
number: 8
date: 2024-04-01
subject: "News for {org|everyone}"
preheader: "What {org|our members} did this month"
greeting: "Dear {name|friend},"
intro: "Hello *{name|reader}*, from {{the team}}."
stories:
  - title: "{org|Friends}: an update"
    body: |
      Read [the report](https://example.org/r?ref={ref|none}) now, {name|reader}.
    link:
      url: "https://example.org/join?ref={ref|none}"
      label: "Join {org|us}"
    image:
      src: "https://example.org/photo.jpg"
      alt: "A photo for {org|you}"
contact:
  name: "Sam"
  email: "sam@example.org"
  role: "{org|the} liaison"
footer: "Sent to {email}."
"#;

const SUBSCRIBERS: &str = "email,name,org,ref\n\
ada@example.org,Ada <b>Lovelace</b>,Zoë & Co,a b&c\n\
grace@example.org,Grace,,\n";

fn preview_with_placeholders() -> Output {
    Test::fixture("minimal")
        .write("issue.yaml", ISSUE)
        .write("subscribers.csv", SUBSCRIBERS)
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout_contains("wrote 2 message(s)")
        .run()
}

#[test]
fn placeholders_are_filled_and_escaped_for_each_context() {
    let output = preview_with_placeholders();
    let ada = output.email("out/0002-ada_example.org.eml");
    assert_eq!(ada.subject(), Some("News for Zoë & Co"));
    let ada_html = html(&ada);
    for expected in [
        "What Zoë &#38; Co did this month",
        "Dear Ada &#60;b&#62;Lovelace&#60;/b&#62;,",
        "Hello <em>Ada &#60;b&#62;Lovelace&#60;/b&#62;</em>, from {the team}.",
        "Zoë &#38; Co: an update",
        "href=\"https://example.org/r?ref=a%20b%26c\"",
        "href=\"https://example.org/join?ref=a%20b%26c\"",
        "Join Zoë &#38; Co",
        "alt=\"A photo for Zoë &#38; Co\"",
        // The role is kept on one line (non-breaking spaces); the value keeps its own spaces.
        "Zoë &#38; Co&nbsp;liaison",
        "Sent to ada@example.org.",
    ] {
        assert!(ada_html.contains(expected), "{expected}\n{ada_html}");
    }
    assert!(!ada_html.contains("<b>"), "{ada_html}");
    let ada_text = text(&ada);
    for expected in [
        "Hello Ada <b>Lovelace</b>, from {the team}.",
        "Zoë & Co: an update",
        "[1] https://example.org/r?ref=a%20b%26c",
        "Join Zoë & Co:\nhttps://example.org/join?ref=a%20b%26c",
    ] {
        assert!(ada_text.contains(expected), "{expected}\n{ada_text}");
    }
    for part in [&ada_html, &ada_text] {
        assert!(
            !part.chars().any(|c| ('\u{E000}'..='\u{E0FF}').contains(&c))
                && !part.contains("%EE%80"),
            "a marker was left in:\n{part}"
        );
    }

    // Grace has no `org` or `ref`: every placeholder shows its default.
    let grace = output.email("out/0003-grace_example.org.eml");
    assert_eq!(grace.subject(), Some("News for everyone"));
    let grace_html = html(&grace);
    for expected in [
        "Friends: an update",
        "href=\"https://example.org/join?ref=none\"",
        "Join us",
        "the&nbsp;liaison",
    ] {
        assert!(grace_html.contains(expected), "{expected}\n{grace_html}");
    }
}

#[test]
fn web_page_shows_the_defaults_and_no_subscriber() {
    let output = preview_with_placeholders();
    let web = output.read("out/web.html");
    for expected in [
        "Friends: an update",
        "Join us",
        "ref=none",
        "Hello <em>reader</em>",
    ] {
        assert!(web.contains(expected), "{expected}\n{web}");
    }
    for personal in ["Ada", "Zoë", "ada@example.org", "a%20b"] {
        assert!(!web.contains(personal), "{personal} on the web page");
    }
}

#[test]
fn unknown_placeholder_in_a_body_is_refused_at_its_line_and_column() {
    Test::fixture("minimal")
        .write(
            "issue.yaml",
            "list: list.yaml\nnumber: 1\ndate: 2024-04-01\nsubject: \"Hi\"\nstories:\n  - title: \"One\"\n    body: |\n      Thanks to everyone at\n      our partner {organisation}.\n",
        )
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr(
            "error: `issue.yaml` line 9, column 19: field `stories[0].body`: `{organisation}` is not a column of `subscribers.csv` (its columns are `email`, `name`)\nhint: the file format is described in README.md, section \"The files\"\n",
        )
        .run();
}

#[test]
fn email_only_subscribers_get_the_fallback_greeting_with_a_note() {
    let output = Test::fixture("minimal")
        .write(
            "issue.yaml",
            "list: list.yaml\nnumber: 1\ndate: 2024-04-01\nsubject: \"Hi\"\nstories:\n  - title: \"One\"\n    body: \"Text.\"\n",
        )
        .write("subscribers.csv", "email\nada@example.org\n")
        .args(["preview", "issue.yaml", "--out", "out"])
        .stderr_contains("note: `subscribers.csv` has no `name` column, so every message opens with the greeting fallback \"Hello,\"")
        .run();
    let message = output.email("out/0002-ada_example.org.eml");
    assert!(text(&message).contains("\nHello,\n"), "{}", text(&message));
    let output = Test::fixture("minimal")
        .write(
            "issue.yaml",
            "list: list.yaml\nnumber: 1\ndate: 2024-04-01\nsubject: \"Hi\"\nstories:\n  - title: \"One\"\n    body: \"Text.\"\n",
        )
        .write("subscribers.csv", "email\nada@example.org\n")
        .args(["check", "issue.yaml"])
        .stderr_contains("note: `subscribers.csv` has no `name` column")
        .run();
    // Said once, not once per place that collects notes.
    assert_eq!(
        output.stderr.matches("has no `name` column").count(),
        1,
        "{}",
        output.stderr
    );
}
