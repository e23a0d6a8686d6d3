//! A key held in process memory (repository keys once decrypted, mirrored roots before import).

use p256::ecdsa::signature::Signer as _;
use zeroize::Zeroizing;

use super::Signer;
use crate::Result;

/// A P-256 key in memory. The secret scalar is zeroized on drop by `p256`.
pub struct MemorySigner {
    key: p256::ecdsa::SigningKey,
    public: p256::PublicKey,
    label: String,
}

impl MemorySigner {
    pub fn generate(label: impl Into<String>) -> Self {
        let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        Self::from_signing_key(key, label)
    }

    pub fn from_signing_key(key: p256::ecdsa::SigningKey, label: impl Into<String>) -> Self {
        let public = p256::PublicKey::from(key.verifying_key());
        Self {
            key,
            public,
            label: label.into(),
        }
    }

    pub fn from_secret_key(secret: &p256::SecretKey, label: impl Into<String>) -> Self {
        Self::from_signing_key(p256::ecdsa::SigningKey::from(secret), label)
    }

    /// The 32-byte private scalar, for importing into a token.
    pub fn secret_scalar(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes().into())
    }

    pub fn secret_key(&self) -> p256::SecretKey {
        p256::SecretKey::from(&self.key)
    }
}

impl std::fmt::Debug for MemorySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySigner")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl Signer for MemorySigner {
    fn public_key(&self) -> &p256::PublicKey {
        &self.public
    }
    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        Ok(self.key.sign(msg))
    }
    fn describe(&self) -> String {
        self.label.clone()
    }
}
