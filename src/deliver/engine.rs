//! The delivery engine: N workers, each with its own long-lived SMTP session, take subscribers
//! from a bounded queue, build their message, and deliver it with retries; every recipient ends
//! with exactly one recorded [`Outcome`]. Subscribers are streamed from the file into the queue,
//! so memory does not grow with the size of the list.
//!
//! Safety rules, in order of importance:
//! - a `data` journal record is on disk (synced, shared with the other workers' records by
//!   group commit) before any message body is sent, so a crash or power cut leaves at most the
//!   messages under way "in doubt", never unknown. The record is written ahead, as a message
//!   is handed to the workers ([`Engine::feed`]), so that its sync runs while the message
//!   before it is still being sent instead of holding up its worker; a message whose record
//!   was written but whose body never went (the run stopped) gets an `unsent` record;
//! - a message whose body was sent but whose reply was lost is never retried automatically;
//! - authentication and TLS failures stop the run at once (they would fail for everyone), and
//!   so does a relay that keeps failing (temporary failures and in-doubt messages in a row);
//!   everything done so far is recorded, and a rerun continues from there.
//!
//! With several relays ([`crate::deliver::relays`]) a relay that refuses connections or keeps
//! failing is set aside for a cool-down instead, its recipients retried on the others; the
//! run stops when every relay is down.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

use crate::{
    compose::mailing::Mailing,
    compose::message::Built,
    compose::pool::{Made, Ready},
    deliver::journal::{Durable, Entry, Journal, timestamp},
    deliver::pace::Pace,
    deliver::relay::RelaySettings,
    deliver::relays::{Change, Member, RelayTally, Relays},
    deliver::reply::Reply,
    deliver::report::{Outcome, Recorder},
    deliver::smtp::{Attempt, ConnectError, Session, Stage},
    error::{Error, SessionStep},
    input::{subscribers::Subscriber, suppression::Live},
    output_file::{self, Protected},
};

/// Where messages go.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// Build everything, connect to nothing; optionally write each message as an `.eml` file.
    DryRun {
        out: Option<PathBuf>,
        /// Files the `.eml` files must not replace.
        protected: Protected,
    },
    /// Deliver through the relays (one or more).
    Smtp(Vec<RelaySettings>),
}

/// How often, and how patiently, temporary failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first.
    pub(crate) retries: u32,
    /// The wait before the first retry; it doubles each time, plus up to as much again at
    /// random so that workers do not retry in step.
    pub(crate) base_delay: Duration,
}

impl RetryPolicy {
    fn delay(&self, attempt: u32) -> Duration {
        let exponential = self.base_delay * 2u32.saturating_pow(attempt.min(16));
        let jitter = exponential.mul_f64(fastrand::f64());
        (exponential + jitter).min(Duration::from_mins(5))
    }
}

/// How many temporary failures and in-doubt messages in a row, over all workers, make the run
/// stop.
fn failure_limit(concurrency: usize) -> usize {
    (concurrency * 3).max(10)
}

/// A built message on its way to a worker, with its `data` record already written and being
/// synced when the run keeps a journal.
struct Next {
    made: Made,
    ahead: Option<Durable>,
}

/// The workers' end of the hand-over from [`Engine::feed`].
type Handed = tokio::sync::mpsc::Receiver<Result<Next, Error>>;

/// Why a run stopped before the end of the list.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// Ctrl-C.
    Interrupted,
    /// A fatal error (authentication, TLS, journal, a relay that keeps failing).
    Failed(Error),
}

/// State shared by the workers.
pub(crate) struct Engine {
    pub(crate) mailing: Mailing,
    pub(crate) transport: Transport,
    pub(crate) pace: Pace,
    pub(crate) retry: RetryPolicy,
    pub(crate) journal: Option<Journal>,
    pub(crate) recorder: Recorder,
    pub(crate) concurrency: usize,
    stopping: AtomicBool,
    stop_notice: Notify,
    fatal: Mutex<Option<Error>>,
    interrupted: AtomicBool,
    /// With one relay: temporary failures and in-doubt messages in a row, over all workers.
    failures_in_a_row: AtomicUsize,
    /// The relays of a real send (none for a dry run), and each worker's home among them.
    relays: Relays,
    /// How many workers are waiting to retry, and the failure the last of them waits after
    /// (for the progress line).
    retry_waits: AtomicUsize,
    retry_reason: Mutex<Option<String>>,
    /// Recipients whose `data` record was written ahead and whose body has not been let go
    /// yet: what an abort must take back with `unsent` records ([`Engine::abort`]).
    written_ahead: Mutex<std::collections::HashSet<String>>,
    /// With several relays: since when a worker has found every relay down, with no message
    /// accepted since (see [`Engine::outage_too_long`]).
    all_down_since: Mutex<Option<std::time::Instant>>,
}

