//! Loads the YAML files a user writes (an issue, a list) into typed values.
//!
//! Input: a path. Output: the deserialised value, or an [`Error`] that names the file, the line
//! and column, and the field (as a path such as `stories[1].link.url`) that is wrong. Unknown
//! fields are errors too (every document type uses `deny_unknown_fields`), so a typo cannot
//! silently drop a setting.

use std::{fs, path::Path};

use serde::de::DeserializeOwned;

use crate::{
    error::Error,
    input::location::{DocumentKind, Location},
};

/// Issue and list files are hand-written text; anything larger is a mistake (or an attack), and
/// an issue that large could never fit in an email anyway.
pub(crate) const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;

/// A loaded document: its value and its text, kept for locating fields and hashing.
#[derive(Debug)]
pub(crate) struct Document<T> {
    pub(crate) value: T,
    pub(crate) text: String,
}

/// Reads and parses the YAML file at `path`, a file of the given kind.
pub(crate) fn load<T: DeserializeOwned>(
    path: &Path,
    kind: DocumentKind,
) -> Result<Document<T>, Error> {
    let read_error = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let size = fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(Error::DocumentTooLarge {
            path: path.to_owned(),
            kind,
            size,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let bytes = fs::read(path).map_err(read_error)?;
    let text = decode_text(path, bytes)?;
    let value = parse(path, &text, kind)?;
    Ok(Document { value, text })
}

/// Turns file bytes into text, dropping a UTF-8 byte order mark; names the line of the first
/// invalid byte otherwise.
pub(crate) fn decode_text(path: &Path, bytes: Vec<u8>) -> Result<String, Error> {
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            Ok(text)
        }
        Err(error) => {
            let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
            let line = valid.split(|&byte| byte == b'\n').count();
            Err(Error::DocumentNotText {
                location: Location::line(path, line),
            })
        }
    }
}

/// Parses YAML `text` read from `path`.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str, kind: DocumentKind) -> Result<T, Error> {
    if text.trim().is_empty() {
        return Err(Error::DocumentEmpty {
            path: path.to_owned(),
            needs: kind.needs(),
        });
    }
    check_characters(path, text)?;
    check_nesting(path, text)?;
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        // `.` is the root; a trailing `?` is a key the parser never got to read (a syntax
        // error), which names nothing the user wrote.
        let field_path = error.path().to_string();
        let unread_key = field_path.ends_with('?');
        let known = field_path
            .strip_suffix('?')
            .map_or(field_path.as_str(), |parent| parent.trim_end_matches('.'));
        let field = (!known.is_empty() && known != ".").then(|| known.to_owned());
        let inner = error.into_inner();
        let (mut line, column) = inner
            .location()
            .map_or((1, None), |at| (at.line(), Some(at.column())));
        let mut message = in_user_words(&clean_message(&inner, field.as_deref()));
        if message.starts_with("found character that cannot start any token")
            && column.is_some_and(|column| char_at(text, line, column) == Some('\t'))
        {
            message.push_str(" (a tab: YAML is indented with spaces only)");
        }
        if let Some(mapping_column) = column.filter(|_| !unread_key)
            && let Some(key_line) = key_line(text, line, mapping_column, field.as_deref(), &message)
        {
            line = key_line;
        }
        Error::DocumentInvalid {
            location: Location {
                path: path.to_owned(),
                line,
                column,
            },
            message,
            field,
        }
    })
}

