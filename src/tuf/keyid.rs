//! Key IDs: hex sha256 of the canonical JSON of the key object, in both dialects.

use sha2::{Digest, Sha256};

use super::cjson;
use super::model::Key;

/// Hex sha256 of the canonical JSON of `v`.
pub fn key_id_of_value(v: &serde_json::Value) -> String {
    let bytes = cjson::encode(v).expect("a key has no floats");
    hex::encode(Sha256::digest(bytes))
}

/// The ID of `key` as notary names it (over the whole key object).
pub fn key_id(key: &Key) -> String {
    let bytes = cjson::encode_serialize(key).expect("a key has no floats");
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::memory::MemorySigner;
    use crate::keys::Signer;
    use crate::tuf::dialect::Dialect;

    #[test]
    fn notary_ecdsa_id_is_the_canonical_id() {
        let k = MemorySigner::generate("t");
        let key = Dialect::Notary.public_key(k.public_key());
        assert_eq!(key_id(&key), crate::keys::canonical_key_id(k.public_key()));
    }
}
