use super::*;
use crate::storage::contract_suite::{self, Harness, general, ids, in_room, keyed, line, lines_of};
use std::sync::Condvar;
use std::time::Duration;

struct Sqlite {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Sqlite {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.sqlite3");
        Self { _dir: dir, path }
    }
}

#[async_trait::async_trait]
impl Harness for Sqlite {
    async fn open_with(&self, rules: crate::storage::rules::Rules) -> Arc<dyn ChatStore> {
        let options = Options {
            rules,
            ..Options::default()
        };
        Arc::new(SqliteStore::open_with(&self.path, options).unwrap())
    }
}

crate::store_contract_tests!(Sqlite::new());

#[test]
fn open_fails_with_a_clear_error() {
    let err = match SqliteStore::open(Path::new("/nonexistent-dir/chat.sqlite3")) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("opened a database in a missing directory"),
    };
    assert!(err.contains("/nonexistent-dir/chat.sqlite3"), "{err}");
}

#[test]
fn a_database_that_cannot_use_wal_is_refused() {
    // An in-memory database stays in journal mode "memory", as a file on a filesystem without
    // shared memory stays in "delete": readers would block the writer.
    let err = match SqliteStore::open(Path::new(":memory:")) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("opened a database that cannot use WAL"),
    };
    assert!(err.contains("not WAL"), "{err}");
}

#[tokio::test]
async fn keys_are_pruned_after_a_day() {
    let harness = Sqlite::new();
    harness
        .open()
        .await
        .append(keyed("kept", "k"))
        .await
        .unwrap();
    let conn = Connection::open(&harness.path).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(
        writer::prune_keys(&conn, now).unwrap(),
        0,
        "a fresh key is kept"
    );
    let a_day_on = now + 24 * 60 * 60 * 1000;
    assert_eq!(
        writer::prune_keys(&conn, a_day_on).unwrap(),
        0,
        "kept at least 24 hours"
    );
    assert_eq!(
        writer::prune_keys(&conn, a_day_on + 2 * 60 * 60 * 1000).unwrap(),
        1
    );
}

/// A database as the release before rooms left it: schema version 2 (its migrations are the
/// first two steps, never edited since), three lines, one with an idempotency key.
fn version_2_database(path: &Path) {
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    migrate(&mut conn, 2).unwrap();
    // Minutes ago: the key is well within its day.
    let ms = chrono::Utc::now().timestamp_millis() - 600_000;
    conn.execute_batch(&format!(
        "INSERT INTO lines (screenname, text, created) VALUES
            ('ann', 'first', {ms}), ('bob', 'second', {ms}), ('ann', 'hello', {ms});
         DELETE FROM lines WHERE id = 2;
         INSERT INTO lines (screenname, text, created) VALUES ('cy', 'third', {ms});
         INSERT INTO idempotency (key, line_id, created) VALUES ('fixture-key', 3, {ms});"
    ))
    .unwrap();
}

#[tokio::test]
async fn a_database_from_before_rooms_keeps_every_line_and_id_in_general() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sqlite3");
    version_2_database(&path);
    let before: Vec<(i64, String, String, i64)> = {
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 2, "the old schema");
        conn.prepare("SELECT id, screenname, text, created FROM lines ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(before.len(), 3);
    assert_eq!(
        before.iter().map(|l| l.0).collect::<Vec<_>>(),
        [1, 3, 4],
        "a gap, kept"
    );

    let store = SqliteStore::open(&path).unwrap();
    let lines = lines_of(store.since(&general(), 0, 100).await.unwrap());
    let after: Vec<_> = lines
        .iter()
        .map(|l| {
            (
                l.id,
                l.screenname.clone(),
                l.text.clone(),
                l.created.clone(),
            )
        })
        .collect();
    let expected: Vec<_> = before
        .iter()
        .map(|(id, name, text, created)| (*id, name.clone(), text.clone(), rfc3339(*created)))
        .collect();
    assert_eq!(after, expected);
    let rooms = store.feed().rooms(10);
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, general());
    assert_eq!(rooms[0].newest_id, before[2].0);
    // The old key still answers with its line; new ids continue after the old ones.
    let replay = store.append(keyed("hello again", "fixture-key")).await;
    assert!(
        matches!(replay, Err(StoreError::KeyReused)),
        "the old key is kept"
    );
    let same = store.append(keyed("hello", "fixture-key")).await.unwrap();
    assert_eq!(same.id, 3, "and answers with its line");
    let next = store.append(line("new")).await.unwrap();
    assert!(next.id > before[2].0);
    drop(store);
    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    assert_eq!(
        conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
            .unwrap(),
        "ok"
    );
}

