//! The one place that knows how a metadata dialect spells things: `_type`, key encodings, key
//! IDs, signature encodings and times. Everything else builds and checks metadata through a
//! `Dialect` value.
//!
//! Notary v1 / Docker Content Trust (from theupdateframework/notary `tuf/data`, `tuf/signed`,
//! `tuf/utils`): `_type` capitalised (`Root`, ...); root keys `ecdsa-x509` whose `public` is the
//! base64 of a certificate's PEM text; other keys `ecdsa` with base64 DER SubjectPublicKeyInfo;
//! `keyval.private` written as null; signatures `method: "ecdsa"`, base64 raw r||s.
//!
//! TUF 1.0 specification (python-tuf 7 `tuf/api/_payload.py`, securesystemslib 1.6
//! `signer/_key.py`, `signer/_utils.py`): `_type` lowercase plus `spec_version`; every key,
//! root included, `{"keytype":"ecdsa","scheme":"ecdsa-sha2-nistp256","keyval":{"public":PEM}}`
//! with the PEM SubjectPublicKeyInfo ending in a newline and no `private`; the key ID is the
//! hex sha256 of the canonical JSON of exactly `{keytype, scheme, keyval}`
//! (`compute_default_keyid`); signatures `{"keyid","sig"}` with `sig` the hex of the DER
//! signature; `expires` exactly `%Y-%m-%dT%H:%M:%SZ`; hashes hex; snapshot and timestamp `meta`
//! keyed by file name (`targets.json`) with a required `version`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::cert::{self, CertInfo};
use super::keyid;
use super::keytype::{self, Verifier};
use super::model::{Envelope, Key, KeyVal, MetaFile, RoleName, Signature};
use super::signed::SignedMeta;
use crate::sign::spki_der;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Notary v1 / Docker Content Trust.
    #[default]
    Notary,
    /// The TUF 1.0 specification, as python-tuf's ngclient verifies it.
    Tuf,
}

/// The specification version the TUF dialect writes (python-tuf 7 `SPECIFICATION_VERSION`).
pub const TUF_SPEC_VERSION: &str = "1.0.31";
pub const TUF_KEYTYPE_ECDSA: &str = "ecdsa";
pub const TUF_SCHEME_P256: &str = "ecdsa-sha2-nistp256";

/// What snapshot and timestamp list about each file besides what the dialect requires: TUF 1.0
/// requires only the version and makes length and hashes optional (`Include` adds them); notary
/// always lists length and hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetaHashes {
    #[default]
    Omit,
    Include,
}

/// A public key decoded from metadata, and the certificate when the key is one.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub key: Verifier,
    pub cert: Option<CertInfo>,
}

