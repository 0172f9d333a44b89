//! The HTTP edge: what every request passes through before the page or the API sees it.
//!
//! The layers, outside in (assembled by `router` in `lib.rs`; connections are accepted before
//! any of them, by [`connections`]):
//!
//! 1. [`security_headers`]: nosniff, referrer policy, no framing, a policy for what is not a page.
//! 2. [`observation`]: the request id, its log line and the request metrics.
//! 3. [`health`]: `/livez` and `/readyz`, ahead of every limit.
//! 4. [`allowed_hosts`]: 421 for a host name this server does not answer for.
//! 5. `api::polls_from_memory::empty`: the empty poll, answered here.
//! 6. [`cache_headers`]: `Cache-Control` and `Vary`.
//! 7. `api::error_answers::api_errors`: every API error in the API's shape.
//! 8. [`request_limits`]: time limit, in-flight caps (global and per client), body cap.
//! 9. Compression (tower-http), for pages and larger answers.
//! 10. `api::polls_from_memory::from_memory`: recent lines and held polls, from memory.
//! 11. [`room_paths`]: one address per room.
//! 12. [`cross_site`]: posts from other sites refused.
//! 13. `api::strict_fields`: exactly the fields an endpoint names.
//! 14. [`post_rate`]: posts per client address.
//! 15. `page_cache`: kept pages; then Leptos (the page and the server functions) and the
//!     static files.
//!
//! [`client_addr`] says who a request is from, for the limits and the request ids;
//! [`client_shares`] counts what each client holds at once.

pub mod allowed_hosts;
pub mod cache_headers;
pub mod client_addr;
pub mod client_shares;
pub mod connections;
pub mod cross_site;
pub mod health;
pub mod observation;
pub mod post_rate;
pub mod request_limits;
pub mod room_paths;
pub mod security_headers;
