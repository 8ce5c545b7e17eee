//! An SMTP server that misbehaves on cue, for the fault tests (`faults.rs`) and the hostile
//! relay tests (`hostile_relay.rs`).
//!
//! A real TCP server on 127.0.0.1 (the system picks the port) that speaks enough SMTP for
//! `newsletter`'s client: greeting, EHLO (with or without PIPELINING, AUTH PLAIN LOGIN when a login is
//! required), AUTH PLAIN and LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP and QUIT.
//! At each step of a transaction it asks the test's [`Script`] what to answer, given the
//! connection number or the recipient and how many times it was seen before:
//!
//! ```ignore
//! let server = FaultServer::start(Script::new(|step| match step {
//!     Step::Rcpt { to: "ada@example.org", attempt: 0 } => Answer::Say("451 4.3.0 Try again later"),
//!     _ => Answer::Accept,
//! }));
//! // … `newsletter send --smtp <server.url()>` …
//! assert_eq!(server.delivered_to("ada@example.org").len(), 1);
//! ```
//!
//! Modelled on xh's tests/server/mod.rs: it runs on background threads (one accepting, one per
//! connection) and records what it saw: connections, every `RCPT TO` with its time, every
//! message body that reached it with what became of it ([`Fate`]), and a transcript per
//! connection that assertion messages can show. Everything is recorded before the reply that
//! tells the client about it is written, so once the client has exited the record is complete.
//!
//! When dropped it closes its connections and stops its threads, and fails the test if one of
//! them panicked (a script's assertion, say) or the client broke the protocol: a command out of
//! sequence (such as a MAIL without RSET after a refused transaction, which the server keeps
//! open as Postfix does), commands sent ahead of the replies when PIPELINING was not offered,
//! or anything but QUIT after the server closed the connection.

