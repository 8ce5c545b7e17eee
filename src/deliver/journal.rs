//! The send journal: an append-only record, one JSON object per line, of what happened to each
//! recipient of an issue, so that a rerun of `send` continues where the last one stopped and
//! never mails anyone twice.
//!
//! ```text
//! {"e":"open","n":"000000000015","v":2,"issue":"2019-06-uk-sg-mou","hash":"…","t":"…"}
//! {"e":"run","relay":"a.example.org:587 (STARTTLS), b.example.org:587 (STARTTLS)","relays":["a.example.org:587","b.example.org:587"],"t":"…"}
//! {"e":"data","to":"zoe@example.org","id":"<…@example.org>","t":"…"}
//! {"e":"sent","to":"zoe@example.org","reply":"250 2.0.0 Ok: queued","relay":"a.example.org:587","t":"…"}
//! {"e":"failed","to":"x@example.org","reply":"550 5.1.1 User unknown","relay":"a.example.org:587","t":"…"}
//! {"e":"deferred","to":"y@example.org","reply":"451 4.3.0 Try again later","relay":"b.example.org:587","t":"…"}
//! {"e":"doubt","to":"w@example.org","error":"connection reset","relay":"a.example.org:587","t":"…"}
//! {"e":"unsent","to":"v@example.org","t":"…"}
//! ```
//!
//! Outcome records name the relay (`host:port`, never credentials) that took the last attempt;
//! `relays` lists every relay of a run with several; a `data` record names its relay when it is
//! written at a retry (one written ahead, before a connection took the message, cannot).
//! Journals of earlier versions have none of these, and are read all the same.
//!
//! A `data` record is written before a message body may go, and the body is sent only once
//! the record is on disk (written, then `fdatasync`: [`Journal::record_durable`], or
//! [`Journal::record_ahead`] and later [`Durable::on_disk`], which the engine uses to write the
//! record as the message is handed to a connection, so that the sync overlaps the message
//! before it). So after a crash or a power cut, an address with a `data` record and no
//! outcome is *in doubt*: the server may or may not have the message. An address with no
//! `data` record was certainly not delivered. An `unsent` record takes back the `data` record
//! before it when the body never went (the run stopped first): the address is then back where
//! it was. Syncs are shared (group commit): a sync thread
//! syncs everything written so far as soon as one writer waits, and wakes every writer whose
//! record that sync covered; writers that arrive during a sync share the next one. Outcome and
//! other records ([`Journal::record`]) reach the operating system at once, so a killed process
//! loses nothing, and the disk within [`SYNC_INTERVAL`], so a power cut can lose the outcomes
//! of that last stretch: their recipients are then in doubt, which is safe. A record cut short
//! (a write can stop part way when the process is killed or the disk fills) is the last line:
//! replay ignores it, and the next run cuts it off before appending.
//!
//! The header's `n` counts the records after it that are on disk: the sync thread rewrites its
//! fixed-width digits in place after a sync (at most once per [`SYNC_INTERVAL`], and at the
//! end), never before the records it counts are synced. So the file holds at least `n` records
//! even after a power cut, and a journal with fewer has lost its end (a truncated copy, an old
//! backup put back): opening it fails with [`Error::JournalTailLost`] unless the user accepts
//! the loss, instead of mailing everyone after the cut again. A file that does not start with
//! a header is not a journal and is neither cut nor appended to.

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, BufRead, BufReader, Write},
    os::unix::fs::{FileExt, MetadataExt},
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    error::Error,
    input::location::Location,
    input::subscribers::AddressKey,
    output_file::{self, Protected},
};

/// How often records nobody waits for (outcomes, runs) are synced to disk.
pub(crate) const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Version 2 added the record count `n` to the header; version 1 journals are still read
/// and appended to, without the lost-tail check.
const FORMAT_VERSION: u32 = 2;

/// How every journal starts: its header, the `open` record. A file that does not start so is
/// not a journal, and nothing in it is cut or appended to.
const HEADER_START: &[u8] = br#"{"e":"open","#;
/// A version 2 header starts so; the record count's digits follow, and the sync thread
/// rewrites them in place.
const COUNT_PREFIX: &[u8] = br#"{"e":"open","n":""#;
const COUNT_AT: u64 = COUNT_PREFIX.len() as u64;
const COUNT_DIGITS: usize = 12;

