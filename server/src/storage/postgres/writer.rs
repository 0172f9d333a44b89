//! The writer task: group commit into PostgreSQL (see [`crate::storage::post_queue`]), with ids handed
//! out in commit order.

use super::DbError;
use super::follow::{CHANNEL, Follower};
use crate::storage::post_queue::{self, CommitHook, Job, Jobs, Outcome, Write, Written};
use crate::storage::rules::{Deletion, Hold, LineState, Rules};
use app::change::{Change, ChangeKind};
use app::feed::Posted;
use app::identity::{Poster, hold_key};
use app::line::{Line, NewLine};
use app::room::Room;
use app::store::{AccountChange, LineDelete, LineEdit, StoreError};
use deadpool_postgres::{Object, Pool};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a group's transaction may take from our side (the session's own timeouts come
/// first); past it the connection is dropped and the posts are answered 503.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(
    pool: Pool,
    mut jobs: Jobs,
    follower: Arc<Follower>,
    hook: Option<CommitHook>,
    rules: Rules,
) {
    let mut pruned = Instant::now() - post_queue::PRUNE_EVERY;
    while let Some(group) = jobs.next().await {
        let Some(client) = commit_group(&pool, group, &follower, hook.as_ref(), &rules).await
        else {
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
    rules: &Rules,
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
        commit(&mut client, &group, hook, rules, &mut progress),
    )
    .await
    .unwrap_or(Err(DbError::TimedOut));
    match (committed, progress.sending_commit.take()) {
        (Ok(()), Some((outcomes, before))) => {
            post_queue::count_outcomes(&outcomes);
            // Before anyone is answered: a poll that follows an answer must see the line.
            let own = post_queue::stored_events(&outcomes);
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
                    Box::pin(commit_group(pool, vec![job], follower, hook, rules)).await;
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
            let own = post_queue::stored_events(&outcomes);
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

/// Stores the writes of `group` in one transaction; leaves each write's outcome and the last
/// id before the group's in `progress` as it sends COMMIT.
///
/// The transaction first locks the one row of `line_counter` and holds it until it commits: a
/// server that commits later takes the lock later and so hands out greater ids. Ids therefore
/// become visible in order, and a reader that has seen id n has seen every id below it. The
/// same lock makes every server's writes take turns, so the rules (who holds a name, who may
/// change a line) are decided on rows no other server is changing: what the group needs is read
/// once under the lock, each write is decided in order in memory ([`Plan`]), and the result is
/// written in a few statements whatever the group's size.
async fn commit(
    client: &mut Object,
    group: &[Job],
    hook: Option<&CommitHook>,
    rules: &Rules,
    progress: &mut Progress,
) -> Result<(), DbError> {
    let tx = client.transaction().await?;
    let counter = tx
        .prepare_cached("SELECT last_id, pg_current_xact_id()::text FROM line_counter FOR UPDATE")
        .await?;
    let row = tx.query_one(&counter, &[]).await?;
    let before: i64 = row.try_get(0)?;
    progress.xact = Some(row.try_get(1)?);

    let now = rules.now();
    let mut plan = Plan::read(&tx, group, before, now).await?;
    let outcomes = group
        .iter()
        .map(|job| plan.decide(&job.write, rules))
        .collect::<Result<Vec<_>, _>>()?;
    for job in group {
        if let Write::Account(change) = &job.write {
            account(&tx, change, now).await?;
        }
    }
    plan.write(&tx).await?;
    if let Some(hook) = hook {
        tokio::task::block_in_place(|| hook(group.len()));
    }
    progress.sending_commit = Some((outcomes, before));
    tx.commit().await?;
    Ok(())
}

async fn account(
    tx: &deadpool_postgres::Transaction<'_>,
    change: &AccountChange,
    now: i64,
) -> Result<(), DbError> {
    match change {
        AccountChange::SetPassword { identity, hash } => {
            tx.execute(
                "UPDATE identities SET password = $1 WHERE id = $2",
                &[hash, identity],
            )
            .await?;
        }
        AccountChange::AddSecret { identity, secret } => {
            tx.execute(
                "INSERT INTO secrets (selector, verifier, identity, created) VALUES ($1, $2, $3, $4)",
                &[&&secret.selector[..], &&secret.verifier[..], identity, &now],
            )
            .await?;
        }
        AccountChange::RemoveSecret { selector } => {
            tx.execute("DELETE FROM secrets WHERE selector = $1", &[&&selector[..]])
                .await?;
        }
    }
    Ok(())
}

/// A line the group touches, as it stands after the writes decided so far.
struct Touched {
    state: LineState,
    /// Its last edit in this group: text, time, change id.
    edit: Option<(String, i64, i64)>,
    /// Erased in this group.
    erased: bool,
}

/// What a group reads under the lock, decides in memory, and then writes.
struct Plan {
    now: i64,
    next: i64,
    /// Idempotency keys seen before, here or on any server: a post's line and room, and whether
    /// it was deleted since; or an edit's line and change (none once erased).
    keys: HashMap<String, EarlierKey>,
    holds: HashMap<String, Hold>,
    lines: HashMap<i64, Touched>,
    /// Each deleted line's first deletion (for a repeated delete).
    deletions: HashMap<i64, Change>,
    /// Identity ids drawn for the group's new posters, in order.
    fresh_ids: std::vec::IntoIter<i64>,
    new: NewRows,
}

enum EarlierKey {
    Post(Line, String, bool),
    Edit(i64, Option<Change>),
}

/// The rows a group adds, as columns (one statement each, whatever the group's size).
#[derive(Default)]
struct NewRows {
    line_ids: Vec<i64>,
    rooms: Vec<String>,
    names: Vec<String>,
    texts: Vec<String>,
    posters: Vec<Option<i64>>,
    /// Idempotency keys: key, line, change (for an edit's).
    keys: Vec<String>,
    key_lines: Vec<i64>,
    key_changes: Vec<Option<i64>>,
    identities: Vec<i64>,
    selectors: Vec<Vec<u8>>,
    verifiers: Vec<Vec<u8>>,
    /// Held names, by key (the last write wins): name, holder.
    holds: HashMap<String, (String, i64)>,
    /// Changes: id, room, line, kind, text, by.
    change_ids: Vec<i64>,
    change_rooms: Vec<String>,
    change_lines: Vec<i64>,
    change_kinds: Vec<&'static str>,
    change_texts: Vec<Option<String>>,
    change_by: Vec<i64>,
    /// Each room's newest id in the group.
    newest: HashMap<String, i64>,
}

impl Plan {
    async fn read(
        tx: &deadpool_postgres::Transaction<'_>,
        group: &[Job],
        before: i64,
        now: i64,
    ) -> Result<Self, DbError> {
        let mut keys = Vec::new();
        let (mut hold_keys, mut line_ids, mut fresh) = (Vec::new(), Vec::new(), 0_i64);
        for job in group {
            match &job.write {
                Write::Post(line) => {
                    keys.extend(line.key().map(|k| k.as_str().to_owned()));
                    if !matches!(line.poster(), Poster::Nobody) {
                        hold_keys.push(hold_key(line.screenname()));
                    }
                    fresh += i64::from(matches!(line.poster(), Poster::New(_)));
                }
                Write::Edit(edit) => {
                    keys.extend(edit.key.as_ref().map(|k| k.as_str().to_owned()));
                    line_ids.push(edit.line);
                }
                Write::Delete(delete) => line_ids.push(delete.line),
                Write::Account(_) => {}
            }
        }
        let mut plan = Self {
            now,
            next: before,
            keys: HashMap::new(),
            holds: HashMap::new(),
            lines: HashMap::new(),
            deletions: HashMap::new(),
            fresh_ids: Vec::new().into_iter(),
            new: NewRows::default(),
        };
        if !keys.is_empty() {
            let query = tx
                .prepare_cached(
                    "SELECT i.key, l.id, l.screenname, l.text, l.created, l.edited, l.revision,
                            l.room, l.deleted IS NOT NULL, i.line_id, c.id, c.kind, c.text, c.at,
                            i.change_id IS NOT NULL
                     FROM idempotency i JOIN lines l ON l.id = i.line_id
                     LEFT JOIN changes c ON c.id = i.change_id
                     WHERE i.key = ANY($1)",
                )
                .await?;
            for row in tx.query(&query, &[&keys]).await? {
                let earlier = if row.try_get(14)? {
                    let change = match row.try_get::<_, Option<i64>>(10)? {
                        Some(id) => post_queue::change_from(
                            id,
                            row.try_get(9)?,
                            row.try_get(11)?,
                            row.try_get(12)?,
                            row.try_get(13)?,
                        ),
                        None => None,
                    };
                    EarlierKey::Edit(row.try_get(9)?, change)
                } else {
                    let line = post_queue::line_from(
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                        row.try_get(5)?,
                        row.try_get(6)?,
                    );
                    EarlierKey::Post(line, row.try_get(7)?, row.try_get(8)?)
                };
                plan.keys.insert(row.try_get(0)?, earlier);
            }
        }
        if !hold_keys.is_empty() {
            let query = tx
                .prepare_cached("SELECT key, holder, last_post FROM names WHERE key = ANY($1)")
                .await?;
            for row in tx.query(&query, &[&hold_keys]).await? {
                let hold = Hold {
                    holder: row.try_get(1)?,
                    last_post: row.try_get(2)?,
                };
                plan.holds.insert(row.try_get(0)?, hold);
            }
        }
        if !line_ids.is_empty() {
            let query = tx
                .prepare_cached(
                    "SELECT l.id, l.room, l.poster, l.created, l.deleted IS NOT NULL, c.id, c.at
                     FROM lines l LEFT JOIN changes c ON c.line_id = l.id AND c.kind = 'deleted'
                     WHERE l.id = ANY($1)",
                )
                .await?;
            for row in tx.query(&query, &[&line_ids]).await? {
                let id: i64 = row.try_get(0)?;
                let state = LineState {
                    room: row.try_get(1)?,
                    poster: row.try_get(2)?,
                    created: row.try_get(3)?,
                    deleted: row.try_get(4)?,
                };
                if let Some(change) = row.try_get::<_, Option<i64>>(5)? {
                    plan.deletions
                        .insert(id, post_queue::deleted(change, id, row.try_get(6)?));
                }
                let touched = Touched {
                    state,
                    edit: None,
                    erased: false,
                };
                plan.lines.insert(id, touched);
            }
        }
        if fresh > 0 {
            let query = tx
                .prepare_cached(
                    "SELECT nextval(pg_get_serial_sequence('identities', 'id'))
                     FROM generate_series(1, $1::int8)",
                )
                .await?;
            let ids = tx
                .query(&query, &[&fresh])
                .await?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<Vec<i64>, _>>()?;
            plan.fresh_ids = ids.into_iter();
        }
        Ok(plan)
    }

    /// The outcome of `write`, given every write decided before it; what it stores is added
    /// to the rows to write.
    fn decide(&mut self, write: &Write, rules: &Rules) -> Result<Outcome, DbError> {
        Ok(match write {
            Write::Post(line) => self.post(line, rules),
            Write::Edit(edit) => self.edit(edit, rules),
            Write::Delete(delete) => self.delete(delete, rules),
            Write::Account(_) => Outcome::Done,
        })
    }

    fn post(&mut self, line: &NewLine, rules: &Rules) -> Outcome {
        let key = line.key().map(|k| k.as_str().to_owned());
        match key.as_ref().and_then(|k| self.keys.get(k)) {
            Some(EarlierKey::Post(first, room, deleted)) => {
                return Outcome::for_repeated_key(line, first.clone(), room, *deleted);
            }
            Some(EarlierKey::Edit(..)) => return Outcome::Failed(StoreError::KeyReused),
            None => {}
        }
        let poster = match line.poster() {
            Poster::Nobody => None,
            Poster::Known(id) => Some((*id, None)),
            Poster::New(secret) => match self.fresh_ids.next() {
                Some(id) => Some((id, Some(secret))),
                None => return Outcome::Failed(StoreError::Unavailable("no identity id".into())),
            },
        };
        if let Some((poster, _)) = poster {
            let hold_key = hold_key(line.screenname());
            let held = self.holds.get(&hold_key);
            if let Err(err) = rules.may_post_as(line.screenname(), held, poster, self.now) {
                return Outcome::Failed(err);
            }
            let hold = Hold {
                holder: poster,
                last_post: self.now,
            };
            self.holds.insert(hold_key.clone(), hold);
            self.new
                .holds
                .insert(hold_key, (line.screenname().to_owned(), poster));
        }
        if let Some((id, Some(secret))) = poster {
            self.new.identities.push(id);
            self.new.selectors.push(secret.selector.to_vec());
            self.new.verifiers.push(secret.verifier.to_vec());
        }
        self.next += 1;
        let id = self.next;
        let room = line.room().as_str().to_owned();
        let stored = post_queue::stored(id, line, self.now);
        let new = &mut self.new;
        new.line_ids.push(id);
        new.rooms.push(room.clone());
        new.names.push(line.screenname().to_owned());
        new.texts.push(line.text().to_owned());
        new.posters.push(poster.map(|(id, _)| id));
        new.newest.insert(room.clone(), id);
        if let Some(key) = key {
            new.keys.push(key.clone());
            new.key_lines.push(id);
            new.key_changes.push(None);
            let earlier = EarlierKey::Post(stored.clone(), room.clone(), false);
            self.keys.insert(key, earlier);
        }
        let state = LineState {
            room,
            poster: poster.map(|(id, _)| id),
            created: self.now,
            deleted: false,
        };
        let touched = Touched {
            state,
            edit: None,
            erased: false,
        };
        self.lines.insert(id, touched);
        Outcome::Stored(Posted::line(line.room().clone(), stored))
    }

    fn edit(&mut self, edit: &LineEdit, rules: &Rules) -> Outcome {
        let key = edit.key.as_ref().map(|k| k.as_str().to_owned());
        match key.as_ref().and_then(|k| self.keys.get(k)) {
            Some(EarlierKey::Edit(line, change)) => {
                return Outcome::for_repeated_edit_key(edit, Some((*line, change.clone())));
            }
            Some(EarlierKey::Post(..)) => return Outcome::Failed(StoreError::KeyReused),
            None => {}
        }
        let touched = self.lines.get_mut(&edit.line);
        if let Err(err) = rules.may_edit(touched.as_ref().map(|t| &t.state), edit, self.now) {
            return Outcome::Failed(err);
        }
        let Some(touched) = touched else {
            return Outcome::Failed(StoreError::NotFound);
        };
        self.next += 1;
        let id = self.next;
        touched.edit = Some((edit.text.clone(), self.now, id));
        let room = touched.state.room.clone();
        let change = post_queue::edited(id, edit, self.now);
        if let Some(key) = key {
            self.new.keys.push(key.clone());
            self.new.key_lines.push(edit.line);
            self.new.key_changes.push(Some(id));
            self.keys
                .insert(key, EarlierKey::Edit(edit.line, Some(change.clone())));
        }
        self.new.push_change(
            id,
            &room,
            edit.line,
            ChangeKind::Edited,
            Some(&edit.text),
            edit.by,
        );
        self.posted_change(&room, change)
    }

    fn delete(&mut self, delete: &LineDelete, rules: &Rules) -> Outcome {
        let touched = self.lines.get_mut(&delete.line);
        match rules.may_delete(touched.as_ref().map(|t| &t.state), delete) {
            Err(err) => return Outcome::Failed(err),
            Ok(Deletion::AlreadyDone) => {
                return match self.deletions.get(&delete.line) {
                    Some(first) => Outcome::Replayed(Written::Change(first.clone())),
                    None => Outcome::Failed(StoreError::NotFound),
                };
            }
            Ok(Deletion::Erase) => {}
        }
        let Some(touched) = touched else {
            return Outcome::Failed(StoreError::NotFound);
        };
        self.next += 1;
        let id = self.next;
        touched.state.deleted = true;
        touched.erased = true;
        let room = touched.state.room.clone();
        let change = post_queue::deleted(id, delete.line, self.now);
        self.deletions.insert(delete.line, change.clone());
        self.new
            .push_change(id, &room, delete.line, ChangeKind::Deleted, None, delete.by);
        // Keys this group gave for the line now answer as for a deleted line.
        for earlier in self.keys.values_mut() {
            match earlier {
                EarlierKey::Edit(line, change) if *line == delete.line => *change = None,
                EarlierKey::Post(line, _, deleted) if line.id == delete.line => *deleted = true,
                _ => {}
            }
        }
        self.posted_change(&room, change)
    }

    fn posted_change(&mut self, room: &str, change: Change) -> Outcome {
        self.new.newest.insert(room.to_owned(), change.id);
        match Room::parse(room) {
            Ok(room) => Outcome::Stored(Posted::change(room, change)),
            Err(_) => Outcome::Failed(StoreError::Unavailable(format!(
                "a stored room name is not valid: {room}"
            ))),
        }
    }

    async fn write(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<(), DbError> {
        let (new, now) = (&self.new, self.now);
        if !new.identities.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO identities (id, created) SELECT id, $2 FROM UNNEST($1::int8[]) AS new (id)",
                )
                .await?;
            tx.execute(&insert, &[&new.identities, &now]).await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO secrets (selector, verifier, identity, created)
                     SELECT s, v, i, $4 FROM UNNEST($1::bytea[], $2::bytea[], $3::int8[]) AS new (s, v, i)",
                )
                .await?;
            tx.execute(
                &insert,
                &[&new.selectors, &new.verifiers, &new.identities, &now],
            )
            .await?;
        }
        if !new.line_ids.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO lines (id, room, screenname, text, created, poster)
                     SELECT id, room, name, text, $5, poster
                     FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $6::int8[])
                          AS new (id, room, name, text, poster)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &new.line_ids,
                    &new.rooms,
                    &new.names,
                    &new.texts,
                    &now,
                    &new.posters,
                ],
            )
            .await?;
        }
        let (mut edited, mut texts, mut times, mut revisions, mut erased) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, touched) in &self.lines {
            if touched.erased {
                erased.push(*id);
            } else if let Some((text, at, revision)) = &touched.edit {
                edited.push(*id);
                texts.push(text.as_str());
                times.push(*at);
                revisions.push(*revision);
            }
        }
        if !edited.is_empty() {
            let update = tx
                .prepare_cached(
                    "UPDATE lines SET text = e.text, edited = e.at, revision = e.revision
                     FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::int8[])
                          AS e (id, text, at, revision)
                     WHERE lines.id = e.id",
                )
                .await?;
            tx.execute(&update, &[&edited, &texts, &times, &revisions])
                .await?;
        }
        if !new.change_ids.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO changes (id, room, line_id, kind, text, at, by)
                     SELECT id, room, line, kind, text, $7, by
                     FROM UNNEST($1::int8[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[])
                          AS new (id, room, line, kind, text, by)",
                )
                .await?;
            tx.execute(
                &insert,
                &[
                    &new.change_ids,
                    &new.change_rooms,
                    &new.change_lines,
                    &new.change_kinds,
                    &new.change_texts,
                    &new.change_by,
                    &now,
                ],
            )
            .await?;
        }
        if !erased.is_empty() {
            let erase = tx
                .prepare_cached(
                    "UPDATE lines SET screenname = '', text = '', edited = NULL, deleted = $2
                     WHERE id = ANY($1)",
                )
                .await?;
            tx.execute(&erase, &[&erased, &now]).await?;
            // The texts of their earlier edits go with them.
            let forget = tx
                .prepare_cached("DELETE FROM changes WHERE kind = 'edited' AND line_id = ANY($1)")
                .await?;
            tx.execute(&forget, &[&erased]).await?;
        }
        if !new.keys.is_empty() {
            let insert = tx
                .prepare_cached(
                    "INSERT INTO idempotency (key, line_id, change_id, created)
                     SELECT key, line, change, $4
                     FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS new (key, line, change)",
                )
                .await?;
            tx.execute(
                &insert,
                &[&new.keys, &new.key_lines, &new.key_changes, &now],
            )
            .await?;
        }
        if !new.holds.is_empty() {
            let (mut keys, mut names, mut holders) = (Vec::new(), Vec::new(), Vec::new());
            for (key, (name, holder)) in &new.holds {
                keys.push(key.as_str());
                names.push(name.as_str());
                holders.push(*holder);
            }
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO names (key, name, holder, last_post)
                     SELECT key, name, holder, $4
                     FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS new (key, name, holder)
                     ON CONFLICT (key) DO UPDATE SET name = excluded.name,
                         holder = excluded.holder, last_post = excluded.last_post",
                )
                .await?;
            tx.execute(&upsert, &[&keys, &names, &holders, &now])
                .await?;
        }
        if self.next > 0 && !new.newest.is_empty() {
            let (rooms, newest): (Vec<&str>, Vec<i64>) =
                new.newest.iter().map(|(r, i)| (r.as_str(), *i)).unzip();
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO rooms (name, newest_id, newest_at)
                     SELECT name, id, $3 FROM UNNEST($1::text[], $2::int8[]) AS new (name, id)
                     ON CONFLICT (name) DO UPDATE SET newest_id = excluded.newest_id,
                                                      newest_at = excluded.newest_at",
                )
                .await?;
            tx.execute(&upsert, &[&rooms, &newest, &now]).await?;
            let update = tx
                .prepare_cached("UPDATE line_counter SET last_id = $1")
                .await?;
            tx.execute(&update, &[&self.next]).await?;
            // Delivered at commit, to every server listening: "<room> <newest id>", a hint.
            let payloads: Vec<String> = new
                .newest
                .iter()
                .map(|(room, id)| format!("{room} {id}"))
                .collect();
            let notify = tx
                .prepare_cached(
                    "SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) AS p (payload)",
                )
                .await?;
            tx.execute(&notify, &[&CHANNEL, &payloads]).await?;
        }
        Ok(())
    }
}

impl NewRows {
    fn push_change(
        &mut self,
        id: i64,
        room: &str,
        line: i64,
        kind: ChangeKind,
        text: Option<&str>,
        by: i64,
    ) {
        self.change_ids.push(id);
        self.change_rooms.push(room.to_owned());
        self.change_lines.push(line);
        self.change_kinds.push(kind.as_str());
        self.change_texts.push(text.map(str::to_owned));
        self.change_by.push(by);
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
