//! Top-level roles: signatures, type, expiry, rollback, entries in the parent, order.

use super::*;
use crate::tuf::model::RoleKeys;

#[test]
fn accepts_a_consistent_repository() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let mut set = r.run(&m, TrustedState::default()).unwrap();
        assert_eq!(set.next_delegation().unwrap(), None, "{d}");
        let t = set.finish().unwrap();
        let all = RoleName::ALL.map(|role| (role, 1)).into_iter().collect();
        assert_eq!(t.verified.versions, all, "{d}");
        assert_eq!(t.state.versions, all, "{d}");
        assert!(t.verified.pinned_now, "{d}");
        assert_eq!(t.verified.root_key_ids, [r.roots[0].id.clone()], "{d}");
        assert_eq!(t.verified.roles.len(), 1, "{d}");
        assert_eq!(t.root.bytes, m.root.bytes, "{d}");
    }
}

#[test]
fn rejects_signatures_below_threshold() {
    for d in DIALECTS {
        let r = Repo::new(d);
        // Root asks for two timestamp keys; timestamp is signed by one.
        let second = Party::new(d, "timestamp 2");
        let mut rv = r.root_view(1, 0);
        rv.keys.insert(second.id.clone(), second.key.clone());
        let ts_keys = rv.roles.get_mut("timestamp").unwrap();
        ts_keys.keyids.push(second.id.clone());
        ts_keys.threshold = 2;
        let root = r.sign(RoleName::Root, &rv, &[&r.roots[0]]);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish(1, root, targets, vec![]);
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert!(
            matches!(&e, VerifyError::Threshold { role, valid: 1, needed: 2, .. } if role == "timestamp"),
            "{d}: {e}"
        );
        // Signed by both, it verifies.
        let ts = r.timestamp_view(1, &m.snapshot);
        let both = r.sign(RoleName::Timestamp, &ts, &[&r.timestamp, &second]);
        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        set.update_timestamp(bytes(&both)).unwrap();
    }
}

#[test]
fn counts_one_keys_signatures_once() {
    for d in DIALECTS {
        let r = Repo::new(d);
        // The timestamp key listed under a second ID (an extra field changes the ID, not the
        // key), threshold 2, and timestamp signed under both IDs by that one key.
        let mut again = r.timestamp.key.clone();
        again
            .keyval
            .extra
            .insert("note".into(), serde_json::json!("same key"));
        let again_id = d.key_id(&again);
        assert_ne!(again_id, r.timestamp.id);
        let mut rv = r.root_view(1, 0);
        rv.keys.insert(again_id.clone(), again);
        rv.roles.insert(
            "timestamp".into(),
            RoleKeys {
                keyids: vec![r.timestamp.id.clone(), again_id.clone()],
                threshold: 2,
                extra: Default::default(),
            },
        );
        let root = r.sign(RoleName::Root, &rv, &[&r.roots[0]]);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish(1, root, targets, vec![]);
        let ts = to_value(&r.timestamp_view(1, &m.snapshot));
        let k = &r.timestamp.signer as &dyn Signer;
        let twice = SignedMeta::sign(
            d,
            RoleName::Timestamp,
            ts,
            &[(r.timestamp.id.as_str(), k), (again_id.as_str(), k)],
        )
        .unwrap();
        assert_eq!(twice.signatures.len(), 2);
        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        let e = rejection(d, set.update_timestamp(bytes(&twice)));
        assert!(
            matches!(
                e,
                VerifyError::Threshold {
                    valid: 1,
                    needed: 2,
                    ..
                }
            ),
            "{d}: {e}"
        );
    }
}

#[test]
fn rejects_a_wrong_type() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let mut ts = r.timestamp_view(1, &m.snapshot);
        ts.common.type_ = d.type_name(RoleName::Snapshot).into();
        let wrong = r.sign(RoleName::Timestamp, &ts, &[&r.timestamp]);
        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        let e = rejection(d, set.update_timestamp(bytes(&wrong)));
        assert_eq!(
            e,
            VerifyError::WrongType {
                role: "timestamp".into(),
                actual: d.type_name(RoleName::Snapshot).into(),
                expected: d.type_name(RoleName::Timestamp),
            },
            "{d}"
        );
    }
}

