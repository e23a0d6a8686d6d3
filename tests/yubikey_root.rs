//! Root keys on a YubiKey, on the virtual card (scripts/virtual-piv.sh) beside SoftHSM tokens:
//! generated on the card and used by init/publish/verify; mirrored onto a SoftHSM token and the
//! card under one public key; duplicated from escrow onto the card; a card with factory
//! credentials refused; a mirror whose YubiKey part fails leaves nothing behind.
//!
//! Set TRUSTKEY_SKIP_VIRTUAL_PIV=1 to skip them where pcscd and vpcd cannot run.

mod common;

use std::process::Command;

use common::card::{card, Card, NEW_PIN};
use common::{json, run_fails, run_ok, Hsm, PIN};
use p256::ecdsa::signature::Verifier;
use p256::pkcs8::DecodePublicKey;

const GUN: &str = "example.com/app";
const ESCROW_PASS: &str = "escrow passphrase 1";
const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

/// `yubikey:serial=N;slot=SLOT` with its PIN from $YK_PIN (TRUSTKEY_PIN is SoftHSM's).
fn yk(card: &Card, slot: &str) -> String {
    format!(
        "yubikey:serial={};slot={slot}?pin-source=env:YK_PIN",
        card.serial
    )
}

/// `trustkey` on the HSM's trust dir, seeing the card, with the card's PIN in $YK_PIN.
fn tk(hsm: &Hsm, yk_pin: &str) -> Command {
    let mut c = hsm.trustkey_with_cards();
    c.env("YK_PIN", yk_pin);
    c
}

/// `root check --json`: (key ID, public key), after verifying its challenge with p256 here.
fn check(hsm: &Hsm, yk_pin: &str, uri: &str) -> (String, p256::PublicKey) {
    let mut c = tk(hsm, yk_pin);
    if uri.starts_with("yubikey:") && !uri.contains("pin-source") {
        // As the README has it: the card's PIN from TRUSTKEY_PIN (or a prompt).
        c.env("TRUSTKEY_PIN", yk_pin);
    }
    let v = json(&run_ok(c.args(["--json", "root", "check", "--token", uri])));
    assert_eq!(v["verified"], true, "{v}");
    let public = p256::PublicKey::from_public_key_pem(v["public_key"].as_str().unwrap()).unwrap();
    let msg = hex::decode(v["challenge_hex"].as_str().unwrap()).unwrap();
    let der = hex::decode(v["signature_der_hex"].as_str().unwrap()).unwrap();
    let sig = p256::ecdsa::Signature::from_der(&der).unwrap();
    assert!(
        p256::ecdsa::VerifyingKey::from(&public)
            .verify(&msg, &sig)
            .is_ok(),
        "{uri}: the challenge signature verifies under the key it printed"
    );
    (v["key_id"].as_str().unwrap().to_string(), public)
}

/// The key objects on a SoftHSM token, as pkcs11-tool lists them after login.
fn objects(hsm: &Hsm, token: &str) -> String {
    run_ok(hsm.pkcs11_tool().args([
        "--token-label",
        token,
        "--login",
        "--pin",
        PIN,
        "--list-objects",
    ]))
}

/// What slot `slot` of the card holds, from `yubikey status --json`.
fn slot(card: &Card, slot: &str) -> Option<serde_json::Value> {
    card.status()["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slot"] == slot)
        .cloned()
}

/// `root list --json` as (key ID, [holder URIs]).
fn root_list(hsm: &Hsm) -> Vec<(String, Vec<String>)> {
    let v = json(&run_ok(tk(hsm, "unused").args(["--json", "root", "list"])));
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let mut uris: Vec<String> = k["holders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["uri"].as_str().unwrap().to_string())
                .collect();
            uris.sort();
            (k["key_id"].as_str().unwrap().to_string(), uris)
        })
        .collect()
}

