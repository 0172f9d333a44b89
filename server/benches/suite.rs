//! The benchmark suite: the real release server on a temporary database, loaded with wrk, every
//! throughput figure beside a baseline (a minimal axum handler) measured in the same run.
//!
//!   cargo bench -p server --bench suite      full run (make bench builds the wasm first)
//!   cargo test  -p server --bench suite      smoke run: tiny durations, same code path
//!
//! Prints a Markdown table; fails if any request failed or a figure is missing.

#[path = "../tests/api/process.rs"]
mod process;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Plan {
    /// Seconds per wrk run.
    seconds: u32,
    /// Open, idle-between-polls connections for the memory figure.
    idle_connections: usize,
    /// Lines timed from post to seen.
    seen_samples: usize,
}

const FULL: Plan = Plan {
    seconds: 10,
    idle_connections: 10_000,
    seen_samples: 20,
};
const SMOKE: Plan = Plan {
    seconds: 1,
    idle_connections: 200,
    seen_samples: 2,
};
/// The page's default poll period.
const POLL_PERIOD: Duration = Duration::from_millis(2000);

/// What one wrk run measured.
struct Load {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let plan = if full { &FULL } else { &SMOKE };
    let open_files = raise_open_files_limit();
    assert!(
        open_files as usize > plan.idle_connections + 1000,
        "the open-files limit ({open_files}) is too low for {} connections: raise `ulimit -Hn`",
        plan.idle_connections
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run(plan, full));
    println!("{report}");
}

async fn run(plan: &Plan, full: bool) -> String {
    let wrk = Wrk::find();
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = spawn_server(&dir.path().join("chat.sqlite3"));
    let (mut baseline, baseline_addr) = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baseline"));
        command.arg("127.0.0.1:0");
        process::spawn_listening(command)
    };
    let idle_rss = rss_mb(server.id());
    let client = reqwest::Client::new();
    for i in 0..50 {
        post(&client, &addr, &format!("seed line {i}")).await;
    }
    let newest = 50;

    let mut table = Table::default();
    for connections in [64, 256] {
        let base = wrk.get(
            &format!("http://{baseline_addr}/api/lines"),
            connections,
            plan.seconds,
        );
        let empty = wrk.get(
            &format!("http://{addr}/api/lines?after={newest}"),
            connections,
            plan.seconds,
        );
        let twenty = wrk.get(
            &format!("http://{addr}/api/lines?after={}&limit=20", newest - 20),
            connections,
            plan.seconds,
        );
        table.load(
            &format!("baseline: fixed JSON, {connections} connections"),
            &base,
            &base,
        );
        table.load(
            &format!("empty poll, {connections} connections"),
            &empty,
            &base,
        );
        table.load(
            &format!("poll returning 20 lines, {connections} connections"),
            &twenty,
            &base,
        );
    }
    let base64 = wrk.get(
        &format!("http://{baseline_addr}/api/lines"),
        64,
        plan.seconds,
    );
    let page = wrk.get(&format!("http://{addr}/"), 64, plan.seconds);
    table.load(
        "page `/` with 50 lines (pages/s), 64 connections",
        &page,
        &base64,
    );
    let posts = wrk.post(&format!("http://{addr}/api/send"), 64, plan.seconds);
    table.load(
        "durable posts (acknowledged/s), 64 posters",
        &posts,
        &base64,
    );

    let seen = post_to_seen(&client, &addr, plan.seen_samples).await;
    table.row(
        "post sent → seen by a poller every 2 s (p50 / max)",
        format!("{:.0} ms / {:.0} ms", seen.0, seen.1),
        "",
    );

    let loaded_rss = memory_with_open_polls(&addr, server.id(), plan.idle_connections).await;
    table.row(
        &format!(
            "server RSS, fresh → {} open poll connections",
            plan.idle_connections
        ),
        format!("{:.1} MB → {:.1} MB", idle_rss, loaded_rss),
        "",
    );
    for (name, sizes) in shipped_sizes(full) {
        table.row(&format!("shipped {name}: raw / gzip / brotli"), sizes, "");
    }

    server.kill().unwrap();
    baseline.kill().unwrap();
    let _ = (server.wait(), baseline.wait());
    table.render(full)
}

