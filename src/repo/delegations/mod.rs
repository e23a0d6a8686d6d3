//! The delegations a repository signs besides targets: what the config remembers about each
//! (its keys and where they are, its paths), the `delegations` object of targets built from
//! that, and which role each staged change goes to.
//!
//! Hashed bins (TUF 1.0, `init --hashed-bins N`) are N delegations from targets that share one
//! key; the config keeps only N and the key, and the bins are computed.
//!
//! Changing and listing delegations is `edit.rs`; opening and making their keys `signers.rs`.

pub mod edit;
pub mod signers;

pub use signers::DelegationSigners;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::trustdir::RepoConfig;
use crate::tuf::delegation::{self, describe_paths, HashedBins};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{DelegatedRole, Delegations, Key};
use crate::{Error, Result};

/// The top-level targets role's name.
pub const TARGETS: &str = "targets";

/// The role a staged change goes to, for messages (`targets` when none).
pub fn role_label(role: Option<&str>) -> &str {
    role.unwrap_or(TARGETS)
}

/// One key of a delegation, as targets lists it, and where trustkey finds its private half.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationKey {
    /// The key ID delegations list.
    pub key_id: String,
    pub key: Key,
    pub location: KeyLocation,
}

/// Where a delegation key's private half is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum KeyLocation {
    /// On a token (`pkcs11:` or `yubikey:` reference, without any PIN).
    Token { uri: String },
    /// Encrypted on disk: `private/<key_file_id>.key`.
    File { key_file_id: String },
    /// With its holder, who signs the role with their own tools (`delegation add --key
    /// alice.pub`, as `docker trust signer add`); `from` names the public key file given.
    Holder { from: String },
}

impl std::fmt::Display for KeyLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyLocation::Token { uri } => f.write_str(uri),
            KeyLocation::File { key_file_id } => write!(f, "private/{key_file_id}.key"),
            KeyLocation::Holder { from } => write!(f, "its holder's (public key from {from})"),
        }
    }
}

/// A delegation from targets, in the order clients consult them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationConfig {
    pub name: String,
    pub keys: Vec<DelegationKey>,
    pub threshold: u64,
    pub paths: Vec<String>,
    /// TUF 1.0: a client that finds no target here does not look in later delegations.
    #[serde(default)]
    pub terminating: bool,
}

/// Hashed bins: `count` delegations signed with one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinsConfig {
    /// Checked as `init --hashed-bins` checks it: a config edited to 0 must not divide by zero.
    #[serde(deserialize_with = "bins_count")]
    pub count: u32,
    pub key: DelegationKey,
}

fn bins_count<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let n = <u32 as Deserialize>::deserialize(d)?;
    HashedBins::new(n)
        .map(|b| b.count)
        .map_err(serde::de::Error::custom)
}

impl BinsConfig {
    pub fn bins(&self) -> HashedBins {
        HashedBins { count: self.count }
    }
}

/// A delegated role trustkey signs: its entry in targets' delegations and its keys.
#[derive(Debug, Clone)]
pub struct RoleSpec<'a> {
    pub role: DelegatedRole,
    pub keys: Vec<&'a DelegationKey>,
}

