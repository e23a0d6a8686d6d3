//! A key holder whose root key is on a YubiKey (the virtual card of scripts/virtual-piv.sh)
//! signs a signing request with `trustkey sign --key yubikey:serial=N`, on a machine with an
//! empty HOME and no trust dir; with a SoftHSM holder's signature it makes a 2-of-2 TUF root.
//!
//! Set TRUSTKEY_SKIP_VIRTUAL_PIV=1 to skip it where pcscd and vpcd cannot run.

mod common;

use std::process::Command;

use common::card::{card, NEW_PIN};
use common::ceremony::{Holder, PASS};
use common::{json, run_ok, Hsm};

const GUN: &str = "example.com/yk";

#[test]
fn a_yubikey_holder_signs_a_request_without_a_trust_dir() {
    let Some(card) = card() else { return };
    card.setup();
    let uri = format!(
        "yubikey:serial={};slot=9c?pin-source=env:YK_PIN",
        card.serial
    );
    let home = tempfile::tempdir().unwrap();
    let no_trust = home.path().join("no-trust-dir");
    // The YubiKey holder's machine: the card, an empty HOME, no trust dir.
    let yk = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRUSTKEY_") {
                c.env_remove(k);
            }
        }
        if let Some(s) = std::env::var_os("PCSCLITE_CSOCK_NAME") {
            c.env("PCSCLITE_CSOCK_NAME", s);
        }
        c.env("HOME", home.path())
            .env("YK_PIN", NEW_PIN)
            .arg("-d")
            .arg(&no_trust)
            .stdin(std::process::Stdio::null());
        c
    };
    run_ok(yk().args(["root", "create", "--token", &uri, "--touch", "never"]));
    let xfer = tempfile::tempdir().unwrap();
    let yk_pub = xfer.path().join("yk.pub");
    run_ok(
        yk().args(["root", "export", "--token", &uri, "--out"])
            .arg(&yk_pub),
    );
    let alice = Holder::new("alice");
    let alice_pub = alice.export(xfer.path(), None);

    let publisher = Hsm::new();
    let req = xfer.path().join("req.json");
    let out = run_ok(
        publisher
            .trustkey_with(&PASS)
            .args(["init", GUN, "--dialect", "tuf", "--root-key"])
            .arg(&alice_pub)
            .arg("--root-key")
            .arg(&yk_pub)
            .args(["--root-threshold", "2", "--request"])
            .arg(&req),
    );
    assert!(out.contains("needs signatures"), "{out}");

    // Signed on the card, into a file of its own (--out).
    let yk_copy = home.path().join("req.json");
    std::fs::copy(&req, &yk_copy).unwrap();
    let signed = home.path().join("req-yk.json");
    let summary = run_ok(
        yk().arg("sign")
            .arg(&yk_copy)
            .args(["--key", &uri, "--yes", "--out"])
            .arg(&signed),
    );
    eprintln!("--- what the YubiKey holder reads ---\n{summary}");
    assert!(
        summary.contains("Signing request: the first root of a new repository"),
        "{summary}"
    );
    assert!(summary.contains("signed as key"), "{summary}");
    assert!(!no_trust.exists(), "sign made a trust dir");
    let leftover: Vec<_> = std::fs::read_dir(home.path()).unwrap().collect();
    assert_eq!(
        leftover.len(),
        2,
        "only the request and its signed copy: {leftover:?}"
    );
    // Without --yes and without a terminal, sign refuses (after showing the summary).
    let (code, err) = common::run_fails(yk().arg("sign").arg(&yk_copy).args(["--key", &uri]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    let back = xfer.path().join("req-yk.json");
    std::fs::copy(&signed, &back).unwrap();
    let (by_alice, _) = alice.sign(&req, xfer.path());

    let out = run_ok(
        publisher
            .trustkey_with(&PASS)
            .arg("apply")
            .arg(&back)
            .arg(&by_alice),
    );
    assert!(out.contains("is signed (2 signature(s))"), "{out}");
    let h = json(&run_ok(
        publisher
            .trustkey_with(&PASS)
            .args(["--json", "root", "history", GUN]),
    ));
    assert_eq!(h["versions"][0]["threshold"], 2, "{h}");
}
