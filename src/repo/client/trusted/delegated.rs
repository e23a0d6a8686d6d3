//! Delegated targets roles in the trusted set, in both dialects: each is checked against
//! snapshot's entry, verified with the keys and threshold its parent delegates to it, and
//! checked for type, version (no rollback) and expiry. Roles are visited pre-order, depth
//! first, in the order each parent lists them (as python-tuf searches; notary walks breadth
//! first, which yields the same set of targets for delegations from targets, the only ones
//! notary clients create).
//!
//! Which role a target comes from: the first role in that order that lists it. A target a
//! role lists outside the paths delegated to it (through every delegation on the way down) is
//! rejected and reported (`Verified::rejected`). TUF 1.0 `terminating`: once a terminating
//! delegation was searched, targets it covers are not taken from later roles.
//!
//! Bounds. `verify` and `list` walk every role (every target listed, every role verified:
//! one bad role fails the update), where python-tuf looks one target up at a time, visiting
//! at most 32 roles (`max_delegations`). So that no lookup python-tuf can make goes deeper,
//! and no delegated signer can make the walk endless with its own key, a role more than 32
//! delegations below targets is refused ([`MAX_DELEGATION_DEPTH`]); a walk visits at most
//! 100,000 roles; and targets are checked against earlier terminating roles within a budget
//! ([`MAX_BLOCKER_CHECKS`]). Time and memory are linear in roles and targets.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod found;
use found::Found;

use super::{fail, malformed, out_of_order, Phase, TrustedSet};
use crate::repo::client::{Rejected, VerifiedRole};
use crate::repo::delegations::TARGETS;
use crate::tuf::delegation::{self, describe_paths};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{DelegatedRole, Delegations, MetaFile, RoleName, Targets};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, RoleKeySet};
use crate::tuf::{DelegationProblem, VerifyError};
use crate::Result;

/// More roles than any repository trustkey knows of (65,536 hashed bins and then some).
const MAX_ROLES: usize = 100_000;

/// How many delegations deep a role may be (targets' own are 1). python-tuf visits at most 32
/// roles (`max_delegations`) to look a target up, so it never reaches a role deeper than
/// this; trustkey refuses a repository that delegates deeper, when it would fetch such a
/// role, rather than walk an unbounded chain any delegated signer can extend with its own key.
pub const MAX_DELEGATION_DEPTH: usize = 32;

/// How many times one walk may check a target against a terminating role's chain. Targets
/// are checked only against terminating roles whose paths could cover them, so repositories
/// spend a few checks per target; delegations made to defeat that (thousands of terminating
/// roles with patterns like `*x1`, `*x2`) are refused rather than checked for minutes.
pub const MAX_BLOCKER_CHECKS: usize = 10_000_000;

/// The terminating roles searched so far, indexed by the literal start of their own paths:
/// a role can cover a target only if one of its paths' literal prefixes (up to the first
/// `*`, `?` or `[` in TUF 1.0; the whole prefix in Notary) starts the target, or, for hash
/// prefixes, starts the target's hash.
#[derive(Debug, Default)]
struct Blockers {
    by_prefix: HashMap<String, Vec<usize>>,
    by_hash_prefix: HashMap<String, Vec<usize>>,
    /// The lengths of the prefixes indexed, shortest first.
    prefix_lens: BTreeSet<usize>,
    hash_prefix_lens: BTreeSet<usize>,
    /// Checks made so far, and the budget (`MAX_BLOCKER_CHECKS` unless a test sets another).
    checks: usize,
    budget: Option<usize>,
}

impl Blockers {
    fn insert(&mut self, d: Dialect, at: usize, entry: &DelegatedRole) {
        for p in entry.path_hash_prefixes.iter().flatten() {
            self.hash_prefix_lens.insert(p.len());
            self.by_hash_prefix.entry(p.clone()).or_default().push(at);
        }
        for p in entry.paths.iter().flatten() {
            let literal = match d {
                Dialect::Notary => p.as_str(),
                Dialect::Tuf => p.split(['*', '?', '[']).next().unwrap_or_default(),
            };
            self.prefix_lens.insert(literal.len());
            self.by_prefix
                .entry(literal.to_string())
                .or_default()
                .push(at);
        }
    }

