//! What a client's metadata directory held (python-tuf's Updater keeps what it trusts in one,
//! under non-versioned names), checked before anything is fetched; the checks of what is
//! fetched then compare with it, as python-tuf's `TrustedMetadataSet` does:
//!
//! - timestamp: the stored one, signed by the final root's timestamp keys (expired or not), is
//!   what rollback is checked against: its version, and the snapshot version it lists. A
//!   fetched timestamp of the same version is no update: the stored one stays.
//! - snapshot: the stored one, signed by the final root's snapshot keys, is what a new
//!   snapshot must not roll back from: each file it lists must be listed again, at no lower
//!   version.
//! - Keys rotated by root (5.3.11) make stored metadata fail its signatures: it is then not
//!   compared with (the fast-forward recovery).
//!
//! Stored targets and delegated roles need no step of their own: they are used when they are
//! what snapshot lists, checked as fetched ones are ([`TrustedSet::update_targets`],
//! [`TrustedSet::check_delegated`]).

use std::collections::BTreeMap;

use super::{fail, malformed, out_of_order, Phase, TrustedSet};
use crate::tuf::model::{Delegations, FileMeta, MetaList, RoleName, Targets};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::tuf::VerifyError;
use crate::Result;

#[derive(Debug, Default)]
pub(super) struct Local {
    timestamp: Option<MetaList>,
    snapshot: Option<MetaList>,
    /// Whether the fetched timestamp had the stored one's version, and the stored one stayed.
    kept_timestamp: bool,
    /// Top-level targets' delegations, once it is trusted.
    pub(super) top_delegations: Option<Delegations>,
}

impl TrustedSet {
    /// The stored timestamp, checked against the final root (signatures, `_type`; not
    /// expiry): the versions a fetched timestamp must not roll back from.
    pub fn local_timestamp(&mut self, bytes: Vec<u8>) -> Result<()> {
        if self.phase != Phase::RootClosed {
            return Err(out_of_order(
                "local_timestamp",
                "it comes after the final root, before timestamp",
            ));
        }
        let d = self.dialect();
        let ts = SignedMeta::parse(RoleName::Timestamp, bytes).map_err(malformed)?;
        verify::signatures(d, &ts, &self.keys(RoleName::Timestamp)?)?;
        let view: MetaList = ts.view("timestamp").map_err(malformed)?;
        verify::type_name(d, RoleName::Timestamp, "timestamp", &view.common)?;
        let versions = &mut self.prior.versions;
        raise(versions, RoleName::Timestamp, Some(view.common.version));
        let listed = view.meta.get(&d.meta_name(RoleName::Snapshot));
        raise(versions, RoleName::Snapshot, listed.and_then(|m| m.version));
        self.local.timestamp = Some(view);
        Ok(())
    }

    /// A fetched timestamp of the stored one's version: the stored one stays (if it has not
    /// expired), and is returned.
    pub(super) fn same_timestamp_as_local(&mut self, new: &MetaList) -> Result<Option<MetaList>> {
        let Some(stored) = self
            .local
            .timestamp
            .as_ref()
            .filter(|t| t.common.version == new.common.version)
        else {
            return Ok(None);
        };
        verify::expiry(self.dialect(), "timestamp", &stored.common, self.opts.now)?;
        let stored = stored.clone();
        self.local.kept_timestamp = true;
        Ok(Some(stored))
    }

    /// Whether the timestamp trusted now is the stored one (the fetched one had its version):
    /// there is nothing new to store.
    pub fn kept_local_timestamp(&self) -> bool {
        self.local.kept_timestamp
    }

    /// The stored snapshot, checked against the final root (signatures, `_type`): what a new
    /// snapshot must not roll back from.
    pub fn local_snapshot(&mut self, bytes: Vec<u8>) -> Result<()> {
        if self.phase != Phase::Timestamp {
            return Err(out_of_order(
                "local_snapshot",
                "it comes after timestamp, before snapshot",
            ));
        }
        let d = self.dialect();
        let sn = SignedMeta::parse(RoleName::Snapshot, bytes).map_err(malformed)?;
        verify::signatures(d, &sn, &self.keys(RoleName::Snapshot)?)?;
        let view: MetaList = sn.view("snapshot").map_err(malformed)?;
        verify::type_name(d, RoleName::Snapshot, "snapshot", &view.common)?;
        self.local.snapshot = Some(view);
        Ok(())
    }

