//! The trusted set: what the client has verified so far, with no I/O. Metadata comes in as
//! bytes, in the order of the specification (python-tuf's `TrustedMetadataSet`):
//!
//! 1. a root: the one an earlier update trusted ([`TrustedSet::new`]), or on first use one
//!    signed by its own root keys and matching the pin ([`TrustedSet::first_use`]);
//! 2. [`update_root`](TrustedSet::update_root), once per root version: signed by the trusted
//!    root's keys and by its own, with exactly the next version (Notary:
//!    [`latest_root`](TrustedSet::latest_root) first, naming the root to reach);
//! 3. [`update_timestamp`](TrustedSet::update_timestamp), which first checks the final root
//!    ([`close_root`](TrustedSet::close_root): certificates, pin, type, version, expiry);
//! 4. [`update_snapshot`](TrustedSet::update_snapshot), then
//!    [`update_targets`](TrustedSet::update_targets);
//! 5. [`update_delegated_targets`](TrustedSet::update_delegated_targets) for each delegated
//!    role, parents first ([`next_delegation`](TrustedSet::next_delegation) names them in
//!    the order clients search them); then [`finish`](TrustedSet::finish).
//!
//! A call out of this order is an error (`VerifyError::OutOfOrder`), not a panic. The time
//! (`now`) and the versions trusted before come in as inputs. The two dialects share every
//! step; what only one of them does is in `notary.rs` (the walk up to `root.json`, the root
//! snapshot lists) and `tuf.rs` (the versions timestamp and snapshot list, forgetting
//! versions when their keys rotate), and where they order checks differently the step says
//! so. Delegated roles are in `delegated.rs`.

use std::collections::BTreeMap;

use super::{PinMatch, TrustedState, Verified, VerifiedRole, VerifyOptions};
use crate::repo::delegations::TARGETS;
use crate::repo::trustdir::Gun;
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::{canonical_key_id, RootKeyIds};
use crate::tuf::model::{Common, MetaList, RoleName, Root, Targets};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::tuf::{RootPathError, VerifyError};
use crate::{Error, Result};

mod delegated;
mod local;
mod lookup;
mod notary;
#[cfg(test)]
mod tests;
mod tuf;

pub use delegated::{CheckedRole, NextRole};
pub use lookup::{Lookup, Step, MAX_DELEGATIONS};

/// Where an update stands: each step is allowed only after the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Root versions may still come.
    Root,
    /// The final root is checked; timestamp is next.
    RootClosed,
    Timestamp,
    Snapshot,
    /// Targets is trusted; delegated roles may come.
    Targets,
}

/// The trusted metadata of one update (see the module docs).
#[derive(Debug)]
pub struct TrustedSet {
    gun: Gun,
    opts: VerifyOptions,
    /// The versions trusted before this update.
    prior: TrustedState,
    pinned_now: bool,
    /// The root key `--root-keyid` matched in the root last checked.
    pin_match: Option<PinMatch>,
    phase: Phase,
    root: SignedMeta,
    root_view: Root,
    /// The root this update started from (TUF 1.0 5.3.11 compares its keys).
    start: Root,
    /// Notary: the root the remote serves as `root.json`, and its version, which the walk
    /// of root versions must reach.
    latest: Option<(SignedMeta, u64)>,
    timestamp: Option<MetaList>,
    snapshot: Option<MetaList>,
    walk: delegated::Walk,
    /// What a client's metadata directory held, checked (`local.rs`).
    local: local::Local,
}

/// What a successful update trusts from now on.
#[derive(Debug)]
pub struct Trusted {
    pub verified: Verified,
    /// The versions to store for the next update.
    pub state: TrustedState,
    /// The root to store for the next update.
    pub root: SignedMeta,
}

fn fail(e: VerifyError) -> Error {
    Error::Verify(e)
}

/// Metadata that does not parse (the parser's line).
fn malformed(msg: String) -> Error {
    fail(VerifyError::Malformed(msg))
}

fn path_fail(reason: RootPathError) -> Error {
    fail(VerifyError::UntrustedRoot(reason))
}

/// A root that cannot be read, as a root path failure.
fn path_invalid(e: VerifyError) -> Error {
    path_fail(RootPathError::Invalid(Box::new(e)))
}

fn out_of_order(call: &'static str, reason: &'static str) -> Error {
    fail(VerifyError::OutOfOrder { call, reason })
}

