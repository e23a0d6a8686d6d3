//! Where the files of a published repository go, in each dialect, under `DIR/<gun>/`:
//!
//! ```text
//! Notary v1        DIR/<gun>/{root,targets,snapshot,timestamp}.json, <N>.root.json,
//!                  <role>.<hex sha256>.json for root, targets and snapshot (what a notary
//!                  client fetches from notary-server)
//! TUF 1.0          DIR/<gun>/metadata/<N>.root.json   every root version (clients walk them)
//!                  DIR/<gun>/metadata/root.json       the latest root (for people and tools)
//!                  DIR/<gun>/metadata/{timestamp,snapshot,targets}.json
//!                  DIR/<gun>/metadata/<N>.{snapshot,targets}.json   with consistent snapshots
//!                  DIR/<gun>/targets/<name>           target files, or, with consistent
//!                  DIR/<gun>/targets/<dir>/<hex sha256>.<base>      snapshots, hash-prefixed
//! ```
//!
//! A TUF client is pointed at `http://HOST/<gun>/metadata/` and `http://HOST/<gun>/targets/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::trustdir::TufOptions;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

/// The directory holding the metadata of a repository whose files are in `gun_dir`.
pub fn metadata_dir(dialect: Dialect, gun_dir: &Path) -> PathBuf {
    match dialect {
        Dialect::Notary => gun_dir.to_path_buf(),
        Dialect::Tuf => gun_dir.join("metadata"),
    }
}

/// The directory holding target files (TUF 1.0 only; notary serves no target files).
pub fn targets_dir(dialect: Dialect, gun_dir: &Path) -> Option<PathBuf> {
    match dialect {
        Dialect::Notary => None,
        Dialect::Tuf => Some(gun_dir.join("targets")),
    }
}

/// The file name a client fetches for `role` at `version` (TUF 1.0 clients ask for
/// `<N>.snapshot.json` and `<N>.targets.json` when root sets `consistent_snapshot`).
pub fn role_file(role: RoleName, version: Option<u64>, consistent: bool) -> String {
    match (role, version) {
        (RoleName::Snapshot | RoleName::Targets, Some(v)) if consistent => {
            format!("{v}.{}", role.file_name())
        }
        _ => role.file_name(),
    }
}

/// The metadata files of one publish, in the order they must be renamed into place
/// (timestamp last). `roots` are every root version, `(N, bytes)`; `targets` is `None` when
/// this publish did not sign it; `delegated` are the delegated roles it signed.
pub fn metadata_files(
    dialect: Dialect,
    opts: TufOptions,
    roots: Vec<(u64, Vec<u8>)>,
    root: &SignedMeta,
    targets: Option<&SignedMeta>,
    delegated: &[SignedMeta],
    [snapshot, timestamp]: [&SignedMeta; 2],
) -> Vec<(String, Arc<Vec<u8>>)> {
    let mut files: Vec<(String, Arc<Vec<u8>>)> = roots
        .into_iter()
        .map(|(n, b)| (format!("{n}.root.json"), Arc::new(b)))
        .collect();
    let signed: Vec<&SignedMeta> = delegated
        .iter()
        .chain(targets)
        .chain([root, snapshot])
        .collect();
    for m in &signed {
        match dialect {
            // Notary clients fetch root, targets, delegated roles and snapshot by checksum as
            // well (`<role>.<hex sha256>.json`, as notary-server serves them): write both names.
            Dialect::Notary => files.push((
                format!("{}.{}.json", m.name, hex::encode(m.sha256)),
                m.bytes.clone(),
            )),
            Dialect::Tuf if opts.consistent_snapshot && m.role != RoleName::Root => {
                files.push((role_file_named(&m.name, m.version(), true), m.bytes.clone()))
            }
            Dialect::Tuf => {}
        }
    }
    for m in signed.into_iter().chain([timestamp]) {
        files.push((format!("{}.json", m.name), m.bytes.clone()));
    }
    files
}

/// As [`role_file`], for any targets role by name (delegated roles included).
pub fn role_file_named(name: &str, version: Option<u64>, consistent: bool) -> String {
    match version {
        Some(v) if consistent => format!("{v}.{name}.json"),
        _ => format!("{name}.json"),
    }
}

/// A target name usable as a relative path under `targets/`: `/`-separated, no empty, `.` or
/// `..` component, no backslash.
pub fn check_target_path(name: &str) -> Result<()> {
    let bad = name.starts_with('/')
        || name.contains('\\')
        || name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
    if bad {
        return Err(Error::Usage(format!(
            "target name {name:?} cannot be a path under targets/ (use /-separated names \
             without empty, . or .. components)"
        )));
    }
    Ok(())
}

