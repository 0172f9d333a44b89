//! The page's copy of a room: a window of lines in view, and the poll cursor.
//!
//! The cursor moves only with poll answers, never with the page's own posts: a posted line may
//! get an id above lines that others committed a moment earlier and this page has not yet
//! polled. Moving the cursor past them would skip them for good.
//!
//! The window holds at most [`MAX_LINES_IN_VIEW`] consecutive lines of the room. While it
//! reaches the newest line it follows new lines (dropping the oldest); once the reader has
//! loaded so much history that the newest lines were dropped, it stops following: what polls
//! deliver is counted and kept aside (the newest of it), out of view, until the reader jumps
//! back to the newest lines, which then include it.

use crate::api::Batch;
use crate::change::{Change, ChangeKind};
use crate::line::Line;

/// The most lines kept in the DOM.
pub const MAX_LINES_IN_VIEW: usize = 300;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatLog {
    /// The window: ascending by id, without duplicates, consecutive in the room.
    lines: Vec<Line>,
    /// The `after` of the next poll: the newest line received from a poll or the page render.
    /// Polls never go back below it (the page starts from the newest lines, not the first).
    cursor: i64,
    /// The room has lines older than the window's first.
    has_older: bool,
    /// The window ends at the newest line the page knows of: new lines join it.
    following: bool,
    /// Lines that arrived while the window was not following.
    missed: usize,
    /// The newest of them (at most a window's worth), for the jump back: the newest lines it
    /// asks for are those up to the cursor it asked with, and these came after.
    arrived: Vec<Line>,
}

