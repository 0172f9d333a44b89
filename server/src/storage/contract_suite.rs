//! What every [`ChatStore`] promises, as one suite run against each backend
//! (`store_contract_tests!` in each backend's tests).

use crate::storage::rules::Rules;
use app::change::Event;
pub use app::change::HasId;
use app::line::{IdempotencyKey, Line, NewLine};
use app::room::Room;
use app::store::{ChatStore, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;

mod changes;
mod names;

pub use changes::*;
pub use names::*;

/// A database for one test, which can be opened again (a restart).
#[async_trait::async_trait]
pub trait Harness: Send + Sync {
    /// Opens the test's database (created empty the first time), with the store's rules.
    async fn open_with(&self, rules: Rules) -> Arc<dyn ChatStore>;

    /// Opens it with the default rules.
    async fn open(&self) -> Arc<dyn ChatStore> {
        self.open_with(Rules::default()).await
    }
}

pub fn line(text: &str) -> NewLine {
    NewLine::parse("ann", text).unwrap()
}

pub fn in_room(room: &str, text: &str) -> NewLine {
    line(text).in_room(Room::parse(room).unwrap())
}

pub fn keyed(text: &str, key: &str) -> NewLine {
    line(text).with_key(IdempotencyKey::parse(Some(key)).unwrap())
}

/// The texts of a group whose post `poison` the database refuses: queued while the writer is
/// held, one after another so that the group keeps this order.
pub const POISONED_GROUP: [&str; 5] = ["a", "b", "poison", "c", "d"];

/// Queues [`POISONED_GROUP`] while `store`'s writer is held, lets it go (`release`), and checks
/// that `poison` failed alone: every other post answered with its stored line, in order.
pub async fn poison_fails_alone(store: Arc<dyn ChatStore>, release: impl FnOnce()) {
    let mut posts = Vec::new();
    for (queued, text) in (1..).zip(POISONED_GROUP) {
        let store_ = store.clone();
        posts.push(tokio::spawn(async move { store_.append(line(text)).await }));
        while store.queued_posts() < queued {
            tokio::task::yield_now().await;
        }
    }
    release();
    let mut stored = Vec::new();
    for (text, post) in POISONED_GROUP.iter().zip(posts) {
        match (text, post.await.unwrap()) {
            (&"poison", outcome) => assert!(
                matches!(outcome, Err(StoreError::Unavailable(_))),
                "{outcome:?}"
            ),
            (_, outcome) => stored.push(outcome.unwrap().text),
        }
    }
    assert_eq!(stored, ["a", "b", "c", "d"]);
}

pub fn ids<T: HasId>(items: &[T]) -> Vec<i64> {
    items.iter().map(HasId::id).collect()
}

/// The lines among `events`.
pub fn lines_of(events: Vec<Event>) -> Vec<Line> {
    events
        .into_iter()
        .filter_map(|event| match event {
            Event::Line(line) => Some(line),
            Event::Change(_) => None,
        })
        .collect()
}

pub fn general() -> Room {
    Room::general()
}

pub async fn ids_increase_and_lines_read_back(h: &dyn Harness) {
    let store = h.open().await;
    let a = store.append(line("one")).await.unwrap();
    let b = store.append(line("two")).await.unwrap();
    assert!(b.id > a.id);
    assert_eq!((b.screenname.as_str(), b.text.as_str()), ("ann", "two"));
    assert_eq!(b.created.len(), "2026-11-23T10:00:00Z".len());
    assert!(b.created.ends_with('Z'));
    assert_eq!(
        lines_of(store.since(&general(), 0, 10).await.unwrap()),
        vec![a, b]
    );
}

pub async fn since_and_before_page_through_a_room_in_order(h: &dyn Harness) {
    let store = h.open().await;
    let mut all = Vec::new();
    for i in 0..10 {
        all.push(store.append(line(&format!("line {i}"))).await.unwrap().id);
    }
    let g = general();
    assert_eq!(ids(&store.since(&g, 0, 100).await.unwrap()), all);
    assert_eq!(ids(&store.since(&g, all[3], 100).await.unwrap()), all[4..]);
    assert_eq!(ids(&store.since(&g, all[1], 3).await.unwrap()), all[2..5]);
    assert!(store.since(&g, all[9], 100).await.unwrap().is_empty());
    // History: the newest `limit` lines before `before`, ascending.
    assert_eq!(ids(&store.before(&g, all[5], 3).await.unwrap()), all[2..5]);
    assert_eq!(ids(&store.before(&g, all[1], 3).await.unwrap()), all[..1]);
    assert_eq!(ids(&store.before(&g, i64::MAX, 2).await.unwrap()), all[8..]);
    assert!(store.before(&g, all[0], 3).await.unwrap().is_empty());
}

pub async fn rooms_are_apart(h: &dyn Harness) {
    let store = h.open().await;
    let a1 = store.append(in_room("a", "a1")).await.unwrap();
    let b1 = store.append(in_room("b", "b1")).await.unwrap();
    let a2 = store.append(in_room("a", "a2")).await.unwrap();
    let a = Room::parse("a").unwrap();
    let b = Room::parse("b").unwrap();
    assert_eq!(ids(&store.since(&a, 0, 10).await.unwrap()), [a1.id, a2.id]);
    assert_eq!(ids(&store.since(&b, 0, 10).await.unwrap()), [b1.id]);
    assert_eq!(ids(&store.before(&a, a2.id, 10).await.unwrap()), [a1.id]);
    assert!(store.since(&general(), 0, 10).await.unwrap().is_empty());
    // The feed knows each room's newest line, newest activity first.
    let rooms: Vec<_> = store.feed().rooms(10).into_iter().map(|r| r.name).collect();
    assert_eq!(rooms, [a.clone(), b.clone()]);
    assert_eq!(store.feed().newest(&a), a2.id);
}

pub async fn concurrent_appends_are_all_stored_once(h: &dyn Harness) {
    let store = h.open().await;
    let posts: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(line(&format!("p{i}"))).await.unwrap() })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for post in posts {
        acknowledged.push(post.await.unwrap().id);
    }
    acknowledged.sort();
    let stored = store.since(&general(), 0, 500).await.unwrap();
    assert_eq!(ids(&stored), acknowledged);
    // The feed saw every commit, in order.
    let recent = store.feed().since(&general(), 0, 500).unwrap();
    assert_eq!(ids(&recent), acknowledged);
}

