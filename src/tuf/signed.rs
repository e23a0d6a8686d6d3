//! Signed metadata as it is stored: the parsed envelope together with the exact bytes of the
//! file and their hashes and length. What is signed, hashed into the parent's `meta` and
//! written is always the same buffer (tough's `SignedRole` habit).

use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::cjson;
use super::dialect::Dialect;
use super::model::{Envelope, RoleName, Signature};
use crate::sign::Signer;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct SignedMeta {
    /// The role's kind; delegated roles are `Targets`.
    pub role: RoleName,
    /// The role's name: `targets`, or a delegated role's (`targets/releases`, `bins-00-0f`).
    pub name: String,
    pub signatures: Vec<Signature>,
    /// The file, byte for byte (shared: large files are hashed on other threads).
    pub bytes: Arc<Vec<u8>>,
    /// Where the text of the `signed` object is in `bytes`.
    signed: Range<usize>,
    pub sha256: [u8; 32],
    pub sha512: [u8; 64],
}

/// The envelope's parts as they are in the text: `signed` left unparsed.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    signed: &'a RawValue,
    signatures: Vec<Signature>,
}

/// Files this large are hashed on other threads while their envelope is parsed.
const HASH_IN_PARALLEL: usize = 1 << 20;

impl SignedMeta {
    /// Signs `signed` with every signer (key ID, signer) and serializes the envelope.
    pub fn sign(
        dialect: Dialect,
        role: RoleName,
        signed: Value,
        signers: &[(&str, &dyn Signer)],
    ) -> Result<Self> {
        Self::sign_named(dialect, role, role.as_str(), signed, signers)
    }

    /// Signs a role by name (a delegated targets role: `role` is `Targets`).
    pub fn sign_named(
        dialect: Dialect,
        role: RoleName,
        name: &str,
        signed: Value,
        signers: &[(&str, &dyn Signer)],
    ) -> Result<Self> {
        let msg = cjson::encode(&signed).map_err(Error::Metadata)?;
        let mut signatures = Vec::with_capacity(signers.len());
        for (keyid, signer) in signers {
            let sig = signer.sign(&msg)?;
            if !crate::sign::verify(signer.public_key(), &msg, &sig) {
                return Err(Error::Crypto(format!(
                    "{} produced a signature that does not verify",
                    signer.describe()
                )));
            }
            signatures.push(dialect.encode_signature(keyid, &sig));
        }
        let envelope = Envelope { signed, signatures };
        let bytes = dialect
            .file_bytes_from(&envelope, &msg)
            .map_err(Error::Metadata)?;
        Self::parse_named(role, name, bytes).map_err(Error::Metadata)
    }

    /// Parses a stored file, keeping its bytes. Errors are one line naming the role.
    pub fn parse(role: RoleName, bytes: Vec<u8>) -> std::result::Result<Self, String> {
        Self::parse_named(role, role.as_str(), bytes)
    }

