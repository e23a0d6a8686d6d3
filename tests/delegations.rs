//! Delegations: publishers signing their own delegated roles with keys on their own SoftHSM
//! tokens, checked by the real `notary` client (Notary dialect) and python-tuf's Updater (TUF
//! 1.0, through a delegation and through a hashed bin).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{json, run_fails, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/app";
use common::PUBLISHER_PASSPHRASES as PASS;

/// The root on token `root`, two publishers' tokens `alice` and `bob`, and `GUN` initialized.
struct Setup {
    hsm: Hsm,
}

impl_publisher!(Setup, PASS);

impl Setup {
    fn new(init: &[&str]) -> Self {
        let hsm = Hsm::new();
        for t in ["root", "alice", "bob"] {
            hsm.add_token(t);
        }
        hsm.ok(&["root", "create", "--token", "pkcs11:token=root"]);
        let s = Setup { hsm };
        let mut args = vec!["init", GUN, "--root", "pkcs11:token=root;object=root"];
        args.extend_from_slice(init);
        s.ok(&args);
        s
    }

    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    /// A publisher who holds only the snapshot and timestamp passphrases (and their token's
    /// PIN): not the targets key.
    fn publisher(&self) -> Command {
        let mut c = self.hsm.trustkey();
        for (k, v) in [PASS[1], PASS[2]] {
            c.env(k, v);
        }
        c
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path().join("files").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    fn publish(&self) -> String {
        self.ok(&["publish", GUN, "--repo", self.repo().to_str().unwrap()])
    }

    /// `trustkey` as a separate client with its own trust dir.
    fn client(&self, name: &str) -> Command {
        self.hsm.client("clients", name)
    }

    /// `add NAME FILE --role ROLE` is refused (exit 2): NAME is outside ROLE's `paths`.
    fn refused_outside(&self, name: &str, file: &Path, role: &str, paths: &str) {
        let f = file.to_str().unwrap();
        let (code, err) = self.fails(&["add", GUN, name, f, "--role", role]);
        assert_eq!(code, 2, "{err}");
        let want = format!("outside the paths delegated to {role} ({paths})");
        assert!(err.contains(&want), "{err}");
    }

    fn gun_dir(&self) -> PathBuf {
        self.repo().join("example.com").join("app")
    }

    fn read_json(&self, rel: &str) -> serde_json::Value {
        json(&std::fs::read_to_string(self.gun_dir().join(rel)).unwrap())
    }
}

fn sha256_hex(p: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(p));
    out.split_whitespace().next().unwrap().to_string()
}

/// Rows of `notary list`: (name, digest, size, role).
fn notary_rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() == 4 && f[0] != "NAME" && !f[0].starts_with('-'))
        .collect()
}

