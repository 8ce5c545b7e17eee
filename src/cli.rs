//! The command line, declared with clap's derive API. Help text comes from the doc comments.
//!
//! House rules: every option that a team would set once for all runs also reads a
//! `NEWSLETTER_*` environment variable; secrets are never options (they come from the
//! environment or a prompt, so they never show in `ps` or shell history).

use std::{path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::env;

#[derive(Debug, Parser)]
#[command(
    name = "newsletter",
    version,
    about = "Write an email newsletter issue in YAML, preview it, and send it through an SMTP relay",
    max_term_width = 100
)]
pub(crate) struct Arguments {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run; boxing the variants would only add noise.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Validate an issue, its list and subscribers, and build every message without sending
    #[command(after_help = "Example:\n  newsletter check newsletters/2019-06-uk-sg-mou.yaml")]
    Check(CheckArguments),

    /// Write each subscriber's message as .html, .txt and .eml files, with an index page; or,
    /// with --watch, serve a live preview that redraws on every save
    #[command(
        after_help = "Examples:\n  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --watch --open\n  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --open\n  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --for zoe@example.org --out /tmp/zoe"
    )]
    Preview(PreviewArguments),

    /// Send the issue to every subscriber through the SMTP relay (or pretend to, with --dry-run)
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendArguments),

    /// Show what the send journal of an issue records: sent, failed, deferred, in doubt
    #[command(after_help = "Example:\n  newsletter status newsletters/2019-06-uk-sg-mou.yaml")]
    Status(StatusArguments),

    /// Read returned mail (bounces, complaints, unsubscribe requests) and suppress the addresses
    /// it ends
    #[command(after_help = BOUNCES_EXAMPLES)]
    Bounces(BouncesArguments),

    /// Print, or verify, the unsubscribe token of an address (for unsubscribe endpoints and scripts)
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(TokenArguments),
}

const BOUNCES_EXAMPLES: &str = "\
Mailboxes may be mbox files, Maildir folders or single .eml files; they are only read.
Hard bounces (the address does not exist), abuse complaints and unsubscribe requests to the
list's unsubscribe.mailto address are suppressed at once; soft bounces are counted and suppress
an address after 3 different issues. Reading the same mail again changes nothing.

Examples:
  newsletter bounces newsletters/list.yaml /var/mail/bounces --dry-run
  newsletter bounces newsletters/list.yaml ~/Maildir/.Bounces

Exit codes: 0 every message was understood; 3 some were not (they are listed);
4 invalid list, subscriber or soft-bounce file, or a folder that is not a Maildir; 1 I/O.";

const TOKEN_EXAMPLES: &str = "\
The key is read from NEWSLETTER_UNSUBSCRIBE_KEY. The scheme is described in README.md.

Examples:
  newsletter token --list newsletters/list.yaml zoe.martin@example.org
  newsletter token --list-id bulletin.sin-singapore.example.org zoe.martin@example.org --verify TOKEN

With --verify the exit code says whether the token is valid: 0 valid, 1 not.";

const SEND_EXAMPLES: &str = "\
Examples:
  # Everything but the connection: build every message and say what would be sent
  newsletter send newsletters/2019-06-uk-sg-mou.yaml --dry-run

  # A test to yourself through a local MailHog (the default relay, smtp://127.0.0.1:1025)
  newsletter send newsletters/2019-06-uk-sg-mou.yaml --to you@example.org

  # The real send through a relay with STARTTLS; the password comes from the environment
  NEWSLETTER_SMTP_PASSWORD=... newsletter send newsletters/2019-06-uk-sg-mou.yaml \\
      --smtp 'smtp://bulletin@smtp.example.org:587?tls=required' --report report.jsonl

A run records each recipient in a journal (ISSUE.journal); run the same command again after
a crash, Ctrl-C or relay failure to continue without mailing anyone twice.";

#[derive(Debug, Args)]
pub(crate) struct BouncesArguments {
    /// The list file, e.g. newsletters/list.yaml
    pub(crate) list: PathBuf,

    /// Mailboxes of returned mail: mbox files, Maildir folders or .eml files
    #[arg(required = true, value_name = "MAILBOX")]
    pub(crate) mailboxes: Vec<PathBuf>,

    /// Say what would be suppressed and counted, without writing anything
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Subscriber file (CSV) to use instead of the one the list file names
    #[arg(long, value_name = "FILE", env = env::SUBSCRIBERS)]
    pub(crate) subscribers: Option<PathBuf>,

    /// Suppression file to add to, instead of the one the list file names
    #[arg(long, value_name = "FILE", env = env::SUPPRESSION)]
    pub(crate) suppression: Option<PathBuf>,
}

/// The files a run reads.
#[derive(Debug, Args)]
pub(crate) struct InputArguments {
    /// The issue file, e.g. newsletters/2019-06-uk-sg-mou.yaml
    pub(crate) issue: PathBuf,

    /// Subscriber file (CSV) to use instead of the one the list file names
    #[arg(long, value_name = "FILE", env = env::SUBSCRIBERS)]
    pub(crate) subscribers: Option<PathBuf>,

