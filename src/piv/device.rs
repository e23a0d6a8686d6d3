//! Finding and opening YubiKeys, and the per-command `Device` session: status, PIN verification
//! (retries read first, never retried), management key authentication, keygen and import.

use secrecy::{ExposeSecret, SecretString};
use yubikey::piv::{self as ykpiv, AlgorithmId, ManagementSlotId, SlotId};
use yubikey::{MgmKey, YubiKey};

use super::{
    advisories, cert_public_key, desc, Credential, DeviceInfo, ManagementKeyStatus, Overwrite,
    PinPolicy, Policies, Slot, SlotStatus, Status, TouchPolicy, DEFAULT_MGM_KEY,
};
use crate::secret::{PinSource, Prompter};
use crate::{Error, Result};

fn pcsc_err(e: yubikey::Error) -> Error {
    match e {
        yubikey::Error::PcscError {
            inner: Some(pcsc::Error::NoService | pcsc::Error::ServiceStopped),
        } => Error::PcscUnavailable("the PC/SC service (pcscd) is not running".into()),
        yubikey::Error::PcscError {
            inner: Some(pcsc::Error::NoReadersAvailable),
        } => Error::PivNotFound {
            serial: None,
            available: vec![],
        },
        other => Error::PcscUnavailable(format!("cannot list smart card readers: {other}")),
    }
}

fn is_sharing_violation(e: &yubikey::Error) -> bool {
    matches!(
        e,
        yubikey::Error::PcscError {
            inner: Some(pcsc::Error::SharingViolation)
        }
    )
}

/// Every YubiKey that can be opened now, and the readers that another program holds.
///
/// A card that pcscd has just powered up may answer the first connection with a protocol
/// mismatch or a reset; such readers are tried again a few times before giving up on them.
fn scan() -> Result<(Vec<YubiKey>, Vec<String>)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (found, busy, transient) = scan_once()?;
        if transient == 0 || attempt >= 4 {
            return Ok((found, busy));
        }
        found.into_iter().for_each(release);
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
}

fn scan_once() -> Result<(Vec<YubiKey>, Vec<String>, usize)> {
    let mut ctx = yubikey::reader::Context::open().map_err(pcsc_err)?;
    let readers = match ctx.iter() {
        Ok(r) => r,
        Err(e) => return Err(pcsc_err(e)),
    };
    let mut found = Vec::new();
    let mut busy = Vec::new();
    let mut transient = 0;
    for reader in readers {
        match reader.open() {
            Ok(yk) => found.push(yk),
            Err(e) if is_sharing_violation(&e) => busy.push(reader.name().into_owned()),
            Err(yubikey::Error::PcscError {
                inner:
                    Some(
                        pcsc::Error::ProtoMismatch
                        | pcsc::Error::ResetCard
                        | pcsc::Error::UnpoweredCard
                        | pcsc::Error::UnresponsiveCard,
                    ),
            }) => transient += 1,
            // No card, or not a PIV card.
            Err(_) => {}
        }
    }
    Ok((found, busy, transient))
}

fn info(yk: &YubiKey) -> DeviceInfo {
    let v = yk.version();
    DeviceInfo {
        serial: yk.serial().0,
        firmware: format!("{}.{}.{}", v.major, v.minor, v.patch),
        reader: yk.name().to_string(),
    }
}

fn release(yk: YubiKey) {
    // Read-only use: keep the card's PIN and touch caches as they are.
    let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
}

