//! TLS for the SMTP session, for implicit TLS (`smtps://`) and STARTTLS alike: rustls with
//! Mozilla's roots (webpki-roots) and the `--ca-file` certificates, over our own TCP socket so
//! that it keeps TCP_NODELAY.

use std::{fmt, sync::Arc};

use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::deliver::relay::RelaySettings;

/// Runs the TLS handshake with the relay over `tcp`. The error says what failed, in a line.
pub(crate) async fn secure(
    settings: &RelaySettings,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let connector = TlsConnector::from(Arc::new(client_config(settings)?));
    let host = &settings.relay.host;
    let name = ServerName::try_from(host.clone()).map_err(|error| format!("`{host}`: {error}"))?;
    connector
        .connect(name, tcp)
        .await
        .map_err(|error| format!("TLS handshake failed: {error}"))
}

/// Mozilla's roots and the CA file, if any.
fn client_config(settings: &RelaySettings) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path)
            .map_err(|error| format!("cannot read the CA file `{}`: {error}", path.display()))?;
        let bad = |error: &dyn fmt::Display| {
            format!(
                "`{}` holds no usable PEM certificate: {error}",
                path.display()
            )
        };
        let mut found = false;
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate = certificate.map_err(|error| bad(&error))?;
            roots.add(certificate).map_err(|error| bad(&error))?;
            found = true;
        }
        if !found {
            return Err(bad(&"no certificate found"));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
