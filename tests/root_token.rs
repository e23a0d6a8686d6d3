//! Root keys on real SoftHSM tokens: creation on the token, mirrored creation, escrow,
//! duplication, and the errors a user meets.

mod common;

use std::process::Command;

use common::{json, run_ok, Hsm, PIN};
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::DecodePublicKey;

const ESCROW_PASS: &str = "escrow passphrase 1";

/// Object attributes as `pkcs11-tool --list-objects` prints them, for the private key `label`.
fn private_key_access(hsm: &Hsm, token: &str, label: &str) -> String {
    let out = run_ok(
        hsm.pkcs11_tool()
            .args(["--token-label", token, "--login", "--pin", PIN])
            .args(["--list-objects", "--type", "privkey"]),
    );
    let mut in_obj = false;
    for line in out.lines() {
        if line.starts_with("Private Key Object") {
            in_obj = false;
        }
        if line.trim() == format!("label:      {label}") {
            in_obj = true;
        }
        if in_obj && line.trim_start().starts_with("Access:") {
            return line.trim().to_string();
        }
    }
    panic!("no private key {label} on {token}:\n{out}")
}

/// `root check` on a token: returns (key ID, public key, challenge, DER signature).
fn check(hsm: &Hsm, uri: &str) -> (String, p256::PublicKey, Vec<u8>, Vec<u8>) {
    let v = json(&hsm.ok(&["--json", "root", "check", "--token", uri]));
    assert_eq!(v["verified"], true);
    let public = p256::PublicKey::from_public_key_pem(v["public_key"].as_str().unwrap()).unwrap();
    (
        v["key_id"].as_str().unwrap().to_string(),
        public,
        hex::decode(v["challenge_hex"].as_str().unwrap()).unwrap(),
        hex::decode(v["signature_der_hex"].as_str().unwrap()).unwrap(),
    )
}

fn verify_p256(key: &p256::PublicKey, msg: &[u8], der: &[u8]) -> bool {
    let sig = p256::ecdsa::Signature::from_der(der).unwrap();
    p256::ecdsa::VerifyingKey::from(key)
        .verify(msg, &sig)
        .is_ok()
}

