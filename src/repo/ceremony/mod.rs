//! Root ceremonies: root metadata that needs signatures from several people's keys (a
//! threshold root, a rotation, a renewal), made into a signing request (`tuf::request`) when
//! the tokens at hand cannot sign it, signed on air-gapped machines (`sign.rs`), and made the
//! repository's next root once enough signatures are in (`apply.rs`). `history.rs` lists the
//! root versions a repository published.
//!
//! The publisher's trust dir keeps the request it made (`tuf/<gun>/pending-root.request.json`)
//! and what to record once it is applied (`RepoConfig::pending_root`): only a request whose
//! root is byte for byte that one is applied.

pub mod apply;
pub mod change;
pub mod history;
pub mod keys;
pub mod sign;

pub use keys::{at_hand, root_keys, NewRootKeys, RootKeysRequest};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trustdir::{RepoConfig, RetiredKey, TrustDir};
use crate::fsio::{self, Overwrite};
use crate::sign::Signer;
use crate::tuf::cjson;
use crate::tuf::model::{Envelope, RoleName};
use crate::tuf::request::{check_signatures, Opened, Purpose, Request};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify;
use crate::{Error, Result};

/// The pending request's file in the GUN's directory.
pub const PENDING_FILE: &str = "pending-root.request.json";

/// A threshold root's keys and where each is known to live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootSet {
    pub threshold: u64,
    pub keys: Vec<RootKeyEntry>,
}

/// One root key: its IDs, and where it lives (a token reference, or the public key file it
/// was named by: its holder keeps the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKeyEntry {
    /// The ID root metadata gives it.
    pub key_id: String,
    /// The bare key's canonical ID (`root list`, `root export`).
    pub canonical_id: String,
    pub location: String,
}

/// `key rotate` under a threshold root: what the config records once the root is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    pub role: RoleName,
    /// Root metadata's ID of the new key, and its key file's ID.
    pub key_id: String,
    pub key_file_id: String,
    /// The replaced key's file ID (retired once the root is applied).
    pub old_key_file_id: String,
}

/// A root waiting for signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRoot {
    pub version: u64,
    pub sha256: String,
    pub purpose: Purpose,
    pub root_set: RootSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_change: Option<KeyChange>,
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOut {
    /// Only when the tokens at hand cannot sign: into the GUN's directory.
    IfNeeded,
    /// Always (`--request FILE`): into this new file (and the GUN's directory).
    To(PathBuf),
}

/// New root metadata and who signs it.
pub struct Proposal<'a> {
    pub purpose: Purpose,
    /// The `signed` object.
    pub root: Value,
    /// The trusted root it follows (none for a first root).
    pub previous: Option<&'a SignedMeta>,
    /// Tokens at hand, by root metadata's key ID.
    pub signers: &'a [(String, &'a dyn Signer)],
    pub root_set: RootSet,
    pub key_change: Option<KeyChange>,
    pub out: RequestOut,
}

/// A root made the repository's root (signed now, or by `apply`).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub gun: String,
    pub version: u64,
    pub expires: String,
    /// Root metadata's IDs of the keys whose signatures it carries.
    pub signed_by: Vec<String>,
}

/// A request written: who must sign it, and where it is.
#[derive(Debug, Clone, Serialize)]
pub struct Requested {
    pub gun: String,
    pub version: u64,
    pub sha256: String,
    pub path: String,
    pub needs: Vec<String>,
    pub signed_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Applied(Applied),
    Requested(Requested),
}

/// Signs `p.root` with the tokens at hand; makes it the repository's root when that is enough
/// (and no request was asked for), else writes a request. The caller holds the GUN's lock.
pub fn propose(td: &TrustDir, cfg: &mut RepoConfig, p: Proposal<'_>) -> Result<Outcome> {
    let d = cfg.dialect;
    let gun = cfg.gun.to_string();
    let bytes = cjson::encode(&p.root).map_err(Error::Metadata)?;
    let mut req = Request::new(&gun, d, p.purpose, &bytes, p.previous.map(|m| &m.bytes[..]))
        .map_err(Error::Metadata)?;
    let opened = req.open().map_err(Error::Metadata)?;
    for (id, signer) in p.signers {
        let sig = signer.sign(&bytes)?;
        if !crate::sign::verify(signer.public_key(), &bytes, &sig) {
            return Err(Error::Crypto(format!(
                "{} produced a signature that does not verify",
                signer.describe()
            )));
        }
        let mut ids = Request::key_ids_for(&opened, signer.public_key());
        if ids.is_empty() {
            ids.push(id.clone());
        }
        for id in ids {
            req.add_signature(&opened, d.encode_signature(&id, &sig));
        }
    }
    let pending = PendingRoot {
        version: opened.root.common.version,
        sha256: req.sha256.clone(),
        purpose: p.purpose,
        root_set: p.root_set,
        key_change: p.key_change,
    };
    let enough = check_signatures(&opened, &req.signatures, &gun).is_ok();
    if enough && p.out == RequestOut::IfNeeded {
        return finish(td, cfg, &req, &opened, pending).map(Outcome::Applied);
    }
    let text = req.to_bytes().map_err(Error::Metadata)?;
    let pending_path = td.gun_dir(&cfg.gun).join(PENDING_FILE);
    fsio::create_private_dir(&td.gun_dir(&cfg.gun))?;
    fsio::write_atomic(
        &pending_path,
        &text,
        fsio::PUBLIC_FILE_MODE,
        Overwrite::Replace,
    )?;
    let path = match &p.out {
        RequestOut::To(path) => {
            fsio::write_atomic(path, &text, fsio::PUBLIC_FILE_MODE, Overwrite::Refuse)?;
            path.clone()
        }
        RequestOut::IfNeeded => pending_path,
    };
    let summary = crate::tuf::request::Summary::of(&req, &opened);
    cfg.pending_root = Some(pending);
    td.save_config(cfg)?;
    Ok(Outcome::Requested(Requested {
        gun,
        version: summary.version,
        sha256: summary.sha256,
        path: path.display().to_string(),
        needs: summary.needs,
        signed_by: summary.signed_by,
    }))
}

