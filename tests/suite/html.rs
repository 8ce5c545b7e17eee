//! The structure of the HTML part: the template's CSS is inlined into the elements, while the
//! `@media` rules (narrow screens, dark mode) survive in a `<style>` block, and the email is
//! laid out with 600 px tables.

use std::collections::BTreeMap;

use crate::harness::Test;

/// The classes the template's CSS styles with a rule of their own (`.name { … }`, alone or in a
/// list of selectors), outside `@media` blocks, with the first declaration of that rule.
fn classes_with_rules() -> BTreeMap<String, String> {
    let template = include_str!("../../templates/issue.html");
    let css = &template[template.find("<style>").unwrap()..template.find("</style>").unwrap()];
    let mut classes = BTreeMap::new();
    for line in css.lines() {
        let Some((selectors, declarations)) = line.split_once('{') else {
            continue;
        };
        if line.starts_with("@media") || line.starts_with("  ") {
            continue;
        }
        let first = declarations
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_owned();
        for selector in selectors.split(',') {
            let selector = selector.trim();
            if let Some(class) = selector.strip_prefix('.')
                && !class.contains([' ', '.', ':'])
            {
                classes.insert(class.to_owned(), first.clone());
            }
        }
    }
    classes
}

fn html_part() -> String {
    Test::preview_mou(&["--for", "zoe.martin@example.org"])
        .run()
        .read("out/0002-zoe.martin_example.org.html")
}

#[test]
fn every_element_with_a_styled_class_has_its_style_inlined() {
    let classes = classes_with_rules();
    assert!(classes.len() > 15, "{classes:?}");
    let html = html_part();
    let mut checked = 0;
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        let Some(class) = tag
            .split("class=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        for class in class.split_whitespace() {
            if let Some(declaration) = classes.get(class) {
                let style = tag
                    .split("style=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("<{tag}> has class {class} but no style"));
                assert!(
                    style.contains(declaration.as_str()),
                    "<{tag}>: the style of .{class} ({declaration}) is not inlined"
                );
                checked += 1;
            }
        }
    }
    // The masthead, greeting, story, button, contact, footer… of the MoU issue.
    assert!(checked >= 15, "only {checked} styled elements");
}

#[test]
fn media_rules_survive_in_a_style_block_and_classes_stay_for_them() {
    let html = html_part();
    let style = &html[html.find("<style>").expect("a <style> block")..];
    let style = &style[..style.find("</style>").unwrap()];
    assert!(style.contains("@media only screen and (max-width: 620px)"));
    assert!(style.contains("@media (prefers-color-scheme: dark)"));
    assert!(style.contains(".container { width: 100% !important; }"));
    // Only @media rules are left in the block; the rest was inlined.
    assert!(!style.contains(".prose p {"), "{style}");
    assert!(html.contains("class=\"container\""));
    assert!(!html.contains("<link"), "no external stylesheet");
}

#[test]
fn layout_is_600_pixel_tables_with_a_hidden_preheader_and_a_language() {
    let html = html_part();
    assert!(
        html.starts_with("<!DOCTYPE html><html lang=\"en-GB\""),
        "{}",
        &html[..80]
    );
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(
        html[..200].contains("<meta charset=\"utf-8\">"),
        "the charset comes first"
    );
    assert!(html.contains("<meta name=\"color-scheme\" content=\"light dark\">"));
    let container = html
        .split('<')
        .find(|tag| tag.starts_with("table class=\"container\""))
        .expect("the 600 px container table");
    assert!(container.contains("role=\"presentation\""), "{container}");
    assert!(container.contains("width=\"600\""), "{container}");
    assert!(
        container.contains("width: 600px;max-width: 600px;"),
        "{container}"
    );
    let preheader = html.find("<div class=\"preheader\"").expect("a preheader");
    assert!(html[preheader..].starts_with("<div class=\"preheader\" style=\"display: none;"));
    assert!(html[preheader..].contains("Three years in the making"));
    assert!(
        html.contains(">Unsubscribe</a>"),
        "a visible unsubscribe link"
    );
}

