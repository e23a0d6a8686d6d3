//! The key file format: PEM `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2) with notary's `role` / `gun`
//! headers, and the unencrypted forms `key import` reads. Where the files live is `store`'s.
//!
//! What notary 0.7 writes and reads (`tuf/utils/x509.go` `ConvertPrivateKeyToPKCS8`,
//! `tuf/utils/pkcs8.go`):
//! - PEM headers through Go's `pem.Encode`: `Proc-Type` first if present, then the other keys
//!   sorted, so `gun:` comes before `role:`; a header is left out when its value is empty (root
//!   and delegation keys have no `gun:`); a blank line separates headers from the base64 body,
//!   which is cut into 64-character lines.
//! - PBES2 with PBKDF2 and AES-256-CBC; notary derives the key with HMAC-SHA1 whatever PRF the
//!   file names, so a notary-readable key must use the SHA-1 PRF. Notary's own files use 2048
//!   iterations and an 8-byte salt; trustkey writes [`KDF_ITERATIONS`] and a 16-byte salt.
//! - Inside, notary's EC keys are a PKCS#8 `PrivateKeyInfo` of version 1 (v2) without the
//!   optional public key, which RustCrypto's strict `pkcs8` rejects; [`decrypt_pem`] parses the
//!   `PrivateKeyInfo` itself and takes the SEC1 `ECPrivateKey` inside.
//!
//! trustkey writes the `PrivateKeyInfo` as version 0 (v1) without the public key field, which
//! notary (Go's `x509.ParsePKCS8PrivateKey`), openssl and RustCrypto all read.

use std::path::{Path, PathBuf};

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Encode as _, Reader as _, SliceReader, TagMode, TagNumber};
use p256::elliptic_curve::pkcs8::{AssociatedOid as _, EncodePrivateKey as _};
use pkcs5::pbes2;
use rand_core::{OsRng, RngCore as _};
use secrecy::{ExposeSecret as _, SecretString};
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::pem;
use crate::{Error, Result};

mod kdf;
use kdf::{check_kdf, starts_like_ec_pkcs8};
pub use kdf::{MAX_KDF_ITERATIONS, MAX_SCRYPT_MEMORY, MAX_SCRYPT_WORK, SALT_LEN_RANGE};

/// PBKDF2-HMAC-SHA1 iterations for keys trustkey writes (current guidance for the SHA-1 PRF).
pub const KDF_ITERATIONS: u32 = 1_300_000;
/// PBKDF2 salt length for keys trustkey writes.
pub const SALT_LEN: usize = 16;
/// The PEM type of an encrypted PKCS#8 key.
pub const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

const AES_BLOCK: usize = 16;
/// The headers notary reads.
const HEADER_ROLE: &str = "role";
const HEADER_GUN: &str = "gun";
const LEGACY_PEM_ENCRYPTION: &str = "legacy PEM encryption (Proc-Type header) is not \
     supported; convert the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA1`";

/// The PEM headers notary writes above the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMeta {
    pub role: String,
    /// Empty for root and delegation keys.
    pub gun: String,
}

impl KeyMeta {
    /// The headers notary would store for a key of `role` in repository `gun`: notary keeps the
    /// GUN only for the repository roles (targets, snapshot, timestamp) and drops it for root,
    /// delegations (`targets/...`) and unknown roles (`trustmanager/keystore.go` `AddKey`).
    pub fn new(role: impl Into<String>, gun: impl Into<String>) -> Self {
        let role = role.into();
        let gun = match role.as_str() {
            "targets" | "snapshot" | "timestamp" => gun.into(),
            _ => String::new(),
        };
        KeyMeta { role, gun }
    }
}