pub async fn lines_and_the_feed_survive_reopening(h: &dyn Harness) {
    let stored = h
        .open()
        .await
        .append(in_room("kept", "kept"))
        .await
        .unwrap();
    let store = h.open().await;
    let kept = Room::parse("kept").unwrap();
    assert_eq!(
        lines_of(store.since(&kept, 0, 10).await.unwrap()),
        vec![stored.clone()]
    );
    assert_eq!(
        store.feed().since(&kept, 0, 10).map(lines_of),
        Some(vec![stored.clone()])
    );
    assert_eq!(store.feed().newest(&kept), stored.id);
    assert_eq!(store.feed().rooms(10)[0].newest_at, stored.created);
    let next = store.append(in_room("kept", "after")).await.unwrap();
    assert!(next.id > stored.id);
    assert_eq!(
        ids(&store.since(&kept, stored.id, 10).await.unwrap()),
        [next.id]
    );
}

pub async fn a_repeated_key_returns_the_first_line_and_stores_nothing(h: &dyn Harness) {
    let store = h.open().await;
    let first = store.append(keyed("hello", "k1")).await.unwrap();
    let again = store.append(keyed("hello", "k1")).await.unwrap();
    assert_eq!(again, first);
    assert!(matches!(
        store.append(keyed("something else", "k1")).await,
        Err(StoreError::KeyReused)
    ));
    // The same text in another room is another line.
    let moved = keyed("hello", "k1").in_room(Room::parse("elsewhere").unwrap());
    assert!(matches!(
        store.append(moved).await,
        Err(StoreError::KeyReused)
    ));
    let other = store.append(keyed("hello", "k2")).await.unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(
        ids(&store.since(&general(), 0, 10).await.unwrap()),
        [first.id, other.id]
    );
    // A replay is not published again.
    assert_eq!(store.feed().since(&general(), 0, 10).unwrap().len(), 2);
}

pub async fn concurrent_sends_with_one_key_store_one_line(h: &dyn Harness) {
    let store = h.open().await;
    let sends: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.append(keyed("once", "same")).await.unwrap() })
        })
        .collect();
    let mut answered = BTreeSet::new();
    for send in sends {
        answered.insert(send.await.unwrap().id);
    }
    assert_eq!(answered.len(), 1);
    assert_eq!(store.since(&general(), 0, 10).await.unwrap().len(), 1);
}

pub async fn keys_survive_reopening(h: &dyn Harness) {
    let first = h.open().await.append(keyed("kept", "k")).await.unwrap();
    assert_eq!(
        h.open().await.append(keyed("kept", "k")).await.unwrap(),
        first
    );
}

pub async fn ping_answers(h: &dyn Harness) {
    h.open().await.ping().await.unwrap();
}

/// One `#[tokio::test]` per promise, for the harness `$harness` (an expression).
#[macro_export]
macro_rules! store_contract_tests {
    ($harness:expr) => {
        $crate::store_contract_tests!(@each $harness;
            ids_increase_and_lines_read_back,
            since_and_before_page_through_a_room_in_order,
            rooms_are_apart,
            concurrent_appends_are_all_stored_once,
            lines_and_the_feed_survive_reopening,
            a_repeated_key_returns_the_first_line_and_stores_nothing,
            concurrent_sends_with_one_key_store_one_line,
            keys_survive_reopening,
            ping_answers,
            a_name_is_held_by_its_first_poster_and_look_alikes_are_refused,
            a_name_is_released_after_the_hold_period,
            without_holding_anyone_posts_under_any_name,
            identities_are_found_by_their_secret_only,
            passwords_and_secrets_are_kept_for_an_identity,
            only_the_poster_edits_and_only_within_the_window,
            a_deletion_erases_the_line_everywhere_and_keeps_its_id,
            history_pages_skip_deleted_lines_and_stay_full,
            keyed_edits_are_safe_to_retry,
            changes_reach_held_pollers_exactly_once_in_order_through_a_restart,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::storage::contract_suite::$name(&harness).await;
            }
        )*
    };
}
