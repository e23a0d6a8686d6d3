//! Checks on one role at a time: signatures and threshold, `_type`, expiry, version, and a file
//! against its entry in a parent's `meta`. Each failure is a [`VerifyError`] naming the role;
//! the client (`repo::client`) chains these into a full update.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::cjson;
use super::dialect::{Dialect, PublicKey};
use super::model::{Common, DelegatedRole, FileMeta, Hashes, Key, MetaFile, RoleName, Root};
use super::signed::SignedMeta;
use super::{SignatureProblem, VerifyError};

type Result<T, E = VerifyError> = std::result::Result<T, E>;

/// The keys allowed to sign a role, decoded, and the threshold.
#[derive(Debug, Clone)]
pub struct RoleKeySet {
    /// The role's name (`targets`, `targets/releases`).
    pub role: String,
    pub keys: BTreeMap<String, PublicKey>,
    pub threshold: u64,
}

impl RoleKeySet {
    /// The keys `root` delegates `role` to. A key whose ID does not match its content is an
    /// error, as in notary (`key ID is not valid for key content`).
    pub fn from_root(dialect: Dialect, root: &Root, role: RoleName) -> Result<Self> {
        let rk = root.role(role).ok_or_else(|| VerifyError::NoRole {
            role: role.to_string(),
        })?;
        if rk.threshold < 1 {
            return Err(VerifyError::RootThreshold {
                role: role.to_string(),
                threshold: rk.threshold,
            });
        }
        let mut keys = BTreeMap::new();
        for id in &rk.keyids {
            let key = root.keys.get(id).ok_or_else(|| VerifyError::KeyNotInRoot {
                role: role.to_string(),
                key_id: id.clone(),
            })?;
            keys.insert(
                id.clone(),
                checked_key(dialect, "root", role.as_str(), id, key)?,
            );
        }
        Ok(RoleKeySet {
            role: role.to_string(),
            keys,
            threshold: rk.threshold,
        })
    }

    /// The keys a targets role (`parent`) delegates the role `d` to, checked as root's are.
    pub fn from_delegation(
        dialect: Dialect,
        parent: &str,
        keys: &BTreeMap<String, Key>,
        d: &DelegatedRole,
    ) -> Result<Self> {
        if d.threshold < 1 {
            return Err(VerifyError::DelegationThreshold {
                parent: parent.to_string(),
                role: d.name.clone(),
                threshold: d.threshold,
            });
        }
        let mut set = BTreeMap::new();
        for id in &d.keyids {
            let key = keys
                .get(id)
                .ok_or_else(|| VerifyError::KeyNotInDelegation {
                    parent: parent.to_string(),
                    role: d.name.clone(),
                    key_id: id.clone(),
                })?;
            set.insert(id.clone(), checked_key(dialect, parent, &d.name, id, key)?);
        }
        Ok(RoleKeySet {
            role: d.name.clone(),
            keys: set,
            threshold: d.threshold,
        })
    }
}

/// A listed key, decoded, once its ID is the ID of its content.
fn checked_key(
    dialect: Dialect,
    parent: &str,
    role: &str,
    id: &str,
    key: &Key,
) -> Result<PublicKey> {
    if !dialect.key_id_matches(key, id) {
        return Err(VerifyError::KeyIdMismatch {
            parent: parent.to_string(),
            key_id: id.to_string(),
        });
    }
    dialect
        .decode_key(key)
        .map_err(|reason| VerifyError::BadKey {
            parent: parent.to_string(),
            role: role.to_string(),
            key_id: id.to_string(),
            reason,
        })
}

