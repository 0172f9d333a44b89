//! The PostgreSQL store: several chat servers share one database.
//!
//! - Writes: each server has one writer task doing group commit, like SQLite's writer. A post
//!   is acknowledged only after its transaction commits (`synchronous_commit = on`).
//! - Order across servers: a transaction takes the lock on the one row of `line_counter` first
//!   and holds it until it commits, and its lines get the ids after the counter's. So ids are
//!   handed out in commit order: when id n is visible, every id below it is visible too, and a
//!   poller's cursor can never pass a line that commits later. (The usual failure of "id >
//!   cursor" over a sequence, an id taken early and committed late, cannot happen.)
//! - Wake-ups across servers: a commit sends NOTIFY on [`follow::CHANNEL`]; every server
//!   listens and catches its feed up from the database (see [`follow`]).
//! - Reads: a pool of connections (`--db-pool`); only cursors older than the feed reach it.

mod follow;
pub mod migrate_to;
mod schema;
mod writer;

pub use schema::{MIGRATIONS, SchemaError, migrate};

use crate::storage::post_queue::{self, PostQueue, rfc3339};
use crate::storage::rules::Rules;
use app::change::{Change, Event};
use app::feed::{Feed, Posted, RECENT_LINES};
use app::identity::{Presented, hold_key};
use app::line::{Line, NewLine};
use app::room::{Room, RoomActivity};
use app::store::{AccountChange, ChatStore, Identity, LineDelete, LineEdit, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use follow::Follower;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_postgres::Row;

/// How long a request waits for a pooled connection, or for a new one to be made, before it
/// is answered 503.
const POOL_WAIT: Duration = Duration::from_secs(2);
/// How long connecting may take (also at start: an unreachable server is an error, not a hang).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PgStore {
    queue: PostQueue,
    pool: Pool,
    feed: Arc<Feed>,
    rules: Rules,
    /// The writer, the listener and the periodic check.
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the PostgreSQL URL is not valid: {0}")]
    Url(tokio_postgres::Error),
    #[error("cannot make the connection pool: {0}")]
    Pool(String),
    #[error("cannot connect to PostgreSQL at {at}: {source}")]
    Connect { at: String, source: PoolError },
    #[error("cannot prepare the database at {at}: {source}")]
    Schema { at: String, source: SchemaError },
    #[error("cannot read the chat from the database at {at}: {source}")]
    Load { at: String, source: DbError },
}

/// A failed database call.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no connection: {0}")]
    Pool(#[from] PoolError),
    #[error("the connection closed")]
    Closed,
    #[error("the commit took too long")]
    TimedOut,
    #[error("a stored room name is not valid: {0}")]
    Room(String),
    #[error("a stored change is of an unknown kind: {0}")]
    Kind(String),
}

impl DbError {
    /// Whether the database refused what a post holds (a data exception, a constraint, a
    /// trigger's exception), not the connection or the server's state: the group goes again
    /// one post at a time, so that only that post fails.
    pub fn is_about_the_data(&self) -> bool {
        let DbError::Postgres(err) = self else {
            return false;
        };
        err.as_db_error().is_some_and(|db| {
            let code = db.code().code();
            code.starts_with("22") || code.starts_with("23") || code.starts_with("P0")
        })
    }
}

impl From<DbError> for StoreError {
    fn from(err: DbError) -> Self {
        metrics::counter!(crate::metrics::names::STORE_ERRORS).increment(1);
        StoreError::Unavailable(err.to_string())
    }
}

/// What every connection of the store sets: a commit is durable when it returns; a server
/// that stops in the middle of a transaction (frozen, cut off) holds the id counter's lock for
/// 5 s, not until TCP notices, so the other servers go on (their wait for the lock outlasts
/// it); no statement waits for ever.
const SESSION: &str = "-c synchronous_commit=on -c idle_in_transaction_session_timeout=5s \
                       -c lock_timeout=10s -c statement_timeout=15s";

/// The connection settings of `url`, with what the store relies on ([`SESSION`]), connecting
/// that gives up in time, and a dead peer noticed in seconds.
pub fn connection_config(url: &str) -> Result<tokio_postgres::Config, OpenError> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(OpenError::Url)?;
    let options = match config.get_options() {
        Some(given) => format!("{given} {SESSION}"),
        None => SESSION.to_owned(),
    };
    config.options(&options);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(15));
    if config.get_application_name().is_none() {
        config.application_name("chat");
    }
    Ok(config)
}

