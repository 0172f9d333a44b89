//! The SQLite store: one file, WAL mode, `synchronous = FULL`.
//!
//! - Writes go to one writer thread. It takes every post waiting in its queue and commits them
//!   in one transaction (group commit), publishes them to the feed, then answers each post: a
//!   post is acknowledged only after its line is durable.
//! - Reads use a small pool of read-only connections on tokio's blocking threads, never on the
//!   async executor's. Only cursors older than the feed's memory reach them.

pub mod backup;
mod schema;
mod writer;

pub use crate::storage::post_queue::{CommitHook, Options};
pub use schema::{MIGRATIONS, SchemaError, migrate};

use crate::storage::post_queue::{self, rfc3339};
use crate::storage::rules::Rules;
use app::change::{Change, Event};
use app::feed::{Feed, Posted, RECENT_LINES};
use app::identity::{Presented, hold_key};
use app::line::{Line, NewLine};
use app::room::{Room, RoomActivity};
use app::store::{AccountChange, ChatStore, Identity, LineDelete, LineEdit, StoreError};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use writer::Writer;

/// Read-only connections in the pool: one per core is plenty, reads are short.
const READERS: usize = 4;

pub struct SqliteStore {
    writer: Arc<Writer>,
    readers: Arc<ReadPool>,
    feed: Arc<Feed>,
    rules: Rules,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: String, source: SchemaError },
    #[error("cannot start the database writer: {0}")]
    Writer(std::io::Error),
}

