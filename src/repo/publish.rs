//! `publish` to a directory: targets, snapshot and timestamp signed with the keys on disk and
//! written, all or nothing, into a static layout any HTTP server can serve (`layout.rs`):
//! Notary: `DIR/<gun>/{root,targets,snapshot,timestamp}.json`, `DIR/<gun>/<N>.root.json`, and
//! `DIR/<gun>/<role>.<hex sha256>.json` for root, targets and snapshot (the names a notary
//! client asks for: serve `DIR` as `https://HOST/v2/` and `notary -s https://HOST` reads it).
//! TUF 1.0: `DIR/<gun>/metadata/...` and the target files in `DIR/<gun>/targets/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;

use super::expiry::Expiries;
use super::fsio::{self, Overwrite};
use super::layout;
use super::stage::{Change, Stage};
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::keys::file::load_signer;
use crate::keys::memory::MemorySigner;
use crate::keys::{canonical_key_id, Signer};
use crate::tuf::build;
use crate::tuf::model::{to_value, view, FileMeta, RoleName, Targets};
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

/// The roles `publish` signs with keys on disk.
pub const PUBLISH_ROLES: [RoleName; 3] =
    [RoleName::Targets, RoleName::Snapshot, RoleName::Timestamp];

/// The key file of `role`, checked to exist (before any passphrase is asked).
pub fn key_file(td: &TrustDir, cfg: &RepoConfig, role: RoleName) -> Result<PathBuf> {
    let id = cfg.key_file_id(role)?;
    let path = td.key_path(id);
    if !path.is_file() {
        return Err(Error::NotFound(format!(
            "the {role} key of {} ({id}) is missing: {} does not exist (restore it from a \
             backup, or replace it: `trustkey key rotate {} {role}`)",
            cfg.gun,
            path.display(),
            cfg.gun
        )));
    }
    Ok(path)
}

/// Decrypts a role's key and checks it is the key root metadata lists for the role.
pub fn load_key(
    cfg: &RepoConfig,
    role: RoleName,
    path: &Path,
    passphrase: &SecretString,
) -> Result<MemorySigner> {
    let what = format!("the {role} key of {}", cfg.gun);
    let (key, _meta) = load_signer(path, passphrase, &what)?;
    let want = cfg.key_file_id(role)?;
    if canonical_key_id(key.public_key()) != want {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            reason: format!(
                "it holds another key than the {role} key {want} of {}",
                cfg.gun
            ),
        });
    }
    Ok(key)
}

/// Decrypts several roles' keys at once, one thread each: key derivation is deliberately
/// slow (PBKDF2), and the keys do not depend on each other.
pub fn load_keys(
    cfg: &RepoConfig,
    keys: &[(RoleName, PathBuf, SecretString)],
) -> Result<BTreeMap<RoleName, MemorySigner>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .iter()
            .map(|(role, path, pass)| {
                scope.spawn(move || load_key(cfg, *role, path, pass).map(|k| (*role, k)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("key decryption does not panic"))
            .collect()
    })
}

/// The key that signs `role`, with the key ID root metadata lists for it.
pub fn role_key<'a>(
    cfg: &'a RepoConfig,
    keys: &'a BTreeMap<RoleName, MemorySigner>,
    role: RoleName,
) -> Result<(&'a str, &'a dyn Signer)> {
    let k = keys
        .get(&role)
        .ok_or_else(|| Error::Metadata(format!("no {role} key loaded")))?;
    Ok((cfg.key_id(role)?, k as &dyn Signer))
}

/// Signs a role's new `signed` object with its key.
pub fn sign_role(
    cfg: &RepoConfig,
    keys: &BTreeMap<RoleName, MemorySigner>,
    role: RoleName,
    signed: &impl Serialize,
) -> Result<SignedMeta> {
    SignedMeta::sign(
        cfg.dialect,
        role,
        to_value(signed),
        &[role_key(cfg, keys, role)?],
    )
}

/// The publisher's copy of root.json, which every publish lists in snapshot.
pub fn published_root(td: &TrustDir, gun: &Gun) -> Result<SignedMeta> {
    let bytes = td.read_published(gun, "root.json")?.ok_or_else(|| {
        Error::NotFound(format!(
            "{gun}: the signed root metadata is missing from {}",
            td.published_dir(gun).display()
        ))
    })?;
    SignedMeta::parse(RoleName::Root, bytes).map_err(Error::Metadata)
}

