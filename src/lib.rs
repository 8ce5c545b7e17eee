//! `newsletter`: write an email newsletter issue in YAML, check and preview it, and send it to
//! a subscriber list through an SMTP relay.
//!
//! The pipeline, one folder a stage, each depending only on the ones before it:
//!
//! 1. [`input`]: the issue, its list file and the subscriber and suppression files, read into
//!    checked values (every error names file, line and field);
//! 2. [`compose`]: the issue rendered once, then each subscriber's message built from it
//!    (Markdown, templates, headers, DKIM, unsubscribe tokens), and linted;
//! 3. [`deliver`]: the messages handed to the relay over SMTP, every outcome kept in a journal
//!    so a send resumes and never sends twice.
//!
//! [`cli`] declares the command line; [`commands`] holds one file per command, which resolves
//! its arguments once and calls the stages. [`error`] and [`env`] sit below everything: the
//! ways a run fails with their exit codes, and the environment variables read.

pub mod cli;
pub mod commands;
pub mod compose;
pub mod deliver;
pub mod env;
pub mod error;
pub mod input;
pub mod secret;
pub mod units;

use std::ffi::OsString;

use clap::Parser;

/// Runs the command line `args` (program name first) and returns the process exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let arguments = match cli::Arguments::try_parse_from(args) {
        Ok(arguments) => arguments,
        Err(error) => {
            // clap prints help and version to stdout with exit code 0, and usage errors to
            // stderr with exit code 2.
            let _ = error.print();
            return error.exit_code();
        }
    };
    match commands::execute(arguments.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", error::Report(&error));
            error.exit_code()
        }
    }
}
