//! Markdown (story bodies, introduction, footer) to the HTML part and to the plain-text part.
//!
//! Both renderings come from the same pulldown-cmark events. The HTML is a fragment that the
//! HTML template places in a table cell; its elements get their styles from the template's CSS,
//! which [`crate::compose::render`] inlines. Raw HTML in Markdown is shown as text, not passed through,
//! so an issue cannot break the email layout. The text is wrapped at [`TEXT_WIDTH`] columns and
//! each link becomes a numbered reference, listed by the caller, so no link is lost.

use askama::filters::Escaper as _;
use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Parser, Tag, TagEnd};

use crate::input::values::MARKDOWN_OPTIONS;

/// The column at which the text part is wrapped.
pub(crate) const TEXT_WIDTH: usize = 76;

/// The Markdown parser with the options the email is rendered with; the linter parses with the
/// same, so it sees the same links and images.
pub(crate) fn parser(markdown: &str) -> Parser<'_> {
    Parser::new_ext(markdown, MARKDOWN_OPTIONS)
}

/// Whether a link target may be used in an email: web, mail and phone links only. Anything
/// else is left out of the email (and the linter says so).
pub(crate) fn is_safe_link(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    ["https://", "http://", "mailto:", "tel:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

/// Renders Markdown to an HTML fragment.
///
/// The fragment is balanced whatever the input: every element it opens closes inside it, so a
/// story can never leave a link or emphasis open over the rest of the email.
pub fn to_html(markdown: &str) -> String {
    to_html_with_images(markdown, &|_| None)
}

/// The `src`, width and height of the image file a Markdown image names, if it names one.
pub(crate) type ImageFiles<'a> = dyn Fn(&str) -> Option<(String, u32, u32)> + 'a;

/// [`to_html`], with the images whose target `files` knows shown from there, at the width and
/// height it says (Outlook ignores CSS `max-width`, so a large photo needs its width written).
pub(crate) fn to_html_with_images(markdown: &str, files: &ImageFiles<'_>) -> String {
    let mut sized: Vec<(String, u32, u32)> = Vec::new();
    // One entry per open link or image: whether its tags are written. Ends are matched to their
    // own start through this stack, never by counting, so dropping an image cannot swallow the
    // end of a link nested in its alt text (which would leave that `<a>` open).
    let mut open_targets: Vec<bool> = Vec::new();
    let events = parser(markdown).filter_map(|event| match event {
        // Raw HTML is shown as text so that it cannot break the layout.
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Some(Event::Start(Tag::Heading {
            level: body_heading(level),
            id,
            classes,
            attrs,
        })),
        Event::End(TagEnd::Heading(level)) => {
            Some(Event::End(TagEnd::Heading(body_heading(level))))
        }
        Event::Start(Tag::Image {
            link_type,
            ref dest_url,
            ref title,
            ref id,
        }) if open_targets.iter().all(|&kept| kept) && files(dest_url).is_some() => {
            let (src, width, height) = files(dest_url)?;
            sized.push((src.clone(), width, height));
            open_targets.push(true);
            Some(Event::Start(Tag::Image {
                link_type,
                dest_url: src.into(),
                title: title.clone(),
                id: id.clone(),
            }))
        }
        Event::Start(Tag::Link { ref dest_url, .. } | Tag::Image { ref dest_url, .. }) => {
            // Inside a dropped image everything is its alt text: no tag of it is written.
            let kept = is_safe_link(dest_url) && open_targets.iter().all(|&kept| kept);
            open_targets.push(kept);
            kept.then_some(event)
        }
        Event::End(TagEnd::Link | TagEnd::Image) => {
            open_targets.pop().unwrap_or(true).then_some(event)
        }
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 5 / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    // Each source once: the replacement below reaches every tag that shows it.
    sized.sort();
    sized.dedup();
    for (src, width, height) in sized {
        // The sources given are `cid:` URLs and assets URLs, which hold no character the
        // renderer escapes in an `href`.
        let tag = format!("<img src=\"{src}\"");
        html = html.replace(
            &tag,
            &format!("{tag} width=\"{width}\" height=\"{height}\" style=\"width: {width}px;\""),
        );
    }
    html
}

/// A one-line text (a story title) with its inline Markdown: `*emphasis*`, `**strong**`,
/// `` `code` `` and `~~strikethrough~~`, as HTML and as plain text. Anything else (a link, an
/// image, raw HTML) is shown as its text, and `other_markup` says it was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InlineText {
    pub(crate) html: String,
    pub(crate) text: String,
    pub(crate) other_markup: bool,
}

/// Characters that can start inline Markdown in a title; a title without them is plain text
/// and is shown exactly as written.
const INLINE_MARKUP: [char; 5] = ['*', '_', '`', '~', '['];

/// Renders `line` as [`InlineText`]. Only inline Markdown counts: a title that begins like a
/// heading, a list item or a quote (`# 1`, `2019. A year`, `- x`) keeps that beginning as text.
pub(crate) fn inline(line: &str) -> InlineText {
    let escape = |text: &str, out: &mut String| {
        // Writing to a String cannot fail.
        let _ = askama::filters::Html.write_escaped_str(out, text);
    };
    if !line.contains(INLINE_MARKUP) {
        let mut html = String::new();
        escape(line, &mut html);
        return InlineText {
            html,
            text: line.to_owned(),
            other_markup: false,
        };
    }
    let source = escape_block_start(line);
    let mut html = String::new();
    let mut text = String::new();
    let mut other_markup = false;
    let options = pulldown_cmark::Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(&source, options) {
        match event {
            Event::Text(value) => {
                escape(&value, &mut html);
                text.push_str(&value);
            }
            Event::Code(value) => {
                html.push_str("<code>");
                escape(&value, &mut html);
                html.push_str("</code>");
                text.push_str(&value);
            }
            Event::Html(value) | Event::InlineHtml(value) => {
                other_markup = true;
                escape(&value, &mut html);
                text.push_str(&value);
            }
            Event::SoftBreak | Event::HardBreak => {
                html.push(' ');
                text.push(' ');
            }
            Event::Start(Tag::Emphasis) => html.push_str("<em>"),
            Event::End(TagEnd::Emphasis) => html.push_str("</em>"),
            Event::Start(Tag::Strong) => html.push_str("<strong>"),
            Event::End(TagEnd::Strong) => html.push_str("</strong>"),
            Event::Start(Tag::Strikethrough) => html.push_str("<s>"),
            Event::End(TagEnd::Strikethrough) => html.push_str("</s>"),
            Event::Start(Tag::Paragraph) | Event::End(TagEnd::Paragraph) => {}
            _ => other_markup = true,
        }
    }
    InlineText {
        html,
        text,
        other_markup,
    }
}

/// `line` with a backslash before a beginning that Markdown reads as a block (a heading, a
/// quote, a list item, a rule), so that only its inline Markdown is read.
fn escape_block_start(line: &str) -> String {
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let after_digits = &line[digits..];
    if digits > 0 && (after_digits.starts_with(['.', ')'])) {
        return format!("{}\\{after_digits}", &line[..digits]);
    }
    if line.starts_with(['#', '>', '-', '+', '*', '=', '_', '|']) {
        return format!("\\{line}");
    }
    line.to_owned()
}

/// Headings inside a story sit below the story's own title.
fn body_heading(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 | HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

/// Numbered links of the text part, shared by all the Markdown blocks of one email so that
/// numbers run on from story to story.
#[derive(Debug, Default)]
pub struct LinkList {
    links: Vec<String>,
}

impl LinkList {
    /// The number of `url`, adding it if it is new.
    fn number(&mut self, url: &str) -> usize {
        if let Some(index) = self.links.iter().position(|known| known == url) {
            index + 1
        } else {
            self.links.push(url.to_owned());
            self.links.len()
        }
    }

    /// All links, numbered.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &str)> {
        self.links
            .iter()
            .enumerate()
            .map(|(index, url)| (index + 1, url.as_str()))
    }

    pub(crate) fn len(&self) -> usize {
        self.links.len()
    }
}

/// A block being filled with inline text, with the prefixes of its first and later lines.
struct Block {
    text: String,
    first_prefix: String,
    rest_prefix: String,
}

/// Renders Markdown to wrapped plain text. Link targets are numbered in `links` and shown as
/// `[n]` after the link text; the caller lists them.
pub fn to_text(markdown: &str, links: &mut LinkList) -> String {
    TextWriter::new(links).write(markdown)
}

struct TextWriter<'l> {
    out: String,
    links: &'l mut LinkList,
    block: Option<Block>,
    /// Prefixes of enclosing containers (block quotes, list items), outermost first.
    containers: Vec<String>,
    /// For each open list, the next item number (`None` for bullets).
    lists: Vec<Option<u64>>,
    /// Set when the next block starts a list item, so it gets the bullet.
    item_prefix: Option<String>,
    /// The target of each open link, with the byte offset in the block's text where the link's
    /// text starts (to tell whether the text was the URL itself).
    open_links: Vec<(String, usize)>,
    heading: Option<HeadingLevel>,
    in_code_block: bool,
    image_depth: usize,
    /// Whether the last block written was inside a list.
    previous_was_item: bool,
    /// The rows of the table being read, each a list of cell texts.
    table: Option<Vec<Vec<String>>>,
}

impl<'l> TextWriter<'l> {
    fn new(links: &'l mut LinkList) -> Self {
        TextWriter {
            out: String::new(),
            links,
            block: None,
            containers: Vec::new(),
            lists: Vec::new(),
            item_prefix: None,
            open_links: Vec::new(),
            heading: None,
            in_code_block: false,
            image_depth: 0,
            previous_was_item: false,
            table: None,
        }
    }

    fn container_prefix(&self) -> String {
        self.containers.concat()
    }

    fn start_block(&mut self) {
        self.finish_block();
        let rest_prefix = self.container_prefix();
        let first_prefix = match self.item_prefix.take() {
            Some(bullet) => {
                let outer: String = self.containers[..self.containers.len() - 1].concat();
                outer + &bullet
            }
            None => rest_prefix.clone(),
        };
        self.block = Some(Block {
            text: String::new(),
            first_prefix,
            rest_prefix,
        });
    }

    fn push_inline(&mut self, text: &str) {
        if self.block.is_none() {
            // Inline text outside a paragraph: a tight list item.
            self.start_block();
        }
        if let Some(block) = &mut self.block {
            block.text.push_str(text);
        }
    }

    fn finish_block(&mut self) {
        let Some(block) = self.block.take() else {
            return;
        };
        if block.text.trim().is_empty() {
            return;
        }
        let starts_item = block.first_prefix != block.rest_prefix;
        if !self.out.is_empty() {
            // List items follow each other without a blank line; other blocks are separated.
            self.out.push_str(if starts_item && self.previous_was_item {
                "\n"
            } else {
                "\n\n"
            });
        }
        self.previous_was_item = !self.lists.is_empty();
        let options = textwrap::Options::new(TEXT_WIDTH)
            .initial_indent(&block.first_prefix)
            .subsequent_indent(&block.rest_prefix)
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        // Hard breaks were written as `\n`; each segment is wrapped on its own.
        let mut first = true;
        for segment in block.text.split('\n') {
            let options = if first {
                options.clone()
            } else {
                options.clone().initial_indent(&block.rest_prefix)
            };
            let segment = segment.split_whitespace().collect::<Vec<_>>().join(" ");
            for line in textwrap::wrap(&segment, options) {
                self.out.push_str(line.trim_end());
                self.out.push('\n');
            }
            first = false;
        }
        self.out.pop();
        if let Some(level) = self.heading {
            let title_width = self.out.rsplit('\n').next().map_or(0, |last| {
                textwrap::core::display_width(last.trim_start_matches(&*block.rest_prefix))
            });
            let rule = if level <= HeadingLevel::H2 { '=' } else { '-' };
            self.out.push('\n');
            self.out.push_str(&block.rest_prefix);
            self.out
                .extend(std::iter::repeat_n(rule, title_width.min(TEXT_WIDTH)));
        }
    }

    fn write(mut self, markdown: &str) -> String {
        for event in parser(markdown) {
            self.event(event);
        }
        self.finish_block();
        self.out
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) if self.in_code_block => self.code_block_text(&text),
            Event::Text(text) | Event::Code(text) | Event::InlineHtml(text) => {
                self.push_inline(&text);
            }
            Event::Html(html) => {
                self.start_block();
                self.push_inline(&html);
            }
            Event::SoftBreak => self.push_inline(" "),
            Event::HardBreak => self.push_inline("\n"),
            Event::Rule => {
                self.start_block();
                self.push_inline(&"-".repeat(24));
                self.finish_block();
            }
            Event::TaskListMarker(done) => self.push_inline(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(name) => self.push_inline(&format!("[{name}]")),
            Event::InlineMath(text) | Event::DisplayMath(text) => self.push_inline(&text),
        }
    }

    /// A table as text: its columns padded to line up (cells joined by ` | `), the header row
    /// underlined; a table too wide for the text width keeps its cells unpadded.
    fn write_table(&mut self, rows: &[Vec<String>]) {
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(textwrap::core::display_width(cell));
            }
        }
        let total = widths.iter().sum::<usize>() + 3 * columns.saturating_sub(1);
        let pad = total <= TEXT_WIDTH;
        let prefix = self.container_prefix();
        let mut lines = Vec::new();
        for (index, row) in rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &width)| {
                    let fill = if pad {
                        width.saturating_sub(textwrap::core::display_width(cell))
                    } else {
                        0
                    };
                    format!("{cell}{}", " ".repeat(fill))
                })
                .collect();
            let line = format!("{prefix}{}", cells.join(" | "));
            lines.push(line.trim_end().to_owned());
            if index == 0 {
                let rule_width = if pad { total } else { TEXT_WIDTH.min(24) };
                lines.push(format!("{prefix}{}", "-".repeat(rule_width)));
            }
        }
        if !self.out.is_empty() {
            self.out.push_str("\n\n");
        }
        self.out.push_str(&lines.join("\n"));
        self.previous_was_item = false;
    }

    fn code_block_text(&mut self, text: &CowStr<'_>) {
        // Code keeps its lines; it is indented, not wrapped.
        self.finish_block();
        if !self.out.is_empty() {
            self.out.push_str("\n\n");
        }
        let prefix = self.container_prefix() + "    ";
        let lines: Vec<String> = text
            .trim_end_matches('\n')
            .lines()
            .map(|line| format!("{prefix}{line}").trim_end().to_owned())
            .collect();
        self.out.push_str(&lines.join("\n"));
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // A table cell is a block of its own, taken whole when the cell ends.
            Tag::Paragraph | Tag::TableCell => self.start_block(),
            Tag::Heading { level, .. } => {
                self.start_block();
                self.heading = Some(body_heading(level));
            }
            Tag::BlockQuote(_) => {
                self.finish_block();
                self.containers.push("> ".into());
            }
            Tag::CodeBlock(_) => {
                self.finish_block();
                self.in_code_block = true;
            }
            Tag::List(first) => {
                self.finish_block();
                self.lists.push(first);
            }
            Tag::Item => {
                self.finish_block();
                let bullet = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let bullet = format!("{number}. ");
                        *number += 1;
                        bullet
                    }
                    _ => "- ".to_owned(),
                };
                self.containers.push(" ".repeat(bullet.len()));
                self.item_prefix = Some(bullet);
            }
            Tag::Link {
                link_type,
                dest_url,
                ..
            } => {
                let shown_as_url = matches!(link_type, LinkType::Autolink | LinkType::Email);
                let start = self.block.as_ref().map_or(0, |b| b.text.len());
                let target = if shown_as_url {
                    String::new()
                } else {
                    dest_url.to_string()
                };
                self.open_links.push((target, start));
            }
            Tag::Image { .. } => {
                self.image_depth += 1;
                self.push_inline("[Image: ");
            }
            Tag::Table(_) => {
                self.finish_block();
                self.table = Some(Vec::new());
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(rows) = &mut self.table {
                    rows.push(Vec::new());
                }
            }
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::HtmlBlock
            | Tag::MetadataBlock(_) => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.finish_block(),
            TagEnd::Heading(_) => {
                self.finish_block();
                self.heading = None;
            }
            TagEnd::BlockQuote(_) => {
                self.finish_block();
                self.containers.pop();
            }
            TagEnd::CodeBlock => self.in_code_block = false,
            TagEnd::List(_) => {
                self.finish_block();
                self.lists.pop();
                // A list after a list (or after a nested list's parent) is a new block.
                self.previous_was_item = !self.lists.is_empty();
            }
            TagEnd::Item => {
                self.finish_block();
                self.containers.pop();
                self.item_prefix = None;
            }
            TagEnd::Link => {
                if let Some((target, _)) = self.open_links.pop()
                    && !target.is_empty()
                    && is_safe_link(&target)
                {
                    let number = self.links.number(&target);
                    self.push_inline(&format!(" [{number}]"));
                }
            }
            TagEnd::Image => {
                self.image_depth = self.image_depth.saturating_sub(1);
                self.push_inline("]");
            }
            TagEnd::TableCell => {
                let text = self
                    .block
                    .take()
                    .map(|block| block.text)
                    .unwrap_or_default();
                let cell = text.split_whitespace().collect::<Vec<_>>().join(" ");
                if let Some(row) = self.table.as_mut().and_then(|rows| rows.last_mut()) {
                    row.push(cell);
                }
            }
            TagEnd::Table => {
                if let Some(rows) = self.table.take() {
                    self.write_table(&rows);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(markdown: &str) -> (String, Vec<String>) {
        let mut links = LinkList::default();
        let text = to_text(markdown, &mut links);
        (
            text,
            links
                .iter()
                .map(|(n, url)| format!("[{n}] {url}"))
                .collect(),
        )
    }

    #[test]
    fn html_escapes_raw_html_and_shifts_headings() {
        let html = to_html("## Section\n\nHello <script>alert(1)</script> *world*\n");
        assert!(html.contains("<h3>Section</h3>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("<em>world</em>"), "{html}");
    }

    #[test]
    fn html_drops_unsafe_link_targets_but_keeps_text() {
        let html = to_html("[click](javascript:alert(1)) and [ok](https://example.org)");
        assert!(!html.contains("javascript"), "{html}");
        assert!(
            html.contains("click and <a href=\"https://example.org\">ok</a>"),
            "{html}"
        );
    }

    #[test]
    fn image_files_are_shown_from_where_the_resolver_says_at_its_size() {
        let files = |target: &str| {
            (target == "photo.png").then(|| ("cid:abc@example.org".to_owned(), 520, 260))
        };
        let html = to_html_with_images(
            "![A photo](photo.png)\n\n![Elsewhere](other.png)\n\n[![Inside](photo.png)](javascript:x)",
            &files,
        );
        assert!(
            html.contains("<img src=\"cid:abc@example.org\" width=\"520\" height=\"260\" style=\"width: 520px;\" alt=\"A photo\""),
            "{html}"
        );
        // A target the resolver does not know is left out, as before images could be files;
        // so is a file inside a link that is left out.
        assert!(
            !html.contains("other.png") && html.contains("Elsewhere"),
            "{html}"
        );
        assert_eq!(html.matches("<img").count(), 1, "{html}");
        assert!(html.contains("Inside"), "{html}");
    }

    #[test]
    fn an_image_file_shown_twice_gets_its_size_once_on_each_tag() {
        let files = |target: &str| {
            (target == "photo.png").then(|| ("cid:abc@example.org".to_owned(), 520, 260))
        };
        let html = to_html_with_images("![One](photo.png) and ![Two](photo.png)", &files);
        assert_eq!(html.matches("<img").count(), 2, "{html}");
        assert_eq!(html.matches("width=\"520\"").count(), 2, "{html}");
    }

    #[test]
    fn titles_keep_inline_markdown_only() {
        let title = inline("The **new** garden's `beds` & *more*");
        assert_eq!(
            title.html,
            "The <strong>new</strong> garden&#39;s <code>beds</code> &#38; <em>more</em>"
        );
        assert_eq!(title.text, "The new garden's beds & more");
        assert!(!title.other_markup);
        let plain = inline("2019. A year & more");
        assert_eq!(plain.html, "2019. A year &#38; more");
        let list_like = inline("- not a *list*");
        assert_eq!(list_like.html, "- not a <em>list</em>");
        assert_eq!(inline("1) one *two*").text, "1) one two");
        assert_eq!(
            inline("# not a heading, *really*").text,
            "# not a heading, really"
        );
        let link = inline("See [the report](https://example.org)");
        assert_eq!(link.text, "See the report");
        assert!(link.other_markup);
        assert_eq!(inline("snake_case_name").html, "snake_case_name");
    }

    #[test]
    fn html_closes_a_link_nested_in_a_dropped_image() {
        let html = to_html("![[click me](https://x.example)](javascript:0) after");
        assert_eq!(html, "<p>click me after</p>\n");
    }

    #[test]
    fn smart_punctuation() {
        assert_eq!(
            to_html("UK's \"digital\" age -- now"),
            "<p>UK’s “digital” age – now</p>\n"
        );
    }

    #[test]
    fn text_wraps_at_the_text_width() {
        let paragraph = "word ".repeat(60);
        let (text, _) = text(&paragraph);
        assert!(text.lines().count() > 1);
        assert!(
            text.lines().all(|line| line.chars().count() <= TEXT_WIDTH),
            "{text}"
        );
    }

    #[test]
    fn text_numbers_links_and_keeps_long_urls_whole() {
        let url = format!("https://example.org/{}", "a-b".repeat(40));
        let (text, links) = text(&format!(
            "See [the report]({url}) and [GOV.UK](https://www.gov.uk/) and [again]({url})."
        ));
        assert_eq!(text, "See the report [1] and GOV.UK [2] and again [1].");
        assert_eq!(
            links,
            [format!("[1] {url}"), "[2] https://www.gov.uk/".to_owned()]
        );
    }

    #[test]
    fn autolinks_are_shown_once() {
        let (text, links) = text("Write to <mailto:team@example.org> or <https://example.org>.");
        assert_eq!(
            text,
            "Write to mailto:team@example.org or https://example.org."
        );
        assert!(links.is_empty());
    }

    #[test]
    fn text_headings_lists_and_quotes() {
        let (text, _) = text(
            "# The digital age\n\nIntro.\n\n- one\n- two is a longer item that needs to be wrapped because it goes on and on past the width\n\n1. first\n2. second\n\n> quoted\n",
        );
        assert_eq!(
            text,
            "The digital age\n---------------\n\nIntro.\n\n- one\n- two is a longer item that needs to be wrapped because it goes on and on\n  past the width\n\n1. first\n2. second\n\n> quoted"
        );
    }

    #[test]
    fn text_keeps_code_blocks_and_hard_breaks() {
        let (text, _) = text("Line one  \nline two\n\n    code  here\n");
        assert_eq!(text, "Line one\nline two\n\n    code  here");
    }

    #[test]
    fn tables_are_tables_in_html_and_aligned_columns_in_text() {
        let markdown = "Before.\n\n| Team | Members |\n|---|---:|\n| SIN | 12 |\n| [GDS](https://gds.example) | 140 |\n\nAfter.";
        let html = to_html(markdown);
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<th>Team</th>"), "{html}");
        assert!(!html.contains('—'), "{html}");
        let (text, links) = text(markdown);
        assert_eq!(
            text,
            "Before.\n\nTeam    | Members\n-----------------\nSIN     | 12\nGDS [1] | 140\n\nAfter."
        );
        assert_eq!(links, ["[1] https://gds.example"]);
    }

    #[test]
    fn text_shows_images_by_their_alt_text() {
        let (text, _) = text("![Signing in London](https://example.org/a.jpg)");
        assert_eq!(text, "[Image: Signing in London]");
    }
}
