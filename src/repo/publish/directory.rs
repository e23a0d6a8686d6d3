//! A static directory as the destination of a publish: the metadata written, all or nothing,
//! into a layout any HTTP server can serve (`layout.rs`). Notary:
//! `DIR/<gun>/{root,targets,snapshot,timestamp}.json`, `DIR/<gun>/<N>.root.json`, and
//! `DIR/<gun>/<role>.<hex sha256>.json` for root, targets and snapshot (the names a notary
//! client asks for: serve `DIR` as `https://HOST/v2/` and `notary -s https://HOST` reads it).
//! TUF 1.0: `DIR/<gun>/metadata/...` and the target files in `DIR/<gun>/targets/`, copied
//! from the files `add` hashed.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Ahead, Destination, Outgoing};
use crate::fsio;
use crate::repo::layout;
use crate::repo::server_repo::not_for_dir;
use crate::repo::stage::{Change, Stage};
use crate::repo::trustdir::{Gun, RepoConfig, TrustDir};
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

/// What a publish to a directory writes besides metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishOptions {
    /// TUF 1.0: do not copy target files into `targets/` (they are served from elsewhere).
    pub metadata_only: bool,
}

/// A static repository: the GUN's files go to `DIR/<gun>/`.
#[derive(Debug, Clone)]
pub struct Directory {
    dir: PathBuf,
    options: PublishOptions,
}

impl Directory {
    pub fn new(dir: impl Into<PathBuf>, options: PublishOptions) -> Self {
        Directory {
            dir: dir.into(),
            options,
        }
    }
}

impl Destination for Directory {
    fn describe(&self, gun: &Gun) -> String {
        gun_repo_dir(&self.dir, gun).display().to_string()
    }

    /// Nobody here could sign timestamp (or snapshot) of a repository whose key the server
    /// holds.
    fn accepts(&self, cfg: &RepoConfig) -> Result<()> {
        if !cfg.server_roles.is_empty() {
            return Err(not_for_dir(&cfg.gun, cfg));
        }
        Ok(())
    }

    fn signs_every_role(&self) -> bool {
        true
    }

    /// The directory holds what this trust dir published: nothing is ahead of its copy.
    fn ahead(
        &mut self,
        _: &TrustDir,
        _: &RepoConfig,
        _: &SignedMeta,
        _: time::OffsetDateTime,
    ) -> Result<Ahead> {
        Ok(Ahead::default())
    }

    fn fetch(&self, _: &Gun, _: RoleName) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Every root version, then root, targets, snapshot, and timestamp last: a client that
    /// reads while the renames happen sees the old timestamp until everything it names exists.
    /// Target files (TUF 1.0) go first, so that no metadata names a file not yet there.
    fn deliver(&mut self, td: &TrustDir, cfg: &mut RepoConfig, out: &Outgoing<'_>) -> Result<()> {
        let gun = &cfg.gun;
        let dialect = cfg.dialect;
        let opts = cfg.tuf_options();
        let (Some(snapshot), Some(timestamp)) = (out.snapshot, out.timestamp) else {
            return Err(not_for_dir(gun, cfg));
        };
        let mut roots = Vec::new();
        for n in 1..=cfg.version(RoleName::Root) {
            let name = format!("{n}.root.json");
            let bytes = td.read_published(gun, &name)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "{gun}: {name} is missing from {}",
                    td.published_dir(gun).display()
                ))
            })?;
            roots.push((n, bytes));
        }
        let files = layout::metadata_files(
            dialect,
            opts,
            roots,
            out.root,
            out.targets,
            out.delegated,
            [snapshot, timestamp],
        );
        let gun_dir = gun_repo_dir(&self.dir, gun);
        if let (Some(dir), false) = (
            layout::targets_dir(dialect, &gun_dir),
            self.options.metadata_only,
        ) {
            copy_targets(out.stage, &dir, opts.consistent_snapshot)?;
        }
        write_all_or_nothing(&layout::metadata_dir(dialect, &gun_dir), &files)
    }
}

