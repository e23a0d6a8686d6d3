//! YubiKey PIV device handling through the `yubikey` crate: find and open a device by serial,
//! read its status, set it up, generate or import a P-256 key with a certificate, sign, attest.
//!
//! The module is named `piv` so that it does not clash with the `yubikey` crate in `use` paths.
//! All device I/O lives here; a command opens one [`Device`] per YubiKey, verifies the PIN at
//! most once with it, and drops it at the end.
//!
//! ```text
//! let mut dev = piv::open(Some(serial))?;          // "insert your YubiKey", "several: pass serial="
//! let status = dev.status()?;                      // retries, defaults, slots, advisories
//! piv::ensure_no_default_credentials(&status, allow)?;   // before putting a root on it
//! let pk = dev.generate(Slot::Signature, Policies::default(), "trustkey root", Overwrite::Refuse, &mut auth)?;
//! let signer = dev.signer(Slot::Signature, pin_source, prompter, allow_final_try)?; // crate::sign::Signer
//! ```

mod attest;
#[cfg(feature = "piv")]
mod device;
#[cfg(feature = "piv")]
mod setup;
#[cfg(feature = "piv")]
mod signer;
#[cfg(not(feature = "piv"))]
mod unsupported;
pub mod uri;

pub use attest::{verify_attestation, Attestation, YUBICO_OID_ARC};
#[cfg(feature = "piv")]
pub use device::{list, open, Auth, Device};
#[cfg(feature = "piv")]
pub use signer::PivSigner;
#[cfg(not(feature = "piv"))]
pub use unsupported::{list, open, Auth, Device, PivSigner};
pub use uri::YubikeyRef;

use serde::Serialize;

use crate::{Error, Result};

/// The YubiKey factory defaults (public knowledge; used only when the card's metadata says the
/// credential still has its default value, never tried blindly).
pub const DEFAULT_PIN: &str = "123456";
pub const DEFAULT_PUK: &str = "12345678";
pub const DEFAULT_MGM_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// A PIV key slot trustkey uses. 9c (digital signature) is the default for roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// 9a, PIV authentication.
    Authentication,
    /// 9c, digital signature: the slot for roots (ykcs11 key ID 2).
    Signature,
    /// 9d, key management.
    KeyManagement,
    /// 9e, card authentication.
    CardAuthentication,
}

impl Slot {
    pub const ALL: [Slot; 4] = [
        Slot::Authentication,
        Slot::Signature,
        Slot::KeyManagement,
        Slot::CardAuthentication,
    ];

    #[cfg(feature = "piv")]
    pub fn id(self) -> yubikey::piv::SlotId {
        use yubikey::piv::SlotId;
        match self {
            Slot::Authentication => SlotId::Authentication,
            Slot::Signature => SlotId::Signature,
            Slot::KeyManagement => SlotId::KeyManagement,
            Slot::CardAuthentication => SlotId::CardAuthentication,
        }
    }

    /// "9c"
    pub fn name(self) -> &'static str {
        match self {
            Slot::Authentication => "9a",
            Slot::Signature => "9c",
            Slot::KeyManagement => "9d",
            Slot::CardAuthentication => "9e",
        }
    }

    /// The key ID ykcs11 gives this slot's key (1..4).
    pub fn ykcs11_id(self) -> u8 {
        match self {
            Slot::Authentication => 1,
            Slot::Signature => 2,
            Slot::KeyManagement => 3,
            Slot::CardAuthentication => 4,
        }
    }
}

impl std::str::FromStr for Slot {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "9a" => Ok(Slot::Authentication),
            "9c" => Ok(Slot::Signature),
            "9d" => Ok(Slot::KeyManagement),
            "9e" => Ok(Slot::CardAuthentication),
            _ => Err(Error::Usage(format!(
                "unknown PIV slot {s:?}: use 9a, 9c, 9d or 9e (9c is the signature slot)"
            ))),
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// When the card asks for the PIN before using a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinPolicy {
    /// Never (do not use for a root).
    Never,
    /// Once per session (trustkey verifies the PIN once per command).
    Once,
    /// Before every signature (trustkey still asks for the PIN once per command).
    Always,
}

/// When the card waits for a touch before using a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TouchPolicy {
    Never,
    /// A touch for every signature.
    Always,
    /// A touch is remembered for 15 seconds.
    Cached,
}

#[cfg(feature = "piv")]
impl PinPolicy {
    fn to_yk(self) -> yubikey::PinPolicy {
        match self {
            PinPolicy::Never => yubikey::PinPolicy::Never,
            PinPolicy::Once => yubikey::PinPolicy::Once,
            PinPolicy::Always => yubikey::PinPolicy::Always,
        }
    }
    fn from_yk(p: yubikey::PinPolicy) -> Option<Self> {
        match p {
            yubikey::PinPolicy::Never => Some(PinPolicy::Never),
            yubikey::PinPolicy::Once => Some(PinPolicy::Once),
            yubikey::PinPolicy::Always => Some(PinPolicy::Always),
            yubikey::PinPolicy::Default => None,
        }
    }
}

