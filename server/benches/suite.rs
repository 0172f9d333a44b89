//! The benchmark suite: the real release server on a temporary database, loaded with wrk, every
//! throughput figure beside a baseline (a minimal axum handler) measured in the same run.
//!
//!   cargo bench -p server --bench suite      full run (make bench builds the wasm first)
//!   cargo test  -p server --bench suite      smoke run: tiny durations, same code path
//!
//! Prints a Markdown table; fails if any request failed or a figure is missing.

use server::testing::server_process::spawn_listening;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Plan {
    /// Seconds per wrk run.
    seconds: u32,
    /// Held polls answered by one post (and the memory figure).
    held_polls: usize,
    /// Held pollers timed from post to seen, and how many posts.
    held_pollers: usize,
    seen_samples: usize,
    /// Lines in the database for the history and many-rooms figures.
    history_lines: usize,
}

const FULL: Plan = Plan {
    seconds: 10,
    held_polls: 10_000,
    held_pollers: 1_000,
    seen_samples: 10,
    history_lines: 1_000_000,
};
const SMOKE: Plan = Plan {
    seconds: 1,
    held_polls: 200,
    held_pollers: 20,
    seen_samples: 2,
    history_lines: 10_000,
};
/// Rooms the history lines are spread over.
const ROOMS: usize = 100;

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
        open_files as usize > plan.held_polls + 1000,
        "the open-files limit ({open_files}) is too low for {} connections: raise `ulimit -Hn`",
        plan.held_polls
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
    let (mut server, addr) = spawn_server(dir.path().join("chat.sqlite3").as_os_str());
    let (mut baseline, baseline_addr) = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baseline"));
        command.arg("127.0.0.1:0");
        spawn_listening(command)
    };
    let idle_rss = rss_mb(server.id());
    let (client, jar) = poster();
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
    let posts = wrk.post(
        &format!("http://{addr}/api/send"),
        64,
        plan.seconds,
        &cookies(&jar, &addr),
    );
    table.load(
        "durable posts (acknowledged/s), 64 posters",
        &posts,
        &base64,
    );

    postgres(&mut table, &wrk, plan, &base64).await;

    let seen = held_delivery(&client, &addr, &addr, plan.held_pollers, plan.seen_samples).await;
    table.row(
        &format!(
            "post sent → seen by a held poll, {} held pollers (p50 / p99)",
            plan.held_pollers
        ),
        format!("{:.1} ms / {:.1} ms", seen.0, seen.1),
        "",
    );
    let fan_out = one_post_many_held(&client, &addr, server.id(), plan.held_polls).await;
    table.row(
        &format!(
            "one post, {} held polls: answered, from the post sent (p50 / p99; the last, after the post's acknowledgement)",
            plan.held_polls
        ),
        format!(
            "{:.0} ms / {:.0} ms; {:.0} ms ({} answered with the line)",
            fan_out.p50_ms, fan_out.p99_ms, fan_out.last_after_ack_ms, fan_out.answered_with_line
        ),
        "",
    );
    table.row(
        &format!(
            "opening {} held polls (256 connecting at once)",
            plan.held_polls
        ),
        format!("{:.0} ms", fan_out.opened_ms),
        "",
    );
    table.row(
        &format!("server RSS, fresh → {} held polls", plan.held_polls),
        format!("{:.1} MB → {:.1} MB", idle_rss, fan_out.rss_mb),
        "",
    );
    server.kill().unwrap();
    let _ = server.wait();

    // History and many rooms: a database of `history_lines` lines over 100 rooms.
    let big = dir.path().join("big.sqlite3");
    let (room_ids, seed_ms) = fill_rooms(&big, plan.history_lines);
    let (mut server, addr) = spawn_server(big.as_os_str());
    let room = "room-7";
    let ids = &room_ids[7];
    let middle = ids[ids.len() / 2];
    let history = wrk.get(
        &format!("http://{addr}/api/lines?room={room}&before={middle}&limit=50"),
        64,
        plan.seconds,
    );
    table.load(
        &format!(
            "history page (50 lines) from the middle of {} lines, 64 connections",
            plan.history_lines
        ),
        &history,
        &base64,
    );
    let newest = *ids.last().unwrap();
    let twenty_back = ids[ids.len() - 21];
    let busy_empty = wrk.get(
        &format!("http://{addr}/api/lines?room={room}&after={newest}"),
        64,
        plan.seconds,
    );
    table.load(
        &format!("empty poll, one of {ROOMS} active rooms, 64 connections"),
        &busy_empty,
        &base64,
    );
    let busy_twenty = wrk.get(
        &format!("http://{addr}/api/lines?room={room}&after={twenty_back}&limit=20"),
        64,
        plan.seconds,
    );
    table.load(
        &format!("poll returning 20 lines, one of {ROOMS} active rooms, 64 connections"),
        &busy_twenty,
        &base64,
    );
    table.row(
        &format!("filling the database with {} lines", plan.history_lines),
        format!("{seed_ms:.0} ms"),
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

/// The same measures on PostgreSQL (a throwaway server of `.ci/pg-sandbox`): polls from memory,
/// posts on one server and on two sharing the database, and a post on one server seen by polls
/// held on the other.
async fn postgres(table: &mut Table, wrk: &Wrk, plan: &Plan, baseline: &Load) {
    // Its own identity: the PostgreSQL chat is another chat.
    let (client, jar) = poster();
    let (client, jar) = (&client, &jar);
    let pg = server::testing::pg_sandbox::Sandbox::start();
    let (mut one, a) = spawn_server(pg.url.as_ref());
    let (mut two, b) = spawn_server(pg.url.as_ref());
    for i in 0..50 {
        post(client, &a, &format!("seed line {i}")).await;
    }
    let newest = settled_newest_id(client, &a).await;
    let empty = wrk.get(
        &format!("http://{a}/api/lines?after={newest}"),
        64,
        plan.seconds,
    );
    table.load("PostgreSQL: empty poll, 64 connections", &empty, baseline);
    let twenty = wrk.get(
        &format!("http://{a}/api/lines?after={}&limit=20", newest - 20),
        64,
        plan.seconds,
    );
    table.load(
        "PostgreSQL: poll returning 20 lines, 64 connections",
        &twenty,
        baseline,
    );
    // The identity of this database (the jar ignores ports: the seeding replaced it).
    let cookie = cookies(jar, &a);
    let posts = wrk.post(&format!("http://{a}/api/send"), 64, plan.seconds, &cookie);
    table.load(
        "PostgreSQL: durable posts (acknowledged/s), 64 posters, one server",
        &posts,
        baseline,
    );
    let (on_a, on_b) = std::thread::scope(|scope| {
        let on_a =
            scope.spawn(|| wrk.post(&format!("http://{a}/api/send"), 32, plan.seconds, &cookie));
        let on_b =
            scope.spawn(|| wrk.post(&format!("http://{b}/api/send"), 32, plan.seconds, &cookie));
        (on_a.join().unwrap(), on_b.join().unwrap())
    });
    let both = Load {
        requests_per_sec: on_a.requests_per_sec + on_b.requests_per_sec,
        p50_ms: on_a.p50_ms.max(on_b.p50_ms),
        p99_ms: on_a.p99_ms.max(on_b.p99_ms),
    };
    table.load(
        "PostgreSQL: durable posts (acknowledged/s), 64 posters over two servers (p50, p99: the worse server's)",
        &both,
        baseline,
    );
    let seen = held_delivery(client, &a, &b, plan.held_pollers, plan.seen_samples).await;
    table.row(
        &format!(
            "PostgreSQL: post on server A → seen by a poll held on server B, {} held pollers (p50 / p99)",
            plan.held_pollers
        ),
        format!("{:.1} ms / {:.1} ms", seen.0, seen.1),
        "",
    );
    for server in [&mut one, &mut two] {
        server.kill().unwrap();
        let _ = server.wait();
    }
}

fn spawn_server(database: &std::ffi::OsStr) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command
        .args([
            "--addr",
            "127.0.0.1:0",
            "--post-rate",
            "0",
            "--max-held-polls",
            "50000",
        ])
        .arg("--database")
        .arg(database);
    spawn_listening(command)
}

