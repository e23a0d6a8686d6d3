//! `migrate`: a repository the real `notary` client made on a real notary-server (targets and
//! a delegation, targets/releases, with its own key and targets) carried into a TUF
//! repository that python-tuf's ngclient reads, every target with the same length and hashes:
//! once with the delegation's key in the trust dir (kept as a delegation), once without
//! (carried by targets).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::notary_server::NotaryServer;
use common::pytuf::{python, serve_static};
use common::{json, run_ok, Hsm};
use sha2::{Digest, Sha256, Sha512};

const GUN: &str = "docker.io/acme/app";

const PASS: [(&str, &str); 4] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
    // The harness's notary client encrypted the delegation key with this.
    ("TRUSTKEY_DELEGATION_PASSPHRASE", "delegation-passphrase-1"),
];

fn notary_ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A target file: its name in the repository, the file, which role signs it.
struct Target {
    name: &'static str,
    file: PathBuf,
    delegated: bool,
}

/// The notary client's repository on `srv`: targets v1, v2 by targets; rel/app-1.tgz,
/// rel/app-2.tgz by targets/releases (a certificate's key, imported into `ntrust`).
fn notary_repository(srv: &NotaryServer, work: &Path, ntrust: &Path) -> Vec<Target> {
    notary_ok(srv.notary(ntrust, &["init", GUN]));
    notary_ok(srv.notary(ntrust, &["publish", GUN]));
    let key = work.join("releases.key");
    let cert = work.join("releases.crt");
    run_ok(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&key),
    );
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-days",
                "30",
                "-subj",
                "/CN=releases",
            ])
            .arg("-key")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    let (k, c) = (key.to_str().unwrap(), cert.to_str().unwrap());
    notary_ok(srv.notary(
        ntrust,
        &[
            "delegation",
            "add",
            GUN,
            "targets/releases",
            c,
            "--all-paths",
        ],
    ));
    notary_ok(srv.notary(ntrust, &["publish", GUN]));
    notary_ok(srv.notary(ntrust, &["key", "import", k, "--role", "targets/releases"]));
    let mut targets = Vec::new();
    for (name, delegated, content) in [
        ("v1", false, &b"version one\n"[..]),
        ("v2", false, &b"version two, a little longer\n"[..]),
        ("rel/app-1.tgz", true, &b"release one"[..]),
        (
            "rel/app-2.tgz",
            true,
            &b"release two, signed by the delegate\n"[..],
        ),
    ] {
        let file = work.join(name.replace('/', "_"));
        std::fs::write(&file, content).unwrap();
        let f = file.to_str().unwrap();
        let mut args = vec!["add", GUN, name, f];
        if delegated {
            args.extend(["--roles", "targets/releases"]);
        }
        notary_ok(srv.notary(ntrust, &args));
        targets.push(Target {
            name,
            file,
            delegated,
        });
    }
    notary_ok(srv.notary(ntrust, &["publish", GUN]));
    targets
}

/// python-tuf's Updater on the migrated repository in `repo`: every target's length and
/// hashes, and the roles targets delegates to.
fn read_with_python_tuf(repo: &Path, client: &Path, names: &[&str]) -> serde_json::Value {
    let port = serve_static(repo.to_path_buf());
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tuf_targets.py"))
        .arg(client)
        .arg(format!("http://127.0.0.1:{port}/{GUN}/metadata/"))
        .arg(repo.join(GUN).join("metadata/1.root.json"))
        .args(names)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = json(text.lines().last().unwrap_or_default());
    assert!(
        out.status.success() && v["ok"] == true,
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

fn check_targets(v: &serde_json::Value, targets: &[Target]) {
    for t in targets {
        let bytes = std::fs::read(&t.file).unwrap();
        let got = &v["targets"][t.name];
        assert_eq!(got["length"], bytes.len() as u64, "{}: {v}", t.name);
        assert_eq!(
            got["hashes"]["sha256"],
            hex::encode(Sha256::digest(&bytes)),
            "{}: {v}",
            t.name
        );
        assert_eq!(
            got["hashes"]["sha512"],
            hex::encode(Sha512::digest(&bytes)),
            "{}: {v}",
            t.name
        );
    }
}

#[test]
fn a_notary_repository_with_a_delegation_becomes_a_tuf_repository() {
    let srv = NotaryServer::start();
    let hsm = Hsm::with_root("rootA");
    let work = hsm.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // The notary client's trust dir: its keys, the delegation's among them.
    let ntrust = hsm.path().join("notary-trust");
    std::fs::create_dir(&ntrust).unwrap();
    let targets = notary_repository(&srv, &work, &ntrust);
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    let ca = srv.ca.to_str().unwrap();
    let migrate = |trust: &Path, to: &Path| {
        let mut c = hsm.trustkey_in(trust);
        for (k, v) in PASS {
            c.env(k, v);
        }
        c.args(["migrate", GUN, "-s", &srv.url, "--tlscacert", ca, "--to"])
            .arg(to)
            .args(["--dialect", "tuf", "--root", "pkcs11:token=rootA"]);
        c
    };

    // The delegation's key is in the trust dir (the notary client's own): kept.
    let kept = work.join("tuf-kept");
    let out = run_ok(&mut migrate(&ntrust, &kept));
    assert!(out.contains("4 targets"), "{out}");
    let line = |role: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(role))
            .unwrap_or_else(|| panic!("no line for {role}:\n{out}"))
            .to_string()
    };
    assert!(
        line("targets/releases").contains("kept as the delegation releases"),
        "{out}"
    );
    let v = read_with_python_tuf(&kept, &work.join("client-kept"), &names);
    check_targets(&v, &targets);
    assert_eq!(v["delegations"], serde_json::json!(["releases"]), "{v}");
    let releases = std::fs::read_to_string(kept.join(GUN).join("metadata/releases.json")).unwrap();
    for t in &targets {
        assert_eq!(
            releases.contains(t.name),
            t.delegated,
            "{}: {releases}",
            t.name
        );
    }

    // JSON output says the same.
    let json_dir = work.join("tuf-json");
    let fresh = hsm.path().join("trust-json");
    let out = run_ok(migrate(&fresh, &json_dir).arg("--json"));
    let m = json(&out);
    assert_eq!(m["targets"], 4, "{m}");
    let roles = m["roles"].as_array().unwrap();
    let rel = roles
        .iter()
        .find(|r| r["source"] == "targets/releases")
        .unwrap();
    assert_eq!(rel["kept"], false, "{m}");
    assert_eq!(rel["signed_by"], "targets", "{m}");
    assert!(
        rel["why_not"]
            .as_str()
            .unwrap()
            .contains("not in the trust dir"),
        "{m}"
    );

    // Without the delegation's key (a trust dir of its own): targets carries everything.
    let carried = work.join("tuf-carried");
    let out = run_ok(&mut migrate(&hsm.trust_dir, &carried));
    assert!(
        line_of(&out, "targets/releases").contains("carried by targets"),
        "{out}"
    );
    let v = read_with_python_tuf(&carried, &work.join("client-carried"), &names);
    check_targets(&v, &targets);
    assert_eq!(v["delegations"], serde_json::json!([]), "{v}");

    // The same GUN again: refused before anything is read or signed.
    let (code, err) = common::run_fails(&mut migrate(&hsm.trust_dir, &carried));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already initialized"), "{err}");
}

fn line_of(out: &str, role: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(role))
        .unwrap_or_else(|| panic!("no line for {role}:\n{out}"))
        .to_string()
}
