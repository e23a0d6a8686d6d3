//! The key inventory of a trust dir: every key file in `private/` and `private/retired/`, the
//! root key of each repository (on its token) and the ones it retired, and the delegation keys
//! on tokens; finding one key by ID prefix; and removing a key file, which current metadata
//! must not need.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::delegations::KeyLocation;
use super::retire::{self, retired_dir, KeyUse};
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::keys::file;
use crate::secret::SharedPrompter;
use crate::tuf::keyid::RootKeyIds;
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// One key the trust dir knows.
#[derive(Debug, Clone, Serialize)]
pub struct KeyEntry {
    pub key_id: String,
    pub role: String,
    pub gun: String,
    /// The key file, or the token reference of a key on a token.
    pub location: String,
    /// [`ACTIVE`], or [`RETIRED`] (rotated out, kept until `key remove`).
    pub status: &'static str,
    /// An active root key's two IDs (`key_id` is the canonical one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_key: Option<RootKeyIds>,
}

/// The root key of a repository, both its IDs, from the repository's config.
pub fn root_key_ids(cfg: &RepoConfig) -> RootKeyIds {
    RootKeyIds {
        canonical_key_id: cfg.root_key_id.clone(),
        metadata_key_id: cfg
            .key_ids
            .get(&RoleName::Root)
            .cloned()
            .unwrap_or_default(),
        certificate: cfg.dialect.root_has_certificate(),
    }
}

pub const ACTIVE: &str = "active";
pub const RETIRED: &str = "retired";

fn sort(keys: &mut [KeyEntry]) {
    keys.sort_by(|a, b| {
        (a.status, &a.role, &a.gun, &a.key_id).cmp(&(b.status, &b.role, &b.gun, &b.key_id))
    });
}

/// Every key: the key files, the repositories' root keys, and delegation keys on tokens;
/// active first, then by role, GUN and ID.
pub fn all_keys(td: &TrustDir) -> Result<Vec<KeyEntry>> {
    let mut keys = root_keys(td)?;
    keys.extend(delegation_token_keys(td)?);
    keys.extend(key_files(td)?);
    sort(&mut keys);
    Ok(keys)
}

/// The key files in `TRUSTDIR/private` and `TRUSTDIR/private/retired`, active first, then by
/// role, GUN and ID. Role and GUN come from the files' PEM headers.
pub fn key_files(td: &TrustDir) -> Result<Vec<KeyEntry>> {
    let mut out = key_files_in(&td.private_dir(), ACTIVE)?;
    out.extend(key_files_in(&retired_dir(td), RETIRED)?);
    sort(&mut out);
    Ok(out)
}

fn key_files_in(dir: &Path, status: &'static str) -> Result<Vec<KeyEntry>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("key") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let meta = file::read_meta(&pem);
        out.push(KeyEntry {
            key_id: stem.to_string(),
            role: meta.as_ref().map(|m| m.role.clone()).unwrap_or_default(),
            gun: meta.map(|m| m.gun).unwrap_or_default(),
            location: path.display().to_string(),
            status,
            root_key: None,
        });
    }
    Ok(out)
}

/// The root keys the repositories in the trust dir use (and have retired), from their configs.
pub fn root_keys(td: &TrustDir) -> Result<Vec<KeyEntry>> {
    let mut out = Vec::new();
    for cfg in retire::configs(td)? {
        out.push(KeyEntry {
            key_id: cfg.root_key_id.clone(),
            role: RoleName::Root.to_string(),
            gun: cfg.gun.to_string(),
            location: cfg.root_key.clone(),
            status: ACTIVE,
            root_key: Some(root_key_ids(&cfg)),
        });
        for r in cfg.retired.iter().filter(|r| r.role == RoleName::Root) {
            out.push(KeyEntry {
                key_id: r.key_id.clone(),
                role: RoleName::Root.to_string(),
                gun: cfg.gun.to_string(),
                location: r.location.clone(),
                status: RETIRED,
                root_key: None,
            });
        }
    }
    Ok(out)
}

