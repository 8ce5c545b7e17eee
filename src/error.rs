//! Every way a run can fail, and the exit code each failure maps to.
//!
//! Messages are one lower-case line that names the file, line and field involved; the cause, if
//! any, is printed below by [`crate::run`] as `caused by:` lines. Exit codes are documented in the
//! README and in `newsletter --help`.

use std::{fmt, fmt::Write as _, io, path::PathBuf};

use crate::{input::location::Location, printable::printable_lines};

/// How a run ended, as the process exit code. [`ExitCode::ALL`] is the one table of codes:
/// `newsletter --help` prints it and a test checks that the README's table says the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitCode {
    Success,
    Failure,
    Usage,
    Partial,
    InvalidInput,
    Paused,
    Interrupted,
    Terminated,
}

impl ExitCode {
    /// Every exit code, in the order the help and README list them.
    pub(crate) const ALL: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::Failure,
        ExitCode::Usage,
        ExitCode::Partial,
        ExitCode::InvalidInput,
        ExitCode::Paused,
        ExitCode::Interrupted,
        ExitCode::Terminated,
    ];

    pub(crate) fn code(self) -> i32 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            // clap's own code for usage errors.
            ExitCode::Usage => 2,
            ExitCode::Partial => 3,
            ExitCode::InvalidInput => 4,
            ExitCode::Paused => 5,
            // 128 + SIGINT, as shells report a process stopped by Ctrl-C.
            ExitCode::Interrupted => 130,
            // 128 + SIGTERM, likewise.
            ExitCode::Terminated => 143,
        }
    }

    /// What the code means, in the words of the help and the README.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Failure => {
                "a failure not caused by the input files: I/O, the SMTP server, TLS, authentication, the journal"
            }
            ExitCode::Usage => {
                "wrong command-line usage (including a send that needs `--yes` and has no terminal)"
            }
            ExitCode::Partial => {
                "the send finished, but some recipients (of this run or an earlier one) failed, were deferred or are in doubt; `bounces`: some messages were not understood (they are listed)"
            }
            ExitCode::InvalidInput => {
                "invalid input: the issue, list, subscriber, suppression or soft-bounce file, keys, a folder that is not a Maildir (the message says where)"
            }
            ExitCode::Paused => "the send paused at its `--cap`; run it again later",
            ExitCode::Interrupted => "the send was interrupted (Ctrl-C); run it again to continue",
            ExitCode::Terminated => {
                "the send was stopped by SIGTERM (`kill`, systemd, CI), like Ctrl-C; run it again to continue"
            }
        }
    }

    /// The table for `--help`, wrapped to 80 columns.
    pub(crate) fn help() -> String {
        let mut text = String::from("Exit codes:");
        for code in ExitCode::ALL {
            let options = textwrap::Options::new(80)
                .initial_indent("")
                .subsequent_indent("       ");
            let meaning = code.meaning().replace('`', "");
            let line = format!("{:<5}{meaning}", code.code());
            for (index, part) in textwrap::wrap(&line, options).iter().enumerate() {
                text.push_str(if index == 0 { "\n  " } else { "\n" });
                text.push_str(part);
            }
        }
        text
    }
}

/// The step of setting up an SMTP session that failed, as [`Error::SmtpSession`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStep {
    Tls,
    Authentication,
    /// The greeting or EHLO.
    Session,
}

