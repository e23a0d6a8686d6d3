//! `init`: new targets, snapshot and timestamp keys on disk, and root metadata signed by the
//! root key (on its token), with the root certificate the Notary dialect needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;

use crate::fsio::{self, Overwrite};
use crate::keys::file::{encrypt_pem, KeyMeta};
use crate::keys::store::write_key;
use crate::keys::{canonical_key_id, MemorySigner, Signer};
use crate::repo::ceremony::{
    propose, NewRootKeys, Outcome, Proposal, RequestOut, RootKeyEntry, RootSet,
};
use crate::repo::expiry::Expiries;
use crate::repo::trustdir::{Gun, RepoConfig, RetiredKey, ServerConfig, TrustDir, TufOptions};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{to_value, Key, RoleName};
use crate::tuf::request::Purpose;
use crate::tuf::signed::SignedMeta;
use crate::tuf::{build, cert};
use crate::{Error, Result};

/// The roles whose keys `init` creates on disk.
pub const DISK_ROLES: [RoleName; 3] = [RoleName::Targets, RoleName::Snapshot, RoleName::Timestamp];

#[derive(Debug, Serialize)]
pub struct InitKey {
    pub role: RoleName,
    pub key_id: String,
    /// The key file, or the root key's reference.
    pub location: String,
}

#[derive(Debug, Serialize)]
pub struct Initialized {
    pub gun: Gun,
    pub dialect: Dialect,
    /// The root key's canonical ID (as `root list` shows it).
    pub root_key_id: String,
    /// The root key's two IDs (canonical, and as root metadata lists it).
    pub root_key: crate::tuf::keyid::RootKeyIds,
    pub keys: Vec<InitKey>,
    pub root_version: u64,
    /// A threshold root: made the root now, or a request written for its key holders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceremony: Option<Outcome>,
    /// The key files this init wrote (none existed before), for the caller to remove again
    /// if a later step of its own fails.
    #[serde(skip)]
    pub written: Vec<PathBuf>,
}

/// Key files an init wrote, each new (written with [`Overwrite::Refuse`], so it did not exist
/// before): removed again when dropped, unless [`NewKeyFiles::keep`] was called first. A
/// failed init thus leaves `private/` as it found it, and never removes a key it did not make.
#[derive(Debug, Default)]
pub struct NewKeyFiles(Vec<PathBuf>);

impl NewKeyFiles {
    pub fn new(written: Vec<PathBuf>) -> Self {
        NewKeyFiles(written)
    }

    pub fn add(&mut self, path: PathBuf) {
        self.0.push(path);
    }

    /// The files written so far stay (a saved config names them); returns them.
    pub fn keep(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.0)
    }
}

/// Files about to be replaced, and what they held (`None`: they were not there); put back
/// as they were when dropped before [`ReplacedFiles::keep`].
#[derive(Default)]
struct ReplacedFiles(Vec<(PathBuf, Option<Vec<u8>>)>);

