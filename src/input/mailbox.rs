//! Mail as it lies on disk, read one message at a time: an mbox file, a Maildir folder or a
//! single `.eml` file. The messages are returned as raw bytes; what they mean is for
//! [`crate::bounces`] to say.
//!
//! - **mbox**: a file whose first line starts with `From `. A message starts at a `From ` line
//!   with a time of day (`From MAILER-DAEMON Mon Dec  1 10:00:00 2026`) that follows an empty
//!   line; `>From ` lines in bodies (mboxrd quoting)
//!   lose one `>`. The file is streamed, so its size does not matter.
//! - **Maildir**: a folder with `cur/` or `new/`; the regular files in both, in name order
//!   (`tmp/` holds messages still being delivered, and symbolic links are not followed).
//! - **.eml**: any other file is one message.
//!
//! The mailbox is only read, never changed: the mail server or the team decides when to clear
//! it, and reading it again changes nothing (see `newsletter bounces`).

use std::{
    fs::{self, File},
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use crate::error::Error;

/// The largest message read whole. A bounce is a few kilobytes plus, at most, the returned
/// message; anything larger is reported as too large instead of being held in memory.
pub(crate) const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// One message read from a mailbox.
#[derive(Debug)]
pub(crate) struct RawMessage {
    /// Where it is, for the summary: `bounces.mbox, message 3` or a Maildir file's path.
    pub(crate) place: String,
    /// The message, or its first [`MAX_MESSAGE_BYTES`] when `too_large`.
    pub(crate) bytes: Vec<u8>,
    pub(crate) too_large: bool,
}

/// An open mailbox, yielding its messages in order.
pub(crate) struct Mailbox {
    path: PathBuf,
    kind: Kind,
    count: usize,
}

enum Kind {
    Mbox {
        reader: BufReader<File>,
        /// The `From ` line that starts the next message, once read.
        started: bool,
    },
    Maildir {
        files: std::vec::IntoIter<PathBuf>,
    },
    Single {
        done: bool,
    },
}

impl Mailbox {
    /// Opens the mailbox at `path`, telling its kind from what is there.
    pub(crate) fn open(path: &Path) -> Result<Mailbox, Error> {
        let read_error = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        let metadata = fs::metadata(path).map_err(read_error)?;
        let kind = if metadata.is_dir() {
            Kind::Maildir {
                files: maildir_files(path)?.into_iter(),
            }
        } else {
            let mut reader =
                BufReader::with_capacity(256 * 1024, File::open(path).map_err(read_error)?);
            let start = reader.fill_buf().map_err(read_error)?;
            if start.starts_with(b"From ") {
                Kind::Mbox {
                    reader,
                    started: false,
                }
            } else {
                Kind::Single { done: false }
            }
        };
        Ok(Mailbox {
            path: path.to_owned(),
            kind,
            count: 0,
        })
    }

    /// The next message, `None` at the end, or the error that stopped the reading.
    pub(crate) fn next_message(&mut self) -> Option<Result<RawMessage, Error>> {
        let read_error = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Read { path, source }
        };
        match &mut self.kind {
            Kind::Mbox { reader, started } => {
                let message = next_mbox_message(reader, started).map_err(read_error(&self.path));
                match message {
                    Ok(None) => None,
                    Ok(Some((bytes, too_large))) => {
                        self.count += 1;
                        Some(Ok(RawMessage {
                            place: format!("{}, message {}", self.path.display(), self.count),
                            bytes,
                            too_large,
                        }))
                    }
                    Err(error) => Some(Err(error)),
                }
            }
            Kind::Maildir { files } => {
                let file = files.next()?;
                Some(read_file(&file).map_err(read_error(&file)))
            }
            Kind::Single { done } => {
                if *done {
                    return None;
                }
                *done = true;
                Some(read_file(&self.path).map_err(read_error(&self.path)))
            }
        }
    }
}

/// The regular files of `cur/` and `new/` under `folder`, in name order.
fn maildir_files(folder: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let mut any = false;
    for sub in ["cur", "new"] {
        let path = folder.join(sub);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Read { path, source }),
        };
        any = true;
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            let hidden = entry.file_name().as_encoded_bytes().starts_with(b".");
            // `file_type` does not follow symbolic links: a link is skipped, not read.
            let regular = entry.file_type().is_ok_and(|kind| kind.is_file());
            if regular && !hidden {
                files.push(entry.path());
            }
        }
    }
    if !any {
        return Err(Error::MailboxUnknown {
            path: folder.to_owned(),
        });
    }
    files.sort();
    Ok(files)
}

