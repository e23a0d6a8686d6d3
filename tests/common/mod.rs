//! Test harness: SoftHSM tokens in a temp dir, and the real `trustkey` binary run as a
//! subprocess with its own `SOFTHSM2_CONF` (SoftHSM reads it once, at C_Initialize).
#![allow(dead_code)]

pub mod card;
pub mod ceremony;
pub mod fault_proxy;
pub mod faults;
pub mod notary_server;
pub mod pytuf;
pub mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const PIN: &str = "123456";
pub const SO_PIN: &str = "12345678";
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM token directory and a trust dir, both removed on drop.
pub struct Hsm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub trust_dir: PathBuf,
}

impl Hsm {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("hsm-config/softhsm2.conf.in"),
        )
        .unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            template.replace("@TOKENDIR@", tokens.to_str().unwrap()),
        )
        .unwrap();
        let trust_dir = dir.path().join("trust");
        Hsm {
            dir,
            conf,
            trust_dir,
        }
    }

    /// An HSM whose token `label` holds a root key (`root create --token pkcs11:token=LABEL`).
    pub fn with_root(label: &str) -> Self {
        let hsm = Hsm::new();
        hsm.add_token(label);
        hsm.ok(&[
            "root",
            "create",
            "--token",
            &format!("pkcs11:token={label}"),
        ]);
        hsm
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Initializes a token with the test PINs; returns its serial.
    pub fn add_token(&self, label: &str) -> String {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", SO_PIN, "--pin", PIN])
            .output()
            .expect("softhsm2-util is installed (scripts/test.sh installs softhsm2)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.serial_of(label)
    }

    pub fn serial_of(&self, label: &str) -> String {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .arg("--show-slots")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // Each slot prints "Serial number:" before "Label:".
        let mut serial = None;
        let mut last_serial = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(s) = line.strip_prefix("Serial number:") {
                last_serial = s.trim().to_string();
            }
            if let Some(l) = line.strip_prefix("Label:") {
                if l.trim() == label {
                    serial = Some(last_serial.clone());
                }
            }
        }
        serial.unwrap_or_else(|| panic!("token {label} not found:\n{text}"))
    }

    /// `trustkey` with this HSM, the SoftHSM module, the test PIN, and a clean environment.
    pub fn trustkey(&self) -> Command {
        self.trustkey_in(&self.trust_dir)
    }

    /// [`Hsm::trustkey`] on another trust dir (say, a publisher's stale copy).
    pub fn trustkey_in(&self, trust_dir: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRUSTKEY_")
                || k.starts_with("NOTARY_")
                || k.starts_with("DOCKER_CONTENT_TRUST")
            {
                c.env_remove(k);
            }
        }
        c.env("SOFTHSM2_CONF", &self.conf)
            .env("TRUSTKEY_PKCS11_MODULE", SOFTHSM_MODULE)
            .env("TRUSTKEY_PIN", PIN)
            .env("HOME", self.dir.path())
            // Smart cards stay out of SoftHSM tests: `root list` also looks at the YubiKeys
            // plugged in, and the virtual card of the YubiKey tests may be in its reader now.
            .env("PCSCLITE_CSOCK_NAME", NO_PCSCD)
            .arg("-d")
            .arg(trust_dir)
            .stdin(Stdio::null());
        c
    }

    /// [`Hsm::trustkey`] with these variables set too (passphrases).
    pub fn trustkey_with(&self, vars: &[(&str, &str)]) -> Command {
        let mut c = self.trustkey();
        for (k, v) in vars {
            c.env(k, v);
        }
        c
    }

    /// `trustkey` as a client apart from the publisher: the trust dir `<temp>/<dir>/<name>`,
    /// no token, no passphrases.
    pub fn client(&self, dir: &str, name: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRUSTKEY_") || k.starts_with("NOTARY_") {
                c.env_remove(k);
            }
        }
        c.env("HOME", self.path())
            .arg("-d")
            .arg(self.path().join(dir).join(name))
            .stdin(Stdio::null());
        c
    }

    /// [`Hsm::trustkey`] that also sees smart cards: the virtual YubiKey on this test
    /// process's own pcscd once a [`card::Card`] started it, else the system's (a real one).
    pub fn trustkey_with_cards(&self) -> Command {
        let mut c = self.trustkey();
        match std::env::var_os("PCSCLITE_CSOCK_NAME") {
            Some(socket) => c.env("PCSCLITE_CSOCK_NAME", socket),
            None => c.env_remove("PCSCLITE_CSOCK_NAME"),
        };
        c
    }

    /// Runs `trustkey ARGS`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(self.trustkey().args(args))
    }

    /// Runs `trustkey ARGS`, asserting failure; returns (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        run_fails(self.trustkey().args(args))
    }

    /// `pkcs11-tool` against this HSM's SoftHSM.
    pub fn pkcs11_tool(&self) -> Command {
        let mut c = Command::new("pkcs11-tool");
        c.env("SOFTHSM2_CONF", &self.conf)
            .arg("--module")
            .arg(SOFTHSM_MODULE);
        c
    }
}

