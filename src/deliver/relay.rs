//! Where messages go: the SMTP relay given by `--smtp URL`, how to secure the connection, and
//! how to log in.
//!
//! | URL | connection |
//! |---|---|
//! | `smtp://127.0.0.1:1025` | plain (the default: a local MailHog) |
//! | `smtp://relay.example.org:587?tls=required` | STARTTLS, refused if not offered |
//! | `smtp://relay.example.org:587` | STARTTLS if offered (plain only to loopback) |
//! | `smtps://relay.example.org:465` | implicit TLS |
//! | `smtp://user@relay.example.org:587?tls=required` | log in as `user` |
//!
//! The password never comes from the URL or any other argument: it is read from
//! `NEWSLETTER_SMTP_PASSWORD` (or the variable named by `password_env=NAME`), or asked for on
//! the terminal.
//!
//! Several relays share a send ([`Relay::parse_all`]): each URL may say its share of the
//! connections (`weight=N`, 1 to 1000, default 1) or its own connection count
//! (`connections=N`), and the variable holding its password (`password_env=NAME`).

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    path::PathBuf,
};

use crate::{error::Error, secret::Secret};

/// The relay used when none is given: a MailHog (or another capture server) on this machine.
pub(crate) const DEFAULT_URL: &str = "smtp://127.0.0.1:1025";

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// No TLS at all (`tls=none`; the default to a loopback address).
    Plain,
    /// STARTTLS when the server offers it (the default to any other host).
    Opportunistic,
    /// STARTTLS, and refuse to go on without it (`tls=required`).
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// The relay, as given by `--smtp`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Relay {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Security,
    pub(crate) user: Option<String>,
    /// Its share of the connections when several relays are given (`weight=N`).
    pub(crate) weight: u32,
    /// Its own connection count (`connections=N`), instead of a share of `--concurrency`.
    pub(crate) connections: Option<usize>,
    /// The environment variable holding its password (`password_env=NAME`), when not
    /// `NEWSLETTER_SMTP_PASSWORD`. A name, never the secret.
    pub(crate) password_env: Option<String>,
}

/// The largest `weight=`.
const MAX_WEIGHT: u32 = 1000;
/// The largest `connections=`, as for `--concurrency`.
const MAX_CONNECTIONS: usize = 256;

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// `host:port` and the security, never credentials.
impl fmt::Display for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let security = match self.security {
            Security::Plain => "no TLS",
            Security::Opportunistic => "STARTTLS if offered",
            Security::StartTls => "STARTTLS",
            Security::Implicit => "TLS",
        };
        write!(f, "{}:{} ({security})", self.host, self.port)?;
        if let Some(user) = &self.user {
            write!(f, " as {user}")?;
        }
        Ok(())
    }
}

impl Relay {
    /// Parses `--smtp`. Errors never repeat the URL, which might hold a password.
    pub(crate) fn parse(text: &str) -> Result<Relay, Error> {
        let invalid = |reason: &str| Error::SmtpUrl {
            origin: "`--smtp`",
            reason: reason.to_owned(),
        };
        let text = text.trim();
        if !text.contains("://") {
            // `127.0.0.1:1025` or `localhost:2525`: the scheme is missing. The text is repeated
            // only when it cannot hold a password (no `@`).
            return Err(invalid(&if text.contains('@') {
                "it has no scheme; write it as smtp://HOST:PORT or smtps://HOST:PORT".to_owned()
            } else {
                format!("it has no scheme; write it as smtp://{text}")
            }));
        }
        let url = url::Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
        if url.password().is_some() {
            return Err(Error::SmtpPasswordInUrl);
        }
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(invalid(&format!(
                    "the scheme is `{other}`; use smtp:// or smtps://"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(domain)) => domain.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(invalid("it has no host")),
        };
        let port = url.port().unwrap_or(if implicit { 465 } else { 25 });
        if !url.path().is_empty() && url.path() != "/" {
            return Err(invalid("it must not have a path"));
        }
        let Parameters {
            tls,
            weight,
            connections,
            password_env,
        } = Parameters::read(&url)?;
        let loopback = is_loopback(&host);
        let security = match (implicit, tls.as_deref()) {
            (true, None | Some("implicit")) => Security::Implicit,
            (true, Some(_)) => {
                return Err(invalid("smtps:// is always TLS; drop the `tls` parameter"));
            }
            (false, Some("required")) => Security::StartTls,
            (false, Some("none")) => Security::Plain,
            (false, None) if loopback => Security::Plain,
            (false, None | Some("opportunistic")) => Security::Opportunistic,
            (false, Some(other)) => {
                return Err(invalid(&format!(
                    "`tls={other}` is not one of `required`, `opportunistic`, `none`"
                )));
            }
        };
        let user = match url.username() {
            "" => None,
            user => Some(
                percent_decode(user).map_err(|()| invalid("the user name is not valid UTF-8"))?,
            ),
        };
        let relay = Relay {
            host,
            port,
            security,
            user,
            weight,
            connections,
            password_env,
        };
        if relay.user.is_some() && relay.security == Security::Plain && !loopback {
            return Err(Error::PlaintextCredentials {
                relay: relay.to_string(),
            });
        }
        Ok(relay)
    }

    /// Parses every URL of a send (`--smtp` given more than once, or `relays:` in the list
    /// file). With several, an error says which URL (by its place, since the URL itself may
    /// hold a user name), and the same relay given twice is refused.
    pub(crate) fn parse_all(urls: &[String]) -> Result<Vec<Relay>, Error> {
        let several = urls.len() > 1;
        let mut relays: Vec<Relay> = Vec::with_capacity(urls.len());
        for (index, url) in urls.iter().enumerate() {
            let place = |reason: String| {
                if several {
                    format!("URL {} of {}: {reason}", index + 1, urls.len())
                } else {
                    reason
                }
            };
            let relay = Relay::parse(url).map_err(|error| match error {
                Error::SmtpUrl { origin, reason } => Error::SmtpUrl {
                    origin,
                    reason: place(reason),
                },
                other => other,
            })?;
            if let Some(earlier) = relays
                .iter()
                .position(|earlier| earlier.address().eq_ignore_ascii_case(&relay.address()))
            {
                return Err(Error::SmtpUrl {
                    origin: "`--smtp`",
                    reason: place(format!(
                        "`{}` is the same relay as URL {}; give each relay once (`weight=N` gives it a larger share)",
                        relay.address(),
                        earlier + 1
                    )),
                });
            }
            relays.push(relay);
        }
        Ok(relays)
    }

    /// `host:port` (`[::1]:25` for an IPv6 address): what the journal and the report record
    /// for each message; never credentials.
    pub(crate) fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The variable holding this relay's password.
    pub(crate) fn password_variable(&self) -> &str {
        self.password_env
            .as_deref()
            .unwrap_or(crate::env::SMTP_PASSWORD)
    }

    /// Whether the relay is this machine, where a plaintext connection cannot be overheard.
    pub(crate) fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }
}

