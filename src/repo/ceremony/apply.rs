//! `apply`: signed copies of a request, merged and checked, made the repository's next root.
//! Refusals are one line and change nothing.

use std::path::{Path, PathBuf};

use super::{finish, Applied, PENDING_FILE};
use crate::keys::Session;
use crate::repo::trustdir::{read_optional, Gun, TrustDir};
use crate::tuf::keyid::short;
use crate::tuf::request::{Request, MAX_REQUEST};
use crate::{Error, Result};

/// Reads a request file (bounded), one line of error naming it.
pub fn read_request(path: &Path) -> Result<Request> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let mut bytes = Vec::new();
    f.take(MAX_REQUEST + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if bytes.len() as u64 > MAX_REQUEST {
        return Err(Error::Usage(format!(
            "{}: over {MAX_REQUEST} bytes: not a signing request",
            path.display()
        )));
    }
    Request::parse(&bytes).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// Merges the signatures of `files` (copies of one request) into the request waiting in
/// `td`, checks them (each by a key the request needs and valid over its root; each threshold
/// met by distinct keys), and makes the root the repository's. `gun`, when given, must be the
/// request's.
pub fn apply(
    session: &Session,
    td: &TrustDir,
    files: &[PathBuf],
    gun: Option<&Gun>,
) -> Result<Applied> {
    let mut reqs = Vec::new();
    for f in files {
        reqs.push((f, read_request(f)?));
    }
    let Some((first_file, first)) = reqs.first() else {
        return Err(Error::Usage("name at least one request file".into()));
    };
    let req_gun: Gun = first.gun.parse()?;
    for (f, r) in &reqs {
        if r.gun != first.gun {
            return Err(Error::Usage(format!(
                "{} is a request for {}, {} one for {}: apply them one repository at a time",
                f.display(),
                crate::text::printable(&r.gun),
                first_file.display(),
                req_gun
            )));
        }
    }
    if let Some(g) = gun {
        if *g != req_gun {
            return Err(Error::Usage(format!(
                "{} is a request for {req_gun}, not {g}",
                first_file.display()
            )));
        }
    }
    let gun = req_gun;
    td.load_config(&gun)?;
    let _lock = td.lock(&gun, |m| session.prompter().notice(m))?;
    let mut cfg = td.load_config(&gun)?;
    let Some(pending) = cfg.pending_root.clone() else {
        return Err(Error::Usage(format!(
            "no root of {gun} waits for signatures in {}: the request was made elsewhere, or \
             was applied already",
            td.root.display()
        )));
    };
    let pending_path = td.gun_dir(&gun).join(PENDING_FILE);
    let bytes = read_optional(&pending_path)?.ok_or_else(|| {
        Error::NotFound(format!(
            "{gun}: the request waiting for signatures ({}) is missing",
            pending_path.display()
        ))
    })?;
    let mut merged = Request::parse(&bytes)
        .map_err(|e| Error::Metadata(format!("{}: {e}", pending_path.display())))?;
    for (f, r) in &reqs {
        if r.signed != merged.signed || r.previous != merged.previous || r.dialect != merged.dialect
        {
            return Err(Error::Integrity(format!(
                "{}: its root is not the root v{} (sha256 {}) waiting for signatures in {gun}: \
                 it was edited after it was made, or was made for another repository",
                f.display(),
                pending.version,
                short(&pending.sha256)
            )));
        }
        merged.merge(r).map_err(Error::Integrity)?;
    }
    let opened = merged
        .open()
        .map_err(|e| Error::Integrity(format!("{}: {e}", first_file.display())))?;
    // The trusted root it follows must still be the publisher's.
    if let Some((prev, _)) = &opened.previous {
        let current = td.read_published(&gun, "root.json")?;
        if current.as_deref() != Some(&prev.bytes[..]) {
            return Err(Error::Integrity(format!(
                "{gun}: the request follows a root that is no longer the repository's root"
            )));
        }
    }
    finish(td, &mut cfg, &merged, &opened, pending)
}
