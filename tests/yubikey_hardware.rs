//! Checks on a physical YubiKey: they run only when TRUSTKEY_TEST_YUBIKEY_SERIAL names one
//! (and say so when skipped). They only read from the card, plus one signature when a trustkey
//! root is in slot 9c and TRUSTKEY_PIN is set: a security team's key is never modified.

mod common;

use common::{json, run_ok, Hsm};

fn serial() -> Option<String> {
    match std::env::var("TRUSTKEY_TEST_YUBIKEY_SERIAL") {
        Ok(s) if !s.is_empty() => Some(s),
        _ => {
            eprintln!(
                "skipped: no physical YubiKey (set TRUSTKEY_TEST_YUBIKEY_SERIAL=N to run these \
                 read-only checks on one)"
            );
            None
        }
    }
}

#[test]
fn physical_yubikey_status_and_root_check() {
    let Some(serial) = serial() else { return };
    let hsm = Hsm::new();
    let mut c = hsm.trustkey_with_cards();
    c.env_remove("TRUSTKEY_PIN");
    if let Ok(pin) = std::env::var("TRUSTKEY_PIN") {
        c.env("TRUSTKEY_PIN", pin);
    }
    let s = json(&run_ok(
        c.args(["--json", "yubikey", "status", "--serial", &serial]),
    ));
    assert_eq!(s["serial"].to_string().trim_matches('"'), serial, "{s}");
    assert!(s["pin"]["retries_left"].as_u64().is_some(), "{s}");
    let list = run_ok(hsm.trustkey_with_cards().args(["--json", "root", "list"]));
    let holds_root = list.contains(&serial);
    if holds_root && std::env::var("TRUSTKEY_PIN").is_ok() {
        let mut c = hsm.trustkey_with_cards();
        c.env("TRUSTKEY_PIN", std::env::var("TRUSTKEY_PIN").unwrap());
        let v = json(&run_ok(c.args([
            "--json",
            "root",
            "check",
            "--token",
            &format!("yubikey:serial={serial};slot=9c"),
        ])));
        assert_eq!(v["verified"], true, "{v}");
    } else {
        eprintln!("root check skipped: no trustkey root on {serial}, or TRUSTKEY_PIN unset");
    }
}
