//! Re-signing root metadata when a key changes (`key rotate`, `root rotate`), through the
//! `Dialect` seam only: the current root is read back, one role's keys are replaced, the
//! version goes up by one, and the result is signed by the current root key (and, for a new
//! root key, by the new one too, so clients that trust the old root follow the chain).
//!
//! Only root changes here. The publisher's copy (`published/<N>.root.json`, `root.json`) and
//! the config are updated; targets, snapshot and timestamp are signed with the new keys at the
//! next `publish`, which also copies every `<N>.root.json` into the repository. Until then the
//! repository keeps serving the old, consistent state.

use std::collections::BTreeSet;

use serde::Serialize;
use time::OffsetDateTime;

use super::expiry::Expiries;
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::fsio::{self, Overwrite};
use crate::keys::{canonical_key_id, Signer};
use crate::tuf::cert;
use crate::tuf::model::{to_value, Key, RoleName, Root};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::{Error, Result};

/// What changes in root metadata.
pub enum Change<'a> {
    /// `role` (targets, snapshot or timestamp) is signed by `key` from now on.
    RoleKey {
        role: RoleName,
        key: p256::PublicKey,
    },
    /// A new root key: `signer` (on its token), found again through `key_ref`.
    RootKey {
        signer: &'a dyn Signer,
        key_ref: String,
    },
}

impl Change<'_> {
    pub fn role(&self) -> RoleName {
        match self {
            Change::RoleKey { role, .. } => *role,
            Change::RootKey { .. } => RoleName::Root,
        }
    }
}

/// The outcome of a re-sign.
#[derive(Debug, Clone, Serialize)]
pub struct Resigned {
    pub gun: Gun,
    pub role: RoleName,
    /// The replaced key's canonical ID (the key file's name, or the root key's bare ID).
    pub old_key_id: String,
    pub new_key_id: String,
    /// Root metadata's ID of the new key (differs from `new_key_id` for a root certificate).
    pub new_tuf_key_id: String,
    pub root_version: u64,
    /// Canonical IDs of the root keys whose signatures the new root carries.
    pub signed_by: Vec<String>,
}

/// The root metadata the publisher last signed (`published/root.json`).
pub fn current_root(td: &TrustDir, gun: &Gun) -> Result<(SignedMeta, Root)> {
    let bytes = td.read_published(gun, "root.json")?.ok_or_else(|| {
        Error::NotFound(format!(
            "{gun}: the signed root metadata is missing from {}",
            td.published_dir(gun).display()
        ))
    })?;
    let signed = SignedMeta::parse(RoleName::Root, bytes).map_err(Error::Metadata)?;
    let root: Root = signed.view("published root").map_err(Error::Metadata)?;
    Ok((signed, root))
}

/// Checks that `root` is the root key `cfg` names (before anything is signed with it).
pub fn check_root_signer(cfg: &RepoConfig, root: &dyn Signer) -> Result<()> {
    let id = canonical_key_id(root.public_key());
    if id != cfg.root_key_id {
        return Err(Error::Usage(format!(
            "{} holds key ID {id}, but the root key of {} is {}; name the token that holds it \
             with --root URI",
            root.describe(),
            cfg.gun,
            cfg.root_key_id
        )));
    }
    Ok(())
}

