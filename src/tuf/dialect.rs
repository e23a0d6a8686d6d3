//! The one place that knows how a metadata dialect spells things: `_type`, key encodings, key
//! IDs, signature encodings and times. Everything else builds and checks metadata through a
//! `Dialect` value.
//!
//! Notary v1 / Docker Content Trust (from theupdateframework/notary `tuf/data`, `tuf/signed`,
//! `tuf/utils`): `_type` capitalised (`Root`, ...); root keys `ecdsa-x509` whose `public` is the
//! base64 of a certificate's PEM text; other keys `ecdsa` with base64 DER SubjectPublicKeyInfo;
//! `keyval.private` written as null; signatures `method: "ecdsa"`, base64 raw r||s.
//! The TUF 1.0 dialect comes later as a second variant.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::cert::{self, CertInfo};
use super::keyid;
use super::model::{Key, KeyVal, RoleName, Signature};
use crate::keys::spki_der;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Notary v1 / Docker Content Trust.
    #[default]
    Notary,
}

/// A public key decoded from metadata: the point, and the certificate when the key is one.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub key: p256::PublicKey,
    pub cert: Option<CertInfo>,
}

pub const NOTARY_KEYTYPE_ECDSA: &str = "ecdsa";
pub const NOTARY_KEYTYPE_X509: &str = "ecdsa-x509";
pub const NOTARY_SIG_METHOD: &str = "ecdsa";

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Notary => "notary",
        }
    }

    /// The `_type` of a role's `signed` object.
    pub fn type_name(self, role: RoleName) -> &'static str {
        match (self, role) {
            (Dialect::Notary, RoleName::Root) => "Root",
            (Dialect::Notary, RoleName::Targets) => "Targets",
            (Dialect::Notary, RoleName::Snapshot) => "Snapshot",
            (Dialect::Notary, RoleName::Timestamp) => "Timestamp",
        }
    }

    /// A bare public key (targets, snapshot, timestamp; the root in dialects without certs).
    pub fn public_key(self, key: &p256::PublicKey) -> Key {
        match self {
            Dialect::Notary => Key {
                keytype: NOTARY_KEYTYPE_ECDSA.into(),
                keyval: KeyVal {
                    public: B64.encode(spki_der(key)),
                    extra: notary_private_null(),
                },
                extra: Default::default(),
            },
        }
    }

    /// The root key as root metadata lists it. Notary: the certificate (`cert_pem`).
    pub fn root_key(self, cert_pem: &str) -> Key {
        match self {
            Dialect::Notary => Key {
                keytype: NOTARY_KEYTYPE_X509.into(),
                keyval: KeyVal {
                    public: B64.encode(cert_pem.as_bytes()),
                    extra: notary_private_null(),
                },
                extra: Default::default(),
            },
        }
    }

    /// Whether this dialect puts the root key in a certificate.
    pub fn root_has_certificate(self) -> bool {
        match self {
            Dialect::Notary => true,
        }
    }

    pub fn key_id(self, key: &Key) -> String {
        keyid::key_id(key)
    }

    /// Decodes a key listed in metadata. Errors are phrases for one line ("not base64", ...).
    pub fn decode_key(self, key: &Key) -> Result<PublicKey, String> {
        match self {
            Dialect::Notary => {
                let raw = B64
                    .decode(key.keyval.public.as_bytes())
                    .map_err(|_| "its public value is not base64".to_string())?;
                match key.keytype.as_str() {
                    NOTARY_KEYTYPE_ECDSA => {
                        use p256::pkcs8::DecodePublicKey;
                        let k = p256::PublicKey::from_public_key_der(&raw)
                            .map_err(|_| "not a P-256 SubjectPublicKeyInfo".to_string())?;
                        Ok(PublicKey { key: k, cert: None })
                    }
                    NOTARY_KEYTYPE_X509 => {
                        let info = cert::parse_certificate(&raw)
                            .map_err(|e| format!("bad certificate: {e}"))?;
                        Ok(PublicKey {
                            key: info.public_key,
                            cert: Some(info),
                        })
                    }
                    other => Err(format!("unsupported key type {other:?}")),
                }
            }
        }
    }

    pub fn encode_signature(self, keyid: &str, sig: &p256::ecdsa::Signature) -> Signature {
        match self {
            Dialect::Notary => Signature {
                keyid: keyid.to_string(),
                method: Some(NOTARY_SIG_METHOD.into()),
                sig: B64.encode(sig.to_bytes()),
                extra: Default::default(),
            },
        }
    }

    pub fn decode_signature(self, sig: &Signature) -> Result<p256::ecdsa::Signature, String> {
        match self {
            Dialect::Notary => {
                match sig.method.as_deref() {
                    Some(NOTARY_SIG_METHOD) => {}
                    Some(m) => return Err(format!("unsupported signature method {m:?}")),
                    None => return Err("signature has no method".into()),
                }
                let raw = B64
                    .decode(sig.sig.as_bytes())
                    .map_err(|_| "signature is not base64".to_string())?;
                p256::ecdsa::Signature::from_slice(&raw)
                    .map_err(|_| format!("signature is {} bytes, not P-256 r||s", raw.len()))
            }
        }
    }

    /// How `expires` is written: RFC 3339 in UTC, whole seconds.
    pub fn format_time(self, t: OffsetDateTime) -> String {
        let t = t
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .expect("0 is a valid nanosecond");
        t.format(&Rfc3339).expect("a UTC time always formats")
    }

    /// Reads `expires` leniently: any RFC 3339 offset, fractional seconds.
    pub fn parse_time(self, s: &str) -> Result<OffsetDateTime, String> {
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| format!("expires {s:?} is not RFC 3339"))
    }

    /// Hash algorithms written in `hashes` and how they are encoded (Notary: base64).
    pub fn encode_hash(self, digest: &[u8]) -> String {
        match self {
            Dialect::Notary => B64.encode(digest),
        }
    }

    pub fn decode_hash(self, s: &str) -> Result<Vec<u8>, String> {
        match self {
            Dialect::Notary => B64
                .decode(s)
                .map_err(|_| format!("hash {s:?} is not base64")),
        }
    }
}

fn notary_private_null() -> std::collections::BTreeMap<String, serde_json::Value> {
    [("private".to_string(), serde_json::Value::Null)].into()
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::memory::MemorySigner;
    use crate::keys::Signer;

    #[test]
    fn notary_signature_round_trip() {
        let k = MemorySigner::generate("t");
        let sig = k.sign(b"msg").unwrap();
        let s = Dialect::Notary.encode_signature("id", &sig);
        assert_eq!(s.method.as_deref(), Some("ecdsa"));
        assert_eq!(B64.decode(&s.sig).unwrap().len(), 64);
        assert_eq!(Dialect::Notary.decode_signature(&s).unwrap(), sig);
    }

    #[test]
    fn times() {
        let d = Dialect::Notary;
        let t = d.parse_time("2027-01-02T03:04:05.123456789+01:00").unwrap();
        assert_eq!(d.format_time(t), "2027-01-02T02:04:05Z");
        assert!(d.parse_time("tomorrow").is_err());
    }

    #[test]
    fn ecdsa_key_round_trip() {
        let k = MemorySigner::generate("t");
        let key = Dialect::Notary.public_key(k.public_key());
        let json = serde_json::to_string(&key).unwrap();
        assert!(json.contains(r#""private":null"#), "{json}");
        assert_eq!(
            Dialect::Notary.decode_key(&key).unwrap().key,
            *k.public_key()
        );
    }
}
