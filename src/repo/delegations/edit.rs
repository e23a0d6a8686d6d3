//! Changing a repository's delegations (`delegation add | remove`) and listing them. A change
//! is recorded in the config and staged ("targets must be signed again"); the next `publish`
//! signs targets with the new delegations and each delegated role that changed.

use serde::Serialize;

use super::signers::{listed, new_key_file};
use super::{DelegationConfig, DelegationKey, KeyLocation};
use crate::keys::piv::PivOptions;
use crate::keys::store::load_signer;
use crate::keys::uri::KeyRef;
use crate::keys::{Session, Signer};
use crate::repo::inventory;
use crate::repo::publish;
use crate::repo::stage::Stage;
use crate::repo::trustdir::{Gun, RepoConfig, TrustDir};
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::tuf::delegation::{check_name, describe_paths, shares_a_metadata_file};
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::short;
use crate::{Error, Result};

/// `delegation add`: a delegated role with keys of its own, or more keys for one.
#[derive(Debug)]
pub struct NewDelegation<'a> {
    pub gun: &'a Gun,
    pub role: &'a str,
    /// The keys: `pkcs11:` or `yubikey:` references, `new` (a new key on disk), or the ID (or
    /// a unique prefix) of a key in the trust dir.
    pub keys: &'a [String],
    /// Generate the token keys there first, with these YubiKey options.
    pub generate: Option<PivOptions>,
    /// Paths the role may sign (empty: the existing delegation's, or notary's "" for all).
    pub paths: Vec<String>,
    /// How many keys must sign (default: the existing delegation's, else 1).
    pub threshold: Option<u64>,
    /// tuf dialect: clients stop looking after this role.
    pub terminating: bool,
}

/// Adds a delegation, or keys to one. Passphrases and references first, tokens (PINs) last;
/// the config is changed under the GUN's lock.
pub fn add(session: &Session, td: &TrustDir, req: &NewDelegation<'_>) -> Result<Listed> {
    let (gun, role) = (req.gun, req.role);
    let cfg = td.load_config(gun)?;
    let d = cfg.dialect;
    check_name(d, role).map_err(Error::Usage)?;
    if cfg.hashed_bins.is_some() && role.starts_with("bins-") {
        return Err(Error::Usage(format!(
            "{role}: names starting with bins- are the hashed bins'"
        )));
    }
    if req.terminating && d == Dialect::Notary {
        return Err(Error::Usage(
            "--terminating is a tuf-dialect option; notary delegations have none".into(),
        ));
    }
    let existing = cfg.delegation(role).cloned();
    let paths = match (req.paths.is_empty(), &existing, d) {
        (false, _, _) => req.paths.clone(),
        (true, Some(e), _) => e.paths.clone(),
        (true, None, Dialect::Notary) => vec![String::new()],
        (true, None, Dialect::Tuf) => {
            return Err(Error::Usage(format!(
                "{role}: name the paths it may sign with --paths (glob patterns such as \
                 'releases/*')"
            )))
        }
    };
    if req.threshold == Some(0) {
        return Err(Error::Usage("--threshold must be at least 1".into()));
    }
    let mut new_keys = Vec::new();
    for r in req.keys {
        new_keys.push(resolve_key(session, td, &cfg, role, r, req.generate)?);
    }
    let _lock = td.lock(gun, |m| session.prompter().notice(m))?;
    let mut cfg = td.load_config(gun)?;
    let mut entry = existing.unwrap_or(DelegationConfig {
        name: role.to_string(),
        keys: Vec::new(),
        threshold: 1,
        paths: Vec::new(),
        terminating: req.terminating,
    });
    for k in new_keys {
        if !entry.keys.iter().any(|e| e.key_id == k.key_id) {
            entry.keys.push(k);
        }
    }
    entry.paths = paths;
    entry.threshold = req.threshold.unwrap_or(entry.threshold);
    entry.terminating |= req.terminating;
    if entry.threshold > entry.keys.len() as u64 {
        return Err(Error::Usage(format!(
            "{role}: threshold {} with {} key(s)",
            entry.threshold,
            entry.keys.len()
        )));
    }
    match cfg.delegations.iter_mut().find(|e| e.name == role) {
        Some(e) => *e = entry.clone(),
        None => cfg.delegations.push(entry.clone()),
    }
    td.save_config(&cfg)?;
    mark_changed(td, gun)?;
    Ok(Listed::of(td, &cfg, &entry))
}

