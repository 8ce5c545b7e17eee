//! The subscriber file: a CSV with a header row naming at least an `email` column, optionally
//! `name` and `status`, and any further columns (usable as `{column}` merge fields).
//!
//! The file is streamed row by row, so a list of a million subscribers is never held in memory:
//! [`SubscriberReader`] yields one [`Row`] per data row, and the caller decides what to do with
//! rows that are skipped (unsubscribed, suppressed, duplicate) or invalid. Duplicates are found
//! case-insensitively and only the first row of an address is a recipient. A UTF-8 byte order
//! mark and CRLF line endings are accepted.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    hash::{DefaultHasher, Hash, Hasher},
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    error::Error,
    input::{location::Location, text, values::parse_address},
};

/// The longest value a field may have. Names and merge fields are a line of text and
/// addresses at most 254 characters (RFC 5321); a longer field is a broken file, and would
/// otherwise be copied into every header and part it appears in. A name goes into `To`, whose
/// line may not be longer than 998 characters even when every character of the name must be
/// escaped.
pub(crate) const MAX_FIELD_BYTES: usize = 256;

/// The most characters of an address kept in a file name ([`Subscriber::file_stem`]).
const MAX_STEM_ADDRESS: usize = 96;

/// One subscriber who will receive the issue.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The line of the subscriber file the row starts on.
    pub(crate) line: usize,
    pub email: lettre::Address,
    /// The display name, with line breaks and other control characters replaced by spaces.
    pub name: String,
    columns: Arc<[String]>,
    values: Vec<String>,
}

impl Subscriber {
    /// `0007-zoe_example.org`: the line number keeps names unique and in list order, and only
    /// characters that are safe in file names on every system are kept from the address. An
    /// address longer than [`MAX_STEM_ADDRESS`] is cut and ends with a hash of the whole, so
    /// that the name (with its extension) stays far below the usual 255-byte limit.
    pub(crate) fn file_stem(&self) -> String {
        let email: &str = self.email.as_ref();
        let mut stem: String = email
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+') {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        if stem.len() > MAX_STEM_ADDRESS {
            use sha2::Digest as _;
            let digest = sha2::Sha256::digest(email.as_bytes());
            stem.truncate(MAX_STEM_ADDRESS - 17);
            stem.push('-');
            stem.extend(digest[..8].iter().map(|byte| format!("{byte:02x}")));
        }
        format!("{:04}-{stem}", self.line)
    }

    /// A subscriber that is not in any file (`send --to`).
    pub(crate) fn ad_hoc(email: lettre::Address) -> Subscriber {
        Subscriber {
            line: 0,
            email,
            name: String::new(),
            columns: Arc::from([]),
            values: Vec::new(),
        }
    }

    /// This subscriber's row, addressed to `email` instead: a test copy of their message.
    pub(crate) fn sent_to(&self, email: lettre::Address) -> Subscriber {
        Subscriber {
            email,
            ..self.clone()
        }
    }

    /// The value of a column, by its (lower-case) header name.
    pub(crate) fn field(&self, column: &str) -> Option<&str> {
        match column {
            "email" => Some(self.email.as_ref()),
            "name" => Some(&self.name),
            _ => self
                .columns
                .iter()
                .position(|c| c == column)
                .and_then(|index| self.values.get(index))
                .map(String::as_str),
        }
    }

    /// The key under which addresses are compared: the address in lower case.
    pub(crate) fn key(&self) -> AddressKey {
        AddressKey::of(self.email.as_ref())
    }
}

/// A 64-bit digest of an address as mail systems compare it, so that sets of a million
/// addresses stay small: the domain in lower case after IDNA (so `bücher.example` and
/// `xn--bcher-kva.example` are one), the local part with ASCII letters only in lower case.
/// Full Unicode case folding would make distinct mailboxes one (the Kelvin sign `\u{212A}`
/// lower-cases to `k`), so a real subscriber would be skipped as a duplicate of another, and a
/// suppression entry for one would suppress the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(u64);

