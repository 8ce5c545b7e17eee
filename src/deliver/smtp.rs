//! One SMTP session with the relay: connect (TCP_NODELAY, TLS as configured), EHLO, log in,
//! then deliver messages one after another over the same connection.
//!
//! Our own client, because a relay is not trusted: each reply is read by [`ReplyReader`] within
//! the limits of a line and a reply and within `--timeout`, and must be the one its command
//! expects (220 to the greeting and STARTTLS; 250 to EHLO, MAIL and RSET; 250 or 251 to RCPT;
//! 334 and 235 while logging in; 354 to DATA, the only reply that lets a body go; 2xx to the end
//! of the data, the only reply that means delivered). A 4xx or 5xx is a refusal; anything else,
//! and anything the relay sends unasked, is a protocol error that ends the connection, so that a
//! reply can never be taken for the answer to another command.
//!
//! Two things make it fast: the socket has TCP_NODELAY, so the final `.` of DATA is not held
//! back by Nagle's algorithm waiting for a delayed ACK (about 40 ms a message), and when the
//! server offers PIPELINING (RFC 2920) `MAIL FROM`, `RCPT TO` and `DATA` go out in one write and
//! exactly that many replies are read, in order, so a message costs two round trips, not four.
//!
//! Delivery reports exactly how far a message got, because a message whose body was sent but
//! whose reply was never read (or made no sense) may or may not have been delivered;
//! [`Attempt::Broken`] says whether that happened, and the caller records an "in doubt" outcome
//! for it.

use std::{
    fmt, io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use lettre::address::Envelope;
use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
    time::timeout,
};
use tokio_rustls::client::TlsStream;

use crate::deliver::{
    relay::{RelaySettings, Security},
    reply::{Reply, ReplyReader},
    tls,
};

/// Why a connection could not be opened or made ready.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// No TCP connection: refused, an unknown host, no answer in time. Worth retrying with a
    /// relay that was working; a sign of a wrong `--smtp` when no connection ever succeeded.
    Unreachable(String),
    /// The relay dropped the connection, went silent or broke the protocol: worth retrying.
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
    /// The server answered with an error; the connection is still usable (unless the reply is
    /// a 421, which closes it).
    Rejected { stage: Stage, reply: Reply },
    /// The connection failed or the relay broke the protocol; the session must be dropped.
    /// `in_doubt` is set when the whole message had been sent but no sensible reply was read,
    /// so the server may have accepted it.
    Broken { error: String, in_doubt: bool },
    /// The caller's `before_body` refused to go on; the session is mid-transaction and must be
    /// dropped (closing it discards the transaction).
    Aborted,
    /// The message is larger than the relay's advertised `SIZE` limit: nothing was sent (the
    /// relay would refuse it for every recipient).
    TooLarge { size: usize, limit: u64 },
}

/// What a command waits for; each accepts only its own positive replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Greeting,
    Ehlo,
    StartTls,
    /// A step of AUTH LOGIN, answered by a challenge.
    AuthStep,
    /// The last step of AUTH.
    Auth,
    Mail,
    Rcpt,
    Data,
    EndOfData,
    Rset,
    Quit,
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Greeting => "the greeting",
            Command::Ehlo => "EHLO",
            Command::StartTls => "STARTTLS",
            Command::AuthStep | Command::Auth => "AUTH",
            Command::Mail => "MAIL FROM",
            Command::Rcpt => "RCPT TO",
            Command::Data => "DATA",
            Command::EndOfData => "the end of DATA",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
        }
    }

    fn accepts(self, code: u16) -> bool {
        match self {
            Command::Greeting | Command::StartTls => code == 220,
            Command::Ehlo | Command::Mail | Command::Rset => code == 250,
            Command::Rcpt => matches!(code, 250 | 251),
            Command::AuthStep => code == 334,
            Command::Auth => code == 235,
            Command::Data => code == 354,
            Command::EndOfData => (200..300).contains(&code),
            Command::Quit => code == 221,
        }
    }

    fn stage(self) -> Stage {
        match self {
            Command::Mail => Stage::Mail,
            Command::Rcpt => Stage::Rcpt,
            Command::Data => Stage::Data,
            _ => Stage::Message,
        }
    }
}

