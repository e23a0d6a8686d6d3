//! `trustkey backup create|verify|restore`, run as the real binary against temp trust dirs.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KEY_A: &str = "1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a";
const KEY_B: &str = "2e4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b";

/// The binary with no passphrase, PIN, trust-dir or module settings from the environment,
/// and no terminal to prompt on.
fn trustkey(trust_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.ends_with("_PASSPHRASE") || k.starts_with("TRUSTKEY_") {
            c.env_remove(k);
        }
    }
    c.arg("-d").arg(trust_dir).stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    let out = c.output().expect("run trustkey");
    eprintln!(
        "--- {:?}\nstatus {:?}\nstdout:\n{}\nstderr:\n{}",
        c,
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn write_file(p: &Path, bytes: &[u8], mode: u32) {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p.parent().unwrap())
        .unwrap();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(p)
        .unwrap();
    f.write_all(bytes).unwrap();
}

fn fake_pem(role: &str, gun: &str, n: u8) -> Vec<u8> {
    format!(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: {role}\ngun: {gun}\n\nMIIB{n}AAAA\n\
         -----END ENCRYPTED PRIVATE KEY-----\n"
    )
    .into_bytes()
}

/// A trust dir with two (fake) keys in private/, one in a subdirectory as old notary had.
fn populated_trust_dir(root: &Path) -> PathBuf {
    let td = root.join("trust");
    write_file(
        &td.join(format!("private/{KEY_A}.key")),
        &fake_pem("targets", "example.com/app", 1),
        0o600,
    );
    write_file(
        &td.join(format!("private/tuf_keys/{KEY_B}.key")),
        &fake_pem("snapshot", "example.com/app", 2),
        0o600,
    );
    td
}

