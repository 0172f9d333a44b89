//! Several server processes on one PostgreSQL database, and PostgreSQL going away.

use crate::common::{Kind, TestDb, TestServer, ids};
use server::testing::pg_sandbox::Sandbox;
use server::testing::server_process::spawn_listening;
use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WRITERS_EACH: usize = 8;
const POLLERS_EACH: usize = 3;
const PAUSES: usize = 20;

fn spawn_server(database: &std::ffi::OsStr) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        // Posters share names without cookies: names are not held here (names.rs holds them).
        .args(["--name-hold-days", "0"])
        .args(["--addr", "127.0.0.1:0", "--post-rate", "0", "--database"])
        .arg(database);
    spawn_listening(command)
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Two servers share the database; 8 writers post to each and pollers follow both, while one
/// server or the other is frozen (SIGSTOP) for 100–300 ms, 20 times: in the middle of a
/// commit, holding the counter's lock, or between. Every poller sees every acknowledged line
/// exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_one_paused_at_random_deliver_every_line_once_in_order() {
    let db = TestDb::new(Kind::Postgres).await;
    let servers = [spawn_server(&db.arg()), spawn_server(&db.arg())];
    let addrs: Vec<String> = servers.iter().map(|(_, addr)| addr.clone()).collect();
    let client = reqwest::Client::new();
    let writing = Arc::new(AtomicBool::new(true));

    let writers: Vec<_> = (0..2 * WRITERS_EACH)
        .map(|w| {
            let (client, writing) = (client.clone(), writing.clone());
            let url = format!("http://{}/api/send", addrs[w % 2]);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while writing.load(Ordering::SeqCst) {
                    let text = format!("w{w} n{i}");
                    let form = [("screenname", "w"), ("text", text.as_str())];
                    let res = client.post(&url).form(&form).send().await.unwrap();
                    assert_eq!(res.status(), 200);
                    let line: serde_json::Value = res.json().await.unwrap();
                    acknowledged.push(line["id"].as_i64().unwrap());
                    i += 1;
                }
                acknowledged
            })
        })
        .collect();
    let newest_acknowledged = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let pollers: Vec<_> = (0..2 * POLLERS_EACH)
        .map(|p| {
            let (client, newest) = (client.clone(), newest_acknowledged.clone());
            let base = format!("http://{}/api/lines", addrs[p % 2]);
            tokio::spawn(async move {
                let (mut cursor, mut seen) = (0, Vec::new());
                while cursor < newest.load(Ordering::SeqCst) {
                    let url = format!("{base}?after={cursor}&limit=100&wait=1");
                    let batch: serde_json::Value =
                        client.get(url).send().await.unwrap().json().await.unwrap();
                    seen.extend(ids(&batch));
                    cursor = batch["cursor"].as_i64().unwrap();
                }
                seen
            })
        })
        .collect();

    let mut rng = fastrand::Rng::with_seed(14);
    for _ in 0..PAUSES {
        tokio::time::sleep(Duration::from_millis(rng.u64(20..200))).await;
        let (child, _) = &servers[rng.usize(0..2)];
        signal(child, "STOP");
        tokio::time::sleep(Duration::from_millis(rng.u64(100..=300))).await;
        signal(child, "CONT");
    }
    writing.store(false, Ordering::SeqCst);
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    let all: Vec<i64> = acknowledged.into_iter().collect();
    newest_acknowledged.store(*all.last().unwrap(), Ordering::SeqCst);
    for poller in pollers {
        let seen = tokio::time::timeout(Duration::from_secs(60), poller)
            .await
            .expect("a poller never caught up")
            .unwrap();
        if seen != all {
            let missing: Vec<_> = all.iter().filter(|id| !seen.contains(id)).take(5).collect();
            panic!(
                "a poller saw {} lines of {} acknowledged (missing, e.g., {missing:?}); \
                 every line once, in order, on either server",
                seen.len(),
                all.len()
            );
        }
    }
    println!("{} lines from 2 servers, {PAUSES} pauses", all.len());
    for (mut child, _) in servers {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// PostgreSQL stops under load and starts again: posts are answered 503 with Retry-After
/// meanwhile, the server stays up and recovers by itself, and no acknowledged line is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stopped_and_restarted_under_load() {
    let pg = Sandbox::start();
    let db = TestDb::Postgres(pg.url.clone());
    let server = Arc::new(
        TestServer::builder()
            .on(&db)
            .config(|c| c.post_rate = 0)
            .start()
            .await,
    );
    let running = Arc::new(AtomicBool::new(true));
    let posters: Vec<_> = (0..8)
        .map(|p| {
            let (server, running) = (server.clone(), running.clone());
            tokio::spawn(async move {
                let (mut acknowledged, mut refused) = (Vec::new(), 0);
                let mut i = 0;
                while running.load(Ordering::SeqCst) {
                    i += 1;
                    let text = format!("p{p} n{i}");
                    let (status, body) = server.send(&[("screenname", "p"), ("text", &text)]).await;
                    match status.as_u16() {
                        200 => acknowledged.push(body["id"].as_i64().unwrap()),
                        503 => {
                            assert_eq!(body["kind"], "unavailable", "{body}");
                            assert!(body["retry_after"].as_u64().is_some(), "{body}");
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => panic!("{other}: {body}"),
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    let count = || async { server.get_json("/api/lines?after=0&limit=1").await };
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Polls are answered from memory meanwhile, and the page is served.
    assert!(count().await["lines"].is_array());
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    pg.restart();
    // Recovered: posts succeed again without a restart of the chat server.
    let mut recovered = false;
    for _ in 0..100 {
        let (status, _) = server.send(&[("screenname", "q"), ("text", "back")]).await;
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "posts work again once PostgreSQL is back");
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::SeqCst);
    let (mut acknowledged, mut refused) = (BTreeSet::new(), 0);
    for poster in posters {
        let (ids, r) = poster.await.unwrap();
        acknowledged.extend(ids);
        refused += r;
    }
    assert!(refused > 0, "posts were refused while PostgreSQL was down");
    let stored: BTreeSet<i64> = server
        .store
        .since(&app::room::Room::general(), 0, 1_000_000)
        .await
        .unwrap()
        .iter()
        .map(|l| l.id())
        .collect();
    assert!(
        acknowledged.is_subset(&stored),
        "an acknowledged line was lost"
    );
}

/// A database that cannot be reached at start is one clear line and exit code 1.
#[test]
fn an_unreachable_database_at_start_is_a_clear_error() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--addr", "127.0.0.1:0", "--database"])
        .arg(format!("postgres://chat:secret@127.0.0.1:{port}/chat"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<_> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/chat"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password is never logged");
}
