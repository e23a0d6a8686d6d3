//! The kinds of public key a client verifies with. Notary lists P-256 keys only; TUF 1.0
//! metadata may list the specification's key types (securesystemslib's `SSlibKey`):
//!
//! | keytype | scheme | `keyval.public` | signature (`sig`, hex) |
//! |---|---|---|---|
//! | `ecdsa` (or `ecdsa-sha2-nistp256`) | `ecdsa-sha2-nistp256` | PEM SubjectPublicKeyInfo | DER |
//! | `ed25519` | `ed25519` | hex of the 32-byte key | 64 bytes |
//! | `rsa` | `rsassa-pss-sha256` | PEM SubjectPublicKeyInfo | RSASSA-PSS, MGF1-SHA256, salt 32 (or the largest) |
//! | `rsa` | `rsa-pkcs1v15-sha256` | PEM SubjectPublicKeyInfo | RSASSA-PKCS1-v1_5, SHA-256 |
//!
//! trustkey signs with P-256 only; the others are for verifying what other tools publish.

use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

use super::model::Key;

/// A public key that can check signatures.
#[derive(Debug, Clone)]
pub enum Verifier {
    P256(p256::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    RsaPss(rsa::RsaPublicKey),
    RsaPkcs1(rsa::RsaPublicKey),
}

/// Smallest RSA modulus accepted: smaller keys are breakable.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted (the `rsa` crate's own limit), so that a listed key cannot
/// make each check slow.
const MAX_RSA_BITS: usize = 4096;

impl Verifier {
    /// The P-256 key, if this is one.
    pub fn p256(&self) -> Option<&p256::PublicKey> {
        match self {
            Verifier::P256(k) => Some(k),
            _ => None,
        }
    }

    /// Whether `sig` (the raw bytes of a TUF 1.0 signature) is this key's over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Verifier::P256(k) => {
                p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| crate::sign::verify(k, msg, &s))
            }
            Verifier::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_strict(msg, &s).is_ok()),
            Verifier::RsaPss(k) => {
                let digest = Sha256::digest(msg);
                // securesystemslib signs with a salt as long as the digest; other signers
                // (OpenSSL's default) use the largest salt the key allows.
                let max_salt = k.size().saturating_sub(32 + 2);
                [32, max_salt].into_iter().any(|salt| {
                    k.verify(rsa::Pss::new_with_salt::<Sha256>(salt), &digest, sig)
                        .is_ok()
                })
            }
            Verifier::RsaPkcs1(k) => {
                let digest = Sha256::digest(msg);
                k.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, sig)
                    .is_ok()
            }
        }
    }

    /// Bytes that are the same for the same key however it is listed: signatures by one key
    /// listed under two IDs count once.
    pub fn identity(&self) -> Vec<u8> {
        let (tag, body) = match self {
            Verifier::P256(k) => (b'e', crate::sign::spki_der(k)),
            Verifier::Ed25519(k) => (b'd', k.as_bytes().to_vec()),
            Verifier::RsaPss(k) | Verifier::RsaPkcs1(k) => (b'r', k.n().to_bytes_be()),
        };
        let mut out = vec![tag];
        out.extend_from_slice(&body);
        out
    }
}

/// Decodes a TUF 1.0 key object. Errors are phrases for one line.
pub fn decode(key: &Key) -> Result<Verifier, String> {
    let scheme = key
        .extra
        .get("scheme")
        .and_then(|s| s.as_str())
        .ok_or_else(|| "the key has no scheme".to_string())?;
    let public = key.keyval.public.as_str();
    match (key.keytype.as_str(), scheme) {
        ("ecdsa" | "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256") => {
            use p256::pkcs8::DecodePublicKey;
            p256::PublicKey::from_public_key_pem(public)
                .map(Verifier::P256)
                .map_err(|_| "its public value is not a P-256 PEM public key".to_string())
        }
        ("ed25519", "ed25519") => {
            let raw: [u8; 32] = hex::decode(public)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| "its public value is not 32 bytes of hex".to_string())?;
            ed25519_dalek::VerifyingKey::from_bytes(&raw)
                .map(Verifier::Ed25519)
                .map_err(|_| "its public value is not an Ed25519 point".to_string())
        }
        ("rsa", "rsassa-pss-sha256" | "rsa-pkcs1v15-sha256") => {
            use rsa::pkcs8::DecodePublicKey;
            let k = rsa::RsaPublicKey::from_public_key_pem(public)
                .map_err(|_| "its public value is not an RSA PEM public key".to_string())?;
            let bits = k.n().bits();
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return Err(format!(
                    "an RSA key of {bits} bits (from {MIN_RSA_BITS} to {MAX_RSA_BITS} are accepted)"
                ));
            }
            Ok(if scheme == "rsassa-pss-sha256" {
                Verifier::RsaPss(k)
            } else {
                Verifier::RsaPkcs1(k)
            })
        }
        (t, s) => Err(format!("unsupported key type {t:?} with scheme {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::model::KeyVal;

    fn key(keytype: &str, scheme: &str, public: &str) -> Key {
        Key {
            keytype: keytype.into(),
            keyval: KeyVal {
                public: public.into(),
                extra: Default::default(),
            },
            extra: [("scheme".to_string(), serde_json::json!(scheme))].into(),
        }
    }

    #[test]
    fn ed25519_signatures_verify() {
        use ed25519_dalek::Signer as _;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let k = decode(&key(
            "ed25519",
            "ed25519",
            &hex::encode(sk.verifying_key().as_bytes()),
        ))
        .unwrap();
        let sig = sk.sign(b"signed").to_bytes();
        assert!(k.verify(b"signed", &sig));
        assert!(!k.verify(b"other", &sig));
        assert!(!k.verify(b"signed", &sig[1..]));
        assert!(decode(&key("ed25519", "ed25519", "abcd")).is_err());
    }

    #[test]
    fn rsa_signatures_verify_in_both_schemes() {
        use rsa::pkcs8::EncodePublicKey;
        use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
        let mut rng = rand_core::OsRng;
        let sk = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let pem = sk
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .unwrap();
        let pss = decode(&key("rsa", "rsassa-pss-sha256", &pem)).unwrap();
        let signer = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(sk.clone(), 32);
        let sig = signer.sign_with_rng(&mut rng, b"signed").to_vec();
        assert!(pss.verify(b"signed", &sig));
        assert!(!pss.verify(b"other", &sig));
        let pkcs1 = decode(&key("rsa", "rsa-pkcs1v15-sha256", &pem)).unwrap();
        let sig = rsa::pkcs1v15::SigningKey::<Sha256>::new(sk)
            .sign(b"signed")
            .to_vec();
        assert!(pkcs1.verify(b"signed", &sig));
        assert!(!pss.verify(b"signed", &sig));
        assert!(decode(&key("rsa", "rsa-unknown", &pem)).is_err());
    }
}
