//! Downloading a target a refreshed client trusts: looked up through the delegations, fetched
//! from the targets remote (at most the length listed; with TUF 1.0 consistent snapshots as
//! `<dir>/<hash>.<name>`, the hash of the first algorithm by name, sha256 before sha512),
//! checked for
//! length and every listed hash, and stored atomically in a target directory. A file already
//! there whose length and hashes match is not fetched again.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use super::cached::Refreshed;
use super::remote::Remote;
use super::updater::quote;
use crate::fsio::{self, Overwrite};
use crate::repo::layout;
use crate::tuf::model::FileMeta;
use crate::tuf::verify::{self, Digests};
use crate::tuf::VerifyError;
use crate::{Error, Result};

/// Where downloaded targets are kept: each as one file named by its whole target path
/// percent-encoded (`releases/a b.zip` is `releases%2Fa%20b.zip`), so that no target path
/// leads outside the directory and a target downloaded again replaces its file.
#[derive(Debug, Clone)]
pub struct TargetDir(pub PathBuf);

impl TargetDir {
    pub fn path_of(&self, target: &str) -> PathBuf {
        self.0.join(quote(target))
    }
}

/// One target downloaded (or found already downloaded).
#[derive(Debug, Clone, Serialize)]
pub struct Downloaded {
    pub name: String,
    /// The role that provides it.
    pub role: String,
    pub path: PathBuf,
    pub length: u64,
    /// Whether the file was there already, with matching length and hashes.
    pub cached: bool,
}

/// Looks `target` up, and stores it in `dir` unless a matching file is there already.
pub fn download(
    client: &mut Refreshed<'_>,
    targets: &dyn Remote,
    target: &str,
    dir: &TargetDir,
) -> Result<Downloaded> {
    let (role, meta) = client.find(target)?;
    let d = client.dialect();
    let path = dir.path_of(target);
    let what = format!("target {target:?}");
    let done = |cached| Downloaded {
        name: target.to_string(),
        role: role.clone(),
        path: path.clone(),
        length: meta.length,
        cached,
    };
    if matches_file(client, &path, &role, &meta) {
        return Ok(done(true));
    }
    layout::check_target_path(target)?;
    let name = remote_name(target, &meta, client.consistent_snapshot());
    let bytes = match targets.get(&name, meta.length) {
        Ok(Some(b)) => b,
        Ok(None) => {
            return Err(Error::Verify(VerifyError::Missing {
                role: what,
                file: name,
                remote: targets.describe(),
            }))
        }
        Err(Error::Verify(VerifyError::TooLarge { actual, .. })) => {
            return Err(Error::Verify(match actual {
                Some(actual) => VerifyError::LengthMismatch {
                    what,
                    parent: role.clone(),
                    actual,
                    expected: meta.length,
                },
                None => VerifyError::LongerThanListed {
                    what,
                    parent: role.clone(),
                    expected: meta.length,
                },
            }))
        }
        Err(e) => return Err(e),
    };
    let (sha256, sha512) = (Sha256::digest(&bytes), Sha512::digest(&bytes));
    let digests = Digests {
        length: bytes.len() as u64,
        sha256: &sha256,
        sha512: &sha512,
    };
    verify::file_meta(d, &what, &role, digests, &meta)?;
    fsio::create_dir(&dir.0)?;
    fsio::write_atomic(&path, &bytes, fsio::PUBLIC_FILE_MODE, Overwrite::Replace)?;
    Ok(done(false))
}

/// Whether `path` is a regular file whose length and hashes are the target's.
fn matches_file(client: &Refreshed<'_>, path: &Path, role: &str, meta: &FileMeta) -> bool {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == meta.length) {
        return false;
    }
    let Ok(d) = crate::repo::hashing::hash_file(path, &|_| {}) else {
        return false;
    };
    let digests = Digests {
        length: d.length,
        sha256: &d.sha256,
        sha512: &d.sha512,
    };
    verify::file_meta(client.dialect(), "cached target", role, digests, meta).is_ok()
}

/// The name the target is fetched by: its path, or with consistent snapshots
/// `<dir>/<hash>.<base name>`: any listed hash names the file (the specification); trustkey
/// takes the first algorithm by name, sha256 before sha512.
fn remote_name(target: &str, meta: &FileMeta, consistent: bool) -> String {
    match meta.hashes.iter().next() {
        Some((_, hash)) if consistent => match target.rsplit_once('/') {
            Some((dir, base)) => format!("{dir}/{hash}.{base}"),
            None => format!("{hash}.{target}"),
        },
        _ => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::model::Hashes;

    #[test]
    fn consistent_names_put_the_first_hash_before_the_base_name() {
        let mut hashes = Hashes::new();
        hashes.insert("sha512", "bb".into());
        hashes.insert("sha256", "aa".into());
        let meta = FileMeta {
            length: 1,
            hashes,
            version: None,
            custom: None,
            extra: Default::default(),
        };
        assert_eq!(remote_name("a/b/c.txt", &meta, true), "a/b/aa.c.txt");
        assert_eq!(remote_name("c.txt", &meta, true), "aa.c.txt");
        assert_eq!(remote_name("a/b/c.txt", &meta, false), "a/b/c.txt");
        let dir = TargetDir(PathBuf::from("/t"));
        assert_eq!(dir.path_of("../x y/z"), PathBuf::from("/t/..%2Fx%20y%2Fz"));
    }
}
