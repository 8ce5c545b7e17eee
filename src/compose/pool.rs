//! Builds messages on every core. Building a message means personalising, encoding and, above
//! all, signing it (an RSA-2048 signature costs a fraction of a millisecond), which on the
//! single-threaded delivery runtime would stall the SMTP connections and the progress display.
//!
//! The producer [`Submitter::submit`]s subscribers in list order; a few builder threads
//! ([`build`]) take them, build each message and hand it back through a one-shot channel; the
//! engine reads the results in the order they were submitted from the [`Ready`] queue. Both
//! queues are bounded by the same depth, so memory does not grow with the list.

use std::{
    sync::{Mutex, PoisonError, mpsc as std_mpsc},
    time::SystemTime,
};

use tokio::sync::{mpsc, oneshot};

use crate::{
    compose::mailing::Mailing, compose::message::Built, error::Error,
    input::subscribers::Subscriber,
};

/// A subscriber's message, built or not.
pub(crate) struct Made {
    pub(crate) subscriber: Subscriber,
    pub(crate) built: Result<Built, Error>,
}

/// One message to build, and where its result goes.
pub(crate) struct Job {
    subscriber: Subscriber,
    reply: oneshot::Sender<Made>,
}

/// The queue builder threads take [`Job`]s from.
pub(crate) struct Jobs(Mutex<std_mpsc::Receiver<Job>>);

/// The producer's end: submits subscribers in order.
pub(crate) struct Submitter {
    jobs: std_mpsc::Sender<Job>,
    order: mpsc::Sender<oneshot::Receiver<Made>>,
}

/// The engine's end: built messages in the order their subscribers were submitted.
pub(crate) struct Ready {
    order: mpsc::Receiver<oneshot::Receiver<Made>>,
}

/// How many builder threads to run: one per core (the delivery runtime mostly waits on
/// sockets, so it needs little of a core of its own).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A pool's three ends, with at most `depth` messages submitted but not yet taken.
pub(crate) fn channel(depth: usize) -> (Submitter, Jobs, Ready) {
    let (jobs, taken) = std_mpsc::channel();
    let (order, ready) = mpsc::channel(depth.max(1));
    (
        Submitter { jobs, order },
        Jobs(Mutex::new(taken)),
        Ready { order: ready },
    )
}

impl Submitter {
    /// Queues `subscriber`'s message, waiting while the queue is full. `false` once the
    /// engine is gone (the run stopped): nothing more will be taken.
    pub(crate) fn submit(&self, subscriber: Subscriber) -> bool {
        let (reply, result) = oneshot::channel();
        if self.jobs.send(Job { subscriber, reply }).is_err() {
            return false;
        }
        self.order.blocking_send(result).is_ok()
    }
}

impl Ready {
    /// The next message, in submission order; `None` when every submitted one was taken and
    /// the producer is done. An error when a builder thread died with the message (a bug):
    /// the run must stop, since that subscriber got no outcome (a rerun sends to them).
    pub(crate) async fn next(&mut self) -> Option<Result<Made, Error>> {
        let result = self.order.recv().await?;
        Some(result.await.map_err(|_| Error::Internal {
            message: "a message builder thread failed".into(),
        }))
    }
}

/// A builder thread: builds messages until the producer is done.
pub(crate) fn build(mailing: &Mailing, jobs: &Jobs) {
    loop {
        let job = jobs.0.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(Job { subscriber, reply }) = job else {
            return;
        };
        // The engine stopped taking messages: do not spend a signature on this one.
        if reply.is_closed() {
            continue;
        }
        let built = mailing.message(&subscriber, SystemTime::now());
        // An error here means the engine stopped meanwhile; the message is simply not sent.
        let _ = reply.send(Made { subscriber, built });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{compose::unsubscribe::KeyUse, input::issue::Issue};

    #[test]
    fn every_message_comes_back_once_in_submission_order() {
        let issue = Issue::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("newsletters/2019-06-uk-sg-mou.yaml"),
        )
        .unwrap();
        let key = crate::compose::unsubscribe::TokenKey::throwaway();
        let mailing = Mailing::prepare(&issue, KeyUse::Preview, Some(key), None).unwrap();
        let emails: Vec<String> = (0..300).map(|i| format!("reader{i}@example.org")).collect();
        let (submitter, jobs, mut ready) = channel(8);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let received = std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| build(&mailing, &jobs));
            }
            scope.spawn(|| {
                for email in &emails {
                    let address = crate::input::values::parse_address(email).unwrap();
                    assert!(submitter.submit(Subscriber::ad_hoc(address)));
                }
                drop(submitter);
            });
            runtime.block_on(async {
                let mut received = Vec::new();
                while let Some(made) = ready.next().await {
                    let made = made.unwrap();
                    let bytes = made.built.unwrap().bytes;
                    let to = format!("To: {}", made.subscriber.email);
                    assert!(
                        String::from_utf8_lossy(&bytes).contains(&to),
                        "the message is not the subscriber's own"
                    );
                    received.push(made.subscriber.email.to_string());
                }
                received
            })
        });
        assert_eq!(received, emails);
    }

    #[test]
    fn submitting_fails_once_the_engine_is_gone() {
        let (submitter, _jobs, ready) = channel(1);
        drop(ready);
        let address = crate::input::values::parse_address("a@example.org").unwrap();
        assert!(!submitter.submit(Subscriber::ad_hoc(address)));
    }
}
