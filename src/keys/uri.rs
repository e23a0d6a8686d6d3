//! Key references: RFC 7512 PKCS#11 URIs (`pkcs11:token=rootA;object=root?pin-source=env:PIN`)
//! and YubiKey PIV slots (`yubikey:serial=12345678;slot=9c?pin-source=env:PIN`).
//!
//! Parsing is strict: an unknown, repeated, empty or malformed attribute is an error, so a typo
//! never silently selects another key.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::piv::Slot;
use crate::secret::PinSource;
use crate::Error;

/// The object label used when a reference names none.
pub const DEFAULT_OBJECT: &str = "root";

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
            Ok(KeyRef::Yubikey(s.parse()?))
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
            Some(s) => format!("{}, slot {}", crate::piv::desc(s), self.slot),
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
            write!(f, "?pin-source={p}")?;
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

/// A PKCS#11 URI naming one key on one token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: Option<String>,
    pub serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub object: Option<String>,
    pub id: Option<Vec<u8>>,
    pub pin_source: Option<PinSource>,
    pub module_path: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// The object label to use: the URI's, or `root`.
    pub fn object_label(&self) -> &str {
        self.object.as_deref().unwrap_or(DEFAULT_OBJECT)
    }

    /// How messages name the key: `"root"` (its label), or `with id 02` for an id-only URI.
    pub fn key_desc(&self) -> String {
        match (&self.object, &self.id) {
            (None, Some(id)) => format!("with id {}", hex::encode(id)),
            _ => format!("{:?}", self.object_label()),
        }
    }

    /// "token rootA" / "token with serial 1234": how messages name the token.
    pub fn token_desc(&self) -> String {
        match (&self.token, &self.serial) {
            (Some(t), Some(s)) => format!("token {t:?} (serial {s})"),
            (Some(t), None) => format!("token {t:?}"),
            (None, Some(s)) => format!("token with serial {s}"),
            (None, None) => "token".into(),
        }
    }
}

const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b';')
    .add(b'?')
    .add(b'&')
    .add(b'%')
    .add(b'=')
    .add(b'/')
    .add(b'"');

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = Vec::new();
        let enc = |v: &str| utf8_percent_encode(v, VALUE).to_string();
        if let Some(v) = &self.token {
            path.push(format!("token={}", enc(v)));
        }
        if let Some(v) = &self.serial {
            path.push(format!("serial={}", enc(v)));
        }
        if let Some(v) = &self.manufacturer {
            path.push(format!("manufacturer={}", enc(v)));
        }
        if let Some(v) = &self.model {
            path.push(format!("model={}", enc(v)));
        }
        if let Some(v) = &self.object {
            path.push(format!("object={}", enc(v)));
        }
        if let Some(id) = &self.id {
            let s: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            path.push(format!("id={s}"));
        }
        write!(f, "pkcs11:{}", path.join(";"))?;
        let mut query = Vec::new();
        if let Some(p) = &self.module_path {
            query.push(format!("module-path={}", p.display()));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!("pin-source={p}"));
        }
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

impl FromStr for Pkcs11Uri {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadUri {
            uri: redact(s),
            reason,
        };
        let mut uri = Pkcs11Uri::default();
        for a in attributes(s, "pkcs11:", "a PKCS#11 URI starts with pkcs11:")? {
            let (name, in_query, bytes) = (a.name.as_str(), a.in_query, a.value);
            let text = || {
                String::from_utf8(bytes.clone())
                    .map_err(|_| bad(format!("attribute {name} is not UTF-8")))
            };
            match (name, in_query) {
                ("token", false) => uri.token = Some(text()?),
                ("serial", false) => uri.serial = Some(text()?),
                ("manufacturer", false) => uri.manufacturer = Some(text()?),
                ("model", false) => uri.model = Some(text()?),
                ("object", false) => uri.object = Some(text()?),
                ("id", false) => uri.id = Some(bytes.clone()),
                ("type", false) => {
                    let t = text()?;
                    if !matches!(t.as_str(), "private" | "public" | "cert") {
                        return Err(bad(format!("type={t} is not one of private, public, cert")));
                    }
                }
                // RFC 7512 puts these in the query; accept them in the path too, as some
                // tools write them there.
                ("pin-source", _) => {
                    uri.pin_source = Some(PinSource::parse(&text()?).map_err(bad)?)
                }
                ("module-path", _) => uri.module_path = Some(PathBuf::from(text()?)),
                ("pin-value", _) => {
                    return Err(bad(
                        "pin-value puts the PIN on the command line, where other users can \
                         read it; use pin-source=env:NAME or pin-source=file:PATH"
                            .into(),
                    ))
                }
                ("slot-id", _) => {
                    return Err(bad(
                        "slot-id is not accepted: slot numbers change when tokens are added; \
                         name the token with token= or serial="
                            .into(),
                    ))
                }
                _ => {
                    return Err(bad(format!(
                        "unknown attribute {name:?} (known: token, serial, manufacturer, model, \
                         object, id, type, pin-source, module-path)"
                    )))
                }
            }
        }
        if uri.token.is_none() && uri.serial.is_none() {
            return Err(bad(
                "name the token with token=LABEL or serial=SERIAL".into()
            ));
        }
        Ok(uri)
    }
}

/// One attribute of a key reference: path attributes before `?` (separated by `;`), query
/// attributes after it (separated by `&`), values percent-decoded.
struct Attribute {
    name: String,
    value: Vec<u8>,
    in_query: bool,
}