/// Every path under `dir` (relative), with its mode and, for files, its bytes (a symbolic
/// link: mode 0 and its target).
fn tree(dir: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
    fn go(d: &Path, base: &Path, out: &mut BTreeMap<String, (u32, Option<Vec<u8>>)>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                let target = fs::read_link(&p).unwrap();
                out.insert(rel, (0, Some(target.into_os_string().into_encoded_bytes())));
            } else if m.is_dir() {
                out.insert(rel, (mode(&p), None));
                go(&p, base, out);
            } else {
                out.insert(rel, (mode(&p), Some(fs::read(&p).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        go(dir, dir, &mut out);
    }
    out
}

fn create_backup(td: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut c = trustkey(td);
    c.args(["backup", "create", "--out"]).arg(out).args(extra);
    run(c)
}

#[test]
fn create_is_owner_only_and_listed_by_gnu_tar() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    let escrow = t.path().join("root-escrow.p8");
    write_file(&escrow, &fake_pem("root", "", 9), 0o600);
    let out = t.path().join("backup.tar.gz");
    let o = create_backup(&td, &out, &["--include", escrow.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(mode(&out), 0o600, "archive mode");

    let l = Command::new("tar").arg("-tvzf").arg(&out).output().unwrap();
    assert!(l.status.success(), "{}", stderr(&l));
    let listing = String::from_utf8(l.stdout).unwrap();
    eprintln!("{listing}");
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(
        lines.len(),
        6,
        "private/, tuf_keys/, 2 keys, escrow/, 1 escrow file"
    );
    for line in &lines {
        let perms = line.split_whitespace().next().unwrap();
        assert!(
            perms == "-rw-------" || perms == "drwx------",
            "unexpected entry mode: {line}"
        );
        // Owner is uid/gid, not 0/0 as an empty header would say, and the date is not 1970.
        assert!(!line.contains("1970-01-01"), "{line}");
    }
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    // Directories carry a trailing slash, as GNU tar writes them.
    assert!(names.contains(&"private/"));
    assert!(names.contains(&"private/tuf_keys/"));
    assert!(names.contains(&"escrow/"));
    assert!(names.contains(&format!("private/{KEY_A}.key").as_str()));
    assert!(names.contains(&format!("private/tuf_keys/{KEY_B}.key").as_str()));
    assert!(names.contains(&"escrow/root-escrow.p8"));
    assert!(lines
        .iter()
        .filter(|l| l.starts_with('d'))
        .all(|l| l.starts_with("drwx------")));

    // --json lists what went in.
    let out2 = t.path().join("b2.tgz");
    let mut c = trustkey(&td);
    c.args(["--json", "backup", "create", "--out"]).arg(&out2);
    let o = run(c);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["keys"], 2);
    assert_eq!(v["escrow_files"], 0);
}

#[test]
fn create_refuses_to_overwrite_without_force() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    let out = t.path().join("backup.tar.gz");
    fs::write(&out, b"precious").unwrap();
    let o = create_backup(&td, &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"));
    assert_eq!(fs::read(&out).unwrap(), b"precious");

    let o = create_backup(&td, &out, &["--force"]);
    assert!(o.status.success());
    assert_eq!(mode(&out), 0o600);
    assert_ne!(fs::read(&out).unwrap(), b"precious");
    // No temp files left beside it.
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), 2);
}

#[test]
fn create_refuses_an_archive_inside_private() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    let before = tree(&td);
    let o = create_backup(&td, &td.join("private/backup.tgz"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("inside"), "{}", stderr(&o));
    assert_eq!(tree(&td), before);
}

#[test]
fn create_with_no_keys_fails() {
    let t = tempfile::tempdir().unwrap();
    let td = t.path().join("trust");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(td.join("private"))
        .unwrap();
    let out = t.path().join("backup.tar.gz");
    let o = create_backup(&td, &out, &[]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("no keys to back up"), "{}", stderr(&o));
    assert!(!out.exists());
    // Nor with no private/ at all.
    let o = create_backup(&t.path().join("nothing-here"), &out, &[]);
    assert_eq!(o.status.code(), Some(4));
    assert!(!out.exists());
}

#[test]
fn create_refuses_symlinks_in_private() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    std::os::unix::fs::symlink("/etc/passwd", td.join("private/evil.key")).unwrap();
    let out = t.path().join("backup.tar.gz");
    let o = create_backup(&td, &out, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    assert!(!out.exists());
}

#[test]
fn restore_reproduces_files_and_modes() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    let escrow = t.path().join("root-escrow.p8");
    write_file(&escrow, &fake_pem("root", "", 9), 0o600);
    let out = t.path().join("backup.tar.gz");
    assert!(
        create_backup(&td, &out, &["--include", escrow.to_str().unwrap()])
            .status
            .success()
    );

    let fresh = t.path().join("fresh/trust");
    let mut c = trustkey(&fresh);
    c.args(["backup", "restore"]).arg(&out);
    let o = run(c);
    assert!(o.status.success());
    let mut want = tree(&td);
    want.insert("escrow".into(), (0o700, None));
    want.insert(
        "escrow/root-escrow.p8".into(),
        (0o600, Some(fs::read(&escrow).unwrap())),
    );
    assert_eq!(tree(&fresh), want);
    for (path, (m, data)) in tree(&fresh) {
        assert_eq!(m, if data.is_some() { 0o600 } else { 0o700 }, "{path}");
    }
    assert_eq!(mode(&fresh), 0o700);
}

#[test]
fn restore_never_overwrites_without_force() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    let out = t.path().join("backup.tar.gz");
    assert!(create_backup(&td, &out, &[]).status.success());

    // The target trust dir already has KEY_A, with other bytes.
    let other = t.path().join("other");
    let existing = other.join(format!("private/{KEY_A}.key"));
    write_file(&existing, b"a different key", 0o600);
    let before = tree(&other);

    let mut c = trustkey(&other);
    c.args(["backup", "restore"]).arg(&out);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{KEY_A}.key already exists")),
        "{err}"
    );
    assert!(err.contains("--force") && err.contains("nothing was restored"));
    assert_eq!(tree(&other), before, "nothing written, not even KEY_B");

    let mut c = trustkey(&other);
    c.args(["--json", "backup", "restore", "--force"]).arg(&out);
    let o = run(c);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["replaced"].as_array().unwrap().len(), 1);
    assert_eq!(v["written"].as_array().unwrap().len(), 1);
    assert_eq!(tree(&other), tree(&td));
}