/// Where target `name` goes under `targets/`: the name, or with consistent snapshots
/// `<dir>/<hex sha256>.<base>` (what python-tuf's `download_target` asks for: the first
/// hash listed, and sha256 sorts first).
pub fn target_file(name: &str, sha256_hex: &str, consistent: bool) -> PathBuf {
    if !consistent {
        return PathBuf::from(name);
    }
    match name.rsplit_once('/') {
        Some((dir, base)) => PathBuf::from(dir).join(format!("{sha256_hex}.{base}")),
        None => PathBuf::from(format!("{sha256_hex}.{name}")),
    }
}

/// Whether `dir` is a published repository's directory, in either dialect: it holds
/// `root.json` (Notary) or `metadata/root.json` (TUF 1.0).
fn holds_repository(dir: &Path) -> bool {
    let file = |p: PathBuf| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    file(dir.join("root.json")) || file(dir.join("metadata").join("root.json"))
}

/// Refuses to publish `gun` into `repo_dir` (at `DIR/<gun>`) when another GUN's repository
/// there would share files with it: one whose directory is above (`col.example/x` for
/// `col.example/x/targets`), or, on the GUN's first publish there, one below (whose files
/// would be among its own: a target named `metadata/timestamp.json` of `col.example/x` is the
/// timestamp of `col.example/x/targets`). Once a GUN is published, nothing can be published
/// below it, so its own later publishes need not look down again.
pub fn check_nesting(repo_dir: &Path, gun: &str) -> Result<()> {
    let refuse = |other: &str, above: bool| {
        let (outer, inner) = if above { (other, gun) } else { (gun, other) };
        Err(Error::Usage(format!(
            "{inner} and {outer} cannot both be published to {}: the directory of {inner} is \
             inside that of {outer}, and their files would overwrite each other; publish one \
             of them to another --repo",
            repo_dir.display()
        )))
    };
    let parts: Vec<&str> = gun.split('/').collect();
    let mut dir = repo_dir.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        dir.push(part);
        if i + 1 < parts.len() && holds_repository(&dir) {
            return refuse(&parts[..=i].join("/"), true);
        }
    }
    if holds_repository(&dir) {
        return Ok(());
    }
    let mut pending = vec![dir.clone()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let sub = entry.path();
            if holds_repository(&sub) {
                let rel = sub.strip_prefix(repo_dir).unwrap_or(&sub);
                return refuse(&rel.to_string_lossy(), false);
            }
            pending.push(sub);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_guns() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path();
        assert!(check_nesting(repo, "col.example/x").is_ok());
        std::fs::create_dir_all(repo.join("col.example/x/targets/metadata")).unwrap();
        std::fs::write(repo.join("col.example/x/targets/metadata/root.json"), b"{}").unwrap();
        // Below a GUN published first, and above one published first.
        let e = check_nesting(repo, "col.example/x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the directory of col.example/x/targets is inside"),
            "{e}"
        );
        assert!(check_nesting(repo, "col.example/x/targets").is_ok());
        std::fs::write(repo.join("col.example/x/root.json"), b"{}").unwrap();
        let e = check_nesting(repo, "col.example/x/targets/y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("is inside that of col.example/x,"), "{e}");
        // Published already: its own directory is not looked through again.
        assert!(check_nesting(repo, "col.example/x").is_ok());
        assert!(check_nesting(repo, "col.example/other").is_ok());
    }

    #[test]
    fn target_paths() {
        assert_eq!(target_file("a/b.txt", "ab", true), Path::new("a/ab.b.txt"));
        assert_eq!(target_file("b.txt", "ab", true), Path::new("ab.b.txt"));
        assert_eq!(target_file("a/b.txt", "ab", false), Path::new("a/b.txt"));
        for bad in ["/x", "a/../b", "a//b", "./a", "a\\b", "a/"] {
            assert!(check_target_path(bad).is_err(), "{bad}");
        }
        assert!(check_target_path("dir/v1.0.tar.gz").is_ok());
        assert_eq!(
            role_file(RoleName::Targets, Some(3), true),
            "3.targets.json"
        );
        assert_eq!(role_file(RoleName::Targets, Some(3), false), "targets.json");
        assert_eq!(
            role_file(RoleName::Timestamp, Some(3), true),
            "timestamp.json"
        );
    }
}
