//! The trust dir (layout, lock), staged changes, publishing, verifying.

pub mod ceremony;
pub mod client;
pub mod delegations;
pub mod discard;
pub mod expiry;
pub mod hashing;
pub mod init;
pub mod inventory;
pub mod layout;
pub mod migrate;
pub mod publish;
pub mod retire;
pub mod root;
pub mod rotation;
pub mod server;
pub mod server_repo;
pub mod stage;
pub mod targets;
pub mod trustdir;
