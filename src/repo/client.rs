//! The verifying client: pins the root on first use (or to `--root-keyid`), keeps its trusted
//! state apart from the publisher's (`TRUSTDIR/tuf/<gun>/client/`), and checks everything a
//! Notary client checks. Each failure is one line (`Error::Verify`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::trustdir::{read_optional, Gun, TrustDir};
use crate::fsio::{self, Overwrite};
use crate::keys::canonical_key_id;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{FileMeta, MetaList, RoleName, Root, Targets};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::tuf::{RootPathError, VerifyError};
use crate::{Error, Result};

mod delegations;
mod tuf;

/// Where metadata is read from: a directory now, notary-server later.
pub trait Remote {
    /// The file `name` (`root.json`, `2.root.json`, ...), or `None` if the remote has none.
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>>;
    fn describe(&self) -> String;
}

/// A static repository: `DIR/<gun>/*.json`.
#[derive(Debug, Clone)]
pub struct DirRemote {
    pub dir: PathBuf,
}

impl Remote for DirRemote {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        read_optional(&self.dir.join(name))
    }
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }
}

/// What the client trusts after a successful update.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustedState {
    pub versions: BTreeMap<RoleName, u64>,
    /// The versions of delegated roles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delegations: BTreeMap<String, u64>,
}

/// The result of a successful update.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub gun: Gun,
    pub versions: BTreeMap<RoleName, u64>,
    /// The root key IDs the client now trusts (as listed in root metadata).
    pub root_key_ids: Vec<String>,
    /// targets, then the delegated roles in the order they were visited, each with the
    /// targets it provides (a target is in one role only).
    pub roles: Vec<VerifiedRole>,
    /// Targets listed by a delegated role outside the paths delegated to it: not trusted.
    pub rejected: Vec<Rejected>,
    /// Whether this run pinned the root (first use).
    pub pinned_now: bool,
}

/// A target a role lists but may not sign.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub role: String,
    pub target: String,
    pub reason: String,
}

/// A verified targets role and the targets it provides.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedRole {
    pub name: String,
    pub version: u64,
    pub targets: BTreeMap<String, FileMeta>,
}

impl Verified {
    /// A target and the role that provides it.
    pub fn target(&self, name: &str) -> Option<(&str, &FileMeta)> {
        self.roles
            .iter()
            .find_map(|r| r.targets.get(name).map(|m| (r.name.as_str(), m)))
    }

    pub fn target_count(&self) -> usize {
        self.roles.iter().map(|r| r.targets.len()).sum()
    }

    /// The versions of the delegated roles.
    pub fn delegation_versions(&self) -> BTreeMap<String, u64> {
        self.roles
            .iter()
            .skip(1)
            .map(|r| (r.name.clone(), r.version))
            .collect()
    }
}

fn fail(e: VerifyError) -> Error {
    Error::Verify(e)
}

/// Metadata that does not parse (the parser's line).
fn malformed(msg: String) -> Error {
    Error::Verify(VerifyError::Malformed(msg))
}

fn path_fail(reason: RootPathError) -> Error {
    Error::Verify(VerifyError::UntrustedRoot(reason))
}

/// A root that cannot be read, as a root path failure.
fn path_invalid(e: VerifyError) -> Error {
    path_fail(RootPathError::Invalid(Box::new(e)))
}

/// Options of one verification.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub dialect: Dialect,
    /// The root must have a key with this ID (root metadata's ID, or the bare key's ID);
    /// checked on first use and on every later run it is given.
    pub root_key_id: Option<String>,
    pub now: OffsetDateTime,
}

pub struct Client<'a> {
    gun: Gun,
    state_dir: PathBuf,
    remote: &'a dyn Remote,
    opts: VerifyOptions,
}

impl<'a> Client<'a> {
    pub fn new(td: &TrustDir, gun: &Gun, remote: &'a dyn Remote, opts: VerifyOptions) -> Self {
        Client {
            gun: gun.clone(),
            state_dir: td.client_dir(gun),
            remote,
            opts,
        }
    }

    fn fetch(&self, role: RoleName) -> Result<SignedMeta> {
        Ok(self.fetch_with(role, &role.file_name(), |_| ())?.0)
    }

    /// Fetches and parses the file `name` of `role`, running `then` on it while it is hashed.
    fn fetch_with<R>(
        &self,
        role: RoleName,
        name: &str,
        then: impl FnOnce(&SignedMeta) -> R,
    ) -> Result<(SignedMeta, R)> {
        let bytes = self.remote.get(name)?.ok_or_else(|| {
            fail(VerifyError::Missing {
                role: role.to_string(),
                file: name.to_string(),
                remote: self.remote.describe(),
            })
        })?;
        SignedMeta::parse_named_with(role, role.as_str(), bytes, then).map_err(malformed)
    }

