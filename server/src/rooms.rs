//! Room addresses: each room has one URL. `/r/<Name>` redirects (308) to its lower-case form,
//! `/r/general` to `/`; `GET /go?room=<name>` is the page's "go to a room" form without
//! JavaScript. (Names that cannot be rooms are left to the page, which answers 404 and says
//! what a room name may be.)

use app::room::{Room, RoomPath};
use axum::extract::{Query, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub async fn canonical_paths(request: Request, next: Next) -> Response {
    let segment = request.uri().path().strip_prefix("/r/");
    let room = match segment.filter(|s| !s.contains('/')).map(RoomPath::of) {
        Some(RoomPath::Redirect(room)) => Some(room),
        Some(RoomPath::Room(room)) if room.is_general() => Some(room),
        _ => None,
    };
    if let Some(room) = room {
        let query = request
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        return Redirect::permanent(&format!("{}{query}", room.path())).into_response();
    }
    next.run(request).await
}

#[derive(Deserialize)]
pub struct Go {
    #[serde(default)]
    room: String,
}

/// The room asked for by name, lower-cased and trimmed as a person types it.
pub async fn go(Query(go): Query<Go>) -> Redirect {
    let name = go.room.trim().trim_start_matches('#').to_ascii_lowercase();
    let to = match Room::from_field(Some(&name)) {
        Ok(room) => room.path(),
        Err(_) => format!("/r/{}", percent_encode(&name)),
    };
    Redirect::to(&to)
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_encoded_for_the_path() {
        assert_eq!(super::percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
