//! Key and root rotation as transactions: a new key is made, root metadata naming it is signed
//! (by the current root key, and for a new root key by the new one too: `root.rs`), the old key
//! is retired, and the config records it. A failure before root is written undoes what was
//! made: a new key file is deleted, keys imported onto tokens are removed again, and a key
//! generated on a token is named in the error so that it can be deleted there.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::ceremony::{self, change, KeyChange, Outcome, Proposal, RequestOut};
use super::expiry::Expiries;
use super::retire;
use super::root::{self as reroot, Change, Resigned};
use super::trustdir::{Gun, RepoConfig, RetiredKey, TrustDir};
use crate::fsio::Overwrite;
use crate::keys::file::{encrypt_pem, KeyMeta};
use crate::keys::mirror::{self, Placement};
use crate::keys::piv::PivOptions;
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, store, MemorySigner, Session, Signer};
use crate::secret::{new_passphrase, KeyRole};
use crate::tuf::model::{to_value, RoleName};
use crate::tuf::request::Purpose;
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
    /// Write the root that names the new key as a signing request to this file, even when
    /// the tokens at hand could sign it (`--request`).
    pub request: Option<PathBuf>,
}

/// A rotated repository key.
#[derive(Debug, Serialize)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub resigned: Resigned,
    pub key_file: String,
    /// Where the old key went (`private/retired/...`), or `None` if its file was already gone
    /// or is kept until the root naming the new key is applied.
    pub retired_to: Option<String>,
    /// `applied`: the new root is signed; `requested`: it waits for root signatures.
    pub outcome: &'static str,
    /// The signing request written, when root signatures are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Whose signatures the request still needs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The root keys that signed the new root (locations), for the message.
    #[serde(skip)]
    pub root: Vec<String>,
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
    if r.request.is_some() || cfg.root_set.as_ref().is_some_and(|s| s.threshold > 1) {
        return rotate_by_request(session, td, &mut cfg, r);
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
        outcome: "applied",
        request: None,
        needs: Vec::new(),
        root: vec![root_ref.to_string()],
    })
}