/// The start and end tags of an HTML fragment, in order, as `(name, is_end)`; void elements
/// (`<img>`, `<br>`, `<hr>`, `<input>`) and self-closed tags are left out.
pub(crate) fn tags(html: &str) -> Vec<(String, bool)> {
    let mut tags = Vec::new();
    for piece in html.split('<').skip(1) {
        let is_end = piece.starts_with('/');
        let name: String = piece
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        let self_closed = piece.split('>').next().unwrap_or("").ends_with('/');
        if name.is_empty()
            || self_closed
            || ["img", "br", "hr", "input", "meta"].contains(&name.as_str())
        {
            continue;
        }
        tags.push((name, is_end));
    }
    tags
}

/// Where `html` is not balanced: an end tag that does not close the innermost open element, or
/// an element left open at the end.
pub(crate) fn unbalanced(html: &str) -> Option<String> {
    let mut open: Vec<String> = Vec::new();
    for (name, is_end) in tags(html) {
        if !is_end {
            open.push(name);
        } else if open.last() == Some(&name) {
            open.pop();
        } else {
            return Some(format!("</{name}> closes {:?}", open.last()));
        }
    }
    (!open.is_empty()).then(|| format!("left open: {open:?}"))
}

#[test]
fn a_link_nested_in_an_unsafe_image_does_not_swallow_the_rest_of_the_email() {
    let output = Test::fixture("minimal")
        .write(
            "issue.yaml",
            include_str!("../fixtures/minimal/issue.yaml").replace(
                "      The first story of the spring issue.\n",
                "      ![[click me](https://x.example)](javascript:0)\n  - title: \"Second story\"\n    body: Plain text.\n",
            ),
        )
        .args(["preview", "issue.yaml", "--out", "out"])
        .run();
    let html = output.read("out/0002-ada_example.org.html");
    let body = &html[html.find("<body").unwrap()..html.find("</body>").unwrap() + "</body>".len()];
    assert_eq!(unbalanced(body), None, "{body}");
    let second = body.find("Second story").unwrap();
    assert_eq!(
        body[..second].matches("<a ").count(),
        body[..second].matches("</a>").count(),
        "the second story is inside a link: {body}"
    );
}

/// An issue with three stories, an intro, an image, a table and a rule, previewed for one
/// subscriber: the HTML part.
fn designed_issue_html() -> (String, String) {
    let output = Test::fixture("minimal")
        .write(
            "issue.yaml",
            r#"list: list.yaml
number: 9
date: 2024-05-01
subject: "Three stories"
preheader: "Three stories, one table."
intro: "The month in brief."
stories:
  - title: "First"
    body: |
      | Team | Members |
      |---|---:|
      | SIN | 12 |

      ---

      After the rule.
    image:
      src: "https://example.org/photo.jpg"
      alt: "A photo"
      width: 300
    link:
      url: "https://example.org/first"
      label: "Read the first story"
  - title: "Second"
    body: "Two."
  - title: "Third"
    body: "Three."
"#,
        )
        .args([
            "preview",
            "issue.yaml",
            "--out",
            "out",
            "--for",
            "ada@example.org",
        ])
        .run();
    (
        output.read("out/0002-ada_example.org.html"),
        output.read("out/0002-ada_example.org.txt"),
    )
}

/// The opening tag of the first element whose tag starts with `start`.
fn tag<'a>(html: &'a str, start: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in\n{html}"));
    &html[at..at + html[at..].find('>').unwrap()]
}

