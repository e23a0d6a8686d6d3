//! Threshold roots in the TUF dialect, between separate machines (tests/common/ceremony.rs):
//! three key holders export public keys, the publisher inits a 2-of-3 root from them, two sign
//! the request on their own machines, the publisher applies and publishes; python-tuf's Updater
//! and trustkey's client accept it, and refuse a copy with one valid signature. `apply` refuses
//! what must not become a root, in one line, changing nothing.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use common::ceremony::Ceremony;
use common::{json, run_fails, run_ok};

const GUN: &str = "example.com/app";
const OTHER: &str = "example.com/other";

/// Every file under the publisher's trust dir, with its bytes (what "nothing changed" means).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("trustkey.lock") {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `apply ARGS` refused with one line (and a hint) containing `needle`; the trust dir unchanged.
fn refused(c: &Ceremony, args: &[&str], code: i32, needle: &str) -> String {
    let before = snapshot(&c.publisher.trust_dir);
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    let (got, err) = c.fails(&all);
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hint:")).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].contains(needle), "{needle:?} not in: {err}");
    assert_eq!(got, code, "{err}");
    assert!(
        snapshot(&c.publisher.trust_dir) == before,
        "apply changed the trust dir: {err}"
    );
    lines[0].to_string()
}

fn edit_json(from: &Path, to: &Path, f: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut v = json(&std::fs::read_to_string(from).unwrap());
    f(&mut v);
    std::fs::write(to, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    to.to_path_buf()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(b))
}

/// Inits `gun` (tuf dialect) with `holders`' exported keys and `threshold`, writing the
/// request to `xfer/<file>`; returns its path.
fn init_threshold(
    c: &Ceremony,
    gun: &str,
    holders: &[&str],
    threshold: &str,
    file: &str,
) -> PathBuf {
    let req = c.xfer().join(file);
    let mut args = vec![
        "init".to_string(),
        gun.into(),
        "--dialect".into(),
        "tuf".into(),
    ];
    for h in holders {
        args.push("--root-key".into());
        args.push(c.xfer().join(format!("{h}.pub")).display().to_string());
    }
    args.extend([
        "--root-threshold".into(),
        threshold.into(),
        "--request".into(),
    ]);
    args.push(req.display().to_string());
    let out = run_ok(c.tk().args(&args));
    assert!(out.contains("needs signatures"), "{out}");
    assert!(
        out.contains("2 of the 3 root keys of v1 must sign (0 have)"),
        "{out}"
    );
    req
}

