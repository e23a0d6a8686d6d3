//! Where the client reads metadata from: a [`Remote`]. A static directory here
//! ([`DirRemote`]); notary-server is `repo::server_repo::ServerRemote`.

use std::io::Read;
use std::path::PathBuf;

use crate::tuf::VerifyError;
use crate::{Error, Result};

/// No bound on a fetch: what the client asks for until it bounds each role.
pub const UNBOUNDED: u64 = u64::MAX;

/// A source of metadata files.
pub trait Remote {
    /// The file `name` (`root.json`, `2.root.json`, ...), or `None` if the remote has none.
    /// A file longer than `max_len` bytes is an error (`VerifyError::TooLarge`), found
    /// without reading more than that.
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>>;
    /// Where the files come from, for messages.
    fn describe(&self) -> String;
}

/// The error of a file over its bound.
pub fn too_large(remote: &dyn Remote, name: &str, max_len: u64) -> Error {
    Error::Verify(VerifyError::TooLarge {
        file: name.to_string(),
        remote: remote.describe(),
        max: max_len,
    })
}

/// A static repository: `DIR/<gun>/*.json`.
#[derive(Debug, Clone)]
pub struct DirRemote {
    pub dir: PathBuf,
}

impl Remote for DirRemote {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(name);
        let reading = |e| Error::io(format!("reading {}", path.display()), e);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(reading(e)),
        };
        let mut bytes = Vec::new();
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
        assert_eq!(r.get("missing.json", UNBOUNDED).unwrap(), None);
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