fn read_file(path: &Path) -> std::io::Result<RawMessage> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    let too_large = bytes.len() > MAX_MESSAGE_BYTES;
    bytes.truncate(MAX_MESSAGE_BYTES);
    Ok(RawMessage {
        place: path.display().to_string(),
        bytes,
        too_large,
    })
}

/// Reads the next message of an mbox: its bytes and whether it was cut at
/// [`MAX_MESSAGE_BYTES`].
fn next_mbox_message(
    reader: &mut BufReader<File>,
    started: &mut bool,
) -> std::io::Result<Option<(Vec<u8>, bool)>> {
    let mut line = Vec::with_capacity(256);
    if !*started {
        // The very first line is the first message's `From ` line.
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        *started = true;
    }
    let mut message = Vec::with_capacity(4096);
    let mut too_large = false;
    let mut previous_blank = false;
    let mut any = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if previous_blank && is_from_line(&line) {
            break;
        }
        any = true;
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        previous_blank = content.is_empty();
        let unquoted = if is_quoted_from(&line) {
            &line[1..]
        } else {
            &line[..]
        };
        if message.len() + unquoted.len() > MAX_MESSAGE_BYTES {
            too_large = true;
        } else if !too_large {
            message.extend_from_slice(unquoted);
        }
    }
    if !any && message.is_empty() {
        return Ok(None);
    }
    // The empty line before the next `From ` line belongs to the mbox, not the message.
    if message.ends_with(b"\r\n\r\n") {
        message.truncate(message.len() - 2);
    } else if message.ends_with(b"\n\n") {
        message.truncate(message.len() - 1);
    }
    Ok(Some((message, too_large)))
}

/// A `From ` line that starts a message: `From SENDER DATE`, where the date has a time of
/// day. An unquoted body line such as "From here on" after an empty line (mboxo writers leave
/// those alone) has none, and so does not split the message.
fn is_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
        && line.windows(5).any(|w| {
            w[0].is_ascii_digit()
                && w[1].is_ascii_digit()
                && w[2] == b':'
                && w[3].is_ascii_digit()
                && w[4].is_ascii_digit()
        })
}

/// `>From `, `>>From `…: a body line an mboxrd writer quoted.
fn is_quoted_from(line: &[u8]) -> bool {
    let quotes = line.iter().take_while(|&&byte| byte == b'>').count();
    quotes > 0 && line[quotes..].starts_with(b"From ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(path: &Path) -> Vec<RawMessage> {
        let mut mailbox = Mailbox::open(path).unwrap();
        std::iter::from_fn(|| mailbox.next_message())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn mbox_splits_at_from_lines_after_blank_lines_and_unquotes() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("box");
        fs::write(
            &path,
            "From a@example.org Mon Dec  1 10:00:00 2026\nSubject: one\n\nFrom here on\n>From quoted\n\n\
             From b@example.org Mon Dec  1 10:00:01 2026\nSubject: two\n\nbody\n",
        )
        .unwrap();
        let messages = all(&path);
        assert_eq!(messages.len(), 2);
        assert_eq!(
            messages[0].bytes,
            b"Subject: one\n\nFrom here on\nFrom quoted\n"
        );
        assert_eq!(messages[1].bytes, b"Subject: two\n\nbody\n");
        assert!(messages[1].place.ends_with("box, message 2"));
    }

    #[test]
    fn maildir_reads_cur_and_new_in_name_order_without_links() {
        let folder = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir(folder.path().join(sub)).unwrap();
        }
        fs::write(folder.path().join("new/2"), "Subject: b\n\n").unwrap();
        fs::write(folder.path().join("cur/1:2,S"), "Subject: a\n\n").unwrap();
        fs::write(folder.path().join("tmp/3"), "Subject: c\n\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", folder.path().join("new/link")).unwrap();
        let messages = all(folder.path());
        let subjects: Vec<_> = messages.iter().map(|m| m.bytes.clone()).collect();
        assert_eq!(
            subjects,
            [b"Subject: a\n\n".to_vec(), b"Subject: b\n\n".to_vec()]
        );
    }

    #[test]
    fn a_folder_without_cur_or_new_is_not_a_mailbox() {
        let folder = tempfile::tempdir().unwrap();
        assert!(matches!(
            Mailbox::open(folder.path()),
            Err(Error::MailboxUnknown { .. })
        ));
    }
}
