//! The TUF specification's attacks (section 1.5.2), each against a repository trustkey
//! published (root key on SoftHSM, repository keys on disk, `publish --repo`), in both dialects
//! where the attack applies. A client (`trustkey verify`, its own trust dir) must fail closed:
//! exit 5 and one line (a `hint:` line may follow). Where the attacker is assumed to hold some
//! keys (online keys, one delegation key), the test signs with them from the publisher's trust
//! dir, as the attacker would.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{json, run_fails, run_ok, Hsm, Publisher as _};
use trustkey::keys::{MemorySigner, Signer};
use trustkey::tuf::dialect::Dialect;
use trustkey::tuf::model::RoleName;
use trustkey::tuf::signed::SignedMeta;

const GUN: &str = "example.com/app";
use common::PUBLISHER_PASSPHRASES as PASS;
const DIALECTS: [Dialect; 2] = [Dialect::Notary, Dialect::Tuf];

/// A repository trustkey publishes, and the versions it published, each copied aside.
struct Published {
    hsm: Hsm,
    d: Dialect,
    versions: Vec<PathBuf>,
}

impl_publisher!(Published, PASS);

impl Published {
    /// `GUN` initialized in dialect `d` on a root key on SoftHSM, with one target, published
    /// once (version 1).
    fn new(d: Dialect) -> Self {
        let hsm = Hsm::with_root("rootA");
        let mut p = Published {
            hsm,
            d,
            versions: vec![],
        };
        p.ok(&["init", GUN, "--dialect", &d.to_string()]);
        p.add("app", b"the real app\n");
        p.publish(&[]);
        p
    }

    fn add(&self, name: &str, content: &[u8]) -> PathBuf {
        let f = self.path().join(format!("file-{}", name.replace('/', "_")));
        std::fs::write(&f, content).unwrap();
        self.ok(&["add", GUN, name, f.to_str().unwrap()]);
        f
    }

    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    /// Publishes into `repo/` and copies the result aside as the next version; returns it.
    fn publish(&mut self, extra: &[&str]) -> PathBuf {
        let repo = self.repo();
        let mut args = vec!["publish", GUN, "--repo", repo.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.ok(&args);
        let copy = self.path().join(format!("v{}", self.versions.len() + 1));
        common::copy_tree(&repo, &copy);
        self.versions.push(copy.clone());
        copy
    }

    /// A copy of version `n` (1-based) to tamper with, at `name`.
    fn copy_of(&self, n: usize, name: &str) -> PathBuf {
        let to = self.path().join("attacks").join(name);
        common::copy_tree(&self.versions[n - 1], &to);
        to
    }

    /// Where the metadata of the repository at `dir` is.
    fn meta(&self, dir: &Path) -> PathBuf {
        match self.d {
            Dialect::Notary => dir.join(GUN),
            Dialect::Tuf => dir.join(GUN).join("metadata"),
        }
    }

    /// `trustkey verify` as the client `name` (a trust dir of its own) against `dir`.
    fn verify(&self, name: &str, dir: &Path) -> Command {
        let mut c = self.hsm.client("clients", name);
        c.args(["verify", GUN, "--dialect", &self.d.to_string(), "--repo"])
            .arg(dir);
        c
    }

    fn verify_ok(&self, name: &str, dir: &Path) {
        run_ok(&mut self.verify(name, dir));
    }

    fn config(&self) -> serde_json::Value {
        let p = self
            .hsm
            .trust_dir
            .join("tuf")
            .join(GUN)
            .join("trustkey.json");
        json(&std::fs::read_to_string(p).unwrap())
    }

    /// The key of top-level `role` from the publisher's trust dir: (metadata key ID, signer).
    fn key(&self, role: RoleName) -> (String, MemorySigner) {
        let cfg = self.config();
        let r = role.as_str();
        let id = cfg["key_ids"][r].as_str().unwrap().to_string();
        let file = cfg["key_files"][r].as_str().unwrap_or(&id).to_string();
        let pass = PASS
            .iter()
            .find(|(k, _)| k.contains(&r.to_uppercase()))
            .unwrap()
            .1;
        (id, self.load(&file, pass, r))
    }

    fn load(&self, file_id: &str, pass: &str, role: &str) -> MemorySigner {
        let path = self
            .hsm
            .trust_dir
            .join("private")
            .join(format!("{file_id}.key"));
        let pass = secrecy::SecretString::from(pass.to_string());
        trustkey::keys::store::load_signer(&path, &pass, role)
            .unwrap()
            .0
    }

    /// Signs `signed` as the role `name` (a top-level or delegated role) with `signers`.
    fn sign(
        &self,
        name: &str,
        signed: serde_json::Value,
        signers: &[(&str, &MemorySigner)],
    ) -> SignedMeta {
        let role = name.parse().unwrap_or(RoleName::Targets);
        let signers: Vec<(&str, &dyn Signer)> = signers
            .iter()
            .map(|(id, s)| (*id, *s as &dyn Signer))
            .collect();
        SignedMeta::sign_named(self.d, role, name, signed, &signers).unwrap()
    }

    /// The file of role `name` in the metadata at `meta`.
    fn file(&self, meta: &Path, name: &str) -> PathBuf {
        meta.join(format!("{name}.json"))
    }

    fn signed(&self, meta: &Path, name: &str) -> serde_json::Value {
        json(&std::fs::read_to_string(self.file(meta, name)).unwrap())["signed"].clone()
    }

    /// As an attacker holding the snapshot and timestamp keys (the online keys): lists `role`
    /// (as it now is in `meta`) in a new snapshot, and that in a new timestamp.
    fn relist(&self, meta: &Path, role: &SignedMeta) {
        let bump = |v: &mut serde_json::Value| {
            v["version"] = (v["version"].as_u64().unwrap() + 1).into();
        };
        let entry = |m: &SignedMeta| {
            serde_json::to_value(self.d.meta_entry(m, Default::default())).unwrap()
        };
        let mut sn = self.signed(meta, "snapshot");
        sn["meta"][self.d.meta_key(&role.name)] = entry(role);
        bump(&mut sn);
        let (id, k) = self.key(RoleName::Snapshot);
        let sn = self.sign("snapshot", sn, &[(&id, &k)]);
        std::fs::write(self.file(meta, "snapshot"), &*sn.bytes).unwrap();
        let mut ts = self.signed(meta, "timestamp");
        ts["meta"][self.d.meta_name(RoleName::Snapshot)] = entry(&sn);
        bump(&mut ts);
        let (id, k) = self.key(RoleName::Timestamp);
        let ts = self.sign("timestamp", ts, &[(&id, &k)]);
        std::fs::write(self.file(meta, "timestamp"), &*ts.bytes).unwrap();
    }
}

/// The client's one line for a refused repository: exit 5, one line (a hint may follow).
#[track_caller]
fn refused(d: Dialect, mut c: Command) -> String {
    let (code, err) = run_fails(&mut c);
    assert_eq!(code, 5, "{d}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hint:")).collect();
    assert_eq!(lines.len(), 1, "{d}: one line expected: {err}");
    lines[0].to_string()
}

