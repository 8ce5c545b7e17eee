//! Several relays in one send: how the connections are spread over them ([`split`]), each
//! relay's health ([`Health`]: consecutive failures, down for a cool-down that doubles, one
//! probe when it ends), and which relay a worker sends through next ([`Relays::choose`]).
//!
//! Each worker has a home relay. A recipient whose attempt failed temporarily is retried on
//! another relay when one is up (one in doubt never is). While its home is down a worker
//! serves the others, and after the
//! cool-down one of its workers probes it: when a session opens again, its workers go home.
//! With a single relay none of this applies: the engine keeps its one-relay rules (stop when
//! the relay keeps failing, or is unreachable before any session opened).

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::deliver::{pace::Pace, relay::RelaySettings};

/// The longest cool-down of a relay that keeps failing.
const MAX_COOL_DOWN: Duration = Duration::from_mins(5);
/// The shortest first cool-down, whatever `--retry-delay` says, so that a relay that refuses
/// every connection is not hammered.
const MIN_COOL_DOWN: Duration = Duration::from_millis(50);

/// How many connections each relay gets: its `connections=N` if given, else a share of
/// `total` by weight (largest remainders first), at least one each.
pub(crate) fn split(relays: &[(u32, Option<usize>)], total: usize) -> Vec<usize> {
    let shared: u64 = relays
        .iter()
        .filter(|(_, own)| own.is_none())
        .map(|(weight, _)| u64::from(*weight))
        .sum();
    let sharing = relays.iter().filter(|(_, own)| own.is_none()).count();
    let pool = total.max(sharing) as u64;
    let mut counts: Vec<usize> = Vec::with_capacity(relays.len());
    let mut remainders: Vec<(u64, usize)> = Vec::new();
    for (index, (weight, own)) in relays.iter().enumerate() {
        if let Some(own) = own {
            counts.push(*own);
            continue;
        }
        let exact = pool * u64::from(*weight);
        let whole = exact / shared.max(1);
        counts.push(usize::try_from(whole).unwrap_or(usize::MAX));
        remainders.push((exact % shared.max(1), index));
    }
    let given: usize = relays
        .iter()
        .zip(&counts)
        .filter(|((_, own), _)| own.is_none())
        .map(|(_, count)| count)
        .sum();
    // Largest remainder first; ties to the earlier relay.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = usize::try_from(pool).unwrap_or(usize::MAX) - given;
    for (_, index) in remainders.iter().take(left) {
        counts[*index] += 1;
    }
    // A relay whose share rounds to nothing still gets one connection (taken from the
    // largest), so that every relay given is used.
    for index in 0..counts.len() {
        if counts[index] == 0 {
            if let Some(largest) = (0..counts.len())
                .filter(|other| relays[*other].1.is_none() && counts[*other] > 1)
                .max_by_key(|other| counts[*other])
            {
                counts[largest] -= 1;
            }
            counts[index] = 1;
        }
    }
    counts
}

/// What a failure did to a relay's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing new: still up, or already down.
    Same,
    /// The relay is down now; its workers serve the others.
    WentDown,
}

/// One relay's health: up, or down until a time (then probed by one worker).
#[derive(Debug, Clone)]
pub(crate) struct Health {
    failures_in_a_row: usize,
    down_until: Option<Instant>,
    probing: bool,
    next_cool_down: Duration,
    base: Duration,
    /// Temporary failures and messages in doubt in this run, in a row or not.
    pub(crate) failures: usize,
    /// How many times it went down in this run, and why the last time.
    pub(crate) downs: usize,
    pub(crate) last_reason: Option<String>,
}

