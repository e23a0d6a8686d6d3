//! The client as python-tuf's `Updater` has it: the trusted metadata kept in a metadata
//! directory under non-versioned names (`root.json`, `timestamp.json`, `snapshot.json`,
//! `targets.json`, `<quoted role>.json`), each file stored as it was received, once it
//! verified; a trusted root given as a file (or the stored one, or on first use the
//! repository's first); and targets looked up one at a time through the delegations.
//!
//! A refresh ([`CachedUpdater::refresh`]):
//!
//! 1. root: the starting root must be signed by its own root keys (no request is made before
//!    that); then each next root version (at most 256), each stored as it is trusted; the
//!    final root must not have expired;
//! 2. timestamp: always fetched (at most 16 KiB); not lower than the stored one, and the same
//!    version again keeps the stored one;
//! 3. snapshot and targets: the stored file is used when it is the version the parent now
//!    lists; otherwise fetched (`<V>.snapshot.json` with consistent snapshots; at most the
//!    length listed, else 2 MB / 5 MB as python-tuf) and checked against the stored one for
//!    rollback;
//!
//! then [`Refreshed::find`] looks a target up ([`Lookup`]), using or fetching each delegated
//! role it visits and checking it against the parent it was reached from.
//!
//! Each step goes through the [`TrustedSet`], which does no I/O; this file only fetches and
//! stores.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::remote::{DirRemote, Remote, ROOT_MAX_LEN, TIMESTAMP_MAX_LEN};
use super::trusted::{Lookup, Step, TrustedSet};
use super::updater::quote;
use super::VerifyOptions;
use crate::fsio::{self, Overwrite};
use crate::repo::layout;
use crate::repo::trustdir::Gun;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{Delegations, FileMeta, RoleName};
use crate::tuf::{RootPathError, VerifyError};
use crate::{Error, Result};

/// Largest snapshot fetched when timestamp lists no length (python-tuf's
/// `snapshot_max_length`).
pub const SNAPSHOT_MAX_LEN: u64 = 2_000_000;
/// Largest targets or delegated role fetched when snapshot lists no length (python-tuf's
/// `targets_max_length`).
pub const TARGETS_MAX_LEN: u64 = 5_000_000;
/// Most root versions one refresh walks (python-tuf's `max_root_rotations`).
pub const MAX_ROOT_ROTATIONS: u64 = 256;

/// Where the updater starts from, when its metadata directory holds no root yet.
#[derive(Debug, Clone)]
pub enum StartRoot {
    /// The stored root, else this one (`--trusted-root FILE`, given out of band).
    Given(Vec<u8>),
    /// The stored root, else none: refuse.
    Stored,
    /// The stored root, else the repository's first (`1.root.json`; notary `root.json`),
    /// trusted on first use (checked against the pin, if given).
    StoredOrFirstUse,
}

/// A client's view of one repository, kept in a metadata directory.
pub struct CachedUpdater<'a> {
    pub gun: Gun,
    /// The metadata directory.
    pub dir: PathBuf,
    pub remote: &'a dyn Remote,
    pub opts: VerifyOptions,
    pub start: StartRoot,
}

/// A refreshed client: the trusted set, ready to look targets up.
pub struct Refreshed<'a> {
    dialect: Dialect,
    dir: PathBuf,
    remote: &'a dyn Remote,
    set: TrustedSet,
    /// Delegated roles' files as read or fetched in this process (each fetched once).
    files: HashMap<String, Vec<u8>>,
    /// The delegations of each delegated role checked so far.
    delegations: HashMap<String, Option<Delegations>>,
    /// The targets each (role, parent) pair lists, once checked.
    checked: HashMap<(String, String), HashMap<String, FileMeta>>,
}

impl<'a> CachedUpdater<'a> {
    fn dialect(&self) -> Dialect {
        self.opts.dialect
    }

