//! Renders an issue with the Askama templates in `templates/` into the HTML and text parts of
//! each subscriber's email.
//!
//! The templates are rendered once per issue, with markers in the places that differ per
//! subscriber (greeting, address, unsubscribe URL); the CSS of the HTML template is inlined
//! into its elements at that point, once. Each subscriber's parts are then made by filling the
//! markers, HTML-escaping the values for the HTML part. This keeps per-subscriber work to a few
//! string copies, whatever the templates do.

use std::fmt::Write as _;

use askama::{Template, filters::Escaper as _};

use crate::{
    compose::markdown::{self, LinkList, TEXT_WIDTH},
    compose::unsubscribe::TokenKey,
    error::Error,
    input::issue::{Issue, MAX_WIDTH},
    input::list::UrlTemplate,
    input::placeholders::MergeText,
    input::subscribers::Subscriber,
};

/// What the templates show that is the same for every subscriber.
#[derive(Debug)]
pub(crate) struct IssueView {
    pub(crate) lang: String,
    pub(crate) number: u32,
    /// Where the web version of this issue is published, if the list says.
    pub(crate) web_url: Option<String>,
    pub(crate) subject: String,
    pub(crate) preheader: String,
    pub(crate) preheader_spacer: &'static str,
    pub(crate) list_name: String,
    pub(crate) sender_name: String,
    pub(crate) issue_line: String,
    pub(crate) masthead_rule: String,
    pub(crate) footer_rule: String,
    pub(crate) intro_html: Option<String>,
    pub(crate) intro_text: Option<String>,
    pub(crate) stories: Vec<StoryView>,
    pub(crate) contact: Option<ContactView>,
    pub(crate) footer_html: Option<String>,
    pub(crate) footer_text: Option<String>,
    pub(crate) unsubscribe_mailto: Option<String>,
    pub(crate) postal_address: Option<String>,
    /// The sender's name and, on the next line, their postal address wrapped for the text part.
    pub(crate) postal_text: Option<String>,
}

#[derive(Debug)]
pub(crate) struct StoryView {
    pub(crate) title: String,
    /// The title, wrapped and underlined, for the text part.
    pub(crate) title_block: String,
    pub(crate) html: String,
    /// The body as text, followed by the links it introduced.
    pub(crate) text: String,
    pub(crate) link: Option<LinkView>,
    pub(crate) image: Option<ImageView>,
}

#[derive(Debug)]
pub(crate) struct LinkView {
    pub(crate) url: String,
    pub(crate) label: String,
    /// The label (wrapped) and the URL on its own line, for the text part.
    pub(crate) text: String,
}

#[derive(Debug)]
pub(crate) struct ImageView {
    pub(crate) src: String,
    pub(crate) alt: String,
    pub(crate) width: u32,
}

#[derive(Debug)]
pub(crate) struct ContactView {
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) role: Option<String>,
    /// The contact line, wrapped, for the text part.
    pub(crate) text: String,
}

/// The values a template shows for the per-subscriber parts: markers when rendering once per
/// issue.
#[derive(Debug)]
pub(crate) struct Slots {
    pub(crate) greeting: String,
    pub(crate) email: String,
    pub(crate) unsubscribe_url: String,
}

#[derive(Template)]
#[template(path = "issue.html")]
struct HtmlTemplate<'a> {
    view: &'a IssueView,
    slots: &'a Slots,
    /// The web version: no personal data, no unsubscribe link.
    web: bool,
}

#[derive(Template)]
#[template(path = "issue.txt")]
struct TextTemplate<'a> {
    view: &'a IssueView,
    slots: &'a Slots,
}

/// A place in a rendered template that is filled per subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Greeting,
    Email,
    UnsubscribeUrl,
}

const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';

impl Slot {
    const ALL: [Slot; 3] = [Slot::Greeting, Slot::Email, Slot::UnsubscribeUrl];

    fn code(self) -> char {
        match self {
            Slot::Greeting => 'g',
            Slot::Email => 'e',
            Slot::UnsubscribeUrl => 'u',
        }
    }

    fn marker(self) -> String {
        format!("{MARK_START}{}{MARK_END}", self.code())
    }
}

