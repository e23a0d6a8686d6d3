//! The backup archive reader: reads a tar.gz into bounded memory and checks every entry before
//! anything is written (only regular files and directories below `private/` or `escrow/`,
//! relative paths without `..`, no links or devices, no duplicates, bounded sizes and counts).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use zeroize::Zeroizing;

use super::{ESCROW_DIR, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES, MIB, PRIVATE_DIR};
use crate::error::Error;
use crate::Result;

/// Most decompressed bytes read from an archive: the data plus generous room for headers, long
/// names and padding. Bounds a decompression bomb before any per-entry check can run.
const MAX_STREAM_BYTES: u64 = MAX_TOTAL_BYTES + (MAX_ENTRIES as u64) * 4 * 512 + (1 << 20);

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
        let n = self.inner.read(buf.get_mut(..max).unwrap_or_default())?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Why a path is unacceptable, or its normalized form (`None`: the archive root, `./`).
pub(super) fn normalize(raw: &[u8], is_dir: bool) -> std::result::Result<Option<String>, String> {
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
    read_archive_from(BufReader::new(file), &path.display().to_string())
}

/// [`read_archive`] of the tar.gz bytes `gz` reads; `name` names the archive in errors.
pub fn read_archive_from(gz: impl BufRead, name: &str) -> Result<Archive> {
    let name = name.to_string();
    let tripped = Rc::new(Cell::new(false));
    let bounded = Bounded {
        inner: flate2::bufread::MultiGzDecoder::new(gz),
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
        // A directory holds no data, whatever its header says (a hostile header's size could
        // overflow the sum).
        if !is_dir {
            total = total.saturating_add(size);
        }
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

    /// A directory entry whose header claims 2^64 - 1 bytes, after a key: refused as an
    /// unreadable archive (the tar reader cannot skip that far), and never added to the total
    /// of entry sizes, which it would overflow.
    #[test]
    fn a_directory_claiming_a_huge_size_is_refused() {
        let mut tar = tar::Builder::new(Vec::new());
        // A key first, so that the total is not zero.
        let mut f = tar::Header::new_gnu();
        f.set_path("private/a.key").unwrap();
        f.set_mode(0o600);
        f.set_size(1);
        f.set_cksum();
        tar.append(&f, &b"k"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_path("private/").unwrap();
        h.set_mode(0o700);
        h.set_size(u64::MAX);
        h.set_cksum();
        tar.append(&h, &[][..]).unwrap();
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("hostile.tar.gz");
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        match read_archive(&path) {
            Err(Error::Integrity(line)) => assert!(line.contains("hostile.tar.gz"), "{line}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
