//! A real SMTP server for the end-to-end tests of `send`: `tests/capture/smtp_capture.py`
//! (see the README beside it) run as a child process on 127.0.0.1, and read back through its
//! HTTP API.
//!
//! ```ignore
//! let server = CaptureServer::builder().reject("li.ming@example.com").start();
//! Test::newsletters().args(["send", MOU, "--smtp", &server.smtp_url(), "--yes"]).run();
//! assert_eq!(server.stats().messages, 6);
//! ```
//!
//! Each server listens on ports the kernel picks, so tests run in parallel. It is started
//! with the test process as its parent (`--parent-pid`), so it goes away by itself if the test
//! process dies, and killed when the [`CaptureServer`] is dropped. The drop also checks, as
//! xh's test server does, that nothing went wrong on the server side: a server that died
//! during the test, or a Python traceback in its log, fails the test.
//!
//! The server needs Debian's `/usr/bin/python3` with `python3-aiosmtpd`. These are the
//! acceptance tests of `send`, so a missing aiosmtpd fails them (with the command that
//! installs it) rather than skipping them.

use std::{
    ffi::OsString,
    fs,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, de::DeserializeOwned};
use tempfile::TempDir;

/// The interpreter that has Debian's aiosmtpd (a pyenv `python3` earlier on `PATH` does not).
const PYTHON: &str = "/usr/bin/python3";

/// How long the server may take to start (Python and aiosmtpd imports on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an HTTP request to the API may take.
const API_TIMEOUT: Duration = Duration::from_secs(10);

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/capture/smtp_capture.py")
}

/// A running capture server.
pub(crate) struct CaptureServer {
    process: Child,
    /// Holds the ready file, the password file and the server's log.
    folder: TempDir,
    smtp_port: u16,
    http_port: u16,
}

/// The options of a server to start.
#[must_use = "a server is started by `start`"]
pub(crate) struct Builder {
    args: Vec<OsString>,
    password: Option<String>,
}

/// `GET /api/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct Stats {
    /// SMTP connections ever opened, including ones that carried no message.
    pub(crate) connections: usize,
    /// Messages stored.
    pub(crate) messages: usize,
}

/// One message of `GET /api/summary`: the envelope and how the message arrived.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Received {
    pub(crate) id: String,
    /// The envelope sender (`MAIL FROM`).
    pub(crate) from: String,
    /// The envelope recipients (`RCPT TO`).
    pub(crate) to: Vec<String>,
    /// The raw `Message-ID` header.
    pub(crate) message_id: Option<String>,
    /// The size in bytes of the message as received.
    pub(crate) size: usize,
    /// The number of the SMTP connection that carried it (1, 2, … in the order connections
    /// were opened; [`Stats::connections`] is the last so far).
    pub(crate) connection: usize,
    /// Whether STARTTLS was done before the message was sent.
    pub(crate) tls: bool,
    /// The user the session logged in as.
    pub(crate) auth_user: Option<String>,
}

