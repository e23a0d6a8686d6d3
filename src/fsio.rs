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

/// Creates `dir` (and missing parents) as 0700, and tightens it to 0700 if it exists.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(SECRET_DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mode = fs::metadata(dir)
        .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(SECRET_DIR_MODE))
            .map_err(|e| Error::io(format!("restricting {}", dir.display()), e))?;
    }
    Ok(())
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
}
