//! The page: the HTML shell, the router, and the chat.

mod chat;
mod compose;
mod line_view;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, Link, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::respond::set_page_policy();
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
                // Without JavaScript the page still updates itself: it reloads now and then (to
                // `/`, so an error shown after a plain form post is not shown again).
                <noscript>
                    <meta http-equiv="refresh" content="10; url=/" />
                </noscript>
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
                view! {
                    <Title text="Not found" />
                    <p class="not-found">"Page not found."</p>
                }
            }>
                // Async: the whole page, lines included, is in the first response, so it reads
                // the same with JavaScript off.
                <Route path=path!("/") view=chat::ChatPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
