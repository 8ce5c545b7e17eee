//! `send`'s arguments resolved once into a plain [`SendPlan`]: what kind of run it is, how the
//! journal is used, how many recipients and how fast. Nothing below [`super::run`] sees a clap
//! type, so the policies here (who the journal rules out, where it lives, whether to ask) are
//! tested without parsing a command line.

use std::{path::PathBuf, time::Duration};

use crate::{
    cli::{Cap, ProgressMode, SendArguments},
    commands::load::InputFiles,
    deliver::{
        engine::RetryPolicy,
        journal::{self, OnChange, State},
        relay::DEFAULT_URL,
    },
};

/// What kind of run this is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// Build every message, connect to nothing; optionally write them as `.eml` files.
    DryRun { out: Option<PathBuf> },
    /// Send to these addresses only, with a marked subject and no journal.
    Test(TestPlan),
    /// Send to the list; `ask` is false when `--yes` was given.
    Real { ask: bool },
}

/// Who gets a test send (`--to`, `--test`) and whose message it is (`--as`).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TestPlan {
    /// The `--to` addresses.
    pub(crate) to: Vec<String>,
    /// `--test`: the reviewers get it too.
    pub(crate) reviewers: bool,
    /// `--reviewers` (or its variable): instead of the list file's `reviewers:`.
    pub(crate) reviewers_given: Vec<String>,
    /// `--as`: every copy is built as this subscriber's message.
    pub(crate) as_subscriber: Option<String>,
}

impl TestPlan {
    /// Every address the test goes to, once each, in order: `--to`, then the reviewers
    /// (`--reviewers`, else `listed`). `None` when `--test` finds no reviewers.
    pub(crate) fn addresses(&self, listed: &[String]) -> Option<Vec<String>> {
        let mut all = self.to.clone();
        if self.reviewers {
            let reviewers = if self.reviewers_given.is_empty() {
                listed
            } else {
                &self.reviewers_given
            };
            if reviewers.is_empty() {
                return None;
            }
            all.extend(reviewers.iter().cloned());
        }
        let mut seen = std::collections::HashSet::new();
        all.retain(|address| seen.insert(address.trim().to_lowercase()));
        Some(all)
    }
}

/// The relay URLs to use and where they came from: `--smtp` (repeated, or its variable with
/// several URLs separated by whitespace or commas), else `relay:` or `relays:` in the list
/// file, else the local default.
pub(crate) fn relay_urls(given: &[String], listed: &[&str]) -> (Vec<String>, &'static str) {
    let nothing_given = given.is_empty();
    let given: Vec<String> = given
        .iter()
        .flat_map(|text| text.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect();
    if !given.is_empty() {
        (given, "`--smtp`")
    } else if !nothing_given {
        // `--smtp ""` (or an empty variable) is a mistake to point out, not a reason to use
        // the list file's relays: the empty URL is refused when it is parsed.
        (vec![String::new()], "`--smtp`")
    } else if listed.len() > 1 {
        (
            listed.iter().map(|url| (*url).to_owned()).collect(),
            "`relays` in the list file",
        )
    } else if let Some(url) = listed.first() {
        (vec![(*url).to_owned()], "`relay` in the list file")
    } else {
        (vec![DEFAULT_URL.to_owned()], "the default relay")
    }
}

/// How the journal is used by a real send (a dry run only reads it; a test ignores it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JournalPolicy {
    /// `--journal`, or `None` for the default beside the issue.
    pub(crate) path: Option<PathBuf>,
    pub(crate) on_change: OnChange,
    pub(crate) resend_in_doubt: bool,
    /// `--accept-lost-tail`: go on from a journal that lost records at its end.
    pub(crate) accept_lost_tail: bool,
}

impl JournalPolicy {
    /// The journal file of the issue at `issue`.
    pub(crate) fn path_for(&self, issue: &std::path::Path) -> PathBuf {
        self.path
            .clone()
            .unwrap_or_else(|| journal::default_path(issue))
    }

    /// Why the journal rules out sending to an address in this state, if it does.
    pub(crate) fn rules_out(&self, state: Option<State>) -> Option<&'static str> {
        match state? {
            State::Sent => Some("already sent by an earlier run"),
            State::Failed => Some("failed for good in an earlier run (see `newsletter status`)"),
            State::InDoubt if !self.resend_in_doubt => Some(
                "in doubt after an interrupted run: perhaps delivered; --resend-in-doubt sends it again",
            ),
            State::InDoubt | State::Deferred => None,
        }
    }
}

/// The relay to send through, as given (parsed and checked by [`crate::deliver::relay`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RelayPlan {
    /// `--smtp` (each value) or its variable; empty for the list file's relays or the default
    /// (see [`relay_urls`]).
    pub(crate) urls: Vec<String>,
    pub(crate) ca_file: Option<PathBuf>,
    /// The EHLO name; `None` for the list's domain.
    pub(crate) helo: Option<String>,
    pub(crate) timeout: Duration,
}

/// How fast and how patiently to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pacing {
    pub(crate) concurrency: usize,
    pub(crate) rate: Option<f64>,
    pub(crate) retry: RetryPolicy,
}

