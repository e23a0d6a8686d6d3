//! Hostile metadata: input that once made the client panic, or take time or memory out of
//! proportion. Where the failure was in the updater (its root walk), the updater is driven
//! over a temporary directory (`DirRemote`), the one place these tests touch the filesystem.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::repo::client::{DirRemote, Updater, Verified};
use crate::repo::trustdir::TrustDir;
use crate::tuf::RootPathError;

/// `m` laid out as a directory repository the updater reads: Notary `root.json` (and
/// `N.root.json` for each of `roots`), TUF 1.0 `N.root.json` for each of `roots`; then
/// timestamp, snapshot, targets and the delegated roles (no consistent snapshots).
fn lay_out(dir: &Path, d: Dialect, m: &Meta, roots: &[&SignedMeta]) {
    let write = |name: &str, meta: &SignedMeta| {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &*meta.bytes).unwrap();
    };
    if d == Dialect::Notary {
        write("root.json", &m.root);
    }
    for r in roots {
        write(&format!("{}.root.json", r.version().unwrap()), r);
    }
    write("timestamp.json", &m.timestamp);
    write("snapshot.json", &m.snapshot);
    write("targets.json", &m.targets);
    for role in &m.delegated {
        write(&format!("{}.json", role.name), role);
    }
}

/// One update of `r`'s GUN from `dir`, with the client state in `td`.
fn update(r: &Repo, td: &TrustDir, dir: &Path) -> Result<Verified> {
    let remote = DirRemote {
        dir: dir.to_path_buf(),
    };
    Updater::new(td, &r.gun, &remote, r.opts()).update()
}

/// A float inside a key object of root used to panic when its key ID was computed; it is
/// refused as malformed metadata (such a key has no canonical form, so no ID).
#[test]
fn a_float_in_a_root_key_is_refused() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let mut v: serde_json::Value = serde_json::from_slice(&m.root.bytes).unwrap();
        v["signed"]["keys"][&r.roots[0].id]["keyval"]["x"] = json!(1.5);
        let root = serde_json::to_vec(&v).unwrap();
        let e = rejection(
            d,
            TrustedSet::first_use(&r.gun, &r.opts(), root, TrustedState::default()),
        );
        assert!(
            e.to_string()
                .contains("a key holds a number that is not an integer"),
            "{d}: {e}"
        );
    }
}

/// A root at version u64::MAX used to overflow the root walk (TUF 1.0 asks for the next
/// version, Notary computes the versions to walk). It has no next version: the walk ends.
#[test]
fn a_root_at_the_last_version_ends_the_walk() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let root = r.root(u64::MAX, 0, &[0]);
        let targets = r.targets(&r.targets_view(1));
        let m = r.publish(1, root.clone(), targets, vec![]);
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        lay_out(&repo, d, &m, &[&root]);
        // TUF 1.0 starts from 1.root.json; here it is the one root there is.
        if d == Dialect::Tuf {
            std::fs::copy(
                repo.join(format!("{}.root.json", u64::MAX)),
                repo.join("1.root.json"),
            )
            .unwrap();
        }
        let td = TrustDir::new(t.path().join("trust"));
        for run in ["first use", "again"] {
            let v = update(&r, &td, &repo).unwrap_or_else(|e| panic!("{d} {run}: {e}"));
            assert_eq!(v.versions[&RoleName::Root], u64::MAX, "{d} {run}");
        }
        // Trusting the last version, no rotation can follow.
        let mut set =
            TrustedSet::first_use(&r.gun, &r.opts(), bytes(&root), TrustedState::default())
                .unwrap();
        let e = rejection(d, set.update_root(bytes(&r.root(1, 0, &[0]))));
        assert!(
            matches!(
                e,
                VerifyError::UntrustedRoot(RootPathError::NoNextVersion { .. })
            ),
            "{d}: {e:?}"
        );
    }
}

/// `view` as indented JSON (not canonical), signed over exactly those bytes by `by`: what a
/// client that checks the text as it stands would accept, and the `notary` client refuses.
fn signed_over_own_text<T: Serialize>(r: &Repo, view: &T, by: &Party) -> Vec<u8> {
    let text = serde_json::to_vec_pretty(&to_value(view)).unwrap();
    let sig =
        r.d.encode_signature(&by.id, &by.signer.sign(&text).unwrap());
    let mut out = b"{\"signed\":".to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(b",\"signatures\":");
    out.extend_from_slice(&serde_json::to_vec(&[sig]).unwrap());
    out.push(b'}');
    out
}

/// Signatures are over the canonical form: text that is not canonical is not what a key
/// signed, even when a signature over that very text is attached.
#[test]
fn a_signature_over_non_canonical_text_is_refused() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let ts = signed_over_own_text(&r, &r.timestamp_view(1, &m.snapshot), &r.timestamp);
        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        let e = rejection(d, set.update_timestamp(ts));
        assert!(
            matches!(&e, VerifyError::Threshold { role, valid: 0, needed: 1, .. } if role == "timestamp"),
            "{d}: {e}"
        );
        // The same timestamp, canonical, verifies.
        let mut set = r.first_use(&m, TrustedState::default()).unwrap();
        set.update_timestamp(bytes(&m.timestamp)).unwrap();
    }
}