use std::{
    any::Any,
    fmt::Write as _,
    io::{self, BufRead, BufReader, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};

/// A client that says nothing for this long is given up on, so that no server thread outlives
/// a broken test by much.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// How long [`FaultServer`] waits for its threads to finish when asked for its record or
/// dropped.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// A point of the conversation where the script decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// A new connection (the first is number 1) is to be greeted.
    Greeting { connection: usize },
    /// An `EHLO` on connection number `connection` (its first when `nth` is 1).
    Ehlo { connection: usize, nth: usize },
    /// The `nth` `MAIL FROM` of a connection (1 the first).
    Mail { connection: usize, nth: usize },
    /// `RCPT TO:<to>`; `attempt` is how many times the server saw this address before, over all
    /// connections (0 the first time).
    Rcpt { to: &'a str, attempt: usize },
    /// The `DATA` command of a transaction whose (first) recipient is `to`, at its `attempt`.
    Data { to: &'a str, attempt: usize },
    /// The final dot of a message to `to`: the whole body has reached the server.
    Dot { to: &'a str, attempt: usize },
}

/// What the server does at a [`Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The usual positive reply: the greeting, `250`, `354`; at the final dot the message is
    /// taken.
    Accept,
    /// This reply line, e.g. `451 4.3.0 Try again later`; the session goes on.
    Say(&'static str),
    /// This reply line, then the server closes the connection, e.g.
    /// `421 4.3.2 Service shutting down`.
    SayAndClose(&'static str),
    /// No reply: the server reads and ignores whatever comes until the client hangs up.
    Stall,
    /// The server closes the connection without a word. At the final dot, it does so after the
    /// whole body reached it and before acting on the dot: the message is not taken.
    Hangup,
    /// This start of a reply line, then bytes without end and never a line end, until the
    /// client hangs up. At the final dot the message is not taken.
    EndlessLine(&'static str),
    /// This reply line again and again, without end (`250-…`: a reply that never finishes),
    /// until the client hangs up. At the final dot the message is not taken.
    EndlessReply(&'static str),
}

/// What happened to a message body that reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Taken: the server answered the final dot with `250`.
    Accepted,
    /// Refused at the final dot with this reply.
    Refused(String),
    /// The server got the final dot and never answered ([`Answer::Stall`]).
    Unanswered,
    /// The server hung up before acting on the final dot ([`Answer::Hangup`]).
    Dropped,
    /// The client hung up before sending the final dot.
    Incomplete,
}

/// A message body that reached the server, with its envelope.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) connection: usize,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    /// The message as sent, dot-unstuffed, with its CRLFs, without the final dot line.
    pub(crate) data: Vec<u8>,
    pub(crate) fate: Fate,
    /// Whether `RCPT` and `DATA` had already arrived when the server read `MAIL`: the client
    /// pipelined them.
    pub(crate) pipelined: bool,
}

impl Message {
    /// The value of the first header called `name` (unfolded), if any.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let text = String::from_utf8_lossy(&self.data);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(value) = value.as_mut() {
                    value.push_str(line);
                }
                continue;
            }
            if value.is_some() {
                break;
            }
            if let Some((field, rest)) = line.split_once(':')
                && field.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }
}

/// One `RCPT TO` the server read.
#[derive(Debug, Clone)]
pub(crate) struct RcptSeen {
    pub(crate) to: String,
    pub(crate) connection: usize,
    /// When it was read.
    pub(crate) at: Instant,
}

type Decide = dyn Fn(&Step<'_>) -> Answer + Send + Sync;

/// How the server behaves: the answers at each [`Step`], and what it offers in EHLO.
#[must_use = "a Script does nothing until the server starts with it"]
pub(crate) struct Script {
    decide: Box<Decide>,
    pipelining: bool,
    login: Option<(String, String)>,
    mechanisms: &'static str,
    quote_credentials: bool,
}

impl Script {
    /// A server that answers each step as `decide` says; it offers PIPELINING and requires no
    /// login.
    pub(crate) fn new(decide: impl Fn(&Step<'_>) -> Answer + Send + Sync + 'static) -> Script {
        Script {
            decide: Box::new(decide),
            pipelining: true,
            login: None,
            mechanisms: "PLAIN LOGIN",
            quote_credentials: false,
        }
    }

    /// A well-behaved server that takes every message.
    pub(crate) fn accept_all() -> Script {
        Script::new(|_| Answer::Accept)
    }

    /// Leaves PIPELINING out of the EHLO reply; a client that sends a command before the reply
    /// to the previous one is then a protocol error.
    pub(crate) fn without_pipelining(mut self) -> Script {
        self.pipelining = false;
        self
    }

    /// Offers AUTH and requires a login with these credentials before `MAIL`; others get
    /// `535 5.7.8`.
    pub(crate) fn login(mut self, user: &str, password: &str) -> Script {
        self.login = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Refuses a login with a 535 that quotes what the client sent: the user name and password
    /// as decoded, and the base64 text, as a careless relay might.
    pub(crate) fn quoting_credentials(mut self) -> Script {
        self.quote_credentials = true;
        self
    }

    /// The AUTH mechanisms offered (default `PLAIN LOGIN`); this server knows those two.
    pub(crate) fn mechanisms(mut self, mechanisms: &'static str) -> Script {
        self.mechanisms = mechanisms;
        self
    }
}

/// Everything the server saw.
#[derive(Debug, Default)]
struct Record {
    connections: usize,
    rcpts: Vec<RcptSeen>,
    messages: Vec<Message>,
    /// Per connection, the lines read (`C:`) and written (`S:`).
    transcripts: Vec<Vec<String>>,
    protocol_errors: Vec<String>,
}

/// State shared by the test and the server's threads.
struct Shared {
    script: Script,
    started: Instant,
    stopping: AtomicBool,
    record: Mutex<Record>,
    /// A handle on each connection, to close them all when the server stops.
    streams: Mutex<Vec<TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread is reported by `Drop`; its record is still worth reading.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running server; see the module documentation.
pub(crate) struct FaultServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultServer {
    /// Starts a server on 127.0.0.1, on a port the system picks.
    pub(crate) fn start(script: Script) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind the test SMTP server");
        let address = listener
            .local_addr()
            .expect("the test SMTP server has no address");
        let shared = Arc::new(Shared {
            script,
            started: Instant::now(),
            stopping: AtomicBool::new(false),
            record: Mutex::new(Record::default()),
            streams: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
        });
        let name = format!(
            "smtp-server({})",
            thread::current().name().unwrap_or("test")
        );
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(name)
                .spawn(move || accept(&listener, &shared))
                .expect("cannot start the test SMTP server")
        };
        FaultServer {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.address.port()
    }

    /// The `--smtp` URL of this server.
    pub(crate) fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port())
    }

    /// The `--smtp` URL of this server, logging in as `user`.
    pub(crate) fn url_as(&self, user: &str) -> String {
        format!("smtp://{user}@127.0.0.1:{}", self.port())
    }

    /// How `newsletter` names this relay in its output.
    pub(crate) fn relay(&self) -> String {
        format!("127.0.0.1:{} (no TLS)", self.port())
    }

    /// How many connections were accepted.
    pub(crate) fn connections(&self) -> usize {
        self.settled().connections
    }

    /// Every `RCPT TO` of `to`, in order.
    pub(crate) fn rcpts_of(&self, to: &str) -> Vec<RcptSeen> {
        self.settled()
            .rcpts
            .iter()
            .filter(|rcpt| rcpt.to.eq_ignore_ascii_case(to))
            .cloned()
            .collect()
    }

    /// Every RCPT the server read, in order.
    pub(crate) fn rcpts(&self) -> Vec<RcptSeen> {
        self.settled().rcpts.clone()
    }

    /// Every message body that reached the server, in order.
    pub(crate) fn messages(&self) -> Vec<Message> {
        self.settled().messages.clone()
    }

    /// The messages to `to` that the server took.
    pub(crate) fn delivered_to(&self, to: &str) -> Vec<Message> {
        self.messages()
            .into_iter()
            .filter(|message| {
                message.fate == Fate::Accepted
                    && message.to.iter().any(|each| each.eq_ignore_ascii_case(to))
            })
            .collect()
    }

    /// How many times the client sent the command `verb` (`MAIL`, `AUTH`, …), over all
    /// connections.
    pub(crate) fn commands(&self, verb: &str) -> usize {
        let prefix = format!("C: {verb}");
        self.settled()
            .transcripts
            .iter()
            .flatten()
            .filter_map(|line| line.split_once(" ms ").map(|(_, line)| line))
            .filter(|line| {
                line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(&prefix)
            })
            .count()
    }

    /// Every connection's conversation, for assertion messages.
    pub(crate) fn transcript(&self) -> String {
        transcripts(&self.settled())
    }

    /// The record, once every connection thread has finished (the client has hung up on all of
    /// them, or they gave up on it).
    fn settled(&self) -> MutexGuard<'_, Record> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while lock(&self.shared.threads)
            .iter()
            .any(|thread| !thread.is_finished())
        {
            assert!(
                Instant::now() < deadline,
                "the test SMTP server still has a connection open after {SETTLE_LIMIT:?}:\n{}",
                transcripts(&lock(&self.shared.record))
            );
            thread::sleep(Duration::from_millis(5));
        }
        lock(&self.shared.record)
    }
}

fn transcripts(record: &Record) -> String {
    let mut text = String::new();
    for (index, lines) in record.transcripts.iter().enumerate() {
        let _ = writeln!(
            text,
            "--- connection {} ---\n{}",
            index + 1,
            lines.join("\n")
        );
    }
    text
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::Release);
        // Wake the acceptor, then close every connection so that their threads stop reading.
        let _ = TcpStream::connect(self.address);
        let mut problems = Vec::new();
        if let Some(acceptor) = self.acceptor.take()
            && let Err(panic) = acceptor.join()
        {
            problems.push(format!("the acceptor panicked: {}", panic_text(&*panic)));
        }
        for stream in lock(&shared.streams).iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let deadline = Instant::now() + SETTLE_LIMIT;
        let threads = std::mem::take(&mut *lock(&shared.threads));
        for thread in threads {
            while !thread.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if !thread.is_finished() {
                problems.push("a connection thread did not stop".to_owned());
            } else if let Err(panic) = thread.join() {
                problems.push(format!(
                    "a connection thread panicked: {}",
                    panic_text(&*panic)
                ));
            }
        }
        let record = lock(&shared.record);
        if problems.is_empty() && record.protocol_errors.is_empty() && thread::panicking() {
            // The test failed: what the server saw may explain why.
            eprintln!("the test SMTP server saw:\n{}", transcripts(&record));
            return;
        }
        problems.extend(
            record
                .protocol_errors
                .iter()
                .map(|error| format!("protocol error: {error}")),
        );
        if problems.is_empty() {
            return;
        }
        let report = format!(
            "the test SMTP server found problems:\n  {}\n{}",
            problems.join("\n  "),
            transcripts(&record)
        );
        drop(record);
        if thread::panicking() {
            // The test is failing already; a second panic would abort the process.
            eprintln!("{report}");
        } else {
            panic!("{report}");
        }
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let number = {
            let mut record = lock(&shared.record);
            record.connections += 1;
            record.transcripts.push(Vec::new());
            record.connections
        };
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.streams).push(clone);
        }
        let thread = {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("smtp-connection-{number}"))
                .spawn(move || {
                    // An I/O error means the client went away: the connection is over.
                    let _ = Connection::new(number, &stream, &shared).and_then(|mut c| c.serve());
                    // Close it now: the clone kept for `Drop` would hold it open.
                    let _ = stream.shutdown(Shutdown::Both);
                })
                .expect("cannot start a test SMTP connection thread")
        };
        lock(&shared.threads).push(thread);
    }
}