    /// The terminating roles that could cover `target`, in the order searched.
    fn candidates(&self, target: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut look = |map: &HashMap<String, Vec<usize>>, key: &str, lens: &BTreeSet<usize>| {
            for &len in lens.range(..=key.len()) {
                if let Some(found) = key.get(..len).and_then(|k| map.get(k)) {
                    out.extend_from_slice(found);
                }
            }
        };
        look(&self.by_prefix, target, &self.prefix_lens);
        if !self.hash_prefix_lens.is_empty() {
            let h = delegation::target_hash(target);
            look(&self.by_hash_prefix, &h, &self.hash_prefix_lens);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Takes one check from the budget; false once it is spent.
    fn spend(&mut self) -> bool {
        self.checks = self.checks.saturating_add(1);
        self.checks <= self.budget()
    }

    fn budget(&self) -> usize {
        self.budget.unwrap_or(MAX_BLOCKER_CHECKS)
    }
}

/// The next delegated role to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextRole {
    pub role: String,
    /// The role that delegates to it.
    pub parent: String,
    /// The version snapshot lists for it (TUF 1.0 consistent snapshots name the file by it).
    pub version: Option<u64>,
    /// The length snapshot lists for it, if any: the most the client reads of it.
    pub length: Option<u64>,
    /// The sha256 (hex) snapshot lists for it, if any (notary serves `<role>.<hex>.json`).
    pub sha256: Option<String>,
}

/// What is kept of each trusted targets role for its children: its own delegation entry and
/// its parent (the chain down from targets is followed through parents, not copied into each
/// role: memory stays linear in the number of roles).
#[derive(Debug)]
struct Node {
    /// The parent's index in `Walk::nodes` and the entry delegating to this role (`None`
    /// for targets).
    up: Option<(usize, DelegatedRole)>,
    /// Delegations from targets down to this role (0 for targets).
    depth: usize,
    /// The roles it delegates to, by name (the first entry of a name), with their keys.
    children: HashMap<String, (DelegatedRole, RoleKeySet)>,
}

/// The delegation walk: trusted roles, the roles still to visit, and which role provides
/// each target.
#[derive(Debug, Default)]
pub(super) struct Walk {
    /// Trusted roles, in the order visited; `by_name` indexes them.
    nodes: Vec<Node>,
    by_name: HashMap<String, usize>,
    /// (role, parent) still to visit; the next one last.
    pending: Vec<(String, String)>,
    /// Roles visited (verified, or skipped as snapshot does not list them).
    visited: HashSet<String>,
    /// Targets some role provides already.
    found: Found,
    /// The terminating roles searched so far.
    blockers: Blockers,
    roles: Vec<VerifiedRole>,
    rejected: Vec<Rejected>,
    /// Versions of the delegated roles verified.
    versions: BTreeMap<String, u64>,
}

impl Walk {
    /// Top-level targets, verified: the root of the walk.
    pub(super) fn top(&mut self, d: Dialect, view: Targets) -> Result<&VerifiedRole> {
        let (order, children) = children(d, TARGETS, &view.delegations)?;
        self.pending
            .extend(order.into_iter().rev().map(|c| (c, TARGETS.to_string())));
        if !self.pending.is_empty() {
            let at = self.roles.len();
            for name in view.targets.keys() {
                let h = self.found.hash(name);
                self.found.add(h, at);
            }
        }
        self.visited.insert(TARGETS.to_string());
        self.insert(
            TARGETS,
            Node {
                up: None,
                depth: 0,
                children,
            },
        );
        Ok(self.keep(VerifiedRole {
            name: TARGETS.into(),
            version: view.common.version,
            expires: view.common.expires.clone(),
            targets: view.targets,
            delegated_to: None,
        }))
    }

    /// The entry top-level targets lists for `target`.
    pub(super) fn top_target(&self, target: &str) -> Option<&crate::tuf::model::FileMeta> {
        self.roles
            .first()
            .filter(|r| r.name == TARGETS)
            .and_then(|r| r.targets.get(target))
    }

    /// Another budget of target checks against terminating roles (tests).
    #[cfg(test)]
    pub(super) fn set_check_budget(&mut self, checks: usize) {
        self.blockers.budget = Some(checks);
    }

    fn insert(&mut self, name: &str, node: Node) -> usize {
        let at = self.nodes.len();
        self.nodes.push(node);
        self.by_name.insert(name.to_string(), at);
        at
    }

    fn node(&self, name: &str) -> Option<&Node> {
        self.by_name.get(name).and_then(|&i| self.nodes.get(i))
    }

