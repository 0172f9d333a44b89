//! The page: the HTML shell, the page a URL asks for, and the chat.

mod chat;
mod compose;
mod history;
mod line_view;
mod rooms;

use crate::location::{Location, Page};
use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, Link, MetaTags, Title, provide_meta_context};

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

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::csp::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page a URL asks for. Rendered whole on the server (the server's routes render it
/// asynchronously), so it reads the same with JavaScript off.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let Location {
        page,
        before,
        form_error,
    } = Location::current();
    if let Some((path, err)) = form_error {
        provide_context(leptos::server::ServerActionError::new(&path, &err));
    }
    let page = match page {
        Page::General => {
            view! { <chat::ChatPage room=crate::room::Room::general() before /> }.into_any()
        }
        Page::Room(name) => view! { <chat::RoomPage name before /> }.into_any(),
        Page::NotFound => view! { <NotFound /> }.into_any(),
    };
    view! {
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        {page}
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_status(404);
    view! {
        <Title text="Not found · Chat" />
        <main class="chat">
            <p class="not-found">"Page not found."</p>
            <p>
                <a href="/">"Go to #general"</a>
            </p>
        </main>
    }
}