/// A reply the command accepts (`Ok`), or a refusal, 4xx or 5xx (`Err`).
type Answer = Result<Reply, Reply>;

/// The connection under the session: plain TCP, or TLS over it.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS moves the socket into TLS.
    Closed,
}

/// What the relay offers in its EHLO reply.
#[derive(Debug, Default)]
struct Features {
    pipelining: bool,
    starttls: bool,
    auth: Vec<String>,
    /// The largest message the relay takes (`SIZE n`, RFC 1870); none for `SIZE 0` or none.
    size_limit: Option<u64>,
}

impl Features {
    fn of(reply: &Reply) -> Features {
        let mut features = Features::default();
        // The first line is the relay's name; each of the others names an extension.
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => features.pipelining = true,
                "STARTTLS" => features.starttls = true,
                "SIZE" => {
                    features.size_limit = words
                        .next()
                        .and_then(|limit| limit.parse().ok())
                        .filter(|limit| *limit > 0);
                }
                "AUTH" => features.auth.extend(words.map(str::to_ascii_uppercase)),
                // The pre-RFC form some relays still send as well: `AUTH=PLAIN LOGIN`.
                other if other.starts_with("AUTH=") => {
                    features.auth.push(other["AUTH=".len()..].to_owned());
                    features.auth.extend(words.map(str::to_ascii_uppercase));
                }
                _ => {}
            }
        }
        features
    }

    fn offers(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|offered| offered == mechanism)
    }
}

/// An open, ready session.
pub(crate) struct Session {
    stream: Stream,
    replies: ReplyReader,
    pipelining: bool,
    /// The relay's `SIZE` limit, if it gave one.
    size_limit: Option<u64>,
    timeout: Duration,
    /// Whether a transaction was left unfinished and needs an RSET before the next one.
    needs_reset: bool,
}

impl Session {
    /// Connects to the relay, secures the connection as configured and logs in.
    pub(crate) async fn open(settings: &RelaySettings) -> Result<Session, ConnectError> {
        let relay = &settings.relay;
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
        let stream = if relay.security == Security::Implicit {
            Stream::Tls(Box::new(handshake(settings, tcp).await?))
        } else {
            Stream::Plain(tcp)
        };
        let mut session = Session {
            stream,
            replies: ReplyReader::new(),
            pipelining: false,
            size_limit: None,
            timeout: wait,
            needs_reset: false,
        };
        match session.reply(Command::Greeting).await {
            Ok(Ok(_)) => {}
            Ok(Err(reply)) => return Err(ConnectError::Refused(reply)),
            Err(error) => return Err(ConnectError::Network(error)),
        }
        let mut features = session.ehlo(&settings.helo).await?;
        match relay.security {
            Security::StartTls | Security::Opportunistic if features.starttls => {
                session.starttls(settings).await?;
                features = session.ehlo(&settings.helo).await?;
            }
            Security::StartTls => {
                return Err(ConnectError::Tls(format!(
                    "{}:{} does not offer STARTTLS, and the URL says `tls=required`",
                    relay.host, relay.port
                )));
            }
            _ => {}
        }
        if let Some(user) = &relay.user {
            let encrypted = matches!(session.stream, Stream::Tls(_));
            if !encrypted && !relay.is_loopback() {
                return Err(ConnectError::Tls(format!(
                    "{}:{} offered no TLS, and the password is not sent over a plaintext connection",
                    relay.host, relay.port
                )));
            }
            let password = settings
                .password
                .as_ref()
                .map(|secret| secret.expose().as_str())
                .unwrap_or_default();
            session.log_in(user, password, &features).await?;
        }
        session.pipelining = features.pipelining;
        session.size_limit = features.size_limit;
        Ok(session)
    }

    async fn ehlo(&mut self, name: &str) -> Result<Features, ConnectError> {
        match self
            .command(&format!("EHLO {name}\r\n"), Command::Ehlo)
            .await
        {
            Ok(Ok(reply)) => Ok(Features::of(&reply)),
            Ok(Err(reply)) => Err(ConnectError::Refused(reply)),
            Err(error) => Err(ConnectError::Network(error)),
        }
    }

