//! Unit tests of the trusted set: metadata built and signed in memory (P-256 `MemorySigner`
//! keys; Notary root keys in certificates for the GUN), fed as bytes. No filesystem, network
//! or clock: `now` is fixed per test. Each rejection is asserted by its `VerifyError` variant,
//! in both dialects where the check applies.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::TrustedSet;
use crate::repo::client::{TrustedState, VerifyOptions};
use crate::repo::trustdir::Gun;
use crate::sign::{MemorySigner, Signer};
use crate::tuf::dialect::{Dialect, MetaHashes};
use crate::tuf::model::{
    to_value, DelegatedRole, Delegations, FileMeta, Hashes, Key, MetaList, RoleName, Root, Targets,
};
use crate::tuf::signed::SignedMeta;
use crate::tuf::{build, cert, VerifyError};
use crate::{Error, Result};

mod delegated;
mod hostile;
mod local;
mod roles;
mod rotation;

const DIALECTS: [Dialect; 2] = [Dialect::Notary, Dialect::Tuf];

/// A key as metadata lists it, its ID, and its signer.
struct Party {
    signer: MemorySigner,
    key: Key,
    id: String,
}

impl Party {
    fn new(d: Dialect, name: &str) -> Self {
        let signer = MemorySigner::generate(name);
        let key = d.public_key(signer.public_key());
        Self::with_key(d, signer, key)
    }

    /// A root key: in the Notary dialect a certificate for `gun`, valid around `now`.
    fn root(d: Dialect, name: &str, gun: &Gun, now: OffsetDateTime) -> Self {
        let signer = MemorySigner::generate(name);
        let key = match d {
            Dialect::Notary => {
                let der = cert::root_certificate(
                    &signer,
                    gun.as_str(),
                    now - Duration::hours(1),
                    now + Duration::days(3650),
                )
                .unwrap();
                d.root_key(&cert::to_pem(&der))
            }
            Dialect::Tuf => d.public_key(signer.public_key()),
        };
        Self::with_key(d, signer, key)
    }

    fn with_key(d: Dialect, signer: MemorySigner, key: Key) -> Self {
        let id = d.key_id(&key);
        Party { signer, key, id }
    }
}

/// A repository's keys, and builders of its metadata (expiring in 30 days unless changed).
struct Repo {
    d: Dialect,
    gun: Gun,
    now: OffsetDateTime,
    /// Root keys; each root lists one of them.
    roots: Vec<Party>,
    targets: Party,
    snapshot: Party,
    timestamp: Party,
    /// The key of the delegated role.
    delegate: Party,
}

/// One update's worth of metadata.
struct Meta {
    root: SignedMeta,
    timestamp: SignedMeta,
    snapshot: SignedMeta,
    targets: SignedMeta,
    delegated: Vec<SignedMeta>,
}

impl Repo {
    fn new(d: Dialect) -> Self {
        let gun: Gun = "example.com/app".parse().unwrap();
        // A fixed time: nothing here reads the clock.
        let now = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        let roots = (0..3)
            .map(|i| Party::root(d, &format!("root {i}"), &gun, now))
            .collect();
        Repo {
            d,
            roots,
            targets: Party::new(d, "targets"),
            snapshot: Party::new(d, "snapshot"),
            timestamp: Party::new(d, "timestamp"),
            delegate: Party::new(d, "delegate"),
            gun,
            now,
        }
    }

    fn opts(&self) -> VerifyOptions {
        VerifyOptions {
            dialect: self.d,
            root_key_id: None,
            now: self.now,
        }
    }

    fn expires(&self) -> OffsetDateTime {
        self.now + Duration::days(30)
    }

    fn sign<T: Serialize>(&self, role: RoleName, view: &T, by: &[&Party]) -> SignedMeta {
        self.sign_named(role, role.as_str(), view, by)
    }

    fn sign_named<T: Serialize>(
        &self,
        role: RoleName,
        name: &str,
        view: &T,
        by: &[&Party],
    ) -> SignedMeta {
        let signers: Vec<(&str, &dyn Signer)> = by
            .iter()
            .map(|p| (p.id.as_str(), &p.signer as &dyn Signer))
            .collect();
        SignedMeta::sign_named(self.d, role, name, to_value(view), &signers).unwrap()
    }

    /// Root `version` listing root key `listed` and the other roles' keys.
    fn root_view(&self, version: u64, listed: usize) -> Root {
        build::root(
            self.d,
            version,
            self.expires(),
            &[
                (RoleName::Root, self.roots[listed].key.clone()),
                (RoleName::Targets, self.targets.key.clone()),
                (RoleName::Snapshot, self.snapshot.key.clone()),
                (RoleName::Timestamp, self.timestamp.key.clone()),
            ],
        )
    }

    /// Root `version` listing root key `listed`, signed by the root keys `by`.
    fn root(&self, version: u64, listed: usize, by: &[usize]) -> SignedMeta {
        let by: Vec<&Party> = by.iter().map(|i| &self.roots[*i]).collect();
        self.sign(RoleName::Root, &self.root_view(version, listed), &by)
    }

    fn targets_view(&self, version: u64) -> Targets {
        build::targets(self.d, version, self.expires(), BTreeMap::new())
    }

    fn targets(&self, view: &Targets) -> SignedMeta {
        self.sign(RoleName::Targets, view, &[&self.targets])
    }

    /// Snapshot over root (Notary), targets and delegated roles, with lengths and hashes.
    fn snapshot_view(
        &self,
        version: u64,
        root: &SignedMeta,
        targets: &SignedMeta,
        delegated: &[SignedMeta],
    ) -> MetaList {
        let mut s = build::snapshot(
            self.d,
            version,
            self.expires(),
            root,
            targets,
            MetaHashes::Include,
        );
        for m in delegated {
            s.meta.insert(
                self.d.meta_key(&m.name),
                self.d.meta_entry(m, MetaHashes::Include),
            );
        }
        s
    }