impl Engine {
    pub(crate) fn new(
        mailing: Mailing,
        transport: Transport,
        concurrency: usize,
        rate: Option<f64>,
        retry: RetryPolicy,
        journal: Option<Journal>,
        recorder: Recorder,
    ) -> Engine {
        let relays = match &transport {
            // The cool-down of a relay that is down follows the retry delay, so that a test
            // (or an impatient user) can make both short.
            Transport::Smtp(settings) => Relays::new(
                settings.clone(),
                concurrency.max(1),
                retry.base_delay * 2,
                retry.base_delay,
            ),
            Transport::DryRun { .. } => {
                Relays::new(Vec::new(), 0, retry.base_delay, retry.base_delay)
            }
        };
        let concurrency = if relays.homes.is_empty() {
            concurrency.max(1)
        } else {
            relays.homes.len()
        };
        Engine {
            mailing,
            transport,
            pace: Pace::new(rate, retry.base_delay),
            retry,
            journal,
            recorder,
            concurrency,
            stopping: AtomicBool::new(false),
            stop_notice: Notify::new(),
            fatal: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            failures_in_a_row: AtomicUsize::new(0),
            relays,
            retry_waits: AtomicUsize::new(0),
            retry_reason: Mutex::new(None),
            written_ahead: Mutex::new(std::collections::HashSet::new()),
            all_down_since: Mutex::new(None),
        }
    }

