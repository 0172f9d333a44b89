//! Running it for real: health, metrics on their own port, JSON logs with request ids, and a
//! draining shutdown, on the release-style binary as an operator runs it.

use reqwest::StatusCode;
use serde_json::Value;
use server::testing::server_process::{Logged, spawn_logged};
use std::process::Command;
use std::time::Duration;

fn start(dir: &tempfile::TempDir) -> Logged {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .args(["--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
        .args(["--log-format", "json", "--drain-seconds", "3"])
        // Posters share names without cookies: names are not held here (names.rs holds them).
        .args(["--name-hold-days", "0"])
        .args(["--trusted-proxy", "127.0.0.1"])
        .arg("--database")
        .arg(dir.path().join("chat.sqlite3"));
    spawn_logged(command, "info,server=debug", true)
}

/// The value of the sample `name` (with its labels, as written) in a Prometheus scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_logs_show_what_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(&dir);
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let send = |text: &'static str, key: Option<&'static str>| {
        let mut form = vec![("screenname", "ops"), ("text", text)];
        if let Some(key) = key {
            form.push(("idempotency_key", key));
        }
        client.post(format!("{base}/api/send")).form(&form).send()
    };

    let live = client.get(format!("{base}/livez")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");

    for text in ["one", "two", "three"] {
        assert_eq!(send(text, None).await.unwrap().status(), StatusCode::OK);
    }
    for _ in 0..2 {
        assert_eq!(
            send("keyed", Some("ops-key")).await.unwrap().status(),
            StatusCode::OK
        );
    }
    let bad = client
        .get(format!("{base}/api/lines?after=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    // A trusted proxy's request id is kept and echoed; anyone else gets a new one.
    let traced = client
        .get(format!("{base}/api/lines?after=0"))
        .header("x-request-id", "proxy-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "proxy-id-42");
    let page = client
        .get(format!("{base}/r/ops-room"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["x-request-id"].len(), 16);
    // One poll held while the metrics are read.
    let held = tokio::spawn({
        let (client, url) = (
            client.clone(),
            format!("{base}/api/lines?after=100&wait=30"),
        );
        async move { client.get(url).send().await.unwrap() }
    });

    // Metrics: on their own port only.
    let metrics = server.metrics.clone().unwrap();
    let public = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        public.status(),
        StatusCode::NOT_FOUND,
        "never on the public port"
    );
    let scrape = loop {
        let scrape = client
            .get(format!("http://{metrics}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The held poll reaches the server in its own time: wait for it, not for a duration.
        if sample(&scrape, "chat_held_polls") == Some(1.0) {
            break scrape;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for name in [
        "chat_http_requests_total",
        "chat_http_request_duration_seconds",
        "chat_held_polls",
        "chat_connections_open",
        "chat_lines_committed_total",
        "chat_commit_group_size",
        "chat_writer_queue_depth",
        "chat_idempotent_replays_total",
    ] {
        assert!(
            scrape.contains(&format!("# HELP {name} ")),
            "{name} has no help:\n{scrape}"
        );
    }
    let at = |name: &str| sample(&scrape, name).unwrap_or_else(|| panic!("{name}:\n{scrape}"));
    assert_eq!(
        at(r#"chat_http_requests_total{route="api_send",status="200"}"#),
        5.0
    );
    assert_eq!(
        at(r#"chat_http_requests_total{route="api_lines",status="400"}"#),
        1.0
    );
    assert_eq!(
        at(r#"chat_http_requests_total{route="room_page",status="200"}"#),
        1.0
    );
    assert_eq!(at("chat_lines_committed_total"), 4.0);
    assert_eq!(at("chat_idempotent_replays_total"), 1.0);
    assert_eq!(at("chat_commit_group_size_count"), 5.0);
    assert!(at(r#"chat_http_request_duration_seconds_count{route="api_send"}"#) >= 5.0);
    assert!(
        scrape
            .contains(r#"chat_http_request_duration_seconds_bucket{route="api_send",le="0.005"}"#)
    );
    assert!(at("chat_connections_open") >= 1.0);
    assert_eq!(at("chat_writer_queue_depth"), 0.0);

    // Drain: SIGTERM answers the held poll at once and turns /readyz to 503 while still serving.
    let term = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let answered = held.await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let draining = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(draining.status(), StatusCode::SERVICE_UNAVAILABLE);
    let reason: Value = draining.json().await.unwrap();
    assert_eq!(reason["kind"], "unavailable");
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .contains("shutting down")
    );
    let still = client
        .get(format!("{base}/api/lines?after=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::OK, "served while draining");
    assert!(server.child.wait().unwrap().success());

    // Logs: one JSON object a line; one line per request at debug, with its id.
    let logs = server.logs.lock().unwrap();
    let objects: Vec<Value> = logs
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let traced_line = objects
        .iter()
        .find(|o| o["span"]["id"] == "proxy-id-42" && o["message"] == "request")
        .unwrap_or_else(|| panic!("no request line with the proxy's id:\n{}", logs.join("\n")));
    assert_eq!(traced_line["route"], "api_lines");
    assert!(objects.iter().all(|o| o["level"].is_string()));
    assert!(
        !objects.iter().any(|o| o["route"] == "health"),
        "health checks are not logged per request"
    );
}

/// `--version` says the version and the commit the binary was built from.
#[test]
fn the_version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        said.trim(),
        format!("server {} (commit {head})", env!("CARGO_PKG_VERSION"))
    );
}