/// The character at a 1-based line and column of `text`.
fn char_at(text: &str, line: usize, column: usize) -> Option<char> {
    text.lines()
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

/// The location of the character at byte `index` of `text`.
fn location_at(path: &Path, text: &str, index: usize) -> Location {
    let before = &text[..index];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    Location {
        path: path.to_owned(),
        line: before.matches('\n').count() + 1,
        column: Some(before[line_start..].chars().count() + 1),
    }
}

/// Refuses the characters YAML does not allow in a file, naming their line and column (libyaml
/// reports them at line 1 with a byte offset).
fn check_characters(path: &Path, text: &str) -> Result<(), Error> {
    // YAML's printable characters, as libyaml checks them.
    let allowed = |c: char| match c {
        '\t' | '\n' | '\r' | '\u{85}' => true,
        _ => matches!(u32::from(c), 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..),
    };
    match text.char_indices().find(|&(_, c)| !allowed(c)) {
        None => Ok(()),
        Some((index, bad)) => Err(Error::DocumentInvalid {
            location: location_at(path, text, index),
            field: None,
            message: format!(
                "{} U+{:04X} is not allowed in a YAML file",
                if bad.is_control() {
                    "control character"
                } else {
                    "character"
                },
                u32::from(bad)
            ),
        }),
    }
}

/// How deep `[` and `{` may nest. serde_yaml refuses documents nested deeper than 128 levels,
/// but only after libyaml has parsed them, and libyaml's work per token grows with the number
/// of open `[` and `{`: a file of 100,000 `[` takes minutes to refuse.
pub(crate) const MAX_NESTING: usize = 256;

/// Refuses text that opens more than [`MAX_NESTING`] `[` or `{` without closing them, before
/// libyaml sees it. Brackets in quoted text count too, which only matters for text with
/// hundreds of unclosed brackets.
fn check_nesting(path: &Path, text: &str) -> Result<(), Error> {
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => continue,
        }
        if depth > MAX_NESTING {
            return Err(Error::DocumentInvalid {
                location: location_at(path, text, index),
                field: None,
                message: format!("`[` and `{{` are nested more than {MAX_NESTING} levels deep"),
            });
        }
    }
    Ok(())
}

/// serde_yaml places an error that a field's own type raises (a bad address, a control
/// character) and a duplicate key at the start of the mapping that holds them, often lines
/// away from the key. This finds the line of the key in the block mapping whose first key is
/// at `line` and `column`: the line on which `key:` is written at the mapping's indentation
/// (the second such line for a duplicate). `None` when the key is not found that way (in a flow
/// mapping, say); the mapping's start is then the best place there is.
fn key_line(
    text: &str,
    line: usize,
    column: usize,
    field: Option<&str>,
    message: &str,
) -> Option<usize> {
    let duplicate = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split_once('`'));
    let (key, skip) = if let Some((key, _)) = duplicate {
        (key, 1)
    } else {
        let key = field?.rsplit('.').next()?;
        if key.ends_with(']') {
            return None;
        }
        (key, 0)
    };
    let indent = column.checked_sub(1)?;
    let mut found = 0;
    for (index, text_line) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let rest = if index + 1 == line {
            // The mapping's first key may follow a `- ` on its line.
            let (at, _) = text_line.char_indices().nth(indent)?;
            &text_line[at..]
        } else {
            let content = text_line.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            match (text_line.len() - content.len()).cmp(&indent) {
                std::cmp::Ordering::Less => return None,
                std::cmp::Ordering::Greater => continue,
                std::cmp::Ordering::Equal => content,
            }
        };
        let is_key = rest
            .strip_prefix(key)
            .is_some_and(|after| after.trim_start_matches(' ').starts_with(':'));
        if is_key {
            if found == skip {
                return Some(index + 1);
            }
            found += 1;
        }
    }
    None
}

/// The shape of each structured field, as the user writes it, for "expected struct X".
const SHAPES: [(&str, &str); 6] = [
    (
        "Image",
        "an image: `src:`, `alt:` and optionally `width:` and `link:`, each on its own line indented below `image:`",
    ),
    (
        "Link",
        "a link: `url:` and `label:`, each on its own line indented below it",
    ),
    (
        "Contact",
        "a contact: `name:`, `email:` and optionally `role:`, each on its own line indented below it",
    ),
    (
        "Story",
        "a story: `title:`, `body:` and optionally `link:` and `image:`, indented below `- `",
    ),
    (
        "Sender",
        "`name:` and `address:`, each on its own line indented below it",
    ),
    (
        "Unsubscribe",
        "`url:` and optionally `mailto:`, each on its own line indented below it",
    ),
];

