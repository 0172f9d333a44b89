//! The message being sent, and when to send it again: plain rules, kept apart from the form
//! and its timers (as [`Schedule`](crate::schedule::Schedule) is for polls) so they can be
//! tested. A send that fails for a transient reason is retried under the same idempotency key,
//! so however many tries it takes, the line is stored once.

use crate::api::SendLine;
use crate::error::{ApiError, ErrorKind};
use crate::schedule::send_retry_delay;

#[derive(Clone, Debug, Default)]
pub struct Outbox {
    /// The message in flight or waiting to be sent again, with its key.
    pending: Option<SendLine>,
    /// How many sends of it failed.
    failures: u32,
}

/// What to do after a failed send.
#[derive(Clone, Debug, PartialEq)]
pub enum Retry {
    /// Send it again after `wait_ms`, telling the reader `notice`.
    After { wait_ms: f64, notice: String },
    /// Not this page's send, not transient, or tried enough: show the error.
    No,
}

impl Outbox {
    /// The message to send now: the same message sent again (after a final failure) keeps
    /// its key; a new one gets `new_key()`.
    pub fn send(
        &mut self,
        message: SendLine,
        new_key: impl FnOnce() -> Option<String>,
    ) -> SendLine {
        let same = self.pending.take().filter(|sent| {
            sent.screenname == message.screenname
                && sent.text == message.text
                && sent.room == message.room
        });
        let input = same.unwrap_or(SendLine {
            idempotency_key: new_key(),
            ..message
        });
        self.pending = Some(input.clone());
        self.failures = 0;
        input
    }

    /// The send was stored.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// A send failed with `err`.
    pub fn failed(&mut self, err: &ApiError) -> Retry {
        // Only a send of this page's is retried: an error carried in from a plain form post
        // (in the URL) has nothing to resend.
        if !err.kind.is_transient() || self.pending.is_none() {
            return Retry::No;
        }
        self.failures += 1;
        let Some(wait_ms) = send_retry_delay(self.failures, err.retry_after_ms()) else {
            return Retry::No;
        };
        let notice = if err.kind == ErrorKind::RateLimited {
            format!(
                "Slow down: sending again in {} s.",
                (wait_ms / 1000.0).ceil() as u64
            )
        } else {
            "Could not send yet; trying again…".to_owned()
        };
        Retry::After { wait_ms, notice }
    }

    /// The message to send again, when the wait is over.
    pub fn retry(&self) -> Option<SendLine> {
        self.pending.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::SEND_ATTEMPTS;

    fn message(text: &str) -> SendLine {
        SendLine {
            screenname: "ann".into(),
            text: text.into(),
            idempotency_key: None,
            room: None,
        }
    }

    fn busy() -> ApiError {
        ApiError::new(ErrorKind::Unavailable, "busy")
    }

    #[test]
    fn a_failed_message_is_sent_again_with_its_key() {
        let mut outbox = Outbox::default();
        let first = outbox.send(message("hi"), || Some("k1".into()));
        assert_eq!(first.idempotency_key.as_deref(), Some("k1"));
        assert!(matches!(outbox.failed(&busy()), Retry::After { .. }));
        let retried = outbox.retry().unwrap();
        assert_eq!(
            (retried.text, retried.idempotency_key),
            (first.text, first.idempotency_key)
        );
        // Sent again by hand after failing: the same key.
        let again = outbox.send(message("hi"), || Some("k2".into()));
        assert_eq!(again.idempotency_key.as_deref(), Some("k1"));
        // Another message: a new key.
        let other = outbox.send(message("bye"), || Some("k3".into()));
        assert_eq!(other.idempotency_key.as_deref(), Some("k3"));
        outbox.succeeded();
        assert!(outbox.retry().is_none());
    }

    #[test]
    fn retries_back_off_honour_the_server_and_give_up() {
        let mut outbox = Outbox::default();
        outbox.send(message("hi"), || None);
        let slow = ApiError::new(ErrorKind::RateLimited, "slow").with_retry_after(7);
        assert_eq!(
            outbox.failed(&slow),
            Retry::After {
                wait_ms: 7000.0,
                notice: "Slow down: sending again in 7 s.".into()
            }
        );
        for _ in 2..SEND_ATTEMPTS {
            assert!(matches!(outbox.failed(&busy()), Retry::After { .. }));
        }
        assert_eq!(outbox.failed(&busy()), Retry::No, "tried enough");
    }

    #[test]
    fn only_transient_failures_of_this_pages_sends_are_retried() {
        let mut outbox = Outbox::default();
        assert_eq!(outbox.failed(&busy()), Retry::No, "nothing was sent");
        outbox.send(message("hi"), || None);
        assert_eq!(outbox.failed(&ApiError::bad_request("no")), Retry::No);
    }
}