#[cfg(feature = "piv")]
impl TouchPolicy {
    fn to_yk(self) -> yubikey::TouchPolicy {
        match self {
            TouchPolicy::Never => yubikey::TouchPolicy::Never,
            TouchPolicy::Always => yubikey::TouchPolicy::Always,
            TouchPolicy::Cached => yubikey::TouchPolicy::Cached,
        }
    }
    fn from_yk(p: yubikey::TouchPolicy) -> Option<Self> {
        match p {
            yubikey::TouchPolicy::Never => Some(TouchPolicy::Never),
            yubikey::TouchPolicy::Always => Some(TouchPolicy::Always),
            yubikey::TouchPolicy::Cached => Some(TouchPolicy::Cached),
            yubikey::TouchPolicy::Default => None,
        }
    }
}

/// The policies a new key gets. Defaults for a root: PIN once per command, touch always.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    pub pin: PinPolicy,
    pub touch: TouchPolicy,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            pin: PinPolicy::Once,
            touch: TouchPolicy::Always,
        }
    }
}

/// Whether a filled slot may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Refuse,
    Replace,
}

/// Whether a card that still has factory credentials may hold a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultCredentials {
    Refuse,
    Allow,
}

/// Retry counters and default state of the PIN or PUK; `None` where the card cannot say.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Credential {
    pub retries_left: Option<u8>,
    pub retries_total: Option<u8>,
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManagementKeyStatus {
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotStatus {
    pub slot: String,
    pub algorithm: Option<String>,
    /// "generated" or "imported", from the metadata.
    pub origin: Option<String>,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    pub certificate_subject: Option<String>,
    /// Notary's canonical key ID of the certificate's P-256 key.
    pub key_id: Option<String>,
}

/// What `yubikey status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub serial: u32,
    pub firmware: String,
    pub reader: String,
    pub pin: Credential,
    pub puk: Credential,
    pub management_key: ManagementKeyStatus,
    pub slots: Vec<SlotStatus>,
    pub advisories: Vec<String>,
}

impl Status {
    /// Which credentials are known to still have their factory values.
    pub fn default_credentials(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.pin.is_default == Some(true) {
            v.push("PIN");
        }
        if self.puk.is_default == Some(true) {
            v.push("PUK");
        }
        if self.management_key.is_default == Some(true) {
            v.push("management key");
        }
        v
    }
}

/// Refuses a card with factory-default PIN, PUK or management key for a root, unless allowed.
/// Credentials the card cannot report (firmware before 5.3) do not count as defaults.
pub fn ensure_no_default_credentials(status: &Status, allow: DefaultCredentials) -> Result<()> {
    let defaults = status.default_credentials();
    if defaults.is_empty() || allow == DefaultCredentials::Allow {
        return Ok(());
    }
    Err(Error::PivDefaultCredentials {
        serial: status.serial,
        which: defaults.join(", "),
    })
}

/// Yubico's published advisories that apply to this firmware.
#[cfg(feature = "piv")]
pub fn advisories(v: yubikey::Version) -> Vec<String> {
    let mut a = Vec::new();
    if (v.major, v.minor) < (5, 7) {
        a.push(format!(
            "YSA-2024-03: firmware {}.{}.{} (before 5.7.0) has a side channel in its ECDSA \
             implementation (\"EUCLEAK\"): an attacker who holds the YubiKey for a while with \
             lab equipment may recover an EC private key. Keep this key in a safe and never \
             lend it; a key on firmware 5.7 or later is not affected.",
            v.major, v.minor, v.patch
        ));
    }
    a
}

/// "YubiKey 12345678"
pub fn desc(serial: u32) -> String {
    format!("YubiKey {serial}")
}

/// A YubiKey seen on a reader.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceInfo {
    pub serial: u32,
    pub firmware: String,
    pub reader: String,
}

/// What to change besides the credentials that still have their factory values.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupOptions {
    pub change_pin: bool,
    pub change_puk: bool,
    pub change_management_key: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub serial: u32,
    pub pin_changed: bool,
    pub puk_changed: bool,
    /// "protected": random, stored on the card behind the PIN.
    pub management_key: Option<&'static str>,
}

/// The P-256 key in a certificate, if it holds one.
pub fn cert_public_key(cert: &x509_cert::Certificate) -> Option<p256::PublicKey> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    p256::PublicKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).ok()
}
