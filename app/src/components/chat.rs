use super::compose::Compose;
use super::line_view::LineView;
use crate::api::{ChatSnapshot, SendLine, snapshot};
use crate::chat_log::ChatLog;
use crate::live::{Link, Poller, mark_hydrated};
use leptos::html::Div;
use leptos::prelude::*;
use leptos_meta::Title;

/// `/`: the log and the form, rendered with the newest lines.
#[component]
pub fn ChatPage() -> impl IntoView {
    let initial = OnceResource::new(snapshot());
    view! {
        <main class="chat">
            <h1>"Chat"</h1>
            <Suspense fallback=|| view! { <p class="loading">"Loading the chat…"</p> }>
                {move || Suspend::new(async move {
                    match initial.await {
                        Ok(snapshot) => view! { <Chat snapshot /> }.into_any(),
                        Err(err) => {
                            view! {
                                <Title text="Chat" />
                                <p class="load-error" role="alert">{err.message}</p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}

/// The tab's title: the count of lines that arrived while it was hidden, if any.
pub fn title(unread: usize) -> String {
    match unread {
        0 => "Chat".to_owned(),
        n => format!("({n}) Chat"),
    }
}

#[component]
fn Chat(snapshot: ChatSnapshot) -> impl IntoView {
    let log = RwSignal::new(ChatLog::new(snapshot.lines));
    let link = RwSignal::new(Link::Live);
    let unread = RwSignal::new(0);
    let (local_time, show_local_time) = signal(false);
    let poller = Poller::new(log, link, unread, snapshot.poll_ms);
    let send = ServerAction::<SendLine>::new();

    let chatbox = NodeRef::<Div>::new();
    // Whether the reader is at the newest line: only then do new lines scroll into view.
    let at_bottom = StoredValue::new(true);
    let (new_below, set_new_below) = signal(false);
    let scroll_down = move || {
        request_animation_frame(move || {
            if let Some(el) = chatbox.get_untracked() {
                el.set_scroll_top(el.scroll_height());
            }
        })
    };
    let on_scroll = move |_| {
        if let Some(el) = chatbox.get_untracked() {
            let bottom = el.scroll_height() - el.scroll_top() - el.client_height() <= 8;
            at_bottom.set_value(bottom);
            if bottom {
                set_new_below.set(false);
            }
        }
    };

    poller.start();
    Effect::new(move |_| {
        show_local_time.set(true);
        mark_hydrated();
        scroll_down();
    });
    // New lines: follow them if the reader is at the bottom, otherwise offer to.
    Effect::new(move |before: Option<i64>| {
        let newest = log.with(|log| log.lines().last().map_or(0, |line| line.id));
        if before.is_some_and(|before| newest > before) {
            if at_bottom.get_value() {
                scroll_down();
            } else {
                set_new_below.set(true);
            }
        }
        newest
    });
    // The page's own line shows at once, in view; the poll that follows fills in anything
    // stored just before it.
    Effect::new(move |_| {
        if let Some(Ok(line)) = send.value().get() {
            at_bottom.set_value(true);
            log.update(|log| log.insert_own(line));
            poller.poll_now();
        }
    });

    view! {
        <Title text=move || title(unread.get()) />
        <div class="log-frame">
            <div
                id="chatbox"
                node_ref=chatbox
                role="log"
                aria-live="polite"
                aria-label="Chat messages"
                tabindex="0"
                data-cursor=move || log.with(ChatLog::cursor)
                on:scroll=on_scroll
            >
                <div class="lines">
                    <For
                        each=move || log.with(|log| log.lines().to_vec())
                        key=|line| line.id
                        children=move |line| view! { <LineView line local_time /> }
                    />
                </div>
            </div>
            <button
                type="button"
                class="new-messages"
                hidden=move || !new_below.get()
                on:click=move |_| scroll_down()
            >
                "New messages ↓"
            </button>
        </div>
        <p class="link-status" role="status" hidden=move || link.get() == Link::Live>
            "Reconnecting…"
        </p>
        <Compose send />
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    #[test]
    fn title_counts_unread_lines() {
        assert_eq!(super::title(0), "Chat");
        assert_eq!(super::title(3), "(3) Chat");
    }
}
