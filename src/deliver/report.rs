//! What happened to each recipient of a run: the outcome types, the counts behind the summary
//! and progress display, and the `--report FILE` writer (one JSON object per line).

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    error::Error,
    output_file::{self, Protected},
    printable::printable,
};

/// The end of one recipient's part in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The relay accepted the message.
    Sent { reply: String },
    /// The relay refused it for good (5xx); not retried.
    Failed { reply: String },
    /// Temporary failures outlasted the retries (or the run stopped); sent again next run.
    Deferred { reply: String },
    /// The message was sent but no reply was read: perhaps delivered.
    InDoubt { error: String },
    /// Not sent, and not to be: unsubscribed, duplicate, already sent by an earlier run, …
    Skipped { reason: String },
    /// A dry run built the message and would have sent it.
    WouldSend,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Sent { .. } => "sent",
            Outcome::Failed { .. } => "failed",
            Outcome::Deferred { .. } => "deferred",
            Outcome::InDoubt { .. } => "in-doubt",
            Outcome::Skipped { .. } => "skipped",
            Outcome::WouldSend => "would-send",
        }
    }

    /// The outcome with the control characters of its text escaped: the text quotes the
    /// relay, and ends up in the journal, the report and on the terminal.
    pub(crate) fn printable(&self) -> Outcome {
        let clean = |text: &str| printable(text).into_owned();
        match self {
            Outcome::Sent { reply } => Outcome::Sent {
                reply: clean(reply),
            },
            Outcome::Failed { reply } => Outcome::Failed {
                reply: clean(reply),
            },
            Outcome::Deferred { reply } => Outcome::Deferred {
                reply: clean(reply),
            },
            Outcome::InDoubt { error } => Outcome::InDoubt {
                error: clean(error),
            },
            Outcome::Skipped { reason } => Outcome::Skipped {
                reason: clean(reason),
            },
            Outcome::WouldSend => Outcome::WouldSend,
        }
    }

    fn detail(&self) -> Option<&str> {
        match self {
            Outcome::Sent { reply } | Outcome::Failed { reply } | Outcome::Deferred { reply } => {
                Some(reply)
            }
            Outcome::InDoubt { error } => Some(error),
            Outcome::Skipped { reason } => Some(reason),
            Outcome::WouldSend => None,
        }
    }
}

/// One line of the report file.
#[derive(Debug, Serialize)]
struct Line<'a> {
    email: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<usize>,
    /// The relay (`host:port`) of the last attempt, never credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    relay: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
}

/// Running counts, updated by every worker.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) sent: AtomicUsize,
    pub(crate) failed: AtomicUsize,
    pub(crate) deferred: AtomicUsize,
    pub(crate) in_doubt: AtomicUsize,
    pub(crate) skipped: AtomicUsize,
    pub(crate) would_send: AtomicUsize,
    pub(crate) bytes: AtomicU64,
    pub(crate) largest: AtomicUsize,
}

/// A snapshot of [`Counts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) sent: usize,
    pub(crate) failed: usize,
    pub(crate) deferred: usize,
    pub(crate) in_doubt: usize,
    pub(crate) skipped: usize,
    pub(crate) would_send: usize,
    pub(crate) bytes: u64,
    pub(crate) largest: usize,
}

impl Totals {
    /// Recipients that went through a delivery attempt (or a dry run's).
    pub(crate) fn done(&self) -> usize {
        self.sent + self.failed + self.deferred + self.in_doubt + self.would_send
    }

    /// Whether some recipients did not get the message for sure.
    pub(crate) fn has_problems(&self) -> bool {
        self.failed + self.deferred + self.in_doubt > 0
    }
}

impl Counts {
    pub(crate) fn totals(&self) -> Totals {
        let get = |counter: &AtomicUsize| counter.load(Ordering::Relaxed);
        Totals {
            sent: get(&self.sent),
            failed: get(&self.failed),
            deferred: get(&self.deferred),
            in_doubt: get(&self.in_doubt),
            skipped: get(&self.skipped),
            would_send: get(&self.would_send),
            bytes: self.bytes.load(Ordering::Relaxed),
            largest: get(&self.largest),
        }
    }

