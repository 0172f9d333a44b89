//! Running a server binary as its own process, as an operator would.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts `command` (a server that logs `http://ADDR/` once listening) and returns it with the
/// address it listens on.
pub fn spawn_listening(mut command: Command) -> (Child, String) {
    let mut child = command
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .unwrap();
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split('/').next().unwrap().trim().to_owned();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// A server process whose log is kept for the test to read.
#[allow(dead_code)] // the benchmark suite shares this file and uses only `spawn_listening`
pub struct Logged {
    pub child: Child,
    pub addr: String,
    pub metrics: Option<String>,
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `command` with `rust_log`; waits until it says where it listens (and, with
/// `metrics`, where its metrics are).
#[allow(dead_code)] // the benchmark suite shares this file and uses only `spawn_listening`
pub fn spawn_logged(mut command: Command, rust_log: &str, metrics: bool) -> Logged {
    let mut child = command
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address_after = |line: &str, marker: &str| {
        let rest = line.split(marker).nth(1)?;
        Some(rest.split('/').next()?.trim().to_owned())
    };
    let (mut addr, mut metrics_addr) = (None, None);
    while addr.is_none() || (metrics && metrics_addr.is_none()) {
        let line = lines
            .next()
            .expect("the server exited before listening")
            .unwrap();
        addr = addr.or_else(|| address_after(&line, "chat at http://"));
        metrics_addr = metrics_addr.or_else(|| address_after(&line, "metrics at http://"));
        logs.lock().unwrap().push(line);
    }
    let kept = logs.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    Logged {
        child,
        addr: addr.unwrap(),
        metrics: metrics_addr,
        logs,
    }
}
