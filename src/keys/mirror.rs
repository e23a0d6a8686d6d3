//! Putting one in-memory key on several tokens, all or nothing (the two-USB-keys advice).
//!
//! A place for the key is a PKCS#11 token or a YubiKey PIV slot ([`Place`]): each is prepared
//! (found, label or slot free, PIN accepted; nothing written), then imported into, challenged
//! (a fresh challenge signed there and verified against the one public key), and, if anything
//! fails, undone. Cheap checks come first on every place before anything is written anywhere.
//! If any step fails after an import, every key imported in this run is removed again (on a
//! YubiKey: overwritten with a throwaway key, see `keys::piv::PivTarget::undo`).
//!
//! It sits in `keys`, above both `token` and `piv`, because a mirror may span both.

use cryptoki::session::Session as Pkcs11Session;
use serde::Serialize;

use super::piv::{PivOptions, PivPlacement, PivTarget};
use super::session::Session;
use super::uri::{KeyRef, Pkcs11Uri};
use super::MemorySigner;
use crate::sign::{challenge, Signer};
use crate::token::keygen::{self, KeyPair, KeySecurity};
use crate::token::signer::SessionKey;
use crate::token::{Token, TokenSigner};
use crate::{Error, Result};

/// Where a key was put, with its attributes as read back from the token.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    pub token: String,
    pub uri: String,
    pub generated_on_token: bool,
    pub security: KeySecurity,
    /// Slot and policies, for a key on a YubiKey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub piv: Option<PivPlacement>,
}

struct Target {
    token: Token,
    session: Pkcs11Session,
    uri: Pkcs11Uri,
    pair: Option<KeyPair>,
}

/// Somewhere a key can be put: a PKCS#11 token, or a slot on a YubiKey.
// A command holds a handful of these; without the `piv` feature the YubiKey variant is small.
#[cfg_attr(not(feature = "piv"), allow(clippy::large_enum_variant))]
enum Place {
    Pkcs11(Target),
    Piv(PivTarget),
}

impl Place {
    fn desc(&self) -> String {
        match self {
            Place::Pkcs11(t) => t.token.desc(),
            Place::Piv(t) => t.desc(),
        }
    }

    /// Whether a key from this run is (or may be) there.
    fn has_key(&self) -> bool {
        match self {
            Place::Pkcs11(t) => t.pair.is_some(),
            Place::Piv(t) => t.has_key(),
        }
    }

    /// Imports the key, challenges it, and reads back how it is stored.
    fn import(&mut self, key: &MemorySigner) -> Result<Placement> {
        match self {
            Place::Pkcs11(t) => import_pkcs11(t, key),
            Place::Piv(t) => t.import(key),
        }
    }

    /// Removes a key of this run; returns what the user should know about it.
    fn undo(&mut self) -> Option<String> {
        match self {
            Place::Pkcs11(t) => t.pair.take().map(|pair| {
                keygen::destroy(&t.session, pair);
                format!("removed the copy already made on {}", t.token.desc())
            }),
            Place::Piv(t) => t.undo(),
        }
    }

    fn commit(&mut self) {
        match self {
            Place::Pkcs11(t) => t.pair = None,
            Place::Piv(t) => t.commit(),
        }
    }
}

/// Keys imported in this run, removed again unless `commit` is called.
pub struct Placed {
    targets: Vec<Place>,
    pub placements: Vec<Placement>,
}

impl Placed {
    /// Keeps the keys.
    pub fn commit(mut self) -> Vec<Placement> {
        for t in &mut self.targets {
            t.commit();
        }
        std::mem::take(&mut self.placements)
    }

    /// Removes every key of this run now; returns what was done, for the error message
    /// ("removed the copy already made on token ...; on YubiKey ... overwritten ...").
    pub fn abandon(mut self) -> String {
        let notes: Vec<String> = self.targets.iter_mut().filter_map(Place::undo).collect();
        notes.join("; ")
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        // The safety net for callers that just drop an uncommitted result; a YubiKey undoes
        // itself when its `PivTarget` is dropped.
        for t in &mut self.targets {
            if let Place::Pkcs11(t) = t {
                if let Some(pair) = t.pair.take() {
                    keygen::destroy(&t.session, pair);
                }
            }
        }
    }
}

fn rollback(targets: &mut [Target]) {
    for t in targets.iter_mut() {
        if let Some(pair) = t.pair.take() {
            keygen::destroy(&t.session, pair);
        }
    }
}

/// Opens and logs in to every token first (nothing written), refusing a token named twice.
fn prepare(session: &Session, uris: &[Pkcs11Uri]) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for uri in uris {
        let token = session.find_token(uri)?;
        if targets
            .iter()
            .any(|t| t.token.module == token.module && t.token.slot == token.slot)
        {
            return Err(Error::Usage(format!(
                "{} is named twice; a mirror must be another token",
                token.desc()
            )));
        }
        let session = token.open_session(true)?;
        keygen::ensure_absent(&token, &session, uri)?;
        targets.push(Target {
            token,
            session,
            uri: uri.clone(),
            pair: None,
        });
    }
    let allow_final_try = session.final_pin_try_allowed();
    for t in &targets {
        session.with_prompter(|p| t.token.login(&t.session, &t.uri, p, allow_final_try))?;
    }
    Ok(targets)
}