/// Counts distinct keys of `set` with a valid signature on `meta`; fails below the threshold.
///
/// Signatures are over the canonical form of `signed`, and only over it. The text in the file
/// usually is that form already (notary writes it so, and trustkey's files of either dialect
/// mostly are): then the text itself is checked, without parsing and re-encoding it. Text
/// that is not canonical (indented, Go's escapes) is parsed and re-encoded, and the
/// signatures are checked over that: a signature over the file's own non-canonical text is
/// not one by its key (the `notary` client and python-tuf refuse it too).
pub fn signatures(dialect: Dialect, meta: &SignedMeta, set: &RoleKeySet) -> Result<()> {
    let role = &meta.name;
    if meta.signatures.is_empty() {
        return Err(VerifyError::NoSignatures { role: role.clone() });
    }
    // TUF 1.0 (4.2): a key ID appears once in `signatures` (python-tuf refuses the file).
    if dialect == Dialect::Tuf {
        let mut seen = BTreeSet::new();
        if let Some(dup) = meta.signatures.iter().find(|s| !seen.insert(&s.keyid)) {
            return Err(VerifyError::Malformed(format!(
                "{role}: more than one signature by key {}",
                short(&dup.keyid)
            )));
        }
    }
    let count = |msg: &[u8]| {
        let mut valid = BTreeSet::new();
        let mut problem = None;
        for sig in &meta.signatures {
            let Some(pk) = set.keys.get(&sig.keyid) else {
                continue;
            };
            let key = || short(&sig.keyid).to_string();
            match dialect.check_signature(&pk.key, msg, sig) {
                Ok(true) => {
                    // Distinct keys, not distinct IDs: one key listed twice (say, bare and in
                    // a certificate) counts once.
                    valid.insert(pk.key.identity());
                }
                Ok(false) => {
                    problem.get_or_insert_with(|| SignatureProblem::Invalid { key: key() });
                }
                Err(reason) => {
                    problem.get_or_insert_with(|| SignatureProblem::Undecodable {
                        key: key(),
                        reason,
                    });
                }
            }
        }
        (valid, problem)
    };
    let raw = meta.signed_text();
    let reencoded;
    let msg = if cjson::is_canonical(raw) {
        raw
    } else {
        reencoded = meta.signed_bytes().map_err(VerifyError::Malformed)?;
        &reencoded[..]
    };
    let (valid, problem) = count(msg);
    if (valid.len() as u64) < set.threshold {
        return Err(VerifyError::Threshold {
            role: role.clone(),
            keys_of: set.role.clone(),
            valid: valid.len(),
            needed: set.threshold,
            problem: problem.unwrap_or(SignatureProblem::NoneByItsKeys),
        });
    }
    Ok(())
}

/// Checks `meta`'s signatures (outer result) and parses its typed view (inner result), at
/// once on two threads for large files: hashing a 20 MB targets role for its signatures and
/// parsing it take about as long. The view must not be used unless the signatures are good.
pub fn signatures_and_view<T: serde::de::DeserializeOwned + Send>(
    dialect: Dialect,
    meta: &SignedMeta,
    set: &RoleKeySet,
    what: &str,
) -> Result<Result<T>> {
    const PARALLEL: usize = 1 << 20;
    let view = || meta.view(what).map_err(VerifyError::Malformed);
    if meta.bytes.len() < PARALLEL {
        signatures(dialect, meta, set)?;
        return Ok(view());
    }
    std::thread::scope(|s| {
        let sig = s.spawn(|| signatures(dialect, meta, set));
        let view = view();
        sig.join().unwrap_or_else(|_| {
            Err(VerifyError::Malformed(format!(
                "{what}: checking signatures failed"
            )))
        })?;
        Ok(view)
    })
}

pub use super::keyid::short;

/// `_type` of `role` (a delegated role's name, for a delegated targets role) as the dialect
/// spells the kind `kind`.
pub fn type_name(dialect: Dialect, kind: RoleName, role: &str, common: &Common) -> Result<()> {
    let want = dialect.type_name(kind);
    if common.type_ != want {
        return Err(VerifyError::WrongType {
            role: role.to_string(),
            actual: common.type_.clone(),
            expected: want,
        });
    }
    Ok(())
}

/// `role` must not have expired at `now`.
pub fn expiry(dialect: Dialect, role: &str, common: &Common, now: OffsetDateTime) -> Result<()> {
    let t = dialect
        .parse_time(&common.expires)
        .map_err(|reason| VerifyError::BadExpires {
            role: role.to_string(),
            reason,
        })?;
    if t <= now {
        return Err(VerifyError::Expired {
            role: role.to_string(),
            expires: dialect.format_time(t),
        });
    }
    Ok(())
}

