//! The command line, declared with clap's derive API. Help text comes from the doc comments.
//!
//! House rules: every option that a team would set once for all runs also reads a
//! `NEWSLETTER_*` environment variable; secrets are never options (they come from the
//! environment or a prompt, so they never show in `ps` or shell history).

use std::{path::PathBuf, str::FromStr, time::Duration};

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::env;

#[derive(Debug, Parser)]
#[command(
    name = "newsletter",
    version,
    about = "Write a newsletter issue in YAML, preview it, send it through an SMTP relay",
    max_term_width = 80
)]
pub(crate) struct Arguments {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run; boxing the variants would only add noise.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Validate an issue, its list and subscribers; build every message
    #[command(after_help = "Example:\n  newsletter check newsletters/2019-06-uk-sg-mou.yaml")]
    Check(CheckArguments),

    /// Write each message as .html, .txt and .eml files, with an index page; or, with --watch,
    /// serve a live preview that redraws on every save
    #[command(after_help = PREVIEW_EXAMPLES)]
    Preview(PreviewArguments),

    /// Send the issue to every subscriber (or pretend to, with --dry-run)
    #[command(after_help = SEND_EXAMPLES)]
    Send(SendArguments),

    /// Show what the send journal records: sent, failed, deferred, in doubt
    #[command(after_help = STATUS_EXAMPLES)]
    Status(StatusArguments),

    /// Read returned mail (bounces, complaints, unsubscribe requests) and suppress the addresses
    /// it ends
    #[command(after_help = BOUNCES_EXAMPLES)]
    Bounces(BouncesArguments),

    /// Start a new issue: the next number, today's date and a story to fill in, with comments
    #[command(after_help = NEW_EXAMPLES)]
    New(NewArguments),

    /// Print or verify the unsubscribe token of an address
    #[command(after_help = TOKEN_EXAMPLES)]
    Token(TokenArguments),

    /// Print a shell completion script for bash, zsh, fish, powershell or elvish
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArguments),

    /// Print the manual page (roff) of newsletter, or of one of its commands
    #[command(after_help = MAN_EXAMPLES)]
    Man(ManArguments),

    /// Answer the list's unsubscribe URL over HTTP (one-click and the reader's page)
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArguments),

    /// Add addresses to the list's suppression file by hand (mail or phone requests, erasure)
    #[command(after_help = UNSUBSCRIBE_EXAMPLES)]
    Unsubscribe(UnsubscribeArguments),
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

const MAN_EXAMPLES: &str = "\
Examples:
  newsletter man > ~/.local/share/man/man1/newsletter.1
  newsletter man send > ~/.local/share/man/man1/newsletter-send.1";

#[derive(Debug, Args)]
pub(crate) struct ManArguments {
    /// The command whose page to print, e.g. send [default: the main page]
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Option<String>,
}

/// The whole command line as clap sees it, with the exit codes after the top-level help; the
/// one definition `run`, the completion scripts and the manual page are made from.
pub(crate) fn command() -> clap::Command {
    Arguments::command().after_help(crate::error::ExitCode::help())
}

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  newsletter completions bash >> ~/.bash_completion
  newsletter completions zsh > ~/.zfunc/_newsletter
  newsletter completions fish > ~/.config/fish/completions/newsletter.fish";

