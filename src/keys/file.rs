//! Repository keys on disk: PEM `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2) with notary's
//! `role` / `gun` headers.

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::Result;

/// The PEM headers notary writes above the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMeta {
    pub role: String,
    /// Empty for root and delegation keys.
    pub gun: String,
}

/// Encrypts `secret` as PKCS#8 PBES2 (PBKDF2-HMAC-SHA1, AES-256-CBC): PEM, with `meta`'s
/// headers when given (without them, `openssl pkcs8` reads it as is).
pub fn encrypt_pem(
    _secret: &p256::SecretKey,
    _passphrase: &SecretString,
    _meta: Option<&KeyMeta>,
) -> Result<Zeroizing<String>> {
    unimplemented!("file-keys work in progress")
}

/// Decrypts a key written by trustkey, notary or openssl. `what` names it in errors.
pub fn decrypt_pem(
    _pem: &str,
    _passphrase: &SecretString,
    _what: &str,
) -> Result<(p256::SecretKey, Option<KeyMeta>)> {
    unimplemented!("file-keys work in progress")
}
