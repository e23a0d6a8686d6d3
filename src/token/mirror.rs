//! Putting one in-memory key on several tokens, all or nothing (the two-USB-keys advice).
//!
//! Cheap checks come first on every token (found, label free, PIN accepted) before anything is
//! written; then the key is imported everywhere and a fresh challenge is signed on each token
//! and verified against the one public key. If any step fails after an import, every key
//! imported in this run is removed again.

use cryptoki::mechanism::Mechanism;
use cryptoki::session::Session;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keygen::{self, KeyPair, KeySecurity};
use super::{find_token, Token};
use crate::cli::Ctx;
use crate::keys::memory::MemorySigner;
use crate::keys::token::TokenSigner;
use crate::keys::uri::Pkcs11Uri;
use crate::keys::Signer;
use crate::{Error, Result};

/// Where a key was put, with its attributes as read back from the token.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub token: String,
    pub uri: String,
    pub generated_on_token: bool,
    pub security: KeySecurity,
}

struct Target {
    token: Token,
    session: Session,
    uri: Pkcs11Uri,
    pair: Option<KeyPair>,
}

/// Keys imported in this run, removed again unless `commit` is called.
pub struct Placed {
    targets: Vec<Target>,
    pub placements: Vec<Placement>,
}

impl Placed {
    /// Keeps the keys.
    pub fn commit(mut self) -> Vec<Placement> {
        for t in &mut self.targets {
            t.pair = None;
        }
        std::mem::take(&mut self.placements)
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        rollback(&mut self.targets);
    }
}

fn rollback(targets: &mut [Target]) {
    for t in targets.iter_mut() {
        if let Some(pair) = t.pair.take() {
            keygen::destroy(&t.session, pair);
        }
    }
}

/// Opens and logs in to every token first (nothing written), refusing a token named twice.
fn prepare(ctx: &Ctx, uris: &[Pkcs11Uri]) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for uri in uris {
        let token = find_token(&ctx.tokens, ctx.module.as_deref(), uri)?;
        if targets
            .iter()
            .any(|t| t.token.module == token.module && t.token.slot == token.slot)
        {
            return Err(Error::Usage(format!(
                "{} is named twice; a mirror must be another token",
                token.desc()
            )));
        }
        let session = token.open_session(true)?;
        keygen::ensure_absent(&token, &session, uri)?;
        targets.push(Target {
            token,
            session,
            uri: uri.clone(),
            pair: None,
        });
    }
    for t in &targets {
        ctx.with_prompter(|p| {
            t.token
                .login(&t.session, &t.uri, p, ctx.allow_final_pin_try)
        })?;
    }
    Ok(targets)
}

/// Signs a fresh random challenge with the key on the token and verifies it against `expected`.
fn challenge(t: &Target, expected: &p256::PublicKey) -> Result<()> {
    let pair = t.pair.expect("checked after import");
    let mut nonce = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let digest = Sha256::digest(nonce);
    let raw = t
        .session
        .sign(&Mechanism::Ecdsa, pair.private, &digest)
        .map_err(|e| t.token.err("C_Sign (challenge)", e))?;
    let sig = p256::ecdsa::Signature::from_slice(&raw)
        .map_err(|_| Error::Crypto("the token returned a malformed signature".into()))?;
    if !crate::keys::verify(expected, &nonce, &sig) {
        return Err(Error::Crypto(
            "a challenge signed on the token does not verify under the root public key".into(),
        ));
    }
    Ok(())
}

/// Imports `key` into every token named, checks each, and returns the uncommitted result.
pub fn place(ctx: &Ctx, uris: &[Pkcs11Uri], key: &MemorySigner) -> Result<Placed> {
    let targets = prepare(ctx, uris)?;
    let mut placed = Placed {
        targets,
        placements: vec![],
    };
    let scalar = key.secret_scalar();
    let n = placed.targets.len();
    for i in 0..n {
        let step = (|| {
            let t = &mut placed.targets[i];
            let pair = keygen::import(&t.token, &t.session, &t.uri, &scalar, key.public_key())?;
            t.pair = Some(pair);
            challenge(t, key.public_key())?;
            let security = keygen::security(&t.token, &t.session, pair.private)?;
            if security.extractable || !security.sensitive {
                return Err(Error::Crypto(format!(
                    "the token stored the key as {}; refusing to keep it",
                    if security.extractable {
                        "extractable"
                    } else {
                        "not sensitive"
                    }
                )));
            }
            Ok(Placement {
                token: t.token.desc(),
                uri: t.uri.to_string(),
                generated_on_token: false,
                security,
            })
        })();
        match step {
            Ok(p) => placed.placements.push(p),
            Err(e) => {
                let failed = placed.targets[i].token.desc();
                let others: Vec<String> = placed
                    .targets
                    .iter()
                    .enumerate()
                    .filter(|(j, t)| *j != i && t.pair.is_some())
                    .map(|(_, t)| t.token.desc())
                    .collect();
                drop(placed); // removes every key imported so far
                let cleanup = if others.is_empty() {
                    String::new()
                } else {
                    format!("; removed the copies already made on {}", others.join(", "))
                };
                return Err(Error::Mirror(format!(
                    "{failed} failed: {e}{cleanup}; no root key was created"
                )));
            }
        }
    }
    Ok(placed)
}

/// Generates a key pair on one token (it never leaves it) and checks it like a mirror.
pub fn generate_on_token(ctx: &Ctx, uri: &Pkcs11Uri) -> Result<(p256::PublicKey, Placement)> {
    let (_, public, placement) = generate_checked(ctx, uri)?;
    Ok((public, placement))
}

/// As [`generate_on_token`], and returns a signer over the new key in the same logged-in
/// session (closing the token's last session would log it out).
pub fn generate_signer(ctx: &Ctx, uri: &Pkcs11Uri) -> Result<(TokenSigner, Placement)> {
    let (t, public, placement) = generate_checked(ctx, uri)?;
    let signer = TokenSigner::with_session(t.token, t.session, uri, public)?;
    Ok((signer, placement))
}

fn generate_checked(ctx: &Ctx, uri: &Pkcs11Uri) -> Result<(Target, p256::PublicKey, Placement)> {
    let mut targets = prepare(ctx, std::slice::from_ref(uri))?;
    let t = &mut targets[0];
    let (pair, public) = keygen::generate(&t.token, &t.session, &t.uri)?;
    t.pair = Some(pair);
    let checked =
        challenge(t, &public).and_then(|()| keygen::security(&t.token, &t.session, pair.private));
    match checked {
        Ok(security) => {
            let placement = Placement {
                token: t.token.desc(),
                uri: t.uri.to_string(),
                generated_on_token: true,
                security,
            };
            t.pair = None;
            let t = targets.pop().expect("one target");
            Ok((t, public, placement))
        }
        Err(e) => {
            rollback(&mut targets);
            Err(e)
        }
    }
}