/// Copies the files of the staged additions into `dir` (`<name>`, or `<hex sha256>.<name>`
/// with consistent snapshots), each checked, while it is copied, to still have the length and
/// hashes `add` recorded. All are copied to temp files first; any mismatch leaves `dir` as it was.
fn copy_targets(stage: &Stage, dir: &Path, consistent: bool) -> Result<()> {
    let mut temps = Vec::new();
    for c in &stage.changes {
        let Change::Add {
            name,
            length,
            sha256,
            sha512,
            path,
            ..
        } = c
        else {
            continue;
        };
        layout::check_target_path(name)?;
        let src = path.as_ref().ok_or_else(|| {
            Error::Usage(format!(
                "target {name:?} was staged without its file; run `trustkey add` for it again"
            ))
        })?;
        let dest = dir.join(layout::target_file(name, sha256, consistent));
        let parent = dest.parent().unwrap_or(dir);
        fsio::create_dir(parent)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".trustkey-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(fsio::PUBLIC_FILE_MODE))
            .tempfile_in(parent)
            .map_err(|e| Error::io(format!("creating a temp file in {}", parent.display()), e))?;
        let f = std::fs::File::open(src)
            .map_err(|e| Error::io(format!("reading target {name:?} from {}", src.display()), e))?;
        let d = crate::repo::hashing::hash_reader_split(
            Tee {
                r: f,
                w: tmp.as_file_mut(),
            },
            &|_| {},
        )
        .map_err(|e| {
            Error::io(
                format!("copying {} to {}", src.display(), dest.display()),
                e,
            )
        })?;
        if d.length != *length
            || hex::encode(d.sha256) != *sha256
            || hex::encode(d.sha512) != *sha512
        {
            return Err(Error::Usage(format!(
                "target {name:?}: {} changed since it was added; run `trustkey add` again",
                src.display()
            )));
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(format!("writing {}", dest.display()), e))?;
        temps.push((dest, tmp));
    }
    for (dest, tmp) in temps {
        tmp.persist(&dest)
            .map_err(|e| Error::io(format!("renaming into {}", dest.display()), e.error))?;
    }
    Ok(())
}

/// A reader that writes what it reads: hashing and copying in one pass.
struct Tee<R, W> {
    r: R,
    w: W,
}

impl<R: std::io::Read, W: Write> std::io::Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        // A reader never reports more than it was given; if one did, nothing is written.
        let read = buf
            .get(..n)
            .ok_or_else(|| std::io::Error::other("read past the buffer"))?;
        self.w.write_all(read)?;
        Ok(n)
    }
}

/// `DIR/<gun>` (the GUN's components as directories).
pub fn gun_repo_dir(repo_dir: &Path, gun: &Gun) -> PathBuf {
    let mut p = repo_dir.to_path_buf();
    for part in gun.as_str().split('/') {
        p.push(part);
    }
    p
}

/// Writes every file into `dir`: first all of them to temp files (fsynced), then renames them
/// in order. Any failure before the renames leaves `dir` as it was.
pub fn write_all_or_nothing<B: std::ops::Deref<Target = Vec<u8>>>(
    dir: &Path,
    files: &[(String, B)],
) -> Result<()> {
    let nothing = |e: std::io::Error, what: String| {
        Error::io(
            format!(
                "publishing to {} failed ({what}); nothing was written",
                dir.display()
            ),
            e,
        )
    };
    fsio::create_dir(dir).map_err(|e| match e {
        Error::Io { source, what } => nothing(source, what),
        other => other,
    })?;
    for (name, _) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent().filter(|p| *p != dir) {
            // Delegated roles of the Notary dialect: `targets/releases.json`.
            fsio::create_dir(parent).map_err(|e| match e {
                Error::Io { source, what } => nothing(source, what),
                other => other,
            })?;
        }
        if p.is_dir() {
            return Err(nothing(
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
                format!("{} is a directory", p.display()),
            ));
        }
    }
    let mut temps = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let parent = dir.join(name);
        let parent = parent.parent().unwrap_or(dir);
        let mut tmp = tempfile::Builder::new()
            .prefix(".trustkey-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(fsio::PUBLIC_FILE_MODE))
            .tempfile_in(parent)
            .map_err(|e| nothing(e, format!("creating a temp file for {name}")))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| nothing(e, format!("writing {name}")))?;
        temps.push((name, tmp));
    }
    for (name, tmp) in temps {
        let p = dir.join(name);
        tmp.persist(&p)
            .map_err(|e| Error::io(format!("renaming into {}", p.display()), e.error))?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
