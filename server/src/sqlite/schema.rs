//! The database's settings and schema, migrated by `PRAGMA user_version`.

use rusqlite::Connection;

/// Each step moves the schema one version up; steps are never edited once released.
const MIGRATIONS: &[&str] = &[
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
];

/// Settings for the one read-write connection, and the schema brought up to date.
pub fn prepare_writer(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed transaction survives a power cut, not only a crash.
    conn.pragma_update(None, "synchronous", "FULL")?;
    migrate(conn)
}

pub fn prepare_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (version, sql) in (1..).zip(MIGRATIONS).skip(version.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
    }
    tx.commit()
}
