//! Delegated roles: paths, keys, versions, expiry, names, and what snapshot lists.

use super::*;
use crate::repo::client::NextRole;
use crate::tuf::DelegationProblem;

/// Runs `m` through targets and returns the set with the next role to fetch.
fn through_targets(r: &Repo, m: &Meta, prior: TrustedState) -> (TrustedSet, NextRole) {
    let mut set = r.run(m, prior).unwrap();
    let next = set.next_delegation().unwrap().expect("a delegated role");
    (set, next)
}

#[test]
fn rejects_a_delegated_target_outside_its_paths() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.delegating_meta(&["a/x", "b/y"]);
        let (mut set, next) = through_targets(&r, &m, TrustedState::default());
        assert_eq!(
            next,
            NextRole {
                role: r.role_name().into(),
                parent: "targets".into(),
                version: match d {
                    Dialect::Notary => None,
                    Dialect::Tuf => Some(1),
                },
                length: Some(m.delegated[0].length()),
                // As snapshot lists it (notary fetches the role by it).
                sha256: Some(hex::encode(m.delegated[0].sha256)),
            },
            "{d}"
        );
        let role = set
            .update_delegated_targets(&next.role, &next.parent, bytes(&m.delegated[0]))
            .unwrap();
        assert_eq!(role.targets.keys().collect::<Vec<_>>(), ["a/x"], "{d}");
        assert_eq!(set.next_delegation().unwrap(), None, "{d}");
        let t = set.finish().unwrap();
        let v = &t.verified;
        assert_eq!(v.rejected.len(), 1, "{d}");
        assert_eq!(v.rejected[0].target, "b/y", "{d}");
        assert!(
            v.rejected[0]
                .reason
                .contains("outside the paths delegated to"),
            "{d}: {}",
            v.rejected[0].reason
        );
        let (by, _) = v.trusted_target("a/x").unwrap();
        assert_eq!(by, r.role_name(), "{d}");
        assert!(
            matches!(v.trusted_target("b/y"), Err(VerifyError::TargetRejected { target, .. }) if target == "b/y"),
            "{d}"
        );
        assert!(
            matches!(
                v.trusted_target("c"),
                Err(VerifyError::UnknownTarget { .. })
            ),
            "{d}"
        );
        assert_eq!(t.state.delegations[r.role_name()], 1, "{d}");
    }
}

#[test]
fn rejects_a_delegated_role_below_threshold() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let tg = r.targets(&r.delegating_targets(1));
        // Signed by the targets key, not the delegate's.
        let role = r.delegated(1, &["a/x"], &r.targets);
        let m = r.publish(1, r.root(1, 0, &[0]), tg, vec![role]);
        let (mut set, next) = through_targets(&r, &m, TrustedState::default());
        let e = rejection(
            d,
            set.update_delegated_targets(&next.role, &next.parent, bytes(&m.delegated[0])),
        );
        assert!(
            matches!(&e, VerifyError::Threshold { role, keys_of, valid: 0, needed: 1, .. }
                if role == r.role_name() && keys_of == r.role_name()),
            "{d}: {e}"
        );
    }
}

#[test]
fn rejects_a_rollback_of_a_delegated_role() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.delegating_meta(&["a/x"]);
        let mut seen = prior(&[]);
        seen.delegations.insert(r.role_name().into(), 2);
        let (mut set, next) = through_targets(&r, &m, seen);
        let e = rejection(
            d,
            set.update_delegated_targets(&next.role, &next.parent, bytes(&m.delegated[0])),
        );
        assert_eq!(
            e,
            VerifyError::Rollback {
                role: r.role_name().into(),
                trusted: 2,
                new: 1
            },
            "{d}"
        );
    }
}

#[test]
fn rejects_an_expired_delegated_role() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let past = r.now - Duration::days(1);
        let mut view = r.delegated_view(1, &["a/x"]);
        view.common.expires = d.format_time(past);
        let role = r.sign_named(RoleName::Targets, r.role_name(), &view, &[&r.delegate]);
        let tg = r.targets(&r.delegating_targets(1));
        let m = r.publish(1, r.root(1, 0, &[0]), tg, vec![role]);
        let (mut set, next) = through_targets(&r, &m, TrustedState::default());
        let e = rejection(
            d,
            set.update_delegated_targets(&next.role, &next.parent, bytes(&m.delegated[0])),
        );
        assert_eq!(
            e,
            VerifyError::Expired {
                role: r.role_name().into(),
                expires: d.format_time(past),
            },
            "{d}"
        );
    }
}

#[test]
fn rejects_a_delegated_role_not_matching_snapshot() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.delegating_meta(&["a/x"]);
        // Another role of the same version: not the bytes snapshot lists.
        let other = r.delegated(1, &["a/x", "a/y"], &r.delegate);
        let (mut set, next) = through_targets(&r, &m, TrustedState::default());
        let e = rejection(
            d,
            set.update_delegated_targets(&next.role, &next.parent, bytes(&other)),
        );
        // Snapshot lists length and hashes here (in TUF 1.0 they are optional).
        assert!(
            matches!(&e, VerifyError::HashMismatch { what, .. } | VerifyError::LengthMismatch { what, .. } if what == r.role_name()),
            "{d}: {e}"
        );
    }
}