#[test]
fn restore_reads_archives_made_by_gnu_tar() {
    let t = tempfile::tempdir().unwrap();
    let td = populated_trust_dir(t.path());
    let out = t.path().join("gnu.tgz");
    let s = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 077 && tar -C '{}' -zcf '{}' ./private",
            td.display(),
            out.display()
        ))
        .status()
        .unwrap();
    assert!(s.success());
    let fresh = t.path().join("fresh");
    let mut c = trustkey(&fresh);
    c.args(["backup", "restore"]).arg(&out);
    assert!(run(c).status.success());
    assert_eq!(tree(&fresh), tree(&td));
}

// ---------------------------------------------------------------------------------------------
// Hostile archives: each is refused with a one-line error naming the entry, and nothing at all
// is written. Every archive starts with a good key, so a restore that wrote as it went would
// leave it behind.

fn gz(tar_bytes: Vec<u8>) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&tar_bytes).unwrap();
    e.finish().unwrap()
}

/// A header whose name is written byte for byte (the `tar` crate refuses `..` and `/`).
fn raw_header(name: &[u8], kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..name.len()].copy_from_slice(name);
    }
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o700
    } else {
        0o600
    });
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

fn append_raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8]) {
    let h = raw_header(name.as_bytes(), kind, data.len() as u64);
    b.append(&h, data).unwrap();
}

fn hostile(add: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append_raw(&mut b, "private/", tar::EntryType::Directory, b"");
    append_raw(
        &mut b,
        &format!("private/{KEY_B}.key"),
        tar::EntryType::Regular,
        &fake_pem("snapshot", "example.com/app", 2),
    );
    add(&mut b);
    gz(b.into_inner().unwrap())
}

/// Restores `archive` into a trust dir holding one key, and into a missing one; both must be
/// refused with a one-line error containing every `expect` string and leave no trace.
/// `assert_refused` for one bad entry: the error names it.
fn assert_refused_entry(archive: Vec<u8>, expect: &[&str]) {
    let mut all = vec!["refusing entry"];
    all.extend_from_slice(expect);
    assert_refused(archive, &all)
}

fn assert_refused(archive: Vec<u8>, expect: &[&str]) {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("hostile.tgz");
    fs::write(&path, archive).unwrap();

    let td = t.path().join("trust");
    write_file(
        &td.join(format!("private/{KEY_A}.key")),
        &fake_pem("targets", "example.com/app", 1),
        0o600,
    );
    let outside_before = tree(t.path());
    for (dir, force) in [(&td, false), (&td, true), (&t.path().join("absent"), false)] {
        let before = tree(dir);
        let mut c = trustkey(dir);
        c.args(["backup", "restore"]).arg(&path);
        if force {
            c.arg("--force");
        }
        let o = run(c);
        assert_eq!(o.status.code(), Some(5), "a verify-type refusal");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one-line error: {err}");
        assert!(err.contains("refusing"), "{err}");
        for e in expect {
            assert!(err.contains(e), "{err:?} should contain {e:?}");
        }
        assert!(err.contains("nothing was restored"), "{err}");
        assert_eq!(tree(dir), before, "nothing written");
        assert!(o.stdout.is_empty());
    }
    assert!(!t.path().join("absent").exists());
    assert_eq!(tree(t.path()), outside_before, "nothing written anywhere");
    // verify refuses the same archive, before asking for any passphrase.
    let mut c = trustkey(&td);
    c.args(["backup", "verify"]).arg(&path);
    let o = run(c);
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("refusing"));
}

#[test]
fn hostile_absolute_path() {
    let a = hostile(|b| append_raw(b, "/tmp/evil.key", tar::EntryType::Regular, b"x"));
    assert_refused_entry(a, &["\"/tmp/evil.key\"", "absolute path"]);
}

#[test]
fn hostile_dotdot() {
    let a = hostile(|b| append_raw(b, "private/../../evil.key", tar::EntryType::Regular, b"x"));
    assert_refused_entry(a, &["\"private/../../evil.key\"", "`..`"]);
}

#[test]
fn hostile_symlink() {
    let a = hostile(|b| {
        let mut h = raw_header(b"private/link.key", tar::EntryType::Symlink, 0);
        h.set_link_name("/etc/passwd").unwrap();
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
    });
    assert_refused_entry(a, &["\"private/link.key\"", "symbolic link", "/etc/passwd"]);
}

