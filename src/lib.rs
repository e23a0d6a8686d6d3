//! trustkey: a TUF / Docker Content Trust signer whose root key lives on hardware tokens.
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod backup;
pub mod cli;
pub mod error;
pub mod fsio;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod keys;
pub mod pem;
pub mod piv;
pub mod repo;
pub mod secret;
pub mod sign;
pub mod text;
pub mod token;
pub mod tuf;
pub mod uri;

pub use error::{Error, Result};
