//! The texts of the unsubscribe pages that `newsletter serve` shows, by name, and the list
//! file's own wording for some of them (`unsubscribe: { page: { button: "…" } }`).
//!
//! Each text has a fixed set of `{placeholders}`: a sentence that names the address must
//! keep naming it, whatever the language. The translations themselves live with the pages
//! (`crate::endpoint::wording`); this module only knows the names and the rules, so that the
//! list file is checked as it is read.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::input::values::Line;

/// One text of the unsubscribe pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PageText {
    ConfirmTitle,
    Confirm,
    Button,
    ConfirmNote,
    DoneTitle,
    Done,
    DoneNote,
    InvalidTitle,
    Invalid,
    InvalidMailto,
    InvalidReply,
    UnavailableTitle,
    Unavailable,
    OrMailto,
    BusyTitle,
    Busy,
}

impl PageText {
    /// Every text, in the order of a translation's table.
    pub(crate) const ALL: [PageText; 16] = [
        PageText::ConfirmTitle,
        PageText::Confirm,
        PageText::Button,
        PageText::ConfirmNote,
        PageText::DoneTitle,
        PageText::Done,
        PageText::DoneNote,
        PageText::InvalidTitle,
        PageText::Invalid,
        PageText::InvalidMailto,
        PageText::InvalidReply,
        PageText::UnavailableTitle,
        PageText::Unavailable,
        PageText::OrMailto,
        PageText::BusyTitle,
        PageText::Busy,
    ];

    /// Its name in the list file's `unsubscribe.page`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            PageText::ConfirmTitle => "confirm_title",
            PageText::Confirm => "confirm",
            PageText::Button => "button",
            PageText::ConfirmNote => "confirm_note",
            PageText::DoneTitle => "done_title",
            PageText::Done => "done",
            PageText::DoneNote => "done_note",
            PageText::InvalidTitle => "invalid_title",
            PageText::Invalid => "invalid",
            PageText::InvalidMailto => "invalid_mailto",
            PageText::InvalidReply => "invalid_reply",
            PageText::UnavailableTitle => "unavailable_title",
            PageText::Unavailable => "unavailable",
            PageText::OrMailto => "or_mailto",
            PageText::BusyTitle => "busy_title",
            PageText::Busy => "busy",
        }
    }

    /// The placeholders it must contain, each once; it may contain no others.
    pub(crate) fn placeholders(self) -> &'static [&'static str] {
        match self {
            PageText::Confirm | PageText::Done => &["address", "list"],
            PageText::InvalidMailto | PageText::OrMailto => &["mailto"],
            _ => &[],
        }
    }

    /// The index of this text in [`PageText::ALL`].
    pub(crate) fn index(self) -> usize {
        PageText::ALL
            .iter()
            .position(|text| *text == self)
            .expect("every text is in ALL")
    }

    /// Whether `text` is a valid wording of this text: the right placeholders, each once, and
    /// no other braces. `Err` says what is wrong.
    pub(crate) fn check(self, text: &str) -> Result<(), String> {
        let mut found: Vec<&str> = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(['{', '}']) {
            let after = &rest[start..];
            let Some(end) = after.find('}').filter(|_| after.starts_with('{')) else {
                return Err(format!(
                    "`{text}` has a `{{` or `}}` that is not a placeholder"
                ));
            };
            let name = &after[1..end];
            if !self.placeholders().contains(&name) {
                return Err(format!(
                    "`{text}` has `{{{name}}}`; {} may use {}",
                    self.key(),
                    self.allowed()
                ));
            }
            if found.contains(&name) {
                return Err(format!("`{text}` has `{{{name}}}` twice"));
            }
            found.push(name);
            rest = &after[end + 1..];
        }
        if let Some(missing) = self
            .placeholders()
            .iter()
            .find(|name| !found.contains(name))
        {
            return Err(format!(
                "`{text}` must contain `{{{missing}}}` ({} uses {})",
                self.key(),
                self.allowed()
            ));
        }
        Ok(())
    }

    fn allowed(self) -> String {
        match self.placeholders() {
            [] => "no placeholders".into(),
            names => names
                .iter()
                .map(|name| format!("`{{{name}}}`"))
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }
}

/// The list file's own wording for some texts of the unsubscribe pages, each checked by
/// [`PageText::check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageWording(BTreeMap<PageText, Line>);

impl PageWording {
    /// The list's wording of `text`, if it has one.
    pub(crate) fn get(&self, text: PageText) -> Option<&str> {
        self.0.get(&text).map(Line::as_str)
    }
}

impl<'de> Deserialize<'de> for PageWording {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let given = BTreeMap::<String, Line>::deserialize(deserializer)?;
        let mut wording = BTreeMap::new();
        for (key, line) in given {
            let Some(text) = PageText::ALL.into_iter().find(|text| text.key() == key) else {
                let known = PageText::ALL.map(PageText::key).join(", ");
                return Err(D::Error::custom(format!(
                    "`{key}` is not a text of the unsubscribe pages (they are {known})"
                )));
            };
            text.check(line.as_str())
                .map_err(|reason| D::Error::custom(format!("{key}: {reason}")))?;
            wording.insert(text, line);
        }
        Ok(PageWording(wording))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_a_distinct_key_and_its_place_in_the_table() {
        for (index, text) in PageText::ALL.into_iter().enumerate() {
            assert_eq!(text.index(), index);
            assert_eq!(
                PageText::ALL
                    .iter()
                    .filter(|t| t.key() == text.key())
                    .count(),
                1
            );
        }
    }

    #[test]
    fn a_wording_keeps_its_placeholders_and_adds_none() {
        assert!(
            PageText::Confirm
                .check("Stop {list} for {address}?")
                .is_ok()
        );
        assert!(PageText::Button.check("Leave").is_ok());
        assert_eq!(
            PageText::Confirm.check("Stop {list}?").unwrap_err(),
            "`Stop {list}?` must contain `{address}` (confirm uses `{address}` and `{list}`)"
        );
        assert_eq!(
            PageText::Button.check("Leave {list}").unwrap_err(),
            "`Leave {list}` has `{list}`; button may use no placeholders"
        );
        assert!(PageText::Done.check("{address} {address} {list}").is_err());
        assert!(PageText::Button.check("Leave }").is_err());
        assert!(PageText::Button.check("Leave {").is_err());
        assert!(PageText::OrMailto.check("{mailto").is_err());
    }

    #[test]
    fn the_list_file_names_texts_by_key() {
        let wording: PageWording = serde_yaml::from_str(
            "button: Ich möchte austreten\ndone: '{address} ist raus aus {list}'\n",
        )
        .unwrap();
        assert_eq!(wording.get(PageText::Button), Some("Ich möchte austreten"));
        assert_eq!(wording.get(PageText::ConfirmTitle), None);
        let unknown = serde_yaml::from_str::<PageWording>("buton: x\n").unwrap_err();
        assert!(
            unknown.to_string().contains("`buton` is not a text"),
            "{unknown}"
        );
        let empty = serde_yaml::from_str::<PageWording>("button: ''\n").unwrap_err();
        assert!(empty.to_string().contains("must not be empty"), "{empty}");
    }
}
