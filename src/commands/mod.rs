//! The commands, one file each. Each resolves its arguments, then calls the stages
//! ([`crate::input`], [`crate::compose`], [`crate::deliver`]) that do the work.

pub(crate) mod check;
pub(crate) mod load;
pub(crate) mod preview;
pub(crate) mod progress;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod status;
pub(crate) mod token;
pub(crate) mod unsubscribe;

use crate::{cli::Command, error::Error};

/// Runs `command` and returns the exit code of a run that did not fail outright.
pub(crate) fn execute(command: Command) -> Result<i32, Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Check(arguments) => check::run(&arguments, &mut out),
        Command::Preview(arguments) => preview::run(&arguments, &mut out),
        Command::Send(arguments) => send::run(&arguments, &mut out),
        Command::Status(arguments) => status::run(&arguments, &mut out),
        Command::Token(arguments) => token::run(&arguments, &mut out),
        Command::Serve(arguments) => serve::run(&arguments, &mut out),
        Command::Unsubscribe(arguments) => unsubscribe::run(&arguments, &mut out),
    }
}
