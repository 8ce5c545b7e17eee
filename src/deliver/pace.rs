//! Pacing of deliveries across all workers: an optional steady rate (`--rate`), and a slowdown
//! that grows when the relay answers with temporary failures (421, 451, …) and fades as
//! deliveries succeed again, so a struggling relay is not hammered through the whole list.

use std::time::Duration;

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

/// The longest pause the slowdown reaches.
const MAX_PENALTY: Duration = Duration::from_secs(30);
/// The first pause after a temporary failure, at most; with a short retry delay it is shorter
/// (a fifth of the delay), so the two stay in proportion.
const FIRST_PENALTY: Duration = Duration::from_millis(200);

#[derive(Debug)]
struct State {
    /// When the next delivery may start.
    next: Instant,
    /// The current slowdown: the least time between two deliveries.
    penalty: Duration,
}

/// Shared by all workers; each calls [`Pace::wait`] before a delivery.
#[derive(Debug)]
pub(crate) struct Pace {
    interval: Option<Duration>,
    first_penalty: Duration,
    state: Mutex<State>,
}

impl Pace {
    /// `rate`: messages per second over all workers, if limited; `retry_delay`: the wait
    /// before a recipient's first retry.
    pub(crate) fn new(rate: Option<f64>, retry_delay: Duration) -> Pace {
        Pace {
            first_penalty: (retry_delay / 5).clamp(Duration::from_millis(1), FIRST_PENALTY),
            interval: rate
                .filter(|rate| *rate > 0.0)
                .map(|rate| Duration::from_secs_f64(1.0 / rate)),
            state: Mutex::new(State {
                next: Instant::now(),
                penalty: Duration::ZERO,
            }),
        }
    }

    /// The state; a plain mutex, since it is held only for a few instructions, never across
    /// an await.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this worker's turn.
    pub(crate) async fn wait(&self) {
        let slot = {
            let mut state = self.state();
            let gap = self.interval.unwrap_or_default().max(state.penalty);
            if gap.is_zero() {
                return;
            }
            let slot = state.next.max(Instant::now());
            state.next = slot + gap;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The relay answered with a temporary failure: slow everyone down, and pause now.
    pub(crate) fn slow_down(&self) {
        let mut state = self.state();
        state.penalty = (state.penalty * 2).clamp(self.first_penalty, MAX_PENALTY);
        let pause_until = Instant::now() + state.penalty;
        state.next = state.next.max(pause_until);
    }

    /// A delivery succeeded: ease the slowdown.
    pub(crate) fn speed_up(&self) {
        let mut state = self.state();
        if !state.penalty.is_zero() {
            state.penalty = state.penalty * 9 / 10;
            if state.penalty < Duration::from_millis(5) {
                state.penalty = Duration::ZERO;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_spaces_deliveries() {
        let pace = Pace::new(Some(10.0), Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..5 {
            pace.wait().await;
        }
        // The first goes at once, then one every 100 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn temporary_failures_slow_down_then_recover() {
        let pace = Pace::new(None, Duration::from_secs(1));
        pace.slow_down();
        pace.slow_down();
        assert_eq!(pace.state().penalty, Duration::from_millis(400));
        let start = Instant::now();
        pace.wait().await;
        assert!(start.elapsed() >= Duration::from_millis(400));
        for _ in 0..100 {
            pace.speed_up();
        }
        assert_eq!(pace.state().penalty, Duration::ZERO);
        let start = Instant::now();
        pace.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn slowdown_is_capped() {
        let pace = Pace::new(None, Duration::from_secs(1));
        for _ in 0..20 {
            pace.slow_down();
        }
        assert_eq!(pace.state().penalty, MAX_PENALTY);
    }
}
