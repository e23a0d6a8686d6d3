//! Key pairs on a token: generated there (never extractable) or imported (mirrors, escrow).

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use serde::Serialize;

use super::uri::Pkcs11Uri;
use super::{ec_point_der, key_template, read_ec_point, Token, P256_PARAMS};
use crate::{Error, Result};

/// The two objects of a key pair on a token.
#[derive(Debug, Clone, Copy)]
pub struct KeyPair {
    pub private: ObjectHandle,
    pub public: ObjectHandle,
}

/// Refuses to create a second key under a label that is already taken.
pub fn ensure_absent(token: &Token, session: &Session, uri: &Pkcs11Uri) -> Result<()> {
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        let found = session
            .find_objects(&key_template(uri, class))
            .map_err(|e| token.err("C_FindObjects", e))?;
        if !found.is_empty() {
            return Err(Error::KeyExists {
                token: token.desc(),
                what: format!("a key labelled {:?}", uri.object_label()),
            });
        }
    }
    Ok(())
}

fn private_template(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

fn public_template(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

fn with_subject(mut t: Vec<Attribute>, subject: &str) -> Vec<Attribute> {
    if let Some(der) = subject_der(subject) {
        t.push(Attribute::Subject(der));
    }
    t
}

/// CKA_ID for a new key: the first 16 bytes of its canonical key ID, so `root list` and
/// `pkcs11-tool` show a stable, recognisable ID.
pub fn object_id(key: &p256::PublicKey) -> Vec<u8> {
    let id = crate::tuf::keyid::canonical_key_id_bytes(key);
    id.iter().take(16).copied().collect()
}

/// CKA_SUBJECT of a new key: the DER name `CN=<subject>`, which says what the key is for (as a
/// YubiKey slot's certificate subject does); `None` when the name cannot be encoded.
pub fn subject_der(subject: &str) -> Option<Vec<u8>> {
    use der::Encode;
    let name: x509_cert::name::Name = format!("CN={subject}").parse().ok()?;
    name.to_der().ok()
}

/// The subject a key object's CKA_SUBJECT names (`CN=...`), if it is a readable DER name.
pub fn subject_of(der_bytes: &[u8]) -> Option<String> {
    use der::Decode;
    if der_bytes.is_empty() {
        return None;
    }
    x509_cert::name::Name::from_der(der_bytes)
        .ok()
        .map(|n| n.to_string())
}

/// Generates a P-256 key pair on the token: sensitive, never extractable; CKA_SUBJECT
/// `CN=<subject>` on both halves says what it is for.
pub fn generate(
    token: &Token,
    session: &Session,
    uri: &Pkcs11Uri,
    subject: &str,
) -> Result<(KeyPair, p256::PublicKey)> {
    let label = uri.object_label();
    // The final ID depends on the public key, which does not exist yet: generate under a
    // random ID, then set the real one.
    let mut tmp_id = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut tmp_id);
    let id = uri.id.clone().unwrap_or(tmp_id.to_vec());
    let (public, private) = session
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &with_subject(public_template(label, &id), subject),
            &with_subject(private_template(label, &id), subject),
        )
        .map_err(|e| token.err("C_GenerateKeyPair", e))?;
    let pair = KeyPair { private, public };
    let key = match read_ec_point(session, public) {
        Ok(k) => k,
        Err(reason) => {
            destroy(session, pair);
            return Err(Error::Crypto(format!(
                "{}: the new key's public point cannot be read: {reason}",
                token.desc()
            )));
        }
    };
    if uri.id.is_none() {
        let id = object_id(&key);
        for h in [public, private] {
            // Best effort: some modules fix CKA_ID (ykcs11 uses the PIV slot).
            let _ = session.update_attributes(h, &[Attribute::Id(id.clone())]);
        }
    }
    Ok((pair, key))
}

/// Imports a P-256 private key (and its public half) into the token: sensitive, not extractable.
pub fn import(
    token: &Token,
    session: &Session,
    uri: &Pkcs11Uri,
    scalar: &[u8; 32],
    key: &p256::PublicKey,
) -> Result<KeyPair> {
    let label = uri.object_label();
    let id = uri.id.clone().unwrap_or_else(|| object_id(key));
    let mut priv_t = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::Value(scalar.to_vec()),
    ];
    priv_t.extend(private_template(label, &id));
    let private = session.create_object(&priv_t);
    // The template held a copy of the scalar: wipe it whatever happened.
    for a in priv_t.iter_mut() {
        if let Attribute::Value(v) = a {
            zeroize::Zeroize::zeroize(v);
        }
    }
    let private = private.map_err(|e| token.err("C_CreateObject (private key)", e))?;
    let mut pub_t = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcPoint(ec_point_der(key)),
    ];
    pub_t.extend(public_template(label, &id));
    match session.create_object(&pub_t) {
        Ok(public) => Ok(KeyPair { private, public }),
        Err(e) => {
            let _ = session.destroy_object(private);
            Err(token.err("C_CreateObject (public key)", e))
        }
    }
}

/// Removes both objects; used to undo a half-done mirror. Errors are ignored: this runs on
/// the failure path, and the caller reports the original error.
pub fn destroy(session: &Session, pair: KeyPair) {
    let _ = session.destroy_object(pair.private);
    let _ = session.destroy_object(pair.public);
}

/// The security attributes of a private key, read back from the token.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct KeySecurity {
    pub sensitive: bool,
    pub extractable: bool,
    pub always_sensitive: bool,
    pub never_extractable: bool,
    pub token: bool,
    pub private: bool,
    pub sign: bool,
}

pub fn security(token: &Token, session: &Session, private: ObjectHandle) -> Result<KeySecurity> {
    let attrs = session
        .get_attributes(
            private,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Token,
                AttributeType::Private,
                AttributeType::Sign,
            ],
        )
        .map_err(|e| token.err("C_GetAttributeValue", e))?;
    let mut s = KeySecurity {
        sensitive: false,
        extractable: true,
        always_sensitive: false,
        never_extractable: false,
        token: false,
        private: false,
        sign: false,
    };
    for a in attrs {
        match a {
            Attribute::Sensitive(v) => s.sensitive = v,
            Attribute::Extractable(v) => s.extractable = v,
            Attribute::AlwaysSensitive(v) => s.always_sensitive = v,
            Attribute::NeverExtractable(v) => s.never_extractable = v,
            Attribute::Token(v) => s.token = v,
            Attribute::Private(v) => s.private = v,
            Attribute::Sign(v) => s.sign = v,
            _ => {}
        }
    }
    Ok(s)
}
