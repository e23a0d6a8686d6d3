//! The syntax both kinds of key reference share (RFC 7512's): `scheme:a=1;b=2?c=3&d=4`, path
//! attributes before `?` separated by `;`, query attributes after it separated by `&`, values
//! percent-encoded. `token::Pkcs11Uri` and `piv::YubikeyRef` each decide which names they know.
//!
//! Parsing is strict: an attribute without `=`, an empty or repeated one, or bad
//! percent-encoding is an error, so a typo never silently selects another key.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

use crate::secret::PinSource;
use crate::Error;

/// One attribute of a key reference: path attributes before `?` (separated by `;`), query
/// attributes after it (separated by `&`), values percent-decoded.
pub struct Attribute {
    pub name: String,
    pub value: Vec<u8>,
    pub in_query: bool,
}

/// Characters escaped in a value written into a reference: what [`attributes`] splits on or
/// decodes (`;`, `?`, `&`, `%`), and what would not show (controls, space, `"`). `/`, `:` and
/// `=` stay, so that `pin-source=file:/run/pin` reads as typed.
const VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'%')
    .add(b';')
    .add(b'?')
    .add(b'&');

/// `value` as it goes into a reference, so that [`attributes`] reads it back unchanged.
pub fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, VALUE).to_string()
}

/// Splits `s` (which must start with `scheme`) into attributes, refusing an attribute without
/// `=`, an empty value, a name given twice and bad percent-encoding. Both reference kinds share
/// these rules; each decides which names it knows.
pub fn attributes(s: &str, scheme: &str, no_scheme: &str) -> Result<Vec<Attribute>, Error> {
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
        let (name, value) = attr.split_once('=').ok_or_else(|| {
            // The query is where a PIN would go: a bare value there is not echoed.
            bad(if in_query {
                "an attribute of the query has no '=' (name=value)".to_string()
            } else {
                format!("attribute {attr:?} has no '='")
            })
        })?;
        if out.iter().any(|a| a.name == name) {
            return Err(bad(format!("attribute {name} is given twice")));
        }
        if value.is_empty() {
            return Err(bad(format!("attribute {name} is empty")));
        }
        let value = decode(value).map_err(|e| {
            bad(if is_secret(name) {
                format!("attribute {name}: bad percent-encoding")
            } else {
                format!("attribute {name}: {e}")
            })
        })?;
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

/// Attributes whose values may be a PIN: never echoed unless they are a valid pin source.
fn is_secret(name: &str) -> bool {
    matches!(name, "pin-value" | "pin-source")
}

/// A URI as shown in errors: a `pin-value`, a `pin-source` that is not a valid `env:` or
/// `file:` source (most likely a PIN typed in the wrong place, or one with bad
/// percent-encoding), and a bare value without `name=` in the query are never echoed.
pub fn redact(s: &str) -> String {
    let (scheme, rest) = match s.split_once(':') {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, s),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let part = |text: &str, sep: char, in_query: bool| {
        text.split(sep)
            .map(|a| redact_attribute(a, in_query))
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    };
    let mut out = String::with_capacity(s.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push(':');
    }
    out.push_str(&part(path, ';', false));
    if let Some(q) = query {
        out.push('?');
        out.push_str(&part(q, '&', true));
    }
    out
}

fn redact_attribute(attr: &str, in_query: bool) -> String {
    let valid_source = |v: &str| {
        decode(v)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|t| PinSource::parse(&t).is_ok())
    };
    match attr.split_once('=') {
        None if in_query && !attr.is_empty() => "***".to_string(),
        Some((name @ "pin-source", v)) if !valid_source(v) => format!("{name}=***"),
        Some((name @ "pin-value", _)) => format!("{name}=***"),
        _ => attr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_path_and_query() {
        let a = attributes("x:a=1;b=%41?c=3&d=4", "x:", "no x").unwrap();
        let got: Vec<(&str, &[u8], bool)> = a
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_slice(), a.in_query))
            .collect();
        assert_eq!(
            got,
            [
                ("a", &b"1"[..], false),
                ("b", &b"A"[..], false),
                ("c", &b"3"[..], true),
                ("d", &b"4"[..], true)
            ]
        );
        for (s, needle) in [
            ("y:a=1", "no x"),
            ("x:a=1;a=2", "twice"),
            ("x:a=1?a=2", "twice"),
            ("x:a=", "empty"),
            ("x:a", "no '='"),
            ("x:a=%g1", "percent"),
        ] {
            let e = attributes(s, "x:", "no x")
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{s}: {e}");
        }
    }

    /// A PIN never shows in an error: in `pin-value`, in a `pin-source` (also with bad
    /// percent-encoding, once echoed with the reason), or bare in the query.
    #[test]
    fn pins_are_not_echoed() {
        for s in [
            "x:a=1?pin-value=1234%zz",
            "x:a=1?pin-source=1234%zz",
            "x:a=1;pin-source=1234%4",
            "x:a=1?pin-source=env:X%zz1234",
            "x:a=1?1234",
            "x:a=1?c=3&1234",
        ] {
            let e = attributes(s, "x:", "no x").map(|_| ()).unwrap_err();
            let line = e.to_string();
            assert!(!line.contains("1234"), "{s}: {line}");
            assert!(line.contains("***"), "{s}: {line}");
        }
    }

    #[test]
    fn redact_keeps_only_pin_sources() {
        assert_eq!(
            redact("pkcs11:token=a?pin-source=env:PIN&pin-value=1"),
            "pkcs11:token=a?pin-source=env:PIN&pin-value=***"
        );
        assert_eq!(
            redact("yubikey:serial=1?pin-source=123456"),
            "yubikey:serial=1?pin-source=***"
        );
        assert_eq!(
            redact("pkcs11:token=a;object=b?pin-source=file:/run/p&module-path=/m.so"),
            "pkcs11:token=a;object=b?pin-source=file:/run/p&module-path=/m.so"
        );
        assert_eq!(redact("pkcs11:token"), "pkcs11:token");
    }
}
