//! The client's trusted set, fed a whole repository in the order the updater fetches it.
//!
//! The input bundles the files (see [`super::files`]): the first part is a header whose tag
//! byte holds the flags ([`TUF`], [`STORED`], [`PINNED`]); then tagged files: [`NOW`] (the
//! time, RFC 3339, default [`DEFAULT_NOW`]), [`REPOSITORY`] (the GUN, default [`GUN`]), [`STATE`] (the client's `state.json`), [`ROOT`]
//! (any number, in order), [`TIMESTAMP`], [`SNAPSHOT`], [`TARGETS`], [`DELEGATED`] (any number,
//! served to the delegated roles in the order the client asks for them).
//!
//! Roots: the first is where the update starts (first use: the pinned root, Notary's
//! `root.json` or TUF's `1.root.json`; with [`STORED`]: the root an earlier update trusted).
//! The others are the versions that follow (TUF: `N+1.root.json` while there is one; Notary,
//! from a stored root: the last is `root.json`, the ones between are `N.root.json` on the walk
//! to it).

use std::sync::OnceLock;

use serde_json::Value;
use time::OffsetDateTime;

use super::{files, shown_error};
use crate::repo::client::{TrustedSet, TrustedState, VerifyOptions};
use crate::repo::trustdir::Gun;
use crate::sign::{MemorySigner, Signer};
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::canonical_key_id;
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;
use crate::{Error, Result};

/// Flag: the TUF 1.0 dialect (else Notary).
pub const TUF: u8 = 1;
/// Flag: start from a stored root (`TrustedSet::new`) instead of first use.
pub const STORED: u8 = 2;
/// Flag: pin the root key ([`trusted_set_signed`]: the test key's canonical ID).
pub const PINNED: u8 = 4;

pub const NOW: u8 = b'n';
pub const REPOSITORY: u8 = b'u';
pub const STATE: u8 = b's';
pub const ROOT: u8 = b'r';
pub const TIMESTAMP: u8 = b'T';
pub const SNAPSHOT: u8 = b'S';
pub const TARGETS: u8 = b'g';
pub const DELEGATED: u8 = b'd';

pub const DEFAULT_NOW: &str = "2026-12-05T00:00:00Z";
/// The GUN the repositories are for (Notary root certificates name it).
pub const GUN: &str = "example.com/app";
/// Most roots walked per input (the client's own bound is larger; each step verifies).
const MAX_ROOTS: usize = 64;

/// A repository's files, by what they are.
#[derive(Default)]
pub struct Bundle<'a> {
    pub flags: u8,
    pub now: Option<&'a [u8]>,
    pub gun: Option<&'a [u8]>,
    pub state: Option<&'a [u8]>,
    pub roots: Vec<&'a [u8]>,
    pub timestamp: Option<&'a [u8]>,
    pub snapshot: Option<&'a [u8]>,
    pub targets: Option<&'a [u8]>,
    pub delegated: Vec<&'a [u8]>,
}

impl<'a> Bundle<'a> {
    pub fn parse(data: &'a [u8]) -> Self {
        let mut parts = files(data);
        let mut b = Bundle {
            flags: parts.next().map_or(0, |(flags, _)| flags),
            ..Default::default()
        };
        for (tag, bytes) in parts {
            match tag {
                NOW => b.now = Some(bytes),
                REPOSITORY => b.gun = Some(bytes),
                STATE => b.state = Some(bytes),
                ROOT => b.roots.push(bytes),
                TIMESTAMP => b.timestamp = Some(bytes),
                SNAPSHOT => b.snapshot = Some(bytes),
                TARGETS => b.targets = Some(bytes),
                DELEGATED => b.delegated.push(bytes),
                _ => {}
            }
        }
        b
    }

    pub fn dialect(&self) -> Dialect {
        if self.flags & TUF != 0 {
            Dialect::Tuf
        } else {
            Dialect::Notary
        }
    }
}

