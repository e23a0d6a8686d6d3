//! Retired keys and which keys current metadata still needs.
//!
//! A rotated-out repository key moves to `TRUSTDIR/private/retired/<key id>.key` (still
//! encrypted, still in backups) and is recorded in the GUN's config; `key remove` deletes it.
//! A key is "in use" while the root metadata a GUN last signed lists it for a role.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::root::current_root;
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::keys::canonical_key_id;
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// `TRUSTDIR/private/retired`.
pub fn retired_dir(td: &TrustDir) -> PathBuf {
    td.private_dir().join("retired")
}

/// `TRUSTDIR/private/retired/<key id>.key`.
pub fn retired_path(td: &TrustDir, key_id: &str) -> PathBuf {
    retired_dir(td).join(format!("{key_id}.key"))
}

/// Moves `private/<key_id>.key` to `private/retired/` (one rename). `None` if there was no
/// key file (a lost key).
pub fn retire_key_file(td: &TrustDir, key_id: &str) -> Result<Option<PathBuf>> {
    let from = td.key_path(key_id);
    if !from.is_file() {
        return Ok(None);
    }
    let dir = retired_dir(td);
    crate::fsio::create_private_dir(&dir)?;
    let to = retired_path(td, key_id);
    std::fs::rename(&from, &to)
        .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))?;
    if let Ok(d) = std::fs::File::open(td.private_dir()) {
        let _ = d.sync_all();
    }
    Ok(Some(to))
}

/// Every GUN with a config in the trust dir, sorted.
pub fn guns(td: &TrustDir) -> Result<Vec<Gun>> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<Gun>) -> Result<()> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if ft.is_dir() {
                // The GUN's own subdirectories are not GUN components.
                if matches!(name, "published" | "client") {
                    continue;
                }
                let sub = if rel.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                };
                walk(&entry.path(), &sub, out)?;
            } else if name == "trustkey.json" && !rel.is_empty() {
                if let Ok(g) = rel.parse() {
                    out.push(g);
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&td.root.join("tuf"), "", &mut out)?;
    out.sort();
    Ok(out)
}

/// The configs of every GUN in the trust dir (unreadable ones are skipped).
pub fn configs(td: &TrustDir) -> Result<Vec<RepoConfig>> {
    Ok(guns(td)?
        .iter()
        .filter_map(|g| td.load_config(g).ok())
        .collect())
}

/// A role of a GUN whose current root metadata lists a key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeyUse {
    pub gun: Gun,
    pub role: String,
    pub root_version: u64,
}

impl KeyUse {
    /// Whether the use is a delegation's (not one of the four top-level roles).
    pub fn is_delegation(&self) -> bool {
        self.role.parse::<RoleName>().is_err()
    }
}

/// Where current root metadata (of every GUN in the trust dir) lists `key_id`: by the ID in
/// root metadata or by the bare key's canonical ID (a root certificate's key, a file name);
/// and which delegations (hashed bins: `bins`) sign with it.
pub fn key_uses(td: &TrustDir, key_id: &str) -> Result<Vec<KeyUse>> {
    let mut uses = Vec::new();
    for cfg in configs(td)? {
        let delegated = cfg
            .delegations
            .iter()
            .flat_map(|d| d.keys.iter().map(move |k| (d.name.as_str(), k)))
            .chain(cfg.hashed_bins.iter().map(|b| ("bins", &b.key)));
        for (name, k) in delegated {
            let file_id = match &k.location {
                super::delegations::KeyLocation::File { key_file_id } => Some(key_file_id),
                super::delegations::KeyLocation::Token { .. }
                | super::delegations::KeyLocation::Holder { .. } => None,
            };
            if k.key_id == key_id || file_id.is_some_and(|f| f == key_id) {
                uses.push(KeyUse {
                    gun: cfg.gun.clone(),
                    role: name.to_string(),
                    root_version: cfg.version(RoleName::Root),
                });
            }
        }
        let d = cfg.dialect;
        let mut hit = |role: &str, version: u64| {
            let u = KeyUse {
                gun: cfg.gun.clone(),
                role: role.to_string(),
                root_version: version,
            };
            if !uses.contains(&u) {
                uses.push(u);
            }
        };
        let Ok((_, root)) = current_root(td, &cfg.gun) else {
            // No signed root to read: fall back to what the config says.
            for (role, id) in &cfg.key_ids {
                if id == key_id || (*role == RoleName::Root && cfg.root_key_id == key_id) {
                    hit(role.as_str(), cfg.version(RoleName::Root));
                }
            }
            continue;
        };
        for (role, keys) in &root.roles {
            for id in &keys.keyids {
                let canonical = root
                    .keys
                    .get(id)
                    .and_then(|k| d.decode_key(k).ok())
                    .and_then(|pk| pk.key.p256().map(canonical_key_id));
                if id == key_id || canonical.as_deref() == Some(key_id) {
                    hit(role, root.common.version);
                }
            }
        }
    }
    Ok(uses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_guns_but_not_their_subdirectories() {
        let t = tempfile::tempdir().unwrap();
        let td = TrustDir::new(t.path());
        for g in ["example.com/app", "a", "x/y/z"] {
            let dir = td.gun_dir(&g.parse().unwrap());
            std::fs::create_dir_all(dir.join("published")).unwrap();
            std::fs::create_dir_all(dir.join("client")).unwrap();
            std::fs::write(dir.join("trustkey.json"), "{}").unwrap();
        }
        // A client's trusted state alone is no GUN the trust dir publishes.
        std::fs::create_dir_all(t.path().join("tuf/other/client")).unwrap();
        let got: Vec<String> = guns(&td).unwrap().iter().map(|g| g.to_string()).collect();
        assert_eq!(got, ["a", "example.com/app", "x/y/z"]);
    }

    #[test]
    fn retiring_moves_the_file_once() {
        let t = tempfile::tempdir().unwrap();
        let td = TrustDir::new(t.path());
        std::fs::create_dir_all(td.private_dir()).unwrap();
        std::fs::write(td.key_path("ab12"), "k").unwrap();
        let to = retire_key_file(&td, "ab12").unwrap().unwrap();
        assert_eq!(to, retired_path(&td, "ab12"));
        assert!(!td.key_path("ab12").exists());
        assert_eq!(std::fs::read(&to).unwrap(), b"k");
        assert_eq!(retire_key_file(&td, "ab12").unwrap(), None);
    }
}
