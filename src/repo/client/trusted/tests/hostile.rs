//! Hostile metadata: input that once made the client panic, or take time or memory out of
//! proportion. Where the failure was in the updater (its root walk), the updater is driven
//! over a temporary directory (`DirRemote`), the one place these tests touch the filesystem.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::repo::client::trusted::delegated::MAX_DELEGATION_DEPTH;
use crate::repo::client::{
    DirRemote, Updater, Verified, ROOT_MAX_LEN, TIMESTAMP_MAX_LEN, UNLISTED_MAX_LEN,
};
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

/// A repository laid out in a temp dir, the client's trust dir beside it.
pub(super) struct Laid {
    _t: tempfile::TempDir,
    pub(super) repo: std::path::PathBuf,
    pub(super) td: TrustDir,
}

pub(super) fn laid(d: Dialect, m: &Meta) -> Laid {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    lay_out(&repo, d, m, &[&m.root]);
    let td = TrustDir::new(t.path().join("trust"));
    Laid { repo, td, _t: t }
}

/// Grows `file` to `len` bytes without writing them (a sparse file: no disk used).
fn grow(file: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The update's failure, which must come within ten seconds (a FIFO once blocked it forever;
/// the update runs on a thread of its own, left behind if it blocks).
fn update_fails(r: &Repo, l: &Laid) -> VerifyError {
    let (tx, rx) = std::sync::mpsc::channel();
    let (gun, opts, td, dir) = (r.gun.clone(), r.opts(), l.td.clone(), l.repo.clone());
    std::thread::spawn(move || {
        let remote = DirRemote { dir };
        let _ = tx.send(Updater::new(&td, &gun, &remote, opts).update());
    });
    let res = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{}: the update did not return", r.d));
    rejection(r.d, res)
}

#[track_caller]
fn assert_too_large(d: Dialect, e: &VerifyError, name: &str, bound: u64) {
    assert!(
        matches!(e, VerifyError::TooLarge { file, max, .. } if file == name && *max == bound),
        "{d}: {e:?}"
    );
}

/// A 1 GiB timestamp (the real one, padded) is refused by its size, unread.
#[test]
fn a_huge_timestamp_is_refused_by_its_size() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let l = laid(d, &r.meta(1));
        grow(&l.repo.join("timestamp.json"), 1 << 30);
        let e = update_fails(&r, &l);
        assert_too_large(d, &e, "timestamp.json", TIMESTAMP_MAX_LEN);
    }
}

/// Root versions are bounded too (python-tuf's 512,000 bytes).
#[test]
fn a_huge_root_is_refused_by_its_size() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let l = laid(d, &r.meta(1));
        let first = match d {
            Dialect::Notary => "root.json",
            Dialect::Tuf => "1.root.json",
        };
        grow(&l.repo.join(first), ROOT_MAX_LEN + 1);
        let e = update_fails(&r, &l);
        assert_too_large(d, &e, first, ROOT_MAX_LEN);
    }
}

/// Makes a file at a path.
type Make = dyn Fn(&Path);

/// A FIFO, a link to /dev/zero and a directory in the repository are refused without being
/// read (a FIFO once blocked the client; /dev/zero filled its memory).
#[test]
fn a_file_that_is_not_a_regular_file_is_refused() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.meta(1);
        let cases: [(&str, &Make); 3] = [
            ("fifo", &|p| {
                let ok = std::process::Command::new("mkfifo")
                    .arg(p)
                    .status()
                    .unwrap();
                assert!(ok.success());
            }),
            ("/dev/zero", &|p| {
                std::os::unix::fs::symlink("/dev/zero", p).unwrap()
            }),
            ("directory", &|p| std::fs::create_dir(p).unwrap()),
        ];
        for (what, make) in cases {
            let l = laid(d, &m);
            let ts = l.repo.join("timestamp.json");
            std::fs::remove_file(&ts).unwrap();
            make(&ts);
            let e = update_fails(&r, &l);
            assert!(
                matches!(&e, VerifyError::NotAFile { file, .. } if file == "timestamp.json"),
                "{d} {what}: {e:?}"
            );
        }
    }
}

/// A directory remote that records the bound each file was asked for with.
struct Recording {
    inner: DirRemote,
    asked: std::sync::Mutex<Vec<(String, u64)>>,
}

