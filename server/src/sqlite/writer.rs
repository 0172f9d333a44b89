//! The writer thread and its group commit.

use app::backend::StoreError;
use app::line::{Line, NewLine};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Posts waiting for the writer beyond this are refused (503) rather than queued without end.
const QUEUE: usize = 8192;
/// The most posts committed in one transaction.
const GROUP: usize = 1024;

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
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        group.extend(jobs.try_iter().take(GROUP - 1));
        match commit(&mut conn, &group) {
            Ok(lines) => {
                if let Some(last) = lines.last() {
                    // Before anyone is answered: a poll that follows an answer must see it.
                    high_water.store(last.id, Ordering::Release);
                }
                for (job, line) in group.into_iter().zip(lines) {
                    let _ = job.done.send(Ok(line));
                }
            }
            Err(err) => {
                tracing::error!(%err, posts = group.len(), "commit failed");
                for job in group {
                    let _ = job.done.send(Err(StoreError::Unavailable(err.to_string())));
                }
            }
        }
    }
}

/// Stores every line of `group` in one durable transaction.
fn commit(conn: &mut Connection, group: &[Job]) -> rusqlite::Result<Vec<Line>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut lines = Vec::with_capacity(group.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO lines (screenname, text, created) VALUES (?1, ?2, ?3) RETURNING id",
        )?;
        for job in group {
            let created = chrono::Utc::now().timestamp_millis();
            let id = insert
                .query_row((job.line.screenname(), job.line.text(), created), |row| {
                    row.get(0)
                })?;
            lines.push(Line {
                id,
                screenname: job.line.screenname().to_owned(),
                text: job.line.text().to_owned(),
                created: super::rfc3339(created),
            });
        }
    }
    tx.commit()?;
    Ok(lines)
}
