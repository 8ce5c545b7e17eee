//! `newsletter send`: the main job. Checks everything first (a broken list sends nothing), asks
//! for confirmation, then streams the subscribers through the delivery engine and reports what
//! happened to each. `--dry-run` takes the same path with a transport that connects to nothing.

use std::{
    io::Write,
    sync::Arc,
    time::{Duration, Instant},
};

use time::OffsetDateTime;

mod plan;
mod progress;
mod prompt;
mod summary;

use plan::{Mode, SendPlan};
use progress::Progress;
use summary::Summary;

use crate::{
    cli::SendArguments,
    commands::load::Input,
    compose::pool::{self, Submitter},
    compose::unsubscribe::KeyUse,
    deliver::engine::{Engine, Stopped, Transport},
    deliver::journal::{self, History, Journal},
    deliver::relay::{Relay, RelaySettings},
    deliver::report::{Outcome, Recorder, Totals},
    error::{Error, ExitCode},
    input::audience::Audience,
    input::issue::Issue,
    input::{
        subscribers::{AddressKey, Row, Subscriber},
        values::parse_address,
    },
};

/// Why the producer stopped queueing before the end of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Early {
    Limit,
    Cap { resume_at: OffsetDateTime },
}

pub(crate) fn run(arguments: &SendArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    send(&SendPlan::resolve(arguments), out)
}

/// Carries out `plan`.
fn send(plan: &SendPlan, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let dry_run = plan.is_dry_run();
    let test_send = !plan.test_addresses().is_empty();
    let purpose = if dry_run {
        KeyUse::Preview
    } else {
        KeyUse::Send
    };
    let Input {
        issue,
        mut mailing,
        audience,
    } = Input::load(&plan.files, purpose)?;
    if test_send {
        let run = OffsetDateTime::now_utc().unix_timestamp().to_string();
        mailing.composer = mailing.composer.for_test_send(&run);
    }
    let relay = Relay::parse(&plan.relay.url)?;

    let (journal, history) = open_journal(plan, &issue)?;

    // Pass 1: validate every row and count who would be sent to now.
    let tests = test_recipients(plan.test_addresses(), &audience, &issue)?;
    let mut eligible = 0;
    let tally = audience.scan_valid(&issue, |subscriber| {
        if plan
            .journal
            .rules_out(history.state(subscriber.key()))
            .is_none()
        {
            eligible += 1;
        }
        Ok(())
    })?;
    let planned = plan.planned(eligible, tests.len());

    let transport = transport(plan, &issue, planned, &relay)?;
    if let Some(journal) = &journal {
        journal.record(&journal::Entry::Run {
            relay: relay.to_string(),
            t: journal::timestamp(),
        })?;
    }
    let recorder = Recorder::new(plan.report.as_deref())?;
    let engine = Arc::new(Engine::new(
        mailing,
        transport,
        plan.pacing.concurrency,
        plan.pacing.rate,
        plan.pacing.retry,
        journal,
        recorder,
    ));

    let started = Instant::now();
    let early = deliver_all(plan, &engine, &audience, &issue, &history, tests, planned)?;
    let elapsed = started.elapsed();

    if let Some(journal) = &engine.journal {
        journal.close()?;
    }
    engine.recorder.finish()?;
    let totals = engine.recorder.counts.totals();
    let summary = Summary {
        issue: &issue,
        relay: &relay,
        tally: &tally,
        totals,
        problems: engine.recorder.problems(),
        elapsed,
        dry_run,
        journal: engine.journal.as_ref().map(Journal::path),
        report: plan.report.as_deref(),
        out_folder: match &plan.mode {
            Mode::DryRun { out } => out.as_deref(),
            _ => None,
        },
        history: &history,
        resend_in_doubt: plan.journal.resend_in_doubt,
        notes: engine.mailing.notes(),
        planned,
        test_send,
    };
    write_text(out, &summary.text())?;
    conclude(out, plan, engine.stopped(), early, &totals)
}

