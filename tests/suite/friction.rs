//! What a new user trips over on a first run (issue 14): a relay that is not running, a URL
//! without its scheme, a declined prompt, a folder named as the issue, a machine without a
//! browser, and the conventions of a CLI (completions, a man page, help that fits).

use crate::harness::Test;

const MOU: &str = "newsletters/2019-06-uk-sg-mou.yaml";

#[test]
fn smtp_url_without_a_scheme_says_how_to_write_it() {
    Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--to", "me@example.org", "--smtp", "127.0.0.1:1025"])
        .status(2)
        .stderr(
            "error: `--smtp` is not a valid SMTP URL: it has no scheme; write it as smtp://127.0.0.1:1025\n",
        )
        .run();
}

#[test]
fn a_folder_named_as_a_file_is_invalid_input_like_a_missing_file() {
    Test::newsletters()
        .args(["check", "newsletters/missing.yaml"])
        .status(4)
        .stderr_contains("error: cannot read `newsletters/missing.yaml`\n")
        .run();
    Test::newsletters()
        .args(["check", "newsletters"])
        .status(4)
        .stderr_contains("error: cannot read `newsletters`\n")
        .stderr_contains("hint: `newsletters` is a folder: name a file in it\n")
        .run();
    // The same for the other files a command reads.
    Test::newsletters()
        .unsubscribe_key()
        .args(["check", MOU, "--subscribers", "newsletters"])
        .status(4)
        .stderr_contains("error: cannot read `newsletters`\n")
        .run();
}

#[test]
fn a_send_refused_for_want_of_a_terminal_leaves_no_journal() {
    let output = Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU])
        .status(2)
        .stderr_contains("there is no terminal to confirm it")
        .run();
    assert!(
        !output
            .path("newsletters/2019-06-uk-sg-mou.journal")
            .exists()
    );
}

/// Answers `n` to the confirmation on a real terminal (a pseudo-terminal made by `script`).
#[test]
fn declining_the_prompt_cancels_with_exit_0_and_leaves_no_journal() {
    // A run that only prints the version, to get a folder holding the sample newsletters.
    let output = Test::newsletters().arg("--version").run();
    let folder = output.path("");
    let mut child = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} send {MOU} --progress none",
            env!("CARGO_BIN_EXE_newsletter")
        ))
        .arg("/dev/null")
        .current_dir(&folder)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "NEWSLETTER_UNSUBSCRIBE_KEY",
            crate::harness::UNSUBSCRIBE_KEY,
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cannot run `script` (util-linux)");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin is piped"), b"n\n")
        .expect("cannot answer the prompt");
    let result = child.wait_with_output().expect("cannot wait for `script`");
    let terminal = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{terminal}");
    assert!(
        terminal.contains("via 127.0.0.1:1025 (no TLS)? [y/N] ")
            && terminal.contains("Cancelled; nothing was sent"),
        "{terminal}"
    );
    assert!(!terminal.contains("error"), "{terminal}");
    assert!(
        !output
            .path("newsletters/2019-06-uk-sg-mou.journal")
            .exists()
    );
}

#[test]
fn bash_completion_script_registers_the_commands() {
    let output = Test::new().args(["completions", "bash"]).run();
    std::fs::write(output.path("newsletter.bash"), &output.stdout).unwrap();
    // Load the script in a real bash and ask it to complete `newsletter st`.
    let completed = std::process::Command::new("bash")
        .arg("-c")
        .arg(
            "source ./newsletter.bash && complete -p newsletter >/dev/null && \
             COMP_WORDS=(newsletter st) COMP_CWORD=1 COMP_LINE='newsletter st' COMP_POINT=13 \
             && _newsletter newsletter st newsletter && printf '%s\\n' \"${COMPREPLY[@]}\"",
        )
        .current_dir(output.path(""))
        .output()
        .expect("cannot run bash");
    let words = String::from_utf8_lossy(&completed.stdout);
    assert!(completed.status.success(), "{completed:?}");
    assert_eq!(words.trim(), "status");
}

