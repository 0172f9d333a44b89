//! Keeping the page live in the browser: the poll timer, the tab's visibility, the network
//! coming back, and what is done with each answer. The rules are in [`Schedule`]; this is the
//! wiring. On the server every entry point here does nothing: effects never run there.

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
    /// Lines that arrived while the tab was hidden.
    unread: RwSignal<usize>,
    schedule: StoredValue<Schedule>,
    poll_ms: u32,
}

impl Poller {
    pub fn new(
        log: RwSignal<ChatLog>,
        link: RwSignal<Link>,
        unread: RwSignal<usize>,
        poll_ms: u32,
    ) -> Self {
        Self {
            log,
            link,
            unread,
            schedule: StoredValue::new(Schedule::new(poll_ms)),
            poll_ms,
        }
    }

    /// Starts polling once the page is hydrated: at once (to catch up on lines stored since the
    /// page was rendered), then every period. Timers and listeners go with the component.
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        Effect::new(move |_| {
            use gloo_timers::callback::Interval;
            use leptos::ev::{online, visibilitychange};
            use send_wrapper::SendWrapper;

            self.poll_now();
            let interval = SendWrapper::new(Interval::new(self.poll_ms, move || self.tick()));
            let shown = window_event_listener(visibilitychange, move |_| {
                if !document().hidden() {
                    self.unread.set(0);
                    self.poll_now();
                }
            });
            let back_online = window_event_listener(online, move |_| self.poll_now());
            on_cleanup(move || {
                drop(interval);
                shown.remove();
                back_online.remove();
            });
        });
    }

    /// Polls now, or right after the poll in flight.
    pub fn poll_now(self) {
        #[cfg(feature = "hydrate")]
        {
            let now = js_sys::Date::now();
            if self.schedule.try_update_value(|s| s.poll_now(now)) == Some(true) {
                leptos::task::spawn_local(self.run());
            }
        }
    }

    #[cfg(feature = "hydrate")]
    fn tick(self) {
        let (now, hidden) = (js_sys::Date::now(), document().hidden());
        if self.schedule.try_update_value(|s| s.tick(now, hidden)) == Some(true) {
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
            match with_deadline(lines_since(Some(after), None)).await {
                Ok(batch) => {
                    let full = batch.lines.len() >= DEFAULT_LIMIT as usize;
                    let added = self.log.try_update(|log| log.apply(batch)).unwrap_or(0);
                    if added > 0 && document().hidden() {
                        self.unread.update(|n| *n += added);
                    }
                    if self.link.get_untracked() != Link::Live {
                        self.link.set(Link::Live);
                    }
                    if self.schedule.try_update_value(|s| s.succeeded(full)) != Some(true) {
                        return;
                    }
                }
                Err(err) => {
                    let (now, jitter) = (js_sys::Date::now(), js_sys::Math::random());
                    self.schedule
                        .try_update_value(|s| s.failed(now, err.retry_after_ms(), jitter));
                    self.link.try_set(Link::Reconnecting);
                    return;
                }
            }
        }
    }
}

/// A poll that has not answered by then is given up as failed: a connection that died
/// silently must not hold the one poll in flight for ever.
#[cfg(feature = "hydrate")]
const POLL_DEADLINE_MS: u32 = 15_000;

#[cfg(feature = "hydrate")]
async fn with_deadline<T>(
    poll: impl std::future::Future<Output = Result<T, crate::error::ApiError>>,
) -> Result<T, crate::error::ApiError> {
    use futures::future::{Either, select};
    let deadline = gloo_timers::future::TimeoutFuture::new(POLL_DEADLINE_MS);
    match select(std::pin::pin!(poll), deadline).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => Err(crate::error::ApiError::new(
            crate::error::ErrorKind::Network,
            "The chat server did not answer in time.",
        )),
    }
}

/// Marks `<body data-hydrated>`: tests wait for it, and the stylesheet switches the log from
/// its no-script layout (which starts scrolled to the newest line) to the scripted one.
pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "");
    }
}
