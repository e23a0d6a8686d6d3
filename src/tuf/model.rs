//! The metadata model: typed views of the four top-level roles, each keeping unknown fields
//! (`extra`) so that foreign metadata survives a parse untouched.
//!
//! The dialect-specific parts (`_type` spelling, key encodings, signature encoding) are not
//! decided here but in `dialect.rs`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::KeyRole;

/// The four top-level roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    Root,
    Targets,
    Snapshot,
    Timestamp,
}

impl RoleName {
    pub const ALL: [RoleName; 4] = [
        RoleName::Root,
        RoleName::Targets,
        RoleName::Snapshot,
        RoleName::Timestamp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Root => "root",
            RoleName::Targets => "targets",
            RoleName::Snapshot => "snapshot",
            RoleName::Timestamp => "timestamp",
        }
    }

    /// The file name in a static repository (`targets.json`).
    pub fn file_name(self) -> String {
        format!("{}.json", self.as_str())
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoleName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        RoleName::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (root, targets, snapshot, timestamp)"))
    }
}

/// A top-level role's passphrase is its own (as [`KeyRole::for_role`] maps its name).
impl From<RoleName> for KeyRole {
    fn from(role: RoleName) -> KeyRole {
        match role {
            RoleName::Root => KeyRole::Root,
            RoleName::Targets => KeyRole::Targets,
            RoleName::Snapshot => KeyRole::Snapshot,
            RoleName::Timestamp => KeyRole::Timestamp,
        }
    }
}

/// A public key as metadata lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: String,
    pub keyval: KeyVal,
    #[serde(flatten, deserialize_with = "integers_only")]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyVal {
    pub public: String,
    /// Everything else, kept as parsed: notary writes `"private": null`, TUF 1.0 omits it,
    /// and the key ID is over whatever is there.
    #[serde(flatten, deserialize_with = "integers_only")]
    pub extra: BTreeMap<String, Value>,
}

/// Which keys may sign a role, and how many must.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub keyid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub sig: String,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// `{"signed": ..., "signatures": [...]}`, the `signed` part kept as parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub signed: Value,
    pub signatures: Vec<Signature>,
}

/// Hashes by algorithm (`sha256` -> digest, base64 in the Notary dialect, hex in TUF 1.0): a
/// JSON object, kept as a short sorted list (a map per target made parsing a large targets
/// role twice as slow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashes(Vec<(Cow<'static, str>, String)>);

/// Algorithm names: the usual ones are not allocated again for every target.
fn alg_name(a: &str) -> Cow<'static, str> {
    match a {
        "sha256" => Cow::Borrowed("sha256"),
        "sha512" => Cow::Borrowed("sha512"),
        other => Cow::Owned(other.to_string()),
    }
}

impl Hashes {
    pub fn new() -> Self {
        Hashes(Vec::new())
    }

    pub fn get(&self, alg: &str) -> Option<&String> {
        self.0.iter().find(|(a, _)| a == alg).map(|(_, h)| h)
    }

    pub fn contains_key(&self, alg: &str) -> bool {
        self.get(alg).is_some()
    }

    /// Sets `alg`'s digest (replacing any).
    pub fn insert(&mut self, alg: &str, digest: String) {
        match self.0.binary_search_by(|(a, _)| a.as_ref().cmp(alg)) {
            Ok(i) => {
                if let Some(entry) = self.0.get_mut(i) {
                    entry.1 = digest;
                }
            }
            Err(i) => self.0.insert(i, (alg_name(alg), digest)),
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (algorithm, digest), by algorithm.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &String)> {
        self.0.iter().map(|(a, h)| (a.as_ref(), h))
    }
}

impl FromIterator<(String, String)> for Hashes {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut h = Hashes::new();
        for (a, d) in iter {
            h.insert(&a, d);
        }
        h
    }
}

impl<const N: usize> From<[(String, String); N]> for Hashes {
    fn from(a: [(String, String); N]) -> Self {
        a.into_iter().collect()
    }
}

