//! Key references: RFC 7512 PKCS#11 URIs (`pkcs11:token=rootA;object=root?pin-source=env:PIN`)
//! and YubiKey PIV slots (`yubikey:serial=12345678;slot=9c?pin-source=env:PIN`). Each kind is
//! parsed by the module that does its I/O; a [`KeyRef`] is either, told apart by its scheme.

use std::fmt;
use std::str::FromStr;

pub use crate::piv::uri::YubikeyRef;
pub use crate::token::uri::{Pkcs11Uri, DEFAULT_OBJECT};

use crate::secret::PinSource;
use crate::uri::redact;
use crate::Error;

/// A parsed key reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    Pkcs11(Pkcs11Uri),
    Yubikey(YubikeyRef),
}

impl KeyRef {
    /// The reference's own PIN source, if it names one.
    pub fn pin_source(&self) -> Option<&PinSource> {
        match self {
            KeyRef::Pkcs11(u) => u.pin_source.as_ref(),
            KeyRef::Yubikey(y) => y.pin_source.as_ref(),
        }
    }
}

impl From<Pkcs11Uri> for KeyRef {
    fn from(u: Pkcs11Uri) -> Self {
        KeyRef::Pkcs11(u)
    }
}

impl From<YubikeyRef> for KeyRef {
    fn from(y: YubikeyRef) -> Self {
        KeyRef::Yubikey(y)
    }
}

impl FromStr for KeyRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.starts_with("pkcs11:") {
            Ok(KeyRef::Pkcs11(s.parse()?))
        } else if s.starts_with("yubikey:") {
            let r = s.parse()?;
            // Refused at parse time, before any token is touched.
            if !cfg!(feature = "piv") {
                return Err(Error::PivUnsupported);
            }
            Ok(KeyRef::Yubikey(r))
        } else {
            Err(Error::BadUri {
                uri: redact(s),
                reason: "a key reference starts with pkcs11: or yubikey: (e.g. \
                         pkcs11:token=rootA;object=root or yubikey:serial=N;slot=9c)"
                    .into(),
            })
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Pkcs11(u) => u.fmt(f),
            KeyRef::Yubikey(y) => y.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyref_requires_scheme() {
        assert!("/path/to/key".parse::<KeyRef>().is_err());
        assert!("pkcs11:token=x".parse::<KeyRef>().is_ok());
        let y = "yubikey:serial=1".parse::<KeyRef>();
        if cfg!(feature = "piv") {
            assert!(matches!(y, Ok(KeyRef::Yubikey(_))));
        } else {
            assert!(matches!(y, Err(Error::PivUnsupported)));
        }
    }

    #[test]
    fn yubikey_ref_errors() {
        for (uri, needle) in [
            (
                "yubikey:serial=1;colour=red",
                "unknown attribute \"colour\"",
            ),
            ("yubikey:token=rootA", "unknown attribute \"token\""),
            ("yubikey:serial=1;serial=2", "twice"),
            ("yubikey:slot=9c;slot=9a", "twice"),
            ("yubikey:serial=", "empty"),
            ("yubikey:serial", "no '='"),
            ("yubikey:serial=12ab", "decimal digits"),
            ("yubikey:serial=-1", "decimal digits"),
            ("yubikey:serial=99999999999", "too large"),
            ("yubikey:slot=9b", "not a PIV key slot"),
            ("yubikey:slot=f9", "not a PIV key slot"),
            ("yubikey:slot=9%zz", "percent"),
            ("yubikey:serial=1?pin-value=975310", "pin-source"),
            ("yubikey:pin-value=975310", "pin-source"),
            ("yubikey:serial=1?pin-source=975310", "env:NAME"),
            ("yubikey:?serial=1", "belongs in the path"),
            ("yubi:serial=1", "starts with pkcs11: or yubikey:"),
        ] {
            let e = uri.parse::<KeyRef>().unwrap_err().to_string();
            assert!(e.contains(needle), "{uri}: {e}");
            assert!(!e.contains("975310"), "{uri}: a PIN is never echoed: {e}");
        }
    }
}
