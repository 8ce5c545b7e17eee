//! The rules every piece of text from a user's files obeys, in one place: issue fields
//! ([`crate::input::values`]), placeholder templates and the values filled into them
//! ([`crate::input::placeholders`]), and subscriber names ([`crate::input::subscribers`]).
//!
//! - one-line text has no control characters; multi-line text allows only line breaks and tabs;
//! - one-line text and addresses have no invisible or text-direction characters
//!   ([`is_invisible`]); names have them stripped;
//! - no text holds the private-use characters that the render-once templates use as slot
//!   markers ([`RESERVED_CHARACTERS`]);
//! - text that goes into a header is folded to one line, with runs of white space made one space.

/// Characters that [`crate::compose::render`] uses as slot markers in templates rendered once
/// per issue; no input text may contain them.
pub const RESERVED_CHARACTERS: std::ops::RangeInclusive<char> = '\u{E000}'..='\u{E0FF}';

/// Checks that `text` is one line: no control characters at all.
pub(crate) fn check_one_line(text: &str) -> Result<(), String> {
    match text.chars().find(|c| c.is_control()) {
        Some(bad) => Err(format!(
            "must be a single line without control characters (found U+{:04X})",
            u32::from(bad)
        )),
        None => Ok(()),
    }
}

/// Checks that `text` has no control characters but line breaks and tabs.
pub(crate) fn check_multi_line(text: &str) -> Result<(), String> {
    let allowed = |c: char| c == '\n' || c == '\t' || c == '\r';
    match text.chars().find(|&c| c.is_control() && !allowed(c)) {
        Some(bad) => Err(format!(
            "must not contain control characters (found U+{:04X})",
            u32::from(bad)
        )),
        None => Ok(()),
    }
}

/// Checks that `text` has none of the [`RESERVED_CHARACTERS`].
pub(crate) fn check_reserved(text: &str) -> Result<(), String> {
    match text.chars().find(|c| RESERVED_CHARACTERS.contains(c)) {
        Some(bad) => Err(format!(
            "contains U+{:04X}, a private-use character newsletter reserves",
            u32::from(bad)
        )),
        None => Ok(()),
    }
}

/// Characters that change how the text around them is shown without being seen themselves:
/// bidirectional overrides and isolates (which can make `gro.live@` read `@evil.org`),
/// zero-width characters and the Unicode line and paragraph separators (which some clients
/// break a line at). They are refused in one-line fields and addresses and stripped from
/// subscriber names.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// The message for text that holds an [`is_invisible`] character.
pub(crate) fn invisible_message(c: char) -> String {
    format!(
        "must not contain invisible or text-direction characters (found U+{:04X})",
        u32::from(c)
    )
}

/// Checks that `text` has no [`is_invisible`] character.
pub(crate) fn check_visible(text: &str) -> Result<(), String> {
    match text.chars().find(|&c| is_invisible(c)) {
        Some(bad) => Err(invisible_message(bad)),
        None => Ok(()),
    }
}

/// The words of `text` (split at white space and control characters, such as a line break in
/// a quoted CSV field), joined by one space: text that can never break a header line.
pub(crate) fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
    {
        if !folded.is_empty() {
            folded.push(' ');
        }
        folded.push_str(word);
    }
    folded
}

/// `text` with every run of spaces made one space (other characters kept as they are).
pub(crate) fn single_spaces(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c == ' ' && line.ends_with(' ')) {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_text_has_no_control_characters() {
        assert!(check_one_line("Spring issue").is_ok());
        assert!(check_one_line("a\nb").unwrap_err().contains("U+000A"));
        assert!(check_one_line("a\tb").is_err());
    }

    #[test]
    fn multi_line_text_allows_line_breaks_and_tabs_only() {
        assert!(check_multi_line("a\r\nb\tc").is_ok());
        assert!(check_multi_line("a\u{7}").unwrap_err().contains("U+0007"));
    }

    #[test]
    fn reserved_characters_are_refused() {
        assert!(check_reserved("plain").is_ok());
        assert!(check_reserved("x\u{E001}").unwrap_err().contains("U+E001"));
    }

    #[test]
    fn folding_joins_words_with_one_space() {
        assert_eq!(fold("  Ada\r\n  Lovelace\t "), "Ada Lovelace");
        assert_eq!(fold("\n\t"), "");
        assert_eq!(single_spaces("Größe  überall   x"), "Größe überall x");
        assert_eq!(single_spaces("a\u{a0}\u{a0}b"), "a\u{a0}\u{a0}b");
    }
}
