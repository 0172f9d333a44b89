//! The page: the page a URL asks for, and the chat (the HTML around it is `shell`'s).

mod account;
mod chat;
mod compose;
mod history;
mod line_view;
mod rooms;
#[cfg(feature = "ssr")]
mod shell;

#[cfg(feature = "ssr")]
pub use shell::shell;

use crate::location::{Location, Page};
use crate::room::{Room, RoomPath};
use leptos::prelude::*;

/// The message of the error a plain form post to one of `paths` came back with, if the page
/// shows one.
#[cfg(feature = "ssr")]
fn form_error(paths: &[&str]) -> Option<String> {
    use crate::error::ApiError;
    use leptos::server::ServerActionError;
    use leptos::server_fn::error::ServerFnUrlError;
    let error = use_context::<ServerActionError>()?;
    paths
        .contains(&error.path())
        .then(|| ServerFnUrlError::<ApiError>::decode_err(error.err()).message)
}

/// Sets the status of the page being rendered (on the server; the browser has its page).
fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::StatusCode::from_u16(code),
    ) {
        response.set_status(status);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// The page a URL asks for. Rendered whole on the server (the server's routes render it
/// asynchronously), so it reads the same with JavaScript off.
#[component]
pub fn App() -> impl IntoView {
    let Location {
        page,
        before,
        form_error,
    } = Location::current();
    if let Some((path, err)) = form_error {
        provide_context(leptos::server::ServerActionError::new(&path, &err));
    }
    match Shows::of(page) {
        Shows::Chat(room) => view! { <chat::ChatPage room before /> }.into_any(),
        Shows::NotARoom(name) => view! { <NotARoom name /> }.into_any(),
        Shows::NotFound => view! { <NotFound /> }.into_any(),
    }
}

/// What a page shows: one home for it, read by the page and by its title.
enum Shows {
    Chat(Room),
    NotARoom(String),
    NotFound,
}

impl Shows {
    fn of(page: Page) -> Self {
        match page {
            Page::General => Self::Chat(Room::general()),
            // Names with capitals and `/r/general` were redirected by the server before this
            // renders; the browser reads the same address.
            Page::Room(name) => match RoomPath::of(&name) {
                RoomPath::Room(room) | RoomPath::Redirect(room) => Self::Chat(room),
                RoomPath::Invalid => Self::NotARoom(name),
            },
            Page::NotFound => Self::NotFound,
        }
    }
}

/// `html` on the server; nothing in the browser, which hydrates what the server rendered as
/// it is (`inner_html` is not set again on hydration). For markup that never changes once
/// rendered: none of it then weighs on the wasm.
fn server_rendered(html: impl FnOnce() -> String) -> String {
    #[cfg(feature = "ssr")]
    return html();
    #[cfg(not(feature = "ssr"))]
    {
        let _ = html;
        String::new()
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_status(404);
    let html = server_rendered(|| {
        r#"<p class="not-found">Page not found.</p><p><a href="/">Go to #general</a></p>"#.into()
    });
    view! { <main class="chat" inner_html=html /> }
}

/// The 404 page for a name that cannot be a room: it says what a room name may be.
#[component]
fn NotARoom(name: String) -> impl IntoView {
    set_status(404);
    let html = server_rendered(|| {
        format!(
            r#"<h1>No such room</h1><p class="not-found"><code>{}</code> is not a room name. {}</p><p><a href="/">Go to #general</a></p>"#,
            crate::text::escaped(&name),
            crate::room::ROOM_RULE
        )
    });
    view! { <main class="chat" inner_html=html /> }
}