#[test]
fn notary_two_publishers_sign_with_their_own_tokens() {
    let s = Setup::new(&[]);
    // The security team delegates: each publisher's key is generated on their own token.
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--generate",
        "--paths",
        "releases/",
    ]);
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/qa",
        "--key",
        "pkcs11:token=bob;object=qa",
        "--generate",
        "--paths",
        "qa/",
    ]);
    let out = s.publish();
    assert!(
        out.contains("signed targets/qa v1, targets/releases v1"),
        "{out}"
    );
    let targets = s.read_json("targets.json");
    let roles = &targets["signed"]["delegations"]["roles"];
    assert_eq!(roles[0]["name"], "targets/releases");
    assert_eq!(roles[0]["paths"], serde_json::json!(["releases/"]));
    assert_eq!(
        targets["signed"]["delegations"]["keys"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    // The keys never left the tokens: pkcs11-tool sees a private key that is not extractable.
    let objs = run_ok(
        s.hsm
            .pkcs11_tool()
            .args(["--token-label", "alice", "--login", "--pin", common::PIN])
            .arg("--list-objects"),
    );
    assert!(objs.contains("label:      releases"), "{objs}");
    assert!(
        !objs.contains("extractable") || objs.contains("never extractable"),
        "{objs}"
    );

    // Alice publishes a release with her token; she does not have the targets key, and
    // targets is not signed again.
    let a = s.write("app-1.0.tgz", b"release one");
    run_ok(s.publisher().args([
        "add",
        GUN,
        "releases/app-1.0.tgz",
        a.to_str().unwrap(),
        "--role",
        "targets/releases",
    ]));
    let out = run_ok(
        s.publisher()
            .args(["publish", GUN, "--repo", s.repo().to_str().unwrap()]),
    );
    assert!(out.contains("targets v1 (unchanged)"), "{out}");
    assert!(out.contains("signed targets/releases v2"), "{out}");
    // Bob publishes QA builds with his.
    let b = s.write("qa-build.tgz", b"qa build 7");
    run_ok(s.publisher().args([
        "add",
        GUN,
        "qa/build-7.tgz",
        b.to_str().unwrap(),
        "--role",
        "targets/qa",
    ]));
    run_ok(
        s.publisher()
            .args(["publish", GUN, "--repo", s.repo().to_str().unwrap()]),
    );
    let snap = s.read_json("snapshot.json");
    for role in ["root", "targets", "targets/releases", "targets/qa"] {
        assert!(
            snap["signed"]["meta"][role]["hashes"]["sha256"].is_string(),
            "{role}: {snap}"
        );
    }

    // A target outside a delegation's paths is refused when staged.
    s.refused_outside("other/x.tgz", &a, "targets/releases", "\"releases/\"");

    // trustkey's own client lists each target with the role that signed it.
    let repo = s.repo();
    let out = run_ok(
        s.client("c1")
            .args(["list", GUN, "--repo", repo.to_str().unwrap()]),
    );
    assert!(
        out.lines().any(|l| l.starts_with("releases/app-1.0.tgz")
            && l.contains(&sha256_hex(&a))
            && l.trim_end().ends_with("targets/releases")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("qa/build-7.tgz") && l.trim_end().ends_with("targets/qa")),
        "{out}"
    );
    run_ok(s.client("c1").args([
        "verify",
        GUN,
        "--repo",
        repo.to_str().unwrap(),
        "--target",
        &format!("releases/app-1.0.tgz={}", a.display()),
    ]));

    // The real notary client, from a fresh trust dir, over HTTP.
    let notary_list = |extra: &[&str]| {
        run_ok(
            common::notary_over_http(s.path(), s.repo())
                .args(["list", GUN])
                .args(extra),
        )
    };
    let rows = notary_rows(&notary_list(&["-r", "targets/releases"]));
    assert_eq!(
        rows,
        vec![vec![
            "releases/app-1.0.tgz".to_string(),
            sha256_hex(&a),
            "11".into(),
            "targets/releases".into()
        ]]
    );
    let rows = notary_rows(&notary_list(&[]));
    assert!(
        rows.iter()
            .any(|r| r[0] == "qa/build-7.tgz" && r[1] == sha256_hex(&b) && r[3] == "targets/qa"),
        "{rows:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    // notary's own view of the delegations: each role with its paths, key ID and threshold.
    let dl = run_ok(common::notary_over_http(s.path(), s.repo()).args(["delegation", "list", GUN]));
    let cfg = json(
        &std::fs::read_to_string(s.hsm.trust_dir.join("tuf/example.com/app/trustkey.json"))
            .unwrap(),
    );
    for (name, paths) in [("targets/qa", "qa/"), ("targets/releases", "releases/")] {
        let d = cfg["delegations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap();
        let id = d["keys"][0]["key_id"].as_str().unwrap();
        assert!(
            dl.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [name, paths, id, "1"]),
            "{name} {paths} {id}:\n{dl}"
        );
    }

    // The delegation is narrowed: releases/app-1.0.tgz is now outside it. Clients reject it
    // (trustkey says so; notary no longer lists it), the rest of the repository verifies.
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--paths",
        "releases/stable/",
    ]);
    s.publish();
    let out = run_ok(
        s.client("c1")
            .args(["list", GUN, "--repo", repo.to_str().unwrap()]),
    );
    assert!(!out.contains("releases/app-1.0.tgz"), "{out}");
    let (code, err) = run_fails(s.client("c1").args([
        "verify",
        GUN,
        "--repo",
        repo.to_str().unwrap(),
        "--target",
        &format!("releases/app-1.0.tgz={}", a.display()),
    ]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(
            "target \"releases/app-1.0.tgz\" is rejected: targets/releases lists \
             \"releases/app-1.0.tgz\" outside the paths delegated to targets/releases \
             (\"releases/stable/\")"
        ),
        "{err}"
    );
    let rows = notary_rows(&notary_list(&[]));
    assert!(
        !rows.iter().any(|r| r[0] == "releases/app-1.0.tgz"),
        "{rows:?}"
    );

    // Bob's delegation is removed: his targets are gone, and he can no longer publish.
    s.ok(&["delegation", "remove", GUN, "targets/qa"]);
    s.publish();
    let (code, err) = run_fails(s.publisher().args([
        "add",
        GUN,
        "qa/build-8.tgz",
        b.to_str().unwrap(),
        "--role",
        "targets/qa",
    ]));
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("has no delegation \"targets/qa\""), "{err}");
    let rows = notary_rows(&notary_list(&[]));
    assert!(rows.is_empty(), "{rows:?}");
    let snap = s.read_json("snapshot.json");
    assert!(snap["signed"]["meta"].get("targets/qa").is_none(), "{snap}");
    let out = s.ok(&["delegation", "list", GUN]);
    let row = table_row(&out, "targets/releases");
    assert_eq!(row[1], "\"releases/stable/\"", "{out}");
    assert!(!out.contains("targets/qa"), "{out}");
    // `key list` shows where the delegation's key is: alice's token.
    let keys = s.ok(&["key", "list"]);
    assert!(
        keys.lines().any(|l| l.starts_with("targets/releases")
            && l.trim_end().ends_with("pkcs11:token=alice;object=releases")),
        "{keys}"
    );
    // Alice's token is gone: a publish that renews expiries leaves her role as it is, and says so.
    run_ok(
        Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &s.hsm.conf)
            .args(["--delete-token", "--token", "alice"]),
    );
    let out = s.publish();
    assert!(
        out.contains("not renewed (their keys are not at hand): targets/releases"),
        "{out}"
    );
    run_ok(
        s.client("c1")
            .args(["verify", GUN, "--repo", repo.to_str().unwrap()]),
    );
}