/// serde's and the YAML parser's wording, in the words of someone writing the file: what was
/// found and what belongs there, and how to fix the common slips (a quoted number, a `: ` or a
/// leading `!` in an unquoted value).
fn in_user_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        let number = matches!(
            expected,
            "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize"
        );
        let wanted = if number {
            "a whole number".to_owned()
        } else if let Some(name) = expected.strip_prefix("struct ") {
            SHAPES.iter().find(|(shape, _)| *shape == name).map_or_else(
                || "a group of `key: value` lines indented below it".to_owned(),
                |(_, words)| (*words).to_owned(),
            )
        } else if expected == "a sequence" {
            "a list (lines starting with `- `)".to_owned()
        } else {
            expected.to_owned()
        };
        let (what, text) = match found.split_once(' ') {
            Some(("string", text)) => (format!("the text {text}"), Some(text.trim_matches('"'))),
            Some(("integer" | "floating", value)) => {
                (format!("the number {}", value.trim_matches('`')), None)
            }
            _ if found == "map" => ("a group of `key: value` lines".to_owned(), None),
            _ if found == "sequence" => ("a list".to_owned(), None),
            _ => (found.to_owned(), None),
        };
        let mut words = format!("expected {wanted}, found {what}");
        if number && text.is_some_and(|text| text.trim().parse::<u64>().is_ok()) {
            words.push_str(": remove the quotes");
        }
        return words;
    }
    if message.starts_with("mapping values are not allowed in this context") {
        return format!(
            "{message}: a value containing `: ` must be in quotes; put the value in quotes, e.g. subject: \"Budget: what changes\""
        );
    }
    if message.contains("while scanning a tag") {
        return "a value starting with `!` is read as a YAML tag: put the value in quotes, or write Markdown such as `![alt](URL)` as a block (`body: |`, then the text indented on the lines below)".to_owned();
    }
    message.to_owned()
}

/// `serde_yaml`'s message repeats the field path and location we already show; keep the rest.
fn clean_message(error: &serde_yaml::Error, field: Option<&str>) -> String {
    let mut message = error.to_string();
    if let Some(at) = error.location() {
        let suffix = format!(" at line {} column {}", at.line(), at.column());
        if let Some(start) = message.find(&suffix) {
            message.replace_range(start..start + suffix.len(), "");
        }
    }
    // serde_yaml prefixes the path of the enclosing value, which may be a parent of `field`.
    if let Some((prefix, rest)) = message.split_once(": ") {
        let is_path = !prefix.contains(' ') && field.is_some_and(|field| field.starts_with(prefix));
        if is_path {
            message = rest.to_owned();
        }
    }
    // Values are quoted in messages as written; a line break or an escape sequence in one
    // must not reach the terminal raw.
    if message.contains(char::is_control) {
        message = message
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect();
    }
    message
}

/// The 1-based line on which the field at `field` (`stories[0].image.src`) is written, for
/// warnings about a value found after parsing; `None` when the text does not show it in block
/// style (the caller then points at an enclosing field).
pub(crate) fn field_line(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let blank = |line: &str| {
        let trimmed = line.trim();
        trimmed.is_empty() || trimmed.starts_with('#')
    };
    // The node found so far: its line and its indentation (its children are deeper); a list
    // item's first key is on its `- ` line.
    let mut at: Option<usize> = None;
    let mut depth: Option<usize> = None;
    let mut item_line: Option<usize> = None;
    // The lines of the current node's block, one after another.
    let block = |at: Option<usize>, depth: Option<usize>| {
        let start = at.map_or(0, |line| line + 1);
        lines
            .iter()
            .enumerate()
            .skip(start)
            .filter(|(_, line)| !blank(line))
            .take_while(move |(_, line)| depth.is_none_or(|depth| indent(line) > depth))
    };
    for segment in field.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.strip_suffix(']')?.parse::<usize>().ok()),
            None => (segment, None),
        };
        let pattern = format!("{key}:");
        let inline = item_line.take().filter(|line| {
            lines[*line]
                .trim_start()
                .strip_prefix("- ")
                .is_some_and(|rest| rest.trim_start().starts_with(&pattern))
        });
        if let Some(line) = inline {
            depth = Some(indent(lines[line]) + 2);
        } else {
            let child_indent = block(at, depth).next().map(|(_, line)| indent(line))?;
            let (line, _) = block(at, depth).find(|(_, line)| {
                indent(line) == child_indent && line.trim_start().starts_with(&pattern)
            })?;
            at = Some(line);
            depth = Some(child_indent);
        }
        if let Some(wanted) = index {
            let item_indent = block(at, depth)
                .next()
                .filter(|(_, line)| line.trim_start().starts_with('-'))
                .map(|(_, line)| indent(line))?;
            let (line, _) = block(at, depth)
                .filter(|(_, line)| {
                    indent(line) == item_indent && line.trim_start().starts_with('-')
                })
                .nth(wanted)?;
            at = Some(line);
            depth = Some(item_indent);
            item_line = Some(line);
        } else if inline.is_some() {
            at = inline;
        }
    }
    at.map(|line| line + 1)
}

