//! `send` through several relays: real capture servers on loopback ports share the list by
//! weight; one that is not there from the start, or is killed in the middle of a run and
//! started again, is set aside while the others take its share, and takes it back when it
//! returns. Each test checks every recipient three ways: the report, the journal and what the
//! servers took (each server logs the recipients it accepted, so what a killed one took
//! outlives it). A recipient is delivered exactly once, or is in doubt; none is missing.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    net::TcpListener,
    path::Path,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    fault_server::{Answer, FaultServer, Script, Step},
    faults::{JOURNAL, REPORT, SUBSCRIBERS, reader, subscribers},
    harness::{Output, Test},
    smtp_server::CaptureServer,
};

/// `newsletter send` of the minimal issue to `count` generated readers through `urls`, with a
/// report, short retry delays and no progress display.
fn send(urls: &[String], count: usize, flags: &[&str]) -> Test {
    let mut test = Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(count))
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            SUBSCRIBERS,
            "--yes",
            "--report",
            REPORT,
            "--progress",
            "none",
            "--timeout",
            "2s",
        ]);
    if !flags.contains(&"--retry-delay") {
        test = test.args(["--retry-delay", "10ms"]);
    }
    for url in urls {
        test = test.arg("--smtp").arg(url);
    }
    test.args(flags)
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("bound").port()
}

/// A capture server that logs what it takes to `log`.
fn logged_server(log: &Path) -> CaptureServer {
    CaptureServer::builder().taken_log(log).start()
}

