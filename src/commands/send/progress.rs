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
                            "{} ({:.0}/s)",
                            counts_text(&totals, verb),
                            rate(totals.done(), started.elapsed())
                        ));
                    }
                    (None, ProgressMode::Lines) if last_line.elapsed() >= LINE_INTERVAL => {
                        last_line = Instant::now();
                        eprintln!(
                            "{}/{total} {} ({:.0}/s)",
                            totals.done(),
                            counts_text(&totals, verb),
                            rate(totals.done(), started.elapsed())
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

/// Messages per second.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn rate(count: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}
