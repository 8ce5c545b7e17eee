//! Renders an issue with the Askama templates in `templates/` into the HTML and text parts of
//! each subscriber's email.
//!
//! The templates are rendered once per issue, with markers in the places that differ per
//! subscriber (greeting, address, unsubscribe URL, and every `{column}` placeholder of the
//! issue's texts); the CSS of the HTML template is inlined into its elements at that point,
//! once. Each subscriber's parts are then made by filling the markers, HTML-escaping the values
//! for the HTML part and percent-encoding those that sit in a URL. This keeps per-subscriber
//! work to a few string copies, whatever the templates do.
//!
//! A placeholder becomes a marker before its text is rendered as Markdown or wrapped, so the
//! value is never read as Markdown; a value in a link target is found by the percent-encoded
//! form of its marker that the Markdown renderer writes there.

use std::fmt::Write as _;

use askama::{Template, filters::Escaper as _};

use crate::{
    compose::markdown::{self, LinkList, TEXT_WIDTH},
    compose::unsubscribe::TokenKey,
    error::Error,
    input::brand::{self, Brand},
    input::images::{ImageFile, ImageSource},
    input::issue::{CONTENT_WIDTH, Image, Issue, Story},
    input::list::UrlTemplate,
    input::placeholders::{self, MergeText, Piece},
    input::subscribers::Subscriber,
};

/// What the templates show that is the same for every subscriber.
#[derive(Debug)]
pub(crate) struct IssueView {
    pub(crate) lang: String,
    pub(crate) number: u32,
    /// Where the web version of this issue is published, if the list says.
    pub(crate) web_url: Option<String>,
    /// Where readers of the web version can subscribe, if the list says.
    pub(crate) subscribe_url: Option<String>,
    pub(crate) subject: String,
    pub(crate) preheader: String,
    pub(crate) preheader_spacer: &'static str,
    pub(crate) list_name: String,
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
    /// The sender's name and postal address as HTML that wraps only between its parts (see
    /// [`postal_html`]).
    pub(crate) postal_html: Option<String>,
    /// The sender's name and, on the next line, their postal address wrapped for the text part.
    pub(crate) postal_text: Option<String>,
    pub(crate) brand: BrandView,
}

/// The list's brand, or the template's own look where it gives none.
#[derive(Debug)]
pub(crate) struct BrandView {
    pub(crate) masthead: String,
    /// The masthead in dark mode: the brand's colour (a logo is drawn for it), or the
    /// template's darker navy.
    pub(crate) masthead_dark: String,
    pub(crate) accent: String,
    pub(crate) links: String,
    /// A validated font stack (see [`crate::input::brand::FontStack`]), written into CSS as is.
    pub(crate) font: String,
    pub(crate) logo: Option<ImageView>,
}

impl BrandView {
    fn of(brand: &Brand, issue: &Issue) -> BrandView {
        let colours = &brand.colours;
        BrandView {
            masthead: colours
                .masthead
                .unwrap_or(brand::DEFAULT_MASTHEAD)
                .to_string(),
            masthead_dark: colours
                .masthead
                .map_or_else(|| "#071a33".to_owned(), |colour| colour.to_string()),
            accent: colours.accent.unwrap_or(brand::DEFAULT_ACCENT).to_string(),
            links: colours.links.unwrap_or(brand::DEFAULT_LINKS).to_string(),
            font: brand
                .font
                .as_ref()
                .map_or(brand::DEFAULT_FONT, |font| font.as_str())
                .to_owned(),
            logo: brand.logo.as_ref().map(|logo| {
                let file = match &logo.src {
                    ImageSource::File(_) => issue.images.logo(),
                    ImageSource::Web(_) => None,
                };
                ImageView {
                    src: file.map_or_else(|| logo.src.to_string(), |file| image_src(issue, file)),
                    alt: logo.alt.to_string(),
                    width: logo.width.0,
                    height: file.map(|file| file.height_at(logo.width.0)),
                    link: None,
                }
            }),
        }
    }
}

