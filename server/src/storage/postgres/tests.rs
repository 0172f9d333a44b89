use super::*;
use crate::storage::contract_suite::{self, Harness, general, ids, line, lines_of};
use crate::testing::pg_sandbox as sandbox;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

/// A schema of its own on the tests' PostgreSQL server; each `open` is another server process
/// starting on it (or the same one restarting).
struct Pg {
    url: String,
    options: post_queue::Options,
}

impl Pg {
    async fn new() -> Self {
        Self::on(sandbox::fresh_database().await)
    }

    /// Another server on the database at `url`.
    fn on(url: String) -> Self {
        Self {
            url,
            options: post_queue::Options::default(),
        }
    }

    /// A server on `url` whose commits wait at `gate` (its posts wait as long as it takes).
    fn gated(url: String, gate: &Arc<Gate>) -> Self {
        Self {
            url,
            options: post_queue::Options {
                queue_timeout: Some(Duration::from_secs(60)),
                commit_hook: Some(gate.hook()),
                ..Default::default()
            },
        }
    }
}

#[async_trait::async_trait]
impl Harness for Pg {
    async fn open_with(&self, rules: crate::storage::rules::Rules) -> Arc<dyn ChatStore> {
        let options = post_queue::Options {
            rules,
            ..self.options.clone()
        };
        Arc::new(PgStore::open(&self.url, 4, options).await.unwrap())
    }
}

mod contract {
    crate::store_contract_tests!(super::Pg::new().await);
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_from_the_previous_version_and_from_empty() {
    let url = sandbox::fresh_database().await;
    let mut client = connect(&url).await;
    migrate(&mut client, 1).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO lines (id, screenname, text, created) VALUES (1, 'ann', 'old', 0);
             UPDATE line_counter SET last_id = 1;",
        )
        .await
        .unwrap();
    // Several servers starting at once take turns under the advisory lock.
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open(&url, 2, Default::default()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().unwrap());
    }
    let store = &stores[0];
    let old = store.since(&general(), 0, 10).await.unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(
        store.feed().newest(&general()),
        1,
        "the old line is in `general`"
    );
    let next = store.append(line("new")).await.unwrap();
    assert_eq!(next.id, 2);
    let version: i32 = client
        .query_one("SELECT version FROM chat_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version as usize, MIGRATIONS.len());
    // A database from a newer server is refused, not damaged.
    client
        .batch_execute("UPDATE chat_schema SET version = 99")
        .await
        .unwrap();
    assert!(matches!(
        PgStore::open(&url, 2, Default::default()).await,
        Err(OpenError::Schema {
            source: SchemaError::TooNew(99),
            ..
        })
    ));
}

/// Two servers on one database: a line committed by either reaches the other's feed and wakes
/// its held polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_committed_on_one_server_wakes_a_poll_held_on_the_other() {
    let pg = Pg::new().await;
    let (a, b) = (pg.open().await, pg.open().await);
    let held = tokio::spawn({
        let b = b.clone();
        async move {
            b.feed()
                .poll(&general(), 0, 10, Duration::from_secs(20))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let posted = a.append(line("from a")).await.unwrap();
    let seen = held.await.unwrap().unwrap();
    assert_eq!(lines_of(seen), vec![posted]);
}

/// The ordering promise, deterministically: server A's transaction has its id and is held
/// open; server B posts meanwhile. B's line must come after A's, and a poller must see both,
/// in order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_held_open_cannot_be_overtaken() {
    let gate = Arc::new(Gate::default());
    let url = sandbox::fresh_database().await;
    let a = Pg::gated(url.clone(), &gate).open().await;
    let b = Pg::on(url.clone()).open().await;
    let reader = Pg::on(url).open().await;

    let from_a = tokio::spawn({
        let a = a.clone();
        async move { a.append(line("a, held open")).await.unwrap() }
    });
    gate.wait_until_held();
    let from_b = tokio::spawn({
        let b = b.clone();
        async move { b.append(line("b, later")).await.unwrap() }
    });
    // While A is open, nothing is visible and B cannot commit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(reader.since(&general(), 0, 10).await.unwrap().is_empty());
    assert!(!from_b.is_finished(), "B committed while A held its id");
    let mut cursor = 0;
    let mut seen = Vec::new();
    seen.extend(reader.since(&general(), cursor, 10).await.unwrap());
    gate.release();
    let (a_line, b_line) = (from_a.await.unwrap(), from_b.await.unwrap());
    assert!(a_line.id < b_line.id);
    // A poller of the third server, from the store and from its feed.
    while seen.len() < 2 {
        let batch = reader
            .feed()
            .poll(&general(), cursor, 10, Duration::from_secs(5))
            .await
            .unwrap();
        if let Some(last) = batch.last() {
            cursor = last.id();
        }
        seen.extend(batch);
    }
    assert_eq!(lines_of(seen), vec![a_line.clone(), b_line.clone()]);
    assert_eq!(
        lines_of(reader.since(&general(), 0, 10).await.unwrap()),
        vec![a_line, b_line]
    );
}

/// Stalls the commit of one store's first group until released.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>,
    changed: std::sync::Condvar,
}