/// Makes `req`'s root (enough signatures checked here) the repository's root: written to the
/// publisher's copy, recorded in the config. The next `publish` publishes it.
fn finish(
    td: &TrustDir,
    cfg: &mut RepoConfig,
    req: &Request,
    opened: &Opened,
    pending: PendingRoot,
) -> Result<Applied> {
    let d = cfg.dialect;
    let gun = cfg.gun.clone();
    let accepted =
        check_signatures(opened, &req.signatures, gun.as_str()).map_err(Error::Integrity)?;
    let signed: Value =
        crate::tuf::request::parse_canonical(&opened.bytes).map_err(Error::Metadata)?;
    let envelope = Envelope {
        signed,
        signatures: accepted.signatures.clone(),
    };
    let file = d
        .file_bytes_from(&envelope, &opened.bytes)
        .map_err(Error::Metadata)?;
    let meta = SignedMeta::parse(RoleName::Root, file).map_err(Error::Metadata)?;
    // What a client checks, checked before anything is written.
    for set in &opened.sets {
        verify::signatures(d, &meta, set)
            .map_err(|e| Error::Integrity(format!("the signed root does not verify: {e}")))?;
    }
    let version = opened.root.common.version;
    let published = td.published_dir(&gun);
    fsio::create_private_dir(&published)?;
    for name in [format!("{version}.root.json"), "root.json".to_string()] {
        fsio::write_atomic(
            &published.join(name),
            &meta.bytes,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )?;
    }
    record(td, cfg, &pending, version)?;
    let _ = std::fs::remove_file(td.gun_dir(&gun).join(PENDING_FILE));
    Ok(Applied {
        gun: gun.to_string(),
        version,
        expires: opened.root.common.expires.clone(),
        signed_by: accepted
            .signatures
            .iter()
            .map(|s| s.keyid.clone())
            .collect(),
    })
}

/// The config after root v`version` is in: its keys, retired root keys, a key change.
fn record(td: &TrustDir, cfg: &mut RepoConfig, pending: &PendingRoot, version: u64) -> Result<()> {
    let now = cfg.dialect.format_time(time::OffsetDateTime::now_utc());
    let old: Vec<RootKeyEntry> = match &cfg.root_set {
        Some(s) => s.keys.clone(),
        None if !cfg.root_key_id.is_empty() => vec![RootKeyEntry {
            key_id: cfg.key_id(RoleName::Root).unwrap_or_default().to_string(),
            canonical_id: cfg.root_key_id.clone(),
            location: cfg.root_key.clone(),
        }],
        None => Vec::new(),
    };
    let new = &pending.root_set;
    for k in &old {
        if !new.keys.iter().any(|n| n.canonical_id == k.canonical_id) {
            cfg.retired.push(RetiredKey {
                role: RoleName::Root,
                key_id: k.canonical_id.clone(),
                location: k.location.clone(),
                root_version: version,
                retired_at: now.clone(),
            });
        }
    }
    if let Some(first) = new.keys.first() {
        cfg.key_ids.insert(RoleName::Root, first.key_id.clone());
        cfg.root_key = first.location.clone();
        cfg.root_key_id = first.canonical_id.clone();
    }
    cfg.root_set = Some(new.clone());
    if let Some(c) = &pending.key_change {
        cfg.key_ids.insert(c.role, c.key_id.clone());
        if c.key_id == c.key_file_id {
            cfg.key_files.remove(&c.role);
        } else {
            cfg.key_files.insert(c.role, c.key_file_id.clone());
        }
        let moved = super::retire::retire_key_file(td, &c.old_key_file_id)?;
        cfg.retired.push(RetiredKey {
            role: c.role,
            key_id: c.old_key_file_id.clone(),
            location: moved
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(no key file: it was already gone)".into()),
            root_version: version,
            retired_at: now,
        });
    }
    cfg.versions.insert(RoleName::Root, version);
    cfg.pending_root = None;
    td.save_config(cfg)
}