/// Asserts that `e` is the expiry of `role` at `at`.
#[track_caller]
fn assert_expired(d: Dialect, e: VerifyError, role: &str, at: OffsetDateTime) {
    assert_eq!(
        e,
        VerifyError::Expired {
            role: role.into(),
            expires: d.format_time(at),
        },
        "{d}"
    );
}

#[test]
fn rejects_an_expired_root() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let past = r.now - Duration::days(1);
        let mut rv = r.root_view(1, 0);
        rv.common.expires = d.format_time(past);
        let root = r.sign(RoleName::Root, &rv, &[&r.roots[0]]);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish(1, root, targets, vec![]);
        // Trusted on first use, but not as the final root.
        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        assert_expired(d, rejection(d, set.close_root()), "root", past);
    }
}

#[test]
fn rejects_an_expired_timestamp() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let past = r.now - Duration::seconds(1);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish_with(
            1,
            r.root(1, 0, &[0]),
            targets,
            vec![],
            |_| {},
            |ts| ts.common.expires = d.format_time(past),
        );
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert_expired(d, e, "timestamp", past);
    }
}

#[test]
fn rejects_an_expired_snapshot() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let past = r.now - Duration::days(1);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish_with(
            1,
            r.root(1, 0, &[0]),
            targets,
            vec![],
            |sn| sn.common.expires = d.format_time(past),
            |_| {},
        );
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert_expired(d, e, "snapshot", past);
    }
}

#[test]
fn rejects_an_expired_targets() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let past = r.now - Duration::days(1);
        let mut tv = r.targets_view(1);
        tv.common.expires = d.format_time(past);
        let m = r.publish(1, r.root(1, 0, &[0]), r.targets(&tv), vec![]);
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert_expired(d, e, "targets", past);
    }
}

#[test]
fn rejects_a_rollback_of_root() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let e = rejection(d, r.run(&m, prior(&[(RoleName::Root, 2)])));
        assert_eq!(
            e,
            VerifyError::Rollback {
                role: "root".into(),
                trusted: 2,
                new: 1
            },
            "{d}"
        );
    }
}

#[test]
fn rejects_a_latest_root_older_than_the_trusted_one() {
    let d = Dialect::Notary;
    let r = Repo::new(d);
    let v2 = r.root(2, 1, &[0, 1]);
    let mut set = TrustedSet::new(&r.gun, &r.opts(), bytes(&v2), prior(&[])).unwrap();
    let e = rejection(d, set.latest_root(bytes(&r.root(1, 0, &[0]))));
    assert_eq!(
        e,
        VerifyError::Rollback {
            role: "root".into(),
            trusted: 2,
            new: 1
        }
    );
}

#[test]
fn rejects_a_rollback_of_timestamp() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let e = rejection(d, r.run(&r.meta(1), prior(&[(RoleName::Timestamp, 2)])));
        assert_eq!(
            e,
            VerifyError::Rollback {
                role: "timestamp".into(),
                trusted: 2,
                new: 1
            },
            "{d}"
        );
    }
}

/// In TUF 1.0 the version timestamp lists for snapshot is checked first (and snapshot must
/// be that version): a rolled-back snapshot is caught there.
#[test]
fn rejects_a_rollback_of_snapshot() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let e = rejection(d, r.run(&r.meta(1), prior(&[(RoleName::Snapshot, 2)])));
        let want = match d {
            Dialect::Notary => VerifyError::Rollback {
                role: "snapshot".into(),
                trusted: 2,
                new: 1,
            },
            Dialect::Tuf => VerifyError::ListedRollback {
                parent: "timestamp".into(),
                role: "snapshot".into(),
                listed: 1,
                trusted: 2,
            },
        };
        assert_eq!(e, want, "{d}");
    }
}

