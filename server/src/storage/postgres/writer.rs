//! The writer task: group commit into PostgreSQL (see [`crate::storage::post_queue`]), with ids handed
//! out in commit order.

use super::follow::{CHANNEL, Follower};
use super::{DbError, line_from_row};
use crate::storage::post_queue::{self, CommitHook, Job, Jobs, Outcome};
use app::line::Line;
use app::store::StoreError;
use deadpool_postgres::{Object, Pool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a group's transaction may take from our side (the session's own timeouts come
/// first); past it the connection is dropped and the posts are answered 503.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(pool: Pool, mut jobs: Jobs, follower: Arc<Follower>, hook: Option<CommitHook>) {
    let mut pruned = Instant::now() - post_queue::PRUNE_EVERY;
    while let Some(group) = jobs.next().await {
        let Some(client) = commit_group(&pool, group, &follower, hook.as_ref()).await else {
            continue;
        };
        if pruned.elapsed() >= post_queue::PRUNE_EVERY {
            pruned = Instant::now();
            if let Err(err) = prune_keys(&client, chrono::Utc::now().timestamp_millis()).await {
                tracing::warn!(%err, "pruning idempotency keys failed; will retry");
            }
        }
    }
}

/// How far a group's transaction got: what `run` needs to know when it did not come back.
#[derive(Default)]
struct Progress {
    /// The transaction's id, once it has one.
    xact: Option<String>,
    /// Each post's outcome and the last id before the group's, once COMMIT is being sent:
    /// from then on, the transaction may have committed whatever the connection says.
    sending_commit: Option<(Vec<Outcome>, i64)>,
}

/// Commits `group` and answers every post in it with the truth: stored, not stored, or (when
/// a commit's answer was lost and the database cannot say) that the outcome is unknown. A group
/// that fails on a post's own error before COMMIT is tried again one post a transaction, so
/// that the post fails alone. Returns the connection when it can be used again.
async fn commit_group(
    pool: &Pool,
    group: Vec<Job>,
    follower: &Follower,
    hook: Option<&CommitHook>,
) -> Option<Object> {
    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(err) => {
            post_queue::fail_group(group, &err);
            return None;
        }
    };
    let mut progress = Progress::default();
    let committed = tokio::time::timeout(
        COMMIT_TIMEOUT,
        commit(&mut client, &group, hook, &mut progress),
    )
    .await
    .unwrap_or(Err(DbError::TimedOut));
    match (committed, progress.sending_commit.take()) {
        (Ok(()), Some((outcomes, before))) => {
            post_queue::count_outcomes(&outcomes);
            // Before anyone is answered: a poll that follows an answer must see the line.
            let own = post_queue::stored_lines(&group, &outcomes);
            follower.after_commit(&client, before, own).await;
            post_queue::answer_group(group, outcomes);
            Some(client)
        }
        (Err(err), Some((outcomes, before))) => {
            // In an unknown state: never reused.
            drop(Object::take(client));
            let xact = progress.xact.unwrap_or_default();
            settle(pool, group, outcomes, before, &xact, &err, follower).await;
            None
        }
        (Err(err), None) => {
            drop(Object::take(client));
            if group.len() > 1 && err.is_about_the_data() {
                tracing::warn!(%err, posts = group.len(), "a group failed on a post's own error; its posts go again one by one");
                for job in group {
                    Box::pin(commit_group(pool, vec![job], follower, hook)).await;
                }
            } else {
                post_queue::fail_group(group, &err);
            }
            None
        }
        (Ok(()), None) => unreachable!("a commit that returned sent COMMIT"),
    }
}

/// How long to ask whether a transaction whose commit's answer was lost is still in progress.
const SETTLE_FOR: Duration = Duration::from_secs(5);

