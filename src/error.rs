//! Every way a run can fail, and the exit code each failure maps to.
//!
//! Messages are one lower-case line that names the file, line and field involved; the cause, if
//! any, is printed below by [`crate::run`] as `caused by:` lines. Exit codes are documented in the
//! README and in `newsletter --help`.

use std::{fmt, fmt::Write as _, io, path::PathBuf};

use crate::input::location::Location;

/// Exit code when everything worked.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code for a failure that is not about the input files: I/O, the SMTP server, the journal.
pub(crate) const EXIT_FAILURE: i32 = 1;
/// Exit code clap uses for bad command-line usage.
pub(crate) const EXIT_USAGE: i32 = 2;
/// Exit code when a run finished but some recipients failed or are in doubt.
pub(crate) const EXIT_PARTIAL: i32 = 3;
/// Exit code for invalid input: the issue, list, subscriber or suppression file.
pub(crate) const EXIT_INVALID_INPUT: i32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("cannot write `{}`", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error("`{}` is {size} bytes; {what} files are limited to {limit} bytes", path.display())]
    DocumentTooLarge {
        path: PathBuf,
        what: &'static str,
        size: u64,
        limit: u64,
    },

    #[error("`{}` is empty; {what}", path.display())]
    DocumentEmpty { path: PathBuf, what: &'static str },

    #[error("{location}: the file is not UTF-8 text")]
    DocumentNotText { location: Location },

    #[error("{location}: {}{message}", field_prefix(field.as_deref()))]
    DocumentInvalid {
        location: Location,
        field: Option<String>,
        message: String,
    },

    #[error("{location}: {message}")]
    SubscriberHeader { location: Location, message: String },

    #[error("{}", problem_list(path, problems))]
    SubscribersInvalid {
        path: PathBuf,
        problems: Vec<(Location, String)>,
    },

    #[error("no subscriber `{email}` in `{}`", path.display())]
    RecipientNotFound { email: String, path: PathBuf },

    #[error("`{email}` is not mailed: {reason}")]
    RecipientSkipped { email: String, reason: String },

    #[error(
        "the unsubscribe URL in `{}` uses `{{token}}`, but {} is not set",
        list.display(),
        crate::env::UNSUBSCRIBE_KEY
    )]
    UnsubscribeKeyMissing { list: PathBuf },

    #[error(
        "{} must be at least {} characters long",
        crate::env::UNSUBSCRIBE_KEY,
        crate::env::MIN_UNSUBSCRIBE_KEY_BYTES
    )]
    UnsubscribeKeyShort,

    #[error("`--smtp` is not a valid SMTP URL: {reason}")]
    SmtpUrl { reason: String },

    #[error("the SMTP URL contains a password")]
    SmtpPasswordInUrl,

    #[error("{relay}: the password would be sent over a plaintext connection to another machine")]
    PlaintextCredentials { relay: String },

    #[error("cannot write the journal `{}`", path.display())]
    JournalWrite { path: PathBuf, source: io::Error },

    #[error("another `newsletter send` of this issue is running (the journal `{}` is locked)", path.display())]
    JournalLocked { path: PathBuf },

    #[error("{location}: the journal is damaged: {message}")]
    JournalDamaged { location: Location, message: String },

    #[error("the issue changed since its journal `{}` was started", journal.display())]
    IssueChanged { journal: PathBuf },

    #[error("{relay}: {kind} failed: {message}")]
    SmtpSession {
        relay: String,
        kind: &'static str,
        message: String,
    },

    #[error(
        "{relay}: the relay keeps failing ({failures} temporary failures in a row; the last: {last})"
    )]
    RelayFailing {
        relay: String,
        failures: usize,
        last: String,
    },

    #[error(
        "the SMTP URL names user `{user}`, but {} is not set and there is no terminal to ask for the password",
        crate::env::SMTP_PASSWORD
    )]
    SmtpPasswordMissing { user: String },

    #[error(
        "this would send `{issue}` to {count} subscribers via {relay}; there is no terminal to confirm it"
    )]
    ConfirmationNeeded {
        issue: String,
        count: usize,
        relay: String,
    },

    #[error("not sent: the answer was not yes")]
    NotConfirmed,

    #[error("`--to`: {reason}")]
    TestAddress { reason: String },

    #[error("{message}")]
    Internal { message: String },

    #[error("cannot use the DKIM key `{}`: {reason}", path.display())]
    DkimKey { path: PathBuf, reason: String },

    #[error("`{}` asks for DKIM signatures, but no key was given", list.display())]
    DkimKeyMissing { list: PathBuf },

    #[error("{} is not set", crate::env::UNSUBSCRIBE_KEY)]
    UnsubscribeKeyUnset,

    #[error("invalid: the token does not belong to `{email}` on `{list_id}`")]
    TokenInvalid { email: String, list_id: String },

    #[error("{reason}")]
    TokenArguments { reason: String },

    #[error("invalid: the URL is not a valid unsubscribe URL of `{list_id}`")]
    TokenUrlInvalid { list_id: String },

    #[error(
        "`{address}` cannot go in the suppression file (it must be one address, without spaces or `#`)"
    )]
    SuppressionAddress { address: String },

    #[error("`{}` names no suppression file", list.display())]
    SuppressionMissing { list: PathBuf },

    #[error("cannot listen on `{address}`")]
    ServeListen { address: String, source: io::Error },

    #[error("`{}`: `serve` cannot answer this unsubscribe URL: {reason}", list.display())]
    ServeUrl { list: PathBuf, reason: String },

    #[error("cannot render the `{template}` template")]
    TemplateRender {
        template: &'static str,
        source: askama::Error,
    },

    #[error("cannot inline the CSS of the HTML template")]
    CssInline { source: css_inline::InlineError },

    #[error("cannot build the message for `{email}`")]
    MessageBuild {
        email: String,
        source: lettre::error::Error,
    },

    #[error("cannot open `{}` in a browser", path.display())]
    BrowserOpen { path: PathBuf, source: io::Error },

    #[error("{}", check_verdict(*errors, *warnings, *denied))]
    CheckFailed {
        errors: usize,
        warnings: usize,
        denied: bool,
    },
}

