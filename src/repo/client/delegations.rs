//! Walking delegations after targets is verified, in both dialects: each delegated role
//! listed in snapshot is fetched, checked against snapshot's entry, verified with the keys and
//! threshold its parent delegates to it, and checked for type, version (no rollback) and
//! expiry. Roles are visited pre-order, depth first, in the order each parent lists them (as
//! python-tuf searches; notary walks breadth first, which yields the same set of targets for
//! delegations from targets, the only ones notary clients create).
//!
//! Which role a target comes from: the first role in that order that lists it. A target a
//! role lists outside the paths delegated to it (through every delegation on the way down) is
//! rejected and reported (`Verified::rejected`). TUF 1.0 `terminating`: once a terminating
//! delegation was searched, targets it covers are not taken from later roles.

use std::collections::{BTreeMap, HashSet};

use super::{fail, malformed, Client, Rejected, TrustedState, VerifiedRole};
use crate::repo::delegations::TARGETS;
use crate::repo::layout;
use crate::tuf::delegation::{self, describe_paths};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{DelegatedRole, Delegations, MetaList, RoleName, Targets};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::tuf::{DelegationProblem, VerifyError};
use crate::Result;

/// More roles than any repository trustkey knows of (65,536 hashed bins and then some).
const MAX_ROLES: usize = 100_000;

struct Frame {
    /// The delegation entries from targets down to this role.
    chain: Vec<DelegatedRole>,
    keys: RoleKeySet,
}

impl Client<'_> {
    /// Verifies every delegated role reachable from `top` and returns all roles, targets
    /// first, each with the targets it provides.
    pub(super) fn walk_delegations(
        &self,
        top: Targets,
        snapshot: &MetaList,
        consistent: bool,
        state: &mut TrustedState,
        rejected: &mut Vec<Rejected>,
    ) -> Result<Vec<VerifiedRole>> {
        let d = self.opts.dialect;
        let mut out = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        push_children(d, TARGETS, &top.delegations, &[], &mut stack)?;
        let mut found: HashSet<String> = HashSet::new();
        let top_version = top.common.version;
        if !stack.is_empty() {
            found.extend(top.targets.keys().cloned());
        }
        out.push(VerifiedRole {
            name: TARGETS.into(),
            version: top_version,
            targets: top.targets,
        });
        let mut visited: HashSet<String> = HashSet::from([TARGETS.to_string()]);
        let mut blockers: Vec<Vec<DelegatedRole>> = Vec::new();
        let mut versions = BTreeMap::new();

        while let Some(frame) = stack.pop() {
            let entry = frame.chain.last().expect("a chain is never empty");
            let name = entry.name.clone();
            if !visited.insert(name.clone()) {
                continue;
            }
            if visited.len() > MAX_ROLES {
                return Err(fail(VerifyError::TooManyRoles { max: MAX_ROLES }));
            }
            let Some(m) = self.fetch_delegated(&name, snapshot, consistent)? else {
                continue;
            };
            let t: Targets = verify::signatures_and_view(d, &m, &frame.keys, &name)
                .map_err(fail)?
                .map_err(fail)?;
            verify::type_name(d, RoleName::Targets, &name, &t.common).map_err(fail)?;
            verify::spec_version(d, &name, &t.common).map_err(fail)?;
            verify::version(
                &name,
                t.common.version,
                state.delegations.get(&name).copied(),
            )
            .map_err(fail)?;
            verify::expiry(d, &name, &t.common, self.opts.now).map_err(fail)?;
            versions.insert(name.clone(), t.common.version);

            let mut targets = t.targets;
            // A target outside the paths delegated to the role (through every delegation on
            // the way down) is rejected, as notary and python-tuf clients reject it: it is not
            // listed, and `verify --target` of it says why.
            targets.retain(|target, _| {
                match frame
                    .chain
                    .iter()
                    .find(|e| !delegation::covers(d, e, target))
                {
                    None => true,
                    Some(e) => {
                        rejected.push(Rejected {
                            role: name.clone(),
                            target: target.clone(),
                            reason: format!(
                                "{name} lists {target:?} outside the paths delegated to {} ({})",
                                e.name,
                                describe_paths(e)
                            ),
                        });
                        false
                    }
                }
            });
            // The first role that lists a target provides it; a terminating delegation
            // searched before (not an ancestor) hides what it covers.
            let is_ancestor = |b: &[DelegatedRole]| frame.chain.starts_with(b);
            let active: Vec<&Vec<DelegatedRole>> =
                blockers.iter().filter(|b| !is_ancestor(b)).collect();
            targets.retain(|target, _| {
                !found.contains(target)
                    && !active
                        .iter()
                        .any(|b| b.iter().all(|e| delegation::covers(d, e, target)))
            });
            found.extend(targets.keys().cloned());
            if entry.terminating == Some(true) {
                blockers.push(frame.chain.clone());
            }
            push_children(d, &name, &t.delegations, &frame.chain, &mut stack)?;
            out.push(VerifiedRole {
                name,
                version: t.common.version,
                targets,
            });
        }
        state.delegations = versions;
        Ok(out)
    }

    /// A delegated role's file, as snapshot lists it. `None` when snapshot does not list it
    /// and the dialect allows that (notary: a delegation nobody signed yet).
    fn fetch_delegated(
        &self,
        name: &str,
        snapshot: &MetaList,
        consistent: bool,
    ) -> Result<Option<SignedMeta>> {
        let d = self.opts.dialect;
        let key = d.meta_key(name);
        let Some(entry) = snapshot.meta.get(&key) else {
            return match d {
                Dialect::Notary => Ok(None),
                Dialect::Tuf => Err(fail(VerifyError::DelegationNotListed {
                    role: name.to_string(),
                })),
            };
        };
        let file = match d {
            Dialect::Notary => format!("{name}.json"),
            Dialect::Tuf => layout::role_file_named(&quote(name), entry.version, consistent),
        };
        let bytes = self.remote.get(&file)?.ok_or_else(|| {
            fail(VerifyError::Missing {
                role: name.to_string(),
                file: file.clone(),
                remote: self.remote.describe(),
            })
        })?;
        let m = SignedMeta::parse_named(RoleName::Targets, name, bytes).map_err(malformed)?;
        verify::meta_matches(d, &m, RoleName::Snapshot, &snapshot.meta).map_err(fail)?;
        Ok(Some(m))
    }
}

