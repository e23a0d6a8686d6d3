//! The keys that sign delegated roles: opened for a publish (tokens and key files), and made
//! new on disk (a delegation's `new` key, the hashed bins' key).

use std::collections::{BTreeMap, BTreeSet};

use super::{DelegationKey, KeyLocation};
use crate::fsio::Overwrite;
use crate::keys::file::{encrypt_pem, KeyMeta};
use crate::keys::store::{load_signer, write_key};
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, MemorySigner, Session, Signer};
use crate::repo::trustdir::{RepoConfig, TrustDir};
use crate::secret::{unlock_passphrase, KeyRole};
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::short;
use crate::{Error, Result};

/// Signers of delegated roles, by the key ID delegations list (one key may sign many roles:
/// the hashed bins share one).
pub type DelegationSigners = BTreeMap<String, Box<dyn Signer>>;

/// Opens the keys that sign `roles`: tokens (one login per token) and key files (the
/// delegation passphrase). A token that is not plugged in is skipped, with a notice
/// (publishing then says which role lacks signatures); any other failure stops here.
pub fn open_signers(
    session: &Session,
    td: &TrustDir,
    cfg: &RepoConfig,
    roles: &BTreeSet<String>,
) -> Result<DelegationSigners> {
    let mut wanted: BTreeMap<String, (&DelegationKey, &str)> = BTreeMap::new();
    let specs = cfg.delegated_roles();
    for spec in &specs {
        if roles.contains(&spec.role.name) {
            for k in &spec.keys {
                wanted
                    .entry(k.key_id.clone())
                    .or_insert((k, &spec.role.name));
            }
        }
    }
    let mut out: DelegationSigners = BTreeMap::new();
    for (id, (k, role)) in wanted {
        let signer: Box<dyn Signer> = match &k.location {
            KeyLocation::Token { uri } => {
                let kr: KeyRef = uri.parse()?;
                match session.open_signer(&kr) {
                    Ok(s) => s,
                    // Not plugged in: the role may have other keys, or keep its old signature.
                    Err(
                        e @ (Error::NotFound(_)
                        | Error::TokenNotFound { .. }
                        | Error::PivNotFound { .. }),
                    ) => {
                        session.prompter().notice(&format!("{role}: {e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            // Its holder signs the role; this publisher only lists the key.
            KeyLocation::Holder { .. } => continue,
            KeyLocation::File { key_file_id } => {
                let path = td.key_path(key_file_id);
                if !path.is_file() {
                    return Err(Error::NotFound(format!(
                        "the {role} key of {} is missing: {} does not exist (restore it from a \
                         backup, or give {role} a new key with `trustkey delegation add`)",
                        cfg.gun,
                        path.display()
                    )));
                }
                let what = format!("the {role} key of {}", cfg.gun);
                let pass =
                    session.with_prompter(|p| unlock_passphrase(KeyRole::Delegation, &what, p))?;
                Box::new(load_signer(&path, &pass, &what)?.0)
            }
        };
        if cfg
            .dialect
            .key_id(&cfg.dialect.public_key(signer.public_key()))
            != id
        {
            return Err(Error::Crypto(format!(
                "{} holds another key than the {role} key {} the delegation lists",
                k.location,
                short(&id)
            )));
        }
        out.insert(id, signer);
    }
    Ok(out)
}

/// A new delegation key on disk, encrypted with `pass` (asked before anything is made), as
/// delegations list it in `dialect`.
pub fn new_key_file(
    td: &TrustDir,
    dialect: Dialect,
    role: &str,
    what: &str,
    pass: &secrecy::SecretString,
) -> Result<DelegationKey> {
    let key = MemorySigner::generate(what);
    let pem = encrypt_pem(&key.secret_key(), pass, Some(&header(dialect, role)))?;
    let id = canonical_key_id(key.public_key());
    write_key(&td.root, &id, &pem, Overwrite::Refuse)?;
    Ok(listed(
        dialect,
        key.public_key(),
        KeyLocation::File { key_file_id: id },
    ))
}

/// A new hashed-bins key on disk (`init --hashed-bins`), with its passphrase asked first.
pub fn new_bins_key(
    td: &TrustDir,
    dialect: Dialect,
    pass: &secrecy::SecretString,
) -> Result<DelegationKey> {
    new_key_file(td, dialect, "bins", "the hashed bins key", pass)
}

/// A public key as delegations list it in `dialect`, and where its private half is.
pub fn listed(dialect: Dialect, pk: &p256::PublicKey, location: KeyLocation) -> DelegationKey {
    let key = dialect.public_key(pk);
    DelegationKey {
        key_id: dialect.key_id(&key),
        key,
        location,
    }
}

/// The PEM `role:` header of a delegation key file: notary's `targets/<name>`; in the TUF
/// dialect `delegation` (the passphrase it takes), whatever the role's name.
fn header(dialect: Dialect, role: &str) -> KeyMeta {
    match dialect {
        Dialect::Notary => KeyMeta::new(role, ""),
        Dialect::Tuf => KeyMeta::new("delegation", ""),
    }
}