    /// File of addresses never to mail (one per line), instead of the one the list file names
    #[arg(long, value_name = "FILE", env = env::SUPPRESSION)]
    pub(crate) suppression: Option<PathBuf>,

    /// Private key (PEM) to sign messages with DKIM, for the selector in the list file
    #[arg(long, value_name = "FILE", env = env::DKIM_KEY_FILE)]
    pub(crate) dkim_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    /// Treat warnings as errors (exit code 4)
    #[arg(long, short = 'D')]
    pub(crate) deny_warnings: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PreviewArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    /// Folder to write the preview into [default: preview/ISSUE]
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,

    /// Preview only the message to this subscriber
    #[arg(long = "for", value_name = "EMAIL")]
    pub(crate) for_email: Option<String>,

    /// Open the index page in a browser when done (with --watch: the live page)
    #[arg(long)]
    pub(crate) open: bool,

    /// Serve a live preview that redraws on every save, instead of writing files
    #[arg(long, conflicts_with_all = ["out", "for_email"])]
    pub(crate) watch: bool,

    /// With --watch: the address to listen on (a port of 0 picks a free one)
    #[arg(long, value_name = "ADDR", requires = "watch", default_value = DEFAULT_LISTEN)]
    pub(crate) listen: std::net::SocketAddr,
}

/// Where `preview --watch` listens unless `--listen` says otherwise: loopback only.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:7464";

#[derive(Debug, Args)]
pub(crate) struct SendArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    /// Build every message and report what would be sent, without connecting to any server
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// With --dry-run: write each message as an .eml file into this folder
    #[arg(long, value_name = "DIR", requires = "dry_run")]
    pub(crate) out: Option<PathBuf>,

    /// The SMTP relay: smtp://HOST:PORT, smtp://HOST:587?tls=required, smtps://HOST:465, with
    /// an optional USER@ before the host
    #[arg(long, value_name = "URL", env = env::SMTP_URL, default_value = crate::deliver::relay::DEFAULT_URL)]
    pub(crate) smtp: String,

    /// Also trust the certificate authorities in this PEM file (a private relay's CA)
    #[arg(long, value_name = "FILE", env = env::SMTP_CA_FILE)]
    pub(crate) ca_file: Option<PathBuf>,

    /// The name to greet the relay with (EHLO) [default: the list's domain]
    #[arg(long, value_name = "NAME", env = env::HELO)]
    pub(crate) helo: Option<String>,

    /// Send a test to this address only (repeatable), with "[TEST]" before the subject
    #[arg(long = "to", value_name = "ADDR")]
    pub(crate) to: Vec<String>,

    /// Number of simultaneous SMTP connections
    #[arg(long, value_name = "N", default_value_t = 4, env = env::CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) concurrency: u16,

    /// At most this many messages per second
    #[arg(long, value_name = "PER_SECOND", env = env::RATE, value_parser = positive_rate)]
    pub(crate) rate: Option<f64>,

    /// At most this many messages per hour or day over all runs, e.g. 500/hour or 10000/day
    #[arg(long, value_name = "N/WINDOW", env = env::CAP)]
    pub(crate) cap: Option<Cap>,

    /// Send to at most N recipients in this run; a later run continues with the rest
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<usize>,

    /// Write one JSON line per recipient (address, outcome, reply, message id, time)
    #[arg(long, value_name = "FILE")]
    pub(crate) report: Option<PathBuf>,

    /// Do not ask for confirmation (needed when not on a terminal)
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,

    /// The journal of this issue's sends [default: ISSUE.journal beside the issue]
    #[arg(long, value_name = "FILE", env = env::JOURNAL)]
    pub(crate) journal: Option<PathBuf>,

    /// Send again to recipients whose delivery is in doubt after an interrupted run (they may
    /// get the message twice)
    #[arg(long)]
    pub(crate) resend_in_doubt: bool,

    /// The issue changed since its journal was started: keep the journal, so whoever already got
    /// the old version is not mailed again
    #[arg(long, conflicts_with = "start_over")]
    pub(crate) continue_changed: bool,

    /// The issue changed since its journal was started: set the journal aside and mail everyone
    #[arg(long)]
    pub(crate) start_over: bool,

    /// The journal ends before the records its header counts (a truncated copy): go on from
    /// what is there; recipients whose records were lost may be mailed again
    #[arg(long)]
    pub(crate) accept_lost_tail: bool,

    /// Retries per recipient after a temporary failure (4xx reply, dropped connection)
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub(crate) retries: u32,

    /// Wait before the first retry (doubling each time), e.g. 500ms, 2s
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub(crate) retry_delay: std::time::Duration,

    /// Give up waiting for a server reply after this long
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub(crate) timeout: std::time::Duration,

    /// How to show progress
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub(crate) progress: ProgressMode,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    /// The journal to read [default: ISSUE.journal beside the issue]
    #[arg(long, value_name = "FILE", env = env::JOURNAL)]
    pub(crate) journal: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which_list").required(true).args(["list", "list_id"])))]
pub(crate) struct TokenArguments {
    /// The list file, for its list id
    #[arg(long, value_name = "FILE")]
    pub(crate) list: Option<PathBuf>,

