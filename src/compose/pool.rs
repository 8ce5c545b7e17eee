//! Builds messages on every core. Building a message means personalising, encoding and, above
//! all, signing it (an RSA-2048 signature costs a fraction of a millisecond), which on the
//! single-threaded delivery runtime would stall the SMTP connections and the progress display.
//!
//! The producer [`Submitter::submit`]s subscribers in list order, a batch at a time; a few
//! builder threads ([`build`]) take each batch, build its messages and hand them back through a
//! one-shot channel; the engine reads them in the order they were submitted from the [`Ready`]
//! queue. Both queues are bounded, so memory does not grow with the list.

use std::{
    sync::{Mutex, PoisonError, mpsc as std_mpsc},
    time::SystemTime,
};

use tokio::sync::{mpsc, oneshot};

use crate::{
    compose::mailing::Mailing, compose::message::Built, error::Error,
    input::subscribers::Subscriber,
};

/// How many subscribers travel together from the producer to a builder and back to the
/// engine, unless the send is paced. One at a time, every message woke two threads: a quarter
/// of an unsigned dry run's time went to waking threads and switching between them (`perf`,
/// 2 cores). Batches of 8 were as fast as batches of 16, batches of 4 a tenth slower.
pub(crate) const BATCH: usize = 8;

/// A subscriber's message, built or not.
pub(crate) struct Made {
    pub(crate) subscriber: Subscriber,
    pub(crate) built: Result<Built, Error>,
}

/// Messages to build, in list order, and where their results go.
pub(crate) struct Job {
    subscribers: Vec<Subscriber>,
    reply: oneshot::Sender<Vec<Made>>,
}

/// The queue builder threads take [`Job`]s from.
pub(crate) struct Jobs(Mutex<std_mpsc::Receiver<Job>>);

/// The producer's end: submits subscribers in order. Dropping it hands over the last,
/// partly filled batch.
pub(crate) struct Submitter {
    jobs: std_mpsc::Sender<Job>,
    order: mpsc::Sender<oneshot::Receiver<Vec<Made>>>,
    batch: Vec<Subscriber>,
    /// How many subscribers make a batch.
    size: usize,
}

/// The engine's end: built messages in the order their subscribers were submitted.
pub(crate) struct Ready {
    order: mpsc::Receiver<oneshot::Receiver<Vec<Made>>>,
    batch: std::vec::IntoIter<Made>,
}

/// How many builder threads to run: one per core (the delivery runtime mostly waits on
/// sockets, so it needs little of a core of its own).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A pool's three ends, handing subscribers over `batch` at a time, with about `depth`
/// messages submitted but not yet taken, and never fewer batches than one per builder thread
/// and one more, so that none of them waits for work. (Add the batch the engine is taking
/// messages from, the one the producer waits to queue and the one it is filling.)
pub(crate) fn channel(depth: usize, builders: usize, batch: usize) -> (Submitter, Jobs, Ready) {
    let (jobs, taken) = std_mpsc::channel();
    let batch = batch.max(1);
    let batches = depth.div_ceil(batch).max(builders + 1);
    let (order, ready) = mpsc::channel(batches);
    (
        Submitter {
            jobs,
            order,
            batch: Vec::with_capacity(batch),
            size: batch,
        },
        Jobs(Mutex::new(taken)),
        Ready {
            order: ready,
            batch: Vec::new().into_iter(),
        },
    )
}

impl Submitter {
    /// Queues `subscriber`'s message, waiting while the queue is full. `false` once the
    /// engine is gone (the run stopped): nothing more will be taken.
    pub(crate) fn submit(&mut self, subscriber: Subscriber) -> bool {
        if self.order.is_closed() {
            return false;
        }
        self.batch.push(subscriber);
        self.batch.len() < self.size || self.hand_over()
    }

    /// Hands the batch gathered so far to the builders.
    fn hand_over(&mut self) -> bool {
        if self.batch.is_empty() {
            return !self.order.is_closed();
        }
        let subscribers = std::mem::replace(&mut self.batch, Vec::with_capacity(self.size));
        let (reply, result) = oneshot::channel();
        if self.jobs.send(Job { subscribers, reply }).is_err() {
            return false;
        }
        self.order.blocking_send(result).is_ok()
    }
}

impl Drop for Submitter {
    fn drop(&mut self) {
        // Nothing to do if the engine is gone: those messages would not be taken anyway.
        self.hand_over();
    }
}

impl Ready {
    /// The next message, in submission order; `None` when every submitted one was taken and
    /// the producer is done. An error when a builder thread died with the message (a bug):
    /// the run must stop, since that subscriber got no outcome (a rerun sends to them).
    ///
    /// Cancelling it may drop the messages of one batch; the engine does so only when it
    /// stops, and nothing was recorded for them yet.
    pub(crate) async fn next(&mut self) -> Option<Result<Made, Error>> {
        loop {
            if let Some(made) = self.batch.next() {
                return Some(Ok(made));
            }
            let result = self.order.recv().await?;
            match result.await {
                Ok(batch) => self.batch = batch.into_iter(),
                Err(_) => {
                    return Some(Err(Error::Internal {
                        message: "a message builder thread failed".into(),
                    }));
                }
            }
        }
    }
}

/// A builder thread: builds messages until the producer is done.
pub(crate) fn build(mailing: &Mailing, jobs: &Jobs) {
    loop {
        let job = jobs.0.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(Job { subscribers, reply }) = job else {
            return;
        };
        let mut batch = Vec::with_capacity(subscribers.len());
        for subscriber in subscribers {
            // The engine stopped taking messages: do not spend signatures on these.
            if reply.is_closed() {
                break;
            }
            let built = mailing.message(&subscriber, SystemTime::now());
            batch.push(Made { subscriber, built });
        }
        // An error here means the engine stopped meanwhile; the messages are simply not sent.
        let _ = reply.send(batch);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{compose::unsubscribe::KeyUse, input::issue::Issue};

    #[test]
    fn every_message_comes_back_once_in_submission_order() {
        // 300 is not a multiple of the batch: the last one is handed over part full.
        comes_back_in_order(BATCH);
        comes_back_in_order(1);
    }

    fn comes_back_in_order(batch: usize) {
        let issue = Issue::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("newsletters/2019-06-uk-sg-mou.yaml"),
        )
        .unwrap();
        let key = crate::compose::unsubscribe::TokenKey::throwaway();
        let mailing = Mailing::prepare(&issue, KeyUse::Preview, Some(key), None).unwrap();
        let emails: Vec<String> = (0..300).map(|i| format!("reader{i}@example.org")).collect();
        let (mut submitter, jobs, mut ready) = channel(8, 3, batch);
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
        let (mut submitter, _jobs, ready) = channel(1, 1, BATCH);
        drop(ready);
        let address = crate::input::values::parse_address("a@example.org").unwrap();
        assert!(!submitter.submit(Subscriber::ad_hoc(address)));
    }
}