/// Where `written` (a value as written) is in a document: on the line of `field` or after
/// it, else after the line of its top-level key; that line when it is not found.
pub(crate) fn value_location(path: &Path, text: &str, field: &str, written: &str) -> Location {
    let top_key = field.split(['[', '.']).next().unwrap_or(field);
    let key_line = field_line(text, field).unwrap_or_else(|| top_level_key_line(text, top_key));
    let from = text
        .split_inclusive('\n')
        .take(key_line - 1)
        .map(str::len)
        .sum::<usize>();
    match text[from..].find(written) {
        Some(found) => location_at(path, text, from + found),
        None => Location::line(path, key_line),
    }
}

/// The 1-based line on which a top-level `key:` is written, for errors found after parsing
/// (when serde's locations are gone). Falls back to line 1.
pub(crate) fn top_level_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map_or(1, |index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        title: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        count: u32,
    }

    fn error_of(text: &str) -> (Location, Option<String>, String) {
        error_of_type::<Sample>(text)
    }

    /// The location, field and message of the error parsing `text` as a `T`.
    fn error_of_type<T: DeserializeOwned + std::fmt::Debug>(
        text: &str,
    ) -> (Location, Option<String>, String) {
        match parse::<T>(Path::new("sample.yaml"), text, DocumentKind::Issue) {
            Err(Error::DocumentInvalid {
                location,
                field,
                message,
            }) => (location, field, message),
            other => panic!("expected DocumentInvalid, got {other:?}"),
        }
    }

    #[test]
    fn unknown_field_names_field_line_and_column() {
        let (location, field, message) = error_of("title: a\nitems:\n  - count: 1\n    cuont: 2\n");
        assert_eq!((location.line, location.column), (4, Some(5)));
        assert_eq!(field.as_deref(), Some("items[0].cuont"));
        assert_eq!(message, "unknown field `cuont`, expected `count`");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let (location, field, message) = error_of("title: a\nitems:\n  - count: many\n");
        assert_eq!(location.line, 3);
        assert_eq!(field.as_deref(), Some("items[0].count"));
        assert_eq!(message, "expected a whole number, found the text \"many\"");
    }

    #[test]
    fn missing_field_is_reported() {
        let (location, field, message) = error_of("items: []\n");
        assert_eq!(location.line, 1);
        assert_eq!(field, None);
        assert_eq!(message, "missing field `title`");
    }

    #[test]
    fn syntax_error_has_a_location() {
        let (location, _, message) = error_of("title: \"unterminated\nitems: []\n");
        assert_eq!((location.line, location.column), (3, Some(1)), "{location}");
        assert!(message.contains("unexpected end of stream"), "{message}");
    }

    #[test]
    fn tab_indentation_is_named() {
        let (location, _, message) = error_of("title: a\nitems:\n\t- count: 1\n");
        assert_eq!((location.line, location.column), (3, Some(1)));
        assert!(
            message.ends_with("(a tab: YAML is indented with spaces only)"),
            "{message}"
        );
    }

    #[test]
    fn syntax_error_names_no_unknown_field() {
        let (location, field, message) = error_of("title: \"a\nitems: []\nb: \"c\"\n");
        assert_eq!(field, None, "{location}: {message}");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Checked {
        title: crate::input::values::Line,
        #[serde(default)]
        items: Vec<CheckedItem>,
        #[serde(default)]
        address: Option<crate::input::values::EmailAddress>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct CheckedItem {
        name: crate::input::values::Line,
        label: crate::input::values::Line,
    }

    fn checked_error_of(text: &str) -> (Location, Option<String>, String) {
        error_of_type::<Checked>(text)
    }

    #[test]
    fn invalid_value_is_reported_at_its_key_not_its_mapping() {
        let (location, field, message) =
            checked_error_of("# comment\n\nitems: []\ntitle: \"a\\ab\"\n");
        assert_eq!((location.line, location.column), (4, Some(1)));
        assert_eq!(field.as_deref(), Some("title"));
        assert!(message.contains("U+0007"), "{message}");
        let (location, field, _) = checked_error_of(
            "title: a\nitems:\n  - name: n\n    label: l\n  - name: n\n\n    # c\n    label: \"\\a\"\n",
        );
        assert_eq!((location.line, location.column), (8, Some(5)));
        assert_eq!(field.as_deref(), Some("items[1].label"));
    }

    #[test]
    fn invalid_value_in_a_flow_mapping_is_reported_at_the_mapping() {
        let (location, field, _) =
            checked_error_of("title: a\nitems: [{name: n, label: \"\\a\"}]\n");
        assert_eq!((location.line, location.column), (2, Some(9)));
        assert_eq!(field.as_deref(), Some("items[0].label"));
    }

    #[test]
    fn duplicate_key_is_reported_at_its_second_occurrence() {
        let (location, _, message) = checked_error_of("title: a\nitems: []\ntitle: b\n");
        assert_eq!((location.line, location.column), (3, Some(1)));
        assert_eq!(message, "duplicate field `title`");
    }

    #[test]
    fn control_characters_in_values_are_escaped_in_messages() {
        let (_, _, message) = checked_error_of("title: a\naddress: \"x\\r\\nBcc: y\\e[31m\"\n");
        assert_eq!(
            message,
            "`x\\r\\nBcc: y\\u{1b}[31m` is not a valid email address"
        );
    }

    #[test]
    fn characters_yaml_refuses_are_named_with_their_line_and_column() {
        let (location, field, message) = error_of("title: a\nitems: [] # \u{7f}\n\0");
        assert_eq!((location.line, location.column), (2, Some(13)));
        assert_eq!(field, None);
        assert_eq!(
            message,
            "control character U+007F is not allowed in a YAML file"
        );
        let (_, _, message) = error_of("title: \u{fffe}");
        assert_eq!(message, "character U+FFFE is not allowed in a YAML file");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let text = format!("title: a\nitems: {}", "[".repeat(100_000));
        let started = std::time::Instant::now();
        let (location, _, message) = error_of(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!((location.line, location.column), (2, Some(8 + MAX_NESTING)));
        assert_eq!(message, "`[` and `{` are nested more than 256 levels deep");
        // Balanced brackets in text do not add up.
        let text = format!("title: \"{}\"\nitems: []\n", "[a] {b} ".repeat(1000));
        assert!(parse::<Sample>(Path::new("x.yaml"), &text, DocumentKind::Issue).is_ok());
    }

    #[test]
    fn empty_text_is_its_own_error() {
        let result = parse::<Sample>(Path::new("sample.yaml"), " \n\n", DocumentKind::Issue);
        assert!(matches!(result, Err(Error::DocumentEmpty { .. })));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let error = decode_text(Path::new("x.yaml"), b"a: 1\nb: \xff\n".to_vec()).unwrap_err();
        match error {
            Error::DocumentNotText { location } => assert_eq!(location.line, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn byte_order_mark_is_dropped() {
        let text = decode_text(Path::new("x.yaml"), b"\xef\xbb\xbftitle: a".to_vec()).unwrap();
        assert_eq!(text, "title: a");
    }

    #[test]
    fn field_line_finds_nested_fields_and_list_items() {
        let text = "list: l.yaml\nstories:\n  - title: a\n    body: |\n      text\n    image:\n      src: x\n  # note\n  - title: b\n    link:\n      url: y\n";
        assert_eq!(field_line(text, "stories"), Some(2));
        assert_eq!(field_line(text, "stories[0].title"), Some(3));
        assert_eq!(field_line(text, "stories[0].body"), Some(4));
        assert_eq!(field_line(text, "stories[0].image.src"), Some(7));
        assert_eq!(field_line(text, "stories[1].link.url"), Some(11));
        assert_eq!(field_line(text, "stories[1].image.src"), None);
        assert_eq!(field_line(text, "stories[2].title"), None);
    }

    #[test]
    fn top_level_key_line_finds_the_key() {
        let text = "a: 1\n  greeting: nested\ngreeting : \"Hi\"\n";
        assert_eq!(top_level_key_line(text, "greeting"), 3);
        assert_eq!(top_level_key_line(text, "missing"), 1);
    }
}
