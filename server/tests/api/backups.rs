//! `server backup DEST` while the chat runs: under 8 concurrent posters, every line
//! acknowledged before the backup began is in the copy, the copy is intact, and a server
//! started on it serves them. On PostgreSQL it says to use pg_dump, and how.

use crate::common::TestDb;
use server::testing::server_process::spawn_listening;
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const POSTERS: usize = 8;

fn server(database: &std::ffi::OsStr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        // Posters share names without cookies: names are not held here (names.rs holds them).
        .args(["--name-hold-days", "0"])
        .args(["--addr", "127.0.0.1:0", "--post-rate", "0", "--database"])
        .arg(database);
    command
}

/// Every id `addr` serves in `general`, through the API.
async fn stored_ids(addr: &str) -> BTreeSet<i64> {
    let client = reqwest::Client::new();
    let (mut ids, mut after) = (BTreeSet::new(), 0);
    loop {
        let batch: serde_json::Value = client
            .get(format!("http://{addr}/api/lines?after={after}&limit=500"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lines = batch["lines"].as_array().unwrap();
        ids.extend(lines.iter().map(|l| l["id"].as_i64().unwrap()));
        if lines.len() < 500 {
            return ids;
        }
        after = batch["cursor"].as_i64().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_while_posts_keep_coming_holds_every_line_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("chat.sqlite3");
    let (mut chat, addr) = spawn_listening(server(database.as_os_str()));
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let posters: Vec<_> = (0..POSTERS)
        .map(|p| {
            let (client, acknowledged, stop) = (client.clone(), acknowledged.clone(), stop.clone());
            let url = format!("http://{addr}/api/send");
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let text = format!("p{p} n{i}");
                    let res = client
                        .post(&url)
                        .form(&[("screenname", "poster"), ("text", text.as_str())])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    let line: serde_json::Value = res.json().await.unwrap();
                    acknowledged
                        .lock()
                        .unwrap()
                        .insert(line["id"].as_i64().unwrap());
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    // The backup begins now: what was acknowledged so far must be in it.
    let before: BTreeSet<i64> = acknowledged.lock().unwrap().clone();
    let dest = dir.path().join("backup.sqlite3");
    let backup = tokio::task::spawn_blocking({
        let (database, dest) = (database.clone(), dest.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_server"))
                .arg("backup")
                .arg(&dest)
                .arg("--database")
                .arg(&database)
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    for poster in posters {
        poster.await.unwrap();
    }
    let said = String::from_utf8_lossy(&backup.stdout);
    assert!(
        backup.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(said.contains("integrity ok; done"), "{said}");
    chat.kill().unwrap();
    chat.wait().unwrap();

    // Restored: a server on the copy serves every line acknowledged before the backup.
    let (mut restored, addr) = spawn_listening(server(dest.as_os_str()));
    let served = stored_ids(&addr).await;
    restored.kill().unwrap();
    restored.wait().unwrap();
    let missing: Vec<_> = before.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "{} lines acknowledged before the backup are missing",
        missing.len()
    );
    let copy = rusqlite::Connection::open(&dest).unwrap();
    let integrity: String = copy
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[tokio::test]
async fn a_backup_of_postgresql_says_to_use_pg_dump_and_how() {
    let TestDb::Postgres(url) = TestDb::new(crate::common::Kind::Postgres).await else {
        unreachable!()
    };
    let refused = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["backup", "/tmp/chat.dump", "--database", &url])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("pg_dump --format=custom --file=/tmp/chat.dump"),
        "{said}"
    );
    assert!(said.contains("--schema=t"), "the test's own schema: {said}");
}
