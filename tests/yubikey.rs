//! YubiKey PIV on the virtual card (tests/virtual-piv, started by scripts/virtual-piv.sh):
//! status, setup, keygen and signing, import, PIN safety, a missing card, default credentials.
//!
//! There is one virtual reader, so every test takes a file lock and starts a fresh card.
//! Set TRUSTKEY_SKIP_VIRTUAL_PIV=1 to skip them where pcscd and vpcd cannot run.

mod common;

use std::process::Command;

use common::card::{card, card_with_firmware, Card, NEW_PIN};

use p256::ecdsa::signature::Verifier;
use secrecy::SecretString;
use trustkey::keys::Signer;
use trustkey::piv::{self, Auth, DefaultCredentials, Overwrite, Policies, Slot, TouchPolicy};
use trustkey::secret::{PinSource, Prompter};
use trustkey::Error;

/// The PIN in a file, as a pin-source.
fn pin_file(card: &Card, pin: &str) -> PinSource {
    PinSource::File(card.pin_path(pin))
}

/// Answers nothing: everything the tests need comes from pin-source files.
struct NoPrompt;
impl Prompter for NoPrompt {
    fn secret(&mut self, prompt: &str) -> trustkey::Result<SecretString> {
        panic!("unexpected prompt: {prompt}")
    }
    fn notice(&mut self, msg: &str) {
        eprintln!("{msg}");
    }
}

fn policies() -> Policies {
    Policies {
        touch: TouchPolicy::Never,
        ..Policies::default()
    }
}

fn verify(pk: &p256::PublicKey, msg: &[u8], sig: &p256::ecdsa::Signature) -> bool {
    p256::ecdsa::VerifyingKey::from(pk).verify(msg, sig).is_ok()
}

#[test]
fn status_shows_serial_retries_defaults_and_advisory() {
    let Some(card) = card() else { return };
    let list = common::json(&common::run_ok(
        card.trustkey("unused").args(["yubikey", "list", "--json"]),
    ));
    assert_eq!(list["yubikeys"][0]["serial"], card.serial);
    assert_eq!(list["yubikeys"][0]["firmware"], "5.4.3");

    let s = card.status();
    assert_eq!(s["serial"], card.serial);
    assert_eq!(s["pin"]["retries_left"], 3);
    assert_eq!(s["pin"]["retries_total"], 3);
    assert_eq!(s["puk"]["retries_left"], 3);
    assert_eq!(s["pin"]["is_default"], true);
    assert_eq!(s["puk"]["is_default"], true);
    assert_eq!(s["management_key"]["is_default"], true);
    assert_eq!(s["slots"].as_array().unwrap().len(), 0);
    assert!(s["advisories"][0].as_str().unwrap().contains("YSA-2024-03"));
    // Both documents as docs/json-schema/ describes them.
    common::schema::validate(
        &[
            ("yubikey list", list.clone()),
            ("yubikey status", s.clone()),
        ],
        false,
    );

    let human = common::run_ok(card.trustkey("unused").args(["yubikey", "status"]));
    assert!(human.contains("FACTORY DEFAULT"), "{human}");
    assert!(human.contains("trustkey yubikey setup"), "{human}");
}

#[test]
fn setup_replaces_defaults_and_the_old_pin_is_refused() {
    let Some(card) = card() else { return };
    card.setup();
    let s = card.status();
    assert_eq!(s["pin"]["is_default"], false);
    assert_eq!(s["puk"]["is_default"], false);
    assert_eq!(s["management_key"]["is_default"], false);

    // The old PIN is refused, with the retries left, and not tried again.
    let mut dev = piv::open(Some(card.serial)).unwrap();
    let old = pin_file(&card, piv::DEFAULT_PIN);
    let err = dev
        .verify_pin(Some(&old), &mut NoPrompt, false)
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongPin { state, .. } if state.contains("2 tries left")),
        "{err}"
    );
    drop(dev);
    assert_eq!(card.status()["pin"]["retries_left"], 2);

    // The new PIN works, and the PIN-protected management key lets it generate a key.
    let mut dev = piv::open(Some(card.serial)).unwrap();
    let new = pin_file(&card, NEW_PIN);
    let mut auth = Auth {
        pin_source: Some(&new),
        prompter: &mut NoPrompt,
        allow_final_try: false,
    };
    let pk = dev
        .generate(
            Slot::Signature,
            policies(),
            "trustkey test",
            Overwrite::Refuse,
            &mut auth,
        )
        .unwrap();
    let status = dev.status().unwrap();
    piv::ensure_no_default_credentials(&status, DefaultCredentials::Refuse).unwrap();
    let signer = dev
        .signer(Slot::Signature, Some(&new), &mut NoPrompt, false)
        .unwrap();
    assert_eq!(signer.public_key(), &pk);
    let sig = signer.sign(b"after setup").unwrap();
    assert!(verify(&pk, b"after setup", &sig));

    // Nothing left to do on a second run.
    let out = common::run_ok(card.trustkey(NEW_PIN).args(["yubikey", "setup"]));
    assert!(out.contains("nothing to do"), "{out}");
}