impl RepoConfig {
    /// Every delegated role, in the order targets lists them: the named delegations, then the
    /// hashed bins.
    pub fn delegated_roles(&self) -> Vec<RoleSpec<'_>> {
        let d = self.dialect;
        let mut out: Vec<RoleSpec<'_>> = self
            .delegations
            .iter()
            .map(|c| RoleSpec {
                role: DelegatedRole {
                    name: c.name.clone(),
                    keyids: c.keys.iter().map(|k| k.key_id.clone()).collect(),
                    threshold: c.threshold,
                    paths: Some(c.paths.clone()),
                    path_hash_prefixes: None,
                    terminating: (d == Dialect::Tuf).then_some(c.terminating),
                    extra: Default::default(),
                },
                keys: c.keys.iter().collect(),
            })
            .collect();
        if let Some(b) = &self.hashed_bins {
            let bins = b.bins();
            for i in 0..b.count {
                out.push(RoleSpec {
                    role: DelegatedRole {
                        name: bins.name(i),
                        keyids: vec![b.key.key_id.clone()],
                        threshold: 1,
                        paths: None,
                        path_hash_prefixes: Some(bins.prefixes(i)),
                        terminating: Some(false),
                        extra: Default::default(),
                    },
                    keys: vec![&b.key],
                });
            }
        }
        out
    }

    /// The `delegations` object of targets (`None` without delegations).
    pub fn targets_delegations(&self) -> Option<Delegations> {
        let roles = self.delegated_roles();
        if roles.is_empty() {
            return None;
        }
        let mut keys = BTreeMap::new();
        for r in &roles {
            for k in &r.keys {
                keys.insert(k.key_id.clone(), k.key.clone());
            }
        }
        Some(Delegations {
            keys,
            roles: roles.into_iter().map(|r| r.role).collect(),
            extra: Default::default(),
        })
    }

    /// Refuses to sign a delegation whose file would be a top-level or versioned file's (a
    /// config written before `delegation add` refused such names): it would overwrite that file.
    pub fn check_delegation_names(&self) -> Result<()> {
        match self
            .delegations
            .iter()
            .find(|e| self.dialect == Dialect::Tuf && delegation::shares_a_metadata_file(&e.name))
        {
            Some(e) => Err(Error::Usage(format!(
                "{}: delegation {:?} would overwrite {}.json; remove it with `trustkey \
                 delegation remove {} {}` first",
                self.gun, e.name, e.name, self.gun, e.name
            ))),
            None => Ok(()),
        }
    }

    pub fn delegation(&self, name: &str) -> Option<&DelegationConfig> {
        self.delegations.iter().find(|d| d.name == name)
    }

    /// Whether `name` is one of this repository's delegated roles (bins included).
    pub fn is_delegated_role(&self, name: &str) -> bool {
        self.delegation(name).is_some() || self.bin_index(name).is_some()
    }

    fn bin_index(&self, name: &str) -> Option<u32> {
        let b = self.hashed_bins.as_ref()?;
        let bins = b.bins();
        // Bin names are fixed width: the index follows from the first prefix.
        let first = name.strip_prefix("bins-")?.split('-').next()?;
        let p = u64::from_str_radix(first, 16).ok()?;
        let per = 16u64.pow(bins.prefix_len() as u32) / b.count as u64;
        let i = (p / per) as u32;
        (i < b.count && bins.name(i) == name).then_some(i)
    }

    /// The role a staged change of `target` goes to: the named delegation (`--role`), which
    /// must cover the target's path; else a hashed bin; else targets.
    pub fn route(&self, target: &str, role: Option<&str>) -> Result<String> {
        match role {
            None | Some(TARGETS) => match &self.hashed_bins {
                Some(b) if role.is_none() => Ok(b.bins().name(b.bins().bin_of(target))),
                _ => Ok(TARGETS.to_string()),
            },
            Some(name) => {
                let spec = self
                    .delegated_roles()
                    .into_iter()
                    .find(|s| s.role.name == name)
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "{} has no delegation {name:?} (see `trustkey delegation list {}`)",
                            self.gun, self.gun
                        ))
                    })?;
                if !delegation::covers(self.dialect, &spec.role, target) {
                    return Err(Error::Usage(format!(
                        "target {target:?} is outside the paths delegated to {name} ({}); \
                         rename it, or change the delegation's --paths",
                        describe_paths(&spec.role)
                    )));
                }
                Ok(name.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dialect: Dialect) -> RepoConfig {
        serde_json::from_value(serde_json::json!({
            "gun": "example.com/app", "dialect": dialect, "root_key": "pkcs11:token=r",
            "root_key_id": "ab", "key_ids": {}, "versions": {}
        }))
        .unwrap()
    }

    fn key(id: &str) -> DelegationKey {
        DelegationKey {
            key_id: id.into(),
            key: Dialect::Tuf.public_key(crate::keys::Signer::public_key(
                &crate::keys::MemorySigner::generate("k"),
            )),
            location: KeyLocation::File {
                key_file_id: id.into(),
            },
        }
    }

    #[test]
    fn routes_changes_to_their_roles() {
        let mut c = cfg(Dialect::Tuf);
        c.delegations.push(DelegationConfig {
            name: "releases".into(),
            keys: vec![key("aa")],
            threshold: 1,
            paths: vec!["releases/*".into()],
            terminating: false,
        });
        assert_eq!(c.route("x", None).unwrap(), "targets");
        assert_eq!(c.route("releases/a", Some("releases")).unwrap(), "releases");
        let e = c
            .route("other/a", Some("releases"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the paths delegated to releases"), "{e}");
        assert!(c.route("x", Some("nope")).is_err());
        c.hashed_bins = Some(BinsConfig {
            count: 16,
            key: key("bb"),
        });
        let bin = c.route("x", None).unwrap();
        assert!(bin.starts_with("bins-"), "{bin}");
        assert!(c.is_delegated_role(&bin));
        assert!(!c.is_delegated_role("bins-zz"));
        assert_eq!(c.route("x", Some(&bin)).unwrap(), bin);
        assert_eq!(c.route("x", Some("targets")).unwrap(), "targets");
        let d = c.targets_delegations().unwrap();
        assert_eq!(d.roles.len(), 17);
        assert_eq!(d.keys.len(), 2);
        assert_eq!(d.roles[0].terminating, Some(false));
    }
}

#[cfg(test)]
mod bins_config_tests {
    use super::BinsConfig;

    /// Found by the `config` fuzz harness: a count of 0 in the config divided by zero.
    #[test]
    fn a_bins_count_that_init_would_refuse_is_refused_in_the_config() {
        for count in [0, 3, 1 << 20] {
            let err =
                serde_json::from_str::<BinsConfig>(&format!(r#"{{"count":{count},"key":{{}}}}"#))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("power of two"), "{count}: {err}");
        }
    }
}