#[test]
fn create_on_token_is_sensitive_and_never_extractable() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let v = json(&hsm.ok(&["--json", "root", "create", "--token", "pkcs11:token=rootA"]));
    let t = &v["tokens"][0];
    assert_eq!(t["generated_on_token"], true);
    assert_eq!(t["security"]["sensitive"], true);
    assert_eq!(t["security"]["extractable"], false);
    assert_eq!(t["security"]["never_extractable"], true);
    assert_eq!(t["security"]["always_sensitive"], true);
    // Read back independently with OpenSC's pkcs11-tool.
    let access = private_key_access(&hsm, "rootA", "root");
    assert!(access.contains("sensitive"), "{access}");
    assert!(access.contains("never extractable"), "{access}");
    assert!(!access.contains(", extractable"), "{access}");

    // The key signs, and the key ID printed at creation is the one on the token.
    let key_id = v["key_id"].as_str().unwrap();
    let (id, public, msg, sig) = check(&hsm, "pkcs11:token=rootA");
    assert_eq!(id, key_id);
    assert!(verify_p256(&public, &msg, &sig));

    // A second root under the same label is refused.
    let (code, err) = hsm.fails(&["root", "create", "--token", "pkcs11:token=rootA"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn mirrored_root_on_two_tokens_with_escrow_and_duplicate() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootB");
    hsm.add_token("rootC");
    let escrow = hsm.path().join("root-escrow.p8");
    let v = json(&run_ok(
        hsm.trustkey()
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["--json", "root", "create", "--token", "pkcs11:token=rootA"])
            .args(["--mirror", "pkcs11:token=rootB", "--escrow"])
            .arg(&escrow),
    ));
    let key_id = v["key_id"].as_str().unwrap().to_string();
    assert_eq!(v["tokens"].as_array().unwrap().len(), 2);
    for t in v["tokens"].as_array().unwrap() {
        assert_eq!(t["generated_on_token"], false);
        assert_eq!(t["security"]["sensitive"], true);
        assert_eq!(t["security"]["extractable"], false);
    }
    for token in ["rootA", "rootB"] {
        let access = private_key_access(&hsm, token, "root");
        assert!(access.contains("sensitive"), "{token}: {access}");
        assert!(!access.contains(", extractable"), "{token}: {access}");
    }

    // Signatures made on each mirror verify under the one public key.
    let (id_a, pub_a, msg_a, sig_a) = check(&hsm, "pkcs11:token=rootA");
    let (id_b, pub_b, msg_b, sig_b) = check(&hsm, "pkcs11:token=rootB");
    assert_eq!(id_a, key_id);
    assert_eq!(id_b, key_id);
    assert_eq!(pub_a, pub_b);
    assert!(verify_p256(&pub_a, &msg_a, &sig_a));
    assert!(verify_p256(&pub_a, &msg_b, &sig_b));
    assert_ne!(msg_a, msg_b, "challenges are fresh");
    // And with openssl, from the public key as printed.
    openssl_verify(&hsm, v["public_key"].as_str().unwrap(), &msg_b, &sig_b);

    // The escrow file is owner-only and decrypts with openssl given the passphrase.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&escrow).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem = run_ok(
        Command::new("openssl")
            .args(["pkcs8", "-passin", "env:ESCROW_PASS", "-in"])
            .arg(&escrow)
            .env("ESCROW_PASS", ESCROW_PASS),
    );
    let out = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg("openssl ec -pubout 2>/dev/null")
            .env("PEM", &pem)
            .stdin(std::process::Stdio::piped())
            .arg("--")
            .stdin(pipe_in(pem.as_bytes())),
    );
    let from_escrow = p256::PublicKey::from_public_key_pem(&out).unwrap();
    assert_eq!(from_escrow, pub_a);
    // A wrong passphrase does not decrypt it.
    let bad = Command::new("openssl")
        .args(["pkcs8", "-passin", "pass:wrong passphrase", "-in"])
        .arg(&escrow)
        .output()
        .unwrap();
    assert!(!bad.status.success());

    // Duplicate onto a third token from the escrow.
    let d = json(&run_ok(
        hsm.trustkey()
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["--json", "root", "duplicate", "--to", "pkcs11:token=rootC"])
            .arg("--from-escrow")
            .arg(&escrow),
    ));
    assert_eq!(d["key_id"], key_id.as_str());
    assert_eq!(d["tokens"][0]["security"]["extractable"], false);
    let (id_c, pub_c, msg_c, sig_c) = check(&hsm, "pkcs11:token=rootC");
    assert_eq!(id_c, key_id);
    assert!(verify_p256(&pub_a, &msg_c, &sig_c));
    assert_eq!(pub_c, pub_a);

    // root list: one key, held by three tokens.
    let list = json(&hsm.ok(&["--json", "root", "list"]));
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{list}");
    assert_eq!(keys[0]["key_id"], key_id.as_str());
    let mut labels: Vec<&str> = keys[0]["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["label"].as_str().unwrap())
        .collect();
    labels.sort();
    assert_eq!(labels, ["rootA", "rootB", "rootC"]);

    // Duplicate with a wrong escrow passphrase fails and writes nothing.
    hsm.add_token("rootD");
    let (code, err) = common::run_fails(
        hsm.trustkey()
            .env("TRUSTKEY_ROOT_PASSPHRASE", "not the passphrase")
            .args(["root", "duplicate", "--to", "pkcs11:token=rootD"])
            .arg("--from-escrow")
            .arg(&escrow),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    let list = hsm.ok(&["token", "list"]);
    assert!(!list.contains("rootD\" serial") || !after_label(&list, "rootD").contains("\"root\""));
}

/// The lines of `token list` that follow the token `label`, up to the next slot.
fn after_label(list: &str, label: &str) -> String {
    let mut out = String::new();
    let mut on = false;
    for line in list.lines() {
        if line.starts_with("slot ") {
            on = line.contains(&format!("token \"{label}\""));
        } else if on {
            out += line;
            out += "\n";
        }
    }
    out
}

fn pipe_in(bytes: &[u8]) -> std::process::Stdio {
    let mut f = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut f, bytes).unwrap();
    std::io::Seek::rewind(&mut f).unwrap();
    std::process::Stdio::from(f)
}

