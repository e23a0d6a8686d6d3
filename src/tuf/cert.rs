//! The Notary root certificate: self-signed X.509, CN = GUN, signed through a `Signer`.
// STUB until keys-file merges: signatures as agreed; the real implementation lands from main.

use crate::keys::Signer;
use crate::Result;

#[derive(Debug, Clone)]
pub struct CertInfo {
    pub common_name: String,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
    pub public_key: p256::PublicKey,
    pub self_signed_ok: bool,
}

pub fn root_certificate(
    _signer: &dyn Signer,
    _gun: &str,
    _not_before: time::OffsetDateTime,
    _not_after: time::OffsetDateTime,
) -> Result<Vec<u8>> {
    unimplemented!("STUB until keys-file merges")
}

pub fn to_pem(_der: &[u8]) -> String {
    unimplemented!("STUB until keys-file merges")
}

pub fn parse_certificate(_pem_or_der: &[u8]) -> Result<CertInfo> {
    unimplemented!("STUB until keys-file merges")
}