/// The relays of a send as the user reads them: one relay as [`Relay`]'s `Display`, several
/// joined with commas.
pub(crate) fn describe(relays: &[Relay]) -> String {
    relays
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The query parameters of a relay URL.
struct Parameters {
    tls: Option<String>,
    weight: u32,
    connections: Option<usize>,
    password_env: Option<String>,
}

impl Parameters {
    fn read(url: &url::Url) -> Result<Parameters, Error> {
        let invalid = |reason: &str| Error::SmtpUrl {
            origin: "`--smtp`",
            reason: reason.to_owned(),
        };
        let mut tls = None;
        let mut weight = 1;
        let mut connections = None;
        let mut password_env = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" => tls = Some(value.into_owned()),
                "weight" => {
                    weight = value
                        .parse::<u32>()
                        .ok()
                        .filter(|weight| (1..=MAX_WEIGHT).contains(weight))
                        .ok_or_else(|| {
                            invalid(&format!(
                                "`weight={value}` is not a whole number from 1 to {MAX_WEIGHT}"
                            ))
                        })?;
                }
                "connections" => {
                    connections = Some(
                        value
                            .parse::<usize>()
                            .ok()
                            .filter(|count| (1..=MAX_CONNECTIONS).contains(count))
                            .ok_or_else(|| {
                                invalid(&format!(
                                    "`connections={value}` is not a whole number from 1 to {MAX_CONNECTIONS}"
                                ))
                            })?,
                    );
                }
                "password_env" => {
                    // Only a variable's name: something else here may be the password itself,
                    // so it is not repeated.
                    // Only `NEWSLETTER_…` names: a list file is shared, and one naming any
                    // variable (`AWS_SECRET_ACCESS_KEY`) beside a host of its choosing would
                    // send that secret as a password.
                    let name = value.as_ref();
                    let valid = name.len() > "NEWSLETTER_".len()
                        && name.starts_with("NEWSLETTER_")
                        && name
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                    if !valid {
                        return Err(invalid(
                            "`password_env` must be the name of an environment variable starting with `NEWSLETTER_` (capital letters, digits, `_`), never the password",
                        ));
                    }
                    password_env = Some(name.to_owned());
                }
                other => {
                    return Err(invalid(&format!(
                        "unknown parameter `{other}`; the known ones are `tls`, `weight`, `connections`, `password_env`"
                    )));
                }
            }
        }
        Ok(Parameters {
            tls,
            weight,
            connections,
            password_env,
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip == IpAddr::V6(Ipv6Addr::LOCALHOST))
}

fn percent_decode(text: &str) -> Result<String, ()> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ())
}

/// Everything needed to connect and log in.
#[derive(Debug, Clone)]
pub(crate) struct RelaySettings {
    pub(crate) relay: Relay,
    pub(crate) password: Option<Secret<String>>,
    /// A PEM file of extra certificate authorities to trust (a private relay's CA).
    pub(crate) ca_file: Option<PathBuf>,
    /// The name sent with EHLO.
    pub(crate) helo: String,
    /// How long to wait for the server at each step.
    pub(crate) timeout: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Relay {
        Relay::parse(text).unwrap()
    }

