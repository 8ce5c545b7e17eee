//! `newsletter man [COMMAND]`: a manual page in roff, made by clap_mangen from the command
//! definition: the main page (the commands and the exit codes), or one per command with all its
//! options, named `newsletter-send(1)` and so on as the main page refers to them.

use std::io::Write;

use crate::{
    cli::{self, ManArguments},
    commands::style,
    error::{Error, ExitCode},
};

pub(crate) fn run(arguments: &ManArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let mut command = cli::command();
    // Building fills in each subcommand's display name (`newsletter-send`), used as its title.
    command.build();
    let page = match &arguments.command {
        None => command,
        Some(name) => command
            .find_subcommand(name)
            .cloned()
            .map(|page| page.version(env!("CARGO_PKG_VERSION")))
            .ok_or_else(|| Error::ManPageUnknown {
                command: name.clone(),
            })?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .map_err(style::stdout_error)?;
    style::print(out, roff)?;
    Ok(ExitCode::Success)
}
