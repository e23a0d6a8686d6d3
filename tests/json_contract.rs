//! The `--json` contract (docs/json.md): every data command is run with `--json`, and every
//! document it prints (and an error's, on stderr) is checked against the JSON Schema in
//! docs/json-schema/. The YubiKey commands need a card: tests/yubikey.rs checks theirs.

mod common;

use std::path::Path;
use std::process::Command;

use common::notary_server::NotaryServer;
use common::{json, Hsm};

const GUN: &str = "example.com/app";
const ON_SERVER: &str = "example.com/served";
const PASS: [(&str, &str); 5] = [
    (
        "TRUSTKEY_TARGETS_PASSPHRASE",
        "targets-pass-1 copper lantern",
    ),
    (
        "TRUSTKEY_SNAPSHOT_PASSPHRASE",
        "snapshot-pass-1 copper lantern",
    ),
    (
        "TRUSTKEY_TIMESTAMP_PASSPHRASE",
        "timestamp-pass-1 copper lantern",
    ),
    (
        "TRUSTKEY_DELEGATION_PASSPHRASE",
        "delegation-pass-1 copper lantern",
    ),
    (
        "TRUSTKEY_ROOT_PASSPHRASE",
        "root-escrow-pass copper lantern",
    ),
];

struct Run<'a> {
    hsm: &'a Hsm,
    docs: Vec<(&'static str, serde_json::Value)>,
}

