//! The virtual YubiKey (tests/virtual-piv, built by scripts/virtual-piv.sh) for integration
//! tests, on a pcscd of the test's own. There is one card at a time per machine (a file lock),
//! and every `Card` starts a fresh pcscd and card, both stopped when the value is dropped, also
//! when the test fails: nothing is left running and the system's pcscd (a real YubiKey's) is
//! never touched. TRUSTKEY_SKIP_VIRTUAL_PIV=1 skips such tests.
//!
//! The private pcscd: pcsc-lite's client library reads the socket's path from
//! `PCSCLITE_CSOCK_NAME` (once per process), but pcscd 1.9 takes its socket and pid file from
//! `/run/pcscd` whatever the environment says (the variable is read in the library only). So
//! pcscd runs in a mount namespace of its own (`unshare -m`) where `/run/pcscd` is a directory
//! of this test process, and this process (and every command it runs) sets
//! `PCSCLITE_CSOCK_NAME` to the socket in it. Its reader driver, vpcd, listens on ports the OS
//! had free (`-c`: a reader.conf.d of the test's own). pcscd and the cards form one process
//! group, killed when the `Card` is dropped; and they die with the thread that started them
//! should the test process itself be killed (`setpriv --pdeathsig`).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// What `Card::setup` sets.
pub const NEW_PIN: &str = "654321";
pub const NEW_PUK: &str = "87654321";

/// vpcd's driver, as Debian's vsmartcard-vpcd installs it.
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

/// A fresh virtual YubiKey on a private pcscd for the life of the value, with the lock that
/// keeps other tests off the card.
pub struct Card {
    pub dir: tempfile::TempDir,
    pub serial: u32,
    daemons: RefCell<Daemons>,
    // Dropped last: the next card starts only once these daemons are gone.
    _lock: std::fs::File,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory this test process's pcscd serves its socket from (always the same: the PC/SC
/// library reads `PCSCLITE_CSOCK_NAME` once per process), the variable set the first time.
fn run_dir() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let run = std::env::temp_dir().join(format!("trustkey-pcscd-{}", std::process::id()));
        // Before any PC/SC call of this process (each test asks for its card first), and for
        // every command it runs.
        std::env::set_var("PCSCLITE_CSOCK_NAME", run.join("pcscd.comm"));
        run
    })
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
    build_card();
    let dir = tempfile::tempdir().unwrap();
    let serial: u32 = std::env::var("VPIV_SERIAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12345678);
    let mut daemons = Daemons::start(dir.path());
    daemons.start_card(dir.path(), "card", 0, serial, version);
    let card = Card {
        dir,
        serial,
        daemons: RefCell::new(daemons),
        _lock: lock,
    };
    card.wait_reader(
        "00 00",
        true,
        "the virtual card did not show up in its reader",
    );
    let ykcs11 = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib",
    ]
    .iter()
    .map(|d| Path::new(d).join("libykcs11.so"))
    .find(|p| p.exists())
    .map(|p| p.display().to_string())
    .unwrap_or_default();
    std::fs::write(
        card.dir.path().join("env"),
        format!(
            "TRUSTKEY_VPIV_SERIAL={serial}\nTRUSTKEY_VPIV_READER='Yubico YubiKey virtual 00 00'\n\
             YKCS11_MODULE={ykcs11}\nPCSCLITE_CSOCK_NAME={}\n",
            run_dir().join("pcscd.comm").display()
        ),
    )
    .unwrap();
    Some(card)
}

/// Builds the card once per test process (quick when it is built).
fn build_card() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new(root().join("scripts/virtual-piv.sh"))
            .arg("build")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "scripts/virtual-piv.sh build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// pcscd and the cards on it: one process group, killed on drop.
