//! The API's contract, in one leaf that every layer imports and that imports none of them: each
//! endpoint's path, method and fields, the body cap, strict decoding of fields, and what a
//! request to the API is ([`ApiRequest`]), read once per request and left in its extensions.

use app::api::{
    DeleteLine, EditLine, LinesSince, PollParams, Rooms, SendLine, SetPassword, SignIn, SignOut,
    Snapshot, WhoAmI,
};
use app::error::{ApiError, ErrorKind};
use axum::extract::Request;
use axum::http::Method;
use leptos::server_fn::ServerFn;
use std::collections::HashSet;

/// The largest request body: a line is a few hundred bytes even percent-encoded.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Where every API path starts.
pub const PREFIX: &str = "/api/";

/// An endpoint of the API (the public contract; see the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Lines,
    Send,
    Edit,
    Delete,
    Me,
    Password,
    SignIn,
    SignOut,
    Snapshot,
    Rooms,
    OpenApi,
}

impl Endpoint {
    pub const ALL: [Endpoint; 11] = [
        Endpoint::Lines,
        Endpoint::Send,
        Endpoint::Edit,
        Endpoint::Delete,
        Endpoint::Me,
        Endpoint::Password,
        Endpoint::SignIn,
        Endpoint::SignOut,
        Endpoint::Snapshot,
        Endpoint::Rooms,
        Endpoint::OpenApi,
    ];

    /// The endpoint at `path`, if there is one.
    pub fn at(path: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|endpoint| endpoint.path() == path)
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Lines => LinesSince::PATH,
            Endpoint::Send => SendLine::PATH,
            Endpoint::Edit => EditLine::PATH,
            Endpoint::Delete => DeleteLine::PATH,
            Endpoint::Me => WhoAmI::PATH,
            Endpoint::Password => SetPassword::PATH,
            Endpoint::SignIn => SignIn::PATH,
            Endpoint::SignOut => SignOut::PATH,
            Endpoint::Snapshot => Snapshot::PATH,
            Endpoint::Rooms => Rooms::PATH,
            Endpoint::OpenApi => "/api/openapi.json",
        }
    }

    /// The one method it takes.
    pub fn method(self) -> Method {
        match self {
            Endpoint::Send
            | Endpoint::Edit
            | Endpoint::Delete
            | Endpoint::Password
            | Endpoint::SignIn
            | Endpoint::SignOut => Method::POST,
            Endpoint::Lines
            | Endpoint::Me
            | Endpoint::Snapshot
            | Endpoint::Rooms
            | Endpoint::OpenApi => Method::GET,
        }
    }

    /// The fields it takes: the query's for a GET, the form body's for a POST.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Endpoint::Lines => &["room", "after", "before", "limit", "wait"],
            Endpoint::Send => &["screenname", "text", "idempotency_key", "room"],
            Endpoint::Edit => &["id", "text", "idempotency_key"],
            Endpoint::Delete => &["id"],
            Endpoint::Password => &["password"],
            Endpoint::SignIn => &["screenname", "password"],
            Endpoint::Snapshot => &["room", "before"],
            Endpoint::Me | Endpoint::SignOut | Endpoint::Rooms | Endpoint::OpenApi => &[],
        }
    }

    /// The fields a request must give.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Endpoint::Send => &["screenname", "text"],
            Endpoint::Edit => &["id", "text"],
            Endpoint::Delete => &["id"],
            Endpoint::Password => &["password"],
            Endpoint::SignIn => &["screenname", "password"],
            _ => &[],
        }
    }

    /// Its label in the request metrics.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Lines => "api_lines",
            Endpoint::Send => "api_send",
            Endpoint::Edit => "api_edit",
            Endpoint::Delete => "api_delete",
            Endpoint::Me => "api_me",
            Endpoint::Password => "api_password",
            Endpoint::SignIn => "api_sign_in",
            Endpoint::SignOut => "api_sign_out",
            Endpoint::Snapshot => "api_snapshot",
            Endpoint::Rooms => "api_rooms",
            Endpoint::OpenApi => "api_openapi",
        }
    }
}