    /// Why a recipient is waiting to be retried, while one is: the last failure.
    pub(crate) fn waiting_reason(&self) -> Option<String> {
        if self.retry_waits.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.retry_reason
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A worker starts (`Some(failure)`) or stops (`None`) waiting to retry.
    fn waiting_to_retry(&self, failure: Option<&str>) {
        if let Some(failure) = failure {
            *self
                .retry_reason
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(failure.to_owned());
            self.retry_waits.fetch_add(1, Ordering::AcqRel);
        } else {
            self.retry_waits.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Whether the run is stopping: no new recipients are started.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Stops taking new recipients (Ctrl-C); deliveries under way finish.
    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Release);
        self.stop();
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop_notice.notify_waiters();
    }

    fn fail(&self, error: Error) {
        let mut fatal = self
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if fatal.is_none() {
            *fatal = Some(error);
        }
        drop(fatal);
        self.stop();
    }

    /// Why the run stopped early, if it did.
    pub(crate) fn stopped(&self) -> Option<Stopped> {
        let fatal = self
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match fatal {
            Some(error) => Some(Stopped::Failed(error)),
            None if self.interrupted.load(Ordering::Acquire) => Some(Stopped::Interrupted),
            None => None,
        }
    }

    /// The relays (`host:port`) set aside for now, for the progress line.
    pub(crate) fn relays_down(&self) -> Vec<String> {
        self.relays
            .members
            .iter()
            .filter(|member| !member.health().is_up())
            .map(|member| member.address.clone())
            .collect()
    }

    /// What each relay did (sent, times down), for the summary.
    pub(crate) fn relay_tallies(&self) -> Vec<RelayTally> {
        self.relays.tallies()
    }

    /// Records an outcome in the report and, for real sends, the journal; `relay` is the
    /// relay (index) that took the last attempt, if any.
    pub(crate) fn finish(
        &self,
        subscriber: &Subscriber,
        outcome: &Outcome,
        built: Option<&Built>,
        relay: Option<usize>,
    ) {
        let email = subscriber.email.to_string();
        let outcome = &outcome.printable();
        let member = relay.and_then(|index| self.relays.members.get(index));
        if let (Some(member), Outcome::Sent { .. }) = (member, outcome) {
            member.sent.fetch_add(1, Ordering::Relaxed);
        }
        let relay = member.map(|member| member.address.clone());
        self.written_ahead_now(&email, false);
        if let Some(journal) = &self.journal {
            let t = timestamp();
            let entry = match outcome {
                Outcome::Sent { reply } => Some(Entry::Sent {
                    to: email.clone(),
                    reply: reply.clone(),
                    relay: relay.clone(),
                    t,
                }),
                Outcome::Failed { reply } => Some(Entry::Failed {
                    to: email.clone(),
                    reply: reply.clone(),
                    relay: relay.clone(),
                    t,
                }),
                Outcome::Deferred { reply } => Some(Entry::Deferred {
                    to: email.clone(),
                    reply: reply.clone(),
                    relay: relay.clone(),
                    t,
                }),
                Outcome::InDoubt { error } => Some(Entry::InDoubt {
                    to: email.clone(),
                    error: error.clone(),
                    relay: relay.clone(),
                    t,
                }),
                Outcome::Skipped { .. } | Outcome::WouldSend => None,
            };
            if let Some(entry) = entry
                && let Err(error) = journal.record(&entry)
            {
                self.fail(error);
            }
        }
        if let Err(error) = self.recorder.record(
            &email,
            outcome,
            built.map(|built| built.message_id.as_str()),
            built.map(|built| built.bytes.len()),
            relay.as_deref(),
        ) {
            self.fail(error);
        }
    }

    /// Runs `concurrency` workers over `queue` (messages built by [`crate::compose::pool`], in
    /// list order) until it is closed and drained, or the run stops.
    pub(crate) async fn run(self: &Arc<Self>, queue: Ready, live: Option<Live>) {
        // One message ahead per worker: enough for every worker's next record to be synced
        // while its current message is sent.
        let (hand_over, handed) = tokio::sync::mpsc::channel(self.concurrency);
        let feeder = {
            let engine = Arc::clone(self);
            tokio::spawn(async move { engine.feed(queue, live, hand_over).await })
        };
        let handed = Arc::new(tokio::sync::Mutex::new(handed));
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..self.concurrency {
            let engine = Arc::clone(self);
            let handed = Arc::clone(&handed);
            let home = engine.relays.homes.get(worker).copied().unwrap_or(0);
            workers.spawn(async move { engine.work(&handed, home).await });
        }
        while let Some(result) = workers.join_next().await {
            if let Err(error) = result {
                self.fail(Error::Internal {
                    message: format!("a delivery worker failed: {error}"),
                });
            }
        }
        // The workers are gone: the feeder is done, or the run is stopping (workers end only
        // so; the stop here makes sure the feeder cannot wait forever). Whatever was handed
        // over and not taken never went out, and its `data` record must say so.
        self.stop();
        if feeder.await.is_err() {
            self.fail(Error::Internal {
                message: "the message feeder failed".into(),
            });
        }
        let mut handed = handed.lock().await;
        handed.close();
        while let Some(next) = handed.recv().await {
            if let Ok(next) = next {
                self.release(&next);
            }
        }
    }

    /// Takes built messages in list order and hands them to the workers, writing each one's
    /// `data` record on the way, so that its sync has usually finished by the time the relay
    /// asks for the body. A subscriber added to the suppression file (`live`) since the send
    /// started is recorded as skipped instead, so that at most the messages already handed
    /// over (one per worker) can still go to someone who just left.
    async fn feed(
        &self,
        mut ready: Ready,
        mut live: Option<Live>,
        hand_over: tokio::sync::mpsc::Sender<Result<Next, Error>>,
    ) {
        let writes_ahead = matches!(self.transport, Transport::Smtp(_));
        loop {
            let made = tokio::select! {
                made = ready.next() => made,
                () = self.until_stopped() => return,
            };
            let Some(made) = made else { return };
            // Room first, then the record: so at most one message per worker waits here with
            // its record written (what a kill can leave in doubt without a body sent).
            let room = tokio::select! {
                room = hand_over.reserve() => room.ok(),
                () = self.until_stopped() => None,
            };
            let Some(room) = room else { return };
            let made = match made {
                Ok(made) => match self.left_meanwhile(&mut live, &made.subscriber).await {
                    Ok(false) => Ok(made),
                    Ok(true) => continue,
                    Err(error) => Err(error),
                },
                Err(error) => Err(error),
            };
            room.send(made.and_then(|made| self.write_ahead(made, writes_ahead)));
        }
    }

    /// Whether `subscriber` was added to the suppression file since the send started; if so,
    /// they are recorded as skipped.
    async fn left_meanwhile(
        &self,
        live: &mut Option<Live>,
        subscriber: &Subscriber,
    ) -> Result<bool, Error> {
        let Some(mut current) = live.take() else {
            return Ok(false);
        };
        if current.is_due() {
            // A long file takes a while to read again: not on the thread that runs every
            // connection.
            current = tokio::task::spawn_blocking(move || current.refresh().map(|()| current))
                .await
                .map_err(|_| Error::Internal {
                    message: "reading the suppression file failed unexpectedly".into(),
                })??;
        }
        let left = current.had(subscriber.key());
        *live = Some(current);
        if !left {
            return Ok(false);
        }
        self.record_left(subscriber)?;
        Ok(true)
    }

    /// Records `subscriber` as skipped for having been added to the suppression file while
    /// the send ran (found as their row was read, or as their message was handed over).
    pub(crate) fn record_left(&self, subscriber: &Subscriber) -> Result<(), Error> {
        let outcome = Outcome::Skipped {
            reason: "address was added to the suppression file during the send".into(),
        };
        self.recorder
            .record(subscriber.email.as_ref(), &outcome, None, None, None)
    }

    /// `made` with its `data` record written and being synced, when a relay will be sent to
    /// and the run keeps a journal.
    fn write_ahead(&self, made: Made, writes_ahead: bool) -> Result<Next, Error> {
        let (Some(journal), true, Ok(built)) = (&self.journal, writes_ahead, &made.built) else {
            return Ok(Next { made, ahead: None });
        };
        self.written_ahead_now(made.subscriber.email.as_ref(), true);
        let ahead = journal.record_ahead(&Entry::Data {
            to: made.subscriber.email.to_string(),
            id: built.message_id.clone(),
            // Which relay takes it is known only when a connection does.
            relay: None,
            t: timestamp(),
        })?;
        Ok(Next {
            made,
            ahead: Some(ahead),
        })
    }

    /// Records that `next`, whose `data` record was written ahead, was never sent.
    fn release(&self, next: &Next) {
        if next.ahead.is_some() {
            self.unsent(&next.made.subscriber);
        }
    }

    /// Notes that `email` has (`true`) or no longer has a `data` record written ahead
    /// whose body was not let go.
    fn written_ahead_now(&self, email: &str, pending: bool) {
        // Without a journal (dry runs, test sends) nothing is written ahead: no lock per message.
        if self.journal.is_none() {
            return;
        }
        let mut written = self
            .written_ahead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pending {
            written.insert(email.to_owned());
        } else {
            written.remove(email);
        }
    }

    /// Stops at once (a second Ctrl-C): every recipient whose `data` record was written ahead
    /// but whose body was never let go gets its `unsent` record, so that only those whose
    /// body may have gone are left in doubt. Then the journal is closed.
    pub(crate) fn abort(&self) {
        let written: Vec<String> = self
            .written_ahead
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .collect();
        if let Some(journal) = &self.journal {
            for to in written {
                let _ = journal.record(&Entry::Unsent { to, t: timestamp() });
            }
            let _ = journal.close();
        }
    }

    fn unsent(&self, subscriber: &Subscriber) {
        self.written_ahead_now(subscriber.email.as_ref(), false);
        if let Some(journal) = &self.journal
            && let Err(error) = journal.record(&Entry::Unsent {
                to: subscriber.email.to_string(),
                t: timestamp(),
            })
        {
            self.fail(error);
        }
    }

    /// Returns once the run is stopping.
    async fn until_stopped(&self) {
        // Listening before the check, so that a stop between the two still ends the wait.
        let stopped = self.stop_notice.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        if self.is_stopping() {
            return;
        }
        stopped.await;
    }

    /// One worker, at home on the relay `home` (an index into the relays).
    async fn work(&self, handed: &tokio::sync::Mutex<Handed>, home: usize) {
        let mut session: Option<Session> = None;
        // The relay the open session is with.
        let mut session_relay: Option<usize> = None;
        loop {
            if self.is_stopping() {
                break;
            }
            let next = handed.lock().await.recv().await;
            let Next {
                made: Made { subscriber, built },
                ahead,
            } = match next {
                None => break,
                Some(Ok(next)) => next,
                Some(Err(error)) => {
                    self.fail(error);
                    break;
                }
            };
            let written_ahead = ahead.is_some();
            let built = match built {
                Ok(built) => built,
                // Every address was checked at its row, so a message that cannot be built is
                // the sender's configuration (the same for everyone), not this recipient's:
                // the run stops with nobody recorded failed, and a rerun after the fix sends.
                Err(error) => {
                    self.fail(error);
                    break;
                }
            };
            let outcome = match &self.transport {
                Transport::DryRun { out, protected } => self
                    .dry_run(out.as_deref(), protected, &subscriber, &built)
                    .map(|outcome| (outcome, None)),
                Transport::Smtp(_) => {
                    let mut sessions = Sessions {
                        home,
                        session: &mut session,
                        relay: &mut session_relay,
                    };
                    self.deliver(&mut sessions, &subscriber, &built, ahead)
                        .await
                }
            };
            match outcome {
                Some((outcome, relay)) => self.finish(&subscriber, &outcome, Some(&built), relay),
                None if written_ahead => self.unsent(&subscriber),
                None => {}
            }
        }
        if let Some(session) = session {
            session.quit().await;
        }
    }

    fn dry_run(
        &self,
        out: Option<&std::path::Path>,
        protected: &Protected,
        subscriber: &Subscriber,
        built: &Built,
    ) -> Option<Outcome> {
        if let Some(folder) = out {
            let path = folder.join(format!("{}.eml", subscriber.file_stem()));
            if let Err(error) = output_file::write(&path, &built.bytes, protected) {
                self.fail(error);
                return None;
            }
        }
        Some(Outcome::WouldSend)
    }

    /// Delivers one message, retrying temporary failures (on another relay when the one tried
    /// went down). `None` when the run stopped before the message was attempted (it is then
    /// neither recorded nor counted: the next run sends it); else the outcome and the relay
    /// of the last attempt.
    async fn deliver(
        &self,
        sessions: &mut Sessions<'_>,
        subscriber: &Subscriber,
        built: &Built,
        mut ahead: Option<Durable>,
    ) -> Option<(Outcome, Option<usize>)> {
        let email = subscriber.email.to_string();
        let mut attempt = 0;
        // The failure of the attempt before, while waiting to retry, and its relay.
        let mut failed_before: Option<String> = None;
        let mut tried: Option<usize> = None;
        loop {
            // A stop ends the wait: a slowed-down relay must not hold up a Ctrl-C for minutes.
            tokio::select! {
                () = self.pace.wait() => {}
                () = self.until_stopped() => {}
            }
            if self.is_stopping() {
                // Not tried yet: left for the next run. Waiting to retry: deferred, not tried
                // again by a run that is stopping (perhaps because the relay keeps failing).
                return failed_before.map(|reply| (Outcome::Deferred { reply }, tried));
            }
            // A retry goes to another relay if one is up: the failure may be this relay's.
            let avoid = if failed_before.is_some() { tried } else { None };
            let Some(relay) = self.relays.choose(sessions.home, *sessions.relay, avoid) else {
                // Every relay is down. If none ever worked, the run stops now, as with one
                // relay that cannot be reached. If some did, a short outage (a network blip,
                // relays restarting) is waited out like a temporary failure: the cool-downs
                // end and a probe brings a relay back; only an outage longer than one relay's
                // recipient would wait through its retries stops the run.
                if !self.relays.any_proven() || self.outage_too_long() {
                    self.all_relays_down();
                    return failed_before.map(|reply| (Outcome::Deferred { reply }, tried));
                }
                // Until the first cool-down ends (its probe may bring a relay back), without
                // using up this recipient's retries: nothing was tried.
                // (At least a moment: when another worker holds the due probe, this one must
                // not spin while it runs.)
                let soon = std::time::Instant::now() + std::time::Duration::from_millis(20);
                let due = self.relays.next_probe().map_or(soon, |due| due.max(soon));
                self.waiting_to_retry(Some("every relay is down"));
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    () = self.until_stopped() => {}
                }
                self.waiting_to_retry(None);
                continue;
            };
            // A relay chosen while it is down is this worker's probe, and a probe is a new
            // session: one kept from before the relay went down proves nothing, and only a
            // session that opens brings the relay back (else the probe could stay claimed).
            let probing = !self.relays.members[relay].health().is_up();
            if (*sessions.relay != Some(relay) || probing)
                && let Some(other) = sessions.session.take()
            {
                other.quit().await;
            }
            if self.relays.several() {
                tokio::select! {
                    () = self.relays.members[relay].pace.wait() => {}
                    () = self.until_stopped() => {}
                }
                if self.is_stopping() {
                    return failed_before.map(|reply| (Outcome::Deferred { reply }, tried));
                }
            }
            tried = Some(relay);
            let result = self
                .attempt(relay, sessions.session, &email, built, &mut ahead)
                .await;
            *sessions.relay = sessions.session.as_ref().map(|_| relay);
            let last_error = match result {
                Ok(Outcome::InDoubt { error }) => {
                    // Not retried, but a failure all the same: a relay that drops every
                    // connection before answering the end of DATA must stop the run, not
                    // leave the whole list in doubt.
                    self.slow_down(relay);
                    self.count_failure(relay, &error);
                    return Some((Outcome::InDoubt { error }, tried));
                }
                Ok(outcome) => {
                    if matches!(outcome, Outcome::Sent { .. }) {
                        self.delivered(relay);
                    }
                    return Some((outcome, tried));
                }
                Err(Retry::Fatal) => return None,
                Err(Retry::Down(error)) => {
                    // Several relays, and this one refuses connections: the recipient goes to
                    // another at once, without using up a retry. Nothing was sent, so this
                    // is not a failure of the recipient's: when it was the last relay up and
                    // the run stops, the recipient is left as it was.
                    self.relay_went_down(relay, &error);
                    continue;
                }
                Err(Retry::Temporary(error)) => error,
            };
            self.slow_down(relay);
            if self.count_failure(relay, &last_error) == Change::WentDown && self.relays.any_up() {
                failed_before = Some(last_error);
                continue;
            }
            if !self.wait_to_retry(&mut attempt, &last_error).await {
                return Some((Outcome::Deferred { reply: last_error }, tried));
            }
            failed_before = Some(last_error);
        }
    }

