//! Checks on one role at a time: signatures and threshold, `_type`, expiry, version, and a file
//! against its entry in a parent's `meta`. Each failure is one line naming the role; the
//! client (`repo::client`) chains these into a full update.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::dialect::{Dialect, PublicKey};
use super::model::{Common, FileMeta, MetaFile, RoleName, Root};
use super::signed::SignedMeta;

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
    pub fn from_root(dialect: Dialect, root: &Root, role: RoleName) -> Result<Self, String> {
        let rk = root
            .role(role)
            .ok_or_else(|| format!("root: no {role} role"))?;
        if rk.threshold < 1 {
            return Err(format!(
                "root: the {role} role has threshold {}",
                rk.threshold
            ));
        }
        let mut keys = BTreeMap::new();
        for id in &rk.keyids {
            let key = root
                .keys
                .get(id)
                .ok_or_else(|| format!("root: {role} key {id} is not among the root's keys"))?;
            let actual = dialect.key_id(key);
            if &actual != id {
                return Err(format!("root: key ID {id} is not valid for key content"));
            }
            let pk = dialect
                .decode_key(key)
                .map_err(|e| format!("root: {role} key {id}: {e}"))?;
            keys.insert(id.clone(), pk);
        }
        Ok(RoleKeySet {
            role: role.to_string(),
            keys,
            threshold: rk.threshold,
        })
    }
}

impl RoleKeySet {
    /// The keys a targets role (`parent`) delegates the role `d` to, checked as root's are.
    pub fn from_delegation(
        dialect: Dialect,
        parent: &str,
        keys: &BTreeMap<String, super::model::Key>,
        d: &super::model::DelegatedRole,
    ) -> Result<Self, String> {
        if d.threshold < 1 {
            return Err(format!(
                "{parent}: the delegation {} has threshold {}",
                d.name, d.threshold
            ));
        }
        let mut set = BTreeMap::new();
        for id in &d.keyids {
            let key = keys.get(id).ok_or_else(|| {
                format!(
                    "{parent}: {} key {id} is not among the delegation keys",
                    d.name
                )
            })?;
            if dialect.key_id(key) != *id {
                return Err(format!(
                    "{parent}: key ID {id} is not valid for key content"
                ));
            }
            let pk = dialect
                .decode_key(key)
                .map_err(|e| format!("{parent}: {} key {id}: {e}", d.name))?;
            set.insert(id.clone(), pk);
        }
        Ok(RoleKeySet {
            role: d.name.clone(),
            keys: set,
            threshold: d.threshold,
        })
    }
}

