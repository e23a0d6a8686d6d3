//! A full disk at every write: the trust dir, the repository and the command's output live on
//! a tmpfs (in a mount namespace of the command's own, `unshare -m`) that is exactly as full as
//! they are, plus N free pages; N goes up from 0 until the command succeeds, so that each run
//! fails at a later write (ENOSPC) than the one before. Each failure: one line, non-zero exit,
//! every file as before (mode and hash).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::faults::{is_notice, tree};
use common::Hsm;

const GUN: &str = "example.com/app";
const PASS: [(&str, &str); 5] = [
    (
        "TRUSTKEY_TARGETS_PASSPHRASE",
        "targets: a long passphrase 1",
    ),
    (
        "TRUSTKEY_SNAPSHOT_PASSPHRASE",
        "snapshot: a long passphrase 2",
    ),
    (
        "TRUSTKEY_TIMESTAMP_PASSPHRASE",
        "timestamp: a long passphrase 3",
    ),
    ("TRUSTKEY_NEW_PASSPHRASE", "new: a long passphrase 4"),
    (
        "TRUSTKEY_DELEGATION_PASSPHRASE",
        "delegation: a long passphrase 5",
    ),
];

/// Mounts a tmpfs on $STATE, fills it with $SAVED, shrinks it to what that uses plus $FREE
/// pages, runs the command, and copies what is left to $AFTER.
const SCRIPT: &str = r#"
set -u
mount -t tmpfs -o size=64m,mode=0700 tmpfs "$STATE" || exit 90
cp -a "$SAVED"/. "$STATE"/ || exit 91
used=$(df --output=used -B4096 "$STATE" | tail -1)
mount -o remount,size=$(( (used + FREE) * 4096 )) "$STATE" || exit 92
"$@"
rc=$?
cp -a "$STATE"/. "$AFTER"/ || exit 93
exit $rc
"#;

struct Disk {
    hsm: Hsm,
    state: PathBuf,
}

impl Disk {
    fn new() -> Self {
        let hsm = Hsm::with_root("rootA");
        let state = hsm.path().join("state");
        std::fs::create_dir(&state).unwrap();
        Disk { hsm, state }
    }

    fn tk(&self, args: &[&str]) -> Command {
        let mut c = self.hsm.trustkey_in(&self.state.join("trust"));
        c.envs(PASS).arg("--quiet").args(args);
        c
    }

    fn ok(&self, args: &[&str]) {
        common::run_ok(&mut self.tk(args));
    }

    /// Runs `args` with 0, 1, 2, ... free pages until it succeeds; checks every failure.
    /// Returns the number of failed runs.
    fn every_write(&self, args: &[&str]) -> usize {
        let saved = self.hsm.path().join("saved");
        common::run_ok(Command::new("cp").arg("-a").arg(&self.state).arg(&saved));
        let before = tree(&saved);
        for free in 0..200 {
            let after = self.hsm.path().join(format!("after-{free}"));
            std::fs::create_dir(&after).unwrap();
            let cmd = self.tk(args);
            let mut c = Command::new("unshare");
            c.args(["-m", "--propagation", "private", "sh", "-c", SCRIPT, "sh"])
                .arg(cmd.get_program())
                .args(cmd.get_args())
                .env("STATE", &self.state)
                .env("SAVED", &saved)
                .env("AFTER", &after)
                .env("FREE", free.to_string());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            let out = c.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            let code = out.status.code();
            assert!(
                !matches!(code, Some(90..=93)),
                "the tmpfs harness failed ({code:?}; needs root or user namespaces): {err}"
            );
            if out.status.success() {
                std::fs::remove_dir_all(&after).unwrap();
                std::fs::remove_dir_all(&saved).unwrap();
                eprintln!("{args:?}: {free} failed runs, then success");
                return free;
            }
            let what = format!("{args:?} with {free} free pages");
            assert!(
                code.is_some_and(|c| c != 101),
                "{what}: {}\n{err}",
                out.status
            );
            let lines: Vec<&str> = err.lines().filter(|l| !is_notice(l)).collect();
            assert!(
                lines.len() == 1 && lines[0].starts_with("trustkey: "),
                "{what}: not one line:\n{err}"
            );
            assert!(
                lines[0].contains("No space left on device"),
                "{what}: the cause is not named:\n{err}"
            );
            assert_eq!(tree(&after), before, "{what}: something changed\n{err}");
            std::fs::remove_dir_all(&after).unwrap();
        }
        panic!("{args:?} never succeeded");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn init_on_a_full_disk() {
    let d = Disk::new();
    // A tmpfs of size 0 has no limit: something is on the disk already.
    std::fs::write(d.state.join("other-file"), vec![0u8; 4096]).unwrap();
    assert!(d.every_write(&["init", GUN, "--root", "pkcs11:token=rootA"]) > 0);
    // A second repository, with a hashed-bins key written after the config: the first one's
    // key files (there before) stay, the new ones go.
    let tuf = [
        "init",
        "example.com/bins",
        "--root",
        "pkcs11:token=rootA",
        "--dialect",
        "tuf",
        "--hashed-bins",
        "4",
    ];
    assert!(d.every_write(&tuf) > 0);
    // init --force over the first one: a failure part-way leaves the old repository whole
    // (its published root, config and keys), not a new root beside the old config.
    assert!(d.every_write(&["init", GUN, "--root", "pkcs11:token=rootA", "--force"]) > 0);
}

#[test]
fn publish_and_key_passwd_and_backup_on_a_full_disk() {
    let d = Disk::new();
    d.ok(&["init", GUN, "--root", "pkcs11:token=rootA"]);
    let repo = d.state.join("repo");
    d.ok(&["publish", GUN, "--repo", s(&repo)]);
    let file = d.hsm.path().join("a.bin");
    std::fs::write(&file, vec![7u8; 10_000]).unwrap();
    d.ok(&["add", GUN, "a.bin", s(&file)]);
    assert!(d.every_write(&["publish", GUN, "--repo", s(&repo)]) > 0);

    let list = common::run_ok(&mut d.tk(&["--json", "key", "list"]));
    let keys = common::json(&list);
    let id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "targets")
        .and_then(|k| k["key_id"].as_str())
        .unwrap_or_else(|| panic!("{list}"))
        .to_string();
    assert!(d.every_write(&["key", "passwd", &id]) > 0);

    let out = d.state.join("backup.tgz");
    assert!(d.every_write(&["backup", "create", "--out", s(&out)]) > 0);
}
