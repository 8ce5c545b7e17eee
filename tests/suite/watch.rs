//! `preview --watch`: the live preview server, run as the real binary on a free loopback port,
//! with the files changed on disk as an editor would change them; and the page in headless
//! Chromium (see `watch_browser`).

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::ChildStdout,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use crate::harness::{Running, Test};

pub(crate) const ISSUE: &str = "newsletters/2019-06-uk-sg-mou.yaml";
pub(crate) const TITLE: &str = "SIN SG facilitates new UK–SG MoU in digital government services";
/// How long a change may take to show. Generous: the machine is shared with other builds;
/// the benchmark (benches/watch.sh) measures the real figure.
pub(crate) const BUDGET: Duration = Duration::from_secs(10);

/// A running `newsletter preview --watch` and the address it printed.
pub(crate) struct LivePreview {
    running: Running,
    pub(crate) address: String,
    _stdout: ChildStdout,
}

impl LivePreview {
    pub(crate) fn start(test: Test) -> LivePreview {
        LivePreview::start_issue(test, ISSUE)
    }

    /// [`LivePreview::start`] of the issue file `issue`.
    pub(crate) fn start_issue(test: Test, issue: &str) -> LivePreview {
        let mut running = test
            .args([issue, "--watch", "--listen", "127.0.0.1:0"])
            .spawn();
        let stdout = running.child.stdout.take().expect("stdout is piped");
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .expect("cannot read the first line of output");
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        let preview = LivePreview {
            running,
            address,
            _stdout: reader.into_inner(),
        };
        // The server answers before the first build is done; tests start from a built issue.
        preview.wait_for_version_above(0);
        preview
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.running.path(relative)
    }

    pub(crate) fn get(&self, target: &str) -> Response {
        get(&self.address, &self.address, target)
    }

    pub(crate) fn status(&self) -> serde_json::Value {
        let response = self.get("/status.json");
        assert_eq!(response.status, 200, "{}", response.body);
        serde_json::from_str(&response.body).expect("status.json is not JSON")
    }

    pub(crate) fn version(&self) -> u64 {
        self.status()["version"].as_u64().expect("no version")
    }

