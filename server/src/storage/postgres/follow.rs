//! Keeping the feed in step with the database, whichever server committed.
//!
//! Ids are handed out in commit order (see the module `postgres`), so any snapshot of `lines`
//! holds every id up to its newest: reading `id > newest in memory` in one statement can never
//! skip a line. The feed takes lines only in that order, from three sources, one at a time:
//! - this server's writer, after each commit: its own lines when the feed already has every
//!   line before them, otherwise a catch-up read (another server committed in between);
//! - LISTEN/NOTIFY: another server's commit is a hint to catch up (the payload only wakes us);
//!   after every (re)connection of the listening connection, a catch-up covers what was missed;
//! - a periodic check, which bounds the damage of any hint lost some other way.

use super::{DbError, posted_from_row};
use app::feed::{Feed, Posted};
use deadpool_postgres::{Object, Pool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Notify};
use tokio_postgres::AsyncMessage;

/// The channel commits are announced on.
pub const CHANNEL: &str = "chat_lines";
/// Lines read per catch-up query.
const BATCH: i64 = 1000;
/// The wait before reconnecting the listener, doubled up to 5 s while it fails.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How often the feed is checked against the database without a hint.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

pub struct Follower {
    feed: Arc<Feed>,
    /// One source at a time: the feed must take lines in id order.
    turn: Mutex<()>,
}

impl Follower {
    pub fn new(feed: Arc<Feed>) -> Self {
        Self {
            feed,
            turn: Mutex::new(()),
        }
    }

    /// Publishes every committed line the feed does not have yet.
    pub async fn catch_up(&self, client: &Object) -> Result<(), DbError> {
        let _turn = self.turn.lock().await;
        self.read_missing(client).await
    }

    /// After this server committed `own` (ids above `before`, which the counter held): publish
    /// them, after any line another server committed before them.
    pub async fn after_commit(&self, client: &Object, before: i64, own: Vec<Posted>) {
        if own.is_empty() {
            return;
        }
        let _turn = self.turn.lock().await;
        if self.feed.newest_overall() >= before {
            self.feed.publish(own);
        } else if let Err(err) = self.read_missing(client).await {
            // Committed and answered all the same; the periodic check publishes them.
            tracing::warn!(%err, "reading lines committed elsewhere failed; will retry");
        }
    }

    async fn read_missing(&self, client: &Object) -> Result<(), DbError> {
        let query = client
            .prepare_cached(&crate::storage::post_queue::events_sql(
                None, "$1", "ASC", "$2",
            ))
            .await?;
        loop {
            let have = self.feed.newest_overall();
            let rows = client.query(&query, &[&have, &BATCH]).await?;
            let lines = rows
                .iter()
                .map(posted_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let more = lines.len() as i64 == BATCH;
            self.feed.publish(lines);
            if !more {
                return Ok(());
            }
        }
    }

    async fn catch_up_from(&self, pool: &Pool) -> Result<(), DbError> {
        let client = pool.get().await?;
        self.catch_up(&client).await
    }
}

/// Listens for other servers' commits for ever, reconnecting with backoff.
pub async fn listen(config: tokio_postgres::Config, pool: Pool, follower: Arc<Follower>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let err = listen_once(&config, &pool, &follower, &mut backoff).await;
        tracing::warn!(%err, "listening for other servers' lines stopped; reconnecting");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One listening connection, until it fails.
async fn listen_once(
    config: &tokio_postgres::Config,
    pool: &Pool,
    follower: &Follower,
    backoff: &mut Duration,
) -> DbError {
    let (client, mut connection) = match config.connect(tokio_postgres::NoTls).await {
        Ok(connected) => connected,
        Err(err) => return err.into(),
    };
    let hint = Arc::new(Notify::new());
    // Driving the connection delivers the notifications; it ends when the connection does.
    let mut driver = tokio::spawn({
        let hint = hint.clone();
        async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => hint.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(err)) => return DbError::from(err),
                    None => return DbError::Closed,
                }
            }
        }
    });
    let failed = tokio::select! {
        ended = &mut driver => return ended.unwrap_or(DbError::Closed),
        failed = follow_hints(&client, pool, follower, &hint, backoff) => failed,
    };
    driver.abort();
    match failed {
        Err(err) => err,
    }
}

/// Listens on `client`, then catches up at each hint.
async fn follow_hints(
    client: &tokio_postgres::Client,
    pool: &Pool,
    follower: &Follower,
    hint: &Notify,
    backoff: &mut Duration,
) -> Result<std::convert::Infallible, DbError> {
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Whatever was committed while nobody listened.
    follower.catch_up_from(pool).await?;
    *backoff = FIRST_BACKOFF;
    loop {
        // Hints that arrive during a catch-up leave one permit: they are coalesced.
        hint.notified().await;
        follower.catch_up_from(pool).await?;
    }
}

/// Catches up every `period`, whatever the hints did.
pub async fn check_every(period: Duration, pool: Pool, follower: Arc<Follower>) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = follower.catch_up_from(&pool).await {
            tracing::debug!(%err, "the periodic check of the database failed");
        }
    }
}