    /// Parses a stored file of the role `name` (a delegated targets role: `role` is `Targets`).
    /// Only the envelope is parsed here; `view` parses the `signed` object into a typed view,
    /// straight from the text.
    pub fn parse_named(
        role: RoleName,
        name: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<Self, String> {
        Self::parse_named_with(role, name, bytes, |_| ()).map(|(m, ())| m)
    }

    /// As [`parse_named`](Self::parse_named), running `then` on the parsed envelope while the
    /// file's hashes are computed on other threads (for large files: checking signatures and
    /// parsing the view of a 20 MB targets role then overlap with hashing it). `then` must not
    /// read `sha256` or `sha512`: they are filled in after it returns.
    pub fn parse_named_with<R>(
        role: RoleName,
        name: &str,
        bytes: Vec<u8>,
        then: impl FnOnce(&SignedMeta) -> R,
    ) -> std::result::Result<(Self, R), String> {
        let bytes = Arc::new(bytes);
        // The hashes need only the bytes: for a large file they start before anything else.
        let hashing = (bytes.len() >= HASH_IN_PARALLEL).then(|| {
            let (a, b) = (bytes.clone(), bytes.clone());
            (
                std::thread::spawn(move || digest256(&a)),
                std::thread::spawn(move || digest512(&b)),
            )
        });
        let parsed = envelope(name, &bytes).map(|(signatures, signed)| {
            let m = SignedMeta {
                role,
                name: name.to_string(),
                signatures,
                signed,
                sha256: [0; 32],
                sha512: [0; 64],
                bytes: bytes.clone(),
            };
            let r = then(&m);
            (m, r)
        });
        let (sha256, sha512) = match hashing {
            Some((a, b)) => {
                let failed = |_| format!("{name}: hashing failed");
                (a.join().map_err(failed)?, b.join().map_err(failed)?)
            }
            None => (digest256(&bytes), digest512(&bytes)),
        };
        let (mut m, r) = parsed?;
        m.sha256 = sha256;
        m.sha512 = sha512;
        Ok((m, r))
    }

    pub fn length(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The text of the `signed` object, as it is in the file.
    pub fn signed_text(&self) -> &[u8] {
        self.bytes.get(self.signed.clone()).unwrap_or_default()
    }

    /// A typed view of the `signed` object, parsed from the file's text (no `Value` tree in
    /// between: a targets role of 100,000 entries is parsed once). `what` names it in errors.
    pub fn view<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
    ) -> std::result::Result<T, String> {
        serde_json::from_slice(self.signed_text())
            .map_err(|e| format!("{what}: malformed metadata: {e}"))
    }

    /// The `signed` object as a `Value`.
    pub fn signed_value(&self) -> std::result::Result<Value, String> {
        self.view(&self.name)
    }

    /// The bytes signatures are over: the canonical form of `signed` as parsed.
    pub fn signed_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        cjson::encode(&self.signed_value()?).map_err(|e| format!("{}: {e}", self.name))
    }

    /// The `version` of the signed object, if it has one.
    pub fn version(&self) -> Option<u64> {
        #[derive(Deserialize)]
        struct V {
            version: Option<u64>,
        }
        self.view::<V>(&self.name).ok().and_then(|v| v.version)
    }

    /// The envelope, parsed (for tests and tools; `signed` as a `Value`).
    pub fn envelope(&self) -> std::result::Result<Envelope, String> {
        Ok(Envelope {
            signed: self.signed_value()?,
            signatures: self.signatures.clone(),
        })
    }
}

/// The envelope's signatures, and where the `signed` object's text is.
fn envelope(
    name: &str,
    bytes: &[u8],
) -> std::result::Result<(Vec<Signature>, Range<usize>), String> {
    let env: RawEnvelope<'_> = serde_json::from_slice(bytes)
        .map_err(|e| format!("{name}: not valid signed metadata: {e}"))?;
    let text = env.signed.get();
    if !text.starts_with('{') {
        return Err(format!("{name}: \"signed\" is not an object"));
    }
    let start = text.as_ptr() as usize - bytes.as_ptr() as usize;
    Ok((env.signatures, start..start + text.len()))
}

// The same SHA-2 code as target hashing (repo::hashing): OpenSSL's, at the machine's limit.
fn digest256(b: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(b)
}

fn digest512(b: &[u8]) -> [u8; 64] {
    openssl::sha::sha512(b)
}

/// An envelope as notary writes it: Go's `encoding/json` over notary's `Signed` struct, so
/// `{"signed":<canonical bytes>,"signatures":[...]}` in that order, with `<`, `>`, `&`, U+2028
/// and U+2029 escaped as Go escapes them. notary-server re-serializes the roles it receives
/// this way before hashing them into the snapshot and timestamp it signs; files written any
/// other way (sorted keys put `signatures` first) would not match those hashes.
pub fn notary_file_bytes(envelope: &Envelope) -> std::result::Result<Vec<u8>, String> {
    notary_file_from(&cjson::encode(&envelope.signed)?, &envelope.signatures)
}

/// [`notary_file_bytes`] from the canonical bytes of `signed`, already encoded for signing.
pub fn notary_file_from(
    signed: &[u8],
    signatures: &[Signature],
) -> std::result::Result<Vec<u8>, String> {
    let raw = join_envelope(signed, &cjson::encode_serialize(&signatures)?);
    // Go's escapes: `<`, `>`, `&`, and U+2028/U+2029 (UTF-8 E2 80 A8/A9). These occur only
    // inside strings, so replacing them keeps the same JSON. Most files have none.
    let special = |b: u8| matches!(b, b'<' | b'>' | b'&' | 0xE2);
    if !raw.iter().any(|&b| special(b)) {
        return Ok(raw);
    }
    let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out.into_bytes())
}

