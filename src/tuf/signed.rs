//! Signed metadata as it is stored: the parsed envelope together with the exact bytes of the
//! file and their hashes and length. What is signed, hashed into the parent's `meta` and
//! written is always the same buffer (tough's `SignedRole` habit).

use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

use super::cjson;
use super::dialect::Dialect;
use super::model::{Envelope, RoleName};
use crate::keys::Signer;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct SignedMeta {
    /// The role's kind; delegated roles are `Targets`.
    pub role: RoleName,
    /// The role's name: `targets`, or a delegated role's (`targets/releases`, `bins-00-0f`).
    pub name: String,
    pub envelope: Envelope,
    /// The file, byte for byte.
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
    pub sha512: [u8; 64],
}

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
            if !crate::keys::verify(signer.public_key(), &msg, &sig) {
                return Err(Error::Crypto(format!(
                    "{} produced a signature that does not verify",
                    signer.describe()
                )));
            }
            signatures.push(dialect.encode_signature(keyid, &sig));
        }
        let envelope = Envelope { signed, signatures };
        let bytes = dialect.file_bytes(&envelope).map_err(Error::Metadata)?;
        Ok(Self::with_bytes(role, name, envelope, bytes))
    }

    /// Parses a stored file, keeping its bytes. Errors are one line naming the role.
    pub fn parse(role: RoleName, bytes: Vec<u8>) -> std::result::Result<Self, String> {
        Self::parse_named(role, role.as_str(), bytes)
    }

    /// Parses a stored file of the role `name` (a delegated targets role: `role` is `Targets`).
    pub fn parse_named(
        role: RoleName,
        name: &str,
        bytes: Vec<u8>,
    ) -> std::result::Result<Self, String> {
        let envelope: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{name}: not valid signed metadata: {e}"))?;
        if !envelope.signed.is_object() {
            return Err(format!("{name}: \"signed\" is not an object"));
        }
        Ok(Self::with_bytes(role, name, envelope, bytes))
    }

    fn with_bytes(role: RoleName, name: &str, envelope: Envelope, bytes: Vec<u8>) -> Self {
        SignedMeta {
            role,
            name: name.to_string(),
            envelope,
            sha256: Sha256::digest(&bytes).into(),
            sha512: Sha512::digest(&bytes).into(),
            bytes,
        }
    }

    pub fn length(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The bytes signatures are over: the canonical form of `signed` as parsed.
    pub fn signed_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        cjson::encode(&self.envelope.signed).map_err(|e| format!("{}: {e}", self.name))
    }

    /// The `version` of the signed object, if it has one.
    pub fn version(&self) -> Option<u64> {
        self.envelope.signed.get("version").and_then(|v| v.as_u64())
    }
}

/// An envelope as notary writes it: Go's `encoding/json` over notary's `Signed` struct, so
/// `{"signed":<canonical bytes>,"signatures":[...]}` in that order, with `<`, `>`, `&`, U+2028
/// and U+2029 escaped as Go escapes them. notary-server re-serializes the roles it receives
/// this way before hashing them into the snapshot and timestamp it signs; files written any
/// other way (sorted keys put `signatures` first) would not match those hashes.
pub fn notary_file_bytes(envelope: &Envelope) -> std::result::Result<Vec<u8>, String> {
    let signed = cjson::encode(&envelope.signed)?;
    let sigs = cjson::encode_serialize(&envelope.signatures)?;
    let mut raw = Vec::with_capacity(signed.len() + sigs.len() + 32);
    raw.extend_from_slice(b"{\"signed\":");
    raw.extend_from_slice(&signed);
    raw.extend_from_slice(b",\"signatures\":");
    raw.extend_from_slice(&sigs);
    raw.push(b'}');
    // These characters only occur inside strings, so replacing them keeps the same JSON.
    let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::memory::MemorySigner;
    use serde_json::json;

    #[test]
    fn signs_hashes_and_parses_the_same_bytes() {
        let k = MemorySigner::generate("t");
        let id = crate::keys::canonical_key_id(k.public_key());
        let m = SignedMeta::sign(
            Dialect::Notary,
            RoleName::Timestamp,
            json!({"_type": "Timestamp", "version": 1}),
            &[(id.as_str(), &k)],
        )
        .unwrap();
        let again = SignedMeta::parse(RoleName::Timestamp, m.bytes.clone()).unwrap();
        assert_eq!(again.sha256, m.sha256);
        let msg = again.signed_bytes().unwrap();
        assert_eq!(msg, br#"{"_type":"Timestamp","version":1}"#);
        let sig = Dialect::Notary
            .decode_signature(&again.envelope.signatures[0])
            .unwrap();
        assert!(crate::keys::verify(k.public_key(), &msg, &sig));
        let fm = Dialect::Notary.meta_entry(&m, Default::default());
        assert_eq!(fm.length, Some(m.bytes.len() as u64));
        assert_eq!(fm.hashes.unwrap().len(), 2);
        assert_eq!(fm.version, None);
        let fm = Dialect::Tuf.meta_entry(&m, Default::default());
        assert_eq!((fm.version, fm.length, fm.hashes), (Some(1), None, None));
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
        let text = String::from_utf8(m.bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"signed":{"_type":"Targets","targets":{"a\u003cb\u003e\u0026c""#),
            "{text}"
        );
        assert!(text.contains(r#"},"signatures":[{"keyid":"id","method":"ecdsa","sig":""#));
        let again = SignedMeta::parse(RoleName::Targets, m.bytes.clone()).unwrap();
        assert_eq!(again.envelope, m.envelope);
    }
}
