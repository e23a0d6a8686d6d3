//! `yubikey setup`: replace the factory PIN, PUK and management key, as age-plugin-yubikey and
//! ykman do: new values prompted twice (or TRUSTKEY_NEW_PIN / TRUSTKEY_NEW_PUK in CI), and a
//! random management key stored on the card behind the PIN (ykman's `--protect`).
//!
//! A current value is taken to be the factory default only when the card's metadata says so;
//! trustkey never *tries* a default PIN or PUK.

use secrecy::{ExposeSecret, SecretString};
use yubikey::MgmKey;

use super::{Device, SetupOptions, SetupReport, DEFAULT_MGM_KEY, DEFAULT_PIN, DEFAULT_PUK};
use crate::secret::Prompter;
use crate::{Error, Result};

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

fn new_secret(
    what: &str,
    env: &str,
    default: &str,
    desc: &str,
    prompter: &mut dyn Prompter,
) -> Result<SecretString> {
    let v = match env_secret(env) {
        Some(v) => v,
        None => {
            let a = prompter.secret(&format!("New {what} for {desc} (6 to 8 characters): "))?;
            let b = prompter.secret(&format!("Repeat the new {what}: "))?;
            if a.expose_secret() != b.expose_secret() {
                return Err(Error::Usage(format!("the two {what}s differ")));
            }
            a
        }
    };
    let len = v.expose_secret().len();
    if !(6..=8).contains(&len) {
        return Err(Error::Usage(format!(
            "a YubiKey {what} has 6 to 8 characters, not {len}"
        )));
    }
    if v.expose_secret() == default {
        return Err(Error::Usage(format!(
            "the new {what} is the factory default; choose another"
        )));
    }
    Ok(v)
}

impl Device {
    /// Replaces default credentials (and others when asked). The new PIN is verified at the end.
    pub fn setup(
        &mut self,
        opts: SetupOptions,
        prompter: &mut dyn Prompter,
    ) -> Result<SetupReport> {
        let status = self.status()?;
        let desc = self.desc();
        let mut report = SetupReport {
            serial: status.serial,
            pin_changed: false,
            puk_changed: false,
            management_key: None,
        };

        // PIN
        let pin_default = status.pin.is_default == Some(true);
        if pin_default || opts.change_pin {
            if status.pin.retries_left == Some(0) {
                return Err(Error::PivPinBlocked {
                    serial: status.serial,
                });
            }
            let current = if pin_default {
                SecretString::from(DEFAULT_PIN)
            } else {
                crate::secret::token_pin(None, &desc, prompter)?
            };
            let new = new_secret("PIN", "TRUSTKEY_NEW_PIN", DEFAULT_PIN, &desc, prompter)?;
            self.yk
                .change_pin(
                    current.expose_secret().as_bytes(),
                    new.expose_secret().as_bytes(),
                )
                .map_err(|e| match e {
                    yubikey::Error::WrongPin { tries } => Error::WrongPin {
                        token: desc.clone(),
                        state: format!("{tries} tries left before the PIN is blocked"),
                    },
                    yubikey::Error::PinLocked => Error::PivPinBlocked {
                        serial: status.serial,
                    },
                    e => self.err("changing the PIN", e),
                })?;
            prompter.notice(&format!("{desc}: PIN changed"));
            report.pin_changed = true;
            self.pin = None;
            self.verify_with(&new)?;
            self.pin = Some(new);
        }

        // PUK
        let puk_default = status.puk.is_default == Some(true);
        if puk_default || opts.change_puk {
            let current = if puk_default {
                SecretString::from(DEFAULT_PUK)
            } else {
                match env_secret("TRUSTKEY_PUK") {
                    Some(p) => p,
                    None => prompter.secret(&format!("Current PUK for {desc}: "))?,
                }
            };
            let new = new_secret("PUK", "TRUSTKEY_NEW_PUK", DEFAULT_PUK, &desc, prompter)?;
            self.yk
                .change_puk(
                    current.expose_secret().as_bytes(),
                    new.expose_secret().as_bytes(),
                )
                .map_err(|e| self.puk_err(e, "changing the PUK"))?;
            prompter.notice(&format!("{desc}: PUK changed"));
            report.puk_changed = true;
        }

        // Management key: random, PIN-protected.
        let mgm_default = status.management_key.is_default == Some(true);
        if mgm_default || opts.change_management_key {
            if mgm_default {
                let key = MgmKey::from_bytes(DEFAULT_MGM_KEY)
                    .map_err(|e| self.err("using the default management key", e))?;
                self.yk
                    .authenticate(key)
                    .map_err(|_| Error::PivManagementKey {
                        device: desc.clone(),
                    })?;
                if self.pin.is_none() {
                    self.verify_pin(None, prompter, false)?;
                }
            } else {
                let mut auth = super::Auth {
                    pin_source: None,
                    prompter,
                    allow_final_try: false,
                };
                self.authenticate_admin(&mut auth)?;
            }
            let new = MgmKey::generate();
            if let Err(e) = new.set_protected(&mut self.yk) {
                // The key may be set while its PIN-protected copy is not: show it, so that the
                // card is not left with a management key nobody knows.
                let hex_key = hex::encode(new.as_ref());
                prompter.warn(&format!(
                    "trustkey: storing the new management key on {desc} failed ({e}); if the \
                     card now rejects the old one, its new management key is {hex_key}: \
                     keep it safe"
                ));
                return Err(self.err("setting the management key", e));
            }
            // Check that the card now takes it back from its PIN-protected storage.
            self.reverify()?;
            let stored = MgmKey::get_protected(&mut self.yk)
                .map_err(|e| self.err("reading back the PIN-protected management key", e))?;
            self.yk
                .authenticate(stored)
                .map_err(|_| Error::PivManagementKey {
                    device: desc.clone(),
                })?;
            prompter.notice(&format!(
                "{desc}: management key replaced by a random one, stored on the card behind the PIN"
            ));
            report.management_key = Some("protected");
        }
        Ok(report)
    }

    /// A failure of an operation the PUK authorizes: a wrong PUK says how many tries are left.
    fn puk_err(&self, e: yubikey::Error, op: &'static str) -> Error {
        match e {
            yubikey::Error::WrongPin { tries } => Error::WrongPin {
                token: format!("{} (PUK)", self.desc()),
                state: format!("{tries} tries left before the PUK is blocked"),
            },
            yubikey::Error::PinLocked => Error::PivPukBlocked {
                serial: self.serial(),
            },
            e => self.err(op, e),
        }
    }

    /// Unblocks a blocked PIN with the PUK (TRUSTKEY_PUK or a prompt) and sets a new PIN
    /// (TRUSTKEY_NEW_PIN or a prompt).
    pub fn unblock_pin(&mut self, prompter: &mut dyn Prompter) -> Result<()> {
        let desc = self.desc();
        let puk = match env_secret("TRUSTKEY_PUK") {
            Some(p) => p,
            None => prompter.secret(&format!("PUK for {desc}: "))?,
        };
        let new = new_secret("PIN", "TRUSTKEY_NEW_PIN", DEFAULT_PIN, &desc, prompter)?;
        self.yk
            .unblock_pin(
                puk.expose_secret().as_bytes(),
                new.expose_secret().as_bytes(),
            )
            .map_err(|e| self.puk_err(e, "unblocking the PIN"))
    }
}
