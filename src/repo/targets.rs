//! Staging targets (`add`, `remove`): each target's name checked and routed to the role that
//! signs it, its file hashed once (length, sha256, sha512; files in parallel), and the change
//! recorded in the GUN's stage for the next `publish`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::delegations::{role_label, TARGETS};
use super::hashing::hash_files;
use super::layout;
use super::publish::published_base;
use super::stage::{check_target_name, Change, Stage};
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::secret::SharedPrompter;
use crate::{Error, Result};

/// Targets about to be added: checked and routed, not hashed yet.
#[derive(Debug)]
pub struct Adds {
    /// Target name, absolute path of its file, and the delegated role that signs it.
    files: Vec<(String, PathBuf)>,
    roles: Vec<Option<String>>,
    total_bytes: u64,
}

/// Checks the names of `files` (target name, file), routes each to the role that signs it
/// (`role`, or its hashed bin; `None` for targets itself), and makes their paths absolute:
/// publishing a tuf-dialect repository copies the files from there.
pub fn plan_adds(
    td: &TrustDir,
    gun: &Gun,
    files: Vec<(String, PathBuf)>,
    role: Option<&str>,
) -> Result<Adds> {
    let cfg = td.load_config(gun)?;
    let copies_targets = layout::targets_dir(cfg.dialect, Path::new("")).is_some();
    let mut absolute = Vec::with_capacity(files.len());
    let mut roles = Vec::with_capacity(files.len());
    let consistent = cfg.tuf_options().consistent_snapshot;
    for (name, file) in files {
        check_target_name(&name)?;
        if copies_targets {
            layout::check_target_path(&name)?;
            check_name_lengths(&name, consistent)?;
        }
        roles.push(signing_role(&cfg, &name, role)?);
        let file = std::path::absolute(&file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        absolute.push((name, file));
    }
    if copies_targets {
        // Checked again under the lock when the hashed files are staged; here it fails early.
        let stage = Stage::load(&td.staged_path(gun))?;
        check_files_and_dirs(td, &cfg, &stage, absolute.iter().map(|(n, _)| n.as_str()))?;
    }
    let total_bytes = absolute
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    Ok(Adds {
        files: absolute,
        roles,
        total_bytes,
    })
}

impl Adds {
    /// How many bytes hashing reads (for a progress bar).
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Hashes the files, one read each (`progress` gets the bytes read as they are): the
    /// changes to stage.
    pub fn hash(self, progress: &(dyn Fn(u64) + Sync)) -> Result<Vec<Change>> {
        let paths: Vec<PathBuf> = self.files.iter().map(|(_, p)| p.clone()).collect();
        let digests = hash_files(&paths, progress);
        let mut changes = Vec::with_capacity(self.files.len());
        for (((name, path), d), role) in self.files.into_iter().zip(digests).zip(self.roles) {
            let d = d.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            changes.push(Change::Add {
                name,
                length: d.length,
                sha256: hex::encode(d.sha256),
                sha512: hex::encode(d.sha512),
                path: Some(path),
                role,
            });
        }
        Ok(changes)
    }
}

/// Records hashed additions in the stage. The lock is taken only for this: a long `add` does
/// not block a publish of the same repository while it hashes.
pub fn stage_adds(
    td: &TrustDir,
    gun: &Gun,
    changes: &[Change],
    prompter: &SharedPrompter,
) -> Result<()> {
    let cfg = td.load_config(gun)?;
    let _lock = td.lock(gun, |m| prompter.notice(m))?;
    let path = td.staged_path(gun);
    let mut stage = Stage::load(&path)?;
    if layout::targets_dir(cfg.dialect, Path::new("")).is_some() {
        check_files_and_dirs(td, &cfg, &stage, changes.iter().map(Change::name))?;
    }
    stage.push_many(changes.to_vec());
    stage.save(&path)
}

/// The longest file name and path Linux takes (NAME_MAX, and PATH_MAX without its NUL).
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4095;

/// A target's file under `targets/` must be a path the file system takes: each component at
/// most NAME_MAX bytes, counting the `<hex sha256>.` consistent snapshots put before the last
/// one, and the whole under PATH_MAX (`publish` adds the repository's directory to it, and
/// checks that when it writes).
fn check_name_lengths(name: &str, consistent: bool) -> Result<()> {
    let prefix = if consistent { 65 } else { 0 };
    let last = name.rsplit('/').next().unwrap_or(name);
    let too_long = name.split('/').any(|c| c.len() > NAME_MAX) || last.len() + prefix > NAME_MAX;
    if too_long || name.len() + prefix > PATH_MAX {
        return Err(Error::Usage(format!(
            "target name {name:?} is too long for a file under targets/ (each /-separated \
             part at most {} bytes{}, the whole at most {PATH_MAX})",
            NAME_MAX,
            if consistent {
                ", the last one at most 190 as consistent snapshots put its sha256 before it"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

/// Refuses target names of which one would be a file and another a directory of the same
/// name under `targets/` (`q` and `q/y`), among `names`, the staged additions and every role's
/// published targets (less those staged for removal).
fn check_files_and_dirs<'a>(
    td: &TrustDir,
    cfg: &RepoConfig,
    stage: &Stage,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Result<()> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut roles = vec![TARGETS.to_string()];
    roles.extend(cfg.delegated_roles().into_iter().map(|r| r.role.name));
    for role in roles {
        all.extend(published_base(td, &cfg.gun, &role)?.0.into_keys());
    }
    for c in &stage.changes {
        match c {
            Change::Add { name, .. } => all.insert(name.clone()),
            Change::Remove { name, .. } => all.remove(name),
        };
    }
    all.extend(names.clone().map(str::to_string));
    for name in names {
        let as_dir = format!("{name}/");
        let under = all
            .range(as_dir.clone()..)
            .next()
            .filter(|n| n.starts_with(&as_dir));
        let above = name
            .match_indices('/')
            .filter_map(|(i, _)| name.get(..i))
            .find(|p| all.contains(*p));
        let clash = match (under, above) {
            (Some(other), _) => Some((name, other.as_str())),
            (None, Some(file)) => Some((file, name)),
            (None, None) => None,
        };
        if let Some((file, other)) = clash {
            return Err(Error::Usage(format!(
                "targets {file:?} and {other:?}: {file:?} would be both a file and a directory \
                 under targets/; rename one of them"
            )));
        }
    }
    Ok(())
}

/// Every regular file under `dir`, named `prefix` + its path relative to `dir` (with `/`),
/// sorted by name. Symbolic links are skipped, not followed.
pub fn files_under(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| Error::io(format!("reading {}", d.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("reading {}", d.display()), e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let Ok(rel) = path.strip_prefix(dir) else {
                    continue;
                };
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((format!("{prefix}{}", rel.join("/")), path));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!("no files under {}", dir.display())));
    }
    out.sort();
    Ok(out)
}

/// The role a target is staged for: `None` for targets itself, else the delegated role
/// (`role`, or its hashed bin).
fn signing_role(cfg: &RepoConfig, name: &str, role: Option<&str>) -> Result<Option<String>> {
    let r = cfg.route(name, role)?;
    Ok((r != TARGETS).then_some(r))
}

/// Stages the removal of target `name` (from `role`, or the role it routes to), which must be
/// published or staged there.
pub fn stage_removal(
    td: &TrustDir,
    gun: &Gun,
    name: String,
    role: Option<&str>,
    prompter: &SharedPrompter,
) -> Result<Change> {
    let cfg = td.load_config(gun)?;
    let role = signing_role(&cfg, &name, role)?;
    let _lock = td.lock(gun, |m| prompter.notice(m))?;
    let path = td.staged_path(gun);
    let mut stage = Stage::load(&path)?;
    let label = role_label(role.as_deref());
    let (published, _) = published_base(td, gun, label)?;
    if !stage.adds(&name) && !published.contains_key(&name) {
        return Err(Error::NotFound(format!(
            "target {name:?} is neither published nor staged in {label} of {gun}"
        )));
    }
    let change = Change::Remove { name, role };
    stage.push(change.clone());
    stage.save(&path)?;
    Ok(change)
}

/// A target known by its digests rather than a file (`addhash`): an image manifest signed by
/// digest, as `notary addhash` and `docker trust sign` do.
#[derive(Debug, Clone)]
pub struct HashedTarget {
    pub name: String,
    pub length: u64,
    /// Hex (either case).
    pub sha256: String,
    /// Hex (either case); none: the target is listed with sha256 only.
    pub sha512: Option<String>,
}

/// Stages `t` for `role` (or the role its name routes to). A tuf-dialect repository lists it
/// too, but has no file to copy: publish it with `--metadata-only`.
pub fn stage_hash(
    td: &TrustDir,
    gun: &Gun,
    t: HashedTarget,
    role: Option<&str>,
    prompter: &SharedPrompter,
) -> Result<Change> {
    let cfg = td.load_config(gun)?;
    check_target_name(&t.name)?;
    if layout::targets_dir(cfg.dialect, Path::new("")).is_some() {
        layout::check_target_path(&t.name)?;
    }
    let sha256 = hex_digest("--sha256", &t.sha256, 32)?;
    let sha512 = match &t.sha512 {
        Some(h) => hex_digest("--sha512", h, 64)?,
        None => String::new(),
    };
    let role = signing_role(&cfg, &t.name, role)?;
    let change = Change::Add {
        name: t.name,
        length: t.length,
        sha256,
        sha512,
        path: None,
        role,
    };
    stage_adds(td, gun, std::slice::from_ref(&change), prompter)?;
    Ok(change)
}

/// A digest given in hex: `bytes` long, lowercased.
fn hex_digest(flag: &str, s: &str, bytes: usize) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() != bytes * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "{flag}: expected {} hex digits, got {} characters",
            bytes * 2,
            s.chars().count()
        )));
    }
    Ok(s)
}