/// Signs a fresh random challenge with the key pair on the token and verifies it against
/// `expected`.
fn challenge_on_token(t: &Target, pair: KeyPair, expected: &p256::PublicKey) -> Result<()> {
    let key = SessionKey {
        token: &t.token,
        session: &t.session,
        private: pair.private,
        public: *expected,
        object: t.uri.object_label(),
    };
    if !challenge(&key, expected)?.verified {
        return Err(Error::Crypto(
            "a challenge signed on the token does not verify under the root public key".into(),
        ));
    }
    Ok(())
}

/// Imports the key into a prepared token, challenges it there, and checks its attributes.
fn import_pkcs11(t: &mut Target, key: &MemorySigner) -> Result<Placement> {
    let scalar = key.secret_scalar();
    let pair = keygen::import(&t.token, &t.session, &t.uri, &scalar, key.public_key())?;
    t.pair = Some(pair);
    challenge_on_token(t, pair, key.public_key())?;
    let security = keygen::security(&t.token, &t.session, pair.private)?;
    if security.extractable || !security.sensitive {
        return Err(Error::Crypto(format!(
            "the token stored the key as {}; refusing to keep it",
            if security.extractable {
                "extractable"
            } else {
                "not sensitive"
            }
        )));
    }
    Ok(Placement {
        token: t.token.desc(),
        uri: t.uri.to_string(),
        generated_on_token: false,
        security,
        piv: None,
    })
}

/// Prepares every place named, in order: PKCS#11 tokens (opened, label free, logged in),
/// then YubiKeys (no factory credentials unless allowed, slot free, PIN and management key).
/// Nothing is written; a place named twice is refused.
fn prepare_places(session: &Session, refs: &[KeyRef], opts: &PivOptions) -> Result<Vec<Place>> {
    let uris: Vec<Pkcs11Uri> = refs
        .iter()
        .filter_map(|r| match r {
            KeyRef::Pkcs11(u) => Some(u.clone()),
            KeyRef::Yubikey(_) => None,
        })
        .collect();
    let mut tokens = prepare(session, &uris)?.into_iter();
    let mut places = Vec::with_capacity(refs.len());
    for r in refs {
        match r {
            KeyRef::Pkcs11(_) => {
                let t = tokens.next().ok_or_else(|| {
                    Error::Mirror("fewer tokens prepared than PKCS#11 references".into())
                })?;
                places.push(Place::Pkcs11(t))
            }
            KeyRef::Yubikey(y) => {
                // A YubiKey already named, directly or as a ykcs11 token (whose serial is the
                // YubiKey's): one card must not be two mirrors, nor be held by ykcs11 and the
                // PIV connection at once.
                let taken: Vec<u32> = places
                    .iter()
                    .filter_map(|p| match p {
                        Place::Piv(t) => Some(t.serial()),
                        Place::Pkcs11(t) if is_ykcs11(&t.token) => t.token.serial.parse().ok(),
                        Place::Pkcs11(_) => None,
                    })
                    .collect();
                places.push(Place::Piv(PivTarget::prepare(session, y, *opts, &taken)?));
            }
        }
    }
    Ok(places)
}

/// Whether a token is a YubiKey seen through Yubico's PKCS#11 module.
fn is_ykcs11(token: &Token) -> bool {
    token
        .module
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("ykcs11"))
}

/// Imports `key` into every token named, checks each, and returns the uncommitted result.
/// YubiKeys get the default PIV options (see [`place_with`]).
pub fn place<R: Clone + Into<KeyRef>>(
    session: &Session,
    refs: &[R],
    key: &MemorySigner,
) -> Result<Placed> {
    place_with(session, refs, key, &PivOptions::default())
}

/// [`place`], with the PIN and touch policies (and default-credential rule) for YubiKeys.
pub fn place_with<R: Clone + Into<KeyRef>>(
    session: &Session,
    refs: &[R],
    key: &MemorySigner,
    opts: &PivOptions,
) -> Result<Placed> {
    let refs: Vec<KeyRef> = refs.iter().cloned().map(Into::into).collect();
    let targets = prepare_places(session, &refs, opts)?;
    let mut placed = Placed {
        targets,
        placements: vec![],
    };
    let n = placed.targets.len();
    for i in 0..n {
        let Some(target) = placed.targets.get_mut(i) else {
            break;
        };
        match target.import(key) {
            Ok(p) => placed.placements.push(p),
            Err(e) => {
                let failed = target.desc();
                // The failed place's own PKCS#11 objects go without a word (as before); a
                // YubiKey says what happened to its slot.
                if let Place::Pkcs11(t) = target {
                    if let Some(pair) = t.pair.take() {
                        keygen::destroy(&t.session, pair);
                    }
                }
                let any = placed.targets.iter().any(Place::has_key);
                let cleanup = if any {
                    format!("; {}", placed.abandon())
                } else {
                    drop(placed);
                    String::new()
                };
                return Err(Error::Mirror(format!(
                    "{failed} failed: {e}{cleanup}; no root key was created"
                )));
            }
        }
    }
    Ok(placed)
}