/// Arbitrary software: targets metadata listing the attacker's file, signed by a key that is
/// not the targets key (under the targets key's ID); and, with the real metadata, a target
/// file swapped for the attacker's.
#[test]
fn arbitrary_software_is_refused() {
    for d in DIALECTS {
        let p = Published::new(d);
        let dir = p.copy_of(1, "forged-targets");
        let meta = p.meta(&dir);
        let mut t = p.signed(&meta, "targets");
        t["targets"]["evil"] = t["targets"]["app"].clone();
        let (id, _) = p.key(RoleName::Targets);
        let attacker = MemorySigner::generate("attacker");
        let forged = p.sign("targets", t, &[(&id, &attacker)]);
        std::fs::write(p.file(&meta, "targets"), &*forged.bytes).unwrap();
        p.relist(&meta, &forged);
        let line = refused(d, p.verify("forged", &dir));
        assert!(
            line.contains("targets: valid signatures did not meet threshold for targets: 0 of 1"),
            "{d}: {line}"
        );

        let evil = p.path().join("evil-app");
        std::fs::write(&evil, b"the attacker's app\n").unwrap();
        let mut c = p.verify("swapped", &p.versions[0]);
        c.arg("--target").arg(format!("app={}", evil.display()));
        let line = refused(d, c);
        assert!(line.contains("target \"app\""), "{d}: {line}");
    }
}

/// Rollback: a client that saw version 2 is served version 1 (validly signed, not expired).
#[test]
fn rollback_is_refused() {
    for d in DIALECTS {
        let mut p = Published::new(d);
        p.add("app", b"the real app, version 2\n");
        p.publish(&[]);
        p.verify_ok("c", &p.versions[1]);
        let line = refused(d, p.verify("c", &p.versions[0]));
        assert!(line.contains("lower than current version 2"), "{d}: {line}");
    }
}