    /// Updates the top-level metadata (see the module docs); each file is stored as soon as it
    /// is trusted, so a failure part-way keeps what verified before it.
    pub fn refresh(self) -> Result<Refreshed<'a>> {
        let mut set = self.root()?;
        set.close_root()?;
        let d = self.dialect();
        let consistent = d == Dialect::Tuf && set.consistent_snapshot();
        if let Some(stored) = self.stored("timestamp.json")? {
            // Stored metadata that no longer verifies is not compared with (python-tuf).
            let _ = set.local_timestamp(stored);
        }
        let ts = self.fetch("timestamp", "timestamp.json", TIMESTAMP_MAX_LEN)?;
        set.update_timestamp(ts.clone())?;
        if !set.kept_local_timestamp() {
            self.store("timestamp.json", &ts)?;
        }
        let file = |set: &TrustedSet, role: RoleName| match d {
            Dialect::Notary => role.file_name(),
            Dialect::Tuf => layout::role_file(role, set.listed_version(role), consistent),
        };
        if !self.use_stored(&mut set, RoleName::Snapshot)? {
            let max = set
                .listed_length(RoleName::Snapshot)
                .unwrap_or(SNAPSHOT_MAX_LEN);
            let sn = self.fetch("snapshot", &file(&set, RoleName::Snapshot), max)?;
            set.update_snapshot(sn.clone())?;
            self.store("snapshot.json", &sn)?;
        }
        if !self.use_stored(&mut set, RoleName::Targets)? {
            let max = set
                .listed_length(RoleName::Targets)
                .unwrap_or(TARGETS_MAX_LEN);
            let tg = self.fetch("targets", &file(&set, RoleName::Targets), max)?;
            set.update_targets(tg.clone())?;
            self.store("targets.json", &tg)?;
        }
        Ok(Refreshed {
            dialect: d,
            dir: self.dir,
            remote: self.remote,
            set,
            files: HashMap::new(),
            delegations: HashMap::new(),
            checked: HashMap::new(),
        })
    }

    /// Whether the stored snapshot or targets is the one to trust now (the version its
    /// parent lists); a stored snapshot is kept for the rollback check either way.
    fn use_stored(&self, set: &mut TrustedSet, role: RoleName) -> Result<bool> {
        let Some(stored) = self.stored(&role.file_name())? else {
            return Ok(false);
        };
        Ok(match role {
            RoleName::Snapshot => {
                let _ = set.local_snapshot(stored.clone());
                set.update_snapshot(stored).is_ok()
            }
            _ => set.update_targets(stored).is_ok(),
        })
    }

    /// The trusted root after the walk up the root versions (each stored once trusted).
    fn root(&self) -> Result<TrustedSet> {
        let d = self.dialect();
        let first_name = match d {
            Dialect::Notary => "root.json",
            Dialect::Tuf => "1.root.json",
        };
        let (start, store) = match (self.stored("root.json")?, &self.start) {
            (Some(bytes), _) => (bytes, false),
            (None, StartRoot::Given(bytes)) => (bytes.clone(), true),
            (None, StartRoot::StoredOrFirstUse) => (
                self.remote
                    .get(first_name, ROOT_MAX_LEN)?
                    .ok_or_else(|| self.not_found(first_name))?,
                true,
            ),
            (None, _) => {
                return Err(Error::Usage(format!(
                    "{} holds no root.json: give the repository's root with --trusted-root FILE",
                    self.dir.display()
                )))
            }
        };
        let mut set = TrustedSet::first_use(&self.gun, &self.opts, start, Default::default())?;
        if store {
            self.store("root.json", set.root_bytes())?;
        }
        let mut rotations = 0;
        match d {
            Dialect::Tuf => {
                while let Some(next) = set.root_version().checked_add(1) {
                    let Some(bytes) = self
                        .remote
                        .get(&format!("{next}.root.json"), ROOT_MAX_LEN)?
                    else {
                        break;
                    };
                    rotations += 1;
                    if rotations > MAX_ROOT_ROTATIONS {
                        return Err(too_many_rotations());
                    }
                    set.update_root(bytes)?;
                    self.store("root.json", set.root_bytes())?;
                }
            }
            Dialect::Notary => {
                let latest = self
                    .remote
                    .get("root.json", ROOT_MAX_LEN)?
                    .ok_or_else(|| self.not_found("root.json"))?;
                let versions = set.latest_root(latest.clone())?;
                if !versions.is_empty() && versions.end() - versions.start() >= MAX_ROOT_ROTATIONS {
                    return Err(too_many_rotations());
                }
                let last = *versions.end();
                for n in versions {
                    let bytes = match self.remote.get(&format!("{n}.root.json"), ROOT_MAX_LEN)? {
                        Some(b) => b,
                        None if n == last => latest.clone(),
                        None => {
                            return Err(Error::Verify(VerifyError::UntrustedRoot(
                                RootPathError::Missing {
                                    file: format!("{n}.root.json"),
                                    remote: self.remote.describe(),
                                },
                            )))
                        }
                    };
                    set.update_root(bytes)?;
                    self.store("root.json", set.root_bytes())?;
                }
            }
        }
        Ok(set)
    }

    fn stored(&self, name: &str) -> Result<Option<Vec<u8>>> {
        stored(&self.dir, name)
    }

    fn store(&self, name: &str, bytes: &[u8]) -> Result<()> {
        store(&self.dir, name, bytes)
    }

    fn fetch(&self, role: &str, name: &str, max: u64) -> Result<Vec<u8>> {
        fetch(self.remote, role, name, max)
    }

    fn not_found(&self, first: &str) -> Error {
        Error::NotFound(format!(
            "no repository {} at {} ({first} not found)",
            self.gun,
            self.remote.describe()
        ))
    }
}

