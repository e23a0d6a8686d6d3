//! Backups of the trust dir's keys: a tar.gz of `private/` (plus root escrow files under
//! `escrow/`), owner-only inside and out. `verify` proves every key decrypts; `restore` refuses
//! anything unsafe, never overwrites silently, and writes all or nothing.
//!
//! Archives are read into bounded memory and checked entry by entry before anything is written:
//! only regular files and directories, only below `private/` or `escrow/`, relative paths without
//! `..`, no duplicates, at most [`MAX_ENTRY_BYTES`] per entry, [`MAX_TOTAL_BYTES`] in all and
//! [`MAX_ENTRIES`] entries.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use secrecy::SecretString;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::fsio::{self, Overwrite, SECRET_DIR_MODE, SECRET_FILE_MODE};
use crate::keys::canonical_key_id;
use crate::keys::file::decrypt_pem;
use crate::repo::trustdir::TrustDir;
use crate::secret::{unlock_passphrase, KeyRole, Prompter};
use crate::Result;

/// Largest file accepted in a backup (a key file is about 500 bytes).
pub const MAX_ENTRY_BYTES: u64 = 1 << 20;
/// Largest sum of file sizes accepted in a backup.
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// Most entries (files and directories) accepted in a backup.
pub const MAX_ENTRIES: usize = 4096;
/// Most decompressed bytes read from an archive: the data plus generous room for headers, long
/// names and padding. Bounds a decompression bomb before any per-entry check can run.
const MAX_STREAM_BYTES: u64 = MAX_TOTAL_BYTES + (MAX_ENTRIES as u64) * 4 * 512 + (1 << 20);

/// The trust dir's key directory, and the archive directory for root escrow files.
pub const PRIVATE_DIR: &str = "private";
pub const ESCROW_DIR: &str = "escrow";

const MIB: u64 = 1 << 20;

/// One checked entry of a backup archive.
pub struct Entry {
    /// Normalized relative path, `/`-separated, without `.` components or a trailing slash
    /// (`private/<keyid>.key`, `escrow/root.p8`, `private`).
    pub path: String,
    pub kind: EntryKind,
}

pub enum EntryKind {
    Dir,
    File(Zeroizing<Vec<u8>>),
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, EntryKind::Dir)
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Entry");
        d.field("path", &self.path);
        match &self.kind {
            EntryKind::Dir => d.field("kind", &"dir"),
            EntryKind::File(b) => d.field("bytes", &b.len()),
        };
        d.finish()
    }
}

/// A backup archive, read and checked in full.
#[derive(Debug)]
pub struct Archive {
    /// The archive file, for messages.
    pub name: String,
    pub entries: Vec<Entry>,
}