pub const NOTARY_KEYTYPE_ECDSA: &str = "ecdsa";
pub const NOTARY_KEYTYPE_X509: &str = "ecdsa-x509";
pub const NOTARY_SIG_METHOD: &str = "ecdsa";

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Notary => "notary",
            Dialect::Tuf => "tuf",
        }
    }

    /// `spec_version` of every role, if the dialect writes one.
    pub fn spec_version(self) -> Option<&'static str> {
        match self {
            Dialect::Notary => None,
            Dialect::Tuf => Some(TUF_SPEC_VERSION),
        }
    }

    /// Checks a role's `spec_version`: TUF 1.0 needs one of major version 1 (as python-tuf).
    pub fn check_spec_version(self, v: Option<&str>) -> Result<(), String> {
        match (self, v) {
            (Dialect::Notary, _) => Ok(()),
            (Dialect::Tuf, None) => Err("spec_version is missing".into()),
            (Dialect::Tuf, Some(v)) => {
                let parts: Vec<&str> = v.split('.').collect();
                if parts.len() < 2
                    || parts.len() > 3
                    || parts.iter().any(|p| p.parse::<u32>().is_err())
                {
                    return Err(format!("spec_version {v:?} is not a version"));
                }
                if parts.first() != Some(&"1") {
                    return Err(format!("unsupported spec_version {v:?} (1.x expected)"));
                }
                Ok(())
            }
        }
    }

    /// The key of `role`'s entry in snapshot's or timestamp's `meta`.
    pub fn meta_name(self, role: RoleName) -> String {
        self.meta_key(role.as_str())
    }

    /// The key of the role `name`'s entry in snapshot's `meta` (delegated roles included):
    /// notary `targets/releases`, TUF 1.0 `releases.json`.
    pub fn meta_key(self, name: &str) -> String {
        match self {
            Dialect::Notary => name.to_string(),
            Dialect::Tuf => format!("{name}.json"),
        }
    }

    /// Whether snapshot lists root (notary does; TUF 1.0 does not).
    pub fn snapshot_lists_root(self) -> bool {
        match self {
            Dialect::Notary => true,
            Dialect::Tuf => false,
        }
    }

    /// The bytes of a metadata file. Notary: canonical JSON (valid JSON there: base64 keys,
    /// nothing to escape). TUF 1.0: plain JSON (what python-tuf's `JSONSerializer` writes),
    /// because canonical JSON leaves the newlines of PEM keys raw, which JSON parsers reject;
    /// only the signatures are over the canonical form.
    pub fn file_bytes(self, envelope: &Envelope) -> Result<Vec<u8>, String> {
        self.file_bytes_from(envelope, &super::cjson::encode(&envelope.signed)?)
    }

    /// [`file_bytes`](Self::file_bytes), given the canonical bytes of `envelope.signed`.
    pub fn file_bytes_from(self, envelope: &Envelope, signed: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Dialect::Notary => super::signed::notary_file_from(signed, &envelope.signatures),
            Dialect::Tuf => super::signed::tuf_file_from(envelope, signed),
        }
    }

    /// `m`'s entry in its parent's `meta`. Notary: length, sha256 and sha512 (no version).
    /// TUF 1.0: the version, and length and sha256 when `hashes` is `Include`.
    pub fn meta_entry(self, m: &SignedMeta, hashes: MetaHashes) -> MetaFile {
        let with_hashes = |algs: &[&str]| {
            let mut h = super::model::Hashes::new();
            for alg in algs {
                let digest: &[u8] = if *alg == "sha256" {
                    &m.sha256
                } else {
                    &m.sha512
                };
                h.insert(alg, self.encode_hash(digest));
            }
            Some(h)
        };
        match (self, hashes) {
            (Dialect::Notary, _) => MetaFile {
                version: None,
                length: Some(m.length()),
                hashes: with_hashes(&["sha256", "sha512"]),
                extra: Default::default(),
            },
            (Dialect::Tuf, MetaHashes::Omit) => MetaFile {
                version: m.version(),
                length: None,
                hashes: None,
                extra: Default::default(),
            },
            (Dialect::Tuf, MetaHashes::Include) => MetaFile {
                version: m.version(),
                length: Some(m.length()),
                hashes: with_hashes(&["sha256"]),
                extra: Default::default(),
            },
        }
    }

    /// What an empty targets role writes for `delegations`: notary writes empty keys and roles,
    /// TUF 1.0 leaves the optional field out.
    pub fn empty_delegations(self) -> Option<super::model::Delegations> {
        match self {
            Dialect::Notary => Some(Default::default()),
            Dialect::Tuf => None,
        }
    }

    /// Whether `meta` entries must carry length and sha256 (notary) or may carry only a
    /// version (TUF 1.0, where a version is required instead).
    pub fn meta_requires_hashes(self) -> bool {
        match self {
            Dialect::Notary => true,
            Dialect::Tuf => false,
        }
    }

    /// The `_type` of a role's `signed` object.
    pub fn type_name(self, role: RoleName) -> &'static str {
        match (self, role) {
            (Dialect::Notary, RoleName::Root) => "Root",
            (Dialect::Notary, RoleName::Targets) => "Targets",
            (Dialect::Notary, RoleName::Snapshot) => "Snapshot",
            (Dialect::Notary, RoleName::Timestamp) => "Timestamp",
            (Dialect::Tuf, role) => role.as_str(),
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
            Dialect::Tuf => Key {
                keytype: TUF_KEYTYPE_ECDSA.into(),
                keyval: KeyVal {
                    public: spki_pem(key),
                    extra: Default::default(),
                },
                extra: [("scheme".to_string(), TUF_SCHEME_P256.into())].into(),
            },
        }
    }

    /// The root key as root metadata lists it. Notary: the certificate (`cert_pem`).
    /// Dialects without certificates list the bare key (`public_key`) instead; `init` asks
    /// `root_has_certificate` first.
    #[allow(
        clippy::expect_used,
        reason = "given only the certificate `init` just made (never input), and only in the \
                  Notary dialect: trustkey asks root_has_certificate first"
    )]
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
            // Never asked for by trustkey (see above); the certificate's bare key is the answer.
            Dialect::Tuf => {
                let info = cert::parse_certificate(cert_pem.as_bytes())
                    .expect("root_key is given a certificate trustkey made");
                self.public_key(&info.public_key)
            }
        }
    }

    /// Whether this dialect puts the root key in a certificate.
    pub fn root_has_certificate(self) -> bool {
        match self {
            Dialect::Notary => true,
            Dialect::Tuf => false,
        }
    }

    /// Whether `id` is an ID of `key`'s content: [`key_id`](Self::key_id), or in TUF 1.0 also
    /// the hash of the whole key object, its other fields included (the specification's
    /// KEYID: python-tuf and go-tuf do not check IDs, and repositories write either form).
    pub fn key_id_matches(self, key: &Key, id: &str) -> bool {
        self.key_id(key) == id || (self == Dialect::Tuf && keyid::key_id(key) == id)
    }

    /// The ID metadata gives `key`. Notary: over the whole key object; TUF 1.0: over
    /// `{keytype, scheme, keyval}` only (securesystemslib's `compute_default_keyid`).
    pub fn key_id(self, key: &Key) -> String {
        match self {
            Dialect::Notary => keyid::key_id(key),
            Dialect::Tuf => {
                let v = serde_json::json!({
                    "keytype": key.keytype,
                    "scheme": key.extra.get("scheme").cloned().unwrap_or(serde_json::Value::Null),
                    "keyval": key.keyval,
                });
                keyid::key_id_of_value(&v)
            }
        }
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
                        Ok(PublicKey {
                            key: Verifier::P256(k),
                            cert: None,
                        })
                    }
                    NOTARY_KEYTYPE_X509 => {
                        let info = cert::parse_certificate(&raw)
                            .map_err(|e| format!("bad certificate: {e}"))?;
                        Ok(PublicKey {
                            key: Verifier::P256(info.public_key),
                            cert: Some(info),
                        })
                    }
                    other => Err(format!("unsupported key type {other:?}")),
                }
            }
            Dialect::Tuf => Ok(PublicKey {
                key: keytype::decode(key)?,
                cert: None,
            }),
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
            Dialect::Tuf => Signature {
                keyid: keyid.to_string(),
                method: None,
                sig: hex::encode(sig.to_der().as_bytes()),
                extra: Default::default(),
            },
        }
    }

    /// Whether `sig` is `key`'s signature over `msg`; an error when it cannot be decoded.
    pub fn check_signature(
        self,
        key: &Verifier,
        msg: &[u8],
        sig: &Signature,
    ) -> Result<bool, String> {
        match self {
            Dialect::Notary => {
                let s = self.decode_signature(sig)?;
                Ok(key.p256().is_some_and(|k| crate::sign::verify(k, msg, &s)))
            }
            Dialect::Tuf => {
                let raw = hex::decode(&sig.sig).map_err(|_| "signature is not hex".to_string())?;
                Ok(key.verify(msg, &raw))
            }
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
            Dialect::Tuf => {
                let raw = hex::decode(&sig.sig).map_err(|_| "signature is not hex".to_string())?;
                p256::ecdsa::Signature::from_der(&raw)
                    .map_err(|_| "signature is not a DER-encoded ECDSA signature".to_string())
            }
        }
    }

    /// How `expires` is written: RFC 3339 in UTC, whole seconds (`2030-01-02T03:04:05Z`, the
    /// only form TUF 1.0 allows). A time read from metadata may lie outside what RFC 3339
    /// writes in UTC (`0000-01-01T00:00:00+01:00` is in year -1): it is then written in its
    /// own offset, or else as `time` shows it.
    pub fn format_time(self, t: OffsetDateTime) -> String {
        let whole = |t: OffsetDateTime| t.replace_nanosecond(0).unwrap_or(t);
        t.checked_to_offset(time::UtcOffset::UTC)
            .and_then(|utc| whole(utc).format(&Rfc3339).ok())
            .or_else(|| whole(t).format(&Rfc3339).ok())
            .unwrap_or_else(|| t.to_string())
    }

    /// Reads `expires`. Notary: leniently, any RFC 3339 offset and fractional seconds. TUF
    /// 1.0: exactly `YYYY-MM-DDTHH:MM:SSZ`, as python-tuf's `strptime` demands.
    pub fn parse_time(self, s: &str) -> Result<OffsetDateTime, String> {
        match self {
            Dialect::Notary => OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| format!("expires {s:?} is not RFC 3339")),
            Dialect::Tuf => {
                let fmt = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                );
                time::PrimitiveDateTime::parse(s, &fmt)
                    .map(|t| t.assume_utc())
                    .map_err(|_| format!("expires {s:?} is not YYYY-MM-DDTHH:MM:SSZ"))
            }
        }
    }

    /// Hash algorithms written in `hashes` and how they are encoded (Notary: base64).
    pub fn encode_hash(self, digest: &[u8]) -> String {
        match self {
            Dialect::Notary => B64.encode(digest),
            Dialect::Tuf => hex::encode(digest),
        }
    }

    pub fn decode_hash(self, s: &str) -> Result<Vec<u8>, String> {
        match self {
            Dialect::Notary => B64
                .decode(s)
                .map_err(|_| format!("hash {s:?} is not base64")),
            Dialect::Tuf => hex::decode(s).map_err(|_| format!("hash {s:?} is not hex")),
        }
    }
}

