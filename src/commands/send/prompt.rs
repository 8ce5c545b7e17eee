//! What `send` asks of the person at the terminal, and how it answers Ctrl-C: the
//! confirmation before a real send, the SMTP password when the environment has none, and the
//! first and second interrupt (Ctrl-C or SIGTERM).

use std::{
    io::{IsTerminal, Write},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::{
    deliver::{engine::Engine, relay::Relay},
    error::{Error, ExitCode},
    input::issue::Issue,
    secret::Secret,
};

/// A signal that stops a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGINT: Ctrl-C at the terminal.
    Interrupt,
    /// SIGTERM: what `kill`, systemd and CI runners send.
    Terminate,
}

/// Waits for the next Ctrl-C or SIGTERM; `None` if signals cannot be watched.
async fn next_stop(terminate: &mut Option<tokio::signal::unix::Signal>) -> Option<Stop> {
    let terminated = async {
        match terminate {
            Some(stream) => stream.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.ok().map(|()| Stop::Interrupt),
        terminated = terminated => terminated.map(|()| Stop::Terminate),
    }
}

/// First Ctrl-C or SIGTERM: stop taking recipients and let deliveries under way finish (and
/// set `terminated` for a SIGTERM, so the run exits 143 rather than 130). Second: stop now,
/// with the report and journal flushed (messages whose body may have gone are then recorded
/// as in doubt by their `data` records; those that never went are taken back).
pub(super) async fn watch_interrupts(engine: Arc<Engine>, terminated: Arc<AtomicBool>) {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let Some(first) = next_stop(&mut terminate).await else {
        return;
    };
    terminated.store(first == Stop::Terminate, Ordering::Release);
    engine.interrupt();
    eprintln!("\nstopping: finishing the deliveries under way (press Ctrl-C again to abort now)");
    if next_stop(&mut terminate).await.is_some() {
        // Recipients handed to a connection with their `data` record written, whose body was
        // not let go, get `unsent` records: only those whose body may have gone stay in doubt.
        engine.abort();
        let _ = engine.recorder.finish();
        eprintln!("aborted: messages that were being sent are recorded as in doubt");
        let code = match first {
            Stop::Interrupt => ExitCode::Interrupted,
            Stop::Terminate => ExitCode::Terminated,
        };
        std::process::exit(code.code());
    }
}

/// Asks on the terminal before a real send: whether the answer was yes. Without a terminal,
/// refuses (`--yes` is needed).
pub(super) fn confirm(issue: &Issue, planned: usize, relay: &str) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::ConfirmationNeeded {
            issue: issue.slug(),
            count: planned,
            relay: relay.to_owned(),
        });
    }
    eprint!(
        "send {} to {planned} subscribers via {relay}? [y/N] ",
        issue.slug()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| Error::Read {
            path: "standard input".into(),
            source,
        })?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// The SMTP password of `relay`: from the environment (`NEWSLETTER_SMTP_PASSWORD`, or the
/// variable its `password_env=` names), or asked for on the terminal.
pub(super) fn password(relay: &Relay) -> Result<Option<Secret<String>>, Error> {
    let Some(user) = &relay.user else {
        return Ok(None);
    };
    let variable = relay.password_variable();
    if let Some(password) = std::env::var_os(variable) {
        return Ok(Some(Secret::new(password.to_string_lossy().into_owned())));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::SmtpPasswordMissing {
            user: user.clone(),
            variable: variable.to_owned(),
        });
    }
    rpassword::prompt_password(format!("SMTP password for {user} at {}: ", relay.address()))
        .map(|password| Some(Secret::new(password)))
        .map_err(|source| Error::Read {
            path: "the terminal".into(),
            source,
        })
}