/// Everything `send` was asked to do, resolved from the command line and environment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendPlan {
    pub(crate) files: InputFiles,
    pub(crate) mode: Mode,
    pub(crate) journal: JournalPolicy,
    /// At most this many recipients in this run.
    pub(crate) limit: Option<usize>,
    /// At most this many messages per window, over all runs.
    pub(crate) cap: Option<Cap>,
    pub(crate) pacing: Pacing,
    pub(crate) relay: RelayPlan,
    pub(crate) report: Option<PathBuf>,
    pub(crate) progress: ProgressMode,
}

impl SendPlan {
    pub(crate) fn resolve(arguments: &SendArguments) -> SendPlan {
        let mode = if arguments.dry_run {
            Mode::DryRun {
                out: arguments.out.clone(),
            }
        } else if !arguments.to.is_empty() || arguments.test {
            Mode::Test(TestPlan {
                to: arguments.to.clone(),
                reviewers: arguments.test,
                reviewers_given: arguments.reviewers.clone(),
                as_subscriber: arguments.as_subscriber.clone(),
            })
        } else {
            Mode::Real {
                ask: !arguments.yes,
            }
        };
        let on_change = if arguments.continue_changed {
            OnChange::Continue
        } else if arguments.start_over {
            OnChange::StartOver
        } else {
            OnChange::Refuse
        };
        SendPlan {
            files: InputFiles::new(&arguments.input, &arguments.signing),
            mode,
            journal: JournalPolicy {
                path: arguments.journal.clone(),
                on_change,
                resend_in_doubt: arguments.resend_in_doubt,
                accept_lost_tail: arguments.accept_lost_tail,
            },
            limit: arguments.limit,
            cap: arguments.cap,
            pacing: Pacing {
                concurrency: usize::from(arguments.concurrency),
                rate: arguments.rate,
                retry: RetryPolicy {
                    retries: arguments.retries,
                    base_delay: arguments.retry_delay,
                },
            },
            relay: RelayPlan {
                urls: arguments.smtp.clone(),
                ca_file: arguments.ca_file.clone(),
                helo: arguments.helo.clone(),
                timeout: arguments.timeout,
            },
            report: arguments.report.clone(),
            progress: arguments.progress,
        }
    }

    pub(crate) fn is_dry_run(&self) -> bool {
        matches!(self.mode, Mode::DryRun { .. })
    }

    /// The plan of a test send, if this is one.
    pub(crate) fn test(&self) -> Option<&TestPlan> {
        match &self.mode {
            Mode::Test(test) => Some(test),
            _ => None,
        }
    }

    /// Whether to ask before sending to `planned` recipients: only a real send to more than
    /// one, without `--yes`.
    pub(crate) fn asks_before_sending(&self, planned: usize) -> bool {
        matches!(self.mode, Mode::Real { ask: true }) && planned > 1
    }

