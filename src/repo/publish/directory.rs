//! A static directory as the destination of a publish: the metadata written, all or nothing,
//! into a layout any HTTP server can serve (`layout.rs`). Notary:
//! `DIR/<gun>/{root,targets,snapshot,timestamp}.json`, `DIR/<gun>/<N>.root.json`, and
//! `DIR/<gun>/<role>.<hex sha256>.json` for root, targets and snapshot (the names a notary
//! client asks for: serve `DIR` as `https://HOST/v2/` and `notary -s https://HOST` reads it).
//! TUF 1.0: `DIR/<gun>/metadata/...` and the target files in `DIR/<gun>/targets/`, copied
//! from the files `add` hashed.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::files::{self, Pending};
use super::{Ahead, Destination, Outgoing};
use crate::repo::client::{
    DirRemote, PendingState, Remote as _, ROOT_MAX_LEN, TIMESTAMP_MAX_LEN, UNLISTED_MAX_LEN,
};
use crate::repo::layout;
use crate::repo::server_repo::not_for_dir;
use crate::repo::stage::{Change, Stage};
use crate::repo::trustdir::{take_lock, Gun, RepoConfig, RepoLock, TrustDir};
use crate::secret::SharedPrompter;
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
#[derive(Debug)]
pub struct Directory {
    dir: PathBuf,
    options: PublishOptions,
    /// `DIR` locked from [`ahead`](Destination::ahead) until the delivery is done: two
    /// publishers (two trust dirs) never rename files into one repository at once, and each
    /// sees what the other delivered before it signs.
    lock: Option<RepoLock>,
    /// The directory's copy as verified (the publisher's client state), stored once the
    /// files are in place.
    verified: Option<PendingState>,
    /// The directory's metadata, when it is ahead of the publisher's copy.
    ahead_of: Option<DirRemote>,
    /// Where "waiting for another publish" is said.
    notices: Option<SharedPrompter>,
}

impl Directory {
    pub fn new(dir: impl Into<PathBuf>, options: PublishOptions) -> Self {
        Directory {
            dir: dir.into(),
            options,
            lock: None,
            verified: None,
            ahead_of: None,
            notices: None,
        }
    }

    /// Says through `prompter` when the publish waits for another one to the directory.
    pub fn with_notices(mut self, prompter: SharedPrompter) -> Self {
        self.notices = Some(prompter);
        self
    }

    /// Locks `DIR` itself (flock on the directory: no lock file among the files served).
    fn lock_dir(&self) -> Result<RepoLock> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| nothing(dir, e, format!("creating {}", dir.display())))?;
        let file = std::fs::File::open(dir)
            .map_err(|e| nothing(dir, e, format!("opening {}", dir.display())))?;
        let what = format!("another publish to {}", self.dir.display());
        take_lock(file, &self.dir, &what, |m| {
            if let Some(p) = &self.notices {
                p.notice(m);
            }
        })
    }

    /// The directory's metadata, read as a client reads it.
    fn remote(&self, cfg: &RepoConfig) -> DirRemote {
        DirRemote {
            dir: layout::metadata_dir(cfg.dialect, &gun_repo_dir(&self.dir, &cfg.gun)),
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
        layout::check_nesting(&self.dir, cfg.gun.as_str())
    }

    fn signs_every_role(&self) -> bool {
        true
    }

    /// Locks the directory; then, if its timestamp is not the one this trust dir published
    /// last (another trust dir with the same keys published there since, or this one's last
    /// publish delivered and could not record it) and its root is the publisher's, verifies
    /// what it holds against that root, so that the new versions build on it and nothing it
    /// lists is lost.
    fn ahead(
        &mut self,
        td: &TrustDir,
        cfg: &RepoConfig,
        root: &SignedMeta,
        now: time::OffsetDateTime,
    ) -> Result<Ahead> {
        self.lock = Some(self.lock_dir()?);
        // Checked again under the lock: a GUN nested in this one may just have been published.
        layout::check_nesting(&self.dir, cfg.gun.as_str())?;
        let gun = &cfg.gun;
        let remote = self.remote(cfg);
        let theirs = remote.get(&RoleName::Timestamp.file_name(), TIMESTAMP_MAX_LEN)?;
        let ours = td.read_published(gun, &RoleName::Timestamp.file_name())?;
        if theirs.is_none() || theirs == ours {
            return Ok(Ahead::default());
        }
        // Under another root (a lost root replaced: `init --force` with a new one), or another
        // version of it, the publisher's root is the one that counts, as on notary-server:
        // nothing there is built on.
        let their_root = remote.get(&RoleName::Root.file_name(), ROOT_MAX_LEN)?;
        if their_root.as_deref() != Some(&root.bytes[..]) {
            return Ok(Ahead::default());
        }
        let (ahead, pending) = super::verify_remote(td, cfg, &remote, remote.describe(), now)?;
        self.verified = Some(pending);
        self.ahead_of = Some(remote);
        Ok(ahead)
    }

    /// A role's file as the directory holds it (asked for only when the directory is ahead,
    /// read under the lock: what was verified).
    fn fetch(&self, _: &Gun, role: RoleName) -> Result<Option<Vec<u8>>> {
        let Some(remote) = &self.ahead_of else {
            return Ok(None);
        };
        let max = match role {
            RoleName::Root => ROOT_MAX_LEN,
            RoleName::Timestamp => TIMESTAMP_MAX_LEN,
            _ => UNLISTED_MAX_LEN,
        };
        remote.get(&role.file_name(), max)
    }

    /// Every root version, then root, targets, snapshot, and timestamp last: a client that
    /// reads while the renames happen sees the old timestamp until everything it names exists.
    /// Target files (TUF 1.0) go first, so that no metadata names a file not yet there.
    fn deliver(&mut self, td: &TrustDir, cfg: &mut RepoConfig, out: &Outgoing<'_>) -> Result<()> {
        // Held until the files are in place, then released (whatever happened).
        let _lock = match self.lock.take() {
            Some(l) => l,
            None => self.lock_dir()?,
        };
        self.deliver_locked(td, cfg, out)?;
        if let Some(pending) = self.verified.take() {
            pending.store()?;
        }
        Ok(())
    }
}

