//! When the page polls: plain rules, kept apart from timers and the DOM so they can be tested.
//!
//! A visible page keeps one poll held on the server ([`HELD_WAIT_SECS`]): each answer, with
//! lines or empty, is followed at once by the next held poll, so lines arrive as they are
//! committed. A timer ticks every poll period and asks [`Schedule::tick`] whether to poll: it is
//! the watchdog that starts polling again after a pause, and a hidden tab's slow clock (hidden
//! tabs hold nothing: browsers allow few connections per host, shared by all tabs). At most
//! one poll is in flight. Failures back off exponentially, with jitter so that many pages do
//! not return in the same second, up to about [`MAX_BACKOFF_MS`].

/// The longest wait between attempts while the server is unreachable (before jitter).
pub const MAX_BACKOFF_MS: f64 = 30_000.0;
/// While the tab is hidden it polls this many times less often: enough to count unread lines
/// in the title, cheap for the server.
pub const HIDDEN_SLOWDOWN: f64 = 5.0;
/// How long a visible page asks the server to hold a poll while there is nothing new.
pub const HELD_WAIT_SECS: u32 = 25;
/// A held poll answered empty sooner than this was not held (the server is at its cap of held
/// polls, or stopping): the next one waits for the timer rather than follow at once.
pub const MIN_HELD_MS: f64 = 1000.0;
/// How long past its `wait` a poll may take before it is given up as lost.
pub const DEADLINE_MARGIN_MS: u32 = 10_000;

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
    /// When the last poll started (ms).
    started_at: f64,
    /// No poll has succeeded yet: the first one catches up on lines stored since the page was
    /// rendered and answers at once; holding starts right after it.
    fresh: bool,
}

impl Schedule {
    pub fn new(period_ms: u32) -> Self {
        Self {
            period_ms: f64::from(period_ms.max(1)),
            in_flight: false,
            again: false,
            failures: 0,
            resume_at: 0.0,
            started_at: f64::NEG_INFINITY,
            fresh: true,
        }
    }

    /// A timer tick at `now` (ms), `hidden` when the tab is: whether to start a poll.
    pub fn tick(&mut self, now: f64, hidden: bool) -> bool {
        // Half a period of slack: timer ticks drift, and a tick a few ms early must not cost a
        // whole extra period.
        let soon = now + self.period_ms / 2.0;
        let backing_off = soon < self.resume_at;
        let resting = hidden && soon < self.started_at + self.period_ms * HIDDEN_SLOWDOWN;
        if self.in_flight || backing_off || resting {
            return false;
        }
        self.start(now);
        true
    }

    /// Something wants fresh lines now (the page's own post, the tab shown again, the network
    /// back): whether to start a poll. If one is in flight, another follows it at once.
    pub fn poll_now(&mut self, now: f64) -> bool {
        if self.in_flight {
            self.again = true;
            return false;
        }
        self.start(now);
        true
    }

    fn start(&mut self, now: f64) {
        self.in_flight = true;
        self.started_at = now;
    }

    /// The `wait` of a poll starting now: held while the tab is visible, after the first.
    pub fn wait_secs(&self, hidden: bool) -> u32 {
        if hidden || self.fresh {
            0
        } else {
            HELD_WAIT_SECS
        }
    }

    /// The longest a poll with `wait_secs` may take before it is given up.
    pub fn deadline_ms(wait_secs: u32) -> u32 {
        wait_secs * 1000 + DEADLINE_MARGIN_MS
    }

    /// A poll that started at [`Schedule::tick`] or [`Schedule::poll_now`] succeeded at `now`,
    /// with `lines` lines, `full` when as many as asked (more may wait). `hidden`: the tab is
    /// hidden now. Returns whether to poll again at once (the poll stays in flight).
    pub fn succeeded(&mut self, now: f64, lines: usize, full: bool, hidden: bool) -> bool {
        self.failures = 0;
        self.resume_at = 0.0;
        let held_long_enough = now - self.started_at >= MIN_HELD_MS;
        let caught_up = std::mem::take(&mut self.fresh);
        let hold_next = !hidden && (lines > 0 || held_long_enough || caught_up);
        let again = std::mem::take(&mut self.again) || full || hold_next;
        if again {
            self.started_at = now;
        }
        self.in_flight = again;
        again
    }

    /// A poll failed at `now`. `retry_after_ms`: the server's own request, if any; `jitter` is
    /// uniform in `[0, 1)`. Returns the wait before the next timed poll, in ms.
    pub fn failed(&mut self, now: f64, retry_after_ms: Option<f64>, jitter: f64) -> f64 {
        self.in_flight = false;
        self.again = false;
        self.failures = self.failures.saturating_add(1);
        let wait = (doubled(self.period_ms, self.failures) * (0.75 + 0.5 * jitter))
            .max(retry_after_ms.unwrap_or(0.0));
        self.resume_at = now + wait;
        wait
    }

    /// Whether the last poll failed: the page shows it is reconnecting.
    pub fn is_reconnecting(&self) -> bool {
        self.failures > 0
    }
}

/// How many times the page sends one message before it gives up and says so.
pub const SEND_ATTEMPTS: u32 = 5;

