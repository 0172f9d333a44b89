use super::*;
use std::collections::BTreeSet;

fn open_temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("chat.sqlite3")).unwrap();
    (dir, store)
}

fn new_line(text: &str) -> NewLine {
    NewLine::parse("ann", text).unwrap()
}

fn ids(lines: &[Line]) -> Vec<i64> {
    lines.iter().map(|l| l.id).collect()
}

#[tokio::test]
async fn ids_increase_and_lines_read_back() {
    let (_dir, store) = open_temp();
    let a = store.append(new_line("one")).await.unwrap();
    let b = store.append(new_line("two")).await.unwrap();
    assert!(b.id > a.id);
    assert_eq!((b.screenname.as_str(), b.text.as_str()), ("ann", "two"));
    assert_eq!(b.created.len(), "2026-11-23T10:00:00Z".len());
    assert!(b.created.ends_with('Z'));
    assert_eq!(store.since(0, 10).await.unwrap(), vec![a, b]);
}

#[tokio::test]
async fn since_returns_exactly_the_later_lines_in_order() {
    let (_dir, store) = open_temp();
    for i in 0..10 {
        store.append(new_line(&format!("line {i}"))).await.unwrap();
    }
    let all = store.since(0, 100).await.unwrap();
    assert_eq!(ids(&all), (1..=10).collect::<Vec<_>>());
    let later = store.since(4, 100).await.unwrap();
    assert_eq!(ids(&later), (5..=10).collect::<Vec<_>>());
    assert_eq!(later[0].text, "line 4");
    assert!(store.since(10, 100).await.unwrap().is_empty());
    assert!(store.since(1000, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn limit_is_respected() {
    let (_dir, store) = open_temp();
    for i in 0..10 {
        store.append(new_line(&format!("line {i}"))).await.unwrap();
    }
    assert_eq!(ids(&store.since(2, 3).await.unwrap()), [3, 4, 5]);
    assert_eq!(ids(&store.latest(3).await.unwrap()), [8, 9, 10]);
    assert_eq!(store.latest(50).await.unwrap().len(), 10);
}

#[tokio::test]
async fn concurrent_appends_are_all_stored_once() {
    let (_dir, store) = open_temp();
    let store = Arc::new(store);
    let posts = (0..200).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.append(new_line(&format!("p{i}"))).await.unwrap() })
    });
    let mut acknowledged = Vec::new();
    for post in posts {
        acknowledged.push(post.await.unwrap().id);
    }
    acknowledged.sort();
    let stored = store.since(0, 500).await.unwrap();
    assert_eq!(ids(&stored), acknowledged);
    assert_eq!(ids(&stored), (1..=200).collect::<Vec<_>>());
}

#[tokio::test]
async fn lines_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sqlite3");
    let stored = {
        let store = SqliteStore::open(&path).unwrap();
        store.append(new_line("kept")).await.unwrap()
    };
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.since(0, 10).await.unwrap(), vec![stored.clone()]);
    // The in-memory high-water mark starts from what is on disk.
    let next = store.append(new_line("after")).await.unwrap();
    assert!(next.id > stored.id);
    assert_eq!(ids(&store.since(stored.id, 10).await.unwrap()), [next.id]);
}

#[test]
fn open_fails_with_a_clear_error() {
    let err = match SqliteStore::open(Path::new("/nonexistent-dir/chat.sqlite3")) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("opened a database in a missing directory"),
    };
    assert!(err.contains("/nonexistent-dir/chat.sqlite3"), "{err}");
}

fn keyed(text: &str, key: &str) -> NewLine {
    let key = app::line::IdempotencyKey::parse(Some(key)).unwrap();
    new_line(text).with_key(key)
}

#[tokio::test]
async fn a_repeated_key_returns_the_first_line_and_stores_nothing() {
    let (_dir, store) = open_temp();
    let first = store.append(keyed("hello", "k1")).await.unwrap();
    let again = store.append(keyed("hello", "k1")).await.unwrap();
    assert_eq!(again, first);
    assert!(matches!(
        store.append(keyed("something else", "k1")).await,
        Err(StoreError::KeyReused)
    ));
    let other = store.append(keyed("hello", "k2")).await.unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(
        ids(&store.since(0, 10).await.unwrap()),
        [first.id, other.id]
    );
}

#[tokio::test]
async fn concurrent_sends_with_one_key_store_one_line() {
    let (_dir, store) = open_temp();
    let store = Arc::new(store);
    let sends: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.append(keyed("once", "same")).await.unwrap() })
        })
        .collect();
    let mut answered = BTreeSet::new();
    for send in sends {
        answered.insert(send.await.unwrap().id);
    }
    assert_eq!(answered.len(), 1);
    assert_eq!(store.since(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn keys_survive_reopening_and_are_pruned_after_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.sqlite3");
    let first = {
        let store = SqliteStore::open(&path).unwrap();
        store.append(keyed("kept", "k")).await.unwrap()
    };
    {
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.append(keyed("kept", "k")).await.unwrap(), first);
    }
    let conn = Connection::open(&path).unwrap();
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
