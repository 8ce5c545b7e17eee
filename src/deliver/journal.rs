//! The send journal: an append-only record, one JSON object per line, of what happened to each
//! recipient of an issue, so that a rerun of `send` continues where the last one stopped and
//! never mails anyone twice.
//!
//! ```text
//! {"e":"open","v":1,"issue":"2019-06-uk-sg-mou","hash":"…","t":"2026-11-26T22:52:08Z"}
//! {"e":"run","t":"…","relay":"127.0.0.1:1025 (no TLS)"}
//! {"e":"data","to":"zoe@example.org","id":"<…@example.org>","t":"…"}
//! {"e":"sent","to":"zoe@example.org","reply":"250 2.0.0 Ok: queued","t":"…"}
//! {"e":"failed","to":"x@example.org","reply":"550 5.1.1 User unknown","t":"…"}
//! {"e":"deferred","to":"y@example.org","reply":"451 4.3.0 Try again later","t":"…"}
//! {"e":"doubt","to":"w@example.org","error":"connection reset","t":"…"}
//! ```
//!
//! A `data` record is written after the server has agreed to take a message body, and the
//! body is sent only once the record is on disk ([`Journal::record_durable`]: written, then
//! `fdatasync`). So after a crash or a power cut, an address with a `data` record and no
//! outcome is *in doubt*: the server may or may not have the message. An address with no
//! `data` record was certainly not delivered. Syncs are shared (group commit): a sync thread
//! syncs everything written so far as soon as one writer waits, and wakes every writer whose
//! record that sync covered; writers that arrive during a sync share the next one. Outcome and
//! other records ([`Journal::record`]) reach the operating system at once, so a killed process
//! loses nothing, and the disk within [`SYNC_INTERVAL`], so a power cut can lose the outcomes
//! of that last stretch: their recipients are then in doubt, which is safe. A record cut short
//! (a write can stop part way when the process is killed or the disk fills) is the last line:
//! replay ignores it, and the next run cuts it off before appending.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread,
    time::Duration,
};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{error::Error, input::location::Location, input::subscribers::AddressKey};

/// How often records nobody waits for (outcomes, runs) are synced to disk.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_millis(100);

