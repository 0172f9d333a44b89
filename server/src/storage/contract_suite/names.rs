//! Identities and held names, on every store.

use super::{Harness, general, ids, line};
use crate::storage::rules::Rules;
use app::identity::{Poster, Presented, Secret};
use app::line::NewLine;
use app::store::{AccountChange, ChatStore, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A clock the test drives, in milliseconds.
#[derive(Clone, Default)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    /// Starting at a real time (lines show it).
    pub fn new() -> Self {
        Self(Arc::new(AtomicI64::new(1_796_000_000_000)))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// Rules on this clock: names held for `hold`, lines editable for 15 minutes.
    pub fn rules(&self, hold: Option<Duration>) -> Rules {
        let now = self.0.clone();
        Rules {
            name_hold: hold,
            clock: Arc::new(move || now.load(Ordering::SeqCst)),
            ..Rules::default()
        }
    }
}

/// A browser's first post: a new identity, and the secret it was given.
pub fn newcomer() -> (Poster, Presented) {
    let secret = Secret::generate().unwrap().presented();
    (Poster::New(secret.clone()), secret)
}

pub fn as_name(name: &str, text: &str) -> NewLine {
    NewLine::parse(name, text).unwrap()
}

/// The identity id of `secret`.
pub async fn identity_of(store: &Arc<dyn ChatStore>, secret: &Presented) -> i64 {
    store.identify(secret).await.unwrap().expect("known").id
}

pub async fn a_name_is_held_by_its_first_poster_and_look_alikes_are_refused(h: &dyn Harness) {
    let store = h.open().await;
    let (ann, ann_secret) = newcomer();
    let first = store.append(as_name("ann", "hi").by(ann)).await.unwrap();
    let ann = Poster::Known(identity_of(&store, &ann_secret).await);
    for alike in ["ann", "Ann", "ＡＮＮ", "\u{0430}nn"] {
        let (other, _) = newcomer();
        match store.append(as_name(alike, "me too").by(other)).await {
            Err(StoreError::NameTaken(name)) => assert_eq!(name, alike),
            other => panic!("{alike}: {other:?}"),
        }
    }
    // Nothing was stored for them, not even their identities.
    assert_eq!(
        ids(&store.since(&general(), 0, 10).await.unwrap()),
        [first.id]
    );
    // The holder posts as before, under any spelling of it, shown as typed.
    let again = store
        .append(as_name("Ann", "still me").by(ann))
        .await
        .unwrap();
    assert_eq!(again.screenname, "Ann");
    // Another name is free.
    let (bob, _) = newcomer();
    store.append(as_name("bob", "hello").by(bob)).await.unwrap();
    let me = store.identify(&ann_secret).await.unwrap().unwrap();
    assert_eq!(me.names, ["Ann"]);
    assert_eq!(
        store.holder("ＡＮＮ").await.unwrap().map(|i| i.id),
        Some(me.id)
    );
    assert!(store.holder("carol").await.unwrap().is_none());
}

pub async fn a_name_is_released_after_the_hold_period(h: &dyn Harness) {
    let clock = TestClock::new();
    let store = h
        .open_with(clock.rules(Some(Duration::from_secs(3600))))
        .await;
    let (ann, ann_secret) = newcomer();
    store.append(as_name("ann", "hi").by(ann)).await.unwrap();
    clock.advance(Duration::from_secs(3599));
    let (other, other_secret) = newcomer();
    assert!(matches!(
        store
            .append(as_name("ann", "mine?").by(other.clone()))
            .await,
        Err(StoreError::NameTaken(_))
    ));
    clock.advance(Duration::from_secs(1));
    // Released: the first holder no longer shows it; the next poster holds it.
    assert!(
        store
            .identify(&ann_secret)
            .await
            .unwrap()
            .unwrap()
            .names
            .is_empty()
    );
    store
        .append(as_name("ann", "mine now").by(other))
        .await
        .unwrap();
    let other = identity_of(&store, &other_secret).await;
    let ann = Poster::Known(identity_of(&store, &ann_secret).await);
    assert!(matches!(
        store.append(as_name("ann", "back?").by(ann)).await,
        Err(StoreError::NameTaken(_))
    ));
    assert_eq!(
        store.holder("ann").await.unwrap().map(|i| i.id),
        Some(other)
    );
}

pub async fn without_holding_anyone_posts_under_any_name(h: &dyn Harness) {
    let store = h.open_with(TestClock::new().rules(None)).await;
    let (ann, _) = newcomer();
    let (other, other_secret) = newcomer();
    store.append(as_name("ann", "one").by(ann)).await.unwrap();
    store.append(as_name("Ann", "two").by(other)).await.unwrap();
    // Each line is still its poster's (the secret was issued).
    assert!(store.identify(&other_secret).await.unwrap().is_some());
}

pub async fn identities_are_found_by_their_secret_only(h: &dyn Harness) {
    let store = h.open().await;
    let (ann, secret) = newcomer();
    store.append(as_name("ann", "hi").by(ann)).await.unwrap();
    assert!(store.identify(&secret).await.unwrap().is_some());
    let forged = Presented {
        selector: secret.selector,
        verifier: [0; 32],
    };
    assert!(store.identify(&forged).await.unwrap().is_none());
    assert!(store.identify(&newcomer().1).await.unwrap().is_none());
    // A post by nobody (a tool) holds no name.
    store.append(line("from a tool")).await.unwrap();
    assert!(store.holder("ann").await.unwrap().is_some());
}

pub async fn passwords_and_secrets_are_kept_for_an_identity(h: &dyn Harness) {
    let store = h.open().await;
    let (ann, secret) = newcomer();
    store.append(as_name("ann", "hi").by(ann)).await.unwrap();
    let id = identity_of(&store, &secret).await;
    assert_eq!(
        store
            .identify(&secret)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        None
    );
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned();
    let set = AccountChange::SetPassword {
        identity: id,
        hash: hash.clone(),
    };
    store.account(set).await.unwrap();
    let holder = store.holder("ann").await.unwrap().unwrap();
    assert_eq!(holder.password_hash.as_deref(), Some(hash.as_str()));
    // A second browser signs in: another secret for the same identity.
    let second = Secret::generate().unwrap().presented();
    let add = AccountChange::AddSecret {
        identity: id,
        secret: second.clone(),
    };
    store.account(add).await.unwrap();
    assert_eq!(identity_of(&store, &second).await, id);
    // Signing out forgets that secret only; the names stay held.
    let remove = AccountChange::RemoveSecret {
        selector: second.selector,
    };
    store.account(remove).await.unwrap();
    assert!(store.identify(&second).await.unwrap().is_none());
    assert_eq!(identity_of(&store, &secret).await, id);
    assert!(store.holder("ann").await.unwrap().is_some());
}
