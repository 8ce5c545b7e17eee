//! `newsletter send`: the main job. Checks everything first (a broken list sends nothing), asks
//! for confirmation, then streams the subscribers through the delivery engine and reports what
//! happened to each. `--dry-run` takes the same path with a transport that connects to nothing.

use std::{
    fs,
    io::Write,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use time::OffsetDateTime;

mod plan;
mod progress;
mod prompt;
mod summary;

use plan::{Mode, SendPlan, TestPlan};
use progress::Progress;
use summary::Summary;

use crate::{
    cli::SendArguments,
    commands::load::Input,
    commands::style,
    compose::pool::{self, Submitter},
    compose::unsubscribe::KeyUse,
    deliver::engine::{Engine, Stopped, Transport},
    deliver::journal::{self, History, Journal, OnChange, State},
    deliver::relay::{self, Relay, RelaySettings},
    deliver::report::{Outcome, Recorder, Totals},
    error::{Error, ExitCode},
    input::audience::{Audience, Tally},
    input::issue::Issue,
    input::suppression::Live,
    input::{
        subscribers::{AddressKey, Row, Skip, Subscriber},
        values::parse_address,
    },
    output_file::Protected,
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
    let test_send = plan.test().is_some();
    // A test goes to the team only: without the real key its unsubscribe links are made with
    // a throwaway one (and a note says so), as in a preview.
    let purpose = if dry_run || test_send {
        KeyUse::Preview
    } else {
        KeyUse::Send
    };
    let input = Input::load(&plan.files, purpose)?;
    let input_files = input.files();
    let Input {
        issue,
        mut mailing,
        audience,
        ..
    } = input;
    if test_send {
        let run = OffsetDateTime::now_utc().unix_timestamp().to_string();
        mailing.composer = mailing.composer.for_test_send(&run);
    }
    let relays = relays(plan, &issue)?;

    // Nothing this run writes may replace a file it reads: the journal opens over the inputs
    // alone, everything else is also kept off the journal (a dry run's and a test send's too).
    let inputs = Protected::new(input_files.iter().map(PathBuf::as_path));
    let mut protected = inputs.clone();
    protected.add(&plan.journal.path_for(&issue.real_path));
    // What earlier runs recorded, read without taking the journal: a send that is refused or
    // cancelled at the prompt leaves no journal behind.
    let history = read_history(plan, &issue, &inputs)?;

    // Pass 1: validate every row and count who would be sent to now.
    let tests = match plan.test() {
        Some(test) => test_recipients(test, &audience, &issue)?,
        None => Vec::new(),
    };
    let (tally, eligible) = count_eligible(plan, &audience, &issue, &history)?;
    let planned = plan.planned(eligible, tests.len());

    // A message the sender's settings make unbuildable fails for everyone: find out now, before
    // asking, connecting or recording anybody, with one built to the sender's own address.
    let sender = Subscriber::ad_hoc(issue.list.file.from.address.address().clone());
    mailing.message(&sender, std::time::SystemTime::now())?;

    let Some(transport) = transport(plan, &issue, planned, &relays, &protected)? else {
        style::print(out, "Cancelled; nothing was sent\n")?;
        return Ok(ExitCode::Success);
    };
    let (journal, history) = open_journal(plan, &issue, history, &inputs)?;
    if let Some(journal) = &journal {
        // Only now does a first run's journal exist to be compared with the report's path.
        protected.add(journal.path());
    }
    if let Some(journal) = &journal {
        journal.record(&journal::Entry::Run {
            relay: relay::describe(&relays),
            relays: if relays.len() > 1 {
                relays.iter().map(Relay::address).collect()
            } else {
                Vec::new()
            },
            t: journal::timestamp(),
        })?;
    }
    let recorder = Recorder::new(plan.report.as_deref(), &protected)?;
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
    let (early, terminated) =
        deliver_all(plan, &engine, &audience, &issue, &history, tests, planned);
    let elapsed = started.elapsed();

    // The journal and the report are flushed however the run ended, so the report keeps every
    // outcome the journal has.
    let closed = engine.journal.as_ref().map_or(Ok(()), Journal::close);
    let finished = engine.recorder.finish();
    let early = early?;
    closed?;
    finished?;
    let totals = engine.recorder.counts.totals();
    let summary = Summary {
        issue: &issue,
        relays: &relays,
        relay_tallies: engine.relay_tallies(),
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
    style::print(out, summary.text())?;
    let stopped = engine.stopped();
    let unresolved = match &engine.journal {
        Some(journal) => unresolved(&Journal::read(journal.path())?),
        None => 0,
    };
    conclude(out, plan, stopped, early, &totals, terminated, unresolved)
}

/// How many recipients the journal (this run and every earlier one) leaves failed, deferred or
/// in doubt: while any is, the send has not reached everyone, and exits 3.
fn unresolved(history: &History) -> usize {
    [State::Failed, State::Deferred, State::InDoubt]
        .into_iter()
        .map(|state| history.count(state))
        .sum()
}

/// The exit code of a finished run, after a last line saying why it stopped, if it did.
fn conclude(
    out: &mut dyn Write,
    plan: &SendPlan,
    stopped: Option<Stopped>,
    early: Option<Early>,
    totals: &Totals,
    terminated: bool,
    unresolved: usize,
) -> Result<ExitCode, Error> {
    let partial = totals.has_problems() || unresolved > 0;
    if unresolved > 0 && !totals.has_problems() {
        style::print(
            out,
            format!(
                "unresolved: {unresolved} recipient(s) failed, deferred or in doubt in earlier runs (`newsletter status` lists them)\n"
            ),
        )?;
    }
    match stopped {
        Some(Stopped::Failed(error)) => Err(error),
        Some(Stopped::Interrupted) if terminated => {
            style::print(
                out,
                "terminated (SIGTERM): deliveries under way were finished and recorded; run the same command again to continue\n",
            )?;
            Ok(ExitCode::Terminated)
        }
        Some(Stopped::Interrupted) => {
            style::print(
                out,
                "interrupted: deliveries under way were finished and recorded; run the same command again to continue\n",
            )?;
            Ok(ExitCode::Interrupted)
        }
        None => match early {
            Some(Early::Cap { resume_at }) => {
                style::print(
                    out,
                    format!(
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
                style::print(
                    out,
                    format!(
                        "stopped at --limit {}: run the same command again to continue with the rest\n",
                        plan.limit.unwrap_or(0)
                    ),
                )?;
                Ok(if partial {
                    ExitCode::Partial
                } else {
                    ExitCode::Success
                })
            }
            _ if partial => Ok(ExitCode::Partial),
            _ => Ok(ExitCode::Success),
        },
    }
}

/// Validates every row and counts who the journal lets this run send to.
fn count_eligible(
    plan: &SendPlan,
    audience: &Audience,
    issue: &Issue,
    history: &History,
) -> Result<(Tally, usize), Error> {
    let mut eligible = 0;
    let tally = audience.scan_valid(issue, |subscriber| {
        if plan
            .journal
            .rules_out(history.state(subscriber.key()))
            .is_none()
        {
            eligible += 1;
        }
        Ok(())
    })?;
    Ok((tally, eligible))
}

/// The relays of `--smtp` (repeated, or its variable), else the list file's `relay:` or
/// `relays:`, else the default; an error in a URL names where it came from.
fn relays(plan: &SendPlan, issue: &Issue) -> Result<Vec<Relay>, Error> {
    let file = &issue.list.file;
    let listed: Vec<&str> = file
        .relay
        .iter()
        .chain(&file.relays)
        .map(crate::input::values::Line::as_str)
        .collect();
    let (urls, origin) = plan::relay_urls(&plan.relay.urls, &listed);
    Relay::parse_all(&urls).map_err(|error| match error {
        Error::SmtpUrl { reason, .. } => Error::SmtpUrl { origin, reason },
        other => other,
    })
}

/// What earlier runs recorded, to count who would be sent to now. A test send ignores the
/// journal, since a test does not count as the issue being sent.
fn read_history(plan: &SendPlan, issue: &Issue, inputs: &Protected) -> Result<History, Error> {
    // Beside the real issue file, so every spelling of its path shares one journal and lock.
    let path = plan.journal.path_for(&issue.real_path);
    let exists = fs::symlink_metadata(&path).is_ok();
    match plan.mode {
        Mode::Test(_) => Ok(History::default()),
        _ if !exists => Ok(History::default()),
        // A dry run shows what the same command without `--dry-run` would do, so it reads the
        // journal as that send would: a lost tail or a changed issue stops it with the same
        // error, and `--accept-lost-tail`, `--continue-changed` and `--start-over` mean the same.
        Mode::DryRun { .. } | Mode::Real { .. } => {
            let history = Journal::read_before_open(&path, plan.journal.accept_lost_tail, inputs)?;
            for_this_version(history, issue, plan.journal.on_change, &path)
        }
    }
}

/// What earlier runs of a changed issue mean for this run, decided before anyone is asked, so
/// the prompt counts the right recipients: `--start-over` mails everyone again (the earlier
/// sends still count toward a cap), no choice refuses now rather than after the prompt, and
/// `--continue-changed` keeps them. Nobody attempted yet means there is nothing to choose.
fn for_this_version(
    history: History,
    issue: &Issue,
    on_change: OnChange,
    path: &std::path::Path,
) -> Result<History, Error> {
    let changed = history
        .hash
        .as_deref()
        .is_some_and(|hash| hash != issue.content_hash());
    if !changed || history.is_empty() {
        return Ok(history);
    }
    match on_change {
        OnChange::Refuse => Err(Error::IssueChanged {
            journal: path.to_owned(),
        }),
        OnChange::StartOver => Ok(history.started_over()),
        OnChange::Continue => Ok(history),
    }
}

/// The journal of a real send, locked for this run, with what earlier runs recorded (read
/// again under the lock). A dry run and a test send keep `read` and write no journal.
fn open_journal(
    plan: &SendPlan,
    issue: &Issue,
    read: History,
    protected: &Protected,
) -> Result<(Option<Journal>, History), Error> {
    let path = plan.journal.path_for(&issue.real_path);
    match plan.mode {
        Mode::Test(_) | Mode::DryRun { .. } => Ok((None, read)),
        Mode::Real { .. } => {
            let (journal, history) = Journal::open(
                &path,
                &issue.slug(),
                &issue.content_hash(),
                plan.journal.on_change,
                plan.journal.accept_lost_tail,
                protected,
            )?;
            Ok((Some(journal), history))
        }
    }
}

/// The dry-run transport, or the relay after confirmation and with its password; `None` when
/// the person at the terminal did not confirm.
fn transport(
    plan: &SendPlan,
    issue: &Issue,
    planned: usize,
    relays: &[Relay],
    protected: &Protected,
) -> Result<Option<Transport>, Error> {
    if let Mode::DryRun { out } = &plan.mode {
        if let Some(folder) = out {
            std::fs::create_dir_all(folder).map_err(|source| Error::Write {
                path: folder.clone(),
                source,
            })?;
        }
        return Ok(Some(Transport::DryRun {
            out: out.clone(),
            protected: protected.clone(),
        }));
    }
    if plan.asks_before_sending(planned)
        && !prompt::confirm(issue, planned, &relay::describe(relays))?
    {
        return Ok(None);
    }
    let mut settings = Vec::with_capacity(relays.len());
    for relay in relays {
        settings.push(RelaySettings {
            password: prompt::password(relay)?,
            helo: plan
                .relay
                .helo
                .clone()
                .unwrap_or_else(|| issue.list.message_id_domain().to_owned()),
            ca_file: plan.relay.ca_file.clone(),
            timeout: plan.relay.timeout,
            relay: relay.clone(),
        });
    }
    Ok(Some(Transport::Smtp(settings)))
}

/// Streams recipients into the engine and runs it, with progress and Ctrl-C handling; also
/// says whether a SIGTERM (rather than Ctrl-C) stopped it.
fn deliver_all(
    plan: &SendPlan,
    engine: &Arc<Engine>,
    audience: &Audience,
    issue: &Issue,
    history: &History,
    tests: Vec<Subscriber>,
    planned: usize,
) -> (Result<Option<Early>, Error>, bool) {
    let terminated = Arc::new(AtomicBool::new(false));
    let delivered = deliver(
        plan,
        engine,
        audience,
        issue,
        history,
        tests,
        planned,
        &terminated,
    );
    (delivered, terminated.load(Ordering::Acquire))
}

#[allow(clippy::too_many_arguments)] // `deliver_all`'s arguments and its SIGTERM flag.
fn deliver(
    plan: &SendPlan,
    engine: &Arc<Engine>,
    audience: &Audience,
    issue: &Issue,
    history: &History,
    tests: Vec<Subscriber>,
    planned: usize,
    terminated: &Arc<AtomicBool>,
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
    // Unsubscribes that arrive while the send runs are honoured too: the engine looks at the
    // file again (at most every half second) just before it hands each message to a
    // connection, so at most one message per connection can still reach someone who just
    // left. Test sends go to the reviewers, whatever the file says.
    let live = tests
        .is_empty()
        .then(|| audience.suppression_path.as_deref().map(Live::new))
        .flatten();
    // Batches save waking threads for every message; a paced send has time to spare, and
    // its messages are not built long before they go (their `Date` stays close to the truth).
    let batch = if plan.pacing.rate.is_some() {
        1
    } else {
        pool::BATCH
    };
    let (mut submitter, jobs, ready) =
        pool::channel(engine.concurrency * 2 + builders * 4, builders, batch);
    std::thread::scope(|scope| {
        for _ in 0..builders {
            let jobs = &jobs;
            scope.spawn(move || pool::build(&engine.mailing, jobs));
        }
        // The producer owns the submitting end: the queues close when it is done (and the
        // builders end), and it stops as soon as the workers are gone (the queue is dropped).
        let producer = scope.spawn(move || {
            if tests.is_empty() {
                produce(plan, engine, audience, issue, history, &mut submitter)
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
            let interrupts = tokio::spawn(prompt::watch_interrupts(
                Arc::clone(engine),
                Arc::clone(terminated),
            ));
            engine.run(ready, live).await;
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
    submitter: &mut Submitter,
) -> Result<Option<Early>, Error> {
    let mut reader = audience.open(issue)?;
    // Someone who left before their row is reached is skipped here, so that they count toward
    // neither `--limit` nor `--cap`; the engine checks again as each message goes.
    let mut live = audience.suppression_path.as_deref().map(Live::new);
    let mut queued = 0;
    let cap = plan.cap.map(|cap| (cap, sent_within(history, cap.window)));
    while let Some(row) = reader.next_row() {
        if engine.is_stopping() {
            break;
        }
        let subscriber = match row? {
            Row::Recipient { subscriber, .. } => subscriber,
            Row::Skipped(Skip {
                line,
                email,
                reason,
            }) => {
                let outcome = Outcome::Skipped {
                    reason: format!("{reason} (line {line})"),
                };
                engine.recorder.record(&email, &outcome, None, None, None)?;
                continue;
            }
            Row::Invalid { location, message } => {
                // The file changed since it was checked: report the row, send nothing to it.
                let outcome = Outcome::Skipped {
                    reason: format!("{location}: {message}"),
                };
                engine.recorder.record("", &outcome, None, None, None)?;
                continue;
            }
        };
        if let Some(reason) = plan.journal.rules_out(history.state(subscriber.key())) {
            let outcome = Outcome::Skipped {
                reason: reason.to_owned(),
            };
            engine
                .recorder
                .record(subscriber.email.as_ref(), &outcome, None, None, None)?;
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
        if let Some(live) = &mut live
            && live.contains(subscriber.key())?
        {
            engine.record_left(&subscriber)?;
            continue;
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

/// The subscribers of a test send: for each address, the list's row of the `--as` subscriber
/// sent to that address, or else the address's own row if it is on the list (so the message
/// is personalised as theirs), or a row with just the address.
fn test_recipients(
    test: &TestPlan,
    audience: &Audience,
    issue: &Issue,
) -> Result<Vec<Subscriber>, Error> {
    let listed: Vec<String> = issue
        .list
        .file
        .reviewers
        .iter()
        .map(ToString::to_string)
        .collect();
    let addresses = test
        .addresses(&listed)
        .ok_or_else(|| Error::ReviewersMissing {
            list: issue.list.path.clone(),
        })?;
    let mut wanted = Vec::new();
    for raw in &addresses {
        let address = parse_address(raw.trim()).map_err(|reason| Error::TestAddress { reason })?;
        wanted.push(Subscriber::ad_hoc(address));
    }
    let as_key = match &test.as_subscriber {
        Some(raw) => Some(
            parse_address(raw.trim())
                .map(|address| AddressKey::of(address.as_ref()))
                .map_err(|reason| Error::TestAddress { reason })?,
        ),
        None => None,
    };
    let keys: Vec<AddressKey> = wanted.iter().map(Subscriber::key).collect();
    let mut model = None;
    audience.scan(issue, |subscriber| {
        if as_key == Some(subscriber.key()) {
            model = Some(subscriber);
        } else if as_key.is_none()
            && let Some(index) = keys.iter().position(|key| *key == subscriber.key())
        {
            wanted[index] = subscriber;
        }
        Ok(())
    })?;
    match (model, &test.as_subscriber) {
        (Some(model), _) => Ok(wanted
            .into_iter()
            .map(|recipient| model.sent_to(recipient.email))
            .collect()),
        (None, Some(email)) => Err(Error::RecipientNotFound {
            email: email.clone(),
            path: audience.subscribers_path.clone(),
        }),
        (None, None) => Ok(wanted),
    }
}