/// Splits `s` (which must start with `scheme`) into attributes, refusing an attribute without
/// `=`, an empty value, a name given twice and bad percent-encoding. Both reference kinds share
/// these rules; each decides which names it knows.
fn attributes(s: &str, scheme: &str, no_scheme: &str) -> Result<Vec<Attribute>, Error> {
    let bad = |reason: String| Error::BadUri {
        uri: redact(s),
        reason,
    };
    let rest = s
        .strip_prefix(scheme)
        .ok_or_else(|| bad(no_scheme.to_string()))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let raw = path
        .split(';')
        .filter(|a| !a.is_empty())
        .map(|a| (a, false))
        .chain(
            query
                .into_iter()
                .flat_map(|q| q.split('&'))
                .filter(|a| !a.is_empty())
                .map(|a| (a, true)),
        );
    let mut out: Vec<Attribute> = Vec::new();
    for (attr, in_query) in raw {
        let (name, value) = attr
            .split_once('=')
            .ok_or_else(|| bad(format!("attribute {attr:?} has no '='")))?;
        if out.iter().any(|a| a.name == name) {
            return Err(bad(format!("attribute {name} is given twice")));
        }
        if value.is_empty() {
            return Err(bad(format!("attribute {name} is empty")));
        }
        let value = decode(value).map_err(|e| bad(format!("attribute {name}: {e}")))?;
        out.push(Attribute {
            name: name.to_string(),
            value,
            in_query,
        });
    }
    Ok(out)
}

/// Percent-decodes, rejecting a '%' not followed by two hex digits.
fn decode(raw: &str) -> Result<Vec<u8>, String> {
    let b = raw.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'%'
            && !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(format!("bad percent-encoding in {raw:?}"));
        }
    }
    Ok(percent_decode_str(raw).collect())
}

/// A URI as shown in errors: a `pin-value`, or a `pin-source` that is neither `env:` nor
/// `file:` (most likely a PIN typed in the wrong place), is never echoed.
fn redact(s: &str) -> String {
    let mut out = s.to_string();
    for attr in ["pin-value=", "pin-source="] {
        let mut from = 0;
        while let Some(at) = out[from..].find(attr).map(|i| from + i) {
            let start = at + attr.len();
            let end = out[start..]
                .find(['&', ';'])
                .map(|e| start + e)
                .unwrap_or(out.len());
            let value = &out[start..end];
            let keep = attr == "pin-source=" && PinSource::parse(value).is_ok();
            if !keep {
                out.replace_range(start..end, "***");
            }
            from = start;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Pkcs11Uri, Error> {
        s.parse()
    }

    #[test]
    fn full_uri() {
        let u = parse("pkcs11:token=root%20A;object=root;id=%01%ff;serial=abc?pin-source=env:PIN&module-path=/usr/lib/x.so").unwrap();
        assert_eq!(u.token.as_deref(), Some("root A"));
        assert_eq!(u.object.as_deref(), Some("root"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 0xff][..]));
        assert_eq!(u.serial.as_deref(), Some("abc"));
        assert_eq!(u.pin_source, Some(PinSource::Env("PIN".into())));
        assert_eq!(u.module_path, Some(PathBuf::from("/usr/lib/x.so")));
        // Display round-trips.
        assert_eq!(parse(&u.to_string()).unwrap(), u);
    }

    #[test]
    fn pin_source_in_path_is_accepted() {
        let u = parse("pkcs11:token=a;pin-source=file:/tmp/p").unwrap();
        assert_eq!(u.pin_source, Some(PinSource::File("/tmp/p".into())));
    }

    #[test]
    fn errors() {
        for (uri, needle) in [
            ("pkcs12:token=a", "starts with pkcs11:"),
            ("pkcs11:object=root", "name the token"),
            ("pkcs11:token=a;colour=red", "unknown attribute"),
            ("pkcs11:token=a;token=b", "twice"),
            ("pkcs11:token=", "empty"),
            ("pkcs11:token", "no '='"),
            ("pkcs11:token=a%zz", "percent"),
            ("pkcs11:token=a%4", "percent"),
            ("pkcs11:token=a?pin-value=1234", "pin-source"),
            ("pkcs11:slot-id=1", "slot numbers change"),
            ("pkcs11:token=a?pin-source=1234", "env:NAME"),
            ("pkcs11:token=a;type=secret-key", "type="),
        ] {
            let e = parse(uri).unwrap_err().to_string();
            assert!(e.contains(needle), "{uri}: {e}");
        }
    }

    #[test]
    fn pin_value_is_not_echoed() {
        let e = parse("pkcs11:token=a?pin-value=123456")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("123456"), "{e}");
        // A PIN typed where the pin-source goes is not echoed either.
        let e = parse("pkcs11:token=a?pin-source=123456")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("123456"), "{e}");
        assert!(e.contains("pin-source=***"), "{e}");
        assert_eq!(
            redact("pkcs11:token=a?pin-source=env:PIN&pin-value=1"),
            "pkcs11:token=a?pin-source=env:PIN&pin-value=***"
        );
    }

    #[test]
    fn keyref_requires_scheme() {
        assert!("/path/to/key".parse::<KeyRef>().is_err());
        assert!("pkcs11:token=x".parse::<KeyRef>().is_ok());
        assert!(matches!(
            "yubikey:serial=1".parse::<KeyRef>(),
            Ok(KeyRef::Yubikey(_))
        ));
    }

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