#[test]
fn generate_in_9c_and_sign() {
    let Some(card) = card() else { return };
    let pin = pin_file(&card, piv::DEFAULT_PIN);
    let mut dev = piv::open(Some(card.serial)).unwrap();

    // A card with factory credentials is refused for a root unless explicitly allowed.
    let status = dev.status().unwrap();
    let err = piv::ensure_no_default_credentials(&status, DefaultCredentials::Refuse).unwrap_err();
    assert!(matches!(err, Error::PivDefaultCredentials { .. }), "{err}");
    assert!(err.hint().unwrap().contains("--allow-default-credentials"));
    assert_eq!(err.exit_code(), trustkey::error::exit::AUTH);
    piv::ensure_no_default_credentials(&status, DefaultCredentials::Allow).unwrap();

    let mut auth = Auth {
        pin_source: Some(&pin),
        prompter: &mut NoPrompt,
        allow_final_try: false,
    };
    let pk = dev
        .generate(
            Slot::Signature,
            Policies {
                pin: piv::PinPolicy::Always,
                touch: TouchPolicy::Never,
            },
            "trustkey root",
            Overwrite::Refuse,
            &mut auth,
        )
        .unwrap();
    // The slot is not overwritten by accident.
    let err = dev
        .generate(
            Slot::Signature,
            policies(),
            "again",
            Overwrite::Refuse,
            &mut auth,
        )
        .unwrap_err();
    assert!(matches!(err, Error::KeyExists { .. }), "{err}");

    let slot = dev.slot_status(Slot::Signature).unwrap();
    assert_eq!(slot.origin.as_deref(), Some("generated"));
    assert_eq!(slot.pin_policy, Some(piv::PinPolicy::Always));
    assert_eq!(
        slot.certificate_subject.as_deref(),
        Some("CN=trustkey root")
    );
    assert_eq!(
        slot.key_id.as_deref(),
        Some(trustkey::keys::canonical_key_id(&pk).as_str())
    );

    // PIN policy "always": one PIN for the command, re-sent before each signature.
    let signer = dev
        .signer(Slot::Signature, Some(&pin), &mut NoPrompt, false)
        .unwrap();
    assert_eq!(signer.public_key(), &pk);
    for msg in [&b"first"[..], b"second", b"third"] {
        let sig = signer.sign(msg).unwrap();
        assert!(verify(&pk, msg, &sig));
    }
    assert!(signer.describe().contains("slot 9c"));
    drop(signer);

    let s = card.status();
    assert_eq!(s["slots"][0]["slot"], "9c");
    assert_eq!(s["pin"]["retries_left"], 3);
}

#[test]
fn import_a_key_and_sign() {
    let Some(card) = card() else { return };
    let pin = pin_file(&card, piv::DEFAULT_PIN);
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let mut dev = piv::open(None).unwrap();
    let err = dev.public_key(Slot::Signature).unwrap_err();
    assert!(matches!(err, Error::PivSlotEmpty { .. }), "{err}");
    let mut auth = Auth {
        pin_source: Some(&pin),
        prompter: &mut NoPrompt,
        allow_final_try: false,
    };
    let pk = dev
        .import(
            Slot::Signature,
            &secret,
            policies(),
            "trustkey mirror",
            Overwrite::Refuse,
            &mut auth,
        )
        .unwrap();
    assert_eq!(pk, secret.public_key());
    assert_eq!(
        dev.slot_status(Slot::Signature).unwrap().origin.as_deref(),
        Some("imported")
    );
    let signer = dev
        .signer(Slot::Signature, Some(&pin), &mut NoPrompt, false)
        .unwrap();
    signer.check_public_key(&secret.public_key()).unwrap();
    let other = p256::SecretKey::random(&mut rand_core::OsRng).public_key();
    assert!(signer.check_public_key(&other).is_err());
    let sig = signer.sign(b"mirrored root").unwrap();
    assert!(verify(&secret.public_key(), b"mirrored root", &sig));
}

