//! The server functions: the public HTTP API, and the page's only way to talk to the server.
//!
//! - `GET /api/lines?room=&after=&limit=&wait=`: the lines newer than the cursor `after`, held
//!   up to `wait` seconds until there is one; or with `before=`, the page of history before it.
//! - `POST /api/send` (form fields `screenname`, `text`, optional `idempotency_key`, `room`):
//!   store a line.
//! - `POST /api/edit` (`id`, `text`, optional `idempotency_key`), `POST /api/delete` (`id`):
//!   change a line one sent; answered with the change.
//! - `GET /api/me`, `POST /api/password` (`password`), `POST /api/sign-in` (`screenname`,
//!   `password`), `POST /api/sign-out`: the names the request's identity holds, and moving it
//!   between browsers.
//! - `GET /api/snapshot?room=&before=`: what a room's page is rendered with.
//! - `GET /api/rooms`: the recently active rooms.
//!
//! Errors never set the response's status here: the server maps every [`ApiError`] to its
//! status and headers in one place, whichever layer answered.

use crate::change::{Change, Event};
use crate::error::ApiError;
use crate::identity::Me;
use crate::line::Line;
use crate::room::{Room, RoomActivity};
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::room::MAX_ROOMS_LISTED;
#[cfg(feature = "ssr")]
use crate::{
    error::ErrorKind,
    identity::{self, Secret, request as identity_request},
    line::{IdempotencyKey, NewLine},
    store::{AccountChange, Backend, LineDelete, LineEdit},
};

/// `limit` when the request gives none.
pub const DEFAULT_LIMIT: u32 = 100;
/// Larger `limit`s are served as this many.
pub const MAX_LIMIT: u32 = 500;
/// Larger `wait`s are served as this many seconds.
pub const MAX_WAIT_SECS: u32 = 30;

/// An answer to a poll, or a page of history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Batch {
    /// In their current state; deleted lines are left out.
    pub lines: Vec<Line>,
    /// For a poll: the edits and deletions after `after` (history has none).
    #[serde(default)]
    pub changes: Vec<Change>,
    /// For a poll: the greatest id of the lines and changes returned, or `after` when there are
    /// none (the `after` of the next poll). For history: the id of the oldest line returned, or
    /// `before` when there are none (the `before` of the next older page).
    pub cursor: i64,
}

impl Batch {
    /// The batch for `events` (ascending, all newer than `after`).
    pub fn new(after: i64, events: Vec<Event>) -> Self {
        let cursor = events.last().map_or(after, Event::id);
        let (mut lines, mut changes) = (Vec::new(), Vec::new());
        for event in events {
            match event {
                Event::Line(line) => lines.push(line),
                Event::Change(change) => changes.push(change),
            }
        }
        Self {
            lines,
            changes,
            cursor,
        }
    }

    /// The page of history for `lines` (ascending, all older than `before`).
    pub fn older(before: i64, lines: Vec<Line>) -> Self {
        let cursor = lines.first().map_or(before, |line| line.id);
        Self {
            lines,
            changes: Vec::new(),
            cursor,
        }
    }

    /// The lines and changes in id order.
    #[cfg(test)]
    pub fn events(self) -> Vec<Event> {
        crate::change::merged(self.lines, self.changes)
    }
}

/// What a room's page is rendered with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ChatSnapshot {
    pub room: Room,
    /// The newest lines (or those before `before`), ascending.
    pub lines: Vec<Line>,
    /// Whether the room has lines older than these.
    pub has_older: bool,
    /// The `before` this page was rendered with: a page of history, not the newest lines.
    pub before: Option<i64>,
    /// How often to poll, in milliseconds.
    pub poll_ms: u32,
    /// The recently active rooms (read by the server's rendering alone, as `me`).
    #[cfg(feature = "ssr")]
    pub rooms: Vec<RoomActivity>,
    /// The reader's screen name, remembered from their last post.
    pub screenname: Option<String>,
    /// What the reader's identity holds: read by the server's rendering alone (which lines get
    /// Edit and Delete, the account's forms), so the browser's copy leaves it out and the wasm
    /// carries no reader for it.
    #[cfg(feature = "ssr")]
    pub me: Me,
}