/// Where `config` connects, for messages (never the password).
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default database)");
    format!("{host}:{port}/{db}")
}

/// The `pg_dump` command that backs up the chat at `url` to `dest` (custom format, which
/// `pg_restore` reads); the password, if the URL has one, is left to `PGPASSWORD` or
/// `~/.pgpass`, never printed.
pub fn pg_dump_command(url: &str, dest: &std::path::Path) -> String {
    let Ok(config) = tokio_postgres::Config::from_str(url) else {
        return format!(
            "pg_dump --format=custom --file={} <your database URL>",
            dest.display()
        );
    };
    let mut command = format!("pg_dump --format=custom --file={}", dest.display());
    if let Some(tokio_postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        command += &format!(" --host={host}");
    }
    if let Some(port) = config.get_ports().first() {
        command += &format!(" --port={port}");
    }
    if let Some(user) = config.get_user() {
        command += &format!(" --username={user}");
    }
    if let Some(schema) = config.get_options().and_then(|options| {
        options
            .split_whitespace()
            .find_map(|o| o.strip_prefix("-csearch_path="))
    }) {
        command += &format!(" --schema={schema}");
    }
    command += &format!(" --dbname={}", config.get_dbname().unwrap_or("postgres"));
    command
}

impl PgStore {
    /// Connects to the database at `url` with up to `pool_size` connections, brings its schema
    /// up to date and starts the writer and the listener.
    pub async fn open(
        url: &str,
        pool_size: usize,
        options: post_queue::Options,
    ) -> Result<Self, OpenError> {
        let config = connection_config(url)?;
        let at = describe(&config);
        let manager = Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(POOL_WAIT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|err| OpenError::Pool(err.to_string()))?;
        let mut client = pool.get().await.map_err(|source| OpenError::Connect {
            at: at.clone(),
            source,
        })?;
        migrate(&mut client, MIGRATIONS.len())
            .await
            .map_err(|source| OpenError::Schema {
                at: at.clone(),
                source,
            })?;
        let feed = Arc::new(
            load_feed(&mut client)
                .await
                .map_err(|source| OpenError::Load { at, source })?,
        );
        drop(client);

        let follower = Arc::new(Follower::new(feed.clone()));
        let (queue, jobs) = post_queue::channel(options.queue_timeout);
        let rules = options.rules.clone();
        let tasks = vec![
            tokio::spawn(writer::run(
                pool.clone(),
                jobs,
                follower.clone(),
                options.commit_hook,
                options.rules,
            )),
            tokio::spawn(follow::listen(config, pool.clone(), follower.clone())),
            tokio::spawn(follow::check_every(
                follow::CHECK_EVERY,
                pool.clone(),
                follower,
            )),
        ];
        Ok(Self {
            queue,
            pool,
            feed,
            rules,
            tasks,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await.map_err(DbError::from)?)
    }

    /// The rows `query` reads for (room, id, limit), in its order, each made by `from_row`.
    async fn rows<T>(
        &self,
        query: &str,
        room: &Room,
        id: i64,
        limit: usize,
        from_row: impl Fn(&Row) -> Result<T, DbError>,
    ) -> Result<Vec<T>, StoreError> {
        let client = self.client().await?;
        let read = async {
            let query = client.prepare_cached(query).await?;
            let rows = client
                .query(&query, &[&room.as_str(), &id, &(limit as i64)])
                .await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()
        };
        Ok(read.await?)
    }

    /// The identity `id`, with the names it holds now.
    async fn identity(
        &self,
        client: &deadpool_postgres::Object,
        id: i64,
    ) -> Result<Option<Identity>, DbError> {
        let query = client
            .prepare_cached("SELECT moderator, password FROM identities WHERE id = $1")
            .await?;
        let Some(row) = client.query_opt(&query, &[&id]).await? else {
            return Ok(None);
        };
        let names = client
            .prepare_cached(
                "SELECT name FROM names WHERE holder = $1 AND last_post >= $2 ORDER BY last_post",
            )
            .await?;
        let since = self.rules.held_since(self.rules.now());
        let names = client
            .query(&names, &[&id, &since])
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Some(Identity {
            id,
            names,
            moderator: row.try_get(0)?,
            password_hash: row.try_get(1)?,
        }))
    }
}

impl Drop for PgStore {
    /// The listener and the check stop; the writer stops once the queue is empty (the store
    /// is dropped after the last request that could post).
    fn drop(&mut self) {
        for task in &self.tasks[1..] {
            task.abort();
        }
    }
}