impl TrustedSet {
    /// Starts from the root an earlier update trusted (`root`, as stored), and the versions
    /// trusted then. A stored root that cannot be read leaves no trusted root to start from:
    /// a verification failure (`UntrustedRoot`, exit 5, with the hint to re-pin), in both
    /// dialects.
    pub fn new(
        gun: &Gun,
        opts: &VerifyOptions,
        root: Vec<u8>,
        prior: TrustedState,
    ) -> Result<Self> {
        let unreadable =
            |e: String| path_invalid(VerifyError::Malformed(format!("trusted state: {e}")));
        let root = SignedMeta::parse(RoleName::Root, root).map_err(unreadable)?;
        let view = root.view("trusted root").map_err(unreadable)?;
        Ok(Self::start(gun, opts, root, view, prior, false))
    }

    /// First use: `root` must be signed by a threshold of its own root keys (whose
    /// certificates, in the Notary dialect, must be for this GUN and valid now), and match
    /// the pinned root key ID if one is given. `prior`: versions still known from an earlier
    /// update whose root is gone (usually none).
    pub fn first_use(
        gun: &Gun,
        opts: &VerifyOptions,
        root: Vec<u8>,
        prior: TrustedState,
    ) -> Result<Self> {
        let root = SignedMeta::parse(RoleName::Root, root).map_err(malformed)?;
        let (view, set) = root_keys(gun, opts, &root)?;
        let pin_match = check_pin(opts, &set)?;
        verify::signatures(opts.dialect, &root, &set)
            .map_err(|e| path_fail(RootPathError::NotSelfSigned(Box::new(e))))?;
        let mut t = Self::start(gun, opts, root, view, prior, true);
        t.pin_match = pin_match;
        Ok(t)
    }

    fn start(
        gun: &Gun,
        opts: &VerifyOptions,
        root: SignedMeta,
        view: Root,
        prior: TrustedState,
        pinned_now: bool,
    ) -> Self {
        TrustedSet {
            gun: gun.clone(),
            opts: opts.clone(),
            prior,
            pinned_now,
            pin_match: None,
            phase: Phase::Root,
            root,
            start: view.clone(),
            root_view: view,
            latest: None,
            timestamp: None,
            snapshot: None,
            walk: delegated::Walk::default(),
            local: local::Local::default(),
        }
    }

    fn dialect(&self) -> Dialect {
        self.opts.dialect
    }

    /// The version of the root trusted now.
    pub fn root_version(&self) -> u64 {
        self.root_view.common.version
    }

    /// Whether the trusted root asks for consistent snapshots (versioned file names).
    pub fn consistent_snapshot(&self) -> bool {
        self.root_view.consistent_snapshot
    }

    /// The version of `role` its parent lists: snapshot's in timestamp, targets' in
    /// snapshot (once those are trusted).
    pub fn listed_version(&self, role: RoleName) -> Option<u64> {
        let parent = match role {
            RoleName::Snapshot => self.timestamp.as_ref(),
            RoleName::Targets => self.snapshot.as_ref(),
            RoleName::Root | RoleName::Timestamp => None,
        }?;
        parent.meta.get(&self.dialect().meta_name(role))?.version
    }

    /// The length `role`'s parent lists for it (snapshot's in timestamp, targets' in
    /// snapshot), if it lists one: the most the client reads of it.
    pub fn listed_length(&self, role: RoleName) -> Option<u64> {
        let parent = match role {
            RoleName::Snapshot => self.timestamp.as_ref(),
            RoleName::Targets => self.snapshot.as_ref(),
            RoleName::Root | RoleName::Timestamp => None,
        }?;
        parent.meta.get(&self.dialect().meta_name(role))?.length
    }

    /// The sha256 (hex) `role`'s parent lists for it, if it lists one: notary serves a
    /// role's file under it too (`targets.<hex>.json`), an unchanging name.
    pub fn listed_sha256(&self, role: RoleName) -> Option<String> {
        let parent = match role {
            RoleName::Snapshot => self.timestamp.as_ref(),
            RoleName::Targets => self.snapshot.as_ref(),
            RoleName::Root | RoleName::Timestamp => None,
        }?;
        sha256_hex(
            self.dialect(),
            parent.meta.get(&self.dialect().meta_name(role))?,
        )
    }

