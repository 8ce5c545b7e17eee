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
    /// Per row, `name <email>` in lower case: what a search matches against.
    haystack: Vec<Box<str>>,
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
        let mut by_key = HashMap::with_capacity(rows.len());
        let mut haystack = Vec::with_capacity(rows.len());
        for (index, subscriber) in rows.iter().enumerate() {
            by_key.entry(subscriber.key()).or_insert(index);
            let email: &str = subscriber.email.as_ref();
            haystack.push(
                format!("{} <{email}>", subscriber.name)
                    .to_lowercase()
                    .into_boxed_str(),
            );
        }
        Ok(SubscriberIndex {
            rows,
            by_key,
            haystack,
            invalid: tally.invalid,
            warnings: tally.warnings,
            skipped: tally.skipped.len(),
        })
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
        let words: Vec<&str> = query.split_whitespace().collect();
        self.haystack
            .iter()
            .enumerate()
            .filter(|(_, text)| words.iter().all(|word| text.contains(word)))
            .take(limit)
            .map(|(index, _)| &self.rows[index])
            .collect()
    }
}