#[derive(Debug, Args)]
pub(crate) struct CompletionsArguments {
    /// The shell to complete in
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

// Examples are written out by hand, one command a line within 80 columns (a long one is
// continued with `\` between options, never wrapped inside one); a test parses each of them.

const STATUS_EXAMPLES: &str = "\
Examples:
  newsletter status newsletters/2019-06-uk-sg-mou.yaml
  newsletter status newsletters/2019-06-uk-sg-mou.yaml --json

Times are local, to the second, with the offset from UTC.";

const PREVIEW_EXAMPLES: &str = "\
Examples:
  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --watch --open
  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --open
  newsletter preview newsletters/2019-06-uk-sg-mou.yaml \\
      --for zoe.martin@example.org --out /tmp/zoe";
const NEW_EXAMPLES: &str = "\
The list file is --list, else list.yaml beside the new issue; without one, a sample list.yaml
and subscribers.csv are written beside the issue too. Nothing is ever overwritten.

Examples:
  newsletter new newsletters/2026-07-summer.yaml
  newsletter new bulletin/issue-1.yaml --list shared/list.yaml";

const SERVE_HELP: &str = "\
The key is read from NEWSLETTER_UNSUBSCRIBE_KEY, as for `send`. Run it behind an HTTPS
reverse proxy (README.md, \"Running the unsubscribe endpoint\"). It prints the address it
listens on, then one access-log line per request (without tokens or addresses) on stderr;
SIGTERM or Ctrl-C finishes the requests under way and exits 0.

Example:
  newsletter serve newsletters/list.yaml --listen 127.0.0.1:8080";

const UNSUBSCRIBE_EXAMPLES: &str = "\
Example:
  newsletter unsubscribe newsletters/list.yaml zoe@example.org \\
      --reason 'asked by phone'";

const TOKEN_EXAMPLES: &str = "\
The key is read from NEWSLETTER_UNSUBSCRIBE_KEY; the scheme is in README.md.

Examples:
  newsletter token --list newsletters/list.yaml zoe.martin@example.org
  newsletter token --list newsletters/list.yaml zoe.martin@example.org \\
      --verify TOKEN
  newsletter token --list newsletters/list.yaml zoe.martin@example.org --id
  newsletter token --list newsletters/list.yaml \\
      --verify-url 'https://example.org/unsubscribe?id=ID&token=TOKEN'

With --verify or --verify-url the exit code says whether it is valid: 0 valid, 1 not.";

const SEND_EXAMPLES: &str = "\
Examples:
  # Build every message and say what would be sent, without connecting
  newsletter send newsletters/2019-06-uk-sg-mou.yaml --dry-run

  # A test to yourself through a local MailHog (smtp://127.0.0.1:1025)
  newsletter send newsletters/2019-06-uk-sg-mou.yaml --to you@example.org

  # A test to the list's reviewers, as one subscriber would see it
  newsletter send newsletters/2019-06-uk-sg-mou.yaml --test \\
      --as zoe.martin@example.org

  # The real send over STARTTLS, with the password from the environment
  NEWSLETTER_SMTP_PASSWORD=... newsletter send \\
      newsletters/2019-06-uk-sg-mou.yaml \\
      --smtp 'smtp://bulletin@smtp.example.org:587?tls=required'

A run records each recipient in a journal (ISSUE.journal); run the same command
again after a crash, Ctrl-C or relay failure to continue without mailing anyone
twice.";

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
}

/// How the commands that build messages sign them (not `status`, which builds none).
#[derive(Debug, Args)]
pub(crate) struct SigningArguments {
    /// Private key (PEM) to sign messages with DKIM, for the selector in the list file
    #[arg(long, value_name = "FILE", env = env::DKIM_KEY_FILE)]
    pub(crate) dkim_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    #[command(flatten)]
    pub(crate) signing: SigningArguments,

    /// Treat warnings as errors (exit code 4)
    #[arg(long, short = 'D')]
    pub(crate) deny_warnings: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PreviewArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    #[command(flatten)]
    pub(crate) signing: SigningArguments,

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
#[command(group(clap::ArgGroup::new("test_target").args(["to", "test"]).multiple(true)))]
pub(crate) struct SendArguments {
    #[command(flatten)]
    pub(crate) input: InputArguments,

    #[command(flatten)]
    pub(crate) signing: SigningArguments,

    /// Build every message and report what would be sent, without connecting to any server
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// With --dry-run: write each message as an .eml file into this folder
    #[arg(long, value_name = "DIR", requires = "dry_run")]
    pub(crate) out: Option<PathBuf>,

    /// The SMTP relay: smtp://HOST:PORT, smtp://HOST:587?tls=required, smtps://HOST:465, with
    /// an optional USER@ before the host; repeat it to send through several relays (each with
    /// ?weight=N or ?connections=N) [default: `relay:`/`relays:` in the list file, else
    /// smtp://127.0.0.1:1025]
    // The URL may carry a password (refused, but only after parsing), so help never shows it.
    // The variable may hold several URLs, split on whitespace and commas by `send`.
    #[arg(long, value_name = "URL", env = env::SMTP_URL, hide_env_values = true)]
    pub(crate) smtp: Vec<String>,

    /// Also trust the certificate authorities in this PEM file (a private relay's CA)
    #[arg(long, value_name = "FILE", env = env::SMTP_CA_FILE)]
    pub(crate) ca_file: Option<PathBuf>,

    /// The name to greet the relay with (EHLO) [default: the list's domain]
    #[arg(long, value_name = "NAME", env = env::HELO)]
    pub(crate) helo: Option<String>,

    /// Send a test to these addresses only (comma-separated or repeated), with "[TEST]"
    /// before the subject
    #[arg(long = "to", value_name = "ADDR", value_delimiter = ',')]
    pub(crate) to: Vec<String>,

    /// Send a test to the reviewers (`reviewers:` in the list file, or --reviewers)
    #[arg(long)]
    pub(crate) test: bool,

    /// The reviewers for --test, comma-separated, instead of the list file's
    #[arg(long, value_name = "ADDRS", env = env::REVIEWERS, value_delimiter = ',',
          requires = "test")]
    pub(crate) reviewers: Vec<String>,

    /// In a test, build every message as this subscriber's (name, columns, greeting)
    #[arg(long = "as", value_name = "ADDR", requires = "test_target")]
    pub(crate) as_subscriber: Option<String>,

    /// Number of simultaneous SMTP connections in all, shared by weight when there are several
    /// relays (a relay's own `connections=N` is not counted in it)
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