    async fn starttls(&mut self, settings: &RelaySettings) -> Result<(), ConnectError> {
        match self.command("STARTTLS\r\n", Command::StartTls).await {
            Ok(Ok(_)) => {}
            Ok(Err(reply)) => {
                return Err(ConnectError::Tls(format!(
                    "the relay refused STARTTLS: {reply}"
                )));
            }
            Err(error) => return Err(ConnectError::Network(error)),
        }
        // Whatever came after the 220 was sent before encryption, by the relay or by someone
        // in between; read after the handshake, it would pass for a reply over TLS.
        self.quiet().await.map_err(ConnectError::Tls)?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(ConnectError::Tls("STARTTLS on a TLS connection".into()));
        };
        self.stream = Stream::Tls(Box::new(handshake(settings, tcp).await?));
        Ok(())
    }

    /// AUTH PLAIN if offered, else AUTH LOGIN. From here on, the password and the forms it was
    /// sent in are cut out of every reply, since a relay may quote what it refused.
    async fn log_in(
        &mut self,
        user: &str,
        password: &str,
        features: &Features,
    ) -> Result<(), ConnectError> {
        let plain = BASE64.encode(format!("\0{user}\0{password}"));
        let password64 = BASE64.encode(password);
        for secret in [password, &password64, &plain] {
            self.replies.redact(secret.to_owned());
        }
        let steps = if features.offers("PLAIN") {
            vec![(format!("AUTH PLAIN {plain}\r\n"), Command::Auth)]
        } else if features.offers("LOGIN") {
            vec![
                ("AUTH LOGIN\r\n".to_owned(), Command::AuthStep),
                (format!("{}\r\n", BASE64.encode(user)), Command::AuthStep),
                (format!("{password64}\r\n"), Command::Auth),
            ]
        } else {
            return Err(ConnectError::Auth(format!(
                "the relay offers no login this program can use (it offers {}; this program uses PLAIN and LOGIN)",
                if features.auth.is_empty() {
                    "none".to_owned()
                } else {
                    features.auth.join(", ")
                }
            )));
        };
        for (line, command) in steps {
            match self.command(&line, command).await {
                Ok(Ok(_)) => {}
                Ok(Err(reply)) => {
                    return Err(ConnectError::Auth(format!(
                        "the relay refused the login of `{user}`: {} error ({}): {}",
                        if reply.is_transient() {
                            "transient"
                        } else {
                            "permanent"
                        },
                        reply.code,
                        reply.text()
                    )));
                }
                Err(error) => {
                    return Err(ConnectError::Auth(format!(
                        "cannot log in as `{user}`: {error}"
                    )));
                }
            }
        }
        Ok(())
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
        if let Some(limit) = self.size_limit
            && message.len() as u64 > limit
        {
            return Attempt::TooLarge {
                size: message.len(),
                limit,
            };
        }
        if self.needs_reset {
            match self.command("RSET\r\n", Command::Rset).await {
                Ok(Ok(_)) => self.needs_reset = false,
                Ok(Err(reply)) => {
                    return broken(format!("the relay refused RSET: {reply}"), false);
                }
                Err(error) => return broken(error, false),
            }
        }
        let commands = transaction(envelope, message);
        let mut failure = None;
        let mut data_accepted = false;
        if self.pipelining {
            let batch: String = commands.iter().map(|(line, _)| line.as_str()).collect();
            if let Err(error) = self.quiet().await {
                return broken(error, false);
            }
            if let Err(error) = self.send(batch.as_bytes()).await {
                return broken(error, false);
            }
            // One reply for each command, in order.
            for (_, command) in &commands {
                match self.reply(*command).await {
                    Ok(Ok(_)) => data_accepted = *command == Command::Data,
                    Ok(Err(reply)) => {
                        let closing = reply.code == 421;
                        let rejected = Attempt::Rejected {
                            stage: command.stage(),
                            reply,
                        };
                        if closing {
                            // The relay is closing the connection: no more replies will come.
                            return rejected;
                        }
                        failure.get_or_insert(rejected);
                    }
                    Err(error) => return broken(error, false),
                }
            }
        } else {
            for (line, command) in &commands {
                match self.command(line, *command).await {
                    Ok(Ok(_)) => data_accepted = *command == Command::Data,
                    Ok(Err(reply)) => {
                        failure = Some(Attempt::Rejected {
                            stage: command.stage(),
                            reply,
                        });
                        break;
                    }
                    Err(error) => return broken(error, false),
                }
            }
        }
        if let Some(failure) = failure {
            if data_accepted {
                // The server took DATA although an earlier command failed: end the transaction
                // with an empty body; it will be refused or discarded.
                if let Err(error) = self.send(b".\r\n").await {
                    return broken(error, false);
                }
                if let Err(error) = self.reply(Command::EndOfData).await {
                    return broken(error, false);
                }
            }
            self.needs_reset = true;
            return failure;
        }
        // Nothing may follow the 354: the next reply must be the one to the body.
        if let Err(error) = self.quiet().await {
            return broken(error, false);
        }
        if !before_body.await {
            return Attempt::Aborted;
        }
        self.send_body(message).await
    }

    /// Sends the message body and the end of DATA, and reads the relay's verdict.
    async fn send_body(&mut self, message: &[u8]) -> Attempt {
        let block = match std::str::from_utf8(message) {
            Ok(text) => data_block(text).into_bytes(),
            Err(_) => data_block_bytes(message),
        };
        if let Err(error) = self.send(&block).await {
            // The final dot did not go out: the relay cannot have taken the message.
            return broken(format!("{error}, before the end of DATA"), false);
        }
        match self.reply(Command::EndOfData).await {
            Ok(Ok(reply)) => Attempt::Delivered(reply),
            Ok(Err(reply)) => Attempt::Rejected {
                stage: Stage::Message,
                reply,
            },
            Err(error) => broken(error, true),
        }
    }

    /// Ends the session politely.
    pub(crate) async fn quit(mut self) {
        let wait = self.timeout.min(Duration::from_secs(5));
        let _ = timeout(wait, self.command("QUIT\r\n", Command::Quit)).await;
    }

    /// Checks that nothing unasked came, sends `line` and reads its reply.
    async fn command(&mut self, line: &str, command: Command) -> Result<Answer, String> {
        self.quiet().await?;
        self.send(line.as_bytes()).await?;
        self.reply(command).await
    }

    /// Writes `bytes` within the timeout.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stream = &mut self.stream;
        let write = async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        };
        match timeout(self.timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("the connection failed: {error}")),
            Err(_) => Err(format!(
                "the relay took no data for {}",
                seconds(self.timeout)
            )),
        }
    }

    /// Reads the reply to `command` within the timeout: one it accepts, a refusal, or an
    /// error for anything else (the connection is then out of step and must be dropped).
    async fn reply(&mut self, command: Command) -> Result<Answer, String> {
        let name = command.name();
        let read = timeout(self.timeout, self.replies.read(&mut self.stream)).await;
        match read {
            Err(_) if command == Command::Greeting => Err("the relay sent no greeting".into()),
            Err(_) => Err(format!(
                "no reply to {name} within {}",
                seconds(self.timeout)
            )),
            Ok(Err(error)) if error.is_protocol_error() => {
                Err(format!("protocol error: {error} (at {name})"))
            }
            Ok(Err(error)) => Err(format!("{error} (at {name})")),
            Ok(Ok(reply)) if command.accepts(reply.code) => Ok(Ok(reply)),
            Ok(Ok(reply)) if reply.is_refusal() => Ok(Err(reply)),
            Ok(Ok(reply)) => Err(format!(
                "protocol error: the relay answered {name} with `{reply}`"
            )),
        }
    }

    /// Fails if the relay sent anything that was not asked for.
    async fn quiet(&mut self) -> Result<(), String> {
        self.replies.quiet(&mut self.stream).await.map_err(|error| {
            if error.is_protocol_error() {
                format!("protocol error: {error}")
            } else {
                error.to_string()
            }
        })
    }
}