/// `n` as the header's count: [`COUNT_DIGITS`] digits, zero-padded.
fn count_digits(n: u64) -> String {
    format!("{n:012}")
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "lowercase")]
pub(crate) enum Entry {
    Open {
        /// How many records follow this header and were on disk when it was last updated,
        /// zero-padded so that it can be rewritten in place (version 2 on).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        n: Option<String>,
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
        /// Every relay of the run (`host:port`), when there are several.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        relays: Vec<String>,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Data {
        to: String,
        id: String,
        /// The relay (`host:port`) that took it; absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Sent {
        to: String,
        reply: String,
        /// The relay (`host:port`) that took it; absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Failed {
        to: String,
        reply: String,
        /// The relay (`host:port`) that took it; absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    Deferred {
        to: String,
        reply: String,
        /// The relay (`host:port`) that took it; absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    /// The `data` record just before for this address was written ahead of its turn (see
    /// [`Journal::record_ahead`]) and its body was never sent: the run stopped first. The
    /// address is back where it was before that record.
    Unsent {
        to: String,
        #[serde(with = "time::serde::rfc3339")]
        t: OffsetDateTime,
    },
    /// Perhaps delivered: the body may have reached the relay but no reply to it came. Written
    /// `"e":"doubt"` in the file, as journals of earlier versions have it.
    #[serde(rename = "doubt")]
    InDoubt {
        to: String,
        error: String,
        /// The relay (`host:port`) that took it; absent in journals of earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relay: Option<String>,
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

/// What an address was before a `data` record: its state, its listing and its relay.
type BeforeData = (Option<State>, Option<Listed>, Option<String>);

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
    /// The relay of each recipient's last record that names one.
    relays: HashMap<AddressKey, String>,
    /// What each address with a `data` record and no outcome yet was before that record, so
    /// that an `unsent` record can put it back.
    before_data: HashMap<AddressKey, BeforeData>,
}

impl History {
    /// Whether no recipient was attempted at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The history a `--start-over` run begins from: nobody sent yet, but the earlier sends
    /// still count toward a cap.
    pub(crate) fn started_over(self) -> History {
        History {
            sent_times: self.sent_times,
            ..History::default()
        }
    }

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

    /// How many recipients each relay took, by state, for relays the journal names (journals
    /// of earlier versions name none): `(relay, state, count)`, sorted.
    pub(crate) fn by_relay(&self) -> Vec<(String, State, usize)> {
        let mut counts: std::collections::BTreeMap<(String, u8), (State, usize)> =
            std::collections::BTreeMap::new();
        for (key, relay) in &self.relays {
            let Some(state) = self.states.get(key) else {
                continue;
            };
            let order = match state {
                State::Sent => 0,
                State::Failed => 1,
                State::Deferred => 2,
                State::InDoubt => 3,
            };
            counts
                .entry((relay.clone(), order))
                .or_insert((*state, 0))
                .1 += 1;
        }
        counts
            .into_iter()
            .map(|((relay, _), (state, count))| (relay, state, count))
            .collect()
    }

    fn apply(&mut self, entry: Entry) {
        match &entry {
            // A new run: a `data` record an earlier run left without an outcome (a kill, a
            // power cut) stays in doubt for good; no `unsent` of this run may take it back.
            Entry::Run { .. } => self.before_data.clear(),
            Entry::Data { to, .. } => {
                // Kept from the first of several `data` records of this run (a retry writes
                // another).
                let key = AddressKey::of(to);
                let before = (
                    self.states.get(&key).copied(),
                    self.listed.get(&key).cloned(),
                    self.relays.get(&key).cloned(),
                );
                self.before_data.entry(key).or_insert(before);
            }
            Entry::Unsent { to, .. } => {
                let key = AddressKey::of(to);
                if let Some((state, listed, relay)) = self.before_data.remove(&key) {
                    match state {
                        Some(state) => self.states.insert(key, state),
                        None => self.states.remove(&key),
                    };
                    match listed {
                        Some(listed) => self.listed.insert(key, listed),
                        None => self.listed.remove(&key),
                    };
                    match relay {
                        Some(relay) => self.relays.insert(key, relay),
                        None => self.relays.remove(&key),
                    };
                }
                return;
            }
            Entry::Sent { to, .. }
            | Entry::Failed { to, .. }
            | Entry::Deferred { to, .. }
            | Entry::InDoubt { to, .. } => {
                self.before_data.remove(&AddressKey::of(to));
            }
            Entry::Open { .. } | Entry::Changed { .. } => {}
        }
        // The relay of each address's last record: an outcome names the relay that took the
        // last attempt; a `data` record written ahead of its turn (before a connection took
        // the message) and the records of earlier versions name none, so the relay of that
        // address is not known.
        let relay = match &entry {
            Entry::Data { to, relay, .. }
            | Entry::Sent { to, relay, .. }
            | Entry::Failed { to, relay, .. }
            | Entry::Deferred { to, relay, .. }
            | Entry::InDoubt { to, relay, .. } => Some((AddressKey::of(to), relay.clone())),
            _ => None,
        };
        match relay {
            Some((key, Some(relay))) => {
                self.relays.insert(key, relay);
            }
            Some((key, None)) => {
                self.relays.remove(&key);
            }
            None => {}
        }
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
                    "the message may have been sent; no reply to it was recorded".into(),
                    t,
                );
            }
            Entry::Sent { to, reply, t, .. } => {
                self.sent_times.push(t);
                mark(to, State::Sent, reply, t);
            }
            Entry::Failed { to, reply, t, .. } => mark(to, State::Failed, reply, t),
            Entry::Deferred { to, reply, t, .. } => mark(to, State::Deferred, reply, t),
            Entry::InDoubt { to, error, t, .. } => mark(to, State::InDoubt, error, t),
            Entry::Unsent { .. } => {}
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
        let replayed = replay(path, &file)?;
        check_count(path, replayed.counted, replayed.records, false)?;
        Ok(replayed.history)
    }