/// `GET /api/rooms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoomList {
    pub rooms: Vec<RoomActivity>,
}

/// Where a poll reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// Lines newer than this id.
    After(i64),
    /// Lines older than this id (history).
    Before(i64),
}

/// Validated poll parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollParams {
    pub room: Room,
    pub cursor: Cursor,
    pub limit: u32,
    /// Seconds to hold the poll while there is nothing newer.
    pub wait: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("`{name}` must be a whole number, 0 or more, not `{value}`.")]
    NotWhole { name: &'static str, value: String },
    #[error("`{name}` is too large to be a line id.")]
    TooLarge { name: &'static str },
    #[error("`limit` must be at least 1.")]
    ZeroLimit,
    #[error("Give `after` (newer lines) or `before` (older lines), not both.")]
    AfterAndBefore,
    #[error("`wait` holds polls for newer lines; history (`before`) is answered at once.")]
    WaitWithBefore,
    #[error(transparent)]
    Room(#[from] crate::room::RoomError),
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        ApiError::bad_request(err.to_string())
    }
}

/// A whole number as the API takes it: digits only. `None` when absent or empty; a number
/// too large for `u64` reads as `u64::MAX` (callers cap it, or refuse it).
fn whole(name: &'static str, raw: Option<&str>) -> Result<Option<u64>, ParamError> {
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::NotWhole {
            name,
            value: raw.chars().take(30).collect(),
        });
    }
    Ok(Some(raw.parse().unwrap_or(u64::MAX)))
}

fn line_id(name: &'static str, raw: Option<&str>) -> Result<Option<i64>, ParamError> {
    whole(name, raw)?
        .map(|id| i64::try_from(id).map_err(|_| ParamError::TooLarge { name }))
        .transpose()
}

impl PollParams {
    /// Applies the defaults and the caps of the API contract to the raw query fields.
    pub fn parse(
        room: Option<&str>,
        after: Option<&str>,
        before: Option<&str>,
        limit: Option<&str>,
        wait: Option<&str>,
    ) -> Result<Self, ParamError> {
        let room = Room::from_field(room)?;
        let (after, before) = (line_id("after", after)?, line_id("before", before)?);
        let limit = whole("limit", limit)?.unwrap_or(u64::from(DEFAULT_LIMIT));
        if limit == 0 {
            return Err(ParamError::ZeroLimit);
        }
        let wait = whole("wait", wait)?.unwrap_or(0);
        let cursor = match (after, before) {
            (Some(_), Some(_)) => return Err(ParamError::AfterAndBefore),
            (_, Some(_)) if wait > 0 => return Err(ParamError::WaitWithBefore),
            (None, Some(before)) => Cursor::Before(before),
            (after, None) => Cursor::After(after.unwrap_or(0)),
        };
        Ok(Self {
            room,
            cursor,
            limit: limit.min(u64::from(MAX_LIMIT)) as u32,
            wait: wait.min(u64::from(MAX_WAIT_SECS)) as u32,
        })
    }
}

/// The poll: lines of `room` whose id is greater than `after`, oldest first, at most `limit`;
/// with `wait` (seconds), held until there is one or the wait runs out. With `before` instead
/// of `after`: the `limit` lines just older than `before`, oldest first (history).
#[server(prefix = "/api", endpoint = "lines", input = GetUrl)]
pub async fn lines_since(
    room: Option<String>,
    after: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
) -> Result<Batch, ApiError> {
    // The server reads a poll's query once, ahead of this function, and leaves it in the
    // request's extensions; the fields are read here only when it did not.
    let read = use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<PollParams>().cloned());
    let params = match read {
        Some(params) => params,
        None => PollParams::parse(
            room.as_deref(),
            after.as_deref(),
            before.as_deref(),
            limit.as_deref(),
            wait.as_deref(),
        )?,
    };
    let backend = Backend::current()?;
    let limit = params.limit as usize;
    Ok(match params.cursor {
        Cursor::After(after) => {
            let wait = std::time::Duration::from_secs(u64::from(params.wait));
            let events = backend.poll(&params.room, after, limit, wait).await?;
            Batch::new(after, events)
        }
        Cursor::Before(before) => {
            let lines = backend.store.before(&params.room, before, limit).await?;
            Batch::older(before, lines)
        }
    })
}

