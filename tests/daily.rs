//! The publisher's daily surface (issue 18): root key IDs shown alike by every command,
//! `--json` as a contract, the expiry watch (`--expiring-within`, exit 7), `reset` and
//! `delete`, and client state kept per dialect.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{json, run_fails, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/app";
use common::PUBLISHER_PASSPHRASES as PASS;

/// A SoftHSM whose token rootA holds the root key, and a trust dir where `GUN` is
/// initialized (notary dialect unless told) and published to `repo/`.
struct Setup {
    hsm: Hsm,
}

impl_publisher!(Setup, PASS);

impl Setup {
    fn new(init: &[&str]) -> (Self, String) {
        let hsm = Hsm::with_root("rootA");
        let s = Setup { hsm };
        let mut args = vec!["init", GUN];
        args.extend_from_slice(init);
        let out = s.ok(&args);
        (s, out)
    }

    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    fn repo_str(&self) -> String {
        self.repo().display().to_string()
    }

    fn publish(&self, extra: &[&str]) -> String {
        let repo = self.repo_str();
        let mut args = vec!["publish", GUN, "--repo", &repo];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    fn config(&self) -> serde_json::Value {
        json(
            &std::fs::read_to_string(self.hsm.trust_dir.join("tuf/example.com/app/trustkey.json"))
                .unwrap(),
        )
    }

    /// `trustkey` as a client with its own trust dir (`clients/<name>`).
    fn client(&self, name: &str) -> std::process::Command {
        self.hsm.client("clients", name)
    }
}

/// The labelled IDs a command printed: every ID after `canonical key ID `, every ID after
/// `certificate key ID `, and whether one line shows both (`canonical key ID X, certificate
/// key ID Y`).
fn labelled_ids(out: &str) -> (BTreeSet<String>, BTreeSet<String>, bool) {
    let after = |line: &str, label: &str| -> Option<String> {
        let (_, rest) = line.split_once(label)?;
        let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
        Some(id)
    };
    let (mut canonical, mut cert, mut both) = (BTreeSet::new(), BTreeSet::new(), false);
    for line in out.lines() {
        let c = after(line, "canonical key ID ");
        let m = after(line, "certificate key ID ");
        both |= c.is_some() && m.is_some() && line.contains(", certificate key ID ");
        canonical.extend(c);
        cert.extend(m);
    }
    (canonical, cert, both)
}

#[test]
fn init_verify_status_root_list_and_key_list_show_the_same_root_key_ids_labelled() {
    let (s, init) = Setup::new(&[]);
    s.publish(&[]);
    let cfg = s.config();
    let canonical = cfg["root_key_id"].as_str().unwrap().to_string();
    let cert = cfg["key_ids"]["root"].as_str().unwrap().to_string();
    assert_ne!(
        canonical, cert,
        "notary: the certificate has an ID of its own"
    );
    let want = (
        BTreeSet::from([canonical.clone()]),
        BTreeSet::from([cert.clone()]),
        true,
    );

    let repo = s.repo_str();
    let verify = run_ok(s.client("c1").args(["verify", GUN, "--repo", &repo]));
    let status = s.ok(&["status", GUN]);
    let root_list = s.ok(&["root", "list"]);
    let key_list = s.ok(&["key", "list"]);
    for (cmd, out) in [
        ("init", &init),
        ("verify", &verify),
        ("status", &status),
        ("root list", &root_list),
        ("key list", &key_list),
    ] {
        assert_eq!(labelled_ids(out), want, "{cmd}:\n{out}");
    }
    // --json carries both, named alike.
    let want = serde_json::json!({
        "canonical_key_id": canonical, "metadata_key_id": cert, "certificate": true
    });
    let v = json(&run_ok(
        s.client("c1")
            .args(["--json", "verify", GUN, "--repo", &repo]),
    ));
    assert_eq!(v["root_keys"], serde_json::json!([want]), "{v}");
    let v = json(&s.ok(&["--json", "root", "list"]));
    assert_eq!(v["keys"][0]["repositories"][0]["root_key"], want, "{v}");
    let v = json(&s.ok(&["--json", "init", "example.com/other"]));
    assert_eq!(v["root_key"]["canonical_key_id"], canonical.as_str(), "{v}");

    // --root-keyid takes either ID and says which it matched.
    for (pin, kind) in [
        (&canonical, "canonical key ID"),
        (&cert, "certificate key ID"),
    ] {
        let out = run_ok(s.client(&format!("pin-{kind}")).args([
            "verify",
            GUN,
            "--repo",
            &repo,
            "--root-keyid",
            pin,
        ]));
        assert!(
            out.contains(&format!(
                "--root-keyid {pin} matched the {kind} of root key {canonical}"
            )),
            "{out}"
        );
    }
}

#[test]
fn a_delegation_key_on_a_pkcs11_token_is_no_root_key() {
    let (s, _) = Setup::new(&[]);
    s.hsm.add_token("alice");
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--generate",
    ]);
    let cfg = s.config();
    let root = cfg["root_key_id"].as_str().unwrap();
    let token_list = s.ok(&["--json", "token", "list"]);
    assert!(token_list.contains("releases"), "{token_list}");
    // The owner's trust dir, which knows the delegation, and a publisher's empty one: each
    // lists the root key only.
    let other = s.path().join("publisher-trust");
    for listed in [
        s.ok(&["--json", "root", "list"]),
        run_ok(s.hsm.trustkey_in(&other).args(["--json", "root", "list"])),
    ] {
        let v = json(&listed);
        let ids: Vec<&str> = v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [root], "{v}");
    }
    // `key list` shows it under its role.
    let keys = s.ok(&["key", "list"]);
    assert!(
        keys.lines()
            .any(|l| l.starts_with("targets/releases") && l.contains("object=releases")),
        "{keys}"
    );
    // A delegation key labelled `root` (the default object label) is not taken by `init`.
    s.hsm.add_token("bob");
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/qa",
        "--key",
        "pkcs11:token=bob",
        "--generate",
        "--paths",
        "qa/",
    ]);
    let init = s.ok(&["--json", "init", "example.com/second"]);
    assert_eq!(json(&init)["root_key_id"], root, "{init}");
}

