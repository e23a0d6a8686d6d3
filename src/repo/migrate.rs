//! `migrate`: a Docker Content Trust repository on notary-server carried into a new TUF 1.0
//! repository in a directory, for publishers leaving a notary-server (notary.docker.io).
//!
//! The source is read and verified as `verify -s` does (the client, `client::check`, with the
//! client's trusted state in the trust dir); every target a role may sign is carried with its
//! name, length and hashes. The new repository is made by the ordinary flows: `init` (a root
//! on the user's token, new keys on disk), `delegation add` for each delegated role kept, the
//! stage, and `publish` to a [`Directory`], metadata only (the files themselves are wherever
//! they were: a registry, a download site). A delegated role is kept as a delegation when
//! enough of its keys (its threshold) are in the trust dir, under its last name part
//! (`targets/releases` becomes `releases`), with its targets' exact names as its paths; else
//! its targets are carried by the top-level targets role.

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::client::{check, Check, Place, VerifiedRole};
use super::delegations::edit::{add as add_delegation, NewDelegation};
use super::delegations::TARGETS;
use super::expiry::Expiries;
use super::init::{ensure_new, initialize, InitRequest};
use super::publish::{publish, Directory, PublishOptions, PublishRequest, Published};
use super::server_repo::ServerAddress;
use super::stage::Change;
use super::targets::stage_adds;
use super::trustdir::{Gun, TrustDir};
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, Session};
use crate::tuf::delegation::check_name;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::FileMeta;
use crate::{Error, Result};

/// What `migrate` is asked to do.
#[derive(Debug)]
pub struct MigrateRequest<'a> {
    /// The repository on notary-server.
    pub source: &'a Gun,
    /// The new TUF repository's GUN (usually the same).
    pub gun: &'a Gun,
    /// The notary-server (`-s`, else the source's remembered one, else
    /// `DOCKER_CONTENT_TRUST_SERVER`).
    pub server: ServerAddress,
    /// Trust only a source root with this key ID.
    pub source_root_key_id: Option<String>,
    /// Where the TUF repository is published: `DIR/<gun>/metadata/`.
    pub to: PathBuf,
    /// The new root key (default: the one root key in reach).
    pub root: Option<KeyRef>,
    /// Root's validity.
    pub expiries: &'a Expiries,
    pub now: OffsetDateTime,
}

/// How one role of the source was carried.
#[derive(Debug, Clone, Serialize)]
pub struct MigratedRole {
    /// The role in the source (`targets`, `targets/releases`).
    pub source: String,
    /// The role that signs its targets in the new repository (`targets`, `releases`).
    pub signed_by: String,
    /// Kept as a delegation with its own keys (false: carried by targets, or targets itself).
    pub kept: bool,
    /// Why a delegated role was not kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    pub targets: usize,
}

/// What `migrate` did.
#[derive(Debug, Serialize)]
pub struct Migrated {
    pub source: Gun,
    pub gun: Gun,
    /// The source's server.
    pub server: String,
    /// `DIR/<gun>`.
    pub repo: String,
    /// The new root's key ID (as `root list` shows it).
    pub root_key_id: String,
    pub roles: Vec<MigratedRole>,
    /// Targets carried, in all roles.
    pub targets: usize,
    /// Targets the source lists but may not sign (outside a delegation's paths): not carried.
    pub rejected: usize,
    pub published: Published,
}

/// A delegated role kept: its new name, the key IDs in the trust dir, and its threshold.
struct Kept {
    name: String,
    key_ids: Vec<String>,
    threshold: u64,
}

