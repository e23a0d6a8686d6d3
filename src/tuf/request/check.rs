//! Whether a request's signatures make its root: every signature by a key the request needs
//! and valid over its bytes, and each threshold met by distinct keys (one key counts once,
//! whether it signed twice or is listed under two key IDs).

use std::collections::{BTreeMap, BTreeSet};

use super::Opened;
use crate::tuf::keyid::short;
use crate::tuf::model::Signature;

/// Whether `s` is by a key one of `o`'s sets lists and verifies over its bytes.
pub fn verifies(o: &Opened, s: &Signature) -> bool {
    let Some(pk) = o.sets.iter().find_map(|set| set.keys.get(&s.keyid)) else {
        return false;
    };
    o.dialect
        .decode_signature(s)
        .is_ok_and(|sig| crate::sign::verify(&pk.key, &o.bytes, &sig))
}

/// The signatures that make the root: valid, one per key ID, in the order given.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub signatures: Vec<Signature>,
    /// For each needed set (the new root's, then the trusted one's): distinct keys that signed.
    pub counts: Vec<usize>,
}

/// Checks `signatures` over `o` (see the module). The error is one line naming the cause;
/// `gun` names the repository in it.
pub fn check_signatures(
    o: &Opened,
    signatures: &[Signature],
    gun: &str,
) -> std::result::Result<Accepted, String> {
    let version = o.root.common.version;
    let mut kept: Vec<Signature> = Vec::new();
    for s in signatures {
        if !o.sets.iter().any(|set| set.keys.contains_key(&s.keyid)) {
            return Err(format!(
                "{gun} root v{version}: a signature is by key {}, which is not one of the root \
                 keys this request needs: refused",
                short(&s.keyid)
            ));
        }
        if !verifies(o, s) {
            return Err(format!(
                "{gun} root v{version}: the signature by key {} does not verify over the \
                 request's root: the request was changed after it was signed",
                short(&s.keyid)
            ));
        }
        if !kept.iter().any(|k| k.keyid == s.keyid) {
            kept.push(s.clone());
        }
    }
    let mut counts = Vec::new();
    for (i, set) in o.sets.iter().enumerate() {
        let of = match (i, &o.previous) {
            (0, _) => format!("root v{version}'s own keys"),
            (_, Some((_, p))) => format!("the keys of the trusted root v{}", p.common.version),
            _ => "its keys".into(),
        };
        // Distinct keys (by their SubjectPublicKeyInfo), and the IDs each signed under.
        let mut by_key: BTreeMap<Vec<u8>, BTreeSet<&str>> = BTreeMap::new();
        for s in &kept {
            if let Some(pk) = set.keys.get(&s.keyid) {
                by_key
                    .entry(crate::sign::spki_der(&pk.key))
                    .or_default()
                    .insert(&s.keyid);
            }
        }
        let twice = signatures.len() > kept.len() || by_key.values().any(|ids| ids.len() > 1);
        if (by_key.len() as u64) < set.threshold {
            let mut why = format!(
                "{gun} root v{version} has {} of the {} signatures it needs from {of}",
                by_key.len(),
                set.threshold
            );
            if twice {
                why += " (one key signed twice, or under two key IDs: it counts once)";
            }
            return Err(why);
        }
        counts.push(by_key.len());
    }
    Ok(Accepted {
        signatures: kept,
        counts,
    })
}