/// The recipients a server's taken log lists, with how many times each.
fn taken(log: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in fs::read_to_string(log).unwrap_or_default().lines() {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn json_lines(output: &Output, path: &str) -> Vec<Value> {
    output
        .read(path)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// Each reader's outcome in the report, and the relay of it; every reader is there once.
fn report_by_reader(output: &Output, count: usize) -> BTreeMap<String, (String, String)> {
    let mut by_reader = BTreeMap::new();
    for line in json_lines(output, REPORT) {
        let email = line["email"].as_str().expect("an email").to_owned();
        let outcome = line["outcome"].as_str().expect("an outcome").to_owned();
        let relay = line["relay"].as_str().unwrap_or("").to_owned();
        assert!(
            by_reader.insert(email.clone(), (outcome, relay)).is_none(),
            "{email} is in the report twice"
        );
    }
    let expected: BTreeSet<String> = (1..=count).map(reader).collect();
    assert_eq!(
        by_reader.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "the report lists every reader once"
    );
    by_reader
}

/// Each reader's last outcome record in the journal (`sent`, `doubt`, …) and its relay.
fn journal_by_reader(output: &Output) -> BTreeMap<String, (String, String)> {
    let mut by_reader = BTreeMap::new();
    for line in json_lines(output, JOURNAL) {
        let kind = line["e"].as_str().unwrap_or("");
        if matches!(kind, "sent" | "failed" | "deferred" | "doubt") {
            by_reader.insert(
                line["to"].as_str().expect("a recipient").to_owned(),
                (
                    kind.to_owned(),
                    line["relay"].as_str().unwrap_or("").to_owned(),
                ),
            );
        }
    }
    by_reader
}

/// Checks that every reader was sent exactly once (by the relay the report and journal name)
/// or is in doubt (taken at most once), against what each server (by `host:port`) took.
fn assert_once_or_in_doubt(
    output: &Output,
    count: usize,
    servers: &[(String, BTreeMap<String, usize>)],
) -> (usize, usize) {
    let report = report_by_reader(output, count);
    let journal = journal_by_reader(output);
    let (mut sent, mut in_doubt) = (0, 0);
    for (email, (outcome, relay)) in &report {
        let took: Vec<(&String, usize)> = servers
            .iter()
            .filter_map(|(address, taken)| taken.get(email).map(|times| (address, *times)))
            .collect();
        let total: usize = took.iter().map(|(_, times)| times).sum();
        let journaled = journal.get(email).expect("every reader is in the journal");
        match outcome.as_str() {
            "sent" => {
                sent += 1;
                assert_eq!(
                    total, 1,
                    "{email} was sent but the servers took it {took:?}"
                );
                assert_eq!(took[0].0, relay, "{email}: the report names another relay");
                assert_eq!(journaled, &("sent".to_owned(), relay.clone()), "{email}");
            }
            "in-doubt" => {
                in_doubt += 1;
                assert!(total <= 1, "{email} is in doubt but was taken {took:?}");
                assert_eq!(journaled.0, "doubt", "{email}");
            }
            other => panic!("{email} ended {other}, not sent or in doubt"),
        }
    }
    (sent, in_doubt)
}

#[test]
fn connections_and_messages_are_shared_by_weight_and_everyone_gets_one_message() {
    let logs = tempfile::tempdir().unwrap();
    let heavy = logged_server(&logs.path().join("heavy"));
    let light = logged_server(&logs.path().join("light"));
    let urls = [
        format!("{}?weight=3", heavy.smtp_url()),
        format!("{}?weight=1", light.smtp_url()),
    ];
    let output = send(&urls, 400, &["--concurrency", "4"])
        .status(0)
        .stdout_contains("sent 400 via 2 relays in ")
        .run();
    let servers = [
        (
            format!("127.0.0.1:{}", heavy.smtp_port()),
            taken(&logs.path().join("heavy")),
        ),
        (
            format!("127.0.0.1:{}", light.smtp_port()),
            taken(&logs.path().join("light")),
        ),
    ];
    assert_eq!(assert_once_or_in_doubt(&output, 400, &servers), (400, 0));
    // Three connections to the heavy relay, one to the light one, each kept for the run.
    assert_eq!(heavy.stats().connections, 3);
    assert_eq!(light.stats().connections, 1);
    // How many messages each took follows how fast each server answers (two Python processes
    // on a shared machine), not only the connections: both must have taken some.
    let (heavy_count, light_count) = (servers[0].1.len(), servers[1].1.len());
    assert!(
        heavy_count > 0 && light_count > 0,
        "3:1 connections took {heavy_count}:{light_count} messages"
    );
    assert!(
        output.stdout.contains(&format!(
            "  relay 127.0.0.1:{} (no TLS): {heavy_count} sent\n",
            heavy.smtp_port()
        )),
        "{}",
        output.stdout
    );

    // `status` gives the counts per relay, in text and JSON.
    let status = output
        .again()
        .args(["status", "issue.yaml", "--subscribers", SUBSCRIBERS])
        .stdout_contains("\nby relay:\n")
        .stdout_contains(&format!(
            "\n  127.0.0.1:{}  {heavy_count} sent\n",
            heavy.smtp_port()
        ))
        .run();
    let json = status
        .again()
        .args([
            "status",
            "issue.yaml",
            "--subscribers",
            SUBSCRIBERS,
            "--json",
        ])
        .run();
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        value["relays"][format!("127.0.0.1:{}", light.smtp_port())]["sent"],
        light_count
    );
}

#[test]
fn own_connection_counts_override_the_share_of_concurrency() {
    let first = CaptureServer::start();
    let second = CaptureServer::start();
    let urls = [
        format!("{}?connections=2", first.smtp_url()),
        format!("{}?connections=1", second.smtp_url()),
    ];
    send(&urls, 30, &["--concurrency", "8"]).status(0).run();
    assert_eq!(
        (first.stats().connections, second.stats().connections),
        (2, 1)
    );
    assert_eq!(first.stats().messages + second.stats().messages, 30);
}

#[test]
fn a_relay_with_nothing_listening_is_set_aside_and_the_other_delivers_to_everyone() {
    let logs = tempfile::tempdir().unwrap();
    let up = logged_server(&logs.path().join("up"));
    let down = closed_port();
    let urls = [format!("smtp://127.0.0.1:{down}?weight=5"), up.smtp_url()];
    let output = send(&urls, 100, &["--concurrency", "6"])
        .status(0)
        .stdout_contains("sent 100 via 2 relays in ")
        .stdout_contains(&format!(
            "  relay 127.0.0.1:{down} (no TLS): 0 sent; was down "
        ))
        .run();
    let servers = [(
        format!("127.0.0.1:{}", up.smtp_port()),
        taken(&logs.path().join("up")),
    )];
    assert_eq!(assert_once_or_in_doubt(&output, 100, &servers), (100, 0));
}

#[test]
fn a_relay_stopped_in_the_middle_of_a_run_loses_its_share_and_takes_it_back_when_started_again() {
    let logs = tempfile::tempdir().unwrap();
    let steady_log = logs.path().join("steady");
    let flaky_log = logs.path().join("flaky");
    let steady = logged_server(&steady_log);
    let flaky = logged_server(&flaky_log);
    let flaky_port = flaky.smtp_port();
    let urls = [steady.smtp_url(), flaky.smtp_url()];
    let count = 900;
    // About six seconds at 150 a second: long enough to stop the relay after one, leave it
    // stopped for one, and see it come back (its cool-downs start at twice the retry delay).
    let running = send(
        &urls,
        count,
        &[
            "--concurrency",
            "4",
            "--rate",
            "150",
            "--retry-delay",
            "100ms",
        ],
    )
    .spawn();
    let started = Instant::now();
    while taken(&flaky_log).len() < 50 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the second relay took nothing"
        );
        thread::sleep(Duration::from_millis(20));
    }
    drop(flaky);
    let taken_before = fs::read_to_string(&flaky_log).unwrap().lines().count();
    thread::sleep(Duration::from_secs(1));
    let flaky = CaptureServer::builder()
        .port(flaky_port)
        .taken_log(&flaky_log)
        .start();
    let (code, stdout, stderr, output) = running.finish();
    assert!(stderr.is_empty(), "{stderr}");
    let taken_after = fs::read_to_string(&flaky_log).unwrap().lines().count() - taken_before;
    assert!(
        flaky.stats().messages > 0 && taken_after > 0,
        "the restarted relay took no messages\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("  relay 127.0.0.1:{flaky_port} (no TLS): "))
            && stdout.contains(", came back, the last: "),
        "{stdout}"
    );
    let servers = [
        (
            format!("127.0.0.1:{}", steady.smtp_port()),
            taken(&steady_log),
        ),
        (format!("127.0.0.1:{flaky_port}"), taken(&flaky_log)),
    ];
    let (sent, in_doubt) = assert_once_or_in_doubt(&output, count, &servers);
    assert_eq!(sent + in_doubt, count);
    // A message in doubt makes the run partial (exit 3), as with one relay.
    assert_eq!(code, Some(if in_doubt > 0 { 3 } else { 0 }), "{stdout}");
    // Those in doubt were being sent through the stopped relay (at most one per connection).
    assert!(in_doubt <= 4, "{in_doubt} in doubt");
}

