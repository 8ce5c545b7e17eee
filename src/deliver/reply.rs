//! Reading the relay's replies strictly (RFC 5321, 4.2): one reply at a time, each a run of
//! lines `250-text` ending with `250 text`, all with the same code, and nothing else.
//!
//! A relay is not trusted to be sane: a line may be at most [`LINE_LIMIT`] bytes and a reply at
//! most [`REPLY_LIMIT`] (RFC 5321 allows 512 a line; these are generous), so a relay that never
//! ends a line costs a few kilobytes, not all the memory there is. The caller bounds the time.
//! The reader also says whether the relay sent anything nobody asked for ([`ReplyReader::quiet`]),
//! which would shift every later reply onto the wrong command.
//!
//! Reply text is cleaned before anyone sees it: the user's secrets (registered with
//! [`ReplyReader::redact`]) are cut out, and control characters are escaped
//! ([`crate::printable`]), since the text ends up in the journal, the report and the terminal.

use std::{
    fmt, io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::printable::printable;

/// The longest reply line taken, with its CRLF.
pub(crate) const LINE_LIMIT: usize = 4096;
/// The longest reply taken, all its lines together.
pub(crate) const REPLY_LIMIT: usize = 64 * 1024;
/// How much is read from the connection at a time.
const READ_CHUNK: usize = 8192;
/// How much of a line that is not a reply is shown in the error.
const SHOWN: usize = 80;

/// An SMTP reply: its code and its lines of text (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) lines: Vec<String>,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

impl Reply {
    /// The text of every line, joined by spaces.
    pub(crate) fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// A 4xx reply: try again later.
    pub(crate) fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// A 4xx or 5xx reply: the command was refused.
    pub(crate) fn is_refusal(&self) -> bool {
        (400..600).contains(&self.code)
    }
}

/// Why no reply could be read.
#[derive(Debug)]
pub(crate) enum ReplyError {
    /// A line longer than [`LINE_LIMIT`].
    LineTooLong,
    /// A reply longer than [`REPLY_LIMIT`].
    ReplyTooLong,
    /// A line that is not `NNN text` (shown, cleaned and shortened by the reader).
    Malformed(String),
    /// The lines of one reply carry different codes.
    MixedCodes { first: u16, then: u16 },
    /// Bytes came that no command asked for (shown, cleaned and shortened).
    Unasked(String),
    /// The relay closed the connection.
    Closed,
    /// Reading failed.
    Io(io::Error),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::LineTooLong => {
                write!(f, "the relay sent a reply line over {LINE_LIMIT} bytes")
            }
            ReplyError::ReplyTooLong => {
                write!(f, "the relay sent a reply over {REPLY_LIMIT} bytes")
            }
            ReplyError::Malformed(line) => {
                write!(
                    f,
                    "the relay sent a line that is not an SMTP reply: `{line}`"
                )
            }
            ReplyError::MixedCodes { first, then } => write!(
                f,
                "the relay changed the code within one reply ({first}, then {then})"
            ),
            ReplyError::Unasked(text) => {
                write!(f, "the relay sent `{text}` that no command asked for")
            }
            ReplyError::Closed => f.write_str("the relay closed the connection"),
            ReplyError::Io(error) => write!(f, "the connection failed: {error}"),
        }
    }
}

impl ReplyError {
    /// Whether the relay broke the protocol (rather than the connection failing).
    pub(crate) fn is_protocol_error(&self) -> bool {
        !matches!(self, ReplyError::Closed | ReplyError::Io(_))
    }
}

/// Reads replies from one connection, keeping what arrived beyond the reply being read.
#[derive(Debug, Default)]
pub(crate) struct ReplyReader {
    buffer: Vec<u8>,
    secrets: Vec<String>,
}

impl ReplyReader {
    pub(crate) fn new() -> ReplyReader {
        ReplyReader::default()
    }

    /// Cuts `secret` out of every reply text from now on (a relay may quote the credentials it
    /// refused).
    pub(crate) fn redact(&mut self, secret: String) {
        if !secret.is_empty() && !self.secrets.contains(&secret) {
            self.secrets.push(secret);
            // The longest first, so that a secret inside another cannot leave a piece of it.
            self.secrets
                .sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        }
    }