/// The YubiKeys plugged in now.
pub fn list() -> Result<Vec<DeviceInfo>> {
    let (found, busy) = match scan() {
        Ok(x) => x,
        Err(Error::PivNotFound { .. }) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let infos: Vec<_> = found.iter().map(info).collect();
    found.into_iter().for_each(release);
    if infos.is_empty() {
        if let Some(reader) = busy.into_iter().next() {
            return Err(Error::PivBusy { reader });
        }
    }
    Ok(infos)
}

/// Opens the YubiKey with this serial, or the only one plugged in.
pub fn open(serial: Option<u32>) -> Result<Device> {
    let (found, busy) = scan()?;
    let serials: Vec<u32> = found.iter().map(|yk| yk.serial().0).collect();
    let pick = match serial {
        Some(s) => serials.iter().position(|&x| x == s),
        None if serials.len() == 1 => Some(0),
        None if serials.len() > 1 => {
            found.into_iter().for_each(release);
            return Err(Error::PivAmbiguous { serials });
        }
        None => None,
    };
    let Some(i) = pick else {
        found.into_iter().for_each(release);
        if let Some(reader) = busy.into_iter().next() {
            return Err(Error::PivBusy { reader });
        }
        return Err(Error::PivNotFound {
            serial,
            available: serials,
        });
    };
    let mut found = found;
    let yk = found.swap_remove(i);
    found.into_iter().for_each(release);
    Ok(Device {
        yk,
        pin: None,
        admin: false,
    })
}

/// Where the management key comes from when it is neither PIN-protected nor the default.
pub struct Auth<'a> {
    pub pin_source: Option<&'a PinSource>,
    pub prompter: &'a mut dyn Prompter,
    /// Spend the last PIN try.
    pub allow_final_try: bool,
}

/// One open YubiKey for the length of a command.
pub struct Device {
    pub(super) yk: YubiKey,
    /// The PIN once verified in this command (re-sent for keys with PIN policy "always").
    pub(super) pin: Option<SecretString>,
    admin: bool,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("serial", &self.serial())
            .finish_non_exhaustive()
    }
}

impl Device {
    pub fn serial(&self) -> u32 {
        self.yk.serial().0
    }

    pub fn version(&self) -> yubikey::Version {
        self.yk.version()
    }

    pub fn desc(&self) -> String {
        desc(self.serial())
    }

    pub fn info(&self) -> DeviceInfo {
        info(&self.yk)
    }

    /// Ends read-only use without resetting the card, so its PIN and touch caches (and other
    /// programs' sessions) are left as they were. Dropping a `Device` resets the card.
    pub fn close(self) {
        release(self.yk);
    }

    pub(super) fn err(&self, op: &'static str, source: yubikey::Error) -> Error {
        Error::Piv {
            device: self.desc(),
            op,
            source,
        }
    }

    /// Metadata (GET METADATA) exists from firmware 5.3 on.
    pub fn has_metadata(&self) -> bool {
        let v = self.version();
        (v.major, v.minor) >= (5, 3)
    }

    fn meta(&mut self, slot: SlotId) -> Option<ykpiv::SlotMetadata> {
        if !self.has_metadata() {
            return None;
        }
        ykpiv::metadata(&mut self.yk, slot).ok()
    }

    /// PIN retries, read without spending one.
    pub fn pin_retries(&mut self) -> Result<u8> {
        if let Some(r) = self
            .meta(SlotId::Management(ManagementSlotId::Pin))
            .and_then(|m| m.retries)
        {
            return Ok(r.remaining_count);
        }
        match self.yk.get_pin_retries() {
            Ok(n) => Ok(n),
            Err(yubikey::Error::PinLocked) => Ok(0),
            Err(e) => Err(self.err("reading the PIN retry counter", e)),
        }
    }

    /// Serial, firmware, retries, defaults, slots, advisories. Never asks for a PIN.
    pub fn status(&mut self) -> Result<Status> {
        let cred = |m: Option<ykpiv::SlotMetadata>| Credential {
            retries_left: m
                .as_ref()
                .and_then(|m| m.retries.as_ref())
                .map(|r| r.remaining_count),
            retries_total: m
                .as_ref()
                .and_then(|m| m.retries.as_ref())
                .map(|r| r.retry_count),
            is_default: m.as_ref().and_then(|m| m.default),
        };
        let mut pin = cred(self.meta(SlotId::Management(ManagementSlotId::Pin)));
        if pin.retries_left.is_none() {
            pin.retries_left = self.pin_retries().ok();
        }
        let puk = cred(self.meta(SlotId::Management(ManagementSlotId::Puk)));
        let mgm = self.meta(SlotId::Management(ManagementSlotId::Management));
        let management_key = ManagementKeyStatus {
            is_default: mgm.and_then(|m| m.default),
        };
        let mut slots = Vec::new();
        for slot in Slot::ALL {
            if let Some(s) = self.slot_status(slot) {
                slots.push(s);
            }
        }
        let info = self.info();
        Ok(Status {
            serial: info.serial,
            firmware: info.firmware,
            reader: info.reader,
            pin,
            puk,
            management_key,
            slots,
            advisories: advisories(self.version()),
        })
    }