impl Run<'_> {
    fn tk(&self) -> Command {
        self.hsm.trustkey_with(&PASS)
    }

    /// `trustkey --json ARGS`, which must succeed; its document is kept as `name`.
    fn doc(&mut self, name: &'static str, args: &[&str]) -> serde_json::Value {
        let mut c = self.tk();
        self.doc_of(name, c.arg("--json").args(args))
    }

    fn doc_of(&mut self, name: &'static str, c: &mut Command) -> serde_json::Value {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(v["schema"], 1, "{name}: {v}");
        self.docs.push((name, v.clone()));
        v
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_data_command_prints_a_document_of_the_schema() {
    let srv = NotaryServer::start();
    let hsm = Hsm::new();
    for t in ["rootA", "rootB", "rootC"] {
        hsm.add_token(t);
    }
    let mut r = Run {
        hsm: &hsm,
        docs: Vec::new(),
    };
    let p = hsm.path();
    let (repo, escrow) = (p.join("repo"), p.join("root.p8"));
    let ca = s(&srv.ca).to_string();
    let file = p.join("a.bin");
    std::fs::write(&file, b"a target").unwrap();
    let dist = p.join("dist");
    std::fs::create_dir(&dist).unwrap();
    for n in ["x", "y"] {
        std::fs::write(dist.join(n), n).unwrap();
    }

    // Tokens and the root key.
    r.doc("token list", &["token", "list"]);
    let escrow_arg = format!("--escrow={}", s(&escrow));
    r.doc(
        "root create",
        &[
            "root",
            "create",
            "--token",
            "pkcs11:token=rootA",
            &escrow_arg,
        ],
    );
    r.doc(
        "root duplicate",
        &[
            "root",
            "duplicate",
            "--to",
            "pkcs11:token=rootB",
            "--from-escrow",
            s(&escrow),
        ],
    );
    r.doc(
        "root check",
        &["root", "check", "--token", "pkcs11:token=rootA;object=root"],
    );

    // A repository in a directory: the publisher's day.
    let root = "pkcs11:token=rootA;object=root";
    r.doc("init", &["init", GUN, "--root", root]);
    r.doc("root list", &["root", "list"]);
    r.doc("add", &["add", GUN, "a", s(&file)]);
    r.doc("add", &["add", GUN, "--dir", s(&dist), "--prefix", "d/"]);
    let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    r.doc("addhash", &["addhash", GUN, "h", "5", "--sha256", sha]);
    r.doc("remove", &["remove", GUN, "h"]);
    r.doc("status", &["status", GUN]);
    r.doc("reset", &["reset", GUN]);
    r.doc("add", &["add", GUN, "a", s(&file)]);
    r.doc(
        "delegation add",
        &[
            "delegation",
            "add",
            GUN,
            "targets/releases",
            "--key",
            "new",
            "--paths",
            "r/",
        ],
    );
    r.doc(
        "delegation add",
        &[
            "delegation",
            "add",
            GUN,
            "targets/qa",
            "--key",
            "new",
            "--paths",
            "qa/",
        ],
    );
    r.doc("delegation list", &["delegation", "list", GUN]);
    r.doc(
        "delegation remove",
        &["delegation", "remove", GUN, "targets/qa"],
    );
    r.doc("publish", &["publish", GUN, "--repo", s(&repo)]);
    r.doc("status", &["status", GUN, "--expiring-within", "1d"]);
    r.doc("list", &["list", GUN, "--repo", s(&repo)]);
    let target = format!("a={}", s(&file));
    r.doc(
        "verify",
        &[
            "verify",
            GUN,
            "--repo",
            s(&repo),
            "--target",
            &target,
            "--expiring-within",
            "1d",
        ],
    );

    // Keys.
    let keys = r.doc("key list", &["key", "list"]);
    let snapshot = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "snapshot")
        .and_then(|k| k["key_id"].as_str())
        .unwrap()
        .to_string();
    // The same passphrase again: every key stays under its role's passphrase for backup verify.
    r.doc_of(
        "key passwd",
        r.tk()
            .env("TRUSTKEY_NEW_PASSPHRASE", "snapshot-pass-1 copper lantern")
            .args(["--json", "key", "passwd", &snapshot]),
    );
    r.doc("key rotate", &["key", "rotate", GUN, "snapshot"]);
    let exported = p.join("old-snapshot.key");
    assert!(r
        .tk()
        .args(["key", "export", &snapshot, "--out", s(&exported)])
        .output()
        .unwrap()
        .status
        .success());
    r.doc("key remove", &["key", "remove", &snapshot]);
    r.doc("key import", &["key", "import", s(&exported)]);
    r.doc(
        "root rotate",
        &[
            "root",
            "rotate",
            GUN,
            "--token",
            "pkcs11:token=rootC",
            "--root",
            root,
        ],
    );

    // Backups.
    let archive = p.join("keys.tar.gz");
    r.doc("backup create", &["backup", "create", "--out", s(&archive)]);
    r.doc("backup verify", &["backup", "verify", s(&archive)]);
    let restored = p.join("restored");
    r.doc_of(
        "backup restore",
        r.hsm
            .trustkey_in(&restored)
            .args(["--json", "backup", "restore", s(&archive)]),
    );

    // notary-server: publish, migrate off it, delete it there.
    r.doc(
        "init",
        &[
            "init",
            ON_SERVER,
            "--root",
            root,
            "-s",
            &srv.url,
            "--tlscacert",
            &ca,
        ],
    );
    r.doc("add", &["add", ON_SERVER, "a", s(&file)]);
    r.doc("publish", &["publish", ON_SERVER]);
    let migrated = p.join("migrated");
    r.doc(
        "migrate",
        &[
            "migrate",
            ON_SERVER,
            "-s",
            &srv.url,
            "--tlscacert",
            &ca,
            "--to",
            s(&migrated),
            "--dialect",
            "tuf",
            "--root",
            root,
            "--as",
            "example.com/moved",
        ],
    );
    r.doc("delete", &["delete", ON_SERVER, "--remote"]);
    r.doc("delete", &["delete", GUN]);

    // An error, on stderr.
    let out = r
        .tk()
        .args([
            "--json",
            "verify",
            "example.com/nowhere",
            "--repo",
            s(&repo),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let err = json(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(err["exit"], 4, "{err}");
    r.docs.push(("error", err));

    common::schema::validate(&r.docs, true);
}

/// The schema is not a formality: a document with a field it does not document, or without
/// one it requires, is refused.
#[test]
fn the_schema_refuses_what_it_does_not_document() {
    let good = serde_json::json!({
        "schema": 1, "error": "no such repository", "hint": null, "exit": 4
    });
    common::schema::validate(&[("error", good.clone())], false);
    for bad in [
        serde_json::json!({"schema": 1, "error": "x", "hint": null}),
        serde_json::json!({"schema": 2, "error": "x", "hint": null, "exit": 4}),
        serde_json::json!({"schema": 1, "error": "x", "hint": null, "exit": 4, "extra": 1}),
    ] {
        let r =
            std::panic::catch_unwind(|| common::schema::validate(&[("error", bad.clone())], false));
        assert!(r.is_err(), "accepted: {bad}");
    }
}