#[test]
fn completions_exist_for_every_shell_named_in_the_help() {
    for (shell, marker) in [
        ("zsh", "#compdef newsletter"),
        ("fish", "complete -c newsletter"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[newsletter]"),
    ] {
        Test::new()
            .args(["completions", shell])
            .stdout_contains(marker)
            .run();
    }
}

#[test]
fn man_pages_cover_the_program_and_each_command() {
    Test::new()
        .arg("man")
        .stdout_contains(".TH newsletter 1")
        .stdout_contains("newsletter\\-send(1)")
        .stdout_contains("Exit codes:")
        .run();
    Test::new()
        .args(["man", "send"])
        .stdout_contains(".TH newsletter-send 1")
        .stdout_contains("\\fB\\-\\-smtp\\fR")
        .run();
    Test::new()
        .args(["man", "sned"])
        .status(2)
        .stderr_contains("error: there is no command `sned` to show the manual page of\n")
        .run();
}

#[test]
fn status_help_lists_only_what_status_uses_within_80_columns() {
    let output = Test::new().args(["status", "--help"]).run();
    assert!(!output.stdout.contains("--dkim-key"), "{}", output.stdout);
    assert!(output.stdout.contains("--journal"));
    for line in output.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
}

/// What `cargo install --path .` does, without the minutes of a release build: the binary
/// alone, copied to a folder outside the repository, with a copy of the newsletter files, does
/// the dry run and the preview (its templates are compiled in; it reads nothing of the checkout).
#[test]
fn the_binary_alone_works_outside_the_checkout() {
    let installed = tempfile::Builder::new()
        .prefix("newsletter-install")
        .tempdir()
        .expect("cannot create a temporary folder");
    let program = installed.path().join("newsletter");
    std::fs::copy(env!("CARGO_BIN_EXE_newsletter"), &program).expect("cannot copy the binary");
    let output = Test::newsletters()
        .program(&program)
        .unsubscribe_key()
        .args(["send", MOU, "--dry-run", "--out", "eml"])
        .stdout_contains("dry run: 7 message(s) built for 2019-06-uk-sg-mou")
        .run();
    assert_eq!(output.files("eml").len(), 7);
    let preview = output
        .again()
        .program(&program)
        .unsubscribe_key()
        .args(["preview", MOU, "--out", "out"])
        .run();
    assert!(preview.read("out/index.html").contains("2019-06-uk-sg-mou"));
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("cannot bind");
    listener.local_addr().expect("no address").port()
}

#[test]
fn a_relay_that_is_not_running_stops_the_run_at_once_naming_it() {
    let port = closed_port();
    // With backoff (the default 5 retries from 1 s) this run would take half a minute and end
    // with "the relay keeps failing" and everyone it tried deferred; the timeout only catches
    // that, it is no speed goal.
    let output = Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--yes", "--progress", "none", "--smtp"])
        .arg(format!("smtp://127.0.0.1:{port}"))
        .status(1)
        .stderr_contains(&format!(
            "error: 127.0.0.1:{port} (no TLS): cannot reach the relay: cannot connect to 127.0.0.1:{port}: Connection refused"
        ))
        .stderr_contains("hint: is the relay running? Nothing was sent. Check the host and port of --smtp")
        .timeout(std::time::Duration::from_secs(20))
        .run();
    // Nobody is recorded as deferred: the next run, against a running relay, sends to everyone.
    let journal = output.read("newsletters/2019-06-uk-sg-mou.journal");
    assert!(!journal.contains("deferred"), "{journal}");
}

#[test]
fn an_unknown_relay_host_stops_a_test_send_at_once() {
    Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--to", "me@example.org", "--progress", "none"])
        .args(["--smtp", "smtp://relay.invalid:2525"])
        .status(1)
        .stderr_contains("error: relay.invalid:2525 (STARTTLS if offered): cannot reach the relay: cannot connect to relay.invalid:2525")
        .stderr_contains("hint: is the relay running?")
        .timeout(std::time::Duration::from_secs(20))
        .run();
}

/// A relay that answers the first `RCPT` with 451: while the recipient waits to be retried
/// (7 s or more, well past the first progress line at 5 s, even on a loaded machine), the
/// line says why.
#[test]
fn the_progress_line_says_why_a_send_is_waiting() {
    use crate::fault_server::{Answer, FaultServer, Script, Step};
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt { attempt: 0, .. } => Answer::Say("451 4.3.0 Greylisted, try again later"),
        _ => Answer::Accept,
    }));
    Test::fixture("minimal")
        .write("readers.csv", "email,name\nreader@example.org,Reader\n")
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            "readers.csv",
            "--yes",
        ])
        .args(["--progress", "lines", "--retry-delay", "7s", "--smtp"])
        .arg(server.url())
        .stdout_contains("sent 1 via")
        .stderr_contains(
            "0/1 sent 0; waiting to retry: 451 4.3.0 Greylisted, try again later (at RCPT TO)\n",
        )
        .run();
}

