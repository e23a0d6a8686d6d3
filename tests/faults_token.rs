//! Pulled and failing tokens: every call of the PKCS#11 functions that matter, failed in turn
//! through the fault module (tests/pkcs11-fault, forwarding to SoftHSM), at every step of the
//! commands that use tokens. Each failure: one line naming the cause, non-zero exit, the tokens
//! and the trust dir (and the repository) exactly as before; once the fault is gone the same
//! command succeeds.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::faults::{fail_every_call, Failure};
use common::Hsm;

const GUN: &str = "example.com/app";
const PASS: [(&str, &str); 5] = [
    (
        "TRUSTKEY_TARGETS_PASSPHRASE",
        "targets: a long passphrase 1",
    ),
    (
        "TRUSTKEY_SNAPSHOT_PASSPHRASE",
        "snapshot: a long passphrase 2",
    ),
    (
        "TRUSTKEY_TIMESTAMP_PASSPHRASE",
        "timestamp: a long passphrase 3",
    ),
    (
        "TRUSTKEY_DELEGATION_PASSPHRASE",
        "delegation: a long passphrase 4",
    ),
    ("TRUSTKEY_ROOT_PASSPHRASE", "escrow: a long passphrase 5"),
];

fn tk(hsm: &Hsm, args: &[&str]) -> Command {
    let mut c = hsm.trustkey_with(&PASS);
    c.arg("--quiet").args(args);
    c
}

fn ok(hsm: &Hsm, args: &[&str]) {
    common::run_ok(&mut tk(hsm, args));
}

/// Each failure's line names its cause: the token removed (or not found when looked for), or
/// the call that failed on it; and which token.
fn named(failures: &[Failure], tokens: &[&str]) {
    for f in failures {
        let l = &f.line;
        // cryptoki names the call without its prefix (Function::FindObjectsInit).
        let cause = [
            f.function.trim_start_matches("C_"),
            "was removed during the command",
            "no token matches",
            "plug in its token",
        ]
        .iter()
        .any(|c| l.contains(c));
        let which = tokens
            .iter()
            .any(|t| l.contains(&format!("\"{t}\"")) || l.contains(&format!("token={t}")));
        assert!(
            cause && which,
            "{} call {} -> {}: {l}",
            f.function,
            f.at,
            f.rv
        );
    }
}

/// At least these functions were called (else the fault module was not in the path at all).
fn called(counts: &std::collections::BTreeMap<String, u64>, functions: &[&str]) {
    for f in functions {
        assert!(counts.get(*f).copied().unwrap_or(0) > 0, "{f}: {counts:?}");
    }
}

#[test]
fn root_create_on_two_tokens() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootB");
    // The escrow file goes to a directory that is checked too.
    let keep = hsm.path().join("keep");
    std::fs::create_dir(&keep).unwrap();
    let escrow = keep.join("escrow.p8");
    let dirs = [hsm.trust_dir.clone(), keep.clone()];
    let f = fail_every_call(&hsm, &["rootA", "rootB"], &dirs, || {
        let mut c = tk(&hsm, &["root", "create", "--token", "pkcs11:token=rootA"]);
        c.args(["--mirror", "pkcs11:token=rootB", "--escrow"])
            .arg(&escrow);
        c
    });
    called(&f.counts, &["C_CreateObject", "C_Sign", "C_Login"]);
    named(&f.failures, &["rootA", "rootB"]);
    assert!(escrow.exists());
}

#[test]
fn root_duplicate_from_escrow() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootC");
    let escrow = hsm.path().join("escrow.p8");
    let mut c = tk(
        &hsm,
        &[
            "root",
            "create",
            "--token",
            "pkcs11:token=rootA",
            "--escrow",
        ],
    );
    common::run_ok(c.arg(&escrow));
    let f = fail_every_call(
        &hsm,
        &["rootA", "rootC"],
        std::slice::from_ref(&hsm.trust_dir),
        || {
            let mut c = tk(&hsm, &["root", "duplicate", "--to", "pkcs11:token=rootC"]);
            c.arg("--from-escrow").arg(&escrow);
            c
        },
    );
    called(&f.counts, &["C_CreateObject", "C_Sign"]);
    named(&f.failures, &["rootC"]);
}

#[test]
fn init_signs_root_on_the_token() {
    let hsm = Hsm::with_root("rootA");
    let f = fail_every_call(
        &hsm,
        &["rootA"],
        std::slice::from_ref(&hsm.trust_dir),
        || tk(&hsm, &["init", GUN, "--root", "pkcs11:token=rootA"]),
    );
    called(&f.counts, &["C_Sign", "C_Login", "C_FindObjects"]);
    named(&f.failures, &["rootA"]);
}

#[test]
fn publish_with_a_token_delegation() {
    let hsm = Hsm::with_root("root");
    hsm.add_token("alice");
    ok(&hsm, &["init", GUN, "--root", "pkcs11:token=root"]);
    let key = "pkcs11:token=alice;object=releases";
    ok(
        &hsm,
        &[
            "delegation",
            "add",
            GUN,
            "targets/releases",
            "--key",
            key,
            "--generate",
            "--paths",
            "releases/",
        ],
    );
    let repo = hsm.path().join("repo");
    let repo_arg = repo.to_str().unwrap();
    ok(&hsm, &["publish", GUN, "--repo", repo_arg]);
    let file = hsm.path().join("app-1.0.tgz");
    std::fs::write(&file, b"release one").unwrap();
    let f = file.to_str().unwrap();
    ok(
        &hsm,
        &[
            "add",
            GUN,
            "releases/app-1.0.tgz",
            f,
            "--role",
            "targets/releases",
        ],
    );
    let f = fail_every_call(
        &hsm,
        &["root", "alice"],
        &[hsm.trust_dir.clone(), repo.clone()],
        || tk(&hsm, &["publish", GUN, "--repo", repo_arg]),
    );
    called(&f.counts, &["C_Sign", "C_Login", "C_FindObjects"]);
    named(&f.failures, &["alice"]);
}

/// `GUN` initialized with the root on token rootA and published once; returns the repository.
fn published(hsm: &Hsm) -> PathBuf {
    ok(hsm, &["init", GUN, "--root", "pkcs11:token=rootA"]);
    let repo = hsm.path().join("repo");
    ok(hsm, &["publish", GUN, "--repo", repo.to_str().unwrap()]);
    repo
}

#[test]
fn key_rotate_signs_root_on_the_token() {
    let hsm = Hsm::with_root("rootA");
    let repo = published(&hsm);
    let f = fail_every_call(&hsm, &["rootA"], &[hsm.trust_dir.clone(), repo], || {
        tk(&hsm, &["key", "rotate", GUN, "targets"])
    });
    called(&f.counts, &["C_Sign"]);
    named(&f.failures, &["rootA"]);
}

#[test]
fn root_rotate_to_another_token() {
    let hsm = Hsm::with_root("rootA");
    hsm.add_token("rootB");
    let repo = published(&hsm);
    let f = fail_every_call(
        &hsm,
        &["rootA", "rootB"],
        &[hsm.trust_dir.clone(), repo],
        || {
            tk(
                &hsm,
                &["root", "rotate", GUN, "--token", "pkcs11:token=rootB"],
            )
        },
    );
    called(&f.counts, &["C_GenerateKeyPair", "C_Sign"]);
    named(&f.failures, &["rootA", "rootB"]);
}
