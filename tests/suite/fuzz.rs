//! Property tests of the library with generated hostile input (see tests/corpus/README.md,
//! section "Fuzzing"): issue and list YAML, subscriber rows, Markdown and placeholder syntax.
//!
//! Whatever the input, parsing must not panic; and when it is accepted, rendering and building
//! every message must not panic, and each message must be well formed: its header section ends
//! lines with CRLF only (no data starts a header of its own), holds each expected header once
//! and no other, is 7-bit but for non-ASCII addresses, and has no line over 998 characters;
//! `From`, `To` and `Subject` decode back to what was written; both parts decode back to what
//! was rendered; and the HTML part has no `<script>` (or `<iframe>`, `<object>`, …) element.
//!
//! `cargo test` runs each property `PROPTEST_CASES` times (256 unless set), in about two
//! seconds; `tests/fuzz.sh` runs them far longer. The inputs of failures found so far are
//! replayed by `fuzz_regressions_end_as_they_should`.

use std::{
    collections::HashSet,
    fmt::Write as _,
    fs,
    path::Path,
    time::{Duration, SystemTime},
};

use newsletter::testing::{
    Audience, DocumentKind, EmailAddress, Issue, IssueFile, KeyUse, LinkList, ListFile, Mailing,
    MergeText, Row, Subscriber, SubscriberReader, TokenKey, UrlTemplate, document, markdown,
};
use proptest::{
    collection::vec,
    option,
    prelude::*,
    sample::{Index, select},
};
use serde_json::{Value, json};

/// Pieces of text that have broken (or could break) a parser, a template, a header or a part.
const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example>",
    "<scr<script>ipt>",
    "<img src=x onerror=alert(1)>",
    "</p></td></table>",
    "<!--",
    "-->",
    "<![CDATA[",
    "&amp;",
    "&#60;script&#62;",
    "&lt;",
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    "\u{7}",
    "\0",
    "\u{1b}[31m",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "\u{2028}",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "\u{e000}",
    "\u{e001}",
    "\u{fffd}",
    "{name}",
    "{email}",
    "{token}",
    "{list}",
    "{org}",
    "{first_name}",
    "{{",
    "}}",
    "{",
    "}",
    "{na me}",
    "{}",
    "=?utf-8?q?=41?=",
    "=?utf-8?b?QQ==?=",
    "\"",
    "'",
    "\\",
    ":",
    ": ",
    "#",
    "- ",
    "* ",
    "> ",
    "1. ",
    "    ",
    "\t",
    "`",
    "```",
    "**",
    "_",
    "~~",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[y](https://example.org/\"><script>)",
    "<https://example.org>",
    "<javascript:alert(1)>",
    "![i](data:text/html,<script>alert(1)</script>)",
    "[^1]",
    "[ref]: javascript:alert(1)",
    "[ref]",
    "Bcc: victim@example.org",
    "\r\nBcc: victim@example.org",
    "\nBcc: victim@example.org",
    "ü",
    "李明",
    "😀",
    "a\u{301}",
    " ",
    "=",
    "=20",
    ".",
    "\r\n.\r\n",
    "From ",
    "--",
    "Content-Type: text/html",
    "%0d%0a",
    "@",
    ",",
    ";",
    "<",
    ">",
    "&",
    "|",
    "*",
    "!",
    "?",
    "%",
];

/// Addresses lettre accepts, including the unusual.
const ADDRESSES: &[&str] = &[
    "ada@example.org",
    "ADA@Example.ORG",
    "grace+news@example.org",
    "zoë@example.org",
    "info@bücher.example",
    "o'brien@example.ie",
    "a.b-c_d@sub.example.co.uk",
];

/// One piece of text: mostly plain, often hostile, sometimes any character at all.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ,.!?'-]{0,12}",
        3 => select(HOSTILE).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => "\\PC{0,8}",
    ]
}

