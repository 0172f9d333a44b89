//! Configuration: command-line flags, each with an environment variable as fallback.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Debug, Parser)]
#[command(version, about = "Serves the self-updating chat page and its API.")]
pub struct Config {
    /// Address to listen on [default: the site address cargo-leptos gives, else 127.0.0.1:3000]
    #[arg(long, env = "CHAT_ADDR")]
    pub addr: Option<SocketAddr>,

    /// SQLite database file; created with its schema on first start.
    #[arg(long, env = "CHAT_DB", default_value = "chat.sqlite3")]
    pub database: PathBuf,

    /// How often pages poll for new lines, in milliseconds.
    #[arg(long, env = "CHAT_POLL_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(100..=60_000))]
    pub poll_ms: u32,

    /// How many of the newest lines the page is rendered with.
    #[arg(long, env = "CHAT_HISTORY", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub history: u32,
}

impl Config {
    /// The defaults, with the database at `database`: for tests and tools.
    pub fn with_database(database: impl Into<PathBuf>) -> Self {
        let mut config = Self::parse_from(["server"]);
        config.database = database.into();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_are_checked() {
        let config = Config::try_parse_from([
            "server",
            "--addr",
            "127.0.0.1:8080",
            "--database",
            "/tmp/x.db",
            "--poll-ms",
            "500",
        ])
        .unwrap();
        assert_eq!(config.addr, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(config.poll_ms, 500);
        assert_eq!(config.history, 50);
        assert!(Config::try_parse_from(["server", "--poll-ms", "5"]).is_err());
        assert!(Config::try_parse_from(["server", "--history", "0"]).is_err());
    }
}