/// Whether the session goes on after an answer.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}

/// The transaction under way: after `MAIL`, before the end of `DATA` or `RSET`.
#[derive(Debug)]
struct Transaction {
    from: String,
    /// Accepted recipients, with the attempt each was at.
    to: Vec<(String, usize)>,
    pipelined: bool,
}

struct Connection<'a> {
    number: usize,
    shared: &'a Shared,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    greeted: bool,
    logged_in: bool,
    ehlos: usize,
    mails: usize,
    transaction: Option<Transaction>,
    /// The last `MAIL` was refused: a pipelining client's `RCPT` and `DATA` that came with it
    /// are expected, and refused in turn.
    mail_refused: bool,
}

impl<'a> Connection<'a> {
    fn new(number: usize, stream: &TcpStream, shared: &'a Shared) -> io::Result<Connection<'a>> {
        stream.set_read_timeout(Some(IDLE_LIMIT))?;
        // Replies go out as they are written, like a real server's flushed replies; with
        // Nagle's algorithm each pipelined reply would wait for the client's delayed ACK.
        stream.set_nodelay(true)?;
        Ok(Connection {
            number,
            shared,
            reader: BufReader::new(stream.try_clone()?),
            writer: stream.try_clone()?,
            greeted: false,
            logged_in: false,
            ehlos: 0,
            mails: 0,
            transaction: None,
            mail_refused: false,
        })
    }

    fn script(&self) -> &'a Script {
        &self.shared.script
    }