fn openssl_verify(hsm: &Hsm, public_pem: &str, msg: &[u8], der_sig: &[u8]) {
    let dir = hsm.path();
    std::fs::write(dir.join("pub.pem"), public_pem).unwrap();
    std::fs::write(dir.join("msg.bin"), msg).unwrap();
    std::fs::write(dir.join("sig.der"), der_sig).unwrap();
    let out = run_ok(
        Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(dir.join("pub.pem"))
            .arg("-signature")
            .arg(dir.join("sig.der"))
            .arg(dir.join("msg.bin")),
    );
    assert!(out.contains("Verified OK"), "{out}");
}

#[test]
fn mirror_to_a_missing_token_leaves_nothing_behind() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let (code, err) = hsm.fails(&[
        "root",
        "create",
        "--token",
        "pkcs11:token=rootA",
        "--mirror",
        "pkcs11:token=inTheSafe",
    ]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("no token matches token \"inTheSafe\""),
        "{err}"
    );
    // Nothing on the first token.
    let list = hsm.ok(&["token", "list"]);
    assert!(!after_label(&list, "rootA").contains("KEY ID"), "{list}");
    let objs = run_ok(hsm.pkcs11_tool().args([
        "--token-label",
        "rootA",
        "--login",
        "--pin",
        PIN,
        "--list-objects",
    ]));
    assert!(!objs.contains("Key Object"), "{objs}");
}

