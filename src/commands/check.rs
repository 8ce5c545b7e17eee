//! `newsletter check`: loads and validates an issue, its list and its subscribers, builds every
//! message without writing or sending it, and lints the result (see [`crate::compose::lint`]).
//!
//! The summary goes to standard output; errors, warnings and notes go to standard error. The
//! exit code is 0 unless a row is invalid, or a warning was given under `--deny-warnings`.

use std::{collections::BTreeMap, io::Write, time::SystemTime};

use crate::{
    cli::CheckArguments,
    commands::{
        load::{Input, InputFiles},
        style,
    },
    compose::lint::{self, Lint},
    compose::mailing::Mailing,
    compose::unsubscribe::KeyUse,
    deliver::relay::Relay,
    endpoint::wording::{self, Match},
    error::{Error, ExitCode},
    input::audience::{Audience, Tally},
    input::issue::Issue,
    input::location::Location,
    input::subscribers::SkipReason,
    units,
};

/// The largest message of a run.
#[derive(Debug, Default)]
struct Largest {
    bytes: usize,
    html_bytes: usize,
    email: String,
}

/// Per-message warnings, by rule: the first one seen and how many messages have it.
#[derive(Debug, Default)]
struct MessageLints {
    by_rule: BTreeMap<&'static str, (Lint, String, usize)>,
}

impl MessageLints {
    fn add(&mut self, lint: Lint, email: &str) {
        self.by_rule
            .entry(lint.rule)
            .or_insert_with(|| (lint, email.to_owned(), 0))
            .2 += 1;
    }

    fn into_lints(self) -> impl Iterator<Item = Lint> {
        self.by_rule.into_values().map(|(mut lint, email, count)| {
            lint.message = if count > 1 {
                format!(
                    "{} (message to {email}, and {} more)",
                    lint.message,
                    count - 1
                )
            } else {
                format!("{} (message to {email})", lint.message)
            };
            lint
        })
    }
}

pub(crate) fn run(arguments: &CheckArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let Input {
        issue,
        mailing,
        audience,
        ..
    } = Input::load(
        &InputFiles::new(&arguments.input, &arguments.signing),
        KeyUse::Preview,
    )?;
    check_relays(&issue)?;
    let now = SystemTime::now();
    let mut largest = Largest::default();
    let mut message_lints = MessageLints::default();
    let mut long_headers: Vec<lint::LongHeader> = Vec::new();
    let tally = audience.scan(&issue, |subscriber| {
        let (built, rendered) = mailing.message_and_parts(&subscriber, now)?;
        let row = Location::line(&audience.subscribers_path, subscriber.line);
        for long in lint::long_header_lines(&issue, &built.bytes, subscriber.email.as_ref(), &row) {
            if !long_headers.iter().any(|known| known.header == long.header) {
                long_headers.push(long);
            }
        }
        if built.bytes.len() > largest.bytes {
            largest = Largest {
                bytes: built.bytes.len(),
                html_bytes: rendered.html.len(),
                email: subscriber.email.to_string(),
            };
        }
        let size = lint::lint_message_size(built.bytes.len());
        for lint in lint::lint_parts(&rendered).into_iter().chain(size) {
            message_lints.add(lint, subscriber.email.as_ref());
        }
        Ok(())
    })?;
    let mut lints = lint::lint_issue(&issue);
    lints.extend(message_lints.into_lints());
    if tally.recipients == 0 && tally.invalid.is_empty() {
        lints.push(Lint {
            rule: "no-recipients",
            location: Some(Location::line(&audience.subscribers_path, 1)),
            message: format!(
                "nobody would get this issue ({} row(s) skipped)",
                tally.skipped.len()
            ),
        });
    }

    write_summary(out, &issue, &audience, &tally, &largest, &mailing)?;
    print_findings(&issue, &audience, &tally, &mailing, &long_headers, &lints);
    let errors = tally.invalid.len() + long_headers.len();
    let warnings = lints.len() + tally.warnings.len();
    if errors > 0 {
        return Err(Error::CheckFailed {
            errors,
            warnings,
            denied: false,
        });
    }
    if warnings > 0 && arguments.deny_warnings {
        return Err(Error::CheckFailed {
            errors,
            warnings,
            denied: true,
        });
    }
    let verdict = match warnings {
        0 => "ok: no problems found".to_owned(),
        count => format!("ok: no errors, {count} warning(s)"),
    };
    writeln!(out, "{verdict}").map_err(style::stdout_error)?;
    Ok(ExitCode::Success)
}

