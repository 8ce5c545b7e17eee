//! Text that came from outside (a relay's replies, a journal someone edited, a TLS peer's
//! names) made safe to print: control characters are shown as escapes instead of reaching the
//! terminal, where an escape sequence could clear the screen, set the window title or rewrite
//! what the user reads. Every place that prints or stores such text passes it through
//! [`printable`].

use std::{borrow::Cow, fmt::Write as _};

/// `text` with every control character (C0, DEL, C1), and every character that reorders or
/// hides text (bidi overrides and isolates, zero-width characters, line and paragraph
/// separators), written as `\x1b` or `\u{202e}`. Backslashes are left alone, so escaping twice
/// changes nothing.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        if !needs_escape(character) {
            escaped.push(character);
        } else if u32::from(character) < 0x100 {
            let _ = write!(escaped, "\\x{:02x}", u32::from(character));
        } else {
            let _ = write!(escaped, "\\u{{{:x}}}", u32::from(character));
        }
    }
    Cow::Owned(escaped)
}

/// [`printable`] for a message of several lines of our own making, which may quote outside
/// text: its line breaks are kept, every other control character is escaped.
pub(crate) fn printable_lines(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|character| character != '\n' && needs_escape(character))
    {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(printable).collect();
    Cow::Owned(lines.join("\n"))
}

fn needs_escape(character: char) -> bool {
    character.is_control()
        || matches!(
            character,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(
            printable("550 \u{1b}]0;owned\u{7}\u{1b}[2J gone\r\n\u{9b}"),
            "550 \\x1b]0;owned\\x07\\x1b[2J gone\\x0d\\x0a\\x9b"
        );
        assert_eq!(printable("a\u{202e}b\u{2066}"), "a\\u{202e}b\\u{2066}");
    }

    #[test]
    fn messages_keep_their_lines() {
        assert_eq!(
            printable_lines("error: bad rows\n  line 3: \u{1b}[2J"),
            "error: bad rows\n  line 3: \\x1b[2J"
        );
        assert!(matches!(printable_lines("a\nb"), Cow::Borrowed(_)));
    }

    #[test]
    fn ordinary_text_is_kept_and_escaping_twice_changes_nothing() {
        let text = "250 2.0.0 Ok: queued as 1 — Zoë \\ ok";
        assert!(matches!(printable(text), Cow::Borrowed(_)));
        let once = printable("\u{1b}[31mred").into_owned();
        assert_eq!(printable(&once), once);
    }
}
