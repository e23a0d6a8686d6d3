//! Where the client reads metadata from: a [`Remote`]. A static directory ([`DirRemote`]) or
//! a static repository over HTTP(S) ([`HttpRemote`]) here; notary-server is
//! `repo::server_repo::ServerRemote`.
//!
//! Every read is bounded by role, as python-tuf bounds them ([`ROOT_MAX_LEN`],
//! [`TIMESTAMP_MAX_LEN`]; snapshot, targets and delegated roles by the length their parent
//! lists, else [`UNLISTED_MAX_LEN`]): a remote cannot make the client read without end.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::repo::server::{Fetched, FileServer};
use crate::tuf::VerifyError;
use crate::{Error, Result};

/// Largest root accepted, each version (python-tuf's `root_max_length`, 512,000 bytes; a
/// Notary root with three certificates is under 10 KB).
pub const ROOT_MAX_LEN: u64 = 512_000;
/// Largest timestamp accepted (python-tuf's `timestamp_max_length`, 16 KiB; a timestamp is
/// under 1 KB).
pub const TIMESTAMP_MAX_LEN: u64 = 16 * 1024;
/// Largest snapshot, targets or delegated role accepted when its parent lists no length (TUF
/// 1.0 lists versions only by default): 64 MiB, notary-server's own response limit, room for
/// a targets role of 100,000 targets (about 30 MB) or a snapshot of 65,536 hashed bins.
pub const UNLISTED_MAX_LEN: u64 = 64 * 1024 * 1024;

/// A source of metadata files.
pub trait Remote: Sync {
    /// The file `name` (`root.json`, `2.root.json`, ...), or `None` if the remote has none.
    /// A file longer than `max_len` bytes is an error (`VerifyError::TooLarge`), found
    /// without reading more than that.
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>>;
    /// Where the files come from, for messages.
    fn describe(&self) -> String;
}

/// The error of a file over its bound.
pub fn too_large(remote: &dyn Remote, name: &str, max_len: u64) -> Error {
    too_large_at(remote, name, max_len, None)
}

/// The error of a file over its bound whose length (`actual`) the remote knows.
fn too_large_at(remote: &dyn Remote, name: &str, max_len: u64, actual: Option<u64>) -> Error {
    Error::Verify(VerifyError::TooLarge {
        file: name.to_string(),
        remote: remote.describe(),
        max: max_len,
        actual,
    })
}

/// A static repository: `DIR/<gun>/*.json`.
#[derive(Debug, Clone)]
pub struct DirRemote {
    pub dir: PathBuf,
}

impl DirRemote {
    fn not_a_file(&self, name: &str) -> Error {
        Error::Verify(VerifyError::NotAFile {
            file: name.to_string(),
            remote: self.describe(),
        })
    }
}

impl Remote for DirRemote {
    /// Only a regular file (a symbolic link to one too) is read: a FIFO, a device (a link to
    /// `/dev/zero`) or a directory is refused before it is opened, and again after (the
    /// name may have changed in between); opening does not wait for a FIFO's writer. A file
    /// longer than `max_len` is refused by its size, unread.
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(name);
        let reading = |e| Error::io(format!("reading {}", path.display()), e);
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => return Err(self.not_a_file(name)),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(reading(e)),
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(reading(e)),
        };
        let meta = file.metadata().map_err(reading)?;
        if !meta.is_file() {
            return Err(self.not_a_file(name));
        }
        if meta.len() > max_len {
            return Err(too_large_at(self, name, max_len, Some(meta.len())));
        }
        // The file may grow while it is read: never more than the bound and one byte.
        let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(max_len.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(reading)?;
        if bytes.len() as u64 > max_len {
            return Err(too_large(self, name, max_len));
        }
        Ok(Some(bytes))
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// A static repository served over HTTP(S): `<base URL><name>`. A 404 or 403 is no such file
/// (as python-tuf takes them); a body over the bound is refused by its `Content-Length`
/// unread, or else after the bound and one byte.
#[derive(Debug)]
pub struct HttpRemote {
    pub server: FileServer,
}

impl Remote for HttpRemote {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        match self.server.get(name, max_len)? {
            Fetched::Found(bytes) => Ok(Some(bytes)),
            Fetched::Missing => Ok(None),
            Fetched::TooLarge { actual } => Err(too_large_at(self, name, max_len, actual)),
        }
    }

    fn describe(&self) -> String {
        self.server.url().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_serves_files_within_their_bound() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("timestamp.json"), b"0123456789").unwrap();
        let r = DirRemote {
            dir: t.path().to_path_buf(),
        };
        assert_eq!(r.get("missing.json", 10).unwrap(), None);
        assert_eq!(
            r.get("timestamp.json", 10).unwrap().as_deref(),
            Some(&b"0123456789"[..])
        );
        match r.get("timestamp.json", 9) {
            Err(Error::Verify(VerifyError::TooLarge { file, max: 9, .. })) => {
                assert_eq!(file, "timestamp.json")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
}