/// The wait (ms) before sending a message again after `failures` transient failures, or `None`
/// once it is time to give up. `retry_after_ms` is the server's own request, if any.
pub fn send_retry_delay(failures: u32, retry_after_ms: Option<f64>) -> Option<f64> {
    (failures < SEND_ATTEMPTS).then(|| doubled(1000.0, failures).max(retry_after_ms.unwrap_or(0.0)))
}

/// `base` doubled for each failure after the first, up to [`MAX_BACKOFF_MS`].
fn doubled(base: f64, failures: u32) -> f64 {
    (base * 2f64.powi(failures.saturating_sub(1).min(16) as i32)).min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_poll_in_flight_at_most() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0, false));
        assert!(!s.tick(2000.0, false));
        assert!(!s.poll_now(2500.0));
        // The poll asked for during flight follows at once.
        assert!(s.succeeded(2600.0, 0, false, true));
        assert!(!s.succeeded(2700.0, 0, false, true));
        assert!(s.tick(4000.0, false));
    }

    #[test]
    fn full_batch_polls_again_at_once() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0, true));
        assert!(s.succeeded(10.0, 100, true, true));
        assert!(!s.tick(11.0, true), "still in flight");
        assert!(!s.succeeded(20.0, 3, false, true));
    }

    #[test]
    fn failures_back_off_doubling_to_about_thirty_seconds() {
        let mut s = Schedule::new(2000);
        let waits: Vec<f64> = (0..8)
            .map(|_| {
                assert!(s.poll_now(0.0));
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
        s.poll_now(0.0);
        assert_eq!(s.failed(0.0, None, 0.0), 1500.0);
        s.poll_now(0.0);
        assert_eq!(s.failed(0.0, None, 0.999_999).round(), 5000.0);
        s.poll_now(0.0);
        assert_eq!(s.failed(0.0, Some(60_000.0), 0.5), 60_000.0);
    }

    #[test]
    fn ticks_wait_out_the_backoff_then_recover() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0, false));
        s.failed(0.0, None, 0.5); // wait 2000
        assert!(
            s.tick(1000.0, false),
            "within half a period of the resume time"
        );
        s.failed(1000.0, None, 0.5); // wait 4000: resume at 5000
        assert!(!s.tick(2000.0, false));
        assert!(s.tick(4000.0, false));
        assert!(
            s.succeeded(4100.0, 0, false, false),
            "caught up: holding starts"
        );
        assert!(!s.is_reconnecting());
        assert!(
            !s.succeeded(4200.0, 0, false, false),
            "a held poll answered empty at once: no hold"
        );
        assert!(s.tick(6000.0, false));
    }

    #[test]
    fn sends_are_retried_a_few_times_then_given_up() {
        let waits: Vec<_> = (1..=SEND_ATTEMPTS)
            .map(|n| send_retry_delay(n, None))
            .collect();
        assert_eq!(
            waits,
            [Some(1000.0), Some(2000.0), Some(4000.0), Some(8000.0), None]
        );
        assert_eq!(send_retry_delay(1, Some(7000.0)), Some(7000.0));
    }

    #[test]
    fn hidden_tab_polls_slowly_and_showing_it_polls_at_once() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0, true), "the first hidden tick polls");
        assert!(!s.succeeded(10.0, 0, false, true));
        let polls = (1..=30)
            .filter(|i| {
                let now = f64::from(*i) * 2000.0;
                let polled = s.tick(now, true);
                if polled {
                    assert!(!s.succeeded(now + 10.0, 1, false, true), "hidden: no hold");
                }
                polled
            })
            .count();
        assert_eq!(polls, 6, "one poll per 10 s over 60 s");
        // Shown again: at once, whatever the timer says.
        assert!(s.poll_now(61_000.0));
        assert!(
            s.succeeded(61_010.0, 2, false, false),
            "visible: the next poll is held"
        );
        assert_eq!(s.wait_secs(false), HELD_WAIT_SECS);
        assert_eq!(s.wait_secs(true), 0);
    }

    #[test]
    fn a_visible_page_always_holds_the_next_poll() {
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0, false));
        // Lines at once: the next poll follows at once.
        assert!(s.succeeded(5.0, 1, false, false));
        // Held the whole wait and answered empty: the next follows at once too.
        assert!(s.succeeded(25_005.0, 0, false, false));
        assert!(!s.tick(26_000.0, false), "one held poll at a time");
    }

    #[test]
    fn the_first_poll_catches_up_at_once_then_holding_starts() {
        let mut s = Schedule::new(2000);
        assert_eq!(s.wait_secs(false), 0, "the catch-up poll answers at once");
        assert!(s.poll_now(0.0));
        assert!(
            s.succeeded(5.0, 0, false, false),
            "then the first held poll, at once"
        );
        assert_eq!(s.wait_secs(false), HELD_WAIT_SECS);
    }

    #[test]
    fn polls_answered_empty_at_once_wait_for_the_timer() {
        // The server holds nothing (at its cap, or stopping): no hot loop.
        let mut s = Schedule::new(2000);
        assert!(s.tick(0.0, false));
        assert!(s.succeeded(1.0, 0, false, false), "the catch-up poll");
        assert!(!s.succeeded(3.0, 0, false, false));
        assert!(s.tick(2000.0, false), "the timer polls again");
        assert_eq!(Schedule::deadline_ms(25), 35_000);
    }
}