impl AddressKey {
    pub(crate) fn of(address: &str) -> AddressKey {
        let address = address.trim();
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        let domain = if domain.is_ascii() {
            domain.to_ascii_lowercase()
        } else {
            match url::Host::parse(domain) {
                Ok(url::Host::Domain(ascii)) => ascii,
                _ => domain.to_lowercase(),
            }
        };
        let mut hasher = DefaultHasher::new();
        (local.to_ascii_lowercase(), domain).hash(&mut hasher);
        AddressKey(hasher.finish())
    }
}

/// Why a row is not a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// The `status` column says the subscriber left, or never confirmed.
    Status(String),
    /// The address is in the suppression file.
    Suppressed,
    /// The address already appeared on an earlier line.
    Duplicate { first_line: usize },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Status(status) => write!(f, "status is `{status}`"),
            SkipReason::Suppressed => f.write_str("address is in the suppression file"),
            SkipReason::Duplicate { first_line } => {
                write!(f, "duplicate of line {first_line}")
            }
        }
    }
}

/// A row that is not a recipient, and why.
#[derive(Debug, Clone)]
pub struct Skip {
    pub(crate) line: usize,
    pub(crate) email: String,
    pub(crate) reason: SkipReason,
}

/// What one data row of the subscriber file amounts to.
#[derive(Debug)]
pub enum Row {
    Recipient {
        subscriber: Subscriber,
        /// Set when the row was accepted but changed, e.g. a line break in a name.
        warning: Option<String>,
    },
    Skipped(Skip),
    Invalid {
        location: Location,
        message: String,
    },
}

/// Addresses never to mail, read from a file of one address per line (`#` starts a comment).
#[derive(Debug, Default)]
pub struct Suppression {
    keys: HashSet<AddressKey>,
}

impl Suppression {
    pub(crate) fn load(path: &Path) -> Result<Suppression, Error> {
        let read_error = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(read_error)?;
        // Writers append under an exclusive lock (`input::suppression`); the shared lock keeps
        // this read from seeing half of their batch.
        file.lock_shared().map_err(read_error)?;
        let mut keys = HashSet::new();
        for (index, line) in BufReader::new(file).split(b'\n').enumerate() {
            let line = line.map_err(read_error)?;
            let line = std::str::from_utf8(&line).map_err(|_| Error::DocumentNotText {
                location: Location::line(path, index + 1),
            })?;
            let address = line.split('#').next().unwrap_or("").trim();
            if !address.is_empty() {
                keys.insert(AddressKey::of(address));
            }
        }
        Ok(Suppression { keys })
    }

    pub(crate) fn contains(&self, key: AddressKey) -> bool {
        self.keys.contains(&key)
    }

    pub(crate) fn into_keys(self) -> HashSet<AddressKey> {
        self.keys
    }
}

/// The column names of the header row, lower-cased, with notes on how the file was read (the
/// separator, names with spaces read as placeholder names).
fn column_names(
    path: &Path,
    header: &csv::ByteRecord,
    separator: u8,
) -> Result<(Vec<String>, Vec<String>), Error> {
    let header_error = |message: String| Error::SubscriberHeader {
        location: Location::line(path, 1),
        message,
    };
    let mut columns = Vec::new();
    let mut notes = Vec::new();
    if separator != b',' {
        notes.push(format!(
            "{}: the columns are separated by {}",
            Location::line(path, 1),
            if separator == b';' {
                "semicolons"
            } else {
                "tabs"
            }
        ));
    }
    for (index, raw) in header.iter().enumerate() {
        let raw = if index == 0 {
            raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw)
        } else {
            raw
        };
        let name = std::str::from_utf8(raw)
            .map_err(|_| header_error(format!("the header row is not UTF-8 text; {SAVE_AS_UTF8}")))?
            .trim()
            .to_lowercase();
        // `First name`, as spreadsheets write it, is the placeholder `{first_name}`.
        let name = if name.contains(char::is_whitespace) {
            let placeholder = name.split_whitespace().collect::<Vec<_>>().join("_");
            notes.push(format!(
                "{}: column `{}` is read as `{placeholder}`",
                Location::line(path, 1),
                String::from_utf8_lossy(raw).trim()
            ));
            placeholder
        } else {
            name
        };
        if name.is_empty() {
            return Err(header_error(format!(
                "column {} of the header row has no name",
                index + 1
            )));
        }
        if columns.contains(&name) {
            return Err(header_error(format!(
                "the header row names column `{name}` twice"
            )));
        }
        columns.push(name);
    }
    Ok((columns, notes))
}