#[test]
fn wrong_pin_reports_retries_and_blocked_pin_points_to_the_puk() {
    let Some(card) = card() else { return };
    let wrong = pin_file(&card, "000000");
    for left in [2, 1] {
        let mut dev = piv::open(Some(card.serial)).unwrap();
        let err = dev
            .verify_pin(Some(&wrong), &mut NoPrompt, false)
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::WrongPin { .. }), "{msg}");
        let word = if left == 1 { "try" } else { "tries" };
        assert!(msg.contains(&format!("{left} {word} left")), "{msg}");
        assert!(err.hint().unwrap().contains("never retries"));
        drop(dev);
        // Exactly one try was spent: the PIN was not retried.
        assert_eq!(card.status()["pin"]["retries_left"], left);
    }
    // The last try is not spent unless asked for.
    let mut dev = piv::open(Some(card.serial)).unwrap();
    let err = dev
        .verify_pin(Some(&wrong), &mut NoPrompt, false)
        .unwrap_err();
    assert!(matches!(err, Error::FinalPinTry { .. }), "{err}");
    let err = dev
        .verify_pin(Some(&wrong), &mut NoPrompt, true)
        .unwrap_err();
    assert!(matches!(err, Error::PivPinBlocked { .. }), "{err}");
    drop(dev);

    // Blocked: refused before sending anything, with the way out.
    let right = pin_file(&card, piv::DEFAULT_PIN);
    let mut dev = piv::open(Some(card.serial)).unwrap();
    let err = dev
        .verify_pin(Some(&right), &mut NoPrompt, true)
        .unwrap_err();
    assert!(matches!(err, Error::PivPinBlocked { .. }), "{err}");
    let hint = err.hint().unwrap();
    assert!(
        hint.contains("PUK") && hint.contains("trustkey yubikey unblock"),
        "{hint}"
    );
    drop(dev);
    let (code, stderr) = common::run_fails(card.trustkey(piv::DEFAULT_PIN).args([
        "yubikey",
        "setup",
        "--change-pin",
    ]));
    assert_eq!(code, trustkey::error::exit::AUTH, "{stderr}");
    assert!(stderr.contains("blocked"), "{stderr}");

    // The PUK unblocks it.
    common::run_ok(
        card.trustkey("unused")
            .env("TRUSTKEY_PUK", piv::DEFAULT_PUK)
            .env("TRUSTKEY_NEW_PIN", NEW_PIN)
            .args(["yubikey", "unblock"]),
    );
    let new = pin_file(&card, NEW_PIN);
    let mut dev = piv::open(Some(card.serial)).unwrap();
    dev.verify_pin(Some(&new), &mut NoPrompt, false).unwrap();
}

#[test]
fn missing_card_is_a_clear_error() {
    let Some(card) = card() else { return };
    card.stop();
    let (code, stderr) = common::run_fails(card.trustkey("unused").args(["yubikey", "status"]));
    assert_eq!(code, trustkey::error::exit::NOT_FOUND, "{stderr}");
    assert!(stderr.contains("insert your YubiKey"), "{stderr}");
    let (code, stderr) = common::run_fails(
        card.trustkey("unused")
            .args(["yubikey", "status", "--serial", "999"]),
    );
    assert_eq!(code, trustkey::error::exit::NOT_FOUND, "{stderr}");
    assert!(stderr.contains("YubiKey 999 not found"), "{stderr}");
    let out = common::run_ok(card.trustkey("unused").args(["yubikey", "list"]));
    assert!(out.contains("no YubiKey found"), "{out}");
}