/// `key rotate` under a threshold root (or with `--request`): the new key is made and the
/// root naming it is signed with the root tokens at hand; when that is not enough, it becomes
/// a signing request like `root rotate`'s, and the old key is retired when `apply` makes the
/// root the repository's. The caller holds the GUN's lock.
fn rotate_by_request(
    session: &Session,
    td: &TrustDir,
    cfg: &mut RepoConfig,
    r: &KeyRotation<'_>,
) -> Result<RotatedKey> {
    let (gun, role) = (r.gun, r.role);
    if let Some(p) = &cfg.pending_root {
        return Err(Error::Usage(format!(
            "root v{} of {gun} waits for signatures already: apply it (`trustkey apply`) first",
            p.version
        )));
    }
    if cfg.server_signs(role) {
        return Err(Error::Usage(format!(
            "notary-server holds the {role} key of {gun}: rotate it on the server \
             (`notary key rotate {gun} {role} -r`)"
        )));
    }
    let (cur_signed, cur) = reroot::current_root(td, gun)?;
    if cur.common.version != cfg.version(RoleName::Root) {
        return Err(Error::Metadata(format!(
            "{gun}: published root is version {}, but the config says {}",
            cur.common.version,
            cfg.version(RoleName::Root)
        )));
    }
    let old_id = cfg.key_file_id(role)?.to_string();
    let set = change::current_set(cfg)?;
    // The root tokens at hand; a `--root` token must hold one of the root's keys.
    let mut signers = ceremony::at_hand(session, cfg)?;
    if let Some(k) = &r.root {
        let signer = session.open_signer(k)?;
        let id = canonical_key_id(signer.public_key());
        let Some(entry) = set.keys.iter().find(|e| e.canonical_id == id) else {
            return Err(Error::Usage(format!(
                "{} holds key ID {id}, which is not one of the root keys of {gun}: name a \
                 token that holds one (`trustkey root history {gun}` lists them), or leave \
                 --root out",
                signer.describe()
            )));
        };
        if !signers
            .iter()
            .any(|(_, s)| s.public_key() == signer.public_key())
        {
            signers.push((entry.key_id.clone(), signer));
        }
    }

    let d = cfg.dialect;
    let what = format!("the new {role} key of {gun}");
    let pass = session.with_prompter(|p| new_passphrase(KeyRole::from(role), &what, p))?;
    let key = MemorySigner::generate(what.clone());
    let new_id = canonical_key_id(key.public_key());
    let new_key = d.public_key(key.public_key());
    let new_tuf_id = d.key_id(&new_key);
    let pem = encrypt_pem(
        &key.secret_key(),
        &pass,
        Some(&KeyMeta::new(role.as_str(), gun.as_str())),
    )?;
    drop(key);

    // The next root: the current one with the role's keys replaced, valid for root's expiry.
    let mut next = cur.clone();
    next.common.version = cur.common.version + 1;
    next.common.expires = d.format_time(r.now + r.expiries.get(RoleName::Root));
    let entry = next
        .roles
        .get_mut(role.as_str())
        .ok_or_else(|| Error::Metadata(format!("{gun}: root has no {role} role")))?;
    let old_ids = std::mem::replace(&mut entry.keyids, vec![new_tuf_id.clone()]);
    entry.threshold = 1;
    let still_used: BTreeSet<String> = next
        .roles
        .values()
        .flat_map(|r| r.keyids.iter().cloned())
        .collect();
    for id in old_ids.iter().filter(|id| !still_used.contains(*id)) {
        next.keys.remove(id);
    }
    next.keys.insert(new_tuf_id.clone(), new_key);

    let path = store::write_key(&td.root, &new_id, &pem, Overwrite::Refuse)?;
    let signer_refs: Vec<(String, &dyn Signer)> = signers
        .iter()
        .map(|(id, s)| (id.clone(), s.as_ref()))
        .collect();
    let proposed = ceremony::propose(
        td,
        cfg,
        Proposal {
            purpose: Purpose::KeyRotate,
            root: to_value(&next),
            previous: Some(&cur_signed),
            signers: &signer_refs,
            root_set: set,
            key_change: Some(KeyChange {
                role,
                key_id: new_tuf_id.clone(),
                key_file_id: new_id.clone(),
                old_key_file_id: old_id.clone(),
            }),
            out: match &r.request {
                Some(p) => RequestOut::To(p.clone()),
                None => RequestOut::IfNeeded,
            },
        },
    );
    let outcome = match proposed {
        Ok(o) => o,
        Err(e) => {
            // Nothing names the new key unless a root or a request was written.
            let named = cfg.pending_root.is_some()
                || reroot::current_root(td, gun)
                    .map(|(_, root)| root.common.version != cur.common.version)
                    .unwrap_or(true);
            if !named {
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
    };
    let root = signers.iter().map(|(_, s)| s.describe()).collect();
    let resigned = |version: u64, signed_by: Vec<String>| Resigned {
        gun: gun.clone(),
        role,
        old_key_id: old_id.clone(),
        new_key_id: new_id.clone(),
        new_tuf_key_id: new_tuf_id.clone(),
        root_version: version,
        signed_by,
    };
    Ok(match outcome {
        Outcome::Applied(a) => RotatedKey {
            resigned: resigned(a.version, a.signed_by),
            key_file: path.display().to_string(),
            retired_to: cfg
                .retired
                .iter()
                .rev()
                .find(|k| k.key_id == old_id && k.role == role)
                .map(|k| k.location.clone())
                .filter(|l| !l.starts_with('(')),
            outcome: "applied",
            request: None,
            needs: Vec::new(),
            root,
        },
        Outcome::Requested(q) => RotatedKey {
            resigned: resigned(q.version, q.signed_by),
            key_file: path.display().to_string(),
            retired_to: None,
            outcome: "requested",
            request: Some(q.path),
            needs: q.needs,
            root,
        },
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