    /// Adds `line` to the transcript, after the time since the server started.
    fn note(&self, line: &str) {
        let elapsed = self.shared.started.elapsed().as_millis();
        lock(&self.shared.record).transcripts[self.number - 1]
            .push(format!("{elapsed:>6} ms {line}"));
    }

    fn protocol_error(&self, error: &str) {
        self.note(&format!("!! {error}"));
        lock(&self.shared.record)
            .protocol_errors
            .push(format!("connection {}: {error}", self.number));
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        self.note(&format!("S: {line}"));
        self.writer.write_all(format!("{line}\r\n").as_bytes())
    }

    /// Reads one line without its CRLF; `None` at the end of the connection.
    fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.note(&format!("!! the client said nothing for {IDLE_LIMIT:?}"));
                return Ok(None);
            }
            Err(error) => return Err(error),
        }
        if line.ends_with(b"\n") {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
        }
        Ok(Some(line))
    }

    /// Carries out `answer`, whose positive form is `positive`; returns whether the session goes
    /// on, and whether the answer was positive.
    fn answer(&mut self, answer: Answer, positive: &str) -> io::Result<(Flow, bool)> {
        match answer {
            Answer::Accept => {
                self.send(positive)?;
                Ok((Flow::Continue, true))
            }
            Answer::Say(line) => {
                self.send(line)?;
                Ok((
                    Flow::Continue,
                    line.starts_with('2') || line.starts_with('3'),
                ))
            }
            Answer::SayAndClose(line) => {
                self.send(line)?;
                self.hang_up()?;
                Ok((Flow::End, false))
            }
            Answer::Stall => {
                self.note("S: (says nothing)");
                while let Some(line) = self.read_line()? {
                    self.note(&format!("C: {} (ignored)", String::from_utf8_lossy(&line)));
                }
                Ok((Flow::End, false))
            }
            Answer::Hangup => {
                self.hang_up()?;
                Ok((Flow::End, false))
            }
            Answer::EndlessLine(start) => {
                self.note(&format!("S: {start}… (without end)"));
                self.writer.write_all(start.as_bytes())?;
                Ok(self.endless(&[b'x'; 16 * 1024]))
            }
            Answer::EndlessReply(line) => {
                self.note(&format!("S: {line} (again and again)"));
                Ok(self.endless(format!("{line}\r\n").repeat(1000).as_bytes()))
            }
        }
    }

    /// Writes `bytes` again and again until the client hangs up (the write fails) or the
    /// server stops; then the connection is over.
    fn endless(&mut self, bytes: &[u8]) -> (Flow, bool) {
        let mut written = 0_usize;
        while !self.shared.stopping.load(Ordering::Acquire) {
            if self.writer.write_all(bytes).is_err() {
                break;
            }
            written += bytes.len();
        }
        self.note(&format!(
            "S: ({written} bytes written before the client hung up)"
        ));
        (Flow::End, false)
    }

    /// Closes the connection for writing, and checks that the client, once it has read that,
    /// sends nothing more (QUIT aside): it must not go on with a connection the server has
    /// closed. Commands that came before (pipelined with the one just answered) are discarded.
    fn hang_up(&mut self) -> io::Result<()> {
        self.note("S: (closes the connection)");
        self.writer.shutdown(Shutdown::Write)?;
        let pipelined = self.reader.buffer().len();
        if pipelined > 0 {
            self.note(&format!(
                "C: ({pipelined} bytes sent before the reply, discarded)"
            ));
            self.reader.consume(pipelined);
        }
        while let Some(line) = self.read_line()? {
            let line = String::from_utf8_lossy(&line).into_owned();
            self.note(&format!("C: {line}"));
            if !line.eq_ignore_ascii_case("QUIT") {
                self.protocol_error(&format!("`{line}` after the server closed the connection"));
            }
        }
        Ok(())
    }

    fn serve(&mut self) -> io::Result<()> {
        let greeting = (self.script().decide)(&Step::Greeting {
            connection: self.number,
        });
        if self.answer(greeting, "220 fault.test ESMTP ready")?.0 == Flow::End {
            return Ok(());
        }
        while let Some(line) = self.read_line()? {
            let command = String::from_utf8_lossy(&line).into_owned();
            let verb = command
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            self.note(&format!(
                "C: {}",
                if verb == "AUTH" {
                    "AUTH (…)"
                } else {
                    &command
                }
            ));
            if !self.script().pipelining && !self.reader.buffer().is_empty() {
                self.protocol_error(&format!(
                    "`{command}` was followed by more before its reply, but PIPELINING was not offered"
                ));
            }
            let flow = match verb.as_str() {
                "EHLO" => self.ehlo()?,
                "HELO" => {
                    self.greeted = true;
                    self.send("250 fault.test")?;
                    Flow::Continue
                }
                "AUTH" => self.auth(&command)?,
                "MAIL" => self.mail(&command)?,
                "RCPT" => self.rcpt(&command)?,
                "DATA" => self.data()?,
                "RSET" => {
                    self.transaction = None;
                    self.mail_refused = false;
                    self.send("250 2.0.0 Ok")?;
                    Flow::Continue
                }
                "NOOP" => {
                    self.send("250 2.0.0 Ok")?;
                    Flow::Continue
                }
                "QUIT" => {
                    self.send("221 2.0.0 Bye")?;
                    Flow::End
                }
                _ => {
                    self.protocol_error(&format!("unknown command `{command}`"));
                    self.send("502 5.5.2 Error: command not recognized")?;
                    Flow::Continue
                }
            };
            if flow == Flow::End {
                break;
            }
        }
        Ok(())
    }

    fn ehlo(&mut self) -> io::Result<Flow> {
        self.greeted = true;
        self.transaction = None;
        self.mail_refused = false;
        self.ehlos += 1;
        let answer = (self.script().decide)(&Step::Ehlo {
            connection: self.number,
            nth: self.ehlos,
        });
        if answer != Answer::Accept {
            return Ok(self.answer(answer, "250 fault.test")?.0);
        }
        let mut lines = vec!["fault.test".to_owned(), "8BITMIME".to_owned()];
        if self.script().pipelining {
            lines.push("PIPELINING".to_owned());
        }
        if self.script().login.is_some() {
            lines.push(format!("AUTH {}", self.script().mechanisms));
        }
        lines.push("SIZE 33554432".to_owned());
        let last = lines.len() - 1;
        for (index, line) in lines.iter().enumerate() {
            let separator = if index == last { ' ' } else { '-' };
            self.send(&format!("250{separator}{line}"))?;
        }
        Ok(Flow::Continue)
    }

    fn auth(&mut self, command: &str) -> io::Result<Flow> {
        let Some((user, password)) = self.script().login.clone() else {
            self.protocol_error("AUTH, which was not offered");
            self.send("503 5.5.1 Error: authentication not enabled")?;
            return Ok(Flow::Continue);
        };
        if self.logged_in {
            self.protocol_error("a second AUTH");
            self.send("503 5.5.1 Error: already authenticated")?;
            return Ok(Flow::Continue);
        }
        let mut words = command.split_whitespace().skip(1);
        let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        if !self
            .script()
            .mechanisms
            .split_whitespace()
            .any(|offered| offered == mechanism)
        {
            self.protocol_error(&format!("AUTH {mechanism}, which was not offered"));
            self.send("504 5.5.4 Unrecognized authentication type")?;
            return Ok(Flow::Continue);
        }
        let mut sent = Vec::new();
        let given = if mechanism == "PLAIN" {
            let Some(response) = self.challenge(initial, "", &mut sent)? else {
                return Ok(Flow::End);
            };
            // authzid NUL authcid NUL password
            let mut parts = response.splitn(3, |byte| *byte == 0).skip(1);
            (
                parts.next().unwrap_or_default().to_vec(),
                parts.next().unwrap_or_default().to_vec(),
            )
        } else {
            let Some(name) = self.challenge(initial, "VXNlcm5hbWU6", &mut sent)? else {
                return Ok(Flow::End);
            };
            let Some(secret) = self.challenge(None, "UGFzc3dvcmQ6", &mut sent)? else {
                return Ok(Flow::End);
            };
            (name, secret)
        };
        if given == (user.into_bytes(), password.into_bytes()) {
            self.logged_in = true;
            self.send("235 2.7.0 Authentication successful")?;
        } else if self.script().quote_credentials {
            let reply = format!(
                "535 5.7.8 Authentication failed for {}:{} (sent: {})",
                String::from_utf8_lossy(&given.0),
                String::from_utf8_lossy(&given.1),
                sent.join(" ")
            );
            self.writer.write_all(format!("{reply}\r\n").as_bytes())?;
            self.note("S: 535 (quoting the credentials)");
        } else {
            self.send("535 5.7.8 Error: authentication failed: bad credentials")?;
        }
        Ok(Flow::Continue)
    }

    /// The client's base64 answer: `initial` if it came with the command, otherwise the next
    /// line after a `334 challenge`; `None` if the client hung up.
    fn challenge(
        &mut self,
        initial: Option<String>,
        challenge: &str,
        sent: &mut Vec<String>,
    ) -> io::Result<Option<Vec<u8>>> {
        let encoded = if let Some(encoded) = initial {
            encoded
        } else {
            self.send(&format!("334 {challenge}"))?;
            let Some(line) = self.read_line()? else {
                return Ok(None);
            };
            self.note("C: (credentials)");
            String::from_utf8_lossy(&line).into_owned()
        };
        sent.push(encoded.trim().to_owned());
        Ok(Some(BASE64.decode(encoded.trim()).unwrap_or_default()))
    }

    fn mail(&mut self, command: &str) -> io::Result<Flow> {
        if !self.greeted {
            self.protocol_error("MAIL before EHLO");
        }
        if self.transaction.is_some() {
            self.protocol_error("MAIL inside a transaction (no RSET after the last one)");
            self.send("503 5.5.1 Error: nested MAIL command")?;
            return Ok(Flow::Continue);
        }
        if self.script().login.is_some() && !self.logged_in {
            self.protocol_error("MAIL without logging in");
            self.send("530 5.7.0 Authentication required")?;
            return Ok(Flow::Continue);
        }
        // The client pipelined if `RCPT` (and more) came with `MAIL`.
        let pipelined = !self.reader.buffer().is_empty();
        self.mails += 1;
        let answer = (self.script().decide)(&Step::Mail {
            connection: self.number,
            nth: self.mails,
        });
        let (flow, positive) = self.answer(answer, "250 2.1.0 Ok")?;
        self.mail_refused = !positive;
        if positive {
            self.transaction = Some(Transaction {
                from: angle_address(command),
                to: Vec::new(),
                pipelined,
            });
        }
        Ok(flow)
    }

    fn rcpt(&mut self, command: &str) -> io::Result<Flow> {
        let to = angle_address(command);
        let attempt = {
            let mut record = lock(&self.shared.record);
            let attempt = record
                .rcpts
                .iter()
                .filter(|rcpt| rcpt.to.eq_ignore_ascii_case(&to))
                .count();
            record.rcpts.push(RcptSeen {
                to: to.clone(),
                connection: self.number,
                at: Instant::now(),
            });
            attempt
        };
        if self.transaction.is_none() {
            if !self.expects_refused_batch() {
                self.protocol_error("RCPT without MAIL");
            }
            self.send("503 5.5.1 Error: need MAIL command")?;
            return Ok(Flow::Continue);
        }
        let answer = (self.script().decide)(&Step::Rcpt { to: &to, attempt });
        let (flow, positive) = self.answer(answer, "250 2.1.5 Ok")?;
        if positive && let Some(transaction) = self.transaction.as_mut() {
            transaction.to.push((to, attempt));
        }
        Ok(flow)
    }

    /// Whether a pipelining client is sending the rest of a batch whose `MAIL` was refused.
    fn expects_refused_batch(&self) -> bool {
        self.script().pipelining && self.mail_refused
    }

    fn data(&mut self) -> io::Result<Flow> {
        if !self.reader.buffer().is_empty() {
            self.protocol_error("the client sent more after DATA before the 354 reply");
        }
        // A refused DATA leaves the transaction open, as in Postfix: the client must send RSET
        // before the next MAIL.
        let Some(transaction) = self.transaction.as_ref() else {
            if !self.expects_refused_batch() {
                self.protocol_error("DATA without MAIL");
            }
            self.send("503 5.5.1 Error: need MAIL command")?;
            return Ok(Flow::Continue);
        };
        let Some((first, attempt)) = transaction.to.first().cloned() else {
            // Expected after a refused RCPT when the client pipelines; a client that waits for
            // each reply should not get here.
            if !self.script().pipelining {
                self.protocol_error("DATA after every RCPT was refused");
            }
            self.send("554 5.5.1 Error: no valid recipients")?;
            return Ok(Flow::Continue);
        };
        let answer = (self.script().decide)(&Step::Data {
            to: &first,
            attempt,
        });
        let (flow, positive) = self.answer(answer, "354 End data with <CR><LF>.<CR><LF>")?;
        if !positive {
            return Ok(flow);
        }
        let transaction = self.transaction.take().expect("checked above");
        let mut data = Vec::new();
        let mut complete = false;
        while let Some(line) = self.read_line()? {
            if line == b"." {
                complete = true;
                break;
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            data.extend_from_slice(unstuffed);
            data.extend_from_slice(b"\r\n");
        }
        self.note(&format!("C: ({} bytes of message)", data.len()));
        let mut message = Message {
            connection: self.number,
            from: transaction.from,
            to: transaction.to.into_iter().map(|(to, _)| to).collect(),
            data,
            fate: Fate::Incomplete,
            pipelined: transaction.pipelined,
        };
        if !complete {
            self.note("C: (hangs up before the final dot)");
            lock(&self.shared.record).messages.push(message);
            return Ok(Flow::End);
        }
        self.note("C: .");
        let answer = (self.script().decide)(&Step::Dot {
            to: &first,
            attempt,
        });
        message.fate = match answer {
            Answer::Accept => Fate::Accepted,
            Answer::Say(line) | Answer::SayAndClose(line) if line.starts_with('2') => {
                Fate::Accepted
            }
            Answer::Say(line) | Answer::SayAndClose(line) => Fate::Refused(line.to_owned()),
            Answer::Stall | Answer::EndlessLine(_) | Answer::EndlessReply(_) => Fate::Unanswered,
            Answer::Hangup => Fate::Dropped,
        };
        // Recorded before the reply, so that a client that saw the reply finds it recorded.
        let queued = {
            let mut record = lock(&self.shared.record);
            record.messages.push(message);
            record.messages.len()
        };
        Ok(self
            .answer(answer, &format!("250 2.0.0 Ok: queued as {queued}"))?
            .0)
    }
}

/// The address between `<` and `>` in a `MAIL FROM` or `RCPT TO` command.
fn angle_address(command: &str) -> String {
    command
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(address, _)| address.to_owned())
        .unwrap_or_default()
}