#[test]
fn every_relay_down_for_a_moment_is_waited_out_and_the_run_finishes() {
    // Both relays worked, then both go away for half a second (a network blip, a restart):
    // the run waits for one to come back instead of stopping.
    let logs = tempfile::tempdir().unwrap();
    let (first_log, second_log) = (logs.path().join("first"), logs.path().join("second"));
    let first = logged_server(&first_log);
    let second = logged_server(&second_log);
    let (first_port, second_port) = (first.smtp_port(), second.smtp_port());
    let urls = [first.smtp_url(), second.smtp_url()];
    let count = 600;
    let running = send(
        &urls,
        count,
        &[
            "--concurrency",
            "2",
            "--rate",
            "150",
            "--retry-delay",
            "100ms",
        ],
    )
    .spawn();
    let started = Instant::now();
    while taken(&first_log).len() + taken(&second_log).len() < 60 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing was taken"
        );
        thread::sleep(Duration::from_millis(20));
    }
    drop(first);
    drop(second);
    thread::sleep(Duration::from_millis(500));
    let first = CaptureServer::builder()
        .port(first_port)
        .taken_log(&first_log)
        .start();
    let second = CaptureServer::builder()
        .port(second_port)
        .taken_log(&second_log)
        .start();
    let (code, stdout, stderr, output) = running.finish();
    assert!(
        !stderr.contains("every relay is down"),
        "{stderr}\n{stdout}"
    );
    let servers = [
        (format!("127.0.0.1:{first_port}"), taken(&first_log)),
        (format!("127.0.0.1:{second_port}"), taken(&second_log)),
    ];
    let (sent, in_doubt) = assert_once_or_in_doubt(&output, count, &servers);
    assert_eq!(sent + in_doubt, count, "{stdout}");
    assert_eq!(
        code,
        Some(if in_doubt > 0 { 3 } else { 0 }),
        "{stdout}{stderr}"
    );
    assert!(
        first.stats().messages + second.stats().messages > 0,
        "{stdout}"
    );
}

