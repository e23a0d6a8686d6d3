//! `backup verify` matches each key against the published root metadata of the repositories
//! the trust dir knows (real SoftHSM root, real rotation).

mod common;

use common::{json, run_ok, Hsm};

const GUN: &str = "example.com/backed-up";

#[test]
fn backup_verify_says_where_root_metadata_lists_each_key() {
    let hsm = Hsm::with_root("rootA");
    let env = [
        ("TRUSTKEY_TARGETS_PASSPHRASE", "targets passphrase"),
        ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot passphrase"),
        ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp passphrase"),
    ];
    let run = |args: &[&str]| {
        let mut c = hsm.trustkey();
        c.envs(env).args(args);
        run_ok(&mut c)
    };
    run(&["init", GUN, "--root", "pkcs11:token=rootA"]);
    let archive = hsm.path().join("keys.tar.gz");
    run(&["backup", "create", "--out", archive.to_str().unwrap()]);

    let by_role = |v: &serde_json::Value, role: &str| -> serde_json::Value {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == role)
            .unwrap_or_else(|| panic!("no {role} key in {v}"))
            .clone()
    };
    let v = json(&run(&[
        "--json",
        "backup",
        "verify",
        archive.to_str().unwrap(),
    ]));
    for role in ["targets", "snapshot", "timestamp"] {
        let k = by_role(&v, role);
        assert_eq!(k["status"], "ok", "{k}");
        assert_eq!(k["published"], format!("{GUN} root v1: {role}"), "{k}");
    }

    // After a rotation the archived targets key is no longer in root metadata: reported, and
    // still a valid backup (it decrypts).
    run(&["key", "rotate", GUN, "targets"]);
    let v = json(&run(&[
        "--json",
        "backup",
        "verify",
        archive.to_str().unwrap(),
    ]));
    let k = by_role(&v, "targets");
    assert_eq!(k["status"], "ok", "{k}");
    assert_eq!(
        k["published"],
        format!("not listed by the current root of {GUN} (retired or replaced)"),
        "{k}"
    );
    assert_eq!(
        by_role(&v, "snapshot")["published"],
        format!("{GUN} root v2: snapshot")
    );
}