    /// One step of root rotation: `bytes` is the next root version, signed by a threshold of
    /// the trusted root's keys and of its own. It is trusted from then on.
    pub fn update_root(&mut self, bytes: Vec<u8>) -> Result<()> {
        if self.phase != Phase::Root {
            return Err(out_of_order(
                "update_root",
                "the root is final once timestamp is checked",
            ));
        }
        let next = SignedMeta::parse(RoleName::Root, bytes)
            .map_err(|e| path_invalid(VerifyError::Malformed(e)))?;
        let version = self.root_version();
        let expected = version
            .checked_add(1)
            .ok_or_else(|| path_fail(RootPathError::NoNextVersion { version }))?;
        self.step(next, expected)
    }

    /// `next` (expected version `n`) signed by the trusted root's keys and by its own.
    /// Intermediate roots may have expired since; the final root is checked by `close_root`.
    fn step(&mut self, next: SignedMeta, n: u64) -> Result<()> {
        let d = self.dialect();
        let prev_set = RoleKeySet::from_root(d, &self.root_view, RoleName::Root)
            .map_err(|e| Error::Metadata(e.to_string()))?;
        verify::signatures(d, &next, &prev_set)
            .map_err(|_| path_fail(RootPathError::NotSignedByTrusted))?;
        let nv: Root = next
            .view("trusted root")
            .map_err(|e| path_invalid(VerifyError::Malformed(e)))?;
        let own = RoleKeySet::from_root(d, &nv, RoleName::Root).map_err(path_invalid)?;
        if nv.common.version != n {
            return Err(path_fail(RootPathError::UnexpectedVersion {
                found: nv.common.version,
                expected: n,
            }));
        }
        verify::signatures(d, &next, &own)
            .map_err(|e| path_fail(RootPathError::NotSelfSigned(Box::new(e))))?;
        self.root = next;
        self.root_view = nv;
        Ok(())
    }

    /// No more root versions: the root reached must be the latest one (Notary), and is
    /// checked as final on every run, not only when it changes: its certificates (Notary),
    /// the pin, `_type`, version (no rollback) and expiry. TUF 1.0 (5.3.11): if the
    /// timestamp or snapshot keys changed, the trusted timestamp and snapshot versions are
    /// forgotten (recovery from a fast-forward attack). `update_timestamp` calls this if the
    /// caller has not.
    pub fn close_root(&mut self) -> Result<()> {
        match self.phase {
            Phase::Root => {}
            Phase::RootClosed => return Ok(()),
            _ => return Err(out_of_order("close_root", "timestamp is already trusted")),
        }
        if let Some((latest, ln)) = self.latest.take() {
            if latest.bytes != self.root.bytes {
                // root.json differs from the last N.root.json: it must chain too.
                self.step(latest, ln)?;
            }
        }
        let (_, set) = root_keys(&self.gun, &self.opts, &self.root)?;
        self.pin_match = check_pin(&self.opts, &set)?;
        self.check_common(RoleName::Root, &self.root_view.common)?;
        if self.dialect() == Dialect::Tuf {
            self.forget_if_keys_rotated();
        }
        self.phase = Phase::RootClosed;
        Ok(())
    }

    /// The keys the trusted root gives `role`.
    fn keys(&self, role: RoleName) -> Result<RoleKeySet> {
        RoleKeySet::from_root(self.dialect(), &self.root_view, role).map_err(fail)
    }

    /// `_type`, `spec_version`, version (no rollback) and expiry of a top-level role.
    fn check_common(&self, role: RoleName, common: &Common) -> Result<()> {
        let d = self.dialect();
        let name = role.as_str();
        verify::type_name(d, role, name, common)?;
        verify::spec_version(d, name, common)?;
        let trusted = self.prior.versions.get(&role).copied();
        verify::version(name, common.version, trusted)?;
        verify::expiry(d, name, common, self.opts.now)?;
        Ok(())
    }