    /// Reads what is recorded at `path` ahead of a send that opens it once confirmed (so a
    /// send refused or cancelled at the prompt leaves no journal): refused as [`Journal::open`]
    /// refuses it (a symbolic link, a file the run reads, a file that is not a journal), and a
    /// lost tail accepted when `accept_lost_tail` says so.
    pub(crate) fn read_before_open(
        path: &Path,
        accept_lost_tail: bool,
        protected: &Protected,
    ) -> Result<History, Error> {
        let file = output_file::open_no_follow(path, OpenOptions::new().read(true))?;
        protected.check(path, &file)?;
        let replayed = replay(path, &file)?;
        // Refused here if not accepted; accepted, the note comes once, from `open`.
        if !accept_lost_tail {
            check_count(path, replayed.counted, replayed.records, false)?;
        }
        Ok(replayed.history)
    }

    /// Opens (or creates) the journal for the issue `slug` whose content hash is `hash`, and
    /// returns what earlier runs recorded. A symbolic link at `path`, a protected file (one the
    /// run reads) and a file that is not a journal are refused before anything is written.
    /// `accept_lost_tail` goes on although records the header counts are missing.
    pub(crate) fn open(
        path: &Path,
        slug: &str,
        hash: &str,
        on_change: OnChange,
        accept_lost_tail: bool,
        protected: &Protected,
    ) -> Result<(Journal, History), Error> {
        let write_error = |source| Error::JournalWrite {
            path: path.to_owned(),
            source,
        };
        let file = lock(path, protected)?;
        let Replayed {
            mut history,
            tail,
            records,
            counted,
        } = replay(path, &file)?;
        check_count(path, counted, records, accept_lost_tail)?;
        let header = if counted.is_some() || history.hash.is_none() {
            Some(header_writer(path, &file)?)
        } else {
            None
        };
        let mut file = file;
        match tail {
            Tail::Clean => {}
            Tail::Unterminated => file.write_all(b"\n").map_err(write_error)?,
            Tail::Torn(start) => file.set_len(start).map_err(write_error)?,
        }
        let mut first = Vec::new();
        match history.hash.as_deref() {
            None => first.push(Entry::Open {
                n: Some(count_digits(0)),
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
                    drop(header);
                    let aside = set_aside(path)?;
                    let (journal, history) =
                        Journal::open(path, slug, hash, OnChange::Refuse, false, protected)?;
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
        // Every line after the header is a record, the header itself is not.
        let added = first
            .iter()
            .filter(|entry| !matches!(entry, Entry::Open { .. }))
            .count() as u64;
        let sync = Arc::new(Sync {
            state: Mutex::new(SyncState {
                written: records + added,
                ..SyncState::default()
            }),
            wake: Condvar::new(),
            synced: tokio::sync::watch::Sender::new(Synced::default()),
        });
        let syncer = spawn_syncer(
            file.try_clone().map_err(write_error)?,
            header,
            Arc::clone(&sync),
        );
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
        self.record_ahead(entry)?.on_disk().await
    }

    /// Appends `entry` and asks for it to be synced at once, without waiting: the sync runs
    /// while the caller does something else, and [`Durable::on_disk`] waits for it later
    /// (usually not at all by then).
    pub(crate) fn record_ahead(&self, entry: &Entry) -> Result<Durable, Error> {
        let number = self.write(entry)?;
        // Subscribed before the sync is asked for, so that its news cannot be missed.
        let synced = self.sync.synced.subscribe();
        {
            let mut state = self.sync.state();
            state.wanted = state.wanted.max(number);
        }
        self.sync.wake.notify_one();
        Ok(Durable {
            number,
            synced,
            path: self.path.clone(),
        })
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

/// Fails when the header counts more records than the file holds (its end was lost), unless
/// the user accepted that.
fn check_count(
    path: &Path,
    counted: Option<u64>,
    records: u64,
    accept_lost_tail: bool,
) -> Result<(), Error> {
    let Some(counted) = counted.filter(|counted| *counted > records) else {
        return Ok(());
    };
    if !accept_lost_tail {
        return Err(Error::JournalTailLost {
            path: path.to_owned(),
            recorded: counted,
            found: records,
        });
    }
    eprintln!(
        "note: `{}` lost {} record(s) at its end; going on from the {records} that are there",
        path.display(),
        counted - records
    );
    Ok(())
}

/// Opens the journal at `path` for appending, refusing a symbolic link or a protected file,
/// and takes its lock.
fn lock(path: &Path, protected: &Protected) -> Result<File, Error> {
    let write_error = |source| Error::JournalWrite {
        path: path.to_owned(),
        source,
    };
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(folder).map_err(write_error)?;
    }
    let file = output_file::open_no_follow(
        path,
        OpenOptions::new().read(true).append(true).create(true),
    )?;
    protected.check(path, &file)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::JournalLocked {
            path: path.to_owned(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(write_error(source)),
    }
}

/// A second descriptor of the journal `file`, for rewriting the count in its header in place:
/// it must be opened without `O_APPEND` (on Linux, a positioned write to an `O_APPEND` file
/// appends), and it must be the same file.
fn header_writer(path: &Path, file: &File) -> Result<File, Error> {
    let write_error = |source| Error::JournalWrite {
        path: path.to_owned(),
        source,
    };
    let header = output_file::open_no_follow(path, OpenOptions::new().write(true))?;
    let (a, b) = (
        file.metadata().map_err(write_error)?,
        header.metadata().map_err(write_error)?,
    );
    if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
        return Err(write_error(io::Error::other(
            "the journal was replaced while it was being opened",
        )));
    }
    Ok(header)
}

/// A record written with [`Journal::record_ahead`], on its way to the disk.
#[derive(Debug)]
pub(crate) struct Durable {
    number: u64,
    synced: tokio::sync::watch::Receiver<Synced>,
    path: PathBuf,
}

impl Durable {
    /// Returns once the record is on disk, or with the error that kept it from getting there.
    pub(crate) async fn on_disk(mut self) -> Result<(), Error> {
        let number = self.number;
        let outcome = self
            .synced
            .wait_for(|synced| synced.failed.is_some() || synced.upto >= number)
            .await
            .map(|synced| synced.clone());
        match outcome {
            Ok(Synced { failed: None, .. }) => Ok(()),
            Ok(Synced {
                failed: Some((kind, message)),
                ..
            }) => Err(Error::JournalWrite {
                path: self.path,
                source: io::Error::new(kind, message),
            }),
            Err(_) => Err(Error::JournalWrite {
                path: self.path,
                source: io::Error::other("the journal was closed before the record was synced"),
            }),
        }
    }
}

/// The sync thread. It syncs at once when somebody waits for a record, taking along whatever
/// else was written by then (group commit), and otherwise within [`SYNC_INTERVAL`] of a write.
/// After a sync (at most once an interval, and at the end) it writes the number of records
/// synced into the header (`header`, for a version 2 journal), so that a journal which later
/// loses its end is caught: the header then counts more records than the file holds. The count is written only once the records it
/// counts are on disk, so a power cut leaves it at most equal to what is there.
fn spawn_syncer(file: File, header: Option<File>, sync: Arc<Sync>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut synced = 0;
        let mut counted_at = None;
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
                    fail(&sync, &error);
                    return;
                }
                synced = target;
                sync.synced.send_modify(|done| done.upto = target);
                // The count is rewritten at most once an interval (and at the end), so that
                // most syncs flush only the appended page, not the header's as well.
                let due = counted_at.is_none_or(|at: Instant| at.elapsed() >= SYNC_INTERVAL);
                if let Some(header) = header.as_ref().filter(|_| due || stop) {
                    if let Err(error) =
                        header.write_all_at(count_digits(target).as_bytes(), COUNT_AT)
                    {
                        fail(&sync, &error);
                        return;
                    }
                    counted_at = Some(Instant::now());
                }
            }
            if stop {
                return;
            }
        }
    })
}

