//! Sends that stop before the end of the list on purpose, and continue later without mailing
//! anyone twice: `--limit`, `--cap` (counted over runs through the journal) and Ctrl-C.

use std::{
    collections::BTreeMap,
    process::Command,
    time::{Duration, Instant},
};

use crate::{harness::Test, smtp_server::CaptureServer};

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";

/// `send` of the sample issue through `server`, confirmed, without progress lines.
fn send(test: Test, server: &CaptureServer) -> Test {
    test.unsubscribe_key()
        .args(["send", MOU, "--yes", "--progress", "none", "--smtp"])
        .arg(server.smtp_url())
}

/// How many messages each envelope recipient got.
fn received(server: &CaptureServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for message in server.summary() {
        for to in message.to {
            *counts.entry(to).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_everyone_once(server: &CaptureServer) {
    let counts = received(server);
    assert_eq!(counts.len(), 7, "{counts:?}");
    assert!(counts.values().all(|&count| count == 1), "{counts:?}");
}

#[test]
fn limit_sends_part_of_the_list_and_the_next_run_continues() {
    let server = CaptureServer::start();
    let first = send(Test::newsletters(), &server)
        .args(["--limit", "3"])
        .stdout_contains(
            "stopped at --limit 3: run the same command again to continue with the rest\n",
        )
        .run();
    assert_eq!(server.stats().messages, 3);
    let second = send(first.again(), &server)
        .args(["--limit", "3"])
        .stdout_contains("  earlier runs:  3 already sent (not sent again)\n")
        .run();
    assert_eq!(server.stats().messages, 6);
    send(second.again(), &server)
        .stdout_contains("sent 1 via ")
        .run();
    assert_everyone_once(&server);
}

#[test]
fn cap_pauses_the_send_and_counts_earlier_runs() {
    let server = CaptureServer::start();
    let first = send(Test::newsletters(), &server)
        .args(["--cap", "3/hour"])
        .status(5)
        .stdout_contains("paused: the cap of 3 is reached; run the same command again after ")
        .run();
    assert_eq!(server.stats().messages, 3);
    // Within the hour the same cap lets nothing more through: the journal remembers.
    let second = send(first.again(), &server)
        .args(["--cap", "3/hour"])
        .status(5)
        .stdout_contains("sent 0 via ")
        .run();
    assert_eq!(server.stats().messages, 3);
    send(second.again(), &server)
        .args(["--cap", "10/hour"])
        .stdout_contains("sent 4 via ")
        .run();
    assert_everyone_once(&server);
}

#[test]
fn ctrl_c_finishes_the_deliveries_under_way_and_the_next_run_continues() {
    let server = CaptureServer::start();
    // One message a second, so the interrupt lands in the middle of the list.
    let running = send(Test::newsletters(), &server)
        .args([
            "--rate",
            "1",
            "--concurrency",
            "2",
            "--report",
            "report.jsonl",
        ])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().messages < 2 {
        assert!(Instant::now() < deadline, "the send did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &running.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let (code, stdout, stderr, folder) = running.finish();
    assert_eq!(code, Some(130), "{stdout}{stderr}");
    assert!(
        stdout.ends_with(
            "interrupted: deliveries under way were finished and recorded; run the same command again to continue\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("  not sent yet:  "), "{stdout}");
    assert!(
        stderr.contains(
            "stopping: finishing the deliveries under way (press Ctrl-C again to abort now)"
        ),
        "{stderr}"
    );
    let sent_before = server.stats().messages;
    assert!((2..7).contains(&sent_before), "{sent_before}");

    // Everything the server got is recorded as sent: nothing is in doubt after a Ctrl-C.
    let status = folder
        .again()
        .args(["status", MOU])
        .stdout_contains(&format!("  sent:          {sent_before}\n"))
        .stdout_contains("  in doubt:      0\n")
        .run();
    send(status.again(), &server)
        .stdout_contains(&format!("sent {} via ", 7 - sent_before))
        .run();
    assert_everyone_once(&server);
}

#[test]
fn sigterm_stops_like_ctrl_c_and_exits_143_with_a_full_report() {
    let server = CaptureServer::start();
    let running = send(Test::newsletters(), &server)
        .args([
            "--rate",
            "1",
            "--concurrency",
            "2",
            "--report",
            "report.jsonl",
        ])
        .spawn();
    let pid = running.child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.stats().messages < 2 {
        assert!(Instant::now() < deadline, "the send did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The unsubscribe key is loaded: no core file may be written from now on.
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core_limit = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core_limit.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "0"],
        "{core_limit}"
    );
    let terminated = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(terminated.success());
    let (code, stdout, stderr, folder) = running.finish();
    assert_eq!(code, Some(143), "{stdout}{stderr}");
    assert!(
        stdout.ends_with(
            "terminated (SIGTERM): deliveries under way were finished and recorded; run the same command again to continue\n"
        ),
        "{stdout}"
    );
    let sent_before = server.stats().messages;
    // The report holds every delivery the journal and the server have.
    let report = folder.read("report.jsonl");
    assert_eq!(
        report
            .lines()
            .filter(|line| line.contains("\"sent\""))
            .count(),
        sent_before,
        "{report}"
    );
    let status = folder
        .again()
        .args(["status", MOU])
        .stdout_contains(&format!("  sent:          {sent_before}\n"))
        .stdout_contains("  in doubt:      0\n")
        .run();
    send(status.again(), &server)
        .stdout_contains(&format!("sent {} via ", 7 - sent_before))
        .run();
    assert_everyone_once(&server);
}
