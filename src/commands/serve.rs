//! `newsletter serve`: the list's unsubscribe endpoint. Resolves the list file, the key and
//! the suppression file, binds the address, and runs [`crate::endpoint`] until SIGTERM or
//! Ctrl-C.

use std::{io::Write, net::SocketAddr};

use crate::{
    cli::ServeArguments,
    commands::load::{suppression_path, unsubscribe_key},
    commands::style,
    compose::unsubscribe::KeyUse,
    endpoint::{
        self, Settings,
        wording::{self, Match, Wording},
    },
    error::{Error, ExitCode},
    input::list::{List, UrlPattern},
};

pub(crate) fn run(arguments: &ServeArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let list = List::load(&arguments.list)?;
    let template = list.file.unsubscribe.url.clone();
    let url_error = |reason: String| Error::ServeUrl {
        list: list.path.clone(),
        reason,
    };
    if !template.uses("token") && !template.uses("id") {
        return Err(url_error(
            "it has neither `{token}` nor `{id}`, so anyone who knows an address could unsubscribe it".into(),
        ));
    }
    let pattern = UrlPattern::of(&template).map_err(url_error)?;
    if let Match::Fallback(why) = wording::translation(&list.file.language) {
        style::note(&format!("`{}`: {why}", list.path.display()));
    }
    let key = unsubscribe_key(KeyUse::Send)?.ok_or(Error::UnsubscribeKeyUnset)?;
    let suppression = suppression_path(&list, arguments.suppression.as_ref())?;
    let settings = Settings {
        list_name: list.file.name.to_string(),
        list_id: list.file.id.as_str().to_owned(),
        wording: Wording::new(&list.file.language, &list.file.unsubscribe.page),
        mailto: list
            .file
            .unsubscribe
            .mailto
            .as_ref()
            .map(ToString::to_string),
        template,
        pattern,
        key,
        suppression,
        rate_limit: arguments.rate_limit,
        read_timeout: arguments.read_timeout,
    };
    let listen_error = |source| Error::ServeListen {
        address: arguments.listen.clone(),
        source,
    };
    let address: SocketAddr = arguments.listen.trim().parse().map_err(|_| {
        listen_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an address such as 127.0.0.1:8080",
        ))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::Internal {
            message: format!("cannot start the async runtime: {error}"),
        })?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(listen_error)?;
        let bound = listener.local_addr().map_err(listen_error)?;
        // The first line says where it listens (tests and scripts read the port from it).
        style::print(out, format!("listening on http://{bound}\n"))?;
        endpoint::serve(listener, settings, stop_signal()).await;
        Ok::<(), Error>(())
    })?;
    eprintln!("serve: stopped; every unsubscribe answered with 200 is in the suppression file");
    Ok(ExitCode::Success)
}

/// Completes at SIGTERM (what systemd and container runtimes send) or Ctrl-C.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