struct Daemons {
    pcscd: Child,
    cards: Vec<(&'static str, Child)>,
    /// vpcd's first port; its second reader listens on the next one.
    port: u16,
}

/// Two consecutive TCP ports free on loopback (vpcd's two readers).
fn free_ports() -> u16 {
    for _ in 0..50 {
        let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = a.local_addr().unwrap().port();
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no two consecutive free ports on 127.0.0.1");
}

/// `program` in process group `group` (a new one when 0), killed when the thread that starts it
/// ends (PR_SET_PDEATHSIG, kept across exec).
fn guarded(program: &str, group: u32) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new("setpriv");
    c.args(["--pdeathsig", "KILL", "--", program])
        .process_group(group as i32)
        .stdin(Stdio::null());
    c
}

impl Daemons {
    fn start(dir: &Path) -> Daemons {
        let run = run_dir();
        let _ = std::fs::remove_dir_all(run);
        std::fs::create_dir_all(run).unwrap();
        let conf = dir.join("reader.conf.d");
        std::fs::create_dir_all(&conf).unwrap();
        let port = free_ports();
        std::fs::write(
            conf.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Yubico YubiKey virtual\"\nDEVICENAME   /dev/null:0x{port:X}\n\
                 LIBPATH      {VPCD_DRIVER}\nCHANNELID    0x{port:X}\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("pcscd.log")).unwrap();
        // Where pcscd is installed /run/pcscd exists; the bind mount needs it.
        let pcscd = guarded("unshare", 0)
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount --bind \"$0\" /run/pcscd && exec pcscd --foreground -c \"$1\"")
            .arg(run)
            .arg(&conf)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("setpriv and unshare (util-linux) run pcscd");
        let daemons = Daemons {
            pcscd,
            cards: Vec::new(),
            port,
        };
        let socket = run.join("pcscd.comm");
        for _ in 0..100 {
            if socket.exists() {
                return daemons;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(dir.join("pcscd.log")).unwrap_or_default();
        panic!("the test's pcscd did not come up (is /run/pcscd there? root?):\n{log}");
    }

    /// A card in vpcd's reader `reader` (0 or 1), logging to `DIR/<name>.log`.
    fn start_card(&mut self, dir: &Path, name: &'static str, reader: u16, serial: u32, v: &str) {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let bin = root().join("tests/virtual-piv/target/debug/virtual-piv");
        let child = guarded(bin.to_str().unwrap(), self.pcscd.id())
            .args(["--port", &(self.port + reader).to_string()])
            .args(["--serial", &serial.to_string(), "--version", v])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the virtual card was built by scripts/virtual-piv.sh");
        self.cards.push((name, child));
    }

    fn stop_card(&mut self, name: &str) {
        for (_, c) in self.cards.iter_mut().filter(|(n, _)| *n == name) {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.cards.retain(|(n, _)| *n != name);
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        // The whole group (pcscd and the cards), then each one reaped.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pcscd.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.pcscd.kill();
        let _ = self.pcscd.wait();
        for (_, c) in &mut self.cards {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(run_dir());
    }
}

impl Card {
    /// Takes the card out of its reader (pcscd stays, its readers empty).
    pub fn stop(&self) {
        self.daemons.borrow_mut().stop_card("card");
        self.wait_reader("00 00", false, "the virtual card is still in its reader");
    }

    fn wait_reader(&self, suffix: &str, with_card: bool, what: &str) {
        for _ in 0..150 {
            if reader_has_card(suffix) == with_card {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir.path().join("card.log")).unwrap_or_default();
        panic!("{what}; card log:\n{log}");
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

/// A second virtual YubiKey, in vpcd's second reader ("... 00 01"), while a [`Card`] (and its
/// lock) is held. Stopped when dropped (and with the card's pcscd).
pub struct SecondCard<'a> {
    card: &'a Card,
    pub serial: u32,
}

fn reader_has_card(suffix: &str) -> bool {
    let out = Command::new("opensc-tool").arg("-l").output();
    let Ok(out) = out else { return false };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim_end().ends_with(suffix) && l.split_whitespace().nth(1) == Some("Yes"))
}

impl Card {
    /// Starts a second card with `serial` beside this one (same firmware, 5.4.3).
    pub fn second(&self, serial: u32) -> SecondCard<'_> {
        self.daemons
            .borrow_mut()
            .start_card(self.dir.path(), "card2", 1, serial, "5.4.3");
        self.wait_reader(
            "00 01",
            true,
            "the second virtual card did not show up in 00 01",
        );
        SecondCard { card: self, serial }
    }
}

impl Drop for SecondCard<'_> {
    fn drop(&mut self) {
        self.card.daemons.borrow_mut().stop_card("card2");
        for _ in 0..50 {
            if !reader_has_card("00 01") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
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
        // The daemons are dropped next (pcscd and every card stop), the lock last.
    }
}
