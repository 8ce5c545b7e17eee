//! `newsletter status`: what the journal of an issue says: how many recipients were sent,
//! failed, deferred or are in doubt, who needs attention, and how many on the current
//! subscriber list have not been sent yet.

use std::{io::Write, path::Path};

use crate::{
    cli::StatusArguments,
    deliver::journal::{self, Journal, State},
    error::Error,
    input::audience::Audience,
    input::issue::Issue,
    input::suppression,
};

pub(crate) fn run(arguments: &StatusArguments, out: &mut dyn Write) -> Result<i32, Error> {
    let input = &arguments.input;
    let issue = Issue::load(&input.issue)?;
    let path = arguments
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&issue.path));
    let suppressed = suppressed_line(
        input
            .suppression
            .as_deref()
            .or(issue.list.suppression_path.as_deref()),
    )?;
    if !path.exists() {
        let text = format!(
            "{}: nothing sent yet (no journal at `{}`)\n{suppressed}",
            issue.slug(),
            path.display()
        );
        return write(out, &text).map(|()| crate::error::EXIT_OK);
    }
    let history = Journal::read(&path)?;
    let audience = Audience::of(
        &issue,
        input.subscribers.as_deref(),
        input.suppression.as_deref(),
    )?;
    let mut not_yet = 0;
    audience.scan(&issue, |subscriber| {
        if matches!(
            history.state(subscriber.key()),
            None | Some(State::Deferred)
        ) {
            not_yet += 1;
        }
        Ok(())
    })?;
    let changed = history.hash.as_deref() != Some(issue.content_hash().as_str());
    let mut lines = vec![
        format!(
            "{}: {} run(s) recorded in `{}`{}",
            issue.slug(),
            history.runs,
            path.display(),
            if changed {
                "; the issue has changed since (a send needs --continue-changed or --start-over)"
            } else {
                ""
            }
        ),
        format!("  sent:          {}", history.count(State::Sent)),
        format!("  failed:        {}", history.count(State::Failed)),
        format!("  deferred:      {}", history.count(State::Deferred)),
        format!("  in doubt:      {}", history.count(State::InDoubt)),
        format!("  not sent yet:  {not_yet} on the current subscriber list"),
    ];
    for (state, heading) in [
        (State::Failed, "failed (not retried):"),
        (State::Deferred, "deferred (retried by the next send):"),
        (
            State::InDoubt,
            "in doubt (perhaps delivered; `send --resend-in-doubt` sends them again):",
        ),
    ] {
        let listed: Vec<_> = history
            .listed()
            .into_iter()
            .filter(|listed| listed.state == state)
            .collect();
        if listed.is_empty() {
            continue;
        }
        lines.push(heading.to_owned());
        for entry in listed {
            let time = entry
                .time
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            lines.push(format!("  {}  {}  ({time})", entry.email, entry.detail));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text.push_str(&suppressed);
    write(out, &text)?;
    Ok(crate::error::EXIT_OK)
}

/// `suppressed: N (why, …)` for the suppression file, if there is one.
fn suppressed_line(path: Option<&Path>) -> Result<String, Error> {
    let Some(path) = path else {
        return Ok(String::new());
    };
    if !path.exists() {
        return Ok(format!(
            "suppressed: 0 (`{}` does not exist yet)\n",
            path.display()
        ));
    }
    let reasons = suppression::reasons(path)?;
    let total: usize = reasons.iter().map(|(_, count)| count).sum();
    let why = reasons
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(if total == 0 {
        format!("suppressed: 0 in `{}`\n", path.display())
    } else {
        format!("suppressed: {total} in `{}`: {why}\n", path.display())
    })
}

fn write(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: "standard output".into(),
            source,
        })
}
