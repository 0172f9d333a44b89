//! Upgrades: a database written by a newer server (a schema this binary does not know) is
//! refused at start with one readable line and exit code 1, and nothing is written to it; an
//! older one is migrated forward (the stores' own tests). On both stores.

use crate::common::{Kind, TestDb, on_both_stores};
use std::process::Command;

on_both_stores!(a_database_from_a_newer_server_is_refused_at_start_untouched);

/// The schema version this binary would find, and then set to `version`.
async fn set_schema_version(db: &TestDb, version: i64) {
    match db {
        TestDb::Sqlite { path, .. } => {
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.pragma_update(None, "user_version", version).unwrap();
        }
        TestDb::Postgres(url) => {
            let client = crate::common::connect_postgres(url).await;
            client
                .execute("UPDATE chat_schema SET version = $1", &[&(version as i32)])
                .await
                .unwrap();
        }
    }
}

/// What the database holds, to compare before and after: the SQLite file's bytes, or
/// PostgreSQL's lines and schema version.
async fn contents(db: &TestDb) -> Vec<u8> {
    match db {
        TestDb::Sqlite { path, .. } => std::fs::read(path).unwrap(),
        TestDb::Postgres(url) => {
            let client = crate::common::connect_postgres(url).await;
            let row = client
                .query_one(
                    "SELECT (SELECT version FROM chat_schema)::text || ' ' || \
                     (SELECT count(*) FROM lines)::text",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, String>(0).into_bytes()
        }
    }
}

fn server(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        // Posters share names without cookies: names are not held here (names.rs holds them).
        .args(["--name-hold-days", "0"])
        .args(["--addr", "127.0.0.1:0", "--database"])
        .arg(db.arg())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

async fn a_database_from_a_newer_server_is_refused_at_start_untouched(kind: Kind) {
    let db = TestDb::new(kind).await;
    // Made by this server: started once, a line posted, stopped cleanly.
    let (mut child, addr) = server::testing::server_process::spawn_listening(server(&db));
    let posted = reqwest::Client::new()
        .post(format!("http://{addr}/api/send"))
        .form(&[("screenname", "ann"), ("text", "before the upgrade")])
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(child.wait().unwrap().success());

    // Then a newer server wrote it.
    set_schema_version(&db, 99).await;
    let before = contents(&db).await;
    let refused = server(&db).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    let errors: Vec<&str> = said.lines().filter(|line| line.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one line: {said}");
    assert!(
        errors[0].contains("schema version 99 is newer than this server knows"),
        "{said}"
    );
    assert_eq!(contents(&db).await, before, "nothing written");
}
