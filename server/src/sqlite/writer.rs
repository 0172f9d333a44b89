//! The writer thread and its group commit.

use app::backend::StoreError;
use app::line::{Line, NewLine};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
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

struct Job {
    line: NewLine,
    done: oneshot::Sender<Result<Line, StoreError>>,
}

pub struct Writer {
    queue: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub fn start(conn: Connection, high_water: Arc<AtomicI64>) -> std::io::Result<Self> {
        let (queue, jobs) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, &high_water))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    pub async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        let (done, answer) = oneshot::channel();
        let queue = self.queue.as_ref().ok_or_else(closed)?;
        queue
            .try_send(Job { line, done })
            .map_err(|err| match err {
                TrySendError::Full(_) => StoreError::Unavailable("too many posts waiting".into()),
                TrySendError::Disconnected(_) => closed(),
            })?;
        answer.await.map_err(|_| closed())?
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

fn run(mut conn: Connection, jobs: Receiver<Job>, high_water: &AtomicI64) {
    let mut pruned = Instant::now() - PRUNE_EVERY;
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter().take(GROUP - 1));
        // A post whose request has already been answered (timed out: "try again") is not
        // stored: a retry without a key would store it twice.
        group.retain(|job| !job.done.is_closed());
        if group.is_empty() {
            continue;
        }
        match commit(&mut conn, &group) {
            Ok(outcomes) => {
                let newest = outcomes.iter().flatten().map(|line| line.id).max();
                if let Some(newest) = newest {
                    // Before anyone is answered: a poll that follows an answer must see it.
                    high_water.fetch_max(newest, Ordering::AcqRel);
                }
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.done.send(outcome);
                }
            }
            Err(err) => {
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

/// Stores the lines of `group` in one durable transaction. Each post has its own outcome: a
/// reused idempotency key fails that post alone.
fn commit(conn: &mut Connection, group: &[Job]) -> rusqlite::Result<Vec<Result<Line, StoreError>>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let outcomes = group
        .iter()
        .map(|job| store(&tx, &job.line))
        .collect::<rusqlite::Result<_>>()?;
    tx.commit()?;
    Ok(outcomes)
}

fn store(tx: &Transaction<'_>, line: &NewLine) -> rusqlite::Result<Result<Line, StoreError>> {
    if let Some(key) = line.key() {
        let earlier = tx
            .prepare_cached(
                "SELECT l.id, l.screenname, l.text, l.created
                 FROM idempotency k JOIN lines l ON l.id = k.line_id WHERE k.key = ?1",
            )?
            .query_row([key.as_str()], super::line_from_row)
            .optional()?;
        if let Some(earlier) = earlier {
            let same = earlier.screenname == line.screenname() && earlier.text == line.text();
            return Ok(if same {
                Ok(earlier)
            } else {
                Err(StoreError::KeyReused)
            });
        }
    }
    let created = chrono::Utc::now().timestamp_millis();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO lines (screenname, text, created) VALUES (?1, ?2, ?3) RETURNING id",
        )?
        .query_row((line.screenname(), line.text(), created), |row| row.get(0))?;
    if let Some(key) = line.key() {
        tx.prepare_cached("INSERT INTO idempotency (key, line_id, created) VALUES (?1, ?2, ?3)")?
            .execute((key.as_str(), id, created))?;
    }
    Ok(Ok(Line {
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
