//! Root ceremonies between separate "machines": each key holder has a SoftHSM token directory
//! of their own, an empty trust dir and an empty HOME; the publisher has the trust dir and no
//! root token. Only request, public key and signature files pass between them, through a
//! transfer directory (the USB stick).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run_ok, Hsm, PIN};

/// A key holder: a token `name` with a root key on it, in a SoftHSM of their own.
pub struct Holder {
    pub name: String,
    pub hsm: Hsm,
    /// An empty HOME, and a trust dir that must never be made.
    pub home: tempfile::TempDir,
}

impl Holder {
    pub fn new(name: &str) -> Self {
        Holder {
            name: name.to_string(),
            hsm: Hsm::with_root(name),
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn uri(&self) -> String {
        format!("pkcs11:token={}", self.name)
    }

    /// `trustkey` on this machine: its token, an empty HOME, no trust dir (`-d` names one that
    /// does not exist, and must still not exist afterwards).
    pub fn tk(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRUSTKEY_") || k.starts_with("NOTARY_") {
                c.env_remove(k);
            }
        }
        c.env("SOFTHSM2_CONF", &self.hsm.conf)
            .env("TRUSTKEY_PKCS11_MODULE", super::SOFTHSM_MODULE)
            .env("TRUSTKEY_PIN", PIN)
            .env("HOME", self.home.path())
            .env("PCSCLITE_CSOCK_NAME", super::NO_PCSCD)
            .arg("-d")
            .arg(self.no_trust_dir())
            .stdin(std::process::Stdio::null());
        c
    }

    pub fn no_trust_dir(&self) -> PathBuf {
        self.home.path().join("no-trust-dir")
    }

    /// `root export` into `xfer/<name>.pub` (with a certificate for `gun` when given).
    pub fn export(&self, xfer: &Path, gun: Option<&str>) -> PathBuf {
        let out = xfer.join(format!("{}.pub", self.name));
        let mut c = self.tk();
        c.args(["root", "export", "--token", &self.uri(), "--out"])
            .arg(&out);
        if let Some(g) = gun {
            c.args(["--gun", g]);
        }
        run_ok(&mut c);
        out
    }

    /// Takes `request` from the transfer directory, signs it here (`--yes`), and puts the
    /// signed copy back as `xfer/<request stem>-<name>.json`. Returns (its path, stdout).
    pub fn sign(&self, request: &Path, xfer: &Path) -> (PathBuf, String) {
        let here = self.home.path().join("request.json");
        std::fs::copy(request, &here).unwrap();
        let out = run_ok(
            self.tk()
                .arg("sign")
                .arg(&here)
                .args(["--key", &self.uri(), "--yes"]),
        );
        assert!(
            !self.no_trust_dir().exists(),
            "sign made a trust dir on the key holder's machine"
        );
        let stem = request.file_stem().unwrap().to_str().unwrap();
        let back = xfer.join(format!("{stem}-{}.json", self.name));
        std::fs::copy(&here, &back).unwrap();
        std::fs::remove_file(&here).unwrap();
        (back, out)
    }
}

/// A publisher (trust dir, passphrases, no root token) and key holders.
pub struct Ceremony {
    pub publisher: Hsm,
    pub holders: Vec<Holder>,
    pub xfer: tempfile::TempDir,
}

pub const PASS: [(&str, &str); 4] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
    ("TRUSTKEY_DELEGATION_PASSPHRASE", "delegation-pass-1"),
];

impl Ceremony {
    pub fn new(names: &[&str]) -> Self {
        Ceremony {
            publisher: Hsm::new(),
            holders: names.iter().map(|n| Holder::new(n)).collect(),
            xfer: tempfile::tempdir().unwrap(),
        }
    }

    pub fn holder(&self, name: &str) -> &Holder {
        self.holders.iter().find(|h| h.name == name).unwrap()
    }

    pub fn xfer(&self) -> &Path {
        self.xfer.path()
    }

    /// `trustkey` in the publisher's trust dir.
    pub fn tk(&self) -> Command {
        self.publisher.trustkey_with(&PASS)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(self.tk().args(args))
    }

    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        super::run_fails(self.tk().args(args))
    }
}
