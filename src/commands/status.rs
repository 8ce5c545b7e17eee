//! `newsletter status`: what the journal of an issue says: how many recipients were sent,
//! failed, deferred or are in doubt, who those are with the relay's reply and when (local time,
//! to the second), and how many on the current subscriber list were never tried. `--json` gives
//! the same as one JSON object, for scripts. When several relays took the messages, the counts
//! are also given per relay (`relays` in the JSON, always).
//!
//! The counts agree with `send`'s summary: a deferred recipient counts as deferred only, not
//! also as "not sent yet" (the next send retries both).

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use serde_json::json;
use time::{OffsetDateTime, UtcOffset, macros::format_description};

use crate::{
    cli::StatusArguments,
    commands::style,
    deliver::journal::{self, History, Journal, Listed, State},
    error::{Error, ExitCode},
    input::audience::Audience,
    input::issue::Issue,
    input::suppression,
    printable::printable,
};

/// The states `status` lists by recipient, with the heading of each list and its JSON name.
const LISTED: [(State, &str, &str); 3] = [
    (State::Failed, "failed (not retried):", "failed"),
    (
        State::Deferred,
        "deferred (retried by the next send):",
        "deferred",
    ),
    (
        State::InDoubt,
        "in doubt (perhaps delivered; `send --resend-in-doubt` sends them again):",
        "in doubt",
    ),
];

pub(crate) fn run(arguments: &StatusArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let input = &arguments.input;
    let issue = Issue::load(&input.issue)?;
    let path = arguments
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&issue.real_path));
    let suppressed = Suppressed::read(
        input
            .suppression
            .as_deref()
            .or(issue.list.suppression_path.as_deref()),
    )?;
    if !path.exists() {
        let text = if arguments.json {
            json!({
                "issue": issue.slug(),
                "journal": path.display().to_string(),
                "runs": 0,
                "suppressed": suppressed.json(),
            })
            .to_string()
                + "\n"
        } else {
            format!(
                "{}: nothing sent yet (no journal at `{}`)\n{}",
                issue.slug(),
                path.display(),
                suppressed.line()
            )
        };
        return style::print(out, &text).map(|()| ExitCode::Success);
    }
    let history = Journal::read(&path)?;
    let audience = Audience::of(
        &issue,
        input.subscribers.as_deref(),
        input.suppression.as_deref(),
    )?;
    let mut never_tried = 0;
    audience.scan(&issue, |subscriber| {
        if history.state(subscriber.key()).is_none() {
            never_tried += 1;
        }
        Ok(())
    })?;
    let changed = history.hash.as_deref() != Some(issue.content_hash().as_str());
    let text = if arguments.json {
        json_text(&issue, &path, &history, never_tried, changed, &suppressed)
    } else {
        plain_text(&issue, &path, &history, never_tried, changed) + &suppressed.line()
    };
    style::print(out, &text)?;
    Ok(ExitCode::Success)
}

