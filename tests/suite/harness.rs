//! Runs the real `newsletter` binary in a temporary folder and checks what it did.
//!
//! ```ignore
//! let output = Test::fixture("minimal")
//!     .args(["check", "issue.yaml"])
//!     .status(4)
//!     .stderr("error: …\n")
//!     .run();
//! ```
//!
//! Each test gets a fresh folder; fixtures are copied into it, and the binary runs there with
//! an empty environment (only `PATH`, and `HOME` set to the folder), so nothing from the
//! developer's shell or machine leaks in. Paths in messages are then relative to the folder,
//! which keeps expected output short and the same on every machine.
//!
//! `run` checks the exit status (0 unless `status` says otherwise), stdout and stderr, and
//! returns an [`Output`] that keeps the folder alive so the test can read the files written.
//! stderr is expected to be empty unless the test says what it should contain. Whatever the
//! test expects, a run fails if the binary panicked or took longer than its `timeout` (it is
//! then killed), so a test of bad input also proves that the input cannot crash or hang it.
//! `output.again()` runs another command in the same folder, to see what it makes of what the
//! first left there (a journal, say).

use std::{
    ffi::OsString,
    fmt::Write as _,
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// A fixed unsubscribe key, so that unsubscribe URLs (and everything that contains them) are the
/// same in every run.
pub(crate) const UNSUBSCRIBE_KEY: &str = "suite-test-key-0123456789abcdef-0123456789";

/// How long a run may take unless the test says otherwise: far more than any run needs, so
/// that only a hang reaches it, even on a loaded machine.
const DEFAULT_TIMEOUT: Duration = Duration::from_mins(2);

/// One run of the binary, built up step by step.
#[must_use = "a Test does nothing until `run` is called"]
pub(crate) struct Test {
    tempdir: TempDir,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// The exit statuses accepted (one, unless `status_any_of` says more).
    status: Vec<i32>,
    stdout: Option<String>,
    stdout_contains: Vec<String>,
    stderr: Option<String>,
    stderr_contains: Vec<String>,
    timeout: Duration,
    /// A program (with its arguments) that runs the binary, such as `strace`.
    wrapper: Vec<OsString>,
    /// The binary to run, if not the one cargo built.
    program: Option<PathBuf>,
    measure_memory: bool,
}

/// Where [`Test::measure_memory`] has GNU time write the peak memory, in the run's folder.
const PEAK_MEMORY_FILE: &str = "peak-memory-kib";

/// A run started with [`Test::spawn`].
pub(crate) struct Running {
    pub(crate) child: std::process::Child,
    tempdir: TempDir,
}

impl Running {
    /// The absolute path of `relative` in the run's folder.
    pub(crate) fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.tempdir.path().join(relative)
    }

    /// The folder the run works in.
    pub(crate) fn folder(&self) -> &Path {
        self.tempdir.path()
    }

    /// Waits for the run to end; its exit code (`None` if killed by a signal), stdout, stderr.
    pub(crate) fn finish(self) -> (Option<i32>, String, String, Output) {
        let output = self
            .child
            .wait_with_output()
            .expect("cannot wait for the newsletter binary");
        let stdout = String::from_utf8(output.stdout).expect("stdout is not UTF-8");
        let stderr = String::from_utf8(output.stderr).expect("stderr is not UTF-8");
        let folder = Output {
            tempdir: self.tempdir,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
        };
        (output.status.code(), stdout, stderr, folder)
    }
}

/// What a run produced, with the folder it ran in.
pub(crate) struct Output {
    pub(crate) tempdir: TempDir,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

impl Test {
    /// A run in an empty folder.
    pub(crate) fn new() -> Test {
        Test::in_folder(
            tempfile::Builder::new()
                .prefix("newsletter-suite")
                .tempdir()
                .expect("cannot create a temporary folder"),
        )
    }