/// Pushes the roles `parent` delegates to, so that they pop in the order listed.
fn push_children(
    d: Dialect,
    parent: &str,
    delegations: &Option<Delegations>,
    chain: &[DelegatedRole],
    stack: &mut Vec<Frame>,
) -> Result<()> {
    let Some(dl) = delegations else {
        return Ok(());
    };
    let mut frames = Vec::with_capacity(dl.roles.len());
    for role in &dl.roles {
        check_role_name(d, parent, role)?;
        let keys = RoleKeySet::from_delegation(d, parent, &dl.keys, role).map_err(fail)?;
        let mut c = chain.to_vec();
        c.push(role.clone());
        frames.push(Frame { chain: c, keys });
    }
    stack.extend(frames.into_iter().rev());
    Ok(())
}

/// A delegated role's name must be one the dialect allows (it becomes a file name): notary
/// `targets/...` below its parent (`^[-a-z0-9_/]+$`, clean); TUF 1.0 any name except a
/// top-level role's (fetched percent-encoded, as python-tuf does). Paths must be set as the
/// dialect requires.
fn check_role_name(d: Dialect, parent: &str, role: &DelegatedRole) -> Result<()> {
    let name = &role.name;
    let bad = |problem| {
        Err(fail(VerifyError::BadDelegation {
            parent: parent.to_string(),
            role: name.clone(),
            problem,
        }))
    };
    match d {
        Dialect::Notary => {
            let clean = !name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..");
            if !name.starts_with(&format!("{parent}/"))
                || !clean
                || name.len() >= 256
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_/".contains(&b))
            {
                return bad(DelegationProblem::NotValidUnder {
                    parent: parent.to_string(),
                });
            }
        }
        Dialect::Tuf => {
            if name.parse::<RoleName>().is_ok() {
                return bad(DelegationProblem::TopLevelName);
            }
            if role.paths.is_some() == role.path_hash_prefixes.is_some() {
                return bad(DelegationProblem::PathsAndPrefixes);
            }
            if role.terminating.is_none() {
                return bad(DelegationProblem::NoTerminating);
            }
        }
    }
    Ok(())
}

/// Python's `urllib.parse.quote(name, "")`: what python-tuf requests for a role name.
fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_python() {
        assert_eq!(quote("bins-000-003"), "bins-000-003");
        assert_eq!(quote("a/b c"), "a%2Fb%20c");
        assert_eq!(quote(".."), "..");
    }
}