/// What the API makes of a request, read once: by the outermost layer that asks
/// ([`ApiRequest::read`]), and kept in the request's extensions for every layer inside. A valid
/// poll's [`PollParams`] are kept there too, where the server function finds them.
#[derive(Clone, Debug)]
pub enum ApiRequest {
    /// Not a request to the API (a page, a static file).
    Elsewhere,
    /// A path under `/api/` that is no endpoint.
    Unknown,
    /// An endpoint, by another method than its own.
    WrongMethod(Endpoint),
    /// A poll (`GET /api/lines`), its query decoded and checked.
    Poll(Result<PollParams, ApiError>),
    /// Any other endpoint, by its method (its fields are checked by `strict_fields`).
    Call(Endpoint),
}

impl ApiRequest {
    /// What `request` is: from its extensions, or read now and left there.
    pub fn read(request: &mut Request) -> &ApiRequest {
        if request.extensions().get::<ApiRequest>().is_none() {
            let read = Self::of(request);
            if let ApiRequest::Poll(Ok(params)) = &read {
                request.extensions_mut().insert(params.clone());
            }
            request.extensions_mut().insert(read);
        }
        request.extensions().get().expect("inserted above")
    }

    fn of(request: &Request) -> Self {
        let path = request.uri().path();
        let Some(endpoint) = Endpoint::at(path) else {
            return if path.starts_with(PREFIX) {
                ApiRequest::Unknown
            } else {
                ApiRequest::Elsewhere
            };
        };
        if *request.method() != endpoint.method() {
            return ApiRequest::WrongMethod(endpoint);
        }
        match endpoint {
            Endpoint::Lines => ApiRequest::Poll(poll_params(request.uri().query().unwrap_or(""))),
            endpoint => ApiRequest::Call(endpoint),
        }
    }

    /// Makes a poll that asked to wait one answered at once, as if it had not asked (a held
    /// poll past a cap).
    pub fn answer_at_once(request: &mut Request) {
        if let Some(ApiRequest::Poll(Ok(params))) = request.extensions_mut().get_mut() {
            params.wait = 0;
        }
        if let Some(params) = request.extensions_mut().get_mut::<PollParams>() {
            params.wait = 0;
        }
    }

    /// The endpoint, whichever method it was asked by.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            ApiRequest::Elsewhere | ApiRequest::Unknown => None,
            ApiRequest::WrongMethod(endpoint) | ApiRequest::Call(endpoint) => Some(*endpoint),
            ApiRequest::Poll(_) => Some(Endpoint::Lines),
        }
    }

    /// The poll's parameters, when it is a valid poll.
    pub fn poll(&self) -> Option<&PollParams> {
        match self {
            ApiRequest::Poll(Ok(params)) => Some(params),
            _ => None,
        }
    }

    /// Whether it is a write: a call of an endpoint that takes `POST`.
    pub fn is_write(&self) -> bool {
        matches!(self, ApiRequest::Call(endpoint) if endpoint.method() == Method::POST)
    }
}

/// A post's form fields as the strict check decoded them, kept in its extensions for the
/// layers inside (the server function reads its own, through Leptos).
#[derive(Clone, Debug)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// A poll's query, decoded as strictly as any endpoint's fields and checked by the API's rules.
pub fn poll_params(query: &str) -> Result<PollParams, ApiError> {
    if let Some(params) = plain_poll(query) {
        return Ok(params);
    }
    let fields = decode_fields(query.as_bytes(), Endpoint::Lines.fields())?;
    let field = |name| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    Ok(PollParams::parse(
        field("room"),
        field("after"),
        field("before"),
        field("limit"),
        field("wait"),
    )?)
}

