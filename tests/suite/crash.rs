//! The crash test: a real send to thousands of subscribers through the capture server, killed
//! with SIGKILL at random points and resumed from its journal each time, must in the end have
//! mailed everyone at least once, and nobody twice unless the journal had said they were in
//! doubt.
//!
//! Each run but the last is killed once the server has received a random number of further
//! messages. After each kill, `newsletter status` must work and list as in doubt exactly the
//! addresses the journal leaves in doubt (a `data` record and no outcome), and the next run,
//! without `--resend-in-doubt`, must send them nothing. The last run adds `--resend-in-doubt`
//! and must finish the list.
//!
//! Two kill points are too narrow to hit by chance, so after the first kill the journal is made
//! to end as they would leave it: with a complete `data` record for the next recipient, as if
//! the kill came between that record and the message body (so that recipient is in doubt but
//! the server never got the message; the runs after must skip it and the last one send it once),
//! then the start of a record, as if the kill had cut a write short (every later run and
//! `status` must read past it).
//!
//! Then, from what the server received (each message is attributed to a run by the number of the
//! SMTP connection that carried it):
//! - every subscriber got the message at least once;
//! - at most concurrency × kills subscribers (the deliveries that can be in flight at the kills)
//!   got it twice, none more often, and each of them was listed in doubt before the last run;
//! - no run sent to anyone the journal had as sent or, before the last run, in doubt;
//! - every message the server got has a `data` record with its Message-ID, and no address is
//!   recorded `sent` twice.
//!
//! Settings, read from the environment of the test process (not passed to `newsletter`):
//! - `NEWSLETTER_CRASH_RECIPIENTS`: subscribers on the list, default 2000;
//! - `NEWSLETTER_CRASH_KILLS`: runs killed before the last one, default 4;
//! - `NEWSLETTER_CRASH_SEED`: the seed of the kill points, random by default. The seed and the
//!   numbers of the run are printed (shown with `--nocapture`, and with any failure).
//!
//! `tests/crash.sh` runs only this test, with 20,000 subscribers and 20 kills.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::{Display, Write as _},
    fs::{self, File, OpenOptions},
    io::Write as _,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    str::FromStr,
    thread,
    time::{Duration, Instant},
};

use serde::Deserialize;

use crate::{
    harness::{Output, Test, UNSUBSCRIBE_KEY},
    smtp_server::CaptureServer,
};

const ISSUE: &str = "issue.yaml";
const SUBSCRIBERS: &str = "crash.csv";
const JOURNAL: &str = "crash.journal";
const CONCURRENCY: usize = 4;
/// How often the server's message count is read while a run waits to be killed.
const POLL: Duration = Duration::from_millis(5);
/// What the journal is left ending with after the first kill: the start of a record whose
/// write the kill cut short (so its message was never sent).
const FRAGMENT: &str = r#"{"e":"data","to":"reader"#;
/// The Message-ID of the `data` record added after the first kill.
const SIMULATED_ID: &str = "<simulated-kill@crash.test>";
/// The end of the note a run or `status` prints about a torn last journal line.
const TORN_NOTE: &str = "was cut short (the last run was interrupted); it is ignored";
const SIGKILL: i32 = 9;
/// `newsletter status` of the crash issue.
const STATUS: [&str; 6] = [
    "status",
    ISSUE,
    "--subscribers",
    SUBSCRIBERS,
    "--journal",
    JOURNAL,
];

struct Settings {
    recipients: usize,
    kills: usize,
    seed: u64,
}

impl Settings {
    fn from_env() -> Settings {
        let settings = Settings {
            recipients: setting("NEWSLETTER_CRASH_RECIPIENTS").unwrap_or(2000),
            kills: setting("NEWSLETTER_CRASH_KILLS").unwrap_or(4),
            seed: setting("NEWSLETTER_CRASH_SEED").unwrap_or_else(|| fastrand::u64(..)),
        };
        // Each killed run sends about recipients / (kills + 1) at most; with fewer than 100 a
        // run could finish before the test gets to kill it.
        assert!(
            settings.kills >= 1 && settings.recipients >= 100 * (settings.kills + 1),
            "the crash test needs at least one kill and 100 subscribers per run"
        );
        settings
    }

    /// How long one run may take from its start to its exit or kill: generous, for a busy
    /// machine (a run sends some 800 messages a second on two shared cores).
    fn run_timeout(&self) -> Duration {
        Duration::from_mins(1)
            + Duration::from_millis(20) * u32::try_from(self.recipients).unwrap_or(u32::MAX)
    }
}