#[test]
fn hostile_hard_link() {
    let a = hostile(|b| {
        let mut h = raw_header(b"private/hard.key", tar::EntryType::Link, 0);
        h.set_link_name("etc/shadow").unwrap();
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
    });
    assert_refused_entry(a, &["\"private/hard.key\"", "hard link"]);
}

#[test]
fn hostile_char_device() {
    let a = hostile(|b| {
        let mut h = raw_header(b"private/null.key", tar::EntryType::Char, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
    });
    assert_refused_entry(a, &["\"private/null.key\"", "character device"]);
}

#[test]
fn hostile_fifo() {
    let a = hostile(|b| append_raw(b, "private/pipe.key", tar::EntryType::Fifo, b""));
    assert_refused_entry(a, &["\"private/pipe.key\"", "FIFO"]);
}

#[test]
fn hostile_duplicate_entry() {
    let a = hostile(|b| {
        append_raw(
            b,
            &format!("./private/{KEY_B}.key"),
            tar::EntryType::Regular,
            b"replacement",
        )
    });
    assert_refused_entry(a, &[KEY_B, "duplicate entry"]);
}

#[test]
fn hostile_oversized_entry() {
    let big = vec![b'A'; (1 << 20) + 1];
    let a = hostile(|b| append_raw(b, "private/big.key", tar::EntryType::Regular, &big));
    assert_refused_entry(a, &["\"private/big.key\"", "1048577 bytes", "1 MiB"]);
}

#[test]
fn hostile_total_over_bound() {
    // 65 entries of 1 MiB each: every one within the per-entry bound, 65 MiB in all.
    let mib = vec![0u8; 1 << 20];
    let a = hostile(|b| {
        for i in 0..65 {
            append_raw(
                b,
                &format!("private/f{i}.key"),
                tar::EntryType::Regular,
                &mib,
            );
        }
    });
    assert_refused(a, &["more than 67108864 bytes (64 MiB)"]);
}

#[test]
fn hostile_long_name_bomb() {
    // A GNU long-name record of 80 MiB: the tar reader would hold it in memory; the bound on
    // decompressed bytes stops it first.
    let a = hostile(|b| {
        let h = raw_header(b"././@LongLink", tar::EntryType::GNULongName, 80 << 20);
        b.append(&h, std::io::repeat(b'a').take(80 << 20)).unwrap();
        append_raw(b, "private/x.key", tar::EntryType::Regular, b"x");
    });
    assert_refused(a, &["MiB of tar data"]);
}

#[test]
fn hostile_too_many_entries() {
    let a = hostile(|b| {
        for i in 0..4100 {
            append_raw(b, &format!("private/d{i}/"), tar::EntryType::Directory, b"");
        }
    });
    assert_refused(a, &["more than 4096 entries"]);
}

#[test]
fn hostile_entry_outside_private() {
    let a = hostile(|b| {
        append_raw(
            b,
            "tuf/example.com/app/root.json",
            tar::EntryType::Regular,
            b"{}",
        )
    });
    assert_refused_entry(
        a,
        &["\"tuf/example.com/app/root.json\"", "outside private/"],
    );
}

#[test]
fn hostile_file_where_a_directory_goes() {
    let a = hostile(|b| {
        append_raw(b, "private/sub", tar::EntryType::Regular, b"x");
        append_raw(b, "private/sub/k.key", tar::EntryType::Regular, b"y");
    });
    assert_refused_entry(a, &["private/sub/k.key", "not a directory"]);
}

#[test]
fn not_a_tar_gz_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("junk.tgz");
    fs::write(&path, b"this is not gzip").unwrap();
    let td = t.path().join("trust");
    let mut c = trustkey(&td);
    c.args(["backup", "restore"]).arg(&path);
    let o = run(c);
    assert_eq!(o.status.code(), Some(5));
    assert!(stderr(&o).contains("not a readable tar.gz"));
    assert!(!td.exists());
}

// ---------------------------------------------------------------------------------------------
// verify