/// Stalls the writer before its next commit until released; counts the commits it saw.
#[derive(Default)]
struct Stall {
    state: Mutex<StallState>,
    changed: Condvar,
}

#[derive(Default)]
struct StallState {
    stall: bool,
    stalled: bool,
    groups: Vec<usize>,
}

impl Stall {
    fn hook(self: &Arc<Self>) -> CommitHook {
        let stall = self.clone();
        Arc::new(move |size| {
            let mut state = stall.state.lock().unwrap();
            state.groups.push(size);
            state.stalled = state.stall;
            stall.changed.notify_all();
            while state.stall {
                state = stall.changed.wait(state).unwrap();
            }
            state.stalled = false;
        })
    }

    fn arm(&self) {
        self.state.lock().unwrap().stall = true;
    }

    fn wait_until_stalled(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.stalled {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().stall = false;
        self.changed.notify_all();
    }

    fn groups(&self) -> Vec<usize> {
        self.state.lock().unwrap().groups.clone()
    }
}

fn open_stalled(path: &Path, queue_timeout: Duration) -> (Arc<SqliteStore>, Arc<Stall>) {
    let stall = Arc::new(Stall::default());
    let options = Options {
        queue_timeout: Some(queue_timeout),
        commit_hook: Some(stall.hook()),
        ..Default::default()
    };
    (
        Arc::new(SqliteStore::open_with(path, options).unwrap()),
        stall,
    )
}

/// Posts `text` with the writer armed to stall: returns once its commit is held.
async fn post_stalled(
    store: &Arc<SqliteStore>,
    stall: &Arc<Stall>,
    text: &'static str,
) -> tokio::task::JoinHandle<Result<Line, StoreError>> {
    stall.arm();
    let post = tokio::spawn({
        let store = store.clone();
        async move { store.append(line(text)).await }
    });
    let stall = stall.clone();
    tokio::task::spawn_blocking(move || stall.wait_until_stalled())
        .await
        .unwrap();
    post
}

async fn texts_in_general(store: &SqliteStore) -> Vec<String> {
    let lines = lines_of(store.since(&general(), 0, 10).await.unwrap());
    lines.into_iter().map(|l| l.text).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_post_fails_alone_in_its_group() {
    // A post that fails inside the transaction, as a constraint would.
    fails_alone_in_its_group("ABORT").await;
}

/// As SQLITE_FULL, IOERR, NOMEM or BUSY inside a statement may: the whole transaction rolled
/// back by one post. The others are stored all the same, and answered so, and published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_that_rolls_back_its_whole_transaction_fails_alone() {
    fails_alone_in_its_group("ROLLBACK").await;
}

/// A group of five in which `poison` fails with the trigger's `RAISE(<how>)`.
async fn fails_alone_in_its_group(how: &str) {
    let harness = Sqlite::new();
    let (store, stall) = open_stalled(&harness.path, Duration::from_secs(600));
    Connection::open(&harness.path)
        .unwrap()
        .execute_batch(&format!(
            "CREATE TRIGGER poison BEFORE INSERT ON lines WHEN NEW.text = 'poison'
             BEGIN SELECT RAISE({how}, 'poisoned line'); END;"
        ))
        .unwrap();
    // Hold the first commit so that the rest queue up and go in one group.
    let first = post_stalled(&store, &stall, "first").await;
    let released = stall.clone();
    contract_suite::poison_fails_alone(store.clone(), move || released.release()).await;
    assert!(first.await.unwrap().is_ok());
    assert_eq!(
        stall.groups(),
        [1, 5],
        "the four good posts and the bad one in one group"
    );
    assert_eq!(
        texts_in_general(&store).await,
        ["first", "a", "b", "c", "d"]
    );
    // Published as stored: polls answered from memory see them.
    let recent = store.feed().since(&general(), 0, 10).expect("in memory");
    let recent: Vec<_> = lines_of(recent).into_iter().map(|l| l.text).collect();
    assert_eq!(recent, ["first", "a", "b", "c", "d"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_taken_by_the_writer_is_answered_with_its_outcome_however_long_it_takes() {
    let harness = Sqlite::new();
    let queue_timeout = Duration::from_millis(200);
    let (store, stall) = open_stalled(&harness.path, queue_timeout);
    let taken = post_stalled(&store, &stall, "taken").await;
    // Queued behind the stalled commit: it runs out of time and is answered 503...
    let queued = store.append(line("queued")).await;
    assert!(
        matches!(queued, Err(StoreError::Unavailable(_))),
        "{queued:?}"
    );
    // ...while the one being committed, stalled past the queue timeout, is not.
    assert!(
        !taken.is_finished(),
        "a post taken by the writer waits for its commit"
    );
    stall.release();
    let taken = taken.await.unwrap().unwrap();
    // Exactly what the answers said: the first stored, the one told 503 never.
    let texts = texts_in_general(&store).await;
    assert_eq!(texts, ["taken"]);
    assert_eq!(taken.text, "taken");
    // The writer goes on.
    assert!(store.append(in_room("x", "later")).await.is_ok());
    assert_eq!(
        ids(&store.since(&general(), 0, 10).await.unwrap()),
        [taken.id]
    );
}

/// Whether `needle` is anywhere in the file at `path` (absent files hold nothing).
fn file_holds(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_lines_text_leaves_the_database_file_and_its_wal() {
    use crate::storage::contract_suite::{as_name, identity_of, newcomer};
    use app::store::{LineDelete, LineEdit};
    // Long texts: SQLite often overwrites a short cell's bytes anyway, which would hide what
    // secure_delete does.
    let first = format!("first-words-QX7 {}", "a".repeat(80));
    let second = format!("second-words-QX7 {}", "b".repeat(80));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sqlite3");
    let wal = path.with_extension("sqlite3-wal");
    let store: Arc<dyn ChatStore> = Arc::new(SqliteStore::open(&path).unwrap());
    // Lines before it, so that its page holds other rows (a page rewritten whole would hide
    // what secure_delete does).
    for i in 0..20 {
        store.append(line(&format!("filler {i}"))).await.unwrap();
    }
    let (poster, secret) = newcomer();
    let said = store
        .append(as_name("ann", &first).by(poster))
        .await
        .unwrap();
    let ann = identity_of(&store, &secret).await;
    let edit = LineEdit {
        line: said.id,
        text: second.clone(),
        by: ann,
        key: None,
    };
    store.edit(edit).await.unwrap();
    let checkpoint = || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    };
    checkpoint();
    assert!(file_holds(&path, &second), "the test reads the file");
    let delete = LineDelete {
        line: said.id,
        by: ann,
        moderator: false,
    };
    store.delete(delete).await.unwrap();
    // While it runs: once checkpointed, neither the file nor its WAL holds either text.
    checkpoint();
    // Any part of them (a shorter row written over one's start leaves the rest).
    let tails = [&first[first.len() - 30..], &second[second.len() - 30..]];
    for words in tails {
        assert!(!file_holds(&path, words), "{words} in the database");
        assert!(!file_holds(&wal, words), "{words} in the WAL");
    }
    // And after a clean stop, which removes the WAL.
    store.close().await;
    assert!(!wal.exists());
    for words in tails {
        assert!(!file_holds(&path, words), "{words} after the stop");
    }
}