/// A short text of fragments.
fn text() -> impl Strategy<Value = String> {
    vec(fragment(), 0..8).prop_map(|fragments| fragments.concat())
}

/// A text, or one repeated into a long one (up to some 20,000 characters).
fn long_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => text(),
        1 => (text(), 1..400usize).prop_map(|(text, times)| text.repeat(times)),
    ]
}

/// Markdown: lines of fragments and block markers.
fn markdown_text() -> impl Strategy<Value = String> {
    const MARKERS: &[&str] = &[
        "# ",
        "## ",
        "###### ",
        "> ",
        "- ",
        "1. ",
        "    ",
        "```",
        "---",
        "| a | b |",
        "|---|---|",
        "- [ ] ",
        "\\",
        "  ",
        "===",
    ];
    let line = vec(
        prop_oneof![
            3 => fragment(),
            1 => select(MARKERS).prop_map(str::to_owned),
            1 => "\\[[a-z <>]{0,6}\\]\\((https?|javascript|mailto|data|tel|ftp):[a-z<>\"/]{0,8}\\)",
        ],
        0..6,
    )
    .prop_map(|pieces| pieces.concat());
    vec(line, 1..8).prop_map(|lines| lines.join("\n"))
}

/// Inline Markdown nested to any depth: links and images inside each other's text (with safe
/// and unsafe targets), emphasis, code and stray brackets.
fn nested_inline() -> impl Strategy<Value = String> {
    const TARGETS: &[&str] = &[
        "https://x.example",
        "javascript:0",
        "mailto:a@example.org",
        "data:text/html,x",
        "",
        "<https://y.example>",
    ];
    let leaf = prop_oneof![
        "[a-z ]{0,5}",
        select(&["[", "]", "(", ")", "!", "*", "_", "`", "<", ">", "&", "\\"][..])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 1..4).prop_map(|pieces| pieces.concat()),
            (inner.clone(), select(TARGETS)).prop_map(|(text, url)| format!("[{text}]({url})")),
            (inner.clone(), select(TARGETS)).prop_map(|(text, url)| format!("![{text}]({url})")),
            inner.clone().prop_map(|text| format!("*{text}*")),
            inner.clone().prop_map(|text| format!("**{text}**")),
            inner.clone().prop_map(|text| format!("~~{text}~~")),
            inner.prop_map(|text| format!("`{text}`")),
        ]
    })
}

/// Whether newsletter reserves `c` for its own use (it refuses it in every text field).
fn is_reserved(c: char) -> bool {
    newsletter::testing::RESERVED_CHARACTERS.contains(&c)
}

/// Nineteen times in twenty a value the field accepts, so that rendering is reached (an
/// issue and its list have some twenty fields): `text` without the characters `keep` refuses,
/// cut to `max` characters (`fallback` first if that leaves nothing). Otherwise `text` as it
/// is, which the field may refuse.
fn mostly_valid(
    text: impl Strategy<Value = String>,
    keep: fn(char) -> bool,
    max: usize,
    fallback: &'static str,
) -> impl Strategy<Value = String> {
    (text, 0..20u8).prop_map(move |(text, dice)| {
        if dice == 0 {
            return text;
        }
        let kept: String = text
            .chars()
            .filter(|&c| keep(c))
            .take(max - fallback.len())
            .collect();
        if kept.trim().is_empty() {
            format!("{fallback}{kept}")
        } else {
            kept
        }
    })
}

/// A one-line field: a subject, a title, a name.
fn line() -> impl Strategy<Value = String> {
    mostly_valid(
        long_text(),
        |c| !c.is_control() && !is_reserved(c),
        newsletter::testing::MAX_LINE_CHARS,
        "Title",
    )
}

/// A Markdown field: a story body, the intro, the footer.
fn markdown_field() -> impl Strategy<Value = String> {
    mostly_valid(
        markdown_text(),
        |c| !is_reserved(c) && (!c.is_control() || matches!(c, '\n' | '\t' | '\r')),
        usize::MAX,
        "Body",
    )
}

