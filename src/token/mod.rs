//! PKCS#11 tokens: loading modules, finding tokens by label or serial, PIN state and login,
//! the key objects on them, and a key on a token as a `Signer`. All PKCS#11 I/O lives here.

pub mod keygen;
pub mod signer;
pub mod uri;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use secrecy::ExposeSecret;
use serde::Serialize;

pub use signer::TokenSigner;
pub use uri::Pkcs11Uri;

use crate::secret::Prompter;
use crate::{Error, Result};

/// Profiles shipped in `hsm-config/modules/`: candidate paths, first existing one wins.
const PROFILES: &[(&str, &str)] = &[
    ("softhsm", include_str!("../../hsm-config/modules/softhsm")),
    ("ykcs11", include_str!("../../hsm-config/modules/ykcs11")),
    ("opensc", include_str!("../../hsm-config/modules/opensc")),
];

/// Resolves `--module` (a path or a profile name) and a URI's `module-path` to a module file.
/// The URI wins: it names the module its key lives in.
pub fn resolve_module(flag: Option<&str>, uri_path: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = uri_path {
        return Ok(p.to_path_buf());
    }
    let flag = flag.ok_or(Error::NoModule)?;
    if let Some((name, list)) = PROFILES.iter().find(|(n, _)| *n == flag) {
        let candidates: Vec<&str> = list
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        return candidates
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| Error::ModuleLoad {
                path: PathBuf::from(name),
                reason: format!(
                    "profile {name}: none of {} exists; is the package installed?",
                    candidates.join(", ")
                ),
            });
    }
    if !flag.contains('/') && !flag.ends_with(".so") && !flag.ends_with(".dylib") {
        return Err(Error::ModuleLoad {
            path: PathBuf::from(flag),
            reason: format!(
                "not a path and not a profile (profiles: {})",
                PROFILES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(PathBuf::from(flag))
}

/// The PKCS#11 modules loaded by one command, and the tokens it has logged in to.
///
/// Each module is loaded and initialized once; `finish` finalizes them (cryptoki 0.12 no
/// longer does so on drop).
#[derive(Default)]
pub struct Tokens {
    modules: RefCell<Vec<(PathBuf, Pkcs11)>>,
}

impl Tokens {
    pub fn module(&self, path: &Path) -> Result<Pkcs11> {
        if let Some((_, m)) = self.modules.borrow().iter().find(|(p, _)| p == path) {
            return Ok(m.clone());
        }
        if !path.exists() {
            return Err(Error::ModuleLoad {
                path: path.into(),
                reason: "no such file".into(),
            });
        }
        let ctx = Pkcs11::new(path).map_err(|e| Error::ModuleLoad {
            path: path.into(),
            reason: e.to_string(),
        })?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => {
                return Err(Error::ModuleLoad {
                    path: path.into(),
                    reason: format!("C_Initialize: {e}"),
                })
            }
        }
        self.modules
            .borrow_mut()
            .push((path.to_path_buf(), ctx.clone()));
        Ok(ctx)
    }

    pub fn finish(self) -> Result<()> {
        let mut first_err = None;
        for (path, m) in self.modules.into_inner() {
            if let Err(e) = m.finalize() {
                first_err.get_or_insert(Error::ModuleLoad {
                    path,
                    reason: format!("C_Finalize: {e}"),
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// One token found on a module.
#[derive(Clone)]
pub struct Token {
    pub ctx: Pkcs11,
    pub module: PathBuf,
    pub slot: Slot,
    pub label: String,
    pub serial: String,
}

impl Token {
    /// How messages name this token.
    pub fn desc(&self) -> String {
        format!("token {:?} (serial {})", self.label, self.serial)
    }

    pub fn info(&self) -> Result<TokenInfo> {
        self.ctx
            .get_token_info(self.slot)
            .map_err(|e| self.err("C_GetTokenInfo", e))
    }

    pub fn err(&self, op: &'static str, source: CkError) -> Error {
        if let CkError::Pkcs11(RvError::TokenNotPresent | RvError::DeviceRemoved, _) = source {
            return Error::TokenRemoved {
                token: self.desc(),
                op,
            };
        }
        Error::Token {
            token: self.desc(),
            op,
            source,
        }
    }

    pub fn open_session(&self, rw: bool) -> Result<Session> {
        let r = if rw {
            self.ctx.open_rw_session(self.slot)
        } else {
            self.ctx.open_ro_session(self.slot)
        };
        r.map_err(|e| self.err("C_OpenSession", e))
    }

    /// Logs the user in, once per token per command.
    ///
    /// The token's flags are read first: a locked PIN is an error, and a final try is refused
    /// unless `allow_final_try`. A wrong PIN is reported with the token's state afterwards and
    /// never retried.
    pub fn login(
        &self,
        session: &Session,
        uri: &Pkcs11Uri,
        prompter: &mut dyn Prompter,
        allow_final_try: bool,
    ) -> Result<()> {
        // Login is per token, not per session, and ends when the token's last session closes:
        // ask the session rather than remembering.
        if let Ok(info) = session.get_session_info() {
            if matches!(
                info.session_state(),
                cryptoki::session::SessionState::RoUser | cryptoki::session::SessionState::RwUser
            ) {
                return Ok(());
            }
        }
        let info = self.info()?;
        if !info.login_required() {
            return Ok(());
        }
        let state = PinState::from(&info);
        if state.locked {
            return Err(Error::PinLocked { token: self.desc() });
        }
        if state.final_try && !allow_final_try {
            return Err(Error::FinalPinTry { token: self.desc() });
        }
        let result = if info.protected_authentication_path() {
            prompter.touch(&format!(
                "Enter the PIN for {} on its PIN pad.",
                self.desc()
            ));
            session.login(UserType::User, None)
        } else {
            let pin = crate::secret::token_pin(uri.pin_source.as_ref(), &self.desc(), prompter)?;
            if pin.expose_secret().is_empty() {
                return Err(Error::PinUnavailable(format!(
                    "empty PIN for {}",
                    self.desc()
                )));
            }
            session.login(UserType::User, Some(&pin))
        };
        match result {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
                let after = self.info().map(|i| PinState::from(&i));
                Err(Error::WrongPin {
                    token: self.desc(),
                    state: match after {
                        Ok(s) => s.after_wrong_pin(),
                        Err(_) => "its PIN state could not be read".into(),
                    },
                })
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                Err(Error::PinLocked { token: self.desc() })
            }
            Err(e) => Err(self.err("C_Login", e)),
        }
    }
}

/// Finds the one token a URI names (by label, serial, manufacturer, model; never slot number).
pub fn find_token(tokens: &Tokens, module_flag: Option<&str>, uri: &Pkcs11Uri) -> Result<Token> {
    let module = resolve_module(module_flag, uri.module_path.as_deref())?;
    let ctx = tokens.module(&module)?;
    // Slots with a token, each read once below: a token pulled meanwhile is passed over (not
    // an error about the module).
    let slots = ctx.get_slots_with_token().map_err(|e| Error::ModuleLoad {
        path: module.clone(),
        reason: format!("C_GetSlotList: {e}"),
    })?;
    let mut found = Vec::new();
    let mut available = Vec::new();
    for slot in slots {
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        let label = info.label().trim().to_string();
        let serial = info.serial_number().trim().to_string();
        available.push(format!("{label:?} (serial {serial})"));
        let matches = uri.token.as_deref().is_none_or(|t| t == label)
            && uri.serial.as_deref().is_none_or(|s| s == serial)
            && uri
                .manufacturer
                .as_deref()
                .is_none_or(|m| m == info.manufacturer_id().trim())
            && uri
                .model
                .as_deref()
                .is_none_or(|m| m == info.model().trim());
        if matches {
            found.push(Token {
                ctx: ctx.clone(),
                module: module.clone(),
                slot,
                label,
                serial,
            });
        }
    }
    let count = found.len();
    match found.pop() {
        Some(token) if count == 1 => Ok(token),
        None => Err(Error::TokenNotFound {
            selector: uri.token_desc(),
            available,
        }),
        Some(_) => Err(Error::TokenAmbiguous {
            selector: uri.token_desc(),
            count,
        }),
    }
}

/// The user PIN state, from the token flags.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PinState {
    pub initialized: bool,
    pub count_low: bool,
    pub final_try: bool,
    pub locked: bool,
    pub to_be_changed: bool,
}

impl From<&TokenInfo> for PinState {
    fn from(i: &TokenInfo) -> Self {
        PinState {
            initialized: i.user_pin_initialized(),
            count_low: i.user_pin_count_low(),
            final_try: i.user_pin_final_try(),
            locked: i.user_pin_locked(),
            to_be_changed: i.user_pin_to_be_changed(),
        }
    }
}

impl PinState {
    pub fn summary(&self) -> &'static str {
        if !self.initialized {
            "not initialized"
        } else if self.locked {
            "LOCKED"
        } else if self.final_try {
            "final try left"
        } else if self.count_low {
            "count low (a wrong PIN was entered)"
        } else if self.to_be_changed {
            "must be changed"
        } else {
            "ok"
        }
    }

    /// What to tell the user after a wrong PIN.
    fn after_wrong_pin(&self) -> String {
        if self.locked {
            "the PIN is now locked".into()
        } else if self.final_try {
            "one try left before the PIN locks".into()
        } else if self.count_low {
            "fewer tries left (the token does not say how many)".into()
        } else {
            "the token reports no PIN retry limit".into()
        }
    }
}

/// A key object on a token, as `token list` and `root list` show it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyObject {
    pub label: String,
    pub id: String,
    pub class: &'static str,
    /// Canonical key ID of the public key, when the token exposes it.
    pub key_id: Option<String>,
    /// CKA_SUBJECT (`CN=trustkey delegation` on a delegation key trustkey generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip)]
    pub public_key: Option<p256::PublicKey>,
}

/// Lists EC key pairs on a token (needs a session; private objects only after login).
pub fn list_keys(token: &Token, session: &Session) -> Result<Vec<KeyObject>> {
    let mut out = Vec::new();
    let handles = session
        .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
        .map_err(|e| token.err("C_FindObjects", e))?;
    let privs = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .map_err(|e| token.err("C_FindObjects", e))?;
    for (h, class) in handles
        .into_iter()
        .map(|h| (h, "public"))
        .chain(privs.into_iter().map(|h| (h, "private")))
    {
        let (label, id, subject) = label_and_id(token, session, h)?;
        let public_key = if class == "public" {
            read_ec_point(session, h).ok()
        } else {
            None
        };
        out.push(KeyObject {
            label,
            id: hex::encode(id),
            class,
            key_id: public_key.as_ref().map(crate::tuf::keyid::canonical_key_id),
            public_key,
            subject,
        });
    }
    Ok(out)
}

/// A key object's label, CKA_ID and subject (when it has a readable one).
fn label_and_id(
    token: &Token,
    session: &Session,
    h: ObjectHandle,
) -> Result<(String, Vec<u8>, Option<String>)> {
    let attrs = session
        .get_attributes(h, &[AttributeType::Label, AttributeType::Id])
        .map_err(|e| token.err("C_GetAttributeValue", e))?;
    let mut label = String::new();
    let mut id = Vec::new();
    for a in attrs {
        match a {
            Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
            Attribute::Id(i) => id = i,
            _ => {}
        }
    }
    // Asked apart: a module without CKA_SUBJECT on keys still lists them.
    let subject = session
        .get_attributes(h, &[AttributeType::Subject])
        .ok()
        .into_iter()
        .flatten()
        .find_map(|a| match a {
            Attribute::Subject(s) => keygen::subject_of(&s),
            _ => None,
        });
    Ok((label, id, subject))
}

/// The template that selects a key object of `class` by the URI's label and id.
///
/// A URI with `id=` and no `object=` matches on the id alone: modules such as Yubico's ykcs11
/// label the private and public halves of one key differently ("Private key for Digital
/// Signature" / "Public key for ...") and tie them together by CKA_ID (9c = id 2).
pub fn key_template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class), Attribute::KeyType(KeyType::EC)];
    if uri.object.is_some() || uri.id.is_none() {
        t.push(Attribute::Label(uri.object_label().as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

/// Reads CKA_EC_POINT, DER-wrapped (the standard) or bare (some modules).
pub fn read_ec_point(session: &Session, h: ObjectHandle) -> Result<p256::PublicKey, String> {
    let attrs = session
        .get_attributes(h, &[AttributeType::EcPoint])
        .map_err(|e| e.to_string())?;
    let point = attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or("the key has no CKA_EC_POINT")?;
    parse_ec_point(&point)
}

pub fn parse_ec_point(point: &[u8]) -> Result<p256::PublicKey, String> {
    // DER OCTET STRING (0x04, len 65, 0x04 ...) wraps the uncompressed point.
    let bare = match point {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        _ => point,
    };
    p256::PublicKey::from_sec1_bytes(bare).map_err(|_| "CKA_EC_POINT is not a P-256 point".into())
}

/// CKA_EC_POINT as written: a DER OCTET STRING around the uncompressed point.
pub fn ec_point_der(key: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let p = key.to_encoded_point(false);
    let mut v = vec![0x04, p.as_bytes().len() as u8];
    v.extend_from_slice(p.as_bytes());
    v
}

/// DER of the P-256 curve OID (prime256v1), for CKA_EC_PARAMS.
pub const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Information about every slot and token on a module, for `token list`.
#[derive(Debug, Serialize)]
pub struct SlotReport {
    pub slot: u64,
    pub token_present: bool,
    pub label: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub initialized: bool,
    pub pin: Option<PinState>,
    pub pin_summary: Option<&'static str>,
    pub keys: Vec<KeyObject>,
    /// Why keys could not be listed (e.g. the token needs a login to show private objects).
    pub note: Option<String>,
}

pub fn report_slots(ctx: &Pkcs11, module: &Path) -> Result<Vec<SlotReport>> {
    let slots = ctx.get_all_slots().map_err(|e| Error::ModuleLoad {
        path: module.into(),
        reason: format!("C_GetSlotList: {e}"),
    })?;
    let mut out = Vec::new();
    for slot in slots {
        let present = ctx
            .get_slot_info(slot)
            .map(|s| s.token_present())
            .unwrap_or(false);
        let mut r = SlotReport {
            slot: slot.id(),
            token_present: present,
            label: None,
            serial: None,
            manufacturer: None,
            model: None,
            initialized: false,
            pin: None,
            pin_summary: None,
            keys: vec![],
            note: None,
        };
        if present {
            if let Ok(info) = ctx.get_token_info(slot) {
                r.label = Some(info.label().trim().to_string());
                r.serial = Some(info.serial_number().trim().to_string());
                r.manufacturer = Some(info.manufacturer_id().trim().to_string());
                r.model = Some(info.model().trim().to_string());
                r.initialized = info.token_initialized();
                let pin = PinState::from(&info);
                r.pin_summary = Some(pin.summary());
                r.pin = Some(pin);
                if r.initialized {
                    let token = Token {
                        ctx: ctx.clone(),
                        module: module.into(),
                        slot,
                        label: r.label.clone().unwrap_or_default(),
                        serial: r.serial.clone().unwrap_or_default(),
                    };
                    // Public objects need no login: `token list` never asks for a PIN.
                    match token
                        .open_session(false)
                        .and_then(|s| list_keys(&token, &s))
                    {
                        Ok(k) => r.keys = k,
                        Err(e) => r.note = Some(e.to_string()),
                    }
                }
            }
        }
        out.push(r);
    }
    Ok(out)
}

/// The initialized tokens on a module, as `token list` finds them (a slot without a token, or
/// whose token cannot be read, is left out): for looking through their keys.
pub fn initialized_tokens(ctx: &Pkcs11, module: &Path) -> Result<Vec<Token>> {
    let slots = ctx.get_all_slots().map_err(|e| Error::ModuleLoad {
        path: module.into(),
        reason: format!("C_GetSlotList: {e}"),
    })?;
    let mut out = Vec::new();
    for slot in slots {
        let present = ctx
            .get_slot_info(slot)
            .map(|s| s.token_present())
            .unwrap_or(false);
        if !present {
            continue;
        }
        let Ok(info) = ctx.get_token_info(slot) else {
            continue;
        };
        if info.token_initialized() {
            out.push(Token {
                ctx: ctx.clone(),
                module: module.into(),
                slot,
                label: info.label().trim().to_string(),
                serial: info.serial_number().trim().to_string(),
            });
        }
    }
    Ok(out)
}

/// True when a PKCS#11 error means "the object or attribute is not there".
pub fn is_missing(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::ObjectHandleInvalid | RvError::AttributeTypeInvalid,
            _
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(t: &[Attribute]) -> Vec<&[u8]> {
        t.iter()
            .filter_map(|a| match a {
                Attribute::Label(l) => Some(l.as_slice()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_id_alone_matches_on_the_id() {
        let uri: Pkcs11Uri = "pkcs11:token=YubiKey;id=%02".parse().unwrap();
        let t = key_template(&uri, ObjectClass::PRIVATE_KEY);
        assert!(labels(&t).is_empty(), "{t:?}");
        assert!(t.contains(&Attribute::Id(vec![2])));
        assert_eq!(uri.key_desc(), "with id 02");
        // With object= both count; with neither, the default label `root`.
        let uri: Pkcs11Uri = "pkcs11:token=a;object=k;id=%02".parse().unwrap();
        assert_eq!(labels(&key_template(&uri, ObjectClass::PUBLIC_KEY)), [b"k"]);
        let uri: Pkcs11Uri = "pkcs11:token=a".parse().unwrap();
        assert_eq!(
            labels(&key_template(&uri, ObjectClass::PUBLIC_KEY)),
            [b"root"]
        );
    }
}
