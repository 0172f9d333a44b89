//! Keeping the page live in the browser: the held poll and its watchdog timer, the tab's
//! visibility, the network coming back, and what is done with each answer. The rules are in
//! [`Schedule`](crate::schedule::Schedule); this is the wiring. Everything that touches the
//! browser is in the `browser` module; on the server the same calls do nothing (effects never
//! run there).

use crate::chat_log::ChatLog;
use crate::room::Room;
use crate::schedule::Schedule;
use leptos::prelude::*;

/// Whether the page is in touch with the server, as shown to the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // only the browser reconnects
pub enum Link {
    Live,
    Reconnecting,
}

/// What arrived while the tab was hidden: lines, and those that mention the reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    pub lines: usize,
    pub mentions: usize,
}

/// The page's poller. `Copy`, so event handlers and effects can hold it.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // read by the browser half only
pub struct Poller {
    room: StoredValue<Room>,
    log: RwSignal<ChatLog>,
    link: RwSignal<Link>,
    /// What arrived while the tab was hidden.
    unread: RwSignal<Unread>,
    /// The reader's screen name, for counting mentions.
    reader: RwSignal<Option<String>>,
    schedule: StoredValue<Schedule>,
    poll_ms: u32,
}

impl Poller {
    pub fn new(
        room: Room,
        log: RwSignal<ChatLog>,
        link: RwSignal<Link>,
        unread: RwSignal<Unread>,
        reader: RwSignal<Option<String>>,
        poll_ms: u32,
    ) -> Self {
        Self {
            room: StoredValue::new(room),
            log,
            link,
            unread,
            reader,
            schedule: StoredValue::new(Schedule::new(poll_ms)),
            poll_ms,
        }
    }

    /// Starts polling once the page is hydrated: at once (to catch up on lines stored since the
    /// page was rendered, then to hold the next poll), with the timer as watchdog. Timers and
    /// listeners go with the component.
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        browser::start(self);
    }

    /// Polls now, or right after the poll in flight.
    pub fn poll_now(self) {
        #[cfg(feature = "hydrate")]
        browser::poll_now(self);
    }
}

/// Marks `<body data-hydrated>`: tests wait for it, and the stylesheet switches the log from
/// its no-script layout (which starts scrolled to the newest line) to the scripted one.
pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    browser::mark_hydrated();
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{Link, Poller, Unread};
    use crate::api::{DEFAULT_LIMIT, lines_since};
    use crate::chat_log::ChatLog;
    use crate::error::{ApiError, ErrorKind};
    use crate::schedule::Schedule;
    use futures::future::{Either, select};
    use gloo_timers::callback::Interval;
    use gloo_timers::future::TimeoutFuture;
    use leptos::ev::{online, visibilitychange};
    use leptos::prelude::*;
    use send_wrapper::SendWrapper;

    pub fn start(poller: Poller) {
        Effect::new(move |_| {
            poll_now(poller);
            let interval = SendWrapper::new(Interval::new(poller.poll_ms, move || tick(poller)));
            let shown = window_event_listener(visibilitychange, move |_| {
                if !document().hidden() {
                    poller.unread.set(Unread::default());
                    poll_now(poller);
                }
            });
            let back_online = window_event_listener(online, move |_| poll_now(poller));
            on_cleanup(move || {
                drop(interval);
                shown.remove();
                back_online.remove();
            });
        });
    }

    pub fn poll_now(poller: Poller) {
        let now = js_sys::Date::now();
        if poller.schedule.try_update_value(|s| s.poll_now(now)) == Some(true) {
            leptos::task::spawn_local(run(poller));
        }
    }

    fn tick(poller: Poller) {
        let (now, hidden) = (js_sys::Date::now(), document().hidden());
        if poller.schedule.try_update_value(|s| s.tick(now, hidden)) == Some(true) {
            leptos::task::spawn_local(run(poller));
        }
    }

    /// Polls while the schedule says so: held while the tab is visible, again at once after a
    /// full batch; stops at a failure (the timer resumes after the backoff).
    async fn run(poller: Poller) {
        loop {
            let Some(after) = poller.log.try_with_untracked(ChatLog::cursor) else {
                return; // the page is gone
            };
            let Some(room) = poller.room.try_get_value() else {
                return;
            };
            let hidden = document().hidden();
            let Some(wait) = poller.schedule.try_with_value(|s| s.wait_secs(hidden)) else {
                return;
            };
            let poll = lines_since(
                room.field(),
                Some(after.to_string()),
                None,
                None,
                (wait > 0).then(|| wait.to_string()),
            );
            match with_deadline(poll, Schedule::deadline_ms(wait)).await {
                Ok(batch) => {
                    let count = batch.lines.len();
                    let full = count >= DEFAULT_LIMIT as usize;
                    let hidden = document().hidden();
                    let mentioned = poller.reader.with_untracked(|name| {
                        let name = name.as_deref().unwrap_or_default();
                        batch
                            .lines
                            .iter()
                            .filter(|line| {
                                line.id > after && crate::text::mentions(&line.text, name)
                            })
                            .count()
                    });
                    let added = poller.log.try_update(|log| log.apply(batch)).unwrap_or(0);
                    if added > 0 && hidden {
                        poller.unread.update(|unread| {
                            unread.lines += added;
                            unread.mentions += mentioned;
                        });
                    }
                    if poller.link.get_untracked() != Link::Live {
                        poller.link.set(Link::Live);
                    }
                    let now = js_sys::Date::now();
                    let again = poller
                        .schedule
                        .try_update_value(|s| s.succeeded(now, count, full, hidden));
                    if again != Some(true) {
                        return;
                    }
                }
                Err(err) => {
                    let (now, jitter) = (js_sys::Date::now(), js_sys::Math::random());
                    poller
                        .schedule
                        .try_update_value(|s| s.failed(now, err.retry_after_ms(), jitter));
                    poller.link.try_set(Link::Reconnecting);
                    return;
                }
            }
        }
    }

    /// A poll that has not answered by `deadline_ms` is given up as failed: a connection that
    /// died silently must not hold the one poll in flight for ever.
    async fn with_deadline<T>(
        poll: impl std::future::Future<Output = Result<T, ApiError>>,
        deadline_ms: u32,
    ) -> Result<T, ApiError> {
        let deadline = TimeoutFuture::new(deadline_ms);
        match select(std::pin::pin!(poll), deadline).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => Err(ApiError::new(
                ErrorKind::Network,
                "The chat server did not answer in time.",
            )),
        }
    }

    pub fn mark_hydrated() {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "");
        }
    }
}
