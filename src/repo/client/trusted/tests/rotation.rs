//! The root: first use, the pin, certificates, and rotation one version at a time.

use super::*;
use crate::tuf::RootPathError;

/// Asserts that `e` says the root does not chain, for the reason `want` matches.
#[track_caller]
fn assert_untrusted(d: Dialect, e: VerifyError, want: impl Fn(&RootPathError) -> bool) {
    match &e {
        VerifyError::UntrustedRoot(reason) if want(reason) => {}
        _ => panic!("{d}: unexpected {e:?}"),
    }
    assert!(
        e.to_string()
            .starts_with("could not validate the path to a trusted root: "),
        "{d}: {e}"
    );
}

#[test]
fn rotates_root_one_version_at_a_time() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let v3 = r.root(3, 2, &[1, 2]);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish(1, v3.clone(), targets, vec![]);
        let mut set =
            TrustedSet::first_use(&r.gun, &r.opts(), bytes(&r.root(1, 0, &[0])), prior(&[]))
                .unwrap();
        set.update_root(bytes(&r.root(2, 1, &[0, 1]))).unwrap();
        set.update_root(bytes(&v3)).unwrap();
        assert_eq!(set.root_version(), 3, "{d}");
        set.update_timestamp(bytes(&m.timestamp)).unwrap();
        set.update_snapshot(bytes(&m.snapshot)).unwrap();
        set.update_targets(bytes(&m.targets)).unwrap();
        let t = set.finish().unwrap();
        assert_eq!(t.verified.versions[&RoleName::Root], 3, "{d}");
        assert_eq!(t.verified.root_key_ids, [r.roots[2].id.clone()], "{d}");
        assert_eq!(t.root.bytes, v3.bytes, "{d}");
    }
}

#[test]
fn rejects_a_rotated_root_not_signed_by_the_trusted_keys() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let mut set = r.first_use(&r.meta(1), prior(&[])).unwrap();
        let e = rejection(d, set.update_root(bytes(&r.root(2, 1, &[1]))));
        assert_untrusted(d, e, |p| *p == RootPathError::NotSignedByTrusted);
        assert_eq!(set.root_version(), 1, "{d}");
    }
}

#[test]
fn rejects_a_rotated_root_not_signed_by_its_own_keys() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let mut set = r.first_use(&r.meta(1), prior(&[])).unwrap();
        let e = rejection(d, set.update_root(bytes(&r.root(2, 1, &[0]))));
        assert_untrusted(d, e, |p| {
            matches!(p, RootPathError::NotSelfSigned(e)
                if matches!(**e, VerifyError::Threshold { valid: 0, needed: 1, .. }))
        });
    }
}

#[test]
fn rejects_a_rotated_root_skipping_a_version() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let mut set = r.first_use(&r.meta(1), prior(&[])).unwrap();
        let e = rejection(d, set.update_root(bytes(&r.root(3, 0, &[0]))));
        assert_untrusted(d, e, |p| {
            *p == RootPathError::UnexpectedVersion {
                found: 3,
                expected: 2,
            }
        });
    }
}

#[test]
fn rejects_a_first_root_not_signed_by_its_own_keys() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let root = r.root(1, 0, &[1]);
        let e = rejection(
            d,
            TrustedSet::first_use(&r.gun, &r.opts(), bytes(&root), prior(&[])),
        );
        assert_untrusted(d, e, |p| matches!(p, RootPathError::NotSelfSigned(_)));
    }
}

#[test]
fn rejects_a_pinned_key_mismatch_on_first_use() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let root = r.root(1, 0, &[0]);
        let pinned = |pin: &str| VerifyOptions {
            root_key_id: Some(pin.to_string()),
            ..r.opts()
        };
        let e = rejection(
            d,
            TrustedSet::first_use(&r.gun, &pinned("abab"), bytes(&root), prior(&[])),
        );
        assert_untrusted(d, e, |p| {
            *p == RootPathError::PinMismatch { pin: "abab".into() }
        });
        // The ID root metadata lists, or the bare key's canonical ID, matches.
        let canonical = crate::tuf::keyid::canonical_key_id(r.roots[0].signer.public_key());
        for pin in [r.roots[0].id.as_str(), canonical.as_str()] {
            TrustedSet::first_use(&r.gun, &pinned(pin), bytes(&root), prior(&[])).unwrap();
        }
    }
}

#[test]
fn rejects_a_pinned_key_mismatch_after_rotation() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let opts = VerifyOptions {
            root_key_id: Some(r.roots[0].id.clone()),
            ..r.opts()
        };
        let v1 = r.root(1, 0, &[0]);
        let mut set = TrustedSet::first_use(&r.gun, &opts, bytes(&v1), prior(&[])).unwrap();
        set.update_root(bytes(&r.root(2, 1, &[0, 1]))).unwrap();
        let e = rejection(d, set.close_root());
        assert_untrusted(d, e, |p| matches!(p, RootPathError::PinMismatch { .. }));
    }
}

#[test]
fn rejects_a_root_certificate_for_another_gun() {
    let d = Dialect::Notary;
    let r = Repo::new(d);
    let other: Gun = "example.com/other".parse().unwrap();
    let root = r.root(1, 0, &[0]);
    let e = rejection(
        d,
        TrustedSet::first_use(&other, &r.opts(), bytes(&root), prior(&[])),
    );
    assert_untrusted(d, e, |p| {
        matches!(p, RootPathError::CertificateName { common_name, gun, .. }
            if common_name == "example.com/app" && gun == "example.com/other")
    });
}

#[test]
fn rejects_a_root_certificate_not_valid_now() {
    let d = Dialect::Notary;
    let r = Repo::new(d);
    let root = r.root(1, 0, &[0]);
    let later = VerifyOptions {
        now: r.now + Duration::days(3651),
        ..r.opts()
    };
    let e = rejection(
        d,
        TrustedSet::first_use(&r.gun, &later, bytes(&root), prior(&[])),
    );
    assert_untrusted(d, e, |p| {
        matches!(p, RootPathError::CertificateNotValidNow { .. })
    });
}

/// Notary: `root.json` must be reached by the walk of `N.root.json`, and chain from it.
#[test]
fn rejects_a_latest_root_not_chaining_from_the_walk() {
    let d = Dialect::Notary;
    let r = Repo::new(d);
    let v1 = r.root(1, 0, &[0]);
    let mut set = TrustedSet::new(&r.gun, &r.opts(), bytes(&v1), prior(&[])).unwrap();
    // root.json: version 2 with key 2; 2.root.json: version 2 with key 1.
    let latest = r.root(2, 2, &[0, 2]);
    let versions = set.latest_root(bytes(&latest)).unwrap();
    assert_eq!(versions, 2..=2);
    set.update_root(bytes(&r.root(2, 1, &[0, 1]))).unwrap();
    let e = rejection(d, set.close_root());
    assert_untrusted(d, e, |p| *p == RootPathError::NotSignedByTrusted);

    // The trusted root itself: nothing to walk.
    let mut set = TrustedSet::new(&r.gun, &r.opts(), bytes(&v1), prior(&[])).unwrap();
    assert!(set.latest_root(bytes(&v1)).unwrap().is_empty());
    set.close_root().unwrap();
}
