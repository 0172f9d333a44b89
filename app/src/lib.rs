//! The chat page: shared types and validation, the server functions, and the components that
//! the server renders and the browser hydrates.

// Leptos views are deeply nested types; the page needs more than the default 128.
#![recursion_limit = "256"]

// Components must be type-erased in every build (why: .cargo/config.toml); flags set elsewhere
// can replace that file's silently, so refuse to build without it.
#[cfg(all(any(feature = "ssr", feature = "hydrate"), not(erase_components)))]
compile_error!("build with `--cfg erase_components` (.cargo/config.toml; .ci/leptos for the wasm)");

pub mod api;
pub mod change;
pub mod chat_log;
pub mod clock;
pub mod error;
pub mod identity;
pub mod line;
pub mod location;
pub mod outbox;
pub mod page_data;
pub mod percent;
pub mod room;
pub mod schedule;
pub mod screen_name;
pub mod text;

mod components;
mod poller;

#[cfg(feature = "ssr")]
pub mod csp;
#[cfg(feature = "ssr")]
pub mod feed;
#[cfg(feature = "ssr")]
pub mod store;

pub use components::App;
#[cfg(feature = "ssr")]
pub use components::shell;
