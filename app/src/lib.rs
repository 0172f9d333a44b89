//! The chat page: shared types and validation, the server functions, and the components that
//! the server renders and the browser hydrates.

pub mod api;
pub mod chat_log;
pub mod clock;
pub mod error;
pub mod line;
pub mod schedule;

mod components;
mod live;

#[cfg(feature = "ssr")]
pub mod backend;
#[cfg(feature = "ssr")]
pub mod respond;

pub use components::{App, shell};
