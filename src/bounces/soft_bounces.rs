//! The soft-bounce file: which issues bounced softly for which address, kept beside the
//! suppression file as `SUPPRESSION.soft-bounces` (for `suppressed.txt`,
//! `suppressed.txt.soft-bounces`), so a mailbox that is full for one issue is not suppressed,
//! but one that fails for [`ISSUES_TO_SUPPRESS`] different issues is.
//!
//! One line per address and issue, fields separated by a tab; `#` starts a comment line:
//!
//! ```text
//! # newsletter soft bounces: address, issue, status, time of the first soft bounce
//! zoe@example.org→2019-06-uk-sg-mou→5.2.2→2026-12-03T10:00:00Z
//! ```
//!
//! (each `→` is a tab).
//!
//! A second soft bounce of the same address for the same issue adds nothing, which is what
//! makes reading the same mailbox twice change nothing. The file is only appended to, under
//! an exclusive lock, and synced; a line cut short by a crash (the last one, without its line
//! break) is ignored when read and closed before the next append.

use std::{
    collections::{BTreeSet, HashMap},
    fmt::Write as _,
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{error::Error, input::location::Location};

/// Soft bounces in this many different issues suppress an address.
pub(crate) const ISSUES_TO_SUPPRESS: usize = 3;

const HEADER: &str = "# newsletter soft bounces: address, issue, status, time of the first soft bounce (tab-separated)\n";

/// The soft bounces recorded so far, and those added by this run.
#[derive(Debug)]
pub(crate) struct SoftBounces {
    path: PathBuf,
    issues: HashMap<String, BTreeSet<String>>,
    /// Lines not yet written.
    pending: String,
}

/// The soft-bounce file that goes with the suppression file `suppression`.
pub(crate) fn path_beside(suppression: &Path) -> PathBuf {
    let mut name = suppression
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".soft-bounces");
    suppression.with_file_name(name)
}

