//! Who an issue goes to: the subscriber file named by the list (or given on the command line),
//! less unsubscribed, suppressed and duplicate rows, with every row accounted for in a
//! [`Tally`] so that nobody is dropped without a report.

use std::path::{Path, PathBuf};

use crate::{
    error::Error,
    input::issue::Issue,
    input::location::Location,
    input::subscribers::{Row, Skip, SkipReason, Subscriber, SubscriberReader, Suppression},
};

/// The subscriber and suppression files of a run.
#[derive(Debug)]
pub struct Audience {
    pub(crate) subscribers_path: PathBuf,
    pub(crate) suppression_path: Option<PathBuf>,
    suppression: Option<Suppression>,
    /// Whether the subscriber file is the one the list file names (not `--subscribers`).
    subscribers_from_list: bool,
}

/// What a pass over the subscriber file found.
#[derive(Debug, Default)]
pub struct Tally {
    pub(crate) recipients: usize,
    pub(crate) skipped: Vec<Skip>,
    pub(crate) invalid: Vec<(Location, String)>,
    pub(crate) warnings: Vec<String>,
    /// How the file was read where it differs from how it is written (see
    /// [`SubscriberReader::notes`]), and what the user should know about how the file is used
    /// (such as a greeting fallback).
    pub(crate) notes: Vec<String>,
}

impl Tally {
    /// One line such as `2 unsubscribed, 1 suppressed, 1 duplicate`, or `none`.
    pub(crate) fn skipped_summary(&self) -> String {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for skip in &self.skipped {
            let label = match &skip.reason {
                SkipReason::Status(status) => status.clone(),
                SkipReason::Suppressed => "suppressed".into(),
                SkipReason::Duplicate { .. } => "duplicate".into(),
            };
            match counts.iter_mut().find(|(known, _)| *known == label) {
                Some((_, count)) => *count += 1,
                None => counts.push((label, 1)),
            }
        }
        if counts.is_empty() {
            return "none".into();
        }
        counts
            .iter()
            .map(|(label, count)| format!("{count} {label}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Audience {
    /// The audience of `issue`; `subscribers` and `suppression` override the list file.
    pub fn of(
        issue: &Issue,
        subscribers: Option<&Path>,
        suppression: Option<&Path>,
    ) -> Result<Audience, Error> {
        let subscribers_path =
            subscribers.map_or_else(|| issue.list.subscribers_path.clone(), Path::to_path_buf);
        let suppression_path = suppression
            .map(Path::to_path_buf)
            .or_else(|| issue.list.suppression_path.clone());
        let suppression = suppression_path
            .as_deref()
            .map(Suppression::load)
            .transpose()
            .map_err(|error| named_by_list(error, issue, "suppression", suppression.is_none()))?;
        Ok(Audience {
            subscribers_path,
            suppression_path,
            suppression,
            subscribers_from_list: subscribers.is_none(),
        })
    }

    /// Opens the subscriber file and checks the issue's merge fields against its columns.
    pub(crate) fn open(&self, issue: &Issue) -> Result<SubscriberReader<'_>, Error> {
        self.open_with_notes(issue).map(|(reader, _)| reader)
    }

    /// [`Audience::open`], with the notes of [`Issue::check_columns`].
    fn open_with_notes(&self, issue: &Issue) -> Result<(SubscriberReader<'_>, Vec<String>), Error> {
        let reader = SubscriberReader::open(&self.subscribers_path, self.suppression.as_ref())
            .map_err(|error| {
                named_by_list(error, issue, "subscribers", self.subscribers_from_list)
            })?;
        let notes = issue.check_columns(&self.subscribers_path, reader.columns())?;
        Ok((reader, notes))
    }

    /// Reads every row, calling `each` for every recipient in file order. Invalid rows are
    /// collected in the tally, not returned as errors; `each` may stop the pass with an error.
    pub fn scan(
        &self,
        issue: &Issue,
        mut each: impl FnMut(Subscriber) -> Result<(), Error>,
    ) -> Result<Tally, Error> {
        let (mut reader, column_notes) = self.open_with_notes(issue)?;
        let mut notes = reader.notes().to_vec();
        notes.extend(column_notes);
        let mut tally = Tally {
            notes,
            ..Tally::default()
        };
        while let Some(row) = reader.next_row() {
            match row? {
                Row::Recipient {
                    subscriber,
                    warning,
                } => {
                    tally.recipients += 1;
                    if let Some(warning) = warning {
                        tally.warnings.push(warning);
                    }
                    each(subscriber)?;
                }
                Row::Skipped(skip) => tally.skipped.push(skip),
                Row::Invalid { location, message } => tally.invalid.push((location, message)),
            }
        }
        Ok(tally)
    }

    /// Like [`Audience::scan`], but fails if any row is invalid: used before anything is
    /// written or sent, so that a broken list is fixed first.
    pub(crate) fn scan_valid(
        &self,
        issue: &Issue,
        each: impl FnMut(Subscriber) -> Result<(), Error>,
    ) -> Result<Tally, Error> {
        let tally = self.scan(issue, each)?;
        if tally.invalid.is_empty() {
            Ok(tally)
        } else {
            Err(Error::SubscribersInvalid {
                path: self.subscribers_path.clone(),
                problems: tally.invalid,
            })
        }
    }
}

/// A file the list file names that does not exist is a mistake in the list file: the error
/// points at the field that names it.
fn named_by_list(error: Error, issue: &Issue, field: &str, from_list: bool) -> Error {
    match error {
        Error::Read { path, source }
            if from_list && source.kind() == std::io::ErrorKind::NotFound =>
        {
            Error::DocumentInvalid {
                location: Location::line(
                    &issue.list.path,
                    crate::input::document::top_level_key_line(&issue.list.text, field),
                ),
                field: Some(field.to_owned()),
                message: format!("the file `{}` does not exist", path.display()),
            }
        }
        other => other,
    }
}
