//! `newsletter bounces LIST_FILE MAILBOX... [--dry-run]`: reads the mail that came back
//! (bounces, complaints, unsubscribe requests) and records in the suppression file every
//! address it ends, so the next `send` skips it. Soft bounces are counted in the soft-bounce
//! file beside it ([`crate::bounces::soft_bounces`]).
//!
//! Reading the same mail twice changes nothing: the suppression file takes an address once,
//! and a soft bounce counts once per address and issue. With `--dry-run` nothing is written.

use std::{
    collections::{BTreeMap, HashSet},
    fmt::Write as _,
    io::Write,
    path::{Path, PathBuf},
};

use time::OffsetDateTime;

use crate::{
    bounces::{
        notice::{self, clip},
        soft_bounces::{self, ISSUES_TO_SUPPRESS, SoftBounces},
        verdict::{self, Ignored, Ours, Verdict},
    },
    cli::BouncesArguments,
    commands::style,
    error::{Error, ExitCode},
    input::{
        list::List,
        mailbox::{MAX_MESSAGE_BYTES, Mailbox},
        subscribers::{AddressKey, Row, Skip, SubscriberReader, Suppression},
        suppression::{self, Entry},
    },
};

/// How many new suppressions the summary lists one by one (all are in the file); a first run
/// over a big mailbox would otherwise print thousands of lines. Messages not understood are
/// all listed: each needs a person to look at it.
const MAX_LISTED: usize = 100;

/// What the command was asked to do, resolved from its arguments and the list file.
struct Plan {
    suppression: PathBuf,
    soft_bounces: PathBuf,
    subscribers: PathBuf,
    mailboxes: Vec<PathBuf>,
    dry_run: bool,
}

pub(crate) fn run(arguments: &BouncesArguments, out: &mut dyn Write) -> Result<ExitCode, Error> {
    let list = List::load(&arguments.list)?;
    let suppression = arguments
        .suppression
        .clone()
        .or_else(|| list.suppression_path.clone())
        .ok_or_else(|| Error::SuppressionFileUnset {
            list: arguments.list.clone(),
        })?;
    let plan = Plan {
        soft_bounces: soft_bounces::path_beside(&suppression),
        suppression,
        subscribers: arguments
            .subscribers
            .clone()
            .unwrap_or_else(|| list.subscribers_path.clone()),
        mailboxes: arguments.mailboxes.clone(),
        dry_run: arguments.dry_run,
    };
    let mut ours = Ours::new(
        list.message_id_domain(),
        list.file
            .unsubscribe
            .mailto
            .as_ref()
            .map(|address| address.address().as_ref()),
    );
    read_subscribers(&plan.subscribers, &mut ours)?;
    let suppressed = if plan.suppression.exists() {
        Suppression::load(&plan.suppression)?
    } else {
        Suppression::default()
    };
    let mut tally = Tally::new(suppressed, SoftBounces::load(&plan.soft_bounces)?);
    for mailbox in &plan.mailboxes {
        let mut mailbox = Mailbox::open(mailbox)?;
        while let Some(message) = mailbox.next_message() {
            let message = message?;
            tally.messages += 1;
            if message.too_large {
                tally.not_understood.push((
                    message.place,
                    format!(
                        "larger than {}; not read",
                        crate::units::size(MAX_MESSAGE_BYTES)
                    ),
                ));
                continue;
            }
            for verdict in verdict::judge(&notice::read(&message.bytes), &ours) {
                tally.add(verdict, &message.place);
            }
        }
    }
    tally.suppress_repeated_soft_bounces();
    let added = if plan.dry_run {
        tally.entries.len()
    } else {
        // Soft bounces first: if the run stops between the two, the next run finds the
        // addresses over the threshold again and suppresses them then.
        tally.soft.save()?;
        suppression::append(&plan.suppression, &tally.entries)?
    };
    style::print(out, tally.summary(&plan, added))?;
    Ok(if tally.not_understood.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Partial
    })
}

/// Every address in the subscriber file, whatever its status: a reader who has left may still
/// bounce an issue sent before.
fn read_subscribers(path: &Path, ours: &mut Ours) -> Result<(), Error> {
    let mut reader = SubscriberReader::open(path, None)?;
    while let Some(row) = reader.next_row() {
        match row? {
            Row::Recipient { subscriber, .. } => ours.add_subscriber(subscriber.email.as_ref()),
            Row::Skipped(Skip { email, .. }) => ours.add_subscriber(&email),
            // `check` reports invalid rows; an address we cannot read was never mailed.
            Row::Invalid { .. } => {}
        }
    }
    Ok(())
}

/// How many messages ended up where, and what to write.
struct Tally {
    messages: usize,
    hard: Counted,
    soft: SoftBounces,
    soft_seen: usize,
    soft_counted: usize,
    soft_without_issue: usize,
    soft_suppressed: usize,
    complaints: Counted,
    unsubscribes: Counted,
    ignored: BTreeMap<Ignored, usize>,
    not_understood: Vec<(String, String)>,
    /// The suppression file as it was before this run, and the addresses this run suppresses.
    suppressed: Suppression,
    suppressed_now: HashSet<String>,
    entries: Vec<Entry>,
    now: OffsetDateTime,
}

/// Messages of one kind, and how many of their addresses this run suppresses.
#[derive(Default)]
struct Counted {
    seen: usize,
    suppressed: usize,
}