/// Stores a line; answers with it once it is durably committed. A send repeated with the same
/// `idempotency_key` answers with the line stored the first time.
#[server(prefix = "/api", endpoint = "send")]
pub async fn send_line(
    screenname: String,
    text: String,
    idempotency_key: Option<String>,
    room: Option<String>,
) -> Result<Line, ApiError> {
    let room = Room::from_field(room.as_deref()).map_err(ParamError::from)?;
    let key = IdempotencyKey::parse(idempotency_key.as_deref())?;
    let line = NewLine::parse(&screenname, &text)?
        .with_key(key)
        .in_room(room);
    let backend = Backend::current()?;
    let (poster, fresh) = identity_request::poster(&backend).await?;
    let stored = backend.store.append(line.by(poster)).await?;
    if let Some(secret) = fresh {
        identity_request::give(&secret);
    }
    crate::screen_name::request::remember(&stored.screenname);
    Ok(stored)
}

/// The identity of this request, for a change only an identity may make.
#[cfg(feature = "ssr")]
async fn required_identity(backend: &Backend) -> Result<crate::store::Identity, ApiError> {
    identity_request::identity(backend).await?.ok_or_else(|| {
        ApiError::new(
            ErrorKind::Forbidden,
            "Only the person who sent a line may change it: this browser has sent none (sign in \
             if you sent it from another).",
        )
    })
}

/// `id`, a line's id as the API takes it.
#[cfg(feature = "ssr")]
fn required_line_id(id: &str) -> Result<i64, ApiError> {
    line_id("id", Some(id))?.ok_or_else(|| ApiError::bad_request("`id` is required."))
}

/// Replaces the text of a line one sent, within the edit window; answers with the change. A
/// retry with the same `idempotency_key` answers with the first one's change.
#[server(prefix = "/api", endpoint = "edit")]
pub async fn edit_line(
    id: String,
    text: String,
    idempotency_key: Option<String>,
) -> Result<Change, ApiError> {
    let line = required_line_id(&id)?;
    let text = crate::line::parse_text(&text)?;
    let key = IdempotencyKey::parse(idempotency_key.as_deref())?;
    let backend = Backend::current()?;
    let by = required_identity(&backend).await?;
    let edit = LineEdit {
        line,
        text,
        by: by.id,
        key,
    };
    Ok(backend.store.edit(edit).await?)
}

/// Deletes a line one sent (or any line, for a moderator): its text and name are erased.
/// Answers with the change; deleting a deleted line answers with the first deletion.
#[server(prefix = "/api", endpoint = "delete")]
pub async fn delete_line(id: String) -> Result<Change, ApiError> {
    let line = required_line_id(&id)?;
    let backend = Backend::current()?;
    let by = required_identity(&backend).await?;
    let delete = LineDelete {
        line,
        by: by.id,
        moderator: by.moderator,
    };
    Ok(backend.store.delete(delete).await?)
}

/// The names this request's identity holds.
#[server(prefix = "/api", endpoint = "me", input = GetUrl)]
pub async fn who_am_i() -> Result<Me, ApiError> {
    let backend = Backend::current()?;
    Ok(identity_request::identity(&backend)
        .await?
        .map(|identity| identity.me())
        .unwrap_or_default())
}

/// Runs argon2 off the async executor.
#[cfg(feature = "ssr")]
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::new(ErrorKind::Internal, "Something went wrong on the server."))
}

