//! `server migrate-to <postgres-url> --from <sqlite-file>`: copies a SQLite chat into an empty
//! PostgreSQL database, every line, change and idempotency key with its id, rooms, identities
//! and held names included.
//!
//! The copy is one transaction: a copy that fails leaves the target as it was (empty), so it
//! can simply be run again. The source is only read, in one read transaction (one consistent
//! snapshot, even of a chat still being written to), and opened read-only: a read-only backup
//! can be copied, and a wrong path is refused without a byte written to it.

use super::{DbError, OpenError, SchemaError, connection_config, describe};
use crate::storage::sqlite::{MIGRATIONS, SchemaError as SqliteSchemaError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Rows sent per statement.
const CHUNK: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("cannot open the SQLite database {path}: {source}")]
    Source {
        path: String,
        source: crate::storage::sqlite::SchemaError,
    },
    #[error("reading the SQLite database failed: {0}")]
    Read(#[from] rusqlite::Error),
    #[error("{path} is not a chat database (it has no chat schema); nothing was written to it")]
    NotAChat { path: String },
    #[error(
        "{path} has the chat schema of an older server (version {found}; this one copies {known}): \
         start this server on it once, which brings it up to date, then copy it"
    )]
    OlderSchema {
        path: String,
        found: i64,
        known: usize,
    },
    #[error(transparent)]
    Target(#[from] OpenError),
    #[error("cannot connect to PostgreSQL at {at}: {source}")]
    Connect {
        at: String,
        source: tokio_postgres::Error,
    },
    #[error("cannot prepare the PostgreSQL database: {0}")]
    Schema(#[from] SchemaError),
    #[error(
        "the PostgreSQL database already holds {0} lines; migrate-to copies only into an empty chat"
    )]
    NotEmpty(i64),
    #[error("writing to PostgreSQL failed (nothing was kept; run it again): {0}")]
    Write(#[from] DbError),
}

impl From<tokio_postgres::Error> for CopyError {
    fn from(err: tokio_postgres::Error) -> Self {
        CopyError::Write(err.into())
    }
}

/// What was copied.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub lines: u64,
    pub keys: u64,
    pub rooms: u64,
}

/// Copies the chat in the SQLite file `from` into the PostgreSQL database at `url`.
/// `after_chunk` is called after each chunk of lines is sent (tests make it fail there).
pub async fn copy(
    from: &Path,
    url: &str,
    mut after_chunk: impl FnMut(u64) -> Result<(), DbError>,
) -> Result<Copied, CopyError> {
    let source = open_source(from)?;
    // One snapshot of the source for everything read below.
    source.execute_batch("BEGIN")?;
    let config = connection_config(url)?;
    let (mut client, connection) =
        config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|source| CopyError::Connect {
                at: describe(&config),
                source,
            })?;
    let driver = tokio::spawn(connection);
    super::migrate(&mut client, super::MIGRATIONS.len()).await?;

    let tx = client.transaction().await?;
    // Also keeps servers from posting while the copy runs.
    // In the order a server's writer takes them (the counter, then the lines): no deadlock.
    tx.execute("LOCK TABLE line_counter, lines IN EXCLUSIVE MODE", &[])
        .await?;
    let held: i64 = tx
        .query_one("SELECT count(*) FROM lines", &[])
        .await?
        .get(0);
    if held > 0 {
        return Err(CopyError::NotEmpty(held));
    }
    let mut copied = Copied::default();
    copy_identities(&source, &tx).await?;

    let insert_lines = tx
        .prepare(
            "INSERT INTO lines (id, room, screenname, text, created, poster, edited, revision, deleted)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int8[],
                                  $6::int8[], $7::int8[], $8::int8[], $9::int8[])",
        )
        .await?;
    let mut read = source.prepare(
        "SELECT id, room, screenname, text, created, poster, edited, revision, deleted
         FROM lines WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut last = 0_i64;
    loop {
        let mut cols = LineColumns::default();
        let rows = read.query_map((last, CHUNK as i64), |row| {
            Ok((
                (row.get::<_, i64>(0)?, row.get::<_, String>(1)?),
                (row.get::<_, String>(2)?, row.get::<_, String>(3)?),
                (row.get::<_, i64>(4)?, row.get(5)?),
                (row.get(6)?, row.get(7)?, row.get(8)?),
            ))
        })?;
        for row in rows {
            let ((id, room), (name, text), (created, poster), (edited, revision, deleted)) = row?;
            cols.ids.push(id);
            cols.rooms.push(room);
            cols.names.push(name);
            cols.texts.push(text);
            cols.created.push(created);
            cols.posters.push(poster);
            cols.edited.push(edited);
            cols.revisions.push(revision);
            cols.deleted.push(deleted);
        }
        let Some(&newest) = cols.ids.last() else {
            break;
        };
        last = newest;
        copied.lines += tx
            .execute(
                &insert_lines,
                &[
                    &cols.ids,
                    &cols.rooms,
                    &cols.names,
                    &cols.texts,
                    &cols.created,
                    &cols.posters,
                    &cols.edited,
                    &cols.revisions,
                    &cols.deleted,
                ],
            )
            .await?;
        after_chunk(copied.lines)?;
    }

    copy_changes(&source, &tx).await?;
    copy_names(&source, &tx).await?;
    copied.keys = copy_keys(&source, &tx).await?;
    copied.rooms = copy_rooms(&source, &tx).await?;
    // The highest id the source ever gave, not the highest it still holds: ids of lines that
    // were deleted were passed by cursors, and must not be given again.
    let given: i64 = source.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'lines'), 0)",
        [],
        |row| row.get(0),
    )?;
    source.execute_batch("COMMIT")?;
    tx.execute("UPDATE line_counter SET last_id = $1", &[&last.max(given)])
        .await?;
    tx.commit().await?;
    drop(client);
    let _ = driver.await;
    Ok(copied)
}

