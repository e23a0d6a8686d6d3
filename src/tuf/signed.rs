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
        let bytes = dialect.file_bytes(&envelope).map_err(Error::Metadata)?;
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

    /// The `version` of the signed object, if it has one.
    pub fn version(&self) -> Option<u64> {
        self.envelope.signed.get("version").and_then(|v| v.as_u64())
    }
}

/// Length and hashes of a stream, in one pass: (length, sha256, sha512).
pub fn hash_reader(mut r: impl std::io::Read) -> std::io::Result<(u64, [u8; 32], [u8; 64])> {
    let mut s256 = Sha256::new();
    let mut s512 = Sha512::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        s256.update(&buf[..n]);
        s512.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, s256.finalize().into(), s512.finalize().into()))
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
    fn hashes_stream() {
        let (n, a, _) = hash_reader(&b"abc"[..]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            hex::encode(a),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
