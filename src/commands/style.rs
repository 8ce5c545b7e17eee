//! The prefixes of what goes to standard error (`error:`, `warning:`, `note:`, `hint:`),
//! coloured the way clap colours its own errors. anstream strips the colour when standard error
//! is not a terminal or `NO_COLOR` is set (and forces it with `CLICOLOR_FORCE`), so logs and
//! tests see plain text.

use std::io::Write as _;

use anstyle::{AnsiColor, Style};

use crate::error::{Error, Report};

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default().bold();
const HINT: Style = AnsiColor::Green.on_default().bold();

/// Writes `prefix` in `style`, then `rest`, as one line on standard error.
fn line(style: Style, prefix: &str, rest: &str) {
    let mut stderr = anstream::stderr().lock();
    let _ = writeln!(stderr, "{style}{prefix}{style:#} {rest}");
}

/// `error: MESSAGE` for a problem that does not end the run by itself (a bad row).
pub(crate) fn error(message: &str) {
    line(ERROR, "error:", message);
}

/// `warning: MESSAGE`; `rule` names the check, as in `warning[long-subject]:`.
pub(crate) fn warning(rule: Option<&str>, message: &str) {
    match rule {
        Some(rule) => line(WARNING, &format!("warning[{rule}]:"), message),
        None => line(WARNING, "warning:", message),
    }
}

/// `note: MESSAGE`.
pub(crate) fn note(message: &str) {
    line(NOTE, "note:", message);
}

/// The error that ended the run: `error:` with the message, `caused by:` lines, and a `hint:`.
pub(crate) fn report(error: &Error) {
    let text = Report(error).to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let (body, hint) = match text.split_once("\nhint: ") {
        Some((body, hint)) => (body, Some(hint)),
        None => (text, None),
    };
    line(ERROR, "error:", body);
    if let Some(hint) = hint {
        line(HINT, "hint:", hint);
    }
}

/// Writes `text` to the command's output (standard output, or a test's buffer) and flushes it,
/// so a script reading it line by line sees each part as soon as it is written.
pub(crate) fn print(out: &mut dyn std::io::Write, text: impl AsRef<[u8]>) -> Result<(), Error> {
    out.write_all(text.as_ref())
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// A failed write to standard output, as an [`Error`].
pub(crate) fn stdout_error(source: std::io::Error) -> Error {
    Error::Write {
        path: "standard output".into(),
        source,
    }
}
