//! Merge fields: text with `{column}` placeholders filled per subscriber, such as the greeting
//! `"Dear {name},"`. Placeholders name columns of the subscriber file (`email`, `name`, or any
//! further column). `{{` and `}}` stand for literal braces.

use std::str::FromStr;

use crate::input::text;

/// A parsed text with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeText {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
}

impl MergeText {
    /// The placeholder names, in order of appearance.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills every placeholder with `value(name)`, its line breaks, control characters and
    /// runs of white space made one space (the text is one line, and a quoted CSV field can
    /// hold anything). Returns `None` if any value is missing or blank, so that the caller can
    /// fall back to a text without placeholders.
    pub fn fill<'a>(&self, value: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
        let mut filled = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(literal) => filled.push_str(literal),
                Part::Field(name) => {
                    let folded = text::fold(value(name)?);
                    if folded.is_empty() {
                        return None;
                    }
                    filled.push_str(&folded);
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
        let mut parts = Vec::new();
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
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' => {
                                name.push(c);
                            }
                            Some(c) => {
                                return Err(format!(
                                    "placeholder `{{{name}{c}…` may only contain letters, digits, `_` and `-` (write `{{{{` for a literal brace)"
                                ));
                            }
                            None => {
                                return Err(format!(
                                    "placeholder `{{{name}` is not closed with `}}`"
                                ));
                            }
                        }
                    }
                    if name.is_empty() {
                        return Err("empty placeholder `{}`".into());
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(name.to_ascii_lowercase()));
                }
                '}' => return Err("`}` without `{` (write `}}` for a literal brace)".into()),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(MergeText { parts })
    }
}

crate::input::values::deserialize_from_str!(MergeText);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders() {
        let text: MergeText = "Dear {name} of {Org},".parse().unwrap();
        assert_eq!(text.fields().collect::<Vec<_>>(), ["name", "org"]);
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
    fn blank_value_gives_none() {
        let text: MergeText = "Dear {name},".parse().unwrap();
        assert_eq!(text.fill(|_| Some("  ")), None);
        assert_eq!(text.fill(|_| None), None);
    }

    #[test]
    fn literal_braces() {
        let text: MergeText = "{{not}} a field".parse().unwrap();
        assert_eq!(text.fields().count(), 0);
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
        assert!("Dear {na me}".parse::<MergeText>().is_err());
        assert!("Dear }".parse::<MergeText>().is_err());
        assert!("Dear\r\nBcc: x".parse::<MergeText>().is_err());
    }
}