/// Sets (or changes) the password of every name this request's identity holds, so that it
/// can sign in as them elsewhere.
#[server(prefix = "/api", endpoint = "password")]
pub async fn set_password(password: String) -> Result<Me, ApiError> {
    let chars = password.chars().count();
    if !(identity::MIN_PASSWORD_CHARS..=identity::MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ApiError::bad_request(format!(
            "A password is {} to {} characters long; this one is {chars}.",
            identity::MIN_PASSWORD_CHARS,
            identity::MAX_PASSWORD_CHARS
        )));
    }
    let backend = Backend::current()?;
    let holder = identity_request::identity(&backend)
        .await?
        .filter(|identity| !identity.names.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::Forbidden,
                "Post with a name first: a password protects the names you hold.",
            )
        })?;
    let hash = hashing(move || identity::hash_password(&password))
        .await?
        .map_err(|err| {
            tracing::error!(%err, "hashing a password failed");
            ApiError::new(ErrorKind::Internal, "The password could not be set.")
        })?;
    let change = AccountChange::SetPassword {
        identity: holder.id,
        hash,
    };
    backend.store.account(change).await?;
    Ok(crate::identity::Me {
        password: true,
        ..holder.me()
    })
}

/// Signs this browser in as the holder of `screenname`, with its password.
#[server(prefix = "/api", endpoint = "sign-in")]
pub async fn sign_in(screenname: String, password: String) -> Result<Me, ApiError> {
    let backend = Backend::current()?;
    let holder = backend.store.holder(screenname.trim()).await?;
    let hash = holder
        .as_ref()
        .and_then(|holder| holder.password_hash.clone());
    let known = hash.is_some();
    // An unknown name takes as long as a wrong password.
    let hash = hash.unwrap_or_else(|| identity::decoy_hash().to_owned());
    let right = hashing(move || identity::verify_password(&password, &hash)).await?;
    let holder = match holder {
        Some(holder) if right && known => holder,
        _ => {
            return Err(ApiError::new(
                ErrorKind::BadCredentials,
                "That name and password do not match.",
            ));
        }
    };
    let secret = Secret::generate().map_err(|err| {
        tracing::error!(%err, "the system's random generator failed");
        ApiError::new(
            ErrorKind::Unavailable,
            "Signing in is not possible right now.",
        )
    })?;
    let change = AccountChange::AddSecret {
        identity: holder.id,
        secret: secret.presented(),
    };
    backend.store.account(change).await?;
    identity_request::give(&secret);
    crate::screen_name::request::remember(screenname.trim());
    Ok(holder.me())
}

/// Signs this browser out: its secret is forgotten (the names stay held).
#[server(prefix = "/api", endpoint = "sign-out")]
pub async fn sign_out() -> Result<Me, ApiError> {
    let backend = Backend::current()?;
    if let Some(secret) = identity_request::secret() {
        let change = AccountChange::RemoveSecret {
            selector: secret.presented().selector,
        };
        backend.store.account(change).await?;
    }
    identity_request::take_away();
    Ok(Me::default())
}

/// What a room's page is rendered and hydrated with: its newest lines (or with `before`, the
/// page of history before that id), the poll period and the active rooms.
#[server(prefix = "/api", endpoint = "snapshot", input = GetUrl)]
pub async fn snapshot(
    room: Option<String>,
    before: Option<String>,
) -> Result<ChatSnapshot, ApiError> {
    let room = Room::from_field(room.as_deref()).map_err(ParamError::from)?;
    let before = line_id("before", before.as_deref())?;
    let backend = Backend::current()?;
    let me = identity_request::identity(&backend)
        .await?
        .map(|identity| identity.me())
        .unwrap_or_default();
    // One more than shown: whether there is anything older.
    let wanted = backend.history + 1;
    let mut lines = match before {
        Some(before) => backend.store.before(&room, before, wanted).await?,
        None => backend.latest(&room, wanted).await?,
    };
    let has_older = lines.len() == wanted;
    if has_older {
        lines.remove(0);
    }
    Ok(ChatSnapshot {
        room,
        lines,
        has_older,
        before,
        poll_ms: backend.poll_ms,
        rooms: backend.rooms(MAX_ROOMS_LISTED),
        screenname: crate::screen_name::request::remembered(),
        me,
    })
}

