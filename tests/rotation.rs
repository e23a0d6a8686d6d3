//! Rotation and lost keys, end to end on SoftHSM: `key rotate` (also after the key file is
//! gone), `root rotate` to a key on another token, re-initializing after a lost root, and
//! `key remove`. Clients that pinned the old root (trustkey's own, with their own trust dirs,
//! and the real `notary` client over HTTP) follow the rotations; a root that does not chain is
//! refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::notary_server::NotaryServer;
use common::pytuf::serve_static;
use common::{json, run_fails, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/app";
const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];
const PATH_FAIL: &str = "could not validate the path to a trusted root";

struct Setup {
    hsm: Hsm,
}

impl_publisher!(Setup, PASS);

impl Setup {
    /// Root key on token rootA, `GUN` initialized, one target published.
    fn new() -> Self {
        let hsm = Hsm::with_root("rootA");
        let s = Setup { hsm };
        s.ok(&["init", GUN]);
        let a = s.write("a.bin", b"first target");
        s.ok(&["add", GUN, "a", a.to_str().unwrap()]);
        s.publish();
        s
    }

    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn publish(&self) -> String {
        let repo = self.repo();
        self.ok(&["publish", GUN, "--repo", repo.to_str().unwrap()])
    }

    fn config(&self) -> serde_json::Value {
        json(
            &std::fs::read_to_string(
                self.hsm
                    .trust_dir
                    .join("tuf")
                    .join(GUN)
                    .join("trustkey.json"),
            )
            .unwrap(),
        )
    }

    fn key_id(&self, role: &str) -> String {
        self.config()["key_ids"][role].as_str().unwrap().to_string()
    }

    fn key_file(&self, role: &str) -> PathBuf {
        self.hsm
            .trust_dir
            .join("private")
            .join(format!("{}.key", self.key_id(role)))
    }

    /// `trustkey` as a separate client with its own trust dir (`clients/<name>`).
    fn client(&self, name: &str) -> Command {
        self.hsm.client("clients", name)
    }

    fn verify(&self, client: &str, repo: &Path) -> serde_json::Value {
        json(&run_ok(
            self.client(client)
                .args(["--json", "verify", GUN, "--repo"])
                .arg(repo),
        ))
    }

    /// `verify` fails with exit code 5; returns the first line of stderr.
    fn verify_fails(&self, client: &str, repo: &Path) -> String {
        let (code, err) = run_fails(
            self.client(client)
                .args(["verify", GUN, "--repo"])
                .arg(repo),
        );
        assert_eq!(code, 5, "{err}");
        let line = err.lines().next().unwrap_or_default();
        line.strip_prefix("trustkey: ").unwrap_or(line).to_string()
    }

    /// The real notary client with its own trust dir (`notary-<name>`), reading `repo` over
    /// HTTP as notary-server would serve it.
    fn notary_list(&self, name: &str, port: u16) -> std::process::Output {
        common::notary()
            .env("HOME", self.path())
            .arg("-s")
            .arg(format!("http://127.0.0.1:{port}"))
            .arg("-d")
            .arg(self.path().join(format!("notary-{name}")))
            .args(["list", GUN])
            .output()
            .unwrap()
    }