/// A TUF 1.0 file: JSON as serde_json writes the envelope (`signed`, then `signatures`). When the canonical bytes of `signed` hold no control characters they are that
/// JSON already (both escape only `"` and `\\` then), so they are reused, not re-encoded.
pub fn tuf_file_from(envelope: &Envelope, signed: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if signed.iter().any(|&b| b < 0x20) {
        return serde_json::to_vec(envelope).map_err(|e| e.to_string());
    }
    let sigs = serde_json::to_vec(&envelope.signatures).map_err(|e| e.to_string())?;
    Ok(join_envelope(signed, &sigs))
}

/// `{"signed":<signed>,"signatures":<sigs>}`: the order both Go and serde_json write.
fn join_envelope(signed: &[u8], sigs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(signed.len() + sigs.len() + 32);
    out.extend_from_slice(b"{\"signed\":");
    out.extend_from_slice(signed);
    out.extend_from_slice(b",\"signatures\":");
    out.extend_from_slice(sigs);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::MemorySigner;
    use serde_json::json;

    #[test]
    fn signs_hashes_and_parses_the_same_bytes() {
        let k = MemorySigner::generate("t");
        let id = crate::tuf::keyid::canonical_key_id(k.public_key());
        let m = SignedMeta::sign(
            Dialect::Notary,
            RoleName::Timestamp,
            json!({"_type": "Timestamp", "version": 1}),
            &[(id.as_str(), &k)],
        )
        .unwrap();
        let again = SignedMeta::parse(RoleName::Timestamp, m.bytes.to_vec()).unwrap();
        assert_eq!(again.sha256, m.sha256);
        let msg = again.signed_bytes().unwrap();
        assert_eq!(msg, br#"{"_type":"Timestamp","version":1}"#);
        let sig = Dialect::Notary
            .decode_signature(&again.signatures[0])
            .unwrap();
        assert!(crate::sign::verify(k.public_key(), &msg, &sig));
        let fm = Dialect::Notary.meta_entry(&m, Default::default());
        assert_eq!(fm.length, Some(m.bytes.len() as u64));
        assert_eq!(fm.hashes.unwrap().len(), 2);
        assert_eq!(fm.version, None);
        let fm = Dialect::Tuf.meta_entry(&m, Default::default());
        assert_eq!((fm.version, fm.length, fm.hashes), (Some(1), None, None));
    }

    #[test]
    fn tuf_files_are_serde_json_of_the_envelope() {
        let k = MemorySigner::generate("t");
        for signed in [
            json!({"_type": "targets", "targets": {"a<b>&\u{e9}": {"length": 1}}, "version": 1}),
            json!({"_type": "root", "keys": {"k": {"keyval": {"public": "-----BEGIN\nX\n"}}}}),
        ] {
            let m =
                SignedMeta::sign(Dialect::Tuf, RoleName::Targets, signed, &[("id", &k)]).unwrap();
            let e = m.envelope().unwrap();
            assert_eq!(*m.bytes, serde_json::to_vec(&e).unwrap());
        }
    }

    #[test]
    fn notary_envelopes_are_written_as_go_writes_them() {
        let k = MemorySigner::generate("t");
        let m = SignedMeta::sign(
            Dialect::Notary,
            RoleName::Targets,
            json!({"_type": "Targets", "targets": {"a<b>&c": {"length": 1}}, "version": 1}),
            &[("id", &k)],
        )
        .unwrap();
        let text = String::from_utf8(m.bytes.to_vec()).unwrap();
        assert!(
            text.starts_with(r#"{"signed":{"_type":"Targets","targets":{"a\u003cb\u003e\u0026c""#),
            "{text}"
        );
        assert!(text.contains(r#"},"signatures":[{"keyid":"id","method":"ecdsa","sig":""#));
        let again = SignedMeta::parse(RoleName::Targets, m.bytes.to_vec()).unwrap();
        assert_eq!(again.envelope().unwrap(), m.envelope().unwrap());
        // The signed object's text in the file is not canonical here (Go's escapes): the
        // signature is over the canonical form.
        assert_ne!(again.signed_text(), &again.signed_bytes().unwrap()[..]);
    }
}
