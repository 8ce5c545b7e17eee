//! What `send` asks of the person at the terminal, and how it answers Ctrl-C: the
//! confirmation before a real send, the SMTP password when the environment has none, and the
//! first and second interrupt.

use std::{
    io::{IsTerminal, Write},
    sync::Arc,
};

use crate::{
    deliver::{engine::Engine, relay::Relay},
    error::{Error, ExitCode},
    input::issue::Issue,
    secret::Secret,
};

/// First Ctrl-C: stop taking recipients and let deliveries under way finish. Second: stop now
/// (messages under way are then recorded as in doubt by their `data` records).
pub(super) async fn watch_interrupts(engine: Arc<Engine>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    engine.interrupt();
    eprintln!("\nstopping: finishing the deliveries under way (press Ctrl-C again to abort now)");
    if tokio::signal::ctrl_c().await.is_ok() {
        if let Some(journal) = &engine.journal {
            let _ = journal.close();
        }
        let _ = engine.recorder.finish();
        eprintln!("aborted: messages that were being sent are recorded as in doubt");
        std::process::exit(ExitCode::Interrupted.code());
    }
}

/// Asks on the terminal before a real send: whether the answer was yes. Without a terminal,
/// refuses (`--yes` is needed).
pub(super) fn confirm(issue: &Issue, planned: usize, relay: &Relay) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::ConfirmationNeeded {
            issue: issue.slug(),
            count: planned,
            relay: relay.to_string(),
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

/// The SMTP password: from the environment, or asked for on the terminal.
pub(super) fn password(relay: &Relay) -> Result<Option<Secret<String>>, Error> {
    let Some(user) = &relay.user else {
        return Ok(None);
    };
    if let Some(password) = std::env::var_os(crate::env::SMTP_PASSWORD) {
        return Ok(Some(Secret::new(password.to_string_lossy().into_owned())));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::SmtpPasswordMissing { user: user.clone() });
    }
    rpassword::prompt_password(format!("SMTP password for {user} at {}: ", relay.host))
        .map(|password| Some(Secret::new(password)))
        .map_err(|source| Error::Read {
            path: "the terminal".into(),
            source,
        })
}