#[test]
fn attest_checks_its_inputs_and_a_card_without_attestation_says_so() {
    let Some(card) = card() else { return };
    let (code, stderr) = common::run_fails(card.trustkey("unused").args([
        "yubikey",
        "attest",
        "--slot",
        "9c",
        "--root",
        "Cargo.toml",
    ]));
    assert_eq!(code, trustkey::error::exit::USAGE, "{stderr}");
    assert!(stderr.contains("Cargo.toml: not a certificate"), "{stderr}");

    // A well-formed root, but the virtual card (like an imported key) has no attestation.
    let ca = card.dir.path().join("ca.pem");
    let key = card.dir.path().join("ca.key");
    common::run_ok(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=test root",
        "-days",
        "1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        ca.to_str().unwrap(),
    ]));
    let (code, stderr) = common::run_fails(card.trustkey("unused").args([
        "yubikey",
        "attest",
        "--slot",
        "9c",
        "--root",
        ca.to_str().unwrap(),
    ]));
    assert_eq!(code, trustkey::error::exit::FAILURE, "{stderr}");
    assert!(stderr.contains("no attestation"), "{stderr}");
    assert!(stderr.contains("imported keys"), "{stderr}");
}

/// The key a PIV command generated, reached through Yubico's PKCS#11 module: ykcs11 lists the
/// virtual reader (its name begins with "Yubico"), shows the key under the slot's key ID, and
/// signs with the same public key.
#[test]
fn the_same_key_signs_through_ykcs11() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, ObjectClass};
    use cryptoki::session::UserType;
    use sha2::Digest;

    let Some(card) = card() else { return };
    let env = std::fs::read_to_string(card.dir.path().join("env")).unwrap();
    let module = env
        .lines()
        .find_map(|l| l.strip_prefix("YKCS11_MODULE="))
        .unwrap_or_default()
        .to_string();
    assert!(!module.is_empty(), "ykcs11 is not installed:\n{env}");

    // 9a: the virtual card, like the PIV standard, wants a fresh PIN before every signature
    // in 9c, which a plain C_Login session cannot give; 9a takes the PIN once (key ID 1).
    let slot = Slot::Authentication;
    let pin = pin_file(&card, piv::DEFAULT_PIN);
    let pk = {
        let mut dev = piv::open(Some(card.serial)).unwrap();
        let mut auth = Auth {
            pin_source: Some(&pin),
            prompter: &mut NoPrompt,
            allow_final_try: false,
        };
        dev.generate(
            slot,
            policies(),
            "trustkey ykcs11",
            Overwrite::Refuse,
            &mut auth,
        )
        .unwrap()
        // The yubikey-crate connection is closed before ykcs11 opens its own.
    };

    let pkcs11 = Pkcs11::new(&module).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let token_slot = pkcs11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| {
            pkcs11
                .get_token_info(*s)
                .map(|i| i.serial_number().trim() == card.serial.to_string())
                .unwrap_or(false)
        })
        .expect("ykcs11 lists the virtual YubiKey");
    let session = pkcs11.open_ro_session(token_slot).unwrap();
    session
        .login(UserType::User, Some(&SecretString::from(piv::DEFAULT_PIN)))
        .unwrap();
    let id = vec![slot.ykcs11_id()];
    let public = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(id.clone()),
        ])
        .unwrap();
    assert_eq!(public.len(), 1);
    assert_eq!(
        trustkey::token::read_ec_point(&session, public[0]).unwrap(),
        pk,
        "ykcs11 shows the key the yubikey crate generated"
    );
    let private = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id),
        ])
        .unwrap();
    assert_eq!(private.len(), 1);
    let msg = b"signed through ykcs11";
    let raw = session
        .sign(&Mechanism::Ecdsa, private[0], &sha2::Sha256::digest(msg))
        .unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    assert!(verify(&pk, msg, &sig));
    session.close().unwrap();
    pkcs11.finalize().unwrap();
}

