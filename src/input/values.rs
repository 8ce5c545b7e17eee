//! Validated value types for the fields of issue and list files.
//!
//! Each type checks its value while it is deserialised, so a bad value is reported by
//! [`crate::input::document`] with the file, line and field path like any other YAML error.

use std::{fmt, str::FromStr};

use crate::input::text;

/// Implements `Deserialize` for a type through its `FromStr`, whose error message becomes the
/// deserialisation error (and so is reported with the file, line and field).
macro_rules! deserialize_from_str {
    ($type:ty) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <String as serde::Deserialize>::deserialize(deserializer)?
                    .parse()
                    .map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use deserialize_from_str;

/// The longest [`Line`], in characters. Subjects and names go into headers, and a header line
/// may not be longer than 998 characters (RFC 5322): lettre folds only at spaces, so a long
/// run without one would make a message that relays refuse.
pub const MAX_LINE_CHARS: usize = 256;

/// One line of text: a subject, a title, a label. Trimmed, non-empty, no control characters, at
/// most [`MAX_LINE_CHARS`] characters, and runs of spaces made one space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line(String);

impl Line {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Line {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        text::check_one_line(value)?;
        text::check_visible(value)?;
        text::check_reserved(value)?;
        let chars = value.chars().count();
        if chars > MAX_LINE_CHARS {
            return Err(format!(
                "is {chars} characters long; a line may have at most {MAX_LINE_CHARS}"
            ));
        }
        // lettre writes two words that need encoding as two encoded words when more than one
        // space separates them, and mail clients drop the white space between encoded words
        // (RFC 2047): a subject `Größe  überall` would read `Größeüberall`. Separated by one
        // space, they go into one encoded word.
        Ok(Line(text::single_spaces(value)))
    }
}

deserialize_from_str!(Line);

/// A block of Markdown: a story body, an introduction, a footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Markdown(String);

impl Markdown {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Markdown {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.trim().is_empty() {
            return Err("must not be empty".into());
        }
        text::check_multi_line(value)?;
        text::check_reserved(value)?;
        Ok(Markdown(value.replace("\r\n", "\n")))
    }
}

deserialize_from_str!(Markdown);

/// An absolute `http` or `https` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebUrl(url::Url);

impl WebUrl {
    pub(crate) fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl FromStr for WebUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(value.trim())
            .map_err(|error| format!("`{value}` is not a valid URL ({error})"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("`{value}` must be an http:// or https:// URL"));
        }
        Ok(WebUrl(url))
    }
}

deserialize_from_str!(WebUrl);

/// Whether `local` (the part of an address before `@`) is a dot-atom (RFC 5322 §3.4.1): atoms
/// of letters, digits and ``!#$%&'*+-/=?^_`{|}~`` (or non-ASCII letters, RFC 6531) joined by
/// single dots. Anything else needs quoting, and a quoted local part can carry `<`, `>`, `,`
/// and `"` into a header such as `List-Unsubscribe`, where they end one URI and start another.
fn is_dot_atom(local: &str) -> bool {
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "!#$%&'*+-/=?^_`{|}~".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace() && !text::is_invisible(c))
    };
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// Parses an address, turning an internationalised domain into its ASCII (punycode) form so
/// that any SMTP server accepts it. This is the one place every address (list file, subscriber
/// rows, `--to`) is checked, so an address refused here never reaches a message.
pub(crate) fn parse_address(raw: &str) -> Result<lettre::Address, String> {
    let invalid = || format!("`{}` is not a valid email address", raw.escape_debug());
    let (user, domain) = raw.rsplit_once('@').ok_or_else(invalid)?;
    if let Some(bad) = raw.chars().find(|&c| text::is_invisible(c)) {
        return Err(format!(
            "`{}` is not a valid email address: it contains the invisible or text-direction character U+{:04X}",
            raw.escape_debug(),
            u32::from(bad)
        ));
    }
    if user.starts_with('"') {
        return Err(format!(
            "`{}` is not accepted: an address with a quoted part before `@` cannot be written safely into headers",
            raw.escape_debug()
        ));
    }
    if !is_dot_atom(user) {
        return Err(invalid());
    }
    // lettre accepts an address at an IP address (`user@[192.0.2.1]`) but cannot build a
    // message to or from one, so it would fail every message instead of this one row.
    if domain.starts_with('[') {
        return Err(invalid());
    }
    let domain = if domain.is_ascii() {
        domain.to_owned()
    } else {
        match url::Host::parse(domain) {
            Ok(url::Host::Domain(ascii)) => ascii,
            _ => return Err(invalid()),
        }
    };
    lettre::Address::new(user, domain).map_err(|_| invalid())
}

/// An email address, checked as the subscriber file's are ([`parse_address`]:
/// lettre's parser, no display name, no angle brackets, an internationalised domain in
/// punycode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(lettre::Address);

impl EmailAddress {
    pub fn address(&self) -> &lettre::Address {
        &self.0
    }

    pub(crate) fn domain(&self) -> &str {
        self.0.domain()
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for EmailAddress {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        parse_address(value.trim()).map(EmailAddress)
    }
}

deserialize_from_str!(EmailAddress);

/// A calendar date written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IssueDate(time::Date);

const ISO_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");
const LONG_DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[day padding:none] [month repr:long] [year]");

impl IssueDate {
    /// `28 June 2019`.
    pub(crate) fn long(self) -> String {
        self.0.format(LONG_DATE).unwrap_or_else(|_| self.iso())
    }

