//! Edits and deletions as changes, on every store: who may make them, what they erase, and
//! their delivery exactly once, in order, with the lines.

use super::names::{TestClock, as_name, identity_of, newcomer};
use super::{Harness, HasId, general, ids, keyed, lines_of};
use app::change::{Change, ChangeKind, Event};
use app::identity::Poster;
use app::line::IdempotencyKey;
use app::room::Room;
use app::store::{ChatStore, LineDelete, LineEdit, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn edit(line: i64, text: &str, by: i64) -> LineEdit {
    LineEdit {
        line,
        text: text.into(),
        by,
        key: None,
    }
}

fn delete(line: i64, by: i64) -> LineDelete {
    LineDelete {
        line,
        by,
        moderator: false,
    }
}

/// A newcomer's first line, and their identity's id.
async fn first_line(store: &Arc<dyn ChatStore>, name: &str, text: &str) -> (i64, i64) {
    let (poster, secret) = newcomer();
    let line = store.append(as_name(name, text).by(poster)).await.unwrap();
    (line.id, identity_of(store, &secret).await)
}

pub async fn only_the_poster_edits_and_only_within_the_window(h: &dyn Harness) {
    let clock = TestClock::new();
    let store = h.open_with(clock.rules(None)).await;
    let (line, ann) = first_line(&store, "ann", "helo").await;
    let (_, bob) = first_line(&store, "bob", "hi").await;
    let change = store.edit(edit(line, "hello", ann)).await.unwrap();
    assert!(change.id > line);
    assert_eq!((change.line, change.kind), (line, ChangeKind::Edited));
    assert_eq!(change.text.as_deref(), Some("hello"));
    // Every answer shows the line as it is now, and the change after it.
    for events in [
        store.since(&general(), 0, 10).await.unwrap(),
        store.feed().since(&general(), 0, 10).unwrap(),
    ] {
        let lines = lines_of(events.clone());
        assert_eq!(lines[0].text, "hello");
        assert_eq!(lines[0].revision, Some(change.id));
        assert_eq!(lines[0].edited.as_deref(), Some(change.at.as_str()));
        assert_eq!(events.last(), Some(&Event::Change(change.clone())));
    }
    let history = store.before(&general(), i64::MAX, 10).await.unwrap();
    assert_eq!(history[0].text, "hello");
    assert_eq!(
        store.feed().newest(&general()),
        change.id,
        "a change wakes polls"
    );

    assert!(matches!(
        store.edit(edit(line, "mine", bob)).await,
        Err(StoreError::Forbidden)
    ));
    let nobodys = store.append(super::line("from a tool")).await.unwrap();
    assert!(matches!(
        store.edit(edit(nobodys.id, "x", ann)).await,
        Err(StoreError::Forbidden)
    ));
    assert!(matches!(
        store.edit(edit(10_000, "x", ann)).await,
        Err(StoreError::NotFound)
    ));
    clock.advance(Duration::from_secs(15 * 60));
    store.edit(edit(line, "hello!", ann)).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        store.edit(edit(line, "too late", ann)).await,
        Err(StoreError::EditWindowClosed)
    ));
}

