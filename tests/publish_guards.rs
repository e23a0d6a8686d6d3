//! What `add`, `delegation` and `publish` refuse so that a published directory repository
//! stays whole (issue 20): delegation names whose file is a top-level or versioned one's,
//! target names the file system cannot hold or that would be a file and a directory at once,
//! a staged file that grew (read no further than its length and a byte), a failed publish that
//! changes no file under an old name, and GUNs nested inside each other in one `--repo`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_fails, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/app";
use common::PUBLISHER_PASSPHRASES as PASS;

struct Setup {
    hsm: Hsm,
}

impl_publisher!(Setup, PASS);

impl Setup {
    /// A root on token `root`, and `guns` initialized in the TUF dialect with `init`.
    fn new(guns: &[&str], init: &[&str]) -> Self {
        let s = Setup {
            hsm: Hsm::with_root("root"),
        };
        for gun in guns {
            let mut args = vec!["init", gun, "--dialect", "tuf"];
            args.extend_from_slice(init);
            s.ok(&args);
        }
        s
    }

    fn repo(&self) -> PathBuf {
        self.path().join("repo")
    }

    fn gun_dir(&self) -> PathBuf {
        self.repo().join("example.com").join("app")
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path().join("files").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        p
    }

    fn add(&self, gun: &str, name: &str, file: &Path) {
        self.ok(&["add", gun, name, file.to_str().unwrap()]);
    }

    fn add_fails(&self, name: &str, file: &Path) -> (i32, String) {
        self.fails(&["add", GUN, name, file.to_str().unwrap()])
    }

    fn publish(&self, gun: &str, repo: &Path) -> String {
        self.ok(&["publish", gun, "--repo", repo.to_str().unwrap()])
    }

    fn publish_cmd(&self, gun: &str) -> Command {
        let mut c = self.tk();
        c.args(["publish", gun, "--repo", self.repo().to_str().unwrap()]);
        c
    }
}

/// One error line, optionally followed by one `hint:` line.
fn one_line(err: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !lines.is_empty() && lines.iter().skip(1).all(|l| l.starts_with("hint:")),
        "one error line expected:\n{err}"
    );
}

/// Every file under `dir` (hidden ones too) and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                pending.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Defect 2: `2.root` as a delegation would publish a targets-type file as
/// `metadata/2.root.json` (every fresh client then fails to find a trusted root), and
/// `delegation remove GUN 1.root` deleted the publisher's `published/1.root.json`.
#[test]
fn delegation_names_of_top_level_or_versioned_files_are_refused() {
    let s = Setup::new(&[GUN], &[]);
    s.publish(GUN, &s.repo());
    let published = s.hsm.trust_dir.join("tuf").join(GUN).join("published");
    let root1 = std::fs::read(published.join("1.root.json")).unwrap();
    for name in ["2.root", "1.root", "7.snapshot", "3.releases", "Timestamp"] {
        let (code, err) = s.fails(&[
            "delegation",
            "add",
            GUN,
            name,
            "--key",
            "new",
            "--paths",
            "x/*",
        ]);
        assert_eq!(code, 2, "{name}: {err}");
        one_line(&err);
        assert!(err.contains("versioned file"), "{name}: {err}");
    }
    let (code, err) = s.fails(&["delegation", "remove", GUN, "1.root"]);
    assert_eq!(code, 2, "{err}");
    one_line(&err);
    assert_eq!(std::fs::read(published.join("1.root.json")).unwrap(), root1);

    // A config that lists such a delegation (made before the check): publish refuses to write
    // it, and removing it leaves the file of the same name alone.
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "releases",
        "--key",
        "new",
        "--paths",
        "releases/*",
    ]);
    let cfg_path = s.hsm.trust_dir.join("tuf").join(GUN).join("trustkey.json");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, cfg.replace("\"releases\"", "\"1.root\"")).unwrap();
    let before = snapshot(&s.repo());
    let (code, err) = run_fails(&mut s.publish_cmd(GUN));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("would overwrite 1.root.json"), "{err}");
    assert_eq!(snapshot(&s.repo()), before);
    s.ok(&["delegation", "remove", GUN, "1.root"]);
    assert_eq!(std::fs::read(published.join("1.root.json")).unwrap(), root1);
    s.publish(GUN, &s.repo());
    let out = run_ok(
        s.hsm
            .client("clients", "c")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(s.repo()),
    );
    assert!(!out.is_empty());
}

/// Defect 6, at `add`: a name that would be a file and a directory at once (`q` and `q/y`,
/// published or staged), and names longer than a file name or path can be.
#[test]
fn add_refuses_names_the_targets_directory_cannot_hold() {
    let s = Setup::new(&[GUN], &[]);
    let f = s.file("f", b"data");
    s.add(GUN, "q/y", &f);
    s.publish(GUN, &s.repo());
    let (code, err) = s.add_fails("q", &f);
    assert_eq!(code, 2, "{err}");
    one_line(&err);
    assert!(err.contains("both a file and a directory"), "{err}");
    s.add(GUN, "p", &f);
    let (code, err) = s.add_fails("p/z", &f);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("both a file and a directory"), "{err}");

    let long = "n".repeat(256);
    let (code, err) = s.add_fails(&format!("d/{long}"), &f);
    assert_eq!(code, 2, "{err}");
    one_line(&err);
    assert!(err.contains("too long"), "{err}");
    let deep = vec!["d".repeat(250); 17].join("/");
    let (code, err) = s.add_fails(&deep, &f);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("too long"), "{err}");
    s.add(GUN, &"n".repeat(255), &f);
    s.publish(GUN, &s.repo());
    assert!(s.gun_dir().join("targets").join("n".repeat(255)).is_file());
    // A removal staged makes room in the names (not published here: the removed file stays
    // in targets/ for readers of older metadata, and a publish of `q` would fail on it).
    s.ok(&["remove", GUN, "q/y"]);
    s.add(GUN, "q", &f);
}