    /// Keeps a verified role, in the order visited, and returns it.
    #[allow(
        clippy::indexing_slicing,
        reason = "the role was pushed at this index on the line before"
    )]
    fn keep(&mut self, role: VerifiedRole) -> &VerifiedRole {
        let at = self.roles.len();
        self.roles.push(role);
        &self.roles[at] // pushed just now
    }

    /// The roles (targets first, in the order visited), the rejected targets, and the
    /// versions of the delegated roles.
    pub(super) fn into_parts(self) -> (Vec<VerifiedRole>, Vec<Rejected>, BTreeMap<String, u64>) {
        (self.roles, self.rejected, self.versions)
    }

    /// A delegated role, verified, delegated by the trusted role `parent` with `entry`:
    /// drops and records the targets outside its paths, keeps those no earlier role
    /// provides, and queues its children. The work is linear in its targets times its depth
    /// (bounded) and the terminating roles searched before it.
    fn add(
        &mut self,
        d: Dialect,
        name: &str,
        (parent, entry, keys): (usize, DelegatedRole, RoleKeySet),
        (view, outside, hashes): (Targets, Vec<Rejected>, Vec<u64>),
    ) -> Result<&VerifiedRole> {
        let depth = self.nodes.get(parent).map_or(0, |p| p.depth) + 1;
        let terminating = entry.terminating == Some(true);
        let (order, children) = children(d, name, &view.delegations)?;
        let at = self.insert(
            name,
            Node {
                up: Some((parent, entry)),
                depth,
                children,
            },
        );
        // Targets outside the role's paths were taken out when it was checked.
        let mut targets = view.targets;
        self.rejected.extend(outside);
        let nodes = &self.nodes;
        let (_, path) = chain_of(nodes, at);
        // The first role that lists a target provides it; a terminating delegation searched
        // before (not an ancestor) hides what it covers: each target is checked against the
        // chains of the terminating roles whose own paths could cover it (an index by the
        // paths' literal prefixes), within a budget of checks for the whole walk.
        let blockers = &mut self.blockers;
        let (found, roles) = (&mut self.found, &self.roles);
        let mut over_budget = false;
        // One pass over the names with the hashes the check computed (a million targets in
        // hashed bins make this the walk's own serial work); the few dropped go after.
        let mut dropped = Vec::new();
        let mut kept = Vec::with_capacity(targets.len());
        for (target, &h) in targets.keys().zip(&hashes) {
            if found.contains(roles, h, target) {
                dropped.push(target.clone());
                continue;
            }
            let blocked = blockers.candidates(target).into_iter().any(|b| {
                if path.contains(&b) {
                    return false;
                }
                over_budget |= !blockers.spend();
                let (entries, _) = chain_of(nodes, b);
                entries.iter().all(|e| delegation::covers(d, e, target))
            });
            if blocked {
                dropped.push(target.clone());
            } else {
                kept.push(h);
            }
        }
        if over_budget {
            return Err(fail(VerifyError::TooManyChecks {
                max: self.blockers.budget(),
            }));
        }
        for t in &dropped {
            targets.remove(t);
        }
        let role_at = self.roles.len();
        for h in kept {
            self.found.add(h, role_at);
        }
        if terminating {
            if let Some(Node {
                up: Some((_, e)), ..
            }) = self.nodes.get(at)
            {
                self.blockers.insert(d, at, e);
            }
        }
        self.pending
            .extend(order.into_iter().rev().map(|c| (c, name.to_string())));
        self.visited.insert(name.to_string());
        Ok(self.keep(VerifiedRole {
            name: name.to_string(),
            version: view.common.version,
            expires: view.common.expires.clone(),
            targets,
            delegated_to: Some(keys),
        }))
    }
}

impl TrustedSet {
    /// The next delegated role to fetch, in the order clients search them, or `None` when
    /// every reachable role was visited. A role is visited once (the first parent that
    /// delegates to it); a role snapshot does not list is skipped in the Notary dialect (a
    /// delegation nobody signed yet) and an error in TUF 1.0.
    pub fn next_delegation(&mut self) -> Result<Option<NextRole>> {
        if self.phase != Phase::Targets {
            return Err(out_of_order(
                "next_delegation",
                "targets is not trusted yet",
            ));
        }
        while let Some((role, parent)) = self.walk.pending.pop() {
            if !self.walk.visited.insert(role.clone()) {
                continue;
            }
            if self.walk.visited.len() > MAX_ROLES {
                return Err(fail(VerifyError::TooManyRoles { max: MAX_ROLES }));
            }
            if let Some(entry) = self.snapshot_entry(&role)? {
                let depth = self.walk.node(&parent).map_or(0, |p| p.depth) + 1;
                if depth > MAX_DELEGATION_DEPTH {
                    return Err(fail(VerifyError::TooDeep {
                        role,
                        max: MAX_DELEGATION_DEPTH,
                    }));
                }
                return Ok(Some(NextRole {
                    version: entry.version,
                    length: entry.length,
                    sha256: super::sha256_hex(self.dialect(), entry),
                    role,
                    parent,
                }));
            }
        }
        Ok(None)
    }

