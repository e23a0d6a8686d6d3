//! `publish`: one flow, whatever the destination. Under the GUN's lock: the staged changes,
//! the keys (every key file found before any passphrase is asked; the delegations' tokens and
//! files), targets and the delegated roles with changes signed on top of what the destination
//! holds, snapshot and timestamp signed unless the destination signs them itself, everything
//! delivered all or nothing, and only then the publisher's copy, the versions and the config
//! updated and the stage cleared. A failed publish changes nothing locally.
//!
//! The destination is a [`Destination`]: a static directory ([`Directory`], `directory.rs`) or
//! notary-server ([`Server`], `server.rs`). What is signed is `sign.rs`.

mod directory;
mod files;
mod server;
mod sign;

pub use directory::{gun_repo_dir, write_all_or_nothing, Directory, PublishOptions};
pub use server::Server;
pub use sign::{
    key_file, load_key, load_keys, published_base, published_role, published_root, record,
    role_key, role_targets, roles_to_sign, sign_changes, sign_role, signs_targets, snapshot_meta,
    RoleContent, SignedRoles,
};

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::delegations::signers::open_signers;
use super::delegations::{DelegationSigners, TARGETS};
use super::expiry::{Expiries, ExpiryArg};
use super::stage::Stage;
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::keys::{MemorySigner, Session};
use crate::secret::{unlock_passphrase, KeyRole};
use crate::tuf::build;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

/// The roles `publish` signs with keys on disk (unless the destination signs some itself).
pub const PUBLISH_ROLES: [RoleName; 3] =
    [RoleName::Targets, RoleName::Snapshot, RoleName::Timestamp];

/// What one publish did.
#[derive(Debug, Serialize)]
pub struct Published {
    pub gun: Gun,
    /// The destination: `DIR/<gun>`, or the server's URL.
    pub repo: String,
    pub versions: BTreeMap<RoleName, u64>,
    /// Delegated roles signed by this publish, with their new versions.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub delegations: BTreeMap<String, u64>,
    /// Whether targets was signed (it is not when only delegated roles changed).
    pub signed_targets: bool,
    /// Delegated roles a publish with nothing staged could not renew (keys not at hand).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_renewed: Vec<String>,
    /// Targets listed by targets itself.
    pub targets: usize,
    pub changes: usize,
}

/// Where a publish goes.
pub trait Destination {
    /// The repository as the result names it: `DIR/<gun>`, or the server's URL.
    fn describe(&self, gun: &Gun) -> String;

    /// Refuses a repository whose keys do not fit: a directory cannot take one whose
    /// timestamp key a server holds, a server one whose root names a timestamp key on disk.
    fn accepts(&self, cfg: &RepoConfig) -> Result<()>;

    /// Whether every role is signed here with keys on disk, whatever the repository (a
    /// directory): then `--expires` is checked before anything is read.
    fn signs_every_role(&self) -> bool {
        false
    }

    /// What the destination holds that is newer than the publisher's copy (another client
    /// published since), verified against the publisher's `root`: the new versions build on it.
    fn ahead(
        &mut self,
        td: &TrustDir,
        cfg: &RepoConfig,
        root: &SignedMeta,
        now: OffsetDateTime,
    ) -> Result<Ahead>;

    /// A role's current file at the destination (asked for only when it is [`Ahead`]).
    fn fetch(&self, gun: &Gun, role: RoleName) -> Result<Option<Vec<u8>>>;

    /// Delivers what was signed, all or nothing; may note in `cfg` what the destination took
    /// (it is saved by [`record`] afterwards).
    fn deliver(&mut self, td: &TrustDir, cfg: &mut RepoConfig, out: &Outgoing<'_>) -> Result<()>;
}

/// What a destination holds beyond the publisher's copy.
#[derive(Debug, Default)]
pub struct Ahead {
    /// Each verified targets role's targets and version, by name.
    pub roles: BTreeMap<String, RoleContent>,
    /// Snapshot's version there.
    pub snapshot: u64,
    /// Timestamp's version there (0 where the destination signs timestamp itself).
    pub timestamp: u64,
}

/// What `remote` holds, verified against the publisher's root as a client would (so that a
/// publish builds only on what verifies), and the client state to store once delivered.
/// `repo` names it in the error when it does not verify.
fn verify_remote(
    td: &TrustDir,
    cfg: &RepoConfig,
    remote: &dyn crate::repo::client::Remote,
    repo: String,
    now: OffsetDateTime,
) -> Result<(Ahead, crate::repo::client::PendingState)> {
    let updater = crate::repo::client::Updater::new(
        td,
        &cfg.gun,
        remote,
        crate::repo::client::VerifyOptions {
            dialect: cfg.dialect,
            root_key_id: Some(cfg.root_key_id.clone()),
            now,
        },
    );
    let (verified, pending) = updater.verify().map_err(|e| match e {
        Error::Verify(e) => Error::Verify(crate::tuf::VerifyError::NotBuildingOn {
            repo,
            source: Box::new(e),
        }),
        other => other,
    })?;
    let version = |role| verified.versions.get(&role).copied().unwrap_or(0);
    let (snapshot, timestamp) = (version(RoleName::Snapshot), version(RoleName::Timestamp));
    let roles = verified
        .roles
        .into_iter()
        .map(|r| (r.name, (r.targets, r.version)))
        .collect();
    let ahead = Ahead {
        roles,
        snapshot,
        timestamp,
    };
    Ok((ahead, pending))
}

/// What one publish delivers.
#[derive(Debug)]
pub struct Outgoing<'a> {
    /// The publisher's root (a destination may already have it).
    pub root: &'a SignedMeta,
    /// targets, when this publish signed it.
    pub targets: Option<&'a SignedMeta>,
    /// The delegated roles signed, in the order targets lists them.
    pub delegated: &'a [SignedMeta],
    /// `None` when the destination signs it.
    pub snapshot: Option<&'a SignedMeta>,
    /// `None` when the destination signs it.
    pub timestamp: Option<&'a SignedMeta>,
    /// The changes published: a directory copies the files of added targets.
    pub stage: &'a Stage,
}

