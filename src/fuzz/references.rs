//! Key references: `pkcs11:` URIs and `yubikey:` references, from the command line, the
//! environment and the trust dir's config.

use std::fmt::Display;
use std::str::FromStr;

use super::shown;
use crate::keys::uri::KeyRef;
use crate::piv::YubikeyRef;
use crate::token::Pkcs11Uri;

/// A key reference as text: each parser, the reference printed and parsed again (the same
/// reference: trustkey stores references as it prints them), the descriptions shown in
/// messages, and redaction.
pub fn key_reference(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::uri::redact(&text);
    if let Some(u) = round_trip::<Pkcs11Uri>(&text) {
        let _ = (u.object_label(), u.key_desc(), u.token_desc());
    }
    if let Some(y) = round_trip::<YubikeyRef>(&text) {
        let _ = y.desc();
    }
    if let Some(k) = round_trip::<KeyRef>(&text) {
        let _ = k.pin_source();
    }
}

fn round_trip<T>(text: &str) -> Option<T>
where
    T: FromStr<Err = crate::Error> + Display + PartialEq + std::fmt::Debug,
{
    let parsed = text.parse::<T>();
    let _ = shown(&parsed);
    let r = parsed.ok()?;
    let printed = r.to_string();
    match printed.parse::<T>() {
        Ok(again) => assert_eq!(
            again, r,
            "{text:?} printed as {printed:?} parses to another"
        ),
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    }
    Some(r)
}