/// Re-signs root with `change` applied: version + 1, expiry renewed, signed by `root` (the
/// current root key) and, for a new root key, by the new key as well. Writes
/// `published/<N+1>.root.json` and `published/root.json`, then the config. The caller holds
/// the GUN's lock.
pub fn resign(
    td: &TrustDir,
    cfg: &mut RepoConfig,
    root: &dyn Signer,
    change: Change<'_>,
    expiries: &Expiries,
    now: OffsetDateTime,
) -> Result<Resigned> {
    let d = cfg.dialect;
    let gun = cfg.gun.clone();
    check_root_signer(cfg, root)?;
    let (cur_signed, cur) = current_root(td, &gun)?;
    let old_root_id = cfg.key_id(RoleName::Root)?.to_string();
    let version = cur.common.version + 1;
    if cur.common.version != cfg.version(RoleName::Root) {
        return Err(Error::Metadata(format!(
            "{gun}: published root is version {}, but the config says {}; restore the trust \
             dir from a backup",
            cur.common.version,
            cfg.version(RoleName::Root)
        )));
    }
    let role = change.role();
    let expires = now + expiries.get(RoleName::Root);

    let (new_key, new_id_canonical): (Key, String) = match &change {
        Change::RoleKey { role, key } => {
            if *role == RoleName::Root {
                return Err(Error::Usage(
                    "the root key changes with `root rotate`".into(),
                ));
            }
            if cfg.server_signs(*role) {
                return Err(Error::Usage(format!(
                    "notary-server holds the {role} key of {gun}: rotate it on the server \
                     (`notary key rotate {gun} {role} -r`)"
                )));
            }
            (d.public_key(key), canonical_key_id(key))
        }
        Change::RootKey { signer, .. } => {
            let id = canonical_key_id(signer.public_key());
            if id == cfg.root_key_id {
                return Err(Error::Usage(format!(
                    "{} holds the current root key {id}; a new root key needs another token \
                     or another object label",
                    signer.describe()
                )));
            }
            let key = if d.root_has_certificate() {
                let der = cert::root_certificate(*signer, gun.as_str(), now, expires)?;
                d.root_key(&cert::to_pem(&der))
            } else {
                d.public_key(signer.public_key())
            };
            (key, id)
        }
    };
    let new_tuf_id = d.key_id(&new_key);

    // The next root: the current one with the role's keys replaced.
    let mut next = cur.clone();
    next.common.version = version;
    next.common.expires = d.format_time(expires);
    let entry = next
        .roles
        .get_mut(role.as_str())
        .ok_or_else(|| Error::Metadata(format!("{gun}: root has no {role} role")))?;
    let old_ids = std::mem::replace(&mut entry.keyids, vec![new_tuf_id.clone()]);
    entry.threshold = 1;
    let old_key_id = match &change {
        Change::RootKey { .. } => cfg.root_key_id.clone(),
        Change::RoleKey { .. } => cfg.key_file_id(role)?.to_string(),
    };
    // Keys no role lists any more leave `keys`.
    let still_used: BTreeSet<&String> = next.roles.values().flat_map(|r| &r.keyids).collect();
    let unused: Vec<String> = old_ids
        .into_iter()
        .filter(|id| !still_used.contains(id))
        .collect();
    for id in &unused {
        next.keys.remove(id);
    }
    next.keys.insert(new_tuf_id.clone(), new_key);

    let mut signers: Vec<(&str, &dyn Signer)> = vec![(old_root_id.as_str(), root)];
    let mut signed_by = vec![cfg.root_key_id.clone()];
    if let Change::RootKey { signer, .. } = &change {
        signers.push((new_tuf_id.as_str(), *signer));
        signed_by.push(new_id_canonical.clone());
    }
    let signed = SignedMeta::sign(d, RoleName::Root, to_value(&next), &signers)?;

    // What a client will check, checked before anything is written: the new root is signed by
    // the old root's keys and by its own.
    let prev_set = RoleKeySet::from_root(d, &cur, RoleName::Root)
        .map_err(|e| Error::Metadata(e.to_string()))?;
    verify::signatures(d, &signed, &prev_set)
        .map_err(|e| Error::Crypto(format!("the re-signed root does not chain: {e}")))?;
    let own_set = RoleKeySet::from_root(d, &next, RoleName::Root)
        .map_err(|e| Error::Metadata(e.to_string()))?;
    verify::signatures(d, &signed, &own_set)
        .map_err(|e| Error::Crypto(format!("the re-signed root is not self-signed: {e}")))?;
    drop(cur_signed);

    let published = td.published_dir(&gun);
    fsio::create_private_dir(&published)?;
    for name in [format!("{version}.root.json"), "root.json".to_string()] {
        fsio::write_atomic(
            &published.join(name),
            &signed.bytes,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )?;
    }
    match change {
        Change::RoleKey { role, .. } => {
            // Root metadata's ID (in the Notary dialect the same as the key file's canonical
            // ID). Where a dialect names keys differently, the file ID is `new_key_id`.
            cfg.key_ids.insert(role, new_tuf_id.clone());
            if new_tuf_id == new_id_canonical {
                cfg.key_files.remove(&role);
            } else {
                cfg.key_files.insert(role, new_id_canonical.clone());
            }
        }
        Change::RootKey { key_ref, .. } => {
            cfg.key_ids.insert(RoleName::Root, new_tuf_id.clone());
            cfg.root_key = key_ref;
            cfg.root_key_id = new_id_canonical.clone();
        }
    }
    cfg.versions.insert(RoleName::Root, version);
    td.save_config(cfg)?;
    Ok(Resigned {
        gun,
        role,
        old_key_id,
        new_key_id: new_id_canonical,
        new_tuf_key_id: new_tuf_id,
        root_version: version,
        signed_by,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::keys::MemorySigner;
    use crate::repo::init::{self, DISK_ROLES};
    use crate::tuf::dialect::Dialect;

    fn signed_by(m: &SignedMeta) -> Vec<String> {
        m.signatures.iter().map(|s| s.keyid.clone()).collect()
    }

    #[test]
    fn role_key_then_root_key() {
        let t = tempfile::tempdir().unwrap();
        let td = TrustDir::new(t.path());
        let gun: Gun = "example.com/app".parse().unwrap();
        let now = OffsetDateTime::now_utc();
        let exp = Expiries::new(&[], &[RoleName::Root]).unwrap();
        let root = MemorySigner::generate("root");
        let pass: BTreeMap<RoleName, secrecy::SecretString> = DISK_ROLES
            .iter()
            .map(|r| (*r, secrecy::SecretString::from("a passphrase")))
            .collect();
        let sources = init::KeySource::new_keys(&pass).unwrap();
        let repo = init::NewRepo {
            gun: &gun,
            dialect: Dialect::Notary,
            tuf: None,
            root: init::RootSigning::Token {
                reference: "pkcs11:token=a",
                signer: &root,
            },
            sources: &sources,
            server: None,
            expiries: &exp,
            now,
        };
        init::create(&td, &repo).unwrap();
        let mut cfg = td.load_config(&gun).unwrap();
        let (v1, v1_view) = current_root(&td, &gun).unwrap();
        let old_targets = cfg.key_id(RoleName::Targets).unwrap().to_string();

        // A wrong root key is refused before anything is signed.
        let other = MemorySigner::generate("other");
        let k = MemorySigner::generate("targets 2");
        let change = || Change::RoleKey {
            role: RoleName::Targets,
            key: *k.public_key(),
        };
        let e = resign(&td, &mut cfg, &other, change(), &exp, now).unwrap_err();
        assert!(e.to_string().contains("but the root key of"), "{e}");

        let r = resign(&td, &mut cfg, &root, change(), &exp, now).unwrap();
        assert_eq!(r.root_version, 2);
        assert_eq!(r.old_key_id, old_targets);
        let (v2, v2_view) = current_root(&td, &gun).unwrap();
        assert_eq!(v2_view.common.version, 2);
        assert_eq!(
            v2_view.role(RoleName::Targets).unwrap().keyids,
            std::slice::from_ref(&r.new_tuf_key_id)
        );
        assert!(!v2_view.keys.contains_key(&old_targets));
        assert_eq!(v2_view.keys.len(), v1_view.keys.len());
        assert_eq!(signed_by(&v2), [cfg.key_id(RoleName::Root).unwrap()]);
        assert_eq!(
            td.read_published(&gun, "2.root.json").unwrap().unwrap(),
            *v2.bytes
        );
        assert_eq!(cfg.key_id(RoleName::Targets).unwrap(), r.new_key_id);
        // Saved.
        assert_eq!(td.load_config(&gun).unwrap().version(RoleName::Root), 2);
        // `Root` cannot be changed as a role key.
        let e = resign(
            &td,
            &mut cfg,
            &root,
            Change::RoleKey {
                role: RoleName::Root,
                key: *k.public_key(),
            },
            &exp,
            now,
        )
        .unwrap_err();
        assert!(e.to_string().contains("root rotate"), "{e}");

        // A new root key: signed by the old root and the new one; v1's root keys accept it.
        let new_root = MemorySigner::generate("root 2");
        let old_tuf = cfg.key_id(RoleName::Root).unwrap().to_string();
        let r = resign(
            &td,
            &mut cfg,
            &root,
            Change::RootKey {
                signer: &new_root,
                key_ref: "pkcs11:token=b".into(),
            },
            &exp,
            now,
        )
        .unwrap();
        assert_eq!(r.root_version, 3);
        let (v3, v3_view) = current_root(&td, &gun).unwrap();
        assert_eq!(signed_by(&v3), [old_tuf.clone(), r.new_tuf_key_id.clone()]);
        assert!(!v3_view.keys.contains_key(&old_tuf));
        let d = Dialect::Notary;
        let v2_set = RoleKeySet::from_root(d, &v2_view, RoleName::Root).unwrap();
        verify::signatures(d, &v3, &v2_set).unwrap();
        let set = RoleKeySet::from_root(d, &v3_view, RoleName::Root).unwrap();
        let (_, pk) = set.keys.iter().next().unwrap();
        assert_eq!(pk.cert.as_ref().unwrap().common_name, gun.as_str());
        assert_eq!(cfg.root_key, "pkcs11:token=b");
        assert_eq!(cfg.root_key_id, canonical_key_id(new_root.public_key()));
        // v1 signed by the old root only does not verify under v3's keys.
        assert!(verify::signatures(d, &v1, &set).is_err());
        // The old root no longer signs for this repository.
        let e = resign(&td, &mut cfg, &root, change(), &exp, now).unwrap_err();
        assert!(e.to_string().contains("but the root key of"), "{e}");
    }
}
