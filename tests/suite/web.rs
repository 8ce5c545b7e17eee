//! The web version ("view in browser"): written by `preview` without personal data, and linked
//! from both parts of every email when the list file sets `web_url`.

use crate::harness::{Test, html_part, text_part};

const WEB_URL: &str = "https://sin-singapore.example.org/bulletin/2019-06-uk-sg-mou.html";

#[test]
fn web_version_has_the_story_but_no_personal_data() {
    let output = Test::preview_mou(&[]).run();
    let web = output.read("out/web.html");
    assert!(
        web.contains("<h2 class=\"story-title\""),
        "the story is there"
    );
    assert!(web.contains("MoU and beyond"));
    assert!(
        !web.contains("Dear colleague,") && !web.contains("class=\"greeting\""),
        "a public page has no greeting"
    );
    assert!(
        !web.contains("class=\"preheader\""),
        "nor a hidden preheader"
    );
    for personal in ["zoe.martin", "Zoë", "example.com", "unsubscribe", "token="] {
        assert!(
            !web.contains(personal),
            "the web version contains `{personal}`"
        );
    }
    assert!(
        !web.contains(WEB_URL),
        "the web version does not link to itself"
    );
    assert!(
        output
            .read("out/index.html")
            .contains("<a href=\"web.html\">web.html</a>")
    );
}

#[test]
fn emails_link_to_the_web_version_in_both_parts() {
    let output = Test::preview_mou(&["--for", "li.ming@example.com"]).run();
    let html = output.read("out/0003-li.ming_example.com.html");
    assert!(html.contains(&format!("<a href=\"{WEB_URL}\"")), "{html}");
    let text = output.read("out/0003-li.ming_example.com.txt");
    assert!(
        text.contains(&format!("View this email in your browser:\n{WEB_URL}\n")),
        "{text}"
    );
}

#[test]
fn without_web_url_there_is_no_link() {
    let output = Test::fixture("minimal")
        .args(["preview", "issue.yaml", "--out", "out"])
        .run();
    // No part of the message mentions a web version: not the HTML, not the text, not the
    // .eml a client receives (whose parts are encoded, so it is parsed first).
    for part in [
        output.read("out/0002-ada_example.org.html"),
        output.read("out/0002-ada_example.org.txt"),
        html_part(&output.email("out/0002-ada_example.org.eml")),
        text_part(&output.email("out/0002-ada_example.org.eml")),
    ] {
        assert!(!part.contains("View this email"), "{part}");
        assert!(!part.contains("browser"), "{part}");
    }
    assert!(output.read("out/web.html").contains("A short story"));
}

#[test]
fn web_version_is_a_public_page_with_open_graph_and_a_subscribe_link() {
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/newsletters/list.yaml"
    ))
    .unwrap()
        + "subscribe_url: \"https://sin-singapore.example.org/subscribe\"\n";
    let output = Test::newsletters()
        .write("newsletters/list.yaml", list)
        .unsubscribe_key()
        .args([
            "preview",
            "newsletters/2019-06-uk-sg-mou.yaml",
            "--out",
            "out",
        ])
        .run();
    let web = output.read("out/web.html");
    for expected in [
        "<meta property=\"og:title\" content=\"UK–Singapore MoU: a “significant milestone” for digital government\">",
        "<meta property=\"og:description\" content=\"Three years in the making",
        "<meta property=\"og:site_name\" content=\"SIN Singapore Bulletin\">",
        "href=\"https://sin-singapore.example.org/subscribe\"",
        ">Subscribe to SIN Singapore Bulletin</a>",
    ] {
        assert!(web.contains(expected), "{expected}\n{web}");
    }
    let email = output.read("out/0002-zoe.martin_example.org.html");
    assert!(!email.contains("og:title") && !email.contains("/subscribe\""));
}