#[derive(Debug)]
pub(crate) struct StoryView {
    /// The title as plain text (its inline Markdown read).
    pub(crate) title: String,
    /// The title as HTML, with its `*emphasis*`, `**strong**` and `` `code` ``.
    pub(crate) title_html: String,
    /// The title, wrapped and underlined, for the text part.
    pub(crate) title_block: String,
    pub(crate) html: String,
    /// The body as text, followed by the links it introduced.
    pub(crate) text: String,
    pub(crate) link: Option<LinkView>,
    pub(crate) image: Option<ImageView>,
    /// For the text part, an image that is a link: its alt text and, below, its target.
    pub(crate) image_text: Option<String>,
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
    /// Known for image files (from their header): keeps the space for the image while it
    /// loads, and tells Outlook its shape.
    pub(crate) height: Option<u32>,
    /// Where a click on the image goes.
    pub(crate) link: Option<String>,
}

/// How the email refers to an image file: by the `Content-ID` of the part that carries it
/// (on the `Message-ID` domain, the sender's), or at the list's `assets_url`.
pub(crate) fn image_src(issue: &Issue, file: &ImageFile) -> String {
    match &issue.list.file.assets_url {
        Some(assets) => assets.join(&file.file_name()),
        None => format!("cid:{}", file.content_id(issue.list.message_id_domain())),
    }
}

#[derive(Debug)]
pub(crate) struct ContactView {
    /// The name and the role as HTML that does not break inside them (see [`unbroken_html`]).
    pub(crate) name_html: String,
    pub(crate) email: String,
    pub(crate) role_html: Option<String>,
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
    /// The placeholder `index` of [`Prepared::fields`]; `url` when it sits in a URL, where its
    /// value is percent-encoded.
    Field {
        index: usize,
        url: bool,
    },
}

const MARK_START: char = '\u{E000}';
const MARK_END: char = '\u{E001}';
/// Stands in for the width of a placeholder's value while the text part is wrapped (see
/// [`Fields::mark_wrapped`]); removed from the rendered template.
const FILLER: char = '\u{E002}';
/// The width a value is assumed to have when wrapping, unless its default is wider.
const ASSUMED_VALUE_WIDTH: usize = 10;

/// The codes of a field marker, as text and in a URL.
const FIELD_CODE: char = 'f';
const FIELD_URL_CODE: char = 'p';

impl Slot {
    fn marker(self) -> String {
        match self {
            Slot::Greeting => format!("{MARK_START}g{MARK_END}"),
            Slot::Email => format!("{MARK_START}e{MARK_END}"),
            Slot::UnsubscribeUrl => format!("{MARK_START}u{MARK_END}"),
            Slot::Field { index, url } => {
                let code = if url { FIELD_URL_CODE } else { FIELD_CODE };
                format!("{MARK_START}{code}{index}{MARK_END}")
            }
        }
    }

    /// The slot whose marker starts `text` (just after [`MARK_START`]), and the length of the
    /// rest of its marker.
    fn parse(text: &str) -> Option<(Slot, usize)> {
        let end = text.find(MARK_END)?;
        let inner = &text[..end];
        let slot = match inner {
            "g" => Slot::Greeting,
            "e" => Slot::Email,
            "u" => Slot::UnsubscribeUrl,
            _ => {
                let url = match inner.chars().next()? {
                    FIELD_CODE => false,
                    FIELD_URL_CODE => true,
                    _ => return None,
                };
                let digits = &inner[1..];
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Slot::Field {
                    index: digits.parse().ok()?,
                    url,
                }
            }
        };
        Some((slot, end + MARK_END.len_utf8()))
    }
}

/// A placeholder of the issue's texts, filled per subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    default: Option<String>,
}

/// The placeholders of an issue, each once, numbered by their markers.
#[derive(Debug, Default)]
struct Fields(Vec<Field>);

impl Fields {
    /// `text` with each placeholder replaced by its marker (a URL marker when `url`). A text
    /// that does not scan (refused when the issue was loaded) is kept as it is.
    fn mark(&mut self, text: &str, url: bool) -> String {
        let Ok(pieces) = placeholders::scan(text) else {
            return text.to_owned();
        };
        let mut marked = String::with_capacity(text.len());
        for piece in pieces {
            match piece {
                Piece::Literal(literal) => marked.push_str(&literal),
                Piece::Placeholder(placeholder) => {
                    let field = Field {
                        name: placeholder.name,
                        default: placeholder.default,
                    };
                    let index = self
                        .0
                        .iter()
                        .position(|known| *known == field)
                        .unwrap_or_else(|| {
                            self.0.push(field);
                            self.0.len() - 1
                        });
                    marked.push_str(&Slot::Field { index, url }.marker());
                }
            }
        }
        marked
    }

