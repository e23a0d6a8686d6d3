//! Restoring a backup into the trust dir: every destination is checked first, then everything
//! is written (0600 files in 0700 directories), or nothing: a failed write undoes the run.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

use super::archive::{read_archive, Archive};
use super::read_bounded;
use crate::error::Error;
use crate::fsio::{self, Overwrite, SECRET_DIR_MODE, SECRET_FILE_MODE};
use crate::Result;

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub archive: String,
    /// Files written that did not exist before.
    pub written: Vec<String>,
    /// Files replaced (`--force`).
    pub replaced: Vec<String>,
    /// Directories created.
    pub created_dirs: Vec<String>,
}

/// What restore will do, decided before anything is written.
struct Plan<'a> {
    /// The trust dir (it may be a symbolic link: where it lives is the user's choice).
    root: PathBuf,
    /// Directories below it that exist already (made owner-only before anything is written).
    existing: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    files: Vec<PlannedFile<'a>>,
}

struct PlannedFile<'a> {
    dest: PathBuf,
    /// `dest` relative to the trust dir, as the archive names it.
    rel: &'a str,
    bytes: &'a [u8],
    /// The current content, when `--force` replaces it (put back if the restore fails).
    old: Option<Zeroizing<Vec<u8>>>,
}

fn plan<'a>(trust_dir: &Path, archive: &'a Archive, overwrite: Overwrite) -> Result<Plan<'a>> {
    let mut dirs = BTreeSet::new();
    for e in &archive.entries {
        let parts: Vec<&str> = e.path.split('/').collect();
        let upto = if e.is_dir() {
            parts.len()
        } else {
            parts.len().saturating_sub(1)
        };
        for i in 1..=upto {
            if let Some(dir) = parts.get(..i) {
                dirs.insert(dir.join("/"));
            }
        }
    }
    let mut to_create = Vec::new();
    // The trust dir itself, and any missing parents, are created too.
    let mut missing_roots = Vec::new();
    let mut p = Some(trust_dir);
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
        if fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing_roots.push(d.to_path_buf());
        p = d.parent();
    }
    missing_roots.reverse();
    to_create.extend(missing_roots);
    // BTreeSet order puts every parent before its children. Each is looked at itself, never
    // through a symbolic link: a link planted inside the trust dir (private/sub -> /elsewhere)
    // would have the restore write keys outside it (issue 20, defect 15).
    let mut existing = Vec::new();
    for rel in &dirs {
        let dest = trust_dir.join(rel);
        match fs::symlink_metadata(&dest) {
            Ok(m) if m.file_type().is_symlink() => return Err(linked(&dest)),
            Ok(m) if m.is_dir() => existing.push(dest),
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "{} exists and is not a directory; nothing was restored",
                    dest.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => to_create.push(dest),
            Err(e) => return Err(Error::io(format!("reading {}", dest.display()), e)),
        }
    }
    let mut files = Vec::new();
    let mut conflicts = Vec::new();
    for (rel, bytes) in archive.files() {
        let dest = trust_dir.join(rel);
        let old = match fs::symlink_metadata(&dest) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(format!("reading {}", dest.display()), e)),
            Ok(m) if !m.file_type().is_file() => {
                return Err(Error::Usage(format!(
                    "{} exists and is not a regular file; remove it first; nothing was restored",
                    dest.display()
                )))
            }
            Ok(m) => match overwrite {
                Overwrite::Refuse => {
                    conflicts.push(dest.display().to_string());
                    None
                }
                Overwrite::Replace => Some(read_bounded(&dest, &m)?),
            },
        };
        files.push(PlannedFile {
            dest,
            rel,
            bytes,
            old,
        });
    }
    if let Some(first) = conflicts.first() {
        let more = match conflicts.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Err(Error::Usage(format!(
            "{first} already exists{more}; nothing was restored; pass --force to replace \
             existing keys"
        )));
    }
    Ok(Plan {
        root: trust_dir.to_path_buf(),
        existing,
        dirs: to_create,
        files,
    })
}

fn linked(dir: &Path) -> Error {
    Error::Usage(format!(
        "{} is a symbolic link; restore writes only into directories of the trust dir itself; \
         nothing was restored",
        dir.display()
    ))
}

