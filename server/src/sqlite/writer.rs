//! The writer thread and its group commit.
//!
//! A post is answered exactly once, with what happened to it. While it waits in the queue it
//! may time out (503, and it is then never stored); once the writer has taken it, it is
//! answered with the commit's outcome however long that takes, so a client is never told
//! "try again" about a line that is stored.

use crate::metrics::names;
use app::feed::{Feed, Posted};
use app::line::{Line, NewLine};
use app::store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Posts waiting for the writer beyond this are refused (503) rather than queued without end.
const QUEUE: usize = 8192;
/// The most posts committed in one transaction.
const GROUP: usize = 1024;
/// Idempotency keys are kept at least a day (the promise), pruned a little after.
const KEY_LIFETIME_MS: i64 = 25 * 60 * 60 * 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Called on the writer thread with the group's size, after its lines are written and before
/// the commit.
pub type CommitHook = Arc<HookFn>;
type HookFn = dyn Fn(usize) + Send + Sync;

/// Where a queued post stands; the writer and the waiting request race for it once.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const GIVEN_UP: u8 = 2;

struct Job {
    line: NewLine,
    state: Arc<AtomicU8>,
    done: oneshot::Sender<Result<Line, StoreError>>,
}

pub struct Writer {
    queue: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
    queue_timeout: Duration,
    /// Posts sent to the writer and not yet taken from the queue.
    queued: Arc<AtomicUsize>,
}

impl Writer {
    pub fn start(
        conn: Connection,
        feed: Arc<Feed>,
        queue_timeout: Duration,
        hook: Option<CommitHook>,
    ) -> std::io::Result<Self> {
        let (queue, jobs) = sync_channel(QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let queued = queued.clone();
                move || run(conn, jobs, &queued, &feed, hook.as_deref())
            })?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
            queue_timeout,
            queued,
        })
    }

    /// Posts waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        let (done, mut answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let queue = self.queue.as_ref().ok_or_else(closed)?;
        let job = Job {
            line,
            state: state.clone(),
            done,
        };
        self.queued.fetch_add(1, Ordering::AcqRel);
        queue.try_send(job).map_err(|err| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            match err {
                TrySendError::Full(_) => StoreError::Unavailable("too many posts waiting".into()),
                TrySendError::Disconnected(_) => closed(),
            }
        })?;
        tokio::select! {
            outcome = &mut answer => return outcome.map_err(|_| closed())?,
            () = tokio::time::sleep(self.queue_timeout) => {}
        }
        // Out of time: give up only if the writer has not taken the post yet.
        match state.compare_exchange(QUEUED, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Err(StoreError::Unavailable(
                "the post waited too long for the writer".into(),
            )),
            Err(_) => answer.await.map_err(|_| closed())?,
        }
    }
}

impl Drop for Writer {
    /// Lets the writer commit what is queued, then waits for it to close the database.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is shut down".into())
}

fn run(
    mut conn: Connection,
    jobs: Receiver<Job>,
    queued: &AtomicUsize,
    feed: &Feed,
    hook: Option<&HookFn>,
) {
    let mut pruned = Instant::now() - PRUNE_EVERY;
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter().take(GROUP - 1));
        queued.fetch_sub(group.len(), Ordering::AcqRel);
        // Take each post from its waiting request; posts given up on (timed out: "try again")
        // or whose client has gone are not stored.
        group.retain(|job| {
            !job.done.is_closed()
                && job
                    .state
                    .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
        });
        if group.is_empty() {
            continue;
        }
        metrics::histogram!(names::COMMIT_GROUP).record(group.len() as f64);
        match commit(&mut conn, &group, hook) {
            Ok(outcomes) => {
                count_outcomes(&outcomes);
                // Before anyone is answered: a poll that follows an answer must see the line.
                let stored = group
                    .iter()
                    .zip(&outcomes)
                    .filter_map(|(job, outcome)| match outcome {
                        Outcome::Stored(line) => Some(Posted {
                            room: job.line.room().clone(),
                            line: line.clone(),
                        }),
                        _ => None,
                    })
                    .collect();
                feed.publish(stored);
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.done.send(outcome.into_result());
                }
            }
            Err(err) => {
                metrics::counter!(names::STORE_ERRORS).increment(1);
                tracing::error!(%err, posts = group.len(), "commit failed");
                for job in group {
                    let _ = job.done.send(Err(StoreError::Unavailable(err.to_string())));
                }
            }
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            if let Err(err) = prune_keys(&conn, chrono::Utc::now().timestamp_millis()) {
                tracing::warn!(%err, "pruning idempotency keys failed; will retry");
            }
        }
    }
}

