//! When the page polls: plain rules, kept apart from timers and the DOM so they can be tested.
//!
//! A timer ticks every poll period and asks [`Schedule::tick`] whether to poll. At most one poll
//! is in flight. Failures back off exponentially, with jitter so that many pages do not return
//! in the same second, up to about [`MAX_BACKOFF_MS`].

/// The longest wait between attempts while the server is unreachable (before jitter).
pub const MAX_BACKOFF_MS: f64 = 30_000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    period_ms: f64,
    in_flight: bool,
    /// A poll was asked for while one was in flight: run another when it ends.
    again: bool,
    /// Consecutive failed polls.
    failures: u32,
    /// No timed poll before this instant (ms), while backing off.
    resume_at: f64,
}

impl Schedule {
    pub fn new(period_ms: u32) -> Self {
        Self {
            period_ms: f64::from(period_ms.max(1)),
            in_flight: false,
            again: false,
            failures: 0,
            resume_at: 0.0,
        }
    }

    /// A timer tick at `now` (ms): whether to start a poll.
    pub fn tick(&mut self, now: f64) -> bool {
        // Half a period of slack: timer ticks drift, and a tick a few ms early must not cost a
        // whole extra period.
        if self.in_flight || now + self.period_ms / 2.0 < self.resume_at {
            return false;
        }
        self.in_flight = true;
        true
    }

    /// Something wants fresh lines now (the page's own post): whether to start a poll. If one is
    /// in flight, another follows it at once.
    pub fn poll_now(&mut self) -> bool {
        if self.in_flight {
            self.again = true;
            return false;
        }
        self.in_flight = true;
        true
    }

    /// A poll succeeded. `full_batch`: it returned as many lines as asked, so more may wait.
    /// Returns whether to poll again at once (the poll stays in flight).
    pub fn succeeded(&mut self, full_batch: bool) -> bool {
        self.failures = 0;
        self.resume_at = 0.0;
        let again = full_batch || std::mem::take(&mut self.again);
        self.in_flight = again;
        again
    }

    /// A poll failed at `now`. `retry_after_ms`: the server's own request, if any; `jitter` is
    /// uniform in `[0, 1)`. Returns the wait before the next timed poll, in ms.
    pub fn failed(&mut self, now: f64, retry_after_ms: Option<f64>, jitter: f64) -> f64 {
        self.in_flight = false;
        self.again = false;
        self.failures = self.failures.saturating_add(1);
        let doubled = self.period_ms * 2f64.powi(self.failures.min(16) as i32 - 1);
        let wait = (doubled.min(MAX_BACKOFF_MS) * (0.75 + 0.5 * jitter))
            .max(retry_after_ms.unwrap_or(0.0));
        self.resume_at = now + wait;
        wait
    }

    /// Whether the last poll failed: the page shows it is reconnecting.
    pub fn is_reconnecting(&self) -> bool {
        self.failures > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_poll_in_flight_at_most() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0));
        assert!(!s.tick(2000.0));
        assert!(!s.poll_now());
        // The poll asked for during flight follows at once.
        assert!(s.succeeded(false));
        assert!(!s.succeeded(false));
        assert!(s.tick(4000.0));
    }

    #[test]
    fn full_batch_polls_again_at_once() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0));
        assert!(s.succeeded(true));
        assert!(!s.tick(1.0), "still in flight");
        assert!(!s.succeeded(false));
    }

    #[test]
    fn failures_back_off_doubling_to_about_thirty_seconds() {
        let mut s = Schedule::new(2000);
        let waits: Vec<f64> = (0..8)
            .map(|_| {
                assert!(s.poll_now());
                s.failed(0.0, None, 0.5)
            })
            .collect();
        assert_eq!(
            waits,
            [
                2000.0, 4000.0, 8000.0, 16000.0, 30000.0, 30000.0, 30000.0, 30000.0
            ]
        );
        assert!(s.is_reconnecting());
    }

    #[test]
    fn jitter_spreads_waits_and_retry_after_is_honoured() {
        let mut s = Schedule::new(2000);
        s.poll_now();
        assert_eq!(s.failed(0.0, None, 0.0), 1500.0);
        s.poll_now();
        assert_eq!(s.failed(0.0, None, 0.999_999).round(), 5000.0);
        s.poll_now();
        assert_eq!(s.failed(0.0, Some(60_000.0), 0.5), 60_000.0);
    }

    #[test]
    fn ticks_wait_out_the_backoff_then_recover() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0));
        s.failed(0.0, None, 0.5); // wait 2000
        assert!(s.tick(1000.0), "within half a period of the resume time");
        s.failed(1000.0, None, 0.5); // wait 4000: resume at 5000
        assert!(!s.tick(2000.0));
        assert!(s.tick(4000.0));
        assert!(!s.succeeded(false));
        assert!(!s.is_reconnecting());
        assert!(s.tick(6000.0));
    }
}
