//! The verifying client, in two parts as python-tuf's ngclient: the [`TrustedSet`] checks
//! metadata given as bytes, in the order of the specification, with no I/O (`trusted.rs`,
//! `trusted/`), and the [`Updater`] fetches from a [`Remote`], keeps the client's trusted
//! state apart from the publisher's (`TRUSTDIR/tuf/<gun>/client/`), pins the root on first
//! use (or to `--root-keyid`) and feeds the trusted set (`updater.rs`). It checks everything
//! a Notary client checks; each failure is one line (`Error::Verify`, typed by
//! [`VerifyError`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::expiry::RoleExpiry;
use super::trustdir::Gun;
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::{KeyIdKind, RootKeyIds};
use crate::tuf::model::{FileMeta, RoleName};
use crate::tuf::verify;
use crate::tuf::VerifyError;
use crate::{Error, Result};

mod cached;
mod check;
mod download;
mod remote;
mod trusted;
mod updater;

pub use cached::{CachedUpdater, Refreshed, StartRoot};
pub use check::{check, list_targets, no_place, Check, ListedTarget, Place, WebAddress};
pub use download::{download, Downloaded, TargetDir};
pub use remote::{
    too_large, DirRemote, HttpRemote, Remote, ROOT_MAX_LEN, TIMESTAMP_MAX_LEN, UNLISTED_MAX_LEN,
};
pub use trusted::{NextRole, Trusted, TrustedSet};
pub use updater::{PendingState, Updater};

/// What the client trusts after a successful update.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustedState {
    pub versions: BTreeMap<RoleName, u64>,
    /// The versions of delegated roles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delegations: BTreeMap<String, u64>,
}

/// The result of a successful update.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub gun: Gun,
    pub versions: BTreeMap<RoleName, u64>,
    /// When root, snapshot and timestamp expire, as their metadata says (targets': in
    /// `roles`).
    pub expires: BTreeMap<RoleName, String>,
    /// The root key IDs the client now trusts (as listed in root metadata).
    pub root_key_ids: Vec<String>,
    /// The root keys the client now trusts, each with both its IDs.
    pub root_keys: Vec<RootKeyIds>,
    /// `--root-keyid`: the root key it named, and which of its IDs it was.
    pub pin_match: Option<PinMatch>,
    /// targets, then the delegated roles in the order they were visited, each with the
    /// targets it provides (a target is in one role only).
    pub roles: Vec<VerifiedRole>,
    /// Targets listed by a delegated role outside the paths delegated to it: not trusted.
    pub rejected: Vec<Rejected>,
    /// Whether this run pinned the root (first use).
    pub pinned_now: bool,
}

/// The root key `--root-keyid` matched, and which of its two IDs the pin was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinMatch {
    pub pin: String,
    pub matched: KeyIdKind,
    pub key: RootKeyIds,
}

/// A target a role lists but may not sign.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub role: String,
    pub target: String,
    pub reason: String,
}

/// A verified targets role and the targets it provides.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedRole {
    pub name: String,
    pub version: u64,
    /// When it expires, as its metadata says.
    pub expires: String,
    pub targets: BTreeMap<String, FileMeta>,
    /// The keys and threshold its parent delegates it to (`None` for targets).
    #[serde(skip)]
    pub delegated_to: Option<verify::RoleKeySet>,
}

impl Verified {
    /// A target and the role that provides it.
    pub fn target(&self, name: &str) -> Option<(&str, &FileMeta)> {
        self.roles
            .iter()
            .find_map(|r| r.targets.get(name).map(|m| (r.name.as_str(), m)))
    }

    /// A target the client trusts, and the role that provides it; a target a role lists
    /// outside its delegated paths is rejected, with the reason.
    pub fn trusted_target(&self, name: &str) -> Result<(&str, &FileMeta), VerifyError> {
        self.target(name)
            .ok_or_else(|| match self.rejected.iter().find(|r| r.target == name) {
                Some(r) => VerifyError::TargetRejected {
                    target: name.to_string(),
                    reason: r.reason.clone(),
                },
                None => VerifyError::UnknownTarget {
                    target: name.to_string(),
                },
            })
    }

    pub fn target_count(&self) -> usize {
        self.roles.iter().map(|r| r.targets.len()).sum()
    }

    /// When each role expires: root, targets, snapshot, timestamp, then the delegated roles
    /// in the order they were visited.
    pub fn expiries(&self, dialect: Dialect) -> Result<Vec<RoleExpiry>> {
        let top = |role: RoleName| self.expires.get(&role).map(|e| (role.to_string(), e));
        let delegated = self.roles.iter().map(|r| (r.name.clone(), &r.expires));
        let listed = top(RoleName::Root)
            .into_iter()
            .chain(self.roles.first().map(|r| (r.name.clone(), &r.expires)))
            .chain(top(RoleName::Snapshot))
            .chain(top(RoleName::Timestamp))
            .chain(delegated.skip(1));
        listed
            .map(|(role, e)| {
                let expires = dialect
                    .parse_time(e)
                    .map_err(|m| Error::Metadata(format!("{role}: {m}")))?;
                Ok(RoleExpiry { role, expires })
            })
            .collect()
    }

    /// The versions of the delegated roles.
    pub fn delegation_versions(&self) -> BTreeMap<String, u64> {
        self.roles
            .iter()
            .skip(1)
            .map(|r| (r.name.clone(), r.version))
            .collect()
    }
}

/// Options of one verification.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub dialect: Dialect,
    /// The root must have a key with this ID (root metadata's ID, or the bare key's ID);
    /// checked on first use and on every later run it is given.
    pub root_key_id: Option<String>,
    pub now: OffsetDateTime,
}

/// Checks a local file against a target's entry: length, sha256 and sha512 (one pass).
pub fn check_target_file(dialect: Dialect, v: &Verified, name: &str, file: &Path) -> Result<()> {
    let (role, meta) = v.trusted_target(name)?;
    let d = crate::repo::hashing::hash_file(file, &|_| {})
        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    verify::file_meta(
        dialect,
        &format!("target {name:?} ({})", file.display()),
        role,
        verify::Digests {
            length: d.length,
            sha256: &d.sha256,
            sha512: &d.sha512,
        },
        meta,
    )?;
    Ok(())
}