/// What the repository tests' set-ups share: an [`Hsm`] and the passphrases of the repository
/// keys in its trust dir.
pub trait Publisher {
    fn hsm(&self) -> &Hsm;
    fn passphrases(&self) -> &[(&'static str, &'static str)];

    fn path(&self) -> &Path {
        self.hsm().path()
    }

    /// `trustkey` on the publisher's trust dir, with the passphrases set.
    fn tk(&self) -> Command {
        self.hsm().trustkey_with(self.passphrases())
    }

    fn ok(&self, args: &[&str]) -> String {
        run_ok(self.tk().args(args))
    }

    fn fails(&self, args: &[&str]) -> (i32, String) {
        run_fails(self.tk().args(args))
    }
}

/// The passphrases of a publisher's keys on disk, as most tests set them.
pub const PUBLISHER_PASSPHRASES: [(&str, &str); 4] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
    ("TRUSTKEY_DELEGATION_PASSPHRASE", "delegation-pass-1"),
];

/// `impl Publisher for $ty` where `$ty` has a field `hsm` and `$pass` are its passphrases.
#[macro_export]
macro_rules! impl_publisher {
    ($ty:ty, $pass:expr) => {
        impl common::Publisher for $ty {
            fn hsm(&self) -> &common::Hsm {
                &self.hsm
            }
            fn passphrases(&self) -> &[(&'static str, &'static str)] {
                &$pass
            }
        }
    };
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn run_fails(cmd: &mut Command) -> (i32, String) {
    let out: Output = cmd.output().expect("command runs");
    assert!(
        !out.status.success(),
        "{cmd:?} should have failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Copies the directory tree `from` to `to` (files and subdirectories).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The real `notary` client, kept away from smart cards: when ykcs11 is installed and pcscd
/// runs (the virtual PIV card of the YubiKey tests), notary would put root keys on any card it
/// finds. A pcscd socket that does not exist hides them all.
pub fn notary() -> Command {
    let mut c = Command::new("notary");
    c.env("PCSCLITE_CSOCK_NAME", NO_PCSCD).stdin(Stdio::null());
    c
}

/// The real `notary` client reading `repo` (a directory repository trustkey published) over
/// HTTP, from a trust dir of its own (`home/notary-client`).
pub fn notary_over_http(home: &Path, repo: PathBuf) -> Command {
    let port = serve_notary_layout(repo);
    let mut c = notary();
    c.env("HOME", home)
        .arg("-s")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("-d")
        .arg(home.join("notary-client"));
    c
}

/// A pcscd socket that does not exist: PC/SC clients then see no readers at all.
pub const NO_PCSCD: &str = "/nonexistent/trustkey-tests-no-pcscd";

/// Serves `repo` the way notary-server lays it out, over plain HTTP on loopback:
/// `GET /v2/` answers `{}` (notary's ping) and `GET /v2/<gun>/_trust/tuf/<file>` the file
/// `repo/<gun>/<file>`. Returns the port; the server lives as long as the test process.
pub fn serve_notary_layout(repo: PathBuf) -> u16 {
    serve(move |path| {
        let p = path.strip_prefix("/v2/")?;
        if p.is_empty() {
            return Some(b"{}".to_vec());
        }
        let (gun, file) = p.split_once("/_trust/tuf/")?;
        // Delegated roles are files below targets/ (`targets/releases.json`).
        if gun.contains("..") || file.contains("..") {
            return None;
        }
        std::fs::read(repo.join(gun).join(file)).ok()
    })
}

/// A small HTTP/1.1 server on 127.0.0.1 (a port the OS picks, returned) answering each GET
/// with `body(path)`, or 404. It lives as long as the test process.
pub fn serve(body: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = match body(&path) {
                Some(b) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )
                .and_then(|()| stream.write_all(&b)),
                None => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    port
}
