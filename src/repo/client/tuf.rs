//! The client workflow of the TUF 1.0 specification (section 5, "Detailed client workflow"),
//! as python-tuf's ngclient follows it:
//!
//! 1. the trusted root: the stored one, or on first use `1.root.json`, which must be signed by
//!    its own root keys (and match `--root-keyid`);
//! 2. root rotation: `N+1.root.json` until the remote has none, each signed by the previous
//!    root's keys and its own, with exactly the next version; then the freeze check (expiry);
//! 3. `timestamp.json`: signatures, no rollback of its version or of the snapshot version it
//!    lists, expiry;
//! 4. snapshot (`N.snapshot.json` with consistent snapshots): length and hashes if timestamp
//!    lists them, the version timestamp lists, signatures, no rollback of the targets version
//!    it lists, expiry;
//! 5. targets (`N.targets.json` likewise): against snapshot's entry, signatures, expiry.
//!
//! Failures are the same one-line `Error::Verify` messages as in the Notary dialect.

use super::{fail, malformed, path_fail, path_invalid, Client, Verified};
use crate::repo::layout;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{MetaList, RoleName, Root};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::tuf::{RootPathError, VerifyError};
use crate::{Error, Result};

/// How many root versions one update may walk (python-tuf's `max_root_rotations` is 256).
const MAX_ROOT_ROTATIONS: u64 = 256;

impl Client<'_> {
    /// Downloads and verifies a TUF 1.0 repository; on success the new state is trusted.
    pub(super) fn update_tuf(&self) -> Result<Verified> {
        let d = Dialect::Tuf;
        let (trusted, mut state) = self.load_state()?;
        let pinned_now = trusted.is_none();

        // 5.2: the trusted root.
        let mut root = match trusted {
            Some(t) => t,
            None => {
                let bytes = self.remote.get("1.root.json")?.ok_or_else(|| {
                    Error::NotFound(format!(
                        "no repository {} at {} (1.root.json not found)",
                        self.gun,
                        self.remote.describe()
                    ))
                })?;
                let first = SignedMeta::parse(RoleName::Root, bytes).map_err(malformed)?;
                self.first_use(&first)?
            }
        };
        // 5.3: walk N+1.root.json until there is none.
        let start: Root = root.view("trusted root").map_err(malformed)?;
        let mut n = start.common.version;
        loop {
            let next_name = format!("{}.root.json", n + 1);
            let Some(bytes) = self.remote.get(&next_name)? else {
                break;
            };
            if n - start.common.version >= MAX_ROOT_ROTATIONS {
                return Err(path_fail(RootPathError::TooManyRotations {
                    max: MAX_ROOT_ROTATIONS,
                }));
            }
            let next = SignedMeta::parse(RoleName::Root, bytes)
                .map_err(|e| path_invalid(VerifyError::Malformed(e)))?;
            self.step(&root, &next, n + 1)?;
            root = next;
            n += 1;
        }
        let (root_view, root_set) = self.root_keys(&root)?;
        self.check_pin(&root_set)?;
        self.check_common(RoleName::Root, &root_view.common, &state)?;
        // 5.3.11: if the timestamp or snapshot keys were rotated, forget the trusted timestamp
        // and snapshot (recovery from a fast-forward attack).
        let keys_of = |r: &Root, role: RoleName| r.role(role).map(|k| k.keyids.clone());
        if [RoleName::Timestamp, RoleName::Snapshot]
            .into_iter()
            .any(|role| keys_of(&start, role) != keys_of(&root_view, role))
        {
            state.versions.remove(&RoleName::Timestamp);
            state.versions.remove(&RoleName::Snapshot);
        }
        let consistent = root_view.consistent_snapshot;
        let set = |role| RoleKeySet::from_root(d, &root_view, role).map_err(fail);

        // 5.4: timestamp.
        let ts = self.fetch_named(RoleName::Timestamp, &RoleName::Timestamp.file_name())?;
        verify::signatures(d, &ts, &set(RoleName::Timestamp)?).map_err(fail)?;
        let ts_view: MetaList = ts.view("timestamp").map_err(malformed)?;
        self.check_common(RoleName::Timestamp, &ts_view.common, &state)?;
        let snap_version = listed_version(d, &ts_view, RoleName::Timestamp, RoleName::Snapshot)?;
        no_rollback(
            RoleName::Timestamp,
            RoleName::Snapshot,
            snap_version,
            state.versions.get(&RoleName::Snapshot).copied(),
        )?;

        // 5.5: snapshot.
        let sn_name = layout::role_file(RoleName::Snapshot, Some(snap_version), consistent);
        let sn = self.fetch_named(RoleName::Snapshot, &sn_name)?;
        verify::meta_matches(d, &sn, RoleName::Timestamp, &ts_view.meta).map_err(fail)?;
        verify::signatures(d, &sn, &set(RoleName::Snapshot)?).map_err(fail)?;
        let sn_view: MetaList = sn.view("snapshot").map_err(malformed)?;
        self.check_common(RoleName::Snapshot, &sn_view.common, &state)?;
        let tg_version = listed_version(d, &sn_view, RoleName::Snapshot, RoleName::Targets)?;
        no_rollback(
            RoleName::Snapshot,
            RoleName::Targets,
            tg_version,
            state.versions.get(&RoleName::Targets).copied(),
        )?;

        // 5.6: targets.
        let tg_name = layout::role_file(RoleName::Targets, Some(tg_version), consistent);
        let tg_view = self.targets(&tg_name, &set(RoleName::Targets)?, &sn_view, &state)?;

        self.trust(
            &root,
            &root_view,
            [ts_view.common.version, sn_view.common.version],
            state,
            tg_view,
            &sn_view,
            pinned_now,
        )
    }

    fn fetch_named(&self, role: RoleName, name: &str) -> Result<SignedMeta> {
        Ok(self.fetch_with(role, name, |_| ())?.0)
    }
}

/// The version `parent` lists for `role` (required in TUF 1.0).
fn listed_version(d: Dialect, parent: &MetaList, pr: RoleName, role: RoleName) -> Result<u64> {
    let name = d.meta_name(role);
    parent
        .meta
        .get(&name)
        .ok_or_else(|| {
            fail(VerifyError::NotListed {
                parent: pr.to_string(),
                role: role.to_string(),
            })
        })?
        .version
        .ok_or_else(|| {
            fail(VerifyError::NoListedVersion {
                parent: pr.to_string(),
                name,
            })
        })
}

fn no_rollback(parent: RoleName, role: RoleName, listed: u64, trusted: Option<u64>) -> Result<()> {
    match trusted {
        Some(t) if listed < t => Err(fail(VerifyError::ListedRollback {
            parent: parent.to_string(),
            role: role.to_string(),
            listed,
            trusted: t,
        })),
        _ => Ok(()),
    }
}
