//! `newsletter serve`: the real endpoint process on a free loopback port, driven by a real
//! HTTP client (reqwest) and, for slow or half-sent requests, by a raw TCP socket. Each test
//! reads the suppression file the endpoint writes, and the last ones run `send` against the
//! capture server to see the loop closed: an unsubscribed address is not mailed, even when it
//! unsubscribes while the send is running. The kill -9 test proves "200 means on disk".

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use newsletter::testing::TokenKey;
use reqwest::{StatusCode, blocking::Client};

use crate::{
    harness::{Running, Test, UNSUBSCRIBE_KEY},
    smtp_server::CaptureServer,
};

pub(crate) const LIST_ID: &str = "bulletin.sin-singapore.example.org";
pub(crate) const SUPPRESSED: &str = "newsletters/suppressed.txt";
const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";

/// A running `newsletter serve newsletters/list.yaml` in a copy of `newsletters/`.
pub(crate) struct Endpoint {
    running: Option<Running>,
    pub(crate) port: u16,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Endpoint {
    pub(crate) fn start(extra: &[&str]) -> Endpoint {
        Endpoint::start_in(Test::newsletters(), extra)
    }

    /// Starts the endpoint with `test`'s folder and settings; `extra` arguments follow.
    pub(crate) fn start_in(test: Test, extra: &[&str]) -> Endpoint {
        let mut running = test
            .unsubscribe_key()
            .args(["serve", "newsletters/list.yaml", "--listen", "127.0.0.1:0"])
            .args(extra)
            .spawn();
        let stdout = running.child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("cannot read the endpoint's first line");
        let port = line
            .trim()
            .strip_prefix("listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .expect("a port");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = running.child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(read) = pipe.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
        });
        Endpoint {
            running: Some(running),
            port,
            stderr,
        }
    }

    pub(crate) fn folder(&self) -> &Path {
        self.running.as_ref().expect("running").folder()
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.folder().join(relative)
    }

    pub(crate) fn suppressed(&self) -> String {
        std::fs::read_to_string(self.path(SUPPRESSED)).unwrap_or_default()
    }

    /// The access log and messages written so far.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The endpoint's URL for `email` in the sample list's scheme (`?id=…&token=…`).
    pub(crate) fn url(&self, email: &str) -> String {
        let key = key();
        format!(
            "http://127.0.0.1:{}/unsubscribe?id={}&token={}",
            self.port,
            key.id(LIST_ID, email),
            key.token(LIST_ID, email)
        )
    }

    pub(crate) fn pid(&self) -> u32 {
        self.running.as_ref().expect("running").child.id()
    }

    /// Sends `signal` (`-TERM`, `-KILL`) to the endpoint.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(status.success());
    }

    /// Waits for the endpoint to exit; its exit code (`None` if killed by a signal).
    pub(crate) fn wait(mut self) -> (Option<i32>, Running) {
        let mut running = self.running.take().expect("running");
        let deadline = Instant::now() + Duration::from_mins(1);
        loop {
            if let Some(status) = running.child.try_wait().expect("cannot wait") {
                return (status.code(), running);
            }
            assert!(Instant::now() < deadline, "the endpoint did not stop");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(running) = &mut self.running {
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}

pub(crate) fn key() -> TokenKey {
    TokenKey::new(UNSUBSCRIBE_KEY.into()).expect("the suite's key is long enough")
}

pub(crate) fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("cannot build the HTTP client")
}

/// The one-click POST a mail client sends (RFC 8058).
pub(crate) fn one_click(client: &Client, url: &str) -> reqwest::blocking::Response {
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .expect("the endpoint did not answer")
}

/// The addresses in a suppression file's text.
pub(crate) fn addresses(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_lowercase())
        .filter(|address| !address.is_empty())
        .collect()
}