/// As for snapshot: TUF 1.0 catches it in the version snapshot lists for targets.
#[test]
fn rejects_a_rollback_of_targets() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let e = rejection(d, r.run(&r.meta(1), prior(&[(RoleName::Targets, 2)])));
        let want = match d {
            Dialect::Notary => VerifyError::Rollback {
                role: "targets".into(),
                trusted: 2,
                new: 1,
            },
            Dialect::Tuf => VerifyError::ListedRollback {
                parent: "snapshot".into(),
                role: "targets".into(),
                listed: 1,
                trusted: 2,
            },
        };
        assert_eq!(e, want, "{d}");
    }
}

#[test]
fn rejects_a_snapshot_not_matching_timestamps_version() {
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let targets = r.targets(&r.targets_view(1));
    let m = r.publish_with(
        1,
        r.root(1, 0, &[0]),
        targets,
        vec![],
        |_| {},
        |ts| ts.meta.get_mut("snapshot.json").unwrap().version = Some(2),
    );
    let e = rejection(d, r.run(&m, TrustedState::default()));
    assert_eq!(
        e,
        VerifyError::VersionMismatch {
            role: "snapshot".into(),
            actual: 1,
            listed: 2,
            parent: "timestamp".into(),
        }
    );
}

#[test]
fn rejects_a_snapshot_not_matching_timestamps_length() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let targets = r.targets(&r.targets_view(1));
        let name = d.meta_name(RoleName::Snapshot);
        let m = r.publish_with(
            1,
            r.root(1, 0, &[0]),
            targets,
            vec![],
            |_| {},
            |ts| {
                let e = ts.meta.get_mut(&name).unwrap();
                e.length = e.length.map(|l| l + 1);
            },
        );
        let e = rejection(d, r.run(&m, TrustedState::default()));
        let len = m.snapshot.length();
        assert_eq!(
            e,
            VerifyError::LengthMismatch {
                what: "snapshot".into(),
                parent: "timestamp".into(),
                actual: len,
                expected: len + 1,
            },
            "{d}"
        );
    }
}

#[test]
fn rejects_a_snapshot_not_matching_timestamps_hash() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let targets = r.targets(&r.targets_view(1));
        let name = d.meta_name(RoleName::Snapshot);
        let m = r.publish_with(
            1,
            r.root(1, 0, &[0]),
            targets,
            vec![],
            |_| {},
            |ts| {
                let e = ts.meta.get_mut(&name).unwrap();
                e.hashes
                    .as_mut()
                    .unwrap()
                    .insert("sha256", d.encode_hash(&[1; 32]));
            },
        );
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert_eq!(
            e,
            VerifyError::HashMismatch {
                what: "snapshot".into(),
                alg: "sha256".into(),
                parent: "timestamp".into(),
            },
            "{d}"
        );
    }
}

#[test]
fn rejects_targets_not_matching_snapshots_hash() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let targets = r.targets(&r.targets_view(1));
        let name = d.meta_name(RoleName::Targets);
        let m = r.publish_with(
            1,
            r.root(1, 0, &[0]),
            targets,
            vec![],
            |sn| {
                let e = sn.meta.get_mut(&name).unwrap();
                e.hashes
                    .as_mut()
                    .unwrap()
                    .insert("sha256", d.encode_hash(&[1; 32]));
            },
            |_| {},
        );
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert!(
            matches!(&e, VerifyError::HashMismatch { what, parent, .. } if what == "targets" && parent == "snapshot"),
            "{d}: {e}"
        );
    }
}

