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

/// A second virtual YubiKey, in vpcd's second reader ("... 00 01", the next port), while a
/// [`Card`] (and its lock) is held. Stopped when dropped.
pub struct SecondCard {
    child: std::process::Child,
    pub serial: u32,
}

/// vpcd's first port (0x8C7B); its second reader listens on the next one.
const VPCD_PORT: u16 = 35963;

fn reader_has_card(suffix: &str) -> bool {
    let out = Command::new("opensc-tool").arg("-l").output();
    let Ok(out) = out else { return false };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim_end().ends_with(suffix) && l.split_whitespace().nth(1) == Some("Yes"))
}

impl Card {
    /// Starts a second card with `serial` beside this one (same firmware, 5.4.3).
    pub fn second(&self, serial: u32) -> SecondCard {
        let log = std::fs::File::create(self.dir.path().join("card2.log")).unwrap();
        let child = Command::new(root().join("tests/virtual-piv/target/debug/virtual-piv"))
            .args(["--port", &(VPCD_PORT + 1).to_string()])
            .args(["--serial", &serial.to_string(), "--version", "5.4.3"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the virtual card was built by scripts/virtual-piv.sh");
        let second = SecondCard { child, serial };
        for _ in 0..150 {
            if reader_has_card("00 01") {
                return second;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("the second virtual card did not show up in vpcd's reader 00 01");
    }
}

impl Drop for SecondCard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..50 {
            if !reader_has_card("00 01") {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
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
