//! Server side: the recent lines and changes in memory, and the wake-ups of held polls.
//!
//! Every store publishes each commit here, before the posters are answered: the lines and
//! changes go into a bounded ring and each room's newest id into its own `watch`. The ring keeps
//! lines in their current state: an edit rewrites its line there, a deletion takes its line (and
//! the texts of its earlier edits) out, so memory holds nothing the database has erased. A poll whose cursor is inside
//! the ring is answered from memory, held or not; a held poll subscribes to its room's watch,
//! then looks, then waits, so no wake-up can be lost between the look and the wait. Waking ten
//! thousand held polls costs ten thousand reads of memory, not ten thousand queries.

use crate::change::{Change, ChangeKind, Event};
use crate::line::Line;
use crate::room::{MAX_ROOMS_LISTED, Room, RoomActivity};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Lines and changes kept in memory, across all rooms.
pub const RECENT_LINES: usize = 4096;

/// A line or a change, with its room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub room: Room,
    pub event: Event,
}

impl Posted {
    pub fn line(room: Room, line: Line) -> Self {
        Self {
            room,
            event: Event::Line(line),
        }
    }

    pub fn change(room: Room, change: Change) -> Self {
        Self {
            room,
            event: Event::Change(change),
        }
    }

    pub fn id(&self) -> i64 {
        self.event.id()
    }
}

pub struct Feed {
    recent: RwLock<Recent>,
    rooms: RwLock<HashMap<Room, RoomState>>,
    /// The most recently active rooms, newest first, kept up to date by `publish`: listing
    /// them costs the same with forty rooms or forty thousand.
    active: RwLock<Vec<RoomActivity>>,
    /// The newest id of all, set last by `publish`: the ring and the rooms already show it.
    published: AtomicI64,
    held: AtomicUsize,
    max_held: AtomicUsize,
    closing: watch::Sender<bool>,
    closed: AtomicBool,
    /// Counts the deletions published: whatever keeps copies of lines (kept pages) drops
    /// them when it moves.
    erasures: watch::Sender<u64>,
}

struct RoomState {
    /// The newest committed id in the room (0 while it has none).
    newest: watch::Sender<i64>,
    newest_at: String,
}

/// `active` newest first, at most [`MAX_ROOMS_LISTED`] of them.
fn keep_most_active(active: &mut Vec<RoomActivity>) {
    active.sort_unstable_by_key(|r| std::cmp::Reverse(r.newest_id));
    active.truncate(MAX_ROOMS_LISTED);
}

/// The newest lines and changes, ascending by id, complete above `floor`: every line (not
/// deleted) and change with an id greater than `floor` is here.
struct Recent {
    lines: VecDeque<Posted>,
    floor: i64,
    capacity: usize,
}

impl Feed {
    /// A feed holding `recent` (ascending: the store's newest lines, all of them when `floor`
    /// is 0) and the newest line of each room in `rooms`.
    pub fn new(recent: Vec<Posted>, floor: i64, rooms: Vec<RoomActivity>) -> Self {
        Self::with_capacity(RECENT_LINES, recent, floor, rooms)
    }

    pub fn with_capacity(
        capacity: usize,
        recent: Vec<Posted>,
        floor: i64,
        rooms: Vec<RoomActivity>,
    ) -> Self {
        let mut ring = Recent {
            lines: VecDeque::with_capacity(capacity),
            floor,
            capacity: capacity.max(1),
        };
        ring.extend(recent);
        let mut active: Vec<RoomActivity> =
            rooms.iter().filter(|r| r.newest_id > 0).cloned().collect();
        keep_most_active(&mut active);
        let rooms = rooms
            .into_iter()
            .map(|r| {
                let state = RoomState {
                    newest: watch::Sender::new(r.newest_id),
                    newest_at: r.newest_at,
                };
                (r.name, state)
            })
            .collect();
        Self {
            published: AtomicI64::new(ring.newest()),
            recent: RwLock::new(ring),
            rooms: RwLock::new(rooms),
            active: RwLock::new(active),
            held: AtomicUsize::new(0),
            max_held: AtomicUsize::new(usize::MAX),
            closing: watch::Sender::new(false),
            closed: AtomicBool::new(false),
            erasures: watch::Sender::new(0),
        }
    }