/// The targets of the last published targets.json (none before the first publish).
pub fn published_targets(td: &TrustDir, gun: &Gun) -> Result<BTreeMap<String, FileMeta>> {
    Ok(match td.read_published(gun, "targets.json")? {
        Some(b) => {
            let m = SignedMeta::parse(RoleName::Targets, b).map_err(Error::Metadata)?;
            let t: Targets =
                view(&m.envelope.signed, "published targets").map_err(Error::Metadata)?;
            t.targets
        }
        None => BTreeMap::new(),
    })
}

#[derive(Debug, Serialize)]
pub struct Published {
    pub gun: Gun,
    pub repo: String,
    pub versions: BTreeMap<RoleName, u64>,
    pub targets: usize,
    pub changes: usize,
}

/// Signs and writes a new version of targets, snapshot and timestamp. The caller holds the
/// GUN's lock. On success, the publisher's copy and the config are updated and the staged
/// changes cleared; on failure nothing in `repo_dir` changes and the stage is kept.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    td: &TrustDir,
    cfg: &mut RepoConfig,
    stage: &Stage,
    keys: &BTreeMap<RoleName, MemorySigner>,
    repo_dir: &Path,
    expiries: &Expiries,
    now: OffsetDateTime,
) -> Result<Published> {
    let gun = cfg.gun.clone();
    let dialect = cfg.dialect;
    let opts = cfg.tuf_options();
    let root_version = cfg.version(RoleName::Root);
    let root = published_root(td, &gun)?;
    let mut targets = published_targets(td, &gun)?;
    stage.apply(dialect, &mut targets)?;
    let count = targets.len();

    let v = |role: RoleName| cfg.version(role) + 1;
    let exp = |role: RoleName| now + expiries.get(role);
    let t = build::targets(
        dialect,
        v(RoleName::Targets),
        exp(RoleName::Targets),
        targets,
    );
    let tm = sign_role(cfg, keys, RoleName::Targets, &t)?;
    let s = build::snapshot(
        dialect,
        v(RoleName::Snapshot),
        exp(RoleName::Snapshot),
        &root,
        &tm,
        opts.meta_hashes,
    );
    let sm = sign_role(cfg, keys, RoleName::Snapshot, &s)?;
    let ts = build::timestamp(
        dialect,
        v(RoleName::Timestamp),
        exp(RoleName::Timestamp),
        &sm,
        opts.meta_hashes,
    );
    let tsm = sign_role(cfg, keys, RoleName::Timestamp, &ts)?;

    // Every root version, then root, targets, snapshot, and timestamp last: a client that
    // reads while the renames happen sees the old timestamp until everything it names exists.
    let mut roots = Vec::new();
    for n in 1..=root_version {
        let name = format!("{n}.root.json");
        let bytes = td.read_published(&gun, &name)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{gun}: {name} is missing from {}",
                td.published_dir(&gun).display()
            ))
        })?;
        roots.push((n, bytes));
    }
    let files = layout::metadata_files(dialect, opts, roots, [&root, &tm, &sm, &tsm]);

    let gun_dir = gun_repo_dir(repo_dir, &gun);
    // Target files first (TUF 1.0), so that no metadata names a file not yet there.
    if let Some(dir) = layout::targets_dir(dialect, &gun_dir) {
        copy_targets(stage, &dir, opts.consistent_snapshot)?;
    }
    let dest = layout::metadata_dir(dialect, &gun_dir);
    write_all_or_nothing(&dest, &files)?;

    // The publisher's own copy, then the versions, then the stage.
    let published = td.published_dir(&gun);
    for (name, m) in [
        ("targets.json", &tm),
        ("snapshot.json", &sm),
        ("timestamp.json", &tsm),
    ] {
        fsio::write_atomic(
            &published.join(name),
            &m.bytes,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )?;
    }
    let new_versions: Vec<(RoleName, u64)> = PUBLISH_ROLES.iter().map(|r| (*r, v(*r))).collect();
    cfg.versions.extend(new_versions);
    td.save_config(cfg)?;
    Stage::clear(&td.staged_path(&gun))?;
    Ok(Published {
        gun,
        repo: gun_dir.display().to_string(),
        versions: cfg.versions.clone(),
        targets: count,
        changes: stage.changes.len(),
    })
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
        self.w.write_all(&buf[..n])?;
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
pub fn write_all_or_nothing(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
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
        if p.is_dir() {
            return Err(nothing(
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
                format!("{} is a directory", p.display()),
            ));
        }
    }
    let mut temps = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let mut tmp = tempfile::Builder::new()
            .prefix(".trustkey-")
            .suffix(".tmp")
            .permissions(std::fs::Permissions::from_mode(fsio::PUBLIC_FILE_MODE))
            .tempfile_in(dir)
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