    /// What a slot holds, or `None` when it is empty.
    pub fn slot_status(&mut self, slot: Slot) -> Option<SlotStatus> {
        let meta = self.meta(slot.id());
        let cert = self.certificate(slot).ok().flatten();
        if meta.is_none() && cert.is_none() {
            return None;
        }
        let (pin_policy, touch_policy) = meta
            .as_ref()
            .and_then(|m| m.policy)
            .map(|(p, t)| (PinPolicy::from_yk(p), TouchPolicy::from_yk(t)))
            .unwrap_or((None, None));
        let algorithm = meta.as_ref().map(|m| match m.algorithm {
            ykpiv::ManagementAlgorithmId::Asymmetric(AlgorithmId::EccP256) => "ECCP256".into(),
            ykpiv::ManagementAlgorithmId::Asymmetric(a) => format!("{a:?}"),
            other => format!("{other:?}"),
        });
        let origin = meta.as_ref().and_then(|m| m.origin).map(|o| match o {
            ykpiv::Origin::Generated => "generated".to_string(),
            ykpiv::Origin::Imported => "imported".to_string(),
        });
        let (certificate_subject, key_id) = match &cert {
            Some(c) => (
                Some(c.tbs_certificate.subject.to_string()),
                cert_public_key(c).map(|k| crate::tuf::keyid::canonical_key_id(&k)),
            ),
            None => (None, None),
        };
        Some(SlotStatus {
            slot: slot.name().into(),
            algorithm: algorithm.or_else(|| {
                cert.as_ref().map(|c| match cert_public_key(c) {
                    Some(_) => "ECCP256".to_string(),
                    None => "not P-256".to_string(),
                })
            }),
            origin,
            pin_policy,
            touch_policy,
            certificate_subject,
            key_id,
        })
    }

    /// The certificate in a slot, if there is one.
    pub fn certificate(&mut self, slot: Slot) -> Result<Option<x509_cert::Certificate>> {
        match yubikey::certificate::Certificate::read(&mut self.yk, slot.id()) {
            Ok(c) => Ok(Some(c.cert)),
            Err(yubikey::Error::InvalidObject | yubikey::Error::NotFound) => Ok(None),
            Err(e) => Err(self.err("reading the certificate", e)),
        }
    }

    /// The P-256 public key of the slot's certificate.
    pub fn public_key(&mut self, slot: Slot) -> Result<p256::PublicKey> {
        let cert = self.certificate(slot)?.ok_or_else(|| Error::PivSlotEmpty {
            device: self.desc(),
            slot: slot.name(),
        })?;
        cert_public_key(&cert).ok_or_else(|| {
            Error::Crypto(format!(
                "the certificate in slot {slot} of {} does not hold a P-256 key",
                self.desc()
            ))
        })
    }

    /// Verifies the PIN once for this command: the retries are read first, a blocked PIN or
    /// (unless allowed) the last try is refused, and a wrong PIN is reported, never retried.
    pub fn verify_pin(
        &mut self,
        source: Option<&PinSource>,
        prompter: &mut dyn Prompter,
        allow_final_try: bool,
    ) -> Result<()> {
        if self.pin.is_some() {
            return Ok(());
        }
        let left = self.pin_retries()?;
        if left == 0 {
            return Err(Error::PivPinBlocked {
                serial: self.serial(),
            });
        }
        if left == 1 && !allow_final_try {
            return Err(Error::FinalPinTry { token: self.desc() });
        }
        let pin = crate::secret::token_pin(source, &self.desc(), prompter)?;
        self.verify_with(&pin)?;
        self.pin = Some(pin);
        Ok(())
    }

