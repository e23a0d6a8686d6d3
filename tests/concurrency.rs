//! Concurrency (issue 20): publishers and verifiers of one GUN at the same time, with real
//! components (SoftHSM, the real notary-server and notary client, python-tuf).
//!
//! - Eight `add` + `publish` at once on one GUN from one trust dir, in both dialects (notary
//!   to notary-server, TUF 1.0 to a `--repo` directory): every target added is published, the
//!   metadata verifies (trustkey, and the real notary client or python-tuf), no two publishes
//!   sign the same version, and the stage ends empty.
//! - A lock held too long: `add`, `publish` and `verify` give up after
//!   `TRUSTKEY_LOCK_TIMEOUT_SECS` with one line naming what they waited for, changing nothing.
//! - Two trust dirs with the same keys publishing to one notary-server: the stale upload is
//!   refused by the server (a version conflict), said in one line, the stage kept, and
//!   `publish` again builds on the server's newer version. Nothing is lost on either side.
//! - Two trust dirs publishing to one `--repo` directory: the directory is locked while files
//!   are renamed into it, and each publish builds on what the other delivered.
//! - `verify`s and `list`s from one trust dir while a publisher publishes: the versions each
//!   one sees never go down, and the client ends trusting the newest.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy};
use common::faults::tree;
use common::notary_server::NotaryServer;
use common::{json, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/busy";
const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

/// How many publishers run at once.
const PUBLISHERS: usize = 8;

/// Where a repository is published.
enum Place {
    /// TUF 1.0 into `--repo DIR`.
    Dir(PathBuf),
    /// Notary to notary-server.
    Server(NotaryServer),
}

impl Place {
    /// The dialect published there (the client keeps its state per dialect).
    fn dialect(&self) -> &'static str {
        match self {
            Place::Dir(_) => "tuf",
            Place::Server(_) => "notary",
        }
    }

    /// The flags that name it for `verify` and `list`.
    fn args(&self) -> Vec<String> {
        match self {
            Place::Dir(d) => vec![
                "--dialect".into(),
                "tuf".into(),
                "--repo".into(),
                d.display().to_string(),
            ],
            Place::Server(s) => vec![
                "-s".into(),
                s.url.clone(),
                "--tlscacert".into(),
                s.ca.display().to_string(),
            ],
        }
    }
}

/// A root on a SoftHSM token and GUN initialized for `place`.
struct Setup {
    hsm: Hsm,
    place: Place,
}

impl_publisher!(Setup, PASS);

impl Setup {
    /// `place` gets the setup's temp dir (a directory repository goes inside it).
    fn new(place: impl FnOnce(&Path) -> Place, tuf_init: &[&str]) -> Self {
        let hsm = Hsm::with_root("root");
        let place = place(hsm.path());
        let s = Setup { hsm, place };
        match &s.place {
            Place::Dir(_) => s.ok(&[&["init", GUN, "--dialect", "tuf"], tuf_init].concat()),
            Place::Server(srv) => s.ok(&[
                "init",
                GUN,
                "-s",
                &srv.url,
                "--tlscacert",
                srv.ca.to_str().unwrap(),
            ]),
        };
        s
    }

    fn tuf() -> Self {
        Setup::new(|dir| Place::Dir(dir.join("repo")), &[])
    }

    /// TUF 1.0 with consistent snapshots: a reader never meets a file a publish replaced in
    /// place (without them, a verify reading while the files are renamed may fail, exit 5,
    /// trusting nothing new, as `stage_targets` in src/repo/publish/directory.rs says).
    fn tuf_consistent() -> Self {
        Setup::new(
            |dir| Place::Dir(dir.join("repo")),
            &["--consistent-snapshot"],
        )
    }

    fn notary() -> Self {
        Setup::new(|_| Place::Server(NotaryServer::start()), &[])
    }

    fn repo(&self) -> &Path {
        match &self.place {
            Place::Dir(d) => d,
            Place::Server(_) => panic!("not a directory repository"),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        let p = self.path().join("files").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("the bytes of {name}\n")).unwrap();
        p
    }