fn setting<T: FromStr>(name: &str) -> Option<T>
where
    T::Err: Display,
{
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|error| panic!("{name}={value}: {error}")),
    )
}

fn address(index: usize) -> String {
    format!("reader{index:06}@example.org")
}

/// The `newsletter` binary run in the test folder with the harness's scrubbed environment, as
/// child processes the test can kill.
struct Newsletter {
    folder: PathBuf,
    timeout: Duration,
}

/// A started run, with its output going to files in the test folder (a pipe nobody reads while
/// the run goes on could fill up and stall it).
struct Running {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    started: Instant,
    timeout: Duration,
}

/// How a run ended.
struct Finished {
    name: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Newsletter {
    fn spawn(&self, name: &str, args: &[&str]) -> Running {
        let stdout = self.folder.join(format!("{name}.stdout"));
        let stderr = self.folder.join(format!("{name}.stderr"));
        let create = |path: &Path| {
            File::create(path)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()))
        };
        let child = Command::new(env!("CARGO_BIN_EXE_newsletter"))
            .args(args)
            .current_dir(&self.folder)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.folder)
            .env("NEWSLETTER_UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY)
            .stdin(Stdio::null())
            .stdout(create(&stdout))
            .stderr(create(&stderr))
            .spawn()
            .expect("cannot run the newsletter binary");
        Running {
            name: name.to_owned(),
            child,
            stdout,
            stderr,
            started: Instant::now(),
            timeout: self.timeout,
        }
    }

    /// `newsletter status` of the crash issue, which must succeed.
    fn status(&self, name: &str) -> (Status, Finished) {
        let finished = self.spawn(name, &STATUS).wait();
        assert_eq!(finished.status.code(), Some(0), "{finished}");
        (Status::parse(&finished.stdout), finished)
    }
}

impl Running {
    /// Whether the run has ended; panics (after killing it) once it has taken too long.
    fn ended(&mut self) -> Option<ExitStatus> {
        let status = self
            .child
            .try_wait()
            .unwrap_or_else(|error| panic!("cannot wait for {}: {error}", self.name));
        if status.is_none() && self.started.elapsed() > self.timeout {
            let _ = self.child.kill();
            let status = self.child.wait().ok();
            panic!(
                "{} took more than {} s; killed\n{}",
                self.name,
                self.timeout.as_secs(),
                self.finished(status)
            );
        }
        status
    }

    fn wait(mut self) -> Finished {
        loop {
            if let Some(status) = self.ended() {
                return self.finished(Some(status));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL, and the proof that it was the kill that ended the run.
    fn kill(mut self) -> Finished {
        if let Some(status) = self.ended() {
            panic!(
                "{} ended by itself before it was killed\n{}",
                self.name,
                self.finished(Some(status))
            );
        }
        self.child
            .kill()
            .unwrap_or_else(|error| panic!("cannot kill {}: {error}", self.name));
        let finished = self.wait();
        assert_eq!(
            finished.status.signal(),
            Some(SIGKILL),
            "{} was not ended by the kill\n{finished}",
            finished.name
        );
        finished
    }

    fn finished(&self, status: Option<ExitStatus>) -> Finished {
        let read = |path: &Path| fs::read_to_string(path).unwrap_or_default();
        Finished {
            name: self.name.clone(),
            status: status.unwrap_or_default(),
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }
}

impl Drop for Running {
    /// A run still going when the test fails is not left behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- {} ({}) stdout ---\n{}--- stderr ---\n{}--- end ---",
            self.name, self.status, self.stdout, self.stderr
        )
    }
}

impl Finished {
    /// Checks that stderr holds nothing but notes about a torn last journal line, and at least
    /// one if `torn`.
    fn stderr_only_torn_notes(&self, torn: bool) {
        let mut notes = 0;
        for line in self.stderr.lines() {
            assert!(
                line.starts_with(&format!("note: `{JOURNAL}` line ")) && line.ends_with(TORN_NOTE),
                "{}: unexpected stderr\n{self}",
                self.name
            );
            notes += 1;
        }
        assert!(
            !torn || notes > 0,
            "{}: no note about the torn journal line\n{self}",
            self.name
        );
    }
}

/// What `newsletter status` said.
#[derive(Debug)]
struct Status {
    sent: usize,
    in_doubt: usize,
    not_sent_yet: usize,
    /// The addresses listed under the in-doubt heading.
    listed_in_doubt: BTreeSet<String>,
}

impl Status {
    fn parse(stdout: &str) -> Status {
        let count = |label: &str| -> usize {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("  {label}:")))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("no `{label}` count in the status:\n{stdout}"))
        };
        let mut listed_in_doubt = BTreeSet::new();
        let mut lines = stdout.lines();
        if lines.any(|line| line.starts_with("in doubt (")) {
            for line in lines.take_while(|line| line.starts_with("  ")) {
                let email = line.split_whitespace().next().expect("an empty line");
                assert!(
                    listed_in_doubt.insert(email.to_owned()),
                    "{email} is listed twice"
                );
            }
        }
        Status {
            sent: count("sent"),
            in_doubt: count("in doubt"),
            not_sent_yet: count("not sent yet"),
            listed_in_doubt,
        }
    }
}