impl Refreshed<'_> {
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether target files are named `<hash>.<name>` (TUF 1.0 consistent snapshots).
    pub fn consistent_snapshot(&self) -> bool {
        self.dialect() == Dialect::Tuf && self.set.consistent_snapshot()
    }

    /// The role that provides `target`, and its entry: the first role that lists it on the
    /// lookup's walk; every role on the way is checked against the parent it was reached
    /// from.
    pub fn find(&mut self, target: &str) -> Result<(String, FileMeta)> {
        let d = self.dialect();
        let mut lookup = Lookup::new(target);
        loop {
            let (role, parent) = match lookup.next() {
                Step::Visit { role, parent } => (role, parent),
                Step::Done { cut_short } => {
                    return Err(Error::Verify(if cut_short {
                        VerifyError::TooManyRoles {
                            max: super::trusted::MAX_DELEGATIONS,
                        }
                    } else {
                        VerifyError::UnknownTarget {
                            target: target.to_string(),
                        }
                    }))
                }
            };
            if role == "targets" && parent == "root" {
                if let Some(m) = self.set.top_target(target) {
                    return Ok((role, m.clone()));
                }
                let dl = self.set.top_delegations().cloned();
                lookup.visited(d, &role, &parent, dl.as_ref());
                continue;
            }
            let Some(targets) = self.checked(&role, &parent)? else {
                // Notary: snapshot does not list it, nobody signed it yet.
                lookup.visited(d, &role, &parent, None);
                continue;
            };
            if let Some(m) = targets.get(target) {
                return Ok((role, m.clone()));
            }
            let dl = self.delegations.get(&role).cloned().flatten();
            lookup.visited(d, &role, &parent, dl.as_ref());
        }
    }

    /// The targets `role` lists, checked as `parent` delegates it (the parent was checked
    /// before on this lookup's walk). The stored file is used if it is the version snapshot
    /// lists; else the file is fetched, and stored once it is checked.
    fn checked(&mut self, role: &str, parent: &str) -> Result<Option<HashMap<String, FileMeta>>> {
        let key = (role.to_string(), parent.to_string());
        if let Some(t) = self.checked.get(&key) {
            return Ok(Some(t.clone()));
        }
        let parent_delegations = if parent == "targets" {
            self.set.top_delegations().cloned()
        } else {
            self.delegations.get(parent).cloned().flatten()
        };
        let dl = parent_delegations.unwrap_or_default();
        let Some((version, length)) = self.set.listed_delegated(role)? else {
            return Ok(None);
        };
        let d = self.dialect();
        let file = match d {
            Dialect::Notary => format!("{role}.json"),
            Dialect::Tuf => {
                layout::role_file_named(&quote(role), version, self.consistent_snapshot())
            }
        };
        let local = format!("{}.json", quote(role));
        let view = match self.files.get(role) {
            Some(bytes) => self.set.check_delegated(role, parent, &dl, bytes.clone())?,
            None => {
                let stored = stored(&self.dir, &local)?.and_then(|b| {
                    self.set
                        .check_delegated(role, parent, &dl, b.clone())
                        .ok()
                        .map(|v| (v, b))
                });
                match stored {
                    Some((view, bytes)) => {
                        self.files.insert(role.to_string(), bytes);
                        view
                    }
                    None => {
                        let max = length.unwrap_or(TARGETS_MAX_LEN);
                        let bytes = fetch(self.remote, role, &file, max)?;
                        let view = self.set.check_delegated(role, parent, &dl, bytes.clone())?;
                        store(&self.dir, &local, &bytes)?;
                        self.files.insert(role.to_string(), bytes);
                        view
                    }
                }
            }
        };
        let targets: HashMap<String, FileMeta> = view.targets.into_iter().collect();
        self.delegations.insert(role.to_string(), view.delegations);
        self.checked.insert(key, targets.clone());
        Ok(Some(targets))
    }
}

/// A file of the metadata directory, if there (read within the largest bound any role has).
fn stored(dir: &Path, name: &str) -> Result<Option<Vec<u8>>> {
    DirRemote {
        dir: dir.to_path_buf(),
    }
    .get(name, super::remote::UNLISTED_MAX_LEN)
}

/// Stores a trusted file in the metadata directory, as received, atomically.
fn store(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fsio::create_dir(dir)?;
    fsio::write_atomic(
        &dir.join(name),
        bytes,
        fsio::PUBLIC_FILE_MODE,
        Overwrite::Replace,
    )
}

/// A file the remote must have, within `max` bytes.
fn fetch(remote: &dyn Remote, role: &str, name: &str, max: u64) -> Result<Vec<u8>> {
    remote.get(name, max)?.ok_or_else(|| {
        Error::Verify(VerifyError::Missing {
            role: role.to_string(),
            file: name.to_string(),
            remote: remote.describe(),
        })
    })
}

fn too_many_rotations() -> Error {
    Error::Verify(VerifyError::UntrustedRoot(
        RootPathError::TooManyRotations {
            max: MAX_ROOT_ROTATIONS,
        },
    ))
}