/// The source, opened read-only, if it is a chat at the schema this server writes.
fn open_source(path: &Path) -> Result<Connection, CopyError> {
    let shown = || path.display().to_string();
    let failed = |source: crate::storage::sqlite::SchemaError| CopyError::Source {
        path: shown(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| failed(e.into()))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| failed(e.into()))?;
    let known = MIGRATIONS.len();
    match version {
        0 => Err(CopyError::NotAChat { path: shown() }),
        v if v > known as i64 => Err(failed(SqliteSchemaError::TooNew(v))),
        v if v < known as i64 => Err(CopyError::OlderSchema {
            path: shown(),
            found: v,
            known,
        }),
        _ => Ok(conn),
    }
}

async fn copy_keys(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<u64, CopyError> {
    let insert = tx
        .prepare(
            "INSERT INTO idempotency (key, line_id, created, change_id)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[])",
        )
        .await?;
    let mut read = source.prepare(
        "SELECT key, line_id, created, change_id FROM idempotency
         WHERE key > ?1 ORDER BY key LIMIT ?2",
    )?;
    let (mut last, mut copied) = (String::new(), 0);
    loop {
        let mut cols = (
            Vec::<String>::new(),
            Vec::<i64>::new(),
            Vec::<i64>::new(),
            Vec::<Option<i64>>::new(),
        );
        for row in read.query_map((&last, CHUNK as i64), |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })? {
            let (key, id, created, change) = row?;
            cols.0.push(key);
            cols.1.push(id);
            cols.2.push(created);
            cols.3.push(change);
        }
        let Some(newest) = cols.0.last() else { break };
        last.clone_from(newest);
        copied += tx
            .execute(&insert, &[&cols.0, &cols.1, &cols.2, &cols.3])
            .await?;
    }
    Ok(copied)
}

/// The lines' columns, as sent.
#[derive(Default)]
struct LineColumns {
    ids: Vec<i64>,
    rooms: Vec<String>,
    names: Vec<String>,
    texts: Vec<String>,
    created: Vec<i64>,
    posters: Vec<Option<i64>>,
    edited: Vec<Option<i64>>,
    revisions: Vec<Option<i64>>,
    deleted: Vec<Option<i64>>,
}