/// A greeting: a line with a placeholder of the subscriber file's columns (or a brace).
fn greeting() -> impl Strategy<Value = String> {
    const PLACEHOLDERS: &[&str] = &["{name}", "{org}", "{email}", "{Name}", "{{", "}}", ""];
    (
        mostly_valid(
            text(),
            |c| !c.is_control() && !is_reserved(c) && c != '{' && c != '}',
            usize::MAX,
            "Dear",
        ),
        select(PLACEHOLDERS),
        any::<Index>(),
    )
        .prop_map(|(text, placeholder, at)| {
            let at = text
                .char_indices()
                .map(|(at, _)| at)
                .nth(at.index(text.chars().count() + 1))
                .unwrap_or(text.len());
            format!("{}{placeholder}{}", &text[..at], &text[at..])
        })
}

/// An address: usually one lettre accepts, sometimes text around one, sometimes any text.
fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => select(ADDRESSES).prop_map(str::to_owned),
        1 => (text(), select(ADDRESSES)).prop_map(|(text, address)| format!("{text}{address}")),
        1 => (select(ADDRESSES), text()).prop_map(|(address, text)| format!("{address}{text}")),
        1 => Just("x@[192.0.2.1]".to_owned()),
        1 => text(),
    ]
}

/// `text` without what a URL cannot hold as it is.
fn url_safe(text: &str) -> String {
    text.chars()
        .filter(|&c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '{' | '}'))
        .collect()
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("https://example.org/story".to_owned()),
        6 => text().prop_map(|text| format!("https://example.org/{}", url_safe(&text))),
        1 => text().prop_map(|text| format!("https://example.org/{text}")),
        1 => text(),
    ]
}

fn unsubscribe_url() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just("https://example.org/u?e={email}&t={token}".to_owned()),
        3 => text().prop_map(|text| format!("https://example.org/u?e={{email}}{}", url_safe(&text))),
        3 => text().prop_map(|text| format!("https://example.org/{}/{{token}}?l={{list}}", url_safe(&text))),
        1 => text().prop_map(|text| format!("https://example.org/u?e={{email}}{text}")),
        1 => text(),
    ]
}

/// Inserts a key into a JSON object when `value` is `Some`.
fn insert(object: &mut Value, key: &str, value: Option<Value>) {
    if let (Some(value), Value::Object(map)) = (value, object) {
        map.insert(key.to_owned(), value);
    }
}

fn story() -> impl Strategy<Value = Value> {
    let width = prop_oneof![9 => 1..=600u32, 1 => any::<u32>()];
    (
        line(),
        markdown_field(),
        option::of((url(), line())),
        option::of((url(), line(), option::of(width))),
    )
        .prop_map(|(title, body, link, image)| {
            let mut story = json!({ "title": title, "body": body });
            insert(
                &mut story,
                "link",
                link.map(|(url, label)| json!({ "url": url, "label": label })),
            );
            insert(
                &mut story,
                "image",
                image.map(|(src, alt, width)| json!({ "src": src, "alt": alt, "width": width })),
            );
            story
        })
}

/// The YAML of an issue with hostile values (and the right shape, so that values, not
/// syntax, are what is tested).
fn issue_yaml() -> impl Strategy<Value = String> {
    (
        (
            any::<u32>(),
            line(),
            option::of(line()),
            option::of(greeting()),
        ),
        (
            option::of(line()),
            option::of(markdown_field()),
            vec(story(), 1..4),
        ),
        (
            option::of((line(), address(), option::of(line()))),
            option::of(markdown_field()),
        ),
    )
        .prop_map(
            |(
                (number, subject, preheader, greeting),
                (greeting_fallback, intro, stories),
                (contact, footer),
            )| {
                let mut issue = json!({
                    "list": "list.yaml",
                    "number": number,
                    "date": "2024-03-01",
                    "subject": subject,
                    "stories": stories,
                });
                insert(&mut issue, "preheader", preheader.map(Value::from));
                insert(&mut issue, "greeting", greeting.map(Value::from));
                insert(
                    &mut issue,
                    "greeting_fallback",
                    greeting_fallback.map(Value::from),
                );
                insert(&mut issue, "intro", intro.map(Value::from));
                insert(
                    &mut issue,
                    "contact",
                    contact.map(
                        |(name, email, role)| json!({ "name": name, "email": email, "role": role }),
                    ),
                );
                insert(&mut issue, "footer", footer.map(Value::from));
                serde_yaml::to_string(&issue).expect("JSON values are YAML")
            },
        )
}

