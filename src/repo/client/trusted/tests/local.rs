//! A client's stored metadata (the metadata directory of `download`): what the TUF
//! conformance suite checks of python-tuf's Updater, asserted on the trusted set itself.

use super::*;

/// A set at the final root of `m`, the stored timestamp (and snapshot) of `stored` given.
fn with_stored(r: &Repo, m: &Meta, stored: &Meta) -> TrustedSet {
    let mut set = r.first_use(m, TrustedState::default()).unwrap();
    set.close_root().unwrap();
    set.local_timestamp(bytes(&stored.timestamp)).unwrap();
    set
}

#[test]
fn a_timestamp_of_the_stored_version_keeps_the_stored_one() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let stored = r.meta(1);
        // The same version, other content (listing a snapshot that does not exist).
        let other = r.publish_with(
            1,
            r.root(1, 0, &[0]),
            r.targets(&r.targets_view(1)),
            vec![],
            |_| {},
            |ts| ts.common.expires = d.format_time(r.now + Duration::days(2)),
        );
        assert_ne!(other.timestamp.bytes, stored.timestamp.bytes);
        let mut set = with_stored(&r, &other, &stored);
        set.update_timestamp(bytes(&other.timestamp)).unwrap();
        assert!(set.kept_local_timestamp(), "{d}");
        // Snapshot is checked against the stored timestamp, not the fetched one.
        set.update_snapshot(bytes(&stored.snapshot)).unwrap();

        // A lower version than the stored one is a rollback.
        let newer = r.meta(3);
        let mut set = with_stored(&r, &newer, &newer);
        let e = rejection(d, set.update_timestamp(bytes(&r.meta(2).timestamp)));
        assert!(matches!(e, VerifyError::Rollback { .. }), "{d}: {e}");
    }
}

#[test]
fn a_stored_timestamp_by_other_keys_is_not_compared_with() {
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let high = r.meta(9);
    // Another repository's timestamp (other keys): not trusted, so no rollback from it.
    let other = Repo::new(d);
    let mut set = r.first_use(&r.meta(1), TrustedState::default()).unwrap();
    set.close_root().unwrap();
    assert!(set
        .local_timestamp(bytes(&other.meta(9).timestamp))
        .is_err());
    set.update_timestamp(bytes(&r.meta(1).timestamp)).unwrap();
    assert!(!set.kept_local_timestamp());
    // While the same repository's higher one is.
    let mut set = with_stored(&r, &r.meta(1), &high);
    let e = rejection(d, set.update_timestamp(bytes(&r.meta(1).timestamp)));
    assert!(matches!(e, VerifyError::Rollback { .. }), "{e}");
}

#[test]
fn a_new_snapshot_must_list_what_the_stored_one_lists() {
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let stored = r.delegating_meta(&["a/x"]);
    // Version 2 drops the delegated role from snapshot.
    let dropped = r.publish_with(
        2,
        r.root(1, 0, &[0]),
        r.targets(&r.delegating_targets(1)),
        vec![],
        |sn| {
            sn.meta.remove("releases.json");
        },
        |_| {},
    );
    let mut set = with_stored(&r, &dropped, &stored);
    set.update_timestamp(bytes(&dropped.timestamp)).unwrap();
    set.local_snapshot(bytes(&stored.snapshot)).unwrap();
    let e = rejection(d, set.update_snapshot(bytes(&dropped.snapshot)));
    assert!(matches!(e, VerifyError::Dropped { .. }), "{e}");

    // Or lists targets at a lower version.
    let newer = r.publish(2, r.root(1, 0, &[0]), r.targets(&r.targets_view(2)), vec![]);
    let lower = r.publish(3, r.root(1, 0, &[0]), r.targets(&r.targets_view(1)), vec![]);
    let mut set = with_stored(&r, &lower, &newer);
    set.update_timestamp(bytes(&lower.timestamp)).unwrap();
    set.local_snapshot(bytes(&newer.snapshot)).unwrap();
    let e = rejection(d, set.update_snapshot(bytes(&lower.snapshot)));
    assert!(matches!(e, VerifyError::ListedRollback { .. }), "{e}");
}

#[test]
fn a_delegated_role_is_checked_against_the_parent_it_is_reached_from() {
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let m = r.delegating_meta(&["a/x"]);
    let set = r.run(&m, TrustedState::default()).unwrap();
    let top = set.top_delegations().unwrap().clone();
    let role = bytes(&m.delegated[0]);
    let t = set
        .check_delegated("releases", "targets", &top, role.clone())
        .unwrap();
    assert!(t.targets.contains_key("a/x"));
    // The same file reached through a parent that delegates it to another key.
    let mut other = top.clone();
    let stranger = Party::new(d, "stranger");
    other.keys = BTreeMap::from([(stranger.id.clone(), stranger.key.clone())]);
    other.roles[0].keyids = vec![stranger.id.clone()];
    let e = rejection(
        d,
        set.check_delegated("releases", "other", &other, role.clone()),
    );
    assert!(matches!(e, VerifyError::Threshold { .. }), "{e}");
    // A parent that does not delegate it at all.
    let none = Delegations::default();
    let e = rejection(d, set.check_delegated("releases", "x", &none, role));
    assert!(matches!(e, VerifyError::NotDelegated { .. }), "{e}");
}
