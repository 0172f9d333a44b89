//! The page: the HTML shell, the router, and the chat.

mod chat;
mod compose;
mod history;
mod line_view;
mod rooms;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, Link, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

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

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Router>
            <Routes fallback=|| {
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
            }>
                // Async: the whole page, lines included, is in the first response, so it reads
                // the same with JavaScript off.
                <Route path=path!("/") view=chat::GeneralPage ssr=SsrMode::Async />
                <Route path=path!("/r/:name") view=chat::RoomPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
