//! Canonical JSON, as notary's `docker/go/canonical` and OLPC canonical JSON (securesystemslib)
//! write it: object keys sorted, no whitespace, integers only, and in strings only `"` and `\`
//! escaped (every other byte, newlines and non-ASCII included, written raw).
//!
//! The one encoder of the crate: signatures, key IDs and metadata files all go through it.

use serde_json::Value;

/// The canonical bytes of `value`. Fails on non-integer numbers, which neither dialect allows.
pub fn encode(value: &Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, value)?;
    Ok(out)
}

/// The canonical bytes of anything serializable (through `serde_json::Value`).
pub fn encode_serialize<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let v = serde_json::to_value(value).map_err(|e| e.to_string())?;
    encode(&v)
}

fn write(out: &mut Vec<u8>, value: &Value) -> Result<(), String> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            use std::io::Write as _;
            if let Some(i) = n.as_i64() {
                write!(out, "{i}").expect("writing to a Vec cannot fail");
            } else if let Some(u) = n.as_u64() {
                write!(out, "{u}").expect("writing to a Vec cannot fail");
            } else {
                return Err(format!(
                    "canonical JSON allows only integers, not the number {n}"
                ));
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sorted by the keys' UTF-8 bytes, as Go's sort of strings does. serde_json's map
            // (a BTreeMap unless some crate turns on `preserve_order`) is usually sorted
            // already: then no per-object sort and allocation.
            if map.keys().is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()) {
                write_object(out, map.iter())?;
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_object(out, entries.into_iter())?;
            }
        }
    }
    Ok(())
}

fn write_object<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
) -> Result<(), String> {
    out.push(b'{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k);
        out.push(b':');
        write(out, v)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'"' || b == b'\\' {
            out.extend_from_slice(&bytes[start..i]);
            out.push(b'\\');
            start = i;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: Value) -> String {
        String::from_utf8(encode(&v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        assert_eq!(
            enc(json!({"b": 1, "a": [true, null, {"d": "x", "c": -2}]})),
            r#"{"a":[true,null,{"c":-2,"d":"x"}],"b":1}"#
        );
    }

    #[test]
    fn escapes_only_quote_and_backslash() {
        assert_eq!(enc(json!("a\"b\\c\nd\té<>&")), "\"a\\\"b\\\\c\nd\té<>&\"");
    }

    #[test]
    fn sorts_by_bytes() {
        assert_eq!(
            enc(json!({"a": 1, "B": 2, "é": 3, "_": 4})),
            r#"{"B":2,"_":4,"a":1,"é":3}"#
        );
    }

    #[test]
    fn rejects_floats() {
        assert!(encode(&json!({"x": 1.5})).is_err());
        assert_eq!(enc(json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn notary_key_id_form() {
        // The literal that keys::canonical_key_id hashes is canonical JSON of the key object.
        let v = json!({"keytype": "ecdsa", "keyval": {"public": "QUJD", "private": null}});
        assert_eq!(
            enc(v),
            r#"{"keytype":"ecdsa","keyval":{"private":null,"public":"QUJD"}}"#
        );
    }
}
