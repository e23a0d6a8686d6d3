//! The keys of a new root, from what the command line names (tokens, public key files), and
//! the tokens at hand that can sign for the current one.

use time::OffsetDateTime;

use super::{RootKeyEntry, RootSet};
use crate::keys::public::KeySpec;
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, Session, Signer};
use crate::repo::trustdir::{Gun, RepoConfig};
use crate::tuf::cert;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{Key, RoleName, Root};
use crate::{Error, Result};

/// A new root's keys: as root metadata lists them, where each lives, and the tokens named
/// (opened, so that they sign now).
pub struct NewRootKeys {
    pub keys: Vec<Key>,
    pub set: RootSet,
    pub signers: Vec<(String, Box<dyn Signer>)>,
}

impl NewRootKeys {
    /// The signers as `Proposal::signers` takes them.
    pub fn signers(&self) -> Vec<(String, &dyn Signer)> {
        self.signers
            .iter()
            .map(|(id, s)| (id.clone(), s.as_ref()))
            .collect()
    }
}

/// What a new root's keys are made from.
pub struct RootKeysRequest<'a> {
    pub dialect: Dialect,
    pub gun: &'a Gun,
    pub specs: &'a [KeySpec],
    pub threshold: u64,
    /// The current root: a key it lists keeps its entry (in the notary dialect, its
    /// certificate).
    pub current: Option<&'a Root>,
    pub now: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// The keys `r.specs` name, checked: a threshold from 1 to their number, no key twice, and in
/// the notary dialect a certificate for the GUN (made on the token for a token; from the file
/// for a file).
pub fn root_keys(session: &Session, r: &RootKeysRequest<'_>) -> Result<NewRootKeys> {
    let (d, gun) = (r.dialect, r.gun);
    let n = r.specs.len() as u64;
    if r.threshold < 1 || r.threshold > n {
        return Err(Error::Usage(format!(
            "--root-threshold {} with {n} root key(s): it must be from 1 to {n}",
            r.threshold
        )));
    }
    // Keys the current root lists, by their bare key's ID.
    let current: Vec<(String, String, Key)> = r
        .current
        .and_then(|root| root.role(RoleName::Root).map(|rk| (root, rk)))
        .map(|(root, rk)| {
            rk.keyids
                .iter()
                .filter_map(|id| {
                    let key = root.keys.get(id)?;
                    let pk = d.decode_key(key).ok()?;
                    Some((canonical_key_id(pk.key.p256()?), id.clone(), key.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = NewRootKeys {
        keys: Vec::new(),
        set: RootSet {
            threshold: r.threshold,
            keys: Vec::new(),
        },
        signers: Vec::new(),
    };
    for spec in r.specs {
        let (public, signer, location) = match spec {
            KeySpec::Token(kr) => {
                let s = session.open_signer(kr)?;
                (*s.public_key(), Some(s), kr.to_string())
            }
            KeySpec::File(f) => (
                f.key,
                None,
                format!("with its holder (public key from {})", f.path.display()),
            ),
        };
        let canonical = canonical_key_id(&public);
        if let Some(dup) = out.set.keys.iter().find(|k| k.canonical_id == canonical) {
            return Err(Error::Usage(format!(
                "the root key {canonical} is named twice ({} and {location}): a threshold \
                 counts distinct keys",
                dup.location
            )));
        }
        let key = match current.iter().find(|(c, _, _)| *c == canonical) {
            Some((_, _, key)) => key.clone(),
            None => match (spec, &signer) {
                (_, Some(s)) if d.root_has_certificate() => {
                    let der = cert::root_certificate(s.as_ref(), gun.as_str(), r.now, r.expires)?;
                    d.root_key(&cert::to_pem(&der))
                }
                (KeySpec::File(f), None) if d.root_has_certificate() => {
                    d.root_key(f.certificate_for(gun.as_str(), r.now)?)
                }
                _ => d.public_key(&public),
            },
        };
        let id = d.key_id(&key);
        if let Some(s) = signer {
            out.signers.push((id.clone(), s));
        }
        out.set.keys.push(RootKeyEntry {
            key_id: id,
            canonical_id: canonical,
            location,
        });
        out.keys.push(key);
    }
    Ok(out)
}

/// The current root's keys on tokens that can be opened here (each checked to hold the key
/// recorded), by root metadata's key ID. A token that is not plugged in is skipped with a
/// notice: its holder signs the request instead.
pub fn at_hand(session: &Session, cfg: &RepoConfig) -> Result<Vec<(String, Box<dyn Signer>)>> {
    let entries: Vec<RootKeyEntry> = match &cfg.root_set {
        Some(s) => s.keys.clone(),
        None => vec![RootKeyEntry {
            key_id: cfg.key_id(RoleName::Root)?.to_string(),
            canonical_id: cfg.root_key_id.clone(),
            location: cfg.root_key.clone(),
        }],
    };
    let mut out = Vec::new();
    for e in entries {
        let Ok(kr) = e.location.parse::<KeyRef>() else {
            continue; // a public key file: its holder signs
        };
        let signer = match session.open_signer(&kr) {
            Ok(s) => s,
            Err(
                err @ (Error::NotFound(_)
                | Error::TokenNotFound { .. }
                | Error::PivNotFound { .. }
                | Error::PcscUnavailable(_)),
            ) => {
                session
                    .prompter()
                    .notice(&format!("root key {}: {err}", e.canonical_id));
                continue;
            }
            Err(err) => return Err(err),
        };
        if canonical_key_id(signer.public_key()) != e.canonical_id {
            return Err(Error::Usage(format!(
                "{} holds key ID {}, not the root key {} recorded for it",
                signer.describe(),
                canonical_key_id(signer.public_key()),
                e.canonical_id
            )));
        }
        out.push((e.key_id, signer));
    }
    Ok(out)
}
