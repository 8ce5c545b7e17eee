//! Appending to the suppression file: the list's memory of who must never be mailed again.
//!
//! The file stays what [`crate::input::subscribers::Suppression`] reads: one address a line,
//! `#` starts a comment. Each new entry says why and when:
//!
//! ```text
//! zoe@example.org  # hard bounce 5.1.1 2026-12-03T10:00:00Z
//! ```
//!
//! Writers take an exclusive lock on the file, skip addresses already in it (compared without
//! regard to case), and sync the file to disk before they report how many they added, so an
//! entry that was reported added survives a crash.

use std::{
    collections::HashSet,
    fmt::Write as _,
    fs::OpenOptions,
    io::{Read, Seek, SeekFrom, Write},
    path::Path,
};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::error::Error;

/// One address to suppress, with why and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) address: String,
    pub(crate) reason: String,
    pub(crate) at: OffsetDateTime,
}

/// Appends the `entries` whose address is not yet in the file at `path` (created if missing),
/// under an exclusive lock, and syncs the file; returns how many were added.
pub(crate) fn append(path: &Path, entries: &[Entry]) -> Result<usize, Error> {
    let write_error = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(write_error)?;
    file.lock().map_err(write_error)?;
    let mut existing = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(write_error)?;
    file.read_to_end(&mut existing).map_err(write_error)?;
    let mut present: HashSet<String> = String::from_utf8_lossy(&existing)
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_lowercase())
        .filter(|address| !address.is_empty())
        .collect();
    let mut text = String::new();
    // A line cut short by a crash must not swallow the first new entry.
    if existing.last().is_some_and(|&byte| byte != b'\n') {
        text.push('\n');
    }
    let mut added = 0;
    for entry in entries {
        let address = one_line(&entry.address);
        if address.is_empty() || address.contains('#') || !present.insert(address.to_lowercase()) {
            continue;
        }
        let at = entry
            .at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(entry.at)
            .format(&Rfc3339)
            .unwrap_or_default();
        let _ = writeln!(text, "{address}  # {} {at}", one_line(&entry.reason));
        added += 1;
    }
    if added > 0 {
        file.write_all(text.as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
    }
    Ok(added)
}

/// `text` on one line: control characters (line breaks above all) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, reason: &str) -> Entry {
        Entry {
            address: address.into(),
            reason: reason.into(),
            at: time::macros::datetime!(2026-12-03 10:00:00.25 UTC),
        }
    }

    #[test]
    fn appends_new_addresses_once_with_reason_and_time() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("suppressed.txt");
        std::fs::write(&path, "# kept by hand\nold@example.org").unwrap();
        let added = append(
            &path,
            &[
                entry("zoe@example.org", "hard bounce 5.1.1"),
                entry("OLD@example.org", "complaint"),
                entry("zoe@example.org", "again"),
                entry("x@example.org", "line\nbreak"),
            ],
        )
        .unwrap();
        assert_eq!(added, 2);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# kept by hand\nold@example.org\n\
             zoe@example.org  # hard bounce 5.1.1 2026-12-03T10:00:00Z\n\
             x@example.org  # line break 2026-12-03T10:00:00Z\n"
        );
        assert_eq!(
            append(&path, &[entry("zoe@example.org", "hard")]).unwrap(),
            0
        );
    }
}