impl SqliteStore {
    /// Opens (or creates, with its schema) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, Options::default())
    }

    pub fn open_with(path: &Path, options: Options) -> Result<Self, OpenError> {
        let open_error = |source: SchemaError| OpenError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(|e| open_error(e.into()))?;
        schema::prepare_writer(&mut conn).map_err(open_error)?;
        let feed = Arc::new(load_feed(&conn).map_err(|e| open_error(e.into()))?);

        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                schema::prepare_reader(&conn)?;
                Ok(Mutex::new(Some(conn)))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()
            .map_err(|e| open_error(e.into()))?;

        let rules = options.rules.clone();
        let writer =
            Arc::new(Writer::start(conn, feed.clone(), options).map_err(OpenError::Writer)?);
        Ok(Self {
            rules,
            writer,
            readers: Arc::new(ReadPool {
                connections: readers,
                next: AtomicUsize::new(0),
            }),
            feed,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.readers.clone();
        let read = tokio::task::spawn_blocking(move || pool.with(query))
            .await
            .map_err(|err| err.to_string())
            .and_then(|result| result.map_err(|err| err.to_string()));
        read.map_err(|err| {
            metrics::counter!(crate::metrics::names::STORE_ERRORS).increment(1);
            StoreError::Unavailable(err)
        })
    }
}

/// The feed as the database stands: its newest lines and changes, and every room's newest id.
fn load_feed(conn: &Connection) -> rusqlite::Result<Feed> {
    let newest_first = conn
        .prepare(&post_queue::events_sql(None, "0", "DESC", "?1"))?
        .query_map([RECENT_LINES as i64], |row| {
            Ok(Posted {
                event: event_from_row(row)?,
                room: room_from(row.get(7)?)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let rooms = conn
        .prepare("SELECT name, newest_id, newest_at FROM rooms")?
        .query_map([], |row| {
            Ok(RoomActivity {
                name: room_from(row.get(0)?)?,
                newest_id: row.get(1)?,
                newest_at: rfc3339(row.get(2)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Feed::from_newest(newest_first, rooms))
}

#[async_trait::async_trait]
impl ChatStore for SqliteStore {
    async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        self.writer.queue()?.append(line).await
    }

    async fn edit(&self, edit: LineEdit) -> Result<Change, StoreError> {
        self.writer.queue()?.edit(edit).await
    }

    async fn delete(&self, delete: LineDelete) -> Result<Change, StoreError> {
        self.writer.queue()?.delete(delete).await
    }

    async fn account(&self, change: AccountChange) -> Result<(), StoreError> {
        self.writer.queue()?.account(change).await
    }

    async fn identify(&self, secret: &Presented) -> Result<Option<Identity>, StoreError> {
        let (secret, rules) = (secret.clone(), self.rules.clone());
        self.read(move |conn| {
            let found = conn
                .prepare_cached("SELECT identity, verifier FROM secrets WHERE selector = ?1")?
                .query_row([&secret.selector[..]], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            match found {
                Some((id, verifier)) if secret.matches(&verifier) => identity(conn, id, &rules),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn holder(&self, screenname: &str) -> Result<Option<Identity>, StoreError> {
        let (key, rules) = (hold_key(screenname), self.rules.clone());
        self.read(move |conn| {
            let holder = conn
                .prepare_cached("SELECT holder FROM names WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional()?;
            match holder {
                Some(id) => identity(conn, id, &rules),
                None => Ok(None),
            }
        })
        .await
    }

    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let room = room.as_str().to_owned();
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached(&post_queue::events_sql(Some("?1"), "?2", "ASC", "?3"))?;
            stmt.query_map((room, after, limit as i64), event_from_row)?
                .collect()
        })
        .await
    }

    async fn before(
        &self,
        room: &Room,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Line>, StoreError> {
        let room = room.as_str().to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, screenname, text, created, edited, revision FROM lines
                 WHERE room = ?1 AND id < ?2 AND deleted IS NULL ORDER BY id DESC LIMIT ?3",
            )?;
            let mut lines = stmt
                .query_map((room, before, limit as i64), line_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            lines.reverse();
            Ok(lines)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    fn queued_posts(&self) -> usize {
        self.writer.queued()
    }

    /// The readers first, then the writer: the last connection to close checkpoints the WAL
    /// into the database and removes it, and only a read-write one can (a stopped server
    /// would otherwise leave the WAL behind, with the old frames of whatever it held).
    async fn close(&self) {
        let (readers, writer) = (self.readers.clone(), self.writer.clone());
        let _ = tokio::task::spawn_blocking(move || {
            readers.close();
            writer.close();
        })
        .await;
    }
}

struct ReadPool {
    /// `None` once closed.
    connections: Vec<Mutex<Option<Connection>>>,
    next: AtomicUsize,
}

impl ReadPool {
    /// Runs `query` on a free connection, or waits for the next in turn.
    fn with<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let free = self.connections.iter().find_map(|c| c.try_lock().ok());
        let conn = match free {
            Some(conn) => conn,
            None => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
                // A panic while holding a connection leaves it usable: SQLite state is per call.
                self.connections[turn]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            }
        };
        match conn.as_ref() {
            Some(conn) => query(conn),
            None => Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE),
                Some("the store is shut down".into()),
            )),
        }
    }

    /// Closes every connection, waiting for reads in progress.
    fn close(&self) {
        for conn in &self.connections {
            drop(conn.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
    }
}

/// A line from a row whose first columns are id, screenname, text, created, edited, revision.
fn line_from_row(row: &Row<'_>) -> rusqlite::Result<Line> {
    Ok(post_queue::line_from(
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

/// An event from a row of [`post_queue::EVENT_COLUMNS`].
fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let kind: String = row.get(1)?;
    post_queue::event_from(
        row.get(0)?,
        &kind,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    )
    .ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            1,
            rusqlite::types::Type::Text,
            format!("unknown change kind {kind}").into(),
        )
    })
}

/// The identity `id`, with the names it holds now.
fn identity(conn: &Connection, id: i64, rules: &Rules) -> rusqlite::Result<Option<Identity>> {
    let found = conn
        .prepare_cached("SELECT moderator, password FROM identities WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get::<_, bool>(0)?, row.get(1)?)))
        .optional()?;
    let Some((moderator, password_hash)) = found else {
        return Ok(None);
    };
    let names = conn
        .prepare_cached(
            "SELECT name FROM names WHERE holder = ?1 AND last_post >= ?2 ORDER BY last_post",
        )?
        .query_map((id, rules.held_since(rules.now())), |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(Some(Identity {
        id,
        names,
        moderator,
        password_hash,
    }))
}

/// A stored room name; only valid names are ever stored.
fn room_from(name: String) -> rusqlite::Result<Room> {
    Room::parse(&name).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, err.into())
    })
}

#[cfg(test)]
mod tests;