fn check_verdict(errors: usize, warnings: usize, denied: bool) -> String {
    if denied {
        format!("{warnings} warning(s), denied by --deny-warnings")
    } else {
        format!("{errors} error(s) and {warnings} warning(s) found")
    }
}

fn field_prefix(field: Option<&str>) -> String {
    match field {
        Some(field) => format!("field `{field}`: "),
        None => String::new(),
    }
}

fn problem_list(path: &std::path::Path, problems: &[(Location, String)]) -> String {
    let mut text = format!("`{}` has {} invalid row(s)", path.display(), problems.len());
    for (location, message) in problems.iter().take(MAX_LISTED_PROBLEMS) {
        let _ = write!(text, "\n  {location}: {message}");
    }
    if problems.len() > MAX_LISTED_PROBLEMS {
        let _ = write!(
            text,
            "\n  … and {} more (run `newsletter check` to list them all)",
            problems.len() - MAX_LISTED_PROBLEMS
        );
    }
    text
}

/// How many row errors an error message lists before summarising the rest.
const MAX_LISTED_PROBLEMS: usize = 20;

impl Error {
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            // A file the user named that is not there is a mistake in the input.
            Error::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                EXIT_INVALID_INPUT
            }
            Error::DocumentTooLarge { .. }
            | Error::DocumentEmpty { .. }
            | Error::DocumentNotText { .. }
            | Error::DocumentInvalid { .. }
            | Error::SubscribersInvalid { .. }
            | Error::SubscriberHeader { .. }
            | Error::RecipientNotFound { .. }
            | Error::RecipientSkipped { .. }
            | Error::UnsubscribeKeyMissing { .. }
            | Error::UnsubscribeKeyShort
            | Error::DkimKey { .. }
            | Error::UnsubscribeKeyUnset
            | Error::DkimKeyMissing { .. }
            | Error::CheckFailed { .. }
            | Error::ServeUrl { .. }
            | Error::SuppressionMissing { .. } => EXIT_INVALID_INPUT,
            Error::SmtpUrl { .. }
            | Error::SmtpPasswordInUrl
            | Error::PlaintextCredentials { .. }
            | Error::SmtpPasswordMissing { .. }
            | Error::ConfirmationNeeded { .. }
            | Error::TestAddress { .. }
            | Error::TokenArguments { .. }
            | Error::SuppressionAddress { .. } => EXIT_USAGE,
            Error::Read { .. }
            | Error::Write { .. }
            | Error::JournalWrite { .. }
            | Error::JournalLocked { .. }
            | Error::JournalDamaged { .. }
            | Error::IssueChanged { .. }
            | Error::SmtpSession { .. }
            | Error::RelayFailing { .. }
            | Error::NotConfirmed
            | Error::TokenInvalid { .. }
            | Error::TokenUrlInvalid { .. }
            | Error::Internal { .. }
            | Error::TemplateRender { .. }
            | Error::CssInline { .. }
            | Error::MessageBuild { .. }
            | Error::BrowserOpen { .. }
            | Error::ServeListen { .. } => EXIT_FAILURE,
        }
    }

    /// A line suggesting what to do next, for failures where the fix is not obvious from the
    /// message alone.
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::DocumentInvalid { .. } => Some(
                "the file format is described in README.md, section \"The files\""
                    .into(),
            ),
            Error::UnsubscribeKeyMissing { .. }
            | Error::UnsubscribeKeyShort
            | Error::UnsubscribeKeyUnset => Some(format!(
                "set {} to a random secret of at least {} characters (e.g. `openssl rand -hex 32`), the same one your unsubscribe endpoint checks tokens with",
                crate::env::UNSUBSCRIBE_KEY,
                crate::env::MIN_UNSUBSCRIBE_KEY_BYTES
            )),
            Error::SmtpPasswordInUrl => Some(format!(
                "remove it from the URL (it would show in the process list and shell history) and set {} instead",
                crate::env::SMTP_PASSWORD
            )),
            Error::PlaintextCredentials { .. } => Some(
                "use `smtp://HOST:587?tls=required` (STARTTLS) or `smtps://HOST:465`".into(),
            ),
            Error::IssueChanged { .. } => Some(
                "rerun with `--continue-changed` to keep the journal (whoever already got the old version is not mailed again), or `--start-over` to mail everyone the new version".into(),
            ),
            Error::JournalDamaged { .. } => Some(
                "the journal records who was mailed; fix or remove that line by hand (removing it may mail that recipient again)".into(),
            ),
            Error::SmtpSession { kind: "authentication", .. } => Some(format!(
                "check the user name in --smtp and the password in {}",
                crate::env::SMTP_PASSWORD
            )),
            Error::SmtpSession { kind: "TLS", .. } => Some(
                "port 465 uses `smtps://`, port 587 uses `smtp://HOST:587?tls=required`; for a private CA pass --ca-file".into(),
            ),
            Error::RelayFailing { .. } => Some(
                "everything done so far is in the journal; run the same command again to continue when the relay is back".into(),
            ),
            Error::SmtpPasswordMissing { .. } => Some(format!(
                "set {} in the environment of the command",
                crate::env::SMTP_PASSWORD
            )),
            Error::ConfirmationNeeded { .. } => {
                Some("add --yes to send without asking, or --dry-run to see what would be sent".into())
            }
            Error::SubscribersInvalid { .. } => Some(
                "fix the rows above, or remove them; the subscriber file format is in README.md"
                    .into(),
            ),
            Error::DkimKeyMissing { .. } => Some(format!(
                "pass the private key file with --dkim-key FILE or {}, or remove `dkim` from the list file",
                crate::env::DKIM_KEY_FILE
            )),
            Error::SuppressionMissing { .. } => Some(
                "add `suppression: suppressed.txt` to the list file (the file is created when needed), or pass --suppression FILE".into(),
            ),
            Error::SubscriberHeader { .. } => Some(
                "the first row of the subscriber file names its columns, e.g. `email,name,status`; see README.md, section \"The subscriber file\"".into(),
            ),
            _ => None,
        }
    }
}

/// Writes `error: <message>`, one `caused by:` line per source, and a hint if there is one.
pub(crate) struct Report<'a>(pub(crate) &'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        if let Some(hint) = self.0.hint() {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}