#[test]
fn a_small_send_shows_no_rate_and_its_summary_labels_align() {
    let output = Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--dry-run"])
        .run();
    let first = output.stdout.lines().next().unwrap();
    assert!(!first.contains("/s"), "a rate for 7 messages: {first}");
    // Every `  label:  value` line has its value in the same column.
    let columns: Vec<usize> = output
        .stdout
        .lines()
        .filter(|line| line.starts_with("  ") && line.contains(": "))
        .map(|line| {
            line.find(": ").unwrap() + 2 + line[line.find(": ").unwrap() + 2..].len()
                - line[line.find(": ").unwrap() + 2..].trim_start().len()
        })
        .collect();
    assert!(columns.len() >= 3, "{}", output.stdout);
    assert!(
        columns.iter().all(|column| *column == columns[0]),
        "{}",
        output.stdout
    );
}

#[test]
fn error_and_warning_prefixes_are_coloured_only_when_wanted() {
    let coloured = Test::fixture("minimal")
        .with_fixture("lint-broken")
        .env("CLICOLOR_FORCE", "1")
        .args(["check", "issue.yaml"])
        .stderr_contains("\u{1b}[1m\u{1b}[33mwarning[")
        .run();
    assert!(
        coloured.stderr.contains("\u{1b}[0m "),
        "{}",
        coloured.stderr
    );
    Test::newsletters()
        .env("CLICOLOR_FORCE", "1")
        .args(["check", "newsletters/missing.yaml"])
        .status(4)
        .stderr_contains(
            "\u{1b}[1m\u{1b}[31merror:\u{1b}[0m cannot read `newsletters/missing.yaml`",
        )
        .run();
    let plain = Test::fixture("minimal")
        .with_fixture("lint-broken")
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .args(["check", "issue.yaml"])
        .stderr_contains("warning[")
        .run();
    assert!(!plain.stderr.contains('\u{1b}'), "{}", plain.stderr);
}

/// `preview --open` where `xdg-open` is missing, or fails as it does without a desktop: the
/// preview is written, the run succeeds, and the user is told where the index is.
#[test]
fn preview_open_without_a_desktop_says_where_the_preview_is() {
    let output = Test::preview_mou(&["--open"])
        .env("PATH", "no-such-folder")
        .stderr_contains("warning: could not open a browser (`xdg-open` is not installed); open ")
        .run();
    let index = std::fs::canonicalize(output.path("out/index.html")).unwrap();
    assert!(
        output
            .stderr
            .contains(&format!("open {} yourself\n", index.display())),
        "{}",
        output.stderr
    );

    Test::preview_mou(&["--open"])
        .executable("bin/xdg-open", "#!/bin/sh\nexit 3\n")
        .env("PATH", "bin")
        .stderr_contains(
            "warning: could not open a browser (`xdg-open` failed (exit status: 3)); open ",
        )
        .run();
}