/// One journal record (the fields the test reads).
#[derive(Debug, Deserialize)]
struct Record {
    e: String,
    to: Option<String>,
    id: Option<String>,
}

/// The journal's records. A last line that does not parse is skipped, as runs skip it, if
/// `torn_end_allowed`; anything else that does not parse fails the test.
fn read_journal(folder: &Path, torn_end_allowed: bool) -> Vec<Record> {
    let text = fs::read_to_string(folder.join(JOURNAL)).expect("cannot read the journal");
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let mut records = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(_) if torn_end_allowed && index + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(error) => panic!("journal line {}: {error}: {line}", index + 1),
        }
    }
    records
}

/// What the records say about each address now: the kind of its last record, with a `data`
/// record left without an outcome (or a `doubt` record) as `"in doubt"`, and an `unsent` record
/// putting the address back where it was before the first `data` record of its run (a `data`
/// record an earlier run left without an outcome stays in doubt).
fn states(records: &[Record]) -> BTreeMap<String, &'static str> {
    let mut states = BTreeMap::new();
    let mut before_data = BTreeMap::new();
    for record in records {
        if record.e == "run" {
            before_data.clear();
        }
        let Some(to) = &record.to else { continue };
        let state = match record.e.as_str() {
            "unsent" => {
                match before_data.remove(to).flatten() {
                    Some(state) => states.insert(to.clone(), state),
                    None => states.remove(to),
                };
                continue;
            }
            "data" => {
                before_data
                    .entry(to.clone())
                    .or_insert_with(|| states.get(to).copied());
                "in doubt"
            }
            "doubt" => "in doubt",
            "sent" => "sent",
            "failed" => "failed",
            "deferred" => "deferred",
            other => panic!("unknown journal record `{other}`"),
        };
        if record.e != "data" {
            before_data.remove(to);
        }
        states.insert(to.clone(), state);
    }
    states
}

fn with_state(states: &BTreeMap<String, &str>, wanted: &str) -> BTreeSet<String> {
    states
        .iter()
        .filter(|(_, state)| **state == wanted)
        .map(|(address, _)| address.clone())
        .collect()
}

/// Where a run started: the connections the server had seen (the run's own are numbered
/// after), and who the journal had as sent and as in doubt then.
struct RunStart {
    connections: usize,
    sent: BTreeSet<String>,
    in_doubt: BTreeSet<String>,
}

/// After a kill: `status` and the journal agree on who is in doubt; returns the status.
fn check_after_kill(
    newsletter: &Newsletter,
    kill: usize,
    torn: bool,
    simulated: usize,
) -> (Status, BTreeMap<String, &'static str>) {
    let (status, finished) = newsletter.status(&format!("status-{kill}"));
    finished.stderr_only_torn_notes(torn);
    let records = read_journal(&newsletter.folder, true);
    let journal_states = states(&records);
    let in_doubt = with_state(&journal_states, "in doubt");
    assert_eq!(
        status.listed_in_doubt, in_doubt,
        "after kill {kill}, `status` lists other addresses in doubt than the journal holds\n{finished}"
    );
    assert_eq!(status.in_doubt, in_doubt.len(), "{finished}");
    assert_eq!(
        status.sent,
        with_state(&journal_states, "sent").len(),
        "{finished}"
    );
    // Each kill leaves at most the deliveries then in flight in doubt, and the messages handed
    // to the workers with their `data` record written ahead (one per worker).
    assert!(
        in_doubt.len() <= 2 * CONCURRENCY * (kill + 1) + simulated,
        "{} in doubt after {} kills at concurrency {CONCURRENCY} ({simulated} simulated)\n{finished}",
        in_doubt.len(),
        kill + 1
    );
    (status, journal_states)
}