#[test]
fn a_removed_delegation_key_signs_nothing() {
    let s = Setup::new(&[]);
    // Two keys, either may sign: alice's token and a key on disk.
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--generate",
        "--key",
        "new",
    ]);
    let a = s.write("a.tgz", b"a");
    s.ok(&[
        "add",
        GUN,
        "a.tgz",
        a.to_str().unwrap(),
        "--role",
        "targets/releases",
    ]);
    s.publish();
    let cfg = json(
        &std::fs::read_to_string(s.hsm.trust_dir.join("tuf/example.com/app/trustkey.json"))
            .unwrap(),
    );
    let keys = cfg["delegations"][0]["keys"].as_array().unwrap().clone();
    let alice = keys
        .iter()
        .find(|k| k["location"]["kind"] == "token")
        .unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let rel = s.read_json("targets/releases.json");
    assert_eq!(rel["signatures"].as_array().unwrap().len(), 2, "{rel}");
    // The key on disk is in the backup, decrypts, and is known as the delegation's; it cannot
    // be deleted while the delegation uses it.
    let disk = keys
        .iter()
        .find(|k| k["location"]["kind"] == "file")
        .unwrap()["location"]["key_file_id"]
        .as_str()
        .unwrap()
        .to_string();
    let backup = s.path().join("keys.tar.gz");
    s.ok(&["backup", "create", "--out", backup.to_str().unwrap()]);
    let out = s.ok(&["backup", "verify", backup.to_str().unwrap()]);
    assert!(
        out.contains("example.com/app delegation targets/releases"),
        "{out}"
    );
    let (code, err) = s.fails(&["key", "remove", &disk]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("signs the delegation targets/releases with it"),
        "{err}"
    );

    // Alice's key is removed; the repository is published again.
    let out = s.ok(&[
        "delegation",
        "remove",
        GUN,
        "targets/releases",
        "--key",
        &alice[..8],
    ]);
    assert!(out.contains("removed from targets/releases"), "{out}");
    let b = s.write("b.tgz", b"b");
    s.ok(&[
        "add",
        GUN,
        "b.tgz",
        b.to_str().unwrap(),
        "--role",
        "targets/releases",
    ]);
    s.publish();
    let rel = s.read_json("targets/releases.json");
    let sigs: Vec<&str> = rel["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].as_str().unwrap())
        .collect();
    assert_eq!(sigs.len(), 1);
    assert_ne!(sigs[0], alice);
    let targets = s.read_json("targets.json");
    assert!(
        targets["signed"]["delegations"]["keys"]
            .get(&alice)
            .is_none(),
        "{targets}"
    );

    // A release signed by alice's removed key alone: the role file is replaced by one only
    // she signed (snapshot and timestamp updated to match, as a publisher with the other keys
    // would). Clients refuse it.
    let dir = s.gun_dir();
    let only_alice = {
        let mut v = rel.clone();
        let old = std::fs::read_to_string(dir.join("targets/releases.json")).unwrap();
        let _ = old;
        // Keep the signed part; sign it with alice's token through pkcs11-tool.
        let msg = trustkey::tuf::cjson::encode(&v["signed"]).unwrap();
        let msg_path = s.path().join("msg.bin");
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(&msg)
        };
        std::fs::write(&msg_path, digest).unwrap();
        let sig_path = s.path().join("sig.bin");
        run_ok(
            s.hsm
                .pkcs11_tool()
                .args(["--token-label", "alice", "--login", "--pin", common::PIN])
                .args(["--sign", "--mechanism", "ECDSA", "--label", "releases"])
                .arg("--input-file")
                .arg(&msg_path)
                .arg("--output-file")
                .arg(&sig_path),
        );
        use base64::Engine;
        let sig =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&sig_path).unwrap());
        v["signatures"] = serde_json::json!([{"keyid": alice, "method": "ecdsa", "sig": sig}]);
        v
    };
    let tampered =
        trustkey::tuf::signed::notary_file_bytes(&serde_json::from_value(only_alice).unwrap())
            .unwrap();
    let repo_copy = s.path().join("repo-copy");
    run_ok(Command::new("cp").arg("-a").arg(s.repo()).arg(&repo_copy));
    let copy_dir = repo_copy.join("example.com/app");
    std::fs::write(copy_dir.join("targets/releases.json"), &tampered).unwrap();
    // Re-sign snapshot and timestamp over it with the repository's own keys, so that only the
    // delegation's signature is wrong.
    resign_snapshot_and_timestamp(&s, &copy_dir, &tampered);
    let (code, err) =
        run_fails(
            s.client("c2")
                .args(["verify", GUN, "--repo", repo_copy.to_str().unwrap()]),
        );
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains(
            "targets/releases: valid signatures did not meet threshold for targets/releases: 0 of 1"
        ),
        "{err}"
    );
    // The untouched repository verifies.
    run_ok(
        s.client("c3")
            .args(["verify", GUN, "--repo", s.repo().to_str().unwrap()]),
    );
}