const FORMAT_VERSION: u32 = 1;

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "lowercase")]
pub(crate) enum Entry {
    Open {
        v: u32,
        issue: String,
        hash: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    /// The issue changed since the journal was opened, and the user chose to continue.
    Changed {
        hash: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Run {
        relay: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Data {
        to: String,
        id: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Sent {
        to: String,
        reply: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Failed {
        to: String,
        reply: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Deferred {
        to: String,
        reply: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Doubt {
        to: String,
        error: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
}

/// What the journal says about one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Sent,
    Failed,
    /// A transient failure that outlasted the retries: sent again on the next run.
    Deferred,
    /// The body was sent but no reply was read: perhaps delivered.
    InDoubt,
}

/// A recipient the journal lists by address (failed and in-doubt ones, for `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) email: String,
    pub(crate) state: State,
    pub(crate) detail: String,
    pub(crate) time: OffsetDateTime,
}

/// Everything earlier runs recorded.
#[derive(Debug, Default)]
pub(crate) struct History {
    states: HashMap<AddressKey, State>,
    /// The address, detail and time of each recipient that is not sent, by key.
    listed: HashMap<AddressKey, Listed>,
    /// When each message was accepted, for caps per time window (newest last).
    pub(crate) sent_times: Vec<OffsetDateTime>,
    pub(crate) hash: Option<String>,
    pub(crate) runs: usize,
}

impl History {
    pub(crate) fn state(&self, key: AddressKey) -> Option<State> {
        self.states.get(&key).copied()
    }

    /// How many addresses are in `state`.
    pub(crate) fn count(&self, state: State) -> usize {
        self.states.values().filter(|s| **s == state).count()
    }

    /// Failed, deferred and in-doubt recipients, oldest first.
    pub(crate) fn listed(&self) -> Vec<&Listed> {
        let mut listed: Vec<&Listed> = self
            .listed
            .iter()
            .filter(|(key, _)| self.states.get(key) != Some(&State::Sent))
            .map(|(_, listed)| listed)
            .collect();
        listed.sort_by_key(|listed| (listed.time, listed.email.clone()));
        listed
    }

    fn apply(&mut self, entry: Entry) {
        let mut mark = |to: String, state: State, detail: String, time: OffsetDateTime| {
            let key = AddressKey::of(&to);
            self.states.insert(key, state);
            if state == State::Sent {
                self.listed.remove(&key);
            } else {
                self.listed.insert(
                    key,
                    Listed {
                        email: to,
                        state,
                        detail,
                        time,
                    },
                );
            }
        };
        match entry {
            Entry::Open { hash, .. } | Entry::Changed { hash, .. } => self.hash = Some(hash),
            Entry::Run { .. } => self.runs += 1,
            Entry::Data { to, t, .. } => {
                mark(
                    to,
                    State::InDoubt,
                    "no reply was recorded after the message was sent".into(),
                    t,
                );
            }
            Entry::Sent { to, reply, t } => {
                self.sent_times.push(t);
                mark(to, State::Sent, reply, t);
            }
            Entry::Failed { to, reply, t } => mark(to, State::Failed, reply, t),
            Entry::Deferred { to, reply, t } => mark(to, State::Deferred, reply, t),
            Entry::Doubt { to, error, t } => mark(to, State::InDoubt, error, t),
        }
    }
}

/// What to do when the issue changed since the journal was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnChange {
    /// Stop with an error that explains the two choices.
    Refuse,
    /// Keep the journal: whoever got the old version is not mailed again.
    Continue,
    /// Set the journal aside and send to everyone again.
    StartOver,
}

/// An open journal, locked against other runs of the same issue.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    sync: Arc<Sync>,
    syncer: Mutex<Option<thread::JoinHandle<()>>>,
}

/// The group commit shared by the writers and the sync thread: writers count their records
/// in `state`, ask for a sync up to their record and wait on `synced`; the thread syncs
/// everything written so far in one `fdatasync` and tells every waiter at once.
#[derive(Debug)]
struct Sync {
    state: Mutex<SyncState>,
    wake: Condvar,
    synced: tokio::sync::watch::Sender<Synced>,
}

#[derive(Debug, Default)]
struct SyncState {
    /// Records written to the operating system, numbered from 1 in the order written.
    written: u64,
    /// The highest record somebody waits to see on disk.
    wanted: u64,
    stop: bool,
}

/// What the sync thread has done: every record up to `upto` is on disk, or syncing failed
/// (and then nothing written after is known to be on disk: Linux may drop the pages of a
/// failed write-back, so a later sync that succeeds proves nothing).
#[derive(Debug, Clone, Default)]
struct Synced {
    upto: u64,
    failed: Option<(io::ErrorKind, String)>,
}

impl Sync {
    fn state(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The journal path used when none is given: beside the issue, `ISSUE.journal`.
pub(crate) fn default_path(issue: &Path) -> PathBuf {
    issue.with_extension("journal")
}

impl Journal {
    /// Reads what is recorded at `path` without opening it for writing (for `status`).
    pub(crate) fn read(path: &Path) -> Result<History, Error> {
        let file = File::open(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        replay(path, &file).map(|(history, _)| history)
    }

    /// Opens (or creates) the journal for the issue `slug` whose content hash is `hash`, and
    /// returns what earlier runs recorded.
    pub(crate) fn open(
        path: &Path,
        slug: &str,
        hash: &str,
        on_change: OnChange,
    ) -> Result<(Journal, History), Error> {
        let write_error = |source| Error::JournalWrite {
            path: path.to_owned(),
            source,
        };
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(folder).map_err(write_error)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(write_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::JournalLocked {
                    path: path.to_owned(),
                });
            }
            Err(fs::TryLockError::Error(source)) => return Err(write_error(source)),
        }
        let (mut history, tail) = replay(path, &file)?;
        let mut file = file;
        match tail {
            Tail::Clean => {}
            Tail::Unterminated => file.write_all(b"\n").map_err(write_error)?,
            Tail::Torn(start) => file.set_len(start).map_err(write_error)?,
        }
        let mut first = Vec::new();
        match history.hash.as_deref() {
            None => first.push(Entry::Open {
                v: FORMAT_VERSION,
                issue: slug.to_owned(),
                hash: hash.to_owned(),
                t: now(),
            }),
            Some(recorded) if recorded == hash => {}
            // Nobody was attempted under the old version (the run was refused at confirmation,
            // or stopped at login): nobody can get it twice, so there is nothing to choose.
            Some(_) if history.states.is_empty() => first.push(Entry::Changed {
                hash: hash.to_owned(),
                t: now(),
            }),
            Some(_) => match on_change {
                OnChange::Refuse => {
                    return Err(Error::IssueChanged {
                        journal: path.to_owned(),
                    });
                }
                OnChange::Continue => first.push(Entry::Changed {
                    hash: hash.to_owned(),
                    t: now(),
                }),
                OnChange::StartOver => {
                    drop(file);
                    let aside = set_aside(path)?;
                    let (journal, history) = Journal::open(path, slug, hash, OnChange::Refuse)?;
                    eprintln!(
                        "note: the issue changed; the old journal was moved to `{}` and everyone is mailed again",
                        aside.display()
                    );
                    return Ok((journal, history));
                }
            },
        }
        for entry in &first {
            file.write_all(&line(entry)).map_err(write_error)?;
            history.apply(entry.clone());
        }
        let sync = Arc::new(Sync {
            state: Mutex::new(SyncState {
                written: first.len() as u64,
                ..SyncState::default()
            }),
            wake: Condvar::new(),
            synced: tokio::sync::watch::Sender::new(Synced::default()),
        });
        let syncer = spawn_syncer(file.try_clone().map_err(write_error)?, Arc::clone(&sync));
        Ok((
            Journal {
                path: path.to_owned(),
                file: Mutex::new(file),
                sync,
                syncer: Mutex::new(Some(syncer)),
            },
            history,
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry`. When this returns, the record has reached the operating system, so it
    /// survives the process being killed; it reaches the disk within [`SYNC_INTERVAL`].
    pub(crate) fn record(&self, entry: &Entry) -> Result<(), Error> {
        self.write(entry).map(|_| ())
    }

    /// Appends `entry` and returns once it is on disk (`fdatasync`), so that it survives a
    /// power cut. Writers that arrive while a sync is under way share the next one.
    pub(crate) async fn record_durable(&self, entry: &Entry) -> Result<(), Error> {
        let number = self.write(entry)?;
        let mut synced = self.sync.synced.subscribe();
        {
            let mut state = self.sync.state();
            state.wanted = state.wanted.max(number);
        }
        self.sync.wake.notify_one();
        let outcome = synced
            .wait_for(|synced| synced.failed.is_some() || synced.upto >= number)
            .await
            .map(|synced| synced.clone());
        match outcome {
            Ok(Synced { failed: None, .. }) => Ok(()),
            Ok(Synced {
                failed: Some((kind, message)),
                ..
            }) => Err(Error::JournalWrite {
                path: self.path.clone(),
                source: io::Error::new(kind, message),
            }),
            Err(_) => Err(Error::JournalWrite {
                path: self.path.clone(),
                source: io::Error::other("the journal was closed before the record was synced"),
            }),
        }
    }

    /// Writes one record and returns its number (see [`SyncState::written`]).
    fn write(&self, entry: &Entry) -> Result<u64, Error> {
        let bytes = line(entry);
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(&bytes)
            .map_err(|source| Error::JournalWrite {
                path: self.path.clone(),
                source,
            })?;
        // Counted while the file is still held, so numbers follow the order in the file.
        let mut state = self.sync.state();
        state.written += 1;
        Ok(state.written)
    }

    /// Syncs everything to disk and stops the background syncing.
    pub(crate) fn close(&self) -> Result<(), Error> {
        self.sync.state().stop = true;
        self.sync.wake.notify_one();
        if let Some(syncer) = self
            .syncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = syncer.join();
        }
        let file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.sync_data().map_err(|source| Error::JournalWrite {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// The current time, for journal entries.
pub(crate) fn timestamp() -> OffsetDateTime {
    now()
}

fn line(entry: &Entry) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(entry).expect("journal entries serialise");
    bytes.push(b'\n');
    bytes
}

/// The sync thread. It syncs at once when somebody waits for a record, taking along whatever
/// else was written by then (group commit), and otherwise within [`SYNC_INTERVAL`] of a write.
fn spawn_syncer(file: File, sync: Arc<Sync>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut synced = 0;
        loop {
            let (target, stop) = {
                let mut state = sync.state();
                loop {
                    if state.stop || state.wanted > synced {
                        break;
                    }
                    if state.written > synced {
                        let (next, waited) = sync
                            .wake
                            .wait_timeout(state, SYNC_INTERVAL)
                            .unwrap_or_else(PoisonError::into_inner);
                        state = next;
                        if waited.timed_out() {
                            break;
                        }
                    } else {
                        state = sync
                            .wake
                            .wait(state)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                }
                (state.written, state.stop)
            };
            if target > synced {
                if let Err(error) = file.sync_data() {
                    sync.synced.send_modify(|synced| {
                        synced.failed = Some((error.kind(), error.to_string()));
                    });
                    return;
                }
                synced = target;
                sync.synced.send_modify(|done| done.upto = target);
            }
            if stop {
                return;
            }
        }
    })
}

/// Moves the journal at `path` to `PATH.TIMESTAMP.old` and returns the new path.
fn set_aside(path: &Path) -> Result<PathBuf, Error> {
    let stamp = now().unix_timestamp();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".{stamp}.old"));
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside).map_err(|source| Error::JournalWrite {
        path: path.to_owned(),
        source,
    })?;
    Ok(aside)
}

/// How a journal file ends: what [`Journal::open`] must repair before appending to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// Empty, or ends with a complete line.
    Clean,
    /// The last record is complete but its newline is missing (a write cut short just
    /// before it): the record counts, and a newline must follow it.
    Unterminated,
    /// The last line was cut short and is ignored; it starts at this byte offset. Appending
    /// after it would glue the next record to it, and the glued line, no longer the last,
    /// would then stop every later run as damage.
    Torn(u64),
}

/// Reads every record. A last line cut short by a crash is ignored; a damaged line elsewhere
/// is an error, since skipping it could mail someone twice.
fn replay(path: &Path, file: &File) -> Result<(History, Tail), Error> {
    let read_error = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let mut history = History::default();
    let mut tail = Tail::Clean;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    for index in 0.. {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(read_error)?;
        if read == 0 {
            break;
        }
        let start = offset;
        offset += read as u64;
        let terminated = line.last() == Some(&b'\n');
        if terminated {
            line.pop();
        }
        tail = if terminated {
            Tail::Clean
        } else {
            Tail::Unterminated
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(entry) => history.apply(entry),
            Err(_) if reader.fill_buf().map_err(read_error)?.is_empty() => {
                eprintln!(
                    "note: `{}` line {} was cut short (the last run was interrupted); it is ignored",
                    path.display(),
                    index + 1
                );
                tail = Tail::Torn(start);
            }
            Err(error) => {
                return Err(Error::JournalDamaged {
                    location: Location::line(path, index + 1),
                    message: error.to_string(),
                });
            }
        }
    }
    Ok((history, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
    }

    #[test]
    fn replay_tracks_each_address() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, history) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        assert_eq!(history.runs, 0);
        let data = |to: &str| Entry::Data {
            to: to.into(),
            id: "<id>".into(),
            t: at(0),
        };
        for entry in [
            data("a@example.org"),
            Entry::Sent {
                to: "a@example.org".into(),
                reply: "250 ok".into(),
                t: at(1),
            },
            data("b@example.org"),
            Entry::Failed {
                to: "b@example.org".into(),
                reply: "550 no".into(),
                t: at(2),
            },
            data("c@example.org"),
            Entry::Deferred {
                to: "d@example.org".into(),
                reply: "451 later".into(),
                t: at(3),
            },
        ] {
            journal.record(&entry).unwrap();
        }
        journal.close().unwrap();
        drop(journal);
        let history = Journal::read(&path).unwrap();
        let state = |email| history.state(AddressKey::of(email));
        assert_eq!(state("A@example.org"), Some(State::Sent));
        assert_eq!(state("b@example.org"), Some(State::Failed));
        assert_eq!(state("c@example.org"), Some(State::InDoubt));
        assert_eq!(state("d@example.org"), Some(State::Deferred));
        assert_eq!(state("e@example.org"), None);
        assert_eq!(history.sent_times, [at(1)]);
        let listed: Vec<&str> = history.listed().iter().map(|l| l.email.as_str()).collect();
        assert_eq!(listed, ["c@example.org", "b@example.org", "d@example.org"]);
    }

    #[test]
    fn a_durable_record_waits_for_a_sync_not_for_the_interval() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let data = |n: usize| Entry::Data {
            to: format!("r{n}@example.org"),
            id: format!("<{n}@example.org>"),
            t: at(0),
        };
        let started = std::time::Instant::now();
        runtime.block_on(async {
            // One at a time: a syncer that slept its interval first would need 3 s for these.
            for n in 0..30 {
                journal.record_durable(&data(n)).await.unwrap();
            }
            // Four at once, as four workers would: every one returns.
            let batch = [data(30), data(31), data(32), data(33)];
            let (a, b, c, d) = tokio::join!(
                journal.record_durable(&batch[0]),
                journal.record_durable(&batch[1]),
                journal.record_durable(&batch[2]),
                journal.record_durable(&batch[3]),
            );
            for result in [a, b, c, d] {
                result.unwrap();
            }
        });
        assert!(
            started.elapsed() < SYNC_INTERVAL * 10,
            "{:?}",
            started.elapsed()
        );
        drop(journal);
        let history = Journal::read(&path).unwrap();
        assert_eq!(history.count(State::InDoubt), 34);
    }

    #[test]
    fn a_second_run_is_locked_out() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (_journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        let error = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap_err();
        assert!(matches!(error, Error::JournalLocked { .. }), "{error}");
    }

    #[test]
    fn a_changed_issue_needs_a_choice() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        journal
            .record(&Entry::Sent {
                to: "a@example.org".into(),
                reply: "250".into(),
                t: at(0),
            })
            .unwrap();
        drop(journal);
        let error = Journal::open(&path, "issue", "h2", OnChange::Refuse).unwrap_err();
        assert!(matches!(error, Error::IssueChanged { .. }), "{error}");

        let (journal, history) = Journal::open(&path, "issue", "h2", OnChange::Continue).unwrap();
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
        assert_eq!(history.hash.as_deref(), Some("h2"));
        drop(journal);

        let (_journal, history) = Journal::open(&path, "issue", "h3", OnChange::StartOver).unwrap();
        assert_eq!(history.state(AddressKey::of("a@example.org")), None);
        let set_aside = fs::read_dir(folder.path())
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".old")
            })
            .count();
        assert_eq!(set_aside, 1);
    }

    #[test]
    fn a_changed_issue_needs_no_choice_when_nobody_was_attempted() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        journal
            .record(&Entry::Run {
                relay: "127.0.0.1:1025 (no TLS)".into(),
                t: at(0),
            })
            .unwrap();
        drop(journal);
        let (journal, history) = Journal::open(&path, "issue", "h2", OnChange::Refuse).unwrap();
        assert_eq!(history.hash.as_deref(), Some("h2"));
        drop(journal);
        assert_eq!(Journal::read(&path).unwrap().hash.as_deref(), Some("h2"));
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_damage_elsewhere_is_an_error() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let sent = String::from_utf8(line(&Entry::Sent {
            to: "a@example.org".into(),
            reply: "250".into(),
            t: at(0),
        }))
        .unwrap();
        fs::write(&path, format!("{sent}{{\"e\":\"sent\",\"to\":\"b@ex")).unwrap();
        let history = Journal::read(&path).unwrap();
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
        assert_eq!(history.state(AddressKey::of("b@example.org")), None);

        fs::write(&path, format!("garbage\n{sent}")).unwrap();
        let error = Journal::read(&path).unwrap_err();
        assert!(matches!(error, Error::JournalDamaged { ref location, .. } if location.line == 1));
    }

    #[test]
    fn runs_after_a_torn_last_line_append_cleanly() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        let sent = |to: &str| Entry::Sent {
            to: to.into(),
            reply: "250".into(),
            t: at(0),
        };
        journal.record(&sent("a@example.org")).unwrap();
        drop(journal);
        // A kill cut the next record short.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"e":"sent","to":"b@ex"#).unwrap();
        drop(file);
        // Two more runs: the second must not find the first run's records glued to the
        // fragment.
        for to in ["c@example.org", "d@example.org"] {
            let (journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
            journal.record(&sent(to)).unwrap();
        }
        let history = Journal::read(&path).unwrap();
        let state = |email| history.state(AddressKey::of(email));
        assert_eq!(state("a@example.org"), Some(State::Sent));
        assert_eq!(state("b@example.org"), None);
        assert_eq!(state("c@example.org"), Some(State::Sent));
        assert_eq!(state("d@example.org"), Some(State::Sent));
        assert!(!fs::read_to_string(&path).unwrap().contains("b@ex"));
    }

    #[test]
    fn a_last_record_without_its_newline_counts_and_gets_one() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        drop(journal);
        let mut text = fs::read(&path).unwrap();
        text.extend(line(&Entry::Sent {
            to: "a@example.org".into(),
            reply: "250".into(),
            t: at(0),
        }));
        text.pop();
        fs::write(&path, text).unwrap();
        let (journal, history) = Journal::open(&path, "issue", "h1", OnChange::Refuse).unwrap();
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
        journal
            .record(&Entry::Run {
                relay: "127.0.0.1:1025 (no TLS)".into(),
                t: at(1),
            })
            .unwrap();
        drop(journal);
        let history = Journal::read(&path).unwrap();
        assert_eq!(history.runs, 1);
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
    }
}
