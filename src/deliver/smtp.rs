//! One SMTP session with the relay: connect (TCP_NODELAY, TLS as configured), EHLO, log in,
//! then deliver messages one after another over the same connection.
//!
//! Built on lettre's `AsyncSmtpConnection`. Two things make it much faster than lettre's pooled
//! transport: the socket has TCP_NODELAY, so the final `.` of DATA is not held back by Nagle's
//! algorithm waiting for a delayed ACK (about 40 ms a message), and when the server offers
//! PIPELINING (RFC 2920) `MAIL FROM`, `RCPT TO` and `DATA` go out in one write, so a message
//! costs two round trips instead of four.
//!
//! Delivery reports exactly how far a message got, because a message whose body was sent but
//! whose reply was never read may or may not have been delivered; [`Attempt::Broken`] says
//! whether that happened, and the caller records an "in doubt" outcome for it.

use std::{
    fmt, io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use lettre::{
    address::Envelope,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters},
        commands::{Data, Mail, Rcpt, Rset},
        extension::{ClientId, Extension, MailBodyParameter, MailParameter},
        response::Response,
    },
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::timeout,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::deliver::relay::{RelaySettings, Security};

/// Why a connection could not be opened or made ready.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// No TCP connection: refused, an unknown host, no answer in time. Worth retrying with a
    /// relay that was working; a sign of a wrong `--smtp` when no connection ever succeeded.
    Unreachable(String),
    /// The relay dropped the connection or went silent: worth retrying.
    Network(String),
    /// TLS failed (certificate, handshake) or STARTTLS was required and not offered: retrying
    /// will not help.
    Tls(String),
    /// The relay refused the credentials, or offers no way to use them.
    Auth(String),
    /// The relay answered the greeting or EHLO with an error.
    Refused(Reply),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Unreachable(text)
            | ConnectError::Network(text)
            | ConnectError::Tls(text)
            | ConnectError::Auth(text) => f.write_str(text),
            ConnectError::Refused(reply) => write!(f, "the relay refused the session: {reply}"),
        }
    }
}

/// An SMTP reply: its code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) text: String,
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

impl Reply {
    fn from_response(response: &Response) -> Reply {
        Reply {
            code: code_number(response),
            text: response.message().collect::<Vec<_>>().join(" "),
        }
    }

    /// A 4xx reply: try again later.
    pub(crate) fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }
}

fn code_number(response: &Response) -> u16 {
    let code = response.code();
    code.to_string().parse().unwrap_or(0)
}

/// The stage of the SMTP transaction a reply answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Mail,
    Rcpt,
    Data,
    Message,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Message => "end of DATA",
        })
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The server accepted the message.
    Delivered(Reply),
    /// The server answered with an error; the connection is still usable.
    Rejected { stage: Stage, reply: Reply },
    /// The connection failed. `in_doubt` is set when the whole message had been sent but no
    /// reply was read, so the server may have accepted it.
    Broken { error: String, in_doubt: bool },
    /// The caller's `before_body` refused to go on; the session is mid-transaction and must be
    /// dropped (closing it discards the transaction).
    Aborted,
}

/// An open, ready session.
pub(crate) struct Session {
    connection: AsyncSmtpConnection,
    pipelining: bool,
    timeout: Duration,
    /// Whether a transaction was left unfinished and needs an RSET before the next one.
    needs_reset: bool,
}