    fn timestamp_view(&self, version: u64, snapshot: &SignedMeta) -> MetaList {
        build::timestamp(
            self.d,
            version,
            self.expires(),
            snapshot,
            MetaHashes::Include,
        )
    }

    /// Snapshot and timestamp (at `version`) over this root, targets and delegated roles.
    fn publish(
        &self,
        version: u64,
        root: SignedMeta,
        targets: SignedMeta,
        delegated: Vec<SignedMeta>,
    ) -> Meta {
        self.publish_with(version, root, targets, delegated, |_| {}, |_| {})
    }

    /// As [`publish`](Self::publish), editing snapshot and timestamp before they are signed.
    fn publish_with(
        &self,
        version: u64,
        root: SignedMeta,
        targets: SignedMeta,
        delegated: Vec<SignedMeta>,
        edit_snapshot: impl FnOnce(&mut MetaList),
        edit_timestamp: impl FnOnce(&mut MetaList),
    ) -> Meta {
        let mut sn = self.snapshot_view(version, &root, &targets, &delegated);
        edit_snapshot(&mut sn);
        let snapshot = self.sign(RoleName::Snapshot, &sn, &[&self.snapshot]);
        let mut ts = self.timestamp_view(version, &snapshot);
        edit_timestamp(&mut ts);
        let timestamp = self.sign(RoleName::Timestamp, &ts, &[&self.timestamp]);
        Meta {
            root,
            timestamp,
            snapshot,
            targets,
            delegated,
        }
    }

    /// A consistent repository: root 1 (root key 0), every other role at `version`.
    fn meta(&self, version: u64) -> Meta {
        let targets = self.targets(&self.targets_view(version));
        self.publish(version, self.root(1, 0, &[0]), targets, vec![])
    }

    /// The delegated role's name in this dialect.
    fn role_name(&self) -> &'static str {
        match self.d {
            Dialect::Notary => "targets/releases",
            Dialect::Tuf => "releases",
        }
    }

    /// Targets delegating [`role_name`](Self::role_name) to the delegate key, for the paths
    /// under `a/`.
    fn delegating_targets(&self, version: u64) -> Targets {
        let (paths, terminating) = match self.d {
            Dialect::Notary => (vec!["a/".to_string()], None),
            Dialect::Tuf => (vec!["a/*".to_string()], Some(false)),
        };
        let role = DelegatedRole {
            name: self.role_name().into(),
            keyids: vec![self.delegate.id.clone()],
            threshold: 1,
            paths: Some(paths),
            path_hash_prefixes: None,
            terminating,
            extra: Default::default(),
        };
        build::delegating_targets(
            self.d,
            version,
            self.expires(),
            BTreeMap::new(),
            Some(Delegations {
                keys: BTreeMap::from([(self.delegate.id.clone(), self.delegate.key.clone())]),
                roles: vec![role],
                extra: Default::default(),
            }),
        )
    }

    /// The delegated role at `version`, listing `targets`, signed by `by`.
    fn delegated(&self, version: u64, targets: &[&str], by: &Party) -> SignedMeta {
        self.sign_named(
            RoleName::Targets,
            self.role_name(),
            &self.delegated_view(version, targets),
            &[by],
        )
    }

    fn delegated_view(&self, version: u64, targets: &[&str]) -> Targets {
        let mut t = build::targets(self.d, version, self.expires(), BTreeMap::new());
        for name in targets {
            t.targets.insert(name.to_string(), self.file_meta());
        }
        t
    }

    fn file_meta(&self) -> FileMeta {
        FileMeta {
            length: 1,
            hashes: Hashes::from([("sha256".to_string(), self.d.encode_hash(&[0; 32]))]),
            version: None,
            custom: None,
            extra: Default::default(),
        }
    }

    /// A repository whose targets delegates to one role listing `targets`.
    fn delegating_meta(&self, targets: &[&str]) -> Meta {
        let tg = self.targets(&self.delegating_targets(1));
        let role = self.delegated(1, targets, &self.delegate);
        self.publish(1, self.root(1, 0, &[0]), tg, vec![role])
    }

    /// A first-use trusted set on `m.root` that remembers `prior`.
    fn first_use(&self, m: &Meta, prior: TrustedState) -> Result<TrustedSet> {
        TrustedSet::first_use(&self.gun, &self.opts(), bytes(&m.root), prior)
    }

    /// Feeds `m` through targets: the first failure, or the set.
    fn run(&self, m: &Meta, prior: TrustedState) -> Result<TrustedSet> {
        let mut set = self.first_use(m, prior)?;
        set.update_timestamp(bytes(&m.timestamp))?;
        set.update_snapshot(bytes(&m.snapshot))?;
        set.update_targets(bytes(&m.targets))?;
        Ok(set)
    }
}

fn bytes(m: &SignedMeta) -> Vec<u8> {
    m.bytes.to_vec()
}

/// Versions trusted before: `(role, version)` for top-level roles.
fn prior(versions: &[(RoleName, u64)]) -> TrustedState {
    TrustedState {
        versions: versions.iter().copied().collect(),
        delegations: BTreeMap::new(),
    }
}

/// The verification failure of `r`; anything else fails the test.
#[track_caller]
fn rejection<T: std::fmt::Debug>(d: Dialect, r: Result<T>) -> VerifyError {
    match r {
        Err(Error::Verify(e)) => e,
        other => panic!("{d}: expected a verification failure, got {other:?}"),
    }
}