impl Serialize for Hashes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (a, h) in &self.0 {
            m.serialize_entry(a, h)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Hashes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Hashes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of hashes")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Hashes, A::Error> {
                let mut v: Vec<(Cow<'static, str>, String)> = Vec::with_capacity(2);
                while let Some(a) = m.next_key::<Cow<'de, str>>()? {
                    if v.iter().any(|(x, _)| *x == a) {
                        return Err(serde::de::Error::custom(format!("hash {a:?} listed twice")));
                    }
                    v.push((alg_name(&a), m.next_value()?));
                }
                v.sort();
                Ok(Hashes(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Length and hashes (base64 in the Notary dialect) of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub length: u64,
    pub hashes: Hashes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// An entry of snapshot's or timestamp's `meta`. Notary lists length and hashes (no version);
/// TUF 1.0 requires the version and makes length and hashes optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Hashes>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The fields every role has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Common {
    #[serde(rename = "_type")]
    pub type_: String,
    /// TUF 1.0 only (`1.0.31`); notary writes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_version: Option<String>,
    pub version: u64,
    pub expires: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    #[serde(flatten)]
    pub common: Common,
    /// Required by notary, optional in TUF 1.0 (absent means false).
    #[serde(default)]
    pub consistent_snapshot: bool,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(flatten)]
    pub common: Common,
    pub targets: BTreeMap<String, FileMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegations: Option<Delegations>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A targets role's delegations: the keys, and the delegated roles in order of trust.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delegations {
    /// Go writes a nil map as `null`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: BTreeMap<String, Key>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<DelegatedRole>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One delegated role. Notary: `targets/<name>` with path prefixes in `paths` (`""` is every
/// path). TUF 1.0: any name, `terminating`, and exactly one of `paths` (glob patterns, one per
/// `/`-separated component) and `path_hash_prefixes` (hex prefixes of the sha256 of the path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegatedRole {
    pub name: String,
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_hash_prefixes: Option<Vec<String>>,
    /// TUF 1.0 requires it; notary has no such field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// A key's extra fields, refusing a number that is not an integer: a key ID is the hash of
/// the key's canonical JSON, which has no such numbers, so a key holding one has no ID.
/// Refused here, when metadata is parsed, every `Key` has a canonical form.
fn integers_only<'de, D>(d: D) -> Result<BTreeMap<String, Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let m = BTreeMap::<String, Value>::deserialize(d)?;
    if m.values().any(has_non_integer) {
        return Err(serde::de::Error::custom(
            "a key holds a number that is not an integer (canonical JSON has none)",
        ));
    }
    Ok(m)
}

/// Whether `v` holds a number that is neither an i64 nor a u64 (the parser's nesting limit
/// bounds the recursion).
fn has_non_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => !(n.is_i64() || n.is_u64()),
        Value::Array(a) => a.iter().any(has_non_integer),
        Value::Object(o) => o.values().any(has_non_integer),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Snapshot and timestamp share a shape: a `meta` map of files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaList {
    #[serde(flatten)]
    pub common: Common,
    pub meta: BTreeMap<String, MetaFile>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl Root {
    /// The keys of `role` and its threshold.
    pub fn role(&self, role: RoleName) -> Option<&RoleKeys> {
        self.roles.get(role.as_str())
    }
}

/// Parses a typed view of a `signed` object; `what` names the file in errors.
pub fn view<T: serde::de::DeserializeOwned>(signed: &Value, what: &str) -> Result<T, String> {
    // Deserialize from the borrowed value: no copy of a 100,000-target tree.
    T::deserialize(signed).map_err(|e| format!("{what}: malformed metadata: {e}"))
}

/// The `signed` object of a typed view.
#[allow(
    clippy::expect_used,
    reason = "the views hold strings, integers, string-keyed maps and JSON values: \
              serde_json::to_value cannot fail on them"
)]
pub fn to_value<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("metadata always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_level_role_takes_the_passphrase_its_name_does() {
        for role in RoleName::ALL {
            assert_eq!(Some(KeyRole::from(role)), KeyRole::for_role(role.as_str()));
            assert_eq!(KeyRole::from(role).name(), role.as_str());
        }
    }
}