    /// [`Fields::mark`] for text that is wrapped: each marker is followed by fillers, so the
    /// wrapping leaves room for a value of about [`ASSUMED_VALUE_WIDTH`] columns (or the
    /// default's width) rather than the marker's few.
    fn mark_wrapped(&mut self, text: &str) -> String {
        let marked = self.mark(text, false);
        let mut padded = String::with_capacity(marked.len() * 2);
        let mut rest = marked.as_str();
        while let Some(start) = rest.find(MARK_START) {
            let Some(end) = rest[start..].find(MARK_END).map(|end| start + end) else {
                break;
            };
            padded.push_str(&rest[..end + MARK_END.len_utf8()]);
            let index = rest[start + MARK_START.len_utf8() + 1..end]
                .parse::<usize>()
                .ok();
            let default_width = index
                .and_then(|index| self.0.get(index))
                .and_then(|field| field.default.as_deref())
                .map_or(0, textwrap::core::display_width);
            let marker_width =
                textwrap::core::display_width(&rest[start..end + MARK_END.len_utf8()]);
            let width = ASSUMED_VALUE_WIDTH.max(default_width);
            padded.extend(std::iter::repeat_n(
                FILLER,
                width.saturating_sub(marker_width),
            ));
            rest = &rest[end + MARK_END.len_utf8()..];
        }
        padded.push_str(rest);
        padded
    }

    /// Markdown rendered as HTML, with its placeholders marked; those in link and image
    /// targets (which the renderer percent-encodes) become URL markers. Images from files
    /// are shown as `issue` refers to them.
    fn markdown_html(&mut self, markdown: &str, issue: &Issue) -> String {
        let html = markdown::to_html_with_images(&self.mark(markdown, false), &|target| {
            issue.images.in_issue(target).map(|file| {
                let width = file.width.min(CONTENT_WIDTH);
                (image_src(issue, file), width, file.height_at(width))
            })
        });
        if html.contains("%EE%80%80") {
            html.replace(
                &format!("%EE%80%80{FIELD_CODE}"),
                &format!("{MARK_START}{FIELD_URL_CODE}"),
            )
            .replace("%EE%80%81", &MARK_END.to_string())
        } else {
            html
        }
    }
}

