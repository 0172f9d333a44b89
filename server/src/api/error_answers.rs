//! Every error answer of the API, in one place: an [`ApiError`] becomes its status, the JSON
//! body and `Retry-After` here, whether a server function, a protective layer or a check of the
//! server's own raised it.

use super::contract::{ApiRequest, too_large};
use app::error::{ApiError, ErrorKind};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use leptos::server_fn::error::{SERVER_FN_ERROR_HEADER, ServerFnUrlError};

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

/// 405 for a method the endpoint does not take, naming the one it does.
pub fn wrong_method(allow: &Method) -> Response {
    let mut response = error(&ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!("This endpoint takes {allow} requests only."),
    ));
    if let Ok(allow) = HeaderValue::from_str(allow.as_str()) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

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

/// For a browser's plain HTML form post (JavaScript off), the page it came from: Leptos answers
/// such a post with a redirect back there, carrying any error in the URL.
pub fn plain_form_referer(headers: &HeaderMap) -> Option<&str> {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    accepts_html
        .then(|| headers.get(header::REFERER)?.to_str().ok())
        .flatten()
}

/// A plain form post comes back to its page with its error in the address (`__path`, `__err`),
/// built from the Referer, here and by Leptos. A page that already shows an error would carry
/// both, and show the first: so the Referer loses the earlier one before anything builds on it.
fn forget_earlier_form_error(headers: &mut HeaderMap) {
    let Some(referer) = headers.get(header::REFERER).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let Some((page, query)) = referer.split_once('?') else {
        return;
    };
    let is_form_error = |pair: &&str| {
        let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
        name == "__path" || name == "__err"
    };
    if !query.split('&').any(|pair| is_form_error(&pair)) {
        return;
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !is_form_error(pair))
        .collect();
    let clean = if kept.is_empty() {
        page.to_owned()
    } else {
        format!("{page}?{}", kept.join("&"))
    };
    if let Ok(clean) = HeaderValue::from_str(&clean) {
        headers.insert(header::REFERER, clean);
    }
}

/// The largest error body read back from a server function.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Gives every error answer of the API its status: a server function's error (which Leptos
/// sends as a 500 with the JSON body) by its kind, a layer's bare status (413, 503) by
/// [`explain`]. The page and static files keep their own answers.
pub async fn api_errors(mut request: Request, next: Next) -> Response {
    let api = !matches!(ApiRequest::read(&mut request), ApiRequest::Elsewhere);
    if api {
        forget_earlier_form_error(request.headers_mut());
    }
    let response = next.run(request).await;
    if !api || response.status().is_success() || response.status().is_redirection() {
        return response;
    }
    if response.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        let (parts, body) = response.into_parts();
        return match to_bytes(body, MAX_ERROR_BODY).await {
            Ok(bytes) => match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(err) => error(&err),
                Err(_) => Response::from_parts(parts, Body::from(bytes)),
            },
            Err(_) => error(&ApiError::new(
                ErrorKind::Internal,
                "Something went wrong on the server.",
            )),
        };
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    match explain(response.status()) {
        Some(err) if !is_json => error(&err),
        _ => response,
    }
}

/// A bare error status from a tower layer (413, 503...) given the API's shape, so the page
/// and other clients read every failure alike.
fn explain(status: StatusCode) -> Option<ApiError> {
    Some(match status {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_form_error_is_forgotten_and_the_rest_of_the_address_kept() {
        let clean = |referer: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::REFERER, HeaderValue::from_static(referer));
            forget_earlier_form_error(&mut headers);
            headers[header::REFERER].to_str().unwrap().to_owned()
        };
        assert_eq!(
            clean("http://h/r/dev?__path=%2Fapi%2Fsend&__err=x"),
            "http://h/r/dev"
        );
        assert_eq!(
            clean("http://h/?before=5&__err=x&__path=y"),
            "http://h/?before=5"
        );
        assert_eq!(clean("http://h/?before=5"), "http://h/?before=5");
        assert_eq!(clean("http://h/"), "http://h/");
    }
}
