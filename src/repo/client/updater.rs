//! The updater: everything of an update that is I/O. It loads the client's trusted state
//! (`TRUSTDIR/tuf/<gun>/client/`: `root.json` and `state.json`), fetches files from the
//! [`Remote`] in the order the [`TrustedSet`] takes them, and stores the new state once
//! everything verified. Where the two dialects' clients differ in what they fetch:
//!
//! - Notary: `root.json` first (no repository without it); on first use that root is pinned;
//!   later, `N.root.json` for every version between the trusted root and it (the last one may
//!   be `root.json` itself); then `timestamp.json`, `snapshot.json`, `targets.json`, and each
//!   delegated role as `<role>.json`.
//! - TUF 1.0 (section 5, as python-tuf's ngclient): on first use `1.root.json`; then
//!   `N+1.root.json` until the remote has none; `timestamp.json`; snapshot and targets as
//!   `V.snapshot.json`/`V.targets.json` with consistent snapshots (V the version the parent
//!   lists); delegated roles percent-encoded, likewise versioned.

use std::path::PathBuf;

use super::remote::{Remote, ROOT_MAX_LEN, TIMESTAMP_MAX_LEN, UNLISTED_MAX_LEN};
use super::trusted::TrustedSet;
use super::{TrustedState, Verified, VerifyOptions};
use crate::fsio::{self, Overwrite};
use crate::repo::layout;
use crate::repo::trustdir::{read_optional, Gun, RepoLock, TrustDir};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;
use crate::tuf::{RootPathError, VerifyError};
use crate::{Error, Result};

/// How many root versions one update may walk, in both dialects (python-tuf's
/// `max_root_rotations` is 256).
const MAX_ROOT_ROTATIONS: u64 = 256;

/// The most a fetch reads of a file: a fixed bound, or the length its parent lists.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Fixed(u64),
    Listed { len: u64, parent: RoleName },
}

/// Updates the client's trusted view of one repository from a remote.
pub struct Updater<'a> {
    gun: Gun,
    td: TrustDir,
    state_dir: PathBuf,
    remote: &'a dyn Remote,
    opts: VerifyOptions,
}

impl<'a> Updater<'a> {
    pub fn new(td: &TrustDir, gun: &Gun, remote: &'a dyn Remote, opts: VerifyOptions) -> Self {
        Updater {
            gun: gun.clone(),
            td: td.clone(),
            state_dir: td.client_dir(gun),
            remote,
            opts,
        }
    }

    /// Downloads and verifies root, timestamp, snapshot, targets and the delegated roles; on
    /// success the new state is trusted from then on. The client's state is locked from
    /// before it is read until the new one is stored: concurrent updates (two `verify`s) run
    /// one after the other, each starting from what the one before stored, so trusted
    /// versions never go down.
    pub fn update(&self) -> Result<Verified> {
        let (verified, pending) = self.verify()?;
        pending.store()?;
        Ok(verified)
    }