/// Stage "targets must be signed again".
fn mark_changed(td: &TrustDir, gun: &Gun) -> Result<()> {
    let path = td.staged_path(gun);
    let mut stage = Stage::load(&path)?;
    stage.delegations_changed = true;
    stage.save(&path)
}

/// The key a `--key` reference names, as delegations list it, and where its private half is.
fn resolve_key(
    session: &Session,
    td: &TrustDir,
    cfg: &RepoConfig,
    role: &str,
    r: &str,
    generate: Option<PivOptions>,
) -> Result<DelegationKey> {
    let d = cfg.dialect;
    if r.starts_with("pkcs11:") || r.starts_with("yubikey:") {
        let kr: KeyRef = r.parse()?;
        let public = if let Some(piv) = generate {
            let (pk, placement) = crate::keys::mirror::generate(session, &kr, &piv)?;
            session
                .prompter()
                .notice(&format!("generated the {role} key on {}", placement.token));
            pk
        } else {
            *session.open_signer(&kr)?.public_key()
        };
        return Ok(listed(
            d,
            &public,
            KeyLocation::Token {
                uri: kr.to_string(),
            },
        ));
    }
    if r == "new" {
        let what = format!("the new {role} key of {}", cfg.gun);
        let pass = session.with_prompter(|p| new_passphrase(KeyRole::Delegation, &what, p))?;
        return new_key_file(td, d, role, &what, &pass);
    }
    if generate.is_some() {
        return Err(Error::Usage(format!(
            "--generate creates a key on a token; {r:?} is neither a pkcs11: nor a yubikey: \
             reference (use `new` for a new key on disk)"
        )));
    }
    // A public key file (`alice.pub`, an x509 certificate as docker trust makes): its holder
    // signs with their own tools.
    let path = std::path::Path::new(r);
    if path.is_file() {
        let file = crate::keys::public::PublicKeyFile::read(path)?;
        return Ok(listed(
            d,
            &file.key,
            KeyLocation::Holder {
                from: path.display().to_string(),
            },
        ));
    }
    // A key already in the trust dir, by ID or unique prefix.
    let entry = inventory::find_key(td, r)?;
    let path = std::path::PathBuf::from(&entry.location);
    let id = entry.key_id;
    let what = format!("the key {} for {role}", short(&id));
    let pass = session.with_prompter(|p| unlock_passphrase(KeyRole::Delegation, &what, p))?;
    let (key, _) = load_signer(&path, &pass, &what)?;
    Ok(listed(
        d,
        key.public_key(),
        KeyLocation::File { key_file_id: id },
    ))
}

/// A delegation, or one of its keys, removed.
#[derive(Debug, Serialize)]
pub struct Removed<'a> {
    pub gun: &'a Gun,
    pub role: &'a str,
    pub message: String,
}