/// The exit code of a finished run, after a last line saying why it stopped, if it did.
fn conclude(
    out: &mut dyn Write,
    plan: &SendPlan,
    stopped: Option<Stopped>,
    early: Option<Early>,
    totals: &Totals,
) -> Result<ExitCode, Error> {
    match stopped {
        Some(Stopped::Failed(error)) => Err(error),
        Some(Stopped::Interrupted) => {
            write_text(
                out,
                "interrupted: deliveries under way were finished and recorded; run the same command again to continue\n",
            )?;
            Ok(ExitCode::Interrupted)
        }
        None => match early {
            Some(Early::Cap { resume_at }) => {
                write_text(
                    out,
                    &format!(
                        "paused: the cap of {} is reached; run the same command again after {}\n",
                        plan.cap.map_or(0, |cap| cap.count),
                        resume_at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default()
                    ),
                )?;
                Ok(ExitCode::Paused)
            }
            Some(Early::Limit) => {
                write_text(
                    out,
                    &format!(
                        "stopped at --limit {}: run the same command again to continue with the rest\n",
                        plan.limit.unwrap_or(0)
                    ),
                )?;
                Ok(if totals.has_problems() {
                    ExitCode::Partial
                } else {
                    ExitCode::Success
                })
            }
            _ if totals.has_problems() => Ok(ExitCode::Partial),
            _ => Ok(ExitCode::Success),
        },
    }
}

/// The journal of a real send (locked for this run) and what earlier runs recorded. A dry run
/// reads the journal to show what a real send would do now; a test send ignores it, since a
/// test does not count as the issue being sent.
fn open_journal(plan: &SendPlan, issue: &Issue) -> Result<(Option<Journal>, History), Error> {
    let path = plan.journal.path_for(&issue.path);
    match plan.mode {
        Mode::Test { .. } => Ok((None, History::default())),
        Mode::DryRun { .. } => {
            let history = if path.exists() {
                Journal::read(&path)?
            } else {
                History::default()
            };
            Ok((None, history))
        }
        Mode::Real { .. } => {
            let (journal, history) = Journal::open(
                &path,
                &issue.slug(),
                &issue.content_hash(),
                plan.journal.on_change,
            )?;
            Ok((Some(journal), history))
        }
    }
}

/// The dry-run transport, or the relay after confirmation and with its password.
fn transport(
    plan: &SendPlan,
    issue: &Issue,
    planned: usize,
    relay: &Relay,
) -> Result<Transport, Error> {
    if let Mode::DryRun { out } = &plan.mode {
        if let Some(folder) = out {
            std::fs::create_dir_all(folder).map_err(|source| Error::Write {
                path: folder.clone(),
                source,
            })?;
        }
        return Ok(Transport::DryRun { out: out.clone() });
    }
    if plan.asks_before_sending(planned) {
        prompt::confirm(issue, planned, relay)?;
    }
    Ok(Transport::Smtp(RelaySettings {
        password: prompt::password(relay)?,
        helo: plan
            .relay
            .helo
            .clone()
            .unwrap_or_else(|| issue.list.message_id_domain().to_owned()),
        ca_file: plan.relay.ca_file.clone(),
        timeout: plan.relay.timeout,
        relay: relay.clone(),
    }))
}

/// Streams recipients into the engine and runs it, with progress and Ctrl-C handling.
fn deliver_all(
    plan: &SendPlan,
    engine: &Arc<Engine>,
    audience: &Audience,
    issue: &Issue,
    history: &History,
    tests: Vec<Subscriber>,
    planned: usize,
) -> Result<Option<Early>, Error> {
    // One thread runs every worker: the work is waiting on sockets and short bursts of message
    // building, and keeping it on one thread avoids cross-thread wake-ups (measured 20% faster
    // than tokio's multi-threaded runtime for real sends at 16 connections, and faster for dry
    // runs too), while the subscriber file is read on a thread of its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::Internal {
            message: format!("cannot start the async runtime: {error}"),
        })?;
    // Messages are built (and signed) on one thread per core, between the producer and the
    // engine; enough are queued to keep every builder and every connection busy.
    let builders = pool::threads();
    let (submitter, jobs, ready) = pool::channel(engine.concurrency * 2 + builders * 4);
    std::thread::scope(|scope| {
        for _ in 0..builders {
            let jobs = &jobs;
            scope.spawn(move || pool::build(&engine.mailing, jobs));
        }
        // The producer owns the submitting end: the queues close when it is done (and the
        // builders end), and it stops as soon as the workers are gone (the queue is dropped).
        let producer = scope.spawn(move || {
            if tests.is_empty() {
                produce(plan, engine, audience, issue, history, &submitter)
            } else {
                for subscriber in tests {
                    if !submitter.submit(subscriber) {
                        break;
                    }
                }
                Ok(None)
            }
        });
        runtime.block_on(async {
            let verb = if plan.is_dry_run() { "built" } else { "sent" };
            let progress = Progress::start(plan.progress, engine, planned, verb);
            let interrupts = tokio::spawn(prompt::watch_interrupts(Arc::clone(engine)));
            engine.run(ready).await;
            interrupts.abort();
            progress.finish();
        });
        producer.join().unwrap_or_else(|_| {
            Err(Error::Internal {
                message: "reading the subscriber file failed unexpectedly".into(),
            })
        })
    })
}