    /// Polls `/status.json` until its version is above `after`; returns the status.
    pub(crate) fn wait_for_version_above(&self, after: u64) -> serde_json::Value {
        let deadline = Instant::now() + BUDGET;
        loop {
            let status = self.status();
            if status["version"].as_u64().expect("no version") > after {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no new version after {after}: {status}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Rewrites the issue with `edit` applied; returns the version before.
    pub(crate) fn edit_issue(&self, edit: impl FnOnce(String) -> String) -> u64 {
        let before = self.version();
        let path = self.path(ISSUE);
        let text = fs::read_to_string(&path).expect("cannot read the issue");
        fs::write(&path, edit(text)).expect("cannot write the issue");
        before
    }

    /// Opens the event stream; every `version` event's number arrives on the receiver.
    pub(crate) fn events(&self) -> mpsc::Receiver<u64> {
        let mut stream = TcpStream::connect(&self.address).expect("cannot connect");
        write!(
            stream,
            "GET /events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            self.address
        )
        .expect("cannot send the request");
        let (sender, receiver) = mpsc::channel();
        thread::spawn(move || {
            let mut seen = String::new();
            let mut buffer = [0; 4096];
            while let Ok(count) = stream.read(&mut buffer) {
                if count == 0 {
                    return;
                }
                seen.push_str(&String::from_utf8_lossy(&buffer[..count]));
                while let Some(at) = seen.find("event: version\ndata: ") {
                    let rest = &seen[at + "event: version\ndata: ".len()..];
                    let Some(end) = rest.find('\n') else { break };
                    let version = rest[..end].trim().parse().expect("version is a number");
                    seen = rest[end..].to_owned();
                    if sender.send(version).is_err() {
                        return;
                    }
                }
            }
        });
        receiver
    }
}

impl Drop for LivePreview {
    fn drop(&mut self) {
        let _ = self.running.child.kill();
        let _ = self.running.child.wait();
    }
}

/// An HTTP response, read whole.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: String,
}

/// `GET target` from the server at `address`, with `host` as the `Host` header.
pub(crate) fn get(address: &str, host: &str, target: &str) -> Response {
    let mut stream = TcpStream::connect(address).expect("cannot connect to the preview");
    stream
        .set_read_timeout(Some(BUDGET))
        .expect("cannot set a timeout");
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("cannot send the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .expect("cannot read the response");
    let raw = String::from_utf8(raw).expect("the response is not UTF-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("no end of headers");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("no status code");
    let headers = head.to_ascii_lowercase();
    let body = if headers.contains("transfer-encoding: chunked") {
        unchunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("bad chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

fn live_mou() -> LivePreview {
    LivePreview::start(Test::newsletters().arg("preview"))
}

#[test]
fn a_saved_issue_is_announced_and_served_within_the_budget() {
    let preview = live_mou();
    let first = preview.get("/email.html");
    assert_eq!(first.status, 200);
    assert!(first.body.contains(TITLE), "{}", first.body);
    assert!(first.body.contains("Dear Zoë Martin,"), "first subscriber");
    assert!(first.headers.contains("script-src 'none'"));
    let events = preview.events();
    let connected = events.recv_timeout(BUDGET).expect("no first event");

    let started = Instant::now();
    let before = preview.edit_issue(|text| text.replace(TITLE, "A title saved just now"));
    let announced = events
        .recv_timeout(BUDGET)
        .expect("no event after the save");
    assert!(announced > connected && announced > before);
    let status = preview.wait_for_version_above(before);
    assert_eq!(status["errors"], serde_json::json!([]));
    let after = preview.get("/email.html");
    assert!(after.body.contains("A title saved just now"));
    assert!(!after.body.contains(TITLE));
    assert!(started.elapsed() < BUDGET);
    assert!(
        preview
            .get("/email.txt")
            .body
            .contains("A title saved just now")
    );
    let eml = preview.get("/email.eml?for=li.ming%40example.com");
    assert!(eml.body.contains("To: "), "{}", eml.body);
    assert!(eml.body.contains("li.ming@example.com"));
}

#[test]
fn broken_yaml_names_the_line_keeps_the_last_render_and_clears_when_fixed() {
    let preview = live_mou();
    let before = preview.edit_issue(|text| text.replace("number: 1\n", "number: one\n"));
    let status = preview.wait_for_version_above(before);
    let errors = status["errors"].as_array().expect("errors is a list");
    assert_eq!(errors.len(), 1, "{status}");
    assert_eq!(errors[0]["line"], 4, "{status}");
    assert_eq!(errors[0]["field"], "number", "{status}");
    assert!(errors[0]["file"].as_str().unwrap().ends_with(ISSUE));
    assert!(status["good_version"].as_u64().unwrap() < status["version"].as_u64().unwrap());
    let kept = preview.get("/email.html");
    assert_eq!(kept.status, 200);
    assert!(kept.body.contains(TITLE), "the last good render is served");

    let broken = preview.version();
    preview.edit_issue(|text| {
        text.replace("number: one\n", "number: 1\n")
            .replace(TITLE, "Fixed and saved")
    });
    let status = preview.wait_for_version_above(broken);
    assert_eq!(status["errors"], serde_json::json!([]), "{status}");
    assert_eq!(status["good_version"], status["version"]);
    assert!(preview.get("/email.html").body.contains("Fixed and saved"));
}

#[test]
fn a_new_subscriber_row_is_found_by_the_search() {
    let preview = live_mou();
    let search = "/subscribers.json?q=ngozi";
    let none: serde_json::Value = serde_json::from_str(&preview.get(search).body).unwrap();
    assert_eq!(none["found"], serde_json::json!([]));
    let before = preview.version();
    let path = preview.path("newsletters/subscribers.csv");
    let mut csv = fs::read_to_string(&path).unwrap();
    csv.push_str("ngozi.okafor@example.net,Ngozi Okafor,subscribed,Cabinet Office\n");
    fs::write(&path, csv).unwrap();
    preview.wait_for_version_above(before);
    let found: serde_json::Value = serde_json::from_str(&preview.get(search).body).unwrap();
    assert_eq!(
        found["found"][0]["email"], "ngozi.okafor@example.net",
        "{found}"
    );
    assert_eq!(found["found"][0]["name"], "Ngozi Okafor");
    let email = preview.get("/email.html?for=NGOZI.OKAFOR%40example.net");
    assert!(email.body.contains("Dear Ngozi Okafor,"));
    let no_name = preview.get("/email.html?for=ngozi.okafor%40example.net&no_name=1");
    assert!(no_name.body.contains("Dear colleague,"));
}

#[test]
fn a_foreign_host_header_is_refused() {
    let preview = live_mou();
    let port = preview.address.rsplit(':').next().unwrap().to_owned();
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_owned(),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let refused = get(&preview.address, &host, "/status.json");
        assert_eq!(refused.status, 403, "Host: {host}");
        assert!(!refused.body.contains("version"));
    }
    let localhost = get(
        &preview.address,
        &format!("localhost:{port}"),
        "/email.html",
    );
    assert_eq!(localhost.status, 200);
    assert_eq!(preview.get("/../newsletters/subscribers.csv").status, 404);
    assert_eq!(preview.get("/newsletters/subscribers.csv").status, 404);
}

#[test]
fn an_editor_save_through_a_temporary_file_and_rename_is_seen_every_time() {
    let preview = live_mou();
    let path = preview.path(ISSUE);
    let temporary = preview.path("newsletters/.2019-06-uk-sg-mou.yaml.swp");
    let mut title = TITLE.to_owned();
    for save in 1..=3 {
        let before = preview.version();
        let new_title = format!("Renamed into place, save {save}");
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace(&title, &new_title);
        fs::write(&temporary, text).unwrap();
        fs::rename(&temporary, &path).unwrap();
        let status = preview.wait_for_version_above(before);
        assert_eq!(status["errors"], serde_json::json!([]), "{status}");
        // The rename and a later event may be one rebuild or two; wait for the text itself.
        let deadline = Instant::now() + BUDGET;
        while !preview.get("/email.html").body.contains(&new_title) {
            assert!(Instant::now() < deadline, "save {save} not seen");
            thread::sleep(Duration::from_millis(10));
        }
        title = new_title;
    }
}
