use super::compose::Compose;
use super::line_view::LineView;
use crate::api::{ChatSnapshot, SendLine, snapshot};
use crate::chat_log::ChatLog;
use crate::live::{Link, Poller, mark_hydrated};
use leptos::prelude::*;

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
                            view! { <p class="load-error" role="alert">{err.message}</p> }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn Chat(snapshot: ChatSnapshot) -> impl IntoView {
    let log = RwSignal::new(ChatLog::new(snapshot.lines));
    let link = RwSignal::new(Link::Live);
    let (local_time, show_local_time) = signal(false);
    let poller = Poller::new(log, link, snapshot.poll_ms);
    let send = ServerAction::<SendLine>::new();

    poller.start();
    Effect::new(move |_| {
        show_local_time.set(true);
        mark_hydrated();
    });
    // The page's own line shows at once; the poll that follows fills in anything before it.
    Effect::new(move |_| {
        if let Some(Ok(line)) = send.value().get() {
            log.update(|log| log.insert_own(line));
            poller.poll_now();
        }
    });

    view! {
        <div
            id="chatbox"
            role="log"
            aria-live="polite"
            aria-label="Chat messages"
            data-cursor=move || log.with(ChatLog::cursor)
        >
            <For
                each=move || log.with(|log| log.lines().to_vec())
                key=|line| line.id
                children=move |line| view! { <LineView line local_time /> }
            />
        </div>
        <p class="link-status" role="status" hidden=move || link.get() == Link::Live>
            "Reconnecting…"
        </p>
        <Compose send />
    }
}