/// Replaces snapshot's entry for targets/releases with `role_bytes`' hashes and re-signs
/// snapshot and timestamp with the keys in the publisher's trust dir.
fn resign_snapshot_and_timestamp(s: &Setup, dir: &Path, role_bytes: &[u8]) {
    use trustkey::keys::Signer;
    use trustkey::tuf::dialect::Dialect;
    use trustkey::tuf::model::RoleName;
    use trustkey::tuf::signed::SignedMeta;
    let cfg = json(
        &std::fs::read_to_string(s.hsm.trust_dir.join("tuf/example.com/app/trustkey.json"))
            .unwrap(),
    );
    let key = |role: &str, pass: &str| {
        let id = cfg["key_ids"][role].as_str().unwrap().to_string();
        let path = s.hsm.trust_dir.join("private").join(format!("{id}.key"));
        let (k, _) = trustkey::keys::store::load_signer(
            &path,
            &secrecy::SecretString::from(pass.to_string()),
            role,
        )
        .unwrap();
        (id, k)
    };
    let d = Dialect::Notary;
    let role = SignedMeta::parse_named(RoleName::Targets, "targets/releases", role_bytes.to_vec())
        .unwrap();
    // Bumps a role's version, lets `edit` change its `signed`, re-signs and writes it.
    let resign = |file: &str, role: RoleName, pass: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = json(&std::fs::read_to_string(dir.join(file)).unwrap());
        edit(&mut v["signed"]);
        v["signed"]["version"] = (v["signed"]["version"].as_u64().unwrap() + 1).into();
        let (id, k) = key(role.as_str(), pass);
        let m = SignedMeta::sign(
            d,
            role,
            v["signed"].clone(),
            &[(id.as_str(), &k as &dyn Signer)],
        )
        .unwrap();
        std::fs::write(dir.join(file), &*m.bytes).unwrap();
        m
    };
    let entry = |m: &SignedMeta| serde_json::to_value(d.meta_entry(m, Default::default())).unwrap();
    let sm = resign("snapshot.json", RoleName::Snapshot, PASS[1].1, &|s| {
        s["meta"]["targets/releases"] = entry(&role)
    });
    resign("timestamp.json", RoleName::Timestamp, PASS[2].1, &|t| {
        t["meta"]["snapshot"] = entry(&sm)
    });
}

