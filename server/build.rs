//! The commit the server is built from, for `--version` (`unknown` outside a git checkout).

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CHAT_COMMIT={commit}");
    // Built again when the checkout moves to another commit.
    for path in ["../.git/HEAD", "../.git/refs", "../.git/packed-refs"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