impl SoftBounces {
    /// Reads the file at `path`; a missing file is an empty record.
    pub(crate) fn load(path: &Path) -> Result<SoftBounces, Error> {
        let mut text = String::new();
        match File::open(path) {
            Ok(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes).map_err(|source| Error::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text = String::from_utf8(bytes).map_err(|error| Error::DocumentNotText {
                    location: Location::line(
                        path,
                        line_of(error.as_bytes(), error.utf8_error().valid_up_to()),
                    ),
                })?;
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let mut issues: HashMap<String, BTreeSet<String>> = HashMap::new();
        // The last line without its line break was cut short by a crash: not a record.
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        for (index, line) in complete.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [address, issue, _status, time] = fields[..] else {
                return Err(damaged(
                    path,
                    index,
                    "expected 4 tab-separated fields: address, issue, status, time",
                ));
            };
            if !address.contains('@') || issue.is_empty() {
                return Err(damaged(path, index, "the address or the issue is missing"));
            }
            if OffsetDateTime::parse(time, &Rfc3339).is_err() {
                return Err(damaged(path, index, "the time is not an RFC 3339 time"));
            }
            issues
                .entry(address.to_lowercase())
                .or_default()
                .insert(issue.to_owned());
        }
        Ok(SoftBounces {
            path: path.to_owned(),
            issues,
            pending: String::new(),
        })
    }

    /// Records a soft bounce of `address` for `issue`; returns whether it is new (a second one
    /// for the same issue is not).
    pub(crate) fn record(
        &mut self,
        address: &str,
        issue: &str,
        status: &str,
        at: OffsetDateTime,
    ) -> bool {
        let address = address.to_lowercase();
        let clean = |text: &str| -> String {
            text.chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect()
        };
        let issue = clean(issue);
        if !self
            .issues
            .entry(address.clone())
            .or_default()
            .insert(issue.clone())
        {
            return false;
        }
        let at = at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(at)
            .format(&Rfc3339)
            .unwrap_or_default();
        let _ = writeln!(
            self.pending,
            "{}\t{issue}\t{}\t{at}",
            clean(&address),
            clean(status)
        );
        true
    }

    /// How many different issues bounced softly for `address`.
    pub(crate) fn issue_count(&self, address: &str) -> usize {
        self.issues
            .get(&address.to_lowercase())
            .map_or(0, BTreeSet::len)
    }

    /// Every address with soft bounces in at least [`ISSUES_TO_SUPPRESS`] issues.
    pub(crate) fn over_threshold(&self) -> Vec<&str> {
        let mut addresses: Vec<&str> = self
            .issues
            .iter()
            .filter(|(_, issues)| issues.len() >= ISSUES_TO_SUPPRESS)
            .map(|(address, _)| address.as_str())
            .collect();
        addresses.sort_unstable();
        addresses
    }

    /// Appends what was recorded since loading, under an exclusive lock, and syncs the file.
    /// A line cut short by an earlier crash is cut off first.
    pub(crate) fn save(&mut self) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let write_error = |source| Error::Write {
            path: self.path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .map_err(write_error)?;
        file.lock().map_err(write_error)?;
        let mut existing = Vec::new();
        file.read_to_end(&mut existing).map_err(write_error)?;
        let complete = existing
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |end| end + 1);
        if complete < existing.len() {
            file.set_len(complete as u64).map_err(write_error)?;
        }
        file.seek(SeekFrom::Start(complete as u64))
            .map_err(write_error)?;
        let mut text = String::new();
        if complete == 0 {
            text.push_str(HEADER);
        }
        text.push_str(&self.pending);
        file.write_all(text.as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        self.pending.clear();
        Ok(())
    }
}

fn damaged(path: &Path, index: usize, message: &str) -> Error {
    Error::DocumentInvalid {
        location: Location::line(path, index + 1),
        field: None,
        message: message.into(),
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].split(|&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: OffsetDateTime = time::macros::datetime!(2026-12-03 10:00:00 UTC);

    #[test]
    fn counts_issues_not_bounces_and_survives_a_reload() {
        let folder = tempfile::tempdir().unwrap();
        let path = path_beside(&folder.path().join("suppressed.txt"));
        assert!(path.ends_with("suppressed.txt.soft-bounces"));
        let mut soft = SoftBounces::load(&path).unwrap();
        assert!(soft.record("Zoe@example.org", "issue-1", "5.2.2", AT));
        assert!(!soft.record("zoe@example.org", "issue-1", "4.2.2", AT));
        assert!(soft.record("zoe@example.org", "issue-2", "4.4.7", AT));
        assert_eq!(soft.issue_count("zoe@example.org"), 2);
        assert!(soft.over_threshold().is_empty());
        soft.save().unwrap();
        let mut again = SoftBounces::load(&path).unwrap();
        assert_eq!(again.issue_count("ZOE@example.org"), 2);
        assert!(again.record("zoe@example.org", "issue-3", "5.7.1", AT));
        assert_eq!(again.over_threshold(), ["zoe@example.org"]);
        again.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}zoe@example.org\tissue-1\t5.2.2\t2026-12-03T10:00:00Z\n\
                 zoe@example.org\tissue-2\t4.4.7\t2026-12-03T10:00:00Z\n\
                 zoe@example.org\tissue-3\t5.7.1\t2026-12-03T10:00:00Z\n"
            )
        );
    }

    #[test]
    fn a_line_cut_short_is_ignored_and_a_damaged_line_is_an_error() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("s.soft-bounces");
        std::fs::write(
            &path,
            "a@example.org\tissue-1\t5.2.2\t2026-12-03T10:00:00Z\nb@exa",
        )
        .unwrap();
        let mut soft = SoftBounces::load(&path).unwrap();
        assert_eq!(soft.issue_count("a@example.org"), 1);
        assert_eq!(soft.issue_count("b@exa"), 0);
        soft.record("c@example.org", "issue-1", "4.0.0", AT);
        soft.save().unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("Z\nc@example.org\tissue-1\t4.0.0\t2026-12-03T10:00:00Z\n")
        );
        std::fs::write(&path, "a@example.org issue-1\n").unwrap();
        let error = SoftBounces::load(&path).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }
}
