//! The page's copy of the chat: the lines in view and the poll cursor.
//!
//! The cursor moves only with poll answers, never with the page's own posts: a posted line may
//! get an id above lines that others committed a moment earlier and this page has not yet
//! polled. Moving the cursor past them would skip them for good.

use crate::api::Batch;
use crate::line::Line;

/// The most lines kept in the DOM; older ones scroll away.
pub const MAX_LINES_IN_VIEW: usize = 300;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatLog {
    /// Ascending by id, without duplicates.
    lines: Vec<Line>,
    /// The `after` of the next poll: the newest line received from a poll or the page render.
    /// Polls never go back below it (the page starts from the newest lines, not the first).
    cursor: i64,
}

impl ChatLog {
    /// The log as rendered: `lines` ascending, the newest lines the server had.
    pub fn new(lines: Vec<Line>) -> Self {
        let cursor = lines.last().map_or(0, |line| line.id);
        let mut log = Self {
            lines: Vec::with_capacity(lines.len()),
            cursor,
        };
        lines.into_iter().for_each(|line| log.insert(line));
        log.trim();
        log
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The `after` of the next poll.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// Takes a poll answer; returns how many lines were new to the page.
    pub fn apply(&mut self, batch: Batch) -> usize {
        let before = self.lines.len();
        let cursor = self.cursor;
        // Lines at or below the cursor were delivered already: a late or repeated answer must
        // not bring back lines that have scrolled out of view.
        batch
            .lines
            .into_iter()
            .filter(|line| line.id > cursor)
            .for_each(|line| self.insert(line));
        self.cursor = self.cursor.max(batch.cursor);
        let added = self.lines.len() - before;
        self.trim();
        added
    }

    /// Shows the page's own line at once; the next poll delivers it again, and it is not
    /// duplicated.
    pub fn insert_own(&mut self, line: Line) {
        if line.id > self.cursor {
            self.insert(line);
            self.trim();
        }
    }

    fn insert(&mut self, line: Line) {
        if let Err(at) = self.lines.binary_search_by_key(&line.id, |l| l.id) {
            self.lines.insert(at, line);
        }
    }

    fn trim(&mut self) {
        let excess = self.lines.len().saturating_sub(MAX_LINES_IN_VIEW);
        self.lines.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(log: &ChatLog) -> Vec<i64> {
        log.lines().iter().map(|l| l.id).collect()
    }

    #[test]
    fn cursor_starts_at_the_newest_rendered_line() {
        assert_eq!(ChatLog::new(vec![]).cursor(), 0);
        assert_eq!(
            ChatLog::new(vec![Line::sample(3), Line::sample(4)]).cursor(),
            4
        );
    }

    #[test]
    fn batches_append_in_order_and_move_the_cursor() {
        let mut log = ChatLog::new(vec![Line::sample(1)]);
        assert_eq!(
            log.apply(Batch::new(1, vec![Line::sample(2), Line::sample(3)])),
            2
        );
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.cursor(), 3);
        // An empty answer keeps the cursor.
        assert_eq!(log.apply(Batch::new(3, vec![])), 0);
        assert_eq!(log.cursor(), 3);
    }

    #[test]
    fn repeated_or_stale_answers_add_nothing() {
        let mut log = ChatLog::new(vec![Line::sample(1)]);
        log.apply(Batch::new(1, vec![Line::sample(2), Line::sample(3)]));
        assert_eq!(
            log.apply(Batch::new(1, vec![Line::sample(2), Line::sample(3)])),
            0
        );
        assert_eq!(log.apply(Batch::new(0, vec![Line::sample(1)])), 0);
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.cursor(), 3);
    }

    #[test]
    fn own_line_shows_at_once_without_moving_the_cursor() {
        let mut log = ChatLog::new(vec![Line::sample(1)]);
        // Someone else stored 2 just before our 3 was committed.
        log.insert_own(Line::sample(3));
        assert_eq!(ids(&log), [1, 3]);
        assert_eq!(log.cursor(), 1);
        // The next poll brings 2 and 3 again: 2 goes before 3, 3 is not doubled.
        assert_eq!(
            log.apply(Batch::new(1, vec![Line::sample(2), Line::sample(3)])),
            1
        );
        assert_eq!(ids(&log), [1, 2, 3]);
        assert_eq!(log.cursor(), 3);
    }

    #[test]
    fn keeps_at_most_the_newest_lines_in_view() {
        let mut log = ChatLog::new(vec![]);
        let many: Vec<_> = (1..=(MAX_LINES_IN_VIEW as i64 + 20))
            .map(Line::sample)
            .collect();
        log.apply(Batch::new(0, many));
        assert_eq!(log.lines().len(), MAX_LINES_IN_VIEW);
        assert_eq!(log.lines()[0].id, 21);
        assert_eq!(log.cursor(), MAX_LINES_IN_VIEW as i64 + 20);
    }
}
