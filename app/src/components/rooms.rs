//! The room's heading, the recently active rooms, and a way to go to a room by name: links and
//! a plain GET form, so all of it works without JavaScript.

use crate::room::{MAX_ROOM_CHARS, Room, RoomActivity};
use leptos::prelude::*;

#[component]
pub fn RoomBar(room: Room, rooms: Vec<RoomActivity>) -> impl IntoView {
    let links = rooms
        .into_iter()
        .map(|active| {
            let current = (active.name == room).then_some("page");
            view! {
                <li>
                    <a href=active.name.path() aria-current=current>
                        {format!("#{}", active.name)}
                    </a>
                </li>
            }
        })
        .collect_view();
    view! {
        <header class="room-bar">
            <h1>{format!("#{room}")}</h1>
            <nav class="rooms" aria-label="Rooms">
                <ul>{links}</ul>
                <form class="go" method="get" action="/go">
                    <label for="go-room">"Room"</label>
                    <input
                        id="go-room"
                        name="room"
                        placeholder="room-name"
                        maxlength=MAX_ROOM_CHARS
                        autocomplete="off"
                        required
                    />
                    <button type="submit">"Go"</button>
                </form>
            </nav>
        </header>
    }
    .into_any()
}