#[test]
fn verify_reports_keys_it_cannot_open_without_prompting() {
    let t = tempfile::tempdir().unwrap();
    let td = t.path().join("trust");
    // No role header: no way to choose a passphrase; a note file that is not a key is skipped.
    write_file(
        &td.join(format!("private/{KEY_A}.key")),
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        0o600,
    );
    write_file(&td.join("private/README"), b"notes", 0o600);
    let out = t.path().join("b.tgz");
    assert!(create_backup(&td, &out, &[]).status.success());
    let mut c = trustkey(&td);
    c.args(["--json", "backup", "verify"]).arg(&out);
    let o = run(c);
    assert_eq!(o.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let by_path = |p: &str| keys.iter().find(|k| k["path"] == p).unwrap().clone();
    let k = by_path(&format!("private/{KEY_A}.key"));
    assert_eq!(k["status"], "failed");
    assert_eq!(k["key_id"], KEY_A);
    assert!(k["error"].as_str().unwrap().contains("role"));
    assert_eq!(by_path("private/README")["status"], "skipped");
    assert!(stderr(&o).contains("1 of 1 key(s) failed"));
}

/// A real encrypted key from `keys::file::encrypt_pem`: (key ID, PEM).
fn encrypted_key(role: &str, gun: &str, pass: &str, with_meta: bool) -> (String, String) {
    use secrecy::SecretString;
    use trustkey::keys::file::{encrypt_pem, KeyMeta};
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let meta = KeyMeta {
        role: role.into(),
        gun: gun.into(),
    };
    let pass = SecretString::from(pass.to_string());
    let pem = encrypt_pem(&secret, &pass, with_meta.then_some(&meta)).expect("encrypt_pem");
    (
        trustkey::keys::canonical_key_id(&secret.public_key()),
        pem.to_string(),
    )
}

/// A trust dir with real encrypted targets and snapshot keys, a backup of it with a root escrow
/// file.
fn real_backup(t: &Path) -> (PathBuf, PathBuf, Vec<String>) {
    let (tid, tpem) = encrypted_key("targets", "example.com/app", "targets pass 1", true);
    let (sid, spem) = encrypted_key("snapshot", "example.com/app", "snapshot pass 2", true);
    let (_, rpem) = encrypted_key("root", "", "root escrow pass", false);
    let td = t.join("trust");
    write_file(
        &td.join(format!("private/{tid}.key")),
        tpem.as_bytes(),
        0o600,
    );
    write_file(
        &td.join(format!("private/{sid}.key")),
        spem.as_bytes(),
        0o600,
    );
    let escrow = t.join("root-escrow.p8");
    write_file(&escrow, rpem.as_bytes(), 0o600);
    let out = t.join("backup.tgz");
    assert!(
        create_backup(&td, &out, &["--include", escrow.to_str().unwrap()])
            .status
            .success()
    );
    (td, out, vec![tid, sid])
}

#[test]
fn verify_decrypts_every_key() {
    let t = tempfile::tempdir().unwrap();
    let (td, out, ids) = real_backup(t.path());
    let mut c = trustkey(&td);
    c.args(["--json", "backup", "verify"])
        .arg(&out)
        .env("TRUSTKEY_TARGETS_PASSPHRASE", "targets pass 1")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot pass 2")
        .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "root escrow pass");
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for k in keys {
        assert_eq!(k["status"], "ok", "{k}");
    }
    for id in &ids {
        let k = keys.iter().find(|k| k["key_id"] == id.as_str()).unwrap();
        assert_eq!(k["actual_key_id"], id.as_str());
        assert_eq!(k["gun"], "example.com/app");
    }
    let e = keys.iter().find(|k| k["escrow"] == true).unwrap();
    assert_eq!(e["path"], "escrow/root-escrow.p8");
    assert_eq!(e["role"], "root");

    // Human output lists every key too.
    let mut c = trustkey(&td);
    c.args(["backup", "verify"])
        .arg(&out)
        .env("TRUSTKEY_TARGETS_PASSPHRASE", "targets pass 1")
        .env("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot pass 2")
        .env("TRUSTKEY_ROOT_PASSPHRASE", "root escrow pass");
    let o = run(c);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    for id in &ids {
        assert!(text.contains(id.as_str()), "{text}");
    }
    assert_eq!(text.lines().filter(|l| l.starts_with("ok")).count(), 3);
}

