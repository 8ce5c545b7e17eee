//! The emails themselves, parsed back with mail-parser as a mail client would read them:
//! headers, the multipart structure, personalisation, escaping, and line lengths.

use std::{
    ffi::OsStr,
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use mail_parser::{Message, MimeHeaders};
use newsletter::testing::TokenKey;

use crate::harness::{Output, Test, UNSUBSCRIBE_KEY};

const ZOE: &str = "out/0002-zoe.martin_example.org.eml";
const LI: &str = "out/0003-li.ming_example.com.eml";
const MALLORY: &str = "out/0005-mallory_example.com.eml";
const ANONYMOUS: &str = "out/0007-anonymous_example.com.eml";
const KWAME: &str = "out/0010-kwame.mensah_example.org.eml";
const LIST_ID: &str = "bulletin.sin-singapore.example.org";

/// The sample issue (newsletters/2019-06-uk-sg-mou.yaml) previewed for every subscriber,
/// with the fixed unsubscribe key.
fn mou() -> Output {
    Test::preview_mou(&[])
        .stdout_contains("wrote 7 message(s)")
        .run()
}

fn emails(output: &Output) -> Vec<(String, Message<'static>)> {
    output
        .files("out")
        .into_iter()
        .filter(|name| Path::new(name).extension() == Some(OsStr::new("eml")))
        .map(|name| {
            let message = output.email(format!("out/{name}"));
            (name, message)
        })
        .collect()
}

/// The display name and address of the first mailbox of an address header.
fn mailbox(address: Option<&mail_parser::Address<'_>>) -> (Option<String>, String) {
    let first = address.and_then(|a| a.first()).expect("no address");
    (
        first.name.as_deref().map(str::to_owned),
        first.address.as_deref().expect("no address").to_owned(),
    )
}

use crate::harness::{html_part as html, text_part as text};

#[test]
fn from_is_the_list_sender_and_reply_to_the_team() {
    let message = mou().email(ZOE);
    assert_eq!(
        mailbox(message.from()),
        (
            Some("SIN Singapore".into()),
            "bulletin@sin-singapore.example.org".into()
        )
    );
    assert_eq!(
        mailbox(message.reply_to()),
        (None, "team@sin-singapore.example.org".into())
    );
}

#[test]
fn to_carries_the_subscribers_name_decoded() {
    let output = mou();
    for (file, name, address) in [
        (ZOE, "Zoë Martin", "zoe.martin@example.org"),
        (LI, "李明", "li.ming@example.com"),
        (KWAME, "Kwame \"KM\" Mensah", "kwame.mensah@example.org"),
        (
            MALLORY,
            "<script>alert('hi')</script> & <b>Mallory</b>",
            "mallory@example.com",
        ),
    ] {
        assert_eq!(
            mailbox(output.email(file).to()),
            (Some(name.into()), address.into()),
            "{file}"
        );
    }
}

#[test]
fn to_without_a_name_is_the_bare_address() {
    let message = mou().email(ANONYMOUS);
    assert_eq!(
        mailbox(message.to()),
        (None, "anonymous@example.com".into())
    );
    assert_eq!(
        message.header_raw("To").map(str::trim),
        Some("anonymous@example.com")
    );
}

#[test]
fn subject_decodes_to_the_issue_subject_exactly() {
    let message = mou().email(ZOE);
    assert_eq!(
        message.subject(),
        Some("UK–Singapore MoU: a “significant milestone” for digital government")
    );
}

#[test]
fn date_is_the_time_of_the_run() {
    let message = mou().email(ZOE);
    let date = message.date().expect("no Date header");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let date = u64::try_from(date.to_timestamp()).expect("Date before 1970");
    // Generous bounds: the clock of the run, not the issue date (2019-06-28).
    assert!(now.abs_diff(date) < 3600, "Date {date}, now {now}");
}

#[test]
fn message_ids_are_on_the_senders_domain_and_unique_per_recipient() {
    let output = mou();
    let mut ids: Vec<String> = emails(&output)
        .iter()
        .map(|(file, message)| {
            let id = message.message_id().expect("no Message-ID");
            assert!(
                id.starts_with("2019-06-uk-sg-mou.") && id.ends_with("@sin-singapore.example.org"),
                "{file}: {id}"
            );
            id.to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 7);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "{ids:?}");
}

#[test]
fn message_id_is_the_same_in_every_run() {
    // A resend after a crash must be recognisable as the same message.
    let first = mou().email(ZOE).message_id().map(str::to_owned);
    let second = mou().email(ZOE).message_id().map(str::to_owned);
    assert!(first.is_some());
    assert_eq!(first, second);
}

#[test]
fn list_id_names_the_list() {
    let message = mou().email(ZOE);
    assert_eq!(
        message.header_raw("List-Id").map(str::trim),
        Some("\"SIN Singapore Bulletin\" <bulletin.sin-singapore.example.org>")
    );
}

#[test]
fn list_unsubscribe_is_the_recipients_own_url_and_the_mailto() {
    let output = mou();
    let key = TokenKey::new(UNSUBSCRIBE_KEY.into()).unwrap();
    for (file, address) in [(ZOE, "zoe.martin@example.org"), (LI, "li.ming@example.com")] {
        let message = output.email(file);
        let targets: Vec<String> = message
            .list_unsubscribe()
            .as_address()
            .expect("List-Unsubscribe is not a list of URLs")
            .iter()
            .map(|target| target.address.as_deref().unwrap_or_default().to_owned())
            .collect();
        let [url, mailto] = targets.as_slice() else {
            panic!("{file}: expected a URL and a mailto, got {targets:?}");
        };
        // The sample list's URL carries the address as an opaque id, never in clear.
        assert!(!url.contains(address.split('@').next().unwrap()), "{url}");
        let id = key.id(LIST_ID, address);
        assert_eq!(key.open_id(LIST_ID, &id).as_deref(), Some(address));
        let prefix = format!("https://sin-singapore.example.org/unsubscribe?id={id}&token=");
        let token = url
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{file}: {url}"));
        assert!(key.verify(LIST_ID, address, token), "{file}: {url}");
        assert!(!key.verify(LIST_ID, "mallory@example.com", token));
        assert_eq!(
            mailto,
            "mailto:unsubscribe@sin-singapore.example.org?subject=unsubscribe"
        );
        // The same link is in the text part, for readers whose client hides the header.
        assert!(text(&message).contains(&format!("\n{url}\n")), "{file}");
    }
}

#[test]
fn list_unsubscribe_post_is_one_click() {
    let message = mou().email(ZOE);
    assert_eq!(
        message.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
}

#[test]
fn body_is_multipart_alternative_with_text_first_and_html_last() {
    let message = mou().email(ZOE);
    let root = message.root_part();
    let content_type = root.content_type().expect("no Content-Type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("multipart", Some("alternative"))
    );
    let parts: Vec<(String, Option<String>, Option<String>)> = root
        .sub_parts()
        .expect("not multipart")
        .iter()
        .map(|&id| {
            let part = message.part(id).expect("missing part");
            let content_type = part.content_type().expect("part without Content-Type");
            (
                format!(
                    "{}/{}",
                    content_type.ctype(),
                    content_type.subtype().unwrap_or_default()
                ),
                content_type.attribute("charset").map(str::to_owned),
                part.content_transfer_encoding().map(str::to_owned),
            )
        })
        .collect();
    let utf8 = Some("utf-8".to_owned());
    let qp = Some("quoted-printable".to_owned());
    assert_eq!(
        parts,
        [
            ("text/plain".to_owned(), utf8.clone(), qp.clone()),
            ("text/html".to_owned(), utf8, qp),
        ]
    );
}

#[test]
fn both_parts_greet_the_subscriber_by_name() {
    let output = mou();
    for (file, greeting) in [
        (ZOE, "Dear Zoë Martin,"),
        (LI, "Dear 李明,"),
        (ANONYMOUS, "Dear colleague,"),
    ] {
        let message = output.email(file);
        assert!(
            text(&message).contains(&format!("\n\n{greeting}\n\n")),
            "{file}: text part"
        );
        assert!(
            html(&message).contains(&format!(">{greeting}</p>")),
            "{file}: HTML part"
        );
    }
}

#[test]
fn html_part_escapes_markup_in_a_name_and_text_part_keeps_it() {
    let message = mou().email(MALLORY);
    let html = html(&message);
    assert!(
        html.contains(
            ">Dear &#60;script&#62;alert(&#39;hi&#39;)&#60;/script&#62; &#38; &#60;b&#62;Mallory&#60;/b&#62;,</p>"
        ),
        "{html}"
    );
    assert!(!html.contains("<script"));
    assert!(!html.contains("<b>Mallory"));
    assert!(text(&message).contains("\nDear <script>alert('hi')</script> & <b>Mallory</b>,\n"));
}

#[test]
fn line_break_in_a_name_adds_no_header() {
    let output = Test::fixture("minimal")
        .with_fixture("name-with-line-break")
        .unsubscribe_key()
        .args(["preview", "issue.yaml", "--out", "out"])
        .stdout_contains("wrote 2 message(s)")
        .stderr(
            "warning: `subscribers.csv` line 2: the name contains line breaks or control characters; it is used as `Eve Bcc: victim@example.org`\n",
        )
        .run();
    let message = output.email("out/0002-ada_example.org.eml");
    assert_eq!(
        mailbox(message.to()),
        (
            Some("Eve Bcc: victim@example.org".into()),
            "ada@example.org".into()
        )
    );
    assert!(message.bcc().is_none());
    // mail-parser spells known header names its own way (`List-ID`).
    let names: Vec<String> = message
        .headers()
        .iter()
        .map(|header| header.name().to_ascii_lowercase())
        .collect();
    assert_eq!(
        names,
        [
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "user-agent",
            "list-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "mime-version",
            "content-type",
        ]
    );
    assert!(text(&message).contains("\nDear Eve Bcc: victim@example.org,\n"));
}

/// Lines longer than 78 columns, except those that are one URL (which must not be broken).
fn long_lines(text: &str) -> Vec<String> {
    let lone_url = |line: &str| line.starts_with("https://") && !line.contains(char::is_whitespace);
    text.lines()
        .filter(|line| line.chars().count() > 78 && !lone_url(line))
        .map(str::to_owned)
        .collect()
}

#[test]
fn text_part_lines_fit_in_78_columns_except_lone_urls() {
    let output = mou();
    let emails = emails(&output);
    assert_eq!(emails.len(), 7);
    for (file, message) in &emails {
        assert_eq!(long_lines(&text(message)), Vec::<String>::new(), "{file}");
    }
}

#[test]
fn text_part_fits_in_78_columns_for_a_long_address() {
    let output = Test::newsletters()
        .unsubscribe_key()
        .write(
            "long.csv",
            "email,name\nhanbin.zheng@sin-singapore.example.org,Zhen Hanbin\n",
        )
        .args([
            "preview",
            "newsletters/2019-06-uk-sg-mou.yaml",
            "--subscribers",
            "long.csv",
            "--out",
            "out",
        ])
        .stdout_contains("wrote 1 message(s)")
        .run();
    let message = output.email("out/0002-hanbin.zheng_sin-singapore.example.org.eml");
    assert_eq!(long_lines(&text(&message)), Vec::<String>::new());
}

#[test]
fn message_lines_end_with_crlf() {
    let output = mou();
    let bytes = output.read_bytes(ZOE);
    let bare = bytes
        .iter()
        .enumerate()
        .filter(|&(index, &byte)| byte == b'\n' && (index == 0 || bytes[index - 1] != b'\r'))
        .count();
    assert_eq!(bare, 0, "line feeds without a carriage return");
    assert!(bytes.ends_with(b"\r\n"));
}

#[test]
fn text_that_looks_like_an_encoded_word_reads_as_written() {
    let output = Test::fixture("minimal")
        .write(
            "issue.yaml",
            include_str!("../fixtures/minimal/issue.yaml").replace(
                "subject: \"Spring issue\"",
                "subject: \"Spring =?utf-8?b?SGFja2Vk?= issue\"",
            ),
        )
        .write(
            "list.yaml",
            include_str!("../fixtures/minimal/list.yaml")
                .replace("name: Test Sender", "name: \"=?utf-8?q?Your_Bank?=\""),
        )
        .write(
            "subscribers.csv",
            "email,name\nada@example.org,=?utf-8?b?Qm9zcw==?=\n",
        )
        .args(["preview", "issue.yaml", "--out", "out"])
        .run();
    let message = output.email("out/0002-ada_example.org.eml");
    assert_eq!(message.subject(), Some("Spring =?utf-8?b?SGFja2Vk?= issue"));
    let from = message.from().and_then(|from| from.first()).unwrap();
    assert_eq!(from.name(), Some("=?utf-8?q?Your_Bank?="));
    let to = message.to().and_then(|to| to.first()).unwrap();
    assert_eq!(to.name(), Some("=?utf-8?b?Qm9zcw==?="));
}

#[test]
fn an_issue_file_name_with_spaces_and_accents_makes_a_safe_message_id() {
    let output = Test::fixture("minimal")
        .write(
            "Spring issue é.yaml",
            include_str!("../fixtures/minimal/issue.yaml"),
        )
        .args(["preview", "Spring issue é.yaml", "--out", "out"])
        .run();
    let eml = output.read("out/0002-ada_example.org.eml");
    let id = eml
        .lines()
        .find_map(|line| line.strip_prefix("Message-ID: "))
        .unwrap();
    assert!(id.starts_with("<spring-issue."), "{id}");
    assert!(id.is_ascii() && !id.contains(' '), "{id}");
}