/// Identities and their secrets (before the lines, which refer to them); the identities'
/// sequence goes on after the greatest id copied.
async fn copy_identities(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), CopyError> {
    let mut cols = (
        Vec::<i64>::new(),
        Vec::<Option<String>>::new(),
        Vec::<bool>::new(),
        Vec::<i64>::new(),
    );
    let mut read = source.prepare("SELECT id, password, moderator, created FROM identities")?;
    for row in read.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })? {
        let (id, password, moderator, created) = row?;
        cols.0.push(id);
        cols.1.push(password);
        cols.2.push(moderator);
        cols.3.push(created);
    }
    tx.execute(
        "INSERT INTO identities (id, password, moderator, created)
         SELECT * FROM UNNEST($1::int8[], $2::text[], $3::bool[], $4::int8[])",
        &[&cols.0, &cols.1, &cols.2, &cols.3],
    )
    .await?;
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('identities', 'id'),
                       GREATEST((SELECT max(id) FROM identities), 1))",
        &[],
    )
    .await?;
    let mut cols = (
        Vec::<Vec<u8>>::new(),
        Vec::<Vec<u8>>::new(),
        Vec::<i64>::new(),
        Vec::<i64>::new(),
    );
    let mut read = source.prepare("SELECT selector, verifier, identity, created FROM secrets")?;
    for row in read.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })? {
        let (selector, verifier, identity, created) = row?;
        cols.0.push(selector);
        cols.1.push(verifier);
        cols.2.push(identity);
        cols.3.push(created);
    }
    tx.execute(
        "INSERT INTO secrets (selector, verifier, identity, created)
         SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::int8[], $4::int8[])",
        &[&cols.0, &cols.1, &cols.2, &cols.3],
    )
    .await?;
    Ok(())
}

async fn copy_names(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), CopyError> {
    let mut cols = (
        Vec::<String>::new(),
        Vec::<String>::new(),
        Vec::<i64>::new(),
        Vec::<i64>::new(),
    );
    let mut read = source.prepare("SELECT key, name, holder, last_post FROM names")?;
    for row in read.query_map([], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
    })? {
        let (key, name, holder, last_post) = row?;
        cols.0.push(key);
        cols.1.push(name);
        cols.2.push(holder);
        cols.3.push(last_post);
    }
    tx.execute(
        "INSERT INTO names (key, name, holder, last_post)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[])",
        &[&cols.0, &cols.1, &cols.2, &cols.3],
    )
    .await?;
    Ok(())
}

async fn copy_changes(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), CopyError> {
    let insert = tx
        .prepare(
            "INSERT INTO changes (id, room, line_id, kind, text, at, by)
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[],
                                  $6::int8[], $7::int8[])",
        )
        .await?;
    let mut read = source.prepare(
        "SELECT id, room, line_id, kind, text, at, by FROM changes WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let mut last = 0_i64;
    loop {
        let mut cols = (
            Vec::<i64>::new(),
            Vec::<String>::new(),
            Vec::<i64>::new(),
            Vec::<String>::new(),
            Vec::<Option<String>>::new(),
            Vec::<i64>::new(),
            Vec::<Option<i64>>::new(),
        );
        for row in read.query_map((last, CHUNK as i64), |row| {
            Ok((
                (row.get(0)?, row.get(1)?, row.get(2)?),
                (row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?),
            ))
        })? {
            let ((id, room, line), (kind, text, at, by)) = row?;
            cols.0.push(id);
            cols.1.push(room);
            cols.2.push(line);
            cols.3.push(kind);
            cols.4.push(text);
            cols.5.push(at);
            cols.6.push(by);
        }
        let Some(&newest) = cols.0.last() else { break };
        last = newest;
        tx.execute(
            &insert,
            &[
                &cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5, &cols.6,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn copy_rooms(
    source: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<u64, CopyError> {
    let mut cols = (Vec::<String>::new(), Vec::<i64>::new(), Vec::<i64>::new());
    let mut read = source.prepare("SELECT name, newest_id, newest_at FROM rooms")?;
    for row in read.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))? {
        let (name, id, at) = row?;
        cols.0.push(name);
        cols.1.push(id);
        cols.2.push(at);
    }
    Ok(tx
        .execute(
            "INSERT INTO rooms (name, newest_id, newest_at)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[])",
            &[&cols.0, &cols.1, &cols.2],
        )
        .await?)
}
