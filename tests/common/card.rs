//! The virtual YubiKey (tests/virtual-piv, started by scripts/virtual-piv.sh) for integration
//! tests. There is one virtual reader, so every `Card` holds a file lock and starts a fresh card;
//! the card stops when the value is dropped. TRUSTKEY_SKIP_VIRTUAL_PIV=1 skips such tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What `Card::setup` sets.
pub const NEW_PIN: &str = "654321";
pub const NEW_PUK: &str = "87654321";

/// A fresh virtual YubiKey for the life of the value, with the lock that keeps other tests off
/// the single virtual reader.
pub struct Card {
    _lock: std::fs::File,
    pub dir: tempfile::TempDir,
    pub serial: u32,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh card with firmware 5.4.3 (metadata, and the YSA-2024-03 advisory), or `None` when
/// TRUSTKEY_SKIP_VIRTUAL_PIV is set.
pub fn card() -> Option<Card> {
    card_with_firmware("5.4.3")
}

pub fn card_with_firmware(version: &str) -> Option<Card> {
    if std::env::var_os("TRUSTKEY_SKIP_VIRTUAL_PIV").is_some() {
        eprintln!("skipped: TRUSTKEY_SKIP_VIRTUAL_PIV is set");
        return None;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("trustkey-virtual-piv.lock"))
        .unwrap();
    lock.lock().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(root().join("scripts/virtual-piv.sh"))
        .arg("start")
        .arg(dir.path())
        .env("VPIV_VERSION", version)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/virtual-piv.sh start failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    let serial = env
        .lines()
        .find_map(|l| l.strip_prefix("TRUSTKEY_VPIV_SERIAL="))
        .unwrap()
        .parse()
        .unwrap();
    Some(Card {
        _lock: lock,
        dir,
        serial,
    })
}

impl Card {
    pub fn stop(&self) {
        let out = Command::new(root().join("scripts/virtual-piv.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    /// A line of DIR/env (TRUSTKEY_VPIV_SERIAL, TRUSTKEY_VPIV_READER, YKCS11_MODULE).
    pub fn env(&self, name: &str) -> String {
        let env = std::fs::read_to_string(self.dir.path().join("env")).unwrap();
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_string()
    }

    /// `trustkey` with a clean environment and the given PIN.
    pub fn trustkey(&self, pin: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRUSTKEY_") {
                c.env_remove(k);
            }
        }
        c.env("TRUSTKEY_PIN", pin)
            .env("HOME", self.dir.path())
            .arg("-d")
            .arg(self.dir.path().join("trust"))
            .stdin(Stdio::null());
        c
    }

    /// A file holding `pin`.
    pub fn pin_path(&self, pin: &str) -> PathBuf {
        let p: PathBuf = self.dir.path().join(format!("pin-{pin}"));
        std::fs::write(&p, pin).unwrap();
        p
    }

    /// `yubikey status --json`.
    pub fn status(&self) -> serde_json::Value {
        let s = super::run_ok(self.trustkey("unused").args([
            "yubikey",
            "status",
            "--json",
            "--serial",
            &self.serial.to_string(),
        ]));
        super::json(&s)
    }

    /// `yubikey setup`: PIN NEW_PIN, PUK NEW_PUK, a PIN-protected management key.
    pub fn setup(&self) {
        super::run_ok(
            self.trustkey("unused")
                .env("TRUSTKEY_NEW_PIN", NEW_PIN)
                .env("TRUSTKEY_NEW_PUK", NEW_PUK)
                .args(["yubikey", "setup", "--serial", &self.serial.to_string()]),
        );
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("card.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("card log (last lines):");
            for l in tail.iter().rev() {
                eprintln!("  {l}");
            }
        }
        self.stop();
    }
}
