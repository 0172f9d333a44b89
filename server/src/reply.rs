//! Error answers from the server's own layers, in the API's JSON shape.

use app::error::{ApiError, ErrorKind};
use app::respond::plain_form_referer;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::server_fn::error::ServerFnUrlError;

/// `error`, as the sender can read it: a browser's plain form post to the server function at
/// `path` goes back to its page with the error in the URL, shown beside the form (as Leptos
/// does for the function's own errors); anyone else gets the JSON answer.
pub fn refuse(headers: &HeaderMap, path: &str, error: &ApiError) -> Response {
    let back = plain_form_referer(headers)
        .and_then(|page| ServerFnUrlError::new(path, error.clone()).to_url(page).ok());
    match back {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => self::error(error),
    }
}

/// `error` as a response: its status, the JSON body, and `Retry-After` when it has one.
pub fn error(error: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error.to_json(),
    )
        .into_response();
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// A bare error status from a tower layer (413, 503...) given the API's shape, so the page
/// and other clients read every failure alike.
pub fn explain(status: StatusCode) -> Option<ApiError> {
    Some(match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorKind::TooLarge, "The request is too large.")
        }
        StatusCode::SERVICE_UNAVAILABLE => ApiError::new(
            ErrorKind::Unavailable,
            "The chat is busy; please try again in a moment.",
        )
        .with_retry_after(1),
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::BAD_REQUEST => {
            ApiError::bad_request("The request could not be read.")
        }
        _ => return None,
    })
}
