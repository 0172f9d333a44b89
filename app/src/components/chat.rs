use super::compose::Compose;
use super::history::{self, Older};
use super::line_view::LineView;
use crate::api::{ChatSnapshot, SendLine, snapshot};
use crate::chat_log::ChatLog;
use crate::line::Line;
use crate::page_data;
use crate::poller::{Link, Poller, Unread, mark_hydrated};
use crate::room::Room;
use leptos::html::Div;
use leptos::prelude::*;

/// A room's page: its log and the form, rendered with its newest lines (or, with `?before=`,
/// the page of history before that line).
#[component]
pub fn ChatPage(room: Room, before: Option<String>) -> impl IntoView {
    let initial =
        OnceResource::<_, page_data::Json>::new_with_options(snapshot(room.field(), before), false);
    let heading = format!("#{room}");
    view! {
        <main class="chat">
            <Suspense fallback=move || view! { <h1>{heading.clone()}</h1> <p class="loading">"Loading the chat…"</p> }>
                {move || Suspend::new(async move {
                    match initial.await {
                        Ok(snapshot) => view! { <Chat snapshot /> }.into_any(),
                        Err(err) => {
                            // Never kept nor cached as the room's page.
                            super::set_status(err.kind.status());
                            view! {
                                <h1>"Chat"</h1>
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

/// The tab's title: the room, and the count of lines (and of mentions of the reader) that
/// arrived while it was hidden.
pub fn title(room: &Room, unread: Unread) -> String {
    match unread {
        Unread { lines: 0, .. } => format!("#{room} · Chat"),
        Unread { lines, mentions: 0 } => format!("({lines}) #{room} · Chat"),
        Unread { lines, mentions } => format!("({lines} · @{mentions}) #{room} · Chat"),
    }
}

#[component]
fn Chat(snapshot: ChatSnapshot) -> impl IntoView {
    // Which lines get Edit and Delete: on the server, those under the reader's names; in the
    // browser, those it posted since, or under the name it posts as (its own line may come
    // by the poll before the send's answer). The server decides, whatever the page offers.
    #[cfg(feature = "ssr")]
    let me = StoredValue::new(snapshot.me.clone());
    #[cfg(feature = "ssr")]
    let account = me.with_value(super::account::html);
    #[cfg(not(feature = "ssr"))]
    let account = super::account::html();
    let account = view! { <div class="account" inner_html=account /> }.into_any();
    let ChatSnapshot {
        room,
        lines,
        has_older,
        before,
        poll_ms,
        #[cfg(feature = "ssr")]
        rooms,
        screenname,
        ..
    } = snapshot;
    #[cfg(feature = "ssr")]
    let room_bar = super::rooms::html(&room, &rooms);
    #[cfg(not(feature = "ssr"))]
    let room_bar = String::new();
    // The reader's name: remembered by the server, then whatever they post as.
    let reader = RwSignal::new(screenname);
    let posted_here = StoredValue::new(Vec::<i64>::new());
    let mine = move |line: &Line| {
        #[cfg(feature = "ssr")]
        return me.with_value(|me| me.holds(&line.screenname));
        #[cfg(not(feature = "ssr"))]
        {
            posted_here.with_value(|ids| ids.contains(&line.id))
                || reader.with_untracked(|name| name.as_deref() == Some(&line.screenname))
        }
    };

    let log = RwSignal::new(ChatLog::new(lines, has_older));
    // Lines newer than this arrived while the page was open: only they are announced.
    let arrived_after = RwSignal::new(log.with_untracked(ChatLog::cursor));
    let link = RwSignal::new(Link::Live);
    let unread = RwSignal::new(Unread::default());
    let (local_time, show_local_time) = signal(false);
    let poller = Poller::new(room.clone(), log, link, unread, reader, poll_ms);
    let send = ServerAction::<SendLine>::new();
    // A page of history (`?before=`) stays as rendered: it does not poll.
    let live = before.is_none();

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
    let older = Older::new(room.clone(), log, chatbox);
    let on_scroll = move |_| {
        if let Some(el) = chatbox.get_untracked() {
            let bottom = el.scroll_height() - el.scroll_top() - el.client_height() <= 8;
            at_bottom.set_value(bottom);
            if bottom && log.with_untracked(ChatLog::is_following) {
                set_new_below.set(false);
            }
            // Not when the log scrolled because the keyboard reached "Show older lines": that
            // link loads history when it is followed, never as a side effect of a Tab.
            if el.scroll_top() <= history::LOAD_NEAR_TOP_PX && !history::scrolled_by_focus() {
                older.load();
            }
        }
    };
    let newest = {
        let room = room.clone();
        move |_| {
            if log.with_untracked(ChatLog::is_following) {
                scroll_down();
            } else {
                history::jump_to_newest(room.clone(), log, arrived_after, scroll_down);
            }
            set_new_below.set(false);
        }
    };

    if live {
        poller.start();
    }
    Effect::new(move |_| {
        show_local_time.set(true);
        mark_hydrated();
        scroll_down();
    });
    // New lines: follow them if the reader is at the bottom, otherwise offer to.
    Effect::new(move |before: Option<(i64, usize)>| {
        let now = log.with(|log| (log.lines().last().map_or(0, |line| line.id), log.missed()));
        if let Some(before) = before {
            let grew = now.0 > before.0 && log.with_untracked(ChatLog::is_following);
            if grew && at_bottom.get_value() {
                scroll_down();
            } else if grew || now.1 > before.1 {
                set_new_below.set(true);
            }
        }
        now
    });
    // The page's own line shows at once, in view; the poll that follows fills in anything
    // stored just before it.
    Effect::new(move |_| {
        if let Some(Ok(line)) = send.value().get() {
            at_bottom.set_value(true);
            reader.set(Some(line.screenname.clone()));
            posted_here.update_value(|ids| ids.push(line.id));
            log.update(|log| log.insert_own(line));
            poller.poll_now();
        }
    });

    let line_view = move |line: Line| {
        let mine = mine(&line);
        view! { <LineView line local_time reader mine /> }
    };
    let in_view = move |arrived: bool| {
        let after = arrived_after.get();
        log.with(|log| {
            log.lines()
                .iter()
                .filter(|line| (line.id > after) == arrived)
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    // The server rendered the title (the shell's, nothing unread); here it follows the count.
    Effect::new({
        let room = room.clone();
        move |_| document().set_title(&title(&room, unread.get()))
    });
    // Each part type-erased: one view type for the whole page is too deep for the compiler.
    let refresh = live
        .then(|| {
            // Without JavaScript a room's live page still updates itself: it reloads now and
            // then (to the room's own address, so an error shown after a plain form post goes).
            view! {
                <noscript>
                    <meta http-equiv="refresh" content=format!("10; url={}", room.path()) />
                </noscript>
            }
        })
        .into_any();
    let log_view = view! {
        <div class="log-frame">
            <div
                id="chatbox"
                node_ref=chatbox
                tabindex="0"
                role="region"
                aria-label="Chat messages"
                data-cursor=move || log.with(ChatLog::cursor)
                on:scroll=on_scroll
            >
                <div class="lines">
                    {history::top_of_log(room.clone(), log, older).into_any()}
                    // History (rendered with the page or loaded later) is not announced...
                    <div class="history">
                        <For
                            each=move || in_view(false)
                            key=|line| line.version()
                            children=line_view
                        />
                    </div>
                    // ...only lines that arrive while the page is open.
                    <div class="arrived" role="log" aria-live="polite" aria-label="New messages">
                        <For
                            each=move || in_view(true)
                            key=|line| line.version()
                            children=line_view
                        />
                    </div>
                    {(!live).then(|| history::back_to_newest(&room)).into_any()}
                </div>
            </div>
            <button
                type="button"
                class="new-messages"
                hidden=move || !new_below.get()
                on:click=newest
            >
                "New messages ↓"
            </button>
        </div>
    }
    .into_any();
    view! {
        {refresh}
        <a class="skip-link" href="#text">"Skip to the message field"</a>
        <header class="room-bar" inner_html=room_bar />
        {log_view}
        <p class="link-status" role="status" hidden=move || link.get() == Link::Live>
            "Reconnecting…"
        </p>
        <Compose send room reader />
        {account}
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_names_the_room_and_counts_unread_lines_and_mentions() {
        let dev = Room::parse("dev").unwrap();
        let unread = |lines, mentions| Unread { lines, mentions };
        assert_eq!(title(&Room::general(), unread(0, 0)), "#general · Chat");
        assert_eq!(title(&dev, unread(3, 0)), "(3) #dev · Chat");
        assert_eq!(title(&dev, unread(2, 1)), "(2 · @1) #dev · Chat");
    }
}