/// The bench posts as one person: a client whose identity cookie (kept in its jar) holds the
/// name it posts under, one per chat.
fn poster() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

/// The cookies `jar` sends to the server at `addr` (the bench's identity), as a header value.
fn cookies(jar: &reqwest::cookie::Jar, addr: &str) -> String {
    use reqwest::cookie::CookieStore;
    let url = format!("http://{addr}/").parse().unwrap();
    let header = jar
        .cookies(&url)
        .expect("the seeding posts left an identity cookie");
    header.to_str().unwrap().to_owned()
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

/// `pollers` held polls on `poll_addr` wait for the next line; one post to `post_addr`: how
/// long until each saw it, from the moment the post was sent (p50 and p99 over every poller
/// and sample, ms).
async fn held_delivery(
    client: &reqwest::Client,
    post_addr: &str,
    poll_addr: &str,
    pollers: usize,
    samples: usize,
) -> (f64, f64) {
    let mut delays = Vec::with_capacity(pollers * samples);
    for i in 0..samples {
        let cursor = settled_newest_id(client, poll_addr).await;
        let (held, seen) = hold_polls(client, poll_addr, cursor, pollers);
        held.await;
        let sent = Instant::now();
        post(client, post_addr, &format!("seen {i}")).await;
        for answer in seen {
            let (lines, at) = answer.await.unwrap();
            assert_eq!(lines, 1, "each held poll is answered with the new line");
            delays.push(at.duration_since(sent).as_secs_f64() * 1000.0);
        }
    }
    delays.sort_by(f64::total_cmp);
    (percentile(&delays, 0.5), percentile(&delays, 0.99))
}

/// Starts `count` held polls after `cursor`; the first future resolves once they have surely
/// reached the server (a benchmark may wait: it measures, it does not assert), the others with
/// each answer's line count and arrival time.
#[allow(clippy::type_complexity)]
fn hold_polls(
    client: &reqwest::Client,
    addr: &str,
    cursor: i64,
    count: usize,
) -> (
    impl std::future::Future<Output = ()>,
    Vec<tokio::task::JoinHandle<(usize, Instant)>>,
) {
    let url = format!("http://{addr}/api/lines?after={cursor}&wait=30");
    let answers = (0..count)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let batch = get_json(&client, &url).await;
                let at = Instant::now();
                (batch["lines"].as_array().unwrap().len(), at)
            })
        })
        .collect();
    (tokio::time::sleep(Duration::from_secs(2)), answers)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The newest id once posts still being committed (after a load) have stopped coming.