    fn count(&self, outcome: &Outcome, size: Option<usize>) {
        let counter = match outcome {
            Outcome::Sent { .. } => &self.sent,
            Outcome::Failed { .. } => &self.failed,
            Outcome::Deferred { .. } => &self.deferred,
            Outcome::InDoubt { .. } => &self.in_doubt,
            Outcome::Skipped { .. } => &self.skipped,
            Outcome::WouldSend => &self.would_send,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(size) = size {
            self.bytes.fetch_add(size as u64, Ordering::Relaxed);
            self.largest.fetch_max(size, Ordering::Relaxed);
        }
    }
}

/// Collects outcomes: counts them, and writes them to the report file if there is one.
#[derive(Debug)]
pub(crate) struct Recorder {
    pub(crate) counts: Counts,
    file: Option<(PathBuf, Mutex<BufWriter<File>>)>,
    /// Recipients that need attention (failed, deferred, in doubt), for the summary.
    problems: Mutex<Vec<(String, Outcome)>>,
}

impl Recorder {
    /// `report` is not written when it is a symbolic link or one of the `protected` files.
    pub(crate) fn new(report: Option<&Path>, protected: &Protected) -> Result<Recorder, Error> {
        let file = report
            .map(|path| {
                output_file::create(path, protected)
                    .map(|file| (path.to_owned(), Mutex::new(BufWriter::new(file))))
            })
            .transpose()?;
        Ok(Recorder {
            counts: Counts::default(),
            file,
            problems: Mutex::new(Vec::new()),
        })
    }

    /// Records the outcome for `email`; `size` is the message size when one was built, and
    /// `relay` the relay that took the last attempt.
    pub(crate) fn record(
        &self,
        email: &str,
        outcome: &Outcome,
        message_id: Option<&str>,
        size: Option<usize>,
        relay: Option<&str>,
    ) -> Result<(), Error> {
        self.counts.count(outcome, size);
        if matches!(
            outcome,
            Outcome::Failed { .. } | Outcome::Deferred { .. } | Outcome::InDoubt { .. }
        ) {
            self.problems
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((email.to_owned(), outcome.clone()));
        }
        let Some((path, file)) = &self.file else {
            return Ok(());
        };
        let skipped = matches!(outcome, Outcome::Skipped { .. });
        let line = Line {
            email,
            outcome: outcome.label(),
            reply: if skipped { None } else { outcome.detail() },
            reason: if skipped { outcome.detail() } else { None },
            message_id,
            size,
            relay,
            time: OffsetDateTime::now_utc(),
        };
        let mut bytes = serde_json::to_vec(&line).expect("report lines serialise");
        bytes.push(b'\n');
        file.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .write_all(&bytes)
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })
    }

    /// Recipients that failed, were deferred or are in doubt, in the order they ended.
    pub(crate) fn problems(&self) -> Vec<(String, Outcome)> {
        self.problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Flushes the report file.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if let Some((path, file)) = &self.file {
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            file.flush()
                .and_then(|()| file.get_ref().sync_data())
                .map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// A short description of an outcome for the summary: `550 5.1.1 User unknown`.
pub(crate) fn describe(outcome: &Outcome) -> String {
    format!("{}: {}", outcome.label(), outcome.detail().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_are_json_with_the_outcome() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("report.jsonl");
        let recorder = Recorder::new(Some(&path), &Protected::default()).unwrap();
        recorder
            .record(
                "a@example.org",
                &Outcome::Sent {
                    reply: "250 ok".into(),
                },
                Some("<id@example.org>"),
                Some(1200),
                Some("127.0.0.1:1025"),
            )
            .unwrap();
        recorder
            .record(
                "b@example.org",
                &Outcome::Skipped {
                    reason: "status is `unsubscribed`".into(),
                },
                None,
                None,
                None,
            )
            .unwrap();
        recorder
            .record(
                "c@example.org",
                &Outcome::Failed {
                    reply: "550 no".into(),
                },
                None,
                Some(10),
                Some("127.0.0.1:1026"),
            )
            .unwrap();
        recorder.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["outcome"], "sent");
        assert_eq!(lines[0]["reply"], "250 ok");
        assert_eq!(lines[0]["message_id"], "<id@example.org>");
        assert_eq!(lines[1]["outcome"], "skipped");
        assert_eq!(lines[1]["reason"], "status is `unsubscribed`");
        assert!(lines[1].get("reply").is_none());
        assert_eq!(lines[0]["relay"], "127.0.0.1:1025");
        assert!(lines[1].get("relay").is_none());
        let totals = recorder.counts.totals();
        assert_eq!((totals.sent, totals.skipped, totals.failed), (1, 1, 1));
        assert_eq!((totals.bytes, totals.largest), (1210, 1200));
        assert!(totals.has_problems());
        assert_eq!(recorder.problems().len(), 1);
    }
}
