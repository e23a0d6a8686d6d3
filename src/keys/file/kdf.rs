//! What a key file may ask of key derivation, checked before any work is done (a hostile file
//! must not buy minutes of CPU or gigabytes of memory), and how a decryption is known to have
//! used the right passphrase.

use pkcs5::pbes2;

use super::{Failure, KDF_ITERATIONS};

/// Most PBKDF2 iterations a key file may ask for: ten times [`KDF_ITERATIONS`], room for tools
/// that pick more than trustkey does (notary uses 2048, openssl 2048, trustkey 1,300,000),
/// while a hostile file costs at most about ten ordinary unlocks (4e9 iterations would be
/// twenty minutes of CPU for `key import` or `backup verify`).
pub const MAX_KDF_ITERATIONS: u32 = 10 * KDF_ITERATIONS;
/// Shortest and longest PBKDF2 or scrypt salt read: RFC 8018 (4.1) asks for at least eight
/// octets (notary's length); 64 is four times what anyone writes.
pub const SALT_LEN_RANGE: std::ops::RangeInclusive<usize> = 8..=64;
/// Most scrypt memory a key file may ask for (128 * N * r bytes): 256 MiB, sixteen times
/// openssl's default (N = 16384, r = 8).
pub const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
/// Most scrypt work (N * r * p), thirty-two times openssl's default.
pub const MAX_SCRYPT_WORK: u64 = 1 << 22;

/// Refuses key derivation parameters no honest file has, before any work is done: PBKDF2
/// iterations over [`MAX_KDF_ITERATIONS`] (or none), scrypt beyond [`MAX_SCRYPT_MEMORY`] or
/// [`MAX_SCRYPT_WORK`], a salt outside [`SALT_LEN_RANGE`], a key length that is not the
/// cipher's.
pub(super) fn check_kdf(params: &pbes2::Parameters<'_>) -> std::result::Result<(), Failure> {
    let (salt, key_length) = match &params.kdf {
        pbes2::Kdf::Pbkdf2(k) => {
            if k.iteration_count > MAX_KDF_ITERATIONS {
                return Err(Failure::Malformed(format!(
                    "the key asks for {} PBKDF2 iterations, over trustkey's limit of \
                     {MAX_KDF_ITERATIONS}; refusing to spend the time",
                    k.iteration_count
                )));
            }
            if k.iteration_count == 0 {
                return Err(Failure::Damaged("0 PBKDF2 iterations".into()));
            }
            (k.salt, k.key_length)
        }
        pbes2::Kdf::Scrypt(k) => {
            let n = k.cost_parameter;
            let r = u64::from(k.block_size);
            let p = u64::from(k.parallelization);
            if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
                return Err(Failure::Damaged(format!(
                    "invalid scrypt parameters N={n}, r={r}, p={p}"
                )));
            }
            let memory = 128u64.saturating_mul(n).saturating_mul(r);
            let work = n.saturating_mul(r).saturating_mul(p);
            if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
                return Err(Failure::Malformed(format!(
                    "the key asks for scrypt N={n}, r={r}, p={p}, over trustkey's limits \
                     ({} MiB of memory, N*r*p at most {MAX_SCRYPT_WORK}); refusing to spend the \
                     time",
                    MAX_SCRYPT_MEMORY >> 20
                )));
            }
            (k.salt, k.key_length)
        }
        other => {
            return Err(Failure::Malformed(format!(
                "unsupported key derivation {}",
                other.oid()
            )))
        }
    };
    if !SALT_LEN_RANGE.contains(&salt.len()) {
        return Err(Failure::Malformed(format!(
            "the key's salt is {} bytes; trustkey reads {} to {}",
            salt.len(),
            SALT_LEN_RANGE.start(),
            SALT_LEN_RANGE.end()
        )));
    }
    let key_size = params.encryption.key_size();
    if let Some(len) = key_length.filter(|&l| usize::from(l) != key_size) {
        return Err(Failure::Damaged(format!(
            "a key length of {len} bytes for a cipher that takes {key_size}"
        )));
    }
    Ok(())
}

