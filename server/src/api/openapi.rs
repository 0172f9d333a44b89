//! `GET /api/openapi.json`: the API as an OpenAPI 3.1 document, built from the code's own
//! pieces so it cannot drift: the bodies' schemas are derived from the API's types
//! (`utoipa::ToSchema` on `Batch`, `Line`, `ApiError`...), the paths, methods and fields come
//! from the table the server enforces ([`Endpoint`]), the statuses from [`ErrorKind`], and the
//! caps and rules from the constants the server checks them with.

use super::contract::{Endpoint, MAX_BODY_BYTES};
use app::api::{Batch, ChatSnapshot, DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECS, RoomList};
use app::error::{ApiError, ErrorKind};
use app::line::{Line, MAX_KEY_CHARS, MAX_SCREENNAME_CHARS, MAX_TEXT_CHARS};
use app::room::{MAX_ROOM_CHARS, ROOM_RULE, Room, RoomActivity};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathItem,
    PathsBuilder, Ref, Required, ResponseBuilder, ResponsesBuilder, Schema,
};

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("the document serialises")
});

pub async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// What an endpoint does, and the schema of its success; `None` for the document itself.
fn operation(endpoint: Endpoint) -> Option<(&'static str, &'static str)> {
    Some(match endpoint {
        Endpoint::Lines => (
            "The lines of a room after `after` (held up to `wait` seconds while there are none), or with `before`, the page of history before it.",
            "Batch",
        ),
        Endpoint::Send => (
            "Stores a line; answers with it once it is durably committed.",
            "Line",
        ),
        Endpoint::Snapshot => ("What a room's page is rendered with.", "ChatSnapshot"),
        Endpoint::Rooms => (
            "The recently active rooms, newest activity first.",
            "RoomList",
        ),
        Endpoint::OpenApi => return None,
    })
}

pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for endpoint in Endpoint::ALL {
        let Some((summary, answer)) = operation(endpoint) else {
            continue;
        };
        let mut operation = OperationBuilder::new()
            .summary(Some(summary))
            .responses(responses(answer));
        if endpoint.method() == Method::POST {
            operation = operation.request_body(Some(
                RequestBodyBuilder::new()
                    .content(
                        "application/x-www-form-urlencoded",
                        ContentBuilder::new()
                            .schema(Some(form(endpoint.fields())))
                            .build(),
                    )
                    .required(Some(Required::True))
                    .build(),
            ));
        } else {
            for name in endpoint.fields() {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(*name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .schema(Some(field(name))),
                );
            }
        }
        let method = if endpoint.method() == Method::POST {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        };
        paths = paths.path(endpoint.path(), PathItem::new(method, operation));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Chat")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A chat of rooms: held polls for new lines, history, posts. Every error \
                     answers with an `ApiError` and the status of its `kind`.",
                )),
        )
        .paths(paths)
        .components(Some(
            ComponentsBuilder::new()
                .schema_from::<Batch>()
                .schema_from::<Line>()
                .schema_from::<ApiError>()
                .schema_from::<ChatSnapshot>()
                .schema_from::<RoomList>()
                .schema_from::<RoomActivity>()
                .schema_from::<Room>()
                .schema_from::<ErrorKind>()
                .build(),
        ))
        .build()
}

/// The error kinds an endpoint may answer with, and what each means there.
fn errors() -> [(ErrorKind, String); 9] {
    [
        (ErrorKind::BadRequest, "Invalid or malformed input.".into()),
        (ErrorKind::Forbidden, "A post from another site.".into()),
        (
            ErrorKind::MethodNotAllowed,
            "Another method; `Allow` names it.".into(),
        ),
        (
            ErrorKind::TooLarge,
            format!("The body is over {} KiB.", MAX_BODY_BYTES / 1024),
        ),
        (
            ErrorKind::RequestTimeout,
            "A body that did not arrive within the request's time limit.".into(),
        ),
        (
            ErrorKind::MisdirectedRequest,
            "A host name this server does not answer for.".into(),
        ),
        (
            ErrorKind::Conflict,
            "An idempotency key reused for a different line.".into(),
        ),
        (
            ErrorKind::RateLimited,
            "Too fast, or too many requests at once; `Retry-After` says when to retry.".into(),
        ),
        (
            ErrorKind::Unavailable,
            "Storage failing or the server overloaded; `Retry-After` says when to retry.".into(),
        ),
    ]
}

/// A success with `answer`, and every error status an endpoint may give, with `ApiError`.
fn responses(answer: &str) -> ResponsesBuilder {
    let json = |schema: &str| {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(schema)))
            .build()
    };
    let mut responses = ResponsesBuilder::new().response(
        "200",
        ResponseBuilder::new()
            .description("Done.")
            .content("application/json", json(answer)),
    );
    for (kind, why) in errors() {
        responses = responses.response(
            kind.status().to_string(),
            ResponseBuilder::new()
                .description(why)
                .content("application/json", json("ApiError")),
        );
    }
    responses
}

/// The schema of a form body with `fields`; `screenname` and `text` required.
fn form(fields: &[&str]) -> Schema {
    let mut object = ObjectBuilder::new();
    for name in fields {
        object = object.property(*name, field(name));
    }
    object
        .required("screenname")
        .required("text")
        .build()
        .into()
}

/// What a field holds, by the API's rules (the server checks them; see `app`).
fn field(name: &str) -> Schema {
    let text = |max: usize, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .description(Some(description))
            .build()
    };
    let whole = |description: String| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .description(Some(description))
            .build()
    };
    let object = match name {
        "room" => text(
            MAX_ROOM_CHARS,
            &format!("{ROOM_RULE} Absent or empty: `general`."),
        ),
        "after" => whole("The newest line id the client has; lines after it. Default 0.".into()),
        "before" => whole("History: the lines just older than this id. Not with `after`.".into()),
        "limit" => whole(format!(
            "At most this many lines (at least 1); default {DEFAULT_LIMIT}, larger served as {MAX_LIMIT}."
        )),
        "wait" => whole(format!(
            "Seconds to hold the poll while there is nothing newer; larger served as {MAX_WAIT_SECS}."
        )),
        "screenname" => text(
            MAX_SCREENNAME_CHARS,
            &format!(
                "1 to {MAX_SCREENNAME_CHARS} characters after trimming; no control or invisible characters."
            ),
        ),
        "text" => text(
            MAX_TEXT_CHARS,
            &format!("1 to {MAX_TEXT_CHARS} characters after trimming; one line."),
        ),
        "idempotency_key" => text(
            MAX_KEY_CHARS,
            &format!("1 to {MAX_KEY_CHARS} of A-Z a-z 0-9 _ -: a retry with it stores once."),
        ),
        _ => ObjectBuilder::new().schema_type(Type::String).build(),
    };
    object.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_and_field_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
        let lines = &doc["paths"]["/api/lines"]["get"];
        let params: Vec<_> = lines["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(params, ["room", "after", "before", "limit", "wait"]);
        let send = &doc["paths"]["/api/send"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"];
        assert!(send["properties"]["idempotency_key"].is_object());
        // Every schema referred to is in the document.
        let text = DOCUMENT.as_str();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{name} is referred to"
            );
        }
        for schema in ["Batch", "Line", "ApiError", "ChatSnapshot", "RoomList"] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        assert!(
            doc["paths"]["/api/send"]["get"].is_null(),
            "one method per endpoint"
        );
    }
}