    /// A new snapshot lists every file the stored one lists, none at a lower version.
    pub(super) fn no_rollback_from_local_snapshot(&self, new: &MetaList) -> Result<()> {
        let Some(stored) = &self.local.snapshot else {
            return Ok(());
        };
        for (name, old) in &stored.meta {
            let Some(entry) = new.meta.get(name) else {
                return Err(fail(VerifyError::Dropped {
                    parent: "snapshot".into(),
                    name: name.clone(),
                }));
            };
            if let (Some(listed), Some(trusted)) = (entry.version, old.version) {
                if listed < trusted {
                    return Err(fail(VerifyError::ListedRollback {
                        parent: "snapshot".into(),
                        role: name.clone(),
                        listed,
                        trusted,
                    }));
                }
            }
        }
        Ok(())
    }

    /// The trusted root as its file (what a client stores as `root.json`).
    pub fn root_bytes(&self) -> &[u8] {
        &self.root.bytes
    }

    /// What snapshot lists for the delegated role `role`: (version, length). `None` when it
    /// lists nothing and the dialect allows that (notary: a delegation nobody signed yet).
    pub fn listed_delegated(&self, role: &str) -> Result<Option<(Option<u64>, Option<u64>)>> {
        Ok(self.snapshot_entry(role)?.map(|e| (e.version, e.length)))
    }

    /// Top-level targets' delegations (once targets is trusted).
    pub fn top_delegations(&self) -> Option<&Delegations> {
        self.local.top_delegations.as_ref()
    }

    /// The entry top-level targets lists for `target` (once targets is trusted).
    pub fn top_target(&self, target: &str) -> Option<&FileMeta> {
        self.walk.top_target(target)
    }

    /// A delegated role's metadata, `bytes`, checked as the role `parent` (trusted, whose
    /// delegations are `delegations`) delegates it: the delegation itself (name, keys), the
    /// role's entry in snapshot (version, and length and hashes where listed), signatures by
    /// a threshold of the delegated keys, `_type`, `spec_version` and expiry. Nothing is kept:
    /// a role reached from two parents is checked against each.
    pub fn check_delegated(
        &self,
        role: &str,
        parent: &str,
        delegations: &Delegations,
        bytes: Vec<u8>,
    ) -> Result<Targets> {
        if self.phase != Phase::Targets {
            return Err(out_of_order(
                "check_delegated",
                "targets is not trusted yet",
            ));
        }
        let d = self.dialect();
        let entry = delegations
            .roles
            .iter()
            .find(|r| r.name == role)
            .ok_or_else(|| {
                fail(VerifyError::NotDelegated {
                    parent: parent.to_string(),
                    role: role.to_string(),
                })
            })?;
        super::delegated::check_role_name(d, parent, entry)?;
        let keys = RoleKeySet::from_delegation(d, parent, &delegations.keys, entry)?;
        self.snapshot_entry(role)?;
        let m = SignedMeta::parse_named(RoleName::Targets, role, bytes).map_err(malformed)?;
        let empty = BTreeMap::new();
        let listed = self.snapshot.as_ref().map_or(&empty, |s| &s.meta);
        verify::meta_matches(d, &m, RoleName::Snapshot, listed)?;
        let t: Targets = verify::signatures_and_view(d, &m, &keys, role)??;
        verify::type_name(d, RoleName::Targets, role, &t.common)?;
        verify::spec_version(d, role, &t.common)?;
        verify::version(role, t.common.version, None)?;
        verify::expiry(d, role, &t.common, self.opts.now)?;
        Ok(t)
    }
}

/// `versions[role]` becomes `version` if that is higher.
fn raise(versions: &mut BTreeMap<RoleName, u64>, role: RoleName, version: Option<u64>) {
    if let Some(v) = version {
        let e = versions.entry(role).or_insert(v);
        *e = (*e).max(v);
    }
}
