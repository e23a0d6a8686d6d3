//! Keys as outside data: key objects in metadata, key files, certificates.

use der::{Decode as _, Reader as _, SliceReader};
use secrecy::SecretString;

use super::metadata::DIALECTS;
use super::{shown, shown_error};
use crate::keys::file::{self, ENCRYPTED_LABEL};
use crate::pem;
use crate::tuf::model::Key;
use crate::tuf::{cert, keyid};

/// The passphrase of the encrypted seed keys (`fuzz/seeds/key_file/`, test keys only).
pub const SEED_PASSPHRASE: &str = "trustkey fuzzing";
/// Most PBKDF2 iterations decrypted here. Keys trustkey writes use 1,300,000 and notary's 2048;
/// a hostile file may ask for billions (issue 20, defect 13): the harness stops at the parse.
const MAX_PBKDF2_ITERATIONS: u32 = 4096;
/// Most scrypt work decrypted here (N * r * p), for the same reason.
const MAX_SCRYPT_COST: u64 = 1 << 14;

/// A key object as metadata lists it (JSON): its ID in both dialects, decoded in both, and the
/// ID of the decoded key.
pub fn key(data: &[u8]) {
    let Ok(key) = serde_json::from_slice::<Key>(data) else {
        return;
    };
    for d in DIALECTS {
        let id = d.key_id(&key);
        let _ = keyid::short(&id);
        if let Some(pk) = d
            .decode_key(&key)
            .ok()
            .and_then(|pk| pk.key.p256().copied())
        {
            let _ = keyid::canonical_key_id(&pk);
            // A decoded key is listed again as the dialect lists keys.
            let _ = d.key_id(&d.public_key(&pk));
        }
    }
    if let Ok(v) = serde_json::to_value(&key) {
        let _ = shown(&crate::tuf::cjson::encode(&v));
    }
}

/// A key file: the PEM armour and notary's headers, an unencrypted PKCS#8 or SEC1 key (what
/// `key import` reads), and an encrypted PKCS#8 key, decrypted with the seeds' passphrase when
/// its KDF is cheap (see [`MAX_PBKDF2_ITERATIONS`]).
pub fn key_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = file::read_meta(text);
    let _ = shown_error(&file::parse_plain_pem(text, "fuzz.key"));
    let Ok(blocks) = pem::blocks(text) else {
        return;
    };
    for b in &blocks {
        let _ = (b.header("role"), b.header("gun"), shown(&b.decode()));
    }
    let cheap = blocks
        .iter()
        .find(|b| b.label == ENCRYPTED_LABEL)
        .and_then(|b| b.decode().ok())
        .is_some_and(|der| cheap_kdf(&der));
    if cheap {
        let pass = SecretString::from(SEED_PASSPHRASE.to_string());
        let _ = shown_error(&file::decrypt_pem(text, &pass, "fuzz.key"));
    }
}

/// Whether an `EncryptedPrivateKeyInfo` names a KDF cheap enough to run per input. Read here
/// with `der` and `pkcs5`, as `decrypt_pem` reads it.
fn cheap_kdf(der: &[u8]) -> bool {
    let Ok(info) = pkcs8::EncryptedPrivateKeyInfo::try_from(der) else {
        return true; // refused before any KDF runs
    };
    match &info.encryption_algorithm {
        pkcs5::EncryptionScheme::Pbes2(p) => match &p.kdf {
            pkcs5::pbes2::Kdf::Pbkdf2(k) => k.iteration_count <= MAX_PBKDF2_ITERATIONS,
            pkcs5::pbes2::Kdf::Scrypt(s) => {
                s.cost_parameter
                    .saturating_mul(u64::from(s.block_size))
                    .saturating_mul(u64::from(s.parallelization))
                    <= MAX_SCRYPT_COST
            }
            _ => false,
        },
        // PBES1 is refused before any KDF runs.
        _ => true,
    }
}

/// A root certificate as a Notary root lists it (PEM or DER), the times the client shows, and
/// the same bytes as a (self-)attested YubiKey key, which parses certificates the same way.
pub fn certificate(data: &[u8]) {
    match cert::parse_certificate(data) {
        Ok(info) => {
            for d in DIALECTS {
                let _ = (
                    d.format_time(info.not_before),
                    d.format_time(info.not_after),
                );
            }
            let _ = keyid::canonical_key_id(&info.public_key);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // DER certificates one after another: the attestation, the device's, the root.
    let mut certs = Vec::new();
    let mut rest = data;
    while certs.len() < 4 && !rest.is_empty() {
        let len = der_len(rest).unwrap_or(rest.len());
        let (one, more) = rest.split_at(len);
        certs.push(one);
        rest = more;
    }
    let outcome = match certs.as_slice() {
        [one] => crate::piv::verify_attestation(one, &[one], one),
        [leaf, chain @ .., root] => crate::piv::verify_attestation(leaf, chain, root),
        [] => return,
    };
    let _ = shown_error(&outcome);
}

/// The length of the DER element at the start of `b`, header included.
fn der_len(b: &[u8]) -> Option<usize> {
    let mut r = SliceReader::new(b).ok()?;
    let header = der::Header::decode(&mut r).ok()?;
    let total = (r.position() + header.length).ok()?;
    usize::try_from(u32::from(total))
        .ok()
        .filter(|&n| n > 0 && n <= b.len())
}
