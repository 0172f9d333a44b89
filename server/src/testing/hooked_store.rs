//! A real store with a test's hook in front of it: every call is passed on, after the hook has
//! had its say (a stall the test releases, a fault the test switches on).

use app::change::{Change, Event};
use app::feed::Feed;
use app::identity::Presented;
use app::line::{Line, NewLine};
use app::room::Room;
use app::store::{AccountChange, ChatStore, Identity, LineDelete, LineEdit, StoreError};
use std::sync::Arc;

/// Which call of the store the hook is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Append,
    Edit,
    Delete,
    Account,
    Identify,
    Since,
    Before,
    Ping,
}

#[async_trait::async_trait]
pub trait Hook: Send + Sync + 'static {
    /// Runs before `call` reaches the store; an error is answered instead of the call's.
    async fn before(&self, call: Call) -> Result<(), StoreError>;
}

/// `inner`, with `hook` asked before each call.
pub struct HookedStore<H> {
    pub inner: Arc<dyn ChatStore>,
    pub hook: H,
}

impl<H: Hook> HookedStore<H> {
    pub fn new(inner: Arc<dyn ChatStore>, hook: H) -> Arc<Self> {
        Arc::new(Self { inner, hook })
    }
}

#[async_trait::async_trait]
impl<H: Hook> ChatStore for HookedStore<H> {
    async fn append(&self, line: NewLine) -> Result<Line, StoreError> {
        self.hook.before(Call::Append).await?;
        self.inner.append(line).await
    }

    async fn edit(&self, edit: LineEdit) -> Result<Change, StoreError> {
        self.hook.before(Call::Edit).await?;
        self.inner.edit(edit).await
    }

    async fn delete(&self, delete: LineDelete) -> Result<Change, StoreError> {
        self.hook.before(Call::Delete).await?;
        self.inner.delete(delete).await
    }

    async fn account(&self, change: AccountChange) -> Result<(), StoreError> {
        self.hook.before(Call::Account).await?;
        self.inner.account(change).await
    }

    async fn identify(&self, secret: &Presented) -> Result<Option<Identity>, StoreError> {
        self.hook.before(Call::Identify).await?;
        self.inner.identify(secret).await
    }

    async fn holder(&self, screenname: &str) -> Result<Option<Identity>, StoreError> {
        self.hook.before(Call::Identify).await?;
        self.inner.holder(screenname).await
    }

    async fn since(&self, room: &Room, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.hook.before(Call::Since).await?;
        self.inner.since(room, after, limit).await
    }

    async fn before(
        &self,
        room: &Room,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Line>, StoreError> {
        self.hook.before(Call::Before).await?;
        self.inner.before(room, before, limit).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.hook.before(Call::Ping).await?;
        self.inner.ping().await
    }

    fn feed(&self) -> &Arc<Feed> {
        self.inner.feed()
    }

    fn queued_posts(&self) -> usize {
        self.inner.queued_posts()
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
