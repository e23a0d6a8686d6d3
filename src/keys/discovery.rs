//! Finding root keys in reach: the EC keys on the tokens of the session's PKCS#11 module (when
//! one is configured) and in the YubiKeys plugged in (when PC/SC runs), sorted by one explicit
//! rule, [`RootFilter`]. `root list` shows what it finds; `init` takes the one root key found
//! when none is named ([`Discovery::the_root`]).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::piv::{DELEGATION_SUBJECT, ROOT_SUBJECT};
use super::session::Session;
use super::uri::{KeyRef, Pkcs11Uri, YubikeyRef, DEFAULT_OBJECT};
use crate::tuf::keyid::{canonical_key_id, short};
use crate::{Error, Result};

/// Which keys count as root keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootFilter {
    /// The root key `init` takes when none is named: PKCS#11 keys labelled `root` (the default
    /// object label), and YubiKey keys whose certificate names a trustkey root (CN "trustkey
    /// root", as `root create` writes it).
    Default,
    /// Every key that may be a root key (`root list`): every EC key on a PKCS#11 token and
    /// on a YubiKey but delegation keys.
    AnyButDelegations,
}

/// A delegation key is never a root key, whichever filter: on a YubiKey its slot's
/// certificate says so (CN "trustkey delegation"), on a PKCS#11 token its CKA_SUBJECT does
/// (trustkey writes the same name there when it generates one), and either way the trust
/// dir's delegations may name it (`not_roots` of [`discover`]: a key made elsewhere and
/// added with `delegation add --key pkcs11:...`).
fn is_delegation(subject: Option<&str>) -> bool {
    subject.and_then(|s| s.strip_prefix("CN=")) == Some(DELEGATION_SUBJECT)
}

impl RootFilter {
    fn takes_pkcs11(self, object_label: &str, subject: Option<&str>) -> bool {
        if is_delegation(subject) {
            return false;
        }
        match self {
            RootFilter::Default => object_label == DEFAULT_OBJECT,
            RootFilter::AnyButDelegations => true,
        }
    }

    fn takes_yubikey(self, subject: &str) -> bool {
        if is_delegation(Some(subject)) {
            return false;
        }
        match self {
            RootFilter::Default => subject.strip_prefix("CN=") == Some(ROOT_SUBJECT),
            RootFilter::AnyButDelegations => true,
        }
    }
}

/// A key found, and where it is.
#[derive(Debug, Clone)]
pub struct FoundKey {
    /// The canonical key ID (as `root list` and key files name keys).
    pub key_id: String,
    /// The reference that opens it: a `pkcs11:` URI with token, serial and object, or
    /// `yubikey:serial=N;slot=S`.
    pub key: KeyRef,
    /// The device as messages name it: `token "rootA" (serial ...)`, `YubiKey 12345678`.
    pub device: String,
    /// The token's label, or on a YubiKey the subject of the slot's certificate.
    pub label: String,
    pub serial: String,
    /// The key object's label, or `slot 9c`.
    pub object: String,
}

/// What a look through the tokens found.
#[derive(Debug)]
pub struct Discovery {
    /// PKCS#11 keys first (token by token), then the YubiKeys'.
    pub keys: Vec<FoundKey>,
    /// The module whose tokens were looked through, if one is configured.
    pub module: Option<PathBuf>,
    /// The first token whose keys could not be listed (its keys are missing from `keys`).
    pub unlisted_token: Option<Error>,
    /// Why the YubiKeys could not be looked at, when a module was (without a module that is
    /// an error of [`discover`]).
    pub unlisted_yubikeys: Option<Error>,
}

/// Looks through the module's tokens and the YubiKeys for the keys `filter` takes, leaving out
/// the keys whose canonical IDs are in `not_roots` (the delegation keys the trust dir knows).
/// Never asks for a PIN (public objects and certificates only). Fails when neither a module
/// nor PC/SC is at hand.
pub fn discover(
    session: &Session,
    filter: RootFilter,
    not_roots: &BTreeSet<String>,
) -> Result<Discovery> {
    let module = match crate::token::resolve_module(session.module(), None) {
        Ok(path) => Some(path),
        Err(Error::NoModule) => None,
        Err(e) => return Err(e),
    };
    let mut keys = Vec::new();
    let mut unlisted_token = None;
    if let Some(path) = &module {
        let pkcs11 = session.tokens().module(path)?;
        for token in crate::token::initialized_tokens(&pkcs11, path)? {
            let listed = token
                .open_session(false)
                .and_then(|s| crate::token::list_keys(&token, &s));
            let objects = match listed {
                Ok(k) => k,
                Err(e) => {
                    unlisted_token.get_or_insert(e);
                    continue;
                }
            };
            for k in objects {
                // Public halves only: they carry the key.
                let Some(key_id) = k.key_id else { continue };
                if !filter.takes_pkcs11(&k.label, k.subject.as_deref())
                    || not_roots.contains(&key_id)
                {
                    continue;
                }
                let uri = Pkcs11Uri {
                    token: Some(token.label.clone()),
                    serial: Some(token.serial.clone()),
                    object: Some(k.label.clone()),
                    ..Default::default()
                };
                keys.push(FoundKey {
                    key_id,
                    key: uri.into(),
                    device: token.desc(),
                    label: token.label.clone(),
                    serial: token.serial.clone(),
                    object: k.label,
                });
            }
        }
    }
    let mut unlisted_yubikeys = None;
    match super::piv::list_keys() {
        Ok(found) => {
            for (serial, slot, subject, public) in found {
                let key_id = canonical_key_id(&public);
                if !filter.takes_yubikey(&subject) || not_roots.contains(&key_id) {
                    continue;
                }
                let r = YubikeyRef {
                    serial: Some(serial),
                    slot,
                    pin_source: None,
                };
                keys.push(FoundKey {
                    key_id,
                    key: r.into(),
                    device: crate::piv::desc(serial),
                    label: subject,
                    serial: serial.to_string(),
                    object: format!("slot {slot}"),
                });
            }
        }
        // Neither a module nor PC/SC: say how to name a module.
        Err(Error::PcscUnavailable(_) | Error::PivUnsupported) if module.is_none() => {
            return Err(Error::NoModule)
        }
        Err(e) if module.is_none() => return Err(e),
        Err(e) => unlisted_yubikeys = Some(e),
    }
    Ok(Discovery {
        keys,
        module,
        unlisted_token,
        unlisted_yubikeys,
    })
}