impl Health {
    /// A relay that is up; its first cool-down lasts `base`.
    pub(crate) fn new(base: Duration) -> Health {
        let base = base.clamp(MIN_COOL_DOWN, MAX_COOL_DOWN);
        Health {
            failures_in_a_row: 0,
            down_until: None,
            probing: false,
            next_cool_down: base,
            base,
            failures: 0,
            downs: 0,
            last_reason: None,
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.down_until.is_none()
    }

    /// A message was accepted: the relay is well, and its cool-down starts short again.
    pub(crate) fn delivered(&mut self) {
        self.failures_in_a_row = 0;
        self.next_cool_down = self.base;
        self.came_up();
    }

    /// A session opened: the relay is up (its workers go home), though failures in a row
    /// still count until a message is accepted.
    pub(crate) fn came_up(&mut self) {
        self.down_until = None;
        self.probing = false;
    }

    /// A temporary failure or a message in doubt; `limit` in a row take the relay down, and
    /// so does any failure of a probe.
    pub(crate) fn failed(&mut self, limit: usize, now: Instant, reason: &str) -> Change {
        self.failures_in_a_row += 1;
        self.failures += 1;
        if self.failures_in_a_row >= limit || self.probing {
            self.go_down(now, reason)
        } else {
            Change::Same
        }
    }

    /// The relay refused the connection, or cannot be reached: down at once.
    pub(crate) fn refused(&mut self, now: Instant, reason: &str) -> Change {
        self.go_down(now, reason)
    }

    fn go_down(&mut self, now: Instant, reason: &str) -> Change {
        // Failures of sessions started before it went down, other than the probe's, change
        // nothing: the cool-down doubles once per failed probe, not per worker.
        if !self.is_up() && !self.probing {
            return Change::Same;
        }
        self.down_until = Some(now + self.next_cool_down);
        self.next_cool_down = (self.next_cool_down * 2).min(MAX_COOL_DOWN);
        self.probing = false;
        self.downs += 1;
        self.last_reason = Some(reason.to_owned());
        Change::WentDown
    }

    /// Whether the caller may probe the relay now (one caller at a time, after the
    /// cool-down).
    pub(crate) fn claim_probe(&mut self, now: Instant) -> bool {
        match self.down_until {
            Some(until) if now >= until && !self.probing => {
                self.probing = true;
                true
            }
            _ => false,
        }
    }
}

/// One relay of the send, with its health and what it did.
pub(crate) struct Member {
    pub(crate) settings: RelaySettings,
    /// `host:port`, as the journal and report record it.
    pub(crate) address: String,
    pub(crate) connections: usize,
    pub(crate) health: Mutex<Health>,
    /// This relay's slowdown after temporary failures (several relays only: a struggling
    /// relay must not slow the others down; `--rate` stays shared).
    pub(crate) pace: Pace,
    pub(crate) sent: AtomicUsize,
    /// Set once a session with this relay has opened. Until then, its workers open their
    /// sessions one at a time, so a wrong password costs one failed login, not one per worker
    /// (relays lock accounts after a few).
    pub(crate) proven: AtomicBool,
    pub(crate) first_session: tokio::sync::Mutex<()>,
}

impl Member {
    pub(crate) fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many failures in a row take this relay down.
    pub(crate) fn failure_limit(&self) -> usize {
        (self.connections * 3).max(10)
    }
}

/// What one relay did in a run, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RelayTally {
    /// How the relay is shown: `host:port (security)`.
    pub(crate) relay: String,
    pub(crate) sent: usize,
    /// Temporary failures and messages in doubt.
    pub(crate) failures: usize,
    pub(crate) downs: usize,
    pub(crate) last_down: Option<String>,
    pub(crate) down_at_end: bool,
}

/// The relays of a send.
pub(crate) struct Relays {
    pub(crate) members: Vec<Member>,
    /// The home relay of each worker, by index into `members`.
    pub(crate) homes: Vec<usize>,
}

impl Relays {
    /// The relays of `settings`, sharing `concurrency` connections (see [`split`]); cool-downs
    /// start at `cool_down`, and each relay's slowdown follows `retry_delay` (see [`Pace`]).
    pub(crate) fn new(
        settings: Vec<RelaySettings>,
        concurrency: usize,
        cool_down: Duration,
        retry_delay: Duration,
    ) -> Relays {
        let counts = split(
            &settings
                .iter()
                .map(|settings| (settings.relay.weight, settings.relay.connections))
                .collect::<Vec<_>>(),
            concurrency,
        );
        let mut homes = Vec::new();
        // Interleaved, so that the first workers (which open the first sessions) are spread
        // over the relays.
        let most = counts.iter().copied().max().unwrap_or(0);
        for round in 0..most {
            for (index, count) in counts.iter().enumerate() {
                if round < *count {
                    homes.push(index);
                }
            }
        }
        let members = settings
            .into_iter()
            .zip(counts)
            .map(|(settings, connections)| Member {
                address: settings.relay.address(),
                settings,
                connections,
                health: Mutex::new(Health::new(cool_down)),
                pace: Pace::new(None, retry_delay),
                sent: AtomicUsize::new(0),
                proven: AtomicBool::new(false),
                first_session: tokio::sync::Mutex::new(()),
            })
            .collect();
        Relays { members, homes }
    }

    /// Whether failover applies (more than one relay).
    pub(crate) fn several(&self) -> bool {
        self.members.len() > 1
    }

