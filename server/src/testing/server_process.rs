//! Running a server binary as its own process, as an operator would, and reading from its log
//! where it listens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// A server process whose log is kept for the test to read.
pub struct Logged {
    pub child: Child,
    pub addr: String,
    pub metrics: Option<String>,
    pub logs: Arc<Mutex<Vec<String>>>,
}

/// Starts `command` (a server that logs `http://ADDR/` once listening) with `rust_log`; waits
/// until it says where it listens (and, with `metrics`, where its metrics are).
pub fn spawn_logged(mut command: Command, rust_log: &str, metrics: bool) -> Logged {
    let mut child = command
        .env("RUST_LOG", rust_log)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server binary starts");
    let logs = Arc::new(Mutex::new(Vec::new()));
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
        match address_after(&line, "metrics at http://") {
            Some(at) => metrics_addr = metrics_addr.or(Some(at)),
            None => addr = addr.or_else(|| address_after(&line, "http://")),
        }
        logs.lock().unwrap().push(line);
    }
    // Keep reading the log, so the server never blocks on a full pipe.
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

/// [`spawn_logged`] at the `info` level, for a test that needs only the process and its address.
pub fn spawn_listening(command: Command) -> (Child, String) {
    let Logged { child, addr, .. } = spawn_logged(command, "info", false);
    (child, addr)
}