    /// Timestamp: signatures, `_type`, version, expiry; TUF 1.0 also the snapshot version it
    /// lists, which must not be lower than the trusted snapshot's.
    pub fn update_timestamp(&mut self, bytes: Vec<u8>) -> Result<&MetaList> {
        if self.phase > Phase::RootClosed {
            return Err(out_of_order(
                "update_timestamp",
                "it comes once, after root",
            ));
        }
        self.close_root()?;
        let d = self.dialect();
        let ts = SignedMeta::parse(RoleName::Timestamp, bytes).map_err(malformed)?;
        verify::signatures(d, &ts, &self.keys(RoleName::Timestamp)?)?;
        let view: MetaList = ts.view("timestamp").map_err(malformed)?;
        if let Some(kept) = self.same_timestamp_as_local(&view)? {
            self.phase = Phase::Timestamp;
            return Ok(self.timestamp.insert(kept));
        }
        self.check_common(RoleName::Timestamp, &view.common)?;
        if d == Dialect::Tuf {
            self.no_listed_rollback(RoleName::Timestamp, &view, RoleName::Snapshot)?;
        }
        self.phase = Phase::Timestamp;
        Ok(self.timestamp.insert(view))
    }

    /// Snapshot: against timestamp's entry (version, length, hashes), signatures, `_type`,
    /// version, expiry. Notary: the trusted root must be the one snapshot lists, if it lists
    /// one. TUF 1.0: the targets version it lists must not be lower than the trusted one.
    pub fn update_snapshot(&mut self, bytes: Vec<u8>) -> Result<&MetaList> {
        let Some(ts) = self
            .timestamp
            .as_ref()
            .filter(|_| self.phase == Phase::Timestamp)
        else {
            return Err(out_of_order(
                "update_snapshot",
                "it comes once, after timestamp",
            ));
        };
        let d = self.dialect();
        let sn = SignedMeta::parse(RoleName::Snapshot, bytes).map_err(malformed)?;
        let in_timestamp = || verify::meta_matches(d, &sn, RoleName::Timestamp, &ts.meta);
        // TUF 1.0 (5.5) checks timestamp's entry first; notary reports a bad signature first.
        match d {
            Dialect::Tuf => {
                in_timestamp()?;
                verify::signatures(d, &sn, &self.keys(RoleName::Snapshot)?)?;
            }
            Dialect::Notary => {
                verify::signatures(d, &sn, &self.keys(RoleName::Snapshot)?)?;
                in_timestamp()?;
            }
        }
        let view: MetaList = sn.view("snapshot").map_err(malformed)?;
        self.check_common(RoleName::Snapshot, &view.common)?;
        match d {
            Dialect::Notary => self.snapshot_lists_trusted_root(&view)?,
            Dialect::Tuf => {
                self.no_listed_rollback(RoleName::Snapshot, &view, RoleName::Targets)?;
                self.no_rollback_from_local_snapshot(&view)?;
            }
        }
        self.phase = Phase::Snapshot;
        Ok(self.snapshot.insert(view))
    }

    /// Top-level targets: signatures checked and its view parsed while it is hashed, then its
    /// entry in snapshot, `_type`, version and expiry, and the roles it delegates to (names
    /// and keys). TUF 1.0 (5.6) checks the snapshot entry first; notary a bad signature.
    pub fn update_targets(&mut self, bytes: Vec<u8>) -> Result<&VerifiedRole> {
        let Some(snapshot) = self
            .snapshot
            .as_ref()
            .filter(|_| self.phase == Phase::Snapshot)
        else {
            return Err(out_of_order(
                "update_targets",
                "it comes once, after snapshot",
            ));
        };
        let d = self.dialect();
        let set = self.keys(RoleName::Targets)?;
        let (tg, checked) = SignedMeta::parse_named_with(RoleName::Targets, TARGETS, bytes, |m| {
            verify::signatures_and_view::<Targets>(d, m, &set, TARGETS)
        })
        .map_err(malformed)?;
        let in_snapshot = || verify::meta_matches(d, &tg, RoleName::Snapshot, &snapshot.meta);
        let view = match d {
            Dialect::Tuf => {
                in_snapshot()?;
                checked?
            }
            Dialect::Notary => {
                let view = checked?;
                in_snapshot()?;
                view
            }
        }?;
        self.check_common(RoleName::Targets, &view.common)?;
        self.phase = Phase::Targets;
        self.local.top_delegations = view.delegations.clone();
        self.walk.top(d, view)
    }

