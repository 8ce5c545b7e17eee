//! Placeholders: the one syntax for text filled in later, used by the greeting, by every text a
//! reader sees in an issue (subject, preheader, intro, titles, bodies, link labels and URLs,
//! contact, footer), by the list's unsubscribe URL and by its web URL.
//!
//! ```text
//! Dear {first_name|friend},      {name} or {name|default}
//! {{ and }} are literal braces
//! ```
//!
//! A name is letters, digits, `_` and `-`, and is compared without regard to case (it is kept in
//! lower case, as the subscriber file's column names are). The default, after `|`, is used when
//! the value is blank; it may hold anything but braces and control characters. Which names exist
//! depends on the text: subscriber columns for issue text, `email`, `list` and `token` for the
//! unsubscribe URL, `issue` for the web URL. [`scan`] is the scanner all of them use.

use std::str::FromStr;

use crate::input::text;

/// One placeholder as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    /// The name, in lower case.
    pub(crate) name: String,
    /// The text used when the value is blank.
    pub(crate) default: Option<String>,
    /// The placeholder as it was written, braces included, to find it in the file.
    pub(crate) written: String,
}

/// A piece of a scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Literal(String),
    Placeholder(Placeholder),
}

/// Why a text could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanError {
    /// `{name` and the text ends.
    Unclosed { written: String },
    /// A character a name may not hold, or a brace inside a default.
    BadCharacter { written: String, found: char },
    /// `{}` or `{|default}`.
    Empty,
    /// A `}` that closes nothing.
    StrayClose,
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Unclosed { written } => {
                write!(f, "placeholder `{written}` is not closed with `}}`")
            }
            ScanError::BadCharacter { written, found } if written.contains('|') => write!(
                f,
                "the default of placeholder `{written}{found}…` may not contain a brace or a control character (write `{{{{` for a literal brace)"
            ),
            ScanError::BadCharacter { written, found } => write!(
                f,
                "placeholder `{written}{found}…` may only contain letters, digits, `_` and `-` before its `|default` (write `{{{{` for a literal brace)"
            ),
            ScanError::Empty => f.write_str("empty placeholder `{}`"),
            ScanError::StrayClose => {
                f.write_str("`}` without `{` (write `}}` for a literal brace)")
            }
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Cuts `text` into literal pieces and placeholders. Adjacent literal text is one piece.
pub(crate) fn scan(text: &str) -> Result<Vec<Piece>, ScanError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let placeholder = scan_placeholder(&mut chars)?;
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Placeholder(placeholder));
            }
            '}' => return Err(ScanError::StrayClose),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// The rest of a placeholder after its `{`.
fn scan_placeholder(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<Placeholder, ScanError> {
    let mut written = String::from("{");
    let mut name = String::new();
    let mut default: Option<String> = None;
    loop {
        let Some(c) = chars.next() else {
            return Err(ScanError::Unclosed { written });
        };
        match (&mut default, c) {
            (_, '}') => break,
            (None, '|') => default = Some(String::new()),
            (None, c) if is_name_char(c) => name.push(c),
            (Some(text), c) if c != '{' && !c.is_control() => text.push(c),
            (_, found) => return Err(ScanError::BadCharacter { written, found }),
        }
        written.push(c);
    }
    written.push('}');
    if name.is_empty() {
        return Err(ScanError::Empty);
    }
    Ok(Placeholder {
        name: name.to_ascii_lowercase(),
        default,
        written,
    })
}

/// The placeholders of `pieces`, in order of appearance.
pub(crate) fn placeholders(pieces: &[Piece]) -> impl Iterator<Item = &Placeholder> {
    pieces.iter().filter_map(|piece| match piece {
        Piece::Placeholder(placeholder) => Some(placeholder),
        Piece::Literal(_) => None,
    })
}

/// A subscriber's value as one line: line breaks, control characters and runs of white space
/// made one space (a quoted CSV field can hold anything, and values go into headers and
/// single-line texts). `None` when the value is blank.
pub(crate) fn one_line(value: &str) -> Option<String> {
    Some(text::fold(value)).filter(|line| !line.is_empty())
}

/// Percent-encodes `value` for any part of a URL: everything but the unreserved characters of
/// RFC 3986, so a value can neither end a path segment or query parameter nor add one.
pub(crate) fn percent_encode(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
}

/// A one-line text with placeholders filled per subscriber, such as the greeting
/// `"Dear {name},"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeText {
    pieces: Vec<Piece>,
}