/// The files as they are, with their own signatures: what a client reads from a repository.
pub fn trusted_set(data: &[u8]) {
    let _ = shown_error(&update_as_is(data));
}

/// Each file is the `signed` object only (JSON), signed here with the fixed test key under
/// every ID the key has (see [`TestKey`]), so that inputs get past the signature checks to
/// everything after them. Seeds list that key for every role.
pub fn trusted_set_signed(data: &[u8]) {
    let _ = shown_error(&update_signed(data));
}

/// The update [`trusted_set`] runs.
pub fn update_as_is(data: &[u8]) -> Result<()> {
    update(&Bundle::parse(data), None, &|_, _, bytes| {
        Some(bytes.to_vec())
    })
}

/// The update [`trusted_set_signed`] runs.
pub fn update_signed(data: &[u8]) -> Result<()> {
    let b = Bundle::parse(data);
    let d = b.dialect();
    let pin = (b.flags & PINNED != 0).then(|| test_key().canonical_id.clone());
    update(&b, pin, &|role, name, body| sign_body(d, role, name, body))
}

/// `body` (the JSON of a `signed` object) signed with the test key as the file of `name`.
pub fn sign_body(d: Dialect, role: RoleName, name: &str, body: &[u8]) -> Option<Vec<u8>> {
    let signed: Value = serde_json::from_slice(body).ok()?;
    let k = test_key();
    let signers: Vec<(&str, &dyn Signer)> = k
        .ids(d)
        .iter()
        .map(|id| (id.as_str(), &k.signer as &dyn Signer))
        .collect();
    let m = SignedMeta::sign_named(d, role, name, signed, &signers).ok()?;
    Some(m.bytes.to_vec())
}

/// Makes a file's bytes from its part of the input: (kind, role name, part).
type Make<'f> = dyn Fn(RoleName, &str, &[u8]) -> Option<Vec<u8>> + 'f;

/// A text part of the input, or `default` without one.
fn text<'a>(part: Option<&'a [u8]>, default: &'static str) -> Result<&'a str> {
    match part {
        None => Ok(default),
        Some(t) => std::str::from_utf8(t).map_err(|_| Error::Metadata("not UTF-8".into())),
    }
}

/// One update, the steps in the updater's order (`repo::client::Updater::update`); the first
/// error ends it. A part `make` refuses ends it too.
fn update(b: &Bundle<'_>, pin: Option<String>, make: &Make<'_>) -> Result<()> {
    let d = b.dialect();
    let gun: Gun = text(b.gun, GUN)?.parse()?;
    let now = text(b.now, DEFAULT_NOW)?;
    let now = OffsetDateTime::parse(now, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Metadata(format!("now: {e}")))?;
    let opts = VerifyOptions {
        dialect: d,
        root_key_id: pin,
        now,
    };
    let prior: TrustedState = match b.state {
        None => TrustedState::default(),
        Some(s) => serde_json::from_slice(s).map_err(|e| Error::Metadata(e.to_string()))?,
    };
    let stop = || Error::Metadata("the input ends here".into());
    let file = |role: RoleName, name: &str, part: Option<&[u8]>| -> Result<Vec<u8>> {
        part.and_then(|p| make(role, name, p)).ok_or_else(stop)
    };
    let (first, later) = b.roots.split_first().ok_or_else(stop)?;
    let later = &later[..later.len().min(MAX_ROOTS)];
    let root = file(RoleName::Root, "root", Some(first))?;
    let stored = b.flags & STORED != 0;
    let mut set = if stored {
        TrustedSet::new(&gun, &opts, root, prior)?
    } else {
        TrustedSet::first_use(&gun, &opts, root, prior)?
    };
    match d {
        Dialect::Notary if stored => {
            let latest = file(RoleName::Root, "root", Some(later.last().unwrap_or(first)))?;
            let versions = set.latest_root(latest.clone())?;
            let last = *versions.end();
            let mut next = later.iter();
            for n in versions.take(MAX_ROOTS) {
                let bytes = match next.next() {
                    Some(p) => file(RoleName::Root, "root", Some(p))?,
                    None if n == last => latest.clone(),
                    None => return Err(stop()),
                };
                set.update_root(bytes)?;
            }
        }
        Dialect::Notary => {}
        Dialect::Tuf => {
            for p in later {
                set.update_root(file(RoleName::Root, "root", Some(p))?)?;
            }
        }
    }
    set.close_root()?;
    let _ = (set.root_version(), set.consistent_snapshot());
    set.update_timestamp(file(RoleName::Timestamp, "timestamp", b.timestamp)?)?;
    let _ = set.listed_version(RoleName::Snapshot);
    set.update_snapshot(file(RoleName::Snapshot, "snapshot", b.snapshot)?)?;
    let _ = set.listed_version(RoleName::Targets);
    set.update_targets(file(RoleName::Targets, "targets", b.targets)?)?;
    let mut delegated = b.delegated.iter();
    while let Some(next) = set.next_delegation()? {
        let Some(part) = delegated.next() else {
            break;
        };
        let bytes = file(RoleName::Targets, &next.role, Some(part))?;
        set.update_delegated_targets(&next.role, &next.parent, bytes)?;
    }
    let trusted = set.finish()?;
    // What `verify` and `list` do with the result.
    let v = &trusted.verified;
    let _ = (v.target_count(), v.delegation_versions());
    for r in &v.roles {
        for name in r.targets.keys().take(16) {
            let _ = v.trusted_target(name).map_err(|e| e.to_string());
        }
    }
    for r in &v.rejected {
        let _ = v.trusted_target(&r.target).map_err(|e| e.to_string());
    }
    serde_json::to_vec(&trusted.state).map_err(|e| Error::Metadata(e.to_string()))?;
    serde_json::to_vec(v).map_err(|e| Error::Metadata(e.to_string()))?;
    Ok(())
}