/// Reads, verifies and carries `req.source` into a new TUF repository (see the module docs).
pub fn migrate(session: &Session, td: &TrustDir, req: &MigrateRequest<'_>) -> Result<Migrated> {
    ensure_new(td, req.gun)?;
    let source_cfg = td.load_config(req.source).ok();
    let Some((server, _)) = req.server.resolve_or_default(source_cfg.as_ref())? else {
        return Err(Error::Usage(
            "migrate reads a notary-server: name it with -s URL (or DOCKER_CONTENT_TRUST_SERVER)"
                .into(),
        ));
    };
    let server_url = server.url().to_string();
    let place = Place::Server(ServerAddress {
        url: Some(server_url.clone()),
        tlscacert: req.server.tlscacert.clone(),
        client_cert: req.server.client_cert.clone(),
        timeouts: req.server.timeouts,
    });
    let (v, _) = check(
        td,
        Check {
            gun: req.source,
            place,
            root_key_id: req.source_root_key_id.clone(),
            trusted_root: None,
            dialect: Some(Dialect::Notary),
            now: req.now,
        },
        session.prompter(),
    )?;
    // Every target as the stage holds it, and which role kept each delegated role becomes.
    let mut changes = Vec::new();
    let mut roles = Vec::new();
    let mut kept = Vec::new();
    for role in &v.roles {
        let plan = if role.name == TARGETS {
            Ok(None)
        } else {
            keep(td, role).map(Some)
        };
        let (signed_by, why_not) = match &plan {
            Ok(Some(k)) => (k.name.clone(), None),
            Ok(None) => (TARGETS.to_string(), None),
            Err(why) => (TARGETS.to_string(), Some(why.clone())),
        };
        let on_role = (signed_by != TARGETS).then(|| signed_by.clone());
        for (name, meta) in &role.targets {
            changes.push(change(name, meta, on_role.clone())?);
        }
        roles.push(MigratedRole {
            source: role.name.clone(),
            signed_by,
            kept: matches!(plan, Ok(Some(_))),
            why_not,
            targets: role.targets.len(),
        });
        if let Ok(Some(k)) = plan {
            kept.push((k, role.targets.keys().cloned().collect::<Vec<_>>()));
        }
    }
    let init = InitRequest {
        gun: req.gun,
        dialect: Dialect::Tuf,
        tuf: None,
        hashed_bins: None,
        root: req.root.clone(),
        threshold_root: None,
        expiries: req.expiries,
        server: ServerAddress::default(),
        server_managed_snapshot: false,
        targets_key: None,
        force: false,
        now: req.now,
    };
    let done = initialize(session, td, &init)?;
    let finish = || -> Result<Published> {
        for (k, names) in &kept {
            add_delegation(
                session,
                td,
                &NewDelegation {
                    gun: req.gun,
                    role: &k.name,
                    keys: &k.key_ids,
                    generate: None,
                    paths: names.iter().map(|n| glob_literal(n)).collect(),
                    threshold: Some(k.threshold),
                    terminating: false,
                },
            )?;
        }
        stage_adds(td, req.gun, &changes, session.prompter())?;
        let mut dest = Directory::new(
            req.to.clone(),
            PublishOptions {
                metadata_only: true,
            },
        )
        .with_notices(session.prompter().clone());
        publish(
            session,
            td,
            &mut dest,
            &PublishRequest {
                gun: req.gun,
                expires: &[],
                now: req.now,
            },
        )
    };
    let published = finish().inspect_err(|_| {
        session.prompter().warn(&format!(
            "{} was initialized in the trust dir but not published; once the cause is fixed, \
             finish with `trustkey publish {} --repo {} --metadata-only`",
            req.gun,
            req.gun,
            req.to.display()
        ))
    })?;
    Ok(Migrated {
        source: req.source.clone(),
        gun: req.gun.clone(),
        server: server_url,
        repo: published.repo.clone(),
        root_key_id: done.root_key_id,
        targets: changes.len(),
        rejected: v.rejected.len(),
        roles,
        published,
    })
}

/// Whether a delegated role can be kept as a delegation: a name the TUF dialect allows one
/// level below targets, and at least its threshold of keys in the trust dir. Else why not.
fn keep(td: &TrustDir, role: &VerifiedRole) -> std::result::Result<Kept, String> {
    let Some(short) = role
        .name
        .strip_prefix("targets/")
        .filter(|s| !s.contains('/'))
    else {
        return Err("trustkey delegates one level below targets only".into());
    };
    check_name(Dialect::Tuf, short).map_err(|e| format!("its name does not fit: {e}"))?;
    if role.targets.is_empty() {
        return Err("it lists no targets".into());
    }
    let Some(keys) = &role.delegated_to else {
        return Err("its keys are unknown".into());
    };
    let key_ids: Vec<String> = keys
        .keys
        .values()
        .filter_map(|k| k.key.p256().map(canonical_key_id))
        .filter(|id| td.key_path(id).is_file())
        .collect();
    if (key_ids.len() as u64) < keys.threshold.max(1) {
        return Err(format!(
            "its private key is not in the trust dir ({} of {} needed)",
            key_ids.len(),
            keys.threshold.max(1)
        ));
    }
    Ok(Kept {
        name: short.to_string(),
        key_ids,
        threshold: keys.threshold.max(1),
    })
}

/// A target as a staged addition: its length and hashes (hex), signed by `role`.
fn change(name: &str, meta: &FileMeta, role: Option<String>) -> Result<Change> {
    let hex_of = |alg: &str| -> Result<String> {
        match meta.hashes.get(alg) {
            None => Ok(String::new()),
            Some(h) => Dialect::Notary
                .decode_hash(h)
                .map(hex::encode)
                .map_err(|e| Error::Metadata(format!("target {name:?}: its {alg}: {e}"))),
        }
    };
    let sha256 = hex_of("sha256")?;
    if sha256.len() != 64 {
        return Err(Error::Metadata(format!(
            "target {name:?} has no sha256 (TUF clients need one); it cannot be carried"
        )));
    }
    let sha512 = hex_of("sha512")?;
    Ok(Change::Add {
        name: name.to_string(),
        length: meta.length,
        sha256,
        sha512,
        path: None,
        role,
    })
}

/// A glob pattern matching exactly `name` (python-tuf's `fnmatch`): `*`, `?` and `[` as
/// one-character classes.
fn glob_literal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::delegation::path_pattern_matches;

    #[test]
    fn glob_literals_match_only_their_name() {
        for name in ["v1", "a/b.tar.gz", "odd*name?[x]", "latest"] {
            let p = glob_literal(name);
            assert!(path_pattern_matches(name, &p), "{name} {p}");
        }
        assert!(!path_pattern_matches(
            "oddXnameY[x]",
            &glob_literal("odd*name?[x]")
        ));
        assert!(!path_pattern_matches("v10", &glob_literal("v1")));
    }
}