impl Session {
    /// Connects to the relay, secures the connection as configured and logs in.
    pub(crate) async fn open(settings: &RelaySettings) -> Result<Session, ConnectError> {
        let relay = &settings.relay;
        let hello = ClientId::Domain(settings.helo.clone());
        let wait = settings.timeout;
        let tcp = timeout(wait, TcpStream::connect((relay.host.as_str(), relay.port)))
            .await
            .map_err(|_| {
                ConnectError::Unreachable(format!(
                    "no connection to {}:{} within {}",
                    relay.host,
                    relay.port,
                    seconds(wait)
                ))
            })?
            .map_err(|error| {
                ConnectError::Unreachable(format!(
                    "cannot connect to {}:{}: {error}",
                    relay.host, relay.port
                ))
            })?;
        tcp.set_nodelay(true)
            .map_err(|error| ConnectError::Network(error.to_string()))?;
        let stream: Box<dyn AsyncTokioStream> = if relay.security == Security::Implicit {
            let connector = TlsConnector::from(std::sync::Arc::new(rustls_config(settings)?));
            let name = rustls_pki_types::ServerName::try_from(relay.host.clone())
                .map_err(|error| ConnectError::Tls(format!("`{}`: {error}", relay.host)))?;
            let tls = timeout(wait, connector.connect(name, tcp))
                .await
                .map_err(|_| ConnectError::Network("TLS handshake timed out".into()))?
                .map_err(|error| ConnectError::Tls(format!("TLS handshake failed: {error}")))?;
            Box::new(TlsTunnel(tls))
        } else {
            Box::new(tcp)
        };
        let mut connection = timeout(
            wait,
            AsyncSmtpConnection::connect_with_transport(stream, &hello),
        )
        .await
        .map_err(|_| ConnectError::Network("the relay sent no greeting".into()))?
        .map_err(|error| greeting_error(&error))?;

        let offers_starttls = connection
            .server_info()
            .supports_feature(Extension::StartTls);
        match relay.security {
            Security::StartTls | Security::Opportunistic if offers_starttls => {
                timeout(wait, connection.starttls(tls_parameters(settings)?, &hello))
                    .await
                    .map_err(|_| ConnectError::Network("STARTTLS timed out".into()))?
                    .map_err(|error| ConnectError::Tls(describe_tls(&error)))?;
            }
            Security::StartTls => {
                return Err(ConnectError::Tls(format!(
                    "{}:{} does not offer STARTTLS, and the URL says `tls=required`",
                    relay.host, relay.port
                )));
            }
            _ => {}
        }
        let encrypted = relay.security == Security::Implicit || connection.is_encrypted();

        if let Some(user) = &relay.user {
            if !encrypted && !relay.is_loopback() {
                return Err(ConnectError::Tls(format!(
                    "{}:{} offered no TLS, and the password is not sent over a plaintext connection",
                    relay.host, relay.port
                )));
            }
            let password = settings
                .password
                .as_ref()
                .map(|secret| secret.expose().clone())
                .unwrap_or_default();
            let credentials = Credentials::new(user.clone(), password);
            timeout(
                wait,
                connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
            )
            .await
            .map_err(|_| ConnectError::Network("authentication timed out".into()))?
            .map_err(|error| {
                ConnectError::Auth(match error.status() {
                    Some(_) => format!("the relay refused the login of `{user}`: {error}"),
                    None => format!("cannot log in as `{user}`: {error}"),
                })
            })?;
        }
        let pipelining = offers_pipelining(&mut connection, &hello, wait).await;
        Ok(Session {
            connection,
            pipelining,
            timeout: wait,
            needs_reset: false,
        })
    }