    /// The list id itself, e.g. bulletin.example.org
    #[arg(long, value_name = "ID")]
    pub(crate) list_id: Option<String>,

    /// The subscriber's address
    pub(crate) email: String,

    /// Check this token instead of printing one
    #[arg(long, value_name = "TOKEN")]
    pub(crate) verify: Option<String>,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// Parses `250ms`, `2s`, `1m`, `1h`.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 500ms, 2s or 1m"))?;
    let seconds = match unit.trim() {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`; use ms, s, m or h"
            ));
        }
    };
    std::time::Duration::try_from_secs_f64(seconds).map_err(|error| error.to_string())
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProgressMode {
    /// A bar on a terminal, lines otherwise.
    Auto,
    Bar,
    Lines,
    None,
}

/// A limit of messages per time window, counted over runs through the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cap {
    pub(crate) count: usize,
    pub(crate) window: Duration,
}

impl FromStr for Cap {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not a cap such as 500/hour or 10000/day");
        let (count, window) = text.split_once('/').ok_or_else(invalid)?;
        let count: usize = count.trim().parse().map_err(|_| invalid())?;
        let window = match window.trim() {
            "minute" | "min" => Duration::from_mins(1),
            "hour" | "h" => Duration::from_hours(1),
            "day" | "d" => Duration::from_hours(24),
            _ => return Err(invalid()),
        };
        if count == 0 {
            return Err(invalid());
        }
        Ok(Cap { count, window })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_is_well_formed() {
        Arguments::command().debug_assert();
    }

    #[test]
    fn preview_parses_its_options() {
        let arguments = Arguments::try_parse_from([
            "newsletter",
            "preview",
            "issue.yaml",
            "--for",
            "zoe@example.org",
            "--out",
            "out",
            "--open",
        ])
        .unwrap();
        let Command::Preview(preview) = arguments.command else {
            panic!("expected preview");
        };
        assert_eq!(preview.input.issue, PathBuf::from("issue.yaml"));
        assert_eq!(preview.for_email.as_deref(), Some("zoe@example.org"));
        assert_eq!(preview.out, Some(PathBuf::from("out")));
        assert!(preview.open);
    }

    #[test]
    fn send_defaults() {
        let arguments = Arguments::try_parse_from(["newsletter", "send", "issue.yaml"]).unwrap();
        let Command::Send(send) = arguments.command else {
            panic!("expected send");
        };
        assert_eq!(send.smtp, "smtp://127.0.0.1:1025");
        assert_eq!(send.concurrency, 4);
        assert_eq!(send.retry_delay, std::time::Duration::from_secs(1));
        assert!(!send.dry_run && !send.yes);
    }

    /// The kind and text of the usage error `flags` (after `newsletter send i.yaml`) cause.
    fn send_usage_error(flags: &[&str]) -> (clap::error::ErrorKind, String) {
        let mut argv = vec!["newsletter", "send", "i.yaml"];
        argv.extend_from_slice(flags);
        let error = Arguments::try_parse_from(argv).expect_err("a usage error");
        (error.kind(), error.to_string())
    }

    #[test]
    fn out_needs_dry_run_and_restart_choices_conflict() {
        use clap::error::ErrorKind;
        let (kind, text) = send_usage_error(&["--out", "x"]);
        assert_eq!(kind, ErrorKind::MissingRequiredArgument, "{text}");
        assert!(text.contains("--dry-run"), "{text}");
        let (kind, text) = send_usage_error(&["--continue-changed", "--start-over"]);
        assert_eq!(kind, ErrorKind::ArgumentConflict, "{text}");
        assert!(
            text.contains("--continue-changed") && text.contains("--start-over"),
            "{text}"
        );
    }

    #[test]
    fn concurrency_and_rate_must_be_positive() {
        use clap::error::ErrorKind;
        let (kind, text) = send_usage_error(&["--concurrency", "0"]);
        assert_eq!(kind, ErrorKind::ValueValidation, "{text}");
        assert!(text.contains("--concurrency"), "{text}");
        let (kind, text) = send_usage_error(&["--rate=-1"]);
        assert_eq!(kind, ErrorKind::ValueValidation, "{text}");
        assert!(text.contains("--rate"), "{text}");
        let (kind, text) = send_usage_error(&["--rate=0"]);
        assert_eq!(kind, ErrorKind::ValueValidation, "{text}");
    }

    #[test]
    fn durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 weeks").is_err());
    }

    #[test]
    fn issue_is_required() {
        let error = Arguments::try_parse_from(["newsletter", "check"]).expect_err("usage error");
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        assert!(error.to_string().contains("<ISSUE>"), "{error}");
    }

    #[test]
    fn caps_parse() {
        assert_eq!(
            "500/hour".parse::<Cap>(),
            Ok(Cap {
                count: 500,
                window: Duration::from_hours(1)
            })
        );
        assert_eq!(
            "10000/day".parse::<Cap>().unwrap().window,
            Duration::from_hours(24)
        );
        assert!("0/hour".parse::<Cap>().is_err());
        assert!("500".parse::<Cap>().is_err());
        assert!("500/week".parse::<Cap>().is_err());
    }
}