    /// Snapshot's entry for a delegated role: `None` when it has none and the dialect allows
    /// that (notary).
    pub(super) fn snapshot_entry(&self, role: &str) -> Result<Option<&MetaFile>> {
        let d = self.dialect();
        let entry = self
            .snapshot
            .as_ref()
            .and_then(|s| s.meta.get(&d.meta_key(role)));
        match (entry, d) {
            (Some(e), _) => Ok(Some(e)),
            (None, Dialect::Notary) => Ok(None),
            (None, Dialect::Tuf) => Err(fail(VerifyError::DelegationNotListed {
                role: role.to_string(),
            })),
        }
    }

    /// The roles [`next_delegation`](Self::next_delegation) would return after the one it
    /// returned last, as far as the walk knows them now (at most `max`): a role visited
    /// later may delegate to roles searched before these. The updater checks them ahead,
    /// side by side; the walk still takes each in its own turn.
    pub fn peek_delegations(&self, max: usize) -> Vec<NextRole> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (role, parent) in self.walk.pending.iter().rev() {
            if out.len() >= max {
                break;
            }
            if self.walk.visited.contains(role) || !seen.insert(role.as_str()) {
                continue;
            }
            if let Ok(Some(entry)) = self.snapshot_entry(role) {
                out.push(NextRole {
                    role: role.clone(),
                    parent: parent.clone(),
                    version: entry.version,
                    length: entry.length,
                    sha256: super::sha256_hex(self.dialect(), entry),
                });
            }
        }
        out
    }

    /// The delegated role `role`, which the trusted role `parent` delegates to: against
    /// snapshot's entry, signatures by its delegated keys, `_type`, version, expiry. The
    /// role returned provides the targets it lists within its delegated paths that no role
    /// verified before provides; targets outside its paths are rejected (reported in
    /// `Verified::rejected`, not trusted). The roles it delegates to are checked and queued.
    pub fn update_delegated_targets(
        &mut self,
        role: &str,
        parent: &str,
        bytes: Vec<u8>,
    ) -> Result<&VerifiedRole> {
        let checked = self.check_delegated_role(role, parent, bytes)?;
        self.accept_delegated(checked)
    }

    /// The checks of [`update_delegated_targets`](Self::update_delegated_targets) that need
    /// nothing but the trusted parent and snapshot: pure, so roles are checked in parallel.
    pub fn check_delegated_role(
        &self,
        role: &str,
        parent: &str,
        bytes: Vec<u8>,
    ) -> Result<CheckedRole> {
        const CALL: &str = "update_delegated_targets";
        if self.phase != Phase::Targets {
            return Err(out_of_order(CALL, "targets is not trusted yet"));
        }
        let Some(&parent_at) = self.walk.by_name.get(parent) else {
            return Err(out_of_order(CALL, "its parent is not trusted yet"));
        };
        let Some((entry, keys)) = self
            .walk
            .nodes
            .get(parent_at)
            .and_then(|node| node.children.get(role))
        else {
            return Err(fail(VerifyError::NotDelegated {
                parent: parent.to_string(),
                role: role.to_string(),
            }));
        };
        let d = self.dialect();
        self.snapshot_entry(role)?;
        let m = SignedMeta::parse_named(RoleName::Targets, role, bytes).map_err(malformed)?;
        let listed = self.snapshot.as_ref().map(|s| &s.meta);
        verify::meta_matches(
            d,
            &m,
            RoleName::Snapshot,
            listed.unwrap_or(&BTreeMap::new()),
        )?;
        let t: Targets = verify::signatures_and_view(d, &m, keys, role)??;
        verify::type_name(d, RoleName::Targets, role, &t.common)?;
        verify::spec_version(d, role, &t.common)?;
        let trusted = self.prior.delegations.get(role).copied();
        verify::version(role, t.common.version, trusted)?;
        verify::expiry(d, role, &t.common, self.opts.now)?;
        let (mut chain, _) = chain_of(&self.walk.nodes, parent_at);
        chain.push(entry);
        let (view, outside) = outside_paths(d, role, &chain, t);
        let hashes = view
            .targets
            .keys()
            .map(|name| self.walk.found.hash(name))
            .collect();
        Ok(CheckedRole {
            role: role.to_string(),
            parent_at,
            entry: entry.clone(),
            keys: keys.clone(),
            view,
            outside,
            hashes,
        })
    }

    /// A checked role joins the walk: it provides its targets and queues its children.
    pub fn accept_delegated(&mut self, c: CheckedRole) -> Result<&VerifiedRole> {
        if self.phase != Phase::Targets {
            return Err(out_of_order(
                "accept_delegated",
                "targets is not trusted yet",
            ));
        }
        if self.walk.by_name.contains_key(&c.role) {
            return Err(out_of_order(
                "update_delegated_targets",
                "the role is trusted already",
            ));
        }
        let d = self.dialect();
        self.walk
            .versions
            .insert(c.role.clone(), c.view.common.version);
        self.walk.add(
            d,
            &c.role,
            (c.parent_at, c.entry, c.keys),
            (c.view, c.outside, c.hashes),
        )
    }
}