    /// Sends one message. `before_body` is awaited once the server has agreed to take the message
    /// body (354), before any of it is sent: the last moment at which the message is certainly
    /// not delivered. If it yields `false`, nothing is sent and the session must be dropped.
    pub(crate) async fn deliver(
        &mut self,
        envelope: &Envelope,
        message: &[u8],
        before_body: impl Future<Output = bool>,
    ) -> Attempt {
        if self.needs_reset {
            match self.step(Rset.to_string()).await {
                Ok(Ok(_)) => self.needs_reset = false,
                Ok(Err(reply)) => {
                    return Attempt::Broken {
                        error: format!("the relay refused RSET: {reply}"),
                        in_doubt: false,
                    };
                }
                Err(error) => return broken(error, false),
            }
        }
        let mut mail_options = Vec::new();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
        if non_ascii {
            mail_options.push(MailParameter::SmtpUtfEight);
        }
        if !message.is_ascii() {
            mail_options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let mail = Mail::new(envelope.from().cloned(), mail_options).to_string();
        let rcpts: Vec<String> = envelope
            .to()
            .iter()
            .map(|to| Rcpt::new(to.clone(), vec![]).to_string())
            .collect();
        let data = Data.to_string();

        let replies = if self.pipelining {
            self.pipelined(&mail, &rcpts, &data).await
        } else {
            self.one_by_one(&mail, &rcpts, &data).await
        };
        let mut failure = None;
        let stages = std::iter::once(Stage::Mail)
            .chain(rcpts.iter().map(|_| Stage::Rcpt))
            .chain(std::iter::once(Stage::Data));
        for (stage, reply) in stages.zip(replies.iter()) {
            match reply {
                Step::Answer(Ok(_)) => {}
                Step::Answer(Err(reply)) => {
                    failure.get_or_insert(Attempt::Rejected {
                        stage,
                        reply: reply.clone(),
                    });
                }
                Step::Failed(error) => {
                    // A 421 closes the connection, so the replies pipelined after it never
                    // come; the 421 is what happened, as when each command waits for its reply.
                    if let Some(Attempt::Rejected { reply, .. }) = &failure
                        && reply.code == 421
                    {
                        return failure.expect("matched above");
                    }
                    return broken(error.clone(), false);
                }
            }
        }
        let data_accepted =
            matches!(replies.last(), Some(Step::Answer(Ok(_)))) && replies.len() == rcpts.len() + 2;
        if let Some(failure) = failure {
            if data_accepted {
                // The server took DATA although an earlier command failed: end the transaction
                // with an empty body; it will be refused or discarded.
                let _ = timeout(self.timeout, self.connection.message(b"")).await;
            }
            self.needs_reset = true;
            return failure;
        }
        if !before_body.await {
            return Attempt::Aborted;
        }
        self.send_body(message).await
    }

    /// Sends the message body and the end of DATA, and reads the relay's verdict.
    async fn send_body(&mut self, message: &[u8]) -> Attempt {
        // lettre's `message` dot-stuffs byte by byte (15% of a send's CPU time); messages built
        // here are ASCII (quoted-printable bodies, encoded headers), so they are stuffed with a
        // substring search and sent as one write that ends the DATA.
        let connection = &mut self.connection;
        let sent = async move {
            if let Ok(text) = std::str::from_utf8(message) {
                connection.command(RawCommand(data_block(text))).await
            } else {
                // lettre always sends CRLF "." CRLF; the message's own final CRLF must not
                // become an extra empty line.
                let message = message.strip_suffix(b"\r\n").unwrap_or(message);
                connection.message(message).await
            }
        };
        match timeout(self.timeout, sent).await {
            Ok(Ok(response)) => Attempt::Delivered(Reply::from_response(&response)),
            Ok(Err(error)) => match negative_reply(&error) {
                Some(reply) => Attempt::Rejected {
                    stage: Stage::Message,
                    reply,
                },
                None => broken(
                    format!(
                        "the connection failed after the whole message was sent, before the relay answered ({error})"
                    ),
                    true,
                ),
            },
            Err(_) => broken(
                format!(
                    "no reply to the end of DATA within {}",
                    seconds(self.timeout)
                ),
                true,
            ),
        }
    }

    /// Ends the session politely.
    pub(crate) async fn quit(mut self) {
        let wait = self.timeout.min(Duration::from_secs(5));
        let _ = timeout(wait, self.connection.quit()).await;
    }

    async fn step(&mut self, command: String) -> Result<Result<Response, Reply>, String> {
        match timeout(self.timeout, self.connection.command(RawCommand(command))).await {
            Ok(result) => answer(result),
            Err(_) => Err(format!("no reply within {}", seconds(self.timeout))),
        }
    }

    async fn read(&mut self) -> Result<Result<Response, Reply>, String> {
        match timeout(self.timeout, self.connection.read_response()).await {
            Ok(result) => answer(result),
            Err(_) => Err(format!("no reply within {}", seconds(self.timeout))),
        }
    }

    /// MAIL, every RCPT and DATA in one write, then one reply for each.
    async fn pipelined(&mut self, mail: &str, rcpts: &[String], data: &str) -> Vec<Step> {
        let batch = std::iter::once(mail)
            .chain(rcpts.iter().map(String::as_str))
            .chain(std::iter::once(data))
            .collect::<String>();
        let mut steps = Vec::with_capacity(rcpts.len() + 2);
        // `command` writes the whole batch, then reads the first reply.
        let first = self.step(batch).await;
        let failed = first.is_err();
        steps.push(Step::from(first));
        if failed {
            return steps;
        }
        for _ in 0..=rcpts.len() {
            let step = self.read().await;
            let failed = step.is_err();
            steps.push(Step::from(step));
            if failed {
                break;
            }
        }
        steps
    }

    /// MAIL, each RCPT and DATA in turn, stopping at the first refusal.
    async fn one_by_one(&mut self, mail: &str, rcpts: &[String], data: &str) -> Vec<Step> {
        let mut steps = Vec::with_capacity(rcpts.len() + 2);
        let commands = std::iter::once(mail)
            .chain(rcpts.iter().map(String::as_str))
            .chain(std::iter::once(data));
        for command in commands {
            let step = Step::from(self.step(command.to_owned()).await);
            let refused = !matches!(step, Step::Answer(Ok(_)));
            steps.push(step);
            if refused {
                break;
            }
        }
        steps
    }
}

/// The reply to one command, or the failure of the connection while waiting for it.
#[derive(Debug)]
enum Step {
    Answer(Result<Response, Reply>),
    Failed(String),
}

impl From<Result<Result<Response, Reply>, String>> for Step {
    fn from(result: Result<Result<Response, Reply>, String>) -> Self {
        match result {
            Ok(answer) => Step::Answer(answer),
            Err(error) => Step::Failed(error),
        }
    }
}

/// A timeout as `--timeout` takes it, in seconds: `60 s`, `0.5 s` (whole seconds would make
/// half a second `0 s`).
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

fn broken(error: String, in_doubt: bool) -> Attempt {
    Attempt::Broken { error, in_doubt }
}

/// Splits lettre's result into a reply (positive or negative) or a connection failure.
fn answer(
    result: Result<Response, lettre::transport::smtp::Error>,
) -> Result<Result<Response, Reply>, String> {
    match result {
        Ok(response) => Ok(Ok(response)),
        Err(error) => match negative_reply(&error) {
            Some(reply) => Ok(Err(reply)),
            None => Err(error.to_string()),
        },
    }
}

/// The 4xx or 5xx reply inside a lettre error, if it is one.
fn negative_reply(error: &lettre::transport::smtp::Error) -> Option<Reply> {
    let code = error.status()?;
    let text = std::error::Error::source(error)
        .map(ToString::to_string)
        .unwrap_or_default();
    Some(Reply {
        code: code.to_string().parse().unwrap_or(0),
        text,
    })
}

fn greeting_error(error: &lettre::transport::smtp::Error) -> ConnectError {
    match negative_reply(error) {
        Some(reply) => ConnectError::Refused(reply),
        None => ConnectError::Network(format!("the session failed to start: {error}")),
    }
}

/// The error and its causes on one line, without the repetitions that come from each layer
/// quoting the one below (`Connection error: Connection error: invalid peer certificate`).
fn describe_tls(error: &lettre::transport::smtp::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut layer: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = layer {
        for part in current.to_string().split(": ") {
            if !parts.iter().any(|known| known == part) {
                parts.push(part.to_owned());
            }
        }
        layer = current.source();
    }
    parts.join(": ")
}

fn read_ca_file(settings: &RelaySettings) -> Result<Option<Vec<u8>>, ConnectError> {
    settings
        .ca_file
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|error| {
                ConnectError::Tls(format!(
                    "cannot read the CA file `{}`: {error}",
                    path.display()
                ))
            })
        })
        .transpose()
}