#[test]
fn tuf_delegation_and_hashed_bins_read_by_python_tuf() {
    let s = Setup::new(&[
        "--dialect",
        "tuf",
        "--consistent-snapshot",
        "--hashed-bins",
        "16",
    ]);
    let www = s.path().join("www");
    let repo = www.join("r");
    let publish = || {
        run_ok(
            s.tk()
                .args(["publish", GUN, "--repo", repo.to_str().unwrap()]),
        )
    };
    // Alice signs releases/* with the key on her token; everything else goes to the bins.
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--generate",
        "--paths",
        "releases/*",
        "--terminating",
    ]);
    let rel = s.write("app-1.0.tgz", b"release one");
    s.ok(&[
        "add",
        GUN,
        "releases/app-1.0.tgz",
        rel.to_str().unwrap(),
        "--role",
        "releases",
    ]);
    let docs = s.path().join("docs");
    for i in 0..40 {
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(format!("page-{i}.txt")), format!("page {i}\n")).unwrap();
    }
    s.ok(&[
        "add",
        GUN,
        "--dir",
        docs.to_str().unwrap(),
        "--prefix",
        "docs/",
    ]);
    let out = publish();
    assert!(out.contains("targets v1,"), "{out}");
    let meta = repo.join(GUN).join("metadata");
    let snap = json(&std::fs::read_to_string(meta.join("snapshot.json")).unwrap());
    let listed = snap["signed"]["meta"].as_object().unwrap();
    // targets.json, releases.json and the 16 bins.
    assert_eq!(listed.len(), 18, "{snap}");
    let targets = json(&std::fs::read_to_string(meta.join("1.targets.json")).unwrap());
    let roles = targets["signed"]["delegations"]["roles"]
        .as_array()
        .unwrap();
    assert_eq!(roles[0]["name"], "releases");
    assert_eq!(roles[0]["terminating"], true);
    assert_eq!(roles[1]["name"], "bins-0");
    assert_eq!(roles[1]["path_hash_prefixes"], serde_json::json!(["0"]));
    assert_eq!(targets["signed"]["targets"], serde_json::json!({}));

    let port = common::pytuf::serve_static(www.clone());
    let url = |sub: &str| format!("http://127.0.0.1:{port}/r/{GUN}/{sub}/");
    let client = s.path().join("py");
    let v = common::pytuf::updater(
        &client,
        &url("metadata"),
        &url("targets"),
        &meta.join("1.root.json"),
        &["releases/app-1.0.tgz", "docs/page-7.txt"],
    );
    assert_eq!(v["ok"], true, "{v}");
    let got = |name: &str| std::fs::read(v["targets"][name].as_str().unwrap()).unwrap();
    assert_eq!(got("releases/app-1.0.tgz"), b"release one");
    assert_eq!(got("docs/page-7.txt"), b"page 7\n");

    // trustkey's client says which bin each doc came from.
    let list = run_ok(s.client("c").args([
        "list",
        GUN,
        "--dialect",
        "tuf",
        "--repo",
        repo.to_str().unwrap(),
    ]));
    let bin_of_new = list
        .lines()
        .find(|l| l.starts_with("docs/page-7.txt"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string();
    assert!(bin_of_new.starts_with("bins-"), "{list}");
    assert!(list.contains("releases/app-1.0.tgz"), "{list}");

    // One more target: one bin is signed again, nothing else but snapshot and timestamp.
    let extra = s.write("new.txt", b"a new page\n");
    s.ok(&["add", GUN, "docs/new.txt", extra.to_str().unwrap()]);
    let out = publish();
    assert!(out.contains("targets v1 (unchanged)"), "{out}");
    let snap2 = json(&std::fs::read_to_string(meta.join("snapshot.json")).unwrap());
    let changed: Vec<(&String, &serde_json::Value)> = snap2["signed"]["meta"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| snap["signed"]["meta"][k.as_str()] != **v)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].0.starts_with("bins-"), "{changed:?}");
    assert_eq!(changed[0].1["version"], 2);
    assert!(
        out.contains(&format!(
            "signed {}",
            changed[0].0.trim_end_matches(".json")
        )),
        "{out}"
    );
    // python-tuf follows the update through the bin.
    let v = common::pytuf::updater(
        &client,
        &url("metadata"),
        &url("targets"),
        &meta.join("1.root.json"),
        &["docs/new.txt"],
    );
    assert_eq!(v["ok"], true, "{v}");

    // Alice's delegation does not cover other paths; a target nobody lists is not found.
    s.refused_outside("other/x", &extra, "releases", "\"releases/*\"");
    let v = common::pytuf::updater(
        &client,
        &url("metadata"),
        &url("targets"),
        &meta.join("1.root.json"),
        &["releases/nope.tgz"],
    );
    assert_eq!(v["ok"], false, "{v}");
    // trustkey verifies the whole tree, and the delegation list shows both kinds.
    run_ok(s.client("c").args([
        "verify",
        GUN,
        "--dialect",
        "tuf",
        "--repo",
        repo.to_str().unwrap(),
    ]));
    let out = s.ok(&["delegation", "list", GUN]);
    let row = table_row(&out, "releases");
    assert_eq!(row[1..4], ["\"releases/*\"", "1", "yes"], "{out}");
    assert!(out.contains("hashed bins: 16 (bins-0 .. bins-f)"), "{out}");

    // --metadata-only: the target is listed, its file is served from elsewhere.
    let cdn = s.write("cdn.bin", b"served by a CDN\n");
    s.ok(&["add", GUN, "cdn/big.bin", cdn.to_str().unwrap()]);
    run_ok(s.tk().args([
        "publish",
        GUN,
        "--repo",
        repo.to_str().unwrap(),
        "--metadata-only",
    ]));
    let targets_dir = repo.join(GUN).join("targets");
    assert!(!targets_dir.join("cdn").exists(), "no file copied");
    let list = run_ok(s.client("c").args([
        "list",
        GUN,
        "--dialect",
        "tuf",
        "--repo",
        repo.to_str().unwrap(),
    ]));
    assert!(list.contains("cdn/big.bin"), "{list}");

    // A publish with nothing staged renews every role: targets, the delegation, all bins.
    let before = json(&std::fs::read_to_string(meta.join("snapshot.json")).unwrap());
    let out = publish();
    assert!(out.contains("and 9 more"), "{out}");
    let after = json(&std::fs::read_to_string(meta.join("snapshot.json")).unwrap());
    for (name, entry) in after["signed"]["meta"].as_object().unwrap() {
        let old = before["signed"]["meta"][name]["version"].as_u64().unwrap();
        assert_eq!(entry["version"].as_u64().unwrap(), old + 1, "{name}");
    }
}

