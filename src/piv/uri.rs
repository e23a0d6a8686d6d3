//! `yubikey:` references naming a key in a YubiKey PIV slot:
//! `yubikey:serial=12345678;slot=9c?pin-source=env:PIN`.

use std::fmt;
use std::str::FromStr;

use super::Slot;
use crate::secret::PinSource;
use crate::uri::{attributes, redact};
use crate::Error;

/// A key in a YubiKey PIV slot: `yubikey:serial=12345678;slot=9c?pin-source=env:NAME`.
///
/// `slot` defaults to 9c (the signature slot); `serial` may be left out when exactly one
/// YubiKey is plugged in. `pin-source` may sit in the query (as for PKCS#11 URIs) or the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YubikeyRef {
    pub serial: Option<u32>,
    pub slot: Slot,
    pub pin_source: Option<PinSource>,
}

impl Default for YubikeyRef {
    fn default() -> Self {
        YubikeyRef {
            serial: None,
            slot: Slot::Signature,
            pin_source: None,
        }
    }
}

impl YubikeyRef {
    /// "YubiKey 12345678, slot 9c" / "the YubiKey plugged in, slot 9c".
    pub fn desc(&self) -> String {
        match self.serial {
            Some(s) => format!("{}, slot {}", super::desc(s), self.slot),
            None => format!("the YubiKey plugged in, slot {}", self.slot),
        }
    }
}

impl fmt::Display for YubikeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("yubikey:")?;
        if let Some(s) = self.serial {
            write!(f, "serial={s};")?;
        }
        write!(f, "slot={}", self.slot)?;
        if let Some(p) = &self.pin_source {
            write!(
                f,
                "?pin-source={}",
                crate::uri::encode_value(&p.to_string())
            )?;
        }
        Ok(())
    }
}

impl FromStr for YubikeyRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUri {
            uri: redact(s),
            reason,
        };
        let mut r = YubikeyRef::default();
        for a in attributes(
            s,
            "yubikey:",
            "a YubiKey key reference starts with yubikey:",
        )? {
            let (name, in_query) = (a.name.as_str(), a.in_query);
            let text = String::from_utf8(a.value)
                .map_err(|_| bad(format!("attribute {name} is not UTF-8")))?;
            match (name, in_query) {
                ("serial", false) => {
                    if !text.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(bad(format!(
                            "serial={text} is not a YubiKey serial (decimal digits, as \
                             `trustkey yubikey list` shows)"
                        )));
                    }
                    r.serial = Some(text.parse().map_err(|_| {
                        bad(format!("serial={text} is too large for a YubiKey serial"))
                    })?);
                }
                ("slot", false) => {
                    r.slot = text.parse().map_err(|_| {
                        bad(format!(
                            "slot={text} is not a PIV key slot: use 9a, 9c, 9d or 9e (9c, the \
                             signature slot, is the default)"
                        ))
                    })?
                }
                ("pin-source", _) => r.pin_source = Some(PinSource::parse(&text).map_err(bad)?),
                ("pin-value", _) => {
                    return Err(bad(
                        "pin-value puts the PIN on the command line, where other users can \
                         read it; use pin-source=env:NAME or pin-source=file:PATH"
                            .into(),
                    ))
                }
                ("serial" | "slot", true) => {
                    return Err(bad(format!(
                        "{name} belongs in the path (yubikey:serial=N;slot=9c), not after '?'"
                    )))
                }
                _ => {
                    return Err(bad(format!(
                        "unknown attribute {name:?} (known: serial, slot, pin-source)"
                    )))
                }
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yk(s: &str) -> Result<YubikeyRef, Error> {
        s.parse()
    }

    #[test]
    fn yubikey_refs() {
        let r = yk("yubikey:serial=12345678;slot=9a?pin-source=env:YK_PIN").unwrap();
        assert_eq!(r.serial, Some(12345678));
        assert_eq!(r.slot, Slot::Authentication);
        assert_eq!(r.pin_source, Some(PinSource::Env("YK_PIN".into())));
        assert_eq!(yk(&r.to_string()).unwrap(), r);
        assert_eq!(
            r.to_string(),
            "yubikey:serial=12345678;slot=9a?pin-source=env:YK_PIN"
        );
        // Slot 9c by default; the serial may be left out (one YubiKey plugged in).
        let r = yk("yubikey:").unwrap();
        assert_eq!(r, YubikeyRef::default());
        assert_eq!(r.slot, Slot::Signature);
        assert_eq!(r.to_string(), "yubikey:slot=9c");
        let r = yk("yubikey:serial=7;pin-source=file:/run/pin").unwrap();
        assert_eq!(r.pin_source, Some(PinSource::File("/run/pin".into())));
        assert_eq!(yk(&r.to_string()).unwrap(), r);
        assert_eq!(yk("yubikey:slot=9C").unwrap().slot, Slot::Signature);
    }

    /// Found by fuzzing (key_reference): a pin-source holding `&`, `;`, `?` or `%` printed raw
    /// read back as another file (`file:/pin&` as `file:/pin`).
    #[test]
    fn a_pin_source_prints_as_it_parses() {
        for s in [
            "yubikey:serial=7;pin-source=file:/ikey&",
            "yubikey:pin-source=file:/a%3Bb",
            "yubikey:?pin-source=file:/a%25b%3Fc",
            "yubikey:?pin-source=file:/a b",
        ] {
            let r = yk(s).unwrap();
            assert_eq!(yk(&r.to_string()).unwrap(), r, "{s} printed as {r}");
        }
        let r = yk("yubikey:pin-source=file:/ikey&").unwrap();
        assert_eq!(r.pin_source, Some(PinSource::File("/ikey&".into())));
        assert_eq!(r.to_string(), "yubikey:slot=9c?pin-source=file:/ikey%26");
    }
}
