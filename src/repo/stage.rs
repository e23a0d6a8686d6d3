//! Staged target changes (`add`, `remove`) waiting for the next `publish`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::trustdir::read_optional;
use crate::fsio::{self, Overwrite};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::FileMeta;
use crate::{Error, Result};

/// One staged change. Hashes are hex here (for people reading `status`); the dialect decides
/// how metadata encodes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Change {
    Add {
        name: String,
        length: u64,
        sha256: String,
        sha512: String,
        /// The file hashed (absolute). Publishing the TUF 1.0 dialect copies it into the
        /// repository's targets after checking it still has these hashes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<std::path::PathBuf>,
        /// The delegated role that signs it (`add --role`); none: targets, or its hashed bin.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
    },
    Remove {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
    },
}

impl Change {
    pub fn name(&self) -> &str {
        match self {
            Change::Add { name, .. } | Change::Remove { name, .. } => name,
        }
    }

    pub fn role(&self) -> Option<&str> {
        match self {
            Change::Add { role, .. } | Change::Remove { role, .. } => role.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    pub changes: Vec<Change>,
    /// Delegations were added or removed (`delegation add|remove`): targets must be signed
    /// again even without target changes of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delegations_changed: bool,
}

/// A target name: not empty, no control characters.
pub fn check_target_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Usage("a target name cannot be empty".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "target name {name:?} contains control characters"
        )));
    }
    Ok(())
}

impl Stage {
    pub fn load(path: &Path) -> Result<Self> {
        match read_optional(path)? {
            None => Ok(Stage::default()),
            Some(b) => Self::from_bytes(&b, path),
        }
    }

    /// The stage file's contents (`path` names it in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Metadata(format!("{}: {e}", path.display())))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        if self.changes.is_empty() && !self.delegations_changed {
            return Self::clear(path);
        }
        // Compact: a stage of 100,000 targets is tens of megabytes.
        let mut bytes = serde_json::to_vec(self)
            .map_err(|e| Error::Metadata(format!("{}: {e}", path.display())))?;
        bytes.push(b'\n');
        fsio::write_atomic(path, &bytes, fsio::SECRET_FILE_MODE, Overwrite::Replace)
    }

    pub fn clear(path: &Path) -> Result<()> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
        }
    }

    /// Whether there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && !self.delegations_changed
    }

    /// Stages `change`, replacing any earlier staged change to the same name.
    pub fn push(&mut self, change: Change) {
        self.changes.retain(|c| c.name() != change.name());
        self.changes.push(change);
    }

    /// Stages many changes at once, in one pass (a later change to a name wins), so staging
    /// 100,000 targets is linear.
    pub fn push_many(&mut self, changes: Vec<Change>) {
        let mut last = std::collections::HashMap::new();
        for (i, c) in changes.iter().enumerate() {
            last.insert(c.name().to_string(), i);
        }
        self.changes.retain(|c| !last.contains_key(c.name()));
        self.changes.extend(
            changes
                .into_iter()
                .enumerate()
                .filter(|(i, c)| last.get(c.name()) == Some(i))
                .map(|(_, c)| c),
        );
    }

    /// Whether `name` is staged to be added.
    pub fn adds(&self, name: &str) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c, Change::Add { name: n, .. } if n == name))
    }

    /// Applies the changes to a targets map.
    pub fn apply(&self, dialect: Dialect, targets: &mut BTreeMap<String, FileMeta>) -> Result<()> {
        apply(dialect, self.changes.iter(), targets)
    }
}

/// Applies `changes` to a targets map.
pub fn apply<'a>(
    dialect: Dialect,
    changes: impl Iterator<Item = &'a Change>,
    targets: &mut BTreeMap<String, FileMeta>,
) -> Result<()> {
    {
        for c in changes {
            match c {
                Change::Add {
                    name,
                    length,
                    sha256,
                    sha512,
                    ..
                } => {
                    let mut hashes = crate::tuf::model::Hashes::new();
                    for (alg, h) in [("sha256", sha256), ("sha512", sha512)] {
                        // A target known by one digest (an image manifest: sha256 only).
                        if h.is_empty() {
                            continue;
                        }
                        let raw = hex::decode(h).map_err(|_| {
                            Error::Metadata(format!("staged {name}: {alg} is not hex"))
                        })?;
                        hashes.insert(alg, dialect.encode_hash(&raw));
                    }
                    targets.insert(
                        name.clone(),
                        FileMeta {
                            length: *length,
                            hashes,
                            version: None,
                            custom: None,
                            extra: Default::default(),
                        },
                    );
                }
                Change::Remove { name, .. } => {
                    targets.remove(name);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(name: &str, len: u64) -> Change {
        Change::Add {
            name: name.into(),
            length: len,
            sha256: "00".repeat(32),
            sha512: "11".repeat(64),
            path: None,
            role: None,
        }
    }

    #[test]
    fn later_changes_replace_earlier_ones() {
        let mut s = Stage::default();
        s.push(add("a", 1));
        s.push(add("b", 2));
        s.push(Change::Remove {
            name: "a".into(),
            role: None,
        });
        s.push(add("b", 3));
        assert_eq!(
            s.changes,
            vec![
                Change::Remove {
                    name: "a".into(),
                    role: None,
                },
                add("b", 3)
            ]
        );
        let mut t = BTreeMap::new();
        s.apply(Dialect::Notary, &mut t).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t["b"].length, 3);
    }

    #[test]
    fn push_many_is_push_in_order() {
        let batch = vec![
            add("a", 1),
            add("b", 2),
            add("a", 3),
            Change::Remove {
                name: "c".into(),
                role: None,
            },
        ];
        let mut one = Stage::default();
        one.push(add("c", 9));
        one.push(add("b", 0));
        let mut many = one.clone();
        for c in batch.clone() {
            one.push(c);
        }
        many.push_many(batch);
        assert_eq!(one, many);
    }

    #[test]
    fn save_load_clear() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("staged.json");
        let mut s = Stage::default();
        s.push(add("x", 5));
        s.save(&p).unwrap();
        assert_eq!(Stage::load(&p).unwrap(), s);
        Stage::clear(&p).unwrap();
        assert_eq!(Stage::load(&p).unwrap(), Stage::default());
    }
}