    /// `2019-06-28`.
    pub(crate) fn iso(self) -> String {
        self.0
            .format(ISO_DATE)
            .unwrap_or_else(|_| self.0.to_string())
    }
}

impl FromStr for IssueDate {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        time::Date::parse(value.trim(), ISO_DATE)
            .map(IssueDate)
            .map_err(|_| format!("`{value}` is not a date written YYYY-MM-DD"))
    }
}

deserialize_from_str!(IssueDate);

/// A BCP 47 language tag such as `en` or `en-GB`, for the HTML `lang` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Language(String);

impl Language {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The subtags after the first, lower-cased: `zh-Hant-TW` → `hant`, `tw`.
    pub(crate) fn subtags(&self) -> impl Iterator<Item = String> + '_ {
        self.0.split('-').skip(1).map(str::to_ascii_lowercase)
    }

    /// The primary language subtag, lower-cased: `fr` for `fr-CA`.
    pub(crate) fn primary(&self) -> String {
        self.0
            .split('-')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }
}

impl Default for Language {
    fn default() -> Self {
        Language("en".into())
    }
}

impl FromStr for Language {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let valid = !value.is_empty()
            && value.split('-').all(|part| {
                (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
            });
        if valid {
            Ok(Language(value.to_owned()))
        } else {
            Err(format!(
                "`{value}` is not a language tag such as `en` or `en-GB`"
            ))
        }
    }
}

deserialize_from_str!(Language);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_trimmed_and_single_line() {
        assert_eq!("  Hello ".parse::<Line>().unwrap().as_str(), "Hello");
        assert_eq!(
            "Größe  überall   café".parse::<Line>().unwrap().as_str(),
            "Größe überall café"
        );
        assert!("".parse::<Line>().is_err());
        assert!("a\nb".parse::<Line>().unwrap_err().contains("U+000A"));
        assert!(
            "a\u{E001}"
                .parse::<Line>()
                .unwrap_err()
                .contains("reserves")
        );
    }

    #[test]
    fn line_is_at_most_256_characters() {
        assert!("é".repeat(MAX_LINE_CHARS).parse::<Line>().is_ok());
        assert_eq!(
            "a".repeat(MAX_LINE_CHARS + 1).parse::<Line>().unwrap_err(),
            "is 257 characters long; a line may have at most 256"
        );
    }

    #[test]
    fn markdown_allows_newlines_but_not_other_controls() {
        assert!("a\n\nb\tc".parse::<Markdown>().is_ok());
        assert_eq!("a\r\nb".parse::<Markdown>().unwrap().as_str(), "a\nb");
        assert!(
            "a\u{7}b"
                .parse::<Markdown>()
                .unwrap_err()
                .contains("U+0007")
        );
    }

    #[test]
    fn web_url_requires_http_or_https() {
        assert!(
            "https://example.org/a"
                .parse::<WebUrl>()
                .unwrap()
                .is_https()
        );
        assert!("http://example.org".parse::<WebUrl>().is_ok());
        assert!("ftp://example.org".parse::<WebUrl>().is_err());
        assert!("javascript:alert(1)".parse::<WebUrl>().is_err());
        assert!("example.org".parse::<WebUrl>().is_err());
    }

    #[test]
    fn email_address_rejects_display_names_and_line_breaks() {
        assert!("a@example.org".parse::<EmailAddress>().is_ok());
        assert!("A <a@example.org>".parse::<EmailAddress>().is_err());
        assert!("news@[192.0.2.1]".parse::<EmailAddress>().is_err());
        assert_eq!(
            "news@bücher.example"
                .parse::<EmailAddress>()
                .unwrap()
                .to_string(),
            "news@xn--bcher-kva.example"
        );
        assert!(
            "a@example.org\r\nBcc: b@example.org"
                .parse::<EmailAddress>()
                .is_err()
        );
    }

    #[test]
    fn issue_date_formats() {
        let date: IssueDate = "2019-06-28".parse().unwrap();
        assert_eq!(date.long(), "28 June 2019");
        assert_eq!(date.iso(), "2019-06-28");
        assert!("28/06/2019".parse::<IssueDate>().is_err());
        assert!("2019-02-30".parse::<IssueDate>().is_err());
    }

    #[test]
    fn language_tags() {
        assert!("en-GB".parse::<Language>().is_ok());
        assert!("zh-Hans-SG".parse::<Language>().is_ok());
        assert!("en GB".parse::<Language>().is_err());
        assert!("\"><script>".parse::<Language>().is_err());
    }

    #[test]
    fn internationalised_domains_become_punycode() {
        assert_eq!(
            parse_address("info@bücher.example").unwrap().to_string(),
            "info@xn--bcher-kva.example"
        );
        assert!(parse_address("a b@example.org").is_err());
        assert!(parse_address("a@[192.0.2.1]").is_err());
        assert!(parse_address("a@example.org\r\nBcc: x@example.org").is_err());
    }

    #[test]
    fn quoted_local_parts_and_invisible_characters_are_refused() {
        let quoted = parse_address("\"x>, <https://evil.example/u?\"@example.org").unwrap_err();
        assert!(quoted.contains("quoted part before `@`"), "{quoted}");
        assert!(parse_address("\"a b\"@example.org").is_err());
        assert!(parse_address("a..b@example.org").is_err());
        assert!(parse_address(".a@example.org").is_err());
        assert!(parse_address("a\u{202E}gro@example.org").is_err());
        assert!(parse_address("a@exa\u{200B}mple.org").is_err());
        assert!(parse_address("o'brien+news@example.org").is_ok());
        assert!(parse_address("zoë@example.org").is_ok());
        assert!(
            "Spring\u{2028}issue"
                .parse::<Line>()
                .unwrap_err()
                .contains("U+2028")
        );
    }
}
