//! The checks `newsletter check` makes beyond validity: things that make an email land in spam,
//! get clipped, or read badly, reported as warnings with a rule name (`--deny-warnings` makes
//! them errors).
//!
//! | rule | fires when |
//! |---|---|
//! | `html-size` | an HTML part is over 90 KB (Gmail clips messages around 102 KB) |
//! | `image-alt` | an image has no alt text |
//! | `image-width` | an image's `width` is over the 520 px content column (it is shown 520 px wide) |
//! | `link-https` | a link or image is not `https://` |
//! | `link-empty` | a link has no target or no text |
//! | `link-text` | link text says nothing about its target ("click here", "read more") |
//! | `preheader` | there is no preheader, or it is over 100 characters |
//! | `subject-length` | the subject is over 80 characters |
//! | `text-width` | a line of the text part is over 78 columns (a lone URL may be longer) |
//! | `text-links` | a link of the HTML part is missing from the text part |
//! | `message-id-domain` | the `From` domain differs from the `Message-ID` domain |
//! | `unsubscribe-token` | the unsubscribe URL has no `{token}`, so anyone can unsubscribe anyone |
//! | `no-recipients` | the subscriber file gives nobody to send to |
//! | `subscriber-name` | a subscriber's name had line breaks or control characters (reported by `check` while it reads the rows) |
//! | `issue-copy` | an issue beside this one has the same number or date (copied, not updated?) |
//! | `title-markdown` | a story title has Markdown other than emphasis, strong, code and strikethrough (a link, an image, HTML), shown as text |
//! | `image-size` | an image file is over 200 KB (it slows every reader's download) |
//! | `message-size` | a message is over 1 MB with its images (some servers refuse large mail, and it is slow on phones) |
//! | `brand-contrast` | a brand colour gives its text less than WCAG AA's 4.5:1 contrast |

use std::{collections::BTreeSet, fmt};

use pulldown_cmark::{Event, Tag, TagEnd};

use crate::{
    compose::{
        markdown::{self, TEXT_WIDTH},
        render::Rendered,
    },
    input::{
        brand,
        document::{field_line, top_level_key_line},
        issue::{CONTENT_WIDTH, Issue},
        location::Location,
    },
};

/// The least contrast of text on its background (WCAG 2.x level AA, normal text).
const MIN_CONTRAST: f64 = 4.5;

/// The HTML part size above which a warning is given.
pub(crate) const MAX_HTML_BYTES: usize = 90_000;
/// The image file size above which a warning is given.
pub(crate) const MAX_IMAGE_BYTES: usize = 200_000;
/// The message size (with embedded images) above which a warning is given.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1_000_000;
/// The longest preheader that mail clients show in full.
pub(crate) const MAX_PREHEADER_CHARS: usize = 100;
/// The longest subject that mail clients show in full.
pub(crate) const MAX_SUBJECT_CHARS: usize = 80;
/// The longest line a header may have (RFC 5322 §2.1.1), without its CRLF.
pub(crate) const MAX_HEADER_LINE: usize = 998;
/// The longest line of a text part (RFC 5322 recommends 78).
pub(crate) const MAX_TEXT_COLUMNS: usize = 78;

/// Link texts that say nothing about where the link goes.
const VAGUE_LINK_TEXTS: [&str; 8] = [
    "click here",
    "here",
    "click",
    "read more",
    "more",
    "link",
    "this link",
    "this",
];

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lint {
    pub(crate) rule: &'static str,
    pub(crate) location: Option<Location>,
    pub(crate) message: String,
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning[{}]: {}", self.rule, self.text())
    }
}