// NEEDS the keys-file branch, as above.
#[test]
fn verify_fails_on_wrong_passphrase() {
    let t = tempfile::tempdir().unwrap();
    let (td, out, ids) = real_backup(t.path());
    let mut c = trustkey(&td);
    c.args(["--json", "backup", "verify"])
        .arg(&out)
        .env("TRUSTKEY_TARGETS_PASSPHRASE", "targets pass 1")
        .env("TRUSTKEY_SNAPSHOT_PASSPHRASE", "not the snapshot pass")
        .env("TRUSTKEY_ROOT_PASSPHRASE", "root escrow pass");
    let o = run(c);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        stderr(&o).contains("1 of 3 key(s) failed"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let keys = v["keys"].as_array().unwrap();
    let snap = keys
        .iter()
        .find(|k| k["key_id"] == ids[1].as_str())
        .unwrap();
    assert_eq!(snap["status"], "failed");
    assert!(
        snap["error"].as_str().unwrap().contains("passphrase"),
        "{snap}"
    );
    let targets = keys
        .iter()
        .find(|k| k["key_id"] == ids[0].as_str())
        .unwrap();
    assert_eq!(targets["status"], "ok");
}

// NEEDS the keys-file branch, as above.
#[test]
fn verify_fails_when_file_name_is_not_the_key_id() {
    let t = tempfile::tempdir().unwrap();
    let (td, _, ids) = real_backup(t.path());
    fs::rename(
        td.join(format!("private/{}.key", ids[0])),
        td.join(format!("private/{KEY_A}.key")),
    )
    .unwrap();
    let out = t.path().join("renamed.tgz");
    assert!(create_backup(&td, &out, &[]).status.success());
    let mut c = trustkey(&td);
    c.args(["--json", "backup", "verify"])
        .arg(&out)
        .env("TRUSTKEY_TARGETS_PASSPHRASE", "targets pass 1")
        .env("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot pass 2");
    let o = run(c);
    assert_eq!(o.status.code(), Some(5));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let k = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == KEY_A)
        .unwrap()
        .clone();
    assert_eq!(k["status"], "failed");
    assert_eq!(k["actual_key_id"], ids[0].as_str());
    assert!(k["error"]
        .as_str()
        .unwrap()
        .contains("file name says key ID"));
}

/// Delegation keys of both dialects (`role: delegation` in the TUF dialect, `targets/<name>` in
/// notary's) open with the delegation passphrase; a header that names no role is reported.
#[test]
fn verify_unlocks_delegation_keys_of_both_dialects() {
    let t = tempfile::tempdir().unwrap();
    let td = t.path().join("trust");
    let mut ids = Vec::new();
    for role in ["delegation", "targets/releases", "targets/"] {
        let (id, pem) = encrypted_key(role, "", "delegation pass 3", true);
        write_file(&td.join(format!("private/{id}.key")), pem.as_bytes(), 0o600);
        ids.push(id);
    }
    let out = t.path().join("delegations.tgz");
    assert!(create_backup(&td, &out, &[]).status.success());
    let mut c = trustkey(&td);
    c.args(["--json", "backup", "verify"])
        .arg(&out)
        .env("TRUSTKEY_DELEGATION_PASSPHRASE", "delegation pass 3");
    let o = run(c);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 of 3 key(s) failed"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys = v["keys"].as_array().unwrap();
    let by_id = |id: &str| keys.iter().find(|k| k["key_id"] == id).unwrap();
    assert_eq!(by_id(&ids[0])["status"], "ok");
    assert_eq!(by_id(&ids[1])["status"], "ok");
    let bad = by_id(&ids[2]);
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"].as_str().unwrap().contains("unknown role"),
        "{bad}"
    );
}