/// A publish as the command asks for it.
#[derive(Debug)]
pub struct PublishRequest<'a> {
    pub gun: &'a Gun,
    /// `--expires`: each role's validity (targets, snapshot, timestamp; delegated roles get
    /// targets').
    pub expires: &'a [ExpiryArg],
    pub now: OffsetDateTime,
}

/// Publishes the staged changes of `req.gun` to `dest` (see the module's documentation).
pub fn publish(
    session: &Session,
    td: &TrustDir,
    dest: &mut dyn Destination,
    req: &PublishRequest<'_>,
) -> Result<Published> {
    let gun = req.gun;
    let early = dest
        .signs_every_role()
        .then(|| Expiries::new(req.expires, &PUBLISH_ROLES))
        .transpose()?;
    dest.accepts(&td.load_config(gun)?)?;
    let _lock = td.lock(gun, |m| session.prompter().notice(m))?;
    // Re-read under the lock: another publish may just have finished.
    let mut cfg = td.load_config(gun)?;
    dest.accepts(&cfg)?;
    let roles: Vec<RoleName> = PUBLISH_ROLES
        .into_iter()
        .filter(|r| !cfg.server_signs(*r))
        .collect();
    let expiries = match early {
        Some(e) => e,
        None => Expiries::new(req.expires, &roles)?,
    };
    let stage = Stage::load(&td.staged_path(gun))?;
    if stage.is_empty() {
        session.prompter().notice(&format!(
            "no staged changes for {gun}: signing the same targets (and every delegated role \
             whose keys are at hand) again with new versions and expiries"
        ));
    }
    warn_root_expiry(session, td, gun, cfg.dialect, req.now)?;
    let delegated = roles_to_sign(td, &cfg, &stage)?;
    let sign_top = signs_targets(td, &cfg, &stage);
    let key_roles: Vec<RoleName> = roles
        .into_iter()
        .filter(|r| *r != RoleName::Targets || sign_top)
        .collect();
    let keys = unlock_keys(session, td, &cfg, &key_roles)?;
    let signers = open_signers(session, td, &cfg, &delegated)?;
    let signing = Signing {
        keys: &keys,
        delegations: &signers,
        expiries: &expiries,
        now: req.now,
    };
    sign_and_deliver(td, &mut cfg, &stage, &signing, dest)
}

/// The keys of `roles`, decrypted: every key file must be there before any passphrase is
/// asked; passphrases are asked in turn, the keys decrypted together.
pub fn unlock_keys(
    session: &Session,
    td: &TrustDir,
    cfg: &RepoConfig,
    roles: &[RoleName],
) -> Result<BTreeMap<RoleName, MemorySigner>> {
    let mut paths = Vec::new();
    for role in roles {
        paths.push((*role, key_file(td, cfg, *role)?));
    }
    let mut unlock = Vec::new();
    for (role, path) in paths {
        let what = format!("the {role} key of {}", cfg.gun);
        let pass = session.with_prompter(|p| unlock_passphrase(KeyRole::from(role), &what, p))?;
        unlock.push((role, path, pass));
    }
    load_keys(cfg, &unlock)
}