impl Gate {
    fn hook(self: &Arc<Self>) -> post_queue::CommitHook {
        let gate = self.clone();
        Arc::new(move |_| {
            let mut state = gate.state.lock().unwrap();
            state.0 = true;
            gate.changed.notify_all();
            while !state.1 {
                state = gate.changed.wait(state).unwrap();
            }
        })
    }

    fn wait_until_held(&self) {
        let mut state = self.state.lock().unwrap();
        while !state.0 {
            state = self.changed.wait(state).unwrap();
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }
}

/// Two first posts with one name on two servers at once: server A holds its transaction open
/// (the name decided in it), server B posts the same name meanwhile. One holder, one refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_racing_for_one_name_give_one_holder() {
    use crate::storage::contract_suite::{as_name, newcomer};
    let gate = Arc::new(Gate::default());
    let url = sandbox::fresh_database().await;
    let a = Pg::gated(url.clone(), &gate).open().await;
    let b = Pg::on(url).open().await;
    let (first, first_secret) = newcomer();
    let from_a = tokio::spawn({
        let a = a.clone();
        async move { a.append(as_name("ann", "from a").by(first)).await }
    });
    gate.wait_until_held();
    let from_b = tokio::spawn({
        let b = b.clone();
        async move { b.append(as_name("ANN", "from b").by(newcomer().0)).await }
    });
    gate.release();
    assert!(from_a.await.unwrap().is_ok());
    assert!(matches!(
        from_b.await.unwrap(),
        Err(StoreError::NameTaken(name)) if name == "ANN"
    ));
    let holder = b.holder("ann").await.unwrap().unwrap();
    assert_eq!(
        Some(holder.id),
        a.identify(&first_secret).await.unwrap().map(|i| i.id)
    );
    assert_eq!(ids(&b.since(&general(), 0, 10).await.unwrap()).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_retried_on_another_server_returns_the_first_line() {
    let pg = Pg::new().await;
    let (a, b) = (pg.open().await, pg.open().await);
    let first = a.append(contract_suite::keyed("hi", "k")).await.unwrap();
    assert_eq!(
        b.append(contract_suite::keyed("hi", "k")).await.unwrap(),
        first
    );
    assert!(matches!(
        b.append(contract_suite::keyed("other", "k")).await,
        Err(StoreError::KeyReused)
    ));
    assert_eq!(ids(&b.since(&general(), 0, 10).await.unwrap()), [first.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_keys_are_pruned() {
    let pg = Pg::new().await;
    let store = pg.open().await;
    let kept = store.append(contract_suite::keyed("x", "k")).await.unwrap();
    let client = PgStore::open(&pg.url, 2, Default::default())
        .await
        .unwrap()
        .pool
        .get()
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert_eq!(writer::prune_keys(&client, now).await.unwrap(), 0);
    assert_eq!(
        writer::prune_keys(&client, now + post_queue::KEY_LIFETIME_MS + 1000)
            .await
            .unwrap(),
        1
    );
    // The key is gone; the line stays.
    let again = store.append(contract_suite::keyed("x", "k")).await.unwrap();
    assert_ne!(again.id, kept.id);
}

/// The database goes away and comes back: posts are refused (503) meanwhile, polls are
/// answered from memory, and everything recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_recovers_when_the_database_comes_back() {
    let pg = sandbox::Sandbox::start();
    let store = PgStore::open(&pg.url, 4, Default::default()).await.unwrap();
    let before = store.append(line("before")).await.unwrap();
    pg.stop();
    assert!(matches!(
        store.append(line("while down")).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(store.ping().await.is_err());
    assert_eq!(
        store.feed().since(&general(), 0, 10).map(lines_of),
        Some(vec![before.clone()]),
        "memory still answers"
    );
    pg.restart();
    let mut after = None;
    for _ in 0..100 {
        match store.append(line("after")).await {
            Ok(line) => {
                after = Some(line);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let after = after.expect("posts work again once the database is back");
    store.ping().await.unwrap();
    assert_eq!(
        ids(&store.since(&general(), 0, 10).await.unwrap()),
        [before.id, after.id]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_address_is_an_error_not_a_hang() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://chat@127.0.0.1:{port}/chat");
    let err = PgStore::open(&url, 2, Default::default())
        .await
        .err()
        .expect("nothing listens there");
    assert!(err.to_string().starts_with(&format!(
        "cannot connect to PostgreSQL at 127.0.0.1:{port}/chat"
    )));
    assert!(matches!(
        PgStore::open(
            "postgres://chat@127.0.0.1:notaport/x",
            2,
            Default::default()
        )
        .await,
        Err(OpenError::Url(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_copies_everything_and_can_be_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite3");
    let mut lines = Vec::new();
    {
        let sqlite = crate::storage::sqlite::SqliteStore::open(&file).unwrap();
        for i in 0..12_000 {
            let new = if i % 3 == 0 {
                contract_suite::in_room("other", &format!("o{i}"))
            } else {
                line(&format!("g{i}"))
            };
            lines.push(sqlite.append(new).await.unwrap());
        }
        sqlite
            .append(contract_suite::keyed("keyed", "key-1"))
            .await
            .unwrap();
    }
    let url = sandbox::fresh_database().await;
    // A copy that fails half-way leaves nothing behind...
    let failed = migrate_to::copy(&file, &url, |copied| {
        if copied >= 5_000 {
            Err(DbError::Closed)
        } else {
            Ok(())
        }
    })
    .await;
    assert!(matches!(failed, Err(migrate_to::CopyError::Write(_))));
    // ...so it runs again.
    let copied = migrate_to::copy(&file, &url, |_| Ok(())).await.unwrap();
    assert_eq!(
        copied,
        migrate_to::Copied {
            lines: 12_001,
            keys: 1,
            rooms: 2
        }
    );
    let store = PgStore::open(&url, 2, Default::default()).await.unwrap();
    let other = Room::parse("other").unwrap();
    let copied_other = lines_of(store.since(&other, 0, 500).await.unwrap());
    let sqlite_other: Vec<_> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, l)| l.clone())
        .take(500)
        .collect();
    assert_eq!(
        copied_other, sqlite_other,
        "ids, names, texts and times kept"
    );
    assert_eq!(store.feed().newest(&other), lines[11_999 / 3 * 3].id);
    let replay = store
        .append(contract_suite::keyed("keyed", "key-1"))
        .await
        .unwrap();
    assert_eq!(replay.id, 12_001, "keys came along");
    let next = store.append(line("next")).await.unwrap();
    assert_eq!(next.id, 12_002);
    // A chat is never copied over another.
    assert!(matches!(
        migrate_to::copy(&file, &url, |_| Ok(())).await,
        Err(migrate_to::CopyError::NotEmpty(12_002))
    ));
}

/// Identities, held names, edits and deletions come along, and go on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_copies_identities_names_and_changes() {
    use crate::storage::contract_suite::{as_name, identity_of, newcomer};
    use app::store::{LineDelete, LineEdit};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite3");
    let (poster, secret) = newcomer();
    let (kept, gone, before) = {
        let sqlite: Arc<dyn ChatStore> =
            Arc::new(crate::storage::sqlite::SqliteStore::open(&file).unwrap());
        let kept = sqlite
            .append(as_name("ann", "helo").by(poster))
            .await
            .unwrap();
        let ann = identity_of(&sqlite, &secret).await;
        let edit = LineEdit {
            line: kept.id,
            text: "hello".into(),
            by: ann,
            key: None,
        };
        sqlite.edit(edit).await.unwrap();
        let gone = sqlite
            .append(as_name("ann", "oops").by(app::identity::Poster::Known(ann)))
            .await
            .unwrap();
        let delete = LineDelete {
            line: gone.id,
            by: ann,
            moderator: false,
        };
        sqlite.delete(delete).await.unwrap();
        let before = sqlite.since(&general(), 0, 10).await.unwrap();
        sqlite.close().await;
        (kept, gone, before)
    };
    let url = sandbox::fresh_database().await;
    migrate_to::copy(&file, &url, |_| Ok(())).await.unwrap();
    let store: Arc<dyn ChatStore> =
        Arc::new(PgStore::open(&url, 2, Default::default()).await.unwrap());
    assert_eq!(store.since(&general(), 0, 10).await.unwrap(), before);
    let me = store
        .identify(&secret)
        .await
        .unwrap()
        .expect("the secret came along");
    assert_eq!(me.names, ["ann"]);
    // The line is still its poster's, and the name its holder's.
    let edit = LineEdit {
        line: kept.id,
        text: "hello again".into(),
        by: me.id,
        key: None,
    };
    assert!(store.edit(edit).await.unwrap().id > gone.id);
    assert!(matches!(
        store.append(as_name("ann", "me?").by(newcomer().0)).await,
        Err(StoreError::NameTaken(_))
    ));
    // New identities do not take a copied one's id.
    let (bob, bob_secret) = newcomer();
    store.append(as_name("bob", "hi").by(bob)).await.unwrap();
    assert!(identity_of(&store, &bob_secret).await > me.id);
}

/// `migrate-to` reads one snapshot of the source, read-only, and sets the id counter from the
/// highest id the source ever gave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_reads_one_snapshot_and_never_gives_an_id_again() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.sqlite3");
    drop(crate::storage::sqlite::SqliteStore::open(&file).unwrap());
    let raw = || rusqlite::Connection::open(&file).unwrap();
    {
        let mut conn = raw();
        let tx = conn.transaction().unwrap();
        for i in 1..=6_001 {
            tx.execute(
                "INSERT INTO lines (screenname, text, created) VALUES ('ann', ?1, 0)",
                [format!("l{i}")],
            )
            .unwrap();
        }
        tx.execute("INSERT INTO rooms VALUES ('general', 6001, 0)", [])
            .unwrap();
        // The newest line deleted: its id was given, and cursors may have passed it.
        tx.execute("DELETE FROM lines WHERE id = 6001", []).unwrap();
        tx.commit().unwrap();
    }
    let url = sandbox::fresh_database().await;
    let writer = raw();
    let copied = migrate_to::copy(&file, &url, |copied| {
        if copied == 5_000 {
            // Written while the copy reads: after its snapshot, so not copied.
            writer
                .execute(
                    "INSERT INTO lines (screenname, text, created) VALUES ('bob', 'late', 0)",
                    [],
                )
                .unwrap();
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(
        copied.lines, 6_000,
        "the snapshot's lines, not the late one"
    );
    let store = PgStore::open(&url, 2, Default::default()).await.unwrap();
    let next = store.append(line("next")).await.unwrap();
    assert_eq!(
        next.id, 6_002,
        "6001 was given once, and the late line is not in the copy"
    );
}

/// A path that is no chat, or a chat of an older schema, is refused, and nothing is written to
/// it (the source is opened read-only).
#[tokio::test]
async fn migrate_to_refuses_what_is_no_chat_of_its_schema_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = sandbox::fresh_database().await;
    let missing = dir.path().join("missing.sqlite3");
    let err = migrate_to::copy(&missing, &url, |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, migrate_to::CopyError::Source { .. }), "{err}");
    assert!(!missing.exists(), "no file made at a wrong path");

    let other = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let err = migrate_to::copy(&other, &url, |_| Ok(()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, migrate_to::CopyError::NotAChat { .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&other).unwrap(), before, "not a byte written");

    let old = dir.path().join("old.sqlite3");
    let mut conn = rusqlite::Connection::open(&old).unwrap();
    crate::storage::sqlite::migrate(&mut conn, 2).unwrap();
    drop(conn);
    let before = std::fs::read(&old).unwrap();
    let err = migrate_to::copy(&old, &url, |_| Ok(())).await.unwrap_err();
    assert!(
        err.to_string().contains("start this server on it once"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&old).unwrap(),
        before,
        "not migrated in place"
    );
}

/// A server that stops in the middle of its transaction (frozen, cut off) holds the id
/// counter's lock only for the session's idle timeout: the other servers go on, and the
/// stalled server's post is answered 503 (its retry, under the same key, would find out).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_stalled_inside_its_transaction_does_not_stop_the_others() {
    let gate = Arc::new(Gate::default());
    let url = sandbox::fresh_database().await;
    let stalled = Pg::gated(url.clone(), &gate).open().await;
    let other = Pg::on(url).open().await;
    let stuck = tokio::spawn({
        let stalled = stalled.clone();
        async move { stalled.append(line("never committed")).await }
    });
    gate.wait_until_held();
    // Waits for the lock until the stalled session is ended by the database, then commits.
    let posted = other.append(line("goes on")).await.unwrap();
    gate.release();
    assert!(matches!(
        stuck.await.unwrap(),
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(
        lines_of(other.since(&general(), 0, 10).await.unwrap()),
        vec![posted]
    );
    // The stalled server posts again once it is back.
    let later = stalled.append(line("later")).await.unwrap();
    assert!(later.id > 1);
}

/// One post that the database refuses (here a trigger's exception, as a constraint or bad data
/// would be) fails alone: its group goes again one post a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_post_fails_alone_in_its_group() {
    let gate = Arc::new(Gate::default());
    let url = sandbox::fresh_database().await;
    let store = Pg::gated(url.clone(), &gate).open().await;
    connect(&url)
        .await
        .batch_execute(
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.text = 'poison' THEN RAISE EXCEPTION 'poisoned line'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER poison BEFORE INSERT ON lines FOR EACH ROW EXECUTE FUNCTION poison();",
        )
        .await
        .unwrap();
    // The first commit held, so that the others queue up and go in one group.
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.append(line("first")).await }
    });
    tokio::task::spawn_blocking({
        let gate = gate.clone();
        move || gate.wait_until_held()
    })
    .await
    .unwrap();
    let released = gate.clone();
    contract_suite::poison_fails_alone(store.clone(), move || released.release()).await;
    assert!(first.await.unwrap().is_ok());
    let all = lines_of(store.since(&general(), 0, 10).await.unwrap());
    let all: Vec<_> = all.into_iter().map(|l| l.text).collect();
    assert_eq!(all, ["first", "a", "b", "c", "d"]);
    let recent = store.feed().since(&general(), 0, 10).expect("in memory");
    assert_eq!(recent.len(), 5, "published");
}

/// Passes a connection to PostgreSQL through, until armed: then the next `COMMIT` a client
/// sends is forwarded and the connection cut before PostgreSQL's answer comes back, as a
/// network that fails at the worst moment would.
struct CutAfterCommit {
    addr: std::net::SocketAddr,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl CutAfterCommit {
    async fn to(target: std::net::SocketAddr) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let arm = armed.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(target).await.unwrap();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let armed = arm.clone();
                let upstream = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => return false,
                            Ok(n) => n,
                        };
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            return false;
                        }
                        let commit = buf[..n].windows(7).any(|w| w == b"COMMIT\0");
                        if commit && armed.swap(false, Ordering::SeqCst) {
                            return true; // sent on; the answer is never relayed
                        }
                    }
                });
                let downstream =
                    tokio::spawn(
                        async move { tokio::io::copy(&mut from_server, &mut to_client).await },
                    );
                tokio::spawn(async move {
                    if upstream.await.unwrap_or(false) {
                        downstream.abort();
                    }
                });
            }
        });
        Self { addr, armed }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

/// A commit whose answer is lost is answered with the truth the database gives on a fresh
/// connection (here: committed), not with "503, not stored", which a keyless client would
/// retry into a second copy of its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_is_answered_with_what_the_database_says() {
    let url = sandbox::fresh_database().await;
    let config: tokio_postgres::Config = url.parse().unwrap();
    let port = config.get_ports()[0];
    let proxy = CutAfterCommit::to(format!("127.0.0.1:{port}").parse().unwrap()).await;
    let through = url.replacen(&format!(":{port}/"), &format!(":{}/", proxy.addr.port()), 1);
    assert_ne!(through, url);
    let store = PgStore::open(&through, 4, Default::default())
        .await
        .unwrap();
    let before = store.append(line("before")).await.unwrap();
    proxy.arm();
    let lost = store.append(line("answer lost")).await;
    let lost = lost.expect("stored, as the database says");
    assert_eq!(lost.id, before.id + 1);
    // Stored once, and published: a poll from memory sees it.
    let direct = connect(&url).await;
    let count: i64 = direct
        .query_one("SELECT count(*) FROM lines WHERE text = 'answer lost'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
    let recent = store
        .feed()
        .since(&general(), before.id, 10)
        .expect("in memory");
    assert_eq!(ids(&recent), [lost.id]);
    // And the store goes on.
    let after = store.append(line("after")).await.unwrap();
    assert_eq!(after.id, lost.id + 1);
}
