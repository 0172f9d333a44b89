//! Configuration: command-line flags, each with an environment variable as fallback.

use crate::api::contract::MAX_BODY_BYTES;
use crate::edge::request_limits::Limits;
use clap::{CommandFactory, FromArgMatches, Parser};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// `--version`: the version, and the commit the binary was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CHAT_COMMIT"),
    ")"
);

#[derive(Clone, Debug, Parser)]
#[command(version = VERSION, about = "Serves the self-updating chat page and its API.")]
pub struct Config {
    /// Address to listen on [default: the site address cargo-leptos gives, else 127.0.0.1:3000]
    #[arg(long, env = "CHAT_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Where the chat is kept: a SQLite file (created with its schema on first start), or a
    /// PostgreSQL URL (`postgres://` or `postgresql://`) that several servers can share.
    #[arg(long, env = "CHAT_DB", default_value = "chat.sqlite3", value_parser = parse_database,
          global = true)]
    pub database: Database,

    /// Connections to PostgreSQL this server keeps at most (with a PostgreSQL --database).
    #[arg(long, env = "CHAT_DB_POOL", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub db_pool: u32,

    /// How often pages poll for new lines, in milliseconds.
    #[arg(long, env = "CHAT_POLL_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(100..=60_000))]
    pub poll_ms: u32,

    /// How many of the newest lines the page is rendered with.
    #[arg(long, env = "CHAT_HISTORY", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=300))]
    pub history: u32,

    /// Days a screen name stays its holder's after their last post with it; 0 turns holding
    /// off (anyone may post under any name).
    #[arg(long, env = "CHAT_NAME_HOLD_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub name_hold_days: u32,

    /// Minutes after sending a line in which its sender may edit it.
    #[arg(long, env = "CHAT_EDIT_MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u32).range(0..=525_600))]
    pub edit_minutes: u32,

    /// Sign-in attempts a minute per client address, after a burst of as many.
    #[arg(long, env = "CHAT_SIGN_IN_RATE", default_value_t = crate::edge::post_rate::SIGN_IN_RATE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_in_rate: u32,

    /// Posts a minute per client address, after the burst; 0 turns rate limiting off.
    #[arg(long, env = "CHAT_POST_RATE", default_value_t = 60)]
    pub post_rate: u32,

    /// New rooms (posts to a room without lines) a client may make an hour; 0 = no limit.
    #[arg(long, env = "CHAT_ROOM_RATE", default_value_t = 20)]
    pub room_rate: u32,

    /// Posts a client address may send at once before the rate applies.
    #[arg(long, env = "CHAT_POST_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub post_burst: u32,

    /// Comma-separated CIDRs (or addresses) that are never rate-limited.
    #[arg(long, env = "CHAT_RATE_LIMIT_EXEMPT", value_delimiter = ',',
          default_value = "127.0.0.0/8,::1", value_parser = parse_cidr)]
    pub rate_limit_exempt: Vec<IpNet>,

    /// Comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client.
    #[arg(long, env = "CHAT_TRUSTED_PROXY", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxy: Vec<IpNet>,

    /// Requests handled at once; beyond this, requests are answered 503 with Retry-After.
    #[arg(long, env = "CHAT_MAX_IN_FLIGHT", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Comma-separated host names the server answers to; others get 421 [default: bound to
    /// loopback, the bound address, localhost, 127.0.0.1 and [::1]; otherwise any]
    #[arg(long, env = "CHAT_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Address for Prometheus metrics (GET /metrics), apart from the public one [default: off]
    #[arg(long, env = "CHAT_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Log format on stderr: `text` for people, `json` (one object a line) for log shippers.
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Requests one client address may have in flight at once (held polls aside); more are
    /// answered 429. Addresses exempt from the post limit are exempt here too.
    #[arg(long, env = "CHAT_MAX_IN_FLIGHT_PER_CLIENT", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight_per_client: u32,

    /// Polls held open at once waiting for a line; beyond this, polls are answered at once.
    #[arg(long, env = "CHAT_MAX_HELD_POLLS", default_value_t = 10_000)]
    pub max_held_polls: u32,

    /// Polls one client may hold open at once; beyond this, its polls are answered at once.
    /// An IPv6 client is its /64, and its /56 and /48 hold 4 and 16 times this.
    #[arg(long, env = "CHAT_MAX_HELD_POLLS_PER_CLIENT", default_value_t = 256)]
    pub max_held_polls_per_client: u32,

    /// Open connections at once; beyond this, new connections wait in the listen backlog.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 20_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Connections one client address may have open at once (an IPv6 /64; its /56 and /48
    /// 4 and 16 times this); more are answered 429 and closed. Trusted proxies and exempt
    /// addresses are not counted: their clients are counted by request.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_client: u32,

    /// Seconds the server keeps serving after SIGTERM (with /readyz at 503) before it stops
    /// accepting; held polls are answered at once.
    #[arg(long, env = "CHAT_DRAIN_SECONDS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(0..=300))]
    pub drain_seconds: u64,

    /// Seconds a client has to send its request headers, counted from accept (slow or silent
    /// clients are cut off); also how long an idle connection is kept.
    #[arg(long, env = "CHAT_HEADER_READ_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout: u64,

    /// The longest one request may take, in seconds.
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_timeout: u64,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Writes a consistent copy of the SQLite chat (--database) to DEST, safe while servers
    /// run and posts keep coming: every line acknowledged before it began is in the copy. The
    /// copy is checked before it replaces DEST. (On PostgreSQL, use pg_dump; it says how.)
    Backup {
        /// Where the copy goes (replaced once the new copy is whole and checked).
        dest: PathBuf,
    },
    /// Copies a SQLite chat (every line and idempotency key with its id, rooms included) into
    /// an empty PostgreSQL database, then exits. Stop the server first; the copy is one
    /// transaction, so a failed copy leaves nothing behind and can be run again.
    MigrateTo {
        /// The PostgreSQL database, e.g. postgres://chat@db.internal/chat
        url: String,
        /// The SQLite file to copy.
        #[arg(long)]
        from: PathBuf,
    },
}

