//! Writing a backup: the trust dir's `private/` and root escrow files as an owner-only tar.gz,
//! written atomically and read back with the checks restore applies.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

use super::archive::{normalize, read_archive};
use super::{read_bounded, ESCROW_DIR, MAX_ENTRIES, MAX_TOTAL_BYTES, MIB, PRIVATE_DIR};
use crate::error::Error;
use crate::fsio::{self, Overwrite, SECRET_DIR_MODE, SECRET_FILE_MODE};
use crate::Result;

/// One file or directory put into a backup.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub path: String,
    /// Size in bytes; absent for directories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct CreateReport {
    pub archive: String,
    pub keys: usize,
    pub escrow_files: usize,
    pub entries: Vec<Listed>,
}

struct Source {
    path: String,
    meta: fs::Metadata,
    data: Option<Zeroizing<Vec<u8>>>,
}

/// The temp files `fsio::write_atomic` leaves behind only if it crashed mid-write.
fn is_stray_temp(name: &str) -> bool {
    name.starts_with(".trustkey-") && name.ends_with(".tmp")
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<Source>) -> Result<()> {
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))? {
        let item = item.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        names.push(item.file_name());
    }
    names.sort();
    for os_name in names {
        let path = dir.join(&os_name);
        let Some(name) = os_name.to_str() else {
            return Err(Error::Usage(format!(
                "{} has a name that is not UTF-8; rename it before backing up",
                path.display()
            )));
        };
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let entry_path = format!("{rel}/{name}");
        let ft = meta.file_type();
        // Only what restore accepts goes in.
        if let Err(reason) = normalize(entry_path.as_bytes(), ft.is_dir()) {
            return Err(Error::Usage(format!(
                "{}: {reason}; rename it before backing up",
                path.display()
            )));
        }
        if ft.is_dir() {
            out.push(Source {
                path: entry_path.clone(),
                meta,
                data: None,
            });
            walk(&path, &entry_path, out)?;
        } else if ft.is_file() {
            if is_stray_temp(name) {
                continue;
            }
            let data = read_bounded(&path, &meta)?;
            out.push(Source {
                path: entry_path,
                meta,
                data: Some(data),
            });
        } else {
            return Err(Error::Usage(format!(
                "{} is {}; a backup holds only regular files and directories: move the real \
                 file into place",
                path.display(),
                if ft.is_symlink() {
                    "a symbolic link"
                } else {
                    "not a regular file"
                }
            )));
        }
    }
    Ok(())
}

fn header_for(src: &Source) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    match &src.data {
        Some(d) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(SECRET_FILE_MODE);
            h.set_size(d.len() as u64);
        }
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(SECRET_DIR_MODE);
            h.set_size(0);
        }
    }
    h.set_uid(u64::from(src.meta.uid()));
    h.set_gid(u64::from(src.meta.gid()));
    h.set_mtime(u64::try_from(src.meta.mtime()).unwrap_or(0));
    h
}

