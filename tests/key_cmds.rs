//! `key list|export|import|passwd` on a trust dir, with keys the real notary client wrote and
//! reads back.

mod common;

use std::path::Path;
use std::process::Command;

use common::{json, run_fails, run_ok, Hsm};

const NOTARY_PASS: &str = "notary-fixture-passphrase";
const OUR_PASS: &str = "our targets passphrase";

fn fixture(role: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/notary-keys");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "key") {
            let s = std::fs::read_to_string(&p).unwrap();
            if s.contains(&format!("role: {role}\n")) {
                return p;
            }
        }
    }
    panic!("no {role} fixture")
}

fn notary_key_list(trust_dir: &Path) -> String {
    run_ok(
        common::notary()
            .arg("-d")
            .arg(trust_dir)
            .args(["key", "list"]),
    )
}

#[test]
fn import_a_notary_key_then_list_export_and_passwd() {
    let hsm = Hsm::new();
    let src = fixture("targets");
    let key_id = src.file_stem().unwrap().to_str().unwrap().to_string();

    // Import: decrypted with notary's passphrase, stored under ours.
    let v = json(&run_ok(
        hsm.trustkey()
            .env("NOTARY_TARGETS_PASSPHRASE", NOTARY_PASS)
            .args(["--json", "key", "import"])
            .arg(&src),
    ));
    // NOTARY_TARGETS_PASSPHRASE also served as the new passphrase (no TRUSTKEY_ one set).
    assert_eq!(v["key_id"], key_id.as_str());
    assert_eq!(v["role"], "targets");
    assert_eq!(v["gun"], "example.com/app");
    let dest = hsm.trust_dir.join(format!("private/{key_id}.key"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second import is refused without --force.
    let (code, err) = run_fails(
        hsm.trustkey()
            .env("NOTARY_TARGETS_PASSPHRASE", NOTARY_PASS)
            .args(["key", "import"])
            .arg(&src),
    );
    assert_eq!(code, 2);
    assert!(err.contains("already in the trust dir"), "{err}");

    // key list, ours and notary's.
    let list = json(&hsm.ok(&["--json", "key", "list"]));
    assert_eq!(list["keys"][0]["key_id"], key_id.as_str());
    assert_eq!(list["keys"][0]["role"], "targets");
    let nl = notary_key_list(&hsm.trust_dir);
    let line = nl
        .lines()
        .find(|l| l.contains(&key_id))
        .unwrap_or_else(|| panic!("{nl}"));
    assert!(
        line.contains("targets") && line.contains("example.com/app"),
        "{line}"
    );

    // export writes the same encrypted bytes.
    let out = hsm.path().join("exported.key");
    hsm.ok(&[
        "key",
        "export",
        &key_id[..8],
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&dest).unwrap());
    let stdout = hsm.ok(&["key", "export", &key_id]);
    assert_eq!(stdout.as_bytes(), std::fs::read(&dest).unwrap());

    // passwd: the old passphrase stops working, the new one works (for notary too).
    run_ok(
        hsm.trustkey()
            .env("TRUSTKEY_TARGETS_PASSPHRASE", NOTARY_PASS)
            .env("TRUSTKEY_NEW_PASSPHRASE", OUR_PASS)
            .args(["key", "passwd", &key_id[..12]]),
    );
    let pem = std::fs::read_to_string(&dest).unwrap();
    assert!(
        pem.contains("gun: example.com/app\nrole: targets\n"),
        "headers kept: {pem}"
    );
    let (code, err) = run_fails(
        hsm.trustkey()
            .env("TRUSTKEY_TARGETS_PASSPHRASE", NOTARY_PASS)
            .env("TRUSTKEY_NEW_PASSPHRASE", "another passphrase")
            .args(["key", "passwd", &key_id]),
    );
    assert_eq!(code, 3);
    assert!(err.contains("wrong passphrase"), "{err}");
    // openssl decrypts it with the new passphrase once notary's header lines are stripped.
    let stripped: String = pem
        .lines()
        .filter(|l| !l.starts_with("role:") && !l.starts_with("gun:"))
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let stripped_path = hsm.path().join("stripped.pem");
    std::fs::write(&stripped_path, stripped).unwrap();
    run_ok(
        Command::new("openssl")
            .args(["pkcs8", "-passin", "env:P", "-in"])
            .arg(&stripped_path)
            .env("P", OUR_PASS),
    );
    // notary can change it back: it decrypts our file with the new passphrase.
    run_ok(
        common::notary()
            .arg("-d")
            .arg(&hsm.trust_dir)
            .args(["key", "passwd", &key_id])
            .env("NOTARY_TARGETS_PASSPHRASE", OUR_PASS)
            .stdin(std::process::Stdio::null()),
    );
}

#[test]
fn import_refuses_root_and_unknown_roles_and_weak_passphrases() {
    let hsm = Hsm::new();
    let (code, err) = run_fails(
        hsm.trustkey()
            .env("NOTARY_ROOT_PASSPHRASE", NOTARY_PASS)
            .args(["key", "import"])
            .arg(fixture("root")),
    );
    assert_eq!(code, 2);
    assert!(err.contains("root keys live on tokens"), "{err}");

    let (code, err) = run_fails(
        hsm.trustkey()
            .env("NOTARY_TARGETS_PASSPHRASE", NOTARY_PASS)
            .env("TRUSTKEY_TARGETS_PASSPHRASE", "short")
            .args(["key", "import"])
            .arg(fixture("targets")),
    );
    assert_eq!(code, 3, "{err}");
    // TRUSTKEY_ wins over NOTARY_ for unlocking: "short" is the wrong passphrase.
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(
        !hsm.trust_dir.join("private").exists()
            || std::fs::read_dir(hsm.trust_dir.join("private"))
                .unwrap()
                .count()
                == 0
    );

    let (code, err) = hsm.fails(&["key", "export", "ffff"]);
    assert_eq!(code, 4);
    assert!(err.contains("no key ffff"), "{err}");
}

/// Every name of a delegated role takes the delegation passphrase: notary's `targets/<name>`
/// and `delegation`, the header trustkey writes on TUF-dialect delegation keys. A string that
/// names no role is refused.
#[test]
fn a_delegation_key_under_either_header_imports_and_changes_passphrase() {
    let hsm = Hsm::new();
    let src = fixture("targets/releases");
    let key_id = src.file_stem().unwrap().to_str().unwrap().to_string();

    for role in ["targets/", "two words"] {
        let (code, err) = run_fails(
            hsm.trustkey()
                .env("NOTARY_DELEGATION_PASSPHRASE", NOTARY_PASS)
                .args(["key", "import", "--role", role])
                .arg(&src),
        );
        assert_eq!(code, 2, "{role}: {err}");
        assert!(err.contains("unknown role"), "{role}: {err}");
    }

    let v = json(&run_ok(
        hsm.trustkey()
            .env("NOTARY_DELEGATION_PASSPHRASE", NOTARY_PASS)
            .args(["--json", "key", "import", "--role", "delegation"])
            .arg(&src),
    ));
    assert_eq!(v["key_id"], key_id.as_str());
    assert_eq!(v["role"], "delegation");
    let dest = hsm.trust_dir.join(format!("private/{key_id}.key"));
    let pem = std::fs::read_to_string(&dest).unwrap();
    assert!(pem.contains("\nrole: delegation\n"), "{pem}");

    // passwd unlocks it with the delegation passphrase and seals it under the new one.
    run_ok(
        hsm.trustkey()
            .env("NOTARY_DELEGATION_PASSPHRASE", NOTARY_PASS)
            .env("TRUSTKEY_NEW_PASSPHRASE", OUR_PASS)
            .args(["key", "passwd", &key_id[..12]]),
    );
    let (code, err) = run_fails(
        hsm.trustkey()
            .env("TRUSTKEY_DELEGATION_PASSPHRASE", NOTARY_PASS)
            .env("TRUSTKEY_NEW_PASSPHRASE", OUR_PASS)
            .args(["key", "passwd", &key_id])
            .stdin(std::process::Stdio::null()),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    run_ok(
        hsm.trustkey()
            .env("TRUSTKEY_DELEGATION_PASSPHRASE", OUR_PASS)
            .env("TRUSTKEY_NEW_PASSPHRASE", NOTARY_PASS)
            .args(["key", "passwd", &key_id]),
    );
}

/// Issue 20, defect 11: a passphrase trustkey creates a key file or escrow with is checked by
/// a strength estimate, from a prompt or any of the variables (trustkey's, notary's, docker's):
/// `password`, `12345678`, `abababab` are refused with one line and exit 3 before anything is
/// written or any token touched. Unlocking an existing file takes any passphrase.
#[test]
fn weak_passphrases_are_refused_at_creation_from_every_source() {
    let hsm = Hsm::with_root("root");
    let gun = "example.com/weak";
    let strong = [
        ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
        ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
        ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
    ];
    let private = hsm.trust_dir.join("private");
    let one_line_refusal = |code: i32, err: &str, what: &str| {
        assert_eq!(code, 3, "{what}: {err}");
        assert_eq!(err.lines().count(), 2, "{what}: error and hint: {err}");
        assert!(err.contains("too weak: strength 0 of 4"), "{what}: {err}");
        assert!(
            err.contains("at least 4 of 4"),
            "{what}: the hint says the bar: {err}"
        );
    };
    for weak in ["password", "12345678", "abababab"] {
        for var in [
            "TRUSTKEY_TARGETS_PASSPHRASE",
            "NOTARY_TARGETS_PASSPHRASE",
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
        ] {
            let (code, err) = run_fails(
                hsm.trustkey()
                    .env(var, weak)
                    .env("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1")
                    .args(["init", gun, "--root", "pkcs11:token=root"]),
            );
            one_line_refusal(code, &err, &format!("{var}={weak}"));
            if weak != "password" {
                // (zxcvbn's warning may say "password".)
                assert!(!err.contains(weak), "the passphrase is not echoed: {err}");
            }
            assert!(!private.exists(), "nothing written");
        }
    }
    // The root escrow (the root key's only copy off the tokens): refused before a key is made.
    hsm.add_token("root2");
    let escrow = hsm.path().join("escrow.p8");
    let (code, err) = run_fails(
        hsm.trustkey()
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "abababab")
            .args([
                "root",
                "create",
                "--token",
                "pkcs11:token=root2",
                "--escrow",
            ])
            .arg(&escrow),
    );
    one_line_refusal(code, &err, "escrow");
    assert!(!escrow.exists());
    let objects = run_ok(
        hsm.pkcs11_tool()
            .args(["--token-label", "root2", "--list-objects"]),
    );
    assert!(!objects.contains("root"), "no key placed: {objects}");

    // A new passphrase for an existing key (`key passwd`).
    run_ok(
        hsm.trustkey_with(&strong)
            .args(["init", gun, "--root", "pkcs11:token=root"]),
    );
    let listed = json(&run_ok(hsm.trustkey().args(["--json", "key", "list"])));
    let targets = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "targets")
        .expect("a targets key");
    let id = targets["key_id"].as_str().unwrap();
    let path = hsm.trust_dir.join(format!("private/{id}.key"));
    let before = std::fs::read(&path).unwrap();
    let (code, err) = run_fails(
        hsm.trustkey_with(&strong)
            .env("TRUSTKEY_NEW_PASSPHRASE", "12345678")
            .args(["key", "passwd", id]),
    );
    one_line_refusal(code, &err, "key passwd");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the key file is unchanged"
    );
}

