//! Files of one publish to a directory, written all or nothing: each is first written and
//! fsynced under a temporary name beside its destination, and only when every one is ready are
//! they renamed into place, in the order given. Should a rename fail part-way, the renames
//! already done are undone (a file replaced comes back from a hard link kept to it, a file that
//! is new is removed), so that nothing under an old name changes; directories created on the
//! way may stay, empty.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::{NamedTempFile, TempPath};

use crate::fsio;
use crate::{Error, Result};

/// Files ready under temporary names, waiting to be renamed into place.
#[derive(Debug, Default)]
pub struct Pending {
    files: Vec<(PathBuf, NamedTempFile)>,
}

impl Pending {
    /// A temp file beside `dest` (its directory created if need be), refusing a `dest` that
    /// is a directory: renaming a file over it would fail once other files have moved.
    fn temp_for(dest: &Path) -> std::io::Result<NamedTempFile> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        fsio::create_dir(parent).map_err(|e| match e {
            Error::Io { source, .. } => source,
            other => std::io::Error::other(other.to_string()),
        })?;
        if std::fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                format!("{} is a directory", dest.display()),
            ));
        }
        tempfile::Builder::new()
            .prefix(".trustkey-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(fsio::PUBLIC_FILE_MODE))
            .tempfile_in(parent)
    }

    /// `bytes`, to become `dest`.
    pub fn bytes(&mut self, dest: PathBuf, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = Self::temp_for(&dest)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        self.files.push((dest, tmp));
        Ok(())
    }

    /// What `copy` writes into a temp file (it gets the temp file to write to), to become
    /// `dest`. The copy is fsynced before this returns.
    pub fn copy<T>(
        &mut self,
        dest: PathBuf,
        copy: impl FnOnce(&mut std::fs::File) -> Result<T>,
    ) -> Result<T> {
        let mut tmp = Self::temp_for(&dest)
            .map_err(|e| Error::io(format!("creating a temp file for {}", dest.display()), e))?;
        let out = copy(tmp.as_file_mut())?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
        self.files.push((dest, tmp));
        Ok(out)
    }

    /// Renames every file into place, in order; on a failure the renames done are undone.
    pub fn commit(self) -> Result<()> {
        let mut done: Vec<(PathBuf, Option<TempPath>)> = Vec::with_capacity(self.files.len());
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (dest, tmp) in self.files {
            let renamed = keep_old(&dest).and_then(|old| match tmp.persist(&dest) {
                Ok(_) => Ok(old),
                Err(e) => Err(e.error),
            });
            match renamed {
                Ok(old) => {
                    if let Some(parent) = dest.parent().filter(|p| !dirs.iter().any(|d| d == p)) {
                        dirs.push(parent.to_path_buf());
                    }
                    done.push((dest, old));
                }
                Err(e) => {
                    let kept = undo(done);
                    return Err(Error::io(
                        format!("renaming into {} failed; {kept}", dest.display()),
                        e,
                    ));
                }
            }
        }
        // The hard links to replaced files go when `done` is dropped.
        for d in dirs {
            if let Ok(f) = std::fs::File::open(&d) {
                let _ = f.sync_all();
            }
        }
        Ok(())
    }
}

/// A hard link to the file at `dest` (if there is one) under a temporary name, removed when
/// dropped: what `dest` was, should it need to come back.
fn keep_old(dest: &Path) -> std::io::Result<Option<TempPath>> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    match std::fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(_) => {
            let link = tempfile::Builder::new()
                .prefix(".trustkey-")
                .suffix(".old")
                .make_in(parent, |p| std::fs::hard_link(dest, p))?;
            Ok(Some(link.into_temp_path()))
        }
    }
}

/// Puts back what the renames in `done` replaced (last first); says what it could not.
fn undo(done: Vec<(PathBuf, Option<TempPath>)>) -> String {
    let mut lost = Vec::new();
    for (dest, old) in done.into_iter().rev() {
        let back = match old {
            Some(old) => old.persist(&dest).map_err(|e| e.error),
            None => std::fs::remove_file(&dest),
        };
        if back.is_err() {
            lost.push(dest.display().to_string());
        }
    }
    if lost.is_empty() {
        "nothing was changed".into()
    } else {
        format!("could not put back {}", lost.join(", "))
    }
}

/// A reader that stops after `limit` bytes: a staged file is read up to its recorded length
/// and one byte more, enough to see it grew (a source swapped for `/dev/zero` ends there).
pub fn bounded<R: Read>(r: R, recorded: u64) -> std::io::Take<R> {
    r.take(recorded.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rename that fails part-way puts back the file replaced before it and removes the one
    /// that was new: nothing under an old name changes.
    #[test]
    fn a_failed_rename_undoes_the_renames_before_it() {
        let t = tempfile::tempdir().unwrap();
        let (old, new, blocked) = (t.path().join("a"), t.path().join("n"), t.path().join("q"));
        std::fs::write(&old, b"old").unwrap();
        let mut p = Pending::default();
        p.bytes(old.clone(), b"new bytes").unwrap();
        p.bytes(new.clone(), b"new file").unwrap();
        p.bytes(blocked.clone(), b"q").unwrap();
        // Made a directory after the checks: only the rename finds it.
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"x").unwrap();
        let e = p.commit().unwrap_err().to_string();
        assert!(e.contains("nothing was changed"), "{e}");
        assert_eq!(std::fs::read(&old).unwrap(), b"old");
        assert!(!new.exists());
        let mut names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a", "q"], "no temp files or links left");

        let mut p = Pending::default();
        p.bytes(old.clone(), b"new bytes").unwrap();
        p.commit().unwrap();
        assert_eq!(std::fs::read(&old).unwrap(), b"new bytes");
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 2);
    }
}
