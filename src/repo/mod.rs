//! The trust dir (modes, atomic writes, lock), staged changes, publishing.

pub mod fsio;
pub mod server;
