//! The database's settings and schema, migrated by `PRAGMA user_version`.

use rusqlite::Connection;

/// Each step moves the schema one version up; steps are never edited once released.
pub const MIGRATIONS: &[&str] = &[
    // 1: the chat lines. AUTOINCREMENT: ids are never reused, so a cursor never skips a line.
    "CREATE TABLE lines (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        screenname TEXT    NOT NULL,
        text       TEXT    NOT NULL,
        created    INTEGER NOT NULL -- milliseconds since the Unix epoch, UTC
    );",
    // 2: idempotency keys, written in the same transaction as their line.
    "CREATE TABLE idempotency (
        key     TEXT    PRIMARY KEY,
        line_id INTEGER NOT NULL REFERENCES lines (id),
        created INTEGER NOT NULL -- milliseconds since the Unix epoch, UTC
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_created ON idempotency (created);",
    // 3: rooms. Every line so far was in the one chat, now the room `general`. A room's page,
    // polls and history read by (room, id); the rooms table keeps each room's newest line,
    // written in the same transaction as the line.
    "ALTER TABLE lines ADD COLUMN room TEXT NOT NULL DEFAULT 'general';
    CREATE INDEX lines_room_id ON lines (room, id);
    CREATE TABLE rooms (
        name      TEXT    PRIMARY KEY,
        newest_id INTEGER NOT NULL,
        newest_at INTEGER NOT NULL -- milliseconds since the Unix epoch, UTC
    ) WITHOUT ROWID;
    INSERT INTO rooms (name, newest_id, newest_at)
        SELECT 'general', id, created FROM lines ORDER BY id DESC LIMIT 1;",
    // 4: identities, held names, edits and deletions. A browser's secret is kept as a
    // selector and the SHA-256 of its token; a name is held under its look-alike key. Lines
    // know who sent them (none before this), their last edit, and their deletion (text and
    // name erased, the row kept for its id). Changes take their ids from the lines' sequence
    // (`sqlite_sequence`), so lines and changes share one order.
    "CREATE TABLE identities (
        id        INTEGER PRIMARY KEY,
        password  TEXT,                       -- argon2id, PHC string
        moderator INTEGER NOT NULL DEFAULT 0,
        created   INTEGER NOT NULL
    );
    CREATE TABLE secrets (
        selector BLOB    PRIMARY KEY,
        verifier BLOB    NOT NULL,            -- SHA-256 of the secret's token
        identity INTEGER NOT NULL REFERENCES identities (id),
        created  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE names (
        key       TEXT    PRIMARY KEY,        -- the look-alike key (NFC, case fold, TR39)
        name      TEXT    NOT NULL,           -- as its holder last posted it
        holder    INTEGER NOT NULL REFERENCES identities (id),
        last_post INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX names_holder ON names (holder);
    ALTER TABLE lines ADD COLUMN poster   INTEGER REFERENCES identities (id);
    ALTER TABLE lines ADD COLUMN edited   INTEGER;
    ALTER TABLE lines ADD COLUMN revision INTEGER;
    ALTER TABLE lines ADD COLUMN deleted  INTEGER;
    CREATE TABLE changes (
        id      INTEGER PRIMARY KEY,
        room    TEXT    NOT NULL,
        line_id INTEGER NOT NULL REFERENCES lines (id),
        kind    TEXT    NOT NULL CHECK (kind IN ('edited', 'deleted')),
        text    TEXT,
        at      INTEGER NOT NULL,
        by      INTEGER REFERENCES identities (id)
    );
    CREATE INDEX changes_room_id ON changes (room, id);
    CREATE INDEX changes_line ON changes (line_id);
    ALTER TABLE idempotency ADD COLUMN change_id INTEGER;",
];

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Write-ahead logging is what lets polls read while a post commits; without it readers
    /// block the writer. SQLite silently stays in another mode where WAL cannot work (no
    /// shared memory on the filesystem, an in-memory database).
    #[error(
        "the database stays in journal mode `{0}`, not WAL (is it on a network filesystem?); \
         put it on a local disk"
    )]
    NoWal(String),
    #[error("the database's schema version {0} is newer than this server knows ({max})", max = MIGRATIONS.len())]
    TooNew(i64),
}

/// Settings for the one read-write connection, and the schema brought up to date.
pub fn prepare_writer(conn: &mut Connection) -> Result<(), SchemaError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Before anything is written (the journal mode is): a newer server's database is left
    // exactly as it was.
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Err(SchemaError::TooNew(version));
    }
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SchemaError::NoWal(mode));
    }
    // FULL: a committed transaction survives a power cut, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Erased means erased: a deleted line's bytes are overwritten, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    migrate(conn, MIGRATIONS.len())
}

pub fn prepare_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

/// Brings the schema up to version `target`.
pub fn migrate(conn: &mut Connection, target: usize) -> Result<(), SchemaError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > MIGRATIONS.len() as i64 {
        return Err(SchemaError::TooNew(version));
    }
    for (version, sql) in (1..)
        .zip(&MIGRATIONS[..target])
        .skip(version.max(0) as usize)
    {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
    }
    tx.commit()?;
    Ok(())
}