#[test]
fn notary_server_takes_delegated_roles_and_refuses_a_removed_key() {
    let srv = common::notary_server::NotaryServer::start();
    let hsm = Hsm::new();
    for t in ["root", "alice"] {
        hsm.add_token(t);
    }
    hsm.ok(&["root", "create", "--token", "pkcs11:token=root"]);
    let s = Setup { hsm };
    let server = |c: &mut Command| {
        c.arg("-s").arg(&srv.url).arg("--tlscacert").arg(&srv.ca);
    };
    let admin = |args: &[&str]| {
        let mut c = s.tk();
        server(&mut c);
        run_ok(c.args(args))
    };
    // Docker Content Trust's layout: the server signs snapshot and timestamp.
    admin(&["init", GUN, "--server-managed-snapshot"]);
    admin(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--generate",
    ]);
    let out = admin(&["publish", GUN]);
    assert!(out.contains("signed targets/releases v1"), "{out}");
    // Before alice's key is removed, a copy of this trust dir goes with her.
    let stale = s.path().join("alice-trust");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(&s.hsm.trust_dir)
            .arg(&stale),
    );

    // Alice publishes with nothing but her token: no repository passphrase at all.
    let alice = |trust: &Path, args: &[&str]| {
        let mut c = s.hsm.trustkey_in(trust);
        server(&mut c);
        c.args(args);
        c
    };
    let a = s.write("app-1.0.tgz", b"release one");
    let trust = s.hsm.trust_dir.clone();
    run_ok(&mut alice(
        &trust,
        &[
            "add",
            GUN,
            "app-1.0.tgz",
            a.to_str().unwrap(),
            "--role",
            "targets/releases",
        ],
    ));
    let out = run_ok(&mut alice(&trust, &["publish", GUN]));
    assert!(out.contains("signed targets/releases v2"), "{out}");
    let home = s.path().join("notary-home");
    let list = |role: Option<&str>| {
        let mut c = common::notary();
        c.env("HOME", &home)
            .arg("-s")
            .arg(&srv.url)
            .arg("--tlscacert")
            .arg(&srv.ca)
            .arg("-d")
            .arg(home.join("trust"))
            .args(["list", GUN]);
        if let Some(r) = role {
            c.args(["-r", r]);
        }
        notary_rows(&run_ok(&mut c))
    };
    assert_eq!(
        list(Some("targets/releases")),
        vec![vec![
            "app-1.0.tgz".to_string(),
            sha256_hex(&a),
            "11".into(),
            "targets/releases".into()
        ]]
    );

    // The team gives the delegation a key on disk and takes alice's out.
    admin(&["delegation", "add", GUN, "targets/releases", "--key", "new"]);
    let cfg =
        json(&std::fs::read_to_string(trust.join("tuf/example.com/app/trustkey.json")).unwrap());
    let alice_id = cfg["delegations"][0]["keys"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    admin(&[
        "delegation",
        "remove",
        GUN,
        "targets/releases",
        "--key",
        &alice_id,
    ]);
    admin(&["publish", GUN]);

    // Alice, with her stale copy, still believes her key signs the role: the server refuses.
    let b = s.write("app-2.0.tgz", b"release two");
    run_ok(&mut alice(
        &stale,
        &[
            "add",
            GUN,
            "app-2.0.tgz",
            b.to_str().unwrap(),
            "--role",
            "targets/releases",
        ],
    ));
    let (code, err) = run_fails(&mut alice(&stale, &["publish", GUN]));
    assert_ne!(code, 0);
    assert!(
        err.contains("valid signatures did not meet threshold for targets/releases"),
        "{err}"
    );
    let rows = list(None);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "app-1.0.tgz");
    // With the current trust dir, the key on disk signs it.
    admin(&[
        "add",
        GUN,
        "app-2.0.tgz",
        b.to_str().unwrap(),
        "--role",
        "targets/releases",
    ]);
    admin(&["publish", GUN]);
    assert_eq!(list(Some("targets/releases")).len(), 2);
}

/// The cells of the table row of `delegation list` (columns two or more spaces apart) whose
/// first cell is `role`.
fn table_row(out: &str, role: &str) -> Vec<String> {
    let header: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("ROLE"))
        .unwrap_or_else(|| panic!("no table: {out}"))
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header[..4],
        ["ROLE", "PATHS", "THRESHOLD", "TERMINATING"],
        "{out}"
    );
    out.lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(role))
        .unwrap_or_else(|| panic!("no row {role}: {out}"))
}