/// Issue 20, defect 13: a backup holding a key that asks for 4e9 PBKDF2 iterations (twenty
/// minutes of CPU) is refused at once, naming the limit; the other keys are still checked.
#[test]
fn verify_refuses_a_key_asking_for_billions_of_iterations_at_once() {
    use der::Encode as _;
    let t = tempfile::tempdir().unwrap();
    let (td, _, ids) = real_backup(t.path());
    let salt = [7u8; 16];
    let iv = [9u8; 16];
    let params = pkcs5::pbes2::Parameters {
        kdf: pkcs5::pbes2::Pbkdf2Params {
            salt: &salt,
            iteration_count: 4_000_000_000,
            key_length: None,
            prf: pkcs5::pbes2::Pbkdf2Prf::HmacWithSha1,
        }
        .into(),
        encryption: pkcs5::pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
    };
    let der = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: pkcs5::EncryptionScheme::Pbes2(params),
        encrypted_data: &[0u8; 144],
    }
    .to_der()
    .unwrap();
    let hostile = trustkey::pem::encode(
        "ENCRYPTED PRIVATE KEY",
        &[("gun", "example.com/app"), ("role", "snapshot")],
        &der,
    );
    write_file(
        &td.join(format!("private/{KEY_B}.key")),
        hostile.as_bytes(),
        0o600,
    );
    let out = t.path().join("hostile.tgz");
    assert!(create_backup(&td, &out, &[]).status.success());

    let mut c = trustkey(&td);
    c.args(["--json", "backup", "verify"])
        .arg(&out)
        .env("TRUSTKEY_TARGETS_PASSPHRASE", "targets pass 1")
        .env("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot pass 2");
    let start = std::time::Instant::now();
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed().as_secs() >= 30 {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("backup verify still running after 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys = v["keys"].as_array().unwrap();
    let bad = keys.iter().find(|k| k["key_id"] == KEY_B).unwrap();
    let error = bad["error"].as_str().unwrap();
    assert!(
        error.contains("4000000000 PBKDF2 iterations") && error.contains("limit of 13000000"),
        "{error}"
    );
    for id in &ids {
        let k = keys.iter().find(|k| k["key_id"] == id.as_str()).unwrap();
        assert_eq!(k["status"], "ok", "{k}");
    }
}

/// Issue 20, defect 15: `backup restore` never follows a symbolic link already in the trust
/// dir (private/sub -> outside, private/ itself, escrow/): refused with one line, nothing
/// written anywhere.
#[test]
fn restore_refuses_symlinked_directories_in_the_trust_dir() {
    let t = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    append_raw(&mut b, "private/", tar::EntryType::Directory, b"");
    append_raw(&mut b, "private/sub/", tar::EntryType::Directory, b"");
    append_raw(
        &mut b,
        &format!("private/sub/{KEY_A}.key"),
        tar::EntryType::Regular,
        &fake_pem("targets", "example.com/app", 1),
    );
    append_raw(&mut b, "escrow/", tar::EntryType::Directory, b"");
    append_raw(
        &mut b,
        "escrow/root.p8",
        tar::EntryType::Regular,
        &fake_pem("root", "", 3),
    );
    let archive = t.path().join("backup.tgz");
    fs::write(&archive, gz(b.into_inner().unwrap())).unwrap();

    let outside = t.path().join("outside");
    fs::DirBuilder::new().mode(0o777).create(&outside).unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o777)).unwrap();
    for (link, why) in [
        ("private/sub", "a subdirectory of private/"),
        ("private", "private/ itself"),
        ("escrow", "escrow/"),
    ] {
        let td = t.path().join("trust");
        let _ = fs::remove_dir_all(&td);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(td.join("private"))
            .unwrap();
        if link == "private" {
            fs::remove_dir(td.join("private")).unwrap();
        }
        std::os::unix::fs::symlink(&outside, td.join(link)).unwrap();
        let before = tree(&td);
        for force in [false, true] {
            let mut c = trustkey(&td);
            c.args(["backup", "restore"]).arg(&archive);
            if force {
                c.arg("--force");
            }
            let o = run(c);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{why}: {err}");
            assert_eq!(err.lines().count(), 1, "{why}: one line: {err}");
            assert!(
                err.contains(&format!("{} is a symbolic link", td.join(link).display())),
                "{why}: {err}"
            );
            assert_eq!(tree(&td), before, "{why}: nothing written");
            assert_eq!(
                fs::read_dir(&outside).unwrap().count(),
                0,
                "{why}: nothing written outside the trust dir"
            );
            assert_eq!(
                mode(&outside),
                0o777,
                "{why}: the link's target is left alone"
            );
        }
    }
}
