//! The subscriber list of a live preview, read once per change of the subscriber or suppression
//! file and kept in memory: indexed by address for the `for=` lookups, and searchable on the
//! server so that the page never receives the list (a million rows stay on this side).

use std::{collections::HashMap, fs, path::Path, time::SystemTime};

use crate::{
    error::Error,
    input::{
        audience::Audience,
        issue::Issue,
        location::Location,
        subscribers::{AddressKey, Subscriber},
    },
};

/// What identifies the contents of a file without reading it: a new inode (an editor's rename),
/// a new size or a new modification time means it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint(Vec<Option<(u64, u64, SystemTime)>>);

impl Fingerprint {
    pub(crate) fn of(paths: &[&Path]) -> Fingerprint {
        Fingerprint(
            paths
                .iter()
                .map(|path| {
                    let metadata = fs::metadata(path).ok()?;
                    Some((
                        std::os::unix::fs::MetadataExt::ino(&metadata),
                        metadata.len(),
                        metadata.modified().ok()?,
                    ))
                })
                .collect(),
        )
    }
}

/// The recipients of an issue, in file order, with what reading them found.
#[derive(Debug)]
pub(crate) struct SubscriberIndex {
    rows: Vec<Subscriber>,
    by_key: HashMap<AddressKey, usize>,
    /// Every row as `name <email>` in lower case, one a line: what a search matches against.
    /// One string searched with `memmem` keeps a search of a million rows to one pass over
    /// a few tens of megabytes, without an allocation per row.
    haystack: String,
    /// Where each row's line starts in `haystack`.
    starts: Vec<usize>,
    /// Rows that are not valid, with where they are.
    pub(crate) invalid: Vec<(Location, String)>,
    /// Rows whose name had to be cleaned.
    pub(crate) warnings: Vec<String>,
    pub(crate) skipped: usize,
}

impl SubscriberIndex {
    /// Reads every row of `audience` (its columns checked against `issue`).
    pub(crate) fn read(audience: &Audience, issue: &Issue) -> Result<SubscriberIndex, Error> {
        let mut rows = Vec::new();
        let tally = audience.scan(issue, |subscriber| {
            rows.push(subscriber);
            Ok(())
        })?;
        let mut index = SubscriberIndex::of(rows);
        index.invalid = tally.invalid;
        index.warnings = tally.warnings;
        index.skipped = tally.skipped.len();
        Ok(index)
    }

    fn of(rows: Vec<Subscriber>) -> SubscriberIndex {
        let mut by_key = HashMap::with_capacity(rows.len());
        let mut haystack = String::new();
        let mut starts = Vec::with_capacity(rows.len());
        for (index, subscriber) in rows.iter().enumerate() {
            by_key.entry(subscriber.key()).or_insert(index);
            let email: &str = subscriber.email.as_ref();
            starts.push(haystack.len());
            // Names are cleaned of line breaks when read, so a line is a row.
            let line = format!("{} <{email}>", subscriber.name).to_lowercase();
            haystack.push_str(&line.replace('\n', " "));
            haystack.push('\n');
        }
        SubscriberIndex {
            rows,
            by_key,
            haystack,
            starts,
            invalid: Vec::new(),
            warnings: Vec::new(),
            skipped: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn first(&self) -> Option<&Subscriber> {
        self.rows.first()
    }

    /// The recipient with this address (compared as `send` compares them).
    pub(crate) fn find(&self, email: &str) -> Option<&Subscriber> {
        self.by_key
            .get(&AddressKey::of(email))
            .map(|&index| &self.rows[index])
    }

    /// Up to `limit` recipients whose name or address contains every word of `query`
    /// (case-insensitive), in file order.
    pub(crate) fn search(&self, query: &str, limit: usize) -> Vec<&Subscriber> {
        let query = query.to_lowercase();
        let mut words: Vec<&str> = query.split_whitespace().collect();
        // The longest word is the rarest, as a rule: it picks the candidates.
        words.sort_by_key(|word| std::cmp::Reverse(word.len()));
        let Some((first, others)) = words.split_first() else {
            return self.rows.iter().take(limit).collect();
        };
        let finder = memchr::memmem::Finder::new(first.as_bytes());
        let others: Vec<_> = others
            .iter()
            .map(|word| memchr::memmem::Finder::new(word.as_bytes()))
            .collect();
        let text = self.haystack.as_bytes();
        let mut found = Vec::new();
        let mut from = 0;
        while found.len() < limit {
            let Some(at) = finder.find(&text[from..]) else {
                break;
            };
            let row = self.starts.partition_point(|&start| start <= from + at) - 1;
            let end = self.starts.get(row + 1).copied().unwrap_or(text.len());
            let line = &text[self.starts[row]..end];
            if others.iter().all(|word| word.find(line).is_some()) {
                found.push(&self.rows[row]);
            }
            from = end;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> SubscriberIndex {
        let rows = [
            ("Zoë Martin", "zoe.martin@example.org"),
            ("李明", "li.ming@example.com"),
            ("Martin Li", "martin.li@example.net"),
            ("", "anon@example.org"),
        ]
        .into_iter()
        .map(|(name, email)| {
            let mut subscriber = Subscriber::ad_hoc(email.parse().unwrap());
            name.clone_into(&mut subscriber.name);
            subscriber
        })
        .collect();
        SubscriberIndex::of(rows)
    }

    fn emails(found: &[&Subscriber]) -> Vec<String> {
        found.iter().map(|row| row.email.to_string()).collect()
    }

    #[test]
    fn search_matches_every_word_in_name_or_address_ignoring_case() {
        let index = index();
        assert_eq!(
            emails(&index.search("MARTIN", 10)),
            ["zoe.martin@example.org", "martin.li@example.net"]
        );
        assert_eq!(
            emails(&index.search("li martin", 10)),
            ["martin.li@example.net"]
        );
        assert_eq!(emails(&index.search("李", 10)), ["li.ming@example.com"]);
        assert_eq!(
            emails(&index.search("example.org", 10)),
            ["zoe.martin@example.org", "anon@example.org"]
        );
        assert!(index.search("nobody", 10).is_empty());
    }

    #[test]
    fn search_stops_at_the_limit_and_an_empty_query_lists_the_first_rows() {
        let index = index();
        assert_eq!(index.search("example", 2).len(), 2);
        assert_eq!(emails(&index.search("  ", 1)), ["zoe.martin@example.org"]);
        assert_eq!(
            index
                .find("ZOE.MARTIN@example.org")
                .map(|row| row.name.as_str()),
            Some("Zoë Martin")
        );
    }
}
