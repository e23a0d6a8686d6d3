//! A YubiKey PIV slot as a place for a key: the YubiKey half of "put a key here" for
//! `keys::mirror` (root create, --mirror, duplicate), and the roots `root list` finds.
//!
//! Device I/O stays in `crate::piv`; this module only decides what to do with a slot.

use serde::Serialize;

use super::mirror::Placement;
use super::session::{Announced, Session};
use super::uri::YubikeyRef;
use super::MemorySigner;
use crate::piv::{
    self, Auth, DefaultCredentials, Device, Overwrite, PinPolicy, PivSigner, Policies, Slot,
    TouchPolicy,
};
use crate::secret::SharedPrompter;
use crate::sign::{challenge, Signer};
use crate::token::keygen::KeySecurity;
use crate::{Error, Result};

/// Subject (CN) of the certificate written beside a root key, so the card says what it holds.
pub const ROOT_SUBJECT: &str = "trustkey root";
/// The certificate subject of a delegation key trustkey generates on a YubiKey.
pub const DELEGATION_SUBJECT: &str = "trustkey delegation";

/// Subject (CN) of the throwaway key that replaces a root when a mirror is rolled back. A slot
/// holding it counts as free: `root create` and `root duplicate` may overwrite it.
pub const DISCARDED_SUBJECT: &str = "trustkey discarded key";

/// What a YubiKey gets when trustkey puts a root on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PivOptions {
    /// PIN and touch policy of the new key (generated or imported).
    pub policies: Policies,
    /// Whether a card with its factory PIN, PUK or management key may hold the root.
    pub default_credentials: DefaultCredentials,
    /// The subject of the certificate written beside the key (how `root list` and `init`
    /// tell a root from a delegation key).
    pub subject: &'static str,
}

impl Default for PivOptions {
    fn default() -> Self {
        PivOptions {
            policies: Policies::default(),
            default_credentials: DefaultCredentials::Refuse,
            subject: ROOT_SUBJECT,
        }
    }
}

/// The PIV side of a placement: slot, policies and where the key came from.
#[derive(Debug, Clone, Serialize)]
pub struct PivPlacement {
    pub serial: u32,
    pub slot: String,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    /// "generated" or "imported", as the card's metadata reports it.
    pub origin: Option<String>,
}

/// A YubiKey slot about to receive a key. Built by [`PivTarget::prepare`], which does every
/// check that writes nothing (card found, no factory credentials, slot free, PIN, management
/// key); after an import, [`PivTarget::undo`] takes the key off the card again.
pub struct PivTarget {
    device: Option<Device>,
    r: YubikeyRef,
    serial: u32,
    overwrite: Overwrite,
    opts: PivOptions,
    allow_final_try: bool,
    /// PINs, touches, and what an undo on drop did.
    prompter: SharedPrompter,
    /// A key from this run may be in the slot (set *before* writing: a failed write may still
    /// have left the key there).
    written: bool,
    generated: bool,
}

