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
    o.dialect.decode_signature(s).is_ok_and(|sig| {
        pk.key
            .p256()
            .is_some_and(|k| crate::sign::verify(k, &o.bytes, &sig))
    })
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
                    .entry(pk.key.identity())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{MemorySigner, Signer};
    use crate::tuf::dialect::Dialect;
    use crate::tuf::model::{to_value, Key, RoleName};
    use crate::tuf::request::{Purpose, Request};

    /// A TUF root whose root role lists `root_keys` with `threshold`, as canonical bytes.
    fn root_bytes(root_keys: &[Key], threshold: u64) -> Vec<u8> {
        let d = Dialect::Tuf;
        let t = MemorySigner::generate("t");
        let mut keys: Vec<(RoleName, Key)> = root_keys
            .iter()
            .map(|k| (RoleName::Root, k.clone()))
            .collect();
        for r in [RoleName::Targets, RoleName::Snapshot, RoleName::Timestamp] {
            keys.push((r, d.public_key(t.public_key())));
        }
        let exp = time::OffsetDateTime::now_utc() + time::Duration::days(30);
        let mut root = crate::tuf::build::root(d, 1, exp, &keys);
        if let Some(r) = root.roles.get_mut("root") {
            r.threshold = threshold;
        }
        crate::tuf::cjson::encode(&to_value(&root)).unwrap()
    }

    fn sign(req: &mut Request, k: &MemorySigner, id: &str) {
        let o = req.open().unwrap();
        let sig = k.sign(&o.bytes).unwrap();
        req.signatures.push(Dialect::Tuf.encode_signature(id, &sig));
    }

    #[test]
    fn one_key_under_two_ids_counts_once() {
        let d = Dialect::Tuf;
        let alice = MemorySigner::generate("alice");
        let bob = MemorySigner::generate("bob");
        let a1 = d.public_key(alice.public_key());
        // The same point, its PEM with CRLF line ends: another key ID, the same key.
        let mut a2 = a1.clone();
        a2.keyval.public = a2.keyval.public.replace('\n', "\r\n");
        let (id1, id2) = (d.key_id(&a1), d.key_id(&a2));
        assert_ne!(id1, id2);
        let b = d.public_key(bob.public_key());
        let bytes = root_bytes(&[a1, a2, b.clone()], 2);
        let mut req = Request::new("example.com/app", d, Purpose::Init, &bytes, None).unwrap();
        sign(&mut req, &alice, &id1);
        sign(&mut req, &alice, &id2);
        let o = req.open().unwrap();
        let e = check_signatures(&o, &req.signatures, "example.com/app").unwrap_err();
        assert!(e.contains("has 1 of the 2 signatures"), "{e}");
        assert!(e.contains("under two key IDs"), "{e}");
        // bob's signature makes two distinct keys.
        sign(&mut req, &bob, &d.key_id(&b));
        let ok = check_signatures(&o, &req.signatures, "example.com/app").unwrap();
        assert_eq!(ok.counts, [2]);
    }

    #[test]
    fn signing_twice_adds_nothing_and_merge_keeps_one_copy() {
        let d = Dialect::Tuf;
        let alice = MemorySigner::generate("alice");
        let a = d.public_key(alice.public_key());
        let bytes = root_bytes(std::slice::from_ref(&a), 1);
        let mut req = Request::new("g", d, Purpose::Init, &bytes, None).unwrap();
        let o = req.open().unwrap();
        let id = d.key_id(&a);
        let s1 = d.encode_signature(&id, &alice.sign(&o.bytes).unwrap());
        let s2 = d.encode_signature(&id, &alice.sign(&o.bytes).unwrap());
        assert!(req.add_signature(&o, s1));
        assert!(!req.add_signature(&o, s2));
        let copy = req.clone();
        req.merge(&copy).unwrap();
        assert_eq!(req.signatures.len(), 1);
        // `needs` edited: refused when opened.
        let mut edited = req.clone();
        edited.needs[0].threshold = 0;
        assert!(edited.open().unwrap_err().contains("edited"));
        // Round trip through the file's bytes; no secret in them.
        let text = String::from_utf8(req.to_bytes().unwrap()).unwrap();
        assert!(!text.contains("PRIVATE"));
        assert_eq!(Request::parse(text.as_bytes()).unwrap(), req);
    }
}
