//! The next root of a repository, made by the publisher: the same keys valid longer (`root
//! renew`), or new root keys and threshold (`root rotate --root-key ...`). Signed by the tokens
//! at hand, else made into a request that needs the trusted root's threshold and the new one's.

use time::OffsetDateTime;

use super::keys::{at_hand, root_keys, RootKeysRequest};
use super::{propose, Outcome, Proposal, RequestOut, RootKeyEntry, RootSet};
use crate::keys::public::KeySpec;
use crate::keys::{Session, Signer};
use crate::repo::root::current_root;
use crate::repo::trustdir::{Gun, RepoConfig, TrustDir};
use crate::tuf::model::{to_value, RoleName, Root};
use crate::tuf::request::Purpose;
use crate::{Error, Result};

/// `root renew` and `root rotate --root-key`.
pub struct NextRoot<'a> {
    pub gun: &'a Gun,
    /// New root keys and threshold (none: the same keys, renewed).
    pub rotate_to: Option<(&'a [KeySpec], u64)>,
    /// When the new root expires.
    pub expires: OffsetDateTime,
    pub out: RequestOut,
    pub now: OffsetDateTime,
}

/// The root set the config records (a root of one key is a set of one).
pub fn current_set(cfg: &RepoConfig) -> Result<RootSet> {
    Ok(match &cfg.root_set {
        Some(s) => s.clone(),
        None => RootSet {
            threshold: 1,
            keys: vec![RootKeyEntry {
                key_id: cfg.key_id(RoleName::Root)?.to_string(),
                canonical_id: cfg.root_key_id.clone(),
                location: cfg.root_key.clone(),
            }],
        },
    })
}

/// Makes root v(N+1) as `r` says and proposes it (see the module).
pub fn next_root(session: &Session, td: &TrustDir, r: &NextRoot<'_>) -> Result<Outcome> {
    let gun = r.gun;
    td.load_config(gun)?;
    let _lock = td.lock(gun, |m| session.prompter().notice(m))?;
    let mut cfg = td.load_config(gun)?;
    if let Some(p) = &cfg.pending_root {
        return Err(Error::Usage(format!(
            "root v{} of {gun} waits for signatures already: apply it (`trustkey apply`) first",
            p.version
        )));
    }
    let (cur_signed, cur) = current_root(td, gun)?;
    if cur.common.version != cfg.version(RoleName::Root) {
        return Err(Error::Metadata(format!(
            "{gun}: published root is version {}, but the config says {}",
            cur.common.version,
            cfg.version(RoleName::Root)
        )));
    }
    let d = cfg.dialect;
    let mut next: Root = cur.clone();
    next.common.version = cur.common.version + 1;
    next.common.expires = d.format_time(r.expires);
    let old_signers = at_hand(session, &cfg)?;
    let (set, new_keys, purpose) = match r.rotate_to {
        None => (current_set(&cfg)?, None, Purpose::RootRenew),
        Some((specs, threshold)) => {
            let keys = root_keys(
                session,
                &RootKeysRequest {
                    dialect: d,
                    gun,
                    specs,
                    threshold,
                    current: Some(&cur),
                    now: r.now,
                    expires: r.expires,
                },
            )?;
            let entry = next
                .roles
                .get_mut(RoleName::Root.as_str())
                .ok_or_else(|| Error::Metadata(format!("{gun}: root has no root role")))?;
            let old_ids = std::mem::take(&mut entry.keyids);
            entry.keyids = keys.set.keys.iter().map(|k| k.key_id.clone()).collect();
            entry.threshold = keys.set.threshold;
            let still: Vec<String> = next.roles.values().flat_map(|r| r.keyids.clone()).collect();
            for id in old_ids.iter().filter(|id| !still.contains(id)) {
                next.keys.remove(id);
            }
            for (k, e) in keys.keys.iter().zip(&keys.set.keys) {
                next.keys.insert(e.key_id.clone(), k.clone());
            }
            (keys.set.clone(), Some(keys), Purpose::RootRotate)
        }
    };
    let mut signers: Vec<(String, &dyn Signer)> = old_signers
        .iter()
        .map(|(id, s)| (id.clone(), s.as_ref()))
        .collect();
    if let Some(k) = &new_keys {
        for (id, s) in k.signers() {
            if !signers
                .iter()
                .any(|(_, o)| o.public_key() == s.public_key())
            {
                signers.push((id, s));
            }
        }
    }
    propose(
        td,
        &mut cfg,
        Proposal {
            purpose,
            root: to_value(&next),
            previous: Some(&cur_signed),
            signers: &signers,
            root_set: set,
            key_change: None,
            out: r.out.clone(),
        },
    )
}
