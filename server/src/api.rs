//! The API's HTTP side: its contract (endpoints, fields, the body cap, a request read once),
//! the strict field check, the OpenAPI document, every error answer, and the polls answered
//! from memory. The server functions themselves are in `app::api`.

pub mod contract;
pub mod error_answers;
pub mod openapi;
pub mod polls_from_memory;
pub mod strict_fields;
