//! Looking one target up through the delegations, as python-tuf's Updater does
//! (`_preorder_depth_first_walk`): from top-level targets, pre-order and depth first, each
//! role's children in the order it lists them, a child only when its delegation covers the
//! target; a terminating delegation ends the search once its subtree is done; a (role,
//! parent) pair is visited once (cycles end), and at most [`MAX_DELEGATIONS`] roles are
//! visited. The first role on that walk that lists the target provides it.
//!
//! The lookup only orders the walk: the caller fetches and checks each role it names
//! ([`TrustedSet::check_delegated`](super::TrustedSet::check_delegated), against the parent
//! it was reached from) and tells the lookup what the role delegates.

use std::collections::HashSet;

use crate::tuf::delegation;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::Delegations;

/// Most roles one lookup visits, top-level targets included (python-tuf's
/// `max_delegations`).
pub const MAX_DELEGATIONS: usize = 32;

/// One target's lookup.
#[derive(Debug)]
pub struct Lookup {
    target: String,
    /// (role, parent) still to visit; the next one last.
    stack: Vec<(String, String)>,
    visited: HashSet<(String, String)>,
}

/// What the lookup asks for next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Look in `role`, as `parent` delegates it.
    Visit { role: String, parent: String },
    /// No role left that may provide the target; `cut_short` when roles were left after
    /// [`MAX_DELEGATIONS`] visits.
    Done { cut_short: bool },
}

impl Lookup {
    /// A lookup of `target`, starting at top-level targets (whose parent is root).
    pub fn new(target: &str) -> Self {
        Lookup {
            target: target.to_string(),
            stack: vec![("targets".into(), "root".into())],
            visited: HashSet::new(),
        }
    }

    /// The next role to look in.
    pub fn next(&mut self) -> Step {
        while self.visited.len() < MAX_DELEGATIONS {
            let Some((role, parent)) = self.stack.pop() else {
                return Step::Done { cut_short: false };
            };
            if !self.visited.contains(&(role.clone(), parent.clone())) {
                return Step::Visit { role, parent };
            }
        }
        Step::Done {
            cut_short: !self.stack.is_empty(),
        }
    }

    /// `role` (reached from `parent`) was checked and does not list the target: its
    /// delegations that cover the target are visited next, in the order listed; after a
    /// terminating one, no other role is.
    pub fn visited(
        &mut self,
        d: Dialect,
        role: &str,
        parent: &str,
        delegations: Option<&Delegations>,
    ) {
        self.visited.insert((role.to_string(), parent.to_string()));
        let mut children = Vec::new();
        for child in delegations.iter().flat_map(|dl| dl.roles.iter()) {
            if !delegation::covers(d, child, &self.target) {
                continue;
            }
            children.push((child.name.clone(), role.to_string()));
            if child.terminating == Some(true) {
                self.stack.clear();
                break;
            }
        }
        self.stack.extend(children.into_iter().rev());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::model::DelegatedRole;

    fn role(name: &str, paths: &[&str], terminating: bool) -> DelegatedRole {
        DelegatedRole {
            name: name.into(),
            keyids: vec![],
            threshold: 1,
            paths: Some(paths.iter().map(|p| p.to_string()).collect()),
            path_hash_prefixes: None,
            terminating: Some(terminating),
            extra: Default::default(),
        }
    }

    fn delegating(roles: Vec<DelegatedRole>) -> Delegations {
        Delegations {
            roles,
            ..Default::default()
        }
    }

    /// Walks a graph (parent -> delegations) for `target`, returning the roles visited.
    fn walk(graph: &[(&str, Vec<DelegatedRole>)], target: &str) -> (Vec<String>, bool) {
        let mut l = Lookup::new(target);
        let mut order = Vec::new();
        loop {
            match l.next() {
                Step::Visit { role, parent } => {
                    order.push(role.clone());
                    let dl = graph
                        .iter()
                        .find(|(n, _)| *n == role)
                        .map(|(_, r)| delegating(r.clone()));
                    l.visited(Dialect::Tuf, &role, &parent, dl.as_ref());
                }
                Step::Done { cut_short } => return (order, cut_short),
            }
        }
    }

    #[test]
    fn roles_are_visited_pre_order_depth_first_in_listed_order() {
        let g = [
            (
                "targets",
                vec![role("A", &["*"], false), role("B", &["*"], false)],
            ),
            (
                "A",
                vec![role("C", &["*"], false), role("D", &["*"], false)],
            ),
        ];
        assert_eq!(walk(&g, "x").0, ["targets", "A", "C", "D", "B"]);
    }

    #[test]
    fn a_terminating_delegation_ends_the_search_after_its_subtree() {
        let g = [
            (
                "targets",
                vec![role("A", &["*"], false), role("B", &["*"], false)],
            ),
            ("A", vec![role("C", &["*"], true), role("D", &["*"], false)]),
            ("C", vec![role("E", &["*"], false)]),
        ];
        assert_eq!(walk(&g, "x").0, ["targets", "A", "C", "E"]);
    }

    #[test]
    fn only_delegations_covering_the_target_are_followed() {
        let g = [
            (
                "targets",
                vec![
                    role("A", &["*.py"], false),
                    role("B", &["releases/*/*"], false),
                ],
            ),
            ("B", vec![role("C", &["releases/x/*"], false)]),
        ];
        assert_eq!(walk(&g, "releases/x/a").0, ["targets", "B", "C"]);
        assert_eq!(walk(&g, "releases/README.md").0, ["targets"]);
    }

    #[test]
    fn cycles_end_and_visits_are_bounded() {
        let g = [
            ("targets", vec![role("B", &["*"], false)]),
            ("B", vec![role("C", &["*"], false)]),
            ("C", vec![role("B", &["*"], false)]),
        ];
        // B again from C (another parent), then C from B is a pair already visited.
        assert_eq!(
            walk(&g, "x"),
            (
                vec!["targets".into(), "B".into(), "C".into(), "B".into()],
                false
            )
        );
        // A chain longer than the bound is cut short.
        let chain: Vec<(String, Vec<DelegatedRole>)> = (0..40)
            .map(|i| {
                let name = if i == 0 {
                    "targets".to_string()
                } else {
                    format!("r{i}")
                };
                (name, vec![role(&format!("r{}", i + 1), &["*"], false)])
            })
            .collect();
        let g: Vec<(&str, Vec<DelegatedRole>)> =
            chain.iter().map(|(n, r)| (n.as_str(), r.clone())).collect();
        let (order, cut_short) = walk(&g, "x");
        assert_eq!(order.len(), MAX_DELEGATIONS);
        assert!(cut_short);
    }
}
