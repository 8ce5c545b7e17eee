//! The command line, declared with clap's derive API. Help text comes from the doc comments.
//!
//! House rules: every option that a team would set once for all runs also reads a
//! `NEWSLETTER_*` environment variable; secrets are never options (they come from the
//! environment or a prompt, so they never show in `ps` or shell history).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure not caused by the input files (I/O, SMTP server, TLS, authentication, journal)
  2  wrong command-line usage
  3  the run finished, but some recipients failed or are in doubt (see the report)
  4  invalid input: the issue, list, subscriber or suppression file (the message says where)";

#[derive(Debug, Parser)]
#[command(
    name = "newsletter",
    version,
    about = "Write an email newsletter issue in YAML, preview it, and send it through an SMTP relay",
    after_help = EXIT_CODES,
    max_term_width = 100
)]
pub struct Arguments {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate an issue, its list and subscribers, and build every message without sending
    #[command(after_help = "Example:\n  newsletter check newsletters/2019-06-uk-sg-mou.yaml")]
    Check(CheckArguments),

    /// Write each subscriber's message as .html, .txt and .eml files, with an index page
    #[command(
        after_help = "Examples:\n  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --open\n  newsletter preview newsletters/2019-06-uk-sg-mou.yaml --for zoe@example.org --out /tmp/zoe"
    )]
    Preview(PreviewArguments),
}

/// The files a run reads.
#[derive(Debug, Args)]
pub struct InputArguments {
    /// The issue file, e.g. newsletters/2019-06-uk-sg-mou.yaml
    pub issue: PathBuf,

    /// Subscriber file (CSV) to use instead of the one the list file names
    #[arg(long, value_name = "FILE", env = "NEWSLETTER_SUBSCRIBERS")]
    pub subscribers: Option<PathBuf>,

    /// File of addresses never to mail (one per line), instead of the one the list file names
    #[arg(long, value_name = "FILE", env = "NEWSLETTER_SUPPRESSION")]
    pub suppression: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArguments {
    #[command(flatten)]
    pub input: InputArguments,
}

#[derive(Debug, Args)]
pub struct PreviewArguments {
    #[command(flatten)]
    pub input: InputArguments,

    /// Folder to write the preview into [default: preview/ISSUE]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Preview only the message to this subscriber
    #[arg(long = "for", value_name = "EMAIL")]
    pub for_email: Option<String>,

    /// Open the index page in a browser when done
    #[arg(long)]
    pub open: bool,
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
    fn issue_is_required() {
        assert!(Arguments::try_parse_from(["newsletter", "check"]).is_err());
    }
}