impl std::fmt::Debug for PivTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivTarget")
            .field("serial", &self.serial)
            .field("slot", &self.r.slot)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl PivTarget {
    /// Opens the card and checks everything that writes nothing. `taken`: the serials of the
    /// YubiKeys already named in this command (a mirror must be another YubiKey).
    pub fn prepare(
        session: &Session,
        r: &YubikeyRef,
        opts: PivOptions,
        taken: &[u32],
    ) -> Result<Self> {
        let mut dev = piv::open(r.serial)?;
        if taken.contains(&dev.serial()) {
            let desc = dev.desc();
            dev.close();
            return Err(Error::Usage(format!(
                "{desc} is named twice; a mirror must be another YubiKey"
            )));
        }
        let status = dev.status()?;
        piv::ensure_no_default_credentials(&status, opts.default_credentials)?;
        for a in &status.advisories {
            session
                .prompter()
                .warn(&format!("warning: {}: {a}", dev.desc()));
        }
        let overwrite = match dev.slot_status(r.slot) {
            None => Overwrite::Refuse,
            Some(s) if is_discarded(s.certificate_subject.as_deref()) => Overwrite::Replace,
            Some(s) => {
                return Err(Error::KeyExists {
                    token: dev.desc(),
                    what: format!(
                        "a key in slot {}{}",
                        r.slot,
                        s.key_id
                            .map(|k| format!(" (key ID {k})"))
                            .unwrap_or_default()
                    ),
                })
            }
        };
        // The PIN (never retried) and the management key now, before anything is written on
        // this or any other token.
        let allow_final_try = session.final_pin_try_allowed();
        session.with_prompter(|p| {
            dev.authenticate_admin(&mut Auth {
                pin_source: r.pin_source.as_ref(),
                prompter: p,
                allow_final_try,
            })
        })?;
        let serial = dev.serial();
        Ok(PivTarget {
            device: Some(dev),
            r: YubikeyRef {
                serial: Some(serial),
                ..r.clone()
            },
            serial,
            overwrite,
            opts,
            allow_final_try,
            prompter: session.prompter().clone(),
            written: false,
            generated: false,
        })
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    /// "YubiKey 12345678, slot 9c"
    pub fn desc(&self) -> String {
        self.r.desc()
    }

    /// Whether a key from this run may be in the slot.
    pub fn has_key(&self) -> bool {
        self.written
    }

    /// Keeps the key: `undo` does nothing afterwards.
    pub fn commit(&mut self) {
        self.written = false;
    }

    fn device(&mut self) -> Result<&mut Device> {
        let device = match self.device.take() {
            Some(d) => d,
            // Only after a failed challenge: the connection went with the signer.
            None => piv::open(Some(self.serial))?,
        };
        Ok(self.device.insert(device))
    }

    /// Imports `key` into the slot (with its certificate), signs a fresh challenge there and
    /// verifies it under the key's public key.
    pub fn import(&mut self, key: &MemorySigner) -> Result<Placement> {
        let secret = key.secret_key();
        let (slot, policies, overwrite) = (self.r.slot, self.opts.policies, self.overwrite);
        let subject = self.opts.subject;
        self.written = true;
        let pin_source = self.r.pin_source.clone();
        let allow_final_try = self.allow_final_try;
        let prompter = self.prompter.clone();
        let dev = self.device()?;
        prompter.with(|p| {
            dev.import(
                slot,
                &secret,
                policies,
                subject,
                overwrite,
                &mut Auth {
                    pin_source: pin_source.as_ref(),
                    prompter: p,
                    allow_final_try,
                },
            )
        })?;
        drop(secret); // zeroized on drop
        self.challenge(key.public_key())?;
        self.placement()
    }

    /// Generates the key on the card (it never leaves it) and checks it like a mirror.
    pub fn generate(&mut self) -> Result<(p256::PublicKey, Placement)> {
        let (slot, policies, overwrite) = (self.r.slot, self.opts.policies, self.overwrite);
        let subject = self.opts.subject;
        self.written = true;
        self.generated = true;
        let pin_source = self.r.pin_source.clone();
        let allow_final_try = self.allow_final_try;
        let prompter = self.prompter.clone();
        let dev = self.device()?;
        let public = prompter.with(|p| {
            dev.generate(
                slot,
                policies,
                subject,
                overwrite,
                &mut Auth {
                    pin_source: pin_source.as_ref(),
                    prompter: p,
                    allow_final_try,
                },
            )
        })?;
        self.challenge(&public)?;
        Ok((public, self.placement()?))
    }

    /// Signs a fresh random challenge in the slot and verifies it against `expected`.
    fn challenge(&mut self, expected: &p256::PublicKey) -> Result<()> {
        let signer = self.signer()?;
        let checked = challenge(&signer, expected);
        self.device = Some(signer.into_inner().into_device());
        if !checked?.verified {
            return Err(Error::Crypto(format!(
                "a challenge signed in slot {} does not verify under the root public key",
                self.r.slot
            )));
        }
        Ok(())
    }

    /// The key in the slot as a signer on this target's connection (its PIN verified once).
    fn signer(&mut self) -> Result<Announced<PivSigner>> {
        let dev = match self.device.take() {
            Some(d) => d,
            None => piv::open(Some(self.serial))?,
        };
        let (slot, allow_final_try) = (self.r.slot, self.allow_final_try);
        let pin_source = self.r.pin_source.as_ref();
        let signer = self
            .prompter
            .with(|p| dev.signer(slot, pin_source, p, allow_final_try))?;
        Ok(Announced::new(signer, self.prompter.clone()))
    }

    fn placement(&mut self) -> Result<Placement> {
        let slot = self.r.slot;
        let status = self.device()?.slot_status(slot);
        let origin = status.as_ref().and_then(|s| s.origin.clone());
        let generated = match origin.as_deref() {
            Some(o) => o == "generated",
            None => self.generated,
        };
        Ok(Placement {
            token: self.desc(),
            uri: self.r.to_string(),
            generated_on_token: self.generated,
            // What PIV guarantees for every key: it can be used on the card, never read out.
            security: KeySecurity {
                sensitive: true,
                extractable: false,
                always_sensitive: generated,
                never_extractable: generated,
                token: true,
                private: true,
                sign: true,
            },
            piv: Some(PivPlacement {
                serial: self.serial,
                slot: slot.name().into(),
                pin_policy: status
                    .as_ref()
                    .and_then(|s| s.pin_policy)
                    .or(Some(self.opts.policies.pin)),
                touch_policy: status
                    .as_ref()
                    .and_then(|s| s.touch_policy)
                    .or(Some(self.opts.policies.touch)),
                origin,
            }),
        })
    }

    /// Takes a key written in this run off the card. A PIV slot cannot simply be emptied (the
    /// `yubikey` crate has no DELETE KEY, and firmware before 5.7 none at all), so the key is
    /// overwritten with a freshly generated throwaway key (certificate CN "trustkey discarded
    /// key"): the root material is gone from the card. Returns what happened, for the error.
    pub fn undo(&mut self) -> Option<String> {
        if !self.written {
            return None;
        }
        self.written = false;
        let what = if self.generated {
            "the key generated"
        } else {
            "the imported root"
        };
        let throwaway = Policies {
            pin: PinPolicy::Once,
            touch: TouchPolicy::Never,
        };
        let slot = self.r.slot;
        let result = match self.device.take() {
            Some(d) => Ok(d),
            None => piv::open(Some(self.serial)),
        }
        .and_then(|mut dev| {
            let r = self.prompter.with(|prompter| {
                dev.generate(
                    slot,
                    throwaway,
                    DISCARDED_SUBJECT,
                    Overwrite::Replace,
                    &mut Auth {
                        pin_source: self.r.pin_source.as_ref(),
                        prompter,
                        allow_final_try: self.allow_final_try,
                    },
                )
            });
            self.device = Some(dev);
            r
        });
        Some(match result {
            Ok(_) => format!(
                "on {} {what} in slot {slot} was overwritten with a freshly generated throwaway \
                 key (a PIV slot cannot simply be emptied), so the root key is gone from it",
                piv::desc(self.serial)
            ),
            Err(e) => format!(
                "on {} {what} in slot {slot} could NOT be overwritten ({e}): the root key may \
                 still be on that card; overwrite slot {slot} (`ykman piv keys generate`) or \
                 reset its PIV application (`ykman piv reset`)",
                piv::desc(self.serial)
            ),
        })
    }
}

impl Drop for PivTarget {
    fn drop(&mut self) {
        // The safety net; `keys::mirror` undoes explicitly and reports what happened. Root
        // material that may still be on a card is a warning, shown whatever the flags.
        if let Some(note) = self.undo() {
            self.prompter.warn(&note);
        }
    }
}

/// Whether a certificate subject is that of a throwaway key left by a rolled-back mirror.
pub fn is_discarded(subject: Option<&str>) -> bool {
    subject == Some(&format!("CN={DISCARDED_SUBJECT}"))
}

/// Generates a root on the card a reference names.
pub fn generate(
    session: &Session,
    r: &YubikeyRef,
    opts: PivOptions,
) -> Result<(p256::PublicKey, Placement)> {
    let mut t = PivTarget::prepare(session, r, opts, &[])?;
    match t.generate() {
        Ok(done) => {
            t.commit();
            Ok(done)
        }
        Err(e) => {
            let note = t.undo();
            Err(Error::Mirror(format!(
                "{} failed: {e}{}; no root key was created",
                t.desc(),
                note.map(|n| format!("; {n}")).unwrap_or_default()
            )))
        }
    }
}

/// [`generate`], and a signer over the new key on the same connection (its PIN verified once).
pub fn generate_signer(
    session: &Session,
    r: &YubikeyRef,
    opts: PivOptions,
) -> Result<(Announced<PivSigner>, Placement)> {
    let mut t = PivTarget::prepare(session, r, opts, &[])?;
    let placement = match t.generate() {
        Ok((_, placement)) => placement,
        Err(e) => {
            let note = t.undo();
            return Err(Error::Mirror(format!(
                "{} failed: {e}{}; no root key was created",
                t.desc(),
                note.map(|n| format!("; {n}")).unwrap_or_default()
            )));
        }
    };
    t.commit();
    Ok((t.signer()?, placement))
}

/// The YubiKeys plugged in and the P-256 keys in their slots (from the slots' certificates),
/// for `root list`. Throwaway keys of rolled-back mirrors are left out. Never asks for a PIN.
pub fn list_keys() -> Result<Vec<(u32, Slot, String, p256::PublicKey)>> {
    let mut out = Vec::new();
    for info in piv::list()? {
        let mut dev = piv::open(Some(info.serial))?;
        for slot in Slot::ALL {
            let Ok(Some(cert)) = dev.certificate(slot) else {
                continue;
            };
            let subject = cert.tbs_certificate.subject.to_string();
            if is_discarded(Some(&subject)) {
                continue;
            }
            if let Some(pk) = piv::cert_public_key(&cert) {
                out.push((info.serial, slot, subject, pk));
            }
        }
        dev.close();
    }
    Ok(out)
}
