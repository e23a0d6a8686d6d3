//! `sign`: a key holder signs a request on their token, on a machine with nothing but the
//! request file and the token (no trust dir, no network).

use std::path::Path;

use serde::Serialize;

use super::apply::read_request;
use crate::fsio::{self, Overwrite};
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, Session};
use crate::tuf::request::{Opened, Request, Summary};
use crate::{Error, Result};

/// A request read and checked, and what its signer is shown (computed from its bytes).
pub struct Reviewed {
    pub request: Request,
    pub opened: Opened,
    pub summary: Summary,
}

/// Reads `path` and recomputes what it asks to sign.
pub fn review(path: &Path) -> Result<Reviewed> {
    let request = read_request(path)?;
    let opened = request
        .open()
        .map_err(|e| Error::Integrity(format!("{}: {e}", path.display())))?;
    let summary = Summary::of(&request, &opened);
    Ok(Reviewed {
        request,
        opened,
        summary,
    })
}

/// What `sign` did.
#[derive(Debug, Serialize)]
pub struct SignedRequest {
    /// The bare key's ID of the key that signed.
    pub key_id: String,
    /// Root metadata's IDs it signed under (a key listed by the new root and the trusted one
    /// under two IDs signs for both).
    pub signed_as: Vec<String>,
    /// Whether the request changed (false: that key had signed it already).
    pub added: bool,
    pub written_to: String,
}

/// Signs the reviewed request with the key at `key` and writes it to `out` (a new file) or
/// back to `path`. A key the request does not need is refused before it signs.
pub fn sign(
    session: &Session,
    path: &Path,
    mut r: Reviewed,
    key: &KeyRef,
    out: Option<&Path>,
) -> Result<SignedRequest> {
    if let Some(o) = out {
        if o.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; choose another file",
                o.display()
            )));
        }
    }
    let signer = session.open_signer(key)?;
    let public = *signer.public_key();
    let key_id = canonical_key_id(&public);
    let ids = Request::key_ids_for(&r.opened, &public);
    if ids.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds key {key_id}, which is not one of the root keys this request needs",
            signer.describe()
        )));
    }
    let d = r.opened.dialect;
    let sig = signer.sign(&r.opened.bytes)?;
    if !crate::sign::verify(&public, &r.opened.bytes, &sig) {
        return Err(Error::Crypto(format!(
            "{} produced a signature that does not verify",
            signer.describe()
        )));
    }
    let mut added = false;
    for id in &ids {
        added |= r
            .request
            .add_signature(&r.opened, d.encode_signature(id, &sig));
    }
    let text = r.request.to_bytes().map_err(Error::Metadata)?;
    let to = out.unwrap_or(path);
    if added || out.is_some() {
        let overwrite = match out {
            Some(_) => Overwrite::Refuse,
            None => Overwrite::Replace,
        };
        fsio::write_atomic(to, &text, fsio::PUBLIC_FILE_MODE, overwrite)?;
    }
    Ok(SignedRequest {
        key_id,
        signed_as: ids,
        added,
        written_to: to.display().to_string(),
    })
}
