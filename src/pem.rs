//! PEM with RFC 1421 headers, as Go's `encoding/pem` reads and writes it: the armour of notary's
//! key files (`role:` / `gun:` headers) and of its root certificates.

use base64::Engine as _;
use zeroize::Zeroizing;

/// Body line width, as Go's `encoding/pem` and openssl write it.
const LINE: usize = 64;

/// One PEM block, borrowed from the text.
pub struct Block<'a> {
    pub label: &'a str,
    /// `key: value` lines between the BEGIN line and the body, in order.
    pub headers: Vec<(&'a str, &'a str)>,
    body: Vec<&'a str>,
}

// By hand: the body may be a private key.
impl std::fmt::Debug for Block<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl Block<'_> {
    /// The value of header `key`, if the block has it.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    /// The base64 body, decoded (zeroized on drop: it may be a private key).
    pub fn decode(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        let len = self.body.iter().map(|l| l.len()).sum();
        let mut b64 = Zeroizing::new(String::with_capacity(len));
        for line in &self.body {
            b64.push_str(line);
        }
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map(Zeroizing::new)
            .map_err(|e| format!("bad base64 in the {} block: {e}", self.label))
    }
}

/// Splits text into PEM blocks. Text between blocks is ignored, as Go and openssl do.
pub fn blocks(text: &str) -> Result<Vec<Block<'_>>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let mut block = Block {
            label,
            headers: Vec::new(),
            body: Vec::new(),
        };
        let mut in_headers = true;
        let mut ended = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if let Some(end) = line
                .strip_prefix("-----END ")
                .and_then(|l| l.strip_suffix("-----"))
            {
                if end != label {
                    return Err(format!("PEM block {label:?} ends with {end:?}"));
                }
                ended = true;
                break;
            }
            if in_headers {
                if let Some((k, v)) = line.split_once(':') {
                    block.headers.push((k.trim(), v.trim()));
                    continue;
                }
                in_headers = false;
                if line.is_empty() {
                    continue;
                }
            }
            if !line.is_empty() {
                block.body.push(line);
            }
        }
        if !ended {
            return Err(format!("PEM block {label:?} has no END line"));
        }
        blocks.push(block);
    }
    Ok(blocks)
}

/// The DER of the first PEM block labelled `label` in `text` (blocks with headers included).
pub fn decode(text: &str, label: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let blocks = blocks(text)?;
    match blocks.iter().find(|b| b.label == label) {
        Some(b) => b.decode(),
        None => Err(format!("no {label} PEM block found")),
    }
}

/// Encodes `der` as PEM the way Go's `pem.Encode` does: headers as `key: value` lines (in the
/// order given) and a blank line after them, base64 in 64-character lines, a final newline.
pub fn encode(label: &str, headers: &[(&str, &str)], der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let header_len: usize = headers.iter().map(|(k, v)| k.len() + v.len() + 3).sum();
    let cap = 2 * (label.len() + 17) + header_len + 1 + b64.len() + b64.len().div_ceil(LINE);
    let mut out = Zeroizing::new(String::with_capacity(cap));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for (k, v) in headers {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    }
    if !headers.is_empty() {
        out.push('\n');
    }
    for chunk in b64.as_bytes().chunks(LINE) {
        // Base64 output is ASCII, so every chunk is valid UTF-8 (lossless here).
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    debug_assert!(out.len() <= cap, "PEM capacity estimate too small");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_headers() {
        let der: Vec<u8> = (0..=255).collect();
        let text = encode(
            "THING",
            &[("gun", "example.com/app"), ("role", "targets")],
            &der,
        );
        assert!(text.starts_with("-----BEGIN THING-----\ngun: example.com/app\nrole: targets\n\n"));
        assert!(text.lines().all(|l| l.len() <= LINE));
        let found = blocks(&text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "THING");
        assert_eq!(found[0].header("role"), Some("targets"));
        assert_eq!(found[0].header("Proc-Type"), None);
        assert_eq!(*found[0].decode().unwrap(), der);
        // Text around blocks and CRLF line ends are accepted; the label picks the block.
        let two = format!(
            "junk\r\n{}{}",
            encode("A", &[], b"a").replace('\n', "\r\n"),
            *text
        );
        assert_eq!(*decode(&two, "THING").unwrap(), der);
        assert_eq!(*decode(&two, "A").unwrap(), b"a");
        assert!(decode(&two, "B").unwrap_err().contains("no B PEM block"));
    }

    #[test]
    fn malformed_blocks() {
        assert!(blocks("-----BEGIN A-----\nMAA=\n")
            .unwrap_err()
            .contains("no END"));
        assert!(blocks("-----BEGIN A-----\nMAA=\n-----END B-----\n")
            .unwrap_err()
            .contains("ends with"));
        let bad = blocks("-----BEGIN A-----\n!!!!\n-----END A-----\n").unwrap();
        assert!(bad[0].decode().unwrap_err().contains("base64"));
    }
}