    /// Sends a PIN known to be right (or the first try of one); maps the card's answers.
    pub(super) fn verify_with(&mut self, pin: &SecretString) -> Result<()> {
        match self.yk.verify_pin(pin.expose_secret().as_bytes()) {
            Ok(()) => Ok(()),
            Err(yubikey::Error::WrongPin { tries: 0 }) | Err(yubikey::Error::PinLocked) => {
                Err(Error::PivPinBlocked {
                    serial: self.serial(),
                })
            }
            Err(yubikey::Error::WrongPin { tries }) => Err(Error::WrongPin {
                token: self.desc(),
                state: format!(
                    "{tries} {} left before the PIN is blocked",
                    if tries == 1 { "try" } else { "tries" }
                ),
            }),
            Err(e) => Err(self.err("verifying the PIN", e)),
        }
    }

    /// Authenticates with the management key: the PIN-protected one stored on the card (as
    /// ykman's --protect leaves it), else the factory default if the metadata says it is still
    /// set, else TRUSTKEY_MGM_KEY or a prompt (48 hex digits).
    pub fn authenticate_admin(&mut self, auth: &mut Auth<'_>) -> Result<()> {
        if self.admin {
            return Ok(());
        }
        self.verify_pin(auth.pin_source, auth.prompter, auth.allow_final_try)?;
        let key = match MgmKey::get_protected(&mut self.yk) {
            Ok(k) => k,
            Err(_) => {
                let default = self
                    .meta(SlotId::Management(ManagementSlotId::Management))
                    .and_then(|m| m.default);
                if default == Some(true) {
                    MgmKey::from_bytes(DEFAULT_MGM_KEY)
                        .map_err(|e| self.err("using the default management key", e))?
                } else {
                    let hex_key = match std::env::var("TRUSTKEY_MGM_KEY") {
                        Ok(v) if !v.is_empty() => SecretString::from(v),
                        _ => auth.prompter.secret(&format!(
                            "Management key for {} (48 hex digits): ",
                            self.desc()
                        ))?,
                    };
                    parse_mgm_key(hex_key.expose_secret())?
                }
            }
        };
        self.yk
            .authenticate(key)
            .map_err(|_| Error::PivManagementKey {
                device: self.desc(),
            })?;
        self.admin = true;
        Ok(())
    }

    fn ensure_empty(&mut self, slot: Slot, overwrite: Overwrite) -> Result<()> {
        if overwrite == Overwrite::Replace {
            return Ok(());
        }
        let filled = self.certificate(slot)?.is_some() || self.meta(slot.id()).is_some();
        if filled {
            return Err(Error::KeyExists {
                token: self.desc(),
                what: format!("a key in slot {slot}"),
            });
        }
        Ok(())
    }

    /// Generates a P-256 key in `slot` and writes a self-signed certificate (CN = `subject`)
    /// for it, so the card says what it holds. Returns the public key.
    pub fn generate(
        &mut self,
        slot: Slot,
        policies: Policies,
        subject: &str,
        overwrite: Overwrite,
        auth: &mut Auth<'_>,
    ) -> Result<p256::PublicKey> {
        self.ensure_empty(slot, overwrite)?;
        self.authenticate_admin(auth)?;
        let spki = ykpiv::generate(
            &mut self.yk,
            slot.id(),
            AlgorithmId::EccP256,
            policies.pin.to_yk(),
            policies.touch.to_yk(),
        )
        .map_err(|e| self.err("generating a key", e))?;
        let public = p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
            .map_err(|_| Error::Crypto("the card returned an invalid P-256 point".into()))?;
        self.write_self_signed(slot, &public, policies, subject, auth.prompter)?;
        Ok(public)
    }