/// A valid version (1 or more), not lower than the trusted one.
pub fn version(role: &str, actual: u64, trusted: Option<u64>) -> Result<()> {
    if actual < 1 {
        return Err(VerifyError::InvalidVersion {
            role: role.to_string(),
            version: actual,
        });
    }
    match trusted {
        Some(cur) if actual < cur => Err(VerifyError::Rollback {
            role: role.to_string(),
            trusted: cur,
            new: actual,
        }),
        _ => Ok(()),
    }
}

/// The role's `spec_version`, as the dialect requires it.
pub fn spec_version(dialect: Dialect, role: &str, common: &Common) -> Result<()> {
    dialect
        .check_spec_version(common.spec_version.as_deref())
        .map_err(|reason| VerifyError::SpecVersion {
            role: role.to_string(),
            reason,
        })
}

/// Checks a downloaded file against a target's entry in `parent`: length, then every hash
/// both sides know (sha256 is required).
pub fn file_meta(
    dialect: Dialect,
    what: &str,
    parent: &str,
    digests: Digests<'_>,
    expected: &FileMeta,
) -> Result<()> {
    check_length_and_hashes(
        dialect,
        Listed {
            what,
            parent,
            length: Some(expected.length),
            hashes: Some(&expected.hashes),
            required: true,
        },
        digests,
    )
}

/// What a file is: its length and the hashes trustkey computes.
#[derive(Debug, Clone, Copy)]
pub struct Digests<'a> {
    pub length: u64,
    pub sha256: &'a [u8],
    pub sha512: &'a [u8],
}

/// What a parent lists for a file (`what`). `required`: length and sha256 must be listed.
struct Listed<'a> {
    what: &'a str,
    parent: &'a str,
    length: Option<u64>,
    hashes: Option<&'a Hashes>,
    required: bool,
}

/// Length (if listed), then hashes (if listed): every listed algorithm must be one trustkey
/// computes (sha256, sha512) and match.
fn check_length_and_hashes(dialect: Dialect, listed: Listed<'_>, d: Digests<'_>) -> Result<()> {
    let Listed {
        what,
        parent,
        required,
        ..
    } = listed;
    let (what_s, parent_s) = (|| what.to_string(), || parent.to_string());
    match listed.length {
        Some(want) if want != d.length => {
            return Err(VerifyError::LengthMismatch {
                what: what_s(),
                parent: parent_s(),
                actual: d.length,
                expected: want,
            })
        }
        None if required => {
            return Err(VerifyError::NoListedLength {
                parent: parent_s(),
                what: what_s(),
            })
        }
        _ => {}
    }
    let hashes = listed.hashes.filter(|h| !h.is_empty());
    // Notary requires sha256; TUF 1.0 a hash of any algorithm (python-tuf takes sha512 alone).
    let enough = |h: &Hashes| match dialect {
        Dialect::Notary => h.contains_key("sha256"),
        Dialect::Tuf => !h.is_empty(),
    };
    if required && !hashes.is_some_and(enough) {
        return Err(VerifyError::NoListedSha256 {
            parent: parent_s(),
            what: what_s(),
        });
    }
    for (alg, want) in hashes.into_iter().flat_map(|h| h.iter()) {
        let actual = match alg {
            "sha256" => d.sha256,
            "sha512" => d.sha512,
            // Notary clients skip algorithms they lack; TUF 1.0 clients (python-tuf) fail.
            _ if dialect.meta_requires_hashes() => continue,
            other => {
                return Err(VerifyError::UnsupportedHash {
                    parent: parent_s(),
                    what: what_s(),
                    alg: other.to_string(),
                })
            }
        };
        let want = dialect
            .decode_hash(want)
            .map_err(|reason| VerifyError::BadHash {
                parent: parent_s(),
                what: what_s(),
                reason,
            })?;
        if want != actual {
            return Err(VerifyError::HashMismatch {
                what: what_s(),
                alg: alg.to_string(),
                parent: parent_s(),
            });
        }
    }
    Ok(())
}

