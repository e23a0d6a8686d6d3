//! Key and root rotation as transactions: a new key is made, root metadata naming it is signed
//! (by the current root key, and for a new root key by the new one too: `root.rs`), the old key
//! is retired, and the config records it. A failure before root is written undoes what was
//! made: a new key file is deleted, keys imported onto tokens are removed again, and a key
//! generated on a token is named in the error so that it can be deleted there.

use serde::Serialize;
use time::OffsetDateTime;

use super::expiry::Expiries;
use super::retire;
use super::root::{self as reroot, Change, Resigned};
use super::trustdir::{Gun, RetiredKey, TrustDir};
use crate::fsio::Overwrite;
use crate::keys::file::{encrypt_pem, KeyMeta};
use crate::keys::mirror::{self, Placement};
use crate::keys::piv::PivOptions;
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, store, MemorySigner, Session, Signer};
use crate::secret::{new_passphrase, KeyRole};
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// `key rotate`: a new key on disk for targets, snapshot or timestamp.
#[derive(Debug)]
pub struct KeyRotation<'a> {
    pub gun: &'a Gun,
    pub role: RoleName,
    /// The root key to sign with (default: the one recorded for the GUN).
    pub root: Option<KeyRef>,
    pub expiries: &'a Expiries,
    pub now: OffsetDateTime,
}

/// A rotated repository key.
#[derive(Debug, Serialize)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub resigned: Resigned,
    pub key_file: String,
    /// Where the old key went (`private/retired/...`), or `None` if its file was already gone.
    pub retired_to: Option<String>,
    /// The root key that signed the new root.
    #[serde(skip)]
    pub root: KeyRef,
}

/// The message for a root key named where a repository key is expected.
pub fn root_is_rotated_elsewhere(gun: &Gun) -> Error {
    Error::Usage(format!(
        "the root key is rotated with `trustkey root rotate {gun} --token URI`"
    ))
}

/// Replaces a repository key. The old key is not needed: this is how to recover when one is
/// lost. The new key is on disk before any metadata names it; if no root naming it was
/// written, its file goes again.
pub fn rotate_key(session: &Session, td: &TrustDir, r: &KeyRotation<'_>) -> Result<RotatedKey> {
    let (gun, role) = (r.gun, r.role);
    if role == RoleName::Root {
        return Err(root_is_rotated_elsewhere(gun));
    }
    td.load_config(gun)?;
    let _lock = td.lock(gun, |m| session.prompter().notice(m))?;
    let mut cfg = td.load_config(gun)?;
    if cfg.root_set.as_ref().is_some_and(|s| s.threshold > 1) {
        return Err(Error::Usage(format!(
            "the root of {gun} needs {} signatures: `key rotate` under a threshold root is not \
             supported yet",
            cfg.root_set.as_ref().map_or(0, |s| s.threshold)
        )));
    }
    let root_ref = match &r.root {
        Some(k) => k.clone(),
        None => cfg.root_key.parse()?,
    };
    // Cheap checks first: the signed root is there, the role exists.
    let (_, current) = reroot::current_root(td, gun)?;
    let old_version = current.common.version;
    if cfg.server_signs(role) {
        return Err(Error::Usage(format!(
            "notary-server holds the {role} key of {gun}: rotate it on the server \
             (`notary key rotate {gun} {role} -r`)"
        )));
    }
    let old_id = cfg.key_file_id(role)?.to_string();

    let what = format!("the new {role} key of {gun}");
    let pass = session.with_prompter(|p| new_passphrase(KeyRole::from(role), &what, p))?;
    let key = MemorySigner::generate(what.clone());
    let new_id = canonical_key_id(key.public_key());
    let pem = encrypt_pem(
        &key.secret_key(),
        &pass,
        Some(&KeyMeta::new(role.as_str(), gun.as_str())),
    )?;
    let signer = session.open_signer(&root_ref)?;
    reroot::check_root_signer(&cfg, signer.as_ref())?;
    let path = store::write_key(&td.root, &new_id, &pem, Overwrite::Refuse)?;
    let change = Change::RoleKey {
        role,
        key: *key.public_key(),
    };
    let done = match reroot::resign(td, &mut cfg, signer.as_ref(), change, r.expiries, r.now) {
        Ok(d) => d,
        Err(e) => {
            // Keep the new key if a root naming it was written; otherwise it is useless.
            let named = reroot::current_root(td, gun)
                .map(|(_, root)| root.common.version != old_version)
                .unwrap_or(true);
            if !named {
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
    };
    drop(key);
    let moved = retire::retire_key_file(td, &old_id)?;
    cfg.retired.push(RetiredKey {
        role,
        key_id: old_id,
        location: moved
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no key file: it was already gone)".into()),
        root_version: done.root_version,
        retired_at: cfg.dialect.format_time(r.now),
    });
    td.save_config(&cfg)?;
    Ok(RotatedKey {
        resigned: done,
        key_file: path.display().to_string(),
        retired_to: moved.map(|p| p.display().to_string()),
        root: root_ref,
    })
}

/// `root rotate`: a new root key on a token (generated there), or with mirrors on several
/// tokens at once (generated in memory, imported, then zeroized).
#[derive(Debug)]
pub struct RootRotation<'a> {
    pub gun: &'a Gun,
    /// Where the new root key goes.
    pub token: KeyRef,
    /// More tokens to hold the same new key.
    pub mirrors: Vec<KeyRef>,
    /// The current root key (default: the one recorded for the GUN).
    pub old: Option<KeyRef>,
    pub piv: &'a PivOptions,
    pub expiries: &'a Expiries,
    pub now: OffsetDateTime,
}