pub async fn a_deletion_erases_the_line_everywhere_and_keeps_its_id(h: &dyn Harness) {
    let store = h.open().await;
    let (poster, secret) = newcomer();
    let said = store.append(keyed("regret", "k").by(poster)).await.unwrap();
    let ann = identity_of(&store, &secret).await;
    store.edit(edit(said.id, "more regret", ann)).await.unwrap();
    let (bobs, bob) = first_line(&store, "bob", "stays").await;
    assert!(matches!(
        store.delete(delete(said.id, bob)).await,
        Err(StoreError::Forbidden)
    ));
    let deletion = store.delete(delete(said.id, ann)).await.unwrap();
    assert_eq!(
        (deletion.line, deletion.kind),
        (said.id, ChangeKind::Deleted)
    );
    assert_eq!(deletion.text, None);
    // Deleting it again answers the first deletion, and publishes nothing.
    let newest = store.feed().newest(&general());
    assert_eq!(store.delete(delete(said.id, ann)).await.unwrap(), deletion);
    assert_eq!(store.feed().newest(&general()), newest);

    let check = |events: Vec<Event>| {
        assert_eq!(ids(&events), [bobs, deletion.id], "{events:?}");
        let shown = format!("{events:?}");
        assert!(!shown.contains("regret"), "{shown}");
    };
    check(store.since(&general(), 0, 10).await.unwrap());
    check(store.feed().since(&general(), 0, 10).unwrap());
    assert_eq!(
        ids(&store.before(&general(), i64::MAX, 10).await.unwrap()),
        [bobs]
    );
    assert_eq!(ids(&store.feed().latest(&general(), 10).unwrap()), [bobs]);
    assert!(matches!(
        store.edit(edit(said.id, "back", ann)).await,
        Err(StoreError::NotFound)
    ));
    // Its id stays: a retried send answers that it is gone, and ids go on after it.
    assert!(matches!(
        store.append(keyed("regret", "k")).await,
        Err(StoreError::Gone)
    ));
    let next = store.append(super::line("after")).await.unwrap();
    assert!(next.id > deletion.id);
    // A moderator deletes anyone's line.
    let removed = LineDelete {
        line: bobs,
        by: ann,
        moderator: true,
    };
    store.delete(removed).await.unwrap();
    // And so it stays after a restart.
    drop(store);
    let store = h.open().await;
    assert_eq!(ids(&store.since(&general(), 0, 10).await.unwrap()).len(), 3);
    check_erased(
        &store.since(&general(), 0, 10).await.unwrap(),
        &["regret", "stays"],
    );
    check_erased(
        &store.feed().since(&general(), 0, 10).unwrap(),
        &["regret", "stays"],
    );
}

fn check_erased(events: &[Event], texts: &[&str]) {
    let shown = format!("{events:?}");
    for text in texts {
        assert!(!shown.contains(text), "{shown}");
    }
}

pub async fn history_pages_skip_deleted_lines_and_stay_full(h: &dyn Harness) {
    let store = h.open().await;
    let (poster, secret) = newcomer();
    let mut all = vec![
        store
            .append(as_name("ann", "0").by(poster))
            .await
            .unwrap()
            .id,
    ];
    let ann = identity_of(&store, &secret).await;
    for i in 1..12 {
        let line = as_name("ann", &i.to_string()).by(Poster::Known(ann));
        all.push(store.append(line).await.unwrap().id);
    }
    for gone in [all[9], all[8], all[4]] {
        store.delete(delete(gone, ann)).await.unwrap();
    }
    let page = store.before(&general(), i64::MAX, 4).await.unwrap();
    assert_eq!(ids(&page), [all[6], all[7], all[10], all[11]]);
    // A page still holds `limit` lines while that many older ones remain.
    let older = store.before(&general(), page[0].id, 4).await.unwrap();
    assert_eq!(ids(&older), [all[1], all[2], all[3], all[5]]);
    let first = store.before(&general(), older[0].id, 4).await.unwrap();
    assert_eq!(ids(&first), [all[0]], "a short page reaches the first line");
}

pub async fn keyed_edits_are_safe_to_retry(h: &dyn Harness) {
    let store = h.open().await;
    let (line, ann) = first_line(&store, "ann", "helo").await;
    let keyed_edit = |text: &str, key: &str| LineEdit {
        key: IdempotencyKey::parse(Some(key)).unwrap(),
        ..edit(line, text, ann)
    };
    let first = store.edit(keyed_edit("hello", "e1")).await.unwrap();
    assert_eq!(store.edit(keyed_edit("hello", "e1")).await.unwrap(), first);
    assert!(matches!(
        store.edit(keyed_edit("other", "e1")).await,
        Err(StoreError::KeyReused)
    ));
    assert!(matches!(
        store.append(keyed("hello", "e1")).await,
        Err(StoreError::KeyReused)
    ));
    assert_eq!(store.since(&general(), 0, 10).await.unwrap().len(), 2);
    // Once the line is deleted, the edit is gone with it.
    store.delete(delete(line, ann)).await.unwrap();
    assert!(matches!(
        store.edit(keyed_edit("hello", "e1")).await,
        Err(StoreError::Gone)
    ));
}

/// What a page makes of events: each line's current text, by id.
fn apply(shown: &mut BTreeMap<i64, (String, i64)>, events: &[Event]) {
    for event in events {
        match event {
            Event::Line(line) => {
                shown.insert(line.id, (line.text.clone(), line.version()));
            }
            Event::Change(Change {
                id,
                line,
                kind: ChangeKind::Edited,
                text,
                ..
            }) => {
                if let Some(entry) = shown.get_mut(line).filter(|(_, version)| version < id) {
                    *entry = (text.clone().unwrap_or_default(), *id);
                }
            }
            Event::Change(Change { line, .. }) => {
                shown.remove(line);
            }
        }
    }
}

