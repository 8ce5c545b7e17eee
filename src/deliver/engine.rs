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
    deliver::report::{Outcome, Recorder},
    deliver::smtp::{Attempt, ConnectError, Session},
    error::{Error, SessionStep},
    input::subscribers::Subscriber,
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
    /// Deliver through the relay.
    Smtp(RelaySettings),
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
    failures_in_a_row: AtomicUsize,
    /// Set once a session has opened (connected, secured, logged in). Until then, workers open
    /// their sessions one at a time, so a wrong password costs one failed login, not one per
    /// worker (relays lock accounts after a few).
    session_proven: AtomicBool,
    first_session: tokio::sync::Mutex<()>,
    /// How many workers are waiting to retry, and the failure the last of them waits after
    /// (for the progress line).
    retry_waits: AtomicUsize,
    retry_reason: Mutex<Option<String>>,
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
        Engine {
            mailing,
            transport,
            pace: Pace::new(rate, retry.base_delay),
            retry,
            journal,
            recorder,
            concurrency: concurrency.max(1),
            stopping: AtomicBool::new(false),
            stop_notice: Notify::new(),
            fatal: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            failures_in_a_row: AtomicUsize::new(0),
            session_proven: AtomicBool::new(false),
            first_session: tokio::sync::Mutex::new(()),
            retry_waits: AtomicUsize::new(0),
            retry_reason: Mutex::new(None),
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

    /// Records an outcome in the report and, for real sends, the journal.
    pub(crate) fn finish(&self, subscriber: &Subscriber, outcome: &Outcome, built: Option<&Built>) {
        let email = subscriber.email.to_string();
        let outcome = &outcome.printable();
        if let Some(journal) = &self.journal {
            let t = timestamp();
            let entry = match outcome {
                Outcome::Sent { reply } => Some(Entry::Sent {
                    to: email.clone(),
                    reply: reply.clone(),
                    t,
                }),
                Outcome::Failed { reply } => Some(Entry::Failed {
                    to: email.clone(),
                    reply: reply.clone(),
                    t,
                }),
                Outcome::Deferred { reply } => Some(Entry::Deferred {
                    to: email.clone(),
                    reply: reply.clone(),
                    t,
                }),
                Outcome::InDoubt { error } => Some(Entry::InDoubt {
                    to: email.clone(),
                    error: error.clone(),
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
        ) {
            self.fail(error);
        }
    }

    /// Runs `concurrency` workers over `queue` (messages built by [`crate::compose::pool`], in
    /// list order) until it is closed and drained, or the run stops.
    pub(crate) async fn run(self: &Arc<Self>, queue: Ready) {
        // One message ahead per worker: enough for every worker's next record to be synced
        // while its current message is sent.
        let (hand_over, handed) = tokio::sync::mpsc::channel(self.concurrency);
        let feeder = {
            let engine = Arc::clone(self);
            tokio::spawn(async move { engine.feed(queue, hand_over).await })
        };
        let handed = Arc::new(tokio::sync::Mutex::new(handed));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.concurrency {
            let engine = Arc::clone(self);
            let handed = Arc::clone(&handed);
            workers.spawn(async move { engine.work(&handed).await });
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
    /// asks for the body.
    async fn feed(
        &self,
        mut ready: Ready,
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
            room.send(made.and_then(|made| self.write_ahead(made, writes_ahead)));
        }
    }

    /// `made` with its `data` record written and being synced, when a relay will be sent to
    /// and the run keeps a journal.
    fn write_ahead(&self, made: Made, writes_ahead: bool) -> Result<Next, Error> {
        let (Some(journal), true, Ok(built)) = (&self.journal, writes_ahead, &made.built) else {
            return Ok(Next { made, ahead: None });
        };
        let ahead = journal.record_ahead(&Entry::Data {
            to: made.subscriber.email.to_string(),
            id: built.message_id.clone(),
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

    fn unsent(&self, subscriber: &Subscriber) {
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

    async fn work(&self, handed: &tokio::sync::Mutex<Handed>) {
        let mut session: Option<Session> = None;
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
                Transport::DryRun { out, protected } => {
                    self.dry_run(out.as_deref(), protected, &subscriber, &built)
                }
                Transport::Smtp(settings) => {
                    self.deliver(settings, &mut session, &subscriber, &built, ahead)
                        .await
                }
            };
            match outcome {
                Some(outcome) => self.finish(&subscriber, &outcome, Some(&built)),
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

    /// Delivers one message, retrying temporary failures. `None` when the run stopped before
    /// the message was attempted (it is then neither recorded nor counted: the next run sends it).
    async fn deliver(
        &self,
        settings: &RelaySettings,
        session: &mut Option<Session>,
        subscriber: &Subscriber,
        built: &Built,
        mut ahead: Option<Durable>,
    ) -> Option<Outcome> {
        let email = subscriber.email.to_string();
        let mut attempt = 0;
        // The failure of the attempt before, while waiting to retry.
        let mut failed_before: Option<String> = None;
        loop {
            self.pace.wait().await;
            if self.is_stopping() {
                // Not tried yet: left for the next run. Waiting to retry: deferred, not tried
                // again by a run that is stopping (perhaps because the relay keeps failing).
                return failed_before.map(|reply| Outcome::Deferred { reply });
            }
            let last_error = match self
                .attempt(settings, session, &email, built, &mut ahead)
                .await
            {
                Ok(Outcome::InDoubt { error }) => {
                    // Not retried, but a failure all the same: a relay that drops every
                    // connection before answering the end of DATA must stop the run, not
                    // leave the whole list in doubt.
                    self.pace.slow_down();
                    self.count_failure(settings, &error);
                    return Some(Outcome::InDoubt { error });
                }
                Ok(outcome) => {
                    if matches!(outcome, Outcome::Sent { .. }) {
                        self.failures_in_a_row.store(0, Ordering::Relaxed);
                        self.pace.speed_up();
                    }
                    return Some(outcome);
                }
                Err(Retry::Fatal) => return None,
                Err(Retry::Temporary(error)) => error,
            };
            self.pace.slow_down();
            self.count_failure(settings, &last_error);
            // Listening before the check, so that a stop between the two still ends the wait.
            let stopped = self.stop_notice.notified();
            tokio::pin!(stopped);
            stopped.as_mut().enable();
            if attempt >= self.retry.retries || self.is_stopping() {
                return Some(Outcome::Deferred { reply: last_error });
            }
            let delay = self.retry.delay(attempt);
            attempt += 1;
            self.waiting_to_retry(Some(&last_error));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped => {}
            }
            self.waiting_to_retry(None);
            if self.is_stopping() {
                return Some(Outcome::Deferred { reply: last_error });
            }
            failed_before = Some(last_error);
        }
    }

    /// Counts a temporary failure or an in-doubt message; too many in a row stop the run.
    fn count_failure(&self, settings: &RelaySettings, error: &str) {
        let in_a_row = self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row >= failure_limit(self.concurrency) {
            self.fail(Error::RelayFailing {
                relay: settings.relay.to_string(),
                failures: in_a_row,
                last: error.to_owned(),
            });
        }
    }

    /// One attempt: `Ok` with a final outcome, or `Err` for a temporary failure or a stop.
    async fn attempt(
        &self,
        settings: &RelaySettings,
        session: &mut Option<Session>,
        email: &str,
        built: &Built,
        ahead: &mut Option<Durable>,
    ) -> Result<Outcome, Retry> {
        if session.is_none() {
            let Some(opened) = self.open_session(settings).await else {
                return Err(Retry::Fatal);
            };
            match opened {
                Ok(opened) => *session = Some(opened),
                // No connection of this run has succeeded: most likely the relay is not running
                // or `--smtp` names the wrong host or port. Retrying with backoff would only
                // make the user wait minutes for the same answer.
                Err(ConnectError::Unreachable(error))
                    if !self.session_proven.load(Ordering::Acquire) =>
                {
                    self.fail(Error::RelayUnreachable {
                        relay: settings.relay.to_string(),
                        message: error,
                    });
                    return Err(Retry::Fatal);
                }
                Err(ConnectError::Unreachable(error) | ConnectError::Network(error)) => {
                    return Err(Retry::Temporary(error));
                }
                Err(ConnectError::Refused(reply)) if reply.is_transient() => {
                    return Err(Retry::Temporary(reply.to_string()));
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
                    });
                    return Err(Retry::Fatal);
                }
            }
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
                // ahead stands for every attempt until one gets this far; a later attempt
                // writes its own.
                let on_disk = match ahead.take() {
                    Some(ahead) => ahead.on_disk().await,
                    None => {
                        journal
                            .record_durable(&Entry::Data {
                                to: email.to_owned(),
                                id: built.message_id.clone(),
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
            Attempt::Rejected { stage, reply } => Ok(Outcome::Failed {
                reply: format!("{reply} (at {stage})"),
            }),
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
    /// Opens a session, one worker at a time until one has succeeded. `None` if the run
    /// stopped while waiting.
    async fn open_session(
        &self,
        settings: &RelaySettings,
    ) -> Option<Result<Session, ConnectError>> {
        if self.session_proven.load(Ordering::Acquire) {
            return Some(Session::open(settings).await);
        }
        let _turn = self.first_session.lock().await;
        if self.is_stopping() {
            return None;
        }
        let opened = Session::open(settings).await;
        if opened.is_ok() {
            self.session_proven.store(true, Ordering::Release);
        }
        Some(opened)
    }
}

/// Why an attempt did not end the recipient's part in the run.
enum Retry {
    Temporary(String),
    Fatal,
}