/// [`generate`], and a signer over the new key in the same session or connection (a new root
/// signs its first root metadata right away: `root rotate`). On a PKCS#11 token, also the
/// means to remove the new key again if what follows fails.
pub fn generate_signer_at(
    session: &Session,
    r: &KeyRef,
    opts: &PivOptions,
) -> Result<(Box<dyn Signer>, Placement, Option<Unused>)> {
    Ok(match r {
        KeyRef::Pkcs11(uri) => {
            let (s, p, unused) = generate_signer(session, uri, opts.subject)?;
            (session.announced(s), p, Some(unused))
        }
        KeyRef::Yubikey(y) => {
            let (s, p) = super::piv::generate_signer(session, y, *opts)?;
            (Box::new(s), p, None)
        }
    })
}

/// A key just generated on a token that its command may not keep: [`Unused::remove`] deletes
/// it, so that a failed command leaves the token as it was.
pub struct Unused {
    token: Token,
    // A session of its own, opened while the token is logged in: it keeps the login (which
    // ends with a token's last session) for as long as the key may have to go.
    session: Pkcs11Session,
    pair: KeyPair,
}

impl Unused {
    /// Deletes both objects of the key. Says what was done.
    pub fn remove(self) -> Result<String> {
        self.session
            .destroy_object(self.pair.private)
            .and_then(|()| self.session.destroy_object(self.pair.public))
            .map_err(|e| self.token.err("C_DestroyObject", e))?;
        Ok(format!("removed the new key from {}", self.token.desc()))
    }
}

/// Generates the root where `r` names: on a PKCS#11 token, or on a YubiKey (with `opts`'
/// policies and certificate written to the slot). Either way it never leaves the device.
pub fn generate(
    session: &Session,
    r: &KeyRef,
    opts: &PivOptions,
) -> Result<(p256::PublicKey, Placement)> {
    match r {
        KeyRef::Pkcs11(uri) => generate_on_token(session, uri, opts.subject),
        KeyRef::Yubikey(y) => super::piv::generate(session, y, *opts),
    }
}

/// Generates a key pair on one token (it never leaves it) and checks it like a mirror.
/// `subject` (CN) marks what the key is for, as a YubiKey slot's certificate does
/// (`ROOT_SUBJECT`, `DELEGATION_SUBJECT`): root discovery leaves delegation keys out.
pub fn generate_on_token(
    session: &Session,
    uri: &Pkcs11Uri,
    subject: &str,
) -> Result<(p256::PublicKey, Placement)> {
    let (_, public, placement, _) = generate_checked(session, uri, subject)?;
    Ok((public, placement))
}

/// As [`generate_on_token`], and returns a signer over the new key in the same logged-in
/// session (closing the token's last session would log it out).
pub fn generate_signer(
    session: &Session,
    uri: &Pkcs11Uri,
    subject: &str,
) -> Result<(TokenSigner, Placement, Unused)> {
    let (t, public, placement, pair) = generate_checked(session, uri, subject)?;
    let unused = match t.token.open_session(true) {
        Ok(session) => Unused {
            token: t.token.clone(),
            session,
            pair,
        },
        Err(e) => {
            keygen::destroy(&t.session, pair);
            return Err(e);
        }
    };
    match TokenSigner::with_session(t.token, t.session, uri, public) {
        Ok(signer) => Ok((signer, placement, unused)),
        Err(e) => {
            let note = unused
                .remove()
                .map_or_else(|_| String::new(), |n| format!("; {n}"));
            Err(Error::Mirror(format!("{e}{note}")))
        }
    }
}

fn generate_checked(
    session: &Session,
    uri: &Pkcs11Uri,
    subject: &str,
) -> Result<(Target, p256::PublicKey, Placement, KeyPair)> {
    let mut targets = prepare(session, std::slice::from_ref(uri))?;
    let Some(t) = targets.first_mut() else {
        return Err(Error::Mirror(format!("no token prepared for {uri}")));
    };
    let (pair, public) = keygen::generate(&t.token, &t.session, &t.uri, subject)?;
    t.pair = Some(pair);
    let checked = challenge_on_token(t, pair, &public)
        .and_then(|()| keygen::security(&t.token, &t.session, pair.private));
    match checked {
        Ok(security) => {
            let placement = Placement {
                token: t.token.desc(),
                uri: t.uri.to_string(),
                generated_on_token: true,
                security,
                piv: None,
            };
            t.pair = None;
            let t = targets
                .pop()
                .ok_or_else(|| Error::Mirror(format!("no token prepared for {uri}")))?;
            Ok((t, public, placement, pair))
        }
        Err(e) => {
            rollback(&mut targets);
            Err(e)
        }
    }
}
