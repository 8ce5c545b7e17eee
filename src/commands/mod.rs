//! The commands, one file each. Each resolves its arguments, then calls the stages
//! ([`crate::input`], [`crate::compose`], [`crate::deliver`]) that do the work.

pub(crate) mod bounces;
pub(crate) mod check;
pub(crate) mod completions;
pub(crate) mod load;
pub(crate) mod man;
pub(crate) mod new;
pub(crate) mod preview;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod status;
pub(crate) mod style;
pub(crate) mod token;
pub(crate) mod unsubscribe;
pub(crate) mod watch;

use crate::{
    cli::Command,
    error::{Error, ExitCode},
};

/// Runs `command` and returns how a run that did not fail outright ended.
pub(crate) fn execute(command: Command) -> Result<ExitCode, Error> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        Command::Bounces(arguments) => bounces::run(&arguments, &mut out),
        Command::Check(arguments) => check::run(&arguments, &mut out),
        Command::Preview(arguments) if arguments.watch => watch::run(&arguments, &mut out),
        Command::Preview(arguments) => preview::run(&arguments, &mut out),
        Command::Send(arguments) => send::run(&arguments, &mut out),
        Command::Status(arguments) => status::run(&arguments, &mut out),
        Command::New(arguments) => new::run(&arguments, &mut out),
        Command::Token(arguments) => token::run(&arguments, &mut out),
        Command::Completions(arguments) => completions::run(&arguments, &mut out),
        Command::Man(arguments) => man::run(&arguments, &mut out),
        Command::Serve(arguments) => serve::run(&arguments, &mut out),
        Command::Unsubscribe(arguments) => unsubscribe::run(&arguments, &mut out),
    }
}