/// The fixed key [`trusted_set_signed`] signs with: a P-256 key derived from a public string
/// (a test key, never a secret), listed as each dialect lists keys, and in the Notary dialect
/// also as the root certificate in `fuzz/seeds/notary-root.crt` (made by
/// `cert::root_certificate` with this key for [`GUN`], valid 2020 to 2120).
pub struct TestKey {
    pub signer: MemorySigner,
    /// The key's ID as the Notary dialect lists it: bare, and as the root certificate.
    pub notary_ids: Vec<String>,
    pub tuf_ids: Vec<String>,
    /// The bare key's canonical ID (what a pin names).
    pub canonical_id: String,
}

/// The root certificate of the test key (PEM).
pub const TEST_CERT: &str = include_str!("../../fuzz/seeds/notary-root.crt");

impl TestKey {
    pub fn ids(&self, d: Dialect) -> &[String] {
        match d {
            Dialect::Notary => &self.notary_ids,
            Dialect::Tuf => &self.tuf_ids,
        }
    }
}

/// The test key's scalar: SHA-256 of a public string, so anyone can rebuild it.
pub fn test_signer() -> MemorySigner {
    use sha2::{Digest, Sha256};
    let scalar = Sha256::digest(b"trustkey fuzzing: a public test key, never a secret");
    // A SHA-256 output is an invalid P-256 scalar with negligible probability; not this one.
    let secret = p256::SecretKey::from_slice(&scalar).expect("the test scalar is valid");
    MemorySigner::from_secret_key(&secret, "fuzzing test key")
}

pub fn test_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let signer = test_signer();
        let notary_key = Dialect::Notary.public_key(signer.public_key());
        let notary_cert_key = Dialect::Notary.root_key(TEST_CERT);
        let tuf_key = Dialect::Tuf.public_key(signer.public_key());
        TestKey {
            notary_ids: vec![
                Dialect::Notary.key_id(&notary_key),
                Dialect::Notary.key_id(&notary_cert_key),
            ],
            tuf_ids: vec![Dialect::Tuf.key_id(&tuf_key)],
            canonical_id: canonical_key_id(signer.public_key()),
            signer,
        }
    })
}