impl MergeText {
    /// The placeholders, in order of appearance.
    pub(crate) fn placeholders(&self) -> impl Iterator<Item = &Placeholder> {
        placeholders(&self.pieces)
    }

    /// Fills every placeholder with `value(name)` made one line (see [`one_line`]), or its
    /// default when the value is blank. Returns `None` if a value without a default is missing
    /// or blank, so that the caller can fall back to a text without placeholders.
    pub fn fill<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        let mut filled = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(literal) => filled.push_str(literal),
                Piece::Placeholder(placeholder) => {
                    match (
                        value(&placeholder.name).and_then(one_line),
                        &placeholder.default,
                    ) {
                        (Some(line), _) => filled.push_str(&line),
                        (None, Some(default)) => filled.push_str(default),
                        (None, None) => return None,
                    }
                }
            }
        }
        Some(filled)
    }
}

impl FromStr for MergeText {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text::check_one_line(text)?;
        text::check_reserved(text)?;
        let pieces = scan(text).map_err(|error| error.to_string())?;
        if pieces.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(MergeText { pieces })
    }
}

crate::input::values::deserialize_from_str!(MergeText);

/// A URL with placeholders, such as a story's link `https://example.org/join?ref={member_id}`:
/// printable ASCII as written, and a valid `http(s)` URL once its placeholders are filled.
/// Values are percent-encoded when filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MergeUrl {
    text: String,
    pieces: Vec<Piece>,
}

impl MergeUrl {
    /// The URL as written (placeholders in braces).
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the URL uses the placeholder `name`.
    pub(crate) fn uses(&self, name: &str) -> bool {
        placeholders(&self.pieces).any(|placeholder| placeholder.name == name)
    }