/// Refuses a symbolic link on the way from the trust dir to `rel`'s directory, looked at
/// again just before writing (the plan saw none, but the directory may have changed since).
fn no_links_on_the_way(root: &Path, rel: &str) -> Result<()> {
    let mut dir = root.to_path_buf();
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    for part in parts {
        dir.push(part);
        let m = fs::symlink_metadata(&dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        if !m.is_dir() || m.file_type().is_symlink() {
            return Err(linked(&dir));
        }
    }
    Ok(())
}

/// Writes one file: `fsio::write_atomic` in real use; tests inject failures.
type WriteFn<'w> = dyn FnMut(&Path, &[u8], Overwrite) -> Result<()> + 'w;

/// What `apply` did.
#[derive(Debug)]
struct Applied {
    written: Vec<PathBuf>,
    replaced: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

/// Writes `plan`: directories, then files through `write`. On the first failure, undoes
/// everything this run did (removes new files and directories, puts replaced files back).
fn apply(plan: &Plan<'_>, write: &mut WriteFn<'_>) -> Result<Applied> {
    let mut made_dirs: Vec<&Path> = Vec::new();
    let mut done: Vec<&PlannedFile<'_>> = Vec::new();
    let result = (|| -> Result<()> {
        for d in &plan.existing {
            fsio::secure_dir(d)?;
        }
        for d in &plan.dirs {
            fs::DirBuilder::new()
                .mode(SECRET_DIR_MODE)
                .create(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
            made_dirs.push(d);
            // The umask may have taken bits away, never added them; make it exact.
            fs::set_permissions(d, fs::Permissions::from_mode(SECRET_DIR_MODE))
                .map_err(|e| Error::io(format!("restricting {}", d.display()), e))?;
        }
        for f in &plan.files {
            let ow = if f.old.is_some() {
                Overwrite::Replace
            } else {
                Overwrite::Refuse
            };
            no_links_on_the_way(&plan.root, f.rel)?;
            write(&f.dest, f.bytes, ow)?;
            done.push(f);
        }
        Ok(())
    })();
    let Err(err) = result else {
        let (replaced, written) = plan
            .files
            .iter()
            .partition::<Vec<_>, _>(|f| f.old.is_some());
        return Ok(Applied {
            written: written.into_iter().map(|f| f.dest.clone()).collect(),
            replaced: replaced.into_iter().map(|f| f.dest.clone()).collect(),
            dirs: plan.dirs.clone(),
        });
    };
    // Roll back, newest first.
    let mut leftovers = Vec::new();
    for f in done.iter().rev() {
        let r = match &f.old {
            Some(old) => write(&f.dest, old, Overwrite::Replace),
            None => fs::remove_file(&f.dest)
                .map_err(|e| Error::io(format!("removing {}", f.dest.display()), e)),
        };
        if r.is_err() {
            leftovers.push(f.dest.display().to_string());
        }
    }
    for d in made_dirs.iter().rev() {
        if fs::remove_dir(d).is_err() {
            leftovers.push(d.display().to_string());
        }
    }
    let tail = if leftovers.is_empty() {
        "restore rolled back: nothing was restored".to_string()
    } else {
        format!(
            "restore rolled back, but these could not be undone: {}",
            leftovers.join(", ")
        )
    };
    Err(match err {
        Error::Io { what, source } => Error::Io {
            what: format!("{what} ({tail})"),
            source,
        },
        Error::Usage(m) => Error::Usage(format!("{m}; {tail}")),
        other => Error::Usage(format!("{other}; {tail}")),
    })
}

/// Restores `archive_path` into `trust_dir`: checks every entry and every destination first,
/// then writes 0600 files in 0700 directories, all or nothing. Existing keys are replaced only
/// with `Overwrite::Replace`; escrow files go to `trust_dir/escrow/`.
pub fn restore(
    trust_dir: &Path,
    archive_path: &Path,
    overwrite: Overwrite,
) -> Result<RestoreReport> {
    let archive = read_archive(archive_path).map_err(|e| match e {
        Error::Integrity(m) => Error::Integrity(format!("{m}; nothing was restored")),
        other => other,
    })?;
    if archive.files().next().is_none() {
        return Err(Error::Integrity(format!(
            "{}: the backup holds no files; nothing was restored",
            archive.name
        )));
    }
    let plan = plan(trust_dir, &archive, overwrite)?;
    let Applied {
        written,
        replaced,
        dirs,
    } = apply(&plan, &mut |p, b, o| {
        fsio::write_atomic(p, b, SECRET_FILE_MODE, o)
    })?;
    let show = |v: Vec<PathBuf>| v.iter().map(|p| p.display().to_string()).collect();
    Ok(RestoreReport {
        archive: archive.name,
        written: show(written),
        replaced: show(replaced),
        created_dirs: show(dirs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::archive::{Entry, EntryKind};

    fn archive_of(files: &[(&str, &[u8])]) -> Archive {
        Archive {
            name: "test".into(),
            entries: files
                .iter()
                .map(|(p, b)| Entry {
                    path: p.to_string(),
                    kind: EntryKind::File(Zeroizing::new(b.to_vec())),
                })
                .collect(),
        }
    }

    fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut v = Vec::new();
        fn go(d: &Path, base: &Path, v: &mut Vec<(String, Vec<u8>)>) {
            for e in fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                if p.is_dir() {
                    v.push((rel + "/", Vec::new()));
                    go(&p, base, v);
                } else {
                    v.push((rel, fs::read(&p).unwrap()));
                }
            }
        }
        go(dir, dir, &mut v);
        v.sort();
        v
    }

    #[test]
    fn failed_write_rolls_back_everything() {
        let t = tempfile::tempdir().unwrap();
        let td = t.path().join("trust");
        fsio::write_secret(&td.join("private/b.key"), b"old b", Overwrite::Refuse).unwrap();
        let before = listing(&td);
        let ar = archive_of(&[
            ("private/a.key", b"new a"),
            ("private/b.key", b"new b"),
            ("private/sub/c.key", b"new c"),
            ("escrow/root.p8", b"escrow"),
        ]);
        let p = plan(&td, &ar, Overwrite::Replace).unwrap();
        let mut calls = 0;
        let err = apply(&p, &mut |path, bytes, ow| {
            calls += 1;
            if calls == 4 {
                return Err(Error::io("writing escrow", io::Error::other("disk full")));
            }
            fsio::write_atomic(path, bytes, SECRET_FILE_MODE, ow)
        })
        .unwrap_err();
        assert!(err.to_string().contains("nothing was restored"), "{err}");
        assert_eq!(listing(&td), before);
    }

    #[test]
    fn refuses_existing_without_replace() {
        let t = tempfile::tempdir().unwrap();
        let td = t.path();
        fsio::write_secret(&td.join("private/b.key"), b"old b", Overwrite::Refuse).unwrap();
        let ar = archive_of(&[("private/a.key", b"a"), ("private/b.key", b"b")]);
        let err = plan(td, &ar, Overwrite::Refuse).err().unwrap();
        assert!(err.to_string().contains("b.key already exists"), "{err}");
        assert!(err.to_string().contains("--force"), "{err}");
    }

    #[test]
    fn restore_into_missing_trust_dir() {
        let t = tempfile::tempdir().unwrap();
        let td = t.path().join("a/trust");
        let ar = archive_of(&[("private/a.key", b"a")]);
        let p = plan(&td, &ar, Overwrite::Refuse).unwrap();
        apply(&p, &mut |path, bytes, ow| {
            fsio::write_atomic(path, bytes, SECRET_FILE_MODE, ow)
        })
        .unwrap();
        assert_eq!(fs::read(td.join("private/a.key")).unwrap(), b"a");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&td), 0o700);
        assert_eq!(mode(&td.join("private")), 0o700);
        assert_eq!(mode(&td.join("private/a.key")), 0o600);
    }

    /// A directory swapped for a symbolic link after the plan saw it: the write is refused
    /// and what was written before is undone.
    #[test]
    fn a_link_planted_after_the_plan_is_refused_at_the_write() {
        let t = tempfile::tempdir().unwrap();
        let td = t.path().join("trust");
        let outside = t.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fsio::create_private_dir(&td.join("private/sub")).unwrap();
        let ar = archive_of(&[("private/a.key", b"a"), ("private/sub/c.key", b"c")]);
        let p = plan(&td, &ar, Overwrite::Refuse).unwrap();
        fs::remove_dir(td.join("private/sub")).unwrap();
        std::os::unix::fs::symlink(&outside, td.join("private/sub")).unwrap();
        let err = apply(&p, &mut |path, bytes, ow| {
            fsio::write_atomic(path, bytes, SECRET_FILE_MODE, ow)
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("sub is a symbolic link"), "{err}");
        assert!(err.contains("nothing was restored"), "{err}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!td.join("private/a.key").exists());
    }
}