impl Lint {
    /// The warning without its `warning[rule]:` prefix: where, then what.
    pub(crate) fn text(&self) -> String {
        match &self.location {
            Some(location) => format!("{location}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Warnings about the issue itself, found once.
pub(crate) fn lint_issue(issue: &Issue) -> Vec<Lint> {
    let mut lints = Vec::new();
    lint_headline(issue, &mut lints);
    lint_stories(issue, &mut lints);
    lint_list(issue, &mut lints);
    lint_siblings(issue, &mut lints);
    lint_images(issue, &mut lints);
    lints
}

/// Image files over [`MAX_IMAGE_BYTES`], each once, where it is first named.
fn lint_images(issue: &Issue, lints: &mut Vec<Lint>) {
    let mut places: Vec<(Location, String, &crate::input::images::ImageFile)> = Vec::new();
    if let Some(logo) = issue.images.logo() {
        let field = "brand.logo.src";
        let location = match field_line(&issue.list.text, field) {
            Some(line) => Location::line(&issue.list.path, line),
            None => Location::line(
                &issue.list.path,
                top_level_key_line(&issue.list.text, "brand"),
            ),
        };
        places.push((location, field.to_owned(), logo));
    }
    for (field, written) in crate::input::issue::image_files(&issue.file) {
        if let Some(file) = issue.images.in_issue(&written) {
            let location =
                crate::input::document::value_location(&issue.path, &issue.text, &field, &written);
            places.push((location, field, file));
        }
    }
    let mut seen = BTreeSet::new();
    for (location, field, file) in places {
        if file.bytes.len() > MAX_IMAGE_BYTES && seen.insert(file.file_name()) {
            lints.push(Lint {
                rule: "image-size",
                location: Some(location),
                message: format!(
                    "field `{field}`: `{}` is {}; keep each image under {} (every reader downloads it)",
                    file.path.display(),
                    crate::units::size(file.bytes.len()),
                    crate::units::size(MAX_IMAGE_BYTES)
                ),
            });
        }
    }
}

/// A warning when a built message of `bytes`, images included, is over
/// [`MAX_MESSAGE_BYTES`].
pub(crate) fn lint_message_size(bytes: usize) -> Option<Lint> {
    (bytes > MAX_MESSAGE_BYTES).then(|| Lint {
        rule: "message-size",
        location: None,
        message: format!(
            "the message is {} with its images; keep it under {} (some servers refuse large mail, and it is slow to load on a phone)",
            crate::units::size(bytes),
            crate::units::size(MAX_MESSAGE_BYTES)
        ),
    })
}

/// Issues beside this one with the same number or date: usually a copied issue whose number
/// or date was not updated.
fn lint_siblings(issue: &Issue, lints: &mut Vec<Lint>) {
    let folder = issue.path.parent().unwrap_or(std::path::Path::new(""));
    let date = issue.file.date.iso();
    for sibling in crate::input::issue::sibling_issues(folder, &issue.path) {
        let name = sibling.path.file_name().map_or_else(
            || sibling.path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        if sibling.number == Some(issue.file.number) {
            lints.push(Lint {
                rule: "issue-copy",
                location: Some(issue_field(issue, "number")),
                message: format!(
                    "`{name}` beside this issue has the same number {}; was it copied and not updated?",
                    issue.file.number
                ),
            });
        }
        if sibling.date.as_deref() == Some(date.as_str()) {
            lints.push(Lint {
                rule: "issue-copy",
                location: Some(issue_field(issue, "date")),
                message: format!(
                    "`{name}` beside this issue has the same date {date}; was it copied and not updated?"
                ),
            });
        }
    }
}

/// Where a top-level field of the issue file is.
fn issue_field(issue: &Issue, key: &str) -> Location {
    Location::line(&issue.path, top_level_key_line(&issue.text, key))
}

/// Where the field at `field` (`stories[0].image.src`) is written, else its top-level key.
fn nested_field(issue: &Issue, field: &str) -> Location {
    match field_line(&issue.text, field) {
        Some(line) => Location::line(&issue.path, line),
        None => issue_field(issue, field.split(['[', '.']).next().unwrap_or(field)),
    }
}

/// The subject and the preheader: what a reader sees in the inbox.
fn lint_headline(issue: &Issue, lints: &mut Vec<Lint>) {
    let file = &issue.file;
    let at = |key: &str| Some(issue_field(issue, key));

    let subject_chars = file.subject.as_str().chars().count();
    if subject_chars > MAX_SUBJECT_CHARS {
        lints.push(Lint {
            rule: "subject-length",
            location: at("subject"),
            message: format!(
                "the subject is {subject_chars} characters; mail clients cut it after about {MAX_SUBJECT_CHARS}"
            ),
        });
    }
    match &file.preheader {
        None => lints.push(Lint {
            rule: "preheader",
            location: Some(Location::line(&issue.path, 1)),
            message: "there is no `preheader`; mail clients will show the start of the body after the subject instead".into(),
        }),
        Some(preheader) if preheader.as_str().chars().count() > MAX_PREHEADER_CHARS => {
            lints.push(Lint {
                rule: "preheader",
                location: at("preheader"),
                message: format!(
                    "the preheader is {} characters; clients show about {MAX_PREHEADER_CHARS}",
                    preheader.as_str().chars().count()
                ),
            });
        }
        Some(_) => {}
    }
}

/// Links and images in the Markdown and in the stories' own fields.
fn lint_stories(issue: &Issue, lints: &mut Vec<Lint>) {
    let file = &issue.file;
    let markdown_fields = file
        .intro
        .iter()
        .map(|intro| ("intro".to_owned(), intro.as_str()))
        .chain(
            file.stories
                .iter()
                .enumerate()
                .map(|(index, story)| (format!("stories[{index}].body"), story.body.as_str())),
        )
        .chain(
            file.footer
                .iter()
                .map(|footer| ("footer".to_owned(), footer.as_str())),
        );
    for (field, markdown) in markdown_fields {
        lint_markdown(markdown, &field, Some(&nested_field(issue, &field)), lints);
    }
    for (index, story) in file.stories.iter().enumerate() {
        if markdown::inline(story.title.as_str()).other_markup {
            lints.push(Lint {
                rule: "title-markdown",
                location: Some(nested_field(issue, &format!("stories[{index}].title"))),
                message: format!(
                    "field `stories[{index}].title`: a title shows *emphasis*, **strong**, `code` and ~~strikethrough~~ only; its link, image or HTML is shown as text"
                ),
            });
        }
        if let Some(link) = &story.link
            && !link
                .url
                .as_str()
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        {
            lints.push(Lint {
                rule: "link-https",
                location: Some(nested_field(issue, &format!("stories[{index}].link.url"))),
                message: format!(
                    "field `stories[{index}].link.url`: `{}` is not https",
                    link.url
                ),
            });
        }
        if let Some(link) = &story.link
            && is_vague(link.label.as_str())
        {
            lints.push(Lint {
                rule: "link-text",
                location: Some(nested_field(issue, &format!("stories[{index}].link.label"))),
                message: format!(
                    "field `stories[{index}].link.label`: \"{}\" does not say where the link goes",
                    link.label
                ),
            });
        }
        if let Some(image) = &story.image
            && !image.src.is_https()
        {
            lints.push(Lint {
                rule: "link-https",
                location: Some(nested_field(issue, &format!("stories[{index}].image.src"))),
                message: format!(
                    "field `stories[{index}].image.src`: `{}` is not https",
                    image.src
                ),
            });
        }
        if let Some(width) = story.image.as_ref().and_then(|image| image.width)
            && width.0 > CONTENT_WIDTH
        {
            lints.push(Lint {
                rule: "image-width",
                location: Some(nested_field(issue, &format!("stories[{index}].image.width"))),
                message: format!(
                    "field `stories[{index}].image.width`: {} px is wider than the {CONTENT_WIDTH} px content column; the image is shown {CONTENT_WIDTH} px wide",
                    width.0
                ),
            });
        }
    }
}

/// A header line of a built message that is over [`MAX_HEADER_LINE`]: an error, since relays
/// refuse such a message (or cut it). It names the setting the header is made from, at its line.
#[derive(Debug)]
pub(crate) struct LongHeader {
    pub(crate) header: String,
    pub(crate) location: Location,
    pub(crate) field: &'static str,
    pub(crate) length: usize,
    /// The recipient of the first message found with the long line.
    pub(crate) email: String,
}

impl fmt::Display for LongHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: field `{}`: makes a `{}` header line of {} characters (message to {}); a header line may have at most {MAX_HEADER_LINE}",
            self.location, self.field, self.header, self.length, self.email
        )
    }
}

/// The header lines of `message` over [`MAX_HEADER_LINE`], each with the setting it comes from
/// (`row` is the subscriber's row, for `To`).
pub(crate) fn long_header_lines(
    issue: &Issue,
    message: &[u8],
    email: &str,
    row: &Location,
) -> Vec<LongHeader> {
    let header_end = message
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or(message.len());
    let mut found = Vec::new();
    let mut name = String::new();
    for line in message[..header_end].split(|&byte| byte == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            name = String::from_utf8_lossy(line.split(|&b| b == b':').next().unwrap_or(b""))
                .into_owned();
        }
        if line.len() <= MAX_HEADER_LINE || found.iter().any(|h: &LongHeader| h.header == name) {
            continue;
        }
        let list_at = |parent: &str, key: &str| {
            Location::line(
                &issue.list.path,
                nested_key_line(&issue.list.text, parent, key),
            )
        };
        let (location, field) = match name.to_ascii_lowercase().as_str() {
            "list-unsubscribe" => (list_at("unsubscribe", "url"), "unsubscribe.url"),
            "from" => (list_at("from", "name"), "from.name"),
            "list-id" => (list_at("name", ""), "name"),
            "to" => (row.clone(), "name"),
            _ => (
                Location::line(&issue.path, top_level_key_line(&issue.text, "subject")),
                "subject",
            ),
        };
        found.push(LongHeader {
            header: name.clone(),
            location,
            field,
            length: line.len(),
            email: email.to_owned(),
        });
    }
    found
}

/// The line of `key:` inside the top-level mapping `parent:` (the parent's own line when
/// `key` is empty or not found).
fn nested_key_line(text: &str, parent: &str, key: &str) -> usize {
    let start = top_level_key_line(text, parent);
    if key.is_empty() {
        return start;
    }
    text.lines()
        .enumerate()
        .skip(start)
        .take_while(|(_, line)| line.is_empty() || line.starts_with([' ', '\t', '#']))
        .find(|(_, line)| {
            line.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(start, |(index, _)| index + 1)
}

/// The list's sender and unsubscribe settings.
fn lint_list(issue: &Issue, lints: &mut Vec<Lint>) {
    let list = &issue.list.file;
    let list_at = |key: &str| {
        Some(Location::line(
            &issue.list.path,
            top_level_key_line(&issue.list.text, key),
        ))
    };
    let from_domain = list.from.address.domain().to_ascii_lowercase();
    if issue.list.message_id_domain() != from_domain {
        lints.push(Lint {
            rule: "message-id-domain",
            location: list_at("message_id_domain"),
            message: format!(
                "Message-IDs are on `{}` but mail is from `{from_domain}`; spam filters prefer them to match",
                issue.list.message_id_domain()
            ),
        });
    }
    let colours = &list.brand.colours;
    for (name, colour, text) in [
        ("masthead", colours.masthead, "the white masthead text"),
        ("accent", colours.accent, "the white button text"),
        ("links", colours.links, "links on the white page"),
    ] {
        let Some(colour) = colour else { continue };
        let ratio = colour.contrast(brand::WHITE);
        if ratio < MIN_CONTRAST {
            lints.push(Lint {
                rule: "brand-contrast",
                location: list_at("brand"),
                message: format!(
                    "field `brand.colours.{name}`: {colour} gives {text} a contrast of {ratio:.1}:1; WCAG AA asks for {MIN_CONTRAST}:1 (pick a darker colour)"
                ),
            });
        }
    }
    if !list.unsubscribe.url.uses("token") && !list.unsubscribe.url.uses("id") {
        lints.push(Lint {
            rule: "unsubscribe-token",
            location: list_at("unsubscribe"),
            message: "the unsubscribe URL has no `{token}` or `{id}`, so anyone who knows an address can unsubscribe it".into(),
        });
    }
    if !list.unsubscribe.url.as_str().starts_with("https://") {
        lints.push(Lint {
            rule: "link-https",
            location: list_at("unsubscribe"),
            message:
                "the unsubscribe URL is not https; Gmail and Yahoo expect an https one-click URL"
                    .into(),
        });
    }
}

fn is_vague(text: &str) -> bool {
    let text = text.trim().trim_end_matches(['.', '!', '…']).to_lowercase();
    VAGUE_LINK_TEXTS.contains(&text.as_str())
}

fn lint_markdown(markdown: &str, field: &str, location: Option<&Location>, lints: &mut Vec<Lint>) {
    let mut open: Vec<(Tag<'_>, String)> = Vec::new();
    for event in markdown::parser(markdown) {
        match event {
            Event::Start(tag @ (Tag::Link { .. } | Tag::Image { .. })) => {
                open.push((tag, String::new()));
            }
            Event::Text(text) | Event::Code(text) => {
                for (_, content) in &mut open {
                    content.push_str(&text);
                }
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                let Some((tag, content)) = open.pop() else {
                    continue;
                };
                let (kind, url) = match &tag {
                    Tag::Image { dest_url, .. } => ("image", dest_url.to_string()),
                    Tag::Link { dest_url, .. } => ("link", dest_url.to_string()),
                    _ => continue,
                };
                let mut warn = |rule, message: String| {
                    lints.push(Lint {
                        rule,
                        location: location.cloned(),
                        message: format!("field `{field}`: {message}"),
                    });
                };
                if kind == "image" && content.trim().is_empty() {
                    warn("image-alt", format!("the image `{url}` has no alt text"));
                }
                if kind == "image" && crate::input::images::is_file_path(&url) {
                    // An image file, read and checked when the issue was loaded.
                } else if url.trim().is_empty() {
                    warn(
                        "link-empty",
                        format!("the {kind} \"{content}\" has no target"),
                    );
                } else if !markdown::is_safe_link(&url) {
                    warn(
                        "link-https",
                        format!(
                            "`{url}` is not an https, mailto or tel link; it is left out of the email"
                        ),
                    );
                } else if url.trim_start().to_ascii_lowercase().starts_with("http://") {
                    warn("link-https", format!("`{url}` is not https"));
                }
                if kind == "link" && content.trim().is_empty() && !url.trim().is_empty() {
                    warn("link-empty", format!("the link to `{url}` has no text"));
                }
                if kind == "link" && is_vague(&content) {
                    warn(
                        "link-text",
                        format!("\"{content}\" does not say where the link to `{url}` goes"),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Warnings about one subscriber's rendered parts. Each rule reports its first case only, with
/// the number of messages it affects counted by the caller.
pub(crate) fn lint_parts(rendered: &Rendered) -> Vec<Lint> {
    let mut lints = Vec::new();
    if rendered.html.len() > MAX_HTML_BYTES {
        lints.push(Lint {
            rule: "html-size",
            location: None,
            message: format!(
                "the HTML part is {} bytes; Gmail clips messages over about 102 KB (keep it under {MAX_HTML_BYTES})",
                rendered.html.len()
            ),
        });
    }
    let too_wide = rendered.text.lines().enumerate().find(|(_, line)| {
        let width = textwrap::core::display_width(line);
        width > MAX_TEXT_COLUMNS && !is_lone_url(line)
    });
    if let Some((index, line)) = too_wide {
        lints.push(Lint {
            rule: "text-width",
            location: None,
            message: format!(
                "line {} of the text part is {} columns (at most {MAX_TEXT_COLUMNS}, wrapping is at {TEXT_WIDTH}): \"{line}\"",
                index + 1,
                textwrap::core::display_width(line)
            ),
        });
    }
    for url in html_links(&rendered.html) {
        let wanted = url.strip_prefix("mailto:").map_or(url.as_str(), |address| {
            address.split('?').next().unwrap_or(address)
        });
        if !rendered.text.contains(wanted) {
            lints.push(Lint {
                rule: "text-links",
                location: None,
                message: format!(
                    "the HTML part links to `{url}`, which the text part does not show"
                ),
            });
        }
    }
    lints
}

fn is_lone_url(line: &str) -> bool {
    let line = line.trim();
    let line = line
        .split_once("] ")
        .filter(|(number, _)| number.starts_with('['))
        .map_or(line, |(_, rest)| rest);
    !line.contains(' ') && (line.starts_with("https://") || line.starts_with("http://"))
}

/// The targets of the `href` attributes of an HTML document, decoded.
fn html_links(html: &str) -> BTreeSet<String> {
    let mut links = BTreeSet::new();
    let mut rest = html;
    while let Some(start) = rest.find("href=\"") {
        rest = &rest[start + 6..];
        let Some(end) = rest.find('"') else { break };
        let url = rest[..end]
            .replace("&#38;", "&")
            .replace("&amp;", "&")
            .replace("&#39;", "'");
        if !url.is_empty() && !url.starts_with('#') {
            links.insert(url);
        }
        rest = &rest[end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markdown_lints(markdown: &str) -> Vec<&'static str> {
        let mut lints = Vec::new();
        lint_markdown(markdown, "stories[0].body", None, &mut lints);
        lints.iter().map(|lint| lint.rule).collect()
    }

    #[test]
    fn markdown_rules_fire() {
        assert_eq!(
            markdown_lints("![](https://example.org/a.png)"),
            ["image-alt"]
        );
        assert_eq!(
            markdown_lints("[GOV.UK](http://www.gov.uk)"),
            ["link-https"]
        );
        assert_eq!(
            markdown_lints("[Click here](https://www.gov.uk)."),
            ["link-text"]
        );
        assert_eq!(markdown_lints("[GOV.UK]()"), ["link-empty"]);
        assert_eq!(markdown_lints("[run](javascript:alert(1))"), ["link-https"]);
        assert!(markdown_lints("[write](mailto:team@example.org)").is_empty());
        assert!(markdown_lints("[the GDS blog](https://gds.blog.gov.uk/)").is_empty());
    }

    #[test]
    fn parts_rules_fire() {
        let rendered = Rendered {
            html: format!(
                "<a href=\"https://example.org/a?x=1&#38;y=2\">a</a><a href=\"mailto:t@example.org?subject=x\">t</a>{}",
                "x".repeat(MAX_HTML_BYTES)
            ),
            text: format!(
                "{}\n[1] https://example.org/{}\n",
                "w ".repeat(45),
                "long/".repeat(30)
            ),
        };
        let rules: Vec<&str> = lint_parts(&rendered).iter().map(|lint| lint.rule).collect();
        assert_eq!(
            rules,
            ["html-size", "text-width", "text-links", "text-links"]
        );

        let fine = Rendered {
            html: "<a href=\"https://example.org/a?x=1&#38;y=2\">a</a>".into(),
            text: "see https://example.org/a?x=1&y=2\n".into(),
        };
        assert!(lint_parts(&fine).is_empty());
    }
}