/// Rollback after racing clients: eight `verify`s on one trust dir run at once against
/// versions 1 to 4 of the repository; the client then trusts version 4 (whatever order they
/// ran in) and refuses version 3.
#[test]
fn rollback_after_racing_verifies_is_refused() {
    for d in DIALECTS {
        let mut p = Published::new(d);
        for v in 2..=4 {
            p.add("app", format!("version {v}\n").as_bytes());
            p.publish(&[]);
        }
        let children: Vec<_> = (0..8)
            .map(|i| {
                p.verify("racer", &p.versions[3 - i % 4])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            c.wait().unwrap();
        }
        let line = refused(d, p.verify("racer", &p.versions[2]));
        assert!(line.contains("lower than current version 4"), "{d}: {line}");
    }
}

/// Indefinite freeze: the repository served as it was, long after its timestamp expired.
#[test]
fn indefinite_freeze_is_refused() {
    for d in DIALECTS {
        let mut p = Published::new(d);
        p.add("app", b"version 2\n");
        let frozen = p.publish(&["--expires", "timestamp=-1h"]);
        let line = refused(d, p.verify("c", &frozen));
        assert!(line.contains("timestamp expired at"), "{d}: {line}");
    }
}

/// Endless data: timestamp.json that never ends (a link to /dev/zero), or one of 1 GiB; the
/// client refuses it without reading it whole.
#[test]
fn endless_data_is_refused() {
    for d in DIALECTS {
        let p = Published::new(d);
        let dir = p.copy_of(1, "zero");
        let ts = p.file(&p.meta(&dir), "timestamp");
        std::fs::remove_file(&ts).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &ts).unwrap();
        let line = refused(d, p.verify("zero", &dir));
        assert!(line.contains("is not a regular file"), "{d}: {line}");

        let dir = p.copy_of(1, "huge");
        let ts = p.file(&p.meta(&dir), "timestamp");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&ts)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let line = refused(d, p.verify("huge", &dir));
        assert!(
            line.contains("timestamp.json") && line.contains("is larger than 16384 bytes"),
            "{d}: {line}"
        );
    }
}

/// Endless data from a server: a notary-server (a stand-in on loopback) whose timestamp never
/// ends. The client stops at the timestamp's bound.
#[test]
fn endless_data_from_a_server_is_refused() {
    let p = Published::new(Dialect::Notary);
    let gun_dir = p.versions[0].join(GUN);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let file = path.rsplit("/_trust/tuf/").next().unwrap_or("").to_string();
            if file == "timestamp.json" {
                let _ =
                    stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"signed\":");
                let chunk = [b' '; 65536];
                while stream.write_all(&chunk).is_ok() {}
                continue;
            }
            let _ = match std::fs::read(gun_dir.join(&file)) {
                Ok(b) if !file.contains("..") => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )
                .and_then(|()| stream.write_all(&b)),
                _ => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    let mut c = p.hsm.client("clients", "http");
    c.arg("-s")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["verify", GUN]);
    let line = refused(Dialect::Notary, c);
    assert!(
        line.contains("timestamp.json") && line.contains("is larger than 16384 bytes"),
        "{line}"
    );
}

/// Mix and match: version 2's timestamp and snapshot with version 1's targets.
#[test]
fn mix_and_match_is_refused() {
    for d in DIALECTS {
        let mut p = Published::new(d);
        p.add("app", b"version 2\n");
        p.publish(&[]);
        let dir = p.copy_of(2, "mixed");
        let (old, meta) = (p.file(&p.meta(&p.versions[0]), "targets"), p.meta(&dir));
        std::fs::copy(&old, p.file(&meta, "targets")).unwrap();
        // A notary client fetches targets by the checksum snapshot lists
        // (`targets.<sha256>.json`): the old targets are served under those names too.
        for e in std::fs::read_dir(&meta).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            if name.starts_with("targets.") && name.len() == "targets.".len() + 64 + 5 {
                std::fs::copy(&old, &path).unwrap();
            }
        }
        let line = refused(d, p.verify("c", &dir));
        let want = match d {
            Dialect::Notary => "targets: sha256 does not match the hash listed in snapshot",
            Dialect::Tuf => "targets: version 1 does not match version 2 listed in snapshot",
        };
        assert!(line.contains(want), "{d}: {line}");
    }
}