/// Delegation keys on tokens (the ones on disk are key files), from every repository's config.
fn delegation_token_keys(td: &TrustDir) -> Result<Vec<KeyEntry>> {
    let mut out = Vec::new();
    for cfg in retire::configs(td)? {
        for d in &cfg.delegations {
            for k in &d.keys {
                if let KeyLocation::Token { uri } = &k.location {
                    out.push(KeyEntry {
                        key_id: k.key_id.clone(),
                        role: d.name.clone(),
                        gun: cfg.gun.to_string(),
                        location: uri.clone(),
                        status: ACTIVE,
                        root_key: None,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The canonical IDs of every delegation key the repositories in the trust dir name (on
/// tokens or on disk): none of them is a root key.
pub fn delegation_key_ids(td: &TrustDir) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for cfg in retire::configs(td)? {
        let keys = cfg
            .delegations
            .iter()
            .flat_map(|d| &d.keys)
            .chain(cfg.hashed_bins.as_ref().map(|b| &b.key));
        for k in keys {
            if let Some(key) = cfg
                .dialect
                .decode_key(&k.key)
                .ok()
                .and_then(|pk| pk.key.p256().copied())
            {
                out.insert(crate::tuf::keyid::canonical_key_id(&key));
            }
        }
    }
    Ok(out)
}

/// The key files whose ID starts with `prefix` (none for an empty prefix).
fn matching(td: &TrustDir, prefix: &str) -> Result<Vec<KeyEntry>> {
    Ok(key_files(td)?
        .into_iter()
        .filter(|k| !prefix.is_empty() && k.key_id.starts_with(prefix))
        .collect())
}

/// The one key file whose ID starts with `prefix`.
pub fn find_key(td: &TrustDir, prefix: &str) -> Result<KeyEntry> {
    let mut found = matching(td, prefix)?;
    match found.len() {
        1 => found.pop().ok_or_else(|| unreachable_empty(prefix)),
        0 => Err(Error::NotFound(format!(
            "no key {prefix} in {}",
            td.private_dir().display()
        ))),
        n => Err(Error::Usage(format!(
            "{n} keys start with {prefix}; give more of the key ID"
        ))),
    }
}

fn unreachable_empty(prefix: &str) -> Error {
    Error::NotFound(format!("no key {prefix}"))
}

/// The key file `init --targets-key` names: an ID or a unique prefix, with a `targets` role
/// header (or none).
pub fn find_targets_key(td: &TrustDir, prefix: &str) -> Result<PathBuf> {
    let mut found = matching(td, prefix)?;
    let k = match found.len() {
        1 => found.pop().ok_or_else(|| unreachable_empty(prefix))?,
        0 => {
            return Err(Error::NotFound(format!(
                "--targets-key {prefix}: no such key in {} (import one with `trustkey key import`)",
                td.private_dir().display()
            )))
        }
        n => {
            return Err(Error::Usage(format!(
                "--targets-key {prefix}: {n} keys start with it; give more of the key ID"
            )))
        }
    };
    if !(k.role.is_empty() || k.role == "targets") {
        return Err(Error::Usage(format!(
            "--targets-key {prefix}: {} is a {} key, not a targets key",
            k.key_id, k.role
        )));
    }
    Ok(PathBuf::from(k.location))
}

/// A key file removed.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub key_id: String,
    pub role: String,
    pub gun: String,
    pub location: String,
    pub status: &'static str,
    /// Where current metadata still listed it (only when forced).
    pub in_use: Vec<KeyUse>,
}

/// Deletes the key file whose ID starts with `prefix`. Refused while the current root
/// metadata of a repository lists the key, or a delegation signs with it, unless `force`; root
/// keys (on tokens) are never deleted. The configs that recorded the key as retired forget it
/// (unless another copy of the file is left).
pub fn remove_key(
    td: &TrustDir,
    prefix: &str,
    force: bool,
    prompter: &SharedPrompter,
) -> Result<Removed> {
    let matches = |id: &str| !prefix.is_empty() && id.starts_with(prefix);
    let mut files = matching(td, prefix)?;
    if files.is_empty() {
        if let Some(r) = root_keys(td)?.into_iter().find(|k| matches(&k.key_id)) {
            return Err(Error::Usage(format!(
                "{} is the {} root key of {}, on {}; root keys live on tokens and trustkey does \
                 not delete them (after `trustkey root rotate`, wipe or store the old token)",
                r.key_id, r.status, r.gun, r.location
            )));
        }
        return Err(Error::NotFound(format!(
            "no key {prefix} in {}",
            td.private_dir().display()
        )));
    }
    let ids: BTreeSet<&str> = files.iter().map(|k| k.key_id.as_str()).collect();
    if ids.len() > 1 {
        return Err(Error::Usage(format!(
            "{} keys start with {prefix}; give more of the key ID",
            ids.len()
        )));
    }
    // The same key may be both active and retired (restored from a backup): active first.
    let key = files.remove(0);
    let uses = retire::key_uses(td, &key.key_id)?;
    if let Some(u) = uses.iter().find(|u| u.is_delegation()).filter(|_| !force) {
        return Err(Error::Usage(format!(
            "key {} is still in use: {} signs the delegation {} with it; take it out first \
             (`trustkey delegation remove {} {} --key {}`) or pass --force",
            key.key_id, u.gun, u.role, u.gun, u.role, key.key_id
        )));
    }
    if let (Some(first), false) = (uses.first(), force) {
        return Err(Error::Usage(format!(
            "key {} is still in use: the current root metadata of {} (version {}) lists it for \
             {}{}; rotate it first (`trustkey key rotate {} {}`) or pass --force",
            key.key_id,
            first.gun,
            first.root_version,
            first.role,
            if uses.len() > 1 {
                format!(" (and {} more)", uses.len() - 1)
            } else {
                String::new()
            },
            first.gun,
            first.role
        )));
    }
    std::fs::remove_file(&key.location)
        .map_err(|e| Error::io(format!("removing {}", key.location), e))?;
    // Forget it in the configs that recorded it as retired (unless another copy is left).
    let still_there = key_files(td)?.iter().any(|k| k.key_id == key.key_id);
    if !still_there {
        let guns: BTreeSet<Gun> = retire::configs(td)?
            .into_iter()
            .filter(|cfg| cfg.retired.iter().any(|r| r.key_id == key.key_id))
            .map(|cfg| cfg.gun)
            .collect();
        for gun in &guns {
            let _lock = td.lock(gun, |m| prompter.notice(m))?;
            let mut cfg = td.load_config(gun)?;
            cfg.retired
                .retain(|r| r.key_id != key.key_id || r.role == RoleName::Root);
            td.save_config(&cfg)?;
        }
    }
    Ok(Removed {
        key_id: key.key_id,
        role: key.role,
        gun: key.gun,
        location: key.location,
        status: key.status,
        in_use: uses,
    })
}
