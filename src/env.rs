//! Every environment variable `newsletter` reads, in one place: clap's `env =` attributes, the
//! hints in error messages and the README's table all name these constants, so a name cannot
//! drift between them. Options a team sets once for all runs read a variable; secrets are read
//! only from variables (or a terminal prompt), never from options, so they stay out of argv.

/// The SMTP password (secret).
pub(crate) const SMTP_PASSWORD: &str = "NEWSLETTER_SMTP_PASSWORD";
/// The variables that hold (or may hold) a secret: never shown in `--help` and removed from
/// the environment of any process newsletter starts.
pub(crate) const SECRETS: [&str; 3] = [SMTP_PASSWORD, UNSUBSCRIBE_KEY, SMTP_URL];
/// The key that signs unsubscribe tokens (secret, at least [`MIN_UNSUBSCRIBE_KEY_BYTES`]).
pub(crate) const UNSUBSCRIBE_KEY: &str = "NEWSLETTER_UNSUBSCRIBE_KEY";
/// The shortest unsubscribe key accepted, in bytes.
pub(crate) const MIN_UNSUBSCRIBE_KEY_BYTES: usize = 32;
/// The DKIM private key file (`--dkim-key`).
pub(crate) const DKIM_KEY_FILE: &str = "NEWSLETTER_DKIM_KEY_FILE";
/// The subscriber file, instead of the list file's (`--subscribers`).
pub(crate) const SUBSCRIBERS: &str = "NEWSLETTER_SUBSCRIBERS";
/// The suppression file, instead of the list file's (`--suppression`).
pub(crate) const SUPPRESSION: &str = "NEWSLETTER_SUPPRESSION";
/// The relay URL (`--smtp`), or several separated by whitespace or commas.
pub(crate) const SMTP_URL: &str = "NEWSLETTER_SMTP_URL";
/// Extra certificate authorities for the relay (`--ca-file`).
pub(crate) const SMTP_CA_FILE: &str = "NEWSLETTER_SMTP_CA_FILE";
/// The name given in EHLO (`--helo`).
pub(crate) const HELO: &str = "NEWSLETTER_HELO";
/// Connections to the relays in all (`--concurrency`).
pub(crate) const CONCURRENCY: &str = "NEWSLETTER_CONCURRENCY";
/// Messages per second at most (`--rate`).
pub(crate) const RATE: &str = "NEWSLETTER_RATE";
/// Messages per hour or day at most, over all runs (`--cap`).
pub(crate) const CAP: &str = "NEWSLETTER_CAP";
/// Who gets `send --test`, comma-separated, instead of the list file's `reviewers:`
/// (`--reviewers`).
pub(crate) const REVIEWERS: &str = "NEWSLETTER_REVIEWERS";
/// The journal file (`--journal`).
pub(crate) const JOURNAL: &str = "NEWSLETTER_JOURNAL";
/// The address `serve` listens on (`--listen`).
pub(crate) const LISTEN: &str = "NEWSLETTER_LISTEN";
/// Requests per minute per client that `serve` answers (`--rate-limit`).
pub(crate) const SERVE_RATE_LIMIT: &str = "NEWSLETTER_SERVE_RATE_LIMIT";

#[cfg(test)]
mod tests {
    /// Every `NEWSLETTER_*` name this file defines.
    fn defined() -> Vec<&'static str> {
        include_str!("env.rs")
            .lines()
            .filter(|line| line.starts_with("pub(crate) const"))
            .filter_map(|line| line.split('"').nth(1))
            .collect()
    }

    #[test]
    fn readme_documents_every_variable_and_no_other() {
        let readme = include_str!("../README.md");
        let section = readme
            .split("\n## Environment\n")
            .nth(1)
            .expect("README.md has an \"Environment\" section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let mut documented: Vec<&str> = section
            .split('`')
            .filter(|word| word.starts_with("NEWSLETTER_"))
            .collect();
        documented.sort_unstable();
        let mut defined = defined();
        defined.sort_unstable();
        assert_eq!(documented, defined);
    }

    #[test]
    fn cli_reads_variables_only_through_these_constants() {
        let cli = include_str!("cli.rs");
        assert!(
            !cli.contains("env = \"NEWSLETTER_"),
            "use env::NAME in cli.rs"
        );
    }
}
