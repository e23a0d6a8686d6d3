//! TUF metadata: model, canonical JSON, key IDs, the dialects, signing and verification.

pub mod build;
pub mod cert;
pub mod cjson;
pub mod delegation;
pub mod dialect;
pub mod keyid;
pub mod keytype;
pub mod model;
pub mod request;
pub mod signed;
pub mod verify;

/// Verification failures, typed (defined beside the crate's `Error`, which carries them).
pub use crate::error::{DelegationProblem, RootPathError, SignatureProblem, VerifyError};