impl ReplacedFiles {
    fn note(&mut self, path: &Path) -> Result<()> {
        let before = match std::fs::read(path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        self.0.push((path.to_path_buf(), before));
        Ok(())
    }

    fn keep(&mut self) {
        self.0.clear();
    }
}

impl Drop for ReplacedFiles {
    fn drop(&mut self) {
        // Best effort, last replaced first: the step that failed is the error to report.
        for (path, before) in self.0.iter().rev() {
            let _ = match before {
                Some(b) => fsio::write_atomic(path, b, fsio::PUBLIC_FILE_MODE, Overwrite::Replace),
                None => std::fs::remove_file(path).map_err(|e| Error::io("removing", e)),
            };
        }
    }
}

impl Drop for NewKeyFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            // Best effort: the step that failed is the error to report.
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Fails if `gun` is already initialized in `td` (checked before any passphrase or PIN).
pub fn ensure_new(td: &TrustDir, gun: &Gun) -> Result<()> {
    let path = td.config_path(gun);
    if path.exists() {
        return Err(Error::Usage(format!(
            "{gun} is already initialized in {} ({})",
            td.root.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Where the key of a role (targets, snapshot, timestamp) comes from at `init`.
pub enum KeySource {
    /// A new key, written encrypted with this passphrase.
    New(SecretString),
    /// A key already in the trust dir (`private/<key id>.key`), e.g. one `notary` made.
    Existing {
        key_id: String,
        public: p256::PublicKey,
    },
    /// A key notary-server holds (it signs the role itself), as the server listed it.
    Server(Key),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::New(_) => f.write_str("New(..)"),
            KeySource::Existing { key_id, .. } => write!(f, "Existing({key_id})"),
            KeySource::Server(k) => write!(f, "Server({})", k.keytype),
        }
    }
}

impl KeySource {
    /// A new key for every role in `DISK_ROLES`, each with its passphrase.
    pub fn new_keys(
        passphrases: &BTreeMap<RoleName, SecretString>,
    ) -> Result<BTreeMap<RoleName, KeySource>> {
        DISK_ROLES
            .iter()
            .map(|role| {
                let pass = passphrases.get(role).ok_or_else(|| {
                    Error::Passphrase(format!("no passphrase for the {role} key"))
                })?;
                Ok((*role, KeySource::New(pass.clone())))
            })
            .collect()
    }
}

/// How a new root is signed.
pub enum RootSigning<'a> {
    /// One root key on its token (threshold 1), signed now; `reference` is remembered in the
    /// config.
    Token {
        reference: &'a str,
        signer: &'a dyn Signer,
    },
    /// A threshold root: signed by the tokens at hand, or made into a signing request.
    Threshold {
        keys: &'a NewRootKeys,
        out: RequestOut,
    },
}

/// What `init` signs: a new repository's root metadata and the keys it names.
pub struct NewRepo<'a> {
    pub gun: &'a Gun,
    pub dialect: Dialect,
    /// tuf dialect: consistent snapshots and meta hashes (default: neither).
    pub tuf: Option<TufOptions>,
    /// The root key(s), and how root is signed.
    pub root: RootSigning<'a>,
    /// Where each role's key comes from: targets, snapshot and timestamp must all be there.
    pub sources: &'a BTreeMap<RoleName, KeySource>,
    /// The notary-server, remembered in the config when given.
    pub server: Option<ServerConfig>,
    pub expiries: &'a Expiries,
    pub now: OffsetDateTime,
}

/// Creates the repository. The caller holds the GUN's lock and has collected the passphrases
/// before opening the root signer.
pub fn create(td: &TrustDir, repo: &NewRepo<'_>) -> Result<Initialized> {
    ensure_new(td, repo.gun)?;
    sign_root(td, repo, None)
}

/// `init --force`: re-creates an initialized repository under a new root (the old root is
/// lost), with the keys from `repo.sources` (`repo.gun` is `old`'s). The new root does not
/// chain to the old one; it takes the version after the old root's, so that clients which
/// trust the old root walk to it and fail with `could not validate the path to a trusted root`
/// (not with a rollback). The old keys are recorded as retired in the new config; the caller
/// moves their files to `private/retired/` afterwards ([`crate::repo::retire::retire_key_file`]).
/// Other versions carry on.
pub fn recreate(td: &TrustDir, old: &RepoConfig, repo: &NewRepo<'_>) -> Result<Initialized> {
    if repo.gun != &old.gun {
        return Err(Error::Usage(format!(
            "re-initializing {}: the old config is {}'s",
            repo.gun, old.gun
        )));
    }
    sign_root(td, repo, Some(old))
}

fn sign_root(td: &TrustDir, repo: &NewRepo<'_>, old: Option<&RepoConfig>) -> Result<Initialized> {
    let NewRepo {
        gun,
        dialect,
        tuf,
        ref root,
        sources,
        ref server,
        expiries,
        now,
    } = *repo;
    let root_version = old.map_or(1, |o| o.version(RoleName::Root) + 1);
    let tuf = match dialect {
        Dialect::Tuf => Some(tuf.unwrap_or_default()),
        Dialect::Notary if tuf.is_some() => {
            return Err(Error::Usage(
                "consistent snapshots and meta hashes are options of the tuf dialect".into(),
            ))
        }
        Dialect::Notary => None,
    };
    // Keys first, sealed in memory; nothing touches the disk until root is signed.
    let mut sealed = Vec::new();
    let mut keys: Vec<(RoleName, Key)> = Vec::new();
    let mut others: Vec<(RoleName, String, String)> = Vec::new();
    let mut existing_files: Vec<(RoleName, String, String)> = Vec::new();
    let mut server_roles = Vec::new();
    for role in DISK_ROLES {
        let source = sources
            .get(&role)
            .ok_or_else(|| Error::Metadata(format!("init: no source for the {role} key")))?;
        match source {
            KeySource::New(pass) => {
                let k = MemorySigner::generate(format!("{role} key of {gun}"));
                let meta = KeyMeta {
                    role: role.as_str().to_string(),
                    gun: gun.as_str().to_string(),
                };
                let pem = encrypt_pem(&k.secret_key(), pass, Some(&meta))?;
                let key = dialect.public_key(k.public_key());
                // Metadata names the key by the dialect's ID; its file by notary's canonical ID.
                sealed.push((
                    role,
                    dialect.key_id(&key),
                    canonical_key_id(k.public_key()),
                    pem,
                ));
                keys.push((role, key));
            }
            KeySource::Existing { key_id, public } => {
                let key = dialect.public_key(public);
                let path = td.key_path(key_id);
                existing_files.push((role, dialect.key_id(&key), key_id.clone()));
                others.push((role, dialect.key_id(&key), path.display().to_string()));
                keys.push((role, key));
            }
            KeySource::Server(key) => {
                let id = dialect.key_id(key);
                keys.push((role, key.clone()));
                let url = server.as_ref().map_or("the server", |s| s.url.as_str());
                others.push((role, id, format!("held by {url}")));
                server_roles.push(role);
            }
        }
    }

    let root_expires = now + expiries.get(RoleName::Root);
    // The root keys as root lists them, where each lives, and the threshold.
    let (root_keys, set) = match root {
        RootSigning::Token { reference, signer } => {
            let key = if dialect.root_has_certificate() {
                let der = cert::root_certificate(*signer, gun.as_str(), now, root_expires)?;
                dialect.root_key(&cert::to_pem(&der))
            } else {
                dialect.public_key(signer.public_key())
            };
            let entry = RootKeyEntry {
                key_id: dialect.key_id(&key),
                canonical_id: canonical_key_id(signer.public_key()),
                location: reference.to_string(),
            };
            let set = RootSet {
                threshold: 1,
                keys: vec![entry],
            };
            (vec![key], set)
        }
        RootSigning::Threshold { keys, .. } => (keys.keys.clone(), keys.set.clone()),
    };
    let first = set
        .keys
        .first()
        .cloned()
        .ok_or_else(|| Error::Usage("a root needs at least one key".into()))?;
    for key in root_keys.into_iter().rev() {
        keys.insert(0, (RoleName::Root, key));
    }
    let mut root_meta = build::root(dialect, root_version, root_expires, &keys);
    root_meta.consistent_snapshot = tuf.is_some_and(|t| t.consistent_snapshot);
    if let Some(r) = root_meta.roles.get_mut(RoleName::Root.as_str()) {
        r.threshold = set.threshold;
    }
    let signed = match root {
        RootSigning::Token { signer, .. } => Some(SignedMeta::sign(
            dialect,
            RoleName::Root,
            to_value(&root_meta),
            &[(first.key_id.as_str(), *signer)],
        )?),
        RootSigning::Threshold { .. } => None,
    };

    let mut out_keys: Vec<InitKey> = set
        .keys
        .iter()
        .map(|k| InitKey {
            role: RoleName::Root,
            key_id: k.canonical_id.clone(),
            location: k.location.clone(),
        })
        .collect();
    let mut key_ids = BTreeMap::from([(RoleName::Root, first.key_id.clone())]);
    let mut key_files = BTreeMap::new();
    let mut written = NewKeyFiles::default();
    for (role, id, file_id) in existing_files {
        if id != file_id {
            key_files.insert(role, file_id);
        }
    }
    for (role, id, file_id, pem) in &sealed {
        let path = write_key(&td.root, file_id, pem, Overwrite::Refuse)?;
        written.add(path.clone());
        key_ids.insert(*role, id.clone());
        if id != file_id {
            key_files.insert(*role, file_id.clone());
        }
        out_keys.push(InitKey {
            role: *role,
            key_id: id.clone(),
            location: path.display().to_string(),
        });
    }
    for (role, id, location) in others {
        key_ids.insert(role, id.clone());
        out_keys.push(InitKey {
            role,
            key_id: id,
            location,
        });
    }
    out_keys.sort_by_key(|k| k.role);
    let published = td.published_dir(gun);
    fsio::create_private_dir(&published)?;
    // A re-created repository's old published root comes back if a later step fails: a new
    // root beside the old config would leave neither repository usable.
    let mut replaced = ReplacedFiles::default();
    if let Some(signed) = &signed {
        for name in [format!("{root_version}.root.json"), "root.json".to_string()] {
            let path = published.join(name);
            if old.is_some() {
                replaced.note(&path)?;
            }
            fsio::write_atomic(
                &path,
                &signed.bytes,
                fsio::PUBLIC_FILE_MODE,
                Overwrite::Replace,
            )?;
        }
    }
    let mut versions = old.map(|o| o.versions.clone()).unwrap_or_default();
    if signed.is_some() {
        versions.insert(RoleName::Root, root_version);
    }
    let mut retired = old.map(|o| o.retired.clone()).unwrap_or_default();
    if let Some(o) = old {
        let at = dialect.format_time(now);
        retired.push(RetiredKey {
            role: RoleName::Root,
            key_id: o.root_key_id.clone(),
            location: o.root_key.clone(),
            root_version,
            retired_at: at.clone(),
        });
        for role in DISK_ROLES {
            if o.server_signs(role) {
                continue;
            }
            let Ok(id) = o.key_file_id(role) else {
                continue;
            };
            // A key kept by this init (an existing source) is not retired.
            if key_ids.get(&role).map(String::as_str) == Some(id)
                || key_files.get(&role).map(String::as_str) == Some(id)
            {
                continue;
            }
            retired.push(RetiredKey {
                role,
                key_id: id.to_string(),
                location: crate::repo::retire::retired_path(td, id)
                    .display()
                    .to_string(),
                root_version,
                retired_at: at.clone(),
            });
        }
    }
    let mut cfg = RepoConfig {
        gun: gun.clone(),
        dialect,
        root_key: first.location.clone(),
        root_key_id: first.canonical_id.clone(),
        key_ids,
        versions,
        server: server.clone(),
        server_roles,
        tuf,
        key_files,
        retired,
        delegations: Vec::new(),
        hashed_bins: None,
        root_set: (set.keys.len() > 1 || set.threshold > 1).then(|| set.clone()),
        pending_root: None,
    };
    td.save_config(&cfg)?;
    replaced.keep();
    let ceremony = match root {
        RootSigning::Token { .. } => None,
        RootSigning::Threshold { keys, out } => Some(propose(
            td,
            &mut cfg,
            Proposal {
                purpose: Purpose::Init,
                root: to_value(&root_meta),
                previous: None,
                signers: &keys.signers(),
                root_set: set.clone(),
                key_change: None,
                out: out.clone(),
            },
        )?),
    };
    Ok(Initialized {
        gun: gun.clone(),
        dialect,
        root_key: crate::repo::inventory::root_key_ids(&cfg),
        root_key_id: cfg.root_key_id,
        keys: out_keys,
        root_version,
        ceremony,
        written: written.keep(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `init --force` relies on when a step after the new root fails: the replaced root
    /// comes back byte for byte, and a root that was not there goes; kept, nothing moves.
    #[test]
    fn replaced_files_come_back_unless_kept() {
        let t = tempfile::tempdir().unwrap();
        let (old, new) = (t.path().join("root.json"), t.path().join("3.root.json"));
        std::fs::write(&old, b"old root").unwrap();
        {
            let mut r = ReplacedFiles::default();
            r.note(&old).unwrap();
            r.note(&new).unwrap();
            std::fs::write(&old, b"new root").unwrap();
            std::fs::write(&new, b"new root").unwrap();
        }
        assert_eq!(std::fs::read(&old).unwrap(), b"old root");
        assert!(!new.exists());
        {
            let mut r = ReplacedFiles::default();
            r.note(&old).unwrap();
            std::fs::write(&old, b"new root").unwrap();
            r.keep();
        }
        assert_eq!(std::fs::read(&old).unwrap(), b"new root");
    }
}
