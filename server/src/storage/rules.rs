//! The rules every store applies inside its write transaction, in one place: who holds a name,
//! who may edit or delete a line, and until when. Each store reads the rows the rules need
//! (under its writer's lock, so no other server decides at the same time) and asks here.

use app::store::{LineDelete, LineEdit, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Milliseconds since the Unix epoch (tests drive their own).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How long a name stays held without a post, unless configured.
pub const NAME_HOLD: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// How long a line can be edited after it was sent, unless configured.
pub const EDIT_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Clone)]
pub struct Rules {
    /// How long a name stays its holder's after their last post with it; `None`: names are
    /// not held (anyone may post under any name).
    pub name_hold: Option<Duration>,
    pub edit_window: Duration,
    pub clock: Clock,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            name_hold: Some(NAME_HOLD),
            edit_window: EDIT_WINDOW,
            clock: Arc::new(|| chrono::Utc::now().timestamp_millis()),
        }
    }
}

/// A line as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineState {
    pub room: String,
    /// The identity that sent it (none for lines from before identities).
    pub poster: Option<i64>,
    pub created: i64,
    pub deleted: bool,
}

/// A held name as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub holder: i64,
    /// The holder's last post with it.
    pub last_post: i64,
}

/// What a deletion does.
#[derive(Debug, PartialEq, Eq)]
pub enum Deletion {
    Erase,
    /// The line is deleted already: answer with its deletion.
    AlreadyDone,
}

impl Rules {
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Whether a hold is in force at `now`.
    fn holds(&self, hold: &Hold, now: i64) -> bool {
        self.name_hold
            .is_some_and(|period| now - hold.last_post < period.as_millis() as i64)
    }

    /// Whether `poster` may post under `name`, whose hold is `current`; if so, it holds it
    /// from now on.
    pub fn may_post_as(
        &self,
        name: &str,
        current: Option<&Hold>,
        poster: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        match current {
            Some(hold) if hold.holder != poster && self.holds(hold, now) => {
                Err(StoreError::NameTaken(name.to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// Whether the hold `hold` still makes its holder the name's at `now` (for `/api/me`).
    pub fn still_held(&self, hold: &Hold, now: i64) -> bool {
        self.name_hold.is_none() || self.holds(hold, now)
    }

    /// The earliest last post of a hold still in force at `now`.
    pub fn held_since(&self, now: i64) -> i64 {
        self.name_hold
            .map_or(i64::MIN, |period| now - period.as_millis() as i64 + 1)
    }

    pub fn may_edit(
        &self,
        line: Option<&LineState>,
        edit: &LineEdit,
        now: i64,
    ) -> Result<(), StoreError> {
        let line = line.filter(|l| !l.deleted).ok_or(StoreError::NotFound)?;
        if line.poster != Some(edit.by) {
            return Err(StoreError::Forbidden);
        }
        if now - line.created > self.edit_window.as_millis() as i64 {
            return Err(StoreError::EditWindowClosed);
        }
        Ok(())
    }

    pub fn may_delete(
        &self,
        line: Option<&LineState>,
        delete: &LineDelete,
    ) -> Result<Deletion, StoreError> {
        let line = line.ok_or(StoreError::NotFound)?;
        if line.poster != Some(delete.by) && !delete.moderator {
            return Err(StoreError::Forbidden);
        }
        Ok(if line.deleted {
            Deletion::AlreadyDone
        } else {
            Deletion::Erase
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn rules(hold_minutes: Option<u64>) -> Rules {
        Rules {
            name_hold: hold_minutes.map(|m| Duration::from_secs(m * 60)),
            edit_window: Duration::from_secs(15 * 60),
            clock: Arc::new(|| 0),
        }
    }

    fn line(poster: Option<i64>, deleted: bool) -> LineState {
        LineState {
            room: "general".into(),
            poster,
            created: 0,
            deleted,
        }
    }

    #[test]
    fn a_name_is_its_holders_until_the_hold_lapses() {
        let hold = Hold {
            holder: 1,
            last_post: 0,
        };
        let r = rules(Some(10));
        assert!(r.may_post_as("ann", Some(&hold), 1, 5 * MIN).is_ok());
        assert!(matches!(
            r.may_post_as("ann", Some(&hold), 2, 10 * MIN - 1),
            Err(StoreError::NameTaken(name)) if name == "ann"
        ));
        assert!(r.may_post_as("ann", Some(&hold), 2, 10 * MIN).is_ok());
        assert!(r.may_post_as("ann", None, 2, 0).is_ok());
        assert!(r.still_held(&hold, 10 * MIN - 1) && !r.still_held(&hold, 10 * MIN));
        assert_eq!(r.held_since(10 * MIN), 1);
        // Holding off: anyone posts under any name.
        assert!(rules(None).may_post_as("ann", Some(&hold), 2, 0).is_ok());
    }

    #[test]
    fn only_the_poster_edits_and_only_within_the_window() {
        let r = rules(Some(10));
        let edit = |by| LineEdit {
            line: 1,
            text: "x".into(),
            by,
            key: None,
        };
        assert!(
            r.may_edit(Some(&line(Some(1), false)), &edit(1), 15 * MIN)
                .is_ok()
        );
        assert!(matches!(
            r.may_edit(Some(&line(Some(1), false)), &edit(1), 15 * MIN + 1),
            Err(StoreError::EditWindowClosed)
        ));
        assert!(matches!(
            r.may_edit(Some(&line(Some(1), false)), &edit(2), 0),
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            r.may_edit(Some(&line(None, false)), &edit(2), 0),
            Err(StoreError::Forbidden)
        ));
        assert!(matches!(
            r.may_edit(Some(&line(Some(1), true)), &edit(1), 0),
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            r.may_edit(None, &edit(1), 0),
            Err(StoreError::NotFound)
        ));
    }

    #[test]
    fn the_poster_or_a_moderator_deletes_at_any_time() {
        let r = rules(Some(10));
        let delete = |by, moderator| LineDelete {
            line: 1,
            by,
            moderator,
        };
        let mine = line(Some(1), false);
        assert_eq!(
            r.may_delete(Some(&mine), &delete(1, false)).unwrap(),
            Deletion::Erase
        );
        assert!(matches!(
            r.may_delete(Some(&mine), &delete(2, false)),
            Err(StoreError::Forbidden)
        ));
        assert_eq!(
            r.may_delete(Some(&line(None, false)), &delete(2, true))
                .unwrap(),
            Deletion::Erase
        );
        assert_eq!(
            r.may_delete(Some(&line(Some(1), true)), &delete(1, false))
                .unwrap(),
            Deletion::AlreadyDone
        );
        assert!(matches!(
            r.may_delete(None, &delete(1, true)),
            Err(StoreError::NotFound)
        ));
    }
}
