//! The Notary root certificate: self-signed X.509, CN = GUN, signed through a `Signer`.
