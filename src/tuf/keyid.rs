//! Key IDs: hex sha256 of the canonical JSON of the key object, in both dialects.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::cjson;
use super::model::Key;

/// Hex sha256 of the canonical JSON of `v`, a key object (see [`key_id`]).
#[allow(
    clippy::expect_used,
    reason = "keys from metadata are refused at parse if they hold a non-integer number \
              (model::Key), and trustkey's own keys hold strings only"
)]
pub fn key_id_of_value(v: &serde_json::Value) -> String {
    let bytes = cjson::encode(v).expect("a key has no floats");
    hex::encode(Sha256::digest(bytes))
}

/// The ID of `key` as notary names it (over the whole key object). Every `Key` has a
/// canonical form: one read from metadata holding a non-integer number is refused when it
/// is parsed.
#[allow(
    clippy::expect_used,
    reason = "keys from metadata are refused at parse if they hold a non-integer number \
              (model::Key), and trustkey's own keys hold strings only"
)]
pub fn key_id(key: &Key) -> String {
    let bytes = cjson::encode_serialize(key).expect("a key has no floats");
    hex::encode(Sha256::digest(bytes))
}

/// Notary's "canonical" key ID of a bare ECDSA key: hex sha256 of the canonical JSON of
/// `{"keytype":"ecdsa","keyval":{"private":null,"public":BASE64(SPKI DER)}}`.
/// This is the private key's file name and what `notary key list` shows.
pub fn canonical_key_id(key: &p256::PublicKey) -> String {
    hex::encode(canonical_key_id_bytes(key))
}

/// [`canonical_key_id`] as the 32 bytes of the hash.
pub fn canonical_key_id_bytes(key: &p256::PublicKey) -> [u8; 32] {
    let b64 = base64::engine::general_purpose::STANDARD.encode(crate::sign::spki_der(key));
    // Base64 never needs JSON escaping, so this literal is already canonical JSON.
    let json = format!(r#"{{"keytype":"ecdsa","keyval":{{"private":null,"public":"{b64}"}}}}"#);
    Sha256::digest(json.as_bytes()).into()
}

/// The two IDs of one root key: the bare key's canonical ID (its key file's or token's name,
/// `root list`, `root check`) and the ID root metadata lists it under (notary dialect: the ID
/// of its certificate; tuf dialect: the ID of its PEM key object). Every command that shows a
/// root key shows both, labelled with [`KeyIdKind::label`]; `--root-keyid` takes either.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RootKeyIds {
    pub canonical_key_id: String,
    pub metadata_key_id: String,
    /// Whether root metadata lists the key as a certificate (notary dialect).
    pub certificate: bool,
}

impl RootKeyIds {
    /// What the metadata key ID is: a certificate's ID, or a key object's.
    pub fn metadata_kind(&self) -> KeyIdKind {
        if self.certificate {
            KeyIdKind::Certificate
        } else {
            KeyIdKind::Metadata
        }
    }

    /// Which of the two IDs `id` is, if either.
    pub fn matches(&self, id: &str) -> Option<KeyIdKind> {
        if id == self.canonical_key_id {
            Some(KeyIdKind::Canonical)
        } else if id == self.metadata_key_id {
            Some(self.metadata_kind())
        } else {
            None
        }
    }
}

/// Which ID of a root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyIdKind {
    /// The bare key's canonical ID.
    Canonical,
    /// The ID of the key's certificate in root metadata (notary dialect).
    Certificate,
    /// The ID of the key object in root metadata (tuf dialect).
    Metadata,
}

impl KeyIdKind {
    /// The label every command shows before an ID of this kind.
    pub fn label(self) -> &'static str {
        match self {
            KeyIdKind::Canonical => "canonical key ID",
            KeyIdKind::Certificate => "certificate key ID",
            KeyIdKind::Metadata => "metadata key ID",
        }
    }
}

/// The first 12 characters of a key ID, enough to tell keys apart in a message. Safe on any
/// string (an ID read from metadata may not be hex).
pub fn short(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{MemorySigner, Signer};
    use crate::tuf::dialect::Dialect;

    #[test]
    fn short_ids() {
        let id = "0123456789abcdef".repeat(4);
        assert_eq!(short(&id), "0123456789ab");
        assert_eq!(short("0123456789ab"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short(""), "");
        // Twelve characters, never a cut through one.
        assert_eq!(short("ééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn a_root_key_is_matched_by_either_id() {
        let ids = RootKeyIds {
            canonical_key_id: "aa".into(),
            metadata_key_id: "bb".into(),
            certificate: true,
        };
        assert_eq!(ids.matches("aa"), Some(KeyIdKind::Canonical));
        assert_eq!(ids.matches("bb"), Some(KeyIdKind::Certificate));
        assert_eq!(ids.matches("cc"), None);
        let tuf = RootKeyIds {
            certificate: false,
            ..ids
        };
        assert_eq!(tuf.matches("bb"), Some(KeyIdKind::Metadata));
        assert_eq!(KeyIdKind::Certificate.label(), "certificate key ID");
    }

    #[test]
    fn notary_ecdsa_id_is_the_canonical_id() {
        let k = MemorySigner::generate("t");
        let key = Dialect::Notary.public_key(k.public_key());
        assert_eq!(key_id(&key), canonical_key_id(k.public_key()));
    }
}