fn bad_ca_file(settings: &RelaySettings, error: impl fmt::Display) -> ConnectError {
    let path = settings
        .ca_file
        .as_deref()
        .unwrap_or(std::path::Path::new(""));
    ConnectError::Tls(format!(
        "`{}` holds no usable PEM certificate: {error}",
        path.display()
    ))
}

/// TLS settings for STARTTLS (done by lettre): Mozilla's roots and the CA file, if any.
fn tls_parameters(settings: &RelaySettings) -> Result<TlsParameters, ConnectError> {
    let mut builder = TlsParameters::builder(settings.relay.host.clone());
    if let Some(pem) = read_ca_file(settings)? {
        let certificate = Certificate::from_pem(&pem).map_err(|e| bad_ca_file(settings, e))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|error| ConnectError::Tls(error.to_string()))
}

/// TLS settings for implicit TLS (done here, so that our socket keeps TCP_NODELAY): the same
/// roots as [`tls_parameters`].
fn rustls_config(settings: &RelaySettings) -> Result<rustls::ClientConfig, ConnectError> {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = read_ca_file(settings)? {
        for certificate in CertificateDer::pem_slice_iter(&pem) {
            let certificate = certificate.map_err(|e| bad_ca_file(settings, e))?;
            roots
                .add(certificate)
                .map_err(|e| bad_ca_file(settings, e))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| ConnectError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// lettre does not record PIPELINING, so a second EHLO reads the server's extensions.
async fn offers_pipelining(
    connection: &mut AsyncSmtpConnection,
    hello: &ClientId,
    wait: Duration,
) -> bool {
    let ehlo = lettre::transport::smtp::commands::Ehlo::new(hello.clone());
    match timeout(wait, connection.command(ehlo)).await {
        Ok(Ok(response)) => response
            .message()
            .any(|line| line.split_whitespace().next() == Some("PIPELINING")),
        _ => false,
    }
}

/// The DATA block for `message`: every line that starts with `.` gets another `.` (RFC 5321,
/// 4.5.2), and `.` CRLF on a line of its own ends it. The CRLF before the dot ends the
/// message's last line (4.1.1.4), so one is added only if the message does not end with one;
/// otherwise the message would arrive with an extra empty line.
fn data_block(message: &str) -> String {
    let mut block = String::with_capacity(message.len() + 64);
    let mut rest = message;
    if rest.starts_with('.') {
        block.push('.');
    }
    while let Some(index) = rest.find("\n.") {
        block.push_str(&rest[..=index]);
        block.push('.');
        rest = &rest[index + 1..];
    }
    block.push_str(rest);
    if !block.ends_with("\r\n") {
        block.push_str("\r\n");
    }
    block.push_str(".\r\n");
    block
}

/// A command already formatted with its CRLF (one or several pipelined commands).
struct RawCommand(String);

impl fmt::Display for RawCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An implicit-TLS stream over our own TCP socket (which has TCP_NODELAY), handed to lettre as
/// the stream of the SMTP session.
struct TlsTunnel(TlsStream<TcpStream>);

impl fmt::Debug for TlsTunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTunnel")
    }
}

impl AsyncRead for TlsTunnel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(context, buffer)
    }
}

impl AsyncWrite for TlsTunnel {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(context, buffer)
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(context)
    }
}

impl AsyncTokioStream for TlsTunnel {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_block_stuffs_leading_dots_and_ends_the_data() {
        assert_eq!(
            data_block("a\r\n.b\r\n..c\r\nd."),
            "a\r\n..b\r\n...c\r\nd.\r\n.\r\n"
        );
        assert_eq!(data_block(".start\r\n"), "..start\r\n.\r\n");
        assert_eq!(data_block("a line\r\n"), "a line\r\n.\r\n");
        assert_eq!(data_block(""), "\r\n.\r\n");
    }

    #[test]
    fn timeouts_are_shown_in_seconds_with_their_fraction() {
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