fn count_outcomes(outcomes: &[Outcome]) {
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count() as u64;
    metrics::counter!(names::LINES_COMMITTED).increment(count(|o| matches!(o, Outcome::Stored(_))));
    metrics::counter!(names::REPLAYS).increment(count(|o| matches!(o, Outcome::Replayed(_))));
    let failed = count(|o| matches!(o, Outcome::Failed(StoreError::Unavailable(_))));
    metrics::counter!(names::STORE_ERRORS).increment(failed);
}

/// What happened to one post of a group.
enum Outcome {
    Stored(Line),
    /// Its idempotency key was seen before with the same line: that line.
    Replayed(Line),
    Failed(StoreError),
}

impl Outcome {
    fn into_result(self) -> Result<Line, StoreError> {
        match self {
            Outcome::Stored(line) | Outcome::Replayed(line) => Ok(line),
            Outcome::Failed(err) => Err(err),
        }
    }
}

/// Stores the lines of `group` in one durable transaction. Each post is isolated in a
/// savepoint: one that fails (a reused key, an error of its own) fails alone.
fn commit(
    conn: &mut Connection,
    group: &[Job],
    hook: Option<&HookFn>,
) -> rusqlite::Result<Vec<Outcome>> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let savepoint = tx.savepoint()?;
        match store(&savepoint, &job.line) {
            Ok(outcome) => {
                savepoint.commit()?;
                outcomes.push(outcome);
            }
            Err(err) => {
                tracing::warn!(%err, "storing one post failed; the rest of its group goes on");
                drop(savepoint); // rolls back to the savepoint
                outcomes.push(Outcome::Failed(StoreError::Unavailable(err.to_string())));
            }
        }
    }
    if let Some(hook) = hook {
        hook(group.len());
    }
    tx.commit()?;
    Ok(outcomes)
}

fn store(tx: &Connection, line: &NewLine) -> rusqlite::Result<Outcome> {
    if let Some(key) = line.key() {
        let earlier: Option<i64> = tx
            .prepare_cached("SELECT line_id FROM idempotency WHERE key = ?1")?
            .query_row([key.as_str()], |row| row.get(0))
            .optional()?;
        if let Some(id) = earlier {
            let earlier = tx
                .prepare_cached(
                    "SELECT id, screenname, text, created, room FROM lines WHERE id = ?1",
                )?
                .query_row([id], |row| {
                    Ok((super::line_from_row(row)?, row.get::<_, String>(4)?))
                })?;
            let (earlier, room) = earlier;
            let same = earlier.screenname == line.screenname()
                && earlier.text == line.text()
                && room == line.room().as_str();
            return Ok(if same {
                Outcome::Replayed(earlier)
            } else {
                Outcome::Failed(StoreError::KeyReused)
            });
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
    Ok(Outcome::Stored(Line {
        id,
        screenname: line.screenname().to_owned(),
        text: line.text().to_owned(),
        created: super::rfc3339(created),
    }))
}

/// Forgets idempotency keys older than their lifetime, as of `now_ms`.
pub(super) fn prune_keys(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM idempotency WHERE created < ?1")?
        .execute([now_ms - KEY_LIFETIME_MS])
}