/// Answers a group whose COMMIT was sent but whose answer was lost (the connection went, or
/// the commit timed out), with what the database says of its transaction on a fresh
/// connection: committed, aborted, or (still in progress, or no answer) unknown.
async fn settle(
    pool: &Pool,
    group: Vec<Job>,
    outcomes: Vec<Outcome>,
    before: i64,
    xact: &str,
    err: &DbError,
    follower: &Follower,
) {
    let deadline = Instant::now() + SETTLE_FOR;
    let status = loop {
        let status = match pool.get().await {
            Ok(client) => xact_status(&client, xact).await.map(|s| (s, client)),
            Err(err) => Err(err.into()),
        };
        match status {
            Ok((Some(status), client)) if status != "in progress" => break Some((status, client)),
            _ if Instant::now() >= deadline => break None,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    match status {
        Some((status, client)) if status == "committed" => {
            tracing::warn!(%err, "a commit's answer was lost; the database says it committed");
            post_queue::count_outcomes(&outcomes);
            let own = post_queue::stored_lines(&group, &outcomes);
            follower.after_commit(&client, before, own).await;
            post_queue::answer_group(group, outcomes);
        }
        Some((status, _)) => {
            tracing::warn!(%err, status, "a commit's answer was lost; the database says it did not commit");
            post_queue::fail_group(group, err);
        }
        None => {
            metrics::counter!(crate::metrics::names::STORE_ERRORS).increment(1);
            tracing::error!(%err, posts = group.len(), "a commit's outcome is unknown");
            for job in group {
                job.answer(Err(StoreError::OutcomeUnknown));
            }
        }
    }
}

/// `committed`, `aborted` or `in progress` for the transaction `xact`; `None` when the
/// database no longer knows it.
async fn xact_status(client: &Object, xact: &str) -> Result<Option<String>, DbError> {
    let row = client
        .query_one("SELECT pg_xact_status($1::text::xid8)::text", &[&xact])
        .await?;
    Ok(row.try_get(0)?)
}

/// Stores the lines of `group` in one transaction; leaves each post's outcome and the last id
/// before the group's in `progress` as it sends COMMIT.
///
/// The transaction first locks the one row of `line_counter` and holds it until it commits: a
/// server that commits later takes the lock later and so hands out greater ids. Ids therefore
/// become visible in order, and a reader that has seen id n has seen every id below it.
async fn commit(
    client: &mut Object,
    group: &[Job],
    hook: Option<&CommitHook>,
    progress: &mut Progress,
) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    let counter = tx
        .prepare_cached("SELECT last_id, pg_current_xact_id()::text FROM line_counter FOR UPDATE")
        .await?;
    let row = tx.query_one(&counter, &[]).await?;
    let before: i64 = row.try_get(0)?;
    progress.xact = Some(row.try_get(1)?);

    // Keys seen before, here or on any server: under the lock, every earlier commit is visible.
    let keys: Vec<&str> = group
        .iter()
        .filter_map(|job| job.line.key().map(|k| k.as_str()))
        .collect();
    let mut earlier: HashMap<String, (Line, String)> = HashMap::new();
    if !keys.is_empty() {
        let query = tx
            .prepare_cached(
                "SELECT l.id, l.screenname, l.text, l.created, l.room, i.key
                 FROM idempotency i JOIN lines l ON l.id = i.line_id WHERE i.key = ANY($1)",
            )
            .await?;
        for row in tx.query(&query, &[&keys]).await? {
            earlier.insert(row.try_get(5)?, (line_from_row(&row)?, row.try_get(4)?));
        }
    }

    let created = chrono::Utc::now().timestamp_millis();
    let mut next = before;
    let mut new = NewRows::default();
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let line = &job.line;
        let key = line.key().map(|k| k.as_str());
        if let Some((first, room)) = key.and_then(|k| earlier.get(k)) {
            outcomes.push(Outcome::for_repeated_key(line, first.clone(), room));
            continue;
        }
        next += 1;
        let stored = post_queue::stored(next, line, created);
        new.push(next, line, key);
        if let Some(key) = key {
            earlier.insert(
                key.to_owned(),
                (stored.clone(), line.room().as_str().to_owned()),
            );
        }
        outcomes.push(Outcome::Stored(stored));
    }
    if next > before {
        new.insert(&tx, created).await?;
        let update = tx
            .prepare_cached("UPDATE line_counter SET last_id = $1")
            .await?;
        tx.execute(&update, &[&next]).await?;
    }
    if let Some(hook) = hook {
        tokio::task::block_in_place(|| hook(group.len()));
    }
    progress.sending_commit = Some((outcomes, before));
    tx.commit().await?;
    Ok(())
}

/// The rows a group adds, as columns (one statement each, whatever the group's size).
#[derive(Default)]
struct NewRows<'a> {
    ids: Vec<i64>,
    rooms: Vec<&'a str>,
    names: Vec<&'a str>,
    texts: Vec<&'a str>,
    keys: Vec<&'a str>,
    key_ids: Vec<i64>,
    /// Each room's newest id in the group.
    newest: HashMap<&'a str, i64>,
}

impl<'a> NewRows<'a> {
    fn push(&mut self, id: i64, line: &'a app::line::NewLine, key: Option<&'a str>) {
        let room = line.room().as_str();
        self.ids.push(id);
        self.rooms.push(room);
        self.names.push(line.screenname());
        self.texts.push(line.text());
        if let Some(key) = key {
            self.keys.push(key);
            self.key_ids.push(id);
        }
        self.newest.insert(room, id);
    }

    async fn insert(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        created: i64,
    ) -> Result<(), DbError> {
        let lines = tx
            .prepare_cached(
                "INSERT INTO lines (id, room, screenname, text, created)
                 SELECT id, room, name, text, $5
                 FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[])
                      AS new (id, room, name, text)",
            )
            .await?;
        tx.execute(
            &lines,
            &[&self.ids, &self.rooms, &self.names, &self.texts, &created],
        )
        .await?;
        if !self.keys.is_empty() {
            let keys = tx
                .prepare_cached(
                    "INSERT INTO idempotency (key, line_id, created)
                     SELECT key, id, $3 FROM UNNEST($1::text[], $2::int8[]) AS new (key, id)",
                )
                .await?;
            tx.execute(&keys, &[&self.keys, &self.key_ids, &created])
                .await?;
        }
        let (rooms, newest): (Vec<&str>, Vec<i64>) =
            self.newest.iter().map(|(r, i)| (*r, *i)).unzip();
        let upsert = tx
            .prepare_cached(
                "INSERT INTO rooms (name, newest_id, newest_at)
                 SELECT name, id, $3 FROM UNNEST($1::text[], $2::int8[]) AS new (name, id)
                 ON CONFLICT (name) DO UPDATE SET newest_id = excluded.newest_id,
                                                  newest_at = excluded.newest_at",
            )
            .await?;
        tx.execute(&upsert, &[&rooms, &newest, &created]).await?;
        // Delivered at commit, to every server listening: "<room> <newest id>", a hint.
        let payloads: Vec<String> = self
            .newest
            .iter()
            .map(|(room, id)| format!("{room} {id}"))
            .collect();
        let notify = tx
            .prepare_cached("SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS p (payload)")
            .await?;
        tx.execute(&notify, &[&CHANNEL, &payloads]).await?;
        Ok(())
    }
}

/// Forgets idempotency keys older than their lifetime, as of `now_ms`.
pub(super) async fn prune_keys(client: &Object, now_ms: i64) -> Result<u64, DbError> {
    let prune = client
        .prepare_cached("DELETE FROM idempotency WHERE created < $1")
        .await?;
    Ok(client
        .execute(&prune, &[&(now_ms - post_queue::KEY_LIFETIME_MS)])
        .await?)
}
