//! The server's integration tests, in one binary: each module links the whole stack, and one
//! link on 2 cores is much cheaper than one per module.

mod common;
mod process;

mod bad_input;
mod crash;
mod delivery;
mod held_polls;
mod http_api;
mod operations;
mod pages;
mod protection;
mod rooms;
mod several_servers;
mod storage_faults;
