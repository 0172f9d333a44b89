//! The API's fields, read strictly before the server functions see them: exactly the fields
//! each endpoint names, each at most once, form-encoded, with valid percent-encoding and UTF-8,
//! by the endpoint's one method. Anything else is a 4xx with a readable message, never a guess.
//! (What the values must be is checked by the server functions, with the rules in `app`.)

use crate::protect::MAX_BODY_BYTES;
use crate::reply;
use app::api::{LinesSince, Rooms, SendLine, Snapshot};
use app::error::{ApiError, ErrorKind};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use leptos::server_fn::ServerFn;
use std::collections::HashSet;

/// The poll's fields.
pub const POLL_FIELDS: &[&str] = &["room", "after", "before", "limit", "wait"];

/// An endpoint of the API: its one method and its fields (the public contract; see the README).
pub struct Endpoint {
    pub method: Method,
    pub fields: &'static [&'static str],
}

/// The endpoint at `path`, if there is one.
pub fn endpoint(path: &str) -> Option<Endpoint> {
    let (method, fields): (Method, &'static [&'static str]) = match path {
        p if p == LinesSince::PATH => (Method::GET, POLL_FIELDS),
        p if p == SendLine::PATH => (
            Method::POST,
            &["screenname", "text", "idempotency_key", "room"],
        ),
        p if p == Snapshot::PATH => (Method::GET, &["room", "before"]),
        p if p == Rooms::PATH => (Method::GET, &[]),
        crate::openapi::PATH => (Method::GET, &[]),
        _ => return None,
    };
    Some(Endpoint { method, fields })
}

pub async fn check(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some(endpoint) = endpoint(path) else {
        if path.starts_with("/api/") {
            return reply::error(&ApiError::new(
                ErrorKind::NotFound,
                "There is no such API endpoint; see /api/openapi.json.",
            ));
        }
        return next.run(request).await;
    };
    if *request.method() != endpoint.method {
        return reply::wrong_method(&endpoint.method);
    }
    let (path, headers) = (request.uri().path().to_owned(), request.headers().clone());
    let request = match checked(request, endpoint.fields).await {
        Ok(request) => request,
        Err(error) => return reply::refuse(&headers, &path, &error),
    };
    next.run(request).await
}

async fn checked(request: Request, fields: &[&str]) -> Result<Request, ApiError> {
    check_encoded(request.uri().query().unwrap_or("").as_bytes(), fields)?;
    if request.method() != Method::POST {
        return Ok(request);
    }
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(ApiError::bad_request(
            "Send the fields form-encoded (Content-Type: application/x-www-form-urlencoded).",
        ));
    }
    let (parts, body) = request.into_parts();
    // Bodies sent without a length are cut off here, at the same limit as the layer outside.
    let body = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::new(ErrorKind::TooLarge, "The request is too large."))?;
    check_encoded(&body, fields)?;
    Ok(Request::from_parts(parts, Body::from(body)))
}

/// Checks `a=1&b=2` against the endpoint's fields.
fn check_encoded(encoded: &[u8], fields: &[&str]) -> Result<(), ApiError> {
    decode_fields(encoded, fields).map(drop)
}

/// The fields of `a=1&b=2`, decoded, if they are the endpoint's, each at most once.
pub fn decode_fields(encoded: &[u8], fields: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    let mut seen = HashSet::new();
    let mut decoded = Vec::new();
    for pair in encoded
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let name = decode(name)?;
        let value = decode(value)?;
        if !fields.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Unknown field `{}`; this endpoint takes: {}.",
                name.escape_default(),
                if fields.is_empty() {
                    "nothing".to_owned()
                } else {
                    fields.join(", ")
                }
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(ApiError::bad_request(format!(
                "Field `{name}` is given more than once."
            )));
        }
        decoded.push((name, value));
    }
    Ok(decoded)
}

/// Form decoding, strictly: `+` is a space, `%` must start two hex digits, the result must be
/// UTF-8.
fn decode(encoded: &[u8]) -> Result<String, ApiError> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.iter();
    while let Some(&b) = rest.next() {
        bytes.push(match b {
            b'+' => b' ',
            b'%' => {
                let hex = |d: Option<&u8>| d.and_then(|d| (*d as char).to_digit(16));
                match (hex(rest.next()), hex(rest.next())) {
                    (Some(hi), Some(lo)) => (hi * 16 + lo) as u8,
                    _ => {
                        return Err(ApiError::bad_request(
                            "The request has malformed percent-encoding.",
                        ));
                    }
                }
            }
            b => b,
        });
    }
    String::from_utf8(bytes).map_err(|_| ApiError::bad_request("The request is not valid UTF-8."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: &[&str] = &["screenname", "text", "idempotency_key"];

    #[test]
    fn exactly_the_named_fields_once() {
        assert!(check_encoded(b"screenname=ann&text=hi+there", SEND).is_ok());
        assert!(check_encoded(b"", SEND).is_ok());
        let dup = check_encoded(b"text=a&text=b", SEND).unwrap_err();
        assert_eq!(dup.message, "Field `text` is given more than once.");
        let unknown = check_encoded(b"text=a&admin=1", SEND).unwrap_err();
        assert!(
            unknown.message.starts_with("Unknown field `admin`"),
            "{}",
            unknown.message
        );
    }

    #[test]
    fn encoding_is_strict() {
        assert_eq!(decode(b"a%20b+c%C3%A9").unwrap(), "a b cé");
        for bad in [&b"%"[..], b"%Z1", b"%4", b"%FF%FE", b"\xff"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