#[test]
fn one_click_post_records_the_address_and_a_get_changes_nothing() {
    let endpoint = Endpoint::start(&[]);
    let client = client();
    let before = endpoint.suppressed();
    let url = endpoint.url("zoe.martin@example.org");

    let page = client.get(&url).send().unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().unwrap();
    assert!(html.contains("<html lang=\"en-GB\">"), "{html}");
    assert!(html.contains("SIN Singapore Bulletin"), "{html}");
    assert!(
        html.contains("<form method=\"post\" action=\"\">"),
        "{html}"
    );
    assert!(html.contains("name=\"List-Unsubscribe\" value=\"One-Click\""));
    assert_eq!(html.matches("<button").count(), 1);
    let head = client.head(&url).send().unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        endpoint.suppressed(),
        before,
        "GET or HEAD changed the file"
    );

    let done = one_click(&client, &url);
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().unwrap().contains("will not receive"));
    let after = endpoint.suppressed();
    assert!(after.starts_with(&before), "{after}");
    let added = &after[before.len()..];
    assert!(
        added.starts_with("zoe.martin@example.org  # unsubscribed one-click 20"),
        "{added:?}"
    );
    assert_eq!(added.lines().count(), 1);

    // Idempotent: again 200, nothing added.
    assert_eq!(one_click(&client, &url).status(), StatusCode::OK);
    assert_eq!(endpoint.suppressed(), after);

    // multipart/form-data, as RFC 8058 prefers.
    let form = reqwest::blocking::multipart::Form::new().text("List-Unsubscribe", "One-Click");
    let multipart = client
        .post(endpoint.url("li.ming@example.com"))
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(multipart.status(), StatusCode::OK);
    assert!(addresses(&endpoint.suppressed()).contains(&"li.ming@example.com".to_owned()));

    // A POST without the one-click body is not an unsubscribe.
    let wrong_body = client
        .post(endpoint.url("sean.obrien@example.org"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=Maybe")
        .send()
        .unwrap();
    assert_eq!(wrong_body.status(), StatusCode::BAD_REQUEST);
    assert!(!endpoint.suppressed().contains("sean.obrien"));
}

#[test]
fn forged_truncated_and_other_list_tokens_get_the_same_403() {
    let endpoint = Endpoint::start(&[]);
    let client = client();
    let before = endpoint.suppressed();
    let key = key();
    let zoe = "zoe.martin@example.org";
    let base = format!("http://127.0.0.1:{}/unsubscribe", endpoint.port);
    let id = key.id(LIST_ID, zoe);
    let token = key.token(LIST_ID, zoe);
    let other_key = TokenKey::new(format!("{UNSUBSCRIBE_KEY}-other").into_bytes()).unwrap();
    let cases = [
        (
            "forged token",
            format!(
                "{base}?id={id}&token={}",
                key.token(LIST_ID, "mallory@example.com")
            ),
        ),
        (
            "truncated token",
            format!("{base}?id={id}&token={}", &token[..30]),
        ),
        (
            "truncated id",
            format!("{base}?id={}&token={token}", &id[..id.len() - 3]),
        ),
        ("missing token", format!("{base}?id={id}")),
        ("missing id", format!("{base}?token={token}")),
        (
            "other list",
            format!(
                "{base}?id={}&token={}",
                key.id("other.example.org", zoe),
                key.token("other.example.org", zoe)
            ),
        ),
        (
            "other key",
            format!(
                "{base}?id={}&token={}",
                other_key.id(LIST_ID, zoe),
                other_key.token(LIST_ID, zoe)
            ),
        ),
        (
            "swapped ids",
            format!(
                "{base}?id={}&token={token}",
                key.id(LIST_ID, "li.ming@example.com")
            ),
        ),
    ];
    let mut bodies = BTreeSet::new();
    for (case, url) in &cases {
        let posted = one_click(&client, url);
        assert_eq!(posted.status(), StatusCode::FORBIDDEN, "{case}");
        bodies.insert(posted.text().unwrap());
        let fetched = client.get(url).send().unwrap();
        assert_eq!(fetched.status(), StatusCode::FORBIDDEN, "{case}");
        let page = fetched.text().unwrap();
        assert!(
            page.contains("mailto:unsubscribe@sin-singapore.example.org"),
            "{page}"
        );
        bodies.insert(page);
    }
    // The same page whatever was wrong, so a prober learns nothing.
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(endpoint.suppressed(), before);
    let log = endpoint.stderr();
    assert!(
        !log.contains(&token[..20]) && !log.contains(&id[..20]),
        "{log}"
    );
    assert!(!log.contains("zoe.martin"), "{log}");
    assert!(log.contains("POST /unsubscribe 403"), "{log}");
}

#[test]
fn a_post_from_another_sites_page_is_refused_even_with_a_valid_token() {
    let endpoint = Endpoint::start(&[]);
    let client = client();
    let url = endpoint.url("zoe.martin@example.org");
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let answer = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header(name, value)
            .body("List-Unsubscribe=One-Click")
            .send()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{name}");
    }
    assert!(!endpoint.suppressed().contains("zoe.martin"));
}