/// The YAML of a list file with hostile values.
fn list_yaml() -> impl Strategy<Value = String> {
    (
        (
            line(),
            prop_oneof![19 => Just("bulletin.example.org".to_owned()), 1 => text()],
        ),
        (line(), address(), option::of(address())),
        (unsubscribe_url(), option::of(address()), option::of(line())),
        option::of(prop_oneof![19 => Just("en-GB".to_owned()), 1 => text()]),
    )
        .prop_map(
            |((name, id), (sender, sender_address, reply_to), (url, mailto, postal), language)| {
                let mut list = json!({
                    "name": name,
                    "id": id,
                    "from": { "name": sender, "address": sender_address },
                    "subscribers": "subscribers.csv",
                    "unsubscribe": { "url": url, "mailto": mailto },
                });
                insert(&mut list, "reply_to", reply_to.map(Value::from));
                insert(&mut list, "postal_address", postal.map(Value::from));
                insert(&mut list, "language", language.map(Value::from));
                serde_yaml::to_string(&list).expect("JSON values are YAML")
            },
        )
}

/// A subscriber file with the columns `email`, `name` and `org`: quoted as CSV should be, or
/// written raw (so quotes, commas and line breaks in values break rows).
fn subscribers_csv() -> impl Strategy<Value = Vec<u8>> {
    (vec((address(), long_text(), text()), 1..5), any::<bool>()).prop_map(|(rows, quoted)| {
        if quoted {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer
                .write_record(["email", "name", "org"])
                .expect("cannot write CSV");
            for (email, name, org) in &rows {
                writer
                    .write_record([email, name, org])
                    .expect("cannot write CSV");
            }
            writer.into_inner().expect("cannot write CSV")
        } else {
            let mut csv = String::from("email,name,org\n");
            for (email, name, org) in &rows {
                let _ = writeln!(csv, "{email},{name},{org}");
            }
            csv.into_bytes()
        }
    })
}

/// A copy of `text` with `edits` applied: each inserts a fragment at, or deletes a few
/// characters from, a position.
fn mutate(text: &str, edits: &[(Index, Option<String>)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, insert) in edits {
        let index = at.index(chars.len() + 1);
        if let Some(fragment) = insert {
            chars.splice(index..index, fragment.chars());
        } else {
            let end = (index + 3).min(chars.len());
            chars.drain(index..end);
        }
    }
    chars.into_iter().collect()
}

fn fixture(file: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/minimal")
            .join(file),
    )
    .expect("cannot read the minimal fixture")
}

fn parse_issue(text: &str) -> Result<IssueFile, newsletter::testing::Error> {
    document::parse(Path::new("issue.yaml"), text, DocumentKind::Issue)
}

fn parse_list(text: &str) -> Result<ListFile, newsletter::testing::Error> {
    document::parse(Path::new("list.yaml"), text, DocumentKind::List)
}

