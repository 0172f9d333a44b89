//! `GET /api/openapi.json`: the API as an OpenAPI 3.1 document, built from the code's own
//! pieces so it cannot drift: the bodies' schemas are derived from the API's types
//! (`utoipa::ToSchema` on `Batch`, `Line`, `ApiError`...), the paths, methods and fields come
//! from the table the server enforces ([`Endpoint`]), the statuses from [`ErrorKind`], and the
//! caps and rules from the constants the server checks them with.

use super::contract::{Endpoint, MAX_BODY_BYTES};
use app::api::{Batch, ChatSnapshot, DEFAULT_LIMIT, MAX_LIMIT, MAX_WAIT_SECS, RoomList};
use app::change::{Change, ChangeKind};
use app::error::{ApiError, ErrorKind};
use app::identity::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, Me};
use app::line::{BLANK, FORMAT, Line, MAX_KEY_CHARS, MAX_SCREENNAME_CHARS, MAX_TEXT_CHARS};
use app::room::{MAX_ROOM_CHARS, ROOM_RULE, Room, RoomActivity};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
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
        Endpoint::Edit => (
            "Replaces the text of a line the request's identity sent, within the edit window; answers with the change (a retry with the same `idempotency_key` answers with the first change).",
            "Change",
        ),
        Endpoint::Delete => (
            "Deletes a line the request's identity sent (any line, for a moderator): its text and name are erased; answers with the change (the first deletion, for a deleted line).",
            "Change",
        ),
        Endpoint::Me => (
            "The names the request's identity (`chat_identity` cookie) holds; empty without one.",
            "Me",
        ),
        Endpoint::Password => (
            "Sets the password of every name the request's identity holds (403 without one).",
            "Me",
        ),
        Endpoint::SignIn => (
            "Gives this browser the identity that holds `screenname`, with its password (sets `chat_identity`).",
            "Me",
        ),
        Endpoint::SignOut => (
            "Forgets this browser's identity secret and clears `chat_identity`; its names stay held.",
            "Me",
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
                        ContentBuilder::new().schema(Some(form(endpoint))).build(),
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
                .schema_from::<Change>()
                .schema_from::<ChangeKind>()
                .schema_from::<Me>()
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
fn errors() -> [(ErrorKind, String); 14] {
    [
        (ErrorKind::BadRequest, "Invalid or malformed input.".into()),
        (
            ErrorKind::Forbidden,
            "A post from another site (`forbidden`); a change of a line that is not the \
             identity's, or a password without a held name (`forbidden`)."
                .into(),
        ),
        (
            ErrorKind::NameTaken,
            "`name_taken`: the screen name is held by another identity.".into(),
        ),
        (
            ErrorKind::BadCredentials,
            "`bad_credentials`: the name and password of a sign-in do not match.".into(),
        ),
        (
            ErrorKind::EditWindowClosed,
            "`edit_window_closed`: the line is older than the edit window.".into(),
        ),
        (
            ErrorKind::NotFound,
            "No such line, or it was deleted.".into(),
        ),
        (
            ErrorKind::Gone,
            "The line sent with this `idempotency_key` was deleted since.".into(),
        ),
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
            "Storage failing or the server overloaded (`unavailable`: not stored), or a post's \
             outcome unknown (`outcome_unknown`: retry with the same key); `Retry-After` says \
             when to retry."
                .into(),
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
    // Several kinds share a status (403): one response each, saying every kind.
    let mut by_status: Vec<(u16, Vec<String>)> = Vec::new();
    for (kind, why) in errors() {
        match by_status.iter_mut().find(|(s, _)| *s == kind.status()) {
            Some((_, whys)) => whys.push(why),
            None => by_status.push((kind.status(), vec![why])),
        }
    }
    for (status, whys) in by_status {
        responses = responses.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(whys.join(" "))
                .content("application/json", json("ApiError")),
        );
    }
    responses
}

/// The schema of the form body of `endpoint`.
fn form(endpoint: Endpoint) -> Schema {
    let mut object = ObjectBuilder::new();
    for name in endpoint.fields() {
        object = object.property(*name, field(name));
    }
    for name in endpoint.required() {
        object = object.required(*name);
    }
    // Exactly these fields: the strict field check refuses any other.
    object
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
        .into()
}

/// A regular expression's character class of `ranges` (those of the Basic Multilingual
/// Plane: `\u` escapes, which every JSON Schema validator reads, name no other).
fn class(ranges: &[(char, char)]) -> String {
    ranges
        .iter()
        .filter(|(_, last)| u32::from(*last) <= 0xFFFF)
        .map(|&(first, last)| {
            let at = |c: char| format!("\\u{:04x}", u32::from(c));
            if first == last {
                at(first)
            } else {
                format!("{}-{}", at(first), at(last))
            }
        })
        .collect()
}

/// The patterns of a screen name and a message, by the rules of `app::line`: no control
/// character or line break, no white space at either end, a visible first character, and for a
/// name no invisible, format or blank-looking character at all. (Lengths are counted after
/// NFC, which no pattern can say.)
fn line_patterns() -> (String, String) {
    let control = "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029";
    let (blank, format) = (class(BLANK), class(FORMAT));
    let name_char = format!("[^\\s{control}{blank}{format}]");
    let name = format!("^{name_char}(?:[^{control}{blank}{format}]*{name_char})?$");
    let text = format!("^[^\\s{control}{blank}](?:[^{control}]*[^\\s{control}])?$");
    (name, text)
}

/// What a field holds, by the API's rules (the server checks them; see `app`).
fn field(name: &str) -> Schema {
    let text = |max: usize, description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .description(Some(description))
    };
    let line = |max: usize, pattern: String, description: String| {
        text(max, &description)
            .min_length(Some(1))
            .pattern(Some(pattern))
            .build()
    };
    let whole = |least: i32, description: String| {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(least))
            .description(Some(description))
            .build()
    };
    let object = match name {
        "room" => text(
            MAX_ROOM_CHARS,
            &format!("{ROOM_RULE} Absent or empty: `general`."),
        )
        .pattern(Some(format!(
            "^(?:[a-z0-9](?:[a-z0-9-]{{0,{}}}[a-z0-9])?)?$",
            MAX_ROOM_CHARS - 2
        )))
        .build(),
        "after" => whole(
            0,
            "The newest line id the client has; lines after it. Default 0.".into(),
        ),
        "before" => whole(
            0,
            "History: the lines just older than this id. Not with `after`, nor `wait`.".into(),
        ),
        "limit" => whole(
            1,
            format!(
                "At most this many lines (at least 1); default {DEFAULT_LIMIT}, larger served as {MAX_LIMIT}."
            ),
        ),
        "wait" => whole(
            0,
            format!(
                "Seconds to hold the poll while there is nothing newer; larger served as {MAX_WAIT_SECS}."
            ),
        ),
        "screenname" => line(
            MAX_SCREENNAME_CHARS,
            line_patterns().0,
            format!(
                "1 to {MAX_SCREENNAME_CHARS} characters (after trimming, in NFC); no control, \
                 invisible, format or blank-looking characters."
            ),
        ),
        "text" => line(
            MAX_TEXT_CHARS,
            line_patterns().1,
            format!(
                "1 to {MAX_TEXT_CHARS} characters (after trimming, in NFC); one line, not blank."
            ),
        ),
        "id" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(i64::MAX))
            .description(Some("The id of a line."))
            .build(),
        "password" => text(
            MAX_PASSWORD_CHARS,
            &format!("{MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters."),
        )
        .min_length(Some(MIN_PASSWORD_CHARS))
        .build(),
        "idempotency_key" => text(
            MAX_KEY_CHARS,
            &format!("1 to {MAX_KEY_CHARS} of A-Z a-z 0-9 _ -: a retry with it stores once."),
        )
        .pattern(Some(format!("^[A-Za-z0-9_-]{{1,{MAX_KEY_CHARS}}}$")))
        .build(),
        _ => ObjectBuilder::new().schema_type(Type::String).build(),
    };
    object.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::line::{check_screenname, check_text};

    #[test]
    fn the_line_patterns_hold_only_what_the_server_takes() {
        let (name, text) = line_patterns();
        let name = regex::Regex::new(&name).unwrap();
        let text = regex::Regex::new(&text).unwrap();
        for ok in ["ann", "Ann Smith", "😀", "ann_1", "Zoë", "אנה"] {
            assert!(name.is_match(ok) && text.is_match(ok), "{ok}");
        }
        assert!(text.is_match("I \u{2764}\u{FE0F} it, a\u{200D}b"));
        for refused in [
            "",
            " ann",
            "ann ",
            "ann\u{AD}",
            "\u{3164}",
            "a\u{2800}b",
            "a\u{200B}",
            "a\nb",
            "a\u{7}b",
            "a\u{600}b",
            "\u{2800}",
        ] {
            assert!(!name.is_match(refused), "{refused:?}");
            assert!(
                check_screenname(refused).is_err() || refused.trim() != refused,
                "{refused:?}"
            );
        }
        for refused in [
            "",
            " hi",
            "\u{3164}",
            "\u{2800}\u{2800}",
            "a\nb",
            "a\u{7f}b",
        ] {
            assert!(!text.is_match(refused), "{refused:?}");
        }
        // Whatever a pattern holds, the server takes (samples from every class above).
        let samples = [
            "a",
            "a b",
            "a\u{3000}b",
            "\u{2764}\u{FE0F}",
            "x\u{1160}",
            "\u{FEFF}x",
            "ab\u{2028}",
        ];
        for sample in samples {
            if name.is_match(sample) {
                assert!(check_screenname(sample).is_ok(), "{sample:?}");
            }
            if text.is_match(sample) {
                assert!(check_text(sample).is_ok(), "{sample:?}");
            }
        }
    }

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
        for path in [
            "/api/edit",
            "/api/delete",
            "/api/password",
            "/api/sign-in",
            "/api/sign-out",
        ] {
            assert!(doc["paths"][path]["post"].is_object(), "{path}");
        }
        assert!(doc["paths"]["/api/me"]["get"].is_object());
        let edit = &doc["paths"]["/api/edit"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
            ["schema"];
        assert_eq!(edit["required"], serde_json::json!(["id", "text"]));
        let forbidden = doc["paths"]["/api/edit"]["post"]["responses"]["403"]["description"]
            .as_str()
            .unwrap();
        assert!(forbidden.contains("edit_window_closed") && forbidden.contains("name_taken"));
        for schema in [
            "Batch",
            "Line",
            "ApiError",
            "ChatSnapshot",
            "RoomList",
            "Change",
            "Me",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        assert!(
            doc["paths"]["/api/send"]["get"].is_null(),
            "one method per endpoint"
        );
    }
}
