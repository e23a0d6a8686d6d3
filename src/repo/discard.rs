//! Throwing away: `reset` (the staged target changes of a repository) and `delete` (the
//! repository's local trust data, as `notary delete`; with a server, also its metadata on
//! notary-server). Keys stay: they are in `private/`, and `key remove` deletes them.

use serde::Serialize;

use super::server_repo::ServerAddress;
use super::stage::Stage;
use super::trustdir::{Gun, TrustDir};
use crate::secret::SharedPrompter;
use crate::{Error, Result};

/// What `reset` discarded.
#[derive(Debug, Serialize)]
pub struct Reset {
    pub gun: Gun,
    /// How many staged target changes were discarded.
    pub discarded: usize,
    /// Whether delegation changes (already in the repository's config) still wait for the
    /// next publish, which signs targets again with them.
    pub delegations_changed: bool,
}

/// Discards the staged target changes of `gun`. Delegation changes are not staged changes
/// but edits of the config: they stay, and the next publish still signs them.
pub fn reset(td: &TrustDir, gun: &Gun, prompter: &SharedPrompter) -> Result<Reset> {
    if !td.config_path(gun).exists() {
        // The same error as every command on a repository that is not here.
        td.load_config(gun)?;
    }
    let _lock = td.lock(gun, |m| prompter.notice(m))?;
    let path = td.staged_path(gun);
    let mut stage = Stage::load(&path)?;
    let discarded = stage.changes.len();
    if discarded > 0 {
        stage.changes.clear();
        stage.save(&path)?;
    }
    Ok(Reset {
        gun: gun.clone(),
        discarded,
        delegations_changed: stage.delegations_changed,
    })
}

/// What `delete` removed.
#[derive(Debug, Serialize)]
pub struct Deleted {
    pub gun: Gun,
    /// The local directory removed (`TRUSTDIR/tuf/<gun>/`), if there was one.
    pub local: Option<String>,
    /// The notary-server whose copy was deleted (`--remote`).
    pub remote: Option<String>,
}

/// Deletes the local trust data of `gun` (config, staged changes, the publisher's copy, the
/// client's trusted state), and with `remote` first the repository on notary-server (the
/// server named, else the one its config remembers): if the server refuses, nothing local is
/// removed.
pub fn delete(
    td: &TrustDir,
    gun: &Gun,
    remote: Option<&ServerAddress>,
    prompter: &SharedPrompter,
) -> Result<Deleted> {
    let dir = td.gun_dir(gun);
    let here = dir.is_dir();
    if !here && remote.is_none() {
        return Err(Error::NotFound(format!(
            "no trust data for {gun} in {}",
            td.gun_dir(gun).display()
        )));
    }
    // Publishers and verifiers of the GUN wait; nothing starts on a half-deleted directory.
    let locks = if here {
        Some((
            td.lock(gun, |m| prompter.notice(m))?,
            td.lock_client(gun, |m| prompter.notice(m))?,
        ))
    } else {
        None
    };
    let mut deleted_remote = None;
    if let Some(address) = remote {
        let cfg = td.load_config(gun).ok();
        let Some((server, chosen)) = address.resolve_or_default(cfg.as_ref())? else {
            return Err(Error::Usage(format!(
                "--remote: name the notary-server of {gun} with -s URL"
            )));
        };
        if let Some(w) = server.plain_http_warning() {
            prompter.warn(&w);
        }
        server.delete_repository(gun.as_str())?;
        deleted_remote = Some(chosen.url);
    }
    if here {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Error::io(format!("removing {}", dir.display()), e))?;
        drop(locks);
        // The GUN's parent directories below tuf/ (tuf/example.com/) when nothing else is
        // left in them (remove_dir fails on a directory that is not empty).
        let parents = gun.as_str().split('/').count().saturating_sub(1);
        for parent in dir.ancestors().skip(1).take(parents) {
            if std::fs::remove_dir(parent).is_err() {
                break;
            }
        }
    }
    Ok(Deleted {
        gun: gun.clone(),
        local: here.then(|| dir.display().to_string()),
        remote: deleted_remote,
    })
}
