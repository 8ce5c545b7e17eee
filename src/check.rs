//! `newsletter check`: loads and validates an issue, its list and its subscribers, builds every
//! message without writing or sending it, and reports what it found.

use std::{io::Write, time::SystemTime};

use crate::{
    audience::{Audience, Tally},
    cli::CheckArguments,
    error::Error,
    issue::Issue,
    mailing::Mailing,
    subscribers::SkipReason,
    units,
    unsubscribe::{self, KeyUse},
};

/// The largest message of a run.
#[derive(Debug, Default)]
struct Largest {
    bytes: usize,
    html_bytes: usize,
    email: String,
}

pub fn run(arguments: &CheckArguments, out: &mut dyn Write) -> Result<i32, Error> {
    let input = &arguments.input;
    let issue = Issue::load(&input.issue)?;
    let mailing = Mailing::new(&issue, unsubscribe::key_from_env(KeyUse::Preview)?)?;
    let audience = Audience::of(
        &issue,
        input.subscribers.as_deref(),
        input.suppression.as_deref(),
    )?;
    let now = SystemTime::now();
    let mut largest = Largest::default();
    let tally = audience.scan(&issue, |subscriber| {
        let (built, rendered) = mailing.message_and_parts(&subscriber, now)?;
        if built.bytes.len() > largest.bytes {
            largest = Largest {
                bytes: built.bytes.len(),
                html_bytes: rendered.html.len(),
                email: subscriber.email.to_string(),
            };
        }
        Ok(())
    })?;
    print_summary(out, &issue, &audience, &tally, &largest, &mailing)?;
    let errors = tally.invalid.len();
    for (location, message) in &tally.invalid {
        write_line(out, &format!("error: {location}: {message}"))?;
    }
    if errors > 0 {
        return Err(Error::CheckFailed { count: errors });
    }
    write_line(out, "ok: no problems found")?;
    Ok(crate::error::EXIT_OK)
}

fn write_line(out: &mut dyn Write, line: &str) -> Result<(), Error> {
    writeln!(out, "{line}").map_err(|source| Error::Write {
        path: "standard output".into(),
        source,
    })
}

fn print_summary(
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
    for skip in &tally.skipped {
        if let SkipReason::Duplicate { first_line } = skip.reason {
            lines.push(format!(
                "note: {}: `{}` is a duplicate of line {first_line}; it is sent once",
                crate::location::Location::line(&audience.subscribers_path, skip.line),
                skip.email
            ));
        }
    }
    for warning in &tally.warnings {
        lines.push(format!(
            "warning: `{}` {warning}",
            audience.subscribers_path.display()
        ));
    }
    if mailing.prepared.uses_throwaway_key() {
        lines.push(format!(
            "note: {} is not set, so unsubscribe links were made with a throwaway key; `send` needs the real key",
            unsubscribe::KEY_VARIABLE
        ));
    }
    for line in lines {
        write_line(out, &line)?;
    }
    Ok(())
}
