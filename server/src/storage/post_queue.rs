//! The queue between posts and a store's one writer, shared by every store: group commit.
//!
//! A post is answered exactly once, with what happened to it. While it waits in the queue it
//! may time out (503, and it is then never stored); once the writer has taken it, it is
//! answered with the commit's outcome however long that takes, so a client is never told
//! "try again" about a line that is stored.

use crate::metrics::names;
use app::line::{Line, NewLine};
use app::store::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Posts waiting for the writer beyond this are refused (503) rather than queued without end.
const QUEUE: usize = 8192;
/// The most posts committed in one transaction.
const GROUP: usize = 1024;
/// Idempotency keys are kept at least a day (the promise), pruned a little after.
pub const KEY_LIFETIME_MS: i64 = 25 * 60 * 60 * 1000;
/// How often a writer forgets keys older than their lifetime.
pub const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
/// The longest a post waits to be taken by the writer, unless configured.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// Called by the writer with the group's size, after its lines are written and before the
/// commit (tests stall or observe commits there). On PostgreSQL it runs on a tokio worker
/// (`block_in_place`), so it needs the multi-threaded runtime.
pub type CommitHook = Arc<dyn Fn(usize) + Send + Sync>;

/// How a store's writer behaves.
#[derive(Clone, Default)]
pub struct Options {
    /// How long a post may wait in the queue before it is answered 503 and never stored.
    pub queue_timeout: Option<Duration>,
    pub commit_hook: Option<CommitHook>,
}

/// Where a queued post stands; the writer and the waiting request race for it once.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const GIVEN_UP: u8 = 2;

/// One post in the queue.
pub struct Job {
    pub line: NewLine,
    state: Arc<AtomicU8>,
    done: oneshot::Sender<Result<Line, StoreError>>,
}

impl Job {
    pub fn answer(self, outcome: Result<Line, StoreError>) {
        let _ = self.done.send(outcome);
    }
}

/// The posting side, held by the store.
#[derive(Clone)]
pub struct PostQueue {
    queue: mpsc::Sender<Job>,
    timeout: Duration,
}

/// The writer's side.
pub struct Jobs {
    jobs: mpsc::Receiver<Job>,
}

pub fn channel(timeout: Option<Duration>) -> (PostQueue, Jobs) {
    let (queue, jobs) = mpsc::channel(QUEUE);
    let posting = PostQueue {
        queue,
        timeout: timeout.unwrap_or(QUEUE_TIMEOUT),
    };
    (posting, Jobs { jobs })
}

impl PostQueue {
    /// Posts waiting for the writer: each holds one of the channel's places until taken.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Queues `line` and waits for the writer's answer.
    pub async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        let (done, mut answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job = Job {
            line,
            state: state.clone(),
            done,
        };
        self.queue.try_send(job).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                StoreError::Unavailable("too many posts waiting".into())
            }
            mpsc::error::TrySendError::Closed(_) => closed(),
        })?;
        tokio::select! {
            outcome = &mut answer => return outcome.map_err(|_| closed())?,
            () = tokio::time::sleep(self.timeout) => {}
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

pub fn closed() -> StoreError {
    StoreError::Unavailable("the store is shut down".into())
}

impl Jobs {
    /// The next group, on a writer thread: `None` once the store is dropped and the queue is
    /// empty.
    pub fn blocking_next(&mut self) -> Option<Vec<Job>> {
        loop {
            let first = self.jobs.blocking_recv()?;
            if let Some(group) = self.group(first) {
                return Some(group);
            }
        }
    }

    /// [`Jobs::blocking_next`] for a writer task.
    pub async fn next(&mut self) -> Option<Vec<Job>> {
        loop {
            let first = self.jobs.recv().await?;
            if let Some(group) = self.group(first) {
                return Some(group);
            }
        }
    }

    /// `first` and every post waiting after it, up to a group, taken from their requests;
    /// posts given up on (timed out: "try again") or whose client has gone are left out.
    fn group(&mut self, first: Job) -> Option<Vec<Job>> {
        let mut group = vec![first];
        while group.len() < GROUP {
            match self.jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        group.retain(|job| {
            !job.done.is_closed()
                && job
                    .state
                    .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
        });
        if group.is_empty() {
            return None;
        }
        metrics::histogram!(names::COMMIT_GROUP).record(group.len() as f64);
        Some(group)
    }
}

/// What happened to one post of a group.
pub enum Outcome {
    Stored(Line),
    /// Its idempotency key was seen before with the same line: that line.
    Replayed(Line),
    Failed(StoreError),
}

impl Outcome {
    pub fn into_result(self) -> Result<Line, StoreError> {
        match self {
            Outcome::Stored(line) | Outcome::Replayed(line) => Ok(line),
            Outcome::Failed(err) => Err(err),
        }
    }

    /// What a post whose key was first used for `earlier` (in `earlier_room`) gets.
    pub fn for_repeated_key(line: &NewLine, earlier: Line, earlier_room: &str) -> Self {
        let same = earlier.screenname == line.screenname()
            && earlier.text == line.text()
            && earlier_room == line.room().as_str();
        if same {
            Outcome::Replayed(earlier)
        } else {
            Outcome::Failed(StoreError::KeyReused)
        }
    }
}

/// Counts a committed group's outcomes in the metrics.
pub fn count_outcomes(outcomes: &[Outcome]) {
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count() as u64;
    metrics::counter!(names::LINES_COMMITTED).increment(count(|o| matches!(o, Outcome::Stored(_))));
    metrics::counter!(names::REPLAYS).increment(count(|o| matches!(o, Outcome::Replayed(_))));
    let failed = count(|o| matches!(o, Outcome::Failed(StoreError::Unavailable(_))));
    metrics::counter!(names::STORE_ERRORS).increment(failed);
}

/// Answers every post of a group whose commit failed.
pub fn fail_group(group: Vec<Job>, err: &dyn std::fmt::Display) {
    metrics::counter!(names::STORE_ERRORS).increment(1);
    tracing::error!(%err, posts = group.len(), "commit failed");
    for job in group {
        job.answer(Err(StoreError::Unavailable(err.to_string())));
    }
}

/// The lines a group stored, with their rooms, for the feed.
pub fn stored_lines(group: &[Job], outcomes: &[Outcome]) -> Vec<app::feed::Posted> {
    group
        .iter()
        .zip(outcomes)
        .filter_map(|(job, outcome)| match outcome {
            Outcome::Stored(line) => Some(app::feed::Posted {
                room: job.line.room().clone(),
                line: line.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// Answers each post of a committed group with its outcome.
pub fn answer_group(group: Vec<Job>, outcomes: Vec<Outcome>) {
    for (job, outcome) in group.into_iter().zip(outcomes) {
        job.answer(outcome.into_result());
    }
}

/// Milliseconds since the Unix epoch, as both stores keep them, to the API's RFC 3339 form.
pub fn rfc3339(created_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(created_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A new line as stored at `created_ms` with `id`.
pub fn stored(id: i64, line: &NewLine, created_ms: i64) -> Line {
    Line {
        id,
        screenname: line.screenname().to_owned(),
        text: line.text().to_owned(),
        created: rfc3339(created_ms),
    }
}
