//! What only the Notary dialect's client does: it starts from `root.json` and walks the root
//! versions up to it, and checks that snapshot lists the trusted root.

use std::ops::RangeInclusive;

use super::{fail, malformed, out_of_order, Phase, TrustedSet};
use crate::tuf::model::{MetaList, RoleName, Root};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify;
use crate::tuf::VerifyError;
use crate::Result;

impl TrustedSet {
    /// Notary: the root the remote serves as `root.json`. It must not be older than the
    /// trusted root; unless it is the trusted root, the versions after the trusted one up to
    /// its version are returned, for [`update_root`](Self::update_root) to walk, and
    /// [`close_root`](Self::close_root) checks that the walk reached it.
    pub fn latest_root(&mut self, bytes: Vec<u8>) -> Result<RangeInclusive<u64>> {
        if self.phase != Phase::Root {
            return Err(out_of_order("latest_root", "the root is already final"));
        }
        let latest = SignedMeta::parse(RoleName::Root, bytes).map_err(malformed)?;
        let view: Root = latest.view("root").map_err(malformed)?;
        let (tn, ln) = (self.root_version(), view.common.version);
        if ln < tn {
            return Err(fail(VerifyError::Rollback {
                role: "root".into(),
                trusted: tn,
                new: ln,
            }));
        }
        if latest.bytes != self.root.bytes {
            self.latest = Some((latest, ln));
        }
        // The versions after the trusted one, up to the latest: none when they are the same
        // version (also at u64::MAX, which has no next version).
        Ok(match tn.checked_add(1) {
            Some(next) if next <= ln => next..=ln,
            _ => RangeInclusive::new(1, 0),
        })
    }

    /// Snapshot lists root in the Notary dialect: the root we trust must be that one.
    pub(super) fn snapshot_lists_trusted_root(&self, view: &MetaList) -> Result<()> {
        if view.meta.contains_key("root") {
            verify::meta_matches(self.dialect(), &self.root, RoleName::Snapshot, &view.meta)?;
        }
        Ok(())
    }
}