/// Encrypts `secret` as PKCS#8 PBES2 (PBKDF2-HMAC-SHA1, AES-256-CBC): PEM, with `meta`'s
/// headers when given (without them, `openssl pkcs8` reads it as is).
pub fn encrypt_pem(
    secret: &p256::SecretKey,
    passphrase: &SecretString,
    meta: Option<&KeyMeta>,
) -> Result<Zeroizing<String>> {
    let pass = passphrase.expose_secret().as_bytes();
    if pass.is_empty() {
        return Err(Error::Passphrase(
            "refusing to encrypt a key with an empty passphrase".into(),
        ));
    }
    let plain = secret
        .to_pkcs8_der()
        .map_err(|e| Error::Crypto(format!("encoding the private key as PKCS#8: {e}")))?;

    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; AES_BLOCK];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut iv);
    let params = pbes2::Parameters {
        kdf: pbes2::Pbkdf2Params {
            salt: &salt,
            iteration_count: KDF_ITERATIONS,
            key_length: None,
            // The default PRF: left out of the DER, as notary and openssl write it.
            prf: pbes2::Pbkdf2Prf::HmacWithSha1,
        }
        .into(),
        encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &iv },
    };

    // Encrypt in place in a zeroizing buffer with room for the padding block.
    let plain = plain.as_bytes();
    // Room for the padding block from the start: the buffer never moves (no copy of the
    // key left behind in freed memory).
    let mut buf = Zeroizing::new(Vec::with_capacity(plain.len() + AES_BLOCK));
    buf.extend_from_slice(plain);
    buf.resize(plain.len() + AES_BLOCK, 0);
    let encrypted = params
        .encrypt_in_place(pass, &mut buf, plain.len())
        .map_err(|e| Error::Crypto(format!("encrypting the private key: {e}")))?;
    let info = pkcs8::EncryptedPrivateKeyInfo {
        encryption_algorithm: pkcs5::EncryptionScheme::Pbes2(params),
        encrypted_data: encrypted,
    };
    let der = info
        .to_der()
        .map_err(|e| Error::Crypto(format!("encoding the encrypted key: {e}")))?;

    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(m) = meta {
        // Go writes map headers sorted by key: gun, then role. Empty values are not written.
        if !m.gun.is_empty() {
            headers.push((HEADER_GUN, &m.gun));
        }
        if !m.role.is_empty() {
            headers.push((HEADER_ROLE, &m.role));
        }
    }
    Ok(pem::encode(ENCRYPTED_LABEL, &headers, &der))
}

/// Decrypts a key written by trustkey, notary or openssl. `what` names it in errors.
pub fn decrypt_pem(
    pem: &str,
    passphrase: &SecretString,
    what: &str,
) -> Result<(p256::SecretKey, Option<KeyMeta>)> {
    decrypt_pem_at(pem, passphrase, Path::new(what), what)
}

/// [`decrypt_pem`] for the text of the file at `path`, which a malformed key's error names.
pub fn decrypt_pem_at(
    pem: &str,
    passphrase: &SecretString,
    path: &Path,
    what: &str,
) -> Result<(p256::SecretKey, Option<KeyMeta>)> {
    decrypt_inner(pem, passphrase).map_err(|f| f.into_error(path, what))
}

/// The `role` / `gun` headers of a key file, read without decrypting (for `key list`).
/// `None` if the text has no PEM block or the block has neither header.
pub fn read_meta(pem: &str) -> Option<KeyMeta> {
    let blocks = pem::blocks(pem).ok()?;
    let block = blocks
        .iter()
        .find(|b| is_private_key_label(b.label))
        .or_else(|| blocks.first())?;
    meta_of(block)
}