    /// Everything verified: the result, and what to store for the next update.
    pub fn finish(self) -> Result<Trusted> {
        if self.phase != Phase::Targets {
            return Err(out_of_order("finish", "targets is not trusted yet"));
        }
        let (Some(ts), Some(sn)) = (&self.timestamp, &self.snapshot) else {
            return Err(out_of_order("finish", "targets is not trusted yet"));
        };
        let root_keys = self.root_key_ids();
        let (roles, rejected, delegations) = self.walk.into_parts();
        let targets_version = roles.first().map_or(0, |r| r.version);
        let versions = BTreeMap::from([
            (RoleName::Root, self.root_view.common.version),
            (RoleName::Timestamp, ts.common.version),
            (RoleName::Snapshot, sn.common.version),
            (RoleName::Targets, targets_version),
        ]);
        let expires = BTreeMap::from([
            (RoleName::Root, self.root_view.common.expires.clone()),
            (RoleName::Timestamp, ts.common.expires.clone()),
            (RoleName::Snapshot, sn.common.expires.clone()),
        ]);
        let verified = Verified {
            gun: self.gun,
            versions: versions.clone(),
            expires,
            root_key_ids: self
                .root_view
                .role(RoleName::Root)
                .map(|r| r.keyids.clone())
                .unwrap_or_default(),
            root_keys,
            pin_match: self.pin_match.clone(),
            roles,
            rejected,
            pinned_now: self.pinned_now,
        };
        Ok(Trusted {
            verified,
            state: TrustedState {
                versions,
                delegations,
            },
            root: self.root,
        })
    }
}

impl TrustedSet {
    /// Both IDs of each key of the trusted root.
    fn root_key_ids(&self) -> Vec<RootKeyIds> {
        RoleKeySet::from_root(self.dialect(), &self.root_view, RoleName::Root)
            .map(|set| set.keys.iter().map(|(id, pk)| ids_of(id, pk)).collect())
            .unwrap_or_default()
    }
}

fn ids_of(metadata_key_id: &str, pk: &crate::tuf::dialect::PublicKey) -> RootKeyIds {
    RootKeyIds {
        // Keys trustkey cannot hold (Ed25519, RSA) have only their metadata ID.
        canonical_key_id: pk
            .key
            .p256()
            .map_or_else(|| metadata_key_id.to_string(), canonical_key_id),
        metadata_key_id: metadata_key_id.to_string(),
        certificate: pk.cert.is_some(),
    }
}

/// The root keys of `root`, with the certificate checks of the Notary dialect (CN = GUN,
/// within validity) for each.
fn root_keys(gun: &Gun, opts: &VerifyOptions, root: &SignedMeta) -> Result<(Root, RoleKeySet)> {
    let d = opts.dialect;
    let v: Root = root
        .view("root")
        .map_err(|e| path_invalid(VerifyError::Malformed(e)))?;
    let set = RoleKeySet::from_root(d, &v, RoleName::Root).map_err(path_invalid)?;
    if d.root_has_certificate() {
        for (id, pk) in &set.keys {
            let key = || verify::short(id).to_string();
            let Some(c) = &pk.cert else {
                return Err(path_fail(RootPathError::NotCertificate { key: key() }));
            };
            if c.common_name != gun.as_str() {
                return Err(path_fail(RootPathError::CertificateName {
                    key: key(),
                    common_name: c.common_name.clone(),
                    gun: gun.to_string(),
                }));
            }
            if opts.now < c.not_before || opts.now > c.not_after {
                return Err(path_fail(RootPathError::CertificateNotValidNow {
                    key: key(),
                    not_before: d.format_time(c.not_before),
                    not_after: d.format_time(c.not_after),
                }));
            }
        }
    }
    Ok((v, set))
}

/// `--root-keyid`: one of the root keys must have this ID (as root metadata lists it, or the
/// bare key's canonical ID, as `root list` shows it); the key it matched and which ID it was.
fn check_pin(opts: &VerifyOptions, set: &RoleKeySet) -> Result<Option<PinMatch>> {
    let Some(pin) = &opts.root_key_id else {
        return Ok(None);
    };
    set.keys
        .iter()
        .map(|(id, pk)| ids_of(id, pk))
        .find_map(|key| {
            key.matches(pin).map(|matched| PinMatch {
                pin: pin.clone(),
                matched,
                key,
            })
        })
        .map(Some)
        .ok_or_else(|| path_fail(RootPathError::PinMismatch { pin: pin.clone() }))
}

/// The sha256 a meta entry lists, as hex (`None` if it lists none or an undecodable one: the
/// file's check against the entry says what is wrong).
fn sha256_hex(dialect: Dialect, entry: &crate::tuf::model::MetaFile) -> Option<String> {
    let listed = entry.hashes.as_ref()?.get("sha256")?;
    dialect.decode_hash(listed).ok().map(hex::encode)
}