impl Tally {
    fn new(suppressed: Suppression, soft: SoftBounces) -> Tally {
        Tally {
            messages: 0,
            hard: Counted::default(),
            soft,
            soft_seen: 0,
            soft_counted: 0,
            soft_without_issue: 0,
            soft_suppressed: 0,
            complaints: Counted::default(),
            unsubscribes: Counted::default(),
            ignored: BTreeMap::new(),
            not_understood: Vec::new(),
            suppressed,
            suppressed_now: HashSet::new(),
            entries: Vec::new(),
            now: OffsetDateTime::now_utc(),
        }
    }

    fn add(&mut self, verdict: Verdict, place: &str) {
        match verdict {
            Verdict::Hard { address, failure } => {
                self.hard.seen += 1;
                let mut reason = format!("hard bounce {}", failure.label());
                if !failure.diagnostic.is_empty() {
                    let _ = write!(reason, " ({})", clip(&failure.diagnostic, 160));
                }
                if self.suppress(&address, reason) {
                    self.hard.suppressed += 1;
                }
            }
            Verdict::Soft {
                address,
                issue,
                failure,
            } => {
                self.soft_seen += 1;
                match issue {
                    Some(issue) => {
                        if self
                            .soft
                            .record(&address, &issue, &failure.label(), self.now)
                        {
                            self.soft_counted += 1;
                        }
                    }
                    None => self.soft_without_issue += 1,
                }
            }
            Verdict::Complaint {
                address,
                feedback_type,
            } => {
                self.complaints.seen += 1;
                if self.suppress(&address, format!("complaint ({feedback_type} report)")) {
                    self.complaints.suppressed += 1;
                }
            }
            Verdict::Unsubscribe { address } => {
                self.unsubscribes.seen += 1;
                if self.suppress(&address, "unsubscribed by mail".into()) {
                    self.unsubscribes.suppressed += 1;
                }
            }
            Verdict::Ignored(why) => *self.ignored.entry(why).or_default() += 1,
            Verdict::NotUnderstood(why) => {
                self.not_understood.push((place.to_owned(), why));
            }
        }
    }

    /// Queues `address` for the suppression file unless it is there already; returns whether
    /// it was queued.
    fn suppress(&mut self, address: &str, reason: String) -> bool {
        let address = address.to_lowercase();
        if self.suppressed.contains(AddressKey::of(&address))
            || !self.suppressed_now.insert(address.clone())
        {
            return false;
        }
        self.entries.push(Entry {
            address,
            reason,
            at: self.now,
        });
        true
    }

    fn suppress_repeated_soft_bounces(&mut self) {
        let over: Vec<(String, usize)> = self
            .soft
            .over_threshold()
            .into_iter()
            .map(|address| (address.to_owned(), self.soft.issue_count(address)))
            .collect();
        for (address, issues) in over {
            if self.suppress(&address, format!("soft bounces in {issues} issues")) {
                self.soft_suppressed += 1;
            }
        }
    }

    fn summary(&self, plan: &Plan, added: usize) -> String {
        let mut text = format!(
            "read {} message(s) from {} mailbox(es){}\n",
            self.messages,
            plan.mailboxes.len(),
            if plan.dry_run { " (dry run)" } else { "" }
        );
        let verb = if plan.dry_run {
            "to suppress"
        } else {
            "suppressed"
        };
        let mut row = |label: &str, count: usize, detail: String| {
            let _ = writeln!(text, "  {label:<16}{count:>6}{detail}");
        };
        row(
            "hard bounces",
            self.hard.seen,
            format!("  ({} newly {verb})", self.hard.suppressed),
        );
        let mut soft = format!(
            "  ({} newly counted, {} newly {verb} after soft bounces in {ISSUES_TO_SUPPRESS} issues",
            self.soft_counted, self.soft_suppressed
        );
        if self.soft_without_issue > 0 {
            let _ = write!(
                soft,
                "; {} name no issue of ours and do not count",
                self.soft_without_issue
            );
        }
        soft.push(')');
        row("soft bounces", self.soft_seen, soft);
        row(
            "complaints",
            self.complaints.seen,
            format!("  ({} newly {verb})", self.complaints.suppressed),
        );
        row(
            "unsubscribes",
            self.unsubscribes.seen,
            format!("  ({} newly {verb})", self.unsubscribes.suppressed),
        );
        let ignored: usize = self.ignored.values().sum();
        let detail = if ignored == 0 {
            String::new()
        } else {
            let parts: Vec<String> = self
                .ignored
                .iter()
                .map(|(why, count)| format!("{count} {}", why.label()))
                .collect();
            format!("  ({})", parts.join(", "))
        };
        row("ignored", ignored, detail);
        row("not understood", self.not_understood.len(), String::new());
        for (place, why) in &self.not_understood {
            let _ = writeln!(text, "    {place}: {why}");
        }
        if !self.entries.is_empty() {
            let _ = writeln!(
                text,
                "{} `{}`:",
                if plan.dry_run {
                    "would add to"
                } else {
                    "added to"
                },
                plan.suppression.display()
            );
            for entry in self.entries.iter().take(MAX_LISTED) {
                let _ = writeln!(text, "  {}  # {}", entry.address, entry.reason);
            }
            if self.entries.len() > MAX_LISTED {
                let _ = writeln!(
                    text,
                    "  … and {} more (the file lists them all)",
                    self.entries.len() - MAX_LISTED
                );
            }
        }
        if plan.dry_run {
            text.push_str("dry run: nothing was written\n");
        } else if added < self.entries.len() {
            // Another writer (the endpoint, say) added some of them meanwhile.
            let _ = writeln!(
                text,
                "{} of them were already there",
                self.entries.len() - added
            );
        }
        text
    }
}