#[test]
fn rejects_a_role_its_parent_does_not_delegate() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.delegating_meta(&["a/x"]);
        let mut set = r.run(&m, TrustedState::default()).unwrap();
        let other = match d {
            Dialect::Notary => "targets/other",
            Dialect::Tuf => "other",
        };
        let e = rejection(
            d,
            set.update_delegated_targets(other, "targets", bytes(&m.delegated[0])),
        );
        assert_eq!(
            e,
            VerifyError::NotDelegated {
                parent: "targets".into(),
                role: other.into()
            },
            "{d}"
        );
        // A parent not trusted (yet) delegates nothing.
        let e = rejection(
            d,
            set.update_delegated_targets(r.role_name(), other, bytes(&m.delegated[0])),
        );
        assert!(matches!(e, VerifyError::OutOfOrder { .. }), "{d}: {e}");
    }
}

#[test]
fn rejects_a_delegated_role_snapshot_does_not_list() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let tg = r.targets(&r.delegating_targets(1));
        let m = r.publish(1, r.root(1, 0, &[0]), tg, vec![]);
        let mut set = r.run(&m, TrustedState::default()).unwrap();
        match d {
            // A delegation nobody signed yet: skipped.
            Dialect::Notary => {
                assert_eq!(set.next_delegation().unwrap(), None);
                set.finish().unwrap();
            }
            Dialect::Tuf => {
                let e = rejection(d, set.next_delegation());
                assert_eq!(
                    e,
                    VerifyError::DelegationNotListed {
                        role: r.role_name().into()
                    }
                );
            }
        }
    }
}

/// A TUF delegation whose file would be a root's (`2.root.json`) or another versioned file's
/// fails closed, named as such, before anything is fetched for it.
#[test]
fn rejects_a_delegation_named_like_a_versioned_file() {
    let d = Dialect::Tuf;
    for bad in ["2.root", "1.root", "3.targets", "Root"] {
        let r = Repo::new(d);
        let mut tv = r.delegating_targets(1);
        tv.delegations.as_mut().unwrap().roles[0].name = bad.into();
        let m = r.publish(1, r.root(1, 0, &[0]), r.targets(&tv), vec![]);
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert_eq!(
            e,
            VerifyError::BadDelegation {
                parent: "targets".into(),
                role: bad.into(),
                problem: DelegationProblem::SharesAFile,
            },
            "{bad}"
        );
    }
}

#[test]
fn rejects_an_invalid_delegation_name() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let mut tv = r.delegating_targets(1);
        let (bad, problem) = match d {
            Dialect::Notary => (
                "releases",
                DelegationProblem::NotValidUnder {
                    parent: "targets".into(),
                },
            ),
            Dialect::Tuf => ("snapshot", DelegationProblem::TopLevelName),
        };
        tv.delegations.as_mut().unwrap().roles[0].name = bad.into();
        let m = r.publish(1, r.root(1, 0, &[0]), r.targets(&tv), vec![]);
        let e = rejection(d, r.run(&m, TrustedState::default()));
        assert_eq!(
            e,
            VerifyError::BadDelegation {
                parent: "targets".into(),
                role: bad.into(),
                problem,
            },
            "{d}"
        );
    }
}

/// The updater checks roles ahead of their turn, side by side; a check made ahead for a role
/// the walk then takes from another parent counts for nothing. Here targets delegates to `a`
/// and then to `x` (with a key that never signed `x`), and `a` delegates to `x` (with the key
/// that signed it): the walk takes `x` from `a` first and passes over targets' delegation, so
/// the repository verifies, as it did when roles were checked one at a time.
#[test]
fn a_role_checked_ahead_under_another_parent_counts_for_nothing() {
    use super::hostile::laid;
    use crate::repo::client::{DirRemote, Updater};
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let (signer, stranger) = (Party::new(d, "x signer"), Party::new(d, "stranger"));
    let delegations = |roles: &[(&str, &Party)]| {
        Some(Delegations {
            keys: roles
                .iter()
                .map(|(_, p)| (p.id.clone(), p.key.clone()))
                .collect(),
            roles: roles
                .iter()
                .map(|(name, p)| DelegatedRole {
                    name: name.to_string(),
                    keyids: vec![p.id.clone()],
                    threshold: 1,
                    paths: Some(vec!["*".into()]),
                    path_hash_prefixes: None,
                    terminating: Some(false),
                    extra: Default::default(),
                })
                .collect(),
            extra: Default::default(),
        })
    };
    let top = crate::tuf::build::delegating_targets(
        d,
        1,
        r.expires(),
        BTreeMap::new(),
        delegations(&[("a", &r.delegate), ("x", &stranger)]),
    );
    let mut a = r.delegated_view(1, &[]);
    a.delegations = delegations(&[("x", &signer)]);
    let a = r.sign_named(RoleName::Targets, "a", &a, &[&r.delegate]);
    let x = r.delegated_view(1, &["x.txt"]);
    let x = r.sign_named(RoleName::Targets, "x", &x, &[&signer]);
    let m = r.publish(1, r.root(1, 0, &[0]), r.targets(&top), vec![a, x]);
    let l = laid(d, &m);
    let remote = DirRemote {
        dir: l.repo.clone(),
    };
    let v = Updater::new(&l.td, &r.gun, &remote, r.opts())
        .update()
        .unwrap();
    assert_eq!(v.target("x.txt").map(|(role, _)| role), Some("x"));
    let visited: Vec<&str> = v.roles.iter().map(|role| role.name.as_str()).collect();
    assert_eq!(visited, ["targets", "a", "x"]);
}