/// Checks signed metadata against its entry in `parent`'s `meta`: the version (TUF 1.0: the
/// entry's version must equal the file's), then length and hashes as the dialect requires.
pub fn meta_matches(
    dialect: Dialect,
    meta: &SignedMeta,
    parent: RoleName,
    listed: &BTreeMap<String, MetaFile>,
) -> Result<()> {
    let role = &meta.name;
    let name = dialect.meta_key(role);
    let expected = listed.get(&name).ok_or_else(|| VerifyError::NotListed {
        parent: parent.to_string(),
        role: role.clone(),
    })?;
    if !dialect.meta_requires_hashes() {
        let want = expected
            .version
            .ok_or_else(|| VerifyError::NoListedVersion {
                parent: parent.to_string(),
                name: name.clone(),
            })?;
        let actual = meta.version().unwrap_or(0);
        if actual != want {
            return Err(VerifyError::VersionMismatch {
                role: role.clone(),
                actual,
                listed: want,
                parent: parent.to_string(),
            });
        }
    }
    check_length_and_hashes(
        dialect,
        Listed {
            what: role,
            parent: parent.as_str(),
            length: expected.length,
            hashes: expected.hashes.as_ref(),
            required: dialect.meta_requires_hashes(),
        },
        Digests {
            length: meta.length(),
            sha256: &meta.sha256,
            sha512: &meta.sha512,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{MemorySigner, Signer};
    use crate::tuf::model::{to_value, RoleKeys};
    use crate::tuf::{build, signed::SignedMeta};

    #[test]
    fn threshold_counts_keys_not_ids() {
        let d = Dialect::Notary;
        let k = MemorySigner::generate("t");
        let a = d.public_key(k.public_key());
        // The same key under a second ID (an extra field changes the ID, not the key).
        let mut b = a.clone();
        b.extra.insert("note".into(), serde_json::json!("same key"));
        let exp = OffsetDateTime::now_utc() + time::Duration::days(1);
        let mut root = build::root(
            d,
            1,
            exp,
            &[
                (RoleName::Targets, a.clone()),
                (RoleName::Targets, b.clone()),
            ],
        );
        let (ia, ib) = (d.key_id(&a), d.key_id(&b));
        assert_ne!(ia, ib);
        root.roles.insert(
            "targets".into(),
            RoleKeys {
                keyids: vec![ia.clone(), ib.clone()],
                threshold: 2,
                extra: Default::default(),
            },
        );
        let set = RoleKeySet::from_root(d, &root, RoleName::Targets).unwrap();
        let t = build::targets(d, 1, exp, Default::default());
        let m = SignedMeta::sign(
            d,
            RoleName::Targets,
            to_value(&t),
            &[(ia.as_str(), &k as &dyn Signer), (ib.as_str(), &k)],
        )
        .unwrap();
        let e = signatures(d, &m, &set).unwrap_err();
        assert!(
            matches!(
                e,
                VerifyError::Threshold {
                    valid: 1,
                    needed: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("1 of 2"), "{e}");
        root.roles.get_mut("targets").unwrap().threshold = 1;
        let set = RoleKeySet::from_root(d, &root, RoleName::Targets).unwrap();
        signatures(d, &m, &set).unwrap();
    }

    #[test]
    fn a_key_id_must_match_its_key() {
        let d = Dialect::Notary;
        let k = MemorySigner::generate("t");
        let exp = OffsetDateTime::now_utc() + time::Duration::days(1);
        let mut root = build::root(
            d,
            1,
            exp,
            &[(RoleName::Targets, d.public_key(k.public_key()))],
        );
        let id = root.roles["targets"].keyids[0].clone();
        let key = root.keys.remove(&id).unwrap();
        root.keys.insert("ab".repeat(32), key);
        root.roles.get_mut("targets").unwrap().keyids = vec!["ab".repeat(32)];
        let e = RoleKeySet::from_root(d, &root, RoleName::Targets).unwrap_err();
        assert!(matches!(e, VerifyError::KeyIdMismatch { .. }), "{e}");
        assert!(
            e.to_string().contains("is not valid for key content"),
            "{e}"
        );
    }

    #[test]
    fn a_tuf_key_id_may_cover_the_whole_key_object() {
        let d = Dialect::Tuf;
        let k = MemorySigner::generate("t");
        let mut key = d.public_key(k.public_key());
        key.extra
            .insert("x-custom".into(), serde_json::json!({"a": 1}));
        // securesystemslib's ID (keytype, scheme, keyval) and the whole object's both name it.
        let whole = crate::tuf::keyid::key_id(&key);
        assert_ne!(whole, d.key_id(&key));
        assert!(d.key_id_matches(&key, &whole) && d.key_id_matches(&key, &d.key_id(&key)));
        assert!(!Dialect::Notary.key_id_matches(&key, &d.key_id(&key)));
        assert!(!d.key_id_matches(&key, &"ab".repeat(32)));
    }

    #[test]
    fn a_tuf_signature_list_names_each_key_once() {
        let d = Dialect::Tuf;
        let k = MemorySigner::generate("t");
        let key = d.public_key(k.public_key());
        let exp = OffsetDateTime::now_utc() + time::Duration::days(1);
        let root = build::root(d, 1, exp, &[(RoleName::Targets, key.clone())]);
        let set = RoleKeySet::from_root(d, &root, RoleName::Targets).unwrap();
        let id = d.key_id(&key);
        let t = build::targets(d, 1, exp, Default::default());
        let once = SignedMeta::sign(
            d,
            RoleName::Targets,
            to_value(&t),
            &[(id.as_str(), &k as &dyn Signer)],
        )
        .unwrap();
        signatures(d, &once, &set).unwrap();
        // The same valid signature twice: the file is refused, not counted once.
        let mut env = once.envelope().unwrap();
        env.signatures.push(env.signatures[0].clone());
        let twice = crate::tuf::signed::tuf_file_from(&env, once.signed_text()).unwrap();
        let twice = SignedMeta::parse(RoleName::Targets, twice).unwrap();
        let e = signatures(d, &twice, &set).unwrap_err();
        assert!(
            e.to_string().contains("more than one signature by key"),
            "{e}"
        );
    }

    #[test]
    fn versions_and_expiry() {
        let d = Dialect::Notary;
        assert!(version("snapshot", 3, Some(3)).is_ok());
        assert_eq!(
            version("snapshot", 2, Some(3)).unwrap_err().to_string(),
            "snapshot: version 2 is lower than current version 3"
        );
        assert!(version("snapshot", 0, None).is_err());
        let c = Common {
            type_: "Targets".into(),
            spec_version: None,
            version: 1,
            expires: "2020-01-01T00:00:00Z".into(),
        };
        assert_eq!(
            expiry(d, "targets", &c, OffsetDateTime::now_utc())
                .unwrap_err()
                .to_string(),
            "targets expired at 2020-01-01T00:00:00Z"
        );
        assert!(type_name(d, RoleName::Targets, "targets", &c).is_ok());
        assert!(type_name(d, RoleName::Snapshot, "snapshot", &c).is_err());
    }

    #[test]
    fn tuf_meta_needs_the_listed_version() {
        let d = Dialect::Tuf;
        let k = MemorySigner::generate("t");
        let exp = OffsetDateTime::now_utc() + time::Duration::days(1);
        let t = build::targets(d, 2, exp, Default::default());
        let m = SignedMeta::sign(d, RoleName::Targets, to_value(&t), &[("id", &k)]).unwrap();
        let mut listed = BTreeMap::new();
        listed.insert(
            "targets.json".to_string(),
            d.meta_entry(&m, crate::tuf::dialect::MetaHashes::Include),
        );
        meta_matches(d, &m, RoleName::Snapshot, &listed).unwrap();
        listed.get_mut("targets.json").unwrap().version = Some(3);
        assert_eq!(
            meta_matches(d, &m, RoleName::Snapshot, &listed)
                .unwrap_err()
                .to_string(),
            "targets: version 2 does not match version 3 listed in snapshot"
        );
        let e = listed.get_mut("targets.json").unwrap();
        e.version = Some(2);
        e.hashes = Some([("md5".to_string(), "00".to_string())].into());
        assert!(meta_matches(d, &m, RoleName::Snapshot, &listed)
            .unwrap_err()
            .to_string()
            .contains("unsupported hash algorithm"));
        // Version only (python-tuf's default) is enough.
        let e = listed.get_mut("targets.json").unwrap();
        e.hashes = None;
        e.length = None;
        meta_matches(d, &m, RoleName::Snapshot, &listed).unwrap();
    }
}