/// Polls `room` from `cursor` (held, from memory, or from the store when memory does not reach
/// back) until it has seen `until`; every event once and in order.
async fn poll_until(
    store: &Arc<dyn ChatStore>,
    room: &Room,
    cursor: &mut i64,
    until: i64,
    seen: &mut Vec<Event>,
) {
    while *cursor < until {
        let wait = Duration::from_secs(30);
        let batch = match store.feed().poll(room, *cursor, 7, wait).await {
            Some(batch) => batch,
            None => store.since(room, *cursor, 7).await.unwrap(),
        };
        for event in &batch {
            assert!(event.id() > *cursor, "{} after {}", event.id(), *cursor);
            *cursor = event.id();
        }
        seen.extend(batch);
    }
}

pub async fn changes_reach_held_pollers_exactly_once_in_order_through_a_restart(h: &dyn Harness) {
    const WRITERS: usize = 20;
    const POLLERS: usize = 20;
    let room = Room::parse("busy").unwrap();
    let store = h.open().await;
    let start_pollers =
        |store: &Arc<dyn ChatStore>, cursors: Vec<(i64, Vec<Event>)>, until: i64| {
            cursors
                .into_iter()
                .map(|(mut cursor, mut seen)| {
                    let (store, room) = (store.clone(), room.clone());
                    tokio::spawn(async move {
                        poll_until(&store, &room, &mut cursor, until, &mut seen).await;
                        (cursor, seen)
                    })
                })
                .collect::<Vec<_>>()
        };
    // Before the restart: every writer's lines, and the pollers holding for them.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, room) = (store.clone(), room.clone());
            tokio::spawn(async move {
                let (poster, secret) = newcomer();
                let mut mine = vec![
                    store
                        .append(
                            as_name(&format!("w{w}"), "0")
                                .by(poster)
                                .in_room(room.clone()),
                        )
                        .await
                        .unwrap()
                        .id,
                ];
                let me = identity_of(&store, &secret).await;
                for i in 1..4 {
                    let line = as_name(&format!("w{w}"), &i.to_string())
                        .by(Poster::Known(me))
                        .in_room(room.clone());
                    mine.push(store.append(line).await.unwrap().id);
                }
                store.edit(edit(mine[1], "edited once", me)).await.unwrap();
                (me, mine)
            })
        })
        .collect();
    let mut written = Vec::new();
    for writer in writers {
        written.push(writer.await.unwrap());
    }
    let until = store.feed().newest(&room);
    let pollers = start_pollers(&store, vec![(0, Vec::new()); POLLERS], until);
    let mut cursors = Vec::new();
    for poller in pollers {
        cursors.push(poller.await.unwrap());
    }
    store.close().await;
    drop(store);

    // After it: edits, more edits and deletions, each writer at once, pollers held meanwhile.
    let store = h.open().await;
    let before = store.feed().newest(&room);
    assert_eq!(before, until);
    let changers: Vec<_> = written
        .iter()
        .cloned()
        .map(|(me, mine)| {
            let store = store.clone();
            tokio::spawn(async move {
                store.edit(edit(mine[1], "edited twice", me)).await.unwrap();
                store.edit(edit(mine[2], "then deleted", me)).await.unwrap();
                store.delete(delete(mine[2], me)).await.unwrap();
                store.delete(delete(mine[3], me)).await.unwrap();
            })
        })
        .collect();
    // Each writer makes four changes.
    let until = before + (WRITERS * 4) as i64;
    let pollers = start_pollers(&store, cursors, until);
    for changer in changers {
        changer.await.unwrap();
    }
    assert_eq!(store.feed().newest(&room), until);
    let truth = store.since(&room, 0, 10_000).await.unwrap();
    let mut expected = BTreeMap::new();
    apply(&mut expected, &truth);
    assert_eq!(
        expected.len(),
        WRITERS * 2,
        "two lines of each writer remain"
    );
    for poller in pollers {
        let (cursor, seen) = poller.await.unwrap();
        assert_eq!(cursor, until);
        let mut ids: Vec<i64> = seen.iter().map(HasId::id).collect();
        let count = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), count, "no event twice");
        let mut shown = BTreeMap::new();
        apply(&mut shown, &seen);
        assert_eq!(shown, expected, "the page shows what the store holds");
    }
    for (_, mine) in &written {
        assert_eq!(expected[&mine[1]].0, "edited twice");
    }
}