/// Text field markers in `url` made URL markers.
fn url_markers(url: &str) -> String {
    url.replace(
        &format!("{MARK_START}{FIELD_CODE}"),
        &format!("{MARK_START}{FIELD_URL_CODE}"),
    )
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
        let unpadded;
        let rendered = if rendered.contains(FILLER) {
            unpadded = rendered.replace(FILLER, "");
            unpadded.as_str()
        } else {
            rendered
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = rendered;
        while let Some(start) = rest.find(MARK_START) {
            literal.push_str(&rest[..start]);
            let after = &rest[start + MARK_START.len_utf8()..];
            if let Some((slot, length)) = Slot::parse(after) {
                parts.extend(Segment::literal(std::mem::take(&mut literal)));
                parts.push(Segment::Slot(slot));
                rest = &after[length..];
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
                Segment::Slot(slot) => push_slot(&mut out, personal, *slot, html),
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
                    push_slot(&mut value, personal, *slot, html);
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

/// Appends the value of `slot`: percent-encoded in a URL, then HTML-escaped in the HTML part.
fn push_slot(out: &mut String, personal: &Personal, slot: Slot, html: bool) {
    match slot {
        Slot::Field { url: true, .. } => {
            let mut encoded = String::new();
            placeholders::percent_encode(personal.value(slot, html), &mut encoded);
            push_value(out, &encoded, html);
        }
        _ => push_value(out, personal.value(slot, html), html),
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
    /// The value of each placeholder of the issue (see [`Fields`]), as one line.
    fields: Vec<String>,
    /// The subject with its placeholders filled.
    pub(crate) subject: String,
}

impl Personal {
    fn value(&self, slot: Slot, html: bool) -> &str {
        match slot {
            Slot::Greeting if html => &self.greeting,
            Slot::Greeting => &self.greeting_text,
            Slot::Email => &self.email,
            Slot::UnsubscribeUrl => &self.unsubscribe_url,
            Slot::Field { index, .. } => self.fields.get(index).map_or("", String::as_str),
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
    /// The subject, with markers for its placeholders.
    subject: Segments,
    pub(crate) view: IssueView,
    /// The web version of the issue: the HTML part with the greeting for no one in particular,
    /// and no address or unsubscribe link.
    pub(crate) web_page: String,
    html: Segments,
    text: Segments,
    greeting: MergeText,
    greeting_fallback: String,
    /// The placeholders of the issue's texts, numbered by their markers.
    fields: Vec<Field>,
    unsubscribe_url: UrlTemplate,
    list_id: String,
    token_key: Option<TokenKey>,
    /// Each image file's `src` in the email, with the name it is stored under as a file.
    image_names: Vec<(String, String)>,
}

/// `html` with each image file's `src` (of `names`) made the file's name, after `folder`.
fn with_local_images(html: &str, names: &[(String, String)], folder: &str) -> String {
    let mut html = html.to_owned();
    for (src, name) in names {
        html = html.replace(&format!("\"{src}\""), &format!("\"{folder}{name}\""));
    }
    html
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
        let mut fields = Fields::default();
        let view = issue_view(issue, &mut fields);
        let fields = fields.0;
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
            slots: &slots,
            web: true,
        }
        .render()
        .map_err(|source| Error::TemplateRender {
            template: "issue.html",
            source,
        })?;
        // The web page is for no one in particular: placeholders show their defaults.
        let anonymous = Personal {
            greeting: issue.file.greeting_fallback.to_string(),
            greeting_text: String::new(),
            email: String::new(),
            unsubscribe_url: String::new(),
            fields: fields
                .iter()
                .map(|field| field.default.clone().unwrap_or_default())
                .collect(),
            subject: String::new(),
        };
        let image_names: Vec<(String, String)> = issue
            .images
            .files()
            .iter()
            .map(|file| (image_src(issue, file), file.file_name()))
            .collect();
        let mut web_page = Segments::compile(&inline_css(&web_page)?).fill(&anonymous, true);
        if list.assets_url.is_none() {
            // A web page cannot show a message's parts: it shows the files beside it.
            web_page = with_local_images(&web_page, &image_names, "");
        }
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
            subject: Segments::compile(&view.subject),
            view,
            web_page,
            html,
            text,
            greeting: issue.greeting(),
            greeting_fallback: issue.file.greeting_fallback.to_string(),
            fields,
            unsubscribe_url: list.unsubscribe.url.clone(),
            list_id: list.id.as_str().to_owned(),
            token_key,
            image_names,
        })
    }

    /// `html` (a subscriber's HTML part) showing the image files from a folder of them,
    /// `folder` (empty or ending in `/`) beside it, for a preview in a browser.
    pub(crate) fn with_local_images(&self, html: &str, folder: &str) -> String {
        with_local_images(html, &self.image_names, folder)
    }

    /// The web version showing the image files from `folder` (ending in `/`), wherever the
    /// published page takes them from.
    pub(crate) fn web_page_with_local_images(&self, folder: &str) -> String {
        let mut html = with_local_images(&self.web_page, &self.image_names, folder);
        for (_, name) in &self.image_names {
            html = html.replace(&format!("\"{name}\""), &format!("\"{folder}{name}\""));
        }
        html
    }

    /// Whether the HTML part says `text` (in what is the same for everyone).
    pub(crate) fn html_mentions(&self, text: &str) -> bool {
        self.html.parts.iter().any(|part| match part {
            Segment::Literal { text: literal, .. } => literal.contains(text),
            Segment::Slot(_) => false,
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
        let fields = self
            .fields
            .iter()
            .map(|field| {
                subscriber
                    .field(&field.name)
                    .and_then(placeholders::one_line)
                    .or_else(|| field.default.clone())
                    .unwrap_or_default()
            })
            .collect();
        let mut personal = Personal {
            greeting,
            greeting_text,
            unsubscribe_url: self.unsubscribe_url(&email),
            email,
            fields,
            subject: String::new(),
        };
        personal.subject = self.subject.fill(&personal, false);
        personal
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

/// The longest part of an address (between commas) kept on one line: a longer one may wrap
/// inside, or it would run off a phone's screen.
const UNBROKEN_PART_CHARS: usize = 32;

/// `name, address` as HTML that breaks lines after its commas, not inside a part: "100
/// Tanglin Road" or "Singapore 247919" stays whole on a narrow screen (non-breaking spaces),
/// unless it is longer than [`UNBROKEN_PART_CHARS`].
fn postal_html(name: &str, address: &str) -> String {
    std::iter::once(name)
        .chain(address.split(','))
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(unbroken_html)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `text` HTML-escaped, its spaces non-breaking when it is at most [`UNBROKEN_PART_CHARS`]
/// long: a name ("Zhen Hanbin") or a part of an address ("100 Tanglin Road") that should not
/// be split over two lines on a phone.
fn unbroken_html(text: &str) -> String {
    let mut escaped = String::new();
    // Writing to a String cannot fail.
    let _ = askama::filters::Html.write_escaped_str(&mut escaped, text);
    if text.chars().count() <= UNBROKEN_PART_CHARS {
        escaped.replace(' ', "&nbsp;")
    } else {
        escaped
    }
}

/// Renders `markdown` to text and appends the links it introduced, numbered.
fn text_with_links(markdown: &str, links: &mut LinkList) -> String {
    let known = links.len();
    let mut text = markdown::to_text(markdown, links);
    let mut new_links = links.iter().skip(known).peekable();
    if new_links.peek().is_some() {
        text.push('\n');
        for (number, url) in new_links {
            let _ = write!(text, "\n[{number}] {}", url_markers(url));
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

/// The view of `story`; the links of its text part are numbered in `links`.
fn story_view(
    story: &Story,
    issue: &Issue,
    fields: &mut Fields,
    links: &mut LinkList,
) -> StoryView {
    let title = markdown::inline(&fields.mark(story.title.as_str(), false));
    StoryView {
        title_block: title_block(
            &markdown::inline(&fields.mark_wrapped(story.title.as_str())).text,
            '=',
        ),
        title: title.text,
        title_html: title.html,
        html: fields.markdown_html(story.body.as_str(), issue),
        text: text_with_links(&fields.mark_wrapped(story.body.as_str()), links),
        link: story.link.as_ref().map(|link| {
            let url = fields.mark(link.url.as_str(), true);
            let label = fields.mark(link.label.as_str(), false);
            let wrapped = fields.mark_wrapped(link.label.as_str());
            LinkView {
                text: format!("{}:\n{url}", textwrap::fill(&wrapped, TEXT_WIDTH)),
                url,
                label,
            }
        }),
        image_text: story.image.as_ref().and_then(|image| {
            let url = fields.mark(image.link.as_ref()?.as_str(), true);
            let alt = fields.mark_wrapped(image.alt.as_str());
            Some(format!(
                "{}:\n{url}",
                textwrap::fill(&format!("[Image: {alt}]"), TEXT_WIDTH)
            ))
        }),
        image: story
            .image
            .as_ref()
            .map(|image| image_view(image, issue, fields)),
    }
}

/// The view of a story's image: a file is shown at its own width unless told otherwise; a web
/// image, whose size is unknown, fills the column; neither wider than the column.
fn image_view(image: &Image, issue: &Issue, fields: &mut Fields) -> ImageView {
    let file = match &image.src {
        ImageSource::File(written) => issue.images.in_issue(written),
        ImageSource::Web(_) => None,
    };
    let natural = file.map_or(CONTENT_WIDTH, |file| file.width);
    let width = image.width.map_or(natural, |w| w.0).min(CONTENT_WIDTH);
    ImageView {
        src: file.map_or_else(|| image.src.to_string(), |file| image_src(issue, file)),
        alt: fields.mark(image.alt.as_str(), false),
        width,
        height: file.map(|file| file.height_at(width)),
        link: image
            .link
            .as_ref()
            .map(|link| fields.mark(link.as_str(), true)),
    }
}

/// The view of `issue`, its placeholders replaced by the markers of `fields`.
fn issue_view(issue: &Issue, fields: &mut Fields) -> IssueView {
    let file = &issue.file;
    let list = &issue.list.file;
    let mut links = LinkList::default();
    let intro_text = file
        .intro
        .as_ref()
        .map(|intro| text_with_links(&fields.mark_wrapped(intro.as_str()), &mut links));
    let intro_html = file
        .intro
        .as_ref()
        .map(|intro| fields.markdown_html(intro.as_str(), issue));
    let stories = file
        .stories
        .iter()
        .map(|story| story_view(story, issue, fields, &mut links))
        .collect();
    let footer_text = file
        .footer
        .as_ref()
        .map(|footer| text_with_links(&fields.mark_wrapped(footer.as_str()), &mut links));
    let footer_html = file
        .footer
        .as_ref()
        .map(|footer| fields.markdown_html(footer.as_str(), issue));
    let contact = file.contact.as_ref().map(|contact| {
        let name = fields.mark(contact.name.as_str(), false);
        let role = contact
            .role
            .as_ref()
            .map(|role| fields.mark(role.as_str(), false));
        ContactView {
            text: textwrap::fill(
                &match &role {
                    Some(role) => format!("Contact at {role}: {name} <{}>", contact.email),
                    None => format!("Contact: {name} <{}>", contact.email),
                },
                TEXT_WIDTH,
            ),
            name_html: unbroken_html(&name),
            email: contact.email.to_string(),
            role_html: role.as_deref().map(unbroken_html),
        }
    });
    IssueView {
        lang: list.language.as_str().to_owned(),
        number: file.number,
        web_url: list.web_url.as_ref().map(|url| url.fill(&issue.slug())),
        subscribe_url: list.subscribe_url.as_ref().map(ToString::to_string),
        subject: fields.mark(file.subject.as_str(), false),
        preheader: file
            .preheader
            .as_ref()
            .map(|preheader| fields.mark(preheader.as_str(), false))
            .unwrap_or_default(),
        preheader_spacer: PREHEADER_SPACER,
        list_name: list.name.to_string(),
        issue_line: format!("Issue {} · {}", file.number, file.date.long()),
        masthead_rule: "=".repeat(TEXT_WIDTH),
        footer_rule: "-".repeat(TEXT_WIDTH),
        intro_html,
        intro_text,
        stories,
        contact,
        footer_html,
        footer_text,
        unsubscribe_mailto: list.unsubscribe.mailto.as_ref().map(ToString::to_string),
        postal_html: list
            .postal_address
            .as_ref()
            .map(|address| postal_html(list.from.name.as_str(), address.as_str())),
        postal_text: list
            .postal_address
            .as_ref()
            .map(|address| textwrap::fill(&format!("{}\n{address}", list.from.name), TEXT_WIDTH)),
        brand: BrandView::of(&list.brand, issue),
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
            fields: vec!["Ann & Bo".into()],
            subject: String::new(),
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
    fn wrapped_text_leaves_room_for_each_value() {
        let text = "Hi {team} and {x|a long default value here}.";
        let mut fields = Fields::default();
        let padded = fields.mark_wrapped(text);
        assert_eq!(padded.replace(FILLER, ""), fields.mark(text, false));
        let width = textwrap::core::display_width(&padded);
        let room = "Hi  and .".len() + ASSUMED_VALUE_WIDTH + "a long default value here".len();
        assert!(width >= room, "{width} < {room}");
        let segments = Segments::compile(&padded);
        assert!(!segments.fill(&personal("x"), false).contains(FILLER));
    }

    #[test]
    fn postal_addresses_break_between_parts_only() {
        assert_eq!(
            postal_html("SIN Singapore", "100 Tanglin Road, Singapore 247919"),
            "SIN&nbsp;Singapore, 100&nbsp;Tanglin&nbsp;Road, Singapore&nbsp;247919"
        );
        assert_eq!(
            postal_html("A & B", "The Very Long Name Of A Building Somewhere, X"),
            "A&nbsp;&#38;&nbsp;B, The Very Long Name Of A Building Somewhere, X"
        );
    }

    #[test]
    fn title_block_is_underlined_to_its_width() {
        assert_eq!(
            title_block("MoU and beyond", '='),
            "MoU and beyond\n=============="
        );
    }
}
