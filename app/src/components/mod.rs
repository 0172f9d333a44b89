//! The page: the page a URL asks for, and the chat (the HTML around it is `shell`'s).

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
use crate::room::Room;
use leptos::prelude::*;

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
    match page {
        Page::General => view! { <chat::ChatPage room=Room::general() before /> }.into_any(),
        Page::Room(name) => view! { <chat::RoomPage name before /> }.into_any(),
        Page::NotFound => view! { <NotFound /> }.into_any(),
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_status(404);
    view! {
        <main class="chat">
            <p class="not-found">"Page not found."</p>
            <p>
                <a href="/">"Go to #general"</a>
            </p>
        </main>
    }
}
