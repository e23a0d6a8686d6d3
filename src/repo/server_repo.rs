//! A repository on notary-server: reading it (`ServerRemote`, for `list`/`verify`), the keys
//! the server holds (`server_key`, for `init --server`), and publishing to it
//! (`publish_to_server`): root (when the server does not have it yet, or has another),
//! targets and snapshot go up in one multipart request, and the server signs timestamp (and
//! snapshot, when it manages that key too).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use time::OffsetDateTime;

use super::client::{too_large, Remote, Updater, VerifyOptions};
use super::delegations::TARGETS;
use super::expiry::Expiries;
use super::publish::{
    published_base, published_root, record, sign_changes, sign_role, snapshot_meta,
    DelegationSigners, Published,
};
use super::server::{NotaryServer, RemoteKey};
use super::stage::Stage;
use super::trustdir::{Gun, RepoConfig, TrustDir};
use crate::keys::MemorySigner;
use crate::tuf::build;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{FileMeta, Key, KeyVal, RoleName};
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

/// notary-server as a [`Remote`]: `root.json` is `GET /v2/<gun>/_trust/tuf/root.json`, and so
/// on; a 404 is `None`, every other failure an error naming the server.
#[derive(Debug)]
pub struct ServerRemote {
    pub server: NotaryServer,
    pub gun: Gun,
}

impl Remote for ServerRemote {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        get_bounded(self, &self.server, &self.gun, name, max_len)
    }
    fn describe(&self) -> String {
        describe(&self.server, &self.gun)
    }
}

/// A [`ServerRemote`] that borrows the server.
struct Borrowed<'a> {
    server: &'a NotaryServer,
    gun: Gun,
}

impl Remote for Borrowed<'_> {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        get_bounded(self, self.server, &self.gun, name, max_len)
    }
    fn describe(&self) -> String {
        describe(self.server, &self.gun)
    }
}

/// `name` (`root.json`) from the server, within `max_len` bytes (the server's own response
/// limit applies too).
fn get_bounded(
    remote: &dyn Remote,
    server: &NotaryServer,
    gun: &Gun,
    name: &str,
    max_len: u64,
) -> Result<Option<Vec<u8>>> {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    let bytes = server.get_metadata(gun.as_str(), stem)?;
    if bytes.as_ref().is_some_and(|b| b.len() as u64 > max_len) {
        return Err(too_large(remote, name, max_len));
    }
    Ok(bytes)
}

fn describe(server: &NotaryServer, gun: &Gun) -> String {
    format!("{} ({})", server.url(), gun)
}

/// The public key the server holds for `role` (timestamp or snapshot) of `gun`, as root
/// metadata lists it. Until a root naming one is published, the server makes a new key on
/// every call: call this once per role and put exactly this key into root.
pub fn server_key(
    server: &NotaryServer,
    dialect: Dialect,
    gun: &Gun,
    role: RoleName,
) -> Result<Key> {
    if dialect != Dialect::Notary {
        return Err(Error::Usage(format!(
            "notary-server speaks the Notary dialect; {gun} uses the {dialect} dialect"
        )));
    }
    let remote = server.remote_key(gun.as_str(), role.as_str())?;
    listed_key(remote).map_err(|reason| Error::Server {
        url: server.url().to_string(),
        kind: crate::error::ServerFailure::BadResponse,
        reason: format!("the {role} key of {gun}: {reason}"),
    })
}

/// A key the server sent, checked (an ECDSA P-256 SubjectPublicKeyInfo), as root lists it.
pub(crate) fn listed_key(remote: RemoteKey) -> std::result::Result<Key, String> {
    if remote.keytype != crate::tuf::dialect::NOTARY_KEYTYPE_ECDSA {
        return Err(format!(
            "key type {:?} is not supported (trustkey verifies ecdsa P-256 keys)",
            remote.keytype
        ));
    }
    let der = B64
        .decode(remote.public_b64.as_bytes())
        .map_err(|_| "its public key is not base64".to_string())?;
    {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_der(&der)
            .map_err(|_| "not a P-256 SubjectPublicKeyInfo".to_string())?;
    }
    // Exactly the server's encoding: the server compares key IDs, which hash this text.
    Ok(Key {
        keytype: remote.keytype,
        keyval: KeyVal {
            public: remote.public_b64,
            extra: [("private".to_string(), serde_json::Value::Null)].into(),
        },
        extra: Default::default(),
    })
}