impl crate::repo::client::Remote for Recording {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        self.asked.lock().unwrap().push((name.to_string(), max_len));
        self.inner.get(name, max_len)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Every file is asked for with its bound: root and timestamp fixed, snapshot, targets and
/// delegated roles the length their parent lists (before, every read was unbounded); and a
/// role one byte longer than listed is refused, by the length the directory knows, unread.
#[test]
fn roles_are_read_up_to_their_listed_length() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let m = r.delegating_meta(&["a/x"]);
        let role_file = format!("{}.json", r.role_name());
        let listed = [
            ("snapshot.json", m.snapshot.length(), "timestamp"),
            ("targets.json", m.targets.length(), "snapshot"),
            (role_file.as_str(), m.delegated[0].length(), "snapshot"),
        ];
        let l = laid(d, &m);
        let remote = Recording {
            inner: DirRemote {
                dir: l.repo.clone(),
            },
            asked: Default::default(),
        };
        Updater::new(&l.td, &r.gun, &remote, r.opts())
            .update()
            .unwrap();
        let first_root = match d {
            Dialect::Notary => "root.json",
            Dialect::Tuf => "1.root.json",
        };
        let asked = remote.asked.into_inner().unwrap();
        let bound = |name: &str| asked.iter().find(|(n, _)| n == name).map(|(_, b)| *b);
        assert_eq!(bound(first_root), Some(ROOT_MAX_LEN), "{d}");
        assert_eq!(bound("timestamp.json"), Some(TIMESTAMP_MAX_LEN), "{d}");
        for (name, len, _) in listed {
            assert_eq!(bound(name), Some(len), "{d}: {name}");
        }
        for (name, len, parent) in listed {
            let l = laid(d, &m);
            // Padding after the envelope: still valid JSON, one byte longer.
            let mut b = std::fs::read(l.repo.join(name)).unwrap();
            b.push(b' ');
            std::fs::write(l.repo.join(name), b).unwrap();
            let e = update_fails(&r, &l);
            let what = name.trim_end_matches(".json");
            assert_eq!(
                e,
                VerifyError::LengthMismatch {
                    what: what.into(),
                    parent: parent.into(),
                    actual: len + 1,
                    expected: len
                },
                "{d}"
            );
        }
    }
}

/// Where snapshot lists no length (TUF 1.0's default: versions only), targets is read up to
/// the default bound.
#[test]
fn an_unlisted_length_is_bounded_by_the_default() {
    let d = Dialect::Tuf;
    let r = Repo::new(d);
    let targets = r.targets(&r.targets_view(1));
    let m = r.publish_with(
        1,
        r.root(1, 0, &[0]),
        targets,
        vec![],
        |s| {
            let e = s.meta.get_mut("targets.json").unwrap();
            (e.length, e.hashes) = (None, None);
        },
        |_| {},
    );
    let l = laid(d, &m);
    grow(&l.repo.join("targets.json"), UNLISTED_MAX_LEN + 1);
    let e = update_fails(&r, &l);
    assert_too_large(d, &e, "targets.json", UNLISTED_MAX_LEN);
}

/// Updates racing on one client, each against another version of the repository: the client
/// ends trusting the newest version any of them saw, and refuses an older one afterwards
/// (without the lock, the last update to store its state won, whichever version it saw).
#[test]
fn concurrent_updates_never_store_older_versions() {
    const NEWEST: u64 = 8;
    for d in DIALECTS {
        let r = Repo::new(d);
        let t = tempfile::tempdir().unwrap();
        let dirs: Vec<std::path::PathBuf> = (1..=NEWEST)
            .map(|v| {
                let dir = t.path().join(format!("v{v}"));
                let m = r.meta(v);
                lay_out(&dir, d, &m, &[&m.root]);
                dir
            })
            .collect();
        let td = TrustDir::new(t.path().join("trust"));
        let trusted = || -> TrustedState {
            let state = td.client_dir(&r.gun, r.d).join("state.json");
            serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap()
        };
        for round in 0..10 {
            std::thread::scope(|s| {
                for dir in dirs.iter().rev() {
                    s.spawn(|| update(&r, &td, dir));
                }
            });
            for role in [RoleName::Timestamp, RoleName::Snapshot, RoleName::Targets] {
                assert_eq!(
                    trusted().versions[&role],
                    NEWEST,
                    "{d} round {round}: {role}"
                );
            }
        }
        let e = rejection(d, update(&r, &td, &dirs[dirs.len() - 2]));
        assert!(
            matches!(
                e,
                VerifyError::Rollback {
                    trusted: NEWEST,
                    ..
                }
            ),
            "{d}: {e:?}"
        );
    }
}

/// A delegation from `parent` to `child` (TUF 1.0): the paths, and whether it terminates.
struct Edge<'a> {
    parent: &'a str,
    child: &'a str,
    paths: &'a [&'a str],
    terminating: bool,
}