/// One crash test: the server, the folder with the issue, list and journal, and the runs.
struct Crash<'a> {
    settings: &'a Settings,
    server: &'a CaptureServer,
    newsletter: Newsletter,
    /// The subscribers' addresses, sorted.
    list: Vec<String>,
    /// Keeps the folder.
    _output: Output,
}

/// What the killed runs left.
struct Killed {
    starts: Vec<RunStart>,
    states: BTreeMap<String, &'static str>,
    in_doubt_after_kills: Vec<usize>,
    /// Whether the journal ends with the appended fragment, which the next run must note.
    torn: bool,
    /// The recipient given a `data` record after the first kill, whose message was never sent.
    unsent_in_doubt: Option<String>,
}

/// Every message the server received, by address, with the run that sent it and its
/// Message-ID.
type Received<'a> = BTreeMap<&'a str, Vec<(usize, Option<String>)>>;

#[test]
fn killed_sends_resume_and_mail_twice_only_recipients_in_doubt() {
    let settings = Settings::from_env();
    let Settings {
        recipients, kills, ..
    } = settings;
    eprintln!(
        "crash test: {recipients} subscribers, {kills} kills, seed {} (NEWSLETTER_CRASH_SEED={0} repeats the kill points)",
        settings.seed
    );
    let began = Instant::now();
    let server = CaptureServer::start();
    let crash = Crash::new(&settings, &server);
    let killed = crash.kill_runs(&mut fastrand::Rng::with_seed(settings.seed));
    let in_doubt_after_kills = killed.in_doubt_after_kills.clone();
    let unsent_in_doubt = killed.unsent_in_doubt.clone();
    let (starts, in_doubt_before_last) = crash.last_run(killed);
    let received = crash.received(&starts);
    let duplicated = check_received(&crash.list, &received, &starts, kills);
    if let Some(email) = &unsent_in_doubt {
        let runs: Vec<usize> = received[email.as_str()]
            .iter()
            .map(|(run, _)| *run)
            .collect();
        assert_eq!(
            runs,
            [starts.len() - 1],
            "{email}, in doubt but never sent, should have got one message, from the last run"
        );
    }
    let not_in_doubt: Vec<&String> = duplicated.difference(&in_doubt_before_last).collect();
    assert!(
        not_in_doubt.is_empty(),
        "mailed more than once but never reported in doubt: {not_in_doubt:?} (in doubt before the last run: {in_doubt_before_last:?})"
    );
    check_journal(&crash.newsletter.folder, &received, recipients);
    eprintln!(
        "crash test: seed {}, {recipients} subscribers, {kills} kills, in-flight bound {}; in doubt after each kill {in_doubt_after_kills:?}; {} in doubt before the last run, of which the server already had {} (duplicates) and {} it had not ({} of them simulated); {} messages in {:.1} s",
        settings.seed,
        CONCURRENCY * kills,
        in_doubt_before_last.len(),
        duplicated.len(),
        in_doubt_before_last.len() - duplicated.len(),
        usize::from(unsent_in_doubt.is_some()),
        server.stats().messages,
        began.elapsed().as_secs_f64()
    );
}