fn plain_text(
    issue: &Issue,
    path: &std::path::Path,
    history: &History,
    never_tried: usize,
    changed: bool,
) -> String {
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
        format!("  not sent yet:  {never_tried} on the current subscriber list"),
    ];
    // One relay needs no breakdown: the counts above are its own.
    let by_relay = by_relay(history);
    if by_relay.len() > 1 {
        lines.push("by relay:".to_owned());
        for (relay, counts) in &by_relay {
            let counts: Vec<String> = counts
                .iter()
                .map(|(name, count)| format!("{count} {name}"))
                .collect();
            lines.push(format!("  {}  {}", printable(relay), counts.join(", ")));
        }
    }
    let listed = history.listed();
    for (state, heading, _) in LISTED {
        let mut of_state = listed
            .iter()
            .filter(|listed| listed.state == state)
            .peekable();
        if of_state.peek().is_none() {
            continue;
        }
        lines.push(heading.to_owned());
        for entry in of_state {
            // The journal is a file anybody may have edited, and its details quote the relay.
            lines.push(format!(
                "  {}  {}  ({})",
                printable(&entry.email),
                printable(&entry.detail),
                local_time(entry.time)
            ));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn json_text(
    issue: &Issue,
    path: &std::path::Path,
    history: &History,
    never_tried: usize,
    changed: bool,
    suppressed: &Suppressed,
) -> String {
    let recipients: Vec<_> = history
        .listed()
        .into_iter()
        .map(
            |Listed {
                 email,
                 state,
                 detail,
                 time,
             }| {
                let name = LISTED
                    .iter()
                    .find(|(listed, _, _)| listed == state)
                    .map_or("sent", |(_, _, name)| name);
                json!({
                    "email": email,
                    "state": name,
                    "reply": detail,
                    "time": time.to_offset(local_offset(*time))
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                })
            },
        )
        .collect();
    let value = json!({
        "issue": issue.slug(),
        "journal": path.display().to_string(),
        "runs": history.runs,
        "issue_changed": changed,
        "sent": history.count(State::Sent),
        "failed": history.count(State::Failed),
        "deferred": history.count(State::Deferred),
        "in_doubt": history.count(State::InDoubt),
        "not_sent_yet": never_tried,
        "relays": by_relay(history)
            .into_iter()
            .map(|(relay, counts)| {
                let counts: serde_json::Map<String, serde_json::Value> = counts
                    .into_iter()
                    .map(|(name, count)| (name.replace(' ', "_"), count.into()))
                    .collect();
                (relay, serde_json::Value::Object(counts))
            })
            .collect::<serde_json::Map<_, _>>(),
        "recipients": recipients,
        "suppressed": suppressed.json(),
    });
    value.to_string() + "\n"
}

/// How many recipients each relay the journal names took, by state (`sent`, `failed`,
/// `deferred`, `in doubt`), relays in order.
fn by_relay(history: &History) -> Vec<(String, Vec<(&'static str, usize)>)> {
    let mut relays: Vec<(String, Vec<(&'static str, usize)>)> = Vec::new();
    for (relay, state, count) in history.by_relay() {
        let name = match state {
            State::Sent => "sent",
            State::Failed => "failed",
            State::Deferred => "deferred",
            State::InDoubt => "in doubt",
        };
        match relays.last_mut() {
            Some((last, counts)) if *last == relay => counts.push((name, count)),
            _ => relays.push((relay, vec![(name, count)])),
        }
    }
    relays
}

/// This machine's offset from UTC at `time` (UTC when it cannot be known).
fn local_offset(time: OffsetDateTime) -> UtcOffset {
    UtcOffset::local_offset_at(time).unwrap_or(UtcOffset::UTC)
}

/// `2026-12-02 14:05:03 +08:00`: local time to the second, with the offset.
fn local_time(time: OffsetDateTime) -> String {
    time.to_offset(local_offset(time))
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
        ))
        .unwrap_or_default()
}

/// What the suppression file holds: how many addresses, and why they are there.
enum Suppressed {
    /// The list names no suppression file and none was given.
    NoFile,
    /// The file is named but not written yet.
    Missing(PathBuf),
    /// Each reason with its number of addresses, most common first.
    Counted(PathBuf, Vec<(String, usize)>),
}

impl Suppressed {
    fn read(path: Option<&Path>) -> Result<Suppressed, Error> {
        Ok(match path {
            None => Suppressed::NoFile,
            Some(path) if !path.exists() => Suppressed::Missing(path.to_owned()),
            Some(path) => Suppressed::Counted(path.to_owned(), suppression::reasons(path)?),
        })
    }

    /// `suppressed: N in `FILE`: n why, …` (empty when there is no suppression file).
    fn line(&self) -> String {
        match self {
            Suppressed::NoFile => String::new(),
            Suppressed::Missing(path) => {
                format!("suppressed: 0 (`{}` does not exist yet)\n", path.display())
            }
            Suppressed::Counted(path, reasons) if reasons.is_empty() => {
                format!("suppressed: 0 in `{}`\n", path.display())
            }
            Suppressed::Counted(path, reasons) => {
                let total: usize = reasons.iter().map(|(_, count)| count).sum();
                // The reasons are free text from a file anybody may have edited.
                let why = reasons
                    .iter()
                    .map(|(reason, count)| format!("{count} {}", printable(reason)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("suppressed: {total} in `{}`: {why}\n", path.display())
            }
        }
    }

    /// `{"file", "total", "reasons": [{"reason", "count"}]}`, or `null` without a file.
    fn json(&self) -> serde_json::Value {
        let (path, reasons): (_, &[(String, usize)]) = match self {
            Suppressed::NoFile => return serde_json::Value::Null,
            Suppressed::Missing(path) => (path, &[]),
            Suppressed::Counted(path, reasons) => (path, reasons),
        };
        json!({
            "file": path.display().to_string(),
            "exists": !matches!(self, Suppressed::Missing(_)),
            "total": reasons.iter().map(|(_, count)| count).sum::<usize>(),
            "reasons": reasons
                .iter()
                .map(|(reason, count)| json!({"reason": reason, "count": count}))
                .collect::<Vec<_>>(),
        })
    }
}
