//! Where keys live and what signs: the one `Signer` abstraction over tokens, files and memory.

pub mod file;
pub mod memory;
pub mod piv;
pub mod token;
pub mod uri;

use base64::Engine as _;
use p256::pkcs8::EncodePublicKey;
use sha2::{Digest, Sha256};

use crate::Result;

/// Anything that holds a P-256 private key and can sign with it.
///
/// `sign` takes the whole message; SHA-256 is computed inside (on the host for tokens).
pub trait Signer {
    fn public_key(&self) -> &p256::PublicKey;
    /// Signs `msg` (SHA-256 is taken inside) and returns the signature as (r, s).
    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature>;
    /// A short human description for prompts and errors ("token rootA (serial 1a2b), object root").
    fn describe(&self) -> String;
}

impl<T: Signer + ?Sized> Signer for &T {
    fn public_key(&self) -> &p256::PublicKey {
        (**self).public_key()
    }
    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        (**self).sign(msg)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<T: Signer + ?Sized> Signer for Box<T> {
    fn public_key(&self) -> &p256::PublicKey {
        (**self).public_key()
    }
    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        (**self).sign(msg)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// DER SubjectPublicKeyInfo of a P-256 public key.
pub fn spki_der(key: &p256::PublicKey) -> Vec<u8> {
    key.to_public_key_der()
        .expect("a valid P-256 point always encodes")
        .into_vec()
}

/// Notary's "canonical" key ID of a bare ECDSA key: hex sha256 of the canonical JSON of
/// `{"keytype":"ecdsa","keyval":{"private":null,"public":BASE64(SPKI DER)}}`.
/// This is the private key's file name and what `notary key list` shows.
pub fn canonical_key_id(key: &p256::PublicKey) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki_der(key));
    // Base64 never needs JSON escaping, so this literal is already canonical JSON.
    let json = format!(r#"{{"keytype":"ecdsa","keyval":{{"private":null,"public":"{b64}"}}}}"#);
    hex::encode(Sha256::digest(json.as_bytes()))
}

/// Verifies an ECDSA P-256 / SHA-256 signature over `msg`.
pub fn verify(key: &p256::PublicKey, msg: &[u8], sig: &p256::ecdsa::Signature) -> bool {
    use p256::ecdsa::signature::Verifier;
    p256::ecdsa::VerifyingKey::from(key)
        .verify(msg, sig)
        .is_ok()
}