impl fmt::Display for SessionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionStep::Tls => "TLS",
            SessionStep::Authentication => "authentication",
            SessionStep::Session => "session",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error("cannot write `{}`", path.display())]
    Write { path: PathBuf, source: io::Error },

    #[error("`{}` already exists; `newsletter new` never overwrites a file", path.display())]
    NewFileExists { path: PathBuf },

    #[error("`{}` is {size} bytes; {kind} files are limited to {limit} bytes", path.display())]
    DocumentTooLarge {
        path: PathBuf,
        kind: crate::input::location::DocumentKind,
        size: u64,
        limit: u64,
    },

    #[error("`{}` is empty; {needs}", path.display())]
    DocumentEmpty { path: PathBuf, needs: &'static str },

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

    #[error("{origin} is not a valid SMTP URL: {reason}")]
    SmtpUrl {
        origin: &'static str,
        reason: String,
    },

    #[error("`send --test` goes to the reviewers, but `{}` names none", list.display())]
    ReviewersMissing { list: PathBuf },

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

    #[error("`{}` is not a newsletter journal (it does not start with a journal header); refusing to write to it", path.display())]
    JournalForeign { path: PathBuf },

    #[error("the journal `{}` ends early: its header counts {recorded} records but only {found} are there", path.display())]
    JournalTailLost {
        path: PathBuf,
        recorded: u64,
        found: u64,
    },

    #[error("`{}` is a symbolic link; newsletter does not write through one", path.display())]
    OutputSymlink { path: PathBuf },

    #[error("`{}` is `{}`, which this run reads; refusing to write over it", path.display(), input.display())]
    OutputIsInput { path: PathBuf, input: PathBuf },

    #[error("{relay}: {kind} failed: {message}")]
    SmtpSession {
        relay: String,
        kind: SessionStep,
        message: String,
        /// The variable the relay's password came from (named by the authentication hint).
        password_variable: String,
    },

    #[error("{relay}: cannot reach the relay: {message}")]
    RelayUnreachable { relay: String, message: String },

    #[error(
        "{relay}: the relay keeps failing ({failures} temporary failures in a row; the last: {last})"
    )]
    RelayFailing {
        relay: String,
        failures: usize,
        last: String,
    },

    #[error("every relay is down: {relays} (the last failures: {last})")]
    RelaysFailing { relays: String, last: String },

    #[error("{relay} refuses messages of this size: {detail}")]
    MessageTooLarge { relay: String, detail: String },

    #[error(
        "the SMTP URL names user `{user}`, but {variable} is not set and there is no terminal to ask for the password"
    )]
    SmtpPasswordMissing { user: String, variable: String },

    #[error(
        "this would send `{issue}` to {count} subscribers via {relay}; there is no terminal to confirm it"
    )]
    ConfirmationNeeded {
        issue: String,
        count: usize,
        relay: String,
    },

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

    #[error("there is no command `{command}` to show the manual page of")]
    ManPageUnknown { command: String },

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

    #[error("cannot listen on `{address}` for the live preview")]
    PreviewListen {
        address: std::net::SocketAddr,
        source: io::Error,
    },

    #[error("cannot watch `{}` for changes", path.display())]
    FileWatch {
        path: PathBuf,
        source: notify::Error,
    },

    #[error("`{}` is a folder but not a Maildir (it has no `cur` or `new` folder)", path.display())]
    MailboxUnknown { path: PathBuf },

    #[error("`{}` names no suppression file, so there is nowhere to record bounces", list.display())]
    SuppressionFileUnset { list: PathBuf },

    #[error("cannot sign the message for `{email}`: {reason}")]
    DkimSign { email: String, reason: String },

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
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            // A file the user named that is not there, or is a folder, is a mistake in the input.
            Error::Read { source, .. }
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::IsADirectory
                ) =>
            {
                ExitCode::InvalidInput
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
            | Error::MailboxUnknown { .. }
            | Error::SuppressionFileUnset { .. }
            | Error::ServeUrl { .. }
            | Error::SuppressionMissing { .. } => ExitCode::InvalidInput,
            Error::SmtpUrl { .. }
            | Error::SmtpPasswordInUrl
            | Error::PlaintextCredentials { .. }
            | Error::SmtpPasswordMissing { .. }
            | Error::ConfirmationNeeded { .. }
            | Error::TestAddress { .. }
            | Error::ReviewersMissing { .. }
            | Error::TokenArguments { .. }
            | Error::ManPageUnknown { .. }
            | Error::SuppressionAddress { .. } => ExitCode::Usage,
            Error::Read { .. }
            | Error::Write { .. }
            | Error::NewFileExists { .. }
            | Error::JournalWrite { .. }
            | Error::JournalLocked { .. }
            | Error::JournalDamaged { .. }
            | Error::IssueChanged { .. }
            | Error::JournalForeign { .. }
            | Error::JournalTailLost { .. }
            | Error::OutputSymlink { .. }
            | Error::OutputIsInput { .. }
            | Error::SmtpSession { .. }
            | Error::RelayFailing { .. }
            | Error::RelaysFailing { .. }
            | Error::MessageTooLarge { .. }
            | Error::RelayUnreachable { .. }
            | Error::TokenInvalid { .. }
            | Error::TokenUrlInvalid { .. }
            | Error::Internal { .. }
            | Error::TemplateRender { .. }
            | Error::CssInline { .. }
            | Error::MessageBuild { .. }
            | Error::DkimSign { .. }
            | Error::ServeListen { .. }
            | Error::PreviewListen { .. }
            | Error::FileWatch { .. } => ExitCode::Failure,
        }
    }

    /// A line suggesting what to do next, for failures where the fix is not obvious from the
    /// message alone.
    // One arm per failure that has a hint: a table, not logic to split up.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Error::Read { path, source } if source.kind() == io::ErrorKind::IsADirectory => Some(
                format!("`{}` is a folder: name a file in it", path.display()),
            ),
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
            Error::NewFileExists { .. } => Some(
                "give a new file name, e.g. `newsletters/2026-07-summer.yaml`".into(),
            ),
            Error::IssueChanged { .. } => Some(
                "rerun with `--continue-changed` to keep the journal (whoever already got the old version is not mailed again), or `--start-over` to mail everyone the new version".into(),
            ),
            Error::JournalForeign { .. } => Some(
                "name a new file with --journal, or move that file out of the way".into(),
            ),
            Error::JournalTailLost { found, .. } => Some(format!(
                "records after line {} were lost (a truncated copy or a restored backup?): put the whole journal back and run again, or rerun with `--accept-lost-tail` to go on from what is there (recipients whose records were lost may be mailed again)",
                found + 1
            )),
            Error::OutputSymlink { .. } => Some(
                "name the real file, or remove the link first".into(),
            ),
            Error::OutputIsInput { .. } => Some(
                "choose another file name for what newsletter writes".into(),
            ),
            Error::JournalDamaged { .. } => Some(
                "the journal records who was mailed; fix or remove that line by hand (removing it may mail that recipient again)".into(),
            ),
            Error::SmtpSession {
                kind: SessionStep::Authentication,
                password_variable,
                ..
            } => Some(format!(
                "check the user name in --smtp and the password in {password_variable}"
            )),
            Error::SmtpSession {
                kind: SessionStep::Tls,
                ..
            } => Some(
                "port 465 uses `smtps://`, port 587 uses `smtp://HOST:587?tls=required`; for a private CA pass --ca-file".into(),
            ),
            Error::RelayUnreachable { .. } => Some(format!(
                "is the relay running? Nothing was sent. Check the host and port of --smtp ({}, or `relay:` in the list file), e.g. smtp://127.0.0.1:1025 for a local MailHog",
                crate::env::SMTP_URL
            )),
            Error::RelayFailing { .. } | Error::RelaysFailing { .. } => Some(
                "everything done so far is in the journal; run the same command again to continue when the relay is back".into(),
            ),
            Error::MessageTooLarge { .. } => Some(
                "nobody was recorded failed for it; make the message smaller (fewer or smaller images: `newsletter check` lists their sizes), then run the same command again".into(),
            ),
            Error::SmtpPasswordMissing { variable, .. } => Some(format!(
                "set {variable} in the environment of the command"
            )),
            Error::ReviewersMissing { .. } => Some(format!(
                "add `reviewers: [you@example.org, …]` to the list file, set {}, or use --to ADDRESS",
                crate::env::REVIEWERS
            )),
            Error::ManPageUnknown { .. } => Some(
                "the commands are new, check, preview, send, status, bounces, serve, unsubscribe, token, completions and man".into(),
            ),
            Error::PreviewListen { .. } => Some(
                "another program may use that port: pass another with --listen (port 0 picks a free one)".into(),
            ),
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
            Error::SuppressionFileUnset { .. } => Some(
                "add `suppression: suppressed.txt` to the list file (send then skips the addresses in it), or pass --suppression FILE".into(),
            ),
            Error::MailboxUnknown { .. } => Some(
                "give a Maildir folder (with `cur/` and `new/`), an mbox file or an .eml file".into(),
            ),
            _ => None,
        }
    }
}

