//! Images from disk (the `images` fixture: a logo file, a story image that is a link, a
//! Markdown image and the same photo again): what `check` says, what `preview` writes, the
//! structure of the message (`multipart/related` with `cid:` references that resolve, read
//! back by mail-parser and by Python's `email` package), `assets_url`, and a send to the
//! capture server.

use std::{fs, path::Path};

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

use crate::{
    harness::{Output, Test, html_part},
    smtp_server::CaptureServer,
    watch::LivePreview,
};

const ADA: &str = "0002-ada_example.org";
/// The domain of the fixture's `From` (and so of `Message-ID`s and `Content-ID`s).
const DOMAIN: &str = "harbour.example.org";

fn fixture_bytes(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/images")
            .join(name),
    )
    .expect("cannot read a fixture image")
}

fn preview() -> Output {
    Test::fixture("images")
        .args(["preview", "issue.yaml", "--out", "out"])
        .run()
}

/// Whether `name` is a PNG file's name (we write the extension in lower case).
fn is_png(name: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|extension| extension == "png")
}

fn content_type(part: &MessagePart<'_>) -> String {
    let content_type = part.content_type().expect("a part without Content-Type");
    format!(
        "{}/{}",
        content_type.ctype(),
        content_type.subtype().unwrap_or_default()
    )
}

/// The types of the parts below `part`, nested multiparts as `type[…]`.
fn structure(message: &Message<'_>, part: &MessagePart<'_>) -> String {
    let own = content_type(part);
    match &part.body {
        PartType::Multipart(children) => format!(
            "{own}[{}]",
            children
                .iter()
                .map(|&id| structure(message, message.part(id).expect("a listed part")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => own,
    }
}

/// The `cid:` references of `html`, without the scheme.
fn cid_references(html: &str) -> Vec<String> {
    let mut found: Vec<String> = html
        .split("src=\"cid:")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("an unclosed src")].to_owned())
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The part whose `Content-ID` is `id`.
fn part_with_id<'m>(message: &'m Message<'_>, id: &str) -> &'m MessagePart<'m> {
    message
        .parts
        .iter()
        .find(|part| part.content_id().map(|cid| cid.trim_matches(['<', '>'])) == Some(id))
        .unwrap_or_else(|| panic!("no part has the Content-ID {id}"))
}

#[test]
fn message_carries_each_image_once_in_a_related_part_its_html_refers_to() {
    let output = preview();
    let message = output.email(format!("out/{ADA}.eml"));
    assert_eq!(
        structure(&message, message.root_part()),
        "multipart/alternative[text/plain, multipart/related[text/html, image/png, image/png, image/png]]",
        "text first, then the HTML with its images; the photo used twice is carried once"
    );
    // RFC 2387: the related part names its root's type, so clients show the images inline.
    let raw = output.read(format!("out/{ADA}.eml"));
    assert!(
        raw.contains("Content-Type: multipart/related; type=\"text/html\";"),
        "{raw}"
    );
    let html = html_part(&message);
    let references = cid_references(&html);
    assert_eq!(references.len(), 3, "{html}");
    let mut expected: Vec<Vec<u8>> = ["logo.png", "harbour.png", "chart.png"]
        .map(fixture_bytes)
        .to_vec();
    for id in &references {
        assert!(id.ends_with(&format!("@{DOMAIN}")), "{id}");
        let part = part_with_id(&message, id);
        assert_eq!(content_type(part), "image/png");
        let disposition = part.content_disposition().expect("no Content-Disposition");
        assert_eq!(disposition.ctype(), "inline");
        assert!(
            disposition.attribute("filename").is_some_and(is_png),
            "{disposition:?}"
        );
        let bytes = part.contents().to_vec();
        let found = expected
            .iter()
            .position(|file| *file == bytes)
            .unwrap_or_else(|| panic!("the part {id} holds none of the fixture's images"));
        expected.remove(found);
    }
    assert!(expected.is_empty());
}

#[test]
fn python_email_package_resolves_every_cid_to_its_image() {
    let output = preview();
    let script = r#"
import email, email.policy, re, sys
message = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
assert message.get_content_type() == "multipart/alternative", message.get_content_type()
html = message.get_body(("html",)).get_content()
parts = {p["Content-ID"].strip("<>"): p for p in message.walk() if p["Content-ID"]}
references = set(re.findall(r'src="cid:([^"]+)"', html))
assert references and references == set(parts), (references, set(parts))
for cid in sorted(references):
    data = parts[cid].get_content()
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), cid
    print(cid.split("@")[1], parts[cid].get_content_type(), len(data))
"#;
    let run = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(output.path(format!("out/{ADA}.eml")))
        .output()
        .expect("cannot run python3");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut sizes: Vec<String> = ["logo.png", "harbour.png", "chart.png"]
        .map(|name| format!("{DOMAIN} image/png {}", fixture_bytes(name).len()))
        .to_vec();
    sizes.sort();
    let mut printed: Vec<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    printed.sort();
    assert_eq!(printed, sizes);
}

