//! Scrolling back: "Show older lines" at the top of the log (a plain link to `?before=` without
//! JavaScript, so history pages can be shared), loading by itself near the top, and the way
//! back to the newest lines.

use crate::chat_log::ChatLog;
use crate::room::Room;
use leptos::html::Div;
use leptos::prelude::*;

/// Loading starts when the reader scrolls this close to the top.
pub const LOAD_NEAR_TOP_PX: i32 = 40;

/// Loads the page of history before the window's oldest line, keeping the reader's view still.
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))] // read by the browser half only
pub struct Older {
    room: StoredValue<Room>,
    log: RwSignal<ChatLog>,
    chatbox: NodeRef<Div>,
    loading: RwSignal<bool>,
    failed: RwSignal<Option<String>>,
}

impl Older {
    pub fn new(room: Room, log: RwSignal<ChatLog>, chatbox: NodeRef<Div>) -> Self {
        Self {
            room: StoredValue::new(room),
            log,
            chatbox,
            loading: RwSignal::new(false),
            failed: RwSignal::new(None),
        }
    }

    /// Loads the previous page, unless one is loading or there is none.
    pub fn load(self) {
        #[cfg(feature = "hydrate")]
        browser::load_older(self);
    }
}

thread_local! {
    /// "Show older lines" was just focused: the scroll that brought it into view is the
    /// focus's doing, not the reader's.
    static JUST_FOCUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the log's latest scroll came from focusing "Show older lines" (by keyboard), which
/// must not load history as a side effect; the next scroll is the reader's again.
pub fn scrolled_by_focus() -> bool {
    JUST_FOCUSED.with(|focused| focused.replace(false))
}

/// The top of the log: the way to older lines, or the beginning of the room.
pub fn top_of_log(room: Room, log: RwSignal<ChatLog>, older: Older) -> impl IntoView {
    move || {
        let room = room.clone();
        match log.with(|log| log.oldest().filter(|_| log.has_older())) {
            Some(oldest) => {
                let href = format!("{}?before={oldest}", room.path());
                view! {
                    <p class="log-top">
                        <a
                            class="show-older"
                            href=href
                            on:focus=move |_| {
                                JUST_FOCUSED.with(|focused| focused.set(true));
                                // Only the scroll the focus itself causes (its scroll event
                                // comes before the next frame): a focus that scrolls nothing
                                // must not swallow the reader's next scroll.
                                request_animation_frame(|| JUST_FOCUSED.with(|f| f.set(false)));
                            }
                            on:click=move |ev| {
                                ev.prevent_default();
                                // Followed, not just focused: the scrolls after it are the
                                // reader's (a click's focus would otherwise swallow one).
                                JUST_FOCUSED.with(|focused| focused.set(false));
                                older.load();
                            }
                        >
                            {move || if older.loading.get() { "Loading older lines…" } else { "Show older lines" }}
                        </a>
                        <span class="history-error" role="alert">{move || older.failed.get()}</span>
                    </p>
                }
                    .into_any()
            }
            None => view! { <p class="log-top beginning">{format!("This is the beginning of #{room}.")}</p> }.into_any(),
        }
    }
}

/// Below a page of history: back to the room's live page.
pub fn back_to_newest(room: &Room) -> impl IntoView + use<> {
    view! {
        <p class="log-bottom">
            <a class="back-to-newest" href=room.path()>
                "Back to the newest lines"
            </a>
        </p>
    }
}

/// Replaces the window with the newest lines, after reading far back.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
pub fn jump_to_newest(
    room: Room,
    log: RwSignal<ChatLog>,
    arrived_after: RwSignal<i64>,
    then: impl Fn() + 'static,
) {
    #[cfg(feature = "hydrate")]
    browser::jump_to_newest(room, log, arrived_after, then);
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::Older;
    use crate::api::{DEFAULT_LIMIT, lines_since};
    use crate::chat_log::ChatLog;
    use crate::room::Room;
    use leptos::prelude::*;

    /// Lines loaded per page of history.
    const PAGE: u32 = 50;

    pub fn load_older(older: Older) {
        let wanted = older
            .log
            .with_untracked(|log| log.oldest().filter(|_| log.has_older()));
        let Some(before) = wanted else {
            return;
        };
        if older.loading.get_untracked() {
            return;
        }
        older.loading.set(true);
        older.failed.set(None);
        let room = older.room.get_value();
        leptos::task::spawn_local(async move {
            let page = lines_since(
                room.field(),
                None,
                Some(before.to_string()),
                Some(PAGE.to_string()),
                None,
            )
            .await;
            match page {
                Ok(batch) => {
                    let complete = batch.lines.len() < PAGE as usize;
                    // Keep what the reader is looking at where it is: the new lines go above
                    // (and the newest may go from below), so the line that was first stays put.
                    let anchor = older.chatbox.get_untracked().and_then(|el| {
                        let first = el.query_selector(".line").ok()??;
                        let at = offset_in(&el, &first);
                        Some((el, first, at))
                    });
                    older.log.update(|log| log.prepend(batch, complete));
                    if let Some((el, first, at)) = anchor {
                        request_animation_frame(move || {
                            let moved = offset_in(&el, &first) - at;
                            el.set_scroll_top(el.scroll_top() + moved.round() as i32);
                        });
                    }
                }
                Err(err) => older.failed.set(Some(err.message)),
            }
            older.loading.set(false);
        });
    }

    /// Where `line` is, in pixels below the top of the scroll box `el`'s view.
    fn offset_in(el: &web_sys::HtmlDivElement, line: &web_sys::Element) -> f64 {
        line.get_bounding_client_rect().top() - el.get_bounding_client_rect().top()
    }

    pub fn jump_to_newest(
        room: Room,
        log: RwSignal<ChatLog>,
        arrived_after: RwSignal<i64>,
        then: impl Fn() + 'static,
    ) {
        let cursor = log.with_untracked(ChatLog::cursor);
        leptos::task::spawn_local(async move {
            let newest = lines_since(
                room.field(),
                None,
                Some(cursor.saturating_add(1).to_string()),
                Some(DEFAULT_LIMIT.to_string()),
                None,
            )
            .await;
            if let Ok(batch) = newest {
                let has_older = batch.lines.len() == DEFAULT_LIMIT as usize;
                log.update(|log| log.jump_to_newest(batch.lines, has_older));
                arrived_after.set(log.with_untracked(ChatLog::cursor));
                then();
            }
        });
    }
}