/// Reads an unencrypted key: PEM `PRIVATE KEY` (PKCS#8, including notary's version-1 form) or
/// `EC PRIVATE KEY` (SEC1, also when openssl put an `EC PARAMETERS` block before it), for
/// `key import`. Returns notary's headers too, if the block has them.
pub fn parse_plain_pem(pem: &str, what: &str) -> Result<(p256::SecretKey, Option<KeyMeta>)> {
    let bad = |reason: String| Error::KeyFile {
        path: PathBuf::from(what),
        reason,
    };
    let blocks = pem::blocks(pem).map_err(bad)?;
    let Some(block) = blocks.iter().find(|b| is_private_key_label(b.label)) else {
        return Err(bad(no_key_block(&blocks)));
    };
    if block.header("Proc-Type").is_some() {
        return Err(bad(LEGACY_PEM_ENCRYPTION.into()));
    }
    let der = block.decode().map_err(bad)?;
    let secret = match block.label {
        "PRIVATE KEY" => secret_from_pkcs8(&der),
        "EC PRIVATE KEY" => secret_from_sec1(&der, None),
        ENCRYPTED_LABEL => {
            return Err(bad(
                "the key is encrypted; it needs its passphrase to be read".into(),
            ))
        }
        other => return Err(bad(format!("unsupported PEM type {other:?}"))),
    };
    let secret = secret.map_err(|p| bad(p.reason()))?;
    Ok((secret, meta_of(block)))
}

// ---------------------------------------------------------------------------------------------
// Decryption

/// Why a key could not be read, before the file's name is attached.
enum Failure {
    /// The padding (or what it wrapped) did not check out: a wrong passphrase, or damage in
    /// the encrypted bytes; the format cannot tell them apart.
    WrongPassphrase,
    /// Certainly damaged: the armour, the structure around the encrypted bytes, or (the
    /// passphrase being right, as the first decrypted block shows) the key inside is broken.
    Damaged(String),
    /// Not a key trustkey reads, or parameters it refuses.
    Malformed(String),
}

impl Failure {
    fn into_error(self, path: &Path, what: &str) -> Error {
        match self {
            Failure::WrongPassphrase => Error::WrongPassphrase {
                what: what.to_string(),
            },
            Failure::Damaged(reason) => Error::KeyFile {
                path: path.to_path_buf(),
                reason: format!("the key file is damaged: {reason}"),
            },
            Failure::Malformed(reason) => Error::KeyFile {
                path: path.to_path_buf(),
                reason,
            },
        }
    }
}

fn decrypt_inner(
    pem: &str,
    passphrase: &SecretString,
) -> std::result::Result<(p256::SecretKey, Option<KeyMeta>), Failure> {
    let blocks = pem::blocks(pem).map_err(Failure::Malformed)?;
    let Some(block) = blocks.iter().find(|b| b.label == ENCRYPTED_LABEL) else {
        let reason = if blocks.iter().any(|b| b.header("Proc-Type").is_some()) {
            LEGACY_PEM_ENCRYPTION.to_string()
        } else if blocks.iter().any(|b| is_private_key_label(b.label)) {
            format!("the key is not encrypted (expected PEM type {ENCRYPTED_LABEL:?}); import it with `key import`")
        } else {
            no_key_block(&blocks)
        };
        return Err(Failure::Malformed(reason));
    };
    let der = block.decode().map_err(Failure::Damaged)?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| Failure::Damaged(format!("not a PKCS#8 EncryptedPrivateKeyInfo: {e}")))?;
    let pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err(Failure::Malformed(
            "the key uses PBES1 encryption; only PBES2 is supported".into(),
        ));
    };
    check_kdf(params)?;
    // CBC: whole blocks, at least one. Anything else was cut or padded on its way.
    let len = info.encrypted_data.len();
    if len == 0 || len % AES_BLOCK != 0 {
        return Err(Failure::Damaged(format!(
            "{len} encrypted bytes, not a whole number of {AES_BLOCK}-byte blocks"
        )));
    }
    let mut buf = Zeroizing::new(info.encrypted_data.to_vec());
    let plain = match params.decrypt_in_place(passphrase.expose_secret().as_bytes(), &mut buf) {
        Ok(plain) => plain,
        // A bad CBC padding after decryption (pkcs5 reports it as EncryptFailed).
        Err(pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed) => {
            return Err(Failure::WrongPassphrase)
        }
        Err(e) => {
            return Err(Failure::Malformed(format!(
                "unsupported key encryption: {e}"
            )))
        }
    };
    let secret = secret_from_pkcs8(plain).map_err(|p| match p {
        // The first block decrypted to the start of an EC key: the passphrase is right (a
        // wrong one gives random bytes), so a later block is damaged.
        Problem::Malformed(r) if starts_like_ec_pkcs8(plain) => Failure::Damaged(format!(
            "the passphrase is right but the key inside is broken ({r})"
        )),
        // Padding that happened to look valid over garbage: the wrong passphrase, or damage.
        Problem::Malformed(_) => Failure::WrongPassphrase,
        Problem::Unsupported(r) => Failure::Malformed(r),
    })?;
    Ok((secret, meta_of(block)))
}

