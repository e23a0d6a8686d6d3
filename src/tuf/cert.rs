//! Notary's `ecdsa-x509` root key: a self-signed X.509 certificate whose CN is the GUN, signed
//! by the root key through [`Signer`] (so the key can stay on its token).
//!
//! Contents, as notary 0.7 makes them (`tuf/utils/x509.go` `NewCertificate`,
//! `cryptoservice/certificate.go`, `client/client.go` `rootCertKey`, then Go's
//! `x509.CreateCertificate` with the template as its own parent):
//! - version 3, a random serial in [0, 2^128), subject = issuer = `CN=<GUN>` (PrintableString
//!   when the GUN fits, else UTF8String, as Go's asn1 chooses);
//! - validity from now for 10 years of 365 days ([`DEFAULT_VALIDITY`]), UTCTime before 2050 and
//!   GeneralizedTime from then on (RFC 5280, as Go writes it);
//! - ecdsa-with-SHA256 (no parameters), P-256 SubjectPublicKeyInfo;
//! - extensions in Go's order: key usage digitalSignature + keyEncipherment (critical), extended
//!   key usage codeSigning, basic constraints CA:FALSE (critical, an empty SEQUENCE). No subject
//!   or authority key identifier (Go adds them only for CA certificates or a distinct parent).

use der::asn1::{Any, BitString, GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use der::{Decode as _, Encode as _, Reader as _, SliceReader, Tag, Tagged as _};
use p256::pkcs8::DecodePublicKey as _;
use rand_core::{OsRng, RngCore as _};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use crate::pem;
use crate::sign::{spki_der, verify, Signer};
use crate::{Error, Result};

/// How long notary's root certificates are valid: 10 years of 365 days (`notary.Year * 10`).
pub const DEFAULT_VALIDITY: time::Duration = time::Duration::days(10 * 365);

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_KP_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

/// What a root certificate says, and whether its self-signature holds.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub common_name: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub public_key: p256::PublicKey,
    /// Issuer equals subject, the algorithm is ecdsa-with-SHA256, and the signature over the
    /// TBSCertificate verifies with the certificate's own key.
    pub self_signed_ok: bool,
}

/// The validity notary gives a new root certificate: from `now` for [`DEFAULT_VALIDITY`].
pub fn default_validity(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    (now, now + DEFAULT_VALIDITY)
}

/// Builds notary's self-signed root certificate for `gun` and signs it with `signer` (one
/// signature: on a token, one PIN-protected operation). Returns the DER.
pub fn root_certificate(
    signer: &dyn Signer,
    gun: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Vec<u8>> {
    if gun.is_empty() {
        return Err(Error::Usage(
            "a root certificate needs a GUN for its common name".into(),
        ));
    }
    if not_after <= not_before {
        return Err(Error::Usage(format!(
            "certificate validity ends ({not_after}) before it starts ({not_before})"
        )));
    }
    let enc = |what: &str, e: der::Error| Error::Crypto(format!("root certificate {what}: {e}"));

    let name = common_name(gun).map_err(|e| enc("subject", e))?;
    let algorithm = AlgorithmIdentifierOwned {
        oid: OID_ECDSA_WITH_SHA256,
        parameters: None,
    };
    let spki = SubjectPublicKeyInfoOwned::from_der(&spki_der(signer.public_key()))
        .map_err(|e| enc("public key", e))?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: random_serial().map_err(|e| enc("serial", e))?,
        signature: algorithm.clone(),
        issuer: name.clone(),
        validity: Validity {
            not_before: x509_time(not_before)?,
            not_after: x509_time(not_after)?,
        },
        subject: name,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions().map_err(|e| enc("extensions", e))?),
    };
    let tbs_der = tbs.to_der().map_err(|e| enc("encoding", e))?;

    let sig = signer.sign(&tbs_der)?;
    // Check what the signer returned before it goes into a certificate clients will pin.
    if !verify(signer.public_key(), &tbs_der, &sig) {
        return Err(Error::Crypto(format!(
            "the signature {} made over the root certificate does not verify with its public key",
            signer.describe()
        )));
    }
    let sig_der = sig.to_der();
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(sig_der.as_bytes()).map_err(|e| enc("signature", e))?,
    };
    cert.to_der().map_err(|e| enc("encoding", e))
}

