//! The API's fields, read strictly before the server functions see them: exactly the fields
//! each endpoint names, each at most once, form-encoded, with valid percent-encoding and UTF-8,
//! by the endpoint's one method. Anything else is a 4xx with a readable message, never a guess.
//! (What the values must be is checked by the server functions, with the rules in `app`; a
//! poll's values are checked here too, as [`ApiRequest`] reads them once.)

use super::contract::{ApiRequest, Endpoint, Fields, MAX_BODY_BYTES, decode_fields, too_large};
use super::error_answers;
use app::error::{ApiError, ErrorKind};
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

pub async fn check(mut request: Request, next: Next) -> Response {
    let endpoint = match ApiRequest::read(&mut request) {
        ApiRequest::Elsewhere => return next.run(request).await,
        ApiRequest::Unknown => {
            return error_answers::error(&ApiError::new(
                ErrorKind::NotFound,
                "There is no such API endpoint; see /api/openapi.json.",
            ));
        }
        ApiRequest::WrongMethod(endpoint) => {
            return error_answers::wrong_method(&endpoint.method());
        }
        ApiRequest::Poll(Ok(_)) => return next.run(request).await,
        ApiRequest::Poll(Err(error)) => {
            let error = error.clone();
            return error_answers::refuse(request.headers(), Endpoint::Lines.path(), &error);
        }
        ApiRequest::Call(endpoint) => *endpoint,
    };
    let headers = request.headers().clone();
    match checked(request, endpoint).await {
        Ok(request) => next.run(request).await,
        Err(error) => error_answers::refuse(&headers, endpoint.path(), &error),
    }
}

async fn checked(request: Request, endpoint: Endpoint) -> Result<Request, ApiError> {
    let fields = endpoint.fields();
    decode_fields(request.uri().query().unwrap_or("").as_bytes(), fields)?;
    if endpoint.method() != Method::POST {
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
        .map_err(|_| too_large())?;
    let decoded = Fields(decode_fields(&body, fields)?);
    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(decoded);
    Ok(request)
}
