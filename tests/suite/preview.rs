//! `newsletter preview`: the files it writes for each recipient, the index page, `--for`, and
//! that a broken subscriber list writes nothing.

use crate::harness::Test;

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";

fn recipient_files(stems: &[&str]) -> Vec<String> {
    let mut files: Vec<String> = stems
        .iter()
        .flat_map(|stem| ["eml", "html", "txt"].map(|extension| format!("{stem}.{extension}")))
        .collect();
    files.push("index.html".into());
    files.push("web.html".into());
    // The list of what this preview wrote, for the next preview into the folder.
    files.push(".newsletter-preview".into());
    files.sort();
    files
}

#[test]
fn preview_writes_html_text_and_eml_per_recipient_and_an_index() {
    let output = Test::preview_mou(&[])
        .stdout("wrote 7 message(s) to out (3 skipped)\n  open out/index.html\n")
        .run();
    assert_eq!(
        output.files("out"),
        recipient_files(&[
            "0002-zoe.martin_example.org",
            "0003-li.ming_example.com",
            "0004-sean.obrien_example.org",
            "0005-mallory_example.com",
            "0006-priya.nair_example.org",
            "0007-anonymous_example.com",
            "0010-kwame.mensah_example.org",
        ])
    );
}

#[test]
fn preview_without_the_key_notes_the_throwaway_key() {
    Test::newsletters()
        .args(["preview", MOU, "--out", "out"])
        .stdout("wrote 7 message(s) to out (3 skipped)\n  open out/index.html\n")
        .stderr(
            "note: NEWSLETTER_UNSUBSCRIBE_KEY is not set, so unsubscribe links were made with a throwaway key; `send` needs the real key\n",
        )
        .run();
}

#[test]
fn index_escapes_names_and_lists_skipped_rows() {
    let output = Test::preview_mou(&[]).run();
    let index = output.read("out/index.html");
    assert!(
        index.contains(
            "<td>5</td><td>&#60;script&#62;alert(&#39;hi&#39;)&#60;/script&#62; &#38; &#60;b&#62;Mallory&#60;/b&#62;</td><td>mallory@example.com</td>"
        ),
        "{index}"
    );
    assert!(!index.contains("<script"), "{index}");
    assert!(index.contains("<td>Zoë Martin</td>"));
    assert!(index.contains("<td>李明</td>"));
    assert!(index.contains("<a href=\"0002-zoe.martin_example.org.eml\">.eml</a>"));
    for skipped in [
        "<tr><td>8</td><td>old.reader@example.org</td><td>status is `unsubscribed`</td></tr>",
        "<tr><td>9</td><td>ZOE.MARTIN@EXAMPLE.ORG</td><td>duplicate of line 2</td></tr>",
        "<tr><td>11</td><td>blocked@example.com</td><td>address is in the suppression file</td></tr>",
    ] {
        assert!(index.contains(skipped), "missing {skipped}");
    }
}

#[test]
fn for_writes_only_that_subscribers_message() {
    let output = Test::preview_mou(&["--for", "li.ming@example.com"])
        .stdout("wrote 1 message(s) to out (0 skipped)\n  open out/index.html\n")
        .run();
    assert_eq!(
        output.files("out"),
        recipient_files(&["0003-li.ming_example.com"])
    );
}

#[test]
fn for_matches_the_address_case_insensitively() {
    let output = Test::preview_mou(&["--for", "Zoe.Martin@Example.ORG"])
        .stdout("wrote 1 message(s) to out (0 skipped)\n  open out/index.html\n")
        .run();
    assert_eq!(
        output.files("out"),
        recipient_files(&["0002-zoe.martin_example.org"])
    );
}

#[test]
fn for_an_unknown_address_exits_4_and_writes_no_message() {
    let output = Test::preview_mou(&["--for", "nobody@example.org"])
        .status(4)
        .stderr("error: no subscriber `nobody@example.org` in `newsletters/subscribers.csv`\n")
        .run();
    assert_eq!(output.files("out"), Vec::<String>::new());
}

#[test]
fn invalid_subscriber_row_writes_nothing() {
    let output = Test::fixture("minimal")
        .with_fixture("bad-address")
        .args(["preview", "issue.yaml", "--out", "out"])
        .status(4)
        .stderr(
            "error: `subscribers.csv` has 1 invalid row(s)\n  `subscribers.csv` line 3: `ada at example.org` is not a valid email address\nhint: fix the rows above, or remove them; the subscriber file format is in README.md\n",
        )
        .run();
    assert!(!output.path("out").exists());
}

