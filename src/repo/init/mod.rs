//! `init`, one flow for a repository published to a directory and one on notary-server: the
//! root key (named, or the one in reach), the keys of targets, snapshot and timestamp (new ones
//! on disk, an existing targets key, or the server's), root metadata signed on the token
//! (`create.rs`), and with `force` a repository re-created under a new root, its old keys
//! retired. Cheap checks and passphrases come first, the token PIN last.

mod create;

pub use create::{
    create, ensure_new, recreate, InitKey, Initialized, KeySource, NewKeyFiles, NewRepo,
    RootSigning, DISK_ROLES,
};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use super::delegations::{signers::new_bins_key, BinsConfig, KeyLocation};
use super::expiry::Expiries;
use super::inventory::find_targets_key;
use super::retire::retire_key_file;
use super::server_repo::{server_key, ServerAddress};
use super::trustdir::{Gun, RepoLock, TrustDir, TufOptions};
use crate::keys::discovery::{discover, RootFilter};
use crate::keys::public::KeySpec;
use crate::keys::store::load_signer;
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, Session, Signer};
use crate::repo::ceremony::RequestOut;
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::tuf::delegation::HashedBins;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// What `init` is asked to make.
#[derive(Debug)]
pub struct InitRequest<'a> {
    pub gun: &'a Gun,
    pub dialect: Dialect,
    /// tuf dialect: consistent snapshots and meta hashes.
    pub tuf: Option<TufOptions>,
    /// tuf dialect: hashed-bin delegations sharing one new key on disk.
    pub hashed_bins: Option<HashedBins>,
    /// The root key (default: the one root key in reach, [`RootFilter::Default`]).
    pub root: Option<KeyRef>,
    /// A threshold root: its keys (tokens, public key files) and threshold, and the request
    /// to write when the tokens at hand cannot sign it (`--request FILE`: always).
    pub threshold_root: Option<ThresholdRoot>,
    pub expiries: &'a Expiries,
    /// The notary-server that will hold the timestamp key (none: a repository published to
    /// a directory).
    pub server: ServerAddress,
    /// The server holds the snapshot key too.
    pub server_managed_snapshot: bool,
    /// A key in the trust dir (ID or unique prefix) to use as the targets key.
    pub targets_key: Option<&'a str>,
    /// Re-initialize an initialized repository under a new root.
    pub force: bool,
    pub now: OffsetDateTime,
}

/// `init --root-key ... --root-threshold M [--request FILE]`.
#[derive(Debug)]
pub struct ThresholdRoot {
    pub keys: Vec<KeySpec>,
    pub threshold: u64,
    pub request: Option<PathBuf>,
}

/// A repository published to notary-server cannot be re-initialized here.
fn on_server(td: &TrustDir, gun: &Gun) -> Error {
    Error::Usage(format!(
        "{gun} is published to a notary-server: delete the repository there first \
         (`notary delete {gun} --remote`), then remove {} and run init",
        td.gun_dir(gun).display()
    ))
}