/// Whether decrypted bytes begin as a PKCS#8 EC key does: SEQUENCE, INTEGER version 0 or 1,
/// and the AlgorithmIdentifier's SEQUENCE and id-ecPublicKey OID. That is the whole first
/// block and more: random bytes (a wrong passphrase) match with odds under 2^-100.
pub(super) fn starts_like_ec_pkcs8(plain: &[u8]) -> bool {
    const ALGORITHM: [u8; 11] = [
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    ];
    let rest = match plain {
        [0x30, 0x81, _, rest @ ..] => rest,
        [0x30, 0x82, _, _, rest @ ..] => rest,
        [0x30, len, rest @ ..] if *len < 0x80 => rest,
        _ => return false,
    };
    match rest {
        [0x02, 0x01, version, rest @ ..] if *version <= 1 => rest.starts_with(&ALGORITHM),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pbkdf2(iterations: u32, salt: &[u8], key_length: Option<u16>) -> Result<(), Failure> {
        let params = pbes2::Parameters {
            kdf: pbes2::Pbkdf2Params {
                salt,
                iteration_count: iterations,
                key_length,
                prf: pbes2::Pbkdf2Prf::HmacWithSha1,
            }
            .into(),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &[0; 16] },
        };
        check_kdf(&params)
    }

    fn reason(r: Result<(), Failure>) -> String {
        match r {
            Ok(()) => panic!("accepted"),
            Err(Failure::Malformed(r) | Failure::Damaged(r)) => r,
            Err(Failure::WrongPassphrase) => panic!("wrong passphrase"),
        }
    }

    #[test]
    fn pbkdf2_iterations_salt_and_key_length_are_bounded() {
        let salt = [7u8; 16];
        // notary's files, trustkey's own, and the cap itself.
        for n in [1, 2048, KDF_ITERATIONS, MAX_KDF_ITERATIONS] {
            assert!(pbkdf2(n, &salt, None).is_ok(), "{n}");
        }
        assert_eq!(MAX_KDF_ITERATIONS, 13_000_000);
        for n in [MAX_KDF_ITERATIONS + 1, 4_000_000_000, u32::MAX] {
            let r = reason(pbkdf2(n, &salt, None));
            assert!(r.contains(&n.to_string()) && r.contains("13000000"), "{r}");
        }
        assert!(reason(pbkdf2(0, &salt, None)).contains("0 PBKDF2 iterations"));
        // Salts: notary's 8 bytes to 64.
        assert!(pbkdf2(2048, &[1; 8], None).is_ok());
        assert!(pbkdf2(2048, &[1; 64], None).is_ok());
        for len in [0, 7, 65, 4096] {
            let r = reason(pbkdf2(2048, &vec![1; len], None));
            assert!(r.contains(&format!("salt is {len} bytes")), "{r}");
        }
        // A key length, if given, is the cipher's (32 for AES-256).
        assert!(pbkdf2(2048, &salt, Some(32)).is_ok());
        assert!(reason(pbkdf2(2048, &salt, Some(16))).contains("key length of 16"));
        assert!(reason(pbkdf2(2048, &salt, Some(65535))).contains("key length of 65535"));
    }

    #[test]
    fn scrypt_memory_and_work_are_bounded() {
        let salt = [7u8; 16];
        let scrypt = |n: u64, r: u32, p: u32| {
            let params = pbes2::Parameters {
                kdf: pbes2::ScryptParams {
                    salt: &salt,
                    cost_parameter: n,
                    block_size: r as u16,
                    parallelization: p as u16,
                    key_length: None,
                }
                .into(),
                encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: &[0; 16] },
            };
            check_kdf(&params)
        };
        // openssl's default, and the limits.
        assert!(scrypt(16384, 8, 1).is_ok());
        assert!(scrypt(1 << 18, 8, 2).is_ok());
        assert!(reason(scrypt(1 << 20, 8, 1)).contains("N=1048576"));
        assert!(reason(scrypt(1 << 14, 8, 64)).contains("p=64"));
        assert!(reason(scrypt(1 << 62, 65535, 65535)).contains("limits"));
        for (n, r, p) in [
            (0, 8, 1),
            (1, 8, 1),
            (1000, 8, 1),
            (1024, 0, 1),
            (1024, 8, 0),
        ] {
            assert!(
                reason(scrypt(n, r, p)).contains("invalid scrypt"),
                "{n} {r} {p}"
            );
        }
    }

    #[test]
    fn an_ec_key_is_recognised_by_its_first_block() {
        use p256::pkcs8::EncodePrivateKey as _;
        let key = p256::SecretKey::random(&mut rand_core::OsRng);
        let der = key.to_pkcs8_der().unwrap();
        assert!(starts_like_ec_pkcs8(der.as_bytes()));
        // Notary's form: version 1.
        let mut v1 = der.as_bytes().to_vec();
        let at = v1.windows(3).position(|w| w == [2, 1, 0]).unwrap();
        v1[at + 2] = 1;
        assert!(starts_like_ec_pkcs8(&v1));
        let mut garbled = der.as_bytes().to_vec();
        garbled[10] ^= 1;
        assert!(!starts_like_ec_pkcs8(&garbled));
        assert!(!starts_like_ec_pkcs8(&[0x30]));
        assert!(!starts_like_ec_pkcs8(&[]));
        assert!(!starts_like_ec_pkcs8(&[0u8; 32]));
    }
}
