//! What a signer is shown before signing: computed from the request's bytes (the root, and the
//! trusted root it follows), never from the request's other fields.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{check, Opened, Purpose, Request};
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::canonical_key_id;
use crate::tuf::model::Root;

/// One key of a role, as the root lists it.
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    /// The ID root metadata gives it.
    pub key_id: String,
    /// The bare public key's ID (as `root list` and `root export` show it).
    pub canonical_id: String,
    /// Notary dialect, root keys: the certificate's common name (the GUN it is for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_for: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleSummary {
    pub role: String,
    pub threshold: u64,
    pub keys: Vec<KeySummary>,
}

/// A difference from the trusted root, in words.
#[derive(Debug, Clone, Serialize)]
pub struct Change(pub String);

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// As the request names it (TUF root metadata does not; notary's root certificates do).
    pub gun: String,
    pub dialect: Dialect,
    pub purpose: Purpose,
    pub version: u64,
    pub expires: String,
    pub consistent_snapshot: bool,
    /// Hex sha256 of the exact bytes signed: compare it with the publisher's.
    pub sha256: String,
    pub roles: Vec<RoleSummary>,
    /// The trusted root it follows, if any, and what changes from it.
    pub previous_version: Option<u64>,
    pub changes: Vec<Change>,
    /// For each needed set: "root vN: T of K keys" and which have signed.
    pub needs: Vec<String>,
    pub signed_by: Vec<String>,
}

impl Summary {
    pub fn of(req: &Request, o: &Opened) -> Self {
        let d = o.dialect;
        let root = &o.root;
        let roles = roles(d, root);
        let valid: Vec<&str> = req
            .signatures
            .iter()
            .filter(|s| check::verifies(o, s))
            .map(|s| s.keyid.as_str())
            .collect();
        let needs = o
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let v = match (i, &o.previous) {
                    (0, _) => root.common.version,
                    (_, Some((_, p))) => p.common.version,
                    _ => 0,
                };
                let done = s
                    .keys
                    .keys()
                    .filter(|k| valid.contains(&k.as_str()))
                    .count();
                format!(
                    "{} of the {} root keys of v{v} must sign ({done} have)",
                    s.threshold,
                    s.keys.len()
                )
            })
            .collect();
        let changes = match &o.previous {
            Some((_, prev)) => changes(d, prev, root),
            None => Vec::new(),
        };
        Summary {
            gun: req.gun.clone(),
            dialect: d,
            purpose: req.purpose,
            version: root.common.version,
            expires: root.common.expires.clone(),
            consistent_snapshot: root.consistent_snapshot,
            sha256: super::sha256_hex(&o.bytes),
            roles,
            previous_version: o.previous.as_ref().map(|(_, p)| p.common.version),
            changes,
            needs,
            signed_by: valid.iter().map(|s| s.to_string()).collect(),
        }
    }
}

fn roles(d: Dialect, root: &Root) -> Vec<RoleSummary> {
    let mut out: Vec<RoleSummary> = root
        .roles
        .iter()
        .map(|(name, r)| RoleSummary {
            role: name.clone(),
            threshold: r.threshold,
            keys: r
                .keyids
                .iter()
                .map(|id| {
                    let decoded = root.keys.get(id).and_then(|k| d.decode_key(k).ok());
                    KeySummary {
                        key_id: id.clone(),
                        canonical_id: decoded
                            .as_ref()
                            .and_then(|k| k.key.p256().map(canonical_key_id))
                            .unwrap_or_else(|| "(not a key this trustkey reads)".into()),
                        certificate_for: decoded.and_then(|k| k.cert).map(|c| c.common_name),
                    }
                })
                .collect(),
        })
        .collect();
    // Root first, then the others in the order TUF names them.
    let order = ["root", "targets", "snapshot", "timestamp"];
    out.sort_by_key(|r| {
        order
            .iter()
            .position(|o| *o == r.role)
            .unwrap_or(order.len())
    });
    out
}

/// What changes from `prev` to `next`, in words.
fn changes(d: Dialect, prev: &Root, next: &Root) -> Vec<Change> {
    let mut out = Vec::new();
    if prev.common.expires != next.common.expires {
        out.push(Change(format!(
            "expires {} (was {})",
            next.common.expires, prev.common.expires
        )));
    }
    if prev.consistent_snapshot != next.consistent_snapshot {
        out.push(Change(format!(
            "consistent_snapshot {} (was {})",
            next.consistent_snapshot, prev.consistent_snapshot
        )));
    }
    let (p, n) = (roles(d, prev), roles(d, next));
    let names: BTreeSet<&String> = p.iter().chain(&n).map(|r| &r.role).collect();
    for name in names {
        let a = p.iter().find(|r| &r.role == name);
        let b = n.iter().find(|r| &r.role == name);
        let ids = |r: Option<&RoleSummary>| -> BTreeSet<String> {
            r.map(|r| r.keys.iter().map(|k| k.canonical_id.clone()).collect())
                .unwrap_or_default()
        };
        let (ia, ib) = (ids(a), ids(b));
        for k in ib.difference(&ia) {
            out.push(Change(format!("{name}: key {k} added")));
        }
        for k in ia.difference(&ib) {
            out.push(Change(format!("{name}: key {k} removed")));
        }
        let (ta, tb) = (a.map(|r| r.threshold), b.map(|r| r.threshold));
        if ta != tb {
            let t = |t: Option<u64>| t.map_or("none".to_string(), |t| t.to_string());
            out.push(Change(format!(
                "{name}: threshold {} (was {})",
                t(tb),
                t(ta)
            )));
        }
    }
    if out.is_empty() {
        out.push(Change("nothing but the version".into()));
    }
    out
}