async fn settled_newest_id(client: &reqwest::Client, addr: &str) -> i64 {
    let mut newest = newest_id(client, addr).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = newest_id(client, addr).await;
        if now == newest {
            return now;
        }
        newest = now;
    }
}

async fn newest_id(client: &reqwest::Client, addr: &str) -> i64 {
    let snapshot = get_json(client, &format!("http://{addr}/api/snapshot")).await;
    let lines = snapshot["lines"].as_array().unwrap();
    lines.last().map_or(0, |line| line["id"].as_i64().unwrap())
}

async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

struct FanOut {
    /// From the post sent.
    p50_ms: f64,
    p99_ms: f64,
    /// The last answer, after the post's acknowledgement (0: all came before it).
    last_after_ack_ms: f64,
    /// Opening every connection and sending its poll.
    opened_ms: f64,
    rss_mb: f64,
    /// Held polls that were still held when the line came (the others timed out or were cut).
    answered_with_line: usize,
}

/// `count` connections each hold a poll (plain sockets: the client's own cost stays small);
/// the server's RSS then; one post; when each held poll was answered, from the post sent, and
/// how long after the post's acknowledgement the last one was.
async fn one_post_many_held(
    client: &reqwest::Client,
    addr: &str,
    pid: u32,
    count: usize,
) -> FanOut {
    let cursor = settled_newest_id(client, addr).await;
    let request = format!("GET /api/lines?after={cursor}&wait=30 HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    // Opened 256 at a time: one by one, the first would wait out their 30 s before the last
    // is open.
    let opening = Instant::now();
    let mut streams = Vec::with_capacity(count);
    for batch in (0..count).collect::<Vec<_>>().chunks(256) {
        let opened: Vec<_> = batch
            .iter()
            .map(|_| {
                let (addr, request) = (addr.to_owned(), request.clone());
                tokio::spawn(async move {
                    let mut stream = tokio::net::TcpStream::connect(addr)
                        .await
                        .expect("connect (is the open-files limit high enough?)");
                    stream.write_all(request.as_bytes()).await.unwrap();
                    stream
                })
            })
            .collect();
        for stream in opened {
            streams.push(stream.await.unwrap());
        }
    }
    let opened_in = opening.elapsed();
    assert!(
        opened_in < Duration::from_secs(20),
        "opening {count} held polls took {opened_in:?}: the first would time out"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_mb = rss_mb(pid);
    let answers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut answer = Vec::with_capacity(1024);
                let mut buf = [0u8; 1024];
                // The head and the short body arrive together; read until the body's end.
                while !answer.ends_with(b"}") {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "closed before answering");
                    answer.extend_from_slice(&buf[..n]);
                }
                assert!(answer.starts_with(b"HTTP/1.1 200"));
                let with_line = String::from_utf8_lossy(&answer).contains("to everyone");
                (with_line, Instant::now())
            })
        })
        .collect();
    let sent = Instant::now();
    post(client, addr, "to everyone").await;
    let acknowledged = Instant::now();
    let (mut delays, mut after_ack) = (Vec::with_capacity(count), Duration::ZERO);
    for answer in answers {
        let (with_line, at) = answer.await.unwrap();
        if with_line {
            delays.push(at.duration_since(sent).as_secs_f64() * 1000.0);
            after_ack = after_ack.max(at.saturating_duration_since(acknowledged));
        }
    }
    delays.sort_by(f64::total_cmp);
    FanOut {
        p50_ms: percentile(&delays, 0.5),
        p99_ms: percentile(&delays, 0.99),
        last_after_ack_ms: after_ack.as_secs_f64() * 1000.0,
        opened_ms: opened_in.as_secs_f64() * 1000.0,
        rss_mb,
        answered_with_line: delays.len(),
    }
}