#[test]
fn two_of_three_tuf_root_signed_on_separate_machines() {
    let c = Ceremony::new(&["alice", "bob", "carol", "mallory"]);
    for h in &c.holders {
        h.export(c.xfer(), None);
    }
    let req = init_threshold(&c, GUN, &["alice", "bob", "carol"], "2", "app-root.json");
    // A second repository, with mallory among its keys: her signature on its request is by a
    // key outside GUN's root.
    let other = init_threshold(
        &c,
        OTHER,
        &["alice", "bob", "mallory"],
        "2",
        "other-root.json",
    );
    let (by_mallory, _) = c.holder("mallory").sign(&other, c.xfer());

    // The request holds no secret: no private key, PIN or passphrase.
    let text = std::fs::read_to_string(&req).unwrap();
    for secret in ["PRIVATE", common::PIN, "pass-1", "pin-source", "pin-value"] {
        assert!(!text.contains(secret), "{secret} in the request:\n{text}");
    }
    // Nothing is published before the signatures are in.
    assert!(!c
        .publisher
        .trust_dir
        .join("tuf/example.com/app/published/root.json")
        .exists());

    let (by_alice, summary) = c.holder("alice").sign(&req, c.xfer());
    for want in [
        "Signing request: the first root of a new repository of example.com/app (tuf dialect)",
        "root version 1, expires",
        "root (2 of 3)",
        "2 of the 3 root keys of v1 must sign (0 have)",
    ] {
        assert!(
            summary.contains(want),
            "{want:?} not in the summary:\n{summary}"
        );
    }
    eprintln!("--- what a signer reads (alice) ---\n{summary}");
    // Signing twice with one key adds nothing.
    let out = run_ok(c.holder("alice").tk().arg("sign").arg(&by_alice).args([
        "--key",
        &c.holder("alice").uri(),
        "--yes",
    ]));
    assert!(out.contains("had signed this request already"), "{out}");
    // mallory's key is not one this request needs: sign refuses.
    let (code, err) = run_fails(c.holder("mallory").tk().arg("sign").arg(&req).args([
        "--key",
        &c.holder("mallory").uri(),
        "--yes",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("not one of the root keys this request needs"),
        "{err}"
    );
    let (by_bob, _) = c.holder("bob").sign(&req, c.xfer());

    // --- refusals, each one line, nothing changed ---
    let a = by_alice.to_str().unwrap();
    refused(&c, &[a], 5, "has 1 of the 2 signatures it needs");
    // alice listed twice counts once.
    let twice = edit_json(&by_alice, &c.xfer().join("twice.json"), |v| {
        let s = v["signatures"][0].clone();
        v["signatures"].as_array_mut().unwrap().push(s);
    });
    refused(&c, &[twice.to_str().unwrap()], 5, "one key signed twice");
    // A signature by a key outside the set (mallory's, from the other request).
    let outsider = edit_json(&by_alice, &c.xfer().join("outsider.json"), |v| {
        let m = json(&std::fs::read_to_string(&by_mallory).unwrap());
        let s = m["signatures"][0].clone();
        v["signatures"].as_array_mut().unwrap().push(s);
    });
    refused(
        &c,
        &[outsider.to_str().unwrap(), by_bob.to_str().unwrap()],
        5,
        "not one of the root keys this request needs",
    );
    // Edited after it was signed: a later expiry, its sha256 made to match.
    let edited = edit_json(&by_bob, &c.xfer().join("edited.json"), |v| {
        let bytes = B64.decode(v["signed"].as_str().unwrap()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let at = text.find("\"expires\":\"").unwrap() + 11;
        let year: u32 = text[at..at + 4].parse().unwrap();
        let text = format!("{}{}{}", &text[..at], year + 5, &text[at + 4..]);
        v["signed"] = B64.encode(text.as_bytes()).into();
        v["sha256"] = sha256_hex(text.as_bytes()).into();
    });
    refused(
        &c,
        &[a, edited.to_str().unwrap()],
        5,
        "edited after it was made",
    );
    // Edited without fixing the sha256.
    let careless = edit_json(&by_bob, &c.xfer().join("careless.json"), |v| {
        let bytes = B64.decode(v["signed"].as_str().unwrap()).unwrap();
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace("\"version\":1", "\"version\":7");
        v["signed"] = B64.encode(text.as_bytes()).into();
    });
    refused(
        &c,
        &[a, careless.to_str().unwrap()],
        5,
        "edited after it was made",
    );
    // A request for another GUN.
    refused(
        &c,
        &["--gun", OTHER, a, by_bob.to_str().unwrap()],
        2,
        "is a request for example.com/app, not example.com/other",
    );
    let renamed = edit_json(&by_bob, &c.xfer().join("renamed.json"), |v| {
        v["gun"] = OTHER.into();
    });
    let a_renamed = edit_json(&by_alice, &c.xfer().join("a-renamed.json"), |v| {
        v["gun"] = OTHER.into();
    });
    refused(
        &c,
        &[a_renamed.to_str().unwrap(), renamed.to_str().unwrap()],
        5,
        "waiting for signatures in example.com/other",
    );

    // --- two of three: applied, published, accepted ---
    let out = c.ok(&["apply", a, by_bob.to_str().unwrap()]);
    assert!(
        out.contains("root v1 of example.com/app is signed (2 signature(s))"),
        "{out}"
    );
    let target = c.publisher.path().join("hello.txt");
    std::fs::write(&target, b"hello").unwrap();
    c.ok(&["add", GUN, "hello.txt", target.to_str().unwrap()]);
    let www = c.publisher.path().join("www");
    let repo = www.join("good");
    c.ok(&["publish", GUN, "--repo", repo.to_str().unwrap()]);
    let meta = repo.join(GUN).join("metadata");
    let root = json(&std::fs::read_to_string(meta.join("1.root.json")).unwrap());
    assert_eq!(root["signed"]["roles"]["root"]["threshold"], 2);
    assert_eq!(
        root["signed"]["roles"]["root"]["keyids"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(root["signatures"].as_array().unwrap().len(), 2);

    let port = common::pytuf::serve_static(www.clone());
    let url = |p: &str| format!("http://127.0.0.1:{port}/{p}");
    let py = common::pytuf::updater(
        &c.publisher.path().join("py-good"),
        &url(&format!("good/{GUN}/metadata/")),
        &url(&format!("good/{GUN}/targets/")),
        &meta.join("1.root.json"),
        &["hello.txt"],
    );
    assert_eq!(py["ok"], true, "{py}");
    run_ok(
        c.publisher
            .client("tkclients", "good")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(&repo),
    );

    // A copy whose root carries one valid signature: both clients refuse it.
    let one = www.join("one");
    common::copy_tree(&repo, &one);
    let one_meta = one.join(GUN).join("metadata");
    for f in ["1.root.json", "root.json"] {
        edit_json(&one_meta.join(f), &one_meta.join(f), |v| {
            v["signatures"].as_array_mut().unwrap().truncate(1);
        });
    }
    let py = common::pytuf::updater(
        &c.publisher.path().join("py-one"),
        &url(&format!("one/{GUN}/metadata/")),
        &url(&format!("one/{GUN}/targets/")),
        &one_meta.join("1.root.json"),
        &["hello.txt"],
    );
    assert_eq!(py["ok"], false, "{py}");
    assert!(
        py["error"]
            .as_str()
            .unwrap()
            .contains("root was signed by 1/2 keys"),
        "{py}"
    );
    let (code, err) = run_fails(
        c.publisher
            .client("tkclients", "one")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(&one),
    );
    assert_eq!(code, 5, "{err}");

    // The history shows who signed v1.
    let h = json(&c.ok(&["--json", "root", "history", GUN]));
    let v1 = &h["versions"][0];
    assert_eq!(v1["threshold"], 2);
    let signed: Vec<bool> = v1["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["signed"].as_bool().unwrap())
        .collect();
    assert_eq!(signed.iter().filter(|s| **s).count(), 2, "{h}");
}

/// The newest `role` metadata in `meta`: `N.role.json` with the highest N, else `role.json`.
fn latest(meta: &Path, role: &str) -> PathBuf {
    let suffix = format!(".{role}.json");
    std::fs::read_dir(meta)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let n: u64 = name.strip_suffix(&suffix)?.parse().ok()?;
            Some((n, p))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, p)| p)
        .unwrap_or_else(|| meta.join(format!("{role}.json")))
}

/// The publisher's argv for `--root-key xfer/<h>.pub` of each holder.
fn key_args(c: &Ceremony, holders: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    for h in holders {
        args.push("--root-key".to_string());
        args.push(c.xfer().join(format!("{h}.pub")).display().to_string());
    }
    args
}

#[test]
fn rotation_needs_the_old_and_the_new_threshold_and_renew_is_followed() {
    let c = Ceremony::new(&["alice", "bob", "carol", "dave"]);
    for h in &c.holders {
        h.export(c.xfer(), None);
    }
    let req = init_threshold(&c, GUN, &["alice", "bob", "carol"], "2", "v1.json");
    let (a, _) = c.holder("alice").sign(&req, c.xfer());
    let (b, _) = c.holder("bob").sign(&req, c.xfer());
    c.ok(&["apply", a.to_str().unwrap(), b.to_str().unwrap()]);
    let target = c.publisher.path().join("hello.txt");
    std::fs::write(&target, b"hello").unwrap();
    c.ok(&["add", GUN, "hello.txt", target.to_str().unwrap()]);
    let www = c.publisher.path().join("www");
    let repo = www.join("r");
    let publish = || c.ok(&["publish", GUN, "--repo", repo.to_str().unwrap()]);
    publish();
    let meta = repo.join(GUN).join("metadata");
    let port = common::pytuf::serve_static(www.clone());
    let url = |p: &str| format!("http://127.0.0.1:{port}/{p}");
    let py = |repo: &str, client: &str| {
        common::pytuf::updater(
            &c.publisher.path().join(client),
            &url(&format!("{repo}/{GUN}/metadata/")),
            &url(&format!("{repo}/{GUN}/targets/")),
            &meta.join("1.root.json"),
            &["hello.txt"],
        )
    };
    let tk_verify = |repo: &Path, client: &str| {
        c.publisher
            .client("tkclients", client)
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(repo)
            .output()
            .unwrap()
    };
    assert_eq!(py("r", "py")["root_version"], 1);
    assert!(tk_verify(&repo, "tk").status.success());

    // carol's key is replaced by dave's: 2 of {alice, bob, dave}, after 2 of {alice, bob, carol}.
    let rot = c.xfer().join("v2.json");
    let mut args = ["root", "rotate", GUN]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    args.extend(key_args(&c, &["alice", "bob", "dave"]));
    args.extend(["--root-threshold", "2", "--request", rot.to_str().unwrap()].map(String::from));
    let out = run_ok(c.tk().args(&args));
    assert!(
        out.contains("2 of the 3 root keys of v2 must sign"),
        "{out}"
    );
    assert!(
        out.contains("2 of the 3 root keys of v1 must sign"),
        "{out}"
    );
    let (ra, summary) = c.holder("alice").sign(&rot, c.xfer());
    assert!(
        summary.contains("changes from the trusted root v1:"),
        "{summary}"
    );
    assert!(
        summary.contains("root: key") && summary.contains("added"),
        "{summary}"
    );
    assert!(summary.contains("removed"), "{summary}");
    eprintln!("--- what a signer of the rotation reads (alice) ---\n{summary}");
    let (rd, _) = c.holder("dave").sign(&rot, c.xfer());
    // alice and dave: two of the new keys, one of the old: refused.
    refused(
        &c,
        &[ra.to_str().unwrap(), rd.to_str().unwrap()],
        5,
        "has 1 of the 2 signatures it needs from the keys of the trusted root v1",
    );
    // carol (old only) makes the old threshold: two old (alice, carol) and two new (alice, dave).
    let (rc, _) = c.holder("carol").sign(&rot, c.xfer());
    c.ok(&[
        "apply",
        ra.to_str().unwrap(),
        rd.to_str().unwrap(),
        rc.to_str().unwrap(),
    ]);
    publish();
    let v = py("r", "py");
    assert_eq!(v["root_version"], 2, "{v}");
    assert!(tk_verify(&repo, "tk").status.success());

    // The same rotation signed only by keys of the new root (alice, dave): python-tuf refuses.
    let only_new = www.join("only-new");
    common::copy_tree(&repo, &only_new);
    let om = only_new.join(GUN).join("metadata");
    let carol_ids = json(&std::fs::read_to_string(&rc).unwrap())["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    for f in ["2.root.json", "root.json"] {
        edit_json(&om.join(f), &om.join(f), |v| {
            v["signatures"]
                .as_array_mut()
                .unwrap()
                .retain(|s| !carol_ids.contains(&s["keyid"].as_str().unwrap().to_string()));
            assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
        });
    }
    let v = py("only-new", "py-only-new");
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("root was signed by 1/2 keys"),
        "{v}"
    );
    let out = tk_verify(&only_new, "tk-only-new");
    assert_eq!(out.status.code(), Some(5), "{out:?}");

    // root renew: the same keys, a later expiry; needs the threshold (v3's and v2's).
    let renew = c.xfer().join("v3.json");
    let out = c.ok(&[
        "root",
        "renew",
        GUN,
        "--expires",
        "5y",
        "--request",
        renew.to_str().unwrap(),
    ]);
    assert!(
        out.contains("root v3 of example.com/app needs signatures"),
        "{out}"
    );
    let (na, summary) = c.holder("alice").sign(&renew, c.xfer());
    assert!(summary.contains("a root renewal"), "{summary}");
    assert!(
        summary.contains("expires") && summary.contains("(was "),
        "{summary}"
    );
    let (nb, _) = c.holder("bob").sign(&renew, c.xfer());
    c.ok(&["apply", na.to_str().unwrap(), nb.to_str().unwrap()]);
    publish();
    let v = py("r", "py");
    assert_eq!(v["root_version"], 3, "{v}");
    assert!(tk_verify(&repo, "tk").status.success());
    // A client that saw only v1 follows v2 and v3.
    assert_eq!(py("r", "py-late")["root_version"], 3);

    let h = json(&c.ok(&["--json", "root", "history", GUN]));
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{h}");
    // v2 lists dave, not carol; carol's signature is a previous root key's.
    assert_eq!(
        versions[1]["also_signed_by"].as_array().unwrap().len(),
        1,
        "{h}"
    );
    let text = c.ok(&["root", "history", GUN]);
    eprintln!("--- root history ---\n{text}");
    assert!(text.contains("retired"), "{text}");

    // key rotate under the 2-of-3 root: the new targets key is made at once, the root naming
    // it (v4) becomes a request in the trust dir; publishing meanwhile still signs with the
    // old key; two holders sign; apply retires the old key; python-tuf and trustkey follow.
    let keys_before = json(&c.ok(&["--json", "key", "list"]));
    let rot = json(&c.ok(&["--json", "key", "rotate", GUN, "targets"]));
    assert_eq!(rot["outcome"], "requested", "{rot}");
    assert_eq!(rot["root_version"], 4, "{rot}");
    assert!(rot["retired_to"].is_null(), "{rot}");
    let needs = rot["needs"].as_array().unwrap();
    assert!(
        needs.iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("2 of the 3 root keys of v4 must sign")),
        "{rot}"
    );
    let pending = PathBuf::from(rot["request"].as_str().unwrap());
    let handed = c.xfer().join("v4-key.json");
    std::fs::copy(&pending, &handed).unwrap();
    let (old_key, new_key) = (
        rot["old_key_id"].as_str().unwrap().to_string(),
        rot["new_key_id"].as_str().unwrap().to_string(),
    );
    std::fs::write(&target, b"hello again").unwrap();
    c.ok(&["add", GUN, "hello.txt", target.to_str().unwrap()]);
    publish();
    let v = py("r", "py");
    assert_eq!(
        v["root_version"], 3,
        "root v4 is not published before apply: {v}"
    );
    let (ka, summary) = c.holder("alice").sign(&handed, c.xfer());
    assert!(summary.contains("a new repository key"), "{summary}");
    assert!(summary.contains("targets"), "{summary}");
    eprintln!("--- what a signer of a key rotation reads (alice) ---\n{summary}");
    // One signature of two: refused, nothing changes.
    refused(&c, &[ka.to_str().unwrap()], 5, "has 1 of the 2 signatures");
    let (kb, _) = c.holder("bob").sign(&handed, c.xfer());
    c.ok(&["apply", ka.to_str().unwrap(), kb.to_str().unwrap()]);
    let keys_after = json(&c.ok(&["--json", "key", "list"]));
    let status = |keys: &serde_json::Value, id: &str| {
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["key_id"] == id)
            .map(|k| k["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status(&keys_before, &old_key).as_deref(), Some("active"));
    assert_eq!(
        status(&keys_after, &old_key).as_deref(),
        Some("retired"),
        "{keys_after}"
    );
    assert_eq!(
        status(&keys_after, &new_key).as_deref(),
        Some("active"),
        "{keys_after}"
    );
    publish();
    let v = py("r", "py");
    assert_eq!(v["root_version"], 4, "{v}");
    assert_eq!(py("r", "py-after-key-rotation")["root_version"], 4);
    let root4 = json(&std::fs::read_to_string(meta.join("4.root.json")).unwrap());
    let targets_ids = root4["signed"]["roles"]["targets"]["keyids"].clone();
    let targets_meta = json(&std::fs::read_to_string(latest(&meta, "targets")).unwrap());
    assert_eq!(
        targets_meta["signatures"][0]["keyid"], targets_ids[0],
        "targets is signed by the key root v4 names"
    );
    assert!(tk_verify(&repo, "tk").status.success());
}