    /// A feed of a store's newest lines (newest first, as a store reads them: up to
    /// [`RECENT_LINES`]) and the newest line of each room.
    pub fn from_newest(mut newest_first: Vec<Posted>, rooms: Vec<RoomActivity>) -> Self {
        newest_first.reverse();
        // Complete above the line before the oldest held, or everything when all fit.
        let floor = match newest_first.first() {
            Some(oldest) if newest_first.len() >= RECENT_LINES => oldest.id() - 1,
            _ => 0,
        };
        Self::new(newest_first, floor, rooms)
    }

    /// An empty feed, for an empty store.
    pub fn empty() -> Self {
        Self::new(Vec::new(), 0, Vec::new())
    }

    /// Takes committed lines and changes (ascending, newer than any published before) and
    /// wakes the polls held in their rooms. Call before answering their posters: a poll that
    /// follows an answer must see the line.
    pub fn publish(&self, events: Vec<Posted>) {
        if events.is_empty() {
            return;
        }
        let newest = events.iter().map(Posted::id).max().unwrap_or(0);
        let mut newest_by_room: Vec<(Room, i64, String)> = Vec::new();
        for posted in &events {
            let (id, at) = (posted.id(), posted.event.at());
            match newest_by_room.iter_mut().find(|(r, ..)| *r == posted.room) {
                Some(entry) => {
                    entry.1 = id;
                    entry.2 = at.to_owned();
                }
                None => newest_by_room.push((posted.room.clone(), id, at.to_owned())),
            }
        }
        let mut erased = false;
        {
            let mut recent = write(&self.recent);
            // Events another server committed may arrive after ours; keep only what is new.
            let known = recent.newest();
            for posted in events.into_iter().filter(|p| p.id() > known) {
                erased |= recent.take(posted);
            }
        }
        if erased {
            self.erasures.send_modify(|n| *n += 1);
        }
        // The ring first, then the watches: a woken poll finds its lines in memory.
        let mut rooms = write(&self.rooms);
        let mut active = write(&self.active);
        for (room, id, at) in newest_by_room {
            match active.iter_mut().find(|r| r.name == room) {
                Some(listed) if listed.newest_id < id => {
                    listed.newest_id = id;
                    listed.newest_at.clone_from(&at);
                }
                Some(_) => {}
                None => active.push(RoomActivity {
                    name: room.clone(),
                    newest_id: id,
                    newest_at: at.clone(),
                }),
            }
            match rooms.get_mut(&room) {
                Some(state) => {
                    let newer = state.newest.send_if_modified(|newest| {
                        let newer = id > *newest;
                        *newest = (*newest).max(id);
                        newer
                    });
                    if newer {
                        state.newest_at = at;
                    }
                }
                None => {
                    let state = RoomState {
                        newest: watch::Sender::new(id),
                        newest_at: at,
                    };
                    rooms.insert(room, state);
                }
            }
        }
        keep_most_active(&mut active);
        drop(active);
        drop(rooms);
        // Last: whoever reads this id finds its line in the ring and its room listed.
        self.published.fetch_max(newest, Ordering::Release);
    }

    /// The newest id in `room` (0 when it has none).
    pub fn newest(&self, room: &Room) -> i64 {
        read(&self.rooms)
            .get(room)
            .map_or(0, |state| *state.newest.borrow())
    }

    /// The newest id of all, once the ring and the rooms both show it: a page rendered after
    /// reading it is at least as new.
    pub fn newest_overall(&self) -> i64 {
        self.published.load(Ordering::Acquire)
    }

    /// The lines and changes of `room` newer than `after`, at most `limit`, ascending; `None`
    /// when memory does not reach back to `after` (ask the store).
    pub fn since(&self, room: &Room, after: i64, limit: usize) -> Option<Vec<Event>> {
        if after >= self.newest(room) {
            return Some(Vec::new());
        }
        let recent = read(&self.recent);
        if after < recent.floor {
            return None;
        }
        let start = recent.lines.partition_point(|p| p.id() <= after);
        Some(
            recent
                .lines
                .range(start..)
                .filter(|p| p.room == *room)
                .take(limit)
                .map(|p| p.event.clone())
                .collect(),
        )
    }

    /// Counts deletions published: changes when one is.
    pub fn erasures(&self) -> watch::Receiver<u64> {
        self.erasures.subscribe()
    }

