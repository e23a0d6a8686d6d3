//! PIV attestation: a YubiKey signs a certificate for a key it generated with its device
//! attestation key (slot f9), whose certificate Yubico's PIV root CA signed. Verifying the chain
//! proves the key was generated on a genuine YubiKey and never left it. Imported keys (mirrors)
//! cannot be attested.
//!
//! Yubico's extensions (under 1.3.6.1.4.1.41482.3): .3 firmware version (3 bytes), .7 serial
//! (INTEGER), .8 PIN and touch policy (2 bytes), .9 form factor (1 byte).

use der::{Decode, Encode};
use serde::Serialize;
use x509_cert::Certificate;

use super::{PinPolicy, TouchPolicy};
use crate::{Error, Result};

/// Yubico's PIV attestation extension arc.
pub const YUBICO_OID_ARC: &str = "1.3.6.1.4.1.41482.3";

const OID_FIRMWARE: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.3");
const OID_SERIAL: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.7");
const OID_POLICY: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");
const OID_FORM_FACTOR: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.9");

const ECDSA_SHA256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const RSA_SHA256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// What a verified attestation says about the key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Attestation {
    pub serial: Option<u32>,
    pub firmware: Option<String>,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    pub form_factor: Option<u8>,
    /// Notary's canonical key ID of the attested P-256 key.
    pub key_id: String,
    #[serde(skip)]
    pub public_key: p256::PublicKey,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Integrity(format!("attestation: {}", msg.into()))
}

fn parse(what: &str, der_bytes: &[u8]) -> Result<Certificate> {
    Certificate::from_der(der_bytes).map_err(|e| bad(format!("{what} is not a certificate: {e}")))
}

/// Checks that `issuer` signed `cert`.
fn check_signed_by(cert: &Certificate, issuer: &Certificate, what: &str) -> Result<()> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(bad(format!(
            "{what} was issued by {}, not by {}",
            cert.tbs_certificate.issuer, issuer.tbs_certificate.subject
        )));
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| bad(e.to_string()))?;
    let sig = cert
        .signature
        .as_bytes()
        .ok_or_else(|| bad(format!("{what} has a malformed signature")))?;
    let spki = &issuer.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    let alg = cert.signature_algorithm.oid;
    let ok = if alg == ECDSA_SHA256 || alg == ECDSA_SHA384 {
        use p256::ecdsa::signature::Verifier;
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_sec1_bytes(key) {
            let s = p256::ecdsa::DerSignature::from_bytes(sig).map_err(|e| bad(e.to_string()))?;
            if alg == ECDSA_SHA256 {
                k.verify(&tbs, &s).is_ok()
            } else {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                let d = <sha2::Sha384 as sha2::Digest>::digest(&tbs);
                k.verify_prehash(
                    &d,
                    &p256::ecdsa::Signature::from_der(sig).map_err(|e| bad(e.to_string()))?,
                )
                .is_ok()
            }
        } else if let Ok(k) = p384::ecdsa::VerifyingKey::from_sec1_bytes(key) {
            let s = p384::ecdsa::DerSignature::from_bytes(sig).map_err(|e| bad(e.to_string()))?;
            if alg == ECDSA_SHA384 {
                k.verify(&tbs, &s).is_ok()
            } else {
                use p384::ecdsa::signature::hazmat::PrehashVerifier;
                let d = <sha2::Sha256 as sha2::Digest>::digest(&tbs);
                let s = p384::ecdsa::Signature::from_der(sig).map_err(|e| bad(e.to_string()))?;
                k.verify_prehash(&d, &s).is_ok()
            }
        } else {
            return Err(bad(format!(
                "{what}: the issuer's EC key is not P-256 or P-384"
            )));
        }
    } else if alg == RSA_SHA256 {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::signature::Verifier;
        let k = rsa::RsaPublicKey::from_pkcs1_der(key)
            .map_err(|e| bad(format!("{what}: the issuer's RSA key: {e}")))?;
        let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(k);
        let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(|e| bad(e.to_string()))?;
        vk.verify(&tbs, &s).is_ok()
    } else {
        return Err(bad(format!(
            "{what} uses an unsupported signature algorithm {alg}"
        )));
    };
    if !ok {
        return Err(bad(format!("the signature on {what} does not verify")));
    }
    Ok(())
}

fn check_validity(cert: &Certificate, what: &str) -> Result<()> {
    let now = std::time::SystemTime::now();
    let v = &cert.tbs_certificate.validity;
    if now < v.not_before.to_system_time() || now > v.not_after.to_system_time() {
        return Err(bad(format!("{what} is outside its validity period")));
    }
    Ok(())
}

