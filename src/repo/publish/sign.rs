//! What a publish signs, whatever its destination: the keys on disk that sign targets,
//! snapshot and timestamp, the publisher's copy each role builds on, targets and the delegated
//! roles with staged changes (`sign_changes`), snapshot's `meta`, and the record kept after the
//! destination took it (`record`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;
use time::OffsetDateTime;

use super::Published;
use crate::fsio::{self, Overwrite};
use crate::keys::store::load_signer;
use crate::keys::{canonical_key_id, MemorySigner, Signer};
use crate::repo::delegations::{DelegationSigners, KeyLocation, TARGETS};
use crate::repo::stage::{Change, Stage};
use crate::repo::trustdir::{Gun, RepoConfig, TrustDir};
use crate::tuf::build;
use crate::tuf::model::{to_value, FileMeta, MetaFile, MetaList, RoleName, Targets};
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

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
            .map(|h| {
                h.join().map_err(|_| {
                    Error::io(
                        "decrypting the repository keys",
                        std::io::Error::other("a decryption thread failed"),
                    )
                })?
            })
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

/// The publisher's copy of a delegated role (`published/<name>.json`), if it was published.
pub fn published_role(td: &TrustDir, gun: &Gun, name: &str) -> Result<Option<SignedMeta>> {
    td.read_published(gun, &format!("{name}.json"))?
        .map(|b| SignedMeta::parse_named(RoleName::Targets, name, b))
        .transpose()
        .map_err(Error::Metadata)
}

/// The targets a targets role lists, and its version.
pub fn role_targets(m: &SignedMeta) -> Result<RoleContent> {
    let t: Targets = m
        .view(&format!("published {}", m.name))
        .map_err(Error::Metadata)?;
    Ok((t.targets, t.common.version))
}

/// The delegated roles a publish signs: those with staged changes, those whose keys changed,
/// and those never published yet (a client searching through a delegation needs its file);
/// with nothing staged, all of them (a publish that renews expiries). Every staged change must go
/// to a role the repository still has.
pub fn roles_to_sign(td: &TrustDir, cfg: &RepoConfig, stage: &Stage) -> Result<BTreeSet<String>> {
    let mut roles = BTreeSet::new();
    for c in &stage.changes {
        if let Some(r) = c.role() {
            if r != TARGETS && !cfg.is_delegated_role(r) {
                return Err(Error::Usage(format!(
                    "{:?} is staged for the delegation {r}, which {} no longer has; stage it \
                     again (`trustkey add` or `trustkey remove`)",
                    c.name(),
                    cfg.gun
                )));
            }
            if r != TARGETS {
                roles.insert(r.to_string());
            }
        }
    }
    let published = td.published_dir(&cfg.gun);
    // A publish with nothing staged renews every role it can sign.
    if stage.is_empty() {
        roles.extend(cfg.delegated_roles().into_iter().map(|r| r.role.name));
        return Ok(roles);
    }
    // A delegation whose keys or threshold changed since targets was last published: its
    // role must be signed again by the keys it has now, or clients stop trusting it.
    let before: BTreeMap<String, (Vec<String>, u64)> = if stage.delegations_changed {
        match td.read_published(&cfg.gun, "targets.json")? {
            Some(b) => {
                let m = SignedMeta::parse(RoleName::Targets, b).map_err(Error::Metadata)?;
                let t: Targets = m.view("published targets").map_err(Error::Metadata)?;
                t.delegations
                    .map(|d| d.roles)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| (r.name, (r.keyids, r.threshold)))
                    .collect()
            }
            None => BTreeMap::new(),
        }
    } else {
        BTreeMap::new()
    };
    for spec in cfg.delegated_roles() {
        let rekeyed = before
            .get(&spec.role.name)
            .is_some_and(|(ids, t)| *ids != spec.role.keyids || *t != spec.role.threshold);
        if rekeyed || !published.join(format!("{}.json", spec.role.name)).is_file() {
            roles.insert(spec.role.name);
        }
    }
    Ok(roles)
}