/// A rotated root key.
#[derive(Debug, Serialize)]
pub struct RotatedRoot {
    #[serde(flatten)]
    pub resigned: Resigned,
    pub tokens: Vec<Placement>,
    pub old_root: String,
}

/// Replaces the root key of a repository: new root metadata (version + 1) lists the new key
/// and is signed by both, so clients that trust the old root accept the new one. The old root
/// key stays on its token, recorded as retired.
pub fn rotate_root(session: &Session, td: &TrustDir, r: &RootRotation<'_>) -> Result<RotatedRoot> {
    let gun = r.gun;
    td.load_config(gun)?;
    let _lock = td.lock(gun, |m| session.prompter().notice(m))?;
    let mut cfg = td.load_config(gun)?;
    reroot::current_root(td, gun)?;
    let old_ref = match &r.old {
        Some(k) => k.clone(),
        None => cfg.root_key.parse()?,
    };
    let old_id = cfg.root_key_id.clone();
    // The current root key first: a wrong token costs nothing on the new one.
    let old_signer = session.open_signer(&old_ref)?;
    reroot::check_root_signer(&cfg, old_signer.as_ref())?;
    let key_ref = r.token.to_string();
    let (done, tokens) = if r.mirrors.is_empty() {
        let (signer, placement, unused) = mirror::generate_signer_at(session, &r.token, r.piv)?;
        let public = *signer.public_key();
        let change = Change::RootKey {
            signer: signer.as_ref(),
            key_ref,
        };
        let done =
            match reroot::resign(td, &mut cfg, old_signer.as_ref(), change, r.expiries, r.now) {
                Ok(done) => done,
                // The new key goes again, unless its token is gone too: then say where it is.
                Err(e) => match unused.map(mirror::Unused::remove) {
                    Some(Ok(note)) => return Err(Error::Mirror(format!("{e}; {note}"))),
                    _ => return Err(left_behind(e, &r.token, &public)),
                },
            };
        (done, vec![placement])
    } else {
        let key = MemorySigner::generate("new root key (in memory)");
        let mut uris = vec![r.token.clone()];
        uris.extend(r.mirrors.iter().cloned());
        // Dropped uncommitted on any failure below: the imported keys are removed again.
        let placed = mirror::place_with(session, &uris, &key, r.piv)?;
        let public = *key.public_key();
        drop(key); // zeroizes the private scalar; the tokens sign from now on
        let signer = session.open_signer(&r.token)?;
        if signer.public_key() != &public {
            return Err(Error::Crypto(format!(
                "{} holds another key than the one just imported",
                signer.describe()
            )));
        }
        let change = Change::RootKey {
            signer: signer.as_ref(),
            key_ref,
        };
        let done = reroot::resign(td, &mut cfg, old_signer.as_ref(), change, r.expiries, r.now)?;
        (done, placed.commit())
    };
    cfg.retired.push(RetiredKey {
        role: RoleName::Root,
        key_id: old_id,
        location: old_ref.to_string(),
        root_version: done.root_version,
        retired_at: cfg.dialect.format_time(r.now),
    });
    td.save_config(&cfg)?;
    Ok(RotatedRoot {
        resigned: done,
        tokens,
        old_root: old_ref.to_string(),
    })
}

/// A key generated on a token stays there when the rotation fails: say where, so that it can
/// be deleted (a token cannot take the same label twice).
fn left_behind(e: Error, token: &KeyRef, public: &p256::PublicKey) -> Error {
    Error::Mirror(match token {
        KeyRef::Pkcs11(uri) => format!(
            "{e}; the new key generated on {} (object {:?}, key ID {}) was not used: \
             delete it there, or rotate again with another object label",
            uri.token_desc(),
            uri.object_label(),
            canonical_key_id(public)
        ),
        KeyRef::Yubikey(y) => format!(
            "{e}; the new key generated in {} (key ID {}) was not used: rotate again \
             with another slot, or generate over it",
            y.desc(),
            canonical_key_id(public)
        ),
    })
}