    /// The relay a worker at home on `home` sends through next, given the relay its open
    /// session is with (`current`) and the relay a retry should leave alone if it can
    /// (`avoid`: the one that just failed): home when it is up or due a probe, else the relay
    /// of the session when that one is up, else another one that is up, by weight. `None`
    /// when every relay is down.
    pub(crate) fn choose(
        &self,
        home: usize,
        current: Option<usize>,
        avoid: Option<usize>,
    ) -> Option<usize> {
        let now = Instant::now();
        if avoid != Some(home) {
            let mut health = self.members[home].health();
            if health.is_up() || health.claim_probe(now) {
                return Some(home);
            }
        }
        if let Some(current) = current
            && avoid != Some(current)
            && self.members[current].health().is_up()
        {
            return Some(current);
        }
        let up: Vec<usize> = (0..self.members.len())
            .filter(|index| self.members[*index].health().is_up())
            .collect();
        let others: Vec<usize> = up
            .iter()
            .copied()
            .filter(|index| Some(*index) != avoid)
            .collect();
        if up.is_empty() {
            // Every relay is down: whichever is due its probe first, home first, so that a
            // worker whose own relay just failed still brings another back.
            return std::iter::once(home)
                .chain(0..self.members.len())
                .find(|index| self.members[*index].health().claim_probe(now));
        }
        // The failing relay again only when it is the only one up.
        let candidates = if others.is_empty() { up } else { others };
        let total: u64 = candidates
            .iter()
            .map(|index| u64::from(self.members[*index].settings.relay.weight))
            .sum();
        if total == 0 {
            return None;
        }
        let mut pick = fastrand::u64(0..total);
        for index in candidates {
            let weight = u64::from(self.members[index].settings.relay.weight);
            if pick < weight {
                return Some(index);
            }
            pick -= weight;
        }
        None
    }

    /// Whether any relay is up.
    pub(crate) fn any_up(&self) -> bool {
        self.members.iter().any(|member| member.health().is_up())
    }

    /// When the first relay that is down is due its probe (none when one is up).
    pub(crate) fn next_probe(&self) -> Option<Instant> {
        self.members
            .iter()
            .map(|member| member.health().down_until)
            .collect::<Option<Vec<Instant>>>()?
            .into_iter()
            .min()
    }

    /// Whether any session with any relay has opened in this run.
    pub(crate) fn any_proven(&self) -> bool {
        self.members
            .iter()
            .any(|member| member.proven.load(Ordering::Acquire))
    }

