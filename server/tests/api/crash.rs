//! The release-style binary under concurrent posts: killed with SIGKILL at random moments, or
//! stopped with SIGTERM, it loses no acknowledged line and keeps the database intact.

use crate::common::{Kind, TestDb, on_both_stores};

use server::testing::server_process::spawn_listening;
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POSTERS: usize = 32;
const KILL_ROUNDS: usize = 10;

/// The server binary on `db`, and the address it reports once listening.
fn spawn_server(db: &TestDb) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        // Posters share names without cookies: names are not held here (names.rs holds them).
        .args(["--name-hold-days", "0"])
        .args(["--addr", "127.0.0.1:0", "--database"])
        .arg(db.arg());
    spawn_listening(command)
}

/// Acknowledged lines: id → text.
type Acknowledged = Arc<Mutex<BTreeMap<i64, String>>>;

/// Posters that send until their server goes away; each answer 200 is recorded.
fn start_posters(
    addr: &str,
    round: usize,
    acknowledged: &Acknowledged,
) -> Vec<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::new();
    (0..POSTERS)
        .map(|p| {
            let (client, acknowledged) = (client.clone(), acknowledged.clone());
            let url = format!("http://{addr}/api/send");
            tokio::spawn(async move {
                for i in 0.. {
                    let text = format!("r{round} p{p} n{i}");
                    let form = [("screenname", "poster"), ("text", text.as_str())];
                    let Ok(res) = client.post(&url).form(&form).send().await else {
                        return; // the server is gone
                    };
                    if res.status() != 200 {
                        continue;
                    }
                    let Ok(line) = res.json::<serde_json::Value>().await else {
                        return; // died while answering: not acknowledged
                    };
                    let id = line["id"].as_i64().unwrap();
                    assert!(
                        acknowledged.lock().unwrap().insert(id, text).is_none(),
                        "id {id} twice"
                    );
                }
            })
        })
        .collect()
}

/// Waits until `count` lines have been acknowledged.
async fn acknowledged_reach(acknowledged: &Acknowledged, count: usize) {
    let waiting = async {
        while acknowledged.lock().unwrap().len() < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    // Only bounds a broken run (posters that all failed).
    tokio::time::timeout(Duration::from_secs(120), waiting)
        .await
        .unwrap_or_else(|_| panic!("fewer than {count} posts acknowledged in 120 s"));
}

/// Every stored line, id → text, read through the API.
async fn stored(addr: &str) -> BTreeMap<i64, String> {
    let client = reqwest::Client::new();
    let (mut after, mut all) = (0, BTreeMap::new());
    loop {
        let url = format!("http://{addr}/api/lines?after={after}&limit=500");
        let batch: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
        let lines = batch["lines"].as_array().unwrap();
        for line in lines {
            let id = line["id"].as_i64().unwrap();
            assert!(id > after, "ids come in order, once");
            all.insert(id, line["text"].as_str().unwrap().to_owned());
            after = id;
        }
        if lines.len() < 500 {
            return all;
        }
    }
}

/// "ok", or what is wrong: SQLite's check of its file; on PostgreSQL (which keeps its own
/// files), that the id counter and the lines agree and no id was skipped.
async fn integrity(db: &TestDb) -> String {
    match db {
        TestDb::Sqlite { path, .. } => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
                .unwrap()
        }
        TestDb::Postgres(url) => {
            let client = crate::common::connect_postgres(url).await;
            let row = client
                .query_one(
                    "SELECT (SELECT last_id FROM line_counter), count(*), coalesce(max(id), 0)
                     FROM lines",
                    &[],
                )
                .await
                .unwrap();
            let (counter, count, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            if counter == max && count == max {
                "ok".to_owned()
            } else {
                format!("counter {counter}, {count} lines, newest id {max}")
            }
        }
    }
}

fn assert_all_acknowledged_stored(acknowledged: &Acknowledged, stored: &BTreeMap<i64, String>) {
    for (id, text) in acknowledged.lock().unwrap().iter() {
        assert_eq!(
            stored.get(id),
            Some(text),
            "acknowledged line {id} lost or changed"
        );
    }
}

on_both_stores!(
    sigkill_under_load_loses_no_acknowledged_line,
    sigterm_finishes_requests_in_flight_and_exits_promptly,
);

async fn sigkill_under_load_loses_no_acknowledged_line(kind: Kind) {
    let database = TestDb::new(kind).await;
    let acknowledged = Acknowledged::default();
    let mut rng = fastrand::Rng::with_seed(7);

    for round in 0..KILL_ROUNDS {
        let (mut child, addr) = spawn_server(&database);
        let posters = start_posters(&addr, round, &acknowledged);
        // A random moment, counted in acknowledged posts rather than in time, so that every
        // round kills a server busy committing however fast or slow the machine is.
        let before = acknowledged.lock().unwrap().len();
        acknowledged_reach(&acknowledged, before + rng.usize(1..300)).await;
        tokio::time::sleep(Duration::from_micros(rng.u64(0..5_000))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for poster in posters {
            poster.await.unwrap();
        }
        assert_eq!(integrity(&database).await, "ok", "round {round}");
    }

    let (mut child, addr) = spawn_server(&database);
    let stored = stored(&addr).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let acknowledged_count = acknowledged.lock().unwrap().len();
    assert!(acknowledged_count >= KILL_ROUNDS);
    println!(
        "{acknowledged_count} acknowledged lines over {KILL_ROUNDS} SIGKILL rounds, all stored"
    );
    assert_all_acknowledged_stored(&acknowledged, &stored);
    assert_eq!(integrity(&database).await, "ok");
}

async fn sigterm_finishes_requests_in_flight_and_exits_promptly(kind: Kind) {
    let database = TestDb::new(kind).await;
    let acknowledged = Acknowledged::default();

    let (mut child, addr) = spawn_server(&database);
    let posters = start_posters(&addr, 0, &acknowledged);
    acknowledged_reach(&acknowledged, 100).await;
    let asked = Instant::now();
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "exit status {status}");
    // Nothing in a shutdown waits on a timer: it takes milliseconds; 5 s is the promise.
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    for poster in posters {
        poster.await.unwrap();
    }
    // Every connection closed: SQLite checkpointed its WAL into the database and removed it.
    if let TestDb::Sqlite { path, .. } = &database {
        let wal = path.with_extension("sqlite3-wal");
        assert!(!wal.exists(), "{} is left behind", wal.display());
    }

    let (mut child, addr) = spawn_server(&database);
    let stored = stored(&addr).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!acknowledged.lock().unwrap().is_empty());
    assert_all_acknowledged_stored(&acknowledged, &stored);
    assert_eq!(integrity(&database).await, "ok");
}
