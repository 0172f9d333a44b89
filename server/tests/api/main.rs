//! The server's integration tests, in one binary: each module links the whole stack, and one
//! link on 2 cores is much cheaper than one per module.

mod common;

mod backups;
mod bad_input;
mod caching;
mod changes;
mod crash;
mod delivery;
mod floods;
mod held_polls;
mod http_api;
mod idempotency;
mod limits;
mod names;
mod operations;
mod other_sites;
mod pages;
mod rooms;
mod several_servers;
mod storage_faults;
mod upgrades;