#[test]
fn wrong_pin_is_tried_once_and_reported() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let spy_log = hsm.path().join("spy.log");
    // OpenSC's pkcs11-spy sits between trustkey and SoftHSM and logs every call.
    let spy = [
        "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so",
        "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("pkcs11-spy.so from the opensc package");
    let (code, err) = common::run_fails(
        hsm.trustkey()
            .env("TRUSTKEY_PIN", "654321")
            .env("TRUSTKEY_PKCS11_MODULE", spy)
            .env("PKCS11SPY", common::SOFTHSM_MODULE)
            .env("PKCS11SPY_OUTPUT", &spy_log)
            .args(["root", "create", "--token", "pkcs11:token=rootA"]),
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("wrong PIN for token \"rootA\""), "{err}");
    assert!(err.contains("never retries"), "{err}");
    assert_eq!(err.lines().count(), 2, "one error line and one hint: {err}");
    let log = std::fs::read_to_string(&spy_log).unwrap();
    let logins = log.matches("C_Login").count();
    assert_eq!(logins, 1, "exactly one C_Login:\n{log}");
    assert!(
        !log.contains("C_GenerateKeyPair"),
        "nothing generated after a wrong PIN"
    );

    // A PIN on the command line is refused before anything else happens.
    let (code, err) = hsm.fails(&["--pin", PIN, "token", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("--pin is refused"), "{err}");

    // pin-source=file: works, and the correct PIN then creates the key.
    let pin_file = hsm.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let uri = format!("pkcs11:token=rootA?pin-source=file:{}", pin_file.display());
    run_ok(
        hsm.trustkey()
            .env_remove("TRUSTKEY_PIN")
            .args(["root", "create", "--token", &uri]),
    );
}

#[test]
fn unknown_token_module_and_bad_uri() {
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let (code, err) = hsm.fails(&["root", "create", "--token", "pkcs11:token=nope"]);
    assert_eq!(code, 4);
    assert!(
        err.contains("no token matches token \"nope\" (available: \"rootA\""),
        "{err}"
    );

    let (code, err) = common::run_fails(hsm.trustkey().args([
        "--module",
        "/nonexistent/libpkcs11.so",
        "token",
        "list",
    ]));
    assert_eq!(code, 4);
    assert!(
        err.contains("cannot load PKCS#11 module /nonexistent/libpkcs11.so"),
        "{err}"
    );
    assert!(err.contains("TRUSTKEY_PKCS11_MODULE"), "{err}");

    let (code, err) = common::run_fails(
        hsm.trustkey()
            .env_remove("TRUSTKEY_PKCS11_MODULE")
            .args(["token", "list"]),
    );
    assert_eq!(code, 4);
    assert!(err.contains("no PKCS#11 module given"), "{err}");

    for (uri, needle) in [
        (
            "pkcs11:token=rootA;colour=red",
            "unknown attribute \"colour\"",
        ),
        ("pkcs11:object=root", "name the token"),
        ("pkcs11:token=rootA?pin-value=123456", "pin-source"),
        ("/dev/rootA", "starts with pkcs11:"),
    ] {
        let (code, err) = hsm.fails(&["root", "create", "--token", uri]);
        assert_eq!(code, 2, "{uri}: {err}");
        assert!(err.contains(needle), "{uri}: {err}");
        assert!(!err.contains("123456"), "a PIN is never echoed: {err}");
    }
}

#[test]
fn token_list_shows_tokens_pin_state_and_keys() {
    let hsm = Hsm::new();
    let serial = hsm.add_token("rootA");
    hsm.add_token("rootB");
    hsm.ok(&[
        "root",
        "create",
        "--token",
        "pkcs11:token=rootA;object=team-root",
    ]);
    let v = json(&hsm.ok(&["--json", "token", "list"]));
    let slots = v["slots"].as_array().unwrap();
    let a = slots
        .iter()
        .find(|s| s["label"] == "rootA")
        .expect("rootA listed");
    assert_eq!(a["serial"], serial.as_str());
    assert_eq!(a["model"], "SoftHSM v2");
    assert_eq!(a["pin"]["locked"], false);
    assert_eq!(a["pin_summary"], "ok");
    let keys = a["keys"].as_array().unwrap();
    assert!(keys
        .iter()
        .any(|k| k["label"] == "team-root" && k["class"] == "public"));
    assert!(slots.iter().any(|s| s["label"] == "rootB"));
    // SoftHSM always shows one more, uninitialized, slot.
    assert!(slots.iter().any(|s| s["initialized"] == false));

    // After a wrong PIN, SoftHSM flags the count as low and token list says so.
    let (_, _) = common::run_fails(hsm.trustkey().env("TRUSTKEY_PIN", "000000").args([
        "root",
        "check",
        "--token",
        "pkcs11:token=rootA;object=team-root",
    ]));
    let human = hsm.ok(&["token", "list"]);
    assert!(human.contains("token \"rootA\""), "{human}");
}

#[test]
fn failure_after_import_removes_every_copy() {
    // The escrow is written last, after the key was imported into both tokens; when that write
    // fails (here: a directory nobody can create, even root), both imports are undone.
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootB");
    let (code, err) = common::run_fails(
        hsm.trustkey()
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["root", "create", "--token", "pkcs11:token=rootA"])
            .args(["--mirror", "pkcs11:token=rootB"])
            .args(["--escrow", "/proc/trustkey-test/escrow.p8"]),
    );
    assert_ne!(code, 0);
    assert!(err.contains("writing the escrow failed"), "{err}");
    assert!(err.contains("removed"), "{err}");
    for token in ["rootA", "rootB"] {
        let objs = run_ok(hsm.pkcs11_tool().args([
            "--token-label",
            token,
            "--login",
            "--pin",
            PIN,
            "--list-objects",
        ]));
        assert!(!objs.contains("Key Object"), "{token}: {objs}");
    }
}