    /// The lines of `room` newer than `after`, at most `limit`, held up to `wait` while there
    /// are none: answered as soon as one is published, empty when the wait runs out or the
    /// server begins to stop, and at once (as if no wait was asked) past the cap of held polls.
    /// `None` when memory does not reach back to `after`, now or after a wake-up (ask the store).
    pub async fn poll(
        &self,
        room: &Room,
        after: i64,
        limit: usize,
        wait: std::time::Duration,
    ) -> Option<Vec<Event>> {
        // Subscribe, then look, then wait: a line published in between still wakes the poll.
        let mut news = self.subscribe(room);
        let lines = self.since(room, after, limit)?;
        if !lines.is_empty() || wait.is_zero() {
            return Some(lines);
        }
        let Some(_held) = self.hold() else {
            return Some(lines);
        };
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                newest = news.changed() => {
                    if newest > after {
                        let lines = self.since(room, after, limit)?;
                        if !lines.is_empty() {
                            return Some(lines);
                        }
                    }
                }
                () = &mut deadline => return Some(Vec::new()),
                () = self.closed() => return Some(Vec::new()),
            }
        }
    }

    /// The newest `count` lines of `room`, ascending, if memory holds them (or holds all of the
    /// room's lines).
    pub fn latest(&self, room: &Room, count: usize) -> Option<Vec<Line>> {
        let recent = read(&self.recent);
        let mut lines: Vec<Line> = recent
            .lines
            .iter()
            .rev()
            .filter(|p| p.room == *room)
            .filter_map(|p| match &p.event {
                Event::Line(line) => Some(line.clone()),
                Event::Change(_) => None,
            })
            .take(count)
            .collect();
        if lines.len() < count && recent.floor > 0 {
            return None;
        }
        lines.reverse();
        Some(lines)
    }

    /// The rooms with lines, most recently active first, at most `limit` (and at most
    /// [`MAX_ROOMS_LISTED`]).
    pub fn rooms(&self, limit: usize) -> Vec<RoomActivity> {
        let active = read(&self.active);
        active[..limit.min(active.len())].to_vec()
    }

    /// A watch of `room`'s newest id, marked seen: subscribe, then look, then wait.
    pub fn subscribe(&self, room: &Room) -> Subscription<'_> {
        if let Some(state) = read(&self.rooms).get(room) {
            return Subscription {
                feed: self,
                room: room.clone(),
                newest: state.newest.subscribe(),
            };
        }
        let mut rooms = write(&self.rooms);
        let state = rooms.entry(room.clone()).or_insert_with(|| RoomState {
            newest: watch::Sender::new(0),
            newest_at: String::new(),
        });
        Subscription {
            feed: self,
            room: room.clone(),
            newest: state.newest.subscribe(),
        }
    }

    /// The most polls held at once; more are answered at once, as if they had not asked to wait.
    pub fn set_max_held(&self, max: usize) {
        self.max_held.store(max, Ordering::Relaxed);
    }

    /// A place for one more held poll, unless the cap is reached or the server is closing.
    pub fn hold(&self) -> Option<Held<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let max = self.max_held.load(Ordering::Relaxed);
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Held { feed: self })
    }

    /// Polls held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// The server is stopping: every held poll is answered now, and none is held again.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.closing.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Resolves once [`Feed::close`] has been called.
    pub async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        let _ = closing.wait_for(|closing| *closing).await;
    }
}

/// One held poll's place under the cap.
pub struct Held<'a> {
    feed: &'a Feed,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.feed.held.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A held poll's watch of its room. A room that got no line while watched is forgotten with
/// its last watcher, so that polls of made-up rooms leave nothing behind.
pub struct Subscription<'a> {
    feed: &'a Feed,
    room: Room,
    newest: watch::Receiver<i64>,
}

impl Subscription<'_> {
    /// Waits until the room's newest id changes; returns it.
    pub async fn changed(&mut self) -> i64 {
        if self.newest.changed().await.is_err() {
            // The room was forgotten (it cannot be while watched): wait for the deadline.
            std::future::pending::<()>().await;
        }
        *self.newest.borrow_and_update()
    }

    /// Whether the room's newest id changed since it was last seen.
    pub fn has_news(&self) -> bool {
        self.newest.has_changed().unwrap_or(false)
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        if *self.newest.borrow() != 0 {
            return;
        }
        let mut rooms = write(&self.feed.rooms);
        let unused = rooms
            .get(&self.room)
            .is_some_and(|state| *state.newest.borrow() == 0 && state.newest.receiver_count() <= 1);
        if unused {
            rooms.remove(&self.room);
        }
    }
}

impl Recent {
    fn newest(&self) -> i64 {
        self.lines.back().map_or(self.floor, Posted::id)
    }

