//! The suppression file as the list's memory: who must never be mailed again, why, and since
//! when.
//!
//! The format stays what people write by hand (one address a line, `#` starts a comment; read
//! by [`crate::input::subscribers::Suppression`]); entries added by `newsletter` carry the
//! reason and the time in their comment:
//!
//! ```text
//! zoe@example.org  # unsubscribed one-click 2026-12-03T10:00:00Z
//! ```
//!
//! Writers (`serve`, `unsubscribe`, `bounces`) append under an exclusive lock and `fsync` before
//! they return, so "added" means "on disk"; readers (`send`, `status`) take a shared lock, so
//! they never see half a batch. [`Writer`] keeps the addresses it has seen so that a long-running
//! writer (the endpoint) reads only what others appended since its last batch.

use std::{
    collections::HashSet,
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{error::Error, input::subscribers::AddressKey};

/// One address to suppress, with why and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) address: String,
    pub(crate) reason: String,
    pub(crate) at: OffsetDateTime,
}

impl Entry {
    /// The line written for this entry, e.g. `zoe@example.org  # unsubscribed one-click
    /// 2026-12-03T10:00:00Z`. The reason is kept on one line.
    fn line(&self) -> String {
        let reason: String = self
            .reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let at = self
            .at
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(self.at)
            .format(&Rfc3339)
            .unwrap_or_default();
        format!("{}  # {} {at}\n", self.address.trim(), reason.trim())
    }
}

/// Appends `entries` whose addresses are not in the file yet (compared without case), under an
/// exclusive lock, and syncs the file before returning how many were added. Creates the file
/// if it does not exist.
pub(crate) fn append(path: &Path, entries: &[Entry]) -> Result<usize, Error> {
    Writer::new(path).append(entries)
}

/// Appends to one suppression file, remembering the addresses already in it.
#[derive(Debug)]
pub(crate) struct Writer {
    path: PathBuf,
    known: HashSet<AddressKey>,
    /// How much of the file `known` covers; the file only grows, so the next batch reads from
    /// here (or from the start again if someone rewrote it shorter).
    read_up_to: u64,
    /// The file's length when last looked at, under the lock.
    file_len: u64,
}

impl Writer {
    pub(crate) fn new(path: &Path) -> Writer {
        Writer {
            path: path.to_owned(),
            known: HashSet::new(),
            read_up_to: 0,
            file_len: 0,
        }
    }

    /// See [`append`].
    pub(crate) fn append(&mut self, entries: &[Entry]) -> Result<usize, Error> {
        for entry in entries {
            check_address(&entry.address)?;
        }
        let path = self.path.clone();
        let write_error = |source| Error::Write {
            path: path.clone(),
            source,
        };
        let created = !self.path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .map_err(write_error)?;
        file.lock().map_err(write_error)?;
        let ends_with_newline = self.catch_up(&mut file)?;
        let mut text = String::new();
        if !ends_with_newline {
            // A line written by hand without a final line break must not swallow ours.
            text.push('\n');
        }
        let mut added = 0;
        for entry in entries {
            if self.known.insert(AddressKey::of(&entry.address)) {
                text.push_str(&entry.line());
                added += 1;
            }
        }
        if added > 0 {
            file.write_all(text.as_bytes()).map_err(write_error)?;
            file.sync_data().map_err(write_error)?;
            // Everything up to the end of what was just written is now known.
            self.read_up_to = self.file_len + text.len() as u64;
            if created {
                sync_folder(&self.path).map_err(write_error)?;
            }
        }
        // Dropping the file releases the lock.
        Ok(added)
    }

