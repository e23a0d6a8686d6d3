//! A real notary-server + notary-signer (scripts/notary-server.sh) on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::run_ok;

/// A running notary-server + notary-signer (scripts/notary-server.sh); stopped on drop.
pub struct NotaryServer {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub ca: PathBuf,
}

impl NotaryServer {
    pub fn start() -> Self {
        Self::start_with_auth(None)
    }

    /// A server whose config has this `auth` section (JSON): registry token auth.
    pub fn start_with_auth(auth: Option<&str>) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/notary-server.sh");
        let mut s = NotaryServer {
            dir: tempfile::tempdir().unwrap(),
            url: String::new(),
            ca: PathBuf::new(),
        };
        let mut start = Command::new("bash");
        start
            .arg(&script)
            .arg("start")
            .arg(s.dir.path())
            .env("NOTARY_HARNESS_WATCH_PID", std::process::id().to_string())
            .env_remove("NOTARY_HARNESS_AUTH");
        if let Some(auth) = auth {
            start.env("NOTARY_HARNESS_AUTH", auth);
        }
        run_ok(&mut start);
        let env = std::fs::read_to_string(s.dir.path().join("env")).unwrap();
        for line in env.lines() {
            match line.split_once('=') {
                Some(("NOTARY_URL", v)) => s.url = v.to_string(),
                Some(("NOTARY_CA", v)) => s.ca = PathBuf::from(v),
                _ => {}
            }
        }
        assert!(s.url.starts_with("https://"), "{env}");
        s
    }

    pub fn notary_list(&self, home: &Path, trust_dir: &Path, gun: &str) -> String {
        run_ok(
            super::notary()
                .env("HOME", home)
                .arg("-s")
                .arg(&self.url)
                .arg("--tlscacert")
                .arg(&self.ca)
                .arg("-d")
                .arg(trust_dir)
                .args(["list", gun]),
        )
    }

    /// The real notary client against this server, with `trust_dir` and notary's
    /// passphrase variables set.
    pub fn notary(&self, trust_dir: &Path, args: &[&str]) -> Command {
        let mut c = super::notary();
        c.arg("-s")
            .arg(&self.url)
            .arg("--tlscacert")
            .arg(&self.ca)
            .arg("-d")
            .arg(trust_dir)
            .args(args)
            .env("HOME", self.dir.path())
            .env("NOTARY_ROOT_PASSPHRASE", "root-passphrase-1")
            .env("NOTARY_TARGETS_PASSPHRASE", "targets-passphrase-1")
            .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-passphrase-1")
            .env("NOTARY_DELEGATION_PASSPHRASE", "delegation-passphrase-1");
        c
    }

    pub fn stop(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/notary-server.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

impl Drop for NotaryServer {
    fn drop(&mut self) {
        // A failing test shows what the server said.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("notary-server.log"));
            let log = log.unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            eprintln!(
                "--- notary-server.log (last lines, newest first) ---\n{}",
                tail.join("\n")
            );
        }
        self.stop();
    }
}