/// PEM text of a certificate exactly as Go's `pem.EncodeToMemory` writes it (notary's root key
/// ID is a hash over this text).
pub fn to_pem(der: &[u8]) -> String {
    pem::encode("CERTIFICATE", &[], der).to_string()
}

/// Parses a certificate (PEM — the first `CERTIFICATE` block — or DER) and verifies its
/// self-signature. A certificate that parses but whose signature fails is not an error:
/// `self_signed_ok` is false.
pub fn parse_certificate(pem_or_der: &[u8]) -> Result<CertInfo> {
    let bad = |reason: String| Error::Crypto(format!("root certificate: {reason}"));
    let pem_der;
    let der: &[u8] = if pem_or_der.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(pem_or_der).map_err(|_| bad("PEM is not UTF-8".into()))?;
        pem_der = pem::decode(text, "CERTIFICATE").map_err(bad)?;
        &pem_der
    } else {
        pem_or_der
    };
    let cert = Certificate::from_der(der).map_err(|e| bad(format!("not X.509: {e}")))?;
    let tbs_raw = raw_tbs(der).map_err(|e| bad(format!("not X.509: {e}")))?;
    let tbs = &cert.tbs_certificate;

    let common_name = find_common_name(&tbs.subject)
        .ok_or_else(|| bad("the subject has no common name".into()))?;
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| bad(e.to_string()))?;
    let public_key = p256::PublicKey::from_public_key_der(&spki)
        .map_err(|e| bad(format!("the key is not ECDSA P-256: {e}")))?;
    let not_before = from_x509_time(tbs.validity.not_before).map_err(bad)?;
    let not_after = from_x509_time(tbs.validity.not_after).map_err(bad)?;

    let self_signed_ok = cert.signature_algorithm.oid == OID_ECDSA_WITH_SHA256
        && cert.signature_algorithm == tbs.signature
        && tbs.issuer == tbs.subject
        && cert
            .signature
            .as_bytes()
            .and_then(|b| p256::ecdsa::Signature::from_der(b).ok())
            .is_some_and(|sig| verify(&public_key, tbs_raw, &sig));

    Ok(CertInfo {
        common_name,
        not_before,
        not_after,
        public_key,
        self_signed_ok,
    })
}

/// `CN=<gun>` as one RDN. PrintableString when every character allows it, else UTF8String.
fn common_name(gun: &str) -> der::Result<Name> {
    let printable = gun
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    let atv = AttributeTypeAndValue {
        oid: OID_CN,
        value: Any::new(tag, gun.as_bytes())?,
    };
    let rdn = RelativeDistinguishedName(der::asn1::SetOfVec::try_from(vec![atv])?);
    Ok(RdnSequence(vec![rdn]))
}

fn find_common_name(name: &Name) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == OID_CN)
        .and_then(|atv| match atv.value.tag() {
            Tag::PrintableString | Tag::Utf8String | Tag::Ia5String | Tag::TeletexString => {
                String::from_utf8(atv.value.value().to_vec()).ok()
            }
            _ => None,
        })
}

/// A random positive serial below 2^128, like Go's `rand.Int(rand.Reader, 2^128)` (never 0).
fn random_serial() -> der::Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    loop {
        OsRng.fill_bytes(&mut bytes);
        if bytes.iter().any(|&b| b != 0) {
            // `SerialNumber::new` strips leading zeros and adds a sign byte where needed.
            return SerialNumber::new(&bytes);
        }
    }
}

