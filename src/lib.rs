//! `newsletter`: write an email newsletter issue in YAML, check and preview it, and send it to
//! a subscriber list through an SMTP relay.
//!
//! The pipeline: [`issue`] and [`list`] load the YAML files, [`audience`] streams the
//! subscriber file, [`render`] turns the issue into each subscriber's HTML and text parts,
//! [`message`] builds the email, and the commands in [`subcommand`] write or send it.

pub mod audience;
pub mod check;
pub mod cli;
pub mod delivery;
pub mod dkim;
pub mod document;
pub mod error;
pub mod fields;
pub mod input;
pub mod issue;
pub mod journal;
pub mod lint;
pub mod list;
pub mod location;
pub mod mailing;
pub mod markdown;
pub mod merge;
pub mod message;
pub mod pace;
pub mod preview;
pub mod progress;
pub mod relay;
pub mod render;
pub mod report;
pub mod secret;
pub mod send;
pub mod smtp;
pub mod status;
pub mod subcommand;
pub mod subscribers;
pub mod units;
pub mod unsubscribe;

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
    match subcommand::execute(arguments.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", error::Report(&error));
            error.exit_code()
        }
    }
}