    /// Print one JSON object (counts, and each recipient who failed, is deferred or in doubt)
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NewArguments {
    /// The issue file to write, e.g. newsletters/2026-07-summer.yaml
    #[arg(value_name = "ISSUE_PATH")]
    pub(crate) issue: PathBuf,

    /// The list file the issue belongs to [default: list.yaml beside the issue]
    #[arg(long, value_name = "LIST_FILE")]
    pub(crate) list: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which_list").required(true).multiple(false).args(["list", "list_id"])))]
pub(crate) struct TokenArguments {
    /// The list file, for its list id
    #[arg(long, value_name = "FILE")]
    pub(crate) list: Option<PathBuf>,

    /// The list id itself, e.g. bulletin.example.org
    #[arg(long, value_name = "ID")]
    pub(crate) list_id: Option<String>,

    /// The subscriber's address
    #[arg(required_unless_present = "verify_url")]
    pub(crate) email: Option<String>,

    /// Check this token instead of printing one
    #[arg(long, value_name = "TOKEN", conflicts_with = "id")]
    pub(crate) verify: Option<String>,

    /// Print the address's opaque id (the URL placeholder `{id}`) instead of its token
    #[arg(long)]
    pub(crate) id: bool,

    /// Check a whole unsubscribe URL (either scheme) against the list file and say whose it is
    #[arg(long, value_name = "URL", requires = "list", conflicts_with_all = ["email", "verify", "id"])]
    pub(crate) verify_url: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArguments {
    /// The list file, e.g. newsletters/list.yaml
    pub(crate) list: PathBuf,

    /// Address and port to listen on (port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", env = env::LISTEN)]
    pub(crate) listen: String,

    /// File of addresses never to mail, instead of the one the list file names
    #[arg(long, value_name = "FILE", env = env::SUPPRESSION)]
    pub(crate) suppression: Option<PathBuf>,

    /// Requests per minute one client may make (0: no limit)
    #[arg(long, value_name = "N", default_value_t = 60, env = env::SERVE_RATE_LIMIT)]
    pub(crate) rate_limit: u32,

    /// How long a client may take to send a request's headers, and then its body
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) read_timeout: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct UnsubscribeArguments {
    /// The list file, e.g. newsletters/list.yaml
    pub(crate) list: PathBuf,

    /// The addresses to suppress
    #[arg(required = true, value_name = "ADDRESS")]
    pub(crate) addresses: Vec<String>,

    /// Why, kept in the suppression file beside each address
    #[arg(long, value_name = "TEXT", default_value = "unsubscribed by hand")]
    pub(crate) reason: String,

    /// File of addresses never to mail, instead of the one the list file names
    #[arg(long, value_name = "FILE", env = env::SUPPRESSION)]
    pub(crate) suppression: Option<PathBuf>,
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
        assert!(send.smtp.is_empty());
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

    /// Every subcommand's long help, as printed at 80 columns.
    fn helps() -> Vec<(String, String)> {
        let mut command = command().term_width(80);
        command.build();
        let mut helps = vec![(
            "newsletter".to_owned(),
            command.render_long_help().to_string(),
        )];
        for sub in command.get_subcommands_mut() {
            let name = sub.get_name().to_owned();
            helps.push((name, sub.render_long_help().to_string()));
        }
        helps
    }

    #[test]
    fn every_help_fits_80_columns() {
        for (name, help) in helps() {
            for line in help.lines() {
                assert!(line.chars().count() <= 80, "{name}: {line:?}");
            }
        }
    }

    #[test]
    fn each_command_lists_only_the_options_it_uses() {
        let helps = helps();
        let help = |name: &str| &helps.iter().find(|(n, _)| n == name).unwrap().1;
        assert!(!help("status").contains("--dkim-key"), "{}", help("status"));
        assert!(!help("token").contains("--subscribers"));
        for name in ["check", "preview", "send"] {
            assert!(help(name).contains("--dkim-key"), "{name}");
        }
    }

    /// The command lines of the help examples: lines starting with `newsletter ` (after
    /// variables set before it), with `\` continuations joined.
    fn examples(help: &str) -> Vec<Vec<String>> {
        let mut commands = Vec::new();
        let mut lines = help.lines();
        while let Some(line) = lines.next() {
            let line = line.trim();
            let Some(start) = line.find("newsletter ") else {
                continue;
            };
            if !line[..start]
                .split_whitespace()
                .all(|word| word.contains('='))
            {
                continue;
            }
            let mut text = line[start..].to_owned();
            while text.ends_with('\\') {
                text.pop();
                text.push_str(lines.next().unwrap_or_default().trim());
            }
            // A redirection (`> FILE`) is the shell's, not ours.
            let text = text.split('>').next().unwrap_or_default();
            commands.push(
                text.split_whitespace()
                    .map(|word| word.trim_matches('\'').to_owned())
                    .collect(),
            );
        }
        commands
    }

    #[test]
    fn every_help_example_is_a_valid_command_line() {
        let mut count = 0;
        for (name, help) in helps() {
            for example in examples(&help) {
                count += 1;
                if let Err(error) = Arguments::try_parse_from(&example) {
                    panic!("{name}: {example:?}: {error}");
                }
            }
        }
        assert!(count >= 8, "only {count} examples found");
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
