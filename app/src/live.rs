//! Keeping the page live in the browser: the poll timer and what it does with answers.
//! On the server every entry point here does nothing; effects never run there.

use crate::chat_log::ChatLog;
use crate::schedule::Schedule;
use leptos::prelude::*;

/// Whether the page is in touch with the server, as shown to the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum Link {
    Live,
    Reconnecting,
}

/// The page's poller. `Copy`, so event handlers and effects can hold it.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub struct Poller {
    log: RwSignal<ChatLog>,
    link: RwSignal<Link>,
    schedule: StoredValue<Schedule>,
    poll_ms: u32,
}

impl Poller {
    pub fn new(log: RwSignal<ChatLog>, link: RwSignal<Link>, poll_ms: u32) -> Self {
        Self {
            log,
            link,
            schedule: StoredValue::new(Schedule::new(poll_ms)),
            poll_ms,
        }
    }

    /// Starts polling once the page is hydrated: at once (to catch up on lines stored since the
    /// page was rendered), then every period. The timer is dropped with the component.
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            use gloo_timers::callback::Interval;
            use send_wrapper::SendWrapper;

            self.poll_now();
            let interval = Interval::new(self.poll_ms, move || self.tick());
            let interval = SendWrapper::new(interval);
            on_cleanup(move || drop(interval));
        });
        let _ = self.poll_ms;
    }

    /// Polls now, or right after the poll in flight (after the page's own post).
    pub fn poll_now(self) {
        #[cfg(feature = "hydrate")]
        if self.schedule.try_update_value(Schedule::poll_now) == Some(true) {
            leptos::task::spawn_local(self.run());
        }
    }

    #[cfg(feature = "hydrate")]
    fn tick(self) {
        let now = js_sys::Date::now();
        if self.schedule.try_update_value(|s| s.tick(now)) == Some(true) {
            leptos::task::spawn_local(self.run());
        }
    }

    /// Polls until a batch comes back short, or one fails.
    #[cfg(feature = "hydrate")]
    async fn run(self) {
        use crate::api::{DEFAULT_LIMIT, lines_since};

        loop {
            let Some(after) = self.log.try_with_untracked(ChatLog::cursor) else {
                return; // the page is gone
            };
            match lines_since(Some(after), None).await {
                Ok(batch) => {
                    let full = batch.lines.len() >= DEFAULT_LIMIT as usize;
                    self.log.try_update(|log| log.apply(batch));
                    self.link.try_set(Link::Live);
                    if self.schedule.try_update_value(|s| s.succeeded(full)) != Some(true) {
                        return;
                    }
                }
                Err(err) => {
                    let retry_after_ms = err.retry_after.map(|s| f64::from(s) * 1000.0);
                    let (now, jitter) = (js_sys::Date::now(), js_sys::Math::random());
                    self.schedule
                        .try_update_value(|s| s.failed(now, retry_after_ms, jitter));
                    self.link.try_set(Link::Reconnecting);
                    return;
                }
            }
        }
    }
}

/// Marks `<body data-hydrated>` so that tests (and styles) can tell the page is interactive.
pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "");
    }
}
