//! Signed metadata as it is stored: the parsed envelope together with the exact bytes of the
//! file and their hashes and length. What is signed, hashed into the parent's `meta` and
//! written is always the same buffer (tough's `SignedRole` habit).

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256, Sha512};

use super::cjson;
use super::dialect::Dialect;
use super::model::{Envelope, FileMeta, RoleName};
use crate::keys::Signer;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct SignedMeta {
    pub role: RoleName,
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
        let bytes = cjson::encode_serialize(&envelope).map_err(Error::Metadata)?;
        Ok(Self::with_bytes(role, envelope, bytes))
    }

    /// Parses a stored file, keeping its bytes. Errors are one line naming the role.
    pub fn parse(role: RoleName, bytes: Vec<u8>) -> std::result::Result<Self, String> {
        let envelope: Envelope = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{role}: not valid signed metadata: {e}"))?;
        if !envelope.signed.is_object() {
            return Err(format!("{role}: \"signed\" is not an object"));
        }
        Ok(Self::with_bytes(role, envelope, bytes))
    }

    fn with_bytes(role: RoleName, envelope: Envelope, bytes: Vec<u8>) -> Self {
        SignedMeta {
            role,
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
        cjson::encode(&self.envelope.signed).map_err(|e| format!("{}: {e}", self.role))
    }

    /// This file's entry in its parent's `meta` (length, sha256 and sha512).
    pub fn file_meta(&self, dialect: Dialect) -> FileMeta {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_string(), dialect.encode_hash(&self.sha256));
        hashes.insert("sha512".to_string(), dialect.encode_hash(&self.sha512));
        FileMeta {
            length: self.length(),
            hashes,
            version: None,
            custom: None,
            extra: Default::default(),
        }
    }
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
        let fm = m.file_meta(Dialect::Notary);
        assert_eq!(fm.length, m.bytes.len() as u64);
        assert_eq!(fm.hashes.len(), 2);
    }
}
