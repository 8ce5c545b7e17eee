//! The journal's power-cut promise, proven without pulling a plug: a real send to the capture
//! server runs under `strace -f`, which logs every `write`/`sendto`/`writev` and every
//! `fdatasync` of the binary's threads in the order they happened. For every recipient, an
//! `fdatasync` of the journal that began after its `data` record was written must have ended
//! before the first byte of its message body was handed to the socket. (strace stops a thread
//! at the entry and exit of each traced call and logs it before letting it go on, so the order
//! of the log is the order of the calls.)
//!
//! strace is a Debian package that `tests/run` installs; without it this test fails and says so.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Write as _,
};

use crate::{harness::Test, smtp_server::CaptureServer};

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";
const RECIPIENTS: usize = 120;

/// One traced call, as far as this test cares.
#[derive(Debug)]
struct Call {
    name: String,
    /// The file descriptor with strace's `-yy` decoration, e.g. `3</tmp/x/a.journal>`.
    fd: String,
    /// The start of the first string argument, still escaped as strace prints it.
    text: String,
    /// Line numbers of the call's entry and exit in the log.
    entry: usize,
    exit: usize,
}

/// The calls of an `strace -f -yy -s N` log, each with where it began and ended (a call that
/// another thread interrupted is logged as `<unfinished ...>`, then `<... name resumed>`).
fn calls(log: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<&str, Call> = HashMap::new();
    for (number, line) in log.lines().enumerate() {
        let Some((pid, rest)) = line.trim_start().split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim_start();
        if rest.starts_with("<...") {
            if let Some(mut call) = pending.remove(pid) {
                call.exit = number;
                calls.push(call);
            }
            continue;
        }
        let Some((name, arguments)) = rest.split_once('(') else {
            continue;
        };
        let fd_end = [", ", ") = ", " <unfinished"]
            .iter()
            .filter_map(|end| arguments.find(end))
            .min()
            .unwrap_or(arguments.len());
        let fd = arguments[..fd_end].to_owned();
        let text = arguments
            .split_once('"')
            .map(|(_, text)| text.to_owned())
            .unwrap_or_default();
        let call = Call {
            name: name.to_owned(),
            fd,
            text,
            entry: number,
            exit: number,
        };
        if rest.ends_with("<unfinished ...>") {
            pending.insert(pid, call);
        } else {
            calls.push(call);
        }
    }
    calls.sort_by_key(|call| call.entry);
    calls
}

/// The address of a journal `data` record, from the escaped text of its write.
fn data_record_address(text: &str) -> Option<String> {
    let start = text.find(r#"\"e\":\"data\",\"to\":\""#)? + r#"\"e\":\"data\",\"to\":\""#.len();
    let end = text[start..].find(r#"\""#)?;
    Some(text[start..start + end].to_owned())
}

/// The address of the last `RCPT TO:<…>` in the escaped text of a write to the relay.
fn rcpt_address(text: &str) -> Option<String> {
    let start = text.rfind("RCPT TO:<")? + "RCPT TO:<".len();
    let end = text[start..].find('>')?;
    Some(text[start..start + end].to_owned())
}

#[test]
fn every_data_record_is_synced_before_its_body_reaches_the_socket() {
    let strace = std::process::Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|output| output.status.success()),
        "this test needs strace (Debian package `strace`; tests/run installs it)"
    );
    let server = CaptureServer::start();
    let mut csv = String::from("email,name,status,organisation\n");
    for n in 0..RECIPIENTS {
        writeln!(csv, "reader{n}@example.org,Reader {n},subscribed,").unwrap();
    }
    let output = Test::newsletters()
        .unsubscribe_key()
        .write("readers.csv", csv)
        .wrapped_in(
            "strace",
            [
                "-f",
                "-qq",
                "-yy",
                "-s",
                "400",
                "-e",
                "trace=fdatasync,write,sendto,writev",
                "-o",
                "trace.txt",
            ],
        )
        .args(["send", MOU, "--subscribers", "readers.csv", "--smtp"])
        .arg(server.smtp_url())
        .args(["--yes", "--progress", "none", "--concurrency", "4"])
        .stdout_contains(&format!("sent {RECIPIENTS} via "))
        .run();
    assert_eq!(server.stats().messages, RECIPIENTS);
    let log = output.read("trace.txt");
    let calls = calls(&log);
    let is_journal = |call: &Call| call.fd.ends_with(".journal>");

    // When each recipient's `data` record was written, and each journal sync's span.
    let mut data_written: BTreeMap<String, usize> = BTreeMap::new();
    let mut syncs: Vec<(usize, usize)> = Vec::new();
    for call in calls.iter().filter(|call| is_journal(call)) {
        match call.name.as_str() {
            "fdatasync" => syncs.push((call.entry, call.exit)),
            _ => {
                if let Some(address) = data_record_address(&call.text) {
                    data_written.insert(address, call.exit);
                }
            }
        }
    }
    assert_eq!(data_written.len(), RECIPIENTS, "data records in the trace");

    // Where the first byte of each body went to the socket: the first write on the connection
    // after the one that ended with `DATA`, which names the recipient in its `RCPT TO`.
    let mut recipient_of: HashMap<&str, String> = HashMap::new();
    let mut after_data: HashMap<&str, bool> = HashMap::new();
    let mut body_sent: BTreeMap<String, usize> = BTreeMap::new();
    for call in calls.iter().filter(|call| call.fd.contains("<TCP")) {
        let socket = call.fd.as_str();
        if after_data.remove(socket) == Some(true)
            && !call.text.starts_with("RSET")
            && !call.text.starts_with("QUIT")
        {
            let address = recipient_of
                .get(socket)
                .expect("a body follows an RCPT on its connection");
            body_sent.entry(address.clone()).or_insert(call.entry);
            continue;
        }
        if let Some(address) = rcpt_address(&call.text) {
            recipient_of.insert(socket, address);
        }
        if call.text.starts_with(r"DATA\r\n") || call.text.contains(r"\r\nDATA\r\n") {
            after_data.insert(socket, true);
        }
    }
    assert_eq!(body_sent.len(), RECIPIENTS, "message bodies in the trace");

    for (address, body) in &body_sent {
        let written = data_written.get(address).unwrap_or_else(|| {
            panic!("{address}: body sent (trace line {body}) without a data record")
        });
        let covered = syncs
            .iter()
            .any(|&(start, end)| start > *written && end < *body);
        assert!(
            covered,
            "{address}: no journal fdatasync began after its data record (trace line {}) and \
             ended before its body (trace line {})",
            written + 1,
            body + 1
        );
    }
    eprintln!(
        "{} data records, {} journal syncs in all (group commit shares one between workers)",
        data_written.len(),
        syncs.len()
    );
}