    /// Imports a P-256 private key (mirrors, escrow) into `slot` with a self-signed
    /// certificate. Imported keys cannot be attested. Returns the public key.
    pub fn import(
        &mut self,
        slot: Slot,
        secret: &p256::SecretKey,
        policies: Policies,
        subject: &str,
        overwrite: Overwrite,
        auth: &mut Auth<'_>,
    ) -> Result<p256::PublicKey> {
        self.ensure_empty(slot, overwrite)?;
        self.authenticate_admin(auth)?;
        let scalar = zeroize::Zeroizing::new(secret.to_bytes());
        ykpiv::import_ecc_key(
            &mut self.yk,
            slot.id(),
            AlgorithmId::EccP256,
            &scalar[..],
            policies.touch.to_yk(),
            policies.pin.to_yk(),
        )
        .map_err(|e| self.err("importing the key", e))?;
        let public = secret.public_key();
        self.write_self_signed(slot, &public, policies, subject, auth.prompter)?;
        Ok(public)
    }

    /// A self-signed certificate for the slot's key, signed on the card.
    fn write_self_signed(
        &mut self,
        slot: Slot,
        public: &p256::PublicKey,
        policies: Policies,
        subject: &str,
        prompter: &mut dyn Prompter,
    ) -> Result<()> {
        use std::str::FromStr;
        use x509_cert::{name::Name, serial_number::SerialNumber, time::Validity};
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(*public)
            .map_err(|e| Error::Crypto(format!("encoding the public key: {e}")))?;
        let name = Name::from_str(&format!("CN={}", subject.replace([',', '+', '='], "_")))
            .map_err(|e| Error::Crypto(format!("certificate subject {subject:?}: {e}")))?;
        let mut serial = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut serial);
        serial[0] &= 0x7f;
        let serial = SerialNumber::new(&serial)
            .map_err(|e| Error::Crypto(format!("certificate serial: {e}")))?;
        let validity = Validity::from_now(std::time::Duration::from_secs(10 * 365 * 24 * 3600))
            .map_err(|e| Error::Crypto(format!("certificate validity: {e}")))?;
        if policies.touch != TouchPolicy::Never {
            prompter.touch(&format!(
                "Touch your {} to sign its certificate for slot {slot}...",
                self.desc()
            ));
        }
        self.reverify()?;
        yubikey::certificate::Certificate::generate_self_signed::<_, p256::NistP256>(
            &mut self.yk,
            slot.id(),
            serial,
            validity,
            name,
            spki,
            |_| Ok(()),
        )
        .map_err(|e| self.err("writing the certificate", e))?;
        Ok(())
    }

    /// Sends the PIN again right before a private key operation (PIN policy "always").
    pub(super) fn reverify(&mut self) -> Result<()> {
        if let Some(pin) = self.pin.take() {
            let r = self.verify_with(&pin);
            self.pin = Some(pin);
            r?;
        }
        Ok(())
    }

    /// The raw attestation certificate for `slot` (DER), as the card makes it.
    pub fn attest(&mut self, slot: Slot) -> Result<Vec<u8>> {
        match ykpiv::attest(&mut self.yk, slot.id()) {
            Ok(b) => Ok(b.to_vec()),
            Err(yubikey::Error::NotSupported | yubikey::Error::GenericError) => {
                Err(Error::PivNoAttestation {
                    device: self.desc(),
                    slot: slot.name(),
                })
            }
            Err(e) => Err(self.err("attesting the key", e)),
        }
    }

    /// The device's attestation intermediate (slot f9), DER.
    pub fn attestation_intermediate(&mut self) -> Result<Option<Vec<u8>>> {
        match yubikey::certificate::Certificate::read(&mut self.yk, SlotId::Attestation) {
            Ok(c) => Ok(Some(
                der::Encode::to_der(&c.cert).map_err(|e| Error::Crypto(e.to_string()))?,
            )),
            Err(_) => Ok(None),
        }
    }
}

fn parse_mgm_key(s: &str) -> Result<MgmKey> {
    let bytes = zeroize::Zeroizing::new(
        hex::decode(s.trim())
            .map_err(|_| Error::Usage("the management key must be 48 hex digits".into()))?,
    );
    MgmKey::from_bytes(&bytes[..])
        .map_err(|_| Error::Usage("the management key must be 48 hex digits (3DES)".into()))
}