impl ChatLog {
    /// The log as rendered: `lines` ascending, the newest lines the server had; `has_older`
    /// when the room has lines before them.
    pub fn new(lines: Vec<Line>, has_older: bool) -> Self {
        let cursor = lines.last().map_or(0, |line| line.id);
        let mut log = Self {
            lines: Vec::with_capacity(lines.len()),
            cursor,
            has_older,
            following: true,
            missed: 0,
            arrived: Vec::new(),
        };
        lines.into_iter().for_each(|line| log.insert(line));
        log.trim_oldest();
        log
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The `after` of the next poll.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Whether the room has lines older than those in view.
    pub fn has_older(&self) -> bool {
        self.has_older
    }

    /// The `before` of the next page of history.
    pub fn oldest(&self) -> Option<i64> {
        self.lines.first().map(|line| line.id)
    }

    /// Whether the window ends at the newest line.
    pub fn is_following(&self) -> bool {
        self.following
    }

    /// Lines that arrived while the window was reading history.
    pub fn missed(&self) -> usize {
        self.missed
    }

    /// Takes a poll answer; returns how many lines were new to the page. Its changes apply
    /// after its lines (each is newer than every line it changes).
    pub fn apply(&mut self, batch: Batch) -> usize {
        let added = self.take_lines(batch.lines, batch.cursor);
        for change in batch.changes {
            self.change(&change);
        }
        added
    }

    /// An edit or deletion: applied to the line if the page shows it, and only if it is newer
    /// than what the page shows of it (a line loaded later may show a later text already).
    pub fn change(&mut self, change: &Change) {
        for lines in [&mut self.lines, &mut self.arrived] {
            let Some(at) = lines.iter().position(|l| l.id == change.line) else {
                continue;
            };
            match change.kind {
                ChangeKind::Deleted => {
                    lines.remove(at);
                }
                ChangeKind::Edited if change.id > lines[at].version() => {
                    let line = &mut lines[at];
                    line.text = change.text.clone().unwrap_or_default();
                    line.edited = Some(change.at.clone());
                    line.revision = Some(change.id);
                }
                ChangeKind::Edited => {}
            }
        }
    }

    fn take_lines(&mut self, lines: Vec<Line>, batch_cursor: i64) -> usize {
        let cursor = self.cursor;
        // Lines at or below the cursor were delivered already: a late or repeated answer must
        // not bring back lines that have scrolled out of view.
        let fresh: Vec<Line> = lines.into_iter().filter(|line| line.id > cursor).collect();
        self.cursor = self.cursor.max(batch_cursor);
        if !self.following {
            self.missed += fresh.len();
            let added = fresh.len();
            self.arrived.extend(fresh);
            let excess = self.arrived.len().saturating_sub(MAX_LINES_IN_VIEW);
            self.arrived.drain(..excess);
            return added;
        }
        let before = self.lines.len();
        fresh.into_iter().for_each(|line| self.insert(line));
        let added = self.lines.len() - before;
        self.trim_oldest();
        added
    }

    /// Shows the page's own line at once; the next poll delivers it again, and it is not
    /// duplicated.
    pub fn insert_own(&mut self, line: Line) {
        if self.following && line.id > self.cursor {
            self.insert(line);
            self.trim_oldest();
        }
    }

    /// Takes a page of history (lines just older than the window's first); `complete` when it
    /// came back shorter than asked, so nothing is older.
    pub fn prepend(&mut self, older: Batch, complete: bool) {
        let first = self.oldest().unwrap_or(i64::MAX);
        let mut lines: Vec<Line> = older.lines.into_iter().filter(|l| l.id < first).collect();
        lines.append(&mut self.lines);
        self.lines = lines;
        self.has_older = !complete;
        let excess = self.lines.len().saturating_sub(MAX_LINES_IN_VIEW);
        if excess > 0 {
            self.lines.truncate(MAX_LINES_IN_VIEW);
            self.following = false;
        }
    }

    /// Back to the newest lines: `newest`, ascending, as `before` the cursor the jump asked with
    /// answered them, with the lines polls delivered meanwhile (which that answer cannot hold).
    pub fn jump_to_newest(&mut self, mut newest: Vec<Line>, has_older: bool) {
        let cursor = self.cursor.max(newest.last().map_or(0, |l| l.id));
        newest.append(&mut self.arrived);
        *self = Self {
            cursor,
            ..Self::new(newest, has_older)
        };
    }

    /// Adds `line`, or shows its newer text if the page has it already.
    fn insert(&mut self, line: Line) {
        match self.lines.binary_search_by_key(&line.id, |l| l.id) {
            Ok(at) if line.version() > self.lines[at].version() => self.lines[at] = line,
            Ok(_) => {}
            Err(at) => self.lines.insert(at, line),
        }
    }

    fn trim_oldest(&mut self) {
        let excess = self.lines.len().saturating_sub(MAX_LINES_IN_VIEW);
        if excess > 0 {
            self.lines.drain(..excess);
            self.has_older = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Event;

    /// A poll's answer of `lines` after `after`.
    fn batch(after: i64, lines: Vec<Line>) -> Batch {
        Batch::new(after, lines.into_iter().map(Event::Line).collect())
    }

    fn change(id: i64, line: i64, kind: ChangeKind, text: Option<&str>) -> Change {
        Change {
            id,
            line,
            kind,
            text: text.map(str::to_owned),
            at: "2026-11-23T10:05:00Z".into(),
        }
    }

    #[test]
    fn changes_edit_and_remove_the_lines_shown_and_never_go_back() {
        let mut log = ChatLog::new(samples(1..=3), false);
        let edit = change(4, 2, ChangeKind::Edited, Some("fixed"));
        let mut answer = batch(3, vec![]);
        answer.changes = vec![edit.clone(), change(5, 3, ChangeKind::Deleted, None)];
        answer.cursor = 5;
        assert_eq!(log.apply(answer), 0);
        assert_eq!(ids(&log), [1, 2]);
        assert_eq!(log.lines()[1].text, "fixed");
        assert_eq!(
            log.lines()[1].edited.as_deref(),
            Some("2026-11-23T10:05:00Z")
        );
        assert_eq!(log.cursor(), 5);
        // A later text loaded some other way is not undone by an earlier change.
        let mut later = Line::sample(1);
        later.text = "newest".into();
        later.revision = Some(9);
        let mut log = ChatLog::new(vec![later], false);
        log.change(&change(6, 1, ChangeKind::Edited, Some("older")));
        assert_eq!(log.lines()[0].text, "newest");
        // A change of a line the page does not show changes nothing.
        log.change(&change(7, 42, ChangeKind::Deleted, None));
        assert_eq!(ids(&log), [1]);
    }

    #[test]
    fn a_line_delivered_again_with_a_newer_text_shows_it() {
        let mut log = ChatLog::new(samples(1..=1), false);
        log.insert_own(Line::sample(2));
        let mut edited = Line::sample(2);
        edited.text = "edited".into();
        edited.revision = Some(3);
        log.apply(batch(1, vec![edited]));
        assert_eq!(log.lines()[1].text, "edited");
    }

    fn ids(log: &ChatLog) -> Vec<i64> {
        log.lines().iter().map(|l| l.id).collect()
    }

    fn samples(ids: std::ops::RangeInclusive<i64>) -> Vec<Line> {
        ids.map(Line::sample).collect()
    }

    #[test]
    fn cursor_starts_at_the_newest_rendered_line() {
        assert_eq!(ChatLog::new(vec![], false).cursor(), 0);
        assert_eq!(ChatLog::new(samples(3..=4), true).cursor(), 4);
    }

    #[test]
    fn batches_append_in_order_and_move_the_cursor() {
        let mut log = ChatLog::new(samples(1..=1), false);
        assert_eq!(log.apply(batch(1, samples(2..=3))), 2);
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.cursor(), 3);
        // An empty answer keeps the cursor.
        assert_eq!(log.apply(batch(3, vec![])), 0);
        assert_eq!(log.cursor(), 3);
    }

    #[test]
    fn repeated_or_stale_answers_add_nothing() {
        let mut log = ChatLog::new(samples(1..=1), false);
        log.apply(batch(1, samples(2..=3)));
        assert_eq!(log.apply(batch(1, samples(2..=3))), 0);
        assert_eq!(log.apply(batch(0, samples(1..=1))), 0);
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.cursor(), 3);
    }

    #[test]
    fn own_line_shows_at_once_without_moving_the_cursor() {
        let mut log = ChatLog::new(samples(1..=1), false);
        // Someone else stored 2 just before our 3 was committed.
        log.insert_own(Line::sample(3));
        assert_eq!(ids(&log), [1, 3]);
        assert_eq!(log.cursor(), 1);
        // The next poll brings 2 and 3 again: 2 goes before 3, 3 is not doubled.
        assert_eq!(log.apply(batch(1, samples(2..=3))), 1);
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.cursor(), 3);
    }