    /// How many recipients this run sets out to send to, of `eligible` the journal allows.
    pub(crate) fn planned(&self, eligible: usize, tests: usize) -> usize {
        match (&self.mode, self.limit) {
            (Mode::Test(_), _) => tests,
            (_, Some(limit)) => eligible.min(limit),
            (_, None) => eligible,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Arguments, Command};

    fn plan(flags: &[&str]) -> SendPlan {
        let mut argv = vec!["newsletter", "send", "issue.yaml"];
        argv.extend_from_slice(flags);
        match Arguments::try_parse_from(argv)
            .expect("valid arguments")
            .command
        {
            Command::Send(arguments) => SendPlan::resolve(&arguments),
            other => panic!("not a send: {other:?}"),
        }
    }

    #[test]
    fn the_mode_follows_dry_run_then_to_then_yes() {
        assert_eq!(
            plan(&["--dry-run", "--out", "x"]).mode,
            Mode::DryRun {
                out: Some("x".into())
            }
        );
        assert_eq!(
            plan(&["--to", "a@example.org", "--to", "b@example.org"]).mode,
            Mode::Test(TestPlan {
                to: vec!["a@example.org".into(), "b@example.org".into()],
                ..TestPlan::default()
            })
        );
        assert_eq!(
            plan(&["--to", "a@example.org,b@example.org"]).mode,
            plan(&["--to", "a@example.org", "--to", "b@example.org"]).mode
        );
        assert_eq!(plan(&[]).mode, Mode::Real { ask: true });
        assert_eq!(plan(&["--yes"]).mode, Mode::Real { ask: false });
    }

    #[test]
    fn only_a_real_send_to_several_without_yes_asks() {
        assert!(plan(&[]).asks_before_sending(2));
        assert!(!plan(&[]).asks_before_sending(1));
        assert!(!plan(&["--yes"]).asks_before_sending(1000));
        assert!(!plan(&["--to", "a@example.org"]).asks_before_sending(1000));
        assert!(!plan(&["--test"]).asks_before_sending(1000));
        assert!(!plan(&["--dry-run"]).asks_before_sending(1000));
    }

    #[test]
    fn the_journal_rules_out_sent_and_failed_and_in_doubt_unless_asked() {
        let policy = plan(&[]).journal;
        assert!(policy.rules_out(Some(State::Sent)).is_some());
        assert!(policy.rules_out(Some(State::Failed)).is_some());
        assert!(policy.rules_out(Some(State::InDoubt)).is_some());
        assert_eq!(policy.rules_out(Some(State::Deferred)), None);
        assert_eq!(policy.rules_out(None), None);
        let resend = plan(&["--resend-in-doubt"]).journal;
        assert_eq!(resend.rules_out(Some(State::InDoubt)), None);
        assert!(resend.rules_out(Some(State::Sent)).is_some());
    }

    #[test]
    fn an_issue_change_is_refused_unless_a_choice_is_given() {
        assert_eq!(plan(&[]).journal.on_change, OnChange::Refuse);
        assert_eq!(
            plan(&["--continue-changed"]).journal.on_change,
            OnChange::Continue
        );
        assert_eq!(
            plan(&["--start-over"]).journal.on_change,
            OnChange::StartOver
        );
    }

    #[test]
    fn the_journal_lives_beside_the_issue_unless_named() {
        let issue = std::path::Path::new("news/2026-01.yaml");
        assert_eq!(
            plan(&[]).journal.path_for(issue),
            PathBuf::from("news/2026-01.journal")
        );
        assert_eq!(
            plan(&["--journal", "/tmp/j"]).journal.path_for(issue),
            PathBuf::from("/tmp/j")
        );
    }

    #[test]
    fn a_test_goes_to_the_addresses_then_the_reviewers_once_each() {
        let listed = vec!["r1@example.org".to_owned(), "A@example.org".to_owned()];
        let test = plan(&["--test", "--to", "a@example.org"]);
        assert_eq!(
            test.test().unwrap().addresses(&listed),
            Some(vec![
                "a@example.org".to_owned(),
                "r1@example.org".to_owned()
            ])
        );
        let given = plan(&["--test", "--reviewers", "x@example.org,y@example.org"]);
        assert_eq!(
            given.test().unwrap().addresses(&listed).unwrap(),
            ["x@example.org", "y@example.org"]
        );
        assert_eq!(plan(&["--test"]).test().unwrap().addresses(&[]), None);
        let as_alone =
            Arguments::try_parse_from(["newsletter", "send", "i.yaml", "--as", "a@x.org"]);
        assert!(as_alone.is_err(), "--as needs --to or --test");
    }

    #[test]
    fn the_relay_is_the_flag_then_the_list_file_then_the_default() {
        let given = |urls: &[&str]| urls.iter().map(|url| (*url).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            relay_urls(&given(&["smtp://a:25"]), &["smtp://b:25"]).0,
            ["smtp://a:25"]
        );
        assert_eq!(relay_urls(&[], &["smtp://b:25"]).0, ["smtp://b:25"]);
        assert_eq!(
            relay_urls(&[], &["smtp://b:25", "smtp://c:25"]),
            (
                given(&["smtp://b:25", "smtp://c:25"]),
                "`relays` in the list file"
            )
        );
        assert_eq!(relay_urls(&[], &[]).0, [DEFAULT_URL]);
        assert_eq!(
            relay_urls(&given(&[" , "]), &["smtp://b:25"]),
            (given(&[""]), "`--smtp`")
        );
    }

    #[test]
    fn several_relays_come_from_repeated_flags_or_one_variable_split_on_spaces_and_commas() {
        let repeated = plan(&["--smtp", "smtp://a:25", "--smtp", "smtp://b:25?weight=2"]);
        assert_eq!(
            relay_urls(&repeated.relay.urls, &[]).0,
            ["smtp://a:25", "smtp://b:25?weight=2"]
        );
        let variable = ["smtp://a:25, smtp://b:25?weight=2\nsmtp://c:25".to_owned()];
        assert_eq!(
            relay_urls(&variable, &[]).0,
            ["smtp://a:25", "smtp://b:25?weight=2", "smtp://c:25"]
        );
    }

    #[test]
    fn limit_bounds_the_planned_count_and_a_test_plans_its_addresses() {
        assert_eq!(plan(&["--limit", "3"]).planned(10, 0), 3);
        assert_eq!(plan(&["--limit", "30"]).planned(10, 0), 10);
        assert_eq!(plan(&[]).planned(10, 0), 10);
        assert_eq!(plan(&["--to", "a@example.org"]).planned(10, 1), 1);
    }

    #[test]
    fn pacing_and_relay_come_from_the_flags() {
        let plan = plan(&[
            "--concurrency",
            "8",
            "--rate",
            "2.5",
            "--retries",
            "1",
            "--retry-delay",
            "250ms",
            "--smtp",
            "smtps://relay.example.org:465",
            "--helo",
            "news.example.org",
        ]);
        assert_eq!(plan.pacing.concurrency, 8);
        assert_eq!(plan.pacing.rate, Some(2.5));
        assert_eq!(plan.pacing.retry.retries, 1);
        assert_eq!(plan.pacing.retry.base_delay, Duration::from_millis(250));
        assert_eq!(plan.relay.urls, ["smtps://relay.example.org:465"]);
        assert_eq!(plan.relay.helo.as_deref(), Some("news.example.org"));
    }
}