/// Slot 9c (ykcs11 key ID 2) with PIN policy "always": ykcs11 marks the key
/// CKA_ALWAYS_AUTHENTICATE, so the PIN goes in a context-specific login between C_SignInit and
/// the signature (cryptoki 0.12: sign_init, login, sign_update, sign_final).
#[test]
fn a_9c_root_signs_through_ykcs11_with_a_context_specific_login() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    use cryptoki::session::UserType;

    let Some(card) = card() else { return };
    let env = std::fs::read_to_string(card.dir.path().join("env")).unwrap();
    let module = env
        .lines()
        .find_map(|l| l.strip_prefix("YKCS11_MODULE="))
        .unwrap_or_default()
        .to_string();
    let pin = pin_file(&card, piv::DEFAULT_PIN);
    let pk = {
        let mut dev = piv::open(Some(card.serial)).unwrap();
        let mut auth = Auth {
            pin_source: Some(&pin),
            prompter: &mut NoPrompt,
            allow_final_try: false,
        };
        let always = Policies {
            pin: piv::PinPolicy::Always,
            touch: TouchPolicy::Never,
        };
        dev.generate(
            Slot::Signature,
            always,
            "trustkey root",
            Overwrite::Refuse,
            &mut auth,
        )
        .unwrap()
    };
    let pkcs11 = Pkcs11::new(&module).unwrap();
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let token_slot = pkcs11.get_slots_with_token().unwrap()[0];
    let session = pkcs11.open_ro_session(token_slot).unwrap();
    let pin = SecretString::from(piv::DEFAULT_PIN);
    session.login(UserType::User, Some(&pin)).unwrap();
    let private = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![Slot::Signature.ykcs11_id()]),
        ])
        .unwrap();
    assert_eq!(private.len(), 1);
    let attrs = session
        .get_attributes(private[0], &[AttributeType::AlwaysAuthenticate])
        .unwrap();
    assert!(
        attrs.contains(&Attribute::AlwaysAuthenticate(true)),
        "{attrs:?}"
    );
    let msg = b"root metadata";
    session
        .sign_init(&Mechanism::EcdsaSha256, private[0])
        .unwrap();
    session
        .login(UserType::ContextSpecific, Some(&pin))
        .unwrap();
    session.sign_update(msg).unwrap();
    let raw = session.sign_final().unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    assert!(verify(&pk, msg, &sig));
    session.close().unwrap();
    pkcs11.finalize().unwrap();
}

/// Before firmware 5.3 there is no metadata: the PIN retries are still read (without spending
/// one), but whether credentials are defaults is "unknown", never guessed by trying them.
#[test]
fn old_firmware_reports_unknown_defaults() {
    let Some(card) = card_with_firmware("5.2.7") else {
        return;
    };
    let s = card.status();
    assert_eq!(s["firmware"], "5.2.7");
    assert_eq!(s["pin"]["retries_left"], 3);
    assert!(s["pin"]["is_default"].is_null(), "{s}");
    assert!(s["puk"]["retries_left"].is_null(), "{s}");
    assert!(s["management_key"]["is_default"].is_null(), "{s}");
    let human = common::run_ok(card.trustkey("unused").args(["yubikey", "status"]));
    assert!(
        human.contains("PUK: unknown of unknown tries left, unknown"),
        "{human}"
    );
}

/// Firmware 5.7 and later is not affected by YSA-2024-03.
#[test]
fn no_advisory_from_firmware_5_7() {
    let Some(card) = card_with_firmware("5.7.1") else {
        return;
    };
    let s = card.status();
    assert_eq!(s["advisories"].as_array().unwrap().len(), 0, "{s}");
}

/// Another program holding the card exclusively (as scdaemon does) is named as the likely
/// culprit.
#[test]
fn a_card_held_by_another_program_names_the_culprits() {
    let Some(card) = card() else { return };
    let ctx = pcsc::Context::establish(pcsc::Scope::System).unwrap();
    let mut buf = vec![0u8; ctx.list_readers_len().unwrap()];
    let reader = ctx
        .list_readers(&mut buf)
        .unwrap()
        .find(|r| r.to_string_lossy().ends_with("00 00"))
        .unwrap()
        .to_owned();
    let held = ctx
        .connect(&reader, pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY)
        .unwrap();
    let (code, stderr) = common::run_fails(card.trustkey("unused").args(["yubikey", "status"]));
    assert_eq!(code, trustkey::error::exit::FAILURE, "{stderr}");
    assert!(stderr.contains("in use by another program"), "{stderr}");
    assert!(
        stderr.contains("scdaemon") && stderr.contains("yubikey-agent"),
        "{stderr}"
    );
    drop(held);
    common::run_ok(card.trustkey("unused").args(["yubikey", "status"]));
}
