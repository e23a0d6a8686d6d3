//! `root history`: every root version the publisher signed (`published/<N>.root.json`), with
//! its keys (and where each is known to live), threshold, expiry, and which keys signed it.

use serde::Serialize;

use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::keyid::canonical_key_id;
use crate::tuf::model::{RoleName, Root};
use crate::tuf::signed::SignedMeta;
use crate::Error;
use crate::Result;

#[derive(Debug, Serialize)]
pub struct HistoryKey {
    pub key_id: String,
    pub canonical_id: String,
    /// Where it is known to live: a token, its holder, or unknown to this trust dir.
    pub location: String,
    /// Whether it signed this version.
    pub signed: bool,
}

#[derive(Debug, Serialize)]
pub struct RootVersion {
    pub version: u64,
    pub expires: String,
    pub threshold: u64,
    pub keys: Vec<HistoryKey>,
    /// Valid signatures by keys this version does not list (the previous root's, on a
    /// rotation), by bare key ID.
    pub also_signed_by: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct History {
    pub gun: Gun,
    pub versions: Vec<RootVersion>,
    /// A root waiting for signatures, if any.
    pub pending: Option<u64>,
}

/// Reads `published/1.root.json`, `2.root.json`, ... until one is missing.
pub fn history(td: &TrustDir, gun: &Gun) -> Result<History> {
    let cfg = td.load_config(gun)?;
    let d = cfg.dialect;
    let mut where_is: Vec<(String, String)> = Vec::new();
    if let Some(s) = &cfg.root_set {
        where_is.extend(
            s.keys
                .iter()
                .map(|k| (k.canonical_id.clone(), k.location.clone())),
        );
    } else if !cfg.root_key_id.is_empty() {
        where_is.push((cfg.root_key_id.clone(), cfg.root_key.clone()));
    }
    if let Some(p) = &cfg.pending_root {
        where_is.extend(
            p.root_set
                .keys
                .iter()
                .map(|k| (k.canonical_id.clone(), k.location.clone())),
        );
    }
    for r in cfg.retired.iter().filter(|r| r.role == RoleName::Root) {
        where_is.push((r.key_id.clone(), format!("{} (retired)", r.location)));
    }
    let locate = |id: &str| {
        where_is
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| "not known to this trust dir".into())
    };
    let mut versions = Vec::new();
    let mut previous: Option<Root> = None;
    for n in 1.. {
        let Some(bytes) = td.read_published(gun, &format!("{n}.root.json"))? else {
            break;
        };
        let meta = SignedMeta::parse(RoleName::Root, bytes).map_err(Error::Metadata)?;
        let root: Root = meta
            .view(&format!("{n}.root.json"))
            .map_err(Error::Metadata)?;
        let msg = meta.signed_bytes().map_err(Error::Metadata)?;
        // A signature is counted when it verifies with the key its ID names in this root or
        // the one before it.
        let valid = |keyid: &str| -> Option<p256::PublicKey> {
            let key = root
                .keys
                .get(keyid)
                .or_else(|| previous.as_ref().and_then(|p| p.keys.get(keyid)))?;
            // Ceremonies hold P-256 keys (tokens, YubiKeys): other key types count for nothing.
            let pk = *d.decode_key(key).ok()?.key.p256()?;
            meta.signatures
                .iter()
                .filter(|s| s.keyid == keyid)
                .any(|s| {
                    d.decode_signature(s)
                        .is_ok_and(|sig| crate::sign::verify(&pk, &msg, &sig))
                })
                .then_some(pk)
        };
        let rk = root.role(RoleName::Root);
        let listed: Vec<String> = rk.map(|r| r.keyids.clone()).unwrap_or_default();
        let keys: Vec<HistoryKey> = listed
            .iter()
            .map(|id| {
                let canonical = root
                    .keys
                    .get(id)
                    .and_then(|k| d.decode_key(k).ok())
                    .and_then(|k| k.key.p256().map(canonical_key_id))
                    .unwrap_or_default();
                HistoryKey {
                    key_id: id.clone(),
                    location: locate(&canonical),
                    canonical_id: canonical,
                    signed: valid(id).is_some(),
                }
            })
            .collect();
        let mut also: Vec<String> = meta
            .signatures
            .iter()
            .filter(|s| !listed.contains(&s.keyid))
            .filter_map(|s| valid(&s.keyid).map(|pk| canonical_key_id(&pk)))
            .collect();
        also.sort();
        also.dedup();
        versions.push(RootVersion {
            version: root.common.version,
            expires: root.common.expires.clone(),
            threshold: rk.map_or(0, |r| r.threshold),
            keys,
            also_signed_by: also,
        });
        previous = Some(root);
    }
    Ok(History {
        gun: gun.clone(),
        versions,
        pending: cfg.pending_root.as_ref().map(|p| p.version),
    })
}