/// What to do about a file that is not UTF-8: most often a spreadsheet's "CSV" export in the
/// Windows-1252 encoding.
const SAVE_AS_UTF8: &str = "save it from the spreadsheet as \"CSV UTF-8\"";

/// The separator of a subscriber file: `;` or a tab when the first line has more of it than
/// commas, else `,`. The file is left at its start.
fn separator(file: &mut File) -> std::io::Result<u8> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut start = [0u8; 4096];
    let mut filled = 0;
    while filled < start.len() {
        let read = file.read(&mut start[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    file.seek(SeekFrom::Start(0))?;
    let first_line = start[..filled]
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or(&[]);
    // One line of at most 4 KiB: a plain count is fast enough.
    #[allow(clippy::naive_bytecount)]
    let count = |wanted: u8| first_line.iter().filter(|byte| **byte == wanted).count();
    let commas = count(b',');
    Ok([b';', b'\t']
        .into_iter()
        .filter(|candidate| count(*candidate) > commas)
        .max_by_key(|candidate| count(*candidate))
        .unwrap_or(b','))
}

/// Streams the rows of a subscriber file.
pub struct SubscriberReader<'s> {
    path: PathBuf,
    csv: csv::Reader<BufReader<File>>,
    columns: Arc<[String]>,
    email_column: usize,
    name_column: Option<usize>,
    status_column: Option<usize>,
    /// What was read differently from how it is written (the separator, renamed columns).
    notes: Vec<String>,
    record: csv::ByteRecord,
    first_lines: HashMap<AddressKey, u32>,
    suppression: Option<&'s Suppression>,
    /// The file's length, and whether it ends with a line break (see `record_line`).
    file_len: u64,
    ends_with_newline: bool,
}

impl<'s> SubscriberReader<'s> {
    /// Opens the file and reads its header row.
    pub fn open(
        path: &Path,
        suppression: Option<&'s Suppression>,
    ) -> Result<SubscriberReader<'s>, Error> {
        let read_error = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(read_error)?;
        let file_len = file.metadata().map_err(read_error)?.len();
        let ends_with_newline = last_byte(&mut file).map_err(read_error)? == Some(b'\n');
        // Spreadsheets in many locales export "CSV" separated by semicolons, or tabs.
        let separator = separator(&mut file).map_err(read_error)?;
        // csv's own CRLF handling miscounts lines, so records end at `\n` and a trailing `\r`
        // is trimmed from each field instead.
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(separator)
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(BufReader::with_capacity(256 * 1024, file));
        let header_error = |message: String| Error::SubscriberHeader {
            location: Location::line(path, 1),
            message,
        };
        let mut header = csv::ByteRecord::new();
        let has_header = csv
            .read_byte_record(&mut header)
            .map_err(|error| header_error(format!("cannot read the header row: {error}")))?;
        if !has_header {
            return Err(Error::DocumentEmpty {
                path: path.to_owned(),
                needs: "a subscriber file needs a header row with an `email` column",
            });
        }
        if csv.position().byte() >= file_len && quote_left_open(path, 0).map_err(read_error)? {
            return Err(header_error(UNCLOSED_QUOTE.into()));
        }
        let (columns, notes) = column_names(path, &header, separator)?;
        let position = |wanted: &str| columns.iter().position(|c| c == wanted);
        let Some(email_column) = position("email") else {
            return Err(header_error(format!(
                "the header row has no `email` column (it has {})",
                columns
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let name_column = position("name");
        let status_column = position("status");
        Ok(SubscriberReader {
            path: path.to_owned(),
            csv,
            columns: columns.into(),
            email_column,
            name_column,
            status_column,
            notes,
            record: csv::ByteRecord::new(),
            first_lines: HashMap::new(),
            suppression,
            file_len,
            ends_with_newline,
        })
    }

    /// The header names, lower-cased.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How the file was read where it differs from the usual: a separator other than the comma,
    /// a column name with spaces read as a placeholder name.
    pub(crate) fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The next data row, `None` at the end of the file, or an I/O error.
    pub fn next_row(&mut self) -> Option<Result<Row, Error>> {
        loop {
            let line = match self.csv.read_byte_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => self.record_line(),
                Err(error) => {
                    let line = error.position().map_or(0, |p| usize_from(p.line()));
                    return Some(match error.into_kind() {
                        csv::ErrorKind::Io(source) => Err(Error::Read {
                            path: self.path.clone(),
                            source,
                        }),
                        other => Ok(self.invalid(line, format!("{other:?}"))),
                    });
                }
            };
            // A blank line is not a row.
            if self.record.len() == 1 && trim_field(&self.record[0]).is_empty() {
                continue;
            }
            // csv reads a quote that is never closed as a field that runs to the end of the
            // file, swallowing the rows after it; only the last record can have one.
            if self.csv.position().byte() >= self.file_len {
                let start = self.record.position().map_or(0, csv::Position::byte);
                match quote_left_open(&self.path, start) {
                    Ok(false) => {}
                    Ok(true) => return Some(Ok(self.invalid(line, UNCLOSED_QUOTE.into()))),
                    Err(source) => {
                        return Some(Err(Error::Read {
                            path: self.path.clone(),
                            source,
                        }));
                    }
                }
            }
            return Some(Ok(self.classify(line)));
        }
    }

    /// The line the record just read starts on. csv reports where parsing began, which is
    /// before any blank lines it skipped; those are worked out from where the record ended, the
    /// line breaks inside its quoted fields, and whether it ended with a line break.
    fn record_line(&self) -> usize {
        let Some(start) = self.record.position() else {
            return 0;
        };
        let end = self.csv.position();
        let inside: u64 = self
            .record
            .iter()
            .map(|field| field.split(|&byte| byte == b'\n').count() as u64 - 1)
            .sum();
        let unterminated = end.byte() == self.file_len && !self.ends_with_newline;
        let spanned = end.line().saturating_sub(start.line());
        let blank = spanned.saturating_sub(inside + u64::from(!unterminated));
        usize_from(start.line() + blank)
    }

    fn invalid(&self, line: usize, message: String) -> Row {
        Row::Invalid {
            location: Location::line(&self.path, line),
            message,
        }
    }

    fn classify(&mut self, line: usize) -> Row {
        if let Some(index) = self
            .record
            .iter()
            .position(|raw| raw.len() > MAX_FIELD_BYTES)
        {
            let column = self.columns.get(index).map_or("?", String::as_str);
            return self.invalid(
                line,
                format!(
                    "column `{column}` is {} bytes long; fields are limited to {MAX_FIELD_BYTES} bytes",
                    self.record[index].len()
                ),
            );
        }
        if self.record.len() != self.columns.len() {
            return self.invalid(
                line,
                format!(
                    "the row has {} field(s) but the header row has {} column(s)",
                    self.record.len(),
                    self.columns.len()
                ),
            );
        }
        let mut values = Vec::with_capacity(self.record.len());
        for (index, raw) in self.record.iter().enumerate() {
            let Ok(value) = std::str::from_utf8(trim_field(raw)) else {
                return self.invalid(
                    line,
                    format!(
                        "column `{}` is not UTF-8 text; {SAVE_AS_UTF8}",
                        self.columns[index]
                    ),
                );
            };
            values.push(value.to_owned());
        }
        let raw_email = values[self.email_column].as_str();
        if raw_email.is_empty() {
            return self.invalid(line, "the `email` column is empty".into());
        }
        let email = match parse_address(raw_email) {
            Ok(email) => email,
            Err(message) => return self.invalid(line, message),
        };
        let key = AddressKey::of(email.as_ref());
        if let Some(status) = self.status_column.map(|index| values[index].to_lowercase()) {
            match status.as_str() {
                "" | "subscribed" => {}
                "unsubscribed" | "pending" | "bounced" | "complained" | "cleaned" => {
                    return Row::Skipped(Skip {
                        line,
                        email: email.to_string(),
                        reason: SkipReason::Status(status),
                    });
                }
                _ => {
                    return self.invalid(
                        line,
                        format!(
                            "unknown status `{status}`; use `subscribed` or `unsubscribed` (or `pending`, `bounced`, `complained`, `cleaned`, which are not mailed either)"
                        ),
                    );
                }
            }
        }
        if self.suppression.is_some_and(|s| s.contains(key)) {
            return Row::Skipped(Skip {
                line,
                email: email.to_string(),
                reason: SkipReason::Suppressed,
            });
        }
        if let Some(&first_line) = self.first_lines.get(&key) {
            return Row::Skipped(Skip {
                line,
                email: email.to_string(),
                reason: SkipReason::Duplicate {
                    first_line: first_line as usize,
                },
            });
        }
        self.first_lines
            .insert(key, u32::try_from(line).unwrap_or(u32::MAX));
        let (name, warning) = match self.name_column {
            Some(index) => clean_name(&values[index]),
            None => (String::new(), None),
        };
        Row::Recipient {
            subscriber: Subscriber {
                line,
                email,
                name,
                columns: Arc::clone(&self.columns),
                values,
            },
            warning: warning.map(|w| format!("line {line}: {w}")),
        }
    }
}

const UNCLOSED_QUOTE: &str =
    "a quoted field that starts on this line is not closed: its `\"` runs to the end of the file";

/// Whether the record starting at byte `start` of the file ends inside a quoted field, read the
/// way csv reads it: a `"` opens a quoted field only as its first byte, and `""` inside one is
/// a quote.
fn quote_left_open(path: &Path, start: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut state = State::FieldStart;
    for byte in BufReader::new(file).bytes() {
        state = match (state, byte?) {
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::Quoted, _) | (State::FieldStart | State::QuoteInQuoted, b'"') => State::Quoted,
            (_, b',' | b'\n') => State::FieldStart,
            _ => State::Unquoted,
        };
    }
    Ok(state == State::Quoted)
}

/// The last byte of `file`, leaving it positioned at its start.
fn last_byte(file: &mut File) -> std::io::Result<Option<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut byte = [0];
    let last = match file.seek(SeekFrom::End(-1)) {
        Ok(_) => file.read_exact(&mut byte).map(|()| Some(byte[0]))?,
        // Seeking before the start: the file is empty.
        Err(_) => None,
    };
    file.seek(SeekFrom::Start(0))?;
    Ok(last)
}

fn usize_from(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Trims spaces and the `\r` of a CRLF line ending from a raw field.
fn trim_field(raw: &[u8]) -> &[u8] {
    raw.trim_ascii()
}

/// Replaces control characters (a CR/LF smuggled into a quoted CSV field, a tab) by spaces and
/// collapses runs of white space, so a name can never break a header line; removes invisible
/// and text-direction characters ([`is_invisible`]), so a name cannot reorder what is shown.
fn clean_name(raw: &str) -> (String, Option<String>) {
    let had_controls = raw.chars().any(char::is_control);
    let invisible = raw.chars().find(|&c| text::is_invisible(c));
    let name = text::fold(raw).replace(text::is_invisible, "");
    let warning = if had_controls {
        Some(format!(
            "the name contains line breaks or control characters; it is used as `{name}`"
        ))
    } else {
        invisible.map(|c| {
            format!(
                "the name contains the invisible or text-direction character U+{:04X}; it is used as `{name}`",
                u32::from(c)
            )
        })
    };
    (name, warning)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn rows(content: &[u8]) -> Vec<Row> {
        rows_with(content, None)
    }

    fn rows_with(content: &[u8], suppression: Option<&Suppression>) -> Vec<Row> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        let mut reader = SubscriberReader::open(file.path(), suppression).unwrap();
        std::iter::from_fn(|| reader.next_row())
            .map(Result::unwrap)
            .collect()
    }

    fn open_error(content: &[u8]) -> String {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        match SubscriberReader::open(file.path(), None) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }

    fn recipient(row: &Row) -> &Subscriber {
        match row {
            Row::Recipient { subscriber, .. } => subscriber,
            other => panic!("expected a recipient, got {other:?}"),
        }
    }

    #[test]
    fn reads_names_and_extra_columns() {
        let rows = rows(
            "email,name,Organisation\nzoe@example.org,Zoë,GDS\nli@example.com,李明,\n".as_bytes(),
        );
        assert_eq!(rows.len(), 2);
        let zoe = recipient(&rows[0]);
        assert_eq!((zoe.line, zoe.name.as_str()), (2, "Zoë"));
        assert_eq!(zoe.field("organisation"), Some("GDS"));
        assert_eq!(zoe.field("email"), Some("zoe@example.org"));
        assert_eq!(recipient(&rows[1]).name, "李明");
    }

    #[test]
    fn bom_and_crlf_are_accepted_with_right_line_numbers() {
        let rows = rows(b"\xef\xbb\xbfemail,name\r\na@example.org,A\r\nb@example.org,\"B\"\r\n");
        assert_eq!(recipient(&rows[0]).line, 2);
        assert_eq!(recipient(&rows[1]).line, 3);
        assert_eq!(recipient(&rows[1]).name, "B");
        assert_eq!(recipient(&rows[0]).email.to_string(), "a@example.org");
    }

    #[test]
    fn invalid_address_names_the_line() {
        let rows = rows(b"email,name\na@example.org,A\nnot-an-address,B\n");
        match &rows[1] {
            Row::Invalid { location, message } => {
                assert_eq!(location.line, 3);
                assert!(message.contains("`not-an-address` is not a valid email address"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn duplicates_are_case_insensitive_and_point_at_the_first_line() {
        let rows = rows(b"email\nA@Example.org\nb@example.org\na@example.ORG\n");
        assert!(matches!(
            &rows[2],
            Row::Skipped(Skip {
                line: 4,
                reason: SkipReason::Duplicate { first_line: 2 },
                ..
            })
        ));
    }

    #[test]
    fn only_ascii_letters_fold_in_the_local_part() {
        assert_eq!(
            AddressKey::of("Kate@Example.ORG"),
            AddressKey::of("kate@example.org")
        );
        assert_ne!(
            AddressKey::of("\u{212A}ate@example.org"),
            AddressKey::of("kate@example.org")
        );
        assert_eq!(
            AddressKey::of("a@Bücher.example"),
            AddressKey::of("a@xn--bcher-kva.example")
        );
    }

    #[test]
    fn long_addresses_make_short_file_names() {
        let label = "d".repeat(60);
        let long = format!(
            "kate@{label}.{label}.{label}.{}.example.org",
            "e".repeat(50)
        );
        let rows = rows(format!("email\n{long}\nb{long}\n").as_bytes());
        let (first, second) = (
            recipient(&rows[0]).file_stem(),
            recipient(&rows[1]).file_stem(),
        );
        assert_eq!(first.len(), 5 + MAX_STEM_ADDRESS);
        assert_ne!(first[5..], second[5..]);
        assert_eq!(recipient(&rows[0]).file_stem().len(), first.len());
    }

    #[test]
    fn unsubscribed_and_suppressed_rows_are_skipped() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"# never mail\nBlocked@example.org\n\n")
            .unwrap();
        let suppression = Suppression::load(file.path()).unwrap();
        assert_eq!(suppression.keys.len(), 1);
        let rows = rows_with(
            b"email,status\na@example.org,subscribed\nb@example.org,Unsubscribed\nblocked@example.org,\n",
            Some(&suppression),
        );
        assert!(matches!(rows[0], Row::Recipient { .. }));
        assert!(
            matches!(&rows[1], Row::Skipped(Skip { reason: SkipReason::Status(s), .. }) if s == "unsubscribed")
        );
        assert!(matches!(
            rows[2],
            Row::Skipped(Skip {
                reason: SkipReason::Suppressed,
                ..
            })
        ));
    }

    #[test]
    fn unknown_status_is_invalid() {
        let rows = rows(b"email,status\na@example.org,maybe\n");
        assert!(
            matches!(&rows[0], Row::Invalid { message, .. } if message.contains("unknown status `maybe`"))
        );
    }

    #[test]
    fn line_break_in_a_name_is_replaced_and_reported() {
        let rows = rows(
            b"email,name\na@example.org,\"Eve\r\nBcc: victim@example.org\"\nb@example.org,B\n",
        );
        match &rows[0] {
            Row::Recipient {
                subscriber,
                warning,
            } => {
                assert_eq!(subscriber.name, "Eve Bcc: victim@example.org");
                assert!(warning.as_deref().unwrap().starts_with("line 2:"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(recipient(&rows[1]).line, 4);
    }

    #[test]
    fn ragged_rows_are_invalid() {
        let rows = rows(b"email,name\na@example.org\nb@example.org,B,extra\n");
        assert!(matches!(&rows[0], Row::Invalid { location, .. } if location.line == 2));
        assert!(matches!(&rows[1], Row::Invalid { location, .. } if location.line == 3));
    }

    #[test]
    fn unclosed_quote_is_invalid_at_the_line_it_opens() {
        let found = rows(b"email,name\na@example.org,\"A\nb@example.org,B\n");
        assert_eq!(found.len(), 1);
        assert!(
            matches!(&found[0], Row::Invalid { location, message } if location.line == 2 && message.contains("not closed")),
            "{found:?}"
        );
        let found = rows(b"email,name\na@example.org,A\nb@example.org,\"B");
        assert!(matches!(&found[1], Row::Invalid { location, .. } if location.line == 3));
        assert!(open_error(b"email,\"name\na@example.org,A\n").contains("not closed"));
    }

    #[test]
    fn closed_and_escaped_quotes_are_not_unclosed() {
        for content in [
            &b"email,name\na@example.org,\"A \"\"B\"\"\"\n"[..],
            b"email,name\na@example.org,\"A\"",
            b"email,name\na@example.org,O\"Brien\n",
            b"email,name\na@example.org,\"A\nB\"\n\n",
        ] {
            let found = rows(content);
            assert!(matches!(found[..], [Row::Recipient { .. }]), "{found:?}");
        }
    }

    #[test]
    fn overlong_field_is_invalid() {
        let content = format!(
            "email,name\na@example.org,{}\n",
            "n".repeat(MAX_FIELD_BYTES + 1)
        );
        let found = rows(content.as_bytes());
        assert!(
            matches!(&found[0], Row::Invalid { message, .. } if message == "column `name` is 257 bytes long; fields are limited to 256 bytes"),
            "{found:?}"
        );
    }

    #[test]
    fn non_utf8_field_is_invalid() {
        let rows = rows(b"email,name\na@example.org,\xff\xfe\n");
        assert!(matches!(&rows[0], Row::Invalid { message, .. } if message.contains("not UTF-8")));
    }

    #[test]
    fn blank_lines_are_ignored_and_lines_stay_right() {
        let rows =
            rows(b"email,name\n\na@example.org,A\n\n\nb@example.org,\"B\nB\"\n\nc@example.org,C");
        let lines: Vec<usize> = rows.iter().map(|row| recipient(row).line).collect();
        assert_eq!(lines, [3, 6, 9]);
        let rows = rows_crlf();
        assert_eq!(rows, [3, 5]);
    }

    fn rows_crlf() -> Vec<usize> {
        rows(b"email\r\n\r\na@example.org\r\n\r\nb@example.org")
            .iter()
            .map(|row| recipient(row).line)
            .collect()
    }

    #[test]
    fn header_problems_are_errors() {
        assert!(open_error(b"mail,name\n").contains("no `email` column"));
        assert!(open_error(b"email,email\n").contains("twice"));
        assert!(open_error(b"").contains("is empty"));
        assert!(open_error(b"email,,name\n").contains("column 2"));
    }
}