/// Where the chat is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

/// A PostgreSQL URL by its scheme; anything else is a SQLite path.
fn parse_database(text: &str) -> Result<Database, String> {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Ok(Database::Postgres(text.to_owned()))
    } else if text.is_empty() {
        Err("the database path is empty".to_owned())
    } else {
        Ok(Database::Sqlite(PathBuf::from(text)))
    }
}

impl std::fmt::Display for Database {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => match crate::storage::postgres::connection_config(url) {
                Ok(config) => write!(
                    f,
                    "postgres://{}",
                    crate::storage::postgres::describe(&config)
                ),
                Err(_) => f.write_str("postgres://(invalid URL)"),
            },
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A CIDR such as `10.0.0.0/8`, or a single address.
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or CIDR such as 10.0.0.0/8"))
}

impl Config {
    /// The rules the store applies to names and changes.
    pub fn rules(&self) -> crate::storage::rules::Rules {
        let days = u64::from(self.name_hold_days);
        crate::storage::rules::Rules {
            name_hold: (days > 0).then(|| Duration::from_secs(days * 24 * 60 * 60)),
            edit_window: Duration::from_secs(u64::from(self.edit_minutes) * 60),
            ..Default::default()
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            request_timeout: Duration::from_secs(self.request_timeout),
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            max_in_flight: self.max_in_flight as usize,
            max_body: MAX_BODY_BYTES,
        }
    }

    /// The configuration given by `args` alone, ignoring the `CHAT_*` environment: for tests
    /// and tools, which must not pick up whatever the shell has set.
    pub fn from_flags<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Self::command()
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }

    /// Every flag at its default.
    pub fn defaults() -> Self {
        Self::from_flags(["server"]).expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn flags_parse_and_are_checked() {
        let config = Config::from_flags([
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
        assert_eq!(config.rate_limit_exempt.len(), 2);
        assert!(config.trusted_proxy.is_empty());
        let proxied = Config::from_flags([
            "server",
            "--trusted-proxy",
            "10.0.0.0/8, 192.0.2.1",
            "--post-rate",
            "0",
        ])
        .unwrap();
        assert_eq!(proxied.trusted_proxy.len(), 2);
        assert!(proxied.trusted_proxy[1].contains(&"192.0.2.1".parse::<IpAddr>().unwrap()));
        assert!(Config::from_flags(["server", "--trusted-proxy", "10.0.0.0/99"]).is_err());
        assert!(Config::from_flags(["server", "--poll-ms", "5"]).is_err());
        assert!(Config::from_flags(["server", "--history", "0"]).is_err());
    }

    #[test]
    fn a_postgres_url_selects_postgres() {
        let url = "postgresql://chat:secret@db.internal:5433/chat";
        let config = Config::from_flags(["server", "--database", url]).unwrap();
        assert_eq!(config.database, Database::Postgres(url.to_owned()));
        assert_eq!(
            config.database.to_string(),
            "postgres://db.internal:5433/chat"
        );
        let sqlite = Config::from_flags(["server", "--database", "postgres.db"]).unwrap();
        assert_eq!(sqlite.database, Database::Sqlite("postgres.db".into()));
        assert_eq!(Config::defaults().db_pool, 16);
        let migrate = Config::from_flags(["server", "migrate-to", url, "--from", "chat.sqlite3"]);
        assert!(matches!(
            migrate.unwrap().command,
            Some(Command::MigrateTo { from, .. }) if from == Path::new("chat.sqlite3")
        ));
    }
}