#[test]
fn root_generated_on_the_card_signs_init_and_publish() {
    let Some(card) = card() else { return };
    card.setup();
    let hsm = Hsm::new();
    let uri = yk(&card, "9c");
    let v = json(&run_ok(tk(&hsm, NEW_PIN).args([
        "--json", "root", "create", "--token", &uri, "--touch", "never",
    ])));
    let key_id = v["key_id"].as_str().unwrap().to_string();
    let t = &v["tokens"][0];
    assert_eq!(t["generated_on_token"], true, "{v}");
    assert_eq!(t["piv"]["slot"], "9c");
    assert_eq!(t["piv"]["origin"], "generated");
    assert_eq!(t["piv"]["pin_policy"], "once");
    assert_eq!(t["piv"]["touch_policy"], "never");
    assert_eq!(t["security"]["never_extractable"], true);
    assert_eq!(
        t["uri"],
        format!(
            "yubikey:serial={};slot=9c?pin-source=env:YK_PIN",
            card.serial
        )
    );
    // The card says what it holds: a certificate for the root in 9c.
    let s = slot(&card, "9c").expect("9c is filled");
    assert_eq!(s["certificate_subject"], "CN=trustkey root");
    assert_eq!(s["key_id"], key_id.as_str());
    // A second root in the same slot is refused, and the first is untouched.
    let (code, err) = run_fails(tk(&hsm, NEW_PIN).args(["root", "create", "--token", &uri]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a key in slot 9c"), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(slot(&card, "9c").unwrap()["key_id"], key_id.as_str());

    let (id, _) = check(&hsm, NEW_PIN, &uri);
    assert_eq!(id, key_id);
    // root list finds it on the card (SoftHSM has no tokens here).
    assert_eq!(
        root_list(&hsm),
        [(
            key_id.clone(),
            vec![format!("yubikey:serial={};slot=9c", card.serial)]
        )]
    );

    // init signs root metadata on the card; add, publish, and a client verifies.
    let with_pass = |c: &mut Command| {
        for (k, v) in PASS {
            c.env(k, v);
        }
    };
    let mut c = tk(&hsm, NEW_PIN);
    with_pass(&mut c);
    let out = run_ok(c.args(["init", GUN, "--root", &uri]));
    assert!(out.contains("initialized example.com/app"), "{out}");
    let cfg = json(
        &std::fs::read_to_string(hsm.trust_dir.join("tuf").join(GUN).join("trustkey.json"))
            .unwrap(),
    );
    assert_eq!(cfg["root_key_id"], key_id.as_str(), "{cfg}");
    assert!(cfg["root_key"]
        .as_str()
        .unwrap()
        .starts_with("yubikey:serial="));
    let file = hsm.path().join("app.bin");
    std::fs::write(&file, b"signed with a root on a YubiKey\n").unwrap();
    let repo = hsm.path().join("repo");
    let mut c = tk(&hsm, NEW_PIN);
    with_pass(&mut c);
    run_ok(c.args(["add", GUN, "v1", file.to_str().unwrap()]));
    let mut c = tk(&hsm, NEW_PIN);
    with_pass(&mut c);
    let out = run_ok(c.args(["publish", GUN, "--repo", repo.to_str().unwrap()]));
    assert!(out.contains("targets v1"), "{out}");
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_trustkey"))
            .env("HOME", hsm.path())
            .arg("-d")
            .arg(hsm.path().join("client"))
            .args(["verify", GUN, "--repo", repo.to_str().unwrap()])
            .args(["--root-keyid", &key_id])
            .arg("--target")
            .arg(format!("v1={}", file.display())),
    );
    assert!(out.contains("verified example.com/app: root v1"), "{out}");

    // Without --root, init finds the one root in reach: the one on the card.
    let mut c = tk(&hsm, NEW_PIN);
    with_pass(&mut c);
    run_ok(
        c.env("TRUSTKEY_PIN", NEW_PIN)
            .args(["init", "example.com/other"]),
    );
    let cfg = json(
        &std::fs::read_to_string(
            hsm.trust_dir
                .join("tuf")
                .join("example.com/other")
                .join("trustkey.json"),
        )
        .unwrap(),
    );
    assert_eq!(
        cfg["root_key"],
        format!("yubikey:serial={};slot=9c", card.serial)
    );
    assert_eq!(cfg["root_key_id"], key_id.as_str());
}

#[test]
fn root_mirrored_on_softhsm_and_the_card_verifies_under_one_key() {
    let Some(card) = card() else { return };
    card.setup();
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let uri = yk(&card, "9a");
    let escrow = hsm.path().join("root-escrow.p8");
    let v = json(&run_ok(
        tk(&hsm, NEW_PIN)
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["--json", "root", "create", "--token", "pkcs11:token=rootA"])
            .args(["--mirror", &uri, "--touch", "never", "--escrow"])
            .arg(&escrow),
    ));
    let key_id = v["key_id"].as_str().unwrap().to_string();
    let tokens = v["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{v}");
    assert_eq!(tokens[0]["security"]["extractable"], false);
    assert!(tokens[0]["piv"].is_null());
    assert_eq!(tokens[1]["generated_on_token"], false);
    assert_eq!(tokens[1]["piv"]["origin"], "imported");
    assert_eq!(tokens[1]["piv"]["slot"], "9a");
    assert_eq!(tokens[1]["security"]["extractable"], false);
    assert_eq!(tokens[1]["security"]["never_extractable"], false);
    assert_eq!(
        slot(&card, "9a").unwrap()["certificate_subject"],
        "CN=trustkey root"
    );

    // Signatures made on each verify under one public key (p256, here in the test).
    let (id_a, pub_a) = check(&hsm, NEW_PIN, "pkcs11:token=rootA");
    let (id_y, pub_y) = check(&hsm, NEW_PIN, &uri);
    assert_eq!(id_a, key_id);
    assert_eq!(id_y, key_id);
    assert_eq!(pub_a, pub_y);
    // --key-id as the security team uses it on the backup key.
    run_ok(tk(&hsm, NEW_PIN).args(["root", "check", "--token", &uri, "--key-id", &key_id]));
    let (code, err) =
        run_fails(tk(&hsm, NEW_PIN).args(["root", "check", "--token", &uri, "--key-id", "00ff"]));
    assert_eq!(code, 5, "{err}");

    // root list: one key, on the token and the card.
    let list = root_list(&hsm);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].0, key_id);
    assert_eq!(
        list[0].1,
        [
            format!(
                "pkcs11:token=rootA;serial={};object=root",
                hsm.serial_of("rootA")
            ),
            format!("yubikey:serial={};slot=9a", card.serial),
        ]
    );

    // init without --root: the root is in two places, and the user chooses.
    let (code, err) = run_fails(tk(&hsm, NEW_PIN).args(["init", GUN]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is on 2 tokens; choose"), "{err}");
    assert!(
        err.contains(&format!("yubikey:serial={};slot=9a", card.serial)),
        "{err}"
    );

    // The same root through Yubico's PKCS#11 module, named by its key ID alone (9a = id 1):
    // ykcs11 labels the private and public halves differently.
    let ykcs11 = card.env("YKCS11_MODULE");
    assert!(
        !ykcs11.is_empty(),
        "ykcs11 is installed by scripts/virtual-piv.sh"
    );
    let p11 = format!(
        "pkcs11:serial={};id=%01?module-path={ykcs11}&pin-source=env:YK_PIN",
        card.serial
    );
    let (id_p11, pub_p11) = check(&hsm, NEW_PIN, &p11);
    assert_eq!(id_p11, key_id);
    assert_eq!(pub_p11, pub_a);
    // One card is not two mirrors, even when one of them is named through ykcs11.
    let via_ykcs11 = format!(
        "pkcs11:serial={};object=other?module-path={ykcs11}&pin-source=env:YK_PIN",
        card.serial
    );
    let (code, err) = run_fails(tk(&hsm, NEW_PIN).args([
        "root",
        "create",
        "--token",
        &via_ykcs11,
        "--mirror",
        &yk(&card, "9d"),
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is named twice"), "{err}");
    assert!(slot(&card, "9d").is_none());
}

/// The security team's workflow (README): two YubiKeys set up, one root mirrored on both with
/// an escrow, the backup key tested with `root check`, then used alone.
#[test]
fn two_yubikeys_hold_one_root() {
    let Some(card) = card() else { return };
    let backup = card.second(23456789);
    let hsm = Hsm::new();
    let list = json(&run_ok(
        tk(&hsm, "unused").args(["--json", "yubikey", "list"]),
    ));
    assert_eq!(list["yubikeys"].as_array().unwrap().len(), 2, "{list}");
    for serial in [card.serial, backup.serial] {
        run_ok(
            tk(&hsm, "unused")
                .env("TRUSTKEY_NEW_PIN", NEW_PIN)
                .env("TRUSTKEY_NEW_PUK", common::card::NEW_PUK)
                .args(["yubikey", "setup", "--serial", &serial.to_string()]),
        );
    }
    // Two plugged in: a reference without serial= is ambiguous.
    let (code, err) = run_fails(
        tk(&hsm, NEW_PIN)
            .env("TRUSTKEY_PIN", NEW_PIN)
            .args(["root", "check", "--token", "yubikey:"]),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("several YubiKeys"), "{err}");

    // Exactly the README's command (default policies: PIN once, touch always).
    let primary = format!("yubikey:serial={}", card.serial);
    let spare = format!("yubikey:serial={}", backup.serial);
    let escrow = hsm.path().join("root-escrow.p8");
    let v = json(&run_ok(
        tk(&hsm, NEW_PIN)
            .env("TRUSTKEY_PIN", NEW_PIN)
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["--json", "root", "create", "--token", &primary])
            .args(["--mirror", &spare, "--escrow"])
            .arg(&escrow),
    ));
    let key_id = v["key_id"].as_str().unwrap().to_string();
    for t in v["tokens"].as_array().unwrap() {
        assert_eq!(t["piv"]["origin"], "imported", "{v}");
        assert_eq!(t["piv"]["pin_policy"], "once");
        assert_eq!(t["piv"]["touch_policy"], "always");
    }
    let (id_1, pub_1) = check(&hsm, NEW_PIN, &primary);
    let (id_2, pub_2) = check(&hsm, NEW_PIN, &spare);
    assert_eq!(
        (id_1.as_str(), id_2.as_str()),
        (key_id.as_str(), key_id.as_str())
    );
    assert_eq!(pub_1, pub_2);
    run_ok(
        tk(&hsm, NEW_PIN)
            .env("TRUSTKEY_PIN", NEW_PIN)
            .args(["root", "check", "--token", &spare, "--key-id", &key_id]),
    );
    assert_eq!(
        root_list(&hsm),
        [(
            key_id.clone(),
            vec![format!("{primary};slot=9c"), format!("{spare};slot=9c")]
        )]
    );
    // The spare goes to the safe; the primary alone signs.
    drop(backup);
    let mut c = tk(&hsm, NEW_PIN);
    c.env("TRUSTKEY_PIN", NEW_PIN);
    for (k, v) in PASS {
        c.env(k, v);
    }
    run_ok(c.args(["init", GUN, "--root", &primary]));
}

#[test]
fn duplicate_from_escrow_onto_the_card() {
    let Some(card) = card() else { return };
    card.setup();
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let escrow = hsm.path().join("root-escrow.p8");
    let v = json(&run_ok(
        tk(&hsm, NEW_PIN)
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["--json", "root", "create", "--token", "pkcs11:token=rootA"])
            .arg("--escrow")
            .arg(&escrow),
    ));
    let key_id = v["key_id"].as_str().unwrap().to_string();
    let uri = yk(&card, "9c");
    let duplicate = |pass: &str, extra: &[&str]| {
        let mut c = tk(&hsm, NEW_PIN);
        c.env("TRUSTKEY_ROOT_PASSPHRASE", pass)
            .args(["--json", "root", "duplicate", "--to", &uri])
            .args(extra)
            .arg("--from-escrow")
            .arg(&escrow);
        c
    };
    // A wrong escrow passphrase: nothing on the card.
    let (code, err) = run_fails(&mut duplicate("not the passphrase", &["--touch", "never"]));
    assert_eq!(code, 3, "{err}");
    assert!(slot(&card, "9c").is_none());

    let d = json(&run_ok(&mut duplicate(
        ESCROW_PASS,
        &["--touch", "never", "--pin-policy", "always"],
    )));
    assert_eq!(d["key_id"], key_id.as_str());
    assert_eq!(d["tokens"][0]["piv"]["origin"], "imported");
    assert_eq!(d["tokens"][0]["piv"]["pin_policy"], "always");
    let (id, _) = check(&hsm, NEW_PIN, &uri);
    assert_eq!(id, key_id);
    let (_, pub_a) = check(&hsm, NEW_PIN, "pkcs11:token=rootA");
    let (_, pub_y) = check(&hsm, NEW_PIN, &uri);
    assert_eq!(pub_a, pub_y);

    // The slot is full now: a second duplicate is refused and changes nothing.
    let (code, err) = run_fails(&mut duplicate(ESCROW_PASS, &["--touch", "never"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(slot(&card, "9c").unwrap()["key_id"], key_id.as_str());
}

#[test]
fn a_card_with_default_credentials_is_refused_unless_allowed() {
    let Some(card) = card() else { return };
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    // The factory PIN is 123456, the SoftHSM PIN too: TRUSTKEY_PIN serves both here.
    let uri = format!("yubikey:serial={}", card.serial);
    let (code, err) = run_fails(tk(&hsm, PIN).args(["root", "create", "--token", &uri]));
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("still has the factory default PIN, PUK, management key"),
        "{err}"
    );
    assert!(err.contains("trustkey yubikey setup"), "{err}");
    assert!(err.contains("--allow-default-credentials"), "{err}");
    // As a mirror too, before anything is written on the token.
    let (code, err) = run_fails(tk(&hsm, PIN).args([
        "root",
        "create",
        "--token",
        "pkcs11:token=rootA",
        "--mirror",
        &uri,
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(!objects(&hsm, "rootA").contains("Key Object"));
    assert!(slot(&card, "9c").is_none());
    // The PIV flags without a YubiKey are a usage error.
    let (code, err) = run_fails(tk(&hsm, PIN).args([
        "root",
        "create",
        "--token",
        "pkcs11:token=rootA",
        "--touch",
        "never",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("apply to YubiKeys"), "{err}");

    // Accepted when asked for (a throwaway test key).
    let v = json(&run_ok(tk(&hsm, PIN).args([
        "--json",
        "root",
        "create",
        "--token",
        &uri,
        "--allow-default-credentials",
        "--touch",
        "never",
    ])));
    assert_eq!(v["tokens"][0]["piv"]["origin"], "generated");
    let (id, _) = check(&hsm, PIN, &uri);
    assert_eq!(id, v["key_id"].as_str().unwrap());
}

#[test]
fn a_failing_yubikey_part_leaves_nothing_behind() {
    let Some(card) = card() else { return };
    card.setup();
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    let uri = yk(&card, "9c");

    // The same card twice (by serial, and as the only one plugged in) is refused first.
    let (code, err) = run_fails(tk(&hsm, NEW_PIN).args([
        "root",
        "create",
        "--token",
        &uri,
        "--mirror",
        "yubikey:?pin-source=env:YK_PIN",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is named twice"), "{err}");

    // A wrong PIN for the card: one try spent, reported, nothing written anywhere.
    let (code, err) = run_fails(tk(&hsm, "000000").args([
        "root",
        "create",
        "--token",
        "pkcs11:token=rootA",
        "--mirror",
        &uri,
        "--touch",
        "never",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("wrong PIN for YubiKey"), "{err}");
    assert!(err.contains("2 tries left"), "{err}");
    assert!(!objects(&hsm, "rootA").contains("Key Object"));
    let s = card.status();
    assert_eq!(s["pin"]["retries_left"], 2);
    assert_eq!(s["slots"].as_array().unwrap().len(), 0, "{s}");

    // A failure after the key went onto both (the escrow cannot be written): the token's copy
    // is destroyed, and the card's is overwritten with a throwaway key, as the error says.
    let (code, err) = run_fails(
        tk(&hsm, NEW_PIN)
            .env("TRUSTKEY_ROOT_PASSPHRASE", ESCROW_PASS)
            .args(["root", "create", "--token", &uri, "--touch", "never"])
            .args(["--mirror", "pkcs11:token=rootA"])
            .args(["--escrow", "/proc/trustkey-test/escrow.p8"]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("writing the escrow failed"), "{err}");
    assert!(
        err.contains("removed the copy already made on token \"rootA\""),
        "{err}"
    );
    assert!(
        err.contains(
            "the imported root in slot 9c was overwritten with a freshly generated throwaway key"
        ),
        "{err}"
    );
    assert!(!objects(&hsm, "rootA").contains("Key Object"));
    let s = slot(&card, "9c").expect("the throwaway key");
    assert_eq!(s["certificate_subject"], "CN=trustkey discarded key");
    assert_eq!(s["origin"], "generated", "the imported key is gone");
    assert!(root_list(&hsm).is_empty(), "throwaway keys are not roots");

    // The slot of a discarded key is free for the next try, which succeeds.
    let v = json(&run_ok(tk(&hsm, NEW_PIN).args([
        "--json",
        "root",
        "create",
        "--token",
        "pkcs11:token=rootA",
        "--mirror",
        &uri,
        "--touch",
        "never",
    ])));
    let key_id = v["key_id"].as_str().unwrap();
    assert_eq!(check(&hsm, NEW_PIN, &uri).0, key_id);
    assert_eq!(slot(&card, "9c").unwrap()["origin"], "imported");
}

#[test]
fn yubikey_references_are_parsed_strictly() {
    // No card needed: these fail before any device is opened.
    let hsm = Hsm::new();
    for (uri, needle) in [
        (
            "yubikey:serial=1;colour=red",
            "unknown attribute \"colour\"",
        ),
        ("yubikey:serial=1;serial=2", "given twice"),
        ("yubikey:serial=abc", "decimal digits"),
        ("yubikey:slot=9b", "not a PIV key slot"),
        ("yubikey:serial=1?pin-value=123456", "pin-source"),
        (
            "yubikey:serial=1?pin-source=123456",
            "pin-source must be env:NAME",
        ),
    ] {
        let (code, err) = hsm.fails(&["root", "create", "--token", uri]);
        assert_eq!(code, 2, "{uri}: {err}");
        assert!(err.contains(needle), "{uri}: {err}");
        assert!(!err.contains("123456"), "a PIN is never echoed: {err}");
        let (code, err) = hsm.fails(&["init", GUN, "--root", uri]);
        assert_eq!(code, 2, "{uri}: {err}");
        assert!(!err.contains("123456"), "a PIN is never echoed: {err}");
    }
}

/// `root rotate` onto YubiKeys: from a root on a SoftHSM token to one generated on the card
/// (signing the new root metadata there), then to a root mirrored on a token and the card; a
/// client that pinned the first root follows both rotations.
#[test]
fn root_rotates_onto_the_card() {
    let Some(card) = card() else { return };
    card.setup();
    let hsm = Hsm::new();
    hsm.add_token("rootA");
    hsm.add_token("rootB");
    let with_pass = |mut c: Command| {
        for (k, v) in PASS {
            c.env(k, v);
        }
        c
    };
    run_ok(tk(&hsm, NEW_PIN).args(["root", "create", "--token", "pkcs11:token=rootA"]));
    run_ok(with_pass(tk(&hsm, NEW_PIN)).args(["init", GUN, "--root", "pkcs11:token=rootA"]));
    let file = hsm.path().join("app.bin");
    std::fs::write(&file, b"v1\n").unwrap();
    let repo = hsm.path().join("repo");
    let repo_s = repo.to_str().unwrap().to_string();
    run_ok(with_pass(tk(&hsm, NEW_PIN)).args(["add", GUN, "v1", file.to_str().unwrap()]));
    run_ok(with_pass(tk(&hsm, NEW_PIN)).args(["publish", GUN, "--repo", &repo_s]));
    let client = |args: &[&str]| {
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_trustkey"))
                .env("HOME", hsm.path())
                .arg("-d")
                .arg(hsm.path().join("client"))
                .args(args),
        )
    };
    client(&["verify", GUN, "--repo", &repo_s]); // pins the first root

    // Onto the card, generated there.
    let uri = yk(&card, "9c");
    let r = json(&run_ok(with_pass(tk(&hsm, NEW_PIN)).args([
        "--json", "root", "rotate", GUN, "--token", &uri, "--touch", "never",
    ])));
    assert_eq!(r["root_version"], 2, "{r}");
    assert_eq!(r["tokens"][0]["piv"]["origin"], "generated");
    let (card_id, _) = check(&hsm, NEW_PIN, &uri);
    assert_eq!(r["new_key_id"], card_id.as_str());
    run_ok(with_pass(tk(&hsm, NEW_PIN)).args(["publish", GUN, "--repo", &repo_s]));
    let out = client(&["verify", GUN, "--repo", &repo_s]);
    assert!(out.contains("root v2"), "{out}");

    // From the card to a root mirrored on rootB and the card's slot 9a: the old root on the
    // card signs, the new one signs in 9a.
    let mirror = yk(&card, "9a");
    let r = json(&run_ok(with_pass(tk(&hsm, NEW_PIN)).args([
        "--json",
        "root",
        "rotate",
        GUN,
        "--token",
        "pkcs11:token=rootB",
        "--mirror",
        &mirror,
        "--touch",
        "never",
    ])));
    assert_eq!(r["root_version"], 3, "{r}");
    let (id_b, _) = check(&hsm, NEW_PIN, "pkcs11:token=rootB");
    let (id_9a, _) = check(&hsm, NEW_PIN, &mirror);
    assert_eq!(id_b, id_9a);
    assert_eq!(r["new_key_id"], id_b.as_str());
    run_ok(with_pass(tk(&hsm, NEW_PIN)).args(["publish", GUN, "--repo", &repo_s]));
    let out = client(&["verify", GUN, "--repo", &repo_s]);
    assert!(out.contains("root v3"), "{out}");
}

#[test]
fn delegation_key_generated_on_the_card_signs_its_role() {
    let Some(card) = card() else { return };
    card.setup();
    let hsm = Hsm::with_root("rootA");
    let team = |args: &[&str]| {
        let mut c = tk(&hsm, NEW_PIN);
        for (k, v) in PASS {
            c.env(k, v);
        }
        run_ok(c.args(args))
    };
    let repo = hsm.path().join("repo");
    let repo = repo.to_str().unwrap();
    team(&["init", GUN, "--root", "pkcs11:token=rootA;object=root"]);
    // The publisher's key is generated on their YubiKey, slot 9a.
    let uri = yk(&card, "9a");
    team(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        &uri,
        "--generate",
        "--touch",
        "never",
        "--paths",
        "releases/",
    ]);
    let s = slot(&card, "9a").expect("9a is filled");
    assert_eq!(s["certificate_subject"], "CN=trustkey delegation", "{s}");
    team(&["publish", GUN, "--repo", repo]);

    // The publisher: the card (its PIN) and the snapshot and timestamp keys, no targets key.
    let file = hsm.path().join("app.tgz");
    std::fs::write(&file, b"released with a YubiKey\n").unwrap();
    let publisher = |args: &[&str]| {
        let mut c = tk(&hsm, NEW_PIN);
        c.envs([PASS[1], PASS[2]]);
        run_ok(c.args(args))
    };
    let f = file.to_str().unwrap();
    publisher(&[
        "add",
        GUN,
        "releases/app.tgz",
        f,
        "--role",
        "targets/releases",
    ]);
    let out = publisher(&["publish", GUN, "--repo", repo]);
    assert!(out.contains("targets v1 (unchanged)"), "{out}");
    assert!(out.contains("signed targets/releases v2"), "{out}");
    let out = run_ok(
        hsm.client("clients", "c")
            .args(["list", GUN, "--repo", repo])
            .args(["-r", "targets/releases"]),
    );
    assert!(out.contains("releases/app.tgz"), "{out}");
    run_ok(hsm.client("clients", "c").args([
        "verify",
        GUN,
        "--repo",
        repo,
        "--target",
        &format!("releases/app.tgz={f}"),
    ]));
    // A root is still found on the card only where there is one: not in 9a.
    assert!(
        root_list(&hsm)
            .iter()
            .all(|(_, at)| !at.iter().any(|l| l.contains("slot=9a"))),
        "{:?}",
        root_list(&hsm)
    );
}