    /// The URL with each placeholder replaced by `value(name)`, percent-encoded.
    pub(crate) fn fill(&self, value: impl Fn(&Placeholder) -> String) -> String {
        let mut url = String::with_capacity(self.text.len() + 64);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(literal) => url.push_str(literal),
                Piece::Placeholder(placeholder) => percent_encode(&value(placeholder), &mut url),
            }
        }
        url
    }

    /// Parses `text`, allowing only the placeholder names `allowed` (any name when `None`).
    pub(crate) fn parse(text: &str, allowed: Option<&[&str]>) -> Result<MergeUrl, String> {
        let text = text.trim();
        // The URL is used as written (only its placeholders are filled), in an href and in
        // headers: a line break or space there would break the header or the link, and
        // anything not ASCII would make lettre encode the header as text.
        if let Some(bad) = text
            .chars()
            .find(|&c| !c.is_ascii_graphic() || matches!(c, '<' | '>' | '"'))
        {
            return Err(format!(
                "`{}` contains U+{:04X}; a URL may hold only printable ASCII other than `<`, `>` and `\"` (percent-encode the others, and write an internationalised domain in punycode)",
                text.escape_debug(),
                u32::from(bad)
            ));
        }
        let pieces = scan(text).map_err(|error| match error {
            ScanError::Unclosed { .. } => {
                format!("placeholder in `{text}` is not closed with `}}`")
            }
            other => format!("{other} in `{text}`"),
        })?;
        if let Some(allowed) = allowed
            && let Some(unknown) =
                placeholders(&pieces).find(|p| !allowed.contains(&p.name.as_str()))
        {
            return Err(format!(
                "unknown placeholder `{}` in `{text}`; use {}",
                unknown.written,
                allowed
                    .iter()
                    .map(|p| format!("`{{{p}}}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let url = MergeUrl {
            text: text.to_owned(),
            pieces,
        };
        let sample = url.fill(|_| "sample".into());
        sample
            .parse::<crate::input::values::WebUrl>()
            .map_err(|error| {
                if url
                    .pieces
                    .iter()
                    .any(|p| matches!(p, Piece::Placeholder(_)))
                {
                    format!("{error} (after filling its placeholders)")
                } else {
                    error
                }
            })?;
        Ok(url)
    }
}

impl FromStr for MergeUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MergeUrl::parse(text, None)
    }
}

crate::input::values::deserialize_from_str!(MergeUrl);

impl std::fmt::Display for MergeUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders() {
        let text: MergeText = "Dear {name} of {Org},".parse().unwrap();
        assert_eq!(
            text.placeholders()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>(),
            ["name", "org"]
        );
        let filled = text.fill(|field| match field {
            "name" => Some("Zoë"),
            "org" => Some(" GDS "),
            _ => None,
        });
        assert_eq!(filled.as_deref(), Some("Dear Zoë of GDS,"));
    }

    #[test]
    fn values_become_one_line() {
        let text: MergeText = "Dear {org},".parse().unwrap();
        let filled = text.fill(|_| Some(" GDS\r\nBcc: x@example.org\u{7}\0 "));
        assert_eq!(filled.as_deref(), Some("Dear GDS Bcc: x@example.org,"));
        assert_eq!(text.fill(|_| Some("\r\n\t")), None);
    }

    #[test]
    fn blank_value_gives_none_or_the_default() {
        let text: MergeText = "Dear {name},".parse().unwrap();
        assert_eq!(text.fill(|_| Some("  ")), None);
        assert_eq!(text.fill(|_| None), None);
        let with_default: MergeText = "Hi {First_Name|there}, {x|}!".parse().unwrap();
        assert_eq!(
            with_default.fill(|_| Some(" ")).as_deref(),
            Some("Hi there, !")
        );
        assert_eq!(
            with_default
                .fill(|name| (name == "first_name").then_some("Ann"))
                .as_deref(),
            Some("Hi Ann, !")
        );
    }

    #[test]
    fn defaults_may_hold_any_text_but_braces() {
        let pieces = scan("{name|dear reader: ¡hola! | x}").unwrap();
        let [Piece::Placeholder(placeholder)] = pieces.as_slice() else {
            panic!("{pieces:?}")
        };
        assert_eq!(
            placeholder.default.as_deref(),
            Some("dear reader: ¡hola! | x")
        );
        assert_eq!(placeholder.written, "{name|dear reader: ¡hola! | x}");
        assert!(matches!(
            scan("{name|a{b}"),
            Err(ScanError::BadCharacter { found: '{', .. })
        ));
        assert!(scan("{name|a\nb}").is_err());
    }

    #[test]
    fn literal_braces() {
        let text: MergeText = "{{not}} a field".parse().unwrap();
        assert_eq!(text.placeholders().count(), 0);
        assert_eq!(text.fill(|_| None).as_deref(), Some("{not} a field"));
    }

    #[test]
    fn malformed_placeholders_are_errors() {
        assert!(
            "Dear {name"
                .parse::<MergeText>()
                .unwrap_err()
                .contains("not closed")
        );
        assert!(
            "Dear {}"
                .parse::<MergeText>()
                .unwrap_err()
                .contains("empty")
        );
        assert!("Dear {|x}".parse::<MergeText>().is_err());
        assert!("Dear {na me}".parse::<MergeText>().is_err());
        assert!("Dear }".parse::<MergeText>().is_err());
        assert!("Dear\r\nBcc: x".parse::<MergeText>().is_err());
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        let mut out = String::new();
        percent_encode("zoë+news@example.org/a b&c=d", &mut out);
        assert_eq!(out, "zo%C3%AB%2Bnews%40example.org%2Fa%20b%26c%3Dd");
    }

    #[test]
    fn merge_url_fills_encoded_values_and_checks_names() {
        let url: MergeUrl = "https://example.org/join?ref={Member_ID|none}"
            .parse()
            .unwrap();
        assert!(url.uses("member_id"));
        assert_eq!(
            url.fill(|_| "a&b".into()),
            "https://example.org/join?ref=a%26b"
        );
        let error = MergeUrl::parse("https://example.org/{x}", Some(&["issue"])).unwrap_err();
        assert_eq!(
            error,
            "unknown placeholder `{x}` in `https://example.org/{x}`; use `{issue}`"
        );
        assert!("{site}/join".parse::<MergeUrl>().is_err());
        assert!("https://example.org/{a".parse::<MergeUrl>().is_err());
    }
}
