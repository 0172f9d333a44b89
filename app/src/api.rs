//! The server functions: the public HTTP API, and the page's only way to talk to the server.
//!
//! - `GET /api/lines?after=<id>&limit=<n>`: the lines newer than the cursor `after`.
//! - `POST /api/send` (form fields `screenname`, `text`, optional `idempotency_key`): store a
//!   line.
//! - `GET /api/snapshot`: what the page is rendered with.

use crate::error::ApiError;
use crate::line::Line;
use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::{
    backend::Backend,
    line::{IdempotencyKey, NewLine},
    respond::answer,
};

/// `limit` when the request gives none.
pub const DEFAULT_LIMIT: u32 = 100;
/// Larger `limit`s are served as this many.
pub const MAX_LIMIT: u32 = 500;

/// An answer to a poll.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub lines: Vec<Line>,
    /// The id of the last line returned, or `after` when there are none: the `after` of the
    /// next poll.
    pub cursor: i64,
}

impl Batch {
    /// The batch for `lines` (ascending, all newer than `after`).
    pub fn new(after: i64, lines: Vec<Line>) -> Self {
        let cursor = lines.last().map_or(after, |line| line.id);
        Self { lines, cursor }
    }
}

/// What the page is rendered with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSnapshot {
    /// The newest lines, ascending.
    pub lines: Vec<Line>,
    /// How often to poll, in milliseconds.
    pub poll_ms: u32,
}

/// Validated poll parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollParams {
    pub after: i64,
    pub limit: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("`after` must be a line id (0 or more), not {0}.")]
    NegativeAfter(i64),
    #[error("`limit` must be at least 1.")]
    ZeroLimit,
}

impl From<ParamError> for ApiError {
    fn from(err: ParamError) -> Self {
        ApiError::bad_request(err.to_string())
    }
}

impl PollParams {
    /// Applies the defaults and the cap of the API contract.
    pub fn parse(after: Option<i64>, limit: Option<u32>) -> Result<Self, ParamError> {
        let after = after.unwrap_or(0);
        if after < 0 {
            return Err(ParamError::NegativeAfter(after));
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 {
            return Err(ParamError::ZeroLimit);
        }
        Ok(Self {
            after,
            limit: limit.min(MAX_LIMIT),
        })
    }
}

/// The poll: lines whose id is greater than `after`, oldest first, at most `limit`.
/// A batch of exactly `limit` lines means more may be waiting: poll again at once.
#[server(prefix = "/api", endpoint = "lines", input = GetUrl)]
pub async fn lines_since(after: Option<i64>, limit: Option<u32>) -> Result<Batch, ApiError> {
    answer(
        async move {
            let params = PollParams::parse(after, limit)?;
            let lines = Backend::current()?
                .store
                .since(params.after, params.limit as usize)
                .await?;
            Ok(Batch::new(params.after, lines))
        }
        .await,
    )
}

/// Stores a line; answers with it once it is durably committed. A send repeated with the same
/// `idempotency_key` answers with the line stored the first time.
#[server(prefix = "/api", endpoint = "send")]
pub async fn send_line(
    screenname: String,
    text: String,
    idempotency_key: Option<String>,
) -> Result<Line, ApiError> {
    answer(
        async move {
            let key = IdempotencyKey::parse(idempotency_key.as_deref())?;
            let line = NewLine::parse(&screenname, &text)?.with_key(key);
            Ok(Backend::current()?.store.append(line).await?)
        }
        .await,
    )
}

/// The newest lines and the poll period: what the page is rendered and hydrated with.
#[server(prefix = "/api", endpoint = "snapshot", input = GetUrl)]
pub async fn snapshot() -> Result<ChatSnapshot, ApiError> {
    answer(
        async move {
            let backend = Backend::current()?;
            let lines = backend.store.latest(backend.history).await?;
            Ok(ChatSnapshot {
                lines,
                poll_ms: backend.poll_ms,
            })
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_params_apply_defaults_and_cap() {
        assert_eq!(
            PollParams::parse(None, None),
            Ok(PollParams {
                after: 0,
                limit: DEFAULT_LIMIT
            })
        );
        assert_eq!(
            PollParams::parse(Some(7), Some(10_000)),
            Ok(PollParams {
                after: 7,
                limit: MAX_LIMIT
            })
        );
        assert_eq!(
            PollParams::parse(Some(-1), None),
            Err(ParamError::NegativeAfter(-1))
        );
        assert_eq!(PollParams::parse(None, Some(0)), Err(ParamError::ZeroLimit));
    }

    #[test]
    fn batch_cursor_is_last_id_or_after() {
        assert_eq!(Batch::new(5, vec![]).cursor, 5);
        assert_eq!(
            Batch::new(5, vec![Line::sample(6), Line::sample(9)]).cursor,
            9
        );
    }
}