impl Discovery {
    /// The one root key found (with [`RootFilter::Default`]); several copies of one key on
    /// several tokens are not one: the user chooses with --root.
    pub fn the_root(self) -> Result<KeyRef> {
        let mut found: Vec<(KeyRef, String)> =
            self.keys.into_iter().map(|k| (k.key, k.key_id)).collect();
        found.sort_by_key(|(u, _)| u.to_string());
        match found.len() {
            1 => Ok(found.remove(0).0),
            0 => Err(Error::NotFound(format!(
                "no EC key labelled {DEFAULT_OBJECT:?} on any token{} and no trustkey root on a \
                 YubiKey; create one with `trustkey root create --token URI` or name it with \
                 --root URI",
                self.module
                    .as_ref()
                    .map(|p| format!(" of {}", p.display()))
                    .unwrap_or_default()
            ))),
            n if found
                .iter()
                .all(|(_, id)| Some(id) == found.first().map(|f| &f.1) && !id.is_empty()) =>
            {
                Err(Error::Usage(format!(
                    "the root key {} is on {n} tokens; choose the one to sign with --root: {}",
                    found.first().map(|f| short(&f.1)).unwrap_or_default(),
                    found
                        .iter()
                        .map(|(u, _)| u.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            n => Err(Error::Usage(format!(
                "{n} keys labelled {DEFAULT_OBJECT:?} found; choose one with --root: {}",
                found
                    .iter()
                    .map(|(u, id)| format!("{u} (key ID {})", short(id)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_one_decision_per_device_kind() {
        use RootFilter::*;
        let root = format!("CN={ROOT_SUBJECT}");
        let delegation = format!("CN={DELEGATION_SUBJECT}");
        assert!(Default.takes_pkcs11("root", None));
        assert!(Default.takes_pkcs11("root", Some(&root)));
        assert!(!Default.takes_pkcs11("releases", None));
        assert!(AnyButDelegations.takes_pkcs11("releases", None));
        // A delegation key generated on a PKCS#11 token is marked as on a YubiKey, and is no
        // root key whatever its label (the default label is `root`).
        assert!(!AnyButDelegations.takes_pkcs11("releases", Some(&delegation)));
        assert!(!Default.takes_pkcs11("root", Some(&delegation)));
        assert!(Default.takes_yubikey(&root));
        assert!(!Default.takes_yubikey(&delegation));
        assert!(!Default.takes_yubikey("CN=someone else"));
        assert!(AnyButDelegations.takes_yubikey(&root));
        assert!(AnyButDelegations.takes_yubikey("CN=someone else"));
        assert!(!AnyButDelegations.takes_yubikey(&delegation));
    }

    fn found(uri: &str, key_id: &str) -> FoundKey {
        FoundKey {
            key_id: key_id.into(),
            key: uri.parse().unwrap(),
            device: String::new(),
            label: String::new(),
            serial: String::new(),
            object: String::new(),
        }
    }

    fn discovery(keys: Vec<FoundKey>) -> Discovery {
        Discovery {
            keys,
            module: Some("/usr/lib/softhsm/libsofthsm2.so".into()),
            unlisted_token: None,
            unlisted_yubikeys: None,
        }
    }

    #[test]
    fn the_root_is_the_only_key_found() {
        let one = discovery(vec![found("pkcs11:token=a;object=root", "ab12")]);
        assert_eq!(
            one.the_root().unwrap().to_string(),
            "pkcs11:token=a;object=root"
        );
        let err = discovery(vec![]).the_root().unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(err.to_string().contains("of /usr/lib/softhsm"), "{err}");
        // One key on two tokens: named as one key.
        let err = discovery(vec![
            found("pkcs11:token=b;object=root", "ab12"),
            found("pkcs11:token=a;object=root", "ab12"),
        ])
        .the_root()
        .unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
        assert!(
            err.to_string().contains("is on 2 tokens")
                && err.to_string().find("token=a") < err.to_string().find("token=b"),
            "{err}"
        );
        // Two keys.
        let err = discovery(vec![
            found("pkcs11:token=a;object=root", "ab12"),
            found("pkcs11:token=b;object=root", "cd34"),
        ])
        .the_root()
        .unwrap_err();
        assert!(err.to_string().starts_with("2 keys labelled"), "{err}");
    }
}