/// Reads the subscriber file again and queues every recipient the journal does not rule out.
fn produce(
    plan: &SendPlan,
    engine: &Engine,
    audience: &Audience,
    issue: &Issue,
    history: &History,
    submitter: &Submitter,
) -> Result<Option<Early>, Error> {
    let mut reader = audience.open(issue)?;
    let mut queued = 0;
    let cap = plan.cap.map(|cap| (cap, sent_within(history, cap.window)));
    while let Some(row) = reader.next_row() {
        if engine.is_stopping() {
            break;
        }
        let subscriber = match row? {
            Row::Recipient { subscriber, .. } => subscriber,
            Row::Skipped {
                line,
                email,
                reason,
            } => {
                let outcome = Outcome::Skipped {
                    reason: format!("{reason} (line {line})"),
                };
                engine.recorder.record(&email, &outcome, None, None)?;
                continue;
            }
            Row::Invalid { location, message } => {
                // The file changed since it was checked: report the row, send nothing to it.
                let outcome = Outcome::Skipped {
                    reason: format!("{location}: {message}"),
                };
                engine.recorder.record("", &outcome, None, None)?;
                continue;
            }
        };
        if let Some(reason) = plan.journal.rules_out(history.state(subscriber.key())) {
            let outcome = Outcome::Skipped {
                reason: reason.to_owned(),
            };
            engine
                .recorder
                .record(subscriber.email.as_ref(), &outcome, None, None)?;
            continue;
        }
        if plan.limit.is_some_and(|limit| queued >= limit) {
            return Ok(Some(Early::Limit));
        }
        if let Some((cap, (earlier, oldest))) = &cap
            && earlier + queued >= cap.count
        {
            let window = time::Duration::try_from(cap.window).unwrap_or(time::Duration::DAY);
            let resume_at = oldest.unwrap_or_else(OffsetDateTime::now_utc) + window;
            return Ok(Some(Early::Cap { resume_at }));
        }
        if !submitter.submit(subscriber) {
            break;
        }
        queued += 1;
    }
    Ok(None)
}

/// How many messages earlier runs sent within the last `window`, and when the oldest of them
/// was sent (the window frees up from then on).
fn sent_within(history: &History, window: Duration) -> (usize, Option<OffsetDateTime>) {
    let since =
        OffsetDateTime::now_utc() - time::Duration::try_from(window).unwrap_or(time::Duration::DAY);
    let recent: Vec<OffsetDateTime> = history
        .sent_times
        .iter()
        .copied()
        .filter(|time| *time > since)
        .collect();
    (recent.len(), recent.iter().min().copied())
}

/// The subscribers of a `--to` test send: the list's row for an address on the list (so the
/// message is personalised as theirs), or a row with just the address.
fn test_recipients(
    addresses: &[String],
    audience: &Audience,
    issue: &Issue,
) -> Result<Vec<Subscriber>, Error> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let mut wanted = Vec::new();
    for raw in addresses {
        let address = parse_address(raw.trim()).map_err(|reason| Error::TestAddress { reason })?;
        wanted.push(Subscriber::ad_hoc(address));
    }
    let keys: Vec<AddressKey> = wanted.iter().map(Subscriber::key).collect();
    audience.scan(issue, |subscriber| {
        if let Some(index) = keys.iter().position(|key| *key == subscriber.key()) {
            wanted[index] = subscriber;
        }
        Ok(())
    })?;
    Ok(wanted)
}

fn write_text(out: &mut dyn Write, text: &str) -> Result<(), Error> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|source| Error::Write {
            path: "standard output".into(),
            source,
        })
}