/// With consistent snapshots the last part of a name gets `<sha256 hex>.` before it.
#[test]
fn consistent_snapshot_names_count_their_hash_prefix() {
    let s = Setup::new(&[GUN], &["--consistent-snapshot"]);
    let f = s.file("f", b"data");
    let (code, err) = s.add_fails(&"n".repeat(191), &f);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("too long"), "{err}");
    s.add(GUN, &format!("d/{}", "n".repeat(190)), &f);
    s.publish(GUN, &s.repo());
}

/// Defect 6, at `publish`: when one target file cannot be written, no target file changes
/// (the old metadata still describes every file under its name), and neither does metadata.
#[test]
fn a_failed_publish_changes_no_target_file() {
    let s = Setup::new(&[GUN], &[]);
    s.add(GUN, "a", &s.file("a1", b"version one"));
    s.publish(GUN, &s.repo());
    s.add(GUN, "a", &s.file("a2", b"version two"));
    s.add(GUN, "q", &s.file("q", b"q"));
    // Something else made a directory where q goes (a mirror, a person).
    let blocker = s.gun_dir().join("targets").join("q");
    std::fs::create_dir_all(&blocker).unwrap();
    std::fs::write(blocker.join("other"), b"x").unwrap();
    let before = snapshot(&s.repo());
    let (code, err) = run_fails(&mut s.publish_cmd(GUN));
    one_line(&err);
    assert_ne!(code, 0);
    assert_eq!(snapshot(&s.repo()), before, "{err}");
    // Once the way is clear the same publish succeeds.
    std::fs::remove_dir_all(&blocker).unwrap();
    s.publish(GUN, &s.repo());
    let a = std::fs::read(s.gun_dir().join("targets").join("a")).unwrap();
    assert_eq!(a, b"version two");
}

/// Defect 7: a staged file swapped for `/dev/zero`, or grown, is read up to its recorded
/// length and one byte, then refused. The publish runs with a 10 MiB file size limit, so a
/// copy that did not stop fails (or is killed by SIGXFSZ) instead of filling the disk.
#[test]
fn publish_reads_a_staged_file_no_further_than_its_length() {
    let s = Setup::new(&[GUN], &[]);
    let f = s.file("zero", b"ten bytes!");
    s.add(GUN, "zero", &f);
    std::fs::remove_file(&f).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &f).unwrap();
    let g = s.file("grown", b"short");
    s.add(GUN, "grown", &g);
    let limited = |c: &Command| {
        let mut sh = Command::new("sh");
        sh.args(["-c", "ulimit -f 10240 && exec \"$@\"", "sh"])
            .arg(c.get_program())
            .args(c.get_args())
            .envs(c.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .stdin(std::process::Stdio::null());
        sh
    };
    let (code, err) = run_fails(&mut limited(&s.publish_cmd(GUN)));
    assert_eq!(code, 2, "{err}");
    one_line(&err);
    assert!(err.contains("longer than the 10 bytes recorded"), "{err}");
    assert!(!s.gun_dir().join("targets").exists() || snapshot(&s.gun_dir()).is_empty());

    s.add(GUN, "zero", &s.file("zero2", b"ten bytes!"));
    std::fs::write(&g, vec![b'x'; 1 << 20]).unwrap();
    let (code, err) = run_fails(&mut limited(&s.publish_cmd(GUN)));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("longer than the 5 bytes recorded"), "{err}");
    s.add(GUN, "grown", &g);
    run_ok(&mut limited(&s.publish_cmd(GUN)));
}

/// Defect 16: GUNs nested inside each other in one `--repo` (a target of `col.example/x` named
/// `metadata/timestamp.json` is the timestamp of `col.example/x/targets`): refused, in both
/// orders.
#[test]
fn nested_guns_are_refused_in_one_repository_directory() {
    let (outer, inner) = ("col.example/x", "col.example/x/targets");
    let s = Setup::new(&[outer, inner], &[]);
    let f = s.file("t", b"a target");
    s.add(outer, "metadata/timestamp.json", &f);
    s.add(inner, "app", &f);
    for (first, second) in [(outer, inner), (inner, outer)] {
        let repo = s.path().join(format!("repo-{}", first.len()));
        s.publish(first, &repo);
        let before = snapshot(&repo);
        let (code, err) = run_fails(s.tk().args(["publish", second, "--repo"]).arg(&repo));
        assert_eq!(code, 2, "{first} then {second}: {err}");
        one_line(&err);
        assert!(
            err.contains("the directory of col.example/x/targets is inside that of col.example/x"),
            "{err}"
        );
        assert_eq!(snapshot(&repo), before);
        // Each publishes to a directory of its own.
        s.publish(second, &s.path().join(format!("apart-{}", second.len())));
    }
}
