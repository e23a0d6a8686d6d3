//! What only the TUF 1.0 client does (section 5): it checks the versions timestamp and
//! snapshot list against the trusted ones, and forgets the trusted timestamp and snapshot
//! versions when root rotates their keys.

use super::{fail, TrustedSet};
use crate::tuf::model::{MetaList, RoleName, Root};
use crate::tuf::VerifyError;
use crate::Result;

impl TrustedSet {
    /// TUF 1.0: `parent` must list a version of `role`, not lower than the trusted one.
    pub(super) fn no_listed_rollback(
        &self,
        parent: RoleName,
        view: &MetaList,
        role: RoleName,
    ) -> Result<()> {
        let name = self.dialect().meta_name(role);
        let listed = view
            .meta
            .get(&name)
            .ok_or_else(|| {
                fail(VerifyError::NotListed {
                    parent: parent.to_string(),
                    role: role.to_string(),
                })
            })?
            .version
            .ok_or_else(|| {
                fail(VerifyError::NoListedVersion {
                    parent: parent.to_string(),
                    name,
                })
            })?;
        match self.prior.versions.get(&role) {
            Some(&trusted) if listed < trusted => Err(fail(VerifyError::ListedRollback {
                parent: parent.to_string(),
                role: role.to_string(),
                listed,
                trusted,
            })),
            _ => Ok(()),
        }
    }

    /// 5.3.11: if the final root gives timestamp or snapshot other keys than the root this
    /// update started from, the trusted timestamp and snapshot versions are forgotten
    /// (recovery from a fast-forward attack).
    pub(super) fn forget_if_keys_rotated(&mut self) {
        let keys_of = |r: &Root, role| r.role(role).map(|k| k.keyids.clone());
        if [RoleName::Timestamp, RoleName::Snapshot]
            .into_iter()
            .any(|role| keys_of(&self.start, role) != keys_of(&self.root_view, role))
        {
            self.prior.versions.remove(&RoleName::Timestamp);
            self.prior.versions.remove(&RoleName::Snapshot);
        }
    }
}