/// Removes a delegation (its published file and staged changes go with it), or only the key
/// whose ID starts with `key` (refused if fewer keys than its threshold would be left).
pub fn remove<'a>(
    session: &Session,
    td: &TrustDir,
    gun: &'a Gun,
    role: &'a str,
    key: Option<&str>,
) -> Result<Removed<'a>> {
    let cfg = td.load_config(gun)?;
    // A name whose file is a top-level or versioned one's (`1.root`) is refused before anything
    // is looked up, so that no publisher file is ever removed for it; one that a config made
    // before this check still lists is taken out of the config, its "file" left alone.
    let shares_a_file = cfg.dialect == Dialect::Tuf && shares_a_metadata_file(role);
    if shares_a_file && cfg.delegation(role).is_none() {
        return Err(Error::Usage(
            check_name(cfg.dialect, role).err().unwrap_or_default(),
        ));
    }
    let _lock = td.lock(gun, |m| session.prompter().notice(m))?;
    let mut cfg = td.load_config(gun)?;
    let idx = cfg
        .delegations
        .iter()
        .position(|e| e.name == role)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{gun} has no delegation {role:?} (see `trustkey delegation list {gun}`)"
            ))
        })?;
    let message = match (key, cfg.delegations.get_mut(idx)) {
        (Some(prefix), Some(e)) => {
            let hits: Vec<usize> = (0..e.keys.len())
                .filter(|i| e.keys.get(*i).is_some_and(|k| k.key_id.starts_with(prefix)))
                .collect();
            let i = match hits.as_slice() {
                [i] => *i,
                [] => {
                    return Err(Error::NotFound(format!(
                        "{role} has no key {prefix:?} (see `trustkey delegation list {gun}`)"
                    )))
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "key ID prefix {prefix:?} is ambiguous"
                    )))
                }
            };
            if e.keys.len() - 1 < e.threshold as usize {
                return Err(Error::Usage(format!(
                    "{role} needs {} key(s) to sign; removing one leaves {}: add another key \
                     first, or remove the delegation",
                    e.threshold,
                    e.keys.len() - 1
                )));
            }
            let k = e.keys.remove(i);
            format!(
                "staged: key {} ({}) removed from {role}; publish to take it out of targets",
                short(&k.key_id),
                k.location
            )
        }
        _ => {
            cfg.delegations.remove(idx);
            // Its targets go with it; a delegation added later under this name starts empty.
            let copy = td.published_dir(gun).join(format!("{role}.json"));
            let removed = match shares_a_file {
                true => Ok(()),
                false => std::fs::remove_file(&copy),
            };
            if let Err(e) = removed {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(Error::io(format!("removing {}", copy.display()), e));
                }
            }
            let path = td.staged_path(gun);
            let mut stage = Stage::load(&path)?;
            let before = stage.changes.len();
            stage.changes.retain(|c| c.role() != Some(role));
            let dropped = before - stage.changes.len();
            stage.save(&path)?;
            format!(
                "staged: delegation {role} removed{}; publish to take it out of targets",
                if dropped > 0 {
                    format!(" (and {dropped} staged change(s) to it)")
                } else {
                    String::new()
                }
            )
        }
    };
    td.save_config(&cfg)?;
    mark_changed(td, gun)?;
    Ok(Removed { gun, role, message })
}

/// One key of a delegation, as listed.
#[derive(Debug, Serialize)]
pub struct ListedKey {
    pub key_id: String,
    pub location: String,
}

/// A delegation as `delegation list` shows it.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: String,
    pub threshold: u64,
    /// The paths (notary: prefixes; tuf: glob patterns) it may sign.
    pub paths: Vec<String>,
    /// The paths as people read them (`"releases/"`, `no paths`).
    #[serde(skip)]
    pub paths_shown: String,
    pub terminating: bool,
    pub keys: Vec<ListedKey>,
    /// The version last published from here (0: never).
    pub published_version: u64,
    pub published_targets: usize,
}

impl Listed {
    fn of(td: &TrustDir, cfg: &RepoConfig, e: &DelegationConfig) -> Self {
        let paths_shown = cfg
            .delegated_roles()
            .into_iter()
            .find(|s| s.role.name == e.name)
            .map(|spec| describe_paths(&spec.role))
            .unwrap_or_default();
        let (targets, version) = publish::published_role(td, &cfg.gun, &e.name)
            .ok()
            .flatten()
            .and_then(|m| publish::role_targets(&m).ok())
            .map(|(t, v)| (t.len(), v))
            .unwrap_or((0, 0));
        Listed {
            name: e.name.clone(),
            threshold: e.threshold,
            paths: e.paths.clone(),
            paths_shown,
            terminating: e.terminating,
            keys: e
                .keys
                .iter()
                .map(|k| ListedKey {
                    key_id: k.key_id.clone(),
                    location: k.location.to_string(),
                })
                .collect(),
            published_version: version,
            published_targets: targets,
        }
    }
}

/// The hashed bins, as listed.
#[derive(Debug, Serialize)]
pub struct ListedBins {
    pub count: u32,
    pub first: String,
    pub last: String,
    pub key_id: String,
    pub location: String,
}

/// A repository's delegations.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub gun: Gun,
    pub delegations: Vec<Listed>,
    pub hashed_bins: Option<ListedBins>,
}

/// The delegations of `gun`, their keys, paths and published versions, and its hashed bins.
pub fn list(td: &TrustDir, gun: &Gun) -> Result<Listing> {
    let cfg = td.load_config(gun)?;
    Ok(Listing {
        gun: gun.clone(),
        delegations: cfg
            .delegations
            .iter()
            .map(|e| Listed::of(td, &cfg, e))
            .collect(),
        hashed_bins: cfg.hashed_bins.as_ref().map(|b| ListedBins {
            count: b.count,
            first: b.bins().name(0),
            last: b.bins().name(b.count.saturating_sub(1)),
            key_id: b.key.key_id.clone(),
            location: b.key.location.to_string(),
        }),
    })
}
