//! The one error type every server function answers with, and its HTTP status.
//!
//! On the wire it is `{"kind":"bad_request","message":"Message is empty."}`: a readable message
//! for people and a stable kind for programs. The server's middleware (body limits, rate limits,
//! load shedding) answers in the same shape, so the page can read every failure alike.

use crate::line::LineError;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What went wrong, coarsely: each kind has one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request was malformed or invalid: 400.
    BadRequest,
    /// The request body was too large: 413.
    TooLarge,
    /// The same idempotency key was sent with a different line: 422.
    Conflict,
    /// The request is refused, e.g. a post from another site: 403.
    Forbidden,
    /// No such endpoint, or no such line: 404.
    NotFound,
    /// The screen name is held by someone else: 403.
    NameTaken,
    /// A sign-in's name and password do not match: 403.
    BadCredentials,
    /// The line is too old to edit: 403.
    EditWindowClosed,
    /// What the request refers to was deleted (a retried send of a deleted line): 410.
    Gone,
    /// The endpoint does not take this method: 405 (with `Allow`).
    MethodNotAllowed,
    /// The request names a host this server does not answer for: 421.
    MisdirectedRequest,
    /// The request's body did not arrive in time: 408.
    RequestTimeout,
    /// The sender posts too fast: 429.
    RateLimited,
    /// Storage or capacity is temporarily short: 503, try again later.
    Unavailable,
    /// A post's commit was sent but its outcome is unknown: 503; a retry with the same
    /// idempotency key finds out.
    OutcomeUnknown,
    /// The server could not be reached or answered something unreadable (client side only).
    Network,
    /// A bug on the server: 500.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::TooLarge => 413,
            ErrorKind::Conflict => 422,
            ErrorKind::Forbidden
            | ErrorKind::NameTaken
            | ErrorKind::BadCredentials
            | ErrorKind::EditWindowClosed => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Gone => 410,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::MisdirectedRequest => 421,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::RateLimited => 429,
            ErrorKind::Unavailable | ErrorKind::OutcomeUnknown => 503,
            ErrorKind::Network | ErrorKind::Internal => 500,
        }
    }

    /// Whether repeating the same request later may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::RequestTimeout
                | ErrorKind::Unavailable
                | ErrorKind::OutcomeUnknown
                | ErrorKind::Network
                | ErrorKind::Internal
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// Seconds to wait before trying again, when the server knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The server's requested wait, in milliseconds.
    pub fn retry_after_ms(&self) -> Option<f64> {
        self.retry_after.map(|seconds| f64::from(seconds) * 1000.0)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.message.clone())
    }
}

impl From<LineError> for ApiError {
    fn from(err: LineError) -> Self {
        Self::bad_request(err.to_string())
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(err: ServerFnErrorErr) -> Self {
        let kind = match &err {
            // On the server these mean the request's arguments could not be read.
            #[cfg(feature = "ssr")]
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => ErrorKind::BadRequest,
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ErrorKind::Network,
            // In the browser an unreadable answer is as good as none.
            #[cfg(not(feature = "ssr"))]
            ServerFnErrorErr::Deserialization(_) => ErrorKind::Network,
            _ => ErrorKind::Internal,
        };
        let message = match kind {
            ErrorKind::BadRequest => format!("Invalid request: {}", detail(&err)),
            ErrorKind::Network => "Could not reach the chat server.".to_owned(),
            _ => "Something went wrong on the server.".to_owned(),
        };
        Self::new(kind, message)
    }
}

/// The inner text of a framework error, without its Rust-flavoured prefix.
fn detail(err: &ServerFnErrorErr) -> &str {
    match err {
        ServerFnErrorErr::Args(s)
        | ServerFnErrorErr::MissingArg(s)
        | ServerFnErrorErr::Deserialization(s)
        | ServerFnErrorErr::Serialization(s)
        | ServerFnErrorErr::Request(s)
        | ServerFnErrorErr::Response(s)
        | ServerFnErrorErr::ServerError(s)
        | ServerFnErrorErr::MiddlewareError(s)
        | ServerFnErrorErr::Registration(s)
        | ServerFnErrorErr::UnsupportedRequestMethod(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_kind_and_message() {
        let err = ApiError::bad_request("Message is empty.");
        assert_eq!(
            err.to_json(),
            r#"{"kind":"bad_request","message":"Message is empty."}"#
        );
        let busy = ApiError::new(ErrorKind::Unavailable, "busy").with_retry_after(2);
        let back: ApiError = serde_json::from_str(&busy.to_json()).unwrap();
        assert_eq!(back, busy);
    }

    #[test]
    fn validation_errors_are_bad_requests() {
        let err: ApiError = LineError::Empty(crate::line::Field::Text).into();
        assert_eq!(err.kind.status(), 400);
        assert_eq!(err.message, "Message is empty.");
    }
}