/// Signs targets (when it changed), the delegated roles that changed, and snapshot (unless the
/// server manages it), and uploads them, with root when the server does not have this root
/// yet, in one request. Only after the server accepted everything are the publisher's copy,
/// the versions and the config updated and the stage cleared; if the upload fails, nothing
/// local changes. The caller holds the GUN's lock.
#[allow(clippy::too_many_arguments)]
pub fn publish_to_server(
    td: &TrustDir,
    cfg: &mut RepoConfig,
    stage: &Stage,
    keys: &BTreeMap<RoleName, MemorySigner>,
    signers: &DelegationSigners,
    server: &NotaryServer,
    expiries: &Expiries,
    now: OffsetDateTime,
) -> Result<Published> {
    let gun = cfg.gun.clone();
    let dialect = cfg.dialect;
    if dialect != Dialect::Notary || !cfg.server_signs(RoleName::Timestamp) {
        return Err(not_for_server(&gun));
    }
    let root = published_root(td, &gun)?;
    // Root goes up with the first publish, and whenever the server's differs from ours.
    let on_server = server.get_metadata(gun.as_str(), "root")?;
    let send_root = on_server.as_deref() != Some(&root.bytes[..]);

    // Another client (notary with these keys, or another copy of this trust dir) may have
    // published since: build on what the server has, once it verifies against our root.
    let mut theirs: BTreeMap<String, (BTreeMap<String, FileMeta>, u64)> = BTreeMap::new();
    let mut their_snapshot = 0;
    if !send_root {
        let remote = Borrowed {
            server,
            gun: gun.clone(),
        };
        let client = Updater::new(
            td,
            &gun,
            &remote,
            VerifyOptions {
                dialect,
                root_key_id: Some(cfg.root_key_id.clone()),
                now,
            },
        );
        let verified = client.update().map_err(|e| match e {
            Error::Verify(e) => Error::Verify(crate::tuf::VerifyError::NotBuildingOn {
                repo: format!("{gun} on {}", server.url()),
                source: Box::new(e),
            }),
            other => other,
        })?;
        their_snapshot = verified
            .versions
            .get(&RoleName::Snapshot)
            .copied()
            .unwrap_or(0);
        for r in verified.roles {
            theirs.insert(r.name, (r.targets, r.version));
        }
    }
    let base = |name: &str| -> Result<(BTreeMap<String, FileMeta>, u64)> {
        let local = published_base(td, &gun, name)?;
        Ok(match theirs.get(name) {
            Some((t, v)) if *v > local.1 => (t.clone(), *v),
            _ => local,
        })
    };
    // The current file of a role: the server's when it is ahead of the publisher's copy.
    let current =
        |role: RoleName, local_version: u64, theirs_version: u64| -> Result<Option<SignedMeta>> {
            let bytes = if theirs_version > local_version {
                server.get_metadata(gun.as_str(), role.as_str())?
            } else {
                td.read_published(&gun, &role.file_name())?
            };
            bytes
                .map(|b| SignedMeta::parse(role, b))
                .transpose()
                .map_err(Error::Metadata)
        };

    let exp = |role: RoleName| now + expiries.get(role);
    let signed = sign_changes(
        td,
        cfg,
        stage,
        (keys, signers),
        &base,
        exp(RoleName::Targets),
    )?;
    let their_targets = theirs.get(TARGETS).map_or(0, |t| t.1);
    let snapshot_version = cfg.version(RoleName::Snapshot).max(their_snapshot) + 1;
    let sm = if cfg.server_signs(RoleName::Snapshot) {
        None
    } else {
        let tm = match &signed.targets {
            Some(t) => t.clone(),
            None => current(
                RoleName::Targets,
                cfg.version(RoleName::Targets),
                their_targets,
            )?
            .ok_or_else(|| Error::NotFound(format!("{gun}: no published targets.json")))?,
        };
        let previous = current(
            RoleName::Snapshot,
            cfg.version(RoleName::Snapshot),
            their_snapshot,
        )?;
        let meta = snapshot_meta(cfg, previous.as_ref(), &root, &tm, &signed.delegated)?;
        let s = build::snapshot_of(dialect, snapshot_version, exp(RoleName::Snapshot), meta);
        Some(sign_role(cfg, keys, RoleName::Snapshot, &s)?)
    };

    let mut files: Vec<(&str, &[u8])> = Vec::new();
    if send_root {
        files.push(("root", &root.bytes));
    }
    if let Some(t) = &signed.targets {
        files.push(("targets", &t.bytes));
    }
    for m in &signed.delegated {
        files.push((m.name.as_str(), &m.bytes));
    }
    if let Some(sm) = &sm {
        files.push(("snapshot", &sm.bytes));
    }
    server.publish(gun.as_str(), &files)?;

    // Accepted: the publisher's copy, then the versions, then the stage.
    let others: Vec<&SignedMeta> = sm.iter().collect();
    record(td, cfg, stage, &signed, &others, server.url().to_string())
}

/// A repository whose root names a timestamp key on disk cannot go to notary-server, which
/// signs timestamp with its own key.
pub fn not_for_server(gun: &Gun) -> Error {
    Error::Usage(format!(
        "{gun} was initialized for publishing to a directory: its root names a timestamp key \
         on disk, but notary-server signs timestamp with its own key, so the server would \
         refuse it; initialize the repository with `trustkey init {gun} --server URL` (or \
         publish it with --repo DIR)"
    ))
}

/// A repository whose timestamp (or snapshot) key the server holds cannot be published to a
/// directory: nobody here could sign timestamp.
pub fn not_for_dir(gun: &Gun, cfg: &RepoConfig) -> Error {
    let roles: Vec<&str> = cfg.server_roles.iter().map(|r| r.as_str()).collect();
    let url = cfg
        .server
        .as_ref()
        .map_or("its notary-server", |s| s.url.as_str());
    Error::Usage(format!(
        "{gun} is published to {url}, which holds its {} key: publish it with `trustkey \
         publish {gun}` (or -s URL), not --repo",
        roles.join(" and ")
    ))
}