#[test]
fn outlook_gets_a_bulletproof_button_sized_images_and_a_600_pixel_frame() {
    let (html, _) = designed_issue_html();
    let cell = tag(&html, "<td class=\"button-cell\"");
    assert!(cell.contains("mso-padding-alt: 12px 22px"), "{cell}");
    assert!(cell.contains("bgcolor=\"#0b5cad\""), "{cell}");
    assert!(tag(&html, "<table class=\"button-table\"").contains("role=\"presentation\""));
    let image = tag(&html, "<img class=\"story-image\"");
    assert!(image.contains("width=\"300\""), "{image}");
    assert!(image.contains("width: 300px"), "{image}");
    assert!(image.contains("max-width: 100%"), "{image}");
    assert!(
        html.contains("<!--[if mso]><table role=\"presentation\" width=\"600\""),
        "the MSO wrapper table"
    );
    assert!(html.contains("<!--[if mso]></td></tr></table><![endif]-->"));
    let style = &html[html.find("<style>").unwrap()..html.find("</style>").unwrap()];
    assert!(
        style.contains(".button-table { width: 100% !important; }"),
        "{style}"
    );
}

#[test]
fn every_font_stack_ends_with_a_generic_family() {
    let (html, _) = designed_issue_html();
    let mut stacks = 0;
    for stack in html.split("font-family:").skip(1) {
        let stack = stack.split([';', '"']).next().unwrap().trim();
        let last = stack.rsplit(',').next().unwrap().trim();
        assert!(
            ["serif", "sans-serif", "monospace"].contains(&last),
            "`{stack}` ends with no generic family"
        );
        stacks += 1;
    }
    assert!(stacks > 10, "{stacks}");
}

#[test]
fn preheader_is_hidden_without_a_colour_like_the_background() {
    let (html, _) = designed_issue_html();
    let preheader = tag(&html, "<div class=\"preheader\"");
    assert!(preheader.contains("display: none"), "{preheader}");
    assert!(!preheader.contains("color"), "{preheader}");
}

#[test]
fn intro_is_a_lede_and_three_stories_get_a_contents_list() {
    let (html, text) = designed_issue_html();
    assert!(tag(&html, "<div class=\"prose lede\"").contains("prose lede"));
    let lede = &html[html.find("prose lede").unwrap()..];
    assert!(
        tag(lede, "<p").contains("font-size: 18px"),
        "{}",
        tag(lede, "<p")
    );
    let toc = &html[html
        .find("<div class=\"toc\"")
        .expect("an In this issue list")..];
    let toc = &toc[..toc.find("</div>").unwrap()];
    assert!(toc.contains("In this issue"), "{toc}");
    for title in ["First", "Second", "Third"] {
        assert!(toc.contains(&format!(">{title}</li>")), "{toc}");
    }
    assert!(
        text.contains("In this issue:\n- First\n- Second\n- Third\n"),
        "{text}"
    );
}

#[test]
fn markdown_tables_and_rules_are_email_safe_and_readable_as_text() {
    let (html, text) = designed_issue_html();
    let table = tag(&html, "<table style=");
    assert!(table.contains("width: 100%"), "{table}");
    assert!(table.contains("border-collapse: collapse"), "{table}");
    assert!(
        tag(&html, "<th ").contains("border: 1px solid"),
        "{}",
        tag(&html, "<th ")
    );
    assert!(
        tag(&html, "<hr").contains("border-top: 1px solid"),
        "{}",
        tag(&html, "<hr")
    );
    assert!(!html.contains("|—|") && !text.contains("|—|"));
    assert!(
        text.contains("Team | Members\n--------------\nSIN  | 12"),
        "{text}"
    );
}

#[test]
fn an_image_wider_than_the_content_column_is_scaled_with_a_warning() {
    let output = Test::fixture("minimal")
        .write(
            "issue.yaml",
            "list: list.yaml\nnumber: 1\ndate: 2024-05-01\nsubject: Wide\npreheader: A wide image.\nstories:\n  - title: Wide\n    body: Text.\n    image:\n      src: https://example.org/a.jpg\n      alt: A wide photo\n      width: 560\n",
        )
        .args(["check", "issue.yaml"])
        .stderr_contains("warning[image-width]: `issue.yaml` line 12: field `stories[0].image.width`: 560 px is wider than the 520 px content column; the image is shown 520 px wide")
        .run();
    drop(output);
}
