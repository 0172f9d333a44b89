use super::*;

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