/// A target outside the paths delegated to the role `name` (through every delegation on the
/// way down, `chain`) is rejected, as notary and python-tuf clients reject it: it is not
/// listed, and `verify --target` of it says why. Part of the pure check, so that a thousand
/// hashed bins have their targets' hashes computed on every core.
fn outside_paths(
    d: Dialect,
    name: &str,
    chain: &[&DelegatedRole],
    mut view: Targets,
) -> (Targets, Vec<Rejected>) {
    let rejected: Vec<Rejected> = view
        .targets
        .keys()
        .filter_map(|target| {
            let e = chain.iter().find(|e| !delegation::covers(d, e, target))?;
            Some(Rejected {
                role: name.to_string(),
                target: target.clone(),
                reason: format!(
                    "{name} lists {target:?} outside the paths delegated to {} ({})",
                    e.name,
                    describe_paths(e)
                ),
            })
        })
        .collect();
    for r in &rejected {
        view.targets.remove(&r.target);
    }
    (view, rejected)
}

/// A delegated role that passed every check of its own ([`TrustedSet::check_delegated_role`]),
/// waiting for its turn in the walk.
#[derive(Debug)]
pub struct CheckedRole {
    role: String,
    parent_at: usize,
    entry: DelegatedRole,
    keys: RoleKeySet,
    view: Targets,
    /// Its targets outside the paths delegated to it, taken out of `view`.
    outside: Vec<Rejected>,
    /// The walk's hash of each target name of `view`, in order.
    hashes: Vec<u64>,
}

/// The delegation entries from targets down to the role `at` of `nodes` (at most
/// [`MAX_DELEGATION_DEPTH`]), and the indices of the role and its ancestors.
fn chain_of(nodes: &[Node], at: usize) -> (Vec<&DelegatedRole>, Vec<usize>) {
    let mut entries = Vec::new();
    let mut path = vec![at];
    let mut node = nodes.get(at);
    while let Some((parent, entry)) = node.and_then(|n| n.up.as_ref()) {
        entries.push(entry);
        path.push(*parent);
        node = nodes.get(*parent);
    }
    entries.reverse();
    (entries, path)
}

/// The roles `parent` delegates to, in the order listed, each checked (name, keys).
type Children = (Vec<String>, HashMap<String, (DelegatedRole, RoleKeySet)>);

fn children(d: Dialect, parent: &str, delegations: &Option<Delegations>) -> Result<Children> {
    let mut order = Vec::new();
    let mut by_name = HashMap::new();
    let Some(dl) = delegations else {
        return Ok((order, by_name));
    };
    for role in &dl.roles {
        check_role_name(d, parent, role)?;
        let keys = RoleKeySet::from_delegation(d, parent, &dl.keys, role)?;
        order.push(role.name.clone());
        by_name
            .entry(role.name.clone())
            .or_insert_with(|| (role.clone(), keys));
    }
    Ok((order, by_name))
}

/// A delegated role's name must be one the dialect allows (it becomes a file name): notary
/// `targets/...` below its parent (`^[-a-z0-9_/]+$`, clean); TUF 1.0 any name except a
/// top-level role's (fetched percent-encoded, as python-tuf does). Paths must be set as the
/// dialect requires.
pub(super) fn check_role_name(d: Dialect, parent: &str, role: &DelegatedRole) -> Result<()> {
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
            // Fail closed on a name whose file is another's (`2.root` without consistent
            // snapshots is `2.root.json`): the publisher refuses them too.
            if delegation::shares_a_metadata_file(name) {
                return bad(DelegationProblem::SharesAFile);
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
