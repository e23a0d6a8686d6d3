//! The updater: everything of an update that is I/O. It loads the client's trusted state
//! (`TRUSTDIR/tuf/<gun>/client/<dialect>/`: `root.json` and `state.json`), fetches files from the
//! [`Remote`] in the order the [`TrustedSet`] takes them, and stores the new state once
//! everything verified. Where the two dialects' clients differ in what they fetch:
//!
//! - Notary: `root.json` first (no repository without it); on first use that root is pinned;
//!   later, `N.root.json` for every version between the trusted root and it (the last one may
//!   be `root.json` itself); then `timestamp.json`, and snapshot, targets and each delegated
//!   role by the checksum its parent lists (`<role>.<sha256>.json`, else `<role>.json`).
//! - TUF 1.0 (section 5, as python-tuf's ngclient): on first use `1.root.json`; then
//!   `N+1.root.json` until the remote has none; `timestamp.json`; snapshot and targets as
//!   `V.snapshot.json`/`V.targets.json` with consistent snapshots (V the version the parent
//!   lists); delegated roles percent-encoded, likewise versioned.

use std::collections::HashMap;
use std::path::PathBuf;

use super::remote::{Remote, ROOT_MAX_LEN, TIMESTAMP_MAX_LEN, UNLISTED_MAX_LEN};
use super::trusted::{CheckedRole, NextRole, TrustedSet};
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
    /// The root to trust on first use instead of the repository's (`--trusted-root FILE`).
    trusted_root: Option<Vec<u8>>,
}

impl<'a> Updater<'a> {
    pub fn new(td: &TrustDir, gun: &Gun, remote: &'a dyn Remote, opts: VerifyOptions) -> Self {
        Updater {
            gun: gun.clone(),
            td: td.clone(),
            state_dir: td.client_dir(gun, opts.dialect),
            remote,
            opts,
            trusted_root: None,
        }
    }

