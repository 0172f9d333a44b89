//! The writer task: group commit into PostgreSQL (see [`crate::storage::post_queue`]), with ids handed
//! out in commit order.

use super::follow::{CHANNEL, Follower};
use super::{DbError, line_from_row};
use crate::storage::post_queue::{self, CommitHook, Job, Jobs, Outcome};
use app::line::Line;
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
        let mut client = match pool.get().await {
            Ok(client) => client,
            Err(err) => {
                post_queue::fail_group(group, &err);
                continue;
            }
        };
        let committed =
            tokio::time::timeout(COMMIT_TIMEOUT, commit(&mut client, &group, hook.as_ref()))
                .await
                .unwrap_or(Err(DbError::TimedOut));
        if committed.is_err() {
            // In an unknown state (a transaction may be open): never reused.
            drop(Object::take(client));
            if let Err(err) = committed {
                post_queue::fail_group(group, &err);
            }
            continue;
        }
        match committed {
            Ok((outcomes, before)) => {
                post_queue::count_outcomes(&outcomes);
                // Before anyone is answered: a poll that follows an answer must see the line.
                let own = post_queue::stored_lines(&group, &outcomes);
                follower.after_commit(&client, before, own).await;
                post_queue::answer_group(group, outcomes);
            }
            // Whether a commit that failed on the way back took effect is unknown: the posts
            // are answered 503, and their retries (same idempotency key) find out.
            Err(err) => post_queue::fail_group(group, &err),
        }
        if pruned.elapsed() >= post_queue::PRUNE_EVERY {
            pruned = Instant::now();
            if let Err(err) = prune_keys(&client, chrono::Utc::now().timestamp_millis()).await {
                tracing::warn!(%err, "pruning idempotency keys failed; will retry");
            }
        }
    }
}

/// Stores the lines of `group` in one transaction; returns each post's outcome and the last
/// id before the group's.
///
/// The transaction first locks the one row of `line_counter` and holds it until it commits: a
/// server that commits later takes the lock later and so hands out greater ids. Ids therefore
/// become visible in order, and a reader that has seen id n has seen every id below it.
async fn commit(
    client: &mut Object,
    group: &[Job],
    hook: Option<&CommitHook>,
) -> Result<(Vec<Outcome>, i64), DbError> {
    let tx = client.transaction().await?;
    let counter = tx
        .prepare_cached("SELECT last_id FROM line_counter FOR UPDATE")
        .await?;
    let before: i64 = tx.query_one(&counter, &[]).await?.try_get(0)?;

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
    tx.commit().await?;
    Ok((outcomes, before))
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