/// Counts distinct keys of `set` with a valid signature on `meta`; fails below the threshold.
///
/// Signatures are over the canonical form of `signed`. The text in the file usually is that
/// form already (notary writes it so, and trustkey's files of either dialect mostly are), so
/// the text is tried first, and only if that does not meet the threshold is the object
/// re-encoded canonically and tried again: what a key signed is exactly these bytes either way.
pub fn signatures(dialect: Dialect, meta: &SignedMeta, set: &RoleKeySet) -> Result<(), String> {
    let role = &meta.name;
    if meta.signatures.is_empty() {
        return Err(format!("{role}: no signatures"));
    }
    let count = |msg: &[u8]| {
        let mut valid = BTreeSet::new();
        let mut problem = None;
        for sig in &meta.signatures {
            let Some(pk) = set.keys.get(&sig.keyid) else {
                continue;
            };
            match dialect.decode_signature(sig) {
                Ok(s) if crate::sign::verify(&pk.key, msg, &s) => {
                    // Distinct keys, not distinct IDs: one key listed twice (say, bare and in
                    // a certificate) counts once.
                    valid.insert(crate::sign::spki_der(&pk.key));
                }
                Ok(_) => {
                    problem
                        .get_or_insert(format!("key {}: signature was invalid", short(&sig.keyid)));
                }
                Err(e) => {
                    problem.get_or_insert(format!("key {}: {e}", short(&sig.keyid)));
                }
            }
        }
        (valid, problem)
    };
    let raw = meta.signed_text();
    let (mut valid, mut problem) = count(raw);
    if (valid.len() as u64) < set.threshold {
        let canonical = meta.signed_bytes()?;
        if canonical != raw {
            (valid, problem) = count(&canonical);
        }
    }
    if (valid.len() as u64) < set.threshold {
        let why = problem.unwrap_or_else(|| "no signature by any of its keys".into());
        return Err(format!(
            "{role}: valid signatures did not meet threshold for {}: {} of {} ({why})",
            set.role,
            valid.len(),
            set.threshold
        ));
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
) -> Result<Result<T, String>, String> {
    const PARALLEL: usize = 1 << 20;
    if meta.bytes.len() < PARALLEL {
        signatures(dialect, meta, set)?;
        return Ok(meta.view(what));
    }
    std::thread::scope(|s| {
        let sig = s.spawn(|| signatures(dialect, meta, set));
        let view = meta.view(what);
        sig.join().expect("signature checks do not panic")?;
        Ok(view)
    })
}

pub use super::keyid::short;

pub fn type_name(dialect: Dialect, role: RoleName, common: &Common) -> Result<(), String> {
    let want = dialect.type_name(role);
    if common.type_ != want {
        return Err(format!(
            "{role}: _type is {:?}, expected {want:?}",
            common.type_
        ));
    }
    Ok(())
}

pub fn expiry(
    dialect: Dialect,
    role: RoleName,
    common: &Common,
    now: OffsetDateTime,
) -> Result<(), String> {
    let t = dialect
        .parse_time(&common.expires)
        .map_err(|e| format!("{role}: {e}"))?;
    if t <= now {
        return Err(format!("{role} expired at {}", dialect.format_time(t)));
    }
    Ok(())
}

pub fn version(role: RoleName, actual: u64, trusted: Option<u64>) -> Result<(), String> {
    if actual < 1 {
        return Err(format!("{role}: version {actual} is not valid"));
    }
    if let Some(cur) = trusted {
        if actual < cur {
            return Err(format!(
                "{role}: version {actual} is lower than current version {cur}"
            ));
        }
    }
    Ok(())
}

/// Checks a downloaded file against a target's entry in `parent`: length, then every hash
/// both sides know (sha256 is required).
pub fn file_meta(
    dialect: Dialect,
    what: &str,
    parent: &str,
    length: u64,
    sha256: &[u8],
    sha512: &[u8],
    expected: &FileMeta,
) -> Result<(), String> {
    check_length_and_hashes(
        dialect,
        what,
        parent,
        (length, sha256, sha512),
        Some(expected.length),
        Some(&expected.hashes),
        true,
    )
}

/// Length (if listed), then hashes (if listed): every listed algorithm must be one trustkey
/// computes (sha256, sha512) and match. `required`: length and sha256 must be listed.
fn check_length_and_hashes(
    dialect: Dialect,
    what: &str,
    parent: &str,
    (length, sha256, sha512): (u64, &[u8], &[u8]),
    expected_length: Option<u64>,
    expected_hashes: Option<&super::model::Hashes>,
    required: bool,
) -> Result<(), String> {
    match expected_length {
        Some(want) if want != length => {
            return Err(format!(
                "{what}: length {length} does not match the {want} bytes listed in {parent}"
            ))
        }
        None if required => return Err(format!("{parent}: {what} is listed without a length")),
        _ => {}
    }
    let hashes = expected_hashes.filter(|h| !h.is_empty());
    if required && !hashes.is_some_and(|h| h.contains_key("sha256")) {
        return Err(format!("{parent}: {what} is listed without a sha256 hash"));
    }
    for (alg, want) in hashes.into_iter().flat_map(|h| h.iter()) {
        let actual = match alg {
            "sha256" => sha256,
            "sha512" => sha512,
            // Notary clients skip algorithms they lack; TUF 1.0 clients (python-tuf) fail.
            _ if dialect.meta_requires_hashes() => continue,
            other => {
                return Err(format!(
                    "{parent}: {what} is listed with unsupported hash algorithm {other:?}"
                ))
            }
        };
        let want = dialect
            .decode_hash(want)
            .map_err(|e| format!("{parent}: {what}: {e}"))?;
        if want != actual {
            return Err(format!(
                "{what}: {alg} does not match the hash listed in {parent}"
            ));
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
) -> Result<(), String> {
    let role = &meta.name;
    let name = dialect.meta_key(role);
    let expected = listed
        .get(&name)
        .ok_or_else(|| format!("{parent}: does not list {role}"))?;
    if !dialect.meta_requires_hashes() {
        let want = expected
            .version
            .ok_or_else(|| format!("{parent}: {name} is listed without a version"))?;
        let actual = meta.version().unwrap_or(0);
        if actual != want {
            return Err(format!(
                "{role}: version {actual} does not match version {want} listed in {parent}"
            ));
        }
    }
    check_length_and_hashes(
        dialect,
        role,
        parent.as_str(),
        (meta.length(), &meta.sha256, &meta.sha512),
        expected.length,
        expected.hashes.as_ref(),
        dialect.meta_requires_hashes(),
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
        assert!(e.contains("1 of 2"), "{e}");
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
        assert!(e.contains("is not valid for key content"), "{e}");
    }

    #[test]
    fn versions_and_expiry() {
        let d = Dialect::Notary;
        assert!(version(RoleName::Snapshot, 3, Some(3)).is_ok());
        assert_eq!(
            version(RoleName::Snapshot, 2, Some(3)).unwrap_err(),
            "snapshot: version 2 is lower than current version 3"
        );
        assert!(version(RoleName::Snapshot, 0, None).is_err());
        let c = Common {
            type_: "Targets".into(),
            spec_version: None,
            version: 1,
            expires: "2020-01-01T00:00:00Z".into(),
        };
        assert_eq!(
            expiry(d, RoleName::Targets, &c, OffsetDateTime::now_utc()).unwrap_err(),
            "targets expired at 2020-01-01T00:00:00Z"
        );
        assert!(type_name(d, RoleName::Targets, &c).is_ok());
        assert!(type_name(d, RoleName::Snapshot, &c).is_err());
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
            meta_matches(d, &m, RoleName::Snapshot, &listed).unwrap_err(),
            "targets: version 2 does not match version 3 listed in snapshot"
        );
        let e = listed.get_mut("targets.json").unwrap();
        e.version = Some(2);
        e.hashes = Some([("md5".to_string(), "00".to_string())].into());
        assert!(meta_matches(d, &m, RoleName::Snapshot, &listed)
            .unwrap_err()
            .contains("unsupported hash algorithm"));
        // Version only (python-tuf's default) is enough.
        let e = listed.get_mut("targets.json").unwrap();
        e.hashes = None;
        e.length = None;
        meta_matches(d, &m, RoleName::Snapshot, &listed).unwrap();
    }
}