/// The recently active rooms, newest activity first.
#[server(prefix = "/api", endpoint = "rooms", input = GetUrl)]
pub async fn rooms() -> Result<RoomList, ApiError> {
    Ok(RoomList {
        rooms: Backend::current()?.rooms(MAX_ROOMS_LISTED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        after: Option<&str>,
        before: Option<&str>,
        limit: Option<&str>,
        wait: Option<&str>,
    ) -> Result<PollParams, ParamError> {
        PollParams::parse(None, after, before, limit, wait)
    }

    #[test]
    fn poll_params_apply_defaults_and_caps() {
        let params = parse(None, None, None, None).unwrap();
        assert_eq!(params.cursor, Cursor::After(0));
        assert_eq!((params.limit, params.wait), (DEFAULT_LIMIT, 0));
        assert_eq!(params.room, Room::general());
        let capped = parse(Some("7"), None, Some("10000"), Some("99")).unwrap();
        assert_eq!(capped.cursor, Cursor::After(7));
        assert_eq!((capped.limit, capped.wait), (MAX_LIMIT, MAX_WAIT_SECS));
        let huge = "9".repeat(40);
        let capped = parse(None, None, Some(&huge), Some(&huge)).unwrap();
        assert_eq!((capped.limit, capped.wait), (MAX_LIMIT, MAX_WAIT_SECS));
        let empty = parse(Some(""), None, Some(""), Some("")).unwrap();
        assert_eq!(empty, parse(None, None, None, None).unwrap());
    }

    #[test]
    fn malformed_params_are_refused_with_their_name() {
        for (after, limit, wait, name) in [
            ("x", "1", "0", "after"),
            ("-1", "1", "0", "after"),
            ("1.5", "1", "0", "after"),
            ("1", "-3", "0", "limit"),
            ("1", "1", "-1", "wait"),
            ("1", "1", "0.5", "wait"),
            ("1", "1", "soon", "wait"),
        ] {
            let err = parse(Some(after), None, Some(limit), Some(wait)).unwrap_err();
            assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
        }
        assert_eq!(
            parse(None, None, Some("0"), None),
            Err(ParamError::ZeroLimit)
        );
        assert_eq!(
            parse(Some(&"9".repeat(20)), None, None, None),
            Err(ParamError::TooLarge { name: "after" })
        );
    }

    #[test]
    fn history_takes_before_alone() {
        let params = parse(None, Some("40"), Some("37"), None).unwrap();
        assert_eq!((params.cursor, params.limit), (Cursor::Before(40), 37));
        assert_eq!(
            parse(Some("1"), Some("40"), None, None),
            Err(ParamError::AfterAndBefore)
        );
        assert_eq!(
            parse(None, Some("40"), None, Some("5")),
            Err(ParamError::WaitWithBefore)
        );
        assert!(parse(None, Some("40"), None, Some("0")).is_ok());
    }

    #[test]
    fn rooms_are_checked() {
        let room = PollParams::parse(Some("dev"), None, None, None, None).unwrap();
        assert_eq!(room.room.as_str(), "dev");
        assert!(matches!(
            PollParams::parse(Some("Bad Room"), None, None, None, None),
            Err(ParamError::Room(_))
        ));
    }

    #[test]
    fn batch_cursors() {
        assert_eq!(Batch::new(5, vec![]).cursor, 5);
        let change = Change {
            id: 10,
            line: 6,
            kind: crate::change::ChangeKind::Deleted,
            text: None,
            at: "2026-11-23T10:01:00Z".into(),
        };
        let batch = Batch::new(
            5,
            vec![
                Event::Line(Line::sample(6)),
                Event::Line(Line::sample(9)),
                Event::Change(change.clone()),
            ],
        );
        assert_eq!((batch.cursor, batch.lines.len()), (10, 2));
        let json = serde_json::to_string(&batch).unwrap();
        assert!(
            json.contains(r#""changes":[{"id":10,"line":6,"kind":"deleted","at":"#),
            "{json}"
        );
        assert!(
            !json.contains("edited") && !json.contains("revision"),
            "{json}"
        );
        assert_eq!(batch.events().last(), Some(&Event::Change(change)));
        assert_eq!(Batch::older(5, vec![]).cursor, 5);
        assert_eq!(
            Batch::older(50, vec![Line::sample(6), Line::sample(9)]).cursor,
            6
        );
    }
}
