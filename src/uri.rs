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
pub fn redact(s: &str) -> String {
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
    }
}