#[test]
fn pages_carry_security_headers_and_escape_what_they_show() {
    let endpoint = Endpoint::start(&[]);
    let client = client();
    let page = client
        .get(endpoint.url("mallory@example.com"))
        .send()
        .unwrap();
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // An address with markup (as a signed id could hold) is shown escaped.
    let key = key();
    let crafted = "<b>x</b>@example.org";
    let url = format!(
        "http://127.0.0.1:{}/unsubscribe?id={}&token={}",
        endpoint.port,
        key.id(LIST_ID, crafted),
        key.token(LIST_ID, crafted)
    );
    let html = client.get(url).send().unwrap().text().unwrap();
    assert!(
        html.contains("&#60;b&#62;x&#60;/b&#62;@example.org"),
        "{html}"
    );
    assert!(!html.contains("<b>x"), "{html}");

    let health = client
        .get(format!("http://127.0.0.1:{}/healthz", endpoint.port))
        .send()
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let elsewhere = client
        .get(format!("http://127.0.0.1:{}/unsubscribe/x", endpoint.port))
        .send()
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
}

#[test]
fn other_methods_oversize_and_slow_requests_are_refused() {
    let endpoint = Endpoint::start(&["--read-timeout", "1s"]);
    let client = client();
    let url = endpoint.url("zoe.martin@example.org");
    for method in ["PUT", "DELETE", "OPTIONS", "PATCH"] {
        let answer = client
            .request(method.parse().unwrap(), &url)
            .send()
            .unwrap();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(answer.headers()["allow"], "GET, HEAD, POST");
    }
    let huge = format!("List-Unsubscribe=One-Click&pad={}", "x".repeat(9000));
    let oversize = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge.clone())
        .send()
        .unwrap();
    assert_eq!(oversize.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Without a length up front (chunked), the limit holds while reading.
    let chunked = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(
            huge.into_bytes(),
        )))
        .send()
        .unwrap();
    assert_eq!(chunked.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A body that never comes: 408 after the read timeout.
    let path = url.trim_start_matches(&format!("http://127.0.0.1:{}", endpoint.port));
    let mut slow = TcpStream::connect(("127.0.0.1", endpoint.port)).unwrap();
    write!(
        slow,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\nList-Unsub"
    )
    .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut slow);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Headers that never end: the connection is closed after the read timeout.
    let mut slower = TcpStream::connect(("127.0.0.1", endpoint.port)).unwrap();
    write!(slower, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut slower);
    assert!(started.elapsed() < Duration::from_secs(5), "{answer}");
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(!endpoint.suppressed().contains("zoe.martin"));
}