fn extensions() -> der::Result<Vec<Extension>> {
    let ext = |oid, critical, value: Vec<u8>| -> der::Result<Extension> {
        Ok(Extension {
            extn_id: oid,
            critical,
            extn_value: OctetString::new(value)?,
        })
    };
    Ok(vec![
        ext(
            OID_KEY_USAGE,
            true,
            KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment).to_der()?,
        )?,
        ext(
            OID_EXT_KEY_USAGE,
            false,
            ExtendedKeyUsage(vec![OID_KP_CODE_SIGNING]).to_der()?,
        )?,
        ext(
            OID_BASIC_CONSTRAINTS,
            true,
            BasicConstraints {
                ca: false,
                path_len_constraint: None,
            }
            .to_der()?,
        )?,
    ])
}

/// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, UTC.
fn x509_time(t: OffsetDateTime) -> Result<Time> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| Error::Usage(format!("certificate time {t} is before 1970")))?;
    let d = std::time::Duration::from_secs(secs);
    let bad = |e: der::Error| Error::Usage(format!("certificate time {t}: {e}"));
    if t.to_offset(time::UtcOffset::UTC).year() < 2050 {
        Ok(Time::UtcTime(UtcTime::from_unix_duration(d).map_err(bad)?))
    } else {
        Ok(Time::GeneralTime(
            GeneralizedTime::from_unix_duration(d).map_err(bad)?,
        ))
    }
}

fn from_x509_time(t: Time) -> std::result::Result<OffsetDateTime, String> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| format!("time {t} out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| format!("time {t}: {e}"))
}