/// `GET /api/v2/messages`, in MailHog's shape (only the fields the tests read).
#[derive(Debug, Deserialize)]
pub(crate) struct MessagePage {
    pub(crate) total: usize,
    pub(crate) count: usize,
    pub(crate) items: Vec<MailHogMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MailHogMessage {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    pub(crate) raw: MailHogRaw,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MailHogRaw {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    /// The name the client greeted the server with (EHLO).
    pub(crate) helo: String,
}

/// The ports in the ready file.
#[derive(Deserialize)]
struct Ready {
    smtp: u16,
    http: u16,
}

impl CaptureServer {
    /// A plain server: no TLS, no AUTH, every recipient accepted.
    pub(crate) fn start() -> CaptureServer {
        CaptureServer::builder().start()
    }

    pub(crate) fn builder() -> Builder {
        Builder {
            args: Vec::new(),
            password: None,
        }
    }

    pub(crate) fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// `smtp://127.0.0.1:PORT`, for `--smtp`.
    pub(crate) fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    /// `GET /api/stats`.
    pub(crate) fn stats(&self) -> Stats {
        self.get_json("/api/stats")
    }

    /// `GET /api/summary`: every message, oldest first.
    pub(crate) fn summary(&self) -> Vec<Received> {
        self.get_json("/api/summary")
    }

    /// `GET /api/v2/messages` with room for `limit` messages, newest first.
    pub(crate) fn messages(&self, limit: usize) -> MessagePage {
        self.get_json(&format!("/api/v2/messages?start=0&limit={limit}"))
    }

    /// `GET /api/raw/ID`: the message exactly as received.
    pub(crate) fn raw(&self, id: &str) -> Vec<u8> {
        let (status, body) = self.get(&format!("/api/raw/{id}"));
        assert_eq!(
            status,
            200,
            "GET /api/raw/{id}: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// The message `id`, parsed as a mail client would.
    pub(crate) fn email(&self, id: &str) -> mail_parser::Message<'static> {
        mail_parser::MessageParser::default()
            .parse(&self.raw(id))
            .unwrap_or_else(|| panic!("message {id} is not an email"))
            .into_owned()
    }

    /// What the server wrote to its standard error so far.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.folder.path().join("server.log")).unwrap_or_default()
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> T {
        let (status, body) = self.get(path);
        assert_eq!(
            status,
            200,
            "GET {path}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).unwrap_or_else(|error| {
            panic!("GET {path}: {error} in {}", String::from_utf8_lossy(&body))
        })
    }

    /// A minimal HTTP/1.0 GET: the server closes the connection after the answer, so the
    /// answer is everything read. Returns the status code and the body.
    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let fail = |what: &str, error: &dyn std::fmt::Display| -> ! {
            panic!(
                "GET {path} from the capture server: {what}: {error}\n--- server log ---\n{}",
                self.log()
            )
        };
        let mut stream = TcpStream::connect(("127.0.0.1", self.http_port))
            .unwrap_or_else(|error| fail("cannot connect", &error));
        stream
            .set_read_timeout(Some(API_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(API_TIMEOUT)))
            .unwrap_or_else(|error| fail("cannot set a timeout", &error));
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap_or_else(|error| fail("cannot send the request", &error));
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .unwrap_or_else(|error| fail("cannot read the answer", &error));
        let head_end = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| fail("no end of headers", &String::from_utf8_lossy(&response)));
        let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
        let body = response[head_end + 4..].to_vec();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| fail("no status code", &head));
        let length = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        });
        if let Some(length) = length {
            assert_eq!(
                body.len(),
                length,
                "GET {path}: the body is not Content-Length bytes long"
            );
        }
        (status, body)
    }
}

impl Builder {
    /// Offer STARTTLS with the server certificate of `certificates`.
    pub(crate) fn starttls(mut self, certificates: &Certificates) -> Builder {
        self.args.push("--tls-cert".into());
        self.args.push(certificates.server_certificate().into());
        self.args.push("--tls-key".into());
        self.args.push(certificates.server_key().into());
        self
    }

    /// Speak TLS from the first byte (SMTPS), with the server certificate of `certificates`,
    /// instead of offering STARTTLS.
    pub(crate) fn implicit_tls(self, certificates: &Certificates) -> Builder {
        let mut builder = self.starttls(certificates);
        builder.args.push("--implicit-tls".into());
        builder
    }

    /// Refuse `MAIL FROM` before STARTTLS (needs [`Builder::starttls`]).
    pub(crate) fn require_tls(mut self) -> Builder {
        self.args.push("--require-tls".into());
        self
    }

    /// Require AUTH as `user` with `password` before `MAIL FROM`.
    pub(crate) fn auth(mut self, user: &str, password: &str) -> Builder {
        self.args.push("--auth-user".into());
        self.args.push(user.into());
        self.password = Some(password.to_owned());
        self
    }

    /// Answer `RCPT TO:<address>` with 550.
    pub(crate) fn reject(mut self, address: &str) -> Builder {
        self.args.push("--reject".into());
        self.args.push(address.into());
        self
    }

    /// Listens for SMTP on this port instead of a free one (a server started again where an
    /// earlier one was).
    pub(crate) fn port(mut self, port: u16) -> Builder {
        self.args.push("--smtp-port".into());
        self.args.push(port.to_string().into());
        self
    }

    /// Appends the recipients of every accepted message to `path` before the 250 reply, so
    /// what a server took outlives it (the HTTP API dies with the server).
    pub(crate) fn taken_log(mut self, path: &Path) -> Builder {
        self.args.push("--taken-log".into());
        self.args.push(path.into());
        self
    }