impl<'a> Crash<'a> {
    /// Writes the list into a copy of the `minimal` fixture; `status` says nothing was sent.
    fn new(settings: &'a Settings, server: &'a CaptureServer) -> Crash<'a> {
        let list: Vec<String> = (1..=settings.recipients).map(address).collect();
        let mut csv = String::from("email,name\n");
        for (index, email) in list.iter().enumerate() {
            let _ = writeln!(csv, "{email},Reader {}", index + 1);
        }
        let output = Test::fixture("minimal")
            .write(SUBSCRIBERS, csv)
            .args(STATUS)
            .stdout(&format!(
                "issue: nothing sent yet (no journal at `{JOURNAL}`)\n"
            ))
            .run();
        Crash {
            settings,
            server,
            newsletter: Newsletter {
                folder: output.tempdir.path().to_owned(),
                timeout: settings.run_timeout(),
            },
            list,
            _output: output,
        }
    }

    fn send(&self, name: &str, resend_in_doubt: bool) -> Running {
        let smtp = self.server.smtp_url();
        let concurrency = CONCURRENCY.to_string();
        let mut args = vec![
            "send",
            ISSUE,
            "--subscribers",
            SUBSCRIBERS,
            "--smtp",
            &smtp,
            "--yes",
            "--progress",
            "none",
            "--concurrency",
            &concurrency,
            "--journal",
            JOURNAL,
        ];
        if resend_in_doubt {
            args.push("--resend-in-doubt");
        }
        self.newsletter.spawn(name, &args)
    }

    /// The runs that are killed, each checked after its kill.
    fn kill_runs(&self, rng: &mut fastrand::Rng) -> Killed {
        let Settings {
            recipients, kills, ..
        } = *self.settings;
        let mut killed = Killed {
            starts: Vec::new(),
            states: BTreeMap::new(),
            in_doubt_after_kills: Vec::new(),
            torn: false,
            unsent_in_doubt: None,
        };
        let mut sent_before = 0;
        for kill in 0..kills {
            let before = self.server.stats();
            killed.starts.push(RunStart {
                connections: before.connections,
                sent: with_state(&killed.states, "sent"),
                in_doubt: with_state(&killed.states, "in doubt"),
            });
            // Kill points spread so that each run leaves about as much for the ones after it.
            // More than CONCURRENCY messages: besides any that the previous run had in flight
            // and that reached the server after its kill, this run has then sent one, so it
            // has written its `run` record.
            let span = ((recipients - sent_before) / (kills - kill + 1)).max(CONCURRENCY + 2);
            let threshold = before.messages + rng.usize(CONCURRENCY + 1..=span);
            let name = format!("run-{kill}");
            let mut run = self.send(&name, false);
            while self.server.stats().messages < threshold {
                if let Some(status) = run.ended() {
                    panic!(
                        "{name} ended before the server had {threshold} messages, where it was to be killed\n{}",
                        run.finished(Some(status))
                    );
                }
                thread::sleep(POLL);
            }
            let finished = run.kill();
            finished.stderr_only_torn_notes(killed.torn);
            assert_eq!(finished.stdout, "", "{finished}");
            if kill == 0 {
                killed.unsent_in_doubt = self.cut_short();
                killed.torn = killed.unsent_in_doubt.is_some();
            } else {
                killed.torn = false;
            }
            let simulated = usize::from(killed.unsent_in_doubt.is_some());
            let (status, journal_states) =
                check_after_kill(&self.newsletter, kill, killed.torn, simulated);
            sent_before = status.sent;
            killed.in_doubt_after_kills.push(status.in_doubt);
            killed.states = journal_states;
        }
        killed
    }

    /// Appends a `data` record for the recipient after the last one the journal has, and
    /// [`FRAGMENT`]; returns that recipient. Does nothing if the kill really cut a write short
    /// (the journal does not end with a newline; that is then the torn line).
    fn cut_short(&self) -> Option<String> {
        let path = self.newsletter.folder.join(JOURNAL);
        let journal = fs::read(&path).expect("cannot read the journal");
        if !journal.ends_with(b"\n") {
            return None;
        }
        let recorded = states(&read_journal(&self.newsletter.folder, false));
        let last = recorded
            .keys()
            .next_back()
            .expect("the killed run recorded nobody");
        let next = self
            .list
            .binary_search(last)
            .expect("an address not on the list")
            + 1;
        let email = self.list[next].clone();
        let record = format!(
            r#"{{"e":"data","to":"{email}","id":"{SIMULATED_ID}","t":"2026-01-01T00:00:00Z"}}"#
        );
        OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut file| write!(file, "{record}\n{FRAGMENT}"))
            .expect("cannot append to the journal");
        Some(email)
    }

    /// The last run, with `--resend-in-doubt`, which must finish the list. Returns the starts
    /// of all runs and who was in doubt before the last.
    fn last_run(&self, killed: Killed) -> (Vec<RunStart>, BTreeSet<String>) {
        let Killed {
            mut starts,
            states,
            torn,
            ..
        } = killed;
        let recipients = self.settings.recipients;
        let (status, finished) = self.newsletter.status("status-before-last");
        finished.stderr_only_torn_notes(torn);
        let in_doubt = status.listed_in_doubt.clone();
        assert_eq!(in_doubt, with_state(&states, "in doubt"), "{finished}");
        starts.push(RunStart {
            connections: self.server.stats().connections,
            sent: with_state(&states, "sent"),
            in_doubt: BTreeSet::new(),
        });
        let last = self.send("last", true).wait();
        assert_eq!(last.status.code(), Some(0), "{last}");
        last.stderr_only_torn_notes(torn);
        let expected = recipients - status.sent;
        assert!(
            last.stdout.starts_with(&format!("sent {expected} via ")),
            "the last run should have sent {expected}: {} not sent yet and {} in doubt\n{last}",
            status.not_sent_yet,
            status.in_doubt
        );
        let (_, finished) = self.newsletter.status("status-after-last");
        assert_eq!(
            finished.stdout,
            format!(
                "issue: {} run(s) recorded in `{JOURNAL}`\n  sent:          {recipients}\n  failed:        0\n  deferred:      0\n  in doubt:      0\n  not sent yet:  0 on the current subscriber list\n",
                self.settings.kills + 1
            ),
            "{finished}"
        );
        assert_eq!(finished.stderr, "", "{finished}");
        (starts, in_doubt)
    }

    /// What the server received; each message is put down to the run whose connections
    /// carried it.
    fn received(&self, starts: &[RunStart]) -> Received<'_> {
        let run_of =
            |connection: usize| starts.partition_point(|start| start.connections < connection) - 1;
        let mut received: Received<'_> = BTreeMap::new();
        for message in self.server.summary() {
            let [to] = message.to.as_slice() else {
                panic!("a message for other than one recipient: {message:?}");
            };
            let email = self.list.binary_search(to).map_or_else(
                |_| panic!("a message for {to}, who is not on the list"),
                |index| self.list[index].as_str(),
            );
            received
                .entry(email)
                .or_default()
                .push((run_of(message.connection), message.message_id));
        }
        received
    }
}