/// The TBSCertificate exactly as encoded in `der` (the bytes the signature covers).
fn raw_tbs(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = SliceReader::new(der)?;
    let tbs = reader.sequence(|r| {
        let tbs = r.tlv_bytes()?;
        // signatureAlgorithm and signature
        while !r.is_finished() {
            r.tlv_bytes()?;
        }
        Ok(tbs)
    })?;
    reader.finish(tbs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::MemorySigner;
    use time::macros::datetime;

    fn cert_for(signer: &MemorySigner, gun: &str) -> Vec<u8> {
        let (nb, na) = default_validity(datetime!(2026-11-25 12:00:00.75 UTC));
        root_certificate(signer, gun, nb, na).unwrap()
    }

    #[test]
    fn round_trip() {
        let signer = MemorySigner::generate("root");
        let der = cert_for(&signer, "docker.io/library/app");
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.common_name, "docker.io/library/app");
        assert_eq!(info.not_before, datetime!(2026-11-25 12:00:00 UTC));
        assert_eq!(info.not_after, datetime!(2036-11-22 12:00:00 UTC));
        assert_eq!(&info.public_key, signer.public_key());
        assert!(info.self_signed_ok);

        let pem = to_pem(&der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.ends_with("\n-----END CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        let again = parse_certificate(pem.as_bytes()).unwrap();
        assert!(again.self_signed_ok);
        assert_eq!(again.common_name, info.common_name);
    }

    #[test]
    fn contents_match_notary() {
        let signer = MemorySigner::generate("root");
        let der = cert_for(&signer, "example.com/app");
        let cert = Certificate::from_der(&der).unwrap();
        let tbs = &cert.tbs_certificate;
        assert_eq!(tbs.version, Version::V3);
        assert!(tbs.serial_number.as_bytes().len() <= 17);
        assert_eq!(tbs.issuer, tbs.subject);
        assert!(matches!(tbs.validity.not_before, Time::UtcTime(_)));
        assert_eq!(cert.signature_algorithm.oid, OID_ECDSA_WITH_SHA256);
        assert!(cert.signature_algorithm.parameters.is_none());
        let exts = tbs.extensions.as_ref().unwrap();
        let ids: Vec<_> = exts.iter().map(|e| (e.extn_id, e.critical)).collect();
        assert_eq!(
            ids,
            [
                (OID_KEY_USAGE, true),
                (OID_EXT_KEY_USAGE, false),
                (OID_BASIC_CONSTRAINTS, true)
            ]
        );
        // The exact encodings Go writes: bits 0 and 2 with 5 unused bits; an empty SEQUENCE.
        assert_eq!(exts[0].extn_value.as_bytes(), [0x03, 0x02, 0x05, 0xa0]);
        assert_eq!(exts[2].extn_value.as_bytes(), [0x30, 0x00]);
        // The CN is a PrintableString here (tag 0x13).
        let cn = &tbs.subject.0[0].0.as_slice()[0];
        assert_eq!(cn.value.tag(), Tag::PrintableString);

        // A GUN with `_` is not printable: UTF8String, read back the same.
        let der = cert_for(&signer, "registry:5000/my_app");
        assert_eq!(
            parse_certificate(&der).unwrap().common_name,
            "registry:5000/my_app"
        );
        let cert = Certificate::from_der(&der).unwrap();
        let cn = &cert.tbs_certificate.subject.0[0].0.as_slice()[0];
        assert_eq!(cn.value.tag(), Tag::Utf8String);

        // From 2050 on, GeneralizedTime.
        let der = root_certificate(
            &signer,
            "g",
            datetime!(2049-06-01 00:00 UTC),
            datetime!(2059-06-01 00:00 UTC),
        )
        .unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        assert!(matches!(
            cert.tbs_certificate.validity.not_before,
            Time::UtcTime(_)
        ));
        assert!(matches!(
            cert.tbs_certificate.validity.not_after,
            Time::GeneralTime(_)
        ));
        assert_eq!(
            parse_certificate(&der).unwrap().not_after,
            datetime!(2059-06-01 00:00 UTC)
        );
    }

    #[test]
    fn tampered_certificate_fails_self_signature() {
        let signer = MemorySigner::generate("root");
        let der = cert_for(&signer, "example.com/app");
        // The serial's second value byte: after `a0 03 02 01 02` (version) and the serial's tag
        // and length. Not the first: flipping its low bit can make the random serial's DER
        // INTEGER non-canonical (a leading 00 before a byte < 80), which fails the parse instead.
        let mut bad = der.clone();
        let at = der
            .windows(6)
            .position(|w| w[..5] == [0xa0, 0x03, 0x02, 0x01, 0x02] && w[5] == 0x02)
            .unwrap()
            + 8;
        bad[at] ^= 0x01;
        let info = parse_certificate(&bad).unwrap();
        assert!(!info.self_signed_ok);

        // A certificate signed by another key than the one it names.
        let other = MemorySigner::generate("other");
        let mut forged = Certificate::from_der(&der).unwrap();
        let tbs = forged.tbs_certificate.to_der().unwrap();
        let sig = other.sign(&tbs).unwrap().to_der();
        forged.signature = BitString::from_bytes(sig.as_bytes()).unwrap();
        let info = parse_certificate(&forged.to_der().unwrap()).unwrap();
        assert!(!info.self_signed_ok);

        assert!(parse_certificate(b"not a certificate").is_err());
        assert!(
            parse_certificate(b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").is_err()
        );
    }

    /// A signer whose signatures do not match its public key (a broken token).
    struct Mismatched(MemorySigner, MemorySigner);
    impl Signer for Mismatched {
        fn public_key(&self) -> &p256::PublicKey {
            self.0.public_key()
        }
        fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
            self.1.sign(msg)
        }
        fn describe(&self) -> String {
            "mismatched test signer".into()
        }
    }

    #[test]
    fn refuses_bad_input_and_bad_signatures() {
        let s = Mismatched(MemorySigner::generate("a"), MemorySigner::generate("b"));
        let (nb, na) = default_validity(OffsetDateTime::now_utc());
        assert!(matches!(
            root_certificate(&s, "g", nb, na),
            Err(Error::Crypto(_))
        ));
        let ok = MemorySigner::generate("a");
        assert!(root_certificate(&ok, "", nb, na).is_err());
        assert!(root_certificate(&ok, "g", na, nb).is_err());
    }
}