/// The common query of other clients, `after=<digits>` perhaps with `&limit=<digits>` (the
/// default room, no wait), read without decoding into strings.
fn plain_poll(query: &str) -> Option<PollParams> {
    let digits = |v: &str| !v.is_empty() && v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit());
    let mut fields = query.split('&');
    let after = fields
        .next()?
        .strip_prefix("after=")
        .filter(|v| digits(v))?;
    let limit = match fields.next() {
        Some(limit) => Some(limit.strip_prefix("limit=").filter(|v| digits(v))?),
        None => None,
    };
    if fields.next().is_some() {
        return None;
    }
    PollParams::parse(None, Some(after), None, limit, None).ok()
}

/// The fields of `a=1&b=2`, decoded, if they are among `fields`, each at most once.
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

/// The error for a request that is too large.
pub fn too_large() -> ApiError {
    ApiError::new(ErrorKind::TooLarge, "The request is too large.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::api::Cursor;

    const SEND: &[&str] = &["screenname", "text", "idempotency_key"];

    fn check(encoded: &[u8], fields: &[&str]) -> Result<(), ApiError> {
        decode_fields(encoded, fields).map(drop)
    }

    #[test]
    fn exactly_the_named_fields_once() {
        assert!(check(b"screenname=ann&text=hi+there", SEND).is_ok());
        assert!(check(b"", SEND).is_ok());
        let dup = check(b"text=a&text=b", SEND).unwrap_err();
        assert_eq!(dup.message, "Field `text` is given more than once.");
        let unknown = check(b"text=a&admin=1", SEND).unwrap_err();
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

    #[test]
    fn every_endpoint_is_found_at_its_path() {
        for endpoint in Endpoint::ALL {
            assert_eq!(Endpoint::at(endpoint.path()), Some(endpoint));
            assert!(endpoint.path().starts_with(PREFIX));
        }
        assert_eq!(Endpoint::at("/api/nope"), None);
    }

    #[test]
    fn the_plain_query_reads_like_the_decoded_one() {
        let decoded = |query: &str| {
            let fields = decode_fields(query.as_bytes(), Endpoint::Lines.fields()).unwrap();
            let field = |name| {
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            PollParams::parse(None, field("after"), None, field("limit"), None).unwrap()
        };
        for query in [
            "after=5",
            "after=5&limit=20",
            "after=0&limit=500",
            "after=1&limit=9999",
        ] {
            assert_eq!(plain_poll(query), Some(decoded(query)), "{query}");
        }
        for other in [
            "limit=2&after=5",
            "after=%35",
            "after=5&limit=2&x=1",
            "after=",
            "after=5&",
            "after=5&limit=0",
            "after=5&wait=3",
        ] {
            assert_eq!(plain_poll(other), None, "{other}");
        }
    }

    #[test]
    fn a_poll_is_read_strictly() {
        let params = poll_params("room=dev&after=7&wait=5").unwrap();
        assert_eq!(params.cursor, Cursor::After(7));
        assert_eq!(params.wait, 5);
        for malformed in [
            "after=x",
            "after=-1",
            "limit=0",
            "after=1&after=2",
            "since=1",
            "after=%FF",
            "room=Nope",
            "after=1&before=2",
        ] {
            assert!(poll_params(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn a_request_is_read_once_and_kept() {
        let mut request = Request::get("/api/lines?after=3")
            .body(Default::default())
            .unwrap();
        assert!(ApiRequest::read(&mut request).poll().is_some());
        assert!(request.extensions().get::<PollParams>().is_some());
        // What was read stays, whatever the URI says later.
        *request.uri_mut() = "/elsewhere".parse().unwrap();
        assert_eq!(
            ApiRequest::read(&mut request).endpoint(),
            Some(Endpoint::Lines)
        );

        let mut post = Request::get("/api/send").body(Default::default()).unwrap();
        assert!(matches!(
            ApiRequest::read(&mut post),
            ApiRequest::WrongMethod(Endpoint::Send)
        ));
        let mut other = Request::get("/api/what").body(Default::default()).unwrap();
        assert!(matches!(ApiRequest::read(&mut other), ApiRequest::Unknown));
        let mut page = Request::get("/r/dev").body(Default::default()).unwrap();
        assert!(matches!(ApiRequest::read(&mut page), ApiRequest::Elsewhere));
    }
}