#[test]
fn a_missing_passphrase_names_its_own_variable() {
    let hsm = Hsm::with_root("rootA");
    // No terminal, no passphrase variables: init cannot make the targets key.
    let (code, err) = run_fails(hsm.trustkey().args(["init", GUN]));
    assert_eq!(code, 3, "{err}");
    let hint = err.lines().find(|l| l.starts_with("hint:")).unwrap_or("");
    assert!(hint.contains("TRUSTKEY_TARGETS_PASSPHRASE"), "{err}");
    assert!(!hint.contains("TRUSTKEY_PIN"), "{err}");
    // A PIN missing is still named as the PIN; a pin-source names its own variable.
    let (code, err) = run_fails(hsm.trustkey().env_remove("TRUSTKEY_PIN").args([
        "root",
        "check",
        "--token",
        "pkcs11:token=rootA",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("hint: set TRUSTKEY_PIN"), "{err}");
    let (code, err) = run_fails(hsm.trustkey().args([
        "root",
        "check",
        "--token",
        "pkcs11:token=rootA?pin-source=env:ROOT_A_PIN",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("hint: set ROOT_A_PIN\n"), "{err}");
}

#[test]
fn expiring_within_exits_7_naming_each_role_and_publish_renews() {
    let (s, _) = Setup::new(&[]);
    s.publish(&["--expires", "timestamp=1d"]);
    let repo = s.repo_str();
    let verify = |within: &str| {
        s.client("c")
            .args(["verify", GUN, "--repo", &repo, "--expiring-within", within])
            .output()
            .unwrap()
    };
    // The timestamp expires tomorrow: within 2 days, not within 12 hours.
    let out = verify("2d");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(
        err.contains("1 role(s) expire within 2d: timestamp ("),
        "{err}"
    );
    assert!(
        err.contains(&format!("hint: renew them: `trustkey publish {GUN}`")),
        "{err}"
    );
    // It verified: the report is on stdout all the same.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("verified"),
        "{out:?}"
    );
    let out = verify("12h");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // status sees the publisher's copy the same way.
    let (code, err) = s.fails(&["status", GUN, "--expiring-within", "2d"]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("timestamp"), "{err}");
    s.ok(&["status", GUN, "--expiring-within", "12h"]);
    // Root, ten years away, is named once the window reaches it; several roles at once.
    let out = verify("20y");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    for role in ["root (", "targets (", "snapshot (", "timestamp ("] {
        assert!(err.contains(role), "{role}: {err}");
    }
    assert!(
        err.contains("root metadata is signed again only when"),
        "{err}"
    );

    // The scheduled job: `verify --expiring-within 2d || publish`, with nothing staged.
    let out = s.publish(&[]);
    assert!(out.contains("(0 changes; expiries renewed)"), "{out}");
    let out = verify("2d");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A bad window is a usage error.
    let (code, err) = run_fails(s.client("c").args([
        "verify",
        GUN,
        "--repo",
        &repo,
        "--expiring-within",
        "soon",
    ]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn one_client_verifies_a_gun_in_both_dialects_and_reads_older_state() {
    let (notary, _) = Setup::new(&[]);
    notary.publish(&[]);
    let (tuf, _) = Setup::new(&["--dialect", "tuf"]);
    tuf.publish(&["--metadata-only"]);
    let client = || notary.client("both");
    let verify = |repo: &str, dialect: &str| {
        json(&run_ok(client().args([
            "--json",
            "verify",
            GUN,
            "--repo",
            repo,
            "--dialect",
            dialect,
        ])))
    };
    let (nrepo, trepo) = (notary.repo_str(), tuf.repo_str());
    assert_eq!(verify(&nrepo, "notary")["pinned_now"], true);
    // The TUF copy of the same GUN (as `migrate` makes) is verified against its own root.
    assert_eq!(verify(&trepo, "tuf")["pinned_now"], true);
    assert_eq!(verify(&nrepo, "notary")["pinned_now"], false);
    assert_eq!(verify(&trepo, "tuf")["pinned_now"], false);
    let state = notary
        .path()
        .join("clients/both/tuf/example.com/app/client");
    assert!(state.join("notary/root.json").is_file());
    assert!(state.join("tuf/root.json").is_file());

    // A trust dir from before: one state in client/ itself. Read for its dialect (no new
    // pin), left alone for the other.
    for f in ["root.json", "state.json"] {
        std::fs::rename(state.join("notary").join(f), state.join(f)).unwrap();
    }
    std::fs::remove_dir(state.join("notary")).unwrap();
    assert_eq!(verify(&nrepo, "notary")["pinned_now"], false);
    assert!(state.join("notary/root.json").is_file());
    assert_eq!(verify(&trepo, "tuf")["pinned_now"], false);
}

#[test]
fn reset_discards_staged_changes_and_delete_removes_local_and_remote_trust_data() {
    let srv = common::notary_server::NotaryServer::start();
    let hsm = Hsm::with_root("rootA");
    let s = Setup { hsm };
    let ca = srv.ca.to_str().unwrap().to_string();
    s.ok(&["init", GUN, "-s", &srv.url, "--tlscacert", &ca]);
    let file = s.path().join("a.bin");
    std::fs::write(&file, b"first target").unwrap();
    s.ok(&["add", GUN, "a", file.to_str().unwrap()]);
    s.ok(&["publish", GUN]);

    // reset: what was staged since is gone; the published target stays.
    s.ok(&["add", GUN, "b", file.to_str().unwrap()]);
    s.ok(&["remove", GUN, "a"]);
    let r = json(&s.ok(&["--json", "reset", GUN]));
    assert_eq!(r["discarded"], 2, "{r}");
    let status = json(&s.ok(&["--json", "status", GUN]));
    assert_eq!(status["changes"], serde_json::json!([]), "{status}");
    s.ok(&["publish", GUN]);
    let list = |who: &str| {
        s.client(who)
            .args(["list", GUN, "-s", &srv.url, "--tlscacert", &ca])
            .output()
            .unwrap()
    };
    let out = list("c1");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.lines().any(|l| l.starts_with("a ")), "{out:?}");
    assert!(!listed.lines().any(|l| l.starts_with("b ")), "{out:?}");
    // reset of a repository that is not here: not found.
    let (code, err) = s.fails(&["reset", "example.com/nothing"]);
    assert_eq!(code, 4, "{err}");

    // delete: the local trust data only; the server still serves the repository.
    let gun_dir = s.hsm.trust_dir.join("tuf/example.com/app");
    let keys_before = s.ok(&["--json", "key", "list"]);
    let d = json(&s.ok(&["--json", "delete", GUN]));
    assert_eq!(d["remote"], serde_json::Value::Null, "{d}");
    assert!(!gun_dir.exists());
    assert!(!s.hsm.trust_dir.join("tuf/example.com").exists());
    // Key files stay (the root's entry went with the config).
    let key_ids = |listed: &str| -> BTreeSet<String> {
        json(listed)["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["role"] != "root")
            .map(|k| k["key_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        key_ids(&s.ok(&["--json", "key", "list"])),
        key_ids(&keys_before)
    );
    assert!(list("c2").status.success());
    let (code, err) = s.fails(&["delete", GUN]);
    assert_eq!(code, 4, "{err}");

    // delete --remote: the server forgets it; clients find nothing there.
    let d = json(&s.ok(&[
        "--json",
        "delete",
        GUN,
        "--remote",
        "-s",
        &srv.url,
        "--tlscacert",
        &ca,
    ]));
    assert_eq!(d["remote"], srv.url.as_str(), "{d}");
    let out = list("c3");
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    // The real notary client finds nothing either.
    let home = s.path().join("notary-home");
    std::fs::create_dir(&home).unwrap();
    let notary = srv
        .notary(&home.join("trust"), &["list", GUN])
        .env("HOME", &home)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&notary.stdout);
    assert!(
        !notary.status.success() && said.contains("does not have trust data"),
        "{notary:?}"
    );
    // --remote with no server named or remembered is a usage error.
    let (code, err) = s.fails(&["delete", "example.com/other", "--remote"]);
    assert_eq!(code, 2, "{err}");
}
