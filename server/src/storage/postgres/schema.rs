//! The database's schema, migrated at start under an advisory lock so that several servers
//! starting at once take turns.

use tokio_postgres::Client;

/// Each step moves the schema one version up; steps are never edited once released.
pub const MIGRATIONS: &[&str] = &[
    // 1: the chat lines, idempotency keys (written in the same transaction as their line), and
    // the counter that hands out ids in commit order (see the module `postgres`).
    "CREATE TABLE lines (
        id         BIGINT PRIMARY KEY,
        screenname TEXT   NOT NULL,
        text       TEXT   NOT NULL,
        created    BIGINT NOT NULL -- milliseconds since the Unix epoch, UTC
    );
    CREATE TABLE idempotency (
        key     TEXT   PRIMARY KEY,
        line_id BIGINT NOT NULL REFERENCES lines (id),
        created BIGINT NOT NULL
    );
    CREATE INDEX idempotency_created ON idempotency (created);
    CREATE TABLE line_counter (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        last_id  BIGINT  NOT NULL
    );
    INSERT INTO line_counter (last_id) VALUES (0);",
    // 2: rooms. Every line so far was in the one chat, now the room `general`; the rooms
    // table keeps each room's newest line, written in the same transaction as the line.
    "ALTER TABLE lines ADD COLUMN room TEXT NOT NULL DEFAULT 'general';
    CREATE INDEX lines_room_id ON lines (room, id);
    CREATE TABLE rooms (
        name      TEXT   PRIMARY KEY,
        newest_id BIGINT NOT NULL,
        newest_at BIGINT NOT NULL
    );
    INSERT INTO rooms (name, newest_id, newest_at)
        SELECT 'general', id, created FROM lines ORDER BY id DESC LIMIT 1;",
    // 3: identities, held names, edits and deletions (as SQLite's schema 4). Changes take their
    // ids from `line_counter`, under its lock, like lines.
    "CREATE TABLE identities (
        id        BIGSERIAL PRIMARY KEY,
        password  TEXT,
        moderator BOOLEAN NOT NULL DEFAULT FALSE,
        created   BIGINT  NOT NULL
    );
    CREATE TABLE secrets (
        selector BYTEA  PRIMARY KEY,
        verifier BYTEA  NOT NULL,
        identity BIGINT NOT NULL REFERENCES identities (id),
        created  BIGINT NOT NULL
    );
    CREATE TABLE names (
        key       TEXT   PRIMARY KEY,
        name      TEXT   NOT NULL,
        holder    BIGINT NOT NULL REFERENCES identities (id),
        last_post BIGINT NOT NULL
    );
    CREATE INDEX names_holder ON names (holder);
    ALTER TABLE lines ADD COLUMN poster BIGINT REFERENCES identities (id),
                      ADD COLUMN edited BIGINT,
                      ADD COLUMN revision BIGINT,
                      ADD COLUMN deleted BIGINT;
    CREATE TABLE changes (
        id      BIGINT PRIMARY KEY,
        room    TEXT   NOT NULL,
        line_id BIGINT NOT NULL REFERENCES lines (id),
        kind    TEXT   NOT NULL CHECK (kind IN ('edited', 'deleted')),
        text    TEXT,
        at      BIGINT NOT NULL,
        by      BIGINT REFERENCES identities (id)
    );
    CREATE INDEX changes_room_id ON changes (room, id);
    CREATE INDEX changes_line ON changes (line_id);
    ALTER TABLE idempotency ADD COLUMN change_id BIGINT;",
];

/// The advisory lock migrations are applied under ("chat" + "mig").
const MIGRATION_LOCK: i64 = 0x6368_6174_006d_6967;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the database's schema version {0} is newer than this server knows ({max})", max = MIGRATIONS.len())]
    TooNew(i32),
}

/// Brings the schema up to version `target`, in one transaction.
pub async fn migrate(client: &mut Client, target: usize) -> Result<(), SchemaError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS chat_schema (version INTEGER NOT NULL)")
        .await?;
    let version: i32 = match tx.query_opt("SELECT version FROM chat_schema", &[]).await? {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO chat_schema (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if version > MIGRATIONS.len() as i32 {
        return Err(SchemaError::TooNew(version));
    }
    for (version, sql) in (1_i32..)
        .zip(&MIGRATIONS[..target])
        .skip(version.max(0) as usize)
    {
        tx.batch_execute(sql).await?;
        tx.execute("UPDATE chat_schema SET version = $1", &[&version])
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
