//! The SQLite store: one file, WAL mode, `synchronous = FULL`.
//!
//! - Writes go to one writer thread. It takes every post waiting in its queue and commits them
//!   in one transaction (group commit), then answers each post: a post is acknowledged only
//!   after its line is durable.
//! - Reads use a small pool of read-only connections on tokio's blocking threads, never on the
//!   async executor's.
//! - The id of the newest committed line is kept in memory, so a poll for lines after it (the
//!   common, empty poll) is answered without touching the database.

mod schema;
mod writer;

use app::backend::{ChatStore, StoreError};
use app::line::{Line, NewLine};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, Row};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use writer::Writer;

/// Read-only connections in the pool: one per core is plenty, reads are short.
const READERS: usize = 4;

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<ReadPool>,
    /// Id of the newest committed line; 0 when there are none.
    high_water: Arc<AtomicI64>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot start the database writer: {0}")]
    Writer(std::io::Error),
}

impl SqliteStore {
    /// Opens (or creates, with its schema) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let open_error = |source| OpenError::Open {
            path: path.display().to_string(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        schema::prepare_writer(&mut conn).map_err(open_error)?;
        let newest = conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM lines", [], |row| {
                row.get(0)
            })
            .map_err(open_error)?;
        let high_water = Arc::new(AtomicI64::new(newest));

        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                schema::prepare_reader(&conn)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()
            .map_err(open_error)?;

        let writer = Writer::start(conn, high_water.clone()).map_err(OpenError::Writer)?;
        Ok(Self {
            writer,
            readers: Arc::new(ReadPool {
                connections: readers,
                next: AtomicUsize::new(0),
            }),
            high_water,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(query))
            .await
            .map_err(|err| StoreError::Unavailable(err.to_string()))?
            .map_err(|err| StoreError::Unavailable(err.to_string()))
    }
}

#[async_trait::async_trait]
impl ChatStore for SqliteStore {
    async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        self.writer.append(line).await
    }

    async fn since(&self, after: i64, limit: usize) -> Result<Vec<Line>, StoreError> {
        if after >= self.high_water.load(Ordering::Acquire) {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, screenname, text, created FROM lines
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            stmt.query_map((after, limit as i64), line_from_row)?
                .collect()
        })
        .await
    }

    fn newest_id(&self) -> Option<i64> {
        Some(self.high_water.load(Ordering::Acquire))
    }

    async fn latest(&self, count: usize) -> Result<Vec<Line>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, screenname, text, created FROM
                   (SELECT * FROM lines ORDER BY id DESC LIMIT ?1)
                 ORDER BY id",
            )?;
            stmt.query_map([count as i64], line_from_row)?.collect()
        })
        .await
    }
}

struct ReadPool {
    connections: Vec<Mutex<Connection>>,
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
        query(&conn)
    }
}

/// Milliseconds since the Unix epoch, as stored, to the API's RFC 3339 form.
fn rfc3339(created_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(created_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn line_from_row(row: &Row<'_>) -> rusqlite::Result<Line> {
    Ok(Line {
        id: row.get(0)?,
        screenname: row.get(1)?,
        text: row.get(2)?,
        created: rfc3339(row.get(3)?),
    })
}

#[cfg(test)]
mod tests;
