//! Public halves that travel between people: a key holder exports the root key's public key
//! (and, for the Notary dialect, a self-signed certificate for a GUN, signed on the token), and
//! whoever builds root metadata or a delegation names that file where a token would be named.
//! A file holds a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), a `CERTIFICATE`, or both.

use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use super::root_key::public_pem;
use super::session::Session;
use super::uri::KeyRef;
use super::{canonical_key_id, Signer};
use crate::fsio::{self, Overwrite};
use crate::tuf::cert::{self, CertInfo};
use crate::{Error, Result};

/// The most a public key file may be (a key and a certificate are ~1 KB).
const MAX_FILE: u64 = 64 * 1024;

/// A public key read from a file, with its certificate when the file has one.
#[derive(Debug, Clone)]
pub struct PublicKeyFile {
    pub path: PathBuf,
    pub key: p256::PublicKey,
    /// The certificate's PEM as Go writes it (notary's key ID is a hash over this text) and
    /// what it says.
    pub cert: Option<(String, CertInfo)>,
}

impl PublicKeyFile {
    /// Reads `path`: a PEM public key, an x509 certificate (PEM or DER), or both for one key.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = fsio_read_bounded(path)?;
        let (mut key, mut cert) = (None, None);
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(&bytes).map_err(|_| bad("not UTF-8".into()))?;
            for block in crate::pem::blocks(text).map_err(&bad)? {
                if block.label.contains("PRIVATE") {
                    return Err(bad(
                        "it holds a private key; give the public key (`trustkey root export`, \
                         or `openssl pkey -pubout`)"
                            .into(),
                    ));
                }
                let der = block.decode().map_err(&bad)?;
                match block.label {
                    "PUBLIC KEY" if key.is_none() => {
                        use p256::pkcs8::DecodePublicKey;
                        key =
                            Some(p256::PublicKey::from_public_key_der(&der).map_err(|_| {
                                bad("its PUBLIC KEY is not an ECDSA P-256 key".into())
                            })?);
                    }
                    "CERTIFICATE" if cert.is_none() => cert = Some(certificate(&der, &bad)?),
                    "PUBLIC KEY" | "CERTIFICATE" => {
                        return Err(bad(format!("it holds more than one {}", block.label)))
                    }
                    _ => {}
                }
            }
        } else {
            cert = Some(certificate(&bytes, &bad)?);
        }
        let key =
            match (key, &cert) {
                (Some(k), Some((_, c))) if k != c.public_key => {
                    return Err(bad(
                        "its public key and its certificate are for different keys".into(),
                    ))
                }
                (Some(k), _) => k,
                (None, Some((_, c))) => c.public_key,
                (None, None) => return Err(bad(
                    "no PEM PUBLIC KEY or CERTIFICATE in it (`trustkey root export` writes one)"
                        .into(),
                )),
            };
        Ok(PublicKeyFile {
            path: path.to_path_buf(),
            key,
            cert,
        })
    }

    /// The certificate for `gun` a Notary-dialect root needs: its CN must be the GUN, its
    /// self-signature must hold, and it must be valid `now`.
    pub fn certificate_for(&self, gun: &str, now: OffsetDateTime) -> Result<&str> {
        let bad = |reason: String| Error::KeyFile {
            path: self.path.clone(),
            reason,
        };
        let Some((pem, info)) = &self.cert else {
            return Err(bad(format!(
                "a notary root key needs a certificate for {gun}: export it with `trustkey root \
                 export --token URI --gun {gun}`"
            )));
        };
        if info.common_name != gun {
            return Err(bad(format!(
                "its certificate is for {:?}, not {gun}",
                info.common_name
            )));
        }
        if !info.self_signed_ok {
            return Err(bad(
                "its certificate's self-signature does not verify".into()
            ));
        }
        if now < info.not_before || now > info.not_after {
            return Err(bad("its certificate is not valid now".into()));
        }
        Ok(pem)
    }
}

fn certificate(der: &[u8], bad: &impl Fn(String) -> Error) -> Result<(String, CertInfo)> {
    let info = cert::parse_certificate(der).map_err(|e| bad(e.to_string()))?;
    Ok((cert::to_pem(der), info))
}