/// What is wrong with a decoded private key.
enum Problem {
    /// The bytes are not the DER structure expected.
    Malformed(String),
    /// Well-formed, but not a P-256 key.
    Unsupported(String),
}

impl Problem {
    fn reason(self) -> String {
        match self {
            Problem::Malformed(r) => format!("malformed private key: {r}"),
            Problem::Unsupported(r) => r,
        }
    }
}

fn malformed(e: der::Error) -> Problem {
    Problem::Malformed(e.to_string())
}

/// Reads a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` leniently: version 0 or 1, the public
/// key field optional whatever the version (notary writes version 1 without it).
fn secret_from_pkcs8(der: &[u8]) -> std::result::Result<p256::SecretKey, Problem> {
    let mut reader = SliceReader::new(der).map_err(malformed)?;
    let (version, algorithm, private_key) = reader
        .sequence(|r| {
            let version: u8 = r.decode()?;
            let algorithm: AlgorithmIdentifierRef<'_> = r.decode()?;
            let private_key: OctetStringRef<'_> = r.decode()?;
            // [0] attributes and [1] publicKey: optional, not needed.
            while !r.is_finished() {
                let _: AnyRef<'_> = r.decode()?;
            }
            Ok((version, algorithm, private_key))
        })
        .map_err(malformed)?;
    reader.finish(()).map_err(malformed)?;
    if version > 1 {
        return Err(Problem::Malformed(format!(
            "unknown PKCS#8 version {version}"
        )));
    }
    if algorithm.oid != p256::elliptic_curve::ALGORITHM_OID {
        return Err(Problem::Unsupported(format!(
            "not an EC key (algorithm {}); trustkey keys are ECDSA P-256",
            algorithm.oid
        )));
    }
    let curve = match algorithm.parameters {
        Some(p) => Some(p.decode_as::<ObjectIdentifier>().map_err(|_| {
            Problem::Unsupported(
                "EC key with explicit curve parameters; only P-256 is supported".into(),
            )
        })?),
        None => None,
    };
    secret_from_sec1(private_key.as_bytes(), curve)
}

/// Reads a SEC1 `ECPrivateKey`, checking that the curve, where the PKCS#8 wrapper or the SEC1
/// parameters name one, is P-256 and that an embedded public key matches the private scalar.
fn secret_from_sec1(
    der: &[u8],
    outer_curve: Option<ObjectIdentifier>,
) -> std::result::Result<p256::SecretKey, Problem> {
    let mut reader = SliceReader::new(der).map_err(malformed)?;
    let inner_curve = reader
        .sequence(|r| {
            let version: u8 = r.decode()?;
            if version != 1 {
                return Err(der::Tag::Integer.value_error());
            }
            let _: OctetStringRef<'_> = r.decode()?;
            let curve = r.context_specific::<ObjectIdentifier>(TagNumber::N0, TagMode::Explicit)?;
            // [1] publicKey, checked below by p256.
            while !r.is_finished() {
                let _: AnyRef<'_> = r.decode()?;
            }
            Ok(curve)
        })
        .map_err(malformed)?;
    reader.finish(()).map_err(malformed)?;
    for curve in [outer_curve, inner_curve].into_iter().flatten() {
        if curve != p256::NistP256::OID {
            return Err(Problem::Unsupported(format!(
                "EC key on curve {curve}; trustkey keys are P-256 (prime256v1)"
            )));
        }
    }
    // No curve named anywhere (RustCrypto's SEC1 output): the scalar must still be a valid
    // P-256 scalar, and an embedded public key must match it.
    p256::SecretKey::from_sec1_der(der).map_err(|_| {
        Problem::Malformed("invalid P-256 private key (bad scalar or mismatched public key)".into())
    })
}