    fn extend(&mut self, events: impl IntoIterator<Item = Posted>) {
        for posted in events {
            self.take(posted);
        }
    }

    /// Adds the newest event, applying a change to the line it changes; true for a deletion.
    fn take(&mut self, posted: Posted) -> bool {
        let mut erased = false;
        if let Event::Change(change) = &posted.event {
            let at = self.lines.partition_point(|p| p.id() < change.line);
            let held = self
                .lines
                .get_mut(at)
                .filter(|p| p.id() == change.line)
                .and_then(|p| match &mut p.event {
                    Event::Line(line) => Some(line),
                    Event::Change(_) => None,
                });
            match change.kind {
                ChangeKind::Edited => {
                    if let Some(line) = held {
                        line.text = change.text.clone().unwrap_or_default();
                        line.edited = Some(change.at.clone());
                        line.revision = Some(change.id);
                    }
                }
                ChangeKind::Deleted => {
                    erased = true;
                    let target = change.line;
                    self.lines.retain(|p| match &p.event {
                        Event::Line(line) => line.id != target,
                        Event::Change(earlier) => earlier.line != target,
                    });
                }
            }
        }
        if self.lines.len() == self.capacity
            && let Some(dropped) = self.lines.pop_front()
        {
            self.floor = dropped.id();
        }
        self.lines.push_back(posted);
        erased
    }
}

