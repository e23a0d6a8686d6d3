//! The root key itself, apart from any repository: created once on tokens (generated on one,
//! or generated in memory, put on several and written to an escrow file, then zeroized),
//! duplicated from escrow onto another token, and checked by a challenge signed where it
//! lives.

use std::path::{Path, PathBuf};

use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde::Serialize;

use super::file::{decrypt_pem, encrypt_pem};
use super::mirror::{self, Placement};
use super::piv::PivOptions;
use super::session::Session;
use super::uri::KeyRef;
use super::{canonical_key_id, MemorySigner, Signer};
use crate::fsio::{write_secret, Overwrite};
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::{Error, Result};

/// `root create`.
#[derive(Debug)]
pub struct NewRoot<'a> {
    /// Where the key goes: a token or a YubiKey.
    pub token: KeyRef,
    /// More tokens to hold the same key.
    pub mirrors: Vec<KeyRef>,
    /// A new file to hold the key too, encrypted with the root passphrase.
    pub escrow: Option<PathBuf>,
    pub piv: &'a PivOptions,
}

/// A root key created (or duplicated), and where it is.
#[derive(Debug, Serialize)]
pub struct CreatedRoot {
    pub key_id: String,
    /// PEM SubjectPublicKeyInfo.
    pub public_key: String,
    pub tokens: Vec<Placement>,
    pub escrow: Option<String>,
}

impl CreatedRoot {
    fn new(public: &p256::PublicKey, tokens: Vec<Placement>, escrow: Option<String>) -> Self {
        CreatedRoot {
            key_id: canonical_key_id(public),
            public_key: public_pem(public),
            tokens,
            escrow,
        }
    }
}

/// A public key as PEM.
#[allow(
    clippy::expect_used,
    reason = "a P-256 public key (already a valid point) always encodes; no input reaches this"
)]
pub fn public_pem(key: &p256::PublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("a P-256 key always encodes")
}

/// Creates the root key. On one token without escrow it is generated there and never leaves
/// it; otherwise it is generated in memory, put on every token (all or nothing), written to the
/// escrow file, and zeroized. If the escrow cannot be written, the keys imported are removed
/// again: nothing is kept without its escrow.
pub fn create(session: &Session, req: &NewRoot<'_>) -> Result<CreatedRoot> {
    if let Some(e) = &req.escrow {
        if e.exists() {
            return Err(Error::Usage(format!(
                "escrow file {} already exists; choose another name",
                e.display()
            )));
        }
    }
    if req.mirrors.is_empty() && req.escrow.is_none() {
        let (public, placement) = mirror::generate(session, &req.token, req.piv)?;
        return Ok(CreatedRoot::new(&public, vec![placement], None));
    }
    // Ask for the escrow passphrase before touching any token.
    let passphrase = match &req.escrow {
        Some(_) => {
            Some(session.with_prompter(|p| new_passphrase(KeyRole::Root, "the root escrow", p))?)
        }
        None => None,
    };
    let key = MemorySigner::generate("new root key (in memory)");
    let sealed = match &passphrase {
        Some(pass) => Some(encrypt_pem(&key.secret_key(), pass, None)?),
        None => None,
    };
    let mut uris = vec![req.token.clone()];
    uris.extend(req.mirrors.iter().cloned());
    let placed = mirror::place_with(session, &uris, &key, req.piv)?;
    if let (Some(path), Some(pem)) = (&req.escrow, &sealed) {
        if let Err(e) = write_secret(path, pem.as_bytes(), Overwrite::Refuse) {
            let undone = placed.abandon();
            return Err(Error::Mirror(format!(
                "writing the escrow failed: {e}; {undone}; no root key was created"
            )));
        }
    }
    let tokens = placed.commit();
    let public = *key.public_key();
    drop(key); // zeroizes the private scalar
    Ok(CreatedRoot::new(
        &public,
        tokens,
        req.escrow.as_ref().map(|p| p.display().to_string()),
    ))
}

/// Imports the root key from an escrow file onto another token (checked as a mirror).
pub fn duplicate(
    session: &Session,
    to: &KeyRef,
    escrow: &Path,
    piv: &PivOptions,
) -> Result<CreatedRoot> {
    let pem = std::fs::read_to_string(escrow)
        .map_err(|e| Error::io(format!("reading escrow {}", escrow.display()), e))?;
    let what = format!("root escrow {}", escrow.display());
    let pass = session.with_prompter(|p| unlock_passphrase(KeyRole::Root, &what, p))?;
    let (secret, _) = decrypt_pem(&pem, &pass, &what)?;
    let key = MemorySigner::from_secret_key(&secret, "root key from escrow");
    drop(secret);
    let placed = mirror::place_with(session, std::slice::from_ref(to), &key, piv)?;
    let tokens = placed.commit();
    let public = *key.public_key();
    drop(key);
    Ok(CreatedRoot::new(&public, tokens, None))
}

/// A root key that signed a fresh challenge, and the signature that verified.
#[derive(Debug, Serialize)]
pub struct Checked {
    pub key_id: String,
    pub token: String,
    pub public_key: String,
    pub challenge_hex: String,
    pub signature_der_hex: String,
    pub verified: bool,
}

/// Proves `key` holds a working root key: a fresh challenge signed where it lives, verified
/// under its public key; with `expect`, the key ID must start with it.
pub fn check(session: &Session, key: &KeyRef, expect: Option<&str>) -> Result<Checked> {
    let signer = session.open_signer(key)?;
    let key_id = canonical_key_id(signer.public_key());
    if let Some(want) = expect {
        if !key_id.starts_with(want) || want.is_empty() {
            return Err(Error::Integrity(format!(
                "{} holds key ID {key_id}, not {want}",
                signer.describe()
            )));
        }
    }
    let c = crate::sign::challenge(&signer, signer.public_key())?;
    let out = Checked {
        key_id,
        token: signer.describe(),
        public_key: public_pem(signer.public_key()),
        challenge_hex: hex::encode(c.nonce),
        signature_der_hex: hex::encode(c.signature.to_der().as_bytes()),
        verified: c.verified,
    };
    if !c.verified {
        return Err(Error::Integrity(format!(
            "a signature made on {} does not verify under its public key",
            out.token
        )));
    }
    Ok(out)
}