fn spawn_server(database: &Path) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .args(["--addr", "127.0.0.1:0", "--post-rate", "0", "--database"])
        .arg(database);
    process::spawn_listening(command)
}

async fn post(client: &reqwest::Client, addr: &str, text: &str) -> serde_json::Value {
    let res = client
        .post(format!("http://{addr}/api/send"))
        .form(&[("screenname", "bench"), ("text", text)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// One client posts, another polls every period as the page does: how long until each line is
/// seen (p50 and worst, ms).
async fn post_to_seen(client: &reqwest::Client, addr: &str, samples: usize) -> (f64, f64) {
    let mut delays = Vec::with_capacity(samples);
    let mut rng = fastrand::Rng::with_seed(3);
    let mut cursor = newest_id(client, addr).await;
    let mut next_poll = Instant::now() + POLL_PERIOD;
    for i in 0..samples {
        // Post at a random moment within the poll period.
        tokio::time::sleep(Duration::from_millis(rng.u64(0..2000))).await;
        let sent = Instant::now();
        let line = post(client, addr, &format!("seen {i}")).await;
        let id = line["id"].as_i64().unwrap();
        loop {
            tokio::time::sleep_until(next_poll.into()).await;
            next_poll += POLL_PERIOD;
            let batch = get_json(client, &format!("http://{addr}/api/lines?after={cursor}")).await;
            cursor = batch["cursor"].as_i64().unwrap();
            if cursor >= id {
                delays.push(sent.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    (delays[delays.len() / 2], *delays.last().unwrap())
}

async fn newest_id(client: &reqwest::Client, addr: &str) -> i64 {
    let snapshot = get_json(client, &format!("http://{addr}/api/snapshot")).await;
    let lines = snapshot["lines"].as_array().unwrap();
    lines.last().map_or(0, |line| line["id"].as_i64().unwrap())
}

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Server RSS (MB) while `count` keep-alive connections each hold an answered poll.
async fn memory_with_open_polls(addr: &str, pid: u32, count: usize) -> f64 {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect (is the open-files limit high enough?)");
        let request = format!("GET /api/lines?after=1000000 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        connections.push(stream);
    }
    let mut answered = 0;
    for stream in &mut connections {
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        answered += usize::from(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    assert_eq!(answered, count, "every open poll was answered");
    rss_mb(pid)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap();
    kb / 1024.0
}

/// Raw, gzip and brotli sizes of the wasm and JS the browser gets.
fn shipped_sizes(required: bool) -> Vec<(String, String)> {
    let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/site/pkg");
    // `chat.wasm` and `chat.js`, or with hash-files `chat.<hash>.wasm` and `chat.<hash>.js`.
    let shipped = |extension: &str| {
        let entries = std::fs::read_dir(&pkg).ok()?;
        entries.flatten().map(|entry| entry.path()).find(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.starts_with("chat.") && name.ends_with(extension)
        })
    };
    let files: Vec<PathBuf> = [".wasm", ".js"]
        .iter()
        .filter_map(|ext| shipped(ext))
        .collect();
    if files.len() != 2 {
        assert!(
            !required,
            "no release build in {}: run `cargo leptos build --release` (make bench does)",
            pkg.display()
        );
        return vec![("pkg".into(), "not built (smoke run)".into())];
    }
    let mut total = [0usize; 3];
    let mut rows: Vec<(String, String)> = files
        .iter()
        .map(|file| {
            let raw = std::fs::read(file).unwrap();
            let sizes = [raw.len(), gzip(&raw), brotli(&raw)];
            total.iter_mut().zip(sizes).for_each(|(t, s)| *t += s);
            // By kind, not by (hashed) name, so runs compare row by row.
            let name = file.extension().unwrap().to_string_lossy().into_owned();
            (name, kb3(sizes))
        })
        .collect();
    rows.push(("wasm + JS".into(), kb3(total)));
    rows
}

fn kb3(sizes: [usize; 3]) -> String {
    format!(
        "{:.1} / {:.1} / {:.1} KB",
        sizes[0] as f64 / 1000.0,
        sizes[1] as f64 / 1000.0,
        sizes[2] as f64 / 1000.0
    )
}

fn gzip(data: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap().len()
}

fn brotli(data: &[u8]) -> usize {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).unwrap();
    out.len()
}

/// The load generator: wrk (Debian's package).
struct Wrk {
    scripts: tempfile::TempDir,
}

impl Wrk {
    fn find() -> Self {
        let found = Command::new("wrk").arg("--version").output().is_ok();
        assert!(
            found,
            "wrk is not installed: `apt-get install wrk` (make bench and make test install it)"
        );
        Self {
            scripts: tempfile::tempdir().unwrap(),
        }
    }

    fn get(&self, url: &str, connections: u32, seconds: u32) -> Load {
        self.run(url, connections, seconds, None)
    }

    fn post(&self, url: &str, connections: u32, seconds: u32) -> Load {
        let script = self.scripts.path().join("post.lua");
        std::fs::write(
            &script,
            "wrk.method = \"POST\"\n\
             wrk.body = \"screenname=bench&text=a+line+from+wrk\"\n\
             wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n",
        )
        .unwrap();
        self.run(url, connections, seconds, Some(&script))
    }

    fn run(&self, url: &str, connections: u32, seconds: u32, script: Option<&Path>) -> Load {
        let mut command = Command::new("wrk");
        // Like a browser, ask for compression: its cost is part of what pages and answers cost.
        command.args([
            "-t2",
            "--latency",
            "--timeout",
            "10s",
            "-H",
            "Accept-Encoding: br, gzip",
        ]);
        command
            .arg(format!("-c{connections}"))
            .arg(format!("-d{seconds}s"));
        if let Some(script) = script {
            command.arg("-s").arg(script);
        }
        let output = command.arg(url).output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "wrk failed on {url}: {text}");
        assert!(
            !text.contains("Non-2xx"),
            "failed requests on {url}:\n{text}"
        );
        assert!(
            !text.contains("Socket errors"),
            "socket errors on {url}:\n{text}"
        );
        let field = |prefix: &str| {
            text.lines()
                .find_map(|line| {
                    line.trim()
                        .strip_prefix(prefix)
                        .map(|rest| rest.trim().to_owned())
                })
                .unwrap_or_else(|| panic!("no `{prefix}` in wrk's output:\n{text}"))
        };
        Load {
            requests_per_sec: field("Requests/sec:").parse().unwrap(),
            p50_ms: millis(&field("50%")),
            p99_ms: millis(&field("99%")),
        }
    }
}

/// wrk's `312.00us`, `1.20ms`, `2.01s` in milliseconds.
fn millis(value: &str) -> f64 {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("latency `{value}`"));
    number
        * match unit {
            "us" => 0.001,
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            other => panic!("unknown unit `{other}`"),
        }
}

#[derive(Default)]
struct Table {
    rows: Vec<(String, String, String)>,
}

impl Table {
    fn load(&mut self, name: &str, load: &Load, baseline: &Load) {
        assert!(load.requests_per_sec > 0.0, "{name}: nothing served");
        self.row(
            name,
            format!(
                "{:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
                load.requests_per_sec, load.p50_ms, load.p99_ms
            ),
            &format!("{:.2}", load.requests_per_sec / baseline.requests_per_sec),
        );
    }

    fn row(&mut self, name: &str, figure: String, ratio: &str) {
        self.rows.push((name.to_owned(), figure, ratio.to_owned()));
    }

    fn render(&self, full: bool) -> String {
        let mut out = String::new();
        let kind = if full {
            "full run"
        } else {
            "smoke run (tiny durations: figures mean nothing)"
        };
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let _ = writeln!(out, "\nBenchmark suite, {kind}; {cores} cores\n");
        let _ = writeln!(
            out,
            "| measure | figure | ratio to baseline |\n| --- | --- | --- |"
        );
        for (name, figure, ratio) in &self.rows {
            let _ = writeln!(out, "| {name} | {figure} | {ratio} |");
        }
        out
    }
}

/// Lifts this process's open-file limit to its hard limit, for the many open connections.
fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    limit.rlim_cur
}