/// A poisoned lock means a panic elsewhere while holding it; the data is still consistent
/// (every update is a single push or insert), so keep serving.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Shares a feed between a store and the server functions.
pub type SharedFeed = Arc<Feed>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::HasId;

    fn posted(room: &str, id: i64) -> Posted {
        Posted::line(Room::parse(room).unwrap(), Line::sample(id))
    }

    fn change(room: &str, id: i64, line: i64, kind: ChangeKind) -> Posted {
        let text = (kind == ChangeKind::Edited).then(|| format!("edit {id}"));
        Posted::change(
            Room::parse(room).unwrap(),
            Change {
                id,
                line,
                kind,
                text,
                at: "2026-11-23T10:01:00Z".into(),
            },
        )
    }

    fn ids<T: HasId>(events: &[T]) -> Vec<i64> {
        events.iter().map(HasId::id).collect()
    }

    #[test]
    fn an_edit_rewrites_its_line_and_a_deletion_takes_it_and_its_edits_out() {
        let feed = Feed::with_capacity(16, vec![], 0, vec![]);
        let erasures = feed.erasures();
        feed.publish(vec![posted("a", 1), posted("a", 2), posted("b", 3)]);
        feed.publish(vec![change("a", 4, 1, ChangeKind::Edited)]);
        let events = feed.since(&room("a"), 0, 10).unwrap();
        assert_eq!(ids(&events), [1, 2, 4]);
        let Event::Line(edited) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(edited.text, "edit 4");
        assert_eq!((edited.revision, edited.version()), (Some(4), 4));
        assert!(edited.edited.is_some());
        assert_eq!(ids(&feed.latest(&room("a"), 5).unwrap()), [1, 2]);
        assert_eq!(
            feed.newest(&room("a")),
            4,
            "a change wakes the room's polls"
        );
        assert!(!erasures.has_changed().unwrap());

        feed.publish(vec![change("a", 5, 1, ChangeKind::Deleted)]);
        assert_eq!(ids(&feed.since(&room("a"), 0, 10).unwrap()), [2, 5]);
        assert_eq!(ids(&feed.latest(&room("a"), 5).unwrap()), [2]);
        assert!(erasures.has_changed().unwrap());
        let text = format!("{:?}", read(&feed.recent).lines);
        assert!(
            !text.contains("edit 4") && !text.contains("line 1"),
            "{text}"
        );
        // A change of a line older than memory is kept all the same.
        feed.publish(vec![change("b", 6, 0, ChangeKind::Edited)]);
        assert_eq!(ids(&feed.since(&room("b"), 0, 10).unwrap()), [3, 6]);
    }

    fn room(name: &str) -> Room {
        Room::parse(name).unwrap()
    }

    #[test]
    fn polls_inside_the_ring_are_answered_by_room() {
        let feed = Feed::with_capacity(4, vec![], 0, vec![]);
        feed.publish(vec![posted("a", 1), posted("b", 2), posted("a", 3)]);
        assert_eq!(ids(&feed.since(&room("a"), 0, 10).unwrap()), [1, 3]);
        assert_eq!(ids(&feed.since(&room("a"), 1, 10).unwrap()), [3]);
        assert_eq!(ids(&feed.since(&room("a"), 0, 1).unwrap()), [1]);
        assert_eq!(ids(&feed.since(&room("b"), 0, 10).unwrap()), [2]);
        assert_eq!(feed.since(&room("c"), 0, 10), Some(vec![]));
        assert_eq!(feed.newest(&room("a")), 3);
        assert_eq!(feed.newest_overall(), 3);
    }

    #[test]
    fn cursors_older_than_the_ring_go_to_the_store() {
        let feed = Feed::with_capacity(2, vec![], 0, vec![]);
        feed.publish(vec![posted("a", 1), posted("a", 2), posted("a", 3)]);
        assert_eq!(feed.since(&room("a"), 0, 10), None, "line 1 was dropped");
        assert_eq!(ids(&feed.since(&room("a"), 1, 10).unwrap()), [2, 3]);
        assert_eq!(
            feed.latest(&room("a"), 2).map(|l| ids(&l)),
            Some(vec![2, 3])
        );
        assert_eq!(feed.latest(&room("a"), 3), None);
    }

    #[test]
    fn latest_is_whole_history_when_nothing_was_dropped() {
        let feed = Feed::with_capacity(8, vec![posted("a", 5), posted("b", 6)], 0, vec![]);
        assert_eq!(feed.latest(&room("a"), 50).map(|l| ids(&l)), Some(vec![5]));
        assert_eq!(feed.latest(&room("z"), 50), Some(vec![]));
    }

    #[test]
    fn rooms_are_listed_newest_activity_first() {
        let feed = Feed::empty();
        feed.publish(vec![posted("a", 1), posted("b", 2)]);
        feed.publish(vec![posted("a", 3)]);
        let names: Vec<_> = feed.rooms(10).into_iter().map(|r| r.name).collect();
        assert_eq!(names, [room("a"), room("b")]);
        assert_eq!(feed.rooms(1).len(), 1);
        // Watching a room without lines neither lists it nor keeps it.
        drop(feed.subscribe(&room("quiet")));
        assert_eq!(feed.rooms(10).len(), 2);
        assert!(!read(&feed.rooms).contains_key(&room("quiet")));
    }

    #[test]
    fn the_most_active_rooms_are_kept_listed_however_many_rooms_there_are() {
        let name = |i: i64| room(&format!("r{i}"));
        let at = |i: i64| RoomActivity {
            name: name(i),
            newest_id: i,
            newest_at: String::new(),
        };
        // As a store opens it: 40,000 rooms, listed by their newest lines.
        let feed = Feed::new(vec![], 0, (1..=40_000).map(at).collect());
        let listed = |feed: &Feed| {
            feed.rooms(100)
                .into_iter()
                .map(|r| r.newest_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(listed(&feed), (39_951..=40_000).rev().collect::<Vec<_>>());
        // A quiet room that speaks again goes to the top, one batch at a time or several.
        feed.publish(vec![Posted::line(name(7), Line::sample(40_001))]);
        feed.publish(vec![
            Posted::line(name(40_000), Line::sample(40_002)),
            Posted::line(name(8), Line::sample(40_003)),
        ]);
        let top: Vec<_> = feed.rooms(3).into_iter().map(|r| r.name).collect();
        assert_eq!(top, [name(8), name(40_000), name(7)]);
        assert_eq!(feed.rooms(1_000).len(), MAX_ROOMS_LISTED);
    }

    #[tokio::test]
    async fn a_line_published_after_subscribing_is_never_missed() {
        let feed = Feed::empty();
        let mut watch = feed.subscribe(&room("a"));
        // Published between the look and the wait: the wait still ends.
        feed.publish(vec![posted("a", 1)]);
        assert_eq!(watch.changed().await, 1);
        // Another room's line does not wake it.
        feed.publish(vec![posted("b", 2)]);
        assert!(!watch.has_news());
        feed.publish(vec![posted("a", 3)]);
        assert!(watch.has_news());
    }

    #[test]
    fn held_polls_are_capped_and_closing_refuses_more() {
        let feed = Feed::empty();
        feed.set_max_held(1);
        let first = feed.hold().unwrap();
        assert!(feed.hold().is_none());
        drop(first);
        assert_eq!(feed.held(), 0);
        assert!(feed.hold().is_some());
        feed.close();
        assert!(feed.hold().is_none());
    }
}