    /// On first use (no trusted state yet), start from `root`, given out of band, instead of
    /// trusting the repository's first root; it must be signed by its own root keys.
    pub fn with_trusted_root(mut self, root: Option<Vec<u8>>) -> Self {
        self.trusted_root = root;
        self
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
        // Roles are checked ahead of their turn, side by side on every core (a repository
        // of hashed bins has a thousand roles next to each other); the walk still takes
        // them one at a time, in order, and a role's failure counts only in its turn.
        let mut ahead: HashMap<(String, String), Result<CheckedRole>> = HashMap::new();
        while let Some(next) = set.next_delegation()? {
            let key = (next.role.clone(), next.parent.clone());
            let checked = match ahead.remove(&key) {
                Some(checked) => checked,
                None => {
                    // The role in turn is fetched here (its failure is the walk's); the others
                    // are fetched by the threads that check them.
                    let bytes = self.fetch_delegated(&next, consistent)?;
                    let mut batch = vec![(next, Some(bytes))];
                    for n in set.peek_delegations(CHECK_AHEAD) {
                        if !ahead.contains_key(&(n.role.clone(), n.parent.clone())) {
                            batch.push((n, None));
                        }
                    }
                    let fetch = |n: &NextRole| self.fetch_delegated(n, consistent);
                    let mut checked = check_all(&set, batch, &fetch).into_iter();
                    let first = checked.next().flatten().map(|(_, c)| c);
                    ahead.extend(checked.flatten().map(|(n, c)| ((n.role, n.parent), c)));
                    first.ok_or_else(|| {
                        Error::Metadata(format!("{}: the check did not run", key.0))
                    })?
                }
            };
            set.accept_delegated(checked?)?;
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
        let stored = match (stored, &self.trusted_root) {
            (Some(s), _) => s,
            (None, Some(given)) => {
                // Not a stored root: it is checked as one on first use, then walked up from.
                let set =
                    TrustedSet::first_use(&self.gun, &self.opts, given.clone(), prior.clone())?;
                return self.walk_notary(set, latest);
            }
            (None, None) => return TrustedSet::first_use(&self.gun, &self.opts, latest, prior),
        };
        let set = TrustedSet::new(&self.gun, &self.opts, stored, prior)?;
        self.walk_notary(set, latest)
    }

    /// Notary: every version from the trusted root up to `latest` (`root.json`).
    fn walk_notary(&self, mut set: TrustedSet, latest: Vec<u8>) -> Result<TrustedSet> {
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
        let mut set = match (stored, self.trusted_root.clone()) {
            (Some(root), _) => TrustedSet::new(&self.gun, &self.opts, root, prior)?,
            (None, Some(given)) => TrustedSet::first_use(&self.gun, &self.opts, given, prior)?,
            (None, None) => {
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

    /// A delegated role's file, within the length snapshot lists for it.
    fn fetch_delegated(&self, next: &NextRole, consistent: bool) -> Result<Vec<u8>> {
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
        self.fetch_named(&next.role, &file, bound)
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

    /// The stored root (unparsed) and versions, if an earlier update stored them: in this
    /// dialect's state directory, else in the one directory older trust dirs kept for either
    /// dialect, when the root stored there is of this dialect (the next store moves it).
    fn load_state(&self) -> Result<(Option<Vec<u8>>, TrustedState)> {
        let mut dir = self.state_dir.clone();
        let mut root = read_optional(&dir.join("root.json"))?;
        if root.is_none() {
            let legacy = self.td.legacy_client_dir(&self.gun);
            let old = read_optional(&legacy.join("root.json"))?;
            if old
                .as_deref()
                .is_some_and(|b| root_of(self.opts.dialect, b))
            {
                (dir, root) = (legacy, old);
            }
        }
        let state = match read_optional(&dir.join("state.json"))? {
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Metadata(format!("{}/state.json: {e}", dir.display())))?,
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

/// Whether `bytes` is root metadata of `dialect` (its `_type` says: `Root` or `root`).
fn root_of(dialect: Dialect, bytes: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Typed {
        signed: Type,
    }
    #[derive(serde::Deserialize)]
    struct Type {
        #[serde(rename = "_type")]
        type_: String,
    }
    serde_json::from_slice::<Typed>(bytes)
        .is_ok_and(|t| t.signed.type_ == dialect.type_name(RoleName::Root))
}

/// How many roles past the next one are fetched and checked ahead of their turn: enough to
/// keep every core busy, few enough that a walk ending early wasted little.
const CHECK_AHEAD: usize = 128;

/// Checks fetched roles on every core, each against the trusted set as it is; results in
/// the order given (`None` where a check could not run).
fn check_all(
    set: &TrustedSet,
    batch: Vec<(NextRole, Option<Vec<u8>>)>,
    fetch: &(dyn Fn(&NextRole) -> Result<Vec<u8>> + Sync),
) -> Vec<Option<(NextRole, Result<CheckedRole>)>> {
    let check = |(n, bytes): (NextRole, Option<Vec<u8>>)| {
        let bytes = match bytes {
            Some(b) => Ok(b),
            None => fetch(&n),
        };
        let c = bytes.and_then(|b| set.check_delegated_role(&n.role, &n.parent, b));
        (n, c)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out: Vec<Option<_>> = (0..batch.len()).map(|_| None).collect();
    // One queue all threads take from: a thread the machine holds back leaves its share to
    // the others, rather than making the whole batch wait for it.
    let queue = std::sync::Mutex::new(batch.into_iter().enumerate());
    let next = || {
        queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next()
    };
    let done: Vec<(usize, _)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.clamp(1, out.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    std::iter::from_fn(next)
                        .map(|(i, item)| (i, check(item)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for (i, r) in done {
        if let Some(slot) = out.get_mut(i) {
            *slot = Some(r);
        }
    }
    out
}

fn too_many_rotations() -> Error {
    Error::Verify(VerifyError::UntrustedRoot(
        RootPathError::TooManyRotations {
            max: MAX_ROOT_ROTATIONS,
        },
    ))
}

/// Python's `urllib.parse.quote(name, "")`: what python-tuf requests for a role name.
pub(super) fn quote(name: &str) -> String {
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