#[test]
fn every_relay_down_from_the_start_stops_at_once_naming_them_all() {
    let (first, second) = (closed_port(), closed_port());
    let urls = [
        format!("smtp://127.0.0.1:{first}"),
        format!("smtp://127.0.0.1:{second}"),
    ];
    let output = send(&urls, 20, &[])
        .status(1)
        .stdout_contains("sent 0 via 2 relays")
        .stderr_contains("cannot reach the relay")
        .run();
    for port in [first, second] {
        assert!(
            output
                .stderr
                .contains(&format!("127.0.0.1:{port} (no TLS)")),
            "{}",
            output.stderr
        );
    }
    assert!(output.stderr.contains("cannot reach"), "{}", output.stderr);
    // Nobody was attempted: no outcome in the journal, and every `data` record written ahead
    // of its turn is taken back by an `unsent` one.
    let records: Vec<Value> = json_lines(&output, JOURNAL);
    let (mut written, mut taken_back) = (BTreeSet::new(), BTreeSet::new());
    for record in &records {
        match record["e"].as_str() {
            Some("open" | "run") => {}
            Some("data") => {
                written.insert(record["to"].to_string());
            }
            Some("unsent") => {
                taken_back.insert(record["to"].to_string());
            }
            other => panic!("unexpected record {other:?}: {records:?}"),
        }
    }
    assert_eq!(written, taken_back);
    output
        .again()
        .args(["status", "issue.yaml", "--subscribers", SUBSCRIBERS])
        .stdout_contains("  sent:          0\n  failed:        0\n  deferred:      0\n  in doubt:      0\n  not sent yet:  20 ")
        .run();
}

#[test]
fn the_list_file_may_name_several_relays() {
    let first = CaptureServer::start();
    let second = CaptureServer::start();
    let list = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal/list.yaml"),
    )
    .unwrap();
    let test = Test::fixture("minimal")
        .write(
            "list.yaml",
            format!(
                "{list}relays:\n  - {}\n  - {}\n",
                first.smtp_url(),
                second.smtp_url()
            ),
        )
        .write(SUBSCRIBERS, subscribers(40));
    let output = test
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            SUBSCRIBERS,
            "--yes",
            "--progress",
            "none",
        ])
        .status(0)
        .stdout_contains("sent 40 via 2 relays")
        .run();
    assert_eq!(first.stats().messages + second.stats().messages, 40);
    assert!(first.stats().messages > 0 && second.stats().messages > 0);
    let run = json_lines(&output, JOURNAL)
        .into_iter()
        .find(|record| record["e"] == "run")
        .expect("a run record");
    assert_eq!(
        run["relays"],
        serde_json::json!([
            format!("127.0.0.1:{}", first.smtp_port()),
            format!("127.0.0.1:{}", second.smtp_port())
        ])
    );
}

#[test]
fn relay_and_relays_in_the_list_file_are_refused_together_at_the_line() {
    let list = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal/list.yaml"),
    )
    .unwrap();
    let lines = list.lines().count();
    Test::fixture("minimal")
        .write(
            "list.yaml",
            format!(
                "{list}relay: smtp://127.0.0.1:1025\nrelays:\n  - smtp://127.0.0.1:1026\n  - smtp://127.0.0.1:1027\n"
            ),
        )
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr_contains(&format!(
            "`list.yaml` line {}: field `relays`: give either `relay:` (one relay) or `relays:` (several), not both",
            lines + 2
        ))
        .run();
}

#[test]
fn bad_relay_lists_are_refused_before_anything_is_sent_without_repeating_a_user() {
    let server = CaptureServer::start();
    let url = server.smtp_url();
    for (second, expected) in [
        (
            "smtp://secret-user@127.0.0.1:2525?weight=0".to_owned(),
            "URL 2 of 2: `weight=0` is not a whole number from 1 to 1000",
        ),
        (
            format!("{url}?weight=2"),
            "is the same relay as URL 1; give each relay once",
        ),
        (
            "smtp://127.0.0.1:2525?connections=many".to_owned(),
            "URL 2 of 2: `connections=many` is not a whole number",
        ),
        (
            "smtp://127.0.0.1:2525?share=2".to_owned(),
            "URL 2 of 2: unknown parameter `share`",
        ),
    ] {
        let output = send(&[url.clone(), second], 3, &[])
            .status(2)
            .stderr_contains(expected)
            .run();
        assert!(!output.stderr.contains("secret-user"), "{}", output.stderr);
    }
    assert_eq!(server.stats().messages, 0);
}