#[test]
fn preview_without_out_writes_to_preview_and_the_issue_name() {
    let output = Test::fixture("minimal")
        .unsubscribe_key()
        .args(["preview", "issue.yaml"])
        .stdout(
            "wrote 2 message(s) to preview/issue (0 skipped)\n  open preview/issue/index.html\n",
        )
        .run();
    assert_eq!(
        output.files("preview/issue"),
        recipient_files(&["0002-ada_example.org", "0003-grace_example.org"])
    );
}

#[test]
fn text_and_html_files_are_the_parts_of_the_eml() {
    let output = Test::preview_mou(&["--for", "zoe.martin@example.org"]).run();
    let message = output.email("out/0002-zoe.martin_example.org.eml");
    let text = message.body_text(0).expect("no text part");
    let html = message.body_html(0).expect("no HTML part");
    assert_eq!(
        text.replace("\r\n", "\n"),
        output.read("out/0002-zoe.martin_example.org.txt")
    );
    assert_eq!(
        html.replace("\r\n", "\n"),
        output.read("out/0002-zoe.martin_example.org.html")
    );
}

#[test]
fn names_from_a_crlf_file_have_no_carriage_return() {
    let output = Test::fixture("minimal")
        .with_fixture("crlf-bom")
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout_contains("wrote 2 message(s)")
        .run();
    let text = output.read("out/0003-grace_example.org.txt");
    assert!(text.contains("\nDear Grace Hopper,\n"), "{text:?}");
    assert!(!text.contains('\r'));
    let message = output.email("out/0003-grace_example.org.eml");
    let to = message.to().and_then(|to| to.first()).expect("no To");
    assert_eq!(to.name.as_deref(), Some("Grace Hopper"));
}

#[test]
fn markup_in_a_name_is_escaped_in_the_html_file() {
    let output = Test::fixture("minimal")
        .with_fixture("name-with-markup")
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout_contains("wrote 2 message(s)")
        .run();
    let html = output.read("out/0003-mallory_example.com.html");
    assert!(
        html.contains(
            ">Dear &#60;script&#62;alert(1)&#60;/script&#62; &#38; &#60;b&#62;Mallory&#60;/b&#62;,</p>"
        ),
        "{html}"
    );
    assert!(!html.contains("<script"));
    assert!(!html.contains("<b>Mallory"));
}

#[test]
fn a_251_character_address_gets_a_short_file_name() {
    let label = "d".repeat(60);
    let long = format!(
        "kate@{label}.{label}.{label}.{}.example.org",
        "e".repeat(51)
    );
    assert_eq!(long.len(), 251);
    let output = Test::fixture("minimal")
        .write("subscribers.csv", format!("email,name\n{long},Kate\n"))
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout("wrote 1 message(s) to out (0 skipped)\n  open out/index.html\n")
        .run();
    // The message's three files, the index, the web page and the preview's manifest.
    let files = output.files("out");
    assert_eq!(files.len(), 6, "{files:?}");
    assert!(files.iter().all(|name| name.len() < 128), "{files:?}");
}

#[test]
fn a_kelvin_sign_is_not_a_k_when_addresses_are_compared() {
    // `\u{212A}ate` lower-cases to `kate` under Unicode rules, but mail systems fold only ASCII.
    Test::fixture("minimal")
        .write(
            "subscribers.csv",
            "email,name\nkate@example.org,Kate\n\u{212A}ate@example.org,Kelvin\nKATE@EXAMPLE.ORG,Kate again\n",
        )
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout("wrote 2 message(s) to out (1 skipped)\n  open out/index.html\n")
        .run();
}

#[test]
fn the_browser_gets_no_secret_from_the_environment() {
    let test = Test::fixture("minimal").env("NEWSLETTER_SMTP_PASSWORD", "hunter2-password");
    // A stand-in for xdg-open, first on PATH, that writes down the environment it was given.
    let bin = test.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, "#!/bin/sh\nenv > \"$PWD/opener-env\"\n").unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = test
        .env("PATH", path)
        .args(["preview", "issue.yaml", "--out", "out", "--open"])
        .run();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !output.path("opener-env").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the opener was not started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let environment = output.read("opener-env");
    assert!(environment.contains("PATH="), "{environment}");
    assert!(
        !environment.contains("NEWSLETTER_SMTP_PASSWORD"),
        "{environment}"
    );
    assert!(
        !environment.contains("NEWSLETTER_UNSUBSCRIBE_KEY"),
        "{environment}"
    );
}