/// Root metadata is signed only at init (and rotation): say so when it is about to expire.
fn warn_root_expiry(
    session: &Session,
    td: &TrustDir,
    gun: &Gun,
    dialect: Dialect,
    now: OffsetDateTime,
) -> Result<()> {
    let Some(bytes) = td.read_published(gun, "root.json")? else {
        return Ok(());
    };
    let root = SignedMeta::parse(RoleName::Root, bytes).map_err(Error::Metadata)?;
    let view: crate::tuf::model::Root = root.view("published root").map_err(Error::Metadata)?;
    let expires = dialect
        .parse_time(&view.common.expires)
        .map_err(Error::Metadata)?;
    if expires < now + time::Duration::days(90) {
        session.prompter().notice(&format!(
            "warning: the root metadata of {gun} expires at {}; clients refuse the repository \
             after that until root is signed again",
            dialect.format_time(expires)
        ));
    }
    Ok(())
}

/// What a publish signs with.
pub struct Signing<'a> {
    /// The keys on disk of the roles signed here, decrypted.
    pub keys: &'a BTreeMap<RoleName, MemorySigner>,
    /// The delegated roles' signers.
    pub delegations: &'a DelegationSigners,
    pub expiries: &'a Expiries,
    pub now: OffsetDateTime,
}

/// Signs a new version of targets and the delegated roles that changed (on top of what `dest`
/// holds), and of snapshot and timestamp unless `dest` signs them, and delivers them. The
/// caller holds the GUN's lock. On success, the publisher's copy and the config are updated
/// and the staged changes cleared; on failure `dest` and the stage are as they were.
pub fn sign_and_deliver(
    td: &TrustDir,
    cfg: &mut RepoConfig,
    stage: &Stage,
    signing: &Signing<'_>,
    dest: &mut dyn Destination,
) -> Result<Published> {
    dest.accepts(cfg)?;
    cfg.check_delegation_names()?;
    let gun = cfg.gun.clone();
    let dialect = cfg.dialect;
    let keys = signing.keys;
    let root = published_root(td, &gun)?;
    let ahead = dest.ahead(td, cfg, &root, signing.now)?;
    let base = |name: &str| -> Result<RoleContent> {
        let local = published_base(td, &gun, name)?;
        Ok(match ahead.roles.get(name) {
            Some((t, v)) if *v > local.1 => (t.clone(), *v),
            _ => local,
        })
    };
    let exp = |role: RoleName| signing.now + signing.expiries.get(role);
    let signed = sign_changes(
        td,
        cfg,
        stage,
        (keys, signing.delegations),
        &base,
        exp(RoleName::Targets),
    )?;
    // The current file of a role: the destination's when it is ahead of the publisher's copy.
    let current = |role: RoleName, ahead_version: u64| -> Result<Option<SignedMeta>> {
        let bytes = if ahead_version > cfg.version(role) {
            dest.fetch(&gun, role)?
        } else {
            td.read_published(&gun, &role.file_name())?
        };
        bytes
            .map(|b| SignedMeta::parse(role, b))
            .transpose()
            .map_err(Error::Metadata)
    };
    let snapshot = if cfg.server_signs(RoleName::Snapshot) {
        None
    } else {
        let loaded;
        let targets = match &signed.targets {
            Some(t) => t,
            None => {
                let version = ahead.roles.get(TARGETS).map_or(0, |t| t.1);
                loaded = current(RoleName::Targets, version)?.ok_or_else(|| {
                    Error::NotFound(format!("{gun}: the published targets.json is missing"))
                })?;
                &loaded
            }
        };
        let previous = current(RoleName::Snapshot, ahead.snapshot)?;
        let meta = snapshot_meta(cfg, previous.as_ref(), &root, targets, &signed.delegated)?;
        let version = cfg.version(RoleName::Snapshot).max(ahead.snapshot) + 1;
        let s = build::snapshot_of(dialect, version, exp(RoleName::Snapshot), meta);
        Some(sign_role(cfg, keys, RoleName::Snapshot, &s)?)
    };
    let timestamp = match (cfg.server_signs(RoleName::Timestamp), &snapshot) {
        (true, _) => None,
        (false, Some(sm)) => {
            let ts = build::timestamp(
                dialect,
                cfg.version(RoleName::Timestamp).max(ahead.timestamp) + 1,
                exp(RoleName::Timestamp),
                sm,
                cfg.tuf_options().meta_hashes,
            );
            Some(sign_role(cfg, keys, RoleName::Timestamp, &ts)?)
        }
        (false, None) => {
            return Err(Error::Metadata(format!(
                "{gun}: timestamp is signed here but snapshot by the server"
            )))
        }
    };
    let out = Outgoing {
        root: &root,
        targets: signed.targets.as_ref(),
        delegated: &signed.delegated,
        snapshot: snapshot.as_ref(),
        timestamp: timestamp.as_ref(),
        stage,
    };
    dest.deliver(td, cfg, &out)?;
    let others: Vec<&SignedMeta> = snapshot.iter().chain(timestamp.iter()).collect();
    record(td, cfg, stage, &signed, &others, dest.describe(&gun))
}