/// Whether a publish signs targets: when it has changes of its own, its delegations changed,
/// it was never published, or nothing at all is staged (a publish that renews expiries).
pub fn signs_targets(td: &TrustDir, cfg: &RepoConfig, stage: &Stage) -> bool {
    stage.is_empty()
        || stage.delegations_changed
        || stage
            .changes
            .iter()
            .any(|c| c.role().is_none_or(|r| r == TARGETS))
        || !td.published_dir(&cfg.gun).join("targets.json").is_file()
}

/// What one publish signed.
#[derive(Debug)]
pub struct SignedRoles {
    /// targets, when this publish signed it (else the published one stays).
    pub targets: Option<SignedMeta>,
    /// How many targets targets itself lists.
    pub top_count: usize,
    /// The delegated roles signed, in the order targets lists them.
    pub delegated: Vec<SignedMeta>,
    /// Roles a publish with nothing staged left as they were: their keys are not at hand.
    pub not_renewed: Vec<String>,
}

/// A targets role's targets and version.
pub type RoleContent = (BTreeMap<String, FileMeta>, u64);

/// Signs targets (when it changed) and the delegated roles with staged changes. `base` gives
/// each role's targets and version to build on (the publisher's copy, or what a server has).
pub fn sign_changes(
    td: &TrustDir,
    cfg: &RepoConfig,
    stage: &Stage,
    (keys, signers): (&BTreeMap<RoleName, MemorySigner>, &DelegationSigners),
    base: &dyn Fn(&str) -> Result<RoleContent>,
    expires: OffsetDateTime,
) -> Result<SignedRoles> {
    let dialect = cfg.dialect;
    let roles = roles_to_sign(td, cfg, stage)?;
    let sign_top = signs_targets(td, cfg, stage);
    // Grouped once: a publish of 1,000,000 targets in 1,024 bins must not scan the stage per bin.
    let mut by_role: BTreeMap<&str, Vec<&Change>> = BTreeMap::new();
    for c in &stage.changes {
        by_role
            .entry(c.role().unwrap_or(TARGETS))
            .or_default()
            .push(c);
    }
    let changes_of = |role: &str| by_role.get(role).into_iter().flatten().copied();
    let mut delegated = Vec::new();
    let mut not_renewed = Vec::new();
    for spec in cfg.delegated_roles() {
        let name = &spec.role.name;
        if !roles.contains(name) {
            continue;
        }
        let (mut targets, version) = base(name)?;
        crate::repo::stage::apply(dialect, changes_of(name), &mut targets)?;
        let t = build::delegating_targets(dialect, version + 1, expires, targets, None);
        let mut with: Vec<(&str, &dyn Signer)> = Vec::new();
        for k in &spec.keys {
            if let Some(s) = signers.get(&k.key_id) {
                with.push((k.key_id.as_str(), s.as_ref()));
            }
        }
        if (with.len() as u64) < spec.role.threshold {
            // Renewing expiries: a published role whose keys are not here stays as it is.
            // A role whose keys are all with their holders is theirs to sign: targets lists
            // the delegation, the holders publish the role.
            let holders_only = spec
                .keys
                .iter()
                .all(|k| matches!(k.location, KeyLocation::Holder { .. }));
            if holders_only && version == 0 && changes_of(name).next().is_none() {
                continue;
            }
            if (stage.is_empty() && version > 0)
                || (holders_only && changes_of(name).next().is_none())
            {
                not_renewed.push(name.clone());
                continue;
            }
            return Err(Error::NotFound(format!(
                "{name} needs {} signature(s) but {} of its keys {} at hand ({}); plug in its \
                 token, or restore its key",
                spec.role.threshold,
                with.len(),
                if with.len() == 1 { "is" } else { "are" },
                spec.keys
                    .iter()
                    .map(|k| k.location.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        delegated.push(SignedMeta::sign_named(
            dialect,
            RoleName::Targets,
            name,
            to_value(&t),
            &with,
        )?);
    }
    let (targets, top_count) = if sign_top {
        let (mut targets, version) = base(TARGETS)?;
        crate::repo::stage::apply(dialect, changes_of(TARGETS), &mut targets)?;
        let count = targets.len();
        let t = build::delegating_targets(
            dialect,
            version + 1,
            expires,
            targets,
            cfg.targets_delegations(),
        );
        (Some(sign_role(cfg, keys, RoleName::Targets, &t)?), count)
    } else {
        (None, base(TARGETS)?.0.len())
    };
    Ok(SignedRoles {
        targets,
        top_count,
        delegated,
        not_renewed,
    })
}

/// Snapshot's `meta`: the previous snapshot's entries for roles the repository still has,
/// with the entries of root (Notary), targets and the roles signed now replaced.
pub fn snapshot_meta(
    cfg: &RepoConfig,
    previous: Option<&SignedMeta>,
    root: &SignedMeta,
    targets: &SignedMeta,
    delegated: &[SignedMeta],
) -> Result<BTreeMap<String, MetaFile>> {
    let d = cfg.dialect;
    let hashes = cfg.tuf_options().meta_hashes;
    let mut meta = match previous {
        Some(p) => {
            let v: MetaList = p.view("published snapshot").map_err(Error::Metadata)?;
            v.meta
        }
        None => BTreeMap::new(),
    };
    let mut keep: BTreeSet<String> = cfg
        .delegated_roles()
        .into_iter()
        .map(|r| d.meta_key(&r.role.name))
        .collect();
    keep.insert(d.meta_name(RoleName::Targets));
    meta.retain(|k, _| keep.contains(k));
    if d.snapshot_lists_root() {
        meta.insert(d.meta_name(RoleName::Root), d.meta_entry(root, hashes));
    }
    for m in std::iter::once(targets).chain(delegated) {
        meta.insert(d.meta_key(&m.name), d.meta_entry(m, hashes));
    }
    Ok(meta)
}

/// The publisher's copy: what targets and each delegated role build on.
pub fn published_base(
    td: &TrustDir,
    gun: &Gun,
    name: &str,
) -> Result<(BTreeMap<String, FileMeta>, u64)> {
    let m = if name == TARGETS {
        td.read_published(gun, "targets.json")?
            .map(|b| SignedMeta::parse(RoleName::Targets, b))
            .transpose()
            .map_err(Error::Metadata)?
    } else {
        published_role(td, gun, name)?
    };
    match m {
        Some(m) => role_targets(&m),
        None => Ok((BTreeMap::new(), 0)),
    }
}

/// After the repository took a publish: the publisher's copy of every role it signed, then
/// their versions in the config, then the stage cleared.
pub fn record(
    td: &TrustDir,
    cfg: &mut RepoConfig,
    stage: &Stage,
    signed: &SignedRoles,
    others: &[&SignedMeta],
    repo: String,
) -> Result<Published> {
    let published = td.published_dir(&cfg.gun);
    let top = signed.targets.iter().chain(others.iter().copied());
    for m in signed.delegated.iter().chain(top.clone()) {
        let path = published.join(format!("{}.json", m.name));
        if let Some(parent) = path.parent() {
            fsio::create_dir(parent)?;
        }
        fsio::write_atomic(&path, &m.bytes, fsio::PUBLIC_FILE_MODE, Overwrite::Replace)?;
    }
    for m in top {
        cfg.versions.insert(m.role, m.version().unwrap_or(0));
    }
    td.save_config(cfg)?;
    Stage::clear(&td.staged_path(&cfg.gun))?;
    Ok(Published {
        gun: cfg.gun.clone(),
        repo,
        versions: cfg.versions.clone(),
        delegations: signed
            .delegated
            .iter()
            .map(|m| (m.name.clone(), m.version().unwrap_or(0)))
            .collect(),
        signed_targets: signed.targets.is_some(),
        not_renewed: signed.not_renewed.clone(),
        targets: signed.top_count,
        changes: stage.changes.len(),
    })
}
