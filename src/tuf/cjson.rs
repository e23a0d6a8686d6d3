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
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
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
            out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
            out.push(b'\\');
            start = i;
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Whether `text` is canonical JSON already: what [`encode`] makes of it once parsed, byte for
/// byte. One pass over the text, without parsing it into values: signatures are checked over
/// the text itself only when this holds (a file signed over other text, say indented JSON, is
/// not what its keys signed), and most files are canonical, so they are not re-encoded.
///
/// The grammar: no whitespace; `true`, `false`, `null`; integers in i64 or u64 range without
/// leading zeros or `-0`; strings whose only escapes are `\"` and `\\` (every other character
/// raw, control characters excepted as JSON forbids them); object keys strictly increasing by
/// their bytes (so none twice).
pub fn is_canonical(text: &[u8]) -> bool {
    if std::str::from_utf8(text).is_err() {
        return false;
    }
    let mut c = Checker { b: text, i: 0 };
    c.value(0) && c.i == text.len()
}

/// Nesting deeper than serde_json parses is not canonical JSON of anything it parsed.
const MAX_DEPTH: usize = 128;

struct Checker<'a> {
    b: &'a [u8],
    i: usize,
}

impl Checker<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, lit: &[u8]) -> bool {
        let end = self.i + lit.len();
        if self.b.get(self.i..end) == Some(lit) {
            self.i = end;
            true
        } else {
            false
        }
    }

    /// A string at `"`; its contents' span (escapes included), if it is canonical.
    fn string(&mut self) -> Option<std::ops::Range<usize>> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => {
                    let span = start..self.i;
                    self.i += 1;
                    return Some(span);
                }
                b'\\' => match self.b.get(self.i + 1)? {
                    b'"' | b'\\' => self.i += 2,
                    _ => return None,
                },
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
    }

    fn number(&mut self) -> bool {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let leading_zero = self.peek_at(digits) == Some(b'0') && self.i > digits + 1;
        if self.i == digits || leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return false;
        }
        let Some(text) = self
            .b
            .get(start..self.i)
            .and_then(|t| std::str::from_utf8(t).ok())
        else {
            return false;
        };
        if digits > start {
            text != "-0" && text.parse::<i64>().is_ok()
        } else {
            text.parse::<u64>().is_ok()
        }
    }

    fn peek_at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.peek() == Some(b']') {
            self.i += 1;
            return true;
        }
        loop {
            if !self.value(depth + 1) {
                return false;
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }

    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return true;
        }
        let mut prev: Option<std::ops::Range<usize>> = None;
        loop {
            if self.peek() != Some(b'"') {
                return false;
            }
            let Some(key) = self.string() else {
                return false;
            };
            if let Some(p) = prev {
                if unescaped(self.b, p).cmp(unescaped(self.b, key.clone()))
                    != std::cmp::Ordering::Less
                {
                    return false;
                }
            }
            prev = Some(key);
            if !self.literal(b":") || !self.value(depth + 1) {
                return false;
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return true;
                }
                _ => return false,
            }
        }
    }
}

/// The bytes of a canonical string's contents (`span`), its two escapes undone.
fn unescaped(b: &[u8], span: std::ops::Range<usize>) -> impl Iterator<Item = u8> + '_ {
    let mut escaped = false;
    b.get(span)
        .unwrap_or_default()
        .iter()
        .filter_map(move |&c| {
            if !escaped && c == b'\\' {
                escaped = true;
                None
            } else {
                escaped = false;
                Some(c)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: Value) -> String {
        String::from_utf8(encode(&v).unwrap()).unwrap()
    }

    /// `is_canonical` holds exactly when encoding the parsed text gives the text back.
    #[track_caller]
    fn agrees(text: &str) {
        let reencoded = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| encode(&v).ok());
        assert_eq!(
            is_canonical(text.as_bytes()),
            reencoded.as_deref() == Some(text.as_bytes()),
            "{text:?}"
        );
    }

    #[test]
    fn tells_canonical_text() {
        for t in [
            r#"{"a":[true,null,{"c":-2,"d":"x"}],"b":1}"#,
            r#"{"a": 1}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e2}"#,
            r#"{"a":-0}"#,
            r#"{"a":0}"#,
            r#"{"a":01}"#,
            r#"{"a":18446744073709551615}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":-9223372036854775808}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":"x\ny"}"#,
            r#"{"a":"x\u0041"}"#,
            r#"{"a":"q\"b\\"}"#,
            r##"{"\"":1,"#":2}"##,
            r##"{"#":2,"\"":1}"##,
            r#"{"B":2,"_":4,"a":1,"é":3}"#,
            r#"{"é":3,"a":1}"#,
            "[1,2,[],{}]",
            "[1,2,]",
            " {}",
            "{} ",
            "{}{}",
            "",
            "\"",
            "tru",
            "-",
        ] {
            agrees(t);
        }
        assert!(is_canonical(br#"{"a":[true,null,{"c":-2,"d":"x"}],"b":1}"#));
        assert!(!is_canonical(b"{\n  \"a\": 1\n}"));
        assert!(!is_canonical(b"{\"a\":\"\xff\"}"));
    }

    /// Random short texts over JSON's characters: the two answers agree on each.
    #[test]
    fn agrees_with_encoding_on_random_text() {
        let alphabet: Vec<char> = r##"{}[]":,\ -019aAé#"##
            .chars()
            .chain("tnl".chars())
            .collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..100_000 {
            let len = (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            agrees(&text);
        }
        // And on real metadata, re-encoded.
        let v = json!({"signed": {"_type": "Targets", "targets": {"a\"b": {"length": 1}}}});
        agrees(&String::from_utf8(encode(&v).unwrap()).unwrap());
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