/// Notes that the unsubscribe pages will be in English. Not a warning: the pages work, and
/// the list may not use `serve` at all.
fn note_pages_language(issue: &Issue) {
    if let Match::Fallback(why) = wording::translation(&issue.list.file.language) {
        style::note(&format!("`{}`: {why}", issue.list.path.display()));
    }
}

fn write_summary(
    out: &mut dyn Write,
    issue: &Issue,
    audience: &Audience,
    tally: &Tally,
    largest: &Largest,
    mailing: &Mailing,
) -> Result<(), Error> {
    let file = &issue.file;
    let list = &issue.list.file;
    let mut lines = vec![
        format!(
            "{}: issue {} of {}, {}",
            issue.path.display(),
            file.number,
            list.name,
            file.date.long()
        ),
        format!("  subject:      {}", mailing.composer.subject()),
        format!("  list:         {}", issue.list.path.display()),
        format!("  subscribers:  {}", audience.subscribers_path.display()),
    ];
    if let Some(suppression) = &audience.suppression_path {
        lines.push(format!("  suppression:  {}", suppression.display()));
    }
    lines.push(format!("  recipients:   {}", tally.recipients));
    lines.push(format!("  skipped:      {}", tally.skipped_summary()));
    if largest.bytes > 0 {
        lines.push(format!(
            "  largest:      {} to {} (HTML part {})",
            units::size(largest.bytes),
            largest.email,
            units::size(largest.html_bytes)
        ));
    }
    if let Some(signer) = mailing.composer.signs() {
        // What the receiving side verifies against: the user publishes it before sending.
        lines.push(format!(
            "  dkim:         {} key; publish this TXT record at {}:",
            signer.algorithm(),
            signer.dns_name()
        ));
        lines.push(format!("                {}", signer.dns_record()));
    }
    for line in lines {
        writeln!(out, "{line}").map_err(style::stdout_error)?;
    }
    Ok(())
}

/// The list file's `relay:` or `relays:` checked as `send` would use them, an error pointing at
/// the field's line (a URL holding a user name is not repeated).
fn check_relays(issue: &Issue) -> Result<(), Error> {
    let file = &issue.list.file;
    let (field, urls): (&str, Vec<String>) = match &file.relay {
        Some(relay) => ("relay", vec![relay.as_str().to_owned()]),
        None => (
            "relays",
            file.relays
                .iter()
                .map(|url| url.as_str().to_owned())
                .collect(),
        ),
    };
    if urls.is_empty() {
        return Ok(());
    }
    Relay::parse_all(&urls)
        .map(|_| ())
        .map_err(|error| match error {
            Error::SmtpUrl { reason, .. } => Error::DocumentInvalid {
                location: Location::line(
                    &issue.list.path,
                    crate::input::document::top_level_key_line(&issue.list.text, field),
                ),
                field: Some(field.to_owned()),
                message: format!("not a valid SMTP URL: {reason}"),
            },
            other => other,
        })
}

/// Prints what `check` found, on standard error: errors, then warnings, then notes.
fn print_findings(
    issue: &Issue,
    audience: &Audience,
    tally: &Tally,
    mailing: &Mailing,
    long_headers: &[lint::LongHeader],
    lints: &[Lint],
) {
    for (location, message) in &tally.invalid {
        style::error(&format!("{location}: {message}"));
    }
    for long in long_headers {
        eprintln!("error: {long}");
    }
    for lint in lints {
        style::warning(Some(lint.rule), &lint.text());
    }
    for warning in &tally.warnings {
        style::warning(
            Some("subscriber-name"),
            &format!("`{}` {warning}", audience.subscribers_path.display()),
        );
    }
    for skip in &tally.skipped {
        if let SkipReason::Duplicate { first_line } = skip.reason {
            style::note(&format!(
                "{}: `{}` is a duplicate of line {first_line}; it is sent once",
                Location::line(&audience.subscribers_path, skip.line),
                skip.email
            ));
        }
    }
    for note in tally.notes.iter().cloned().chain(mailing.notes()) {
        style::note(&note);
    }
    note_pages_language(issue);
}
