//! Server side: storage as the server functions see it. The `server` crate provides a
//! [`Backend`] as context; a storage engine implements [`ChatStore`] and publishes every commit
//! to its [`Feed`], which answers recent and held polls from memory.

use crate::change::{Change, Event};
use crate::error::{ApiError, ErrorKind};
use crate::feed::Feed;
use crate::identity::Presented;
use crate::line::{IdempotencyKey, Line, NewLine};
use crate::room::{Room, RoomActivity};
use std::sync::Arc;
use std::time::Duration;

/// Durable storage of chat lines.
#[async_trait::async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Stores `line` and returns it as stored. Returns only once the line is durably committed
    /// and published to the feed. A line whose idempotency key was seen before is not stored
    /// again: the line stored the first time is returned, or [`StoreError::KeyReused`] if that
    /// line was different.
    ///
    /// A line by a poster ([`NewLine::by`]) under a name someone else holds is refused
    /// ([`StoreError::NameTaken`]); under a name nobody holds (or whose hold has lapsed), it makes
    /// its poster the name's holder.
    async fn append(&self, line: NewLine) -> Result<Line, StoreError>;

    /// Replaces a line's text, as its poster, within the edit window: a change, with the next
    /// id, published like a line.
    async fn edit(&self, edit: LineEdit) -> Result<Change, StoreError>;

    /// Deletes a line, as its poster or a moderator: its text and name are erased, and the
    /// change is published like a line. Deleting a deleted line answers its first deletion.
    async fn delete(&self, delete: LineDelete) -> Result<Change, StoreError>;

    /// Changes what an identity holds besides names.
    async fn account(&self, change: AccountChange) -> Result<(), StoreError>;

    /// The identity a browser's secret names, if the secret is one the store issued.
    async fn identify(&self, secret: &Presented) -> Result<Option<Identity>, StoreError>;

    /// The identity that holds `screenname` (compared as held names are), if any.
    async fn holder(&self, screenname: &str) -> Result<Option<Identity>, StoreError>;

    /// The lines and changes of `room` whose id is greater than `after`, ascending, at most
    /// `limit` of both; lines in their current state, deleted ones left out.
    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// The newest `limit` lines of `room` whose id is less than `before`, ascending, in their
    /// current state; deleted lines are skipped (not counted).
    async fn before(&self, room: &Room, before: i64, limit: usize)
    -> Result<Vec<Line>, StoreError>;

    /// Answers a trivial query: the store is reachable.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The recent lines and wake-ups, fed by every commit.
    fn feed(&self) -> &Arc<Feed>;

    /// Posts waiting to be committed (a gauge for the operator).
    fn queued_posts(&self) -> usize {
        0
    }

    /// Commits what is queued and closes every database connection (a clean stop); every
    /// call after it fails.
    async fn close(&self) {}
}

/// An edit of a line's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineEdit {
    pub line: i64,
    /// Checked as a new line's text is ([`crate::line::parse_text`]).
    pub text: String,
    /// The identity asking.
    pub by: i64,
    pub key: Option<IdempotencyKey>,
}

/// A deletion of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineDelete {
    pub line: i64,
    /// The identity asking, and whether it is a moderator (who may delete any line).
    pub by: i64,
    pub moderator: bool,
}

/// An identity, as the store knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: i64,
    /// The names it holds, as last posted, oldest first.
    pub names: Vec<String>,
    pub moderator: bool,
    /// Its password's argon2id hash, if it has one.
    pub password_hash: Option<String>,
}

impl Identity {
    pub fn me(&self) -> crate::identity::Me {
        crate::identity::Me {
            names: self.names.clone(),
            moderator: self.moderator,
            password: self.password_hash.is_some(),
        }
    }
}