    /// Each relay's `host:port (security)`, joined, for errors that name them all.
    pub(crate) fn names(&self) -> String {
        self.members
            .iter()
            .map(|member| member.settings.relay.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The last reason each relay went down, for errors that name them all.
    pub(crate) fn reasons(&self) -> String {
        self.members
            .iter()
            .map(|member| {
                let reason = member
                    .health()
                    .last_reason
                    .clone()
                    .unwrap_or_else(|| "failing".into());
                // Connection errors name the relay already.
                if reason.contains(&member.address) {
                    reason
                } else {
                    format!("{}: {reason}", member.address)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// What each relay did, for the summary.
    pub(crate) fn tallies(&self) -> Vec<RelayTally> {
        self.members
            .iter()
            .map(|member| {
                let health = member.health();
                RelayTally {
                    relay: member.settings.relay.to_string(),
                    sent: member.sent.load(Ordering::Relaxed),
                    failures: health.failures,
                    downs: health.downs,
                    last_down: health.last_reason.clone(),
                    down_at_end: !health.is_up(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_split_by_weight_at_least_one_each() {
        assert_eq!(split(&[(1, None)], 4), [4]);
        assert_eq!(split(&[(3, None), (1, None)], 8), [6, 2]);
        assert_eq!(split(&[(1, None), (1, None)], 5), [3, 2]);
        assert_eq!(split(&[(1000, None), (1, None)], 4), [3, 1]);
        assert_eq!(split(&[(1, None), (1, None), (1, None)], 1), [1, 1, 1]);
        assert_eq!(split(&[(2, None), (1, None), (1, None)], 4), [2, 1, 1]);
    }

    #[test]
    fn a_relay_with_its_own_connection_count_keeps_it_and_the_others_share_the_total() {
        assert_eq!(split(&[(1, Some(4)), (1, Some(4))], 8), [4, 4]);
        assert_eq!(split(&[(1, Some(2)), (1, None)], 8), [2, 8]);
        assert_eq!(split(&[(1, Some(5))], 4), [5]);
    }

    #[test]
    fn failures_in_a_row_take_a_relay_down_and_a_delivery_resets_them() {
        let now = Instant::now();
        let mut health = Health::new(Duration::from_secs(2));
        for _ in 0..9 {
            assert_eq!(health.failed(10, now, "421"), Change::Same);
        }
        health.delivered();
        for _ in 0..9 {
            assert_eq!(health.failed(10, now, "421"), Change::Same);
        }
        assert!(health.is_up());
        assert_eq!(health.failed(10, now, "421"), Change::WentDown);
        assert!(!health.is_up());
        assert_eq!(health.last_reason.as_deref(), Some("421"));
        // Other workers' failures while it is down change nothing.
        assert_eq!(health.failed(10, now, "421"), Change::Same);
        assert_eq!(health.refused(now, "refused"), Change::Same);
        assert_eq!(health.downs, 1);
    }

    #[test]
    fn a_down_relay_is_probed_once_after_its_cool_down_which_doubles_until_it_recovers() {
        let start = Instant::now();
        let mut health = Health::new(Duration::from_secs(2));
        assert_eq!(health.refused(start, "refused"), Change::WentDown);
        assert!(!health.claim_probe(start + Duration::from_secs(1)));
        let first_probe = start + Duration::from_secs(2);
        assert!(health.claim_probe(first_probe));
        assert!(!health.claim_probe(first_probe), "one probe at a time");
        // The probe fails: down again, for twice as long.
        assert_eq!(health.refused(first_probe, "refused"), Change::WentDown);
        assert!(!health.claim_probe(first_probe + Duration::from_secs(3)));
        let second_probe = first_probe + Duration::from_secs(4);
        assert!(health.claim_probe(second_probe));
        health.came_up();
        assert!(health.is_up());
        assert_eq!(health.downs, 2);
        // Up again after a session opened; a delivery brings the cool-down back to the start.
        health.delivered();
        assert_eq!(health.refused(second_probe, "refused"), Change::WentDown);
        assert!(health.claim_probe(second_probe + Duration::from_secs(2)));
    }

    #[test]
    fn a_probe_that_fails_in_any_way_takes_the_relay_down_again() {
        let start = Instant::now();
        let mut health = Health::new(Duration::from_secs(1));
        health.refused(start, "refused");
        let probe = start + Duration::from_secs(1);
        assert!(health.claim_probe(probe));
        // A timeout rather than a refusal: one failure, far below the limit, yet the probe
        // failed, and the next one is due after a longer cool-down.
        assert_eq!(health.failed(100, probe, "timeout"), Change::WentDown);
        assert!(!health.claim_probe(probe + Duration::from_secs(1)));
        assert!(health.claim_probe(probe + Duration::from_secs(2)));
    }

    #[test]
    fn the_cool_down_stops_doubling_at_its_limit() {
        let mut now = Instant::now();
        let mut health = Health::new(Duration::from_mins(1));
        for _ in 0..10 {
            health.refused(now, "refused");
            now += MAX_COOL_DOWN;
            assert!(health.claim_probe(now));
        }
    }

    fn relays(urls: &[&str], concurrency: usize) -> Relays {
        let settings = urls
            .iter()
            .map(|url| RelaySettings {
                relay: crate::deliver::relay::Relay::parse(url).unwrap(),
                password: None,
                ca_file: None,
                helo: "example.org".into(),
                timeout: Duration::from_secs(1),
            })
            .collect();
        Relays::new(
            settings,
            concurrency,
            Duration::from_mins(1),
            Duration::from_secs(1),
        )
    }

    #[test]
    fn workers_are_spread_over_their_homes_by_weight_interleaved() {
        let relays = relays(
            &["smtp://127.0.0.1:1025?weight=3", "smtp://127.0.0.1:1026"],
            4,
        );
        assert_eq!(relays.homes, [0, 1, 0, 0]);
        assert_eq!(relays.members[0].address, "127.0.0.1:1025");
    }

    #[test]
    fn a_worker_serves_another_relay_while_its_home_is_down_and_a_retry_avoids_the_one_that_failed()
    {
        let relays = relays(&["smtp://127.0.0.1:1025", "smtp://127.0.0.1:1026"], 2);
        assert_eq!(relays.choose(0, None, None), Some(0));
        // A retry leaves the relay that failed when another is up.
        assert_eq!(relays.choose(0, Some(0), Some(0)), Some(1));
        relays.members[0]
            .health()
            .refused(Instant::now(), "refused");
        // Home is down (and not due a probe for a minute): the other relay.
        assert_eq!(relays.choose(0, None, None), Some(1));
        assert_eq!(relays.choose(0, Some(1), None), Some(1));
        assert!(relays.any_up());
        // The failing relay again only when it is the only one up.
        assert_eq!(relays.choose(1, Some(1), Some(1)), Some(1));
        relays.members[1]
            .health()
            .refused(Instant::now(), "refused");
        assert!(!relays.any_up());
        assert_eq!(relays.choose(0, None, None), None);
        assert_eq!(relays.choose(1, None, None), None);
    }
}