    /// The next reply.
    pub(crate) async fn read<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<Reply, ReplyError> {
        loop {
            if let Some(reply) = self.take()? {
                return Ok(reply);
            }
            let mut chunk = [0; READ_CHUNK];
            let read = stream.read(&mut chunk).await.map_err(ReplyError::Io)?;
            if read == 0 {
                return Err(ReplyError::Closed);
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// The first complete reply in what was read so far, if there is one.
    fn take(&mut self) -> Result<Option<Reply>, ReplyError> {
        let parsed = parse(&self.buffer).map_err(|error| match error {
            ReplyError::Malformed(line) => ReplyError::Malformed(shorten(&self.clean(&line))),
            other => other,
        })?;
        let Some((code, raw, length)) = parsed else {
            return Ok(None);
        };
        let lines = raw.iter().map(|line| self.clean(line)).collect();
        self.buffer.drain(..length);
        Ok(Some(Reply { code, lines }))
    }

    /// Checks that the relay has sent nothing that was not asked for: nothing is left over
    /// from the replies read, and nothing is waiting on the connection. Run before each
    /// command, so that a stray line cannot pass for the reply to the next one.
    pub(crate) async fn quiet<R: AsyncRead + Unpin>(
        &mut self,
        stream: &mut R,
    ) -> Result<(), ReplyError> {
        if self.buffer.is_empty() {
            let mut chunk = [0; 512];
            let polled = std::future::poll_fn(|context: &mut Context<'_>| {
                let mut buffer = ReadBuf::new(&mut chunk);
                Poll::Ready(
                    match Pin::new(&mut *stream).poll_read(context, &mut buffer) {
                        Poll::Ready(Ok(())) => Some(Ok(buffer.filled().len())),
                        Poll::Ready(Err(error)) => Some(Err(error)),
                        Poll::Pending => None,
                    },
                )
            })
            .await;
            match polled {
                None => return Ok(()),
                Some(Ok(0)) => return Err(ReplyError::Closed),
                Some(Ok(read)) => self.buffer.extend_from_slice(&chunk[..read]),
                Some(Err(error)) => return Err(ReplyError::Io(error)),
            }
        }
        let shown = &self.buffer[..self.buffer.len().min(LINE_LIMIT)];
        let text = String::from_utf8_lossy(shown);
        Err(ReplyError::Unasked(shorten(&self.clean(text.trim_end()))))
    }

    /// `text` without the secrets, with control characters escaped.
    fn clean(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), "[redacted]");
            }
        }
        printable(&text).into_owned()
    }
}

/// The first [`SHOWN`] characters of `text`, with `…` if there were more.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(SHOWN) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

/// The first complete reply at the start of `buffer`: its code, the text of its lines and the
/// bytes it takes. `None` when more bytes are needed; an error as soon as the bytes cannot
/// become a valid reply within the limits.
fn parse(buffer: &[u8]) -> Result<Option<(u16, Vec<String>, usize)>, ReplyError> {
    let mut start = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = &buffer[start..];
        let window = &rest[..rest.len().min(LINE_LIMIT)];
        let Some(newline) = window.iter().position(|byte| *byte == b'\n') else {
            if rest.len() >= LINE_LIMIT {
                return Err(ReplyError::LineTooLong);
            }
            if buffer.len() > REPLY_LIMIT {
                return Err(ReplyError::ReplyTooLong);
            }
            return Ok(None);
        };
        let end = start + newline + 1;
        if end > REPLY_LIMIT {
            return Err(ReplyError::ReplyTooLong);
        }
        let line = &rest[..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let (this, last, text) = parse_line(line)?;
        match code {
            Some(first) if first != this => {
                return Err(ReplyError::MixedCodes { first, then: this });
            }
            _ => code = Some(this),
        }
        lines.push(String::from_utf8_lossy(text).into_owned());
        start = end;
        if last {
            return Ok(Some((this, lines, end)));
        }
    }
}

/// `250-text`, `250 text` or `250`: the code, whether it is the last line, and the text.
fn parse_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    // The whole line: the reader cuts secrets out before shortening it.
    let malformed = || ReplyError::Malformed(String::from_utf8_lossy(line).into_owned());
    let (digits, rest) = line.split_at_checked(3).ok_or_else(malformed)?;
    let valid = matches!(digits[0], b'2'..=b'5')
        && matches!(digits[1], b'0'..=b'5')
        && digits[2].is_ascii_digit();
    if !valid {
        return Err(malformed());
    }
    let code = digits
        .iter()
        .fold(0, |code, digit| code * 10 + u16::from(digit - b'0'));
    match rest.split_first() {
        None => Ok((code, true, rest)),
        Some((b' ', text)) => Ok((code, true, text)),
        Some((b'-', text)) => Ok((code, false, text)),
        Some(_) => Err(malformed()),
    }
}

#[cfg(test)]
mod tests;
