//! The queue between writes and a store's one writer, shared by every store: group commit.
//! Posts, edits, deletions and account changes all go through it, so that each takes its id
//! (when it has one) in the order of commits.
//!
//! A post is answered exactly once, with what happened to it. While it waits in the queue it
//! may time out (503, and it is then never stored); once the writer has taken it, it is
//! answered with the commit's outcome however long that takes, so a client is never told
//! "try again" about a line that is stored.

use crate::metrics::names;
use crate::storage::rules::Rules;
use app::change::{Change, Event};
use app::feed::Posted;
use app::line::{Line, NewLine};
use app::store::{AccountChange, LineDelete, LineEdit, StoreError};
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
    pub rules: Rules,
}

/// One write a writer commits.
#[derive(Clone, Debug)]
pub enum Write {
    Post(NewLine),
    Edit(LineEdit),
    Delete(LineDelete),
    Account(AccountChange),
}

/// What a write answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    Line(Line),
    Change(Change),
    Done,
}

/// Where a queued post stands; the writer and the waiting request race for it once.
const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const GIVEN_UP: u8 = 2;

/// One write in the queue.
pub struct Job {
    pub write: Write,
    state: Arc<AtomicU8>,
    done: oneshot::Sender<Result<Written, StoreError>>,
}

impl Job {
    pub fn answer(self, outcome: Result<Written, StoreError>) {
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

    pub async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        match self.write(Write::Post(line)).await? {
            Written::Line(line) => Ok(line),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn edit(&self, edit: LineEdit) -> Result<Change, StoreError> {
        match self.write(Write::Edit(edit)).await? {
            Written::Change(change) => Ok(change),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn delete(&self, delete: LineDelete) -> Result<Change, StoreError> {
        match self.write(Write::Delete(delete)).await? {
            Written::Change(change) => Ok(change),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn account(&self, change: AccountChange) -> Result<(), StoreError> {
        self.write(Write::Account(change)).await.map(drop)
    }

    /// Queues `write` and waits for the writer's answer.
    pub async fn write(&self, write: Write) -> Result<Written, StoreError> {
        let (done, mut answer) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(QUEUED));
        let job = Job {
            write,
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

/// A writer answered a write with another kind of answer: a bug, answered as a failure.
fn unexpected(written: &Written) -> StoreError {
    tracing::error!(
        ?written,
        "a writer answered a write with the wrong kind of answer"
    );
    StoreError::Unavailable("the store answered unexpectedly".into())
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

/// What happened to one write of a group.
pub enum Outcome {
    /// A new line or change, published to the feed.
    Stored(Posted),
    /// Its idempotency key was seen before with the same write (or the line was deleted
    /// already): the first answer.
    Replayed(Written),
    /// An account change made.
    Done,
    Failed(StoreError),
}

impl Outcome {
    pub fn into_result(self) -> Result<Written, StoreError> {
        match self {
            Outcome::Stored(posted) => Ok(match posted.event {
                Event::Line(line) => Written::Line(line),
                Event::Change(change) => Written::Change(change),
            }),
            Outcome::Replayed(written) => Ok(written),
            Outcome::Done => Ok(Written::Done),
            Outcome::Failed(err) => Err(err),
        }
    }

    /// What a post whose key was first used for `earlier` (in `earlier_room`; its text erased
    /// when `deleted`) gets.
    pub fn for_repeated_key(
        line: &NewLine,
        earlier: Line,
        earlier_room: &str,
        deleted: bool,
    ) -> Self {
        if deleted {
            return Outcome::Failed(StoreError::Gone);
        }
        let same = earlier.screenname == line.screenname()
            && earlier.text == line.text()
            && earlier_room == line.room().as_str();
        if same {
            Outcome::Replayed(Written::Line(earlier))
        } else {
            Outcome::Failed(StoreError::KeyReused)
        }
    }

    /// What an edit whose key was first used for `earlier` gets: the change it made (`None`
    /// once erased by the line's deletion), or a refusal if the key was another write's.
    pub fn for_repeated_edit_key(edit: &LineEdit, earlier: Option<(i64, Option<Change>)>) -> Self {
        match earlier {
            Some((line, Some(change)))
                if line == edit.line && change.text.as_deref() == Some(edit.text.as_str()) =>
            {
                Outcome::Replayed(Written::Change(change))
            }
            Some((line, None)) if line == edit.line => Outcome::Failed(StoreError::Gone),
            _ => Outcome::Failed(StoreError::KeyReused),
        }
    }
}

/// Counts a committed group's outcomes in the metrics.
pub fn count_outcomes(outcomes: &[Outcome]) {
    let count = |wanted: fn(&Outcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count() as u64;
    let stored_line =
        |o: &Outcome| matches!(o, Outcome::Stored(p) if matches!(p.event, Event::Line(_)));
    let stored_change =
        |o: &Outcome| matches!(o, Outcome::Stored(p) if matches!(p.event, Event::Change(_)));
    metrics::counter!(names::LINES_COMMITTED).increment(count(stored_line));
    metrics::counter!(names::CHANGES_COMMITTED).increment(count(stored_change));
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

/// The lines and changes a group stored, with their rooms, for the feed.
pub fn stored_events(outcomes: &[Outcome]) -> Vec<Posted> {
    outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Stored(posted) => Some(posted.clone()),
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
        edited: None,
        revision: None,
    }
}

/// An edit as stored at `at_ms` with `id`.
pub fn edited(id: i64, edit: &LineEdit, at_ms: i64) -> Change {
    Change {
        id,
        line: edit.line,
        kind: app::change::ChangeKind::Edited,
        text: Some(edit.text.clone()),
        at: rfc3339(at_ms),
    }
}

/// A deletion as stored at `at_ms` with `id`.
pub fn deleted(id: i64, line: i64, at_ms: i64) -> Change {
    Change {
        id,
        line,
        kind: app::change::ChangeKind::Deleted,
        text: None,
        at: rfc3339(at_ms),
    }
}

/// A stored change from its columns: id, line, kind, text, at (ms). `None` for an unknown kind.
pub fn change_from(
    id: i64,
    line: i64,
    kind: &str,
    text: Option<String>,
    at_ms: i64,
) -> Option<Change> {
    Some(Change {
        id,
        line,
        kind: app::change::ChangeKind::parse(kind)?,
        text,
        at: rfc3339(at_ms),
    })
}

/// A stored line from its columns, with the time of its last edit (ms) and that edit's id.
pub fn line_from(
    id: i64,
    screenname: String,
    text: String,
    created_ms: i64,
    edited_ms: Option<i64>,
    revision: Option<i64>,
) -> Line {
    Line {
        id,
        screenname,
        text,
        created: rfc3339(created_ms),
        edited: edited_ms.map(rfc3339),
        revision,
    }
}

/// The columns both stores read events with, lines and changes alike: `id, kind, screenname,
/// text, at, edited, other` where `kind` is `line` (then `at` is its creation, `other` its
/// revision) or a change's kind (then `other` is the line it changed).
pub const EVENT_COLUMNS: &str = "id, kind, screenname, text, at, edited, other";

/// An event from the [`EVENT_COLUMNS`]; `None` for a kind no server writes.
#[allow(clippy::too_many_arguments)]
pub fn event_from(
    id: i64,
    kind: &str,
    screenname: Option<String>,
    text: Option<String>,
    at_ms: i64,
    edited_ms: Option<i64>,
    other: Option<i64>,
) -> Option<Event> {
    if kind == "line" {
        return Some(Event::Line(line_from(
            id,
            screenname.unwrap_or_default(),
            text.unwrap_or_default(),
            at_ms,
            edited_ms,
            other,
        )));
    }
    change_from(id, other?, kind, text, at_ms).map(Event::Change)
}

/// The SQL of events after an id, as [`EVENT_COLUMNS`]: live lines and changes, of the room
/// `room` (a placeholder), or of every room with the room as an eighth column; ordered by id
/// (`order` is `ASC` or `DESC`), at most `limit`. Placeholders are each store's own.
pub fn events_sql(room: Option<&str>, after: &str, order: &str, limit: &str) -> String {
    let (filter, room_col) = match room {
        Some(room) => (format!("room = {room} AND "), ""),
        None => (String::new(), ", room"),
    };
    format!(
        "SELECT {EVENT_COLUMNS}{room_col} FROM (
             SELECT id, 'line' AS kind, screenname, text, created AS at, edited,
                    revision AS other, room
             FROM lines WHERE {filter}id > {after} AND deleted IS NULL
             UNION ALL
             SELECT id, kind, NULL, text, at, NULL, line_id, room
             FROM changes WHERE {filter}id > {after}
         ) AS events ORDER BY id {order} LIMIT {limit}"
    )
}
