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
    fn notary_ecdsa_id_is_the_canonical_id() {
        let k = MemorySigner::generate("t");
        let key = Dialect::Notary.public_key(k.public_key());
        assert_eq!(key_id(&key), canonical_key_id(k.public_key()));
    }
}
