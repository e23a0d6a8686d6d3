//! The names the walk has found: which role provides each target, looked up by hashes the
//! threads that check roles computed.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use crate::repo::client::VerifiedRole;

/// The target names some role provides already, by a keyed hash of each name (SipHash with
/// this walk's random key, so a repository cannot choose names that collide), computed by the
/// threads that check roles; the walk itself only looks the numbers up. Names whose hashes
/// agree are told apart by the roles' own target lists.
#[derive(Debug, Default)]
pub(super) struct Found {
    key: RandomState,
    /// hash -> the first role (index into the walk's roles) that provides a name of it.
    first: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
    /// Further roles with a name of the same hash (another name, or never: a role provides
    /// a name only when no role before does).
    more: HashMap<u64, Vec<usize>, BuildHasherDefault<Prehashed>>,
}

impl Found {
    pub(super) fn hash(&self, name: &str) -> u64 {
        self.key.hash_one(name)
    }

    pub(super) fn contains(&self, roles: &[VerifiedRole], h: u64, name: &str) -> bool {
        let lists = |r: &usize| roles.get(*r).is_some_and(|v| v.targets.contains_key(name));
        self.first.get(&h).is_some_and(lists)
            || self.more.get(&h).is_some_and(|rs| rs.iter().any(lists))
    }

    pub(super) fn add(&mut self, h: u64, role: usize) {
        match self.first.entry(h) {
            Entry::Vacant(v) => {
                v.insert(role);
            }
            Entry::Occupied(o) if *o.get() != role => {
                self.more.entry(h).or_default().push(role);
            }
            Entry::Occupied(_) => {}
        }
    }
}

/// The hasher of maps keyed by a hash already keyed and mixed: the number itself.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, targets: &[&str]) -> VerifiedRole {
        VerifiedRole {
            name: name.into(),
            version: 1,
            expires: String::new(),
            targets: targets
                .iter()
                .map(|t| {
                    let meta = serde_json::json!({"length": 1, "hashes": {"sha256": "00"}});
                    (t.to_string(), serde_json::from_value(meta).unwrap())
                })
                .collect(),
            delegated_to: None,
        }
    }

    /// Names are found by their hash and told apart by the roles' own lists: two names
    /// forced onto one hash (as a collision would) are each found only where listed.
    #[test]
    fn names_sharing_a_hash_are_told_apart() {
        let roles = vec![role("a", &["x"]), role("b", &["y"])];
        let mut found = Found::default();
        assert!(!found.contains(&roles, 7, "x"));
        found.add(7, 0);
        assert!(found.contains(&roles, 7, "x"));
        assert!(!found.contains(&roles, 7, "y"), "same hash, another name");
        found.add(7, 1);
        assert!(found.contains(&roles, 7, "y"));
        assert!(!found.contains(&roles, 7, "z"));
        assert!(!found.contains(&roles, 8, "x"), "another hash");
        assert_eq!(found.hash("x"), found.hash("x"));
        assert_ne!(
            found.hash("x"),
            Found::default().hash("x"),
            "keyed per walk"
        );
    }
}