    fn in_folder(tempdir: TempDir) -> Test {
        Test {
            tempdir,
            args: Vec::new(),
            env: Vec::new(),
            status: vec![0],
            stdout: None,
            stdout_contains: Vec::new(),
            stderr: None,
            stderr_contains: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            wrapper: Vec::new(),
            program: None,
            measure_memory: false,
        }
    }

    /// A run in a folder holding a copy of `tests/fixtures/NAME`.
    pub(crate) fn fixture(name: &str) -> Test {
        // Fixtures' unsubscribe URLs carry a token, so runs need the key (tests of the missing
        // key use `Test::newsletters`).
        Test::new().with_fixture(name).unsubscribe_key()
    }

    /// A run in a folder holding a copy of the repository's `newsletters/` folder, as
    /// `newsletters/`, so commands read `newsletters/2019-06-uk-sg-mou.yaml` as a user would.
    pub(crate) fn newsletters() -> Test {
        let test = Test::new();
        copy_folder(
            &repository().join("newsletters"),
            &test.tempdir.path().join("newsletters"),
        );
        test
    }

    /// Copies `tests/fixtures/NAME` over the folder; a case folder that holds only the files it
    /// changes can so be laid over a complete one such as `minimal`.
    pub(crate) fn with_fixture(self, name: &str) -> Test {
        copy_folder(
            &repository().join("tests/fixtures").join(name),
            self.tempdir.path(),
        );
        self
    }

    /// `preview` of the sample issue (newsletters/2019-06-uk-sg-mou.yaml) into `out/`, with
    /// the fixed unsubscribe key; `extra` arguments follow.
    pub(crate) fn preview_mou(extra: &[&str]) -> Test {
        Test::newsletters()
            .unsubscribe_key()
            .args([
                "preview",
                "newsletters/2019-06-uk-sg-mou.yaml",
                "--out",
                "out",
            ])
            .args(extra)
    }

    /// Copies the repository's folder `relative` over the folder, like
    /// [`with_fixture`](Test::with_fixture).
    pub(crate) fn with_folder(self, relative: &Path) -> Test {
        copy_folder(&repository().join(relative), self.tempdir.path());
        self
    }