    /// Starts the server and waits until it accepts connections.
    pub(crate) fn start(mut self) -> CaptureServer {
        require_aiosmtpd();
        let folder = tempfile::Builder::new()
            .prefix("newsletter-capture")
            .tempdir()
            .expect("cannot create a folder for the capture server");
        if let Some(password) = &self.password {
            // The server reads the password from a file, never from its command line.
            let path = folder.path().join("password");
            fs::write(&path, password).expect("cannot write the password file");
            self.args.push("--auth-password-file".into());
            self.args.push(path.into());
        }
        let ready_file = folder.path().join("ready.json");
        let log = fs::File::create(folder.path().join("server.log"))
            .expect("cannot create the capture server's log");
        let process = Command::new(PYTHON)
            .arg(script())
            .arg("--ready-file")
            .arg(&ready_file)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: nobody reads the log while the server runs, and a full pipe
            // would block it.
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {PYTHON}: {error}"));
        let mut server = CaptureServer {
            process,
            folder,
            smtp_port: 0,
            http_port: 0,
        };
        let ready = server.wait_until_ready(&ready_file);
        server.smtp_port = ready.smtp;
        server.http_port = ready.http;
        server
    }
}

impl CaptureServer {
    /// Polls for the ready file, which the server writes (atomically) once both ports accept.
    fn wait_until_ready(&mut self, ready_file: &Path) -> Ready {
        let started = Instant::now();
        loop {
            if let Ok(text) = fs::read(ready_file) {
                return serde_json::from_slice(&text).unwrap_or_else(|error| {
                    panic!(
                        "the capture server's ready file is not what was expected: {error}: {}",
                        String::from_utf8_lossy(&text)
                    )
                });
            }
            if let Ok(Some(status)) = self.process.try_wait() {
                panic!(
                    "the capture server exited ({status}) before it was ready\n--- server log ---\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "the capture server was not ready within {} s\n--- server log ---\n{}",
                START_TIMEOUT.as_secs(),
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        let exited = self.process.try_wait().ok().flatten();
        let _ = self.process.kill();
        let _ = self.process.wait();
        if thread::panicking() {
            return;
        }
        let log = self.log();
        if let Some(status) = exited {
            panic!("the capture server died during the test ({status})\n--- server log ---\n{log}");
        }
        assert!(
            !log.contains("Traceback"),
            "the capture server failed while handling a request\n--- server log ---\n{log}"
        );
    }
}

/// Fails, saying what to install, unless `/usr/bin/python3` can import aiosmtpd. Checked once
/// per test process.
fn require_aiosmtpd() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let check = CHECK.get_or_init(|| {
        let output = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .env_clear()
            .output();
        match output {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
            Err(error) => Err(format!("cannot run {PYTHON}: {error}")),
        }
    });
    if let Err(error) = check {
        panic!(
            "the end-to-end tests of `send` need aiosmtpd for {PYTHON}: run `apt-get install python3-aiosmtpd`\n{error}"
        );
    }
}

/// A throwaway certificate authority and a server certificate it signed for 127.0.0.1 and
/// localhost, made with the `openssl` command in a temporary folder. Give the server the
/// certificate and `newsletter --ca-file` the CA.
pub(crate) struct Certificates {
    folder: TempDir,
}

impl Certificates {
    pub(crate) fn generate() -> Certificates {
        let folder = tempfile::Builder::new()
            .prefix("newsletter-certificates")
            .tempdir()
            .expect("cannot create a folder for certificates");
        let certificates = Certificates { folder };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            certificates.folder.path(),
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
                &["-subj", "/CN=newsletter test CA"],
                &["-addext", "basicConstraints=critical,CA:TRUE"],
                &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ]
            .concat(),
        );
        // `req -x509 -CA` (OpenSSL 3) makes and signs the server certificate in one step.
        openssl(
            certificates.folder.path(),
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "server.key", "-out", "server.pem", "-days", "2"],
                &[
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
                &["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                &["-addext", "basicConstraints=critical,CA:FALSE"],
                &["-addext", "extendedKeyUsage=serverAuth"],
            ]
            .concat(),
        );
        certificates
    }

    /// The CA certificate (PEM), for `--ca-file`.
    pub(crate) fn ca(&self) -> PathBuf {
        self.folder.path().join("ca.pem")
    }

    fn server_certificate(&self) -> PathBuf {
        self.folder.path().join("server.pem")
    }

    fn server_key(&self) -> PathBuf {
        self.folder.path().join("server.key")
    }
}

fn openssl(folder: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(folder)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run `openssl` (apt-get install openssl): {error}"));
    assert!(
        output.status.success(),
        "`openssl {}` failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