/// The TLS handshake within the timeout.
async fn handshake(
    settings: &RelaySettings,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ConnectError> {
    timeout(settings.timeout, tls::secure(settings, tcp))
        .await
        .map_err(|_| ConnectError::Network("TLS handshake timed out".into()))?
        .map_err(ConnectError::Tls)
}

/// `MAIL FROM`, one `RCPT TO` per recipient and `DATA`, each with its CRLF.
fn transaction(envelope: &Envelope, message: &[u8]) -> Vec<(String, Command)> {
    let from = envelope
        .from()
        .map(AsRef::<str>::as_ref)
        .unwrap_or_default();
    let mut mail = format!("MAIL FROM:<{from}>");
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    if non_ascii {
        mail.push_str(" SMTPUTF8");
    }
    if !message.is_ascii() {
        mail.push_str(" BODY=8BITMIME");
    }
    mail.push_str("\r\n");
    let mut commands = vec![(mail, Command::Mail)];
    for to in envelope.to() {
        commands.push((
            format!("RCPT TO:<{}>\r\n", AsRef::<str>::as_ref(to)),
            Command::Rcpt,
        ));
    }
    commands.push(("DATA\r\n".to_owned(), Command::Data));
    commands
}

/// A timeout as `--timeout` takes it, in seconds: `60 s`, `0.5 s` (whole seconds would make
/// half a second `0 s`).
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

fn broken(error: String, in_doubt: bool) -> Attempt {
    Attempt::Broken { error, in_doubt }
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

/// [`data_block`] for a message that is not UTF-8.
fn data_block_bytes(message: &[u8]) -> Vec<u8> {
    let mut block = Vec::with_capacity(message.len() + 64);
    let mut rest = message;
    if rest.starts_with(b".") {
        block.push(b'.');
    }
    while let Some(index) = rest.windows(2).position(|pair| pair == b"\n.") {
        block.extend_from_slice(&rest[..=index]);
        block.push(b'.');
        rest = &rest[index + 1..];
    }
    block.extend_from_slice(rest);
    if !block.ends_with(b"\r\n") {
        block.extend_from_slice(b"\r\n");
    }
    block.extend_from_slice(b".\r\n");
    block
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(context, buffer),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(context, buffer),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(context, buffer),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(context, buffer),
            Stream::Closed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(context),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(context),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(context),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(context),
            Stream::Closed => Poll::Ready(Ok(())),
        }
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
        for text in ["a\r\n.b\r\n..c\r\nd.", ".start\r\n", "a line\r\n", ""] {
            assert_eq!(
                data_block_bytes(text.as_bytes()),
                data_block(text).as_bytes()
            );
        }
    }

    #[test]
    fn ehlo_features_are_read_from_every_line_but_the_first() {
        let reply = Reply {
            code: 250,
            lines: [
                "relay.example PIPELINING",
                "pipelining",
                "AUTH login",
                "AUTH=PLAIN XOAUTH2",
                "SIZE 100",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let features = Features::of(&reply);
        assert!(features.pipelining && !features.starttls);
        assert_eq!(features.auth, ["LOGIN", "PLAIN", "XOAUTH2"]);
        assert!(features.offers("PLAIN"));
        assert_eq!(features.size_limit, Some(100));
        for (line, limit) in [("SIZE 0", None), ("SIZE", None), ("SIZE many", None)] {
            let reply = Reply {
                code: 250,
                lines: vec!["relay.example".into(), line.into()],
            };
            assert_eq!(Features::of(&reply).size_limit, limit, "{line}");
        }
    }

    #[test]
    fn every_command_accepts_only_its_own_replies() {
        for (command, accepted) in [
            (Command::Greeting, &[220][..]),
            (Command::Ehlo, &[250]),
            (Command::Mail, &[250]),
            (Command::Rcpt, &[250, 251]),
            (Command::Data, &[354]),
            (Command::EndOfData, &[200, 220, 221, 235, 250, 251, 299]),
            (Command::Auth, &[235]),
            (Command::AuthStep, &[334]),
        ] {
            for code in [200, 220, 221, 235, 250, 251, 299, 334, 354] {
                assert_eq!(
                    command.accepts(code),
                    accepted.contains(&code),
                    "{command:?} {code}"
                );
            }
        }
    }

    #[test]
    fn timeouts_are_shown_in_seconds_with_their_fraction() {
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5 s");
    }
}