    /// Runs the binary under `program` with `arguments` before the binary's path (`strace -f
    /// -o trace.txt`, say); the exit status and output checked are the wrapper's.
    pub(crate) fn wrapped_in<I>(mut self, program: &str, arguments: I) -> Test
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        self.wrapper = std::iter::once(OsString::from(program))
            .chain(arguments.into_iter().map(Into::into))
            .collect();
        self
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Test {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I>(mut self, args: I) -> Test
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub(crate) fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets `NEWSLETTER_UNSUBSCRIBE_KEY` to [`UNSUBSCRIBE_KEY`].
    pub(crate) fn unsubscribe_key(self) -> Test {
        self.env("NEWSLETTER_UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY)
    }

    /// A path in the test's folder.
    pub(crate) fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.tempdir.path().join(relative)
    }

    /// Writes a file into the folder (creating its parent folders), replacing any copy.
    pub(crate) fn write(self, path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> Test {
        let path = self.tempdir.path().join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("cannot create a folder in the test folder");
        }
        fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        self
    }

    /// Writes an executable file (a script standing in for a program) into the folder.
    #[cfg(unix)]
    pub(crate) fn executable(self, path: impl AsRef<Path>, contents: &str) -> Test {
        use std::os::unix::fs::PermissionsExt as _;
        let full = self.tempdir.path().join(&path);
        let test = self.write(path, contents);
        fs::set_permissions(&full, fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|error| panic!("cannot make {} executable: {error}", full.display()));
        test
    }

    /// The exit status the run must end with (default 0).
    /// Makes `link` in the folder a symbolic link to `target` (as given: a relative target is
    /// relative to the link's folder).
    pub(crate) fn symlink(self, link: impl AsRef<Path>, target: impl AsRef<Path>) -> Test {
        let link = self.tempdir.path().join(link);
        if let Some(folder) = link.parent() {
            fs::create_dir_all(folder).expect("cannot create the folder of a link");
        }
        std::os::unix::fs::symlink(target, &link).expect("cannot create a symbolic link");
        self
    }

    pub(crate) fn status(mut self, code: i32) -> Test {
        self.status = vec![code];
        self
    }

    /// Any of these exit statuses will do (for inputs whose exact fate the test does not pin,
    /// such as a file cut short at an arbitrary byte).
    pub(crate) fn status_any_of(mut self, codes: &[i32]) -> Test {
        self.status = codes.to_vec();
        self
    }

    /// The exact standard output.
    pub(crate) fn stdout(mut self, expected: &str) -> Test {
        self.stdout = Some(expected.to_owned());
        self
    }

    pub(crate) fn stdout_contains(mut self, expected: &str) -> Test {
        self.stdout_contains.push(expected.to_owned());
        self
    }

    /// The exact standard error (default: empty, unless `stderr_contains` is used).
    pub(crate) fn stderr(mut self, expected: &str) -> Test {
        self.stderr = Some(expected.to_owned());
        self
    }

    pub(crate) fn stderr_contains(mut self, expected: &str) -> Test {
        self.stderr_contains.push(expected.to_owned());
        self
    }

    /// How long the run may take before it is killed and the test fails (default: 2 minutes).
    pub(crate) fn timeout(mut self, limit: Duration) -> Test {
        self.timeout = limit;
        self
    }

    /// Runs this copy of the binary instead of the one cargo built (an installed copy, say).
    pub(crate) fn program(mut self, path: impl Into<PathBuf>) -> Test {
        self.program = Some(path.into());
        self
    }

    /// Runs the binary under GNU time (Debian's `time` package), so that
    /// [`Output::peak_memory_kib`] can tell the most memory it held at once.
    pub(crate) fn measure_memory(mut self) -> Test {
        self.measure_memory = true;
        self
    }

    /// The command this test runs: the binary, in the test's folder, with a scrubbed
    /// environment.
    fn command(&self) -> Command {
        let binary = self
            .program
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_newsletter")));
        let mut command = match self.wrapper.split_first() {
            Some((program, arguments)) => {
                let mut command = Command::new(program);
                command.args(arguments).arg(&binary);
                command
            }
            None if self.measure_memory => {
                let mut time = Command::new("/usr/bin/time");
                time.args(["--format", "%M", "--output"])
                    .arg(self.tempdir.path().join(PEAK_MEMORY_FILE))
                    .arg(&binary);
                time
            }
            None => Command::new(&binary),
        };
        command
            .args(&self.args)
            .current_dir(self.tempdir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tempdir.path())
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Starts the binary without waiting for it, for tests that signal it while it runs.
    /// Expectations set on the test are not checked.
    pub(crate) fn spawn(self) -> Running {
        let child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the newsletter binary");
        Running {
            child,
            tempdir: self.tempdir,
        }
    }

    /// Runs the binary and checks status, stdout and stderr; panics with all three if any
    /// differs.
    pub(crate) fn run(self) -> Output {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run the newsletter binary");
        let stdout = collect(child.stdout.take().expect("stdout is piped"));
        let stderr = collect(child.stderr.take().expect("stderr is piped"));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("cannot wait for the binary") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(5));
        };
        let stdout = String::from_utf8(stdout.join().expect("cannot read stdout"))
            .expect("stdout is not UTF-8");
        let stderr = String::from_utf8(stderr.join().expect("cannot read stderr"))
            .expect("stderr is not UTF-8");
        let mut problems = String::new();
        match status {
            None => {
                let _ = writeln!(
                    problems,
                    "it did not finish within {:?} and was killed",
                    self.timeout
                );
            }
            Some(status)
                if !status
                    .code()
                    .is_some_and(|code| self.status.contains(&code)) =>
            {
                let _ = writeln!(
                    problems,
                    "exit status: expected {:?}, got {:?}",
                    self.status,
                    status.code()
                );
            }
            Some(_) => {}
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            let _ = writeln!(problems, "it panicked");
        }
        check_stream(
            &mut problems,
            "stdout",
            &stdout,
            self.stdout.as_deref(),
            &self.stdout_contains,
        );
        let stderr_exact = match (&self.stderr, self.stderr_contains.is_empty()) {
            (Some(expected), _) => Some(expected.as_str()),
            (None, true) => Some(""),
            (None, false) => None,
        };
        check_stream(
            &mut problems,
            "stderr",
            &stderr,
            stderr_exact,
            &self.stderr_contains,
        );
        assert!(
            problems.is_empty(),
            "`newsletter {}` did not do what was expected:\n{problems}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}--- end ---",
            self.args
                .iter()
                .map(|arg| arg.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        );
        Output {
            tempdir: self.tempdir,
            stdout,
            stderr,
        }
    }
}

/// Reads all of `stream` on a thread of its own, so that neither pipe can fill up and block
/// the binary while the other is read.
fn collect(mut stream: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

fn check_stream(
    problems: &mut String,
    name: &str,
    actual: &str,
    exact: Option<&str>,
    contains: &[String],
) {
    if let Some(expected) = exact
        && actual != expected
    {
        let _ = writeln!(
            problems,
            "{name} differs; expected exactly:\n{expected}<end of expected {name}>"
        );
    }
    for expected in contains {
        if !actual.contains(expected.as_str()) {
            let _ = writeln!(problems, "{name} does not contain:\n{expected}<end>");
        }
    }
}

impl Output {
    /// Another run in the same folder, which keeps the files earlier runs wrote (a journal,
    /// say). Arguments and environment start empty again.
    pub(crate) fn again(self) -> Test {
        Test::in_folder(self.tempdir)
    }

    /// The peak resident memory of a run made with [`Test::measure_memory`], in KiB.
    pub(crate) fn peak_memory_kib(&self) -> u64 {
        let text = self.read(PEAK_MEMORY_FILE);
        // GNU time writes "Command exited with non-zero status N" first when it is not 0.
        let last = text.lines().rfind(|line| !line.trim().is_empty());
        last.and_then(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("GNU time wrote no peak memory: {text:?}"))
    }

    /// The absolute path of `relative` in the folder the run happened in.
    pub(crate) fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.tempdir.path().join(relative)
    }

    pub(crate) fn read_bytes(&self, relative: impl AsRef<Path>) -> Vec<u8> {
        let path = self.path(relative);
        fs::read(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
    }

    pub(crate) fn read(&self, relative: impl AsRef<Path>) -> String {
        let relative = relative.as_ref();
        String::from_utf8(self.read_bytes(relative))
            .unwrap_or_else(|_| panic!("{} is not UTF-8", relative.display()))
    }

    /// The email in the file `relative`, parsed as a mail client would.
    pub(crate) fn email(&self, relative: impl AsRef<Path>) -> mail_parser::Message<'static> {
        let relative = relative.as_ref();
        mail_parser::MessageParser::default()
            .parse(&self.read_bytes(relative))
            .unwrap_or_else(|| panic!("{} is not an email", relative.display()))
            .into_owned()
    }

    /// The names of the entries of a folder, sorted; empty if it does not exist.
    pub(crate) fn files(&self, relative: impl AsRef<Path>) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.path(relative)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|entry| {
                entry
                    .expect("cannot list a folder")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

fn copy_folder(from: &Path, to: &Path) {
    fs::create_dir_all(to)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", to.display()));
    let entries = fs::read_dir(from)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", from.display()));
    for entry in entries {
        let entry = entry.expect("cannot list a fixture folder");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("cannot stat a fixture").is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|error| panic!("cannot copy {}: {error}", entry.path().display()));
        }
    }
}

/// The text part of a parsed message, with LF line ends.
pub(crate) fn text_part(message: &mail_parser::Message<'_>) -> String {
    message
        .body_text(0)
        .expect("no text part")
        .replace("\r\n", "\n")
}

/// The HTML part of a parsed message.
pub(crate) fn html_part(message: &mail_parser::Message<'_>) -> String {
    message.body_html(0).expect("no HTML part").into_owned()
}