// ---------------------------------------------------------------------------------------------
// Notary's headers and labels on top of the PEM armour

/// The `role` / `gun` headers of a block, if it has either.
fn meta_of(block: &pem::Block<'_>) -> Option<KeyMeta> {
    let role = block.header(HEADER_ROLE);
    let gun = block.header(HEADER_GUN);
    if role.is_none() && gun.is_none() {
        return None;
    }
    Some(KeyMeta {
        role: role.unwrap_or_default().to_string(),
        gun: gun.unwrap_or_default().to_string(),
    })
}

fn is_private_key_label(label: &str) -> bool {
    matches!(
        label,
        ENCRYPTED_LABEL | "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY"
    )
}

fn no_key_block(blocks: &[pem::Block<'_>]) -> String {
    if blocks.is_empty() {
        "no PEM block found".into()
    } else {
        let labels: Vec<&str> = blocks.iter().map(|b| b.label).collect();
        format!("no private key PEM block (found: {})", labels.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
    use p256::SecretKey;

    use super::*;

    const NOTARY_ROOT: &str = include_str!(
        "../../tests/fixtures/notary-keys/77756ca1bb9f0fb63330afa42f66bc89b2d7edc764bb9fe98cc866e39dc5166f.key"
    );
    const NOTARY_PASS: &str = "notary-fixture-passphrase";

    /// Made with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384`.
    const P384_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCWb5m2Q3jX/HRZn2tB
4n7C/OFZxUtqwO3F5CesCtTXrzPJcM5bKFKizVMhhHQsGcahZANiAASl0ZrrLpKD
XkY0drU+uxYQD0zv/yQlnlYwJMsnUZBMnq7ToPi8VqfuNplPMFAkwdtrqlGUqwhz
04QhudrnSLlq1RLzDQdWMcN2jRTpXRvNSKfu91X2lWfkzPTkNBYpeQY=
-----END PRIVATE KEY-----
";
    /// Made with `openssl genpkey -algorithm ed25519`.
    const ED25519_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHqQCoyZ1SGhiAHQvjgWTEOEugWLbywIdm9eWkloI03L
-----END PRIVATE KEY-----
";

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn new_key() -> SecretKey {
        SecretKey::random(&mut OsRng)
    }

    #[test]
    fn round_trip_with_headers_in_notary_order() {
        let key = new_key();
        let meta = KeyMeta::new("targets", "example.com/app");
        let pem = encrypt_pem(&key, &pass("correct horse battery"), Some(&meta)).unwrap();

        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN ENCRYPTED PRIVATE KEY-----");
        assert_eq!(lines[1], "gun: example.com/app");
        assert_eq!(lines[2], "role: targets");
        assert_eq!(lines[3], "");
        let body = &lines[4..lines.len() - 1];
        assert!(body[..body.len() - 1].iter().all(|l| l.len() == 64));
        assert!(!body.last().unwrap().is_empty() && body.last().unwrap().len() <= 64);
        assert_eq!(lines.last(), Some(&"-----END ENCRYPTED PRIVATE KEY-----"));
        assert!(pem.ends_with("-----\n"));

        let (back, got) = decrypt_pem(&pem, &pass("correct horse battery"), "test key").unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert_eq!(got, Some(meta.clone()));
        assert_eq!(read_meta(&pem), Some(meta));

        // Wrong passphrase: the typed error, naming the key.
        match decrypt_pem(&pem, &pass("wrong horse battery"), "test key") {
            Err(Error::WrongPassphrase { what }) => assert_eq!(what, "test key"),
            other => panic!("expected WrongPassphrase, got {:?}", other.map(|(_, m)| m)),
        }
    }

    #[test]
    fn headerless_and_root_headers() {
        let key = new_key();
        let pem = encrypt_pem(&key, &pass("escrow passphrase"), None).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMI"));
        assert!(!pem.contains(':'));
        assert_eq!(read_meta(&pem), None);
        let (back, meta) = decrypt_pem(&pem, &pass("escrow passphrase"), "escrow").unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        assert_eq!(meta, None);

        // Root (and delegation) keys: notary drops the GUN and writes only `role:`.
        let root = KeyMeta::new("root", "example.com/app");
        assert_eq!(root.gun, "");
        assert_eq!(KeyMeta::new("targets/releases", "x").gun, "");
        assert_eq!(KeyMeta::new("snapshot", "x").gun, "x");
        let pem = encrypt_pem(&key, &pass("escrow passphrase"), Some(&root)).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: root\n\nMI"));
    }

    #[test]
    fn encryption_parameters_are_notary_readable() {
        let key = new_key();
        let pem = encrypt_pem(&key, &pass("some passphrase"), None).unwrap();
        let blocks = pem::blocks(&pem).unwrap();
        let der = blocks[0].decode().unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let pkcs5::EncryptionScheme::Pbes2(params) = info.encryption_algorithm else {
            panic!("not PBES2");
        };
        let pbes2::Kdf::Pbkdf2(kdf) = params.kdf else {
            panic!("not PBKDF2");
        };
        assert_eq!(kdf.prf, pbes2::Pbkdf2Prf::HmacWithSha1);
        assert_eq!(kdf.iteration_count, KDF_ITERATIONS);
        assert_eq!(kdf.salt.len(), SALT_LEN);
        assert_eq!(kdf.key_length, None);
        assert!(matches!(
            params.encryption,
            pbes2::EncryptionScheme::Aes256Cbc { .. }
        ));
        // The default PRF is left out of the DER: no hmacWithSHA1 OID (1.2.840.113549.2.7).
        let hmac_sha1_oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
        assert!(!der.windows(hmac_sha1_oid.len()).any(|w| w == hmac_sha1_oid));
        // Go's asn1 reads the iteration count as a plain INTEGER: 1300000 = 0x13D620.
        assert!(der.windows(5).any(|w| w == [0x02, 0x03, 0x13, 0xd6, 0x20]));
    }

    #[test]
    fn empty_passphrase_is_refused() {
        let err = encrypt_pem(&new_key(), &pass(""), None).unwrap_err();
        assert!(matches!(err, Error::Passphrase(_)), "{err}");
    }

    #[test]
    fn reads_notary_keys_that_strict_pkcs8_rejects() {
        // Decrypt the raw way to show what is inside: PrivateKeyInfo version 1, no public key.
        let blocks = pem::blocks(NOTARY_ROOT).unwrap();
        let der = blocks[0].decode().unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).unwrap();
        let doc = info.decrypt(NOTARY_PASS).unwrap();
        assert_eq!(&doc.as_bytes()[3..6], [0x02, 0x01, 0x01], "version 1");
        assert!(pkcs8::PrivateKeyInfo::try_from(doc.as_bytes()).is_err());
        assert!(SecretKey::from_pkcs8_der(doc.as_bytes()).is_err());

        let (key, meta) = decrypt_pem(NOTARY_ROOT, &pass(NOTARY_PASS), "notary root").unwrap();
        assert_eq!(meta, Some(KeyMeta::new("root", "")));
        assert_eq!(
            crate::keys::canonical_key_id(&key.public_key()),
            "77756ca1bb9f0fb63330afa42f66bc89b2d7edc764bb9fe98cc866e39dc5166f"
        );
        assert!(matches!(
            decrypt_pem(NOTARY_ROOT, &pass("not the passphrase"), "notary root"),
            Err(Error::WrongPassphrase { .. })
        ));
    }

    #[test]
    fn malformed_files_are_key_file_errors() {
        let key_file = |r: Result<(SecretKey, Option<KeyMeta>)>| match r {
            Err(Error::KeyFile { path, reason }) => {
                assert_eq!(path, Path::new("k.key"));
                reason
            }
            Err(e) => panic!("expected KeyFile, got {e}"),
            Ok(_) => panic!("expected KeyFile, got a key"),
        };
        let p = pass("whatever passphrase");
        let r = key_file(decrypt_pem("", &p, "k.key"));
        assert!(r.contains("no PEM block"), "{r}");
        let r = key_file(decrypt_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: root\n\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n",
            &p,
            "k.key",
        ));
        assert!(r.contains("base64"), "{r}");
        let r = key_file(decrypt_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
            &p,
            "k.key",
        ));
        assert!(r.contains("EncryptedPrivateKeyInfo"), "{r}");
        let r = key_file(decrypt_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n",
            &p,
            "k.key",
        ));
        assert!(r.contains("END"), "{r}");
        let plain = new_key().to_pkcs8_pem(Default::default()).unwrap();
        let r = key_file(decrypt_pem(&plain, &p, "k.key"));
        assert!(r.contains("not encrypted"), "{r}");
        let legacy = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                      DEK-Info: AES-256-CBC,00000000000000000000000000000000\n\nMAA=\n\
                      -----END EC PRIVATE KEY-----\n";
        let r = key_file(decrypt_pem(legacy, &p, "k.key"));
        assert!(r.contains("Proc-Type"), "{r}");
        assert!(matches!(
            parse_plain_pem(legacy, "k.key"),
            Err(Error::KeyFile { reason, .. }) if reason.contains("Proc-Type")
        ));
    }

    #[test]
    fn plain_pem_forms() {
        let key = new_key();
        let pkcs8 = key.to_pkcs8_pem(Default::default()).unwrap();
        let (k, m) = parse_plain_pem(&pkcs8, "pkcs8").unwrap();
        assert_eq!(k.to_bytes(), key.to_bytes());
        assert_eq!(m, None);

        let sec1 = key.to_sec1_pem(Default::default()).unwrap();
        let (k, _) = parse_plain_pem(&sec1, "sec1").unwrap();
        assert_eq!(k.to_bytes(), key.to_bytes());

        // `openssl ecparam -genkey` without -noout puts the curve in a block of its own first.
        let with_params = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            sec1.as_str()
        );
        let (k, _) = parse_plain_pem(&with_params, "sec1").unwrap();
        assert_eq!(k.to_bytes(), key.to_bytes());

        // notary's headers on a plain key are returned too.
        let der = key.to_pkcs8_der().unwrap();
        let with_headers = pem::encode(
            "PRIVATE KEY",
            &[("gun", "example.com/app"), ("role", "snapshot")],
            der.as_bytes(),
        );
        let (k, m) = parse_plain_pem(&with_headers, "h").unwrap();
        assert_eq!(k.to_bytes(), key.to_bytes());
        assert_eq!(m, Some(KeyMeta::new("snapshot", "example.com/app")));
        assert_eq!(read_meta(&with_headers), m);

        for (pem, needle) in [
            (P384_PKCS8, "P-256"),
            (ED25519_PKCS8, "not an EC key"),
            ("nothing here", "no PEM block"),
        ] {
            match parse_plain_pem(pem, "x") {
                Err(Error::KeyFile { reason, .. }) => assert!(reason.contains(needle), "{reason}"),
                Err(e) => panic!("expected KeyFile, got {e}"),
                Ok(_) => panic!("expected an error for {needle}"),
            }
        }
        let enc = encrypt_pem(&key, &pass("a passphrase"), None).unwrap();
        assert!(matches!(
            parse_plain_pem(&enc, "x"),
            Err(Error::KeyFile { reason, .. }) if reason.contains("encrypted")
        ));
    }
}
