//! Group commit: requests hand their entry to one writer thread, which appends everything
//! that arrived while it was busy in one batch with one `fsync`, then answers each request.
//! A request is confirmed only after the `fsync` of its batch returned.

use std::{
    path::Path,
    sync::mpsc,
    thread::{self, JoinHandle},
};

use tokio::sync::oneshot;

use crate::input::suppression::{Entry, Writer};

/// The most entries written in one batch, so that one slow batch cannot grow without bound.
const MAX_BATCH: usize = 4096;

/// The sending side of the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    entry: Entry,
    done: oneshot::Sender<Result<(), String>>,
}

impl Committer {
    /// Starts the writer thread for the suppression file at `path`. The thread ends when every
    /// [`Committer`] is dropped and the last batch is written.
    pub(crate) fn start(path: &Path) -> (Committer, JoinHandle<()>) {
        let (queue, pending) = mpsc::channel::<Pending>();
        let mut writer = Writer::new(path);
        let thread = thread::spawn(move || {
            while let Ok(first) = pending.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match pending.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let entries: Vec<Entry> = batch.iter().map(|p| p.entry.clone()).collect();
                let result = writer
                    .append(&entries)
                    .map(|_| ())
                    .map_err(|error| crate::error::Report(&error).to_string());
                for pending in batch {
                    // A client that went away no longer waits for its answer.
                    let _ = pending.done.send(result.clone());
                }
            }
        });
        (Committer { queue }, thread)
    }

    /// Appends `entry` (unless its address is there already) and returns once it is on disk.
    pub(crate) async fn commit(&self, entry: Entry) -> Result<(), String> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { entry, done })
            .map_err(|_| "the suppression writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the suppression writer has stopped".to_owned())?
    }
}