    fn notary_list_ok(&self, name: &str, port: u16) -> String {
        let out = self.notary_list(name, port);
        assert!(
            out.status.success(),
            "notary list failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn root_version(v: &serde_json::Value) -> u64 {
    v["versions"]["root"].as_u64().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn edit_json(file: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v = json(&std::fs::read_to_string(file).unwrap());
    f(&mut v);
    std::fs::write(file, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Serves `repo` as notary-server lays it out: GET /v2/<gun>/_trust/tuf/<file>.

#[test]
fn key_rotate_recovers_lost_keys_and_pinned_clients_follow() {
    let s = Setup::new();
    let repo = s.repo();
    let port = common::serve_notary_layout(repo.clone());
    // Clients pin root v1.
    assert_eq!(root_version(&s.verify("pinned", &repo)), 1);
    assert!(s.notary_list_ok("pinned", port).contains("a "));

    // Refused before anything is written: root is not a repository key, an unknown GUN, a
    // wrong PIN.
    let (code, err) = s.fails(&["key", "rotate", GUN, "root"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("trustkey root rotate"), "{err}");
    let (code, err) = s.fails(&["key", "rotate", "example.com/other", "targets"]);
    assert_eq!(code, 4, "{err}");
    let listing = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let private = s.hsm.trust_dir.join("private");
    let (before, config_before) = (listing(&private), s.config());
    let (code, err) = run_fails(
        s.tk()
            .env("TRUSTKEY_PIN", "999999")
            .args(["key", "rotate", GUN, "targets"]),
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(listing(&private), before);
    assert_eq!(s.config(), config_before);

    // The targets key is lost: publishing is impossible.
    let old_targets = s.key_id("targets");
    std::fs::remove_file(s.key_file("targets")).unwrap();
    let (code, err) = s.fails(&["publish", GUN, "--repo", repo.to_str().unwrap()]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("the targets key of example.com/app"), "{err}");

    // Rotation needs no old passphrase and no old key.
    let r = json(&s.ok(&["--json", "key", "rotate", GUN, "targets"]));
    assert_eq!(r["role"], "targets");
    assert_eq!(r["old_key_id"], old_targets.as_str());
    assert_eq!(r["root_version"], 2);
    assert!(r["retired_to"].is_null(), "{r}");
    let new_targets = s.key_id("targets");
    assert_ne!(new_targets, old_targets);
    assert_eq!(r["new_key_id"], new_targets.as_str());
    assert!(s.key_file("targets").is_file());
    assert_eq!(s.config()["versions"]["root"], 2);
    assert_eq!(s.config()["retired"][0]["key_id"], old_targets.as_str());
    // The repository is unchanged until the next publish, and still verifies.
    assert_eq!(root_version(&s.verify("pinned", &repo)), 1);

    let b = s.write("b.bin", b"second target");
    s.ok(&["add", GUN, "b", b.to_str().unwrap()]);
    s.publish();
    let root = json(&std::fs::read_to_string(repo.join(GUN).join("root.json")).unwrap());
    assert_eq!(root["signed"]["version"], 2);
    assert_eq!(
        root["signed"]["roles"]["targets"]["keyids"],
        serde_json::json!([new_targets])
    );
    assert!(root["signed"]["keys"].get(&old_targets).is_none());
    assert!(repo.join(GUN).join("2.root.json").is_file());

    // The pinned clients walk root v1 -> v2; a new client pins v2.
    let v = s.verify("pinned", &repo);
    assert_eq!(root_version(&v), 2);
    assert_eq!(v["targets"], 2);
    assert_eq!(root_version(&s.verify("fresh", &repo)), 2);
    let out = s.notary_list_ok("pinned", port);
    assert!(out.contains("a ") && out.contains("b "), "{out}");

    // Snapshot, with its key file present: the old key is retired, not deleted.
    let old_snapshot = s.key_id("snapshot");
    let old_snapshot_file = s.key_file("snapshot");
    let r = json(&s.ok(&["--json", "key", "rotate", GUN, "snapshot"]));
    assert_eq!(r["root_version"], 3);
    let retired = s
        .hsm
        .trust_dir
        .join("private/retired")
        .join(format!("{old_snapshot}.key"));
    assert_eq!(r["retired_to"], retired.to_str().unwrap());
    assert!(retired.is_file() && !old_snapshot_file.exists());
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 3);
    assert_eq!(root_version(&s.verify("fresh", &repo)), 3);
    s.notary_list_ok("pinned", port);

    // The real notary reads the trust dir with its retired/ subdirectory.
    let out = run_ok(
        common::notary()
            .env("HOME", s.path())
            .arg("-d")
            .arg(&s.hsm.trust_dir)
            .args(["key", "list"]),
    );
    // notary walks private/ recursively: it lists the retired key too, without a status.
    assert!(
        out.contains(&s.key_id("snapshot")) && out.contains(&old_snapshot),
        "{out}"
    );

    // key list: root keys from the config, active keys, retired keys.
    let list = json(&s.ok(&["--json", "key", "list"]));
    let rows = list["keys"].as_array().unwrap();
    let row = |id: &str| {
        rows.iter()
            .find(|k| k["key_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {list}"))
            .clone()
    };
    assert_eq!(row(&old_snapshot)["status"], "retired");
    assert_eq!(row(&old_snapshot)["role"], "snapshot");
    assert_eq!(row(&s.key_id("snapshot"))["status"], "active");
    let root_row = row(s.config()["root_key_id"].as_str().unwrap());
    assert_eq!(root_row["role"], "root");
    assert_eq!(root_row["gun"], GUN);
    assert!(
        root_row["location"]
            .as_str()
            .unwrap()
            .starts_with("pkcs11:token=rootA"),
        "{root_row}"
    );
    let text = s.ok(&["key", "list"]);
    assert!(
        text.lines()
            .any(|l| l.contains(&old_snapshot) && l.contains("retired")),
        "{text}"
    );

    // Backups carry retired keys (private/retired/), and verify decrypts them.
    let archive = s.path().join("backup.tgz");
    s.ok(&["backup", "create", "--out", archive.to_str().unwrap()]);
    let out = s.ok(&["backup", "verify", archive.to_str().unwrap()]);
    assert!(out.contains(&old_snapshot[..12]), "{out}");

    // key remove: a key in use is refused, a retired one goes.
    let (code, err) = s.fails(&["key", "remove", &new_targets[..12]]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is still in use: the current root metadata of example.com/app (version 3) lists it for targets"),
        "{err}"
    );
    assert!(s.key_file("targets").is_file());
    let (code, err) = s.fails(&["key", "remove", s.config()["root_key_id"].as_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("root keys live on tokens"), "{err}");
    let out = s.ok(&["key", "remove", &old_snapshot]);
    assert!(out.contains("removed retired snapshot key"), "{out}");
    assert!(!retired.exists());
    assert!(s.config()["retired"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["key_id"] != old_snapshot.as_str()));
    let (code, _) = s.fails(&["key", "remove", &old_snapshot]);
    assert_eq!(code, 4);
    // --force removes a key in use (and says what it breaks).
    let ts = s.key_id("timestamp");
    let out = s.ok(&["key", "remove", &ts, "--force"]);
    assert!(out.contains("still lists it for timestamp"), "{out}");
    assert!(!s.key_file("timestamp").exists());
    // ...which `key rotate` then repairs.
    s.ok(&["key", "rotate", GUN, "timestamp"]);
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 4);
}

#[test]
fn root_rotate_to_another_token() {
    let s = Setup::new();
    s.hsm.add_token("rootB");
    let repo = s.repo();
    let port = common::serve_notary_layout(repo.clone());
    assert_eq!(root_version(&s.verify("pinned", &repo)), 1);
    assert_eq!(root_version(&s.verify("pinned-too", &repo)), 1);
    s.notary_list_ok("pinned", port);
    let old_root = s.config()["root_key_id"].as_str().unwrap().to_string();
    let old_tuf = s.key_id("root");

    // A wrong PIN fails on the old root, before a new key exists (else the rotation below
    // would find the object label taken on rootB).
    let config_before = s.config();
    let (code, err) = run_fails(s.tk().env("TRUSTKEY_PIN", "999999").args([
        "root",
        "rotate",
        GUN,
        "--token",
        "pkcs11:token=rootB",
    ]));
    assert_eq!(code, 3, "{err}");
    assert_eq!(s.config(), config_before);

    let r = json(&s.ok(&[
        "--json",
        "root",
        "rotate",
        GUN,
        "--token",
        "pkcs11:token=rootB",
    ]));
    assert_eq!(r["root_version"], 2);
    assert_eq!(r["old_key_id"], old_root.as_str());
    let new_root = s.config()["root_key_id"].as_str().unwrap().to_string();
    assert_ne!(new_root, old_root);
    assert_eq!(r["new_key_id"], new_root.as_str());
    assert_eq!(r["tokens"][0]["generated_on_token"], true);
    assert!(s.config()["root_key"]
        .as_str()
        .unwrap()
        .starts_with("pkcs11:token=rootB"));
    // key list shows both root keys, the old one retired.
    let list = s.ok(&["key", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains(&old_root) && l.contains("retired") && l.contains("rootA")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.contains(&new_root) && l.contains("active") && l.contains("rootB")),
        "{list}"
    );
    s.publish();

    // Root v2: the new certificate (CN = GUN), signed by the old and the new root key.
    let gun_dir = repo.join(GUN);
    let root = json(&std::fs::read_to_string(gun_dir.join("root.json")).unwrap());
    let new_tuf = s.key_id("root");
    assert_eq!(
        root["signed"]["roles"]["root"]["keyids"],
        serde_json::json!([new_tuf])
    );
    assert_eq!(root["signed"]["keys"][&new_tuf]["keytype"], "ecdsa-x509");
    let sigs: Vec<&str> = root["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].as_str().unwrap())
        .collect();
    assert_eq!(sigs, [old_tuf.as_str(), new_tuf.as_str()]);

    // The pinned clients accept the rotated root.
    let v = s.verify("pinned", &repo);
    assert_eq!(root_version(&v), 2);
    assert_eq!(v["root_key_ids"], serde_json::json!([new_tuf]));
    s.notary_list_ok("pinned", port);
    // Later publishes are signed under the new root only (no old-root PIN needed).
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 2);

    // Tampered: root v2 signed only by the new key does not chain to the pinned v1.
    let bad = s.path().join("tampered");
    copy_dir(&gun_dir, &bad.join(GUN));
    for name in ["2.root.json", "root.json"] {
        edit_json(&bad.join(GUN).join(name), |v| {
            v["signatures"]
                .as_array_mut()
                .unwrap()
                .retain(|s| s["keyid"] != old_tuf.as_str());
        });
    }
    assert_eq!(
        s.verify_fails("pinned-too", &bad),
        format!("{PATH_FAIL}: failed to validate data with current trusted certificates")
    );
    // The untampered repository is still fine for that client.
    assert_eq!(root_version(&s.verify("pinned-too", &repo)), 2);

    // A key rotation after the root rotation is signed by the new root.
    s.ok(&["key", "rotate", GUN, "targets"]);
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 3);
    s.notary_list_ok("pinned", port);

    // Rotating to the key already in use is refused.
    let (code, err) = s.fails(&["root", "rotate", GUN, "--token", "pkcs11:token=rootB"]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn root_rotate_with_a_mirror() {
    let s = Setup::new();
    s.hsm.add_token("rootC");
    s.hsm.add_token("rootD");
    let repo = s.repo();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 1);
    let r = json(&s.ok(&[
        "--json",
        "root",
        "rotate",
        GUN,
        "--token",
        "pkcs11:token=rootC",
        "--mirror",
        "pkcs11:token=rootD",
    ]));
    assert_eq!(r["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(r["tokens"][1]["generated_on_token"], false);
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 2);
    // The mirror signs as well: rotate a key with the root on rootD.
    s.ok(&[
        "key",
        "rotate",
        GUN,
        "snapshot",
        "--root",
        "pkcs11:token=rootD",
    ]);
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 3);
    // Again, to a second key on the token that holds the current root.
    let r = json(&s.ok(&[
        "--json",
        "root",
        "rotate",
        GUN,
        "--token",
        "pkcs11:token=rootC;object=root-2",
    ]));
    assert_eq!(r["root_version"], 4);
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 4);
    // The old root on rootA is not the root of GUN any more.
    let (code, err) = s.fails(&[
        "key",
        "rotate",
        GUN,
        "snapshot",
        "--root",
        "pkcs11:token=rootA",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("but the root key of example.com/app is"),
        "{err}"
    );
}

#[test]
fn lost_root_reinitialized_does_not_chain() {
    let s = Setup::new();
    let repo = s.repo();
    let port = common::serve_notary_layout(repo.clone());
    assert_eq!(root_version(&s.verify("pinned", &repo)), 1);
    s.notary_list_ok("pinned", port);

    // The root token is lost: a new root on another token, a fresh trust dir, the same GUN.
    s.hsm.add_token("rootB");
    s.ok(&["root", "create", "--token", "pkcs11:token=rootB"]);
    std::fs::remove_dir_all(&s.hsm.trust_dir).unwrap();
    s.ok(&["init", GUN, "--root", "pkcs11:token=rootB;object=root"]);
    let a = s.write("a2.bin", b"re-published");
    s.ok(&["add", GUN, "a", a.to_str().unwrap()]);
    s.publish();

    // Clients that pinned the old root refuse the new one.
    let line = s.verify_fails("pinned", &repo);
    assert_eq!(
        line,
        format!("{PATH_FAIL}: failed to validate data with current trusted certificates")
    );
    let out = s.notary_list("pinned", port);
    assert!(
        !out.status.success(),
        "notary accepted a root that does not chain"
    );
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // notary without trust pinning says it the other way round.
    assert!(
        err.contains(
            "could not rotate trust to a new trusted root: failed to validate data with current trusted certificates"
        ),
        "{err}"
    );

    // A new client (or the old one after deleting its trusted state) pins the new root.
    let new_root = s.config()["root_key_id"].as_str().unwrap().to_string();
    std::fs::remove_dir_all(s.path().join("clients/pinned/tuf").join(GUN).join("client")).unwrap();
    let v = json(&run_ok(
        s.client("pinned")
            .args(["--json", "verify", GUN, "--root-keyid", &new_root, "--repo"])
            .arg(&repo),
    ));
    assert_eq!(v["pinned_now"], true);
    assert_eq!(root_version(&v), 1);
}

#[test]
fn lost_root_init_force_in_the_same_trust_dir() {
    let s = Setup::new();
    let repo = s.repo();
    let port = common::serve_notary_layout(repo.clone());
    // Root is at v2 after a key rotation; both clients trust v2.
    s.ok(&["key", "rotate", GUN, "snapshot"]);
    s.publish();
    assert_eq!(root_version(&s.verify("pinned", &repo)), 2);
    s.notary_list_ok("pinned", port);
    let old_root = s.config()["root_key_id"].as_str().unwrap().to_string();
    let old_targets = s.key_id("targets");

    // The root token is lost; a new root on rootB. Without --force, init refuses.
    s.hsm.add_token("rootB");
    s.ok(&["root", "create", "--token", "pkcs11:token=rootB"]);
    let (code, err) = s.fails(&["init", GUN, "--root", "pkcs11:token=rootB"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already initialized"), "{err}");
    s.ok(&["init", GUN, "--root", "pkcs11:token=rootB", "--force"]);
    let cfg = s.config();
    assert_eq!(cfg["versions"]["root"], 3);
    assert_ne!(cfg["root_key_id"], old_root.as_str());
    assert_ne!(s.key_id("targets"), old_targets);
    // The old keys are retired, not deleted.
    assert!(s
        .hsm
        .trust_dir
        .join("private/retired")
        .join(format!("{old_targets}.key"))
        .is_file());
    let list = s.ok(&["key", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains(&old_root) && l.contains("retired")),
        "{list}"
    );
    // The published targets carry over.
    s.publish();
    let v = s.verify("fresh", &repo);
    assert_eq!(root_version(&v), 3);
    assert_eq!(v["targets"], 1);

    // The root v3 does not chain to v2.
    assert_eq!(
        s.verify_fails("pinned", &repo),
        format!("{PATH_FAIL}: failed to validate data with current trusted certificates")
    );
    let out = s.notary_list("pinned", port);
    assert!(
        !out.status.success(),
        "notary accepted a root that does not chain"
    );
    // Re-pinning: delete the client's trusted state and pin the new root by ID.
    std::fs::remove_dir_all(s.path().join("clients/pinned/tuf").join(GUN).join("client")).unwrap();
    let new_root = s.config()["root_key_id"].as_str().unwrap().to_string();
    let (code, err) = run_fails(
        s.client("pinned")
            .args(["verify", GUN, "--root-keyid", &old_root, "--repo"])
            .arg(&repo),
    );
    assert_eq!(code, 5, "{err}");
    assert!(err.contains(PATH_FAIL), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: ") && l.contains("re-pin")),
        "{err}"
    );
    run_ok(
        s.client("pinned")
            .args(["verify", GUN, "--root-keyid", &new_root, "--repo"])
            .arg(&repo),
    );
}

/// python-tuf's Updater (tests/data/tuf_client.py) on `www/<repo>`, caching in
/// `pyclients/<client>`, bootstrapped from `bootstrap` on its first run.
fn py_client(
    s: &Setup,
    port: u16,
    repo: &str,
    client: &str,
    bootstrap: &Path,
) -> serde_json::Value {
    let base = s.path().join("pyclients").join(client);
    let url = |sub: &str| format!("http://127.0.0.1:{port}/{repo}/{GUN}/{sub}/");
    common::pytuf::updater(&base, &url("metadata"), &url("targets"), bootstrap, &[])
}

#[test]
fn tuf_dialect_rotations_and_python_tuf() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootB");
    hsm.ok(&["root", "create", "--token", "pkcs11:token=rootA"]);
    let s = Setup { hsm };
    s.ok(&["init", GUN, "--dialect", "tuf"]);
    let www = s.path().join("www");
    let good = www.join("good");
    let publish = || s.ok(&["publish", GUN, "--repo", good.to_str().unwrap()]);
    let a = s.write("a.bin", b"first target");
    s.ok(&["add", GUN, "a", a.to_str().unwrap()]);
    publish();
    let meta = good.join(GUN).join("metadata");
    let bootstrap = s.path().join("1.root.json");
    std::fs::copy(meta.join("1.root.json"), &bootstrap).unwrap();
    let port = serve_static(www.clone());
    let tk_verify = |client: &str, repo: &Path| {
        json(&run_ok(
            s.client(client)
                .args(["--json", "verify", GUN, "--dialect", "tuf", "--repo"])
                .arg(repo),
        ))
    };
    // Clients pin root v1: python-tuf (two of them) and trustkey.
    for c in ["a", "b"] {
        let r = py_client(&s, port, "good", c, &bootstrap);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["root_version"], 1);
    }
    assert_eq!(root_version(&tk_verify("a", &good)), 1);
    assert_eq!(root_version(&tk_verify("b", &good)), 1);

    // The targets key is lost; rotate it. In this dialect the metadata key ID differs from the
    // key file's (canonical) ID: the config keeps both.
    let cfg = s.config();
    let file_id = cfg["key_files"]["targets"]
        .as_str()
        .or(cfg["key_ids"]["targets"].as_str())
        .unwrap()
        .to_string();
    std::fs::remove_file(
        s.hsm
            .trust_dir
            .join("private")
            .join(format!("{file_id}.key")),
    )
    .unwrap();
    let r = json(&s.ok(&["--json", "key", "rotate", GUN, "targets"]));
    assert_eq!(r["old_key_id"], file_id.as_str());
    let cfg = s.config();
    assert_eq!(cfg["key_ids"]["targets"], r["new_tuf_key_id"]);
    assert_eq!(cfg["key_files"]["targets"], r["new_key_id"]);
    assert!(s
        .hsm
        .trust_dir
        .join("private")
        .join(format!("{}.key", r["new_key_id"].as_str().unwrap()))
        .is_file());
    publish();
    let r = py_client(&s, port, "good", "a", &bootstrap);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["root_version"], 2);
    assert_eq!(root_version(&tk_verify("a", &good)), 2);

    // Root to a key on rootB, signed by both.
    s.ok(&["root", "rotate", GUN, "--token", "pkcs11:token=rootB"]);
    publish();
    let r = py_client(&s, port, "good", "a", &bootstrap);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["root_version"], 3);
    let new_root_id = s.key_id("root");
    assert!(
        r["keyids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == new_root_id.as_str()),
        "{r}"
    );
    assert_eq!(root_version(&tk_verify("a", &good)), 3);

    // Tampered: root v3 without the old root's signature. Client b (still at v1) walks v2
    // fine, then refuses v3.
    let bad = www.join("bad");
    let cfg_old_root = json(&std::fs::read_to_string(meta.join("2.root.json")).unwrap())["signed"]
        ["roles"]["root"]["keyids"][0]
        .as_str()
        .unwrap()
        .to_string();
    for entry in walk(&good) {
        let rel = entry.strip_prefix(&good).unwrap();
        let to = bad.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &to).unwrap();
    }
    let bad_meta = bad.join(GUN).join("metadata");
    for name in ["3.root.json", "root.json"] {
        let p = bad_meta.join(name);
        if p.exists() {
            edit_json(&p, |v| {
                v["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|s| s["keyid"] != cfg_old_root.as_str());
            });
        }
    }
    let r = py_client(&s, port, "bad", "b", &bootstrap);
    assert_eq!(r["ok"], false, "{r}");
    assert!(r["error"].as_str().unwrap().contains("root"), "{r}");
    let (code, err) = run_fails(
        s.client("b")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(&bad),
    );
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(&format!(
            "{PATH_FAIL}: failed to validate data with current trusted certificates"
        )),
        "{err}"
    );
    // The untampered repository is fine for both.
    assert_eq!(
        py_client(&s, port, "good", "b", &bootstrap)["root_version"],
        3
    );
    assert_eq!(root_version(&tk_verify("b", &good)), 3);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn rotations_published_to_notary_server() {
    let srv = NotaryServer::start();
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootB");
    hsm.ok(&["root", "create", "--token", "pkcs11:token=rootA"]);
    let s = Setup { hsm };
    let gun = "example.com/rotating";
    s.ok(&[
        "init",
        gun,
        "-s",
        &srv.url,
        "--tlscacert",
        srv.ca.to_str().unwrap(),
    ]);
    let a = s.write("a.bin", b"first");
    s.ok(&["add", gun, "a", a.to_str().unwrap()]);
    s.ok(&["publish", gun]);
    let ntrust = s.path().join("notary-pinned");
    assert!(srv.notary_list(s.path(), &ntrust, gun).contains("a "));
    let tk_verify = |client: &str| {
        json(&run_ok(
            s.client(client)
                .args(["--json", "verify", gun, "-s", &srv.url, "--tlscacert"])
                .arg(&srv.ca),
        ))
    };
    assert_eq!(root_version(&tk_verify("pinned")), 1);

    // The server holds the timestamp key: rotating it here is refused.
    let (code, err) = s.fails(&["key", "rotate", gun, "timestamp"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("notary-server holds the timestamp key"),
        "{err}"
    );

    // Targets key lost, rotated; the server accepts root v2 (signed by the root it has).
    let cfg = json(
        &std::fs::read_to_string(s.hsm.trust_dir.join("tuf").join(gun).join("trustkey.json"))
            .unwrap(),
    );
    let targets = cfg["key_ids"]["targets"].as_str().unwrap();
    std::fs::remove_file(
        s.hsm
            .trust_dir
            .join("private")
            .join(format!("{targets}.key")),
    )
    .unwrap();
    s.ok(&["key", "rotate", gun, "targets"]);
    let b = s.write("b.bin", b"second");
    s.ok(&["add", gun, "b", b.to_str().unwrap()]);
    s.ok(&["publish", gun]);
    let out = srv.notary_list(s.path(), &ntrust, gun);
    assert!(out.contains("a ") && out.contains("b "), "{out}");
    assert_eq!(root_version(&tk_verify("pinned")), 2);

    // Root to rootB; the server accepts root v3 signed by the old and the new root.
    s.ok(&["root", "rotate", gun, "--token", "pkcs11:token=rootB"]);
    s.ok(&["publish", gun]);
    srv.notary_list(s.path(), &ntrust, gun);
    assert_eq!(root_version(&tk_verify("pinned")), 3);

    // init --force is for directory repositories.
    let (code, err) = s.fails(&["init", gun, "--force"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("notary delete"), "{err}");
}