/// The feed as the database stands: its newest lines and every room's newest line, read in
/// one snapshot (a room's newest id must not be ahead of the lines, or a catch-up of those
/// lines would not wake the room's polls).
async fn load_feed(client: &mut deadpool_postgres::Object) -> Result<Feed, DbError> {
    let client = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let newest_first = client
        .query(
            &post_queue::events_sql(None, "0", "DESC", "$1"),
            &[&(RECENT_LINES as i64)],
        )
        .await?
        .iter()
        .map(posted_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let rooms = client
        .query("SELECT name, newest_id, newest_at FROM rooms", &[])
        .await?
        .iter()
        .map(|row| {
            Ok(RoomActivity {
                name: room_from(row.try_get(0)?)?,
                newest_id: row.try_get(1)?,
                newest_at: rfc3339(row.try_get(2)?),
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    client.commit().await?;
    Ok(Feed::from_newest(newest_first, rooms))
}

#[async_trait::async_trait]
impl ChatStore for PgStore {
    async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        self.queue.append(line).await
    }

    async fn edit(&self, edit: LineEdit) -> Result<Change, StoreError> {
        self.queue.edit(edit).await
    }

    async fn delete(&self, delete: LineDelete) -> Result<Change, StoreError> {
        self.queue.delete(delete).await
    }

    async fn account(&self, change: AccountChange) -> Result<(), StoreError> {
        self.queue.account(change).await
    }

    async fn identify(&self, secret: &Presented) -> Result<Option<Identity>, StoreError> {
        let client = self.client().await?;
        let read = async {
            let query = client
                .prepare_cached("SELECT identity, verifier FROM secrets WHERE selector = $1")
                .await?;
            let Some(row) = client.query_opt(&query, &[&&secret.selector[..]]).await? else {
                return Ok(None);
            };
            let verifier: Vec<u8> = row.try_get(1)?;
            if !secret.matches(&verifier) {
                return Ok(None);
            }
            self.identity(&client, row.try_get(0)?).await
        };
        Ok(read.await?)
    }

    async fn holder(&self, screenname: &str) -> Result<Option<Identity>, StoreError> {
        let client = self.client().await?;
        let key = hold_key(screenname);
        let read = async {
            let query = client
                .prepare_cached("SELECT holder FROM names WHERE key = $1")
                .await?;
            match client.query_opt(&query, &[&key]).await? {
                Some(row) => self.identity(&client, row.try_get(0)?).await,
                None => Ok(None),
            }
        };
        Ok(read.await?)
    }

    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let query = post_queue::events_sql(Some("$1"), "$2", "ASC", "$3");
        self.rows(&query, room, after, limit, event_from_row).await
    }

    async fn before(
        &self,
        room: &Room,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Line>, StoreError> {
        let mut lines = self
            .rows(
                "SELECT id, screenname, text, created, edited, revision FROM lines
                 WHERE room = $1 AND id < $2 AND deleted IS NULL ORDER BY id DESC LIMIT $3",
                room,
                before,
                limit,
                |row| Ok(line_from_row(row)?),
            )
            .await?;
        lines.reverse();
        Ok(lines)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(DbError::from)?;
        Ok(())
    }

    fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    fn queued_posts(&self) -> usize {
        self.queue.queued()
    }

    async fn close(&self) {
        self.pool.close();
    }
}

/// A line from a row whose first columns are id, screenname, text, created, edited, revision.
fn line_from_row(row: &Row) -> Result<Line, tokio_postgres::Error> {
    Ok(post_queue::line_from(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
    ))
}

/// An event from a row of [`post_queue::EVENT_COLUMNS`].
fn event_from_row(row: &Row) -> Result<Event, DbError> {
    let kind: String = row.try_get(1)?;
    post_queue::event_from(
        row.try_get(0)?,
        &kind,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
    )
    .ok_or(DbError::Kind(kind))
}

/// [`event_from_row`] with its room in the eighth column.
fn posted_from_row(row: &Row) -> Result<Posted, DbError> {
    Ok(Posted {
        event: event_from_row(row)?,
        room: room_from(row.try_get(7)?)?,
    })
}

/// A stored room name; only valid names are ever stored.
fn room_from(name: String) -> Result<Room, DbError> {
    Room::parse(&name).map_err(|_| DbError::Room(name))
}

#[cfg(test)]
mod tests;
