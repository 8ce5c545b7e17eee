//! The end-of-run summary `send` prints: what was sent (or would be), what was skipped and why,
//! who needs attention, and where the journal and report are.

use std::{fmt::Write as _, path::Path, time::Duration};

use super::progress;
use crate::{
    deliver::{
        journal::{History, State},
        relay::{self, Relay},
        relays::RelayTally,
        report::{self, Outcome, Totals},
    },
    input::{audience::Tally, issue::Issue},
    printable::printable,
    units,
};

/// The end-of-run report on standard output.
pub(super) struct Summary<'a> {
    pub(super) issue: &'a Issue,
    pub(super) relays: &'a [Relay],
    /// What each relay did (several relays only are shown one by one).
    pub(super) relay_tallies: Vec<RelayTally>,
    pub(super) tally: &'a Tally,
    pub(super) totals: Totals,
    pub(super) problems: Vec<(String, Outcome)>,
    pub(super) elapsed: Duration,
    pub(super) dry_run: bool,
    pub(super) journal: Option<&'a Path>,
    pub(super) report: Option<&'a Path>,
    pub(super) out_folder: Option<&'a Path>,
    pub(super) history: &'a History,
    pub(super) resend_in_doubt: bool,
    pub(super) notes: Vec<String>,
    /// How many recipients this run set out to send to, and whether it was a `--to` test.
    pub(super) planned: usize,
    pub(super) test_send: bool,
}

impl Summary<'_> {
    pub(super) fn text(&self) -> String {
        let totals = &self.totals;
        let mut lines = Vec::new();
        let seconds = self.elapsed.as_secs_f64();
        if self.dry_run {
            lines.push(format!(
                "dry run: {} message(s) built for {} in {seconds:.2} s{}; nothing was sent, no connection was made",
                totals.would_send,
                self.issue.slug(),
                progress::rate_text(totals.would_send, self.elapsed),
            ));
            lines.push(format!(
                "  relay:         {}, not contacted",
                relay::describe(self.relays)
            ));
            if totals.would_send > 0 {
                lines.push(format!(
                    "  sizes:         {} in all, {} on average, largest {}",
                    units::size(usize::try_from(totals.bytes).unwrap_or(usize::MAX)),
                    units::size(
                        usize::try_from(totals.bytes / totals.would_send as u64).unwrap_or(0)
                    ),
                    units::size(totals.largest)
                ));
            }
        } else {
            let via = if self.relays.len() > 1 {
                format!("{} relays", self.relays.len())
            } else {
                relay::describe(self.relays)
            };
            lines.push(format!(
                "{} via {via} in {seconds:.2} s{}",
                progress::counts_text(totals, "sent"),
                progress::rate_text(totals.sent, self.elapsed),
            ));
            if self.relays.len() > 1 {
                lines.extend(self.relay_tallies.iter().map(relay_line));
            }
        }
        if self.test_send {
            lines.push(format!(
                "  test send:     to {} address(es), not the list; the journal was not used",
                self.planned
            ));
        } else {
            lines.push(format!(
                "  recipients:    {} in the subscriber file",
                self.tally.recipients
            ));
            lines.push(format!("  skipped rows:  {}", self.tally.skipped_summary()));
        }
        let not_attempted = self.planned.saturating_sub(totals.done());
        if not_attempted > 0 && !self.test_send {
            lines.push(format!(
                "  not sent yet:  {not_attempted} (run the same command again to continue)"
            ));
        }
        let earlier_sent = self.history.count(State::Sent);
        if earlier_sent > 0 {
            lines.push(format!(
                "  earlier runs:  {earlier_sent} already sent (not sent again)"
            ));
        }
        let earlier_doubt = self.history.count(State::InDoubt);
        if earlier_doubt > 0 && !self.resend_in_doubt {
            lines.push(format!(
                "  in doubt:      {earlier_doubt} from earlier runs, perhaps delivered, not sent again (`newsletter status` lists them; --resend-in-doubt sends them)"
            ));
        }
        for (email, outcome) in &self.problems {
            lines
                .push(printable(&format!("  {email}: {}", report::describe(outcome))).into_owned());
        }
        if let Some(folder) = self.out_folder {
            lines.push(format!("  .eml files:    {}", folder.display()));
        }
        if let Some(journal) = self.journal {
            lines.push(format!("  journal:       {}", journal.display()));
        }
        if let Some(report) = self.report {
            lines.push(format!("  report:        {}", report.display()));
        }
        for note in &self.notes {
            lines.push(format!("note: {note}"));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// `  relay 127.0.0.1:1025 (no TLS): 120 sent; 30 temporary failure(s); was down 2 time(s),
/// came back, the last: …` for one of several relays.
fn relay_line(tally: &RelayTally) -> String {
    let mut line = format!("  relay {}: {} sent", tally.relay, tally.sent);
    if tally.failures > 0 {
        let _ = write!(line, "; {} temporary failure(s)", tally.failures);
    }
    if tally.downs > 0 {
        let _ = write!(
            line,
            "; was down {} time(s){}, the last: {}",
            tally.downs,
            if tally.down_at_end {
                " and still was at the end"
            } else {
                ", came back"
            },
            tally.last_down.as_deref().unwrap_or("failing")
        );
    }
    printable(&line).into_owned()
}