/// Creates the repository `req` describes (see the module's documentation). A failed init
/// of a new GUN leaves the trust dir as it was: the directories it made for the GUN (its lock
/// among them) go again, removed while the lock is still held.
pub fn initialize(session: &Session, td: &TrustDir, req: &InitRequest<'_>) -> Result<Initialized> {
    let gun_dir = td.gun_dir(req.gun);
    // The GUN's directory and those above it up to the trust dir that do not exist yet.
    let new_dirs: Vec<PathBuf> = gun_dir
        .ancestors()
        .take_while(|d| d.starts_with(&td.root) && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    // private/ and the trust dir itself, if new: removed again only when left empty.
    let private = td.root.join("private");
    let new_top: Vec<PathBuf> = [private, td.root.clone()]
        .into_iter()
        .filter(|d| !d.exists())
        .collect();
    let mut lock = None;
    let result = initialize_locked(session, td, req, &mut lock);
    if result.is_err() && lock.is_some() {
        if let Some((gun, above)) = new_dirs.split_first() {
            // Only this init wrote below the GUN's directory (it holds the lock); a directory
            // above is removed only when empty (another GUN may have been made there).
            let _ = std::fs::remove_dir_all(gun);
            for d in above {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
    if result.is_err() {
        for d in &new_top {
            let _ = std::fs::remove_dir(d);
        }
    }
    drop(lock);
    result
}

fn initialize_locked(
    session: &Session,
    td: &TrustDir,
    req: &InitRequest<'_>,
    held: &mut Option<RepoLock>,
) -> Result<Initialized> {
    let gun = req.gun;
    if req.tuf.is_some() && req.dialect != Dialect::Tuf {
        return Err(Error::Usage(
            "--consistent-snapshot and --meta-hashes need --dialect tuf".into(),
        ));
    }
    if req.server.url.is_some() && req.dialect != Dialect::Notary {
        return Err(Error::Usage(format!(
            "-s/--server: notary-server speaks the Notary dialect, not {} (use --dialect notary)",
            req.dialect
        )));
    }
    if req.server_managed_snapshot && req.server.url.is_none() {
        return Err(Error::Usage(
            "--server-managed-snapshot needs the notary-server: add -s URL".into(),
        ));
    }
    if !req.force {
        ensure_new(td, gun)?;
    } else if let Ok(old) = td.load_config(gun) {
        if old.server.is_some() {
            return Err(on_server(td, gun));
        }
    }
    let existing = req
        .targets_key
        .map(|prefix| find_targets_key(td, prefix))
        .transpose()?;
    let server = req.server.resolve(None)?;
    if req.force && req.threshold_root.is_some() {
        return Err(Error::Usage(
            "--force re-creates a root of one key; a threshold root is changed with `root \
             rotate`"
                .into(),
        ));
    }
    let root_ref = match (&req.root, &req.threshold_root) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(
            discover(
                session,
                RootFilter::Default,
                &crate::repo::inventory::delegation_key_ids(td)?,
            )?
            .the_root()?,
        ),
    };
    *held = Some(td.lock(gun, |m| session.prompter().notice(m))?);
    let old = if req.force && td.config_path(gun).exists() {
        let old = td.load_config(gun)?;
        if old.server.is_some() {
            return Err(on_server(td, gun));
        }
        Some(old)
    } else {
        ensure_new(td, gun)?;
        None
    };
    let mut sources = BTreeMap::new();
    if let Some((srv, _)) = &server {
        if srv.get_metadata(gun.as_str(), "root")?.is_some() {
            return Err(Error::Usage(format!(
                "{gun} already exists on {} (it has a root.json); choose another GUN, or \
                 publish from the trust dir that initialized it",
                srv.url()
            )));
        }
        // Fetched once: until root names it, the server makes a new key on every request.
        let ts = server_key(srv, req.dialect, gun, RoleName::Timestamp)?;
        sources.insert(RoleName::Timestamp, KeySource::Server(ts));
        if req.server_managed_snapshot {
            let sn = server_key(srv, req.dialect, gun, RoleName::Snapshot)?;
            sources.insert(RoleName::Snapshot, KeySource::Server(sn));
        }
    }
    if let Some(path) = existing {
        let what = format!("the targets key {}", path.display());
        let pass = session.with_prompter(|p| unlock_passphrase(KeyRole::Targets, &what, p))?;
        let (key, _) = load_signer(&path, &pass, &what)?;
        let key_id = canonical_key_id(key.public_key());
        if path.file_stem().and_then(|s| s.to_str()) != Some(key_id.as_str()) {
            return Err(Error::KeyFile {
                path: path.clone(),
                reason: format!("it holds the key {key_id}, not the one its name says"),
            });
        }
        let public = *key.public_key();
        sources.insert(RoleName::Targets, KeySource::Existing { key_id, public });
    }
    for role in DISK_ROLES {
        if sources.contains_key(&role) {
            continue;
        }
        let what = format!("the new {role} key of {gun}");
        let p = session.with_prompter(|p| new_passphrase(KeyRole::from(role), &what, p))?;
        sources.insert(role, KeySource::New(p));
    }
    let bins_pass = match req.hashed_bins {
        Some(_) => Some(session.with_prompter(|p| {
            new_passphrase(
                KeyRole::Delegation,
                &format!("the hashed bins key of {gun}"),
                p,
            )
        })?),
        None => None,
    };
    let (signer, threshold_keys) = match (&root_ref, &req.threshold_root) {
        (Some(r), _) => (Some(session.open_signer(r)?), None),
        (None, Some(t)) => {
            let keys = crate::repo::ceremony::root_keys(
                session,
                &crate::repo::ceremony::RootKeysRequest {
                    dialect: req.dialect,
                    gun,
                    specs: &t.keys,
                    threshold: t.threshold,
                    current: None,
                    now: req.now,
                    expires: req.now + req.expiries.get(RoleName::Root),
                },
            )?;
            (None, Some(keys))
        }
        (None, None) => return Err(Error::Usage("init needs a root key".into())),
    };
    let root_ref = root_ref.map(|r| r.to_string()).unwrap_or_default();
    let root = match (&signer, &threshold_keys, &req.threshold_root) {
        (Some(s), _, _) => RootSigning::Token {
            reference: &root_ref,
            signer: s.as_ref(),
        },
        (None, Some(keys), Some(t)) => RootSigning::Threshold {
            keys,
            out: match &t.request {
                Some(p) => RequestOut::To(p.clone()),
                None => RequestOut::IfNeeded,
            },
        },
        _ => return Err(Error::Usage("init needs a root key".into())),
    };
    let repo = NewRepo {
        gun,
        dialect: req.dialect,
        tuf: req.tuf,
        root,
        sources: &sources,
        server: server.map(|(_, c)| c),
        expiries: req.expiries,
        now: req.now,
    };
    // The key files of a new repository go again if a later step fails (its GUN's directory
    // goes too); those of a re-created one stay, its saved config names them.
    let mut written = NewKeyFiles::default();
    let done = match &old {
        None => {
            let done = create(td, &repo)?;
            written = NewKeyFiles::new(done.written.clone());
            done
        }
        Some(old) => {
            let done = recreate(td, old, &repo)?;
            for role in DISK_ROLES {
                if let Ok(id) = old.key_file_id(role) {
                    retire_key_file(td, id)?;
                }
            }
            session.prompter().notice(&format!(
                "re-initialized {gun} under a new root (the old keys are retired): clients that \
                 trusted the old root fail with `could not validate the path to a trusted root` \
                 until they re-pin"
            ));
            done
        }
    };
    if let (Some(b), Some(pass)) = (req.hashed_bins, &bins_pass) {
        let mut cfg = td.load_config(gun)?;
        let key = new_bins_key(td, req.dialect, pass)?;
        if let KeyLocation::File { key_file_id } = &key.location {
            written.add(td.key_path(key_file_id));
        }
        session.prompter().notice(&format!(
            "{} hashed bins ({} .. {}), signed with the key {}",
            b.count,
            b.name(0),
            b.name(b.count.saturating_sub(1)),
            key.location
        ));
        cfg.hashed_bins = Some(BinsConfig {
            count: b.count,
            key,
        });
        td.save_config(&cfg)?;
    }
    written.keep();
    Ok(done)
}
