//! PKCS#11 URIs (RFC 7512) naming one key on one token:
//! `pkcs11:token=rootA;object=root?pin-source=env:PIN`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::secret::PinSource;
use crate::uri::{attributes, redact};
use crate::Error;

/// The object label used when a reference names none.
pub const DEFAULT_OBJECT: &str = "root";

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
            let p = p.to_string_lossy();
            query.push(format!("module-path={}", crate::uri::encode_value(&p)));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!(
                "pin-source={}",
                crate::uri::encode_value(&p.to_string())
            ));
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

    /// Found by fuzzing (key_reference): a pin-source or module-path holding `&`, `;` or `%`
    /// printed raw read back as another path (`file:/p&x` as `file:/p`).
    #[test]
    fn query_values_print_as_they_parse() {
        for s in [
            "pkcs11:token=a;pin-source=file:/p&x",
            "pkcs11:token=a;module-path=/m%3Bx.so",
            "pkcs11:token=a?module-path=/m%25.so&pin-source=file:/p%3Fq",
        ] {
            let u = parse(s).unwrap();
            assert_eq!(parse(&u.to_string()).unwrap(), u, "{s} printed as {u}");
        }
        let u = parse("pkcs11:token=a;pin-source=file:/p&x").unwrap();
        assert_eq!(u.pin_source, Some(PinSource::File("/p&x".into())));
        assert_eq!(u.to_string(), "pkcs11:token=a?pin-source=file:/p%26x");
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
    }
}