/// Fast-forward: a timestamp with a far-future version, signed by a key that is not the
/// timestamp key. Refused, and the client's trusted version does not move: the real
/// repository still verifies afterwards.
#[test]
fn fast_forward_is_refused() {
    for d in DIALECTS {
        let p = Published::new(d);
        let dir = p.copy_of(1, "fast-forward");
        let meta = p.meta(&dir);
        let mut ts = p.signed(&meta, "timestamp");
        ts["version"] = (u64::MAX - 1).into();
        let (id, _) = p.key(RoleName::Timestamp);
        let attacker = MemorySigner::generate("attacker");
        let forged = p.sign("timestamp", ts, &[(&id, &attacker)]);
        std::fs::write(p.file(&meta, "timestamp"), &*forged.bytes).unwrap();
        let line = refused(d, p.verify("c", &dir));
        assert!(
            line.contains("timestamp: valid signatures did not meet threshold for timestamp"),
            "{d}: {line}"
        );
        p.verify_ok("c", &p.versions[0]);
    }
}

/// Fast-forward with the timestamp key compromised (TUF 1.0): the client accepts the forged
/// version and then refuses the real timestamp as a rollback, until the publisher rotates the
/// timestamp key; a root that rotates it makes the client forget the forged version (5.3.11).
#[test]
fn fast_forward_with_a_compromised_timestamp_key_is_recovered_by_rotation() {
    let d = Dialect::Tuf;
    let mut p = Published::new(d);
    let dir = p.copy_of(1, "fast-forward");
    let meta = p.meta(&dir);
    let mut ts = p.signed(&meta, "timestamp");
    ts["version"] = 1000.into();
    let (id, k) = p.key(RoleName::Timestamp);
    let forged = p.sign("timestamp", ts, &[(&id, &k)]);
    std::fs::write(p.file(&meta, "timestamp"), &*forged.bytes).unwrap();
    p.verify_ok("c", &dir);
    p.add("app", b"version 2\n");
    let v2 = p.publish(&[]);
    let line = refused(d, p.verify("c", &v2));
    assert!(line.contains("lower than current version 1000"), "{line}");
    p.ok(&["key", "rotate", GUN, "timestamp"]);
    let v3 = p.publish(&[]);
    p.verify_ok("c", &v3);
}

/// Malicious mirror: another repository under the same name (another root key) served in
/// place of the real one, to a client that trusts the real root.
#[test]
fn a_malicious_mirror_is_refused() {
    for d in DIALECTS {
        let p = Published::new(d);
        p.verify_ok("c", &p.versions[0]);
        let other = Published::new(d);
        let line = refused(d, p.verify("c", &other.versions[0]));
        // Notary clients start from the mirror's root.json, which does not chain to the
        // trusted root; TUF 1.0 clients keep their root (the mirror has no 2.root.json) and
        // find timestamp signed by keys it does not give.
        let want = match d {
            Dialect::Notary => "trustkey: could not validate the path to a trusted root: ",
            Dialect::Tuf => "trustkey: timestamp: valid signatures did not meet threshold",
        };
        assert!(line.starts_with(want), "{d}: {line}");
    }
}

/// Key compromise below threshold: a delegated role needs two of its two keys; an attacker
/// holding one of them (and the online snapshot and timestamp keys) adds a target.
#[test]
fn a_key_compromise_below_threshold_is_refused() {
    for d in DIALECTS {
        let mut p = Published::new(d);
        let role = match d {
            Dialect::Notary => "targets/releases",
            Dialect::Tuf => "releases",
        };
        let paths = match d {
            Dialect::Notary => "releases/",
            Dialect::Tuf => "releases/*",
        };
        p.ok(&[
            "delegation",
            "add",
            GUN,
            role,
            "--key",
            "new",
            "--key",
            "new",
            "--threshold",
            "2",
            "--paths",
            paths,
        ]);
        let f = p.path().join("r1");
        std::fs::write(&f, b"release 1\n").unwrap();
        p.ok(&[
            "add",
            GUN,
            "releases/r1",
            f.to_str().unwrap(),
            "--role",
            role,
        ]);
        let published = p.publish(&[]);
        p.verify_ok("before", &published);

        let dir = p.copy_of(2, "below-threshold");
        let meta = p.meta(&dir);
        let mut signed = p.signed(&meta, role);
        signed["targets"]["releases/evil"] = signed["targets"]["releases/r1"].clone();
        let key = p.config()["delegations"][0]["keys"][0].clone();
        let id = key["key_id"].as_str().unwrap().to_string();
        let file = key["location"]["key_file_id"].as_str().unwrap().to_string();
        let one = p.load(&file, PASS[3].1, "delegation");
        let forged = p.sign(role, signed, &[(&id, &one)]);
        std::fs::write(p.file(&meta, role), &*forged.bytes).unwrap();
        p.relist(&meta, &forged);
        let line = refused(d, p.verify("after", &dir));
        assert!(
            line.contains(&format!(
                "{role}: valid signatures did not meet threshold for {role}: 1 of 2"
            )),
            "{d}: {line}"
        );
    }
}
