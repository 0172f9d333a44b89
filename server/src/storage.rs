//! Where lines are stored: the queue in front of a store's one writer (group commit, shared by
//! both stores), SQLite (one file, the default) and PostgreSQL (several servers, one database).
//! What a store must do is `app::store::ChatStore`; the suite that holds each store to it is
//! [`contract_suite`].

#[cfg(test)]
mod contract_suite;
pub mod post_queue;
pub mod postgres;
pub mod rules;
pub mod sqlite;