    /// Reads what was appended since the last call into `known`; returns whether the file ends
    /// with a line break (or is empty).
    fn catch_up(&mut self, file: &mut File) -> Result<bool, Error> {
        let read_error = |source| Error::Read {
            path: self.path.clone(),
            source,
        };
        let len = file.metadata().map_err(read_error)?.len();
        if len < self.read_up_to {
            self.known.clear();
            self.read_up_to = 0;
        }
        file.seek(SeekFrom::Start(self.read_up_to))
            .map_err(read_error)?;
        let mut bytes = Vec::new();
        file.take(len - self.read_up_to)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        // Only whole lines count; a partial last line is read again next time.
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for line in bytes[..complete].split(|&b| b == b'\n') {
            if let Some(address) = address_of(line) {
                self.known.insert(AddressKey::of(address));
            }
        }
        if complete < bytes.len()
            && let Some(address) = address_of(&bytes[complete..])
        {
            // Nothing follows it yet, but it is an address all the same.
            self.known.insert(AddressKey::of(address));
        }
        self.read_up_to += complete as u64;
        self.file_len = len;
        match bytes.last() {
            Some(&last) => Ok(last == b'\n'),
            None => ends_with_newline(file, len),
        }
    }
}

/// Whether the last byte of the file (of length `len`) is a line break; an empty file counts.
fn ends_with_newline(file: &mut File, len: u64) -> Result<bool, Error> {
    if len == 0 {
        return Ok(true);
    }
    let mut last = [0];
    file.seek(SeekFrom::Start(len - 1))
        .and_then(|_| file.read_exact(&mut last))
        .map_err(|source| Error::Internal {
            message: format!("cannot read the suppression file: {source}"),
        })?;
    Ok(last[0] == b'\n')
}

/// The address on a line of the file, if it has one.
fn address_of(line: &[u8]) -> Option<&str> {
    let line = std::str::from_utf8(line).ok()?;
    let address = line.split('#').next().unwrap_or("").trim();
    (!address.is_empty()).then_some(address)
}

/// An address that would not read back as itself is refused rather than written.
fn check_address(address: &str) -> Result<(), Error> {
    let address = address.trim();
    if address.is_empty()
        || address.contains(|c: char| c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(Error::SuppressionAddress {
            address: address.escape_debug().to_string(),
        });
    }
    Ok(())
}

/// Makes a new file's directory entry durable too.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}