    #[test]
    fn keeps_at_most_the_newest_lines_in_view() {
        let mut log = ChatLog::new(vec![], false);
        let newest = MAX_LINES_IN_VIEW as i64 + 20;
        log.apply(batch(0, samples(1..=newest)));
        assert_eq!(log.lines().len(), MAX_LINES_IN_VIEW);
        assert_eq!(log.lines()[0].id, 21);
        assert_eq!(log.cursor(), newest);
        assert!(log.has_older(), "the dropped lines can be loaded again");
    }

    #[test]
    fn history_is_prepended_once_and_says_when_it_is_complete() {
        let mut log = ChatLog::new(samples(10..=12), true);
        log.prepend(Batch::older(10, samples(7..=9)), false);
        assert_eq!(ids(&log), [7, 8, 9, 10, 11, 12]);
        assert_eq!(log.oldest(), Some(7));
        assert!(log.has_older());
        // A repeated page adds nothing; a short one ends the history.
        log.prepend(Batch::older(10, samples(8..=9)), false);
        assert_eq!(ids(&log), [7, 8, 9, 10, 11, 12]);
        log.prepend(Batch::older(7, samples(1..=6)), true);
        assert_eq!(log.oldest(), Some(1));
        assert!(!log.has_older());
        assert!(log.is_following());
    }

    #[test]
    fn reading_far_back_stops_following_until_the_jump_back() {
        let newest = MAX_LINES_IN_VIEW as i64 + 100;
        let mut log = ChatLog::new(samples(101..=newest), true);
        log.prepend(Batch::older(101, samples(1..=100)), true);
        // The window stays bounded, at the history end, and no longer follows.
        assert_eq!(log.lines().len(), MAX_LINES_IN_VIEW);
        assert_eq!(log.oldest(), Some(1));
        assert!(!log.is_following());
        // New lines move the cursor and are counted, not shown.
        let arrived = samples(newest + 1..=newest + 2);
        assert_eq!(log.apply(batch(newest, arrived.clone())), 2);
        assert_eq!(log.missed(), 2);
        assert_eq!(log.cursor(), newest + 2);
        assert!(!ids(&log).contains(&(newest + 1)));
        // Back to the newest: following again, cursor kept.
        log.jump_to_newest(samples(newest - 10..=newest + 2), true);
        assert!(log.is_following());
        assert_eq!(log.missed(), 0);
        assert_eq!(log.cursor(), newest + 2);
        assert_eq!(log.lines().last().map(|l| l.id), Some(newest + 2));
    }

    #[test]
    fn lines_that_arrive_while_the_jump_back_is_asked_are_shown_after_it() {
        let newest = MAX_LINES_IN_VIEW as i64 + 100;
        let mut log = ChatLog::new(samples(101..=newest), true);
        log.prepend(Batch::older(101, samples(1..=100)), true);
        assert!(!log.is_following());
        // The jump asks for the lines before cursor + 1; a held poll answers first.
        let asked_before = log.cursor() + 1;
        log.apply(batch(newest, samples(newest + 1..=newest + 3)));
        let answer: Vec<Line> = samples(newest - 99..=newest)
            .into_iter()
            .filter(|l| l.id < asked_before)
            .collect();
        log.jump_to_newest(answer, true);
        let shown = ids(&log);
        assert_eq!(
            &shown[shown.len() - 4..],
            [newest, newest + 1, newest + 2, newest + 3]
        );
        assert!(shown.windows(2).all(|w| w[1] == w[0] + 1), "no gap");
        assert_eq!(log.cursor(), newest + 3);
        // And later polls go on from there.
        log.apply(batch(newest + 3, samples(newest + 4..=newest + 4)));
        assert_eq!(log.lines().last().map(|l| l.id), Some(newest + 4));
    }
}