impl Archive {
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().filter_map(|e| match &e.kind {
            EntryKind::File(b) => Some((e.path.as_str(), b.as_slice())),
            EntryKind::Dir => None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Reading and checking

/// A reader that fails once more than `left` bytes have passed, and remembers that it did.
struct Bounded<R> {
    inner: R,
    left: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Only an error if there is more to read.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.tripped.set(true);
                    Err(io::Error::other("archive is larger than the limit"))
                }
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Why a path is unacceptable, or its normalized form (`None`: the archive root, `./`).
fn normalize(raw: &[u8], is_dir: bool) -> std::result::Result<Option<String>, String> {
    if raw.is_empty() {
        return Err("empty path".into());
    }
    let s = std::str::from_utf8(raw).map_err(|_| "the path is not UTF-8".to_string())?;
    if s.starts_with('/') {
        return Err("absolute path".into());
    }
    if s.chars().any(char::is_control) {
        return Err("the path contains control characters".into());
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => continue,
            ".." => return Err("the path has a `..` component".into()),
            c => parts.push(c),
        }
    }
    let Some(first) = parts.first() else {
        return if is_dir {
            Ok(None)
        } else {
            Err("the path names no file".into())
        };
    };
    match *first {
        PRIVATE_DIR => {
            if parts.len() == 1 && !is_dir {
                return Err("private must be a directory".into());
            }
        }
        ESCROW_DIR => {
            if parts.len() == 1 && !is_dir {
                return Err("escrow must be a directory".into());
            }
            if parts.len() > 2 || (parts.len() == 2 && is_dir) {
                return Err("escrow/ holds files only, no subdirectories".into());
            }
        }
        _ => return Err("outside private/ and escrow/".into()),
    }
    Ok(Some(parts.join("/")))
}

fn refused_type(entry: &tar::Entry<'_, impl Read>) -> Option<String> {
    use tar::EntryType::*;
    Some(match entry.header().entry_type() {
        Regular | Directory => return None,
        Symlink => match entry.link_name_bytes() {
            Some(t) => format!(
                "a symbolic link (to {:?}); only regular files and directories are restored",
                String::from_utf8_lossy(&t)
            ),
            None => "a symbolic link; only regular files and directories are restored".into(),
        },
        Link => "a hard link; only regular files and directories are restored".into(),
        Char => "a character device; only regular files and directories are restored".into(),
        Block => "a block device; only regular files and directories are restored".into(),
        Fifo => "a FIFO; only regular files and directories are restored".into(),
        GNUSparse => "a sparse file; only regular files and directories are restored".into(),
        other => format!(
            "an entry of type {:?}; only regular files and directories are restored",
            char::from(other.as_byte())
        ),
    })
}

/// Reads the whole archive at `path` into memory, checking every entry (see the module docs).
/// An unsafe entry is an `Error::Integrity` naming the entry.
pub fn read_archive(path: &Path) -> Result<Archive> {
    let file = fs::File::open(path)
        .map_err(|e| Error::io(format!("opening backup {}", path.display()), e))?;
    let name = path.display().to_string();
    let tripped = Rc::new(Cell::new(false));
    let bounded = Bounded {
        inner: flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        left: MAX_STREAM_BYTES,
        tripped: tripped.clone(),
    };
    let mut tar = tar::Archive::new(bounded);
    let unreadable = |e: io::Error| {
        if tripped.get() {
            Error::Integrity(format!(
                "{name}: more than {} MiB of tar data; refusing it (a backup holds at most {} \
                 MiB of keys)",
                MAX_STREAM_BYTES / MIB,
                MAX_TOTAL_BYTES / MIB
            ))
        } else {
            Error::Integrity(format!("{name}: not a readable tar.gz archive: {e}"))
        }
    };
    let refuse = |entry: &str, reason: &str| {
        Error::Integrity(format!("{name}: refusing entry {entry:?}: {reason}"))
    };

    let mut entries: Vec<Entry> = Vec::new();
    // Normalized path -> is a directory.
    let mut seen: BTreeMap<String, bool> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut count: usize = 0;
    for item in tar.entries().map_err(unreadable)? {
        let mut entry = item.map_err(unreadable)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        count += 1;
        if count > MAX_ENTRIES {
            return Err(Error::Integrity(format!(
                "{name}: more than {MAX_ENTRIES} entries (at {shown:?}); refusing the archive"
            )));
        }
        if let Some(reason) = refused_type(&entry) {
            return Err(refuse(&shown, &reason));
        }
        let is_dir = entry.header().entry_type() == tar::EntryType::Directory;
        let Some(norm) = normalize(&raw, is_dir).map_err(|r| refuse(&shown, &r))? else {
            continue;
        };
        let size = entry.size();
        if !is_dir && size > MAX_ENTRY_BYTES {
            return Err(refuse(
                &shown,
                &format!(
                    "{size} bytes, over the limit of {MAX_ENTRY_BYTES} bytes ({} MiB) per entry",
                    MAX_ENTRY_BYTES / MIB
                ),
            ));
        }
        if seen.contains_key(&norm) {
            return Err(refuse(
                &shown,
                "duplicate entry (an earlier entry has the same path)",
            ));
        }
        total += size;
        if total > MAX_TOTAL_BYTES {
            return Err(Error::Integrity(format!(
                "{name}: entries total more than {MAX_TOTAL_BYTES} bytes ({} MiB) at {shown:?}; \
                 refusing the archive",
                MAX_TOTAL_BYTES / MIB
            )));
        }
        let kind = if is_dir {
            EntryKind::Dir
        } else {
            let mut buf = Zeroizing::new(Vec::with_capacity(size as usize));
            (&mut entry)
                .take(MAX_ENTRY_BYTES + 1)
                .read_to_end(&mut buf)
                .map_err(unreadable)?;
            if buf.len() as u64 != size {
                return Err(refuse(&shown, "truncated entry"));
            }
            EntryKind::File(buf)
        };
        seen.insert(norm.clone(), is_dir);
        entries.push(Entry { path: norm, kind });
    }
    // A file may not stand where another entry needs a directory.
    for e in &entries {
        for (i, _) in e.path.match_indices('/') {
            let prefix = &e.path[..i];
            if seen.get(prefix) == Some(&false) {
                return Err(refuse(
                    &e.path,
                    &format!("{prefix:?} is a file in this archive, not a directory"),
                ));
            }
        }
    }
    Ok(Archive { name, entries })
}

// ---------------------------------------------------------------------------------------------
// Create

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

fn read_bounded(path: &Path, meta: &fs::Metadata) -> Result<Zeroizing<Vec<u8>>> {
    if meta.len() > MAX_ENTRY_BYTES {
        return Err(Error::Usage(format!(
            "{} is {} bytes, over the limit of {MAX_ENTRY_BYTES} bytes ({} MiB) per file in a \
             backup; it is not a key file",
            path.display(),
            meta.len(),
            MAX_ENTRY_BYTES / MIB
        )));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    fs::File::open(path)
        .and_then(|f| f.take(MAX_ENTRY_BYTES + 1).read_to_end(&mut buf))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if buf.len() as u64 > MAX_ENTRY_BYTES {
        return Err(Error::Usage(format!(
            "{} grew past {MAX_ENTRY_BYTES} bytes while being read",
            path.display()
        )));
    }
    Ok(buf)
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
            h.as_old_mut().name[..dir_name.len()].copy_from_slice(dir_name.as_bytes());
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

// ---------------------------------------------------------------------------------------------
// Verify

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    /// Not a key (a file in private/ whose name does not end in `.key`).
    Skipped,
}

#[derive(Debug, Serialize)]
pub struct KeyCheck {
    /// Path inside the archive.
    pub path: String,
    /// The key ID the file name claims (its stem), or the escrow file's name.
    pub key_id: String,
    /// The canonical key ID of the decrypted key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_key_id: Option<String>,
    pub role: Option<String>,
    pub gun: Option<String>,
    pub escrow: bool,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the trust dir's current root metadata lists this key, when its repository is
    /// known there (`match_published`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub archive: String,
    pub ok: bool,
    pub keys: Vec<KeyCheck>,
}

impl VerifyReport {
    pub fn failed(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.status == Status::Failed)
            .count()
    }
    pub fn checked(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.status != Status::Skipped)
            .count()
    }
}

/// Old notary releases named keys `<keyid>_<role>.key` (under `root_keys/` and
/// `tuf_keys/<gun>/`); today's name is `<keyid>.key`. Returns the key ID and the legacy role.
fn split_legacy_name(stem: &str) -> (&str, Option<&str>) {
    match stem.split_once('_') {
        Some((id, role))
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !role.is_empty() =>
        {
            (id, Some(role))
        }
        _ => (stem, None),
    }
}

/// The passphrase role of a notary `role:` header value.
pub fn passphrase_role(role: &str) -> Option<KeyRole> {
    Some(match role {
        "root" => KeyRole::Root,
        "targets" => KeyRole::Targets,
        "snapshot" => KeyRole::Snapshot,
        "timestamp" => KeyRole::Timestamp,
        "delegation" => KeyRole::Delegation,
        r if r.starts_with("targets/") && r.len() > "targets/".len() => KeyRole::Delegation,
        _ => return None,
    })
}

fn env_passphrase_set(role: KeyRole) -> bool {
    role.env_vars()
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Decrypts every key in `archive` with its role's passphrase (env vars, else `prompter`) and
/// checks that each file in `private/` is named after its key's canonical ID.
/// Root escrow files are decrypted with the root passphrase; their names are free.
/// Matches each decrypted key against the current root metadata of the repositories the trust
/// dir knows: a key listed for another role than its file says fails; a key of a known
/// repository that root no longer lists is reported (retired or replaced), not failed.
pub fn match_published(report: &mut VerifyReport, td: &TrustDir) -> Result<()> {
    let known: Vec<String> = crate::repo::retire::guns(td)?
        .iter()
        .map(|g| g.as_str().to_string())
        .collect();
    for k in report.keys.iter_mut().filter(|k| k.status == Status::Ok) {
        let Some(id) = k.actual_key_id.clone() else {
            continue;
        };
        let uses = crate::repo::retire::key_uses(td, &id)?;
        if let Some(u) = uses.first() {
            let claimed = k.role.as_deref().unwrap_or("root");
            let delegation = passphrase_role(claimed) == Some(KeyRole::Delegation);
            if !k.escrow
                && uses
                    .iter()
                    .all(|u| u.role != claimed && !(delegation && u.is_delegation()))
            {
                k.status = Status::Failed;
                k.error = Some(format!(
                    "the file says {claimed}, but the current root of {} lists this key for {}",
                    u.gun, u.role
                ));
            }
            k.published = Some(
                uses.iter()
                    .map(|u| {
                        if u.is_delegation() {
                            format!("{} delegation {}", u.gun, u.role)
                        } else {
                            format!("{} root v{}: {}", u.gun, u.root_version, u.role)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        } else if let Some(gun) = k.gun.as_deref().filter(|g| known.iter().any(|x| x == g)) {
            k.published = Some(format!(
                "not listed by the current root of {gun} (retired or replaced)"
            ));
        }
    }
    report.ok = report.failed() == 0;
    Ok(())
}

pub fn verify(archive: &Archive, prompter: &mut dyn Prompter) -> VerifyReport {
    // Cheap checks for every entry first; passphrases only after.
    struct Todo<'a> {
        pem: Option<&'a str>,
        role: Option<KeyRole>,
    }
    let mut checks = Vec::new();
    let mut todo = Vec::new();
    for (path, bytes) in archive.files() {
        let escrow = path.starts_with("escrow/");
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let (key_id, legacy_role) = match file_name.strip_suffix(".key") {
            Some(stem) if !escrow => split_legacy_name(stem),
            _ => (file_name, None),
        };
        let mut check = KeyCheck {
            path: path.to_string(),
            key_id: key_id.to_string(),
            actual_key_id: None,
            role: None,
            gun: None,
            escrow,
            published: None,
            status: Status::Failed,
            error: None,
        };
        let mut t = Todo {
            pem: None,
            role: None,
        };
        if !escrow && !file_name.ends_with(".key") {
            check.status = Status::Skipped;
            check.error = Some("not a key file (name does not end in .key)".into());
        } else {
            match std::str::from_utf8(bytes) {
                Err(_) => check.error = Some("not a PEM text file".into()),
                Ok(pem) => {
                    t.pem = Some(pem);
                    let meta = crate::keys::file::read_meta(pem);
                    check.role = meta
                        .as_ref()
                        .map(|m| m.role.clone())
                        .filter(|r| !r.is_empty())
                        .or(legacy_role.map(String::from));
                    check.gun = meta.map(|m| m.gun).filter(|g| !g.is_empty());
                    if escrow {
                        t.role = Some(KeyRole::Root);
                        check.role.get_or_insert_with(|| "root".into());
                    } else {
                        match check.role.as_deref() {
                            None => {
                                check.error = Some(
                                    "no `role:` PEM header; cannot tell which passphrase \
                                     unlocks it"
                                        .into(),
                                )
                            }
                            Some(r) => match passphrase_role(r) {
                                Some(k) => t.role = Some(k),
                                None => check.error = Some(format!("unknown role {r:?}")),
                            },
                        }
                    }
                }
            }
        }
        checks.push(check);
        todo.push(t);
    }

    let mut known: HashMap<&'static str, SecretString> = HashMap::new();
    for (check, t) in checks.iter_mut().zip(&todo) {
        let (Some(pem), Some(role)) = (t.pem, t.role) else {
            continue;
        };
        let what = format!(
            "{} key {} (backup entry {})",
            check.role.as_deref().unwrap_or(role.name()),
            short_id(&check.key_id),
            check.path
        );
        let outcome = (|| -> Result<p256::SecretKey> {
            let cached = known.get(role.name()).cloned();
            let first = match &cached {
                Some(p) => p.clone(),
                None => unlock_passphrase(role, &what, prompter)?,
            };
            match decrypt_pem(pem, &first, &what) {
                Ok((key, _)) => {
                    known.insert(role.name(), first);
                    Ok(key)
                }
                // A passphrase that opened another key of this role may not open this one:
                // ask (a variable would only give the same answer again).
                Err(Error::WrongPassphrase { .. })
                    if cached.is_some() && !env_passphrase_set(role) =>
                {
                    let again = unlock_passphrase(role, &what, prompter)?;
                    let (key, _) = decrypt_pem(pem, &again, &what)?;
                    known.insert(role.name(), again);
                    Ok(key)
                }
                Err(e) => Err(e),
            }
        })();
        match outcome {
            Err(e @ Error::PinUnavailable(_)) => {
                check.error = Some(format!("{e}; set {}", role.env_vars().join(" or ")))
            }
            Err(e) => check.error = Some(e.to_string()),
            Ok(key) => {
                let id = canonical_key_id(&key.public_key());
                if !check.escrow && id != check.key_id {
                    check.error = Some(format!(
                        "the file name says key ID {} but the key inside has ID {id}",
                        check.key_id
                    ));
                } else {
                    check.status = Status::Ok;
                }
                check.actual_key_id = Some(id);
            }
        }
    }
    let ok = checks.iter().all(|c| c.status != Status::Failed)
        && checks.iter().any(|c| c.status == Status::Ok);
    VerifyReport {
        archive: archive.name.clone(),
        ok,
        keys: checks,
    }
}

fn short_id(id: &str) -> &str {
    if id.len() > 12 && id.is_char_boundary(12) {
        &id[..12]
    } else {
        id
    }
}

// ---------------------------------------------------------------------------------------------
// Restore

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
    dirs: Vec<PathBuf>,
    files: Vec<PlannedFile<'a>>,
}

struct PlannedFile<'a> {
    dest: PathBuf,
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
            parts.len() - 1
        };
        for i in 1..=upto {
            dirs.insert(parts[..i].join("/"));
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
    // BTreeSet order puts every parent before its children.
    for rel in &dirs {
        let dest = trust_dir.join(rel);
        match fs::metadata(&dest) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::Usage(format!(
                    "{} exists and is not a directory; nothing was restored",
                    dest.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if fs::symlink_metadata(&dest).is_ok() {
                    return Err(Error::Usage(format!(
                        "{} is a dangling symbolic link; nothing was restored",
                        dest.display()
                    )));
                }
                to_create.push(dest)
            }
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
        files.push(PlannedFile { dest, bytes, old });
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
        dirs: to_create,
        files,
    })
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

    #[test]
    fn paths() {
        let ok = |s: &str, d| normalize(s.as_bytes(), d).unwrap();
        assert_eq!(ok("private/a.key", false).as_deref(), Some("private/a.key"));
        assert_eq!(
            ok("./private/a.key", false).as_deref(),
            Some("private/a.key")
        );
        assert_eq!(ok("private/", true).as_deref(), Some("private"));
        assert_eq!(
            ok("private/x/y.key", false).as_deref(),
            Some("private/x/y.key")
        );
        assert_eq!(
            ok("escrow/root.p8", false).as_deref(),
            Some("escrow/root.p8")
        );
        assert_eq!(ok("./", true), None);
        let bad = |s: &str, d| normalize(s.as_bytes(), d).unwrap_err();
        assert!(bad("/private/a.key", false).contains("absolute"));
        assert!(bad("private/../a.key", false).contains(".."));
        assert!(bad("private/a/../../x", false).contains(".."));
        assert!(bad("tuf/x.json", false).contains("outside"));
        assert!(bad("a.key", false).contains("outside"));
        assert!(bad("private", false).contains("directory"));
        assert!(bad("escrow/x/y", false).contains("subdirectories"));
        assert!(bad("escrow/x", true).contains("subdirectories"));
        assert!(bad("private/a\nb", false).contains("control"));
        assert!(bad("", false).contains("empty"));
        assert!(normalize(b"private/\xff", false)
            .unwrap_err()
            .contains("UTF-8"));
    }

    #[test]
    fn headers() {
        assert_eq!(
            passphrase_role("targets/releases"),
            Some(KeyRole::Delegation)
        );
        assert_eq!(passphrase_role("targets/"), None);
        assert_eq!(passphrase_role("root"), Some(KeyRole::Root));
        let id = "ab".repeat(32);
        assert_eq!(
            split_legacy_name(&format!("{id}_root")),
            (id.as_str(), Some("root"))
        );
        assert_eq!(split_legacy_name(&id), (id.as_str(), None));
        assert_eq!(split_legacy_name("my_key"), ("my_key", None));
    }

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
}