/// Writes a backup of `trust_dir/private` and the `includes` (root escrow files, stored under
/// `escrow/`) to `out`: a tar.gz with 0600 files and 0700 directories, itself 0600, written
/// atomically. The result is read back and checked as `restore` would before returning.
pub fn create(
    trust_dir: &Path,
    includes: &[PathBuf],
    out: &Path,
    overwrite: Overwrite,
) -> Result<CreateReport> {
    if overwrite == Overwrite::Refuse && fs::symlink_metadata(out).is_ok() {
        return Err(Error::Usage(format!(
            "{} already exists; pass --force to replace it",
            out.display()
        )));
    }
    let private = trust_dir.join(PRIVATE_DIR);
    if let (Some(parent), Ok(private_real)) = (out.parent(), fs::canonicalize(&private)) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if fs::canonicalize(parent).is_ok_and(|p| p.starts_with(&private_real)) {
            return Err(Error::Usage(format!(
                "{} is inside {}: the backup would be backed up next time; write it elsewhere",
                out.display(),
                private.display()
            )));
        }
    }
    let mut sources = Vec::new();
    match fs::symlink_metadata(&private) {
        Ok(_) => {
            // Follows a symlinked private/ (a user's choice), but nothing below it.
            let meta = fs::metadata(&private)
                .map_err(|e| Error::io(format!("reading {}", private.display()), e))?;
            if !meta.is_dir() {
                return Err(Error::Usage(format!(
                    "{} is not a directory",
                    private.display()
                )));
            }
            sources.push(Source {
                path: PRIVATE_DIR.into(),
                meta,
                data: None,
            });
            walk(&private, PRIVATE_DIR, &mut sources)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("reading {}", private.display()), e)),
    }
    let keys = sources.iter().filter(|s| s.data.is_some()).count();

    let mut escrow_names = BTreeSet::new();
    for inc in includes {
        let meta = fs::metadata(inc)
            .map_err(|e| Error::io(format!("reading --include {}", inc.display()), e))?;
        if !meta.is_file() {
            return Err(Error::Usage(format!(
                "--include {} is not a regular file",
                inc.display()
            )));
        }
        let Some(name) = inc.file_name().and_then(|n| n.to_str()) else {
            return Err(Error::Usage(format!(
                "--include {}: the file name must be UTF-8",
                inc.display()
            )));
        };
        if let Err(reason) = normalize(format!("{ESCROW_DIR}/{name}").as_bytes(), false) {
            return Err(Error::Usage(format!(
                "--include {}: {reason}; rename it",
                inc.display()
            )));
        }
        if !escrow_names.insert(name.to_string()) {
            return Err(Error::Usage(format!(
                "two --include files are named {name:?}; they would be the same escrow/{name} \
                 in the backup: rename one"
            )));
        }
        if escrow_names.len() == 1 {
            sources.push(Source {
                path: ESCROW_DIR.into(),
                meta: meta.clone(),
                data: None,
            });
        }
        let data = read_bounded(inc, &meta)?;
        sources.push(Source {
            path: format!("{ESCROW_DIR}/{name}"),
            meta,
            data: Some(data),
        });
    }

    if keys + escrow_names.len() == 0 {
        return Err(Error::NotFound(format!(
            "no keys to back up: {} holds no key files (and no --include was given)",
            private.display()
        )));
    }
    if sources.len() > MAX_ENTRIES {
        return Err(Error::Usage(format!(
            "{} entries to back up, over the limit of {MAX_ENTRIES}",
            sources.len()
        )));
    }
    let total: u64 = sources
        .iter()
        .filter_map(|s| s.data.as_ref())
        .map(|d| d.len() as u64)
        .sum();
    if total > MAX_TOTAL_BYTES {
        return Err(Error::Usage(format!(
            "{total} bytes to back up, over the limit of {MAX_TOTAL_BYTES} bytes ({} MiB)",
            MAX_TOTAL_BYTES / MIB
        )));
    }

    let what = || format!("building backup {}", out.display());
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for src in &sources {
        let mut h = header_for(src);
        let data: &[u8] = src.data.as_ref().map(|d| d.as_slice()).unwrap_or(&[]);
        let dir_name = format!("{}/", src.path);
        if src.data.is_none() && dir_name.len() < 100 {
            // Directories with a trailing slash, as GNU tar writes them (`append_data` drops it).
            if let Some(name) = h.as_old_mut().name.get_mut(..dir_name.len()) {
                name.copy_from_slice(dir_name.as_bytes());
            }
            h.set_cksum();
            builder.append(&h, data)
        } else {
            builder.append_data(&mut h, &src.path, data)
        }
        .map_err(|e| Error::io(what(), e))?;
    }
    let bytes = builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| Error::io(what(), e))?;
    fsio::write_atomic(out, &bytes, SECRET_FILE_MODE, overwrite)?;

    // Prove the archive restores: read it back with the same checks restore applies.
    let written = sources.iter().filter(|s| s.data.is_some()).count();
    let check = read_archive(out).and_then(|back| match back.files().count() {
        n if n == written => Ok(()),
        n => Err(Error::Integrity(format!(
            "{}: read back {n} files, wrote {written}",
            out.display()
        ))),
    });
    if let Err(e) = check {
        let _ = fs::remove_file(out);
        return Err(e);
    }

    Ok(CreateReport {
        archive: out.display().to_string(),
        keys,
        escrow_files: escrow_names.len(),
        entries: sources
            .iter()
            .map(|s| Listed {
                path: s.path.clone(),
                bytes: s.data.as_ref().map(|d| d.len() as u64),
            })
            .collect(),
    })
}