/// A database of `lines` lines spread round-robin over [`ROOMS`] rooms, written directly (the
/// server made its schema first); each room's ids, and how long the filling took.
fn fill_rooms(database: &Path, lines: usize) -> (Vec<Vec<i64>>, f64) {
    let (mut server, _) = spawn_server(database.as_os_str());
    server.kill().unwrap();
    let _ = server.wait();
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(database).unwrap();
    let tx = conn.transaction().unwrap();
    let mut ids: Vec<Vec<i64>> = (0..ROOMS)
        .map(|_| Vec::with_capacity(lines / ROOMS + 1))
        .collect();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO lines (room, screenname, text, created)
                 VALUES (?1, 'seed', ?2, 1764000000000) RETURNING id",
            )
            .unwrap();
        for i in 0..lines {
            let room = i % ROOMS;
            let id: i64 = insert
                .query_row((format!("room-{room}"), format!("line {i}")), |row| {
                    row.get(0)
                })
                .unwrap();
            ids[room].push(id);
        }
        let mut newest = tx
            .prepare(
                "INSERT INTO rooms (name, newest_id, newest_at) VALUES (?1, ?2, 1764000000000)",
            )
            .unwrap();
        for (room, room_ids) in ids.iter().enumerate() {
            newest
                .execute((format!("room-{room}"), room_ids.last().unwrap()))
                .unwrap();
        }
    }
    tx.commit().unwrap();
    (ids, started.elapsed().as_secs_f64() * 1000.0)
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
            "no release build in {}: run `make build` (make bench does)",
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

    /// Posts as the holder of the bench's name: `cookie` carries its identity.
    fn post(&self, url: &str, connections: u32, seconds: u32, cookie: &str) -> Load {
        let script = self.scripts.path().join(format!("post-{connections}.lua"));
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\n\
                 wrk.body = \"screenname=bench&text=a+line+from+wrk\"\n\
                 wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
                 wrk.headers[\"Cookie\"] = \"{cookie}\"\n"
            ),
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
        // As measured too, so that a run that stops part-way still reports what it measured.
        eprintln!("| {name} | {figure} | {ratio} |");
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