    /// Every relay is down (again): whether that has lasted longer than a recipient of a single
    /// relay would wait through all its retries, the longest outage the run waits out.
    fn outage_too_long(&self) -> bool {
        let now = std::time::Instant::now();
        let since = *self
            .all_down_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert(now);
        let patience: std::time::Duration = (0..self.retry.retries)
            .map(|attempt| self.retry.base_delay * 2u32.saturating_pow(attempt.min(16)))
            .sum();
        now.duration_since(since) > patience.max(self.retry.base_delay)
    }

    /// Waits before retry number `attempt` after `last_error`, and counts it: `false` when the
    /// recipient is not to be tried again in this run (no retries left, or the run stops).
    async fn wait_to_retry(&self, attempt: &mut u32, last_error: &str) -> bool {
        // Listening before the check, so that a stop between the two still ends the wait.
        let stopped = self.stop_notice.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        if *attempt >= self.retry.retries || self.is_stopping() {
            return false;
        }
        let delay = self.retry.delay(*attempt);
        *attempt += 1;
        self.waiting_to_retry(Some(last_error));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped => {}
        }
        self.waiting_to_retry(None);
        !self.is_stopping()
    }

    /// A message was accepted by `relay`.
    fn delivered(&self, relay: usize) {
        if self.relays.several() {
            let member = &self.relays.members[relay];
            member.health().delivered();
            member.pace.speed_up();
            *self
                .all_down_since
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        } else {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
            self.pace.speed_up();
        }
    }

    /// A temporary failure or a message in doubt at `relay`: slow down sending to it (with
    /// one relay, everything).
    fn slow_down(&self, relay: usize) {
        if self.relays.several() {
            self.relays.members[relay].pace.slow_down();
        } else {
            self.pace.slow_down();
        }
    }

    /// Counts a temporary failure or an in-doubt message of `relay`. With one relay, too many
    /// in a row (over all workers) stop the run; with several, too many in a row take that
    /// relay down (and the run stops when every relay is down).
    fn count_failure(&self, relay: usize, error: &str) -> Change {
        let member = &self.relays.members[relay];
        if self.relays.several() {
            let change =
                member
                    .health()
                    .failed(member.failure_limit(), std::time::Instant::now(), error);
            if change == Change::WentDown {
                self.after_going_down();
            }
            return change;
        }
        let in_a_row = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row >= failure_limit(self.concurrency) {
            self.fail(Error::RelayFailing {
                relay: member.settings.relay.to_string(),
                failures: in_a_row,
                last: error.to_owned(),
            });
        }
        Change::Same
    }

    /// `relay` refused a connection or cannot be reached (several relays only): down at once.
    fn relay_went_down(&self, relay: usize, error: &str) {
        let change = self.relays.members[relay]
            .health()
            .refused(std::time::Instant::now(), error);
        if change == Change::WentDown {
            self.after_going_down();
        }
    }

    /// After a relay went down: when none is left up and none ever worked, the run stops
    /// (when some did, the workers wait for one to come back: see [`Engine::deliver`]).
    fn after_going_down(&self) {
        if !self.relays.any_up() && !self.relays.any_proven() {
            self.all_relays_down();
        }
    }

    /// Every relay is down: stop, as unreachable when no session with any of them ever opened
    /// (most likely the URLs or the relays' state, as with one relay), else as failing.
    fn all_relays_down(&self) {
        let relays = self.relays.names();
        let reasons = self.relays.reasons();
        if self.relays.any_proven() {
            self.fail(Error::RelaysFailing {
                relays,
                last: reasons,
            });
        } else {
            self.fail(Error::RelayUnreachable {
                relay: relays,
                message: reasons,
            });
        }
    }

    /// Opens a session with `member` for [`Engine::attempt`]: `Err` with why not, and what that
    /// means for the recipient.
    async fn connect(&self, member: &Member) -> Result<Session, Retry> {
        let settings = &member.settings;
        let Some(opened) = self.open_session(member).await else {
            return Err(Retry::Fatal);
        };
        match opened {
            Ok(opened) => {
                member.health().came_up();
                Ok(opened)
            }
            // One of several relays refuses connections: set aside for a while, the
            // others take its share.
            Err(ConnectError::Unreachable(error)) if self.relays.several() => {
                Err(Retry::Down(error))
            }
            Err(error @ ConnectError::Refused(_)) if self.relays.several() => {
                Err(Retry::Down(error.to_string()))
            }
            // No connection of this run has succeeded: most likely the relay is not running
            // or `--smtp` names the wrong host or port. Retrying with backoff would only
            // make the user wait minutes for the same answer.
            Err(ConnectError::Unreachable(error)) if !member.proven.load(Ordering::Acquire) => {
                self.fail(Error::RelayUnreachable {
                    relay: settings.relay.to_string(),
                    message: error,
                });
                Err(Retry::Fatal)
            }
            Err(ConnectError::Unreachable(error) | ConnectError::Network(error)) => {
                Err(Retry::Temporary(error))
            }
            Err(ConnectError::Refused(reply)) if reply.is_transient() => {
                Err(Retry::Temporary(reply.to_string()))
            }
            Err(error) => {
                self.fail(Error::SmtpSession {
                    relay: settings.relay.to_string(),
                    kind: match error {
                        ConnectError::Auth(_) => SessionStep::Authentication,
                        ConnectError::Tls(_) => SessionStep::Tls,
                        _ => SessionStep::Session,
                    },
                    message: error.to_string(),
                    password_variable: settings.relay.password_variable().to_owned(),
                });
                Err(Retry::Fatal)
            }
        }
    }

    /// One attempt: `Ok` with a final outcome, or `Err` for a temporary failure or a stop.
    async fn attempt(
        &self,
        relay: usize,
        session: &mut Option<Session>,
        email: &str,
        built: &Built,
        ahead: &mut Option<Durable>,
    ) -> Result<Outcome, Retry> {
        let member = &self.relays.members[relay];
        if session.is_none() {
            *session = Some(self.connect(member).await?);
        }
        let open = session.as_mut().expect("a session was opened above");
        let mut journal_error = None;
        let result = open
            .deliver(&built.envelope, &built.bytes, async {
                let Some(journal) = &self.journal else {
                    return true;
                };
                // On disk, not only written, before the body goes: after a power cut the next
                // run must still know this recipient may have the message. The record written
                // ahead stands for every attempt until one gets this far (it was written before
                // a connection took the message, so it names no relay); a later attempt writes
                // its own, naming the relay.
                let on_disk = match ahead.take() {
                    Some(ahead) => {
                        // From here the body may go: an abort leaves this one in doubt.
                        self.written_ahead_now(email, false);
                        ahead.on_disk().await
                    }
                    None => {
                        journal
                            .record_durable(&Entry::Data {
                                to: email.to_owned(),
                                id: built.message_id.clone(),
                                relay: Some(member.address.clone()),
                                t: timestamp(),
                            })
                            .await
                    }
                };
                match on_disk {
                    Ok(()) => true,
                    Err(error) => {
                        journal_error = Some(error);
                        false
                    }
                }
            })
            .await;
        if let Some(error) = journal_error {
            *session = None;
            self.fail(error);
            return Err(Retry::Fatal);
        }
        match result {
            Attempt::Delivered(reply) => Ok(Outcome::Sent {
                reply: reply.to_string(),
            }),
            Attempt::Rejected { stage, reply } if reply.is_transient() => {
                if reply.code == 421 {
                    // 421: the server is closing the connection.
                    *session = None;
                }
                Err(Retry::Temporary(format!("{reply} (at {stage})")))
            }
            // "Message too big" after the body (5.3.4, or a bare 552 without an enhanced
            // code): the relay's limit, not this recipient's fault, and the same for everyone.
            // A 552 with another enhanced code (5.2.2, a full mailbox) is the recipient's.
            Attempt::Rejected {
                stage: Stage::Message,
                reply,
            } if says_too_large(&reply) => {
                self.fail(Error::MessageTooLarge {
                    relay: self.relays.members[relay].settings.relay.to_string(),
                    detail: format!("{} bytes refused with {reply}", built.bytes.len()),
                });
                Err(Retry::Fatal)
            }
            Attempt::Rejected { stage, reply } => Ok(Outcome::Failed {
                reply: format!("{reply} (at {stage})"),
            }),
            Attempt::TooLarge { size, limit } => {
                self.fail(Error::MessageTooLarge {
                    relay: self.relays.members[relay].settings.relay.to_string(),
                    detail: format!(
                        "a message is {size} bytes, and it takes at most {limit} (its SIZE)"
                    ),
                });
                Err(Retry::Fatal)
            }
            Attempt::Broken { error, in_doubt } => {
                *session = None;
                if in_doubt {
                    Ok(Outcome::InDoubt { error })
                } else {
                    Err(Retry::Temporary(error))
                }
            }
            Attempt::Aborted => {
                *session = None;
                Err(Retry::Fatal)
            }
        }
    }
}