impl Directory {
    fn deliver_locked(&self, td: &TrustDir, cfg: &RepoConfig, out: &Outgoing<'_>) -> Result<()> {
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
        let mut pending = Pending::default();
        if let (Some(dir), false) = (
            layout::targets_dir(dialect, &gun_dir),
            self.options.metadata_only,
        ) {
            stage_targets(&mut pending, out.stage, &dir, opts.consistent_snapshot)?;
        }
        let meta_dir = layout::metadata_dir(dialect, &gun_dir);
        stage_metadata(&mut pending, &meta_dir, &files)?;
        pending
            .commit()
            .map_err(|e| published_nothing(&meta_dir, e))
    }
}

/// Target files go in first, then metadata, timestamp last. With consistent snapshots a
/// target's name holds its hash: new bytes get a new name, and no reader of the old metadata
/// sees them. Without consistent snapshots a target whose bytes change keeps its name: from
/// its rename until timestamp's a reader of the old metadata gets the new bytes and fails
/// their hash check (exit 5, nothing trusted), and succeeds when it reads again; the metadata
/// of such repositories changes in place as well. Only consistent snapshots avoid that window.
fn stage_targets(pending: &mut Pending, stage: &Stage, dir: &Path, consistent: bool) -> Result<()> {
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
        let changed = |what: String| {
            Error::Usage(format!(
                "target {name:?}: {} changed since it was added ({what}); run `trustkey add` \
                 again",
                src.display()
            ))
        };
        let d = pending.copy(dest.clone(), |tmp| {
            let f = std::fs::File::open(src).map_err(|e| {
                Error::io(format!("reading target {name:?} from {}", src.display()), e)
            })?;
            crate::repo::hashing::hash_reader_split(
                Tee {
                    r: files::bounded(f, *length),
                    w: tmp,
                },
                &|_| {},
            )
            .map_err(|e| {
                Error::io(
                    format!("copying {} to {}", src.display(), dest.display()),
                    e,
                )
            })
        })?;
        if d.length > *length {
            return Err(changed(format!("longer than the {length} bytes recorded")));
        }
        if d.length != *length
            || hex::encode(d.sha256) != *sha256
            || hex::encode(d.sha512) != *sha512
        {
            return Err(changed("its length or hashes differ".into()));
        }
    }
    Ok(())
}

/// The metadata files, to go into `dir`.
fn stage_metadata<B: std::ops::Deref<Target = Vec<u8>>>(
    pending: &mut Pending,
    dir: &Path,
    files: &[(String, B)],
) -> Result<()> {
    for (name, bytes) in files {
        pending
            .bytes(dir.join(name), bytes)
            .map_err(|e| nothing(dir, e, format!("writing {name}")))?;
    }
    Ok(())
}

fn nothing(dir: &Path, e: std::io::Error, what: String) -> Error {
    Error::io(
        format!(
            "publishing to {} failed ({what}); nothing was written",
            dir.display()
        ),
        e,
    )
}

/// A failed rename, said as a failed publish (the renames done were undone).
fn published_nothing(dir: &Path, e: Error) -> Error {
    match e {
        Error::Io { source, what } => Error::io(
            format!("publishing to {} failed ({what})", dir.display()),
            source,
        ),
        other => other,
    }
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
/// in order. Any failure leaves `dir` as it was.
pub fn write_all_or_nothing<B: std::ops::Deref<Target = Vec<u8>>>(
    dir: &Path,
    files: &[(String, B)],
) -> Result<()> {
    let mut pending = Pending::default();
    stage_metadata(&mut pending, dir, files)?;
    pending.commit().map_err(|e| published_nothing(dir, e))
}
