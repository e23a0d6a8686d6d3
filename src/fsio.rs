//! File writes that are atomic (temp file in the same directory, fsync, rename, fsync dir) and,
//! for secrets, owner-only from the first byte (0600 files in 0700 directories).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use crate::{Error, Result};

pub const SECRET_FILE_MODE: u32 = 0o600;
pub const SECRET_DIR_MODE: u32 = 0o700;
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// Whether a write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    Replace,
}

/// Creates `dir` (and missing parents) as 0700; an existing one is tightened to 0700, and
/// refused if it is a symbolic link ([`secure_dir`]).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if secure_dir(dir)? != DirState::Missing {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(SECRET_DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    // The umask may have taken bits away, never added them; and another process may have made
    // it first: check again.
    secure_dir(dir).map(|_| ())
}

/// What [`secure_dir`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirState {
    Missing,
    /// Owner-only already.
    Private,
    /// Group or world could reach it, with this mode; it is 0700 now.
    Tightened(u32),
}

/// Makes an existing directory that holds secrets owner-only, and refuses one that is a
/// symbolic link (its target, and who else may write there, is not the trust dir's to decide)
/// or not a directory. A group- or world-accessible directory is tightened rather than refused:
/// notary creates 0700, but docker's trust dir may be 0755 on old installs, and refusing would
/// leave the user to run chmod for the same result; the caller tells the user. A missing
/// directory is left missing (created 0700 when something is written).
pub fn secure_dir(dir: &Path) -> Result<DirState> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DirState::Missing),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    if meta.file_type().is_symlink() {
        return Err(Error::Usage(format!(
            "{} is a symbolic link; trustkey keeps keys only in a directory of its own: \
             replace the link with the directory it points to (mode 0700)",
            dir.display()
        )));
    }
    if !meta.is_dir() {
        return Err(Error::Usage(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(DirState::Private);
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(SECRET_DIR_MODE))
        .map_err(|e| Error::io(format!("restricting {}", dir.display()), e))?;
    Ok(DirState::Tightened(mode))
}

/// Creates `dir` (and missing parents) with ordinary permissions.
pub fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))
}

/// Writes `bytes` to `path` atomically with `mode`: readers see the old file or the new one,
/// never a part; a crash leaves at most a stray temp file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: Overwrite) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let what = || format!("writing {}", path.display());
    // The temp file gets its final mode at creation, so a secret is never readable by others.
    let mut tmp = tempfile::Builder::new()
        .prefix(".trustkey-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Error::io(what(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(what(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(what(), e))?;
    match overwrite {
        Overwrite::Replace => {
            tmp.persist(path).map_err(|e| Error::io(what(), e.error))?;
        }
        Overwrite::Refuse => {
            tmp.persist_noclobber(path).map_err(|e| {
                if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                    Error::Usage(format!(
                        "{} already exists; not overwriting it",
                        path.display()
                    ))
                } else {
                    Error::io(what(), e.error)
                }
            })?;
        }
    }
    // fsync the directory so the rename itself survives a crash.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A secret file: 0600, in a 0700 directory, written atomically.
pub fn write_secret(path: &Path, bytes: &[u8], overwrite: Overwrite) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            create_private_dir(dir)?;
        }
    }
    write_atomic(path, bytes, SECRET_FILE_MODE, overwrite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_modes_and_no_clobber() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("private/k.key");
        write_secret(&p, b"one", Overwrite::Refuse).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert!(write_secret(&p, b"two", Overwrite::Refuse).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_secret(&p, b"two", Overwrite::Replace).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        // No temp files left behind.
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn secure_dir_tightens_and_refuses_links() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("private");
        assert_eq!(secure_dir(&d).unwrap(), DirState::Missing);
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(secure_dir(&d).unwrap(), DirState::Tightened(0o755));
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(secure_dir(&d).unwrap(), DirState::Private);
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&d, &link).unwrap();
        let e = secure_dir(&link).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        let file = t.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(secure_dir(&file).is_err());
    }
}