/// Tells every waiter, now and later, that syncing failed.
fn fail(sync: &Sync, error: &io::Error) {
    sync.synced.send_modify(|synced| {
        synced.failed = Some((error.kind(), error.to_string()));
    });
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

/// What [`replay`] found.
struct Replayed {
    history: History,
    tail: Tail,
    /// Complete records after the header.
    records: u64,
    /// The record count of a version 2 header.
    counted: Option<u64>,
}

/// Reads every record. A last line cut short by a crash is ignored; a damaged line elsewhere
/// is an error, since skipping it could mail someone twice. A file that does not start with a
/// journal header is refused whole: it is somebody else's file.
fn replay(path: &Path, file: &File) -> Result<Replayed, Error> {
    let read_error = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let mut history = History::default();
    let mut tail = Tail::Clean;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut records = 0u64;
    let mut counted = None;
    {
        let start = reader.fill_buf().map_err(read_error)?;
        let length = start.len().min(HEADER_START.len());
        if !start.is_empty() && start[..length] != HEADER_START[..length] {
            return Err(Error::JournalForeign {
                path: path.to_owned(),
            });
        }
    }
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
            Ok(entry) => {
                if index == 0 {
                    counted = header_count(&line, &entry);
                } else {
                    records += 1;
                }
                history.apply(entry);
            }
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
    Ok(Replayed {
        history,
        tail,
        records,
        counted,
    })
}

/// The record count of a version 2 header, when its digits are where the sync thread writes
/// them.
fn header_count(line: &[u8], entry: &Entry) -> Option<u64> {
    let Entry::Open { n: Some(n), .. } = entry else {
        return None;
    };
    let at_its_place = line.starts_with(COUNT_PREFIX)
        && n.len() == COUNT_DIGITS
        && n.bytes().all(|b| b.is_ascii_digit());
    at_its_place.then(|| n.parse().ok()).flatten()
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
        let (journal, history) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        assert_eq!(history.runs, 0);
        let data = |to: &str| Entry::Data {
            to: to.into(),
            id: "<id>".into(),
            relay: None,
            t: at(0),
        };
        for entry in [
            data("a@example.org"),
            Entry::Sent {
                to: "a@example.org".into(),
                reply: "250 ok".into(),
                relay: None,
                t: at(1),
            },
            data("b@example.org"),
            Entry::Failed {
                to: "b@example.org".into(),
                reply: "550 no".into(),
                relay: None,
                t: at(2),
            },
            data("c@example.org"),
            Entry::Deferred {
                to: "d@example.org".into(),
                reply: "451 later".into(),
                relay: None,
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
    fn an_unsent_record_takes_back_the_data_record_written_ahead() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        let data = |to: &str| Entry::Data {
            to: to.into(),
            id: "<id>".into(),
            relay: None,
            t: at(0),
        };
        let unsent = |to: &str| Entry::Unsent {
            to: to.into(),
            t: at(1),
        };
        let deferred = Entry::Deferred {
            to: "b@example.org".into(),
            reply: "451 later".into(),
            relay: None,
            t: at(0),
        };
        let run = || Entry::Run {
            relay: "127.0.0.1:1025 (no TLS)".into(),
            relays: Vec::new(),
            t: at(0),
        };
        // a: never attempted before; b: deferred by an earlier run; c: a retry wrote a second
        // `data` record; d: written ahead and left so (a kill): in doubt; e: left in doubt by
        // a killed run, then written ahead again by a run with `--resend-in-doubt` that
        // stopped before its body: still in doubt, since the first run may have sent it.
        for entry in [
            run(),
            data("e@example.org"),
            deferred,
            run(),
            data("a@example.org"),
            data("b@example.org"),
            data("c@example.org"),
            data("c@example.org"),
            data("d@example.org"),
            data("e@example.org"),
            unsent("a@example.org"),
            unsent("b@example.org"),
            unsent("c@example.org"),
            unsent("e@example.org"),
        ] {
            journal.record(&entry).unwrap();
        }
        journal.close().unwrap();
        drop(journal);
        let history = Journal::read(&path).unwrap();
        let state = |email| history.state(AddressKey::of(email));
        assert_eq!(state("a@example.org"), None);
        assert_eq!(state("b@example.org"), Some(State::Deferred));
        assert_eq!(state("c@example.org"), None);
        assert_eq!(state("d@example.org"), Some(State::InDoubt));
        assert_eq!(state("e@example.org"), Some(State::InDoubt));
        let listed: Vec<(&str, &str)> = history
            .listed()
            .iter()
            .map(|l| (l.email.as_str(), l.detail.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("b@example.org", "451 later"),
                (
                    "d@example.org",
                    "the message may have been sent; no reply to it was recorded"
                ),
                (
                    "e@example.org",
                    "the message may have been sent; no reply to it was recorded"
                )
            ]
        );
    }

    #[test]
    fn a_durable_record_waits_for_a_sync_not_for_the_interval() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let data = |n: usize| Entry::Data {
            to: format!("r{n}@example.org"),
            id: format!("<{n}@example.org>"),
            relay: None,
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
        let (_journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        let error = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap_err();
        assert!(matches!(error, Error::JournalLocked { .. }), "{error}");
    }

    #[test]
    fn a_changed_issue_needs_a_choice() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        journal
            .record(&Entry::Sent {
                to: "a@example.org".into(),
                reply: "250".into(),
                relay: None,
                t: at(0),
            })
            .unwrap();
        drop(journal);
        let error = Journal::open(
            &path,
            "issue",
            "h2",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap_err();
        assert!(matches!(error, Error::IssueChanged { .. }), "{error}");

        let (journal, history) = Journal::open(
            &path,
            "issue",
            "h2",
            OnChange::Continue,
            false,
            &Protected::default(),
        )
        .unwrap();
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
        assert_eq!(history.hash.as_deref(), Some("h2"));
        drop(journal);

        let (_journal, history) = Journal::open(
            &path,
            "issue",
            "h3",
            OnChange::StartOver,
            false,
            &Protected::default(),
        )
        .unwrap();
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
        let (journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        journal
            .record(&Entry::Run {
                relay: "127.0.0.1:1025 (no TLS)".into(),
                relays: Vec::new(),
                t: at(0),
            })
            .unwrap();
        drop(journal);
        let (journal, history) = Journal::open(
            &path,
            "issue",
            "h2",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
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
            relay: None,
            t: at(0),
        }))
        .unwrap();
        let header = String::from_utf8(line(&Entry::Open {
            n: None,
            v: 1,
            issue: "issue".into(),
            hash: "h1".into(),
            t: at(0),
        }))
        .unwrap();
        fs::write(
            &path,
            format!("{header}{sent}{{\"e\":\"sent\",\"to\":\"b@ex"),
        )
        .unwrap();
        let history = Journal::read(&path).unwrap();
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
        assert_eq!(history.state(AddressKey::of("b@example.org")), None);

        fs::write(&path, format!("{header}garbage\n{sent}")).unwrap();
        let error = Journal::read(&path).unwrap_err();
        assert!(matches!(error, Error::JournalDamaged { ref location, .. } if location.line == 2));
    }

    fn open(path: &Path) -> Result<(Journal, History), Error> {
        Journal::open(
            path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
    }

    fn sent(to: &str) -> Entry {
        Entry::Sent {
            to: to.into(),
            reply: "250".into(),
            relay: None,
            t: at(0),
        }
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_neither_cut_nor_appended_to() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("subscribers.csv");
        // Its last line has no newline, so it would look like a torn record.
        let csv = "email,name\nzoe@example.org,Zoë";
        fs::write(&path, csv).unwrap();
        let error = open(&path).unwrap_err();
        assert!(matches!(error, Error::JournalForeign { .. }), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), csv);
        let error = Journal::read(&path).unwrap_err();
        assert!(matches!(error, Error::JournalForeign { .. }), "{error}");
    }

    #[test]
    fn a_journal_that_is_a_symlink_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let target = folder.path().join("elsewhere.txt");
        let link = folder.path().join("issue.journal");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = open(&link).unwrap_err();
        assert!(matches!(error, Error::OutputSymlink { .. }), "{error}");
        assert!(!target.exists());
    }

    #[test]
    fn an_input_file_is_not_taken_for_the_journal() {
        let folder = tempfile::tempdir().unwrap();
        // Empty, so it would pass for a new journal.
        let path = folder.path().join("suppression.csv");
        fs::write(&path, "").unwrap();
        let error = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::new([path.as_path()]),
        )
        .unwrap_err();
        assert!(matches!(error, Error::OutputIsInput { .. }), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
    }

    #[test]
    fn a_journal_that_lost_its_end_stops_the_run_until_accepted() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = open(&path).unwrap();
        for n in 0..10 {
            journal.record(&sent(&format!("r{n}@example.org"))).unwrap();
        }
        drop(journal);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(r#"{"e":"open","n":"000000000010","v":2,"#),
            "{text}"
        );
        // Cut at a line boundary after the header and four records.
        let kept: String = text.split_inclusive('\n').take(5).collect();
        fs::write(&path, &kept).unwrap();

        let error = open(&path).unwrap_err();
        assert!(
            matches!(
                error,
                Error::JournalTailLost {
                    recorded: 10,
                    found: 4,
                    ..
                }
            ),
            "{error}"
        );
        assert!(matches!(
            Journal::read(&path).unwrap_err(),
            Error::JournalTailLost { .. }
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), kept, "nothing written");

        let (journal, history) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            true,
            &Protected::default(),
        )
        .unwrap();
        assert_eq!(history.count(State::Sent), 4);
        journal.record(&sent("new@example.org")).unwrap();
        drop(journal);
        // Accepted once: the header now counts what is there, and the next run is clean.
        let (_journal, history) = open(&path).unwrap();
        assert_eq!(history.count(State::Sent), 5);
    }

    #[test]
    fn the_header_count_follows_the_records_on_disk() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = open(&path).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(journal.record_durable(&sent("a@example.org")))
            .unwrap();
        // The count is written right after the sync that covered the record.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = fs::read_to_string(&path).unwrap();
            if text.starts_with(r#"{"e":"open","n":"000000000001","#) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn runs_after_a_torn_last_line_append_cleanly() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("issue.journal");
        let (journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        let sent = |to: &str| Entry::Sent {
            to: to.into(),
            reply: "250".into(),
            relay: None,
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
            let (journal, _) = Journal::open(
                &path,
                "issue",
                "h1",
                OnChange::Refuse,
                false,
                &Protected::default(),
            )
            .unwrap();
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
        let (journal, _) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        drop(journal);
        let mut text = fs::read(&path).unwrap();
        text.extend(line(&Entry::Sent {
            to: "a@example.org".into(),
            reply: "250".into(),
            relay: None,
            t: at(0),
        }));
        text.pop();
        fs::write(&path, text).unwrap();
        let (journal, history) = Journal::open(
            &path,
            "issue",
            "h1",
            OnChange::Refuse,
            false,
            &Protected::default(),
        )
        .unwrap();
        assert_eq!(
            history.state(AddressKey::of("a@example.org")),
            Some(State::Sent)
        );
        journal
            .record(&Entry::Run {
                relay: "127.0.0.1:1025 (no TLS)".into(),
                relays: Vec::new(),
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

    #[test]
    fn counts_by_relay_come_from_the_last_record_and_records_without_a_relay_still_read() {
        let mut history = History::default();
        for line in [
            r#"{"e":"sent","to":"a@example.org","reply":"250","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"e":"sent","to":"b@example.org","reply":"250","relay":"r1:25","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"e":"data","to":"c@example.org","id":"<c@x>","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"e":"doubt","to":"c@example.org","error":"reset","relay":"r2:25","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"e":"deferred","to":"d@example.org","reply":"451","relay":"r2:25","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"e":"sent","to":"e@example.org","reply":"250","relay":"r2:25","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"e":"data","to":"d@example.org","id":"<d@x>","t":"2026-01-01T00:00:00Z"}"#,
        ] {
            history.apply(serde_json::from_str(line).unwrap());
        }
        assert_eq!(history.count(State::Sent), 3);
        assert_eq!(
            history.by_relay(),
            [
                ("r1:25".to_owned(), State::Sent, 1),
                ("r2:25".to_owned(), State::Sent, 1),
                ("r2:25".to_owned(), State::InDoubt, 1),
            ]
        );
    }
}