/// PEM SubjectPublicKeyInfo, LF line endings, ending with a newline (as `cryptography` writes).
fn spki_pem(key: &p256::PublicKey) -> String {
    let b64 = B64.encode(crate::sign::spki_der(key));
    let mut pem = String::with_capacity(b64.len() + 64);
    pem.push_str("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 is ASCII: lossless.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
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

    #[test]
    fn tuf_keys_are_pem_as_the_pkcs8_encoder_writes() {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        for i in 0..20 {
            let k = crate::sign::MemorySigner::generate(format!("k{i}"));
            let pem = k.public_key().to_public_key_pem(LineEnding::LF).unwrap();
            assert_eq!(Dialect::Tuf.public_key(k.public_key()).keyval.public, pem);
        }
    }
    use crate::sign::{MemorySigner, Signer};

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
            Dialect::Notary.decode_key(&key).unwrap().key.p256(),
            Some(k.public_key())
        );
    }

    /// A key and a signature made by securesystemslib 1.6 (`CryptoSigner.generate_ecdsa()`,
    /// `sign(b'{"_type":"timestamp"}')`): its key ID is ours, and its signature (high S, DER,
    /// hex) verifies.
    #[test]
    fn tuf_key_and_signature_from_securesystemslib() {
        let key: Key = serde_json::from_str(
            r#"{"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmPA3us59bPlhUNSvoLNI2xKHu184\nnQhYyzqYQXlrRJ8nRj4MWshO7+sL2eFNCJcGgQUF2/Bvk4UbS64VeZcpag==\n-----END PUBLIC KEY-----\n"}}"#,
        )
        .unwrap();
        let d = Dialect::Tuf;
        let id = "2b979c79f6e217f8422d6eccfed1e7e2e025c773402ce3e8a85f032d4047f67b";
        assert_eq!(d.key_id(&key), id);
        let pk = *d.decode_key(&key).unwrap().key.p256().unwrap();
        // Our encoding of the same point is the same key object, byte for byte.
        assert_eq!(d.public_key(&pk), key);
        let sig = Signature {
            keyid: id.into(),
            method: None,
            sig: "3046022100c0691b605e039caacdfd110d7c63082c997bed03d99efcb736f707c942866a59\
                  022100c4a8485047c0a43335ab25f37b62482efd3454994e42af9fbeae2dad20bf68cc"
                .into(),
            extra: Default::default(),
        };
        let s = d.decode_signature(&sig).unwrap();
        assert!(crate::sign::verify(&pk, br#"{"_type":"timestamp"}"#, &s));
        assert!(!crate::sign::verify(&pk, br#"{"_type":"timestamp" }"#, &s));
    }

    #[test]
    fn tuf_signatures_are_hex_der_without_method() {
        let k = MemorySigner::generate("t");
        let sig = k.sign(b"msg").unwrap();
        let s = Dialect::Tuf.encode_signature("id", &sig);
        assert_eq!(s.method, None);
        assert!(s.sig.starts_with("30"), "{}", s.sig);
        assert_eq!(Dialect::Tuf.decode_signature(&s).unwrap(), sig);
        // Raw r||s (the notary encoding, in hex) is refused.
        let raw = Signature {
            sig: hex::encode(sig.to_bytes()),
            ..s
        };
        assert!(Dialect::Tuf.decode_signature(&raw).is_err());
    }

    #[test]
    fn tuf_times_and_spelling() {
        let d = Dialect::Tuf;
        let t = d.parse_time("2030-01-02T03:04:05Z").unwrap();
        assert_eq!(d.format_time(t), "2030-01-02T03:04:05Z");
        for bad in [
            "2030-01-02T03:04:05.5Z",
            "2030-01-02T03:04:05+00:00",
            "2030-01-02",
        ] {
            assert!(d.parse_time(bad).is_err(), "{bad}");
        }
        assert_eq!(d.type_name(RoleName::Snapshot), "snapshot");
        assert_eq!(d.meta_name(RoleName::Targets), "targets.json");
        assert!(d.check_spec_version(Some("1.0.31")).is_ok());
        assert!(d.check_spec_version(Some("1.0")).is_ok());
        assert!(d.check_spec_version(Some("2.0.0")).is_err());
        assert!(d.check_spec_version(None).is_err());
        assert!(Dialect::Notary.check_spec_version(None).is_ok());
        assert_eq!(d.encode_hash(&[0xab, 0x01]), "ab01");
    }
}