    #[test]
    fn default_is_a_plain_local_relay() {
        let relay = parse(DEFAULT_URL);
        assert_eq!((relay.host.as_str(), relay.port), ("127.0.0.1", 1025));
        assert_eq!(relay.security, Security::Plain);
        assert_eq!(relay.user, None);
    }

    #[test]
    fn security_from_scheme_and_parameter() {
        assert_eq!(
            parse("smtp://relay.example.org:587?tls=required").security,
            Security::StartTls
        );
        assert_eq!(
            parse("smtp://relay.example.org:587").security,
            Security::Opportunistic
        );
        assert_eq!(parse("smtp://localhost:2525").security, Security::Plain);
        let smtps = parse("smtps://relay.example.org");
        assert_eq!((smtps.security, smtps.port), (Security::Implicit, 465));
        assert_eq!(parse("smtp://relay.example.org").port, 25);
        assert_eq!(parse("smtp://[::1]:25").security, Security::Plain);
    }

    #[test]
    fn user_name_is_decoded() {
        let relay = parse("smtp://news%40example.org@relay.example.org:587?tls=required");
        assert_eq!(
            parse("smtp://a+b@relay.example.org").user.as_deref(),
            Some("a+b")
        );
        assert_eq!(relay.user.as_deref(), Some("news@example.org"));
        assert_eq!(
            relay.to_string(),
            "relay.example.org:587 (STARTTLS) as news@example.org"
        );
    }

    #[test]
    fn password_in_url_is_refused_without_repeating_it() {
        let error = Relay::parse("smtp://user:hunter2@relay.example.org:587").unwrap_err();
        assert!(matches!(error, Error::SmtpPasswordInUrl));
        assert!(!error.to_string().contains("hunter2"));
        let error = Relay::parse("user:hunter2@relay.example.org:587").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn plaintext_credentials_to_a_remote_host_are_refused() {
        let error = Relay::parse("smtp://user@relay.example.org:25?tls=none").unwrap_err();
        assert!(
            matches!(error, Error::PlaintextCredentials { .. }),
            "{error}"
        );
        assert!(Relay::parse("smtp://user@127.0.0.1:1025").is_ok());
    }

    #[test]
    fn bad_urls_are_explained() {
        for (url, expected) in [
            ("http://relay.example.org", "scheme is `http`"),
            ("smtp://relay.example.org?tls=maybe", "`tls=maybe`"),
            ("smtp://relay.example.org?foo=1", "unknown parameter `foo`"),
            (
                "smtp://relay.example.org?weight=0",
                "`weight=0` is not a whole number",
            ),
            ("smtp://relay.example.org?weight=1001", "from 1 to 1000"),
            ("smtp://relay.example.org?weight=x", "`weight=x`"),
            ("smtp://relay.example.org?connections=0", "`connections=0`"),
            (
                "smtp://relay.example.org?password_env=a-b",
                "name of an environment",
            ),
            (
                "smtp://relay.example.org?password_env=AWS_SECRET_ACCESS_KEY",
                "starting with `NEWSLETTER_`",
            ),
            ("smtp://relay.example.org/path", "path"),
            ("smtps://relay.example.org?tls=required", "always TLS"),
            ("127.0.0.1:1025", "write it as smtp://127.0.0.1:1025"),
            ("localhost:2525", "write it as smtp://localhost:2525"),
        ] {
            let error = Relay::parse(url).unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn weight_connections_and_password_variable_are_read() {
        let relay = parse(
            "smtp://a@relay.example.org:587?tls=required&weight=3&connections=5&password_env=NEWSLETTER_RELAY_A",
        );
        assert_eq!(relay.weight, 3);
        assert_eq!(relay.connections, Some(5));
        assert_eq!(relay.password_variable(), "NEWSLETTER_RELAY_A");
        assert_eq!(relay.address(), "relay.example.org:587");
        let plain = parse("smtp://[::1]:25");
        assert_eq!((plain.weight, plain.connections), (1, None));
        assert_eq!(plain.password_variable(), crate::env::SMTP_PASSWORD);
        assert_eq!(plain.address(), "[::1]:25");
    }

    #[test]
    fn several_urls_name_the_bad_one_by_place_and_refuse_a_relay_given_twice() {
        let urls = |list: &[&str]| list.iter().map(|url| (*url).to_owned()).collect::<Vec<_>>();
        let relays = Relay::parse_all(&urls(&[
            "smtp://127.0.0.1:1025",
            "smtp://127.0.0.1:1026?weight=2",
        ]))
        .unwrap();
        assert_eq!(relays.len(), 2);
        let error = Relay::parse_all(&urls(&[
            "smtp://127.0.0.1:1025",
            "smtp://secret-user@h:25?weight=0",
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("URL 2 of 2") && error.contains("weight=0"),
            "{error}"
        );
        assert!(!error.contains("secret-user"), "{error}");
        let error = Relay::parse_all(&urls(&[
            "smtp://Relay.example.org:25",
            "smtp://user@relay.example.org:25?tls=required",
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("same relay as URL 1"), "{error}");
        assert!(!error.contains("user@"), "{error}");
    }
}
