//! A key in a YubiKey PIV slot as a `crate::sign::Signer`: the public key comes from the slot's
//! certificate, the PIN is verified once per command (and re-sent, not re-asked, for keys whose
//! PIN policy is "always"), SHA-256 is computed on the host and the digest signed on the card.

use std::cell::{Cell, RefCell};

use sha2::{Digest, Sha256};
use yubikey::piv::{sign_data, AlgorithmId};

use super::{Device, PinPolicy, Slot, TouchPolicy};
use crate::secret::{PinSource, Prompter};
use crate::sign::Signer;
use crate::{Error, Result};

pub struct PivSigner {
    device: RefCell<Device>,
    slot: Slot,
    public: p256::PublicKey,
    touch: Option<TouchPolicy>,
    pin_always: Cell<bool>,
    noticed: Cell<bool>,
}

impl std::fmt::Debug for PivSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivSigner")
            .field("device", &self.device.borrow().desc())
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// The key in `slot` as a Signer. Reads the certificate first (a wrong slot costs no PIN
    /// try), then verifies the PIN once.
    pub fn signer(
        mut self,
        slot: Slot,
        pin_source: Option<&PinSource>,
        prompter: &mut dyn Prompter,
        allow_final_try: bool,
    ) -> Result<PivSigner> {
        let public = self.public_key(slot)?;
        let status = self.slot_status(slot);
        let pin_policy = status.as_ref().and_then(|s| s.pin_policy);
        let touch = status.as_ref().and_then(|s| s.touch_policy);
        if pin_policy != Some(PinPolicy::Never) {
            self.verify_pin(pin_source, prompter, allow_final_try)?;
        }
        // Unknown policy: assume the YubiKey default for the slot (9c: always).
        let pin_always = match pin_policy {
            Some(p) => p == PinPolicy::Always,
            None => slot == Slot::Signature,
        };
        Ok(PivSigner {
            device: RefCell::new(self),
            slot,
            public,
            touch,
            pin_always: Cell::new(pin_always),
            noticed: Cell::new(false),
        })
    }
}

impl PivSigner {
    /// Fails unless the slot holds `expected` (a key reference that names a known key).
    pub fn check_public_key(&self, expected: &p256::PublicKey) -> Result<()> {
        if &self.public != expected {
            return Err(Error::Crypto(format!(
                "slot {} of {} holds key {}, not the expected {}",
                self.slot,
                self.device.borrow().desc(),
                crate::tuf::keyid::canonical_key_id(&self.public),
                crate::tuf::keyid::canonical_key_id(expected)
            )));
        }
        Ok(())
    }

    pub fn serial(&self) -> u32 {
        self.device.borrow().serial()
    }

    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// Gives the device back (e.g. to write something else in the same command).
    pub fn into_device(self) -> Device {
        self.device.into_inner()
    }
}

impl Signer for PivSigner {
    fn public_key(&self) -> &p256::PublicKey {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        let digest = Sha256::digest(msg);
        let mut dev = self.device.borrow_mut();
        let touch_needed = self.touch != Some(TouchPolicy::Never);
        if self.pin_always.get() {
            dev.reverify()?;
        }
        let mut result = sign_data(&mut dev.yk, &digest, AlgorithmId::EccP256, self.slot.id());
        if matches!(result, Err(yubikey::Error::AuthenticationError))
            && !self.pin_always.get()
            && dev.pin.is_some()
        {
            // Some cards want the PIN right before every signature in 9c whatever the policy
            // says (the PIV standard's rule): re-send the PIN this command already verified.
            self.pin_always.set(true);
            dev.reverify()?;
            result = sign_data(&mut dev.yk, &digest, AlgorithmId::EccP256, self.slot.id());
        }
        let der = result.map_err(|e| {
            Error::Crypto(format!(
                "signing with slot {} of {} failed ({e}){}",
                self.slot,
                dev.desc(),
                if touch_needed {
                    ": touch not received in time?"
                } else {
                    ""
                }
            ))
        })?;
        let sig = p256::ecdsa::Signature::from_der(&der)
            .map_err(|_| Error::Crypto(format!("{} returned a malformed signature", dev.desc())))?;
        // A card that signs with another key than its certificate says must not go unnoticed.
        if !verify_prehash(&self.public, &digest, &sig) {
            return Err(Error::Crypto(format!(
                "the signature from slot {} of {} does not verify under the slot's certificate key",
                self.slot,
                dev.desc()
            )));
        }
        Ok(sig.normalize_s().unwrap_or(sig))
    }

    fn describe(&self) -> String {
        format!("{}, slot {}", self.device.borrow().desc(), self.slot)
    }

    /// Before every signature with touch policy "always"; once with "cached" (or unknown).
    fn touch_notice(&self) -> Option<String> {
        let touch_needed = self.touch != Some(TouchPolicy::Never);
        let again = self.touch == Some(TouchPolicy::Always) || !self.noticed.replace(true);
        (touch_needed && again).then(|| {
            format!(
                "Touch your {} (slot {}) to sign...",
                self.device.borrow().desc(),
                self.slot
            )
        })
    }
}

fn verify_prehash(key: &p256::PublicKey, digest: &[u8], sig: &p256::ecdsa::Signature) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    p256::ecdsa::VerifyingKey::from(key)
        .verify_prehash(digest, sig)
        .is_ok()
}