    /// As [`update`](Self::update), but the new state is stored only by
    /// [`PendingState::store`] (a publisher's, once its upload went through: a failed publish
    /// leaves the trust dir as it was); the client's state stays locked until then.
    pub fn verify(&self) -> Result<(Verified, PendingState)> {
        let lock = self.td.lock_client(&self.gun, |_| {})?;
        let mut set = match self.opts.dialect {
            Dialect::Notary => self.notary_root()?,
            Dialect::Tuf => self.tuf_root()?,
        };
        // Before timestamp is fetched: a root that fails is reported as such.
        set.close_root()?;
        let consistent = set.consistent_snapshot();
        let file = |set: &TrustedSet, role: RoleName| match self.opts.dialect {
            Dialect::Notary => by_checksum(role.as_str(), set.listed_sha256(role)),
            Dialect::Tuf => RemoteFile::plain(layout::role_file(
                role,
                set.listed_version(role),
                consistent,
            )),
        };
        let timestamp = self.fetch(
            RoleName::Timestamp,
            &file(&set, RoleName::Timestamp),
            Bound::Fixed(TIMESTAMP_MAX_LEN),
        )?;
        set.update_timestamp(timestamp)?;
        // Snapshot and targets are read up to the length their parent lists, if it lists one.
        let bound = |set: &TrustedSet, role, parent| match set.listed_length(role) {
            Some(len) => Bound::Listed { len, parent },
            None => Bound::Fixed(UNLISTED_MAX_LEN),
        };
        let snapshot = self.fetch(
            RoleName::Snapshot,
            &file(&set, RoleName::Snapshot),
            bound(&set, RoleName::Snapshot, RoleName::Timestamp),
        )?;
        set.update_snapshot(snapshot)?;
        let targets = self.fetch(
            RoleName::Targets,
            &file(&set, RoleName::Targets),
            bound(&set, RoleName::Targets, RoleName::Snapshot),
        )?;
        set.update_targets(targets)?;
        while let Some(next) = set.next_delegation()? {
            let file = match self.opts.dialect {
                Dialect::Notary => by_checksum(&next.role, next.sha256.clone()),
                Dialect::Tuf => RemoteFile::plain(layout::role_file_named(
                    &quote(&next.role),
                    next.version,
                    consistent,
                )),
            };
            let bound = match next.length {
                Some(len) => Bound::Listed {
                    len,
                    parent: RoleName::Snapshot,
                },
                None => Bound::Fixed(UNLISTED_MAX_LEN),
            };
            let bytes = self.fetch_named(&next.role, &file, bound)?;
            set.update_delegated_targets(&next.role, &next.parent, bytes)?;
        }
        let trusted = set.finish()?;
        let pending = PendingState {
            _lock: lock,
            state_dir: self.state_dir.clone(),
            root: trusted.root,
            state: trusted.state,
        };
        Ok((trusted.verified, pending))
    }

    /// Notary: `root.json`, pinned on first use; otherwise every version from the trusted
    /// root up to it.
    fn notary_root(&self) -> Result<TrustedSet> {
        let latest = self
            .get_root("root.json")?
            .ok_or_else(|| self.no_repository("root.json"))?;
        let (stored, prior) = self.load_state()?;
        let Some(stored) = stored else {
            return TrustedSet::first_use(&self.gun, &self.opts, latest, prior);
        };
        let mut set = TrustedSet::new(&self.gun, &self.opts, stored, prior)?;
        let versions = set.latest_root(latest.clone())?;
        if !versions.is_empty() && versions.end() - versions.start() >= MAX_ROOT_ROTATIONS {
            return Err(too_many_rotations());
        }
        let last = *versions.end();
        for n in versions {
            let name = format!("{n}.root.json");
            let bytes = match self.get_root(&name)? {
                Some(b) => b,
                None if n == last => latest.clone(),
                None => return Err(self.root_missing(name)),
            };
            set.update_root(bytes)?;
        }
        Ok(set)
    }

    /// TUF 1.0 (5.2, 5.3): the trusted root, or `1.root.json` on first use; then
    /// `N+1.root.json` until there is none.
    fn tuf_root(&self) -> Result<TrustedSet> {
        let (stored, prior) = self.load_state()?;
        let mut set = match stored {
            Some(root) => TrustedSet::new(&self.gun, &self.opts, root, prior)?,
            None => {
                let first = self
                    .get_root("1.root.json")?
                    .ok_or_else(|| self.no_repository("1.root.json"))?;
                TrustedSet::first_use(&self.gun, &self.opts, first, prior)?
            }
        };
        let mut rotations = 0;
        // The last version there can be (u64::MAX) has no next one.
        while let Some(next) = set.root_version().checked_add(1) {
            let Some(bytes) = self.get_root(&format!("{next}.root.json"))? else {
                break;
            };
            if rotations >= MAX_ROOT_ROTATIONS {
                return Err(too_many_rotations());
            }
            rotations += 1;
            set.update_root(bytes)?;
        }
        Ok(set)
    }

    /// A root version, within the bound for roots.
    fn get_root(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.remote.get(name, ROOT_MAX_LEN)
    }

    /// The file `name` of `role`, which must be there, within its bound.
    fn fetch(&self, role: RoleName, file: &RemoteFile, bound: Bound) -> Result<Vec<u8>> {
        self.fetch_named(role.as_str(), file, bound)
    }