fn fsio_read_bounded(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            reason: format!("over {MAX_FILE} bytes: not a public key file"),
        });
    }
    Ok(bytes)
}

/// Where a root or delegation key is named: a token (`pkcs11:`, `yubikey:`) or a file holding
/// its public half.
#[derive(Debug, Clone)]
pub enum KeySpec {
    Token(KeyRef),
    File(PublicKeyFile),
}

impl KeySpec {
    /// A reference when it has a key reference's scheme, else a file path.
    pub fn parse(s: &str) -> Result<Self> {
        if s.starts_with("pkcs11:") || s.starts_with("yubikey:") {
            Ok(KeySpec::Token(s.parse()?))
        } else {
            Ok(KeySpec::File(PublicKeyFile::read(Path::new(s))?))
        }
    }
}

/// `root export`: what was written.
#[derive(Debug, Serialize)]
pub struct Exported {
    pub key_id: String,
    pub token: String,
    /// The file written, or none when the PEM goes to standard output.
    pub out: Option<String>,
    /// The GUN the certificate is for.
    pub gun: Option<String>,
    /// The PEM text: the public key, then the certificate.
    pub pem: String,
}

/// The public key of the key at `token`, as PEM, and with `gun` a self-signed certificate for
/// it (CN = GUN, notary's validity from `now`), signed on the token. Written to `out` (a new
/// file) when given.
pub fn export(
    session: &Session,
    token: &KeyRef,
    gun: Option<&str>,
    out: Option<&Path>,
    now: OffsetDateTime,
) -> Result<Exported> {
    if let Some(p) = out {
        if p.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; choose another file",
                p.display()
            )));
        }
    }
    let signer: Box<dyn Signer> = session.open_signer(token)?;
    let mut pem = public_pem(signer.public_key());
    if let Some(gun) = gun {
        let (from, until) = cert::default_validity(now);
        let der = cert::root_certificate(signer.as_ref(), gun, from, until)?;
        pem.push_str(&cert::to_pem(&der));
    }
    if let Some(p) = out {
        fsio::write_atomic(p, pem.as_bytes(), fsio::PUBLIC_FILE_MODE, Overwrite::Refuse)?;
    }
    Ok(Exported {
        key_id: canonical_key_id(signer.public_key()),
        token: signer.describe(),
        out: out.map(|p| p.display().to_string()),
        gun: gun.map(str::to_string),
        pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::MemorySigner;

    #[test]
    fn reads_a_key_a_certificate_or_both() {
        let t = tempfile::tempdir().unwrap();
        let k = MemorySigner::generate("k");
        let now = OffsetDateTime::now_utc();
        let (a, b) = cert::default_validity(now);
        let der = cert::root_certificate(&k, "example.com/app", a, b).unwrap();
        let key_pem = public_pem(k.public_key());
        let cert_pem = cert::to_pem(&der);
        for (name, body) in [
            ("k.pub", key_pem.clone().into_bytes()),
            ("k.crt", cert_pem.clone().into_bytes()),
            ("k.der", der.clone()),
            ("both.pem", format!("{key_pem}{cert_pem}").into_bytes()),
        ] {
            let p = t.path().join(name);
            std::fs::write(&p, body).unwrap();
            let f = PublicKeyFile::read(&p).unwrap();
            assert_eq!(f.key, *k.public_key(), "{name}");
            if name != "k.pub" {
                assert_eq!(f.certificate_for("example.com/app", now).unwrap(), cert_pem);
                assert!(f.certificate_for("example.com/other", now).is_err());
            } else {
                assert!(f.certificate_for("example.com/app", now).is_err());
            }
        }
        // A key and a certificate of another key; a private key; nothing.
        let other = MemorySigner::generate("o");
        for (body, needle) in [
            (
                format!("{}{cert_pem}", public_pem(other.public_key())),
                "different keys",
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into(),
                "private key",
            ),
            ("hello".into(), "root certificate"),
            (format!("{key_pem}{key_pem}"), "more than one"),
        ] {
            let p = t.path().join("bad");
            std::fs::write(&p, body).unwrap();
            let e = PublicKeyFile::read(&p).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