/// A send where reader 2 is refused for good and reader 3 is turned away until the retries run
/// out; then `status`, in Singapore time.
#[test]
fn status_lists_who_needs_attention_in_local_time_and_agrees_with_the_summary() {
    use crate::fault_server::{Answer, FaultServer, Script, Step};
    let server = FaultServer::start(Script::new(|step| match step {
        Step::Rcpt {
            to: "reader2@example.org",
            ..
        } => Answer::Say("550 5.1.1 No such user"),
        Step::Rcpt {
            to: "reader3@example.org",
            ..
        } => Answer::Say("451 4.3.0 Try again later"),
        _ => Answer::Accept,
    }));
    let readers =
        "email,name\nreader1@example.org,One\nreader2@example.org,Two\nreader3@example.org,Three\n";
    let sent = Test::fixture("minimal")
        .write("readers.csv", readers)
        .args([
            "send",
            "issue.yaml",
            "--subscribers",
            "readers.csv",
            "--yes",
        ])
        .args([
            "--progress",
            "none",
            "--retries",
            "1",
            "--retry-delay",
            "10ms",
        ])
        .args(["--concurrency", "1", "--smtp"])
        .arg(server.url())
        .status(3)
        .stdout_contains("sent 1, failed 1, deferred 1 via ")
        .run();
    assert!(!sent.stdout.contains("not sent yet"), "{}", sent.stdout);
    let status = sent
        .again()
        .unsubscribe_key()
        .env("TZ", "SGT-8")
        .args(["status", "issue.yaml", "--subscribers", "readers.csv"])
        .stdout_contains(
            "  sent:          1\n  failed:        1\n  deferred:      1\n  in doubt:      0\n  not sent yet:  0 on the current subscriber list\n",
        )
        .stdout_contains("failed (not retried):\n  reader2@example.org  550 5.1.1 No such user (at RCPT TO)  (")
        .stdout_contains("deferred (retried by the next send):\n  reader3@example.org  451 4.3.0 Try again later (at RCPT TO)  (")
        .run();
    // `(2026-12-02 14:05:03 +08:00)`: to the second, with the zone's offset.
    for line in status
        .stdout
        .lines()
        .filter(|line| line.ends_with(')') && line.contains('@'))
    {
        let time = &line[line.rfind('(').unwrap() + 1..line.len() - 1];
        assert_eq!(time.len(), "2026-12-02 14:05:03 +08:00".len(), "{line}");
        assert!(time.ends_with(" +08:00"), "{line}");
    }
    let json = status
        .again()
        .unsubscribe_key()
        .env("TZ", "SGT-8")
        .args([
            "status",
            "issue.yaml",
            "--subscribers",
            "readers.csv",
            "--json",
        ])
        .run();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    assert_eq!(
        (
            &value["sent"],
            &value["failed"],
            &value["deferred"],
            &value["not_sent_yet"]
        ),
        (&1.into(), &1.into(), &1.into(), &0.into())
    );
    // Present after a send too (`null`: this list has no suppression file).
    assert_eq!(
        value.get("suppressed"),
        Some(&serde_json::Value::Null),
        "{value}"
    );
    let recipients = value["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2, "{value}");
    let deferred = recipients
        .iter()
        .find(|r| r["state"] == "deferred")
        .unwrap();
    assert_eq!(deferred["email"], "reader3@example.org");
    assert_eq!(deferred["reply"], "451 4.3.0 Try again later (at RCPT TO)");
    assert!(
        deferred["time"].as_str().unwrap().ends_with("+08:00"),
        "{value}"
    );
}

/// The sample list file with a `relay:` and `reviewers:`.
fn list_with_relay_and_reviewers(relay: &str) -> String {
    format!(
        "{}relay: \"{relay}\"\nreviewers: [reviewer.one@example.net, reviewer.two@example.net]\n",
        include_str!("../../newsletters/list.yaml")
    )
}

/// `send --test --as`: the relay and the reviewers come from the list file; each reviewer gets
/// Zoë's message, marked as a test; no unsubscribe key is needed and no journal is written.
#[test]
fn test_send_goes_to_the_list_files_reviewers_through_its_relay_as_one_subscriber() {
    let server = crate::smtp_server::CaptureServer::start();
    let output = Test::newsletters()
        .write(
            "newsletters/list.yaml",
            list_with_relay_and_reviewers(&server.smtp_url()),
        )
        .args(["send", MOU, "--test", "--as", "zoe.martin@example.org"])
        .args(["--progress", "none"])
        .stdout_contains(&format!(
            "sent 2 via 127.0.0.1:{} (no TLS) in ",
            server.smtp_port()
        ))
        .stdout_contains(
            "  test send:     to 2 address(es), not the list; the journal was not used\n",
        )
        .stdout_contains("unsubscribe links were made with a throwaway key")
        .run();
    assert!(
        !output
            .path("newsletters/2019-06-uk-sg-mou.journal")
            .exists()
    );
    let received = server.summary();
    let mut to: Vec<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["reviewer.one@example.net", "reviewer.two@example.net"]);
    for message in &received {
        let email = server.email(&message.id);
        assert!(email.subject().unwrap().starts_with("[TEST] "));
        let text = email.body_text(0).unwrap().replace("\r\n", "\n");
        assert!(text.contains("\n\nDear Zoë Martin,\n\n"), "{text}");
    }
}

/// `--smtp` and `--to` (a comma-separated list) win over the list file; `--test` without
/// reviewers says where to name them.
#[test]
fn flags_override_the_list_files_relay_and_to_takes_a_comma_separated_list() {
    let server = crate::smtp_server::CaptureServer::start();
    let output = Test::newsletters()
        .unsubscribe_key()
        .write(
            "newsletters/list.yaml",
            list_with_relay_and_reviewers("smtp://127.0.0.1:9"),
        )
        .args(["send", MOU, "--progress", "none", "--smtp"])
        .arg(server.smtp_url())
        .args(["--to", "a@example.net,li.ming@example.com"])
        .run();
    let mut to: Vec<String> = server.summary().iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["a@example.net", "li.ming@example.com"]);
    assert!(output.stdout.contains("sent 2 via"));
    Test::newsletters()
        .unsubscribe_key()
        .args(["send", MOU, "--test"])
        .status(2)
        .stderr(
            "error: `send --test` goes to the reviewers, but `newsletters/list.yaml` names none\nhint: add `reviewers: [you@example.org, …]` to the list file, set NEWSLETTER_REVIEWERS, or use --to ADDRESS\n",
        )
        .run();
}

