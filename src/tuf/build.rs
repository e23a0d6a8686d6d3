//! Building the `signed` objects of the four roles, as the dialect spells them.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::dialect::{Dialect, MetaHashes};
use super::model::{
    Common, Delegations, FileMeta, Key, MetaFile, MetaList, RoleKeys, RoleName, Root, Targets,
};
use super::signed::SignedMeta;

fn common(dialect: Dialect, role: RoleName, version: u64, expires: OffsetDateTime) -> Common {
    Common {
        type_: dialect.type_name(role).to_string(),
        spec_version: dialect.spec_version().map(str::to_string),
        version,
        expires: dialect.format_time(expires),
    }
}

/// Root metadata: one key per role, threshold 1, no consistent snapshots.
/// `keys` gives the key of each role (the root's included).
pub fn root(
    dialect: Dialect,
    version: u64,
    expires: OffsetDateTime,
    keys: &[(RoleName, Key)],
) -> Root {
    let mut all = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for (role, key) in keys {
        let id = dialect.key_id(key);
        all.insert(id.clone(), key.clone());
        roles
            .entry(role.as_str().to_string())
            .or_insert_with(|| RoleKeys {
                keyids: vec![],
                threshold: 1,
                extra: Default::default(),
            })
            .keyids
            .push(id);
    }
    Root {
        common: common(dialect, RoleName::Root, version, expires),
        consistent_snapshot: false,
        keys: all,
        roles,
        extra: Default::default(),
    }
}

/// Targets metadata with no delegations (notary writes empty keys and roles, TUF 1.0 nothing).
pub fn targets(
    dialect: Dialect,
    version: u64,
    expires: OffsetDateTime,
    targets: BTreeMap<String, FileMeta>,
) -> Targets {
    delegating_targets(dialect, version, expires, targets, None)
}

/// Targets metadata (top-level or delegated) with these delegations; none is written as the
/// dialect writes an empty set.
pub fn delegating_targets(
    dialect: Dialect,
    version: u64,
    expires: OffsetDateTime,
    targets: BTreeMap<String, FileMeta>,
    delegations: Option<Delegations>,
) -> Targets {
    let delegations = match delegations {
        Some(d) if !d.roles.is_empty() => Some(d),
        _ => dialect.empty_delegations(),
    };
    Targets {
        common: common(dialect, RoleName::Targets, version, expires),
        targets,
        delegations,
        extra: Default::default(),
    }
}

/// Snapshot over targets (and root, in the Notary dialect).
pub fn snapshot(
    dialect: Dialect,
    version: u64,
    expires: OffsetDateTime,
    root: &SignedMeta,
    targets: &SignedMeta,
    hashes: MetaHashes,
) -> MetaList {
    let mut meta = BTreeMap::new();
    if dialect.snapshot_lists_root() {
        meta.insert(
            dialect.meta_name(RoleName::Root),
            dialect.meta_entry(root, hashes),
        );
    }
    meta.insert(
        dialect.meta_name(RoleName::Targets),
        dialect.meta_entry(targets, hashes),
    );
    MetaList {
        common: common(dialect, RoleName::Snapshot, version, expires),
        meta,
        extra: Default::default(),
    }
}

/// Snapshot with this `meta` (targets, delegated roles, and root in the Notary dialect).
pub fn snapshot_of(
    dialect: Dialect,
    version: u64,
    expires: OffsetDateTime,
    meta: BTreeMap<String, MetaFile>,
) -> MetaList {
    MetaList {
        common: common(dialect, RoleName::Snapshot, version, expires),
        meta,
        extra: Default::default(),
    }
}

/// Timestamp over snapshot.
pub fn timestamp(
    dialect: Dialect,
    version: u64,
    expires: OffsetDateTime,
    snapshot: &SignedMeta,
    hashes: MetaHashes,
) -> MetaList {
    let mut meta = BTreeMap::new();
    meta.insert(
        dialect.meta_name(RoleName::Snapshot),
        dialect.meta_entry(snapshot, hashes),
    );
    MetaList {
        common: common(dialect, RoleName::Timestamp, version, expires),
        meta,
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{MemorySigner, Signer};
    use crate::tuf::model::{to_value, view};
    use crate::tuf::verify;
    use serde_json::json;

    #[test]
    fn targets_snapshot_timestamp_chain() {
        let d = Dialect::Notary;
        let exp = OffsetDateTime::now_utc() + time::Duration::days(1);
        let [r, t, s, ts] =
            ["root", "targets", "snapshot", "timestamp"].map(MemorySigner::generate);
        let keys: Vec<(RoleName, Key)> = [
            (RoleName::Root, &r),
            (RoleName::Targets, &t),
            (RoleName::Snapshot, &s),
            (RoleName::Timestamp, &ts),
        ]
        .into_iter()
        .map(|(role, k)| (role, d.public_key(k.public_key())))
        .collect();
        let root = root(d, 1, exp, &keys);
        let rid = d.key_id(&keys[0].1);
        let root_m =
            SignedMeta::sign(d, RoleName::Root, to_value(&root), &[(rid.as_str(), &r)]).unwrap();
        let tid = crate::tuf::keyid::canonical_key_id(t.public_key());
        let tg = targets(d, 1, exp, BTreeMap::new());
        let tv = to_value(&tg);
        assert_eq!(tv["_type"], "Targets");
        assert_eq!(tv["delegations"], json!({"keys": {}, "roles": []}));
        let tm = SignedMeta::sign(d, RoleName::Targets, tv, &[(tid.as_str(), &t)]).unwrap();
        let snap = snapshot(d, 1, exp, &root_m, &tm, MetaHashes::Omit);
        let sv = to_value(&snap);
        assert_eq!(sv["meta"]["root"]["length"], root_m.bytes.len());
        // Verify targets with the keys root lists.
        let parsed: Root = root_m.view("root").unwrap();
        assert_eq!(parsed, root);
        let set = verify::RoleKeySet::from_root(d, &parsed, RoleName::Targets).unwrap();
        verify::signatures(d, &tm, &set).unwrap();
        // The snapshot key does not sign targets.
        let bad =
            SignedMeta::sign(d, RoleName::Targets, to_value(&tg), &[(tid.as_str(), &s)]).unwrap();
        let e = verify::signatures(d, &bad, &set).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("targets: valid signatures did not meet threshold"),
            "{e}"
        );
        let snap_parsed: MetaList = view(&sv, "snapshot").unwrap();
        verify::meta_matches(d, &tm, RoleName::Snapshot, &snap_parsed.meta).unwrap();
        let e = verify::meta_matches(d, &bad, RoleName::Snapshot, &snap_parsed.meta).unwrap_err();
        assert_eq!(
            e.to_string(),
            "targets: sha256 does not match the hash listed in snapshot"
        );
    }
}