/// Everyone got the message; nobody more than twice, and no run mailed anyone the journal had
/// ruled out when it started. Returns those mailed twice, which are checked to be no more than
/// the deliveries that can have been in flight at the kills.
fn check_received(
    list: &[String],
    received: &Received<'_>,
    starts: &[RunStart],
    kills: usize,
) -> BTreeSet<String> {
    let missing: Vec<&String> = list
        .iter()
        .filter(|email| !received.contains_key(email.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} subscribers never got the message, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let runs = starts.len();
    for (email, messages) in received {
        assert!(
            messages.len() <= 2,
            "{email} got {} messages",
            messages.len()
        );
        for (run, _) in messages {
            let start = &starts[*run];
            assert!(
                !start.sent.contains(*email) && !start.in_doubt.contains(*email),
                "run {} of {runs} mailed {email}, whom the journal had as sent or in doubt then",
                run + 1
            );
        }
    }
    let duplicated: BTreeSet<String> = received
        .iter()
        .filter(|(_, messages)| messages.len() > 1)
        .map(|(email, _)| (*email).to_owned())
        .collect();
    let bound = CONCURRENCY * kills;
    assert!(
        duplicated.len() <= bound,
        "{} subscribers got the message more than once; at most {bound} deliveries ({CONCURRENCY} × {kills} kills) can have been in flight at a kill: {duplicated:?}",
        duplicated.len()
    );
    duplicated
}

/// A `data` record for every message the server got, with its Message-ID, and each address
/// recorded `sent` exactly once.
fn check_journal(folder: &Path, received: &Received<'_>, recipients: usize) {
    let records = read_journal(folder, false);
    let mut data_ids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut sent: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        let Some(to) = record.to.as_deref() else {
            continue;
        };
        match record.e.as_str() {
            "data" => data_ids
                .entry(to)
                .or_default()
                .push(record.id.as_deref().expect("a data record without an id")),
            "sent" => *sent.entry(to).or_default() += 1,
            _ => {}
        }
    }
    for (email, messages) in received {
        let ids = data_ids.get(email).map(Vec::as_slice).unwrap_or_default();
        assert!(
            ids.len() >= messages.len(),
            "{email}: {} message(s) reached the server, {} `data` record(s) were written",
            messages.len(),
            ids.len()
        );
        for (_, id) in messages {
            let id = id.as_deref().expect("a message without a Message-ID");
            assert!(
                ids.contains(&id),
                "{email}: a message with {id} reached the server, but no `data` record has it"
            );
        }
    }
    let twice: Vec<_> = sent.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "recorded `sent` more than once: {twice:?}"
    );
    assert_eq!(sent.len(), recipients);
}