impl Engine {
    /// Opens a session with `member`, one worker at a time until one has succeeded. `None`
    /// if the run stopped while waiting.
    async fn open_session(&self, member: &Member) -> Option<Result<Session, ConnectError>> {
        if member.proven.load(Ordering::Acquire) {
            return Some(Session::open(&member.settings).await);
        }
        let _turn = member.first_session.lock().await;
        if self.is_stopping() {
            return None;
        }
        let opened = Session::open(&member.settings).await;
        if opened.is_ok() {
            member.proven.store(true, Ordering::Release);
        }
        Some(opened)
    }
}

/// A worker's session and where it is at home, handed to [`Engine::deliver`].
struct Sessions<'a> {
    /// The worker's home relay.
    home: usize,
    session: &'a mut Option<Session>,
    /// The relay `session` is with.
    relay: &'a mut Option<usize>,
}

/// Whether a refusal of a message body says it is too large for the relay: `5.3.4`, or a
/// `552` that gives no enhanced status code (RFC 5321's "exceeded storage allocation").
fn says_too_large(reply: &Reply) -> bool {
    let text = reply.text();
    let enhanced = text.split_whitespace().next().filter(|word| {
        let parts: Vec<&str> = word.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    });
    match enhanced {
        Some(code) => code == "5.3.4",
        None => reply.code == 552,
    }
}

/// Why an attempt did not end the recipient's part in the run.
enum Retry {
    Temporary(String),
    /// One of several relays refuses connections or cannot be reached: try another.
    Down(String),
    Fatal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_size_refusal_reads_as_too_large() {
        let reply = |code, text: &str| Reply {
            code,
            lines: vec![text.to_owned()],
        };
        assert!(says_too_large(&reply(552, "5.3.4 Message too big")));
        assert!(says_too_large(&reply(554, "5.3.4 Message too big")));
        assert!(says_too_large(&reply(
            552,
            "Requested mail action aborted: exceeded storage allocation"
        )));
        assert!(!says_too_large(&reply(552, "5.2.2 Mailbox full")));
        assert!(!says_too_large(&reply(550, "5.1.1 User unknown")));
    }
}
