//! The list file's `brand:` section: its logo, colours and font reach the HTML part (as data
//! in the compiled-in template), and a colour too light for its text is a `check` warning.

use crate::harness::Test;

const BRAND: &str = r##"
brand:
  logo:
    src: "https://example.org/logo.png"
    alt: "Example Trust"
    width: 180
  colours:
    masthead: "#4a1942"
    accent: "#1d6b3a"
    links: "#8a2be2"
  font: "Verdana, Geneva"
"##;

fn list_with(brand: &str) -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minimal/list.yaml"
    ))
    .unwrap()
        + brand
}

#[test]
fn brand_logo_colours_and_font_are_in_the_html() {
    let output = Test::fixture("minimal")
        .write("list.yaml", list_with(BRAND))
        .write(
            "issue.yaml",
            "list: list.yaml\nnumber: 1\ndate: 2024-05-01\nsubject: Brand\npreheader: Our colours.\nstories:\n  - title: One\n    body: See [our site](https://example.org/).\n    link:\n      url: https://example.org/join\n      label: Join the trust\n",
        )
        .args(["preview", "issue.yaml", "--out", "out", "--for", "ada@example.org"])
        .run();
    let html = output.read("out/0002-ada_example.org.html");
    for expected in [
        "width: 180px\" src=\"https://example.org/logo.png\" alt=\"Example Trust\" width=\"180\">",
        "background-color: #4a1942",
        "bgcolor=\"#1d6b3a\"",
        "color: #8a2be2",
        "font-family: Verdana, Geneva, sans-serif",
    ] {
        assert!(html.contains(expected), "{expected}\n{html}");
    }
    let masthead = &html[html.find("<td class=\"masthead\"").unwrap()..];
    let masthead = &masthead[..masthead.find('>').unwrap()];
    assert!(masthead.contains("background-color: #4a1942"), "{masthead}");
    assert!(!html.contains("Helvetica"), "the default font is gone");
}

#[test]
fn light_brand_colours_are_contrast_warnings() {
    Test::fixture("minimal")
        .write(
            "list.yaml",
            list_with("brand:\n  colours:\n    accent: \"#7fb3e0\"\n    links: \"#000\"\n"),
        )
        .args(["check", "issue.yaml"])
        .stderr_contains("warning[brand-contrast]: `list.yaml` line 9: field `brand.colours.accent`: #7fb3e0 gives the white button text a contrast of 2.2:1; WCAG AA asks for 4.5:1 (pick a darker colour)")
        .run();
}
