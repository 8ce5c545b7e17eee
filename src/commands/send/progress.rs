//! What a user watching a send sees while it runs: a progress bar on a terminal (indicatif),
//! or a plain line every few seconds when output goes to a file or a CI log.

use std::{
    fmt::Write as _,
    io::IsTerminal,
    sync::Arc,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{
    cli::ProgressMode,
    deliver::{engine::Engine, report::Totals},
};

/// How often a line is printed when not on a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// Shows progress until the returned handle is finished or dropped (dropping it, as on an
/// early return, stops the display the same way).
pub(crate) struct Progress {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts showing the progress of `engine` towards `total` recipients.
    pub(crate) fn start(
        mode: ProgressMode,
        engine: &Arc<Engine>,
        total: usize,
        verb: &'static str,
    ) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
                )
                .expect("the progress template is valid"),
            );
            bar
        });
        let engine = Arc::clone(engine);
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut last_line = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let totals = engine.recorder.counts.totals();
                match (&shown, mode) {
                    (Some(bar), _) => {
                        bar.set_position(totals.done() as u64);
                        bar.set_message(format!(
                            "{}{}{}",
                            counts_text(&totals, verb),
                            rate_text(totals.done(), started.elapsed()),
                            waiting_text(&engine)
                        ));
                    }
                    (None, ProgressMode::Lines) if last_line.elapsed() >= LINE_INTERVAL => {
                        last_line = Instant::now();
                        eprintln!(
                            "{}/{total} {}{}{}",
                            totals.done(),
                            counts_text(&totals, verb),
                            rate_text(totals.done(), started.elapsed()),
                            waiting_text(&engine)
                        );
                    }
                    _ => {}
                }
            }
        });
        Progress { task, bar }
    }

    /// Stops the display and clears the bar.
    pub(crate) fn finish(self) {
        drop(self);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `; waiting to retry: REASON` while a recipient waits to be retried, so a line that stalls
/// says why; `; relay HOST:PORT down` for each of several relays that is set aside.
fn waiting_text(engine: &Engine) -> String {
    let mut text = String::new();
    for relay in engine.relays_down() {
        let _ = write!(text, "; relay {relay} down");
    }
    if let Some(reason) = engine.waiting_reason() {
        let _ = write!(text, "; waiting to retry: {reason}");
    }
    text
}

/// `sent 120, failed 1, in doubt 2` (a count of zero is left out).
pub(crate) fn counts_text(totals: &Totals, verb: &str) -> String {
    let mut text = if verb == "sent" {
        format!("sent {}", totals.sent)
    } else {
        format!("{verb} {}", totals.would_send)
    };
    for (count, label) in [
        (totals.failed, "failed"),
        (totals.deferred, "deferred"),
        (totals.in_doubt, "in doubt"),
    ] {
        if count > 0 {
            let _ = write!(text, ", {label} {count}");
        }
    }
    text
}

/// Below this many messages, or this much time, a rate is noise ("4309/s" for 7 messages in
/// 2 ms, "0/s" for one that is still waiting), so none is shown.
const RATE_MIN_MESSAGES: usize = 20;
const RATE_MIN_TIME: Duration = Duration::from_millis(100);

/// ` (N/s)`, the messages per second, or nothing when so few that a rate means nothing.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn rate_text(count: usize, elapsed: Duration) -> String {
    if count < RATE_MIN_MESSAGES || elapsed < RATE_MIN_TIME {
        return String::new();
    }
    format!(" ({:.0}/s)", count as f64 / elapsed.as_secs_f64())
}