    /// Top-level targets (the file `name`): signatures checked and its view parsed while it
    /// is hashed, then its entry in snapshot, `_type`, version and expiry. TUF 1.0 (5.6) checks
    /// the snapshot entry first; notary reports a bad signature first.
    fn targets(
        &self,
        name: &str,
        set: &RoleKeySet,
        snapshot: &MetaList,
        state: &TrustedState,
    ) -> Result<Targets> {
        let d = self.opts.dialect;
        let (tg, checked) = self.fetch_with(RoleName::Targets, name, |m| {
            verify::signatures_and_view::<Targets>(d, m, set, "targets")
        })?;
        let in_snapshot = || verify::meta_matches(d, &tg, RoleName::Snapshot, &snapshot.meta);
        let view = match d {
            Dialect::Tuf => {
                in_snapshot().map_err(fail)?;
                checked.map_err(fail)?
            }
            Dialect::Notary => {
                let view = checked.map_err(fail)?;
                in_snapshot().map_err(fail)?;
                view
            }
        };
        let view = view.map_err(fail)?;
        self.check_common(RoleName::Targets, &view.common, state)?;
        Ok(view)
    }

    fn load_state(&self) -> Result<(Option<SignedMeta>, TrustedState)> {
        let root = read_optional(&self.state_dir.join("root.json"))?
            .map(|b| SignedMeta::parse(RoleName::Root, b))
            .transpose()
            .map_err(|e| Error::Metadata(format!("trusted state: {e}")))?;
        let state = match read_optional(&self.state_dir.join("state.json"))? {
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::Metadata(format!("{}/state.json: {e}", self.state_dir.display()))
            })?,
            None => TrustedState::default(),
        };
        Ok((root, state))
    }

    fn save_state(&self, root: &SignedMeta, state: &TrustedState) -> Result<()> {
        fsio::create_private_dir(&self.state_dir)?;
        fsio::write_atomic(
            &self.state_dir.join("root.json"),
            &root.bytes,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )?;
        let mut b = serde_json::to_vec_pretty(state).expect("state serializes");
        b.push(b'\n');
        fsio::write_atomic(
            &self.state_dir.join("state.json"),
            &b,
            fsio::PUBLIC_FILE_MODE,
            Overwrite::Replace,
        )
    }

    /// Downloads and verifies root, timestamp, snapshot and targets; on success the new state
    /// is trusted from then on.
    pub fn update(&self) -> Result<Verified> {
        let d = self.opts.dialect;
        // The two dialects' clients walk roots differently (TUF 1.0: N+1.root.json until none,
        // versioned snapshot and targets names): that workflow lives in `client/tuf.rs`.
        match d {
            Dialect::Tuf => return self.update_tuf(),
            Dialect::Notary => {}
        }
        let now = self.opts.now;
        let latest_bytes = self.remote.get("root.json")?.ok_or_else(|| {
            Error::NotFound(format!(
                "no repository {} at {} (root.json not found)",
                self.gun,
                self.remote.describe()
            ))
        })?;
        let latest = SignedMeta::parse(RoleName::Root, latest_bytes).map_err(malformed)?;
        let (trusted, state) = self.load_state()?;
        let pinned_now = trusted.is_none();

        let root = match trusted {
            None => self.first_use(&latest)?,
            Some(t) => self.chain(&t, latest)?,
        };
        // On every run, not only when the root changes: the certificates' CN and validity, and
        // the pin if one is given.
        let (_, root_set) = self.root_keys(&root)?;
        self.check_pin(&root_set)?;
        let root_view: Root = root.view("root").map_err(malformed)?;
        verify::type_name(d, RoleName::Root, "root", &root_view.common).map_err(fail)?;
        verify::version(
            "root",
            root_view.common.version,
            state.versions.get(&RoleName::Root).copied(),
        )
        .map_err(fail)?;
        verify::expiry(d, "root", &root_view.common, now).map_err(fail)?;
        let set = |role| RoleKeySet::from_root(d, &root_view, role).map_err(fail);

        // timestamp
        let ts = self.fetch(RoleName::Timestamp)?;
        verify::signatures(d, &ts, &set(RoleName::Timestamp)?).map_err(fail)?;
        let ts_view: MetaList = ts.view("timestamp").map_err(malformed)?;
        self.check_common(RoleName::Timestamp, &ts_view.common, &state)?;

        // snapshot
        let sn = self.fetch(RoleName::Snapshot)?;
        verify::signatures(d, &sn, &set(RoleName::Snapshot)?).map_err(fail)?;
        verify::meta_matches(d, &sn, RoleName::Timestamp, &ts_view.meta).map_err(fail)?;
        let sn_view: MetaList = sn.view("snapshot").map_err(malformed)?;
        self.check_common(RoleName::Snapshot, &sn_view.common, &state)?;
        // The Notary dialect lists root in snapshot: the root we trust must be that one.
        if sn_view.meta.contains_key("root") {
            verify::meta_matches(d, &root, RoleName::Snapshot, &sn_view.meta).map_err(fail)?;
        }

        // targets
        let tg_view = self.targets(
            &RoleName::Targets.file_name(),
            &set(RoleName::Targets)?,
            &sn_view,
            &state,
        )?;

        self.trust(
            &root,
            &root_view,
            [ts_view.common.version, sn_view.common.version],
            state,
            tg_view,
            &sn_view,
            pinned_now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    /// Everything verified: these versions are trusted from now on (both dialects end here).
    fn trust(
        &self,
        root: &SignedMeta,
        root_view: &Root,
        [timestamp, snapshot]: [u64; 2],
        mut state: TrustedState,
        targets: Targets,
        snapshot_view: &MetaList,
        pinned_now: bool,
    ) -> Result<Verified> {
        let targets_version = targets.common.version;
        let mut rejected = Vec::new();
        let roles = self.walk_delegations(
            targets,
            snapshot_view,
            root_view.consistent_snapshot,
            &mut state,
            &mut rejected,
        )?;
        state.versions = BTreeMap::from([
            (RoleName::Root, root_view.common.version),
            (RoleName::Timestamp, timestamp),
            (RoleName::Snapshot, snapshot),
            (RoleName::Targets, targets_version),
        ]);
        self.save_state(root, &state)?;
        Ok(Verified {
            gun: self.gun.clone(),
            versions: state.versions,
            root_key_ids: root_view
                .role(RoleName::Root)
                .map(|r| r.keyids.clone())
                .unwrap_or_default(),
            roles,
            rejected,
            pinned_now,
        })
    }

    fn check_common(
        &self,
        role: RoleName,
        common: &crate::tuf::model::Common,
        state: &TrustedState,
    ) -> Result<()> {
        let d = self.opts.dialect;
        let name = role.as_str();
        verify::type_name(d, role, name, common).map_err(fail)?;
        verify::spec_version(d, name, common).map_err(fail)?;
        verify::version(name, common.version, state.versions.get(&role).copied()).map_err(fail)?;
        verify::expiry(d, name, common, self.opts.now).map_err(fail)
    }

    /// The root keys of `root`, with the certificate checks of the Notary dialect (CN = GUN,
    /// within validity) for each.
    fn root_keys(&self, root: &SignedMeta) -> Result<(Root, RoleKeySet)> {
        let d = self.opts.dialect;
        let v: Root = root
            .view("root")
            .map_err(|e| path_invalid(VerifyError::Malformed(e)))?;
        let set = RoleKeySet::from_root(d, &v, RoleName::Root).map_err(path_invalid)?;
        if d.root_has_certificate() {
            for (id, pk) in &set.keys {
                let Some(c) = &pk.cert else {
                    return Err(path_fail(RootPathError::NotCertificate {
                        key: verify::short(id).to_string(),
                    }));
                };
                if c.common_name != self.gun.as_str() {
                    return Err(path_fail(RootPathError::CertificateName {
                        key: verify::short(id).to_string(),
                        common_name: c.common_name.clone(),
                        gun: self.gun.to_string(),
                    }));
                }
                if self.opts.now < c.not_before || self.opts.now > c.not_after {
                    return Err(path_fail(RootPathError::CertificateNotValidNow {
                        key: verify::short(id).to_string(),
                        not_before: d.format_time(c.not_before),
                        not_after: d.format_time(c.not_after),
                    }));
                }
            }
        }
        Ok((v, set))
    }

    /// First use: the root must be signed by its own root keys, and match `--root-keyid`.
    fn first_use(&self, latest: &SignedMeta) -> Result<SignedMeta> {
        let (_, set) = self.root_keys(latest)?;
        self.check_pin(&set)?;
        verify::signatures(self.opts.dialect, latest, &set)
            .map_err(|e| path_fail(RootPathError::NotSelfSigned(Box::new(e))))?;
        Ok(latest.clone())
    }

    /// `--root-keyid`: one of the root keys must have this ID (as root metadata lists it, or
    /// the bare key's canonical ID, as `root list` shows it).
    fn check_pin(&self, set: &RoleKeySet) -> Result<()> {
        if let Some(pin) = &self.opts.root_key_id {
            let matches = set
                .keys
                .iter()
                .any(|(id, pk)| id == pin || canonical_key_id(&pk.key) == *pin);
            if !matches {
                return Err(path_fail(RootPathError::PinMismatch { pin: pin.clone() }));
            }
        }
        Ok(())
    }

    /// A later run: `latest` must be the trusted root, or reachable from it one version at a
    /// time, each version signed by the previous root's keys and by its own.
    fn chain(&self, trusted: &SignedMeta, latest: SignedMeta) -> Result<SignedMeta> {
        let tv: Root = trusted.view("trusted root").map_err(Error::Metadata)?;
        let lv: Root = latest.view("root").map_err(malformed)?;
        let (tn, ln) = (tv.common.version, lv.common.version);
        if ln < tn {
            return Err(fail(VerifyError::Rollback {
                role: "root".into(),
                trusted: tn,
                new: ln,
            }));
        }
        if latest.bytes == trusted.bytes {
            return Ok(latest);
        }
        let mut prev = trusted.clone();
        for n in tn + 1..=ln {
            let name = format!("{n}.root.json");
            let bytes = match self.remote.get(&name)? {
                Some(b) => b,
                None if n == ln => latest.bytes.to_vec(),
                None => {
                    return Err(path_fail(RootPathError::Missing {
                        file: name,
                        remote: self.remote.describe(),
                    }))
                }
            };
            let next = SignedMeta::parse(RoleName::Root, bytes)
                .map_err(|e| path_invalid(VerifyError::Malformed(e)))?;
            self.step(&prev, &next, n)?;
            prev = next;
        }
        if prev.bytes != latest.bytes {
            // root.json differs from the last N.root.json: it must chain too.
            self.step(&prev, &latest, ln)?;
            prev = latest;
        }
        Ok(prev)
    }

    /// `next` (expected version `n`) signed by `prev`'s root keys and by its own.
    fn step(&self, prev: &SignedMeta, next: &SignedMeta, n: u64) -> Result<()> {
        let d = self.opts.dialect;
        let (_, prev_set) = self.root_keys_unchecked(prev)?;
        verify::signatures(d, next, &prev_set)
            .map_err(|_| path_fail(RootPathError::NotSignedByTrusted))?;
        // Intermediate roots may have expired since; the final root's certificates are checked
        // by `update`.
        let (nv, own) = self
            .root_keys_unchecked(next)
            .map_err(|e| path_invalid(VerifyError::Malformed(e.to_string())))?;
        if nv.common.version != n {
            return Err(path_fail(RootPathError::UnexpectedVersion {
                found: nv.common.version,
                expected: n,
            }));
        }
        verify::signatures(d, next, &own)
            .map_err(|e| path_fail(RootPathError::NotSelfSigned(Box::new(e))))?;
        Ok(())
    }

    /// The root keys of a root, without the certificate checks (a trusted or intermediate root).
    fn root_keys_unchecked(&self, root: &SignedMeta) -> Result<(Root, RoleKeySet)> {
        let v: Root = root.view("trusted root").map_err(Error::Metadata)?;
        let set = RoleKeySet::from_root(self.opts.dialect, &v, RoleName::Root)
            .map_err(|e| Error::Metadata(e.to_string()))?;
        Ok((v, set))
    }
}

/// Checks a local file against a target's entry: length, sha256 and sha512 (one pass).
pub fn check_target_file(dialect: Dialect, v: &Verified, name: &str, file: &Path) -> Result<()> {
    let (role, meta) =
        v.target(name)
            .ok_or_else(|| match v.rejected.iter().find(|r| r.target == name) {
                Some(r) => fail(VerifyError::TargetRejected {
                    target: name.to_string(),
                    reason: r.reason.clone(),
                }),
                None => fail(VerifyError::UnknownTarget {
                    target: name.to_string(),
                }),
            })?;
    let d = crate::repo::hashing::hash_file(file, &|_| {})
        .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    verify::file_meta(
        dialect,
        &format!("target {name:?} ({})", file.display()),
        role,
        verify::Digests {
            length: d.length,
            sha256: &d.sha256,
            sha512: &d.sha512,
        },
        meta,
    )
    .map_err(fail)
}
