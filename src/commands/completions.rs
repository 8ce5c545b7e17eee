//! `newsletter completions SHELL`: the shell completion script, made by clap_complete from the
//! same command definition as the parser, so it cannot offer an option that does not exist.

use std::io::Write;

use crate::{
    cli::{self, CompletionsArguments},
    commands::style,
    error::{Error, ExitCode},
};

pub(crate) fn run(
    arguments: &CompletionsArguments,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let mut script = Vec::new();
    clap_complete::generate(
        arguments.shell,
        &mut cli::command(),
        "newsletter",
        &mut script,
    );
    style::print(out, script)?;
    Ok(ExitCode::Success)
}
