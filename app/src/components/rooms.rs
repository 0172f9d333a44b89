//! The room's heading, the recently active rooms, and a way to go to a room by name: links and
//! a plain GET form, so all of it works without JavaScript. It never changes while the page is
//! open, so the server alone renders it, as HTML it writes (the browser hydrates it as it is):
//! none of it, nor the room list's reader, weighs on the wasm. Room names are `a-z`, `0-9` and
//! `-` only, so nothing in it needs escaping.

#[cfg(feature = "ssr")]
use crate::room::{MAX_ROOM_CHARS, Room, RoomActivity};

/// The bar's HTML, on the server (the browser keeps what the server rendered).
#[cfg(feature = "ssr")]
pub fn html(room: &Room, rooms: &[RoomActivity]) -> String {
    let links: String = rooms
        .iter()
        .map(|active| {
            let current = if active.name == *room {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(
                r##"<li><a href="{}"{current}>#{}</a></li>"##,
                active.name.path(),
                active.name
            )
        })
        .collect();
    format!(
        r#"<h1>#{room}</h1><nav class="rooms" aria-label="Rooms"><ul>{links}</ul><form class="go" method="get" action="/go"><label for="go-room">Room</label><input id="go-room" name="room" placeholder="room-name" maxlength="{MAX_ROOM_CHARS}" autocomplete="off" required><button type="submit">Go</button></form></nav>"#
    )
}
