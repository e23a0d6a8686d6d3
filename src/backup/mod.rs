//! Backups of the trust dir's keys: a tar.gz of `private/` (plus root escrow files under
//! `escrow/`), owner-only inside and out. `verify` proves every key decrypts; `restore` refuses
//! anything unsafe, never overwrites silently, and writes all or nothing.
//!
//! Archives are read into bounded memory and checked entry by entry before anything is written:
//! only regular files and directories, only below `private/` or `escrow/`, relative paths without
//! `..`, no duplicates, at most [`MAX_ENTRY_BYTES`] per entry, [`MAX_TOTAL_BYTES`] in all and
//! [`MAX_ENTRIES`] entries.
//!
//! `archive` is that reader; `create`, `verify` and `restore` are the three jobs.

mod archive;
mod create;
mod restore;
mod verify;

use std::fs;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Error;
use crate::Result;

pub use archive::{read_archive, read_archive_from, Archive, Entry, EntryKind};
pub use create::{create, CreateReport, Listed};
pub use restore::{restore, RestoreReport};
pub use verify::{match_published, verify, verify_file, KeyCheck, Status, VerifyReport};

/// Largest file accepted in a backup (a key file is about 500 bytes).
pub const MAX_ENTRY_BYTES: u64 = 1 << 20;
/// Largest sum of file sizes accepted in a backup.
pub const MAX_TOTAL_BYTES: u64 = 64 << 20;
/// Most entries (files and directories) accepted in a backup.
pub const MAX_ENTRIES: usize = 4096;

/// The trust dir's key directory, and the archive directory for root escrow files.
pub const PRIVATE_DIR: &str = "private";
pub const ESCROW_DIR: &str = "escrow";

const MIB: u64 = 1 << 20;

/// Reads a local file of at most [`MAX_ENTRY_BYTES`] (a key or escrow file being backed up, or
/// one a restore replaces), refusing anything larger.
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