/// A change to an identity that is not an event of any room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountChange {
    /// Sets the password of `identity` (an argon2id hash).
    SetPassword { identity: i64, hash: String },
    /// Issues another secret for `identity` (a sign-in).
    AddSecret { identity: i64, secret: Presented },
    /// Forgets a secret (a sign-out); its identity keeps its names.
    RemoveSecret { selector: [u8; 16] },
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot serve the request now (I/O error, disk full, locked, shutting down).
    #[error("chat store unavailable: {0}")]
    Unavailable(String),
    /// The line's idempotency key was first used for a different line.
    #[error("idempotency key reused for a different line")]
    KeyReused,
    /// The commit was sent, its answer was lost, and the database could not say whether it
    /// took effect.
    #[error("the commit's outcome is unknown")]
    OutcomeUnknown,
    /// The screen name is held by another identity.
    #[error("the name {0} is held by someone else")]
    NameTaken(String),
    /// No such line, or it was deleted.
    #[error("no such line")]
    NotFound,
    /// The line is not the asker's to change.
    #[error("not yours to change")]
    Forbidden,
    /// The line is older than the edit window.
    #[error("the edit window has closed")]
    EditWindowClosed,
    /// The idempotency key's line was deleted since.
    #[error("the line was deleted")]
    Gone,
}

/// Seconds a client should wait before retrying after a storage failure.
const STORE_RETRY_AFTER_SECS: u32 = 2;

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::KeyReused => ApiError::new(
                ErrorKind::Conflict,
                "This idempotency_key was already used for a different line.",
            ),
            StoreError::OutcomeUnknown => ApiError::new(
                ErrorKind::OutcomeUnknown,
                "Your line may or may not have been stored: send it again with the same \
                 idempotency_key to find out (it is stored once), or look at the room first.",
            )
            .with_retry_after(STORE_RETRY_AFTER_SECS),
            StoreError::NameTaken(name) => ApiError::new(
                ErrorKind::NameTaken,
                format!("{name} is taken. Pick another name, or sign in as {name} if it is yours."),
            ),
            StoreError::NotFound => ApiError::new(
                ErrorKind::NotFound,
                "There is no such line (or it was deleted).",
            ),
            StoreError::Forbidden => ApiError::new(
                ErrorKind::Forbidden,
                "Only the person who sent a line (or a moderator) may change it.",
            ),
            StoreError::EditWindowClosed => ApiError::new(
                ErrorKind::EditWindowClosed,
                "This line is too old to edit; you can still delete it.",
            ),
            StoreError::Gone => ApiError::new(
                ErrorKind::Gone,
                "The line sent with this idempotency_key was deleted since.",
            ),
            StoreError::Unavailable(_) => {
                tracing::warn!(%err, "store failure answered with 503");
                ApiError::new(
                    ErrorKind::Unavailable,
                    "The chat is briefly unavailable; please try again in a moment.",
                )
                .with_retry_after(STORE_RETRY_AFTER_SECS)
            }
        }
    }
}

/// The server functions' view of the host: the store and the page's settings.
#[derive(Clone)]
pub struct Backend {
    pub store: Arc<dyn ChatStore>,
    /// How often the page polls, in milliseconds.
    pub poll_ms: u32,
    /// How many of the newest lines the page is rendered with.
    pub history: usize,
}

impl Backend {
    /// The backend provided by the host for this request.
    pub fn current() -> Result<Self, ApiError> {
        leptos::prelude::use_context::<Self>().ok_or_else(|| {
            ApiError::new(ErrorKind::Internal, "The chat backend is not configured.")
        })
    }

    /// The lines and changes of `room` after `after`: from memory when it reaches back that
    /// far, else from the store.
    pub async fn since(
        &self,
        room: &Room,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        match self.store.feed().since(room, after, limit) {
            Some(lines) => Ok(lines),
            None => self.store.since(room, after, limit).await,
        }
    }

    /// [`Backend::since`], held for up to `wait` while there is nothing to answer (see
    /// [`Feed::poll`]). Only a cursor older than memory reaches the store, and then there are
    /// lines to answer with at once.
    pub async fn poll(
        &self,
        room: &Room,
        after: i64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Event>, StoreError> {
        match self.store.feed().poll(room, after, limit, wait).await {
            Some(lines) => Ok(lines),
            None => self.store.since(room, after, limit).await,
        }
    }

    /// The newest `count` lines of `room`, ascending.
    pub async fn latest(&self, room: &Room, count: usize) -> Result<Vec<Line>, StoreError> {
        match self.store.feed().latest(room, count) {
            Some(lines) => Ok(lines),
            None => self.store.before(room, i64::MAX, count).await,
        }
    }

    /// The rooms with lines, most recently active first.
    pub fn rooms(&self, limit: usize) -> Vec<RoomActivity> {
        self.store.feed().rooms(limit)
    }
}
