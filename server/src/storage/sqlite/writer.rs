//! The writer thread: group commit into SQLite (see [`crate::storage::post_queue`]).

use crate::storage::post_queue::{self, CommitHook, Job, Jobs, Outcome, PostQueue, Write, Written};
use crate::storage::rules::{Deletion, Hold, LineState, Rules};
use app::feed::{Feed, Posted};
use app::identity::{Poster, Presented, hold_key};
use app::line::NewLine;
use app::store::{AccountChange, LineDelete, LineEdit, StoreError};
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
        let (hook, rules) = (options.commit_hook, options.rules);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs, &feed, hook.as_ref(), &rules))?;
        Ok(Self {
            queue: RwLock::new(Some(queue)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Posts waiting for the writer.
    pub fn queued(&self) -> usize {
        read(&self.queue).as_ref().map_or(0, PostQueue::queued)
    }

    /// The queue, while the store is open.
    pub fn queue(&self) -> Result<PostQueue, StoreError> {
        read(&self.queue).clone().ok_or_else(post_queue::closed)
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

fn run(
    mut conn: Connection,
    mut jobs: Jobs,
    feed: &Feed,
    hook: Option<&CommitHook>,
    rules: &Rules,
) {
    let mut pruned = Instant::now() - post_queue::PRUNE_EVERY;
    while let Some(group) = jobs.blocking_next() {
        match commit(&mut conn, &group, hook, rules) {
            Ok(outcomes) => {
                post_queue::count_outcomes(&outcomes);
                // Before anyone is answered: a poll that follows an answer must see the line.
                feed.publish(post_queue::stored_events(&outcomes));
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
    rules: &Rules,
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
            match apply(&savepoint, &job.write, rules) {
                // Refused by the rules: nothing it wrote stays (a new identity, say).
                Ok(outcome @ Outcome::Failed(_)) => {
                    drop(savepoint);
                    outcomes.push(outcome);
                }
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

/// Applies one write in `tx`.
fn apply(tx: &Connection, write: &Write, rules: &Rules) -> rusqlite::Result<Outcome> {
    match write {
        Write::Post(line) => post(tx, line, rules),
        Write::Edit(edit) => edit_line(tx, edit, rules),
        Write::Delete(delete) => delete_line(tx, delete, rules),
        Write::Account(change) => account(tx, change, rules),
    }
}

fn post(tx: &Connection, line: &NewLine, rules: &Rules) -> rusqlite::Result<Outcome> {
    if let Some(key) = line.key() {
        let earlier = tx
            .prepare_cached(
                "SELECT l.id, l.screenname, l.text, l.created, l.edited, l.revision, l.room,
                        l.deleted IS NOT NULL
                 FROM idempotency i JOIN lines l ON l.id = i.line_id
                 WHERE i.key = ?1 AND i.change_id IS NULL",
            )?
            .query_row([key.as_str()], |row| {
                Ok((
                    super::line_from_row(row)?,
                    row.get::<_, String>(6)?,
                    row.get(7)?,
                ))
            })
            .optional()?;
        if let Some((earlier, room, deleted)) = earlier {
            return Ok(Outcome::for_repeated_key(line, earlier, &room, deleted));
        }
        let edit_key: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM idempotency WHERE key = ?1)")?
            .query_row([key.as_str()], |row| row.get(0))?;
        if edit_key {
            return Ok(Outcome::Failed(StoreError::KeyReused));
        }
    }
    let created = rules.now();
    let poster = match line.poster() {
        Poster::Nobody => None,
        Poster::Known(id) => Some(*id),
        Poster::New(secret) => Some(new_identity(tx, secret, created)?),
    };
    if let Some(poster) = poster {
        let key = hold_key(line.screenname());
        let hold = tx
            .prepare_cached("SELECT holder, last_post FROM names WHERE key = ?1")?
            .query_row([&key], |row| {
                Ok(Hold {
                    holder: row.get(0)?,
                    last_post: row.get(1)?,
                })
            })
            .optional()?;
        if let Err(err) = rules.may_post_as(line.screenname(), hold.as_ref(), poster, created) {
            return Ok(Outcome::Failed(err));
        }
        tx.prepare_cached(
            "INSERT INTO names (key, name, holder, last_post) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, holder = excluded.holder,
                                             last_post = excluded.last_post",
        )?
        .execute((&key, line.screenname(), poster, created))?;
    }
    let room = line.room().as_str();
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO lines (room, screenname, text, created, poster)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
        )?
        .query_row(
            (room, line.screenname(), line.text(), created, poster),
            |row| row.get(0),
        )?;
    if let Some(key) = line.key() {
        tx.prepare_cached("INSERT INTO idempotency (key, line_id, created) VALUES (?1, ?2, ?3)")?
            .execute((key.as_str(), id, created))?;
    }
    room_moved(tx, room, id, created)?;
    Ok(Outcome::Stored(Posted::line(
        line.room().clone(),
        post_queue::stored(id, line, created),
    )))
}

/// Registers the identity of a browser's first post, with its secret.
fn new_identity(tx: &Connection, secret: &Presented, now: i64) -> rusqlite::Result<i64> {
    let id: i64 = tx
        .prepare_cached("INSERT INTO identities (created) VALUES (?1) RETURNING id")?
        .query_row([now], |row| row.get(0))?;
    add_secret(tx, id, secret, now)?;
    Ok(id)
}

fn add_secret(
    tx: &Connection,
    identity: i64,
    secret: &Presented,
    now: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO secrets (selector, verifier, identity, created) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute((&secret.selector[..], &secret.verifier[..], identity, now))?;
    Ok(())
}

/// The line `id` as the rules see it.
fn line_state(tx: &Connection, id: i64) -> rusqlite::Result<Option<LineState>> {
    tx.prepare_cached("SELECT room, poster, created, deleted IS NOT NULL FROM lines WHERE id = ?1")?
        .query_row([id], |row| {
            Ok(LineState {
                room: row.get(0)?,
                poster: row.get(1)?,
                created: row.get(2)?,
                deleted: row.get(3)?,
            })
        })
        .optional()
}

/// The next id of the lines' sequence, for a change: the next line then gets the one after.
fn next_id(tx: &Connection) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'lines' RETURNING seq",
    )?
    .query_row([], |row| row.get(0))
}

fn edit_line(tx: &Connection, edit: &LineEdit, rules: &Rules) -> rusqlite::Result<Outcome> {
    if let Some(key) = &edit.key {
        let earlier = tx
            .prepare_cached(
                "SELECT i.line_id, c.id, c.kind, c.text, c.at
                 FROM idempotency i LEFT JOIN changes c ON c.id = i.change_id
                 WHERE i.key = ?1",
            )?
            .query_row([key.as_str()], |row| {
                let change = match row.get::<_, Option<i64>>(1)? {
                    Some(id) => post_queue::change_from(
                        id,
                        row.get(0)?,
                        &row.get::<_, String>(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ),
                    None => None,
                };
                Ok((row.get::<_, i64>(0)?, change))
            })
            .optional()?;
        if earlier.is_some() {
            return Ok(Outcome::for_repeated_edit_key(edit, earlier));
        }
    }
    let now = rules.now();
    let line = line_state(tx, edit.line)?;
    if let Err(err) = rules.may_edit(line.as_ref(), edit, now) {
        return Ok(Outcome::Failed(err));
    }
    let room = line.map(|l| l.room).unwrap_or_default();
    let id = next_id(tx)?;
    tx.prepare_cached("UPDATE lines SET text = ?1, edited = ?2, revision = ?3 WHERE id = ?4")?
        .execute((&edit.text, now, id, edit.line))?;
    tx.prepare_cached(
        "INSERT INTO changes (id, room, line_id, kind, text, at, by)
         VALUES (?1, ?2, ?3, 'edited', ?4, ?5, ?6)",
    )?
    .execute((id, &room, edit.line, &edit.text, now, edit.by))?;
    if let Some(key) = &edit.key {
        tx.prepare_cached(
            "INSERT INTO idempotency (key, line_id, created, change_id) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute((key.as_str(), edit.line, now, id))?;
    }
    room_moved(tx, &room, id, now)?;
    Ok(Outcome::Stored(Posted::change(
        super::room_from(room)?,
        post_queue::edited(id, edit, now),
    )))
}

fn delete_line(tx: &Connection, delete: &LineDelete, rules: &Rules) -> rusqlite::Result<Outcome> {
    let line = line_state(tx, delete.line)?;
    match rules.may_delete(line.as_ref(), delete) {
        Err(err) => return Ok(Outcome::Failed(err)),
        Ok(Deletion::AlreadyDone) => {
            let first = tx
                .prepare_cached(
                    "SELECT id, at FROM changes WHERE line_id = ?1 AND kind = 'deleted'",
                )?
                .query_row([delete.line], |row| {
                    Ok(post_queue::deleted(row.get(0)?, delete.line, row.get(1)?))
                })?;
            return Ok(Outcome::Replayed(Written::Change(first)));
        }
        Ok(Deletion::Erase) => {}
    }
    let room = line.map(|l| l.room).unwrap_or_default();
    let now = rules.now();
    let id = next_id(tx)?;
    tx.prepare_cached(
        "UPDATE lines SET screenname = '', text = '', edited = NULL, deleted = ?1 WHERE id = ?2",
    )?
    .execute((now, delete.line))?;
    // The texts of its earlier edits go with it.
    tx.prepare_cached("DELETE FROM changes WHERE line_id = ?1 AND kind = 'edited'")?
        .execute([delete.line])?;
    tx.prepare_cached(
        "INSERT INTO changes (id, room, line_id, kind, at, by) VALUES (?1, ?2, ?3, 'deleted', ?4, ?5)",
    )?
    .execute((id, &room, delete.line, now, delete.by))?;
    room_moved(tx, &room, id, now)?;
    Ok(Outcome::Stored(Posted::change(
        super::room_from(room)?,
        post_queue::deleted(id, delete.line, now),
    )))
}

fn account(tx: &Connection, change: &AccountChange, rules: &Rules) -> rusqlite::Result<Outcome> {
    match change {
        AccountChange::SetPassword { identity, hash } => {
            tx.prepare_cached("UPDATE identities SET password = ?1 WHERE id = ?2")?
                .execute((hash, identity))?;
        }
        AccountChange::AddSecret { identity, secret } => {
            add_secret(tx, *identity, secret, rules.now())?;
        }
        AccountChange::RemoveSecret { selector } => {
            tx.prepare_cached("DELETE FROM secrets WHERE selector = ?1")?
                .execute([&selector[..]])?;
        }
    }
    Ok(Outcome::Done)
}

/// Keeps the room's newest id (a line's or a change's) in the rooms table.
fn room_moved(tx: &Connection, room: &str, id: i64, at: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO rooms (name, newest_id, newest_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET newest_id = excluded.newest_id,
                                          newest_at = excluded.newest_at",
    )?
    .execute((room, id, at))?;
    Ok(())
}

/// Forgets idempotency keys older than their lifetime, as of `now_ms`.
pub(super) fn prune_keys(conn: &Connection, now_ms: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM idempotency WHERE created < ?1")?
        .execute([now_ms - post_queue::KEY_LIFETIME_MS])
}