    /// `trustkey` on `trust` (this setup's trust dir, or a copy of it) with the passphrases.
    fn tk_in(&self, trust: &Path) -> Command {
        let mut c = self.hsm.trustkey_in(trust);
        for (k, v) in PASS {
            c.env(k, v);
        }
        c
    }

    /// `publish GUN` to this setup's place, as a command on `trust`.
    fn publish_cmd(&self, trust: &Path) -> Command {
        let mut c = self.tk_in(trust);
        c.args(["--json", "publish", GUN]);
        if let Place::Dir(d) = &self.place {
            c.arg("--repo").arg(d);
        }
        c
    }

    /// Adds `name` from `trust`, then publishes until it goes through (at most a few tries:
    /// each failure must be one line telling to run the command again). Returns the
    /// versions each successful publish reported.
    /// `add_and_publish` from each trust dir at the same moment; the versions reported.
    fn publish_at_once(&self, pairs: &[(&PathBuf, String)]) -> Vec<BTreeMap<String, u64>> {
        let start = Barrier::new(pairs.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> = pairs
                .iter()
                .map(|(trust, name)| {
                    let start = &start;
                    scope.spawn(move || {
                        start.wait();
                        self.add_and_publish(trust, name)
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        })
    }

    fn add_and_publish(&self, trust: &Path, name: &str) -> Vec<BTreeMap<String, u64>> {
        let f = self.file(name);
        run_ok(
            self.tk_in(trust)
                .args(["add", GUN, name, f.to_str().unwrap()]),
        );
        let mut done = Vec::new();
        for _ in 0..5 {
            let out = self.publish_cmd(trust).output().unwrap();
            if out.status.success() {
                done.push(versions(&json(&String::from_utf8_lossy(&out.stdout))));
                return done;
            }
            retryable(&out);
        }
        panic!("{name}: five publishes failed");
    }

    /// A client apart from the publisher (`clients/<name>`) verifying the published GUN.
    fn verify(&self, client: &str) -> serde_json::Value {
        json(&run_ok(
            self.hsm
                .client("clients", client)
                .args(["--json", "verify", GUN])
                .args(self.place.args()),
        ))
    }

    /// The target names a fresh client lists.
    fn listed(&self, client: &str) -> BTreeSet<String> {
        let out = run_ok(
            self.hsm
                .client("clients", client)
                .args(["--json", "list", GUN])
                .args(self.place.args()),
        );
        listed_names(&json(&out))
    }

    /// What the third-party client (the real notary client, or python-tuf) sees published:
    /// every name in `names` is there and downloads with its bytes (python-tuf).
    fn third_party_sees(&self, names: &BTreeSet<String>) {
        match &self.place {
            Place::Server(srv) => {
                let home = tempfile::tempdir().unwrap();
                let out = srv.notary_list(home.path(), &home.path().join("trust"), GUN);
                for n in names {
                    assert!(
                        out.lines()
                            .any(|l| l.split_whitespace().next() == Some(n.as_str())),
                        "notary list lacks {n}:\n{out}"
                    );
                }
            }
            Place::Dir(repo) => {
                let gun_dir = repo.join(GUN);
                let port = common::pytuf::serve_static(gun_dir.clone());
                let base = tempfile::tempdir().unwrap();
                let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
                let v = common::pytuf::updater(
                    base.path(),
                    &format!("http://127.0.0.1:{port}/metadata/"),
                    &format!("http://127.0.0.1:{port}/targets/"),
                    &gun_dir.join("metadata/1.root.json"),
                    &wanted,
                );
                assert_eq!(v["ok"], true, "{v}");
                for n in names {
                    let got = std::fs::read_to_string(v["targets"][n].as_str().unwrap()).unwrap();
                    assert_eq!(got, format!("the bytes of {n}\n"));
                }
            }
        }
    }

    fn staged(&self, trust: &Path) -> Option<Vec<u8>> {
        std::fs::read(trust.join("tuf").join(GUN).join("staged.json")).ok()
    }

    /// A copy of the trust dir (a teammate's, with the same keys).
    fn copy_trust_dir(&self, name: &str) -> PathBuf {
        let to = self.path().join(name);
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(&self.hsm.trust_dir)
                .arg(&to),
        );
        to
    }
}

/// Every file under `dir` (mode and hash) but lock files, which are made on first use (B's
/// client lock, when its publish first verifies the server's copy) and stay empty.
fn unlocked_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut t = tree(dir);
    t.retain(|name, _| !name.ends_with(".lock"));
    t
}

/// The versions a `--json publish` or `--json verify` reports.
fn versions(v: &serde_json::Value) -> BTreeMap<String, u64> {
    v["versions"]
        .as_object()
        .unwrap_or_else(|| panic!("no versions in {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

fn listed_names(v: &serde_json::Value) -> BTreeSet<String> {
    let rows = v
        .as_array()
        .or_else(|| v["targets"].as_array())
        .unwrap_or_else(|| panic!("no targets in {v}"));
    rows.iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The lines of stderr that are not notices or warnings; a `--json` error document
/// (`{"error","hint",...}`) counts as its error line and its `hint:` line.
fn error_lines(stderr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in stderr.lines().filter(|l| !l.trim().is_empty()) {
        if l.starts_with("warning:") || l.starts_with("waiting for ") {
            continue;
        }
        if l.starts_with("no staged changes") {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(doc) if doc.get("error").is_some() => {
                out.push(doc["error"].as_str().unwrap_or_default().to_string());
                if let Some(hint) = doc.get("hint").and_then(|h| h.as_str()) {
                    out.push(format!("hint: {hint}"));
                }
            }
            _ => out.push(l.to_string()),
        }
    }
    out
}

/// A failed publish that may be run again: one error line and a hint saying to.
fn retryable(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines = error_lines(&err);
    assert!(
        lines.len() == 2 && lines[1].starts_with("hint:"),
        "one error line and a hint expected:\n{err}"
    );
    assert!(
        lines[1].contains("again"),
        "the hint says to run again:\n{err}"
    );
}

/// Every successful publish signed its own version: no two the same.
fn distinct_versions(all: &[BTreeMap<String, u64>], role: &str) {
    let got: Vec<u64> = all.iter().map(|v| v[role]).collect();
    let set: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(set.len(), got.len(), "{role} versions repeat: {got:?}");
}

fn eight_publishers(s: &Setup, rounds: usize) {
    let mut names = BTreeSet::new();
    let mut all = Vec::new();
    let mut newest = 0;
    for round in 0..rounds {
        let batch: Vec<String> = (0..PUBLISHERS).map(|i| format!("r{round}/t{i}")).collect();
        let start = Barrier::new(PUBLISHERS);
        let done: Vec<Vec<BTreeMap<String, u64>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|name| {
                    let start = &start;
                    scope.spawn(move || {
                        start.wait();
                        s.add_and_publish(&s.hsm.trust_dir, name)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        all.extend(done.into_iter().flatten());
        names.extend(batch);
        let v = s.verify("fresh-each-round");
        let targets = versions(&v)["targets"];
        assert!(targets > newest, "round {round}: targets v{targets}");
        newest = targets;
        assert_eq!(s.listed(&format!("round{round}")), names);
    }
    distinct_versions(&all, "targets");
    if matches!(s.place, Place::Dir(_)) {
        distinct_versions(&all, "timestamp");
    }
    assert_eq!(all.iter().map(|v| v["targets"]).max(), Some(newest));
    assert_eq!(s.staged(&s.hsm.trust_dir), None, "the stage ends empty");
    s.third_party_sees(&names);
}

#[test]
fn eight_adds_and_publishes_to_a_directory_lose_nothing() {
    eight_publishers(&Setup::tuf(), 1);
}

#[test]
fn eight_adds_and_publishes_to_notary_server_lose_nothing() {
    eight_publishers(&Setup::notary(), 1);
}

/// Runs `cmd`, which must fail within `limit` (a command waiting without end is killed and the
/// test fails); returns (exit code, stderr).
fn fails_within(cmd: &mut Command, limit: Duration) -> (i32, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            assert!(!status.success(), "{cmd:?} should have failed:\n{err}");
            return (status.code().unwrap_or(-1), err);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still waits after {limit:?}: a lock wait without bound");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The one error line of a command that gave up on a lock: what it waited for, and where.
fn gave_up(err: &str, what: &str, lock: &Path) {
    let lines = error_lines(err);
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains("gave up after 1 s waiting for"), "{err}");
    assert!(lines[0].contains(what), "{err}");
    assert!(lines[0].contains(&lock.display().to_string()), "{err}");
    assert!(
        lines[1].starts_with("hint:") && lines[1].contains("again"),
        "{err}"
    );
    assert!(
        err.contains("waiting for "),
        "the wait was announced:\n{err}"
    );
}

#[test]
fn a_lock_held_too_long_is_given_up_in_one_line_and_changes_nothing() {
    let s = Setup::tuf();
    let first = s.file("first");
    s.ok(&["add", GUN, "first", first.to_str().unwrap()]);
    s.ok(&["publish", GUN, "--repo", s.repo().to_str().unwrap()]);
    let f = s.file("second");
    let gun_dir = s.hsm.trust_dir.join("tuf").join(GUN);
    let limit = Duration::from_secs(20);
    let timeout = ("TRUSTKEY_LOCK_TIMEOUT_SECS", "1");

    // Another trustkey (this test) holds the GUN's lock: add and publish give up.
    let lock = gun_dir.join("trustkey.lock");
    let held = File::options().write(true).open(&lock).unwrap();
    held.lock().unwrap();
    let before = (tree(&s.hsm.trust_dir), tree(s.repo()));
    let mut add = s.tk();
    add.env(timeout.0, timeout.1)
        .args(["add", GUN, "second", f.to_str().unwrap()]);
    let (code, err) = fails_within(&mut add, limit);
    assert_eq!(code, 1, "{err}");
    gave_up(&err, &format!("another trustkey working on {GUN}"), &lock);
    let mut publish = s.publish_cmd(&s.hsm.trust_dir);
    publish.env(timeout.0, timeout.1);
    let (code, err) = fails_within(&mut publish, limit);
    assert_eq!(code, 1, "{err}");
    gave_up(&err, &format!("another trustkey working on {GUN}"), &lock);
    assert_eq!((tree(&s.hsm.trust_dir), tree(s.repo())), before);
    drop(held);
    s.ok(&["add", GUN, "second", f.to_str().unwrap()]);

    // Another publish to the directory (another trust dir's) holds it: publish gives up.
    let held = File::open(s.repo()).unwrap();
    held.lock().unwrap();
    let before = (tree(&s.hsm.trust_dir), tree(s.repo()));
    let mut publish = s.publish_cmd(&s.hsm.trust_dir);
    publish.env(timeout.0, timeout.1);
    let (code, err) = fails_within(&mut publish, limit);
    assert_eq!(code, 1, "{err}");
    gave_up(
        &err,
        &format!("another publish to {}", s.repo().display()),
        s.repo(),
    );
    assert_eq!((tree(&s.hsm.trust_dir), tree(s.repo())), before);
    drop(held);

    // A verify waits for the one before it to store its state, as long as it may.
    let client = s.path().join("clients").join("c");
    s.verify("c");
    let lock = client.join("tuf").join(GUN).join("client.lock");
    let held = File::options().write(true).open(&lock).unwrap();
    held.lock().unwrap();
    let mut verify = s.hsm.client("clients", "c");
    verify
        .env(timeout.0, timeout.1)
        .args(["verify", GUN])
        .args(s.place.args());
    let (code, err) = fails_within(&mut verify, limit);
    assert_eq!(code, 1, "{err}");
    gave_up(&err, &format!("another verify of {GUN}"), &lock);
    drop(held);

    // Once the locks are free, the same commands go through.
    let out = json(&run_ok(&mut s.publish_cmd(&s.hsm.trust_dir)));
    assert_eq!(out["changes"], 1, "{out}");
    assert_eq!(
        s.listed("after"),
        BTreeSet::from(["first".to_string(), "second".to_string()])
    );

    // A bad setting is refused, not taken for "wait without end".
    let (code, err) = common::run_fails(s.tk().env(timeout.0, "soon").args([
        "add",
        GUN,
        "x",
        f.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("TRUSTKEY_LOCK_TIMEOUT_SECS=soon"), "{err}");
}

#[test]
fn two_trust_dirs_publishing_to_one_notary_server_lose_nothing() {
    let s = &Setup::notary();
    let Place::Server(srv) = &s.place else {
        unreachable!()
    };
    let a = s.hsm.trust_dir.clone();
    let mut all = s.add_and_publish(&a, "a0");
    let b = s.copy_trust_dir("trust-b");

    // B signs on top of what it read; A's upload reaches the server before B's: the server
    // refuses B's, and B says so in one line and keeps everything.
    let proxy = FaultProxy::start(srv);
    let f = s.file("b0");
    run_ok(s.tk_in(&b).args(["add", GUN, "b0", f.to_str().unwrap()]));
    let before = unlocked_tree(&b);
    let staged = s.staged(&b).expect("b0 staged");
    proxy.set(Fault::Hold, "POST");
    let late = std::thread::scope(|scope| {
        let late = scope.spawn(|| {
            s.publish_cmd(&b)
                .arg("-s")
                .arg(&proxy.url)
                .output()
                .unwrap()
        });
        while proxy.faulted() == 0 && !late.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
        }
        all.extend(s.add_and_publish(&a, "a1"));
        proxy.set(Fault::Pass, "");
        late.join().unwrap()
    });
    assert!(!late.status.success());
    assert_eq!(late.status.code(), Some(1));
    let err = String::from_utf8_lossy(&late.stderr);
    retryable(&late);
    assert!(
        err.contains("the server has a newer version of the repository"),
        "{err}"
    );
    assert!(err.contains("run `trustkey publish` again"), "{err}");
    assert_eq!(
        unlocked_tree(&b),
        before,
        "the refused publish changed B's trust dir"
    );
    assert_eq!(s.staged(&b), Some(staged));
    drop(proxy);
    // Again: B reads the server's newer version and builds on it.
    let out = json(&run_ok(&mut s.publish_cmd(&b)));
    all.push(versions(&out));
    assert_eq!(s.staged(&b), None);

    // Then both at once, a few rounds: each conflict is retried; nothing is lost.
    let mut names: BTreeSet<String> = ["a0", "a1", "b0"].map(String::from).into();
    for round in 1..3 {
        let pairs = [(&a, format!("a{}", round + 1)), (&b, format!("b{round}"))];
        all.extend(s.publish_at_once(&pairs));
        names.extend(pairs.into_iter().map(|(_, n)| n));
    }
    distinct_versions(&all, "targets");
    assert_eq!(s.listed("end"), names);
    s.third_party_sees(&names);
    for trust in [&a, &b] {
        assert_eq!(s.staged(trust), None);
    }
}

#[test]
fn two_trust_dirs_publishing_to_one_directory_lose_nothing() {
    let s = &Setup::tuf();
    let a = s.hsm.trust_dir.clone();
    let mut all = s.add_and_publish(&a, "a0");
    let b = s.copy_trust_dir("trust-b");
    let mut names: BTreeSet<String> = ["a0".to_string()].into();
    for round in 1..4 {
        let pairs = [(&a, format!("a{round}")), (&b, format!("b{round}"))];
        all.extend(s.publish_at_once(&pairs));
        names.extend(pairs.into_iter().map(|(_, n)| n));
        assert_eq!(s.listed(&format!("round{round}")), names);
    }
    for role in ["targets", "snapshot", "timestamp"] {
        distinct_versions(&all, role);
    }
    s.third_party_sees(&names);
}

/// Verifiers and listers on one client trust dir while `publishes` publishes run: the
/// versions each sees never go down; the client ends trusting the newest.
fn verifiers_while_publishing(s: &Setup, publishes: usize) {
    s.add_and_publish(&s.hsm.trust_dir, "v0");
    s.verify("shared");
    let publishing = AtomicBool::new(true);
    let mut last = BTreeMap::new();
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..3)
            .map(|i| {
                let publishing = &publishing;
                scope.spawn(move || {
                    let mut seen: Vec<u64> = Vec::new();
                    while publishing.load(Ordering::SeqCst) || seen.len() < 2 {
                        let cmd = if i == 0 { "list" } else { "verify" };
                        let out = s
                            .hsm
                            .client("clients", "shared")
                            .args(["--json", cmd, GUN])
                            .args(s.place.args())
                            .output()
                            .unwrap();
                        let err = String::from_utf8_lossy(&out.stderr);
                        assert!(
                            out.status.success(),
                            "{cmd} failed while publishing:\n{err}"
                        );
                        if cmd == "verify" {
                            let v = json(&String::from_utf8_lossy(&out.stdout));
                            seen.push(versions(&v)["timestamp"]);
                        } else {
                            seen.push(0);
                        }
                    }
                    seen
                })
            })
            .collect();
        for n in 1..=publishes {
            last = s.add_and_publish(&s.hsm.trust_dir, &format!("v{n}"))[0].clone();
        }
        publishing.store(false, Ordering::SeqCst);
        for r in readers {
            let seen = r.join().unwrap();
            assert!(
                seen.windows(2).all(|w| w[0] <= w[1]),
                "a verifier saw versions go down: {seen:?}"
            );
        }
    });
    let state: serde_json::Value = json(
        &std::fs::read_to_string(
            s.path()
                .join("clients/shared/tuf")
                .join(GUN)
                .join("client")
                .join(s.place.dialect())
                .join("state.json"),
        )
        .unwrap(),
    );
    let v = s.verify("shared");
    assert_eq!(versions(&v)["targets"], last["targets"], "{v}");
    assert_eq!(
        state["versions"]["targets"].as_u64(),
        Some(last["targets"]),
        "{state}"
    );
    assert_eq!(s.listed("shared").len(), publishes + 1);
}

#[test]
fn verifies_while_publishing_to_a_directory_never_go_down() {
    verifiers_while_publishing(&Setup::tuf_consistent(), 4);
}

#[test]
fn verifies_while_publishing_to_notary_server_never_go_down() {
    verifiers_while_publishing(&Setup::notary(), 4);
}

/// A notary client reads timestamp, snapshot and targets one after the other; a publish may
/// land in between. Snapshot and targets are fetched by the checksum their parent lists (as
/// the notary client does), names no publish reuses: a verify that read the old timestamp
/// gets the old snapshot and targets, not the new ones under the plain names (which failed
/// "targets: longer than the N bytes listed in snapshot").
#[test]
fn a_verify_that_read_the_old_timestamp_gets_the_files_that_belong_to_it() {
    let s = Setup {
        hsm: Hsm::with_root("root"),
        place: Place::Dir(PathBuf::new()),
    };
    let repo = s.path().join("repo");
    s.ok(&["init", GUN]);
    let publish = |name: &str| {
        let f = s.file(name);
        s.ok(&["add", GUN, name, f.to_str().unwrap()]);
        s.ok(&["publish", GUN, "--repo", repo.to_str().unwrap()]);
    };
    publish("old");
    let timestamp = repo.join(GUN).join("timestamp.json");
    let old = std::fs::read(&timestamp).unwrap();
    publish("new");
    // The client read timestamp.json before the publish renamed the new one into place.
    std::fs::write(&timestamp, old).unwrap();
    let v = json(&run_ok(s.hsm.client("clients", "c").args([
        "--json",
        "verify",
        GUN,
        "--repo",
        repo.to_str().unwrap(),
    ])));
    assert_eq!(versions(&v)["targets"], 1, "{v}");
    assert_eq!(v["targets"], 1, "{v}");
}