/// Issue 20, defect 14: a group- or world-accessible `private/` (and the trust dir holding it,
/// as old docker installs left them) is made 0700 with a notice; a symbolic link in place of
/// `private/` is refused with one line and its target left alone. Never silently used.
#[test]
fn an_open_private_dir_is_tightened_and_a_linked_one_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    let chmod =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let hsm = Hsm::new();
    let private = hsm.trust_dir.join("private");
    std::fs::create_dir_all(&private).unwrap();
    let key = fixture("targets");
    let copied = private.join(key.file_name().unwrap());
    std::fs::copy(&key, &copied).unwrap();
    chmod(&copied, 0o600);
    chmod(&private, 0o755);
    chmod(&hsm.trust_dir, 0o755);
    let out = hsm
        .trustkey()
        .args(["--quiet", "key", "list"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&stem(&copied)),
        "the key is listed"
    );
    for dir in [&private, &hsm.trust_dir] {
        assert_eq!(mode(dir), 0o700, "{}", dir.display());
        assert!(
            err.contains(&format!("{} was mode 0755", dir.display())),
            "a notice, even under --quiet: {err}"
        );
    }
    // Owner-only already: nothing to say.
    let out = hsm.trustkey().args(["key", "list"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // private/ a symbolic link to a world-writable directory: refused, for reading and writing.
    let elsewhere = hsm.path().join("elsewhere");
    std::fs::rename(&private, &elsewhere).unwrap();
    chmod(&elsewhere, 0o777);
    std::os::unix::fs::symlink(&elsewhere, &private).unwrap();
    for args in [
        &["key", "list"][..],
        &["key", "import", key.to_str().unwrap(), "--force"][..],
    ] {
        let (code, err) = run_fails(
            hsm.trustkey()
                .env("NOTARY_TARGETS_PASSPHRASE", NOTARY_PASS)
                .args(args),
        );
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(
            err.contains(&format!("{} is a symbolic link", private.display())),
            "{err}"
        );
    }
    assert_eq!(mode(&elsewhere), 0o777, "the link's target is left alone");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 1);
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}