#[test]
fn preview_writes_the_images_beside_the_pages_that_show_them() {
    let output = preview();
    let images: Vec<String> = output
        .files("out")
        .into_iter()
        .filter(|name| is_png(name))
        .collect();
    assert_eq!(images.len(), 3, "{images:?}");
    for name in &images {
        let bytes = output.read_bytes(format!("out/{name}"));
        assert!(
            ["logo.png", "harbour.png", "chart.png"]
                .iter()
                .any(|fixture| fixture_bytes(fixture) == bytes),
            "{name}"
        );
    }
    for page in [format!("out/{ADA}.html"), "out/web.html".to_owned()] {
        let html = output.read(&page);
        assert!(!html.contains("cid:"), "{page} refers to message parts");
        for name in &images {
            assert!(html.contains(&format!("src=\"{name}\"")), "{page}: {name}");
        }
    }
    // A second preview removes nothing it wrote and keeps the images.
    let again = Test::fixture("images")
        .args(["preview", "issue.yaml", "--out", "out"])
        .run();
    assert_eq!(
        again
            .files("out")
            .iter()
            .filter(|name| is_png(name))
            .count(),
        3
    );
}

#[test]
fn images_are_sized_from_their_files_and_a_linked_image_is_a_link() {
    let output = preview();
    let message = output.email(format!("out/{ADA}.eml"));
    let html = html_part(&message);
    // harbour.png is 640×320: shown 520 px wide (the content column), 260 high.
    let photo = html
        .split("<img class=\"story-image\"")
        .nth(1)
        .expect("no story image");
    let photo = &photo[..photo.find('>').expect("an unclosed img")];
    assert!(
        photo.contains(" width=\"520\" height=\"260\"") && photo.contains("width: 520px"),
        "{photo}"
    );
    let link = html
        .split("<a class=\"image-link\" href=\"")
        .nth(1)
        .expect("the image is not a link");
    assert!(
        link.starts_with("https://harbour.example.org/photos?for=Ada%20Lovelace\"")
            && link[..link.find('>').expect("an unclosed a")].contains("style")
            && link[link.find('>').expect("an unclosed a")..]
                .starts_with("><img class=\"story-image\""),
        "the image is not a link with its placeholder filled: {link}"
    );
    // chart.png is 260×200, narrower than the column: shown at its own size.
    assert!(html.contains(" width=\"260\" height=\"200\""), "{html}");
    // logo.png is 240×60 shown 160 wide.
    assert!(html.contains(" width=\"160\" height=\"40\""), "{html}");
    // The title's *emphasis* is HTML in the HTML part and plain in the text part.
    assert!(html.contains("The harbour at <em>dawn</em>"), "{html}");
    let text = output.read(format!("out/{ADA}.txt"));
    assert!(
        text.contains("The harbour at dawn\n===================\n\n[Image: The harbour at dawn, with the sun over the hills]:\nhttps://harbour.example.org/photos?for=Ada%20Lovelace\n"),
        "{text}"
    );
}

