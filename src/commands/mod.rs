//! One arm per command; each calls into the module that does the work.

use crate::{check, cli::Command, error::Error, preview, send, status, unsubscribe};

/// Runs `command` and returns the exit code of a run that did not fail outright.
pub fn execute(command: Command) -> Result<i32, Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Check(arguments) => check::run(&arguments, &mut out),
        Command::Preview(arguments) => preview::run(&arguments, &mut out),
        Command::Send(arguments) => send::run(&arguments, &mut out),
        Command::Status(arguments) => status::run(&arguments, &mut out),
        Command::Token(arguments) => unsubscribe::run(&arguments, &mut out),
    }
}
