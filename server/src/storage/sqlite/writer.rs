//! The writer thread: group commit into SQLite (see [`crate::storage::post_queue`]).

use crate::storage::post_queue::{self, CommitHook, Job, Jobs, Outcome, PostQueue};
use app::feed::Feed;
use app::line::NewLine;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

pub struct Writer {
    queue: RwLock<Option<PostQueue>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub fn start(
        conn: Connection,
        feed: Arc<Feed>,
        options: post_queue::Options,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = post_queue::channel(options.queue_timeout);
        let hook = options.commit_hook;
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, &feed, hook.as_ref()))?;
        Ok(Self {
            queue: RwLock::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Posts waiting for the writer.
    pub fn queued(&self) -> usize {
        read(&self.queue).as_ref().map_or(0, PostQueue::queued)
    }

    pub async fn append(&self, line: NewLine) -> Result<app::line::Line, app::store::StoreError> {
        let queue = read(&self.queue).clone().ok_or_else(post_queue::closed)?;
        queue.append(line).await
    }

    /// Lets the writer commit what is queued, then waits for it to close its connection.
    pub fn close(&self) {
        drop(
            self.queue
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn run(mut conn: Connection, mut jobs: Jobs, feed: &Feed, hook: Option<&CommitHook>) {
    let mut pruned = Instant::now() - post_queue::PRUNE_EVERY;
    while let Some(group) = jobs.blocking_next() {
        match commit(&mut conn, &group, hook) {
            Ok(outcomes) => {
                post_queue::count_outcomes(&outcomes);
                // Before anyone is answered: a poll that follows an answer must see the line.
                feed.publish(post_queue::stored_lines(&group, &outcomes));
                post_queue::answer_group(group, outcomes);
            }
            Err(err) => post_queue::fail_group(group, &err),
        }
        if pruned.elapsed() >= post_queue::PRUNE_EVERY {
            pruned = Instant::now();
            if let Err(err) = prune_keys(&conn, chrono::Utc::now().timestamp_millis()) {
                tracing::warn!(%err, "pruning idempotency keys failed; will retry");
            }
        }
    }
}

/// Stores the lines of `group` in one durable transaction. Each post is isolated in a
/// savepoint: one that fails (a reused key, an error of its own) fails alone. Some errors make
/// SQLite roll the whole transaction back (SQLITE_FULL, IOERR, NOMEM, BUSY inside a statement,
/// a trigger's RAISE(ROLLBACK)): what the group stored so far is then gone, and the later posts'
/// savepoints would each commit on their own. So after a failed post the transaction is checked,
/// and if it is gone the group starts again in a new one, without the post that failed.
fn commit(
    conn: &mut Connection,
    group: &[Job],
    hook: Option<&CommitHook>,
) -> rusqlite::Result<Vec<Outcome>> {
    // Why each post found to roll the whole transaction back failed.
    let mut rolled_back: Vec<Option<String>> = vec![None; group.len()];
    'attempt: loop {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(group.len());
        for (job, rolled_back_by) in group.iter().zip(&mut rolled_back) {
            if let Some(err) = rolled_back_by {
                outcomes.push(failed(err.clone()));
                continue;
            }
            let savepoint = tx.savepoint()?;
            match store(&savepoint, &job.line) {
                Ok(outcome) => {
                    savepoint.commit()?;
                    outcomes.push(outcome);
                }
                Err(err) => {
                    drop(savepoint); // rolls back to the savepoint
                    if tx.is_autocommit() {
                        tracing::warn!(%err, "one post rolled back its group's transaction; the rest go again");
                        *rolled_back_by = Some(err.to_string());
                        continue 'attempt;
                    }
                    tracing::warn!(%err, "storing one post failed; the rest of its group goes on");
                    outcomes.push(failed(err.to_string()));
                }
            }
        }
        if let Some(hook) = hook {
            hook(group.len());
        }
        tx.commit()?;
        return Ok(outcomes);
    }
}

fn failed(err: String) -> Outcome {
    Outcome::Failed(app::store::StoreError::Unavailable(err))
}

fn store(tx: &Connection, line: &NewLine) -> rusqlite::Result<Outcome> {
    if let Some(key) = line.key() {
        let earlier = tx
            .prepare_cached(
                "SELECT l.id, l.screenname, l.text, l.created, l.room
                 FROM idempotency i JOIN lines l ON l.id = i.line_id WHERE i.key = ?1",
            )?
            .query_row([key.as_str()], |row| {
                Ok((super::line_from_row(row)?, row.get::<_, String>(4)?))
            })
            .optional()?;
        if let Some((earlier, room)) = earlier {
            return Ok(Outcome::for_repeated_key(line, earlier, &room));
        }
    }
    let created = chrono::Utc::now().timestamp_millis();
    let room = line.room().as_str();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO lines (room, screenname, text, created) VALUES (?1, ?2, ?3, ?4)
             RETURNING id",
        )?
        .query_row((room, line.screenname(), line.text(), created), |row| {
            row.get(0)
        })?;
    if let Some(key) = line.key() {
        tx.prepare_cached("INSERT INTO idempotency (key, line_id, created) VALUES (?1, ?2, ?3)")?
            .execute((key.as_str(), id, created))?;
    }
    tx.prepare_cached(
        "INSERT INTO rooms (name, newest_id, newest_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET newest_id = excluded.newest_id,
                                          newest_at = excluded.newest_at",
    )?
    .execute((room, id, created))?;
    Ok(Outcome::Stored(post_queue::stored(id, line, created)))
}

/// Forgets idempotency keys older than their lifetime, as of `now_ms`.
pub(super) fn prune_keys(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM idempotency WHERE created < ?1")?
        .execute([now_ms - post_queue::KEY_LIFETIME_MS])
}