#[test]
fn check_accepts_the_images_and_warns_about_a_width_over_the_column() {
    Test::fixture("images")
        .args(["check", "issue.yaml"])
        .stdout_contains("ok: no problems found\n")
        .run();
    let issue = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/issue.yaml"),
    )
    .expect("cannot read the fixture")
    .replace(
        "      src: harbour.png\n",
        "      src: harbour.png\n      width: 600\n",
    );
    Test::fixture("images")
        .write("issue.yaml", &issue)
        .args(["check", "issue.yaml"])
        .stderr_contains(
            "warning[image-width]: `issue.yaml` line 12: field `stories[0].image.width`: 600 px is wider than the 520 px content column; the image is shown 520 px wide\n",
        )
        .run();
    let output = Test::fixture("images")
        .write("issue.yaml", &issue)
        .args(["preview", "issue.yaml", "--out", "out"])
        .run();
    assert!(
        output
            .read(format!("out/{ADA}.html"))
            .contains("width=\"520\" height=\"260\"")
    );
}

/// harbour.png followed by zeros up to `size` bytes: still a valid PNG to every reader (they
/// stop at its end chunk), and as big as a real photo.
fn padded_photo(size: usize) -> Vec<u8> {
    let mut bytes = fixture_bytes("harbour.png");
    bytes.resize(size, 0);
    bytes
}

#[test]
fn check_warns_about_a_large_image_and_a_large_message() {
    Test::fixture("images")
        .write("harbour.png", padded_photo(250_000))
        .args(["check", "issue.yaml"])
        .stderr_contains("warning[image-size]: `issue.yaml` line 11, column 12: field `stories[0].image.src`: `harbour.png` is 250.0 KB; keep each image under 200.0 KB (every reader downloads it)\n")
        .run();
    Test::fixture("images")
        .write("harbour.png", padded_photo(1_200_000))
        .args(["check", "issue.yaml"])
        .stderr_contains("warning[image-size]: `issue.yaml` line 11, column 12: field `stories[0].image.src`: `harbour.png` is 1.2 MB;")
        .stderr_contains("warning[message-size]: the message is 1.7 MB with its images; keep it under 1.0 MB (some servers refuse large mail, and it is slow to load on a phone) (message to ada@example.org, and 1 more)\n")
        .run();
}

fn with_assets_url(url: &str) -> Test {
    let list = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/list.yaml"),
    )
    .expect("cannot read the fixture");
    Test::fixture("images").write("list.yaml", format!("{list}assets_url: \"{url}\"\n"))
}

#[test]
fn assets_url_links_the_images_and_preview_gathers_them_to_upload() {
    let output = with_assets_url("https://cdn.harbour.example.org/news/")
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout_contains("\n  upload the 3 image file(s) in out/assets to https://cdn.harbour.example.org/news/ before sending\n")
        .run();
    let assets = output.files("out/assets");
    assert_eq!(assets.len(), 3, "{assets:?}");
    assert!(
        !output.files("out").iter().any(|name| is_png(name)),
        "images beside the pages as well"
    );
    let message = output.email(format!("out/{ADA}.eml"));
    assert_eq!(
        structure(&message, message.root_part()),
        "multipart/alternative[text/plain, text/html]"
    );
    let html = html_part(&message);
    for name in &assets {
        assert!(
            html.contains(&format!(
                "src=\"https://cdn.harbour.example.org/news/{name}\""
            )),
            "{name}: {html}"
        );
    }
    // The preview page shows the copies about to be uploaded.
    let page = output.read(format!("out/{ADA}.html"));
    for name in &assets {
        assert!(page.contains(&format!("src=\"assets/{name}\"")), "{name}");
    }
}

