//! Where keys live and how they are opened: key references of either kind, the session that
//! opens them as signers, key files in the trust dir, and one key mirrored onto several tokens.
//!
//! The signing abstraction itself is `crate::sign`; it is re-exported here, with notary's key
//! ID, for the layers above.

pub mod discovery;
pub mod file;
pub mod mirror;
pub mod piv;
pub mod public;
pub mod root_key;
pub mod session;
pub mod store;
pub mod uri;

pub use crate::sign::{spki_der, verify, MemorySigner, Signer};
pub use crate::tuf::keyid::canonical_key_id;
pub use session::Session;
