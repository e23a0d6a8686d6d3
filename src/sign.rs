//! The one signing abstraction: [`Signer`], anything that holds a P-256 private key and signs
//! with it (a token, a YubiKey slot, or a key in memory), with what every signer needs around it
//! (the SubjectPublicKeyInfo encoding, ECDSA verification, and a challenge that proves a key
//! works). Where a key lives, and how it is opened, is `keys`'s business.

use p256::ecdsa::signature::Signer as _;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::RngCore as _;
use zeroize::Zeroizing;

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
    /// What the user must do on the device for the next `sign` to finish ("Touch your YubiKey
    /// ..."), for whoever holds the prompter to say first; `None` when nothing, or when it was
    /// already said and still holds. Signers never print.
    fn touch_notice(&self) -> Option<String> {
        None
    }
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
    fn touch_notice(&self) -> Option<String> {
        (**self).touch_notice()
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
    fn touch_notice(&self) -> Option<String> {
        (**self).touch_notice()
    }
}

/// DER SubjectPublicKeyInfo of a P-256 public key.
pub fn spki_der(key: &p256::PublicKey) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) } around
    // the uncompressed point: the same 26 bytes for every P-256 key.
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let point = key.to_encoded_point(false);
    let mut der = Vec::with_capacity(PREFIX.len() + point.len());
    der.extend_from_slice(&PREFIX);
    der.extend_from_slice(point.as_bytes());
    der
}

/// Verifies an ECDSA P-256 / SHA-256 signature over `msg`.
pub fn verify(key: &p256::PublicKey, msg: &[u8], sig: &p256::ecdsa::Signature) -> bool {
    use p256::ecdsa::signature::Verifier;
    p256::ecdsa::VerifyingKey::from(key)
        .verify(msg, sig)
        .is_ok()
}

/// A fresh random challenge, a signature over it, and whether that signature verifies.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub nonce: [u8; 32],
    pub signature: p256::ecdsa::Signature,
    /// The signer's public key is `expected`, and the signature verifies under it.
    pub verified: bool,
}

/// Proves that `signer` holds the private half of `expected`: signs 32 fresh random bytes with
/// it and verifies the signature under `expected`. A signing failure is an error; a signature
/// that does not verify is `verified: false`, for the caller to report in its own terms.
pub fn challenge(signer: &dyn Signer, expected: &p256::PublicKey) -> Result<Challenge> {
    let mut nonce = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut nonce);
    let signature = signer.sign(&nonce)?;
    let verified = signer.public_key() == expected && verify(expected, &nonce, &signature);
    Ok(Challenge {
        nonce,
        signature,
        verified,
    })
}

/// A P-256 key held in process memory (repository keys once decrypted, mirrored roots before
/// import). The secret scalar is zeroized on drop by `p256`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_verifies_only_under_the_signers_key() {
        let k = MemorySigner::generate("k");
        let c = challenge(&k, k.public_key()).unwrap();
        assert!(c.verified);
        assert!(verify(k.public_key(), &c.nonce, &c.signature));
        let again = challenge(&k, k.public_key()).unwrap();
        assert_ne!(c.nonce, again.nonce, "challenges are fresh");

        let other = MemorySigner::generate("other");
        assert!(!challenge(&k, other.public_key()).unwrap().verified);
    }

    #[test]
    fn spki_is_what_the_pkcs8_encoder_writes() {
        use p256::pkcs8::EncodePublicKey;
        for i in 0..20 {
            let k = MemorySigner::generate(format!("k{i}"));
            let der = k.public_key().to_public_key_der().unwrap();
            assert_eq!(spki_der(k.public_key()), der.as_bytes());
        }
    }
}