/// A spreadsheet's export: separated by semicolons, a column named `First name`; the greeting
/// uses `{first_name}`, and the preview greets by it.
#[test]
fn a_semicolon_separated_file_with_a_first_name_column_is_read_and_the_user_told() {
    let issue = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal/issue.yaml"),
    )
    .unwrap()
    .replace("Dear {name},", "Dear {first_name},");
    let output = Test::fixture("minimal")
        .write("issue.yaml", issue)
        .write(
            "subscribers.csv",
            "Email;First name;Organisation\r\nada@example.org;Ada;Analytical Engines\r\n",
        )
        .args(["preview", "issue.yaml", "--out", "out"])
        .stderr(
            "note: `subscribers.csv` line 1: the columns are separated by semicolons\nnote: `subscribers.csv` line 1: column `First name` is read as `first_name`\n",
        )
        .run();
    let text = output.read("out/0002-ada_example.org.txt");
    assert!(text.contains("Dear Ada,"), "{text}");
}

#[test]
fn a_tab_separated_file_is_read() {
    Test::fixture("minimal")
        .write(
            "subscribers.csv",
            "email\tname\nada@example.org\tAda Lovelace\n",
        )
        .args(["check", "issue.yaml"])
        .stdout_contains("  recipients:   1\n")
        .stderr_contains("note: `subscribers.csv` line 1: the columns are separated by tabs\n")
        .run();
}

#[test]
fn a_windows_1252_file_is_refused_with_how_to_save_it() {
    Test::fixture("minimal")
        .write("subscribers.csv", b"email,name\nzoe@example.org,Zo\xeb Martin\n")
        .args(["check", "issue.yaml"])
        .status(4)
        .stderr_contains(
            "error: `subscribers.csv` line 2: column `name` is not UTF-8 text; save it from the spreadsheet as \"CSV UTF-8\"\n",
        )
        .run();
}

/// `preview --for` over an earlier full preview: the other subscribers' files go (the index
/// lists one), a file the user put in the folder stays.
#[test]
fn preview_for_one_over_a_full_preview_removes_only_what_preview_wrote() {
    let full = Test::preview_mou(&[]).run();
    assert_eq!(full.files("out").len(), 7 * 3 + 3);
    std::fs::write(full.path("out/my-notes.txt"), "mine").unwrap();
    std::fs::write(full.path("out/0099-keep.html"), "mine too").unwrap();
    let one = full
        .again()
        .unsubscribe_key()
        .args([
            "preview",
            MOU,
            "--for",
            "li.ming@example.com",
            "--out",
            "out",
        ])
        .run();
    assert_eq!(
        one.files("out"),
        [
            ".newsletter-preview",
            "0003-li.ming_example.com.eml",
            "0003-li.ming_example.com.html",
            "0003-li.ming_example.com.txt",
            "0099-keep.html",
            "index.html",
            "my-notes.txt",
            "web.html",
        ]
    );
}

/// The minimal issue with `from` replaced by `to`.
fn minimal_issue_with(from: &str, to: &str) -> String {
    let issue = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/minimal/issue.yaml"),
    )
    .unwrap();
    assert!(issue.contains(from), "{from}");
    issue.replace(from, to)
}

const ISSUE_HINT: &str = "hint: the file format is described in README.md, section \"The files\"\n";

#[test]
fn yaml_slips_are_explained_in_the_writers_words() {
    for (from, to, error) in [
        (
            "number: 7",
            "number: \"2\"",
            "`issue.yaml` line 2, column 9: field `number`: expected a whole number, found the text \"2\": remove the quotes",
        ),
        (
            "      The first story of the spring issue.",
            "      The first story of the spring issue.\n    image: https://example.org/chart.png",
            "`issue.yaml` line 12, column 12: field `stories[0].image`: expected an image: `src:`, `alt:` and optionally `width:`, each on its own line indented below `image:`, found the text \"https://example.org/chart.png\"",
        ),
        (
            "    body: |\n      The first story of the spring issue.",
            "    body: ![chart](https://example.org/chart.png) The first story.",
            "`issue.yaml` line 10, column 12: field `stories[0].body`: a value starting with `!` is read as a YAML tag: put the value in quotes, or write Markdown such as `![alt](URL)` as a block (`body: |`, then the text indented on the lines below)",
        ),
    ] {
        Test::fixture("minimal")
            .write("issue.yaml", minimal_issue_with(from, to))
            .args(["check", "issue.yaml"])
            .status(4)
            .stderr(&format!("error: {error}\n{ISSUE_HINT}"))
            .run();
    }
}