/// The header section of a message, as text, checked to end its lines with CRLF only.
fn header_section(bytes: &[u8]) -> Result<&str, TestCaseError> {
    let end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| TestCaseError::fail("no end of the header section"))?;
    let headers = std::str::from_utf8(&bytes[..end])
        .map_err(|_| TestCaseError::fail("the headers are not UTF-8"))?;
    let bytes = headers.as_bytes();
    for (index, &byte) in bytes.iter().enumerate() {
        let bare = match byte {
            b'\r' => bytes.get(index + 1) != Some(&b'\n'),
            b'\n' => index == 0 || bytes[index - 1] != b'\r',
            _ => false,
        };
        prop_assert!(!bare, "a bare CR or LF in the headers:\n{}", headers);
    }
    Ok(headers)
}

/// Checks that a header decodes to what was written, but for white space (see [`squeeze`]).
///
/// A header whose text looks like an RFC 2047 encoded word (`=?utf-8?q?=41?=`, in a name, a
/// subject or an address: `lookalike`) is not compared: lettre writes such text as it is, so
/// mail clients decode it (to `A`), where RFC 2047 says an encoder must encode it. This is a
/// bug of lettre, reported with the results of this test; it cannot break the message's
/// structure.
fn check_decoded(
    decoded: Option<&str>,
    written: Option<&str>,
    lookalike: bool,
    headers: &str,
) -> Result<(), TestCaseError> {
    if lookalike {
        return Ok(());
    }
    prop_assert_eq!(decoded.map(squeeze), written.map(squeeze), "{}", headers);
    Ok(())
}

/// `text` with each run of white space made one space. mail-parser drops white space after an
/// encoded word that RFC 2047 says to keep (`=?utf-8?b?wqE=?=  ?` is `¡  ?`), so decoded
/// headers are compared this way.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The names of the elements an HTML parser would see in `html`, lower-cased: text right after
/// a `<` that is not inside a tag (where a `<` in a quoted attribute value is only text).
fn element_names(html: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_tag = false;
    let mut quote = None;
    for (index, c) in html.char_indices() {
        match (in_tag, quote, c) {
            (false, _, '<') => {
                in_tag = true;
                let name: String = html[index + 1..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                names.push(name.to_ascii_lowercase());
            }
            (true, None, '"' | '\'') => quote = Some(c),
            (true, Some(open), _) if c == open => quote = None,
            (true, None, '>') => in_tag = false,
            _ => {}
        }
    }
    names
}

/// Checks one message: its header section, what `From`, `To` and `Subject` decode to, and
/// that both parts decode to what was rendered.
fn check_message(
    mailing: &Mailing,
    issue: &Issue,
    subscriber: &Subscriber,
) -> Result<(), TestCaseError> {
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (built, rendered) = mailing
        .message_and_parts(subscriber, date)
        .map_err(|error| TestCaseError::fail(format!("no message to a subscriber: {error}")))?;
    let headers = header_section(&built.bytes)?;
    let mut names = HashSet::new();
    for line in headers.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let name = line.split_once(':').map_or(line, |(name, _)| name);
        prop_assert!(
            [
                "From",
                "Reply-To",
                "To",
                "Subject",
                "Date",
                "Message-ID",
                "User-Agent",
                "List-Id",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
                "MIME-Version",
                "Content-Type",
            ]
            .contains(&name),
            "an unexpected header line {:?}:\n{}",
            line,
            headers
        );
        prop_assert!(names.insert(name), "{} twice:\n{}", name, headers);
    }
    // Only an address with a non-ASCII local part (RFC 6532) may put UTF-8 in a header;
    // everything else is encoded. Longer addresses go first, as one may contain another.
    let mut addresses: Vec<String> = [&subscriber.email, issue.list.file.from.address.address()]
        .into_iter()
        .chain(issue.list.file.reply_to.iter().map(EmailAddress::address))
        .map(ToString::to_string)
        .collect();
    addresses.sort_by_key(|address| std::cmp::Reverse(address.len()));
    let mut ascii = headers.to_owned();
    for address in addresses {
        ascii = ascii.replace(&address, "");
    }
    prop_assert!(ascii.is_ascii(), "the headers are not 7-bit:\n{}", headers);
    prop_assert!(
        headers.split("\r\n").all(|line| line.len() <= 998),
        "a header line over 998 characters:\n{}",
        headers
    );

    let email = mail_parser::MessageParser::default()
        .parse(&built.bytes)
        .ok_or_else(|| TestCaseError::fail("mail-parser cannot parse the message"))?;
    let list = &issue.list.file;
    let from = email.from().and_then(|from| from.first());
    let from = from.ok_or_else(|| TestCaseError::fail("no From"))?;
    let lookalike = |texts: &[&str]| texts.iter().any(|text| text.contains("=?"));
    let sender = list.from.address.to_string();
    let from_lookalike = lookalike(&[list.from.name.as_str(), &sender]);
    check_decoded(
        from.name(),
        Some(list.from.name.as_str()),
        from_lookalike,
        headers,
    )?;
    if !from_lookalike {
        prop_assert_eq!(from.address(), Some(sender.as_str()));
    }
    let to = email.to().and_then(|to| to.first());
    let to = to.ok_or_else(|| TestCaseError::fail("no To"))?;
    let name = Some(subscriber.name.as_str()).filter(|name| !name.is_empty());
    let to_lookalike = lookalike(&[&subscriber.name, subscriber.email.as_ref()]);
    check_decoded(to.name(), name, to_lookalike, headers)?;
    if !to_lookalike {
        prop_assert_eq!(to.address(), Some(subscriber.email.as_ref()));
    }
    let subject = mailing.subject_for(subscriber);
    check_decoded(
        email.subject(),
        Some(&subject),
        lookalike(&[&subject]),
        headers,
    )?;

    let html = email
        .body_html(0)
        .ok_or_else(|| TestCaseError::fail("no HTML part"))?;
    prop_assert_eq!(html.replace("\r\n", "\n"), rendered.html);
    let elements = element_names(&html);
    for forbidden in ["script", "iframe", "object", "embed", "form", "input"] {
        prop_assert!(
            !elements.iter().any(|name| name == forbidden),
            "a <{}> element in the HTML part",
            forbidden
        );
    }
    let text = email
        .body_text(0)
        .ok_or_else(|| TestCaseError::fail("no text part"))?;
    prop_assert_eq!(text.replace("\r\n", "\n"), rendered.text);
    Ok(())
}