/// Verifies `attestation` (the key's attestation certificate) through `chain` (the device's
/// f9 certificate first, then any further intermediates: firmware 5.7.4 and later attest
/// through Yubico's "PIV Attestation" and "Attestation Intermediate" certificates) to `root`
/// (Yubico's root CA, or a test root), and returns what Yubico's extensions say. DER inputs.
pub fn verify_attestation(attestation: &[u8], chain: &[&[u8]], root: &[u8]) -> Result<Attestation> {
    let leaf = parse("the attestation certificate", attestation)?;
    let root = parse("the root certificate", root)?;
    if chain.is_empty() {
        return Err(bad("no device (f9) certificate given"));
    }
    let mut certs = vec![(leaf.clone(), "the attestation certificate".to_string())];
    for (i, c) in chain.iter().enumerate() {
        let what = if i == 0 {
            "the device (f9) certificate".to_string()
        } else {
            format!("intermediate certificate {i}")
        };
        certs.push((parse(&what, c)?, what));
    }
    certs.push((root, "the root certificate".to_string()));
    for pair in certs.windows(2) {
        if let [(cert, what), (issuer, _)] = pair {
            check_signed_by(cert, issuer, what)?;
        }
    }
    if let Some((root, root_what)) = certs.last() {
        check_signed_by(root, root, root_what)?;
    }
    for (c, what) in &certs {
        check_validity(c, what)?;
    }
    let public_key =
        super::cert_public_key(&leaf).ok_or_else(|| bad("the attested key is not a P-256 key"))?;
    let mut out = Attestation {
        serial: None,
        firmware: None,
        pin_policy: None,
        touch_policy: None,
        form_factor: None,
        key_id: crate::tuf::keyid::canonical_key_id(&public_key),
        public_key,
    };
    for ext in leaf.tbs_certificate.extensions.iter().flatten() {
        let v = ext.extn_value.as_bytes();
        if let (true, [major, minor, patch]) = (ext.extn_id == OID_FIRMWARE, v) {
            out.firmware = Some(format!("{major}.{minor}.{patch}"));
        } else if ext.extn_id == OID_SERIAL {
            let n = der::asn1::Uint::from_der(v).map_err(|e| bad(format!("serial: {e}")))?;
            let b = n.as_bytes();
            if b.len() <= 4 {
                out.serial = Some(b.iter().fold(0u32, |a, &x| (a << 8) | x as u32));
            }
        } else if let (true, [pin, touch]) = (ext.extn_id == OID_POLICY, v) {
            out.pin_policy = match pin {
                1 => Some(PinPolicy::Never),
                2 => Some(PinPolicy::Once),
                3 => Some(PinPolicy::Always),
                _ => None,
            };
            out.touch_policy = match touch {
                1 => Some(TouchPolicy::Never),
                2 => Some(TouchPolicy::Always),
                3 => Some(TouchPolicy::Cached),
                _ => None,
            };
        } else if let (true, [form]) = (ext.extn_id == OID_FORM_FACTOR, v) {
            out.form_factor = Some(*form);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::{BitString, OctetString};
    use p256::ecdsa::{signature::Signer as _, DerSignature, SigningKey};
    use std::str::FromStr;
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::Validity;
    use x509_cert::{Certificate, TbsCertificate, Version};

    /// A certificate for `subject_key`, signed by `issuer_key`, with raw extensions as Yubico
    /// writes them (the value octets are the bytes themselves, not DER).
    fn cert(
        subject: &str,
        subject_key: &p256::PublicKey,
        issuer: &str,
        issuer_key: &SigningKey,
        exts: &[(&str, Vec<u8>)],
    ) -> Vec<u8> {
        let alg = AlgorithmIdentifierOwned {
            oid: ECDSA_SHA256,
            parameters: None,
        };
        let extensions: Vec<Extension> = exts
            .iter()
            .map(|(oid, v)| Extension {
                extn_id: der::oid::ObjectIdentifier::new_unwrap(oid),
                critical: false,
                extn_value: OctetString::new(v.clone()).unwrap(),
            })
            .collect();
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::new(&[1, 2, 3]).unwrap(),
            signature: alg.clone(),
            issuer: Name::from_str(issuer).unwrap(),
            validity: Validity::from_now(std::time::Duration::from_secs(3600)).unwrap(),
            subject: Name::from_str(subject).unwrap(),
            subject_public_key_info: SubjectPublicKeyInfoOwned::from_key(*subject_key).unwrap(),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: if extensions.is_empty() {
                None
            } else {
                Some(extensions)
            },
        };
        let sig: DerSignature = issuer_key.sign(&tbs.to_der().unwrap());
        Certificate {
            tbs_certificate: tbs,
            signature_algorithm: alg,
            signature: BitString::from_bytes(sig.as_bytes()).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    fn key() -> SigningKey {
        SigningKey::random(&mut rand_core::OsRng)
    }

    fn public(k: &SigningKey) -> p256::PublicKey {
        p256::PublicKey::from(k.verifying_key())
    }

    struct Chain {
        root: Vec<u8>,
        inter: Vec<u8>,
        leaf: Vec<u8>,
        attested: p256::PublicKey,
    }

    fn chain() -> Chain {
        let (root_key, inter_key, slot_key) = (key(), key(), key());
        let root_name = "CN=Test Yubico PIV Root CA";
        let inter_name = "CN=Test Yubico PIV Attestation";
        let root = cert(root_name, &public(&root_key), root_name, &root_key, &[]);
        let inter = cert(inter_name, &public(&inter_key), root_name, &root_key, &[]);
        let leaf = cert(
            "CN=YubiKey PIV Attestation 9c",
            &public(&slot_key),
            inter_name,
            &inter_key,
            &[
                ("1.3.6.1.4.1.41482.3.3", vec![5, 4, 3]),
                // INTEGER 12345678
                (
                    "1.3.6.1.4.1.41482.3.7",
                    vec![0x02, 0x04, 0x00, 0xbc, 0x61, 0x4e],
                ),
                ("1.3.6.1.4.1.41482.3.8", vec![2, 2]),
                ("1.3.6.1.4.1.41482.3.9", vec![1]),
            ],
        );
        Chain {
            root,
            inter,
            leaf,
            attested: public(&slot_key),
        }
    }

    #[test]
    fn verifies_a_chain_and_reads_yubico_extensions() {
        let c = chain();
        let a = verify_attestation(&c.leaf, &[&c.inter], &c.root).unwrap();
        assert_eq!(a.serial, Some(12_345_678));
        assert_eq!(a.firmware.as_deref(), Some("5.4.3"));
        assert_eq!(a.pin_policy, Some(PinPolicy::Once));
        assert_eq!(a.touch_policy, Some(TouchPolicy::Always));
        assert_eq!(a.form_factor, Some(1));
        assert_eq!(a.public_key, c.attested);
        assert_eq!(a.key_id, crate::tuf::keyid::canonical_key_id(&c.attested));
    }

    #[test]
    fn rejects_a_chain_to_another_root() {
        let c = chain();
        let other = chain();
        let err = verify_attestation(&c.leaf, &[&c.inter], &other.root).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
        assert_eq!(err.exit_code(), crate::error::exit::VERIFY);
    }

    #[test]
    fn rejects_a_leaf_from_another_device() {
        let c = chain();
        let other = chain();
        let err = verify_attestation(&other.leaf, &[&c.inter], &c.root).unwrap_err();
        assert!(err.to_string().contains("does not verify"), "{err}");
    }

    #[test]
    fn verifies_a_longer_chain_as_firmware_5_7_4_makes() {
        let (root_key, mid_key, f9_key, slot_key) = (key(), key(), key(), key());
        let root = cert("CN=Root", &public(&root_key), "CN=Root", &root_key, &[]);
        let mid = cert(
            "CN=PIV Attestation B 1",
            &public(&mid_key),
            "CN=Root",
            &root_key,
            &[],
        );
        let f9 = cert(
            "CN=f9",
            &public(&f9_key),
            "CN=PIV Attestation B 1",
            &mid_key,
            &[],
        );
        let leaf = cert("CN=9c", &public(&slot_key), "CN=f9", &f9_key, &[]);
        let a = verify_attestation(&leaf, &[&f9, &mid], &root).unwrap();
        assert_eq!(a.public_key, public(&slot_key));
        assert_eq!(a.serial, None);
        // Without the middle certificate the chain does not reach the root.
        let err = verify_attestation(&leaf, &[&f9], &root).unwrap_err();
        assert!(err.to_string().contains("issued by"), "{err}");
    }

    #[test]
    fn rejects_garbage() {
        let c = chain();
        let err = verify_attestation(b"not a cert", &[&c.inter], &c.root).unwrap_err();
        assert!(err.to_string().contains("not a certificate"), "{err}");
    }
}