/// A TUF 1.0 repository whose targets role delegates along `edges` (each delegated role
/// signed by the delegate key), each role listing the targets `lists` gives it.
fn tree(r: &Repo, edges: &[Edge<'_>], lists: &[(&str, Vec<String>)]) -> Meta {
    let listed = |role: &str| {
        lists
            .iter()
            .filter(|(n, _)| *n == role)
            .flat_map(|(_, t)| t.iter())
            .map(|t| (t.clone(), r.file_meta()))
            .collect::<BTreeMap<_, _>>()
    };
    let view = |role: &str, version: u64| {
        let roles: Vec<DelegatedRole> = edges
            .iter()
            .filter(|e| e.parent == role)
            .map(|e| DelegatedRole {
                name: e.child.into(),
                keyids: vec![r.delegate.id.clone()],
                threshold: 1,
                paths: Some(e.paths.iter().map(|p| p.to_string()).collect()),
                path_hash_prefixes: None,
                terminating: Some(e.terminating),
                extra: Default::default(),
            })
            .collect();
        let delegations = (!roles.is_empty()).then(|| Delegations {
            keys: BTreeMap::from([(r.delegate.id.clone(), r.delegate.key.clone())]),
            roles,
            extra: Default::default(),
        });
        build::delegating_targets(r.d, version, r.expires(), listed(role), delegations)
    };
    let targets = r.targets(&view("targets", 1));
    let delegated = edges
        .iter()
        .map(|e| {
            r.sign_named(
                RoleName::Targets,
                e.child,
                &view(e.child, 1),
                &[&r.delegate],
            )
        })
        .collect();
    r.publish(1, r.root(1, 0, &[0]), targets, delegated)
}

/// Feeds `m` through every delegated role the trusted set asks for.
fn walk(r: &Repo, m: &Meta) -> Result<Verified> {
    let mut set = r.run(m, TrustedState::default())?;
    while let Some(next) = set.next_delegation()? {
        let role = m
            .delegated
            .iter()
            .find(|x| x.name == next.role)
            .expect("a role the test made");
        set.update_delegated_targets(&next.role, &next.parent, bytes(role))?;
    }
    Ok(set.finish()?.verified)
}

/// A chain of `depth` terminating delegations (r1 -> r2 -> ...), each role listing one
/// target.
fn chain(r: &Repo, depth: usize) -> Meta {
    let names: Vec<String> = (1..=depth).map(|i| format!("r{i}")).collect();
    let edges: Vec<Edge<'_>> = (0..depth)
        .map(|i| Edge {
            parent: if i == 0 { "targets" } else { &names[i - 1] },
            child: &names[i],
            paths: &["*"],
            terminating: true,
        })
        .collect();
    let lists: Vec<(&str, Vec<String>)> = names
        .iter()
        .map(|n| (n.as_str(), vec![format!("t-{n}")]))
        .collect();
    tree(r, &edges, &lists)
}

/// A chain of terminating delegations 2,000 deep is refused once it passes 32 levels (what
/// python-tuf's search can reach), at once: the walk once took time and memory growing
/// with the square of the depth and more. 32 levels verify, every role's target trusted.
#[test]
fn a_delegation_chain_deeper_than_32_is_refused_at_once() {
    let r = Repo::new(Dialect::Tuf);
    let m = chain(&r, MAX_DELEGATION_DEPTH);
    let v = walk(&r, &m).unwrap();
    assert_eq!(v.roles.len(), MAX_DELEGATION_DEPTH + 1);
    assert_eq!(v.target_count(), MAX_DELEGATION_DEPTH);
    assert_eq!(v.target("t-r32").unwrap().0, "r32");

    let m = chain(&r, 2000);
    let start = std::time::Instant::now();
    let e = rejection(r.d, walk(&r, &m));
    assert_eq!(
        e,
        VerifyError::TooDeep {
            role: "r33".into(),
            max: MAX_DELEGATION_DEPTH
        }
    );
    // Generous for a debug build on a busy machine: the 32 roles it verifies take
    // milliseconds.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// Terminating delegations, as python-tuf searches: once a terminating role was searched,
/// the targets it covers come from it or its descendants only, not from roles after it;
/// targets it does not cover still come from later roles.
#[test]
fn a_terminating_delegation_hides_what_it_covers_from_later_roles() {
    let r = Repo::new(Dialect::Tuf);
    let e = |parent, child, paths, terminating| Edge {
        parent,
        child,
        paths,
        terminating,
    };
    let m = tree(
        &r,
        &[
            e("targets", "a", &["a/*"], true),
            e("a", "a-child", &["a/*"], false),
            e("targets", "b", &["a/*", "b/*"], false),
        ],
        &[
            ("a", vec!["a/1".into()]),
            ("a-child", vec!["a/2".into()]),
            ("b", vec!["a/3".into(), "b/1".into()]),
        ],
    );
    let v = walk(&r, &m).unwrap();
    let by = |t: &str| v.target(t).map(|(role, _)| role.to_string());
    assert_eq!(by("a/1").as_deref(), Some("a"));
    assert_eq!(by("a/2").as_deref(), Some("a-child"));
    assert_eq!(by("a/3"), None);
    assert_eq!(by("b/1").as_deref(), Some("b"));
}

/// `n` terminating delegations from targets, each with the pattern `pattern(i)` and listing
/// the target `target(i)`.
fn star(
    r: &Repo,
    n: usize,
    pattern: impl Fn(usize) -> String,
    target: impl Fn(usize) -> String,
) -> Meta {
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let patterns: Vec<[String; 1]> = (0..n).map(|i| [pattern(i)]).collect();
    let pattern_refs: Vec<[&str; 1]> = patterns.iter().map(|[p]| [p.as_str()]).collect();
    let edges: Vec<Edge<'_>> = (0..n)
        .map(|i| Edge {
            parent: "targets",
            child: &names[i],
            paths: &pattern_refs[i],
            terminating: true,
        })
        .collect();
    let lists: Vec<(&str, Vec<String>)> = (0..n)
        .map(|i| (names[i].as_str(), vec![target(i)]))
        .collect();
    tree(r, &edges, &lists)
}

/// Terminating delegations are searched through an index of their paths' literal prefixes:
/// 300 of them under distinct prefixes need no check. Patterns made to defeat the
/// index (`*x0`, `*x1`, ...) cost a check per earlier role for each target, and a walk over
/// its budget is refused rather than run for minutes.
#[test]
fn terminating_delegations_are_searched_within_a_budget() {
    let r = Repo::new(Dialect::Tuf);
    let n = 300;
    let indexed = star(&r, n, |i| format!("p{i}/*"), |i| format!("p{i}/t"));
    let run = |m: &Meta, budget: usize| -> Result<Verified> {
        let mut set = r.run(m, TrustedState::default())?;
        set.walk.set_check_budget(budget);
        while let Some(next) = set.next_delegation()? {
            let role = m.delegated.iter().find(|x| x.name == next.role).unwrap();
            set.update_delegated_targets(&next.role, &next.parent, bytes(role))?;
        }
        Ok(set.finish()?.verified)
    };
    // No earlier role's literal prefix (`p1/`) starts another role's target (`p10/t`): no
    // check at all.
    let v = run(&indexed, 0).unwrap();
    assert_eq!(v.target_count(), n);
    // Every earlier role is a candidate for every target: n * (n - 1) / 2 checks.
    let defeating = star(&r, n, |i| format!("*x{i}"), |i| format!("ax{i}"));
    let v = run(&defeating, n * (n - 1) / 2).unwrap();
    assert_eq!(v.target_count(), n);
    let e = rejection(r.d, run(&defeating, n * (n - 1) / 2 - 1));
    assert_eq!(
        e,
        VerifyError::TooManyChecks {
            max: n * (n - 1) / 2 - 1
        }
    );
}

/// A stored client root that cannot be read (damaged, or not root metadata) is trusted state
/// failing verification: exit 5 in both dialects (the Notary client once said 1, TUF 5),
/// with the hint to re-pin.
#[test]
fn an_unreadable_stored_root_fails_verification_in_both_dialects() {
    for d in DIALECTS {
        let r = Repo::new(d);
        let l = laid(d, &r.meta(1));
        update(&r, &l.td, &l.repo).unwrap();
        let stored = l.td.client_dir(&r.gun, d).join("root.json");
        for damage in [
            &b"not json"[..],
            br#"{"signed":{"_type":"root"},"signatures":[]}"#,
        ] {
            std::fs::write(&stored, damage).unwrap();
            let e = update(&r, &l.td, &l.repo).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::exit::VERIFY, "{d}: {e}");
            assert!(
                matches!(e, Error::Verify(VerifyError::UntrustedRoot(_))),
                "{d}: {e:?}"
            );
            assert!(e.to_string().contains("trusted state"), "{d}: {e}");
            assert!(e.hint().is_some_and(|h| h.contains("re-pin")), "{d}");
        }
    }
}

/// An expiry whose UTC time lies outside years 0 to 9999 (`0000-01-01T00:00:00+01:00` is
/// December of year -1 in UTC) used to panic when the expiry was shown: it is shown as it
/// was written.
#[test]
fn an_expiry_outside_the_years_rfc_3339_can_write_is_reported() {
    let d = Dialect::Notary;
    let r = Repo::new(d);
    let m = r.meta(1);
    let mut ts = r.timestamp_view(1, &m.snapshot);
    ts.common.expires = "0000-01-01T00:00:00+01:00".into();
    let ts = r.sign(RoleName::Timestamp, &ts, &[&r.timestamp]);
    let mut set = r.first_use(&m, TrustedState::default()).unwrap();
    let e = rejection(d, set.update_timestamp(bytes(&ts)));
    assert!(
        matches!(&e, VerifyError::Expired { role, .. } if role == "timestamp"),
        "{e:?}"
    );
    assert!(e.to_string().contains("0000-01-01T00:00:00+01:00"), "{e}");
}