/// Everything the server sends until it closes the connection (or 10 s pass).
fn read_answer(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_client_over_its_rate_gets_429() {
    let endpoint = Endpoint::start(&["--rate-limit", "3"]);
    let client = client();
    let url = endpoint.url("zoe.martin@example.org");
    for _ in 0..3 {
        assert_eq!(client.get(&url).send().unwrap().status(), StatusCode::OK);
    }
    let limited = client.get(&url).send().unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    // The proxy's health checks are not counted.
    let health = client
        .get(format!("http://127.0.0.1:{}/healthz", endpoint.port))
        .send()
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[test]
fn sigterm_lets_a_request_under_way_finish_and_record() {
    let endpoint = Endpoint::start(&[]);
    let url = endpoint.url("zoe.martin@example.org");
    let path = url
        .trim_start_matches(&format!("http://127.0.0.1:{}", endpoint.port))
        .to_owned();
    let mut stream = TcpStream::connect(("127.0.0.1", endpoint.port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\nList-Unsub"
    )
    .unwrap();
    stream.flush().unwrap();
    thread::sleep(Duration::from_millis(300));
    endpoint.signal("-TERM");
    thread::sleep(Duration::from_millis(300));
    stream.write_all(b"scribe=One-Click").unwrap();
    let answer = read_answer(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let suppressed = endpoint.suppressed();
    let (code, _) = endpoint.wait();
    assert_eq!(code, Some(0));
    assert!(addresses(&suppressed).contains(&"zoe.martin@example.org".to_owned()));
}

#[test]
fn send_skips_an_address_unsubscribed_through_the_endpoint() {
    let endpoint = Endpoint::start(&[]);
    assert_eq!(
        one_click(&client(), &endpoint.url("li.ming@example.com")).status(),
        StatusCode::OK
    );
    let server = CaptureServer::start();
    let status = Command::new(env!("CARGO_BIN_EXE_newsletter"))
        .args(["send", MOU, "--yes", "--progress", "none", "--smtp"])
        .arg(server.smtp_url())
        .current_dir(endpoint.folder())
        .env_clear()
        .env("NEWSLETTER_UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let recipients: Vec<String> = server.summary().into_iter().flat_map(|m| m.to).collect();
    assert!(!recipients.is_empty());
    assert!(
        !recipients.iter().any(|to| to.contains("li.ming")),
        "{recipients:?}"
    );
    assert!(recipients.iter().any(|to| to.contains("zoe.martin")));
    assert!(stdout.contains("suppressed"), "{stdout}");
}

#[test]
fn an_unsubscribe_during_a_long_send_takes_effect_mid_run() {
    // 60 subscribers at 10 a second: the send runs about six seconds.
    let mut csv = String::from("email,name,status,organisation\n");
    for n in 0..60 {
        let _ = writeln!(csv, "reader{n:02}@example.org,Reader {n},subscribed,");
    }
    let test = Test::newsletters().write("newsletters/subscribers.csv", csv);
    let endpoint = Endpoint::start_in(test, &[]);
    let server = CaptureServer::start();
    let send = Command::new(env!("CARGO_BIN_EXE_newsletter"))
        .args([
            "send",
            MOU,
            "--yes",
            "--progress",
            "none",
            "--rate",
            "10",
            "--concurrency",
            "1",
            "--report",
            "report.jsonl",
            "--smtp",
        ])
        .arg(server.smtp_url())
        .current_dir(endpoint.folder())
        .env_clear()
        .env("NEWSLETTER_UNSUBSCRIBE_KEY", UNSUBSCRIBE_KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_mins(1);
    while server.stats().messages < 5 {
        assert!(Instant::now() < deadline, "the send did not start");
        thread::sleep(Duration::from_millis(50));
    }
    let client = client();
    // reader16's message is already built and queued by now (about 14 messages ahead of the
    // relay at concurrency 1 and a set rate), so only the check as it is handed to the
    // connection can stop it; reader50 and reader59 are not read from the list yet.
    for late in [
        "reader16@example.org",
        "reader50@example.org",
        "reader59@example.org",
    ] {
        assert_eq!(
            one_click(&client, &endpoint.url(late)).status(),
            StatusCode::OK
        );
    }
    let sent_when_unsubscribed = server.stats().messages;
    assert!(
        sent_when_unsubscribed < 45,
        "the send was too quick to test: {sent_when_unsubscribed}"
    );
    let output = send.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let recipients: BTreeSet<String> = server.summary().into_iter().flat_map(|m| m.to).collect();
    assert_eq!(recipients.len(), 57, "{recipients:?}");
    assert!(!recipients.contains("reader16@example.org"));
    assert!(!recipients.contains("reader50@example.org"));
    assert!(!recipients.contains("reader59@example.org"));
    let report = std::fs::read_to_string(endpoint.path("report.jsonl")).unwrap();
    assert!(
        report.contains("added to the suppression file during the send"),
        "{report}"
    );
}

#[test]
fn every_200_survives_kill_9_under_load() {
    let endpoint = Endpoint::start(&["--rate-limit", "0"]);
    let port = endpoint.port;
    let confirmed = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..16)
        .map(|worker| {
            let confirmed = Arc::clone(&confirmed);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let client = Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let key = key();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let email = format!("load{worker}-{n}@example.org");
                    let url = format!(
                        "http://127.0.0.1:{port}/unsubscribe?id={}&token={}",
                        key.id(LIST_ID, &email),
                        key.token(LIST_ID, &email)
                    );
                    match client
                        .post(url)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("List-Unsubscribe=One-Click")
                        .send()
                    {
                        Ok(answer) if answer.status() == StatusCode::OK => {
                            confirmed.lock().unwrap().push(email);
                        }
                        Ok(answer) => panic!("unexpected {}", answer.status()),
                        // The kill: requests under way get no answer, so promise nothing.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while confirmed.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "too few requests answered");
        thread::sleep(Duration::from_millis(10));
    }
    endpoint.signal("-KILL");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let confirmed = confirmed.lock().unwrap().clone();
    let folder = endpoint.folder().to_owned();
    let (code, running) = endpoint.wait();
    assert_eq!(code, None, "killed by a signal");
    let text = std::fs::read_to_string(folder.join(SUPPRESSED)).unwrap();
    let on_disk: BTreeSet<String> = addresses(&text).into_iter().collect();
    let missing: Vec<&String> = confirmed.iter().filter(|e| !on_disk.contains(*e)).collect();
    assert!(
        missing.is_empty(),
        "answered 200 but not on disk: {missing:?}"
    );
    // Every line reads back (no torn line: each is an address and a reason).
    for line in text.lines().filter(|l| l.starts_with("load")) {
        assert!(
            line.contains("  # unsubscribed one-click 20"),
            "torn line {line:?}"
        );
    }
    // The restarted endpoint and `status` both read the file.
    let status = Command::new(env!("CARGO_BIN_EXE_newsletter"))
        .args(["status", MOU])
        .current_dir(&folder)
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{stdout}");
    assert!(stdout.contains("unsubscribed one-click"), "{stdout}");
    drop(running);
    println!("{} confirmed before the kill, all on disk", confirmed.len());
}

/// `newsletters/` with the list file's `language:` set to `tag` and `extra` lines added to its
/// `unsubscribe:` section.
pub(crate) fn list_in(tag: &str, extra: &str) -> Test {
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/newsletters/list.yaml"
    ))
    .expect("the sample list file");
    let list = list.replace("language: en-GB", &format!("language: {tag}"));
    let list = list.replace(
        "  mailto: unsubscribe@sin-singapore.example.org\n",
        &format!("  mailto: unsubscribe@sin-singapore.example.org\n{extra}"),
    );
    Test::newsletters().write("newsletters/list.yaml", list)
}

#[test]
fn a_french_list_gets_every_page_in_french() {
    let endpoint = Endpoint::start_in(list_in("fr-CA", ""), &["--rate-limit", "4"]);
    let client = client();
    let url = endpoint.url("zoe.martin@example.org");

    let html = client.get(&url).send().unwrap().text().unwrap();
    assert!(html.contains("<html lang=\"fr-CA\">"), "{html}");
    assert!(
        html.contains("<title>Se désabonner – SIN Singapore Bulletin</title>"),
        "{html}"
    );
    assert!(
        html.contains(
            "<p>Voulez-vous que <strong>zoe.martin@example.org</strong> ne reçoive plus SIN Singapore Bulletin\u{a0}?</p>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<button type=\"submit\">Se désabonner</button>"),
        "{html}"
    );
    assert!(!html.contains("Unsubscribe<"), "{html}");

    let done = one_click(&client, &url).text().unwrap();
    assert!(
        done.contains("<h1>Votre désabonnement est confirmé</h1>"),
        "{done}"
    );
    assert!(
        done.contains("<p role=\"status\"><strong>zoe.martin@example.org</strong> ne recevra plus SIN Singapore Bulletin.</p>"),
        "{done}"
    );

    let forged = client.get(url.replace("token=", "token=x")).send().unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged = forged.text().unwrap();
    assert!(
        forged.contains("<h1>Ce lien ne fonctionne pas</h1>"),
        "{forged}"
    );
    assert!(
        forged.contains("<p>Écrivez à <a href=\"mailto:unsubscribe@sin-singapore.example.org?subject=unsubscribe\">unsubscribe@sin-singapore.example.org</a> et nous vous retirerons de la liste.</p>"),
        "{forged}"
    );

    // The fifth request within the minute is over the rate; a person may be the one limited.
    let limited = client.get(&url).send().unwrap();
    let limited = if limited.status() == StatusCode::TOO_MANY_REQUESTS {
        limited
    } else {
        client.get(&url).send().unwrap()
    };
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    assert!(
        limited.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let limited = limited.text().unwrap();
    assert!(limited.contains("<h1>Trop de demandes</h1>"), "{limited}");
    assert!(addresses(&endpoint.suppressed()).contains(&"zoe.martin@example.org".to_owned()));
}

#[test]
fn a_language_without_a_translation_gets_english_pages_marked_english() {
    let endpoint = Endpoint::start_in(list_in("ta-SG", ""), &[]);
    let html = client()
        .get(endpoint.url("zoe.martin@example.org"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    // The words are English, so the page says so (screen readers pick their voice by it).
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(
        html.contains("<button type=\"submit\">Unsubscribe</button>"),
        "{html}"
    );
    assert!(
        endpoint.stderr().contains(
            "note: `newsletters/list.yaml`: the unsubscribe pages have no wording in `ta-SG`; they will be in English (they speak en (English), fr (French), de (German), es (Spanish), it (Italian), nl (Dutch), pt (Portuguese), zh (Chinese (Simplified)), cy (Welsh), ms (Malay))\n"
        ),
        "{}",
        endpoint.stderr()
    );
}

#[test]
fn check_notes_a_language_the_pages_do_not_speak() {
    list_in("ta", "")
        .unsubscribe_key()
        .args(["check", "newsletters/2019-06-uk-sg-mou.yaml"])
        .stdout_contains("ok: ")
        .stderr_contains("note: `newsletters/list.yaml`: the unsubscribe pages have no wording in `ta`; they will be in English")
        .run();
    let welsh = list_in("cy-GB", "")
        .unsubscribe_key()
        .args(["check", "newsletters/2019-06-uk-sg-mou.yaml"])
        .stdout_contains("ok: ")
        .stderr_contains("is a duplicate of line 2")
        .run();
    assert!(
        !welsh.stderr.contains("unsubscribe pages"),
        "{}",
        welsh.stderr
    );
}

#[test]
fn the_list_file_may_word_a_text_itself_and_it_is_escaped() {
    let own = "  page:\n    button: \"<b>Partir</b> & oublier\"\n    done: \"Adieu {address}, {list} ne vous écrira plus.\"\n";
    let endpoint = Endpoint::start_in(list_in("fr", own), &[]);
    let client = client();
    let url = endpoint.url("zoe.martin@example.org");
    let html = client.get(&url).send().unwrap().text().unwrap();
    assert!(
        html.contains(
            "<button type=\"submit\">&#60;b&#62;Partir&#60;/b&#62; &#38; oublier</button>"
        ),
        "{html}"
    );
    assert!(!html.contains("<b>"), "{html}");
    // Texts the list does not word keep the translation.
    assert!(html.contains("<h1>Se désabonner</h1>"), "{html}");
    let done = one_click(&client, &url).text().unwrap();
    assert!(
        done.contains("<p role=\"status\">Adieu <strong>zoe.martin@example.org</strong>, SIN Singapore Bulletin ne vous écrira plus.</p>"),
        "{done}"
    );
}

#[test]
fn a_list_wording_that_drops_or_invents_a_placeholder_is_refused() {
    list_in("fr", "  page:\n    done: \"Vous ne recevrez plus {list}.\"\n")
        .args(["serve", "newsletters/list.yaml", "--listen", "127.0.0.1:0"])
        .unsubscribe_key()
        .status(4)
        .stderr_contains("`newsletters/list.yaml`")
        .stderr_contains("done: `Vous ne recevrez plus {list}.` must contain `{address}` (done uses `{address}` and `{list}`)")
        .run();
    list_in("fr", "  page:\n    buton: Partir\n")
        .args(["check", "newsletters/2019-06-uk-sg-mou.yaml"])
        .unsubscribe_key()
        .status(4)
        .stderr_contains("`buton` is not a text of the unsubscribe pages (they are confirm_title, confirm, button,")
        .run();
}
