//! TUF metadata: model, canonical JSON, key IDs, the two dialects, signing and verification.

pub mod cert;
