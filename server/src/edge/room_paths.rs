//! Room addresses: each room has one URL. `/r/<Name>` redirects (308) to its lower-case form,
//! any other spelling of it (`/r/de%76`) to it, `/r/general` to `/`; `GET /go?room=<name>` is the page's "go to a room" form without
//! JavaScript. (Names that cannot be rooms are left to the page, which answers 404 and says
//! what a room name may be.)

use app::location::{Location, Page};
use app::room::{Room, RoomPath};
use axum::extract::{Query, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Read as the page reads its address (`app::location`), so that `/r/DE%56` goes to `/r/dev`
/// as `/r/DEV` does.
pub async fn canonical_paths(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let room = match Location::parse(path, None).page {
        Page::Room(name) => match RoomPath::of(&name) {
            RoomPath::Redirect(room) => Some(room),
            // Any other spelling of the room's path (`/r/de%76`, `/`'s `/r/general`) too.
            RoomPath::Room(room) if room.path() != path => Some(room),
            _ => None,
        },
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
        Err(_) => format!("/r/{}", app::percent::encode(&name)),
    };
    Redirect::to(&to)
}