    /// A file longer than the length its parent lists is that length's mismatch, as when it
    /// is read whole (with its length, where the remote knew it).
    fn fetch_named(&self, role: &str, file: &RemoteFile, bound: Bound) -> Result<Vec<u8>> {
        // A repository that serves no checksum names (a directory some other tool wrote):
        // the plain name, which a publish may replace between two reads.
        if let Some(pinned) = &file.pinned {
            if let Some(b) = self.get_bounded(role, pinned, bound)? {
                return Ok(b);
            }
        }
        let name = &file.plain;
        self.get_bounded(role, name, bound)?.ok_or_else(|| {
            Error::Verify(VerifyError::Missing {
                role: role.to_string(),
                file: name.to_string(),
                remote: self.remote.describe(),
            })
        })
    }

    fn get_bounded(&self, role: &str, name: &str, bound: Bound) -> Result<Option<Vec<u8>>> {
        match bound {
            Bound::Fixed(max) => self.remote.get(name, max),
            Bound::Listed { len, parent } => self.remote.get(name, len).map_err(|e| match e {
                Error::Verify(VerifyError::TooLarge { actual, .. }) => {
                    let (what, parent) = (role.to_string(), parent.to_string());
                    Error::Verify(match actual {
                        Some(actual) => VerifyError::LengthMismatch {
                            what,
                            parent,
                            actual,
                            expected: len,
                        },
                        None => VerifyError::LongerThanListed {
                            what,
                            parent,
                            expected: len,
                        },
                    })
                }
                other => other,
            }),
        }
    }

    fn no_repository(&self, first: &str) -> Error {
        Error::NotFound(format!(
            "no repository {} at {} ({first} not found)",
            self.gun,
            self.remote.describe()
        ))
    }

    fn root_missing(&self, file: String) -> Error {
        Error::Verify(VerifyError::UntrustedRoot(RootPathError::Missing {
            file,
            remote: self.remote.describe(),
        }))
    }

    /// The stored root (unparsed) and versions, if an earlier update stored them.
    fn load_state(&self) -> Result<(Option<Vec<u8>>, TrustedState)> {
        let root = read_optional(&self.state_dir.join("root.json"))?;
        let state = match read_optional(&self.state_dir.join("state.json"))? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::Metadata(format!("{}/state.json: {e}", self.state_dir.display()))
            })?,
            None => TrustedState::default(),
        };
        Ok((root, state))
    }
}

/// The name a role's file is fetched by: notary serves snapshot, targets and delegated roles
/// also under the sha256 their parent lists (`targets.<hex>.json`), a name no later publish
/// reuses, so an update that reads timestamp, snapshot and targets one after the other while
/// a publish lands gets the files that belong together. The plain name when there is none.
struct RemoteFile {
    pinned: Option<String>,
    plain: String,
}

impl RemoteFile {
    fn plain(plain: String) -> Self {
        RemoteFile {
            pinned: None,
            plain,
        }
    }
}

/// `<name>.<sha256 hex>.json`, else `<name>.json`.
fn by_checksum(name: &str, sha256: Option<String>) -> RemoteFile {
    RemoteFile {
        pinned: sha256.map(|h| format!("{name}.{h}.json")),
        plain: format!("{name}.json"),
    }
}

/// A verified state not stored yet, the client's state locked meanwhile (dropped: nothing is
/// stored).
#[derive(Debug)]
pub struct PendingState {
    _lock: RepoLock,
    state_dir: PathBuf,
    root: SignedMeta,
    state: TrustedState,
}

impl PendingState {
    /// Stores the versions, then the root: if the process stops in between, the next update
    /// starts from the older root (and walks up to this one again) with the newer versions,
    /// never from older versions.
    pub fn store(self) -> Result<()> {
        fsio::create_private_dir(&self.state_dir)?;
        let mut b = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| Error::Metadata(format!("the client's state: {e}")))?;
        b.push(b'\n');
        fsio::write_atomic(
            &self.state_dir.join("state.json"),
            &b,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )?;
        fsio::write_atomic(
            &self.state_dir.join("root.json"),
            &self.root.bytes,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )
    }
}

fn too_many_rotations() -> Error {
    Error::Verify(VerifyError::UntrustedRoot(
        RootPathError::TooManyRotations {
            max: MAX_ROOT_ROTATIONS,
        },
    ))
}

/// Python's `urllib.parse.quote(name, "")`: what python-tuf requests for a role name.
fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_python() {
        assert_eq!(quote("bins-000-003"), "bins-000-003");
        assert_eq!(quote("a/b c"), "a%2Fb%20c");
        assert_eq!(quote(".."), "..");
    }
}
