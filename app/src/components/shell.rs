//! The document around the page, rendered on the server only (the browser hydrates the body):
//! the head with the title, the stylesheet and the scripts.

use super::{App, Shows, chat};
use crate::location::{Location, Page};
use crate::text::escaped;
use leptos::prelude::*;
use leptos_meta::HashedStylesheet;

/// The document's title as the server renders it (nothing is unread yet); a chat page keeps it
/// up to date in the browser. Decided from the address alone, like the page: leptos_meta's
/// `<Title>` would put leptos_meta in the wasm for this (the README's wasm levers).
fn title(page: Page) -> String {
    match Shows::of(page) {
        Shows::Chat(room) => chat::title(&room, Default::default()),
        Shows::NotARoom(_) => "No such room · Chat".to_owned(),
        Shows::NotFound => "Not found · Chat".to_owned(),
    }
}

/// The document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    crate::csp::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <meta
                    name="description"
                    content="A chat of rooms that updates itself: read along, and post under a name."
                />
                // Set whole, not as a child view: a type-erased child ends in a `<!>` marker,
                // which a title (text only) would show.
                <title inner_html=escaped(&title(Location::current().page)) />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HashedStylesheet options=options.clone() id="leptos" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_the_address_and_are_text() {
        let title = |path| title(Location::parse(path, None).page);
        assert_eq!(title("/"), "#general · Chat");
        assert_eq!(
            title("/r/DEV"),
            "#dev · Chat",
            "as the address it redirects to"
        );
        assert_eq!(title("/r/<b>"), "No such room · Chat");
        assert_eq!(title("/r/a/b"), "Not found · Chat");
        assert_eq!(escaped("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
