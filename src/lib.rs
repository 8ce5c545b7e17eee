//! `newsletter`: write an email newsletter issue in YAML, check and preview it, and send it to
//! a subscriber list through an SMTP relay.
//!
//! The pipeline, one folder a stage, each depending only on the ones before it:
//!
//! 1. [`input`]: the issue, its list file and the subscriber and suppression files, read into
//!    checked values (every error names file, line and field);
//! 2. [`compose`]: the issue rendered once, then each subscriber's message built from it
//!    (Markdown, templates, headers, DKIM, unsubscribe tokens), and linted;
//! 3. [`deliver`]: the messages handed to the relay (or several sharing the work) over SMTP,
//!    every outcome kept in a journal so a send resumes and never sends twice;
//! 4. [`bounces`]: the mail that comes back (bounces, complaints, unsubscribe requests) read
//!    and judged, so the addresses it ends go into the suppression file.
//!
//! [`cli`] declares the command line; [`commands`] holds one file per command, which resolves
//! its arguments once and calls the stages. [`error`] and [`env`] sit below everything: the
//! ways a run fails with their exit codes, and the environment variables read.

pub(crate) mod bounces;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod compose;
pub(crate) mod deliver;
pub(crate) mod endpoint;
pub(crate) mod env;
pub(crate) mod error;
pub(crate) mod input;
pub(crate) mod output_file;
pub(crate) mod printable;
pub(crate) mod secret;
pub(crate) mod units;

use std::ffi::OsString;

use clap::FromArgMatches;

/// Runs the command line `args` (program name first) and returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    // A secret in the environment is in the process's memory from the start.
    if env::SECRETS
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
    {
        secret::forbid_core_dumps();
    }
    let parsed = cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| cli::Arguments::from_arg_matches(&matches));
    let arguments = match parsed {
        Ok(arguments) => arguments,
        Err(error) => {
            // clap prints help and version to stdout with exit code 0, and usage errors to
            // stderr with exit code 2.
            let _ = error.print();
            return error.exit_code();
        }
    };
    match commands::execute(arguments.command) {
        Ok(code) => code.code(),
        Err(error) => {
            commands::style::report(&error);
            error.exit_code().code()
        }
    }
}

/// What the test suite (`tests/suite`) uses in-process, for property tests of the stages; the
/// rest of the suite goes through the binary. Not an API: nothing outside this repository
/// should depend on it.
#[doc(hidden)]
pub mod testing {
    pub use crate::{
        compose::{
            mailing::Mailing,
            markdown::{self, LinkList},
            unsubscribe::{KeyUse, TokenKey},
        },
        error::Error,
        input::{
            audience::Audience,
            document,
            issue::{Issue, IssueFile},
            list::{ListFile, UrlTemplate},
            location::DocumentKind,
            placeholders::MergeText,
            subscribers::{Row, Subscriber, SubscriberReader},
            text::RESERVED_CHARACTERS,
            values::{EmailAddress, MAX_LINE_CHARS},
        },
        units::size,
    };
}