#[test]
fn assets_url_must_be_an_https_folder() {
    with_assets_url("http://cdn.harbour.example.org/news/")
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr_contains("field `assets_url`: `http://cdn.harbour.example.org/news/` must be an https:// URL (mail clients block images over plain http)\n")
        .run();
    with_assets_url("https://cdn.harbour.example.org/news")
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr_contains("field `assets_url`: `https://cdn.harbour.example.org/news` must be the URL of a folder, ending in `/`, without `?`, `#`, `&` or quotes\n")
        .run();
}

#[test]
fn send_delivers_the_image_parts_intact() {
    let server = CaptureServer::start();
    Test::fixture("images")
        .args([
            "send",
            "issue.yaml",
            "--progress",
            "none",
            "--yes",
            "--smtp",
        ])
        .arg(server.smtp_url())
        .run();
    let received = server.summary();
    assert_eq!(received.len(), 2);
    for summary in &received {
        let message = server.email(&summary.id);
        let html = html_part(&message);
        let references = cid_references(&html);
        assert_eq!(references.len(), 3);
        let mut found: Vec<Vec<u8>> = references
            .iter()
            .map(|id| part_with_id(&message, id).contents().to_vec())
            .collect();
        found.sort();
        let mut expected: Vec<Vec<u8>> = ["logo.png", "harbour.png", "chart.png"]
            .map(fixture_bytes)
            .to_vec();
        expected.sort();
        assert_eq!(found, expected, "{:?}", summary.to);
    }
}

/// The body of `GET target` from the live preview at `address`, as bytes.
fn get_bytes(address: &str, target: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("cannot connect");
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("cannot send the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("cannot read the response");
    let end = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("no end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    assert!(!head.contains("transfer-encoding: chunked"), "{head}");
    (head, raw[end + 4..].to_vec())
}

#[test]
fn live_preview_shows_the_image_files() {
    let live = LivePreview::start_issue(Test::fixture("images").arg("preview"), "issue.yaml");
    let email = live.get("/email.html");
    assert_eq!(email.status, 200);
    assert!(!email.body.contains("cid:"), "{}", email.body);
    let web = live.get("/web.html");
    let names: Vec<String> = email
        .body
        .split("src=\"images/")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("an unclosed src")].to_owned())
        .collect();
    assert_eq!(names.len(), 4, "the logo, the photo twice and the chart");
    for name in &names {
        assert!(
            web.body.contains(&format!("src=\"images/{name}\"")),
            "{name}"
        );
        let (head, body) = get_bytes(&live.address, &format!("/images/{name}"));
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: image/png"), "{head}");
        assert!(
            ["logo.png", "harbour.png", "chart.png"]
                .iter()
                .any(|fixture| fixture_bytes(fixture) == body),
            "{name}"
        );
    }
    assert_eq!(live.get("/images/nothing.png").status, 404);
}

#[test]
fn a_replaced_image_file_makes_a_new_issue_version() {
    let message_id = |output: &Output| {
        output
            .email(format!("out/{ADA}.eml"))
            .message_id()
            .expect("no Message-ID")
            .to_owned()
    };
    let before = message_id(&preview());
    let after = message_id(
        &Test::fixture("images")
            .write("chart.png", fixture_bytes("logo.png"))
            .args(["preview", "issue.yaml", "--out", "out"])
            .run(),
    );
    assert_ne!(
        before, after,
        "the same Message-ID for different images: a resumed send would mix them"
    );
}

#[test]
fn dry_run_eml_files_carry_the_images() {
    let output = Test::fixture("images")
        .args(["send", "issue.yaml", "--dry-run", "--out", "dry"])
        .run();
    for stem in [ADA, "0003-grace_example.org"] {
        let message = output.email(format!("dry/{stem}.eml"));
        assert_eq!(
            structure(&message, message.root_part()),
            "multipart/alternative[text/plain, multipart/related[text/html, image/png, image/png, image/png]]",
            "{stem}"
        );
        for id in cid_references(&html_part(&message)) {
            assert_eq!(content_type(part_with_id(&message, &id)), "image/png");
        }
    }
}
