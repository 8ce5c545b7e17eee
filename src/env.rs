//! Every environment variable `newsletter` reads, in one place: clap's `env =` attributes, the
//! hints in error messages and the README's table all name these constants, so a name cannot
//! drift between them. Options a team sets once for all runs read a variable; secrets are read
//! only from variables (or a terminal prompt), never from options, so they stay out of argv.

/// The SMTP password (secret).
pub const SMTP_PASSWORD: &str = "NEWSLETTER_SMTP_PASSWORD";
/// The key that signs unsubscribe tokens (secret, at least [`MIN_UNSUBSCRIBE_KEY_BYTES`]).
pub const UNSUBSCRIBE_KEY: &str = "NEWSLETTER_UNSUBSCRIBE_KEY";
/// The shortest unsubscribe key accepted, in bytes.
pub const MIN_UNSUBSCRIBE_KEY_BYTES: usize = 32;
/// The DKIM private key file (`--dkim-key`).
pub const DKIM_KEY_FILE: &str = "NEWSLETTER_DKIM_KEY_FILE";
/// The subscriber file, instead of the list file's (`--subscribers`).
pub const SUBSCRIBERS: &str = "NEWSLETTER_SUBSCRIBERS";
/// The suppression file, instead of the list file's (`--suppression`).
pub const SUPPRESSION: &str = "NEWSLETTER_SUPPRESSION";
/// The relay URL (`--smtp`).
pub const SMTP_URL: &str = "NEWSLETTER_SMTP_URL";
/// Extra certificate authorities for the relay (`--ca-file`).
pub const SMTP_CA_FILE: &str = "NEWSLETTER_SMTP_CA_FILE";
/// The name given in EHLO (`--helo`).
pub const HELO: &str = "NEWSLETTER_HELO";
/// Connections to the relay (`--concurrency`).
pub const CONCURRENCY: &str = "NEWSLETTER_CONCURRENCY";
/// Messages per second at most (`--rate`).
pub const RATE: &str = "NEWSLETTER_RATE";
/// Messages per hour or day at most, over all runs (`--cap`).
pub const CAP: &str = "NEWSLETTER_CAP";
/// The journal file (`--journal`).
pub const JOURNAL: &str = "NEWSLETTER_JOURNAL";

/// Every variable, with what it holds, as the README's table lists them.
pub const ALL: [(&str, &str); 13] = [
    (SMTP_URL, "the relay URL (`--smtp`)"),
    (SMTP_PASSWORD, "the SMTP password (secret)"),
    (SMTP_CA_FILE, "extra certificate authorities (`--ca-file`)"),
    (HELO, "the EHLO name (`--helo`)"),
    (CONCURRENCY, "connections to the relay (`--concurrency`)"),
    (RATE, "messages per second at most (`--rate`)"),
    (CAP, "messages per hour or day over all runs (`--cap`)"),
    (JOURNAL, "the journal file (`--journal`)"),
    (UNSUBSCRIBE_KEY, "the unsubscribe token key (secret)"),
    (DKIM_KEY_FILE, "the DKIM private key file (`--dkim-key`)"),
    (SUBSCRIBERS, "the subscriber file (`--subscribers`)"),
    (SUPPRESSION, "the suppression file (`--suppression`)"),
    ("NO_COLOR", "turns off colour"),
];