#[test]
fn the_smtp_variable_may_hold_several_relays_separated_by_spaces_or_commas() {
    let first = CaptureServer::start();
    let second = CaptureServer::start();
    Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(20))
        .env(
            "NEWSLETTER_SMTP_URL",
            format!("{}, {}", first.smtp_url(), second.smtp_url()),
        )
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            SUBSCRIBERS,
            "--yes",
            "--progress",
            "none",
        ])
        .status(0)
        .stdout_contains("sent 20 via 2 relays")
        .run();
    assert_eq!(first.stats().messages + second.stats().messages, 20);
}

#[test]
fn each_relay_logs_in_with_the_password_its_variable_holds_which_appears_nowhere() {
    let first = CaptureServer::builder()
        .auth("first", "first-secret")
        .start();
    let second = CaptureServer::builder()
        .auth("second", "second-secret")
        .start();
    let urls = [
        format!("smtp://first@127.0.0.1:{}", first.smtp_port()),
        format!(
            "smtp://second@127.0.0.1:{}?password_env=NEWSLETTER_SECOND_RELAY_PASSWORD",
            second.smtp_port()
        ),
    ];
    let output = send(&urls, 20, &[])
        .env("NEWSLETTER_SMTP_PASSWORD", "first-secret")
        .env("NEWSLETTER_SECOND_RELAY_PASSWORD", "second-secret")
        .status(0)
        .run();
    for (server, user) in [(&first, "first"), (&second, "second")] {
        let received = server.summary();
        assert!(!received.is_empty(), "{user} took nothing");
        assert!(
            received
                .iter()
                .all(|message| message.auth_user.as_deref() == Some(user))
        );
    }
    for file in [REPORT, JOURNAL] {
        let text = output.read(file);
        assert!(
            !text.contains("secret") && !text.contains("first@"),
            "{file}: {text}"
        );
    }
    assert!(!output.stdout.contains("secret"));

    // Without the second relay's variable, the error names the variable, not a password.
    send(&urls, 20, &[])
        .env("NEWSLETTER_SMTP_PASSWORD", "first-secret")
        .status(2)
        .stderr_contains("NEWSLETTER_SECOND_RELAY_PASSWORD is not set")
        .run();

    // A wrong password for one relay stops the run at once, naming that relay and its
    // variable, and never the password.
    let output = send(&urls, 20, &[])
        .env("NEWSLETTER_SMTP_PASSWORD", "first-secret")
        .env("NEWSLETTER_SECOND_RELAY_PASSWORD", "wrong-secret")
        .status(1)
        .stderr_contains(&format!(
            "error: 127.0.0.1:{} (no TLS) as second: authentication failed: ",
            second.smtp_port()
        ))
        .stderr_contains(
            "hint: check the user name in --smtp and the password in NEWSLETTER_SECOND_RELAY_PASSWORD",
        )
        .run();
    assert!(!output.stderr.contains("wrong-secret") && !output.stdout.contains("wrong-secret"));
}

#[test]
fn a_relay_that_refuses_every_session_from_the_start_leaves_everyone_to_the_other() {
    let logs = tempfile::tempdir().unwrap();
    let refusing = FaultServer::start(Script::new(|step| match step {
        Step::Greeting { .. } => Answer::SayAndClose("554 5.3.2 no service here"),
        _ => Answer::Accept,
    }));
    let up = logged_server(&logs.path().join("up"));
    let urls = [format!("{}?weight=3", refusing.url()), up.smtp_url()];
    let output = send(&urls, 60, &["--concurrency", "4"])
        .status(0)
        .stdout_contains("sent 60 via 2 relays")
        .stdout_contains("(no TLS): 0 sent; was down ")
        .stdout_contains("554 5.3.2 no service here")
        .run();
    assert!(refusing.messages().is_empty());
    let servers = [(
        format!("127.0.0.1:{}", up.smtp_port()),
        taken(&logs.path().join("up")),
    )];
    assert_eq!(assert_once_or_in_doubt(&output, 60, &servers), (60, 0));
}