/// Writes the three files, loads them as `check` does, and checks every message. Returns the
/// number of messages checked, or `None` if the issue or list was refused.
fn check_mailing(
    issue_yaml: &str,
    list_yaml: &str,
    subscribers: &[u8],
) -> Result<Option<usize>, TestCaseError> {
    let folder = tempfile::tempdir().expect("cannot create a temporary folder");
    let write = |name: &str, bytes: &[u8]| {
        fs::write(folder.path().join(name), bytes).expect("cannot write a test file");
    };
    write("issue.yaml", issue_yaml.as_bytes());
    write("list.yaml", list_yaml.as_bytes());
    write("subscribers.csv", subscribers);
    let Ok(issue) = Issue::load(&folder.path().join("issue.yaml")) else {
        return Ok(None);
    };
    let key = TokenKey::new(vec![7; 32]).expect("a long enough key");
    let mailing = Mailing::prepare(&issue, KeyUse::Send, Some(key), None).map_err(|error| {
        TestCaseError::fail(format!("an issue that loaded does not render: {error}"))
    })?;
    let audience = Audience::of(&issue, None, None).expect("no suppression file to read");
    let mut messages = 0;
    let mut failure = None;
    // An error here is a header or merge-field problem of the subscriber file; rows that are
    // invalid are counted, not errors.
    let _ = audience.scan(&issue, |subscriber| {
        if failure.is_none() {
            match check_message(&mailing, &issue, &subscriber) {
                Ok(()) => messages += 1,
                Err(error) => failure = Some(error),
            }
        }
        Ok(())
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(Some(messages)),
    }
}

/// Inputs the fuzz test shrank failures to, and how they must now end: `Some(n)` messages
/// checked, or `None`, refused when loading. (proptest's own regression file stores seeds,
/// which stop reproducing an input once a strategy changes; these do not.)
const REGRESSIONS: &[(&str, &str, &str, Option<usize>)] = &[
    // A sender at an IP address: lettre cannot build the message.
    (
        ISSUE,
        "x@[127.0.0.1]",
        "email,name\nada@example.org,\n",
        None,
    ),
    // A list name as one long word: a List-Id line of over 998 characters.
    (ISSUE, "LONG NAME", "email,name\nada@example.org,\n", None),
    // A line break in the unsubscribe URL template.
    (ISSUE, "URL", "email,name\nada@example.org,\n", None),
    // A subject that is an encoded word: lettre writes it as it is (see `check_decoded`).
    (
        "date: 2024-03-01\nlist: list.yaml\nnumber: 0\nstories:\n- body: Body\n  title: Title\nsubject: =?utf-8?q?=41?=\n",
        "",
        "email,name\nada@example.org,\n",
        Some(1),
    ),
    // Non-ASCII words separated by two spaces: clients dropped the spaces.
    (
        "date: 2024-03-01\nlist: list.yaml\nnumber: 0\nstories:\n- body: Body\n  title: Title\nsubject: \"\\u00a0a  !\\u00a0a  !\\u00a0a  !\"\n",
        "",
        "email,name\nada@example.org,\n",
        Some(1),
    ),
    // A reply-to address with a non-ASCII local part that contains the subscriber's.
    (ISSUE, "REPLY-TO", "email,name\nADA@Example.ORG,\n", Some(1)),
    // A line break in a merge field value.
    (
        "date: 2024-03-01\ngreeting: '{org}'\nlist: list.yaml\nnumber: 0\nstories:\n- body: Body\n  title: Title\nsubject: Title\n",
        "",
        "email,name,org\nada@example.org,,\"A\r\nBcc: victim@example.org\"\n",
        Some(1),
    ),
    // Markup in an image's alt text: only text in an attribute.
    (
        "date: 2024-03-01\nlist: list.yaml\nnumber: 0\nstories:\n- body: Body\n  image:\n    alt: <script>alert(1)</script>\n    src: https://example.org/story\n  title: Title\nsubject: Title\n",
        "",
        "email,name\nada@example.org,\n",
        Some(1),
    ),
    // An address whose local part looks like an encoded word (see `check_decoded`).
    (
        ISSUE,
        "",
        "email,name,org\n=?utf-8?q?=41?=ada@example.org,,\n",
        Some(1),
    ),
    // A subscriber whose address has a non-ASCII local part.
    (ISSUE, "", "email,name,org\nzoë@example.org,,\n", Some(1)),
];

/// The smallest issue, for regressions that are about the list or the subscribers.
const ISSUE: &str = "date: 2024-03-01\nlist: list.yaml\nnumber: 0\nstories:\n- body: Body\n  title: Title\nsubject: Title\n";

/// The list of a regression: the smallest list, changed as its second field says.
fn regression_list(change: &str) -> String {
    let list = |sender: &str, name: &str, url: &str, reply_to: &str| {
        format!(
            "from:\n  address: \"{sender}\"\n  name: Title\nid: bulletin.example.org\nname: \"{name}\"\n{reply_to}subscribers: subscribers.csv\nunsubscribe:\n  url: \"{url}\"\n"
        )
    };
    let url = "https://example.org/u?e={email}&t={token}";
    match change {
        "" => list("ada@example.org", "Title", url, ""),
        "LONG NAME" => list("ada@example.org", &"aAA".repeat(400), url, ""),
        "URL" => list(
            "ada@example.org",
            "Title",
            "https://example.org/u?e={email}\\r\\nA",
            "",
        ),
        "REPLY-TO" => list(
            "a.b-c_d@sub.example.co.uk",
            "Title",
            "https://example.org//{token}?l={list}",
            "reply_to: ¡ADA@Example.ORG\n",
        ),
        sender => list(sender, "Title", url, ""),
    }
}

#[test]
fn fuzz_regressions_end_as_they_should() {
    for (issue, list, subscribers, expected) in REGRESSIONS {
        let list = regression_list(list);
        assert_eq!(
            check_mailing(issue, &list, subscribers.as_bytes())
                .unwrap_or_else(|error| panic!("{error}")),
            *expected,
            "{issue}\n{list}\n{subscribers}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(
        text in prop_oneof![any::<String>(), "[\\[\\]{}:&*!|>'\"%@`#,?\\- \t\r\n\\\\a-z0-9]{0,200}"],
    ) {
        let _ = parse_issue(&text);
        let _ = parse_list(&text);
    }

    #[test]
    fn parsers_never_panic_on_mutated_documents(
        edits in vec((any::<Index>(), option::of(fragment())), 1..6),
    ) {
        let _ = parse_issue(&mutate(&fixture("issue.yaml"), &edits));
        let _ = parse_list(&mutate(&fixture("list.yaml"), &edits));
    }

    #[test]
    fn subscriber_files_never_panic_the_reader(
        bytes in prop_oneof![
            vec(any::<u8>(), 0..300),
            vec(select(&b"email,name\r\n\"a@b.c \x00\xff"[..]), 0..300),
        ],
    ) {
        let mut file = tempfile::NamedTempFile::new().expect("cannot create a temporary file");
        std::io::Write::write_all(&mut file, &bytes).expect("cannot write a temporary file");
        if let Ok(mut reader) = SubscriberReader::open(file.path(), None) {
            while let Some(row) = reader.next_row() {
                if let Ok(Row::Recipient { subscriber, .. }) = row {
                    prop_assert!(!subscriber.name.contains(char::is_control));
                }
            }
        }
    }

    #[test]
    fn markdown_never_panics_and_never_passes_markup_through(body in markdown_text()) {
        let html = markdown::to_html(&body);
        let lower = html.to_lowercase();
        prop_assert!(!lower.contains("<script"), "{}", html);
        prop_assert!(!lower.contains("<img src=x"), "{}", html);
        for attribute in ["href=\"", "src=\""] {
            for (at, _) in lower.match_indices(attribute) {
                let target = &lower[at + attribute.len()..];
                prop_assert!(
                    ["https://", "http://", "mailto:", "tel:"].iter().any(|scheme| target.starts_with(scheme)),
                    "unsafe link target in {}", html
                );
            }
        }
        let _ = markdown::to_text(&body, &mut LinkList::default());
    }

    #[test]
    fn markdown_html_is_always_balanced(
        lines in vec((select(&["", "# ", "> ", "- ", "1. ", "> - "][..]), nested_inline()), 1..5),
        plain in markdown_text(),
    ) {
        let nested: Vec<String> = lines.iter().map(|(marker, text)| format!("{marker}{text}")).collect();
        for body in [nested.join("\n"), plain] {
            let html = markdown::to_html(&body);
            prop_assert_eq!(crate::html::unbalanced(&html), None, "{:?} gave {}", body, html);
        }
    }

    #[test]
    fn placeholders_never_panic(template in text(), value in text()) {
        if let Ok(merge) = template.parse::<MergeText>() {
            let _ = merge.fill(|_| Some(value.as_str()));
        }
        if let Ok(url) = template.parse::<UrlTemplate>() {
            let _ = url.fill(|_| value.clone());
        }
    }

    #[test]
    fn hostile_issues_make_well_formed_messages(
        issue in issue_yaml(),
        list in list_yaml(),
        subscribers in subscribers_csv(),
    ) {
        check_mailing(&issue, &list, &subscribers)?;
    }
}