fn marker_slots() -> Slots {
    Slots {
        greeting: Slot::Greeting.marker(),
        email: Slot::Email.marker(),
        unsubscribe_url: Slot::UnsubscribeUrl.marker(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal {
        text: String,
        /// `text` with CRLF line ends, quoted-printable encoded once per issue.
        encoded: String,
    },
    Slot(Slot),
}

/// A soft line break of quoted-printable: removed when decoding.
const SOFT_BREAK: &str = "=\r\n";

/// A rendered template cut at its slots.
#[derive(Debug, Clone)]
struct Segments {
    parts: Vec<Segment>,
    text_len: usize,
    encoded_len: usize,
}

impl Segments {
    fn compile(rendered: &str) -> Segments {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = rendered;
        while let Some(start) = rest.find(MARK_START) {
            literal.push_str(&rest[..start]);
            let after = &rest[start + MARK_START.len_utf8()..];
            let slot = after.chars().next().and_then(|code| {
                Slot::ALL
                    .into_iter()
                    .find(|slot| slot.code() == code)
                    .filter(|_| after[code.len_utf8()..].starts_with(MARK_END))
            });
            if let Some(slot) = slot {
                parts.extend(Segment::literal(std::mem::take(&mut literal)));
                parts.push(Segment::Slot(slot));
                rest = &after[1 + MARK_END.len_utf8()..];
            } else {
                // Input text cannot contain the marker characters (see `fields`), so this is
                // unreachable in practice; keep the character as text.
                literal.push(MARK_START);
                rest = after;
            }
        }
        literal.push_str(rest);
        parts.extend(Segment::literal(literal));
        let (text_len, encoded_len) =
            parts
                .iter()
                .fold((0, 0), |(text, encoded), part| match part {
                    Segment::Literal {
                        text: t,
                        encoded: e,
                    } => (text + t.len(), encoded + e.len()),
                    Segment::Slot(_) => (text, encoded),
                });
        Segments {
            parts,
            text_len,
            encoded_len,
        }
    }

    /// The template with `personal`'s values, as text (HTML-escaped values when `html`).
    fn fill(&self, personal: &Personal, html: bool) -> String {
        let mut out = String::with_capacity(self.text_len + 256);
        for part in &self.parts {
            match part {
                Segment::Literal { text, .. } => out.push_str(text),
                Segment::Slot(slot) => push_value(&mut out, personal.value(*slot, html), html),
            }
        }
        out
    }

    /// The same as [`Segments::fill`], quoted-printable encoded with CRLF line ends: the
    /// literal parts were encoded once per issue, so only the values are encoded here.
    fn fill_encoded(&self, personal: &Personal, html: bool) -> Vec<u8> {
        let mut out = String::with_capacity(self.encoded_len + 512);
        let mut value = String::new();
        for part in &self.parts {
            match part {
                Segment::Literal { encoded, .. } => join_encoded(&mut out, encoded),
                Segment::Slot(slot) => {
                    value.clear();
                    push_value(&mut value, personal.value(*slot, html), html);
                    join_encoded(&mut out, &encode_quoted_printable(&value));
                }
            }
        }
        out.into_bytes()
    }

    fn contains(&self, slot: Slot) -> bool {
        self.parts.contains(&Segment::Slot(slot))
    }
}

impl Segment {
    fn literal(text: String) -> Option<Segment> {
        (!text.is_empty()).then(|| Segment::Literal {
            encoded: encode_quoted_printable(&text),
            text,
        })
    }
}

fn push_value(out: &mut String, value: &str, html: bool) {
    if html {
        // Writing to a String cannot fail.
        let _ = askama::filters::Html.write_escaped_str(out, value);
    } else {
        out.push_str(value);
    }
}

/// Appends a quoted-printable `piece` (encoded on its own, from column 0) to `out`, with a
/// soft line break first when its first line would not fit on the current one. Quoted-printable
/// lines are at most 76 characters; soft breaks disappear when decoding.
fn join_encoded(out: &mut String, piece: &str) {
    const MAX_LINE: usize = 76;
    let column = out.len() - out.rfind('\n').map_or(0, |newline| newline + 1);
    let first_line = piece.find("\r\n").unwrap_or(piece.len());
    if column > 0 && column + first_line > MAX_LINE {
        out.push_str(SOFT_BREAK);
    }
    out.push_str(piece);
}

/// Quoted-printable (RFC 2045) of `text` with its line ends made CRLF.
fn encode_quoted_printable(text: &str) -> String {
    quoted_printable::encode_to_str(text.replace("\r\n", "\n").replace('\n', "\r\n"))
}

/// The per-subscriber values of one email.
#[derive(Debug, Clone)]
pub(crate) struct Personal {
    pub(crate) greeting: String,
    /// The greeting wrapped for the text part.
    pub(crate) greeting_text: String,
    pub(crate) email: String,
    pub(crate) unsubscribe_url: String,
}

impl Personal {
    fn value(&self, slot: Slot, html: bool) -> &str {
        match slot {
            Slot::Greeting if html => &self.greeting,
            Slot::Greeting => &self.greeting_text,
            Slot::Email => &self.email,
            Slot::UnsubscribeUrl => &self.unsubscribe_url,
        }
    }
}

/// The two parts of one subscriber's email, as text.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub html: String,
    pub text: String,
}

/// The two parts of one subscriber's email, quoted-printable encoded with CRLF line ends,
/// ready to be placed in a message.
#[derive(Debug, Clone)]
pub(crate) struct Encoded {
    pub(crate) html: Vec<u8>,
    pub(crate) text: Vec<u8>,
}

/// An issue rendered once, ready to be personalised for each subscriber.
#[derive(Debug)]
pub struct Prepared {
    pub subject: String,
    pub(crate) view: IssueView,
    /// The web version of the issue: the HTML part with the greeting for no one in particular,
    /// and no address or unsubscribe link.
    pub(crate) web_page: String,
    html: Segments,
    text: Segments,
    greeting: MergeText,
    greeting_fallback: String,
    unsubscribe_url: UrlTemplate,
    list_id: String,
    token_key: Option<TokenKey>,
}

/// Characters after the preheader that keep mail clients from filling the preview line with
/// the start of the body.
const PREHEADER_SPACER: &str = "&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;&#847;&zwnj;&nbsp;";

impl Prepared {
    /// Renders `issue` once. `token_key` signs unsubscribe URLs that use `{token}`.
    pub(crate) fn new(issue: &Issue, token_key: Option<TokenKey>) -> Result<Prepared, Error> {
        let list = &issue.list.file;
        if (list.unsubscribe.url.uses("token") || list.unsubscribe.url.uses("id"))
            && token_key.is_none()
        {
            return Err(Error::UnsubscribeKeyMissing {
                list: issue.list.path.clone(),
            });
        }
        let view = issue_view(issue);
        let slots = marker_slots();
        let html = HtmlTemplate {
            view: &view,
            slots: &slots,
            web: false,
        }
        .render()
        .map_err(|source| Error::TemplateRender {
            template: "issue.html",
            source,
        })?;
        let html = inline_css(&html)?;
        let web_page = HtmlTemplate {
            view: &view,
            slots: &Slots {
                greeting: issue.file.greeting_fallback.to_string(),
                email: String::new(),
                unsubscribe_url: String::new(),
            },
            web: true,
        }
        .render()
        .map_err(|source| Error::TemplateRender {
            template: "issue.html",
            source,
        })?;
        let web_page = inline_css(&web_page)?;
        let text = TextTemplate {
            view: &view,
            slots: &slots,
        }
        .render()
        .map_err(|source| Error::TemplateRender {
            template: "issue.txt",
            source,
        })?;
        let html = Segments::compile(&html);
        let text = Segments::compile(&(text.trim_end().to_owned() + "\n"));
        for slot in [Slot::Greeting, Slot::UnsubscribeUrl] {
            debug_assert!(
                html.contains(slot) && text.contains(slot),
                "{slot:?} missing"
            );
        }
        Ok(Prepared {
            subject: view.subject.clone(),
            view,
            web_page,
            html,
            text,
            greeting: issue.file.greeting.clone(),
            greeting_fallback: issue.file.greeting_fallback.to_string(),
            unsubscribe_url: list.unsubscribe.url.clone(),
            list_id: list.id.as_str().to_owned(),
            token_key,
        })
    }

    /// Whether unsubscribe tokens are made with a throwaway key (a preview without the key).
    pub(crate) fn uses_throwaway_key(&self) -> bool {
        (self.unsubscribe_url.uses("token") || self.unsubscribe_url.uses("id"))
            && self.token_key.as_ref().is_some_and(|k| k.throwaway)
    }

    /// The unsubscribe URL of `email`.
    pub(crate) fn unsubscribe_url(&self, email: &str) -> String {
        self.unsubscribe_url.fill(|name| match name {
            "email" => email.to_owned(),
            "list" => self.list_id.clone(),
            "token" => self
                .token_key
                .as_ref()
                .map(|key| key.token(&self.list_id, email))
                .unwrap_or_default(),
            "id" => self
                .token_key
                .as_ref()
                .map(|key| key.id(&self.list_id, email))
                .unwrap_or_default(),
            _ => String::new(),
        })
    }

    /// The per-subscriber values for `subscriber`.
    pub(crate) fn personalise(&self, subscriber: &Subscriber) -> Personal {
        let greeting = self
            .greeting
            .fill(|field| subscriber.field(field))
            .unwrap_or_else(|| self.greeting_fallback.clone());
        let greeting_text = if greeting.chars().count() > TEXT_WIDTH {
            textwrap::fill(&greeting, TEXT_WIDTH)
        } else {
            greeting.clone()
        };
        let email = subscriber.email.to_string();
        Personal {
            greeting,
            greeting_text,
            unsubscribe_url: self.unsubscribe_url(&email),
            email,
        }
    }

    /// The HTML and text parts for one subscriber.
    pub(crate) fn render(&self, personal: &Personal) -> Rendered {
        Rendered {
            html: self.html.fill(personal, true),
            text: self.text.fill(personal, false),
        }
    }

    /// The HTML and text parts for one subscriber, encoded for the message.
    pub(crate) fn encode(&self, personal: &Personal) -> Encoded {
        Encoded {
            html: self.html.fill_encoded(personal, true),
            text: self.text.fill_encoded(personal, false),
        }
    }
}

fn inline_css(html: &str) -> Result<String, Error> {
    const CHARSET: &str = "<meta charset=\"utf-8\">";
    let inlined = css_inline::CSSInliner::options()
        .keep_style_tags(false)
        .keep_at_rules(true)
        .load_remote_stylesheets(false)
        .build()
        .inline(html)
        .map_err(|source| Error::CssInline { source })?;
    // The inliner puts the kept @media rules first in <head>; browsers look for the charset in
    // the first 1024 bytes, so it goes back to the top.
    Ok(match (inlined.find("<head>"), inlined.find(CHARSET)) {
        (Some(head), Some(charset)) if charset > head => {
            let mut moved = inlined.clone();
            moved.replace_range(charset..charset + CHARSET.len(), "");
            moved.insert_str(head + "<head>".len(), CHARSET);
            moved
        }
        _ => inlined,
    })
}

/// Renders `markdown` to text and appends the links it introduced, numbered.
fn text_with_links(markdown: &str, links: &mut LinkList) -> String {
    let known = links.len();
    let mut text = markdown::to_text(markdown, links);
    let mut new_links = links.iter().skip(known).peekable();
    if new_links.peek().is_some() {
        text.push('\n');
        for (number, url) in new_links {
            let _ = write!(text, "\n[{number}] {url}");
        }
    }
    text
}

/// The title wrapped at the text width and underlined.
fn title_block(title: &str, rule: char) -> String {
    let lines = textwrap::wrap(title, TEXT_WIDTH);
    let width = lines
        .iter()
        .map(|line| textwrap::core::display_width(line))
        .max()
        .unwrap_or(0);
    let mut block = lines.join("\n");
    block.push('\n');
    block.extend(std::iter::repeat_n(rule, width));
    block
}

fn issue_view(issue: &Issue) -> IssueView {
    let file = &issue.file;
    let list = &issue.list.file;
    let mut links = LinkList::default();
    let intro_text = file
        .intro
        .as_ref()
        .map(|intro| text_with_links(intro.as_str(), &mut links));
    let stories = file
        .stories
        .iter()
        .map(|story| StoryView {
            title: story.title.to_string(),
            title_block: title_block(story.title.as_str(), '='),
            html: markdown::to_html(story.body.as_str()),
            text: text_with_links(story.body.as_str(), &mut links),
            link: story.link.as_ref().map(|link| LinkView {
                url: link.url.to_string(),
                label: link.label.to_string(),
                text: format!(
                    "{}:\n{}",
                    textwrap::fill(link.label.as_str(), TEXT_WIDTH),
                    link.url
                ),
            }),
            image: story.image.as_ref().map(|image| ImageView {
                src: image.src.to_string(),
                alt: image.alt.to_string(),
                width: image
                    .width
                    .map_or(MAX_WIDTH - 80, |w| w.0.min(MAX_WIDTH - 80)),
            }),
        })
        .collect();
    let footer_text = file
        .footer
        .as_ref()
        .map(|footer| text_with_links(footer.as_str(), &mut links));
    IssueView {
        lang: list.language.as_str().to_owned(),
        number: file.number,
        web_url: list.web_url.as_ref().map(|url| url.fill(&issue.slug())),
        subject: file.subject.to_string(),
        preheader: file
            .preheader
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        preheader_spacer: PREHEADER_SPACER,
        list_name: list.name.to_string(),
        sender_name: list.from.name.to_string(),
        issue_line: format!("Issue {} · {}", file.number, file.date.long()),
        masthead_rule: "=".repeat(TEXT_WIDTH),
        footer_rule: "-".repeat(TEXT_WIDTH),
        intro_html: file
            .intro
            .as_ref()
            .map(|intro| markdown::to_html(intro.as_str())),
        intro_text,
        stories,
        contact: file.contact.as_ref().map(|contact| ContactView {
            name: contact.name.to_string(),
            email: contact.email.to_string(),
            role: contact.role.as_ref().map(ToString::to_string),
            text: textwrap::fill(
                &match &contact.role {
                    Some(role) => {
                        format!("Contact at {role}: {} <{}>", contact.name, contact.email)
                    }
                    None => format!("Contact: {} <{}>", contact.name, contact.email),
                },
                TEXT_WIDTH,
            ),
        }),
        footer_html: file
            .footer
            .as_ref()
            .map(|footer| markdown::to_html(footer.as_str())),
        footer_text,
        unsubscribe_mailto: list.unsubscribe.mailto.as_ref().map(ToString::to_string),
        postal_address: list.postal_address.as_ref().map(ToString::to_string),
        postal_text: list
            .postal_address
            .as_ref()
            .map(|address| textwrap::fill(&format!("{}\n{address}", list.from.name), TEXT_WIDTH)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn personal(greeting: &str) -> Personal {
        Personal {
            greeting: greeting.into(),
            greeting_text: greeting.into(),
            email: "a&b@example.org".into(),
            unsubscribe_url: "https://example.org/u?a=1&b=2".into(),
        }
    }

    #[test]
    fn segments_fill_slots_and_escape_for_html() {
        let template = format!(
            "<p>{}</p><a href=\"{}\">x</a>",
            Slot::Greeting.marker(),
            Slot::UnsubscribeUrl.marker()
        );
        let segments = Segments::compile(&template);
        assert_eq!(segments.parts.len(), 5);
        let filled = segments.fill(&personal("Dear <b>Eve</b>,"), true);
        assert_eq!(
            filled,
            "<p>Dear &#60;b&#62;Eve&#60;/b&#62;,</p><a href=\"https://example.org/u?a=1&#38;b=2\">x</a>"
        );
        let text = segments.fill(&personal("Dear <b>Eve</b>,"), false);
        assert!(text.contains("Dear <b>Eve</b>,"));
    }

    #[test]
    fn encoded_fill_decodes_to_the_plain_fill() {
        let long_line = "é".repeat(60);
        let template = format!(
            "Dear {},\n\n{long_line} = 3 \nlink: {}\nend",
            Slot::Greeting.marker(),
            Slot::UnsubscribeUrl.marker()
        );
        let segments = Segments::compile(&template);
        for html in [false, true] {
            let person = personal(&format!("Zoë {} <b>", "long name ".repeat(12)));
            let plain = segments.fill(&person, html).replace('\n', "\r\n");
            let encoded = segments.fill_encoded(&person, html);
            let text = String::from_utf8(encoded.clone()).unwrap();
            assert!(text.is_ascii());
            assert!(text.lines().all(|line| line.len() <= 76), "{text}");
            let decoded =
                quoted_printable::decode(&encoded, quoted_printable::ParseMode::Strict).unwrap();
            assert_eq!(String::from_utf8(decoded).unwrap(), plain);
        }
    }

    #[test]
    fn title_block_is_underlined_to_its_width() {
        assert_eq!(
            title_block("MoU and beyond", '='),
            "MoU and beyond\n=============="
        );
    }
}