/// Writes `error: <message>`, one `caused by:` line per source, and a hint if there is one.
pub(crate) struct Report<'a>(pub(crate) &'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote relays, TLS peers and files: their control characters are escaped.
        write!(f, "error: {}", printable_lines(&self.0.to_string()))?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {}", printable_lines(&cause.to_string()))?;
            source = cause.source();
        }
        if let Some(hint) = self.0.hint() {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the README's "Exit codes" table, as (code, meaning).
    fn readme_exit_codes() -> Vec<(i32, String)> {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Exit codes\n")
            .nth(1)
            .expect("README.md has an \"Exit codes\" section");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
                let code = cells.first()?.trim().parse().ok()?;
                Some((code, cells.get(1)?.trim().to_owned()))
            })
            .collect()
    }

    #[test]
    fn readme_lists_the_exit_codes_of_the_code() {
        let ours: Vec<(i32, String)> = ExitCode::ALL
            .iter()
            .map(|code| (code.code(), code.meaning().to_owned()))
            .collect();
        assert_eq!(readme_exit_codes(), ours);
    }

    #[test]
    fn help_lists_every_exit_code_within_80_columns() {
        let help = ExitCode::help();
        for code in ExitCode::ALL {
            assert!(
                help.lines()
                    .any(|line| line.trim_start().starts_with(&format!("{} ", code.code()))),
                "{help}"
            );
        }
        assert!(
            help.lines().all(|line| line.chars().count() <= 80),
            "{help}"
        );
    }
}
