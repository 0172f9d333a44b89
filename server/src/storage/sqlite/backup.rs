//! `server backup DEST`: a consistent copy of a SQLite chat, safe while servers run and posts
//! keep coming. `VACUUM INTO` copies one read transaction's snapshot (every line committed
//! before it began, none half-written) into a temporary file beside `DEST`, which is checked
//! (`PRAGMA integrity_check`) and only then renamed into place: a `DEST` that exists is always
//! a whole, checked copy. Never a file copy, which can tear a database and its WAL apart.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("cannot read the database {path}: {source}")]
    Source {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot write the copy {path}: {source}")]
    Copy {
        path: String,
        source: rusqlite::Error,
    },
    #[error("the copy {path} failed its integrity check ({found}); {dest} was not replaced")]
    Damaged {
        path: String,
        dest: String,
        found: String,
    },
    #[error("cannot put the copy in place at {dest}: {source}")]
    Rename {
        dest: String,
        source: std::io::Error,
    },
}

/// What was copied.
#[derive(Debug, PartialEq, Eq)]
pub struct Copied {
    pub lines: i64,
    /// The newest line's id in the copy (0 when it has none).
    pub newest: i64,
}

/// Copies the chat at `database` to `dest`.
pub fn backup(database: &Path, dest: &Path) -> Result<Copied, BackupError> {
    let shown = |path: &Path| path.display().to_string();
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| BackupError::Source {
        path: shown(database),
        source,
    })?;
    source
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|source| BackupError::Source {
            path: shown(database),
            source,
        })?;
    let partial = partial_path(dest);
    let copy_failed = |source| BackupError::Copy {
        path: shown(&partial),
        source,
    };
    let _ = std::fs::remove_file(&partial);
    let path_text = partial.to_string_lossy().into_owned();
    source
        .execute("VACUUM INTO ?1", [&path_text])
        .map_err(copy_failed)?;
    drop(source);

    let copy = Connection::open(&partial).map_err(copy_failed)?;
    let found: String = copy
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(copy_failed)?;
    if found != "ok" {
        drop(copy);
        let _ = std::fs::remove_file(&partial);
        return Err(BackupError::Damaged {
            path: shown(&partial),
            dest: shown(dest),
            found,
        });
    }
    let (lines, newest) = copy
        .query_row(
            "SELECT count(*), coalesce(max(id), 0) FROM lines",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(copy_failed)?;
    drop(copy);
    std::fs::rename(&partial, dest).map_err(|source| BackupError::Rename {
        dest: shown(dest),
        source,
    })?;
    // The rename itself made durable.
    if let Some(dir) = dest.parent().filter(|dir| !dir.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(Copied { lines, newest })
}

/// Where the copy is written before it is checked: beside `dest`, so the rename stays on one
/// filesystem.
fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chat-backup".to_owned());
    dest.with_file_name(format!(".{name}.partial"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::contract_suite::line;
    use crate::storage::sqlite::SqliteStore;
    use app::store::ChatStore;

    #[tokio::test]
    async fn a_copy_is_whole_checked_and_put_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("chat.sqlite3");
        let store = SqliteStore::open(&database).unwrap();
        for i in 0..10 {
            store.append(line(&format!("l{i}"))).await.unwrap();
        }
        // While the server still holds the database (its WAL not checkpointed).
        let dest = dir.path().join("copy.sqlite3");
        std::fs::write(&dest, b"an older copy").unwrap();
        let copied = backup(&database, &dest).unwrap();
        assert_eq!(
            copied,
            Copied {
                lines: 10,
                newest: 10
            }
        );
        assert!(!partial_path(&dest).exists());
        let copy = SqliteStore::open(&dest).unwrap();
        assert_eq!(
            copy.since(&app::room::Room::general(), 0, 20)
                .await
                .unwrap()
                .len(),
            10
        );
        // A database that cannot be read is said so, and the copy in place is kept.
        let err = backup(&dir.path().join("missing.sqlite3"), &dest).unwrap_err();
        assert!(matches!(err, BackupError::Source { .. }), "{err}");
        assert!(dest.exists());
    }
}