/// How many addresses the file holds, by reason (the comment without its time; `no reason
/// recorded` for bare addresses), most frequent first.
pub(crate) fn reasons(path: &Path) -> Result<Vec<(String, usize)>, Error> {
    let read_error = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    file.lock_shared().map_err(read_error)?;
    let mut text = String::new();
    (&file).read_to_string(&mut text).map_err(read_error)?;
    let mut seen = HashSet::new();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for line in text.lines() {
        let (address, comment) = line.split_once('#').unwrap_or((line, ""));
        let address = address.trim();
        if address.is_empty() || !seen.insert(AddressKey::of(address)) {
            continue;
        }
        let reason = reason_of(comment);
        match counts.iter_mut().find(|(known, _)| *known == reason) {
            Some((_, count)) => *count += 1,
            None => counts.push((reason, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(counts)
}

/// The reason in a comment written by [`Entry::line`]: the comment less its trailing time.
fn reason_of(comment: &str) -> String {
    let comment = comment.trim();
    let reason = match comment.rsplit_once(' ') {
        Some((reason, time)) if OffsetDateTime::parse(time, &Rfc3339).is_ok() => reason.trim(),
        _ => comment,
    };
    if reason.is_empty() {
        "no reason recorded".into()
    } else {
        reason.to_owned()
    }
}

/// The suppression file as `send` sees it while it runs: re-read when it changes, checked at
/// most every [`Live::INTERVAL`], so that an unsubscribe during a long send is honoured within
/// seconds.
#[derive(Debug)]
pub(crate) struct Live {
    path: PathBuf,
    keys: HashSet<AddressKey>,
    checked: Instant,
    version: Option<(u64, SystemTime)>,
}

impl Live {
    /// How often the file's size and time are looked at.
    pub(crate) const INTERVAL: Duration = Duration::from_millis(500);

    pub(crate) fn new(path: &Path) -> Live {
        Live {
            path: path.to_owned(),
            keys: HashSet::new(),
            checked: Instant::now(),
            version: None,
        }
    }

    /// Whether `key` is in the file, re-reading it if it changed since the last look.
    pub(crate) fn contains(&mut self, key: AddressKey) -> Result<bool, Error> {
        if self.is_due() {
            self.refresh()?;
        }
        Ok(self.had(key))
    }

    /// Whether the file should be looked at again before the next [`Live::had`].
    pub(crate) fn is_due(&self) -> bool {
        self.version.is_none() || self.checked.elapsed() >= Self::INTERVAL
    }

    /// Whether `key` was in the file when it was last read.
    pub(crate) fn had(&self, key: AddressKey) -> bool {
        self.keys.contains(&key)
    }

    /// Reads the file again if its size or time changed.
    pub(crate) fn refresh(&mut self) -> Result<(), Error> {
        self.checked = Instant::now();
        let version = std::fs::metadata(&self.path).ok().map(|meta| {
            (
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            )
        });
        if version == self.version {
            return Ok(());
        }
        self.keys = if version.is_some() {
            crate::input::subscribers::Suppression::load(&self.path)?.into_keys()
        } else {
            HashSet::new()
        };
        self.version = version;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str) -> Entry {
        Entry {
            address: address.into(),
            reason: "unsubscribed one-click".into(),
            at: time::macros::datetime!(2026-12-03 10:00:00.25 UTC),
        }
    }

    #[test]
    fn appends_new_addresses_once_with_reason_and_time() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("suppressed.txt");
        std::fs::write(&path, "# by hand\nLi@Example.org").unwrap();
        assert_eq!(
            append(&path, &[entry("zoe@example.org"), entry("li@example.org")]).unwrap(),
            1
        );
        assert_eq!(append(&path, &[entry("ZOE@example.org")]).unwrap(), 0);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# by hand\nLi@Example.org\nzoe@example.org  # unsubscribed one-click 2026-12-03T10:00:00Z\n"
        );
        let suppression = crate::input::subscribers::Suppression::load(&path).unwrap();
        assert!(suppression.contains(AddressKey::of("zoe@example.org")));
        assert!(suppression.contains(AddressKey::of("li@example.org")));
    }

    #[test]
    fn a_writer_sees_what_others_appended() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("suppressed.txt");
        let mut writer = Writer::new(&path);
        assert_eq!(writer.append(&[entry("a@example.org")]).unwrap(), 1);
        assert_eq!(append(&path, &[entry("b@example.org")]).unwrap(), 1);
        assert_eq!(
            writer
                .append(&[entry("b@example.org"), entry("a@example.org")])
                .unwrap(),
            0
        );
        std::fs::write(&path, "").unwrap();
        assert_eq!(writer.append(&[entry("a@example.org")]).unwrap(), 1);
    }

    #[test]
    fn addresses_that_would_not_read_back_are_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("suppressed.txt");
        for bad in [
            "",
            "a b@example.org",
            "a@example.org\nb@example.org",
            "a#b@example.org",
        ] {
            assert!(append(&path, &[entry(bad)]).is_err(), "{bad:?}");
        }
        assert!(!path.exists() || std::fs::read_to_string(&path).unwrap().is_empty());
    }

    #[test]
    fn live_sees_an_address_appended_after_it_first_looked() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("suppressed.txt");
        std::fs::write(&path, "a@example.org\n").unwrap();
        let mut live = Live::new(&path);
        assert!(live.contains(AddressKey::of("A@example.org")).unwrap());
        assert!(!live.contains(AddressKey::of("b@example.org")).unwrap());
        append(&path, &[entry("b@example.org")]).unwrap();
        std::thread::sleep(Live::INTERVAL);
        assert!(live.contains(AddressKey::of("b@example.org")).unwrap());
    }

    #[test]
    fn reasons_are_counted_without_their_time() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("suppressed.txt");
        std::fs::write(
            &path,
            "old@example.org\n# comment\na@example.org  # unsubscribed one-click 2026-12-03T10:00:00Z\nb@example.org # unsubscribed one-click 2026-12-04T10:00:00Z\nc@example.org # GDPR erasure\n",
        )
        .unwrap();
        assert_eq!(
            reasons(&path).unwrap(),
            vec![
                ("unsubscribed one-click".to_owned(), 2),
                ("GDPR erasure".to_owned(), 1),
                ("no reason recorded".to_owned(), 1),
            ]
        );
    }
}