#[test]
fn rejects_a_snapshot_listing_another_root() {
    let d = Dialect::Notary;
    let r = Repo::new(d);
    let m = r.meta(1);
    // Another root of the same version and keys: not the root snapshot lists.
    let mut rv = r.root_view(1, 0);
    rv.extra
        .insert("note".into(), serde_json::json!("another root"));
    let other = Meta {
        root: r.sign(RoleName::Root, &rv, &[&r.roots[0]]),
        ..m
    };
    let e = rejection(d, r.run(&other, TrustedState::default()));
    assert!(
        matches!(&e, VerifyError::HashMismatch { what, parent, .. } | VerifyError::LengthMismatch { what, parent, .. } if what == "root" && parent == "snapshot"),
        "{e}"
    );
}

#[test]
fn forgets_timestamp_and_snapshot_versions_when_their_keys_rotate() {
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let seen = prior(&[(RoleName::Timestamp, 5), (RoleName::Snapshot, 5)]);
    // Same keys: timestamp 1 is a rollback.
    let v1 = r.root(1, 0, &[0]);
    let m = r.meta(1);
    let mut set = TrustedSet::new(&r.gun, &r.opts(), bytes(&v1), seen.clone()).unwrap();
    let e = rejection(d, set.update_timestamp(bytes(&m.timestamp)));
    assert!(matches!(e, VerifyError::Rollback { .. }), "{e}");
    // Root 2 gives timestamp a new key: the versions trusted before are forgotten (5.3.11).
    let new_ts = Party::new(d, "new timestamp");
    let mut rv = r.root_view(2, 0);
    rv.keys.remove(&r.timestamp.id);
    rv.keys.insert(new_ts.id.clone(), new_ts.key.clone());
    rv.roles.get_mut("timestamp").unwrap().keyids = vec![new_ts.id.clone()];
    let v2 = r.sign(RoleName::Root, &rv, &[&r.roots[0]]);
    let ts = r.sign(
        RoleName::Timestamp,
        &r.timestamp_view(1, &m.snapshot),
        &[&new_ts],
    );
    let mut set = TrustedSet::new(&r.gun, &r.opts(), bytes(&v1), seen).unwrap();
    set.update_root(bytes(&v2)).unwrap();
    set.update_timestamp(bytes(&ts)).unwrap();
    set.update_snapshot(bytes(&m.snapshot)).unwrap();
}

#[test]
fn rejects_calls_out_of_order() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let out_of_order = |e: VerifyError, want: &str| {
            assert!(
                matches!(e, VerifyError::OutOfOrder { call, .. } if call == want),
                "{d}: {want}: {e}"
            );
        };
        let set = r.first_use(&m, TrustedState::default()).unwrap();
        out_of_order(rejection(d, set.finish()), "finish");

        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        let e = rejection(d, set.update_snapshot(bytes(&m.snapshot)));
        out_of_order(e, "update_snapshot");
        let e = rejection(d, set.update_targets(bytes(&m.targets)));
        out_of_order(e, "update_targets");
        let e = rejection(d, set.next_delegation());
        out_of_order(e, "next_delegation");
        let e = rejection(
            d,
            set.update_delegated_targets("x", "targets", bytes(&m.targets)),
        );
        out_of_order(e, "update_delegated_targets");

        set.update_timestamp(bytes(&m.timestamp)).unwrap();
        let e = rejection(d, set.update_root(bytes(&r.root(2, 0, &[0]))));
        out_of_order(e, "update_root");
        let e = rejection(d, set.latest_root(bytes(&m.root)));
        out_of_order(e, "latest_root");
        let e = rejection(d, set.update_timestamp(bytes(&m.timestamp)));
        out_of_order(e, "update_timestamp");
        let e = rejection(d, set.update_targets(bytes(&m.targets)));
        out_of_order(e, "update_targets");

        set.update_snapshot(bytes(&m.snapshot)).unwrap();
        let e = rejection(d, set.update_snapshot(bytes(&m.snapshot)));
        out_of_order(e, "update_snapshot");
        set.update_targets(bytes(&m.targets)).unwrap();
        let e = rejection(d, set.update_targets(bytes(&m.targets)));
        out_of_order(e, "update_targets");
        set.finish().unwrap();
    }
}
