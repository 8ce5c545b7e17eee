//! `newsletter preview ISSUE --watch`: a live preview. A local web server shows the issue as
//! a subscriber will get it, and the page redraws on every save of the issue, the list file, or
//! the subscriber or suppression file.
//!
//! [`live`] holds the last good build and its version, [`files`] watches the folders of the
//! files in use and rebuilds, [`server`] answers the page and scripts (see its route table),
//! [`subscribers`] keeps the list indexed on the server side. The server runs on one tokio
//! thread; rebuilds happen on the watcher's thread, so a slow read never stalls a request.

mod files;
mod live;
mod server;
mod subscribers;

use std::{io::Write, net::SocketAddr, sync::Arc};

use crate::{
    cli::PreviewArguments,
    commands::load::InputFiles,
    commands::style,
    error::{Error, ExitCode},
};

pub(crate) fn run(arguments: &PreviewArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let live = Arc::new(live::Live::new(InputFiles::new(
        &arguments.input,
        &arguments.signing,
    )));
    // The first build happens on the watcher's thread while the server starts; a first build
    // that fails is shown on the page like any other error, and the page follows the fix.
    files::watch(Arc::clone(&live))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Internal {
            message: format!("cannot start the async runtime: {source}"),
        })?;
    runtime.block_on(serve(live, arguments, out))
}

async fn serve(
    live: Arc<live::Live>,
    arguments: &PreviewArguments,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let listen_error = |source| Error::PreviewListen {
        address: arguments.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(arguments.listen)
        .await
        .map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    let url = page_url(address);
    style::print(
        out,
        format!(
            "live preview of {} at {url}\n  it redraws on every save; press Ctrl-C to stop\n",
            arguments.input.issue.display()
        ),
    )?;
    if arguments.open {
        crate::commands::preview::open_with_desktop(url.as_ref());
    }
    axum::serve(listener, server::router(live, address))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(listen_error)?;
    Ok(ExitCode::Success)
}

/// The page's address; `localhost` for a wildcard address, which is not one a browser can use.
fn page_url(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        format!("http://localhost:{}/", address.port())
    } else {
        format!("http://{address}/")
    }
}