#[test]
fn a_relay_that_keeps_failing_gives_its_recipients_to_the_other_and_none_is_deferred() {
    let logs = tempfile::tempdir().unwrap();
    let failing = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt { .. } => Answer::Say("451 4.3.0 try again later"),
        _ => Answer::Accept,
    }));
    let up = logged_server(&logs.path().join("up"));
    let urls = [failing.url(), up.smtp_url()];
    let output = send(&urls, 80, &["--concurrency", "4", "--retries", "1"])
        .status(0)
        .stdout_contains("sent 80 via 2 relays")
        .stdout_contains(&format!(
            "  relay 127.0.0.1:{} (no TLS): 0 sent; ",
            failing.port()
        ))
        .stdout_contains(" temporary failure(s)")
        .run();
    assert!(failing.messages().is_empty());
    let servers = [(
        format!("127.0.0.1:{}", up.smtp_port()),
        taken(&logs.path().join("up")),
    )];
    assert_eq!(assert_once_or_in_doubt(&output, 80, &servers), (80, 0));
}

#[test]
fn every_relay_failing_after_sessions_opened_stops_the_run_naming_them_all() {
    let failing = || {
        FaultServer::start(Script::new(|step| match step {
            Step::Rcpt { .. } => Answer::Say("451 4.3.0 try again later"),
            _ => Answer::Accept,
        }))
    };
    let (first, second) = (failing(), failing());
    let urls = [first.url(), second.url()];
    let output = send(&urls, 200, &["--concurrency", "2"])
        .status(1)
        .stdout_contains("sent 0")
        .stderr_contains(&format!(
            "error: every relay is down: 127.0.0.1:{} (no TLS), 127.0.0.1:{} (no TLS) (the last failures: ",
            first.port(),
            second.port()
        ))
        .stderr_contains("451 4.3.0 try again later")
        .run();
    assert!(first.messages().is_empty() && second.messages().is_empty());
    // Whoever was under way is deferred (sent again by the next run); nobody is in doubt.
    for line in json_lines(&output, REPORT) {
        assert_eq!(line["outcome"], "deferred", "{line}");
    }
}

#[test]
fn the_progress_line_names_a_relay_that_is_set_aside() {
    let up = CaptureServer::start();
    let down = closed_port();
    let urls = [format!("smtp://127.0.0.1:{down}"), up.smtp_url()];
    // About six seconds at 20 a second: a progress line comes every five.
    let mut test = Test::fixture("minimal")
        .write(SUBSCRIBERS, subscribers(120))
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            SUBSCRIBERS,
            "--yes",
            "--progress",
            "lines",
            "--rate",
            "20",
            "--retry-delay",
            "10ms",
        ]);
    for url in &urls {
        test = test.arg("--smtp").arg(url);
    }
    test.status(0)
        .stdout_contains("sent 120 via 2 relays")
        .stderr_contains(&format!("; relay 127.0.0.1:{down} down"))
        .run();
}

#[test]
fn a_bad_url_under_relays_in_the_list_file_is_named_by_its_place_there() {
    let list = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal/list.yaml"),
    )
    .unwrap();
    Test::fixture("minimal")
        .write(
            "list.yaml",
            format!(
                "{list}relays:\n  - smtp://127.0.0.1:2525\n  - smtp://user@127.0.0.1:2526?weight=0\n"
            ),
        )
        .write(SUBSCRIBERS, subscribers(3))
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            SUBSCRIBERS,
            "--yes",
            "--progress",
            "none",
        ])
        .status(2)
        .stderr_contains("`relays` in the list file")
        .stderr_contains("URL 2 of 2: `weight=0` is not a whole number from 1 to 1000")
        .run();
}

#[test]
fn check_refuses_a_bad_url_under_relays_at_its_line() {
    let list = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal/list.yaml"),
    )
    .unwrap();
    let lines = list.lines().count();
    let output = Test::fixture("minimal")
        .write(
            "list.yaml",
            format!(
                "{list}relays:\n  - smtp://127.0.0.1:2525\n  - smtp://secret-user@127.0.0.1:2525?tls=none\n"
            ),
        )
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr_contains(&format!(
            "`list.yaml` line {}: field `relays`: not a valid SMTP URL: URL 2 of 2: `127.0.0.1:2525` is the same relay as URL 1",
            lines + 1
        ))
        .run();
    assert!(!output.stderr.contains("secret-user"), "{}", output.stderr);
}
