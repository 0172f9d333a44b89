//! Changes to lines already said: edits and deletions. A change is an event in the same ordered
//! sequence as lines (it takes the next id, in the transaction that makes it), so the poll that
//! delivers every line exactly once delivers every change exactly once too, in order.

use crate::line::Line;
use serde::{Deserialize, Serialize};

/// What a change did to its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The line's text was replaced by `text`.
    Edited,
    /// The line was deleted: its text and name are erased, its id stays.
    Deleted,
}

impl ChangeKind {
    /// As stored in the `changes` table.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Edited => "edited",
            ChangeKind::Deleted => "deleted",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "edited" => Some(ChangeKind::Edited),
            "deleted" => Some(ChangeKind::Deleted),
            _ => None,
        }
    }
}

/// A change, as the poll delivers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Change {
    /// From the same sequence as lines' ids.
    pub id: i64,
    /// The id of the line it changed.
    pub line: i64,
    pub kind: ChangeKind,
    /// The line's new text (edits only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// When it was made: RFC 3339 in UTC.
    pub at: String,
}

/// A line or a change: what the ordered sequence of a room holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Line(Line),
    Change(Change),
}

impl Event {
    pub fn id(&self) -> i64 {
        match self {
            Event::Line(line) => line.id,
            Event::Change(change) => change.id,
        }
    }

    /// When it happened (a line's creation, a change's time).
    pub fn at(&self) -> &str {
        match self {
            Event::Line(line) => &line.created,
            Event::Change(change) => &change.at,
        }
    }
}

/// Something in the ordered sequence: a line or an event, by its id (what tests compare).
pub trait HasId {
    fn id(&self) -> i64;
}

impl HasId for Line {
    fn id(&self) -> i64 {
        self.id
    }
}

impl HasId for Event {
    fn id(&self) -> i64 {
        Event::id(self)
    }
}

/// `lines` and `changes` (each ascending by id) as one ascending sequence.
#[cfg(test)]
pub fn merged(lines: Vec<Line>, changes: Vec<Change>) -> Vec<Event> {
    let mut events: Vec<Event> = lines
        .into_iter()
        .map(Event::Line)
        .chain(changes.into_iter().map(Event::Change))
        .collect();
    events.sort_unstable_by_key(Event::id);
    events
}
