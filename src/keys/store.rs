//! The key store: repository keys in the trust dir's `private/` directory, one encrypted file per
//! key named after its key ID, as notary keeps them. The file format is `file`'s.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::file::{decrypt_pem, decrypt_pem_at, encrypt_pem, parse_plain_pem, read_meta, KeyMeta};
use crate::fsio::{write_secret, Overwrite};
use crate::secret::{
    new_passphrase, replacement_passphrase, unlock_passphrase, KeyRole, SharedPrompter,
};
use crate::sign::MemorySigner;
use crate::tuf::keyid::canonical_key_id;
use crate::{Error, Result};

/// Where notary and trustkey keep a repository key: `TRUSTDIR/private/<key_id>.key`.
pub fn key_path(trust_dir: &Path, key_id: &str) -> PathBuf {
    trust_dir.join("private").join(format!("{key_id}.key"))
}

/// Writes an encrypted key to [`key_path`]: atomically, 0600 in a 0700 directory. `key_id` must
/// be a hex key ID (it becomes a file name). Returns the path written.
pub fn write_key(
    trust_dir: &Path,
    key_id: &str,
    pem: &str,
    overwrite: Overwrite,
) -> Result<PathBuf> {
    if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "invalid key ID {key_id:?}: expected a hex string"
        )));
    }
    let path = key_path(trust_dir, key_id);
    // Never through a symbolic link, into a directory others can read (issue 20, defect 14).
    crate::fsio::create_private_dir(&trust_dir.join("private"))?;
    write_secret(&path, pem.as_bytes(), overwrite)?;
    Ok(path)
}

/// Reads and decrypts the key file at `path` into a signer. `what` names it in prompts, errors
/// and the signer's description.
pub fn load_signer(
    path: &Path,
    passphrase: &SecretString,
    what: &str,
) -> Result<(MemorySigner, Option<KeyMeta>)> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
    );
    let (secret, meta) = decrypt_pem_at(&text, passphrase, path, what)?;
    Ok((MemorySigner::from_secret_key(&secret, what), meta))
}

/// A key file to bring into the store (`key import`): trustkey's, notary's, or a plain PKCS#8
/// key from openssl.
#[derive(Debug)]
pub struct Import<'a> {
    pub file: &'a Path,
    /// The role, when the file has no `role:` header.
    pub role: Option<String>,
    /// The GUN, when the file has no `gun:` header.
    pub gun: Option<String>,
    /// Replace a stored key with the same ID.
    pub replace: bool,
}

/// A key in the store, as an import or a passphrase change left it.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key_id: String,
    pub role: String,
    pub gun: String,
    pub path: PathBuf,
}

/// The passphrase role of a key's `role:` header.
pub fn key_role(name: &str) -> Result<KeyRole> {
    KeyRole::for_role(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown role {name:?} (root, targets, snapshot, timestamp, targets/NAME, or a \
             delegated role's name)"
        ))
    })
}

/// Imports a key into the store, re-encrypted with the role's passphrase (asked through
/// `prompter`, or from the environment). Root keys are refused: they live on tokens.
pub fn import(trust_dir: &Path, req: &Import<'_>, prompter: &SharedPrompter) -> Result<Stored> {
    let path = req.file;
    let pem = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
    );
    let headers = read_meta(&pem);
    let role = req
        .role
        .clone()
        .or_else(|| headers.as_ref().map(|m| m.role.clone()))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} has no role: header; pass --role targets|snapshot|timestamp|targets/NAME",
                path.display()
            ))
        })?;
    let kind = key_role(&role)?;
    if kind == KeyRole::Root {
        return Err(Error::Usage(
            "root keys live on tokens: use `trustkey root duplicate --from-escrow FILE`".into(),
        ));
    }
    let gun = req
        .gun
        .clone()
        .or_else(|| headers.as_ref().map(|m| m.gun.clone()))
        .unwrap_or_default();
    if gun.is_empty() && kind != KeyRole::Delegation {
        return Err(Error::Usage(format!(
            "{} has no gun: header; pass --gun GUN",
            path.display()
        )));
    }
    let what = format!("{} key {}", role, path.display());
    let secret = if pem.contains("ENCRYPTED PRIVATE KEY") {
        let pass = prompter.with(|p| unlock_passphrase(kind, &what, p))?;
        decrypt_pem(&pem, &pass, &what)?.0
    } else {
        parse_plain_pem(&pem, &what)?.0
    };
    let key_id = canonical_key_id(&secret.public_key());
    let dest = key_path(trust_dir, &key_id);
    if dest.exists() && !req.replace {
        return Err(Error::Usage(format!(
            "key {key_id} is already in the trust dir ({}); pass --force to replace it",
            dest.display()
        )));
    }
    let new_pass = prompter.with(|p| new_passphrase(kind, &format!("{role} key {key_id}"), p))?;
    let meta = KeyMeta {
        role: role.clone(),
        gun: gun.clone(),
    };
    let sealed = encrypt_pem(&secret, &new_pass, Some(&meta))?;
    let overwrite = if req.replace {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    crate::fsio::create_private_dir(&trust_dir.join("private"))?;
    write_secret(&dest, sealed.as_bytes(), overwrite)?;
    Ok(Stored {
        key_id,
        role,
        gun,
        path: dest,
    })
}

/// Re-encrypts the stored key `key` under a new passphrase (from `TRUSTKEY_NEW_PASSPHRASE`, or
/// asked twice), atomically: the old file stays until the new one is complete. A file without
/// headers gets `key`'s role and GUN.
pub fn change_passphrase(key: &Stored, prompter: &SharedPrompter) -> Result<()> {
    let role = key_role(&key.role)?;
    let path = &key.path;
    let pem = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
    );
    let what = format!("{} key {}", key.role, key.key_id);
    let old = prompter.with(|p| unlock_passphrase(role, &what, p))?;
    let (secret, meta) = decrypt_pem(&pem, &old, &what)?;
    let new = prompter.with(|p| replacement_passphrase(&what, p))?;
    let meta = meta.unwrap_or(KeyMeta {
        role: key.role.clone(),
        gun: key.gun.clone(),
    });
    let sealed = encrypt_pem(&secret, &new, Some(&meta))?;
    write_secret(path, sealed.as_bytes(), Overwrite::Replace)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use secrecy::SecretString;

    use super::*;
    use crate::keys::file::encrypt_pem;
    use crate::sign::Signer as _;

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn write_and_load_signer() {
        let dir = tempfile::tempdir().unwrap();
        let trust = dir.path().join("trust");
        let signer = MemorySigner::generate("t");
        let id = crate::keys::canonical_key_id(signer.public_key());
        let meta = KeyMeta::new("snapshot", "example.com/app");
        let pem = encrypt_pem(&signer.secret_key(), &pass("load me please"), Some(&meta)).unwrap();

        let path = write_key(&trust, &id, &pem, Overwrite::Refuse).unwrap();
        assert_eq!(path, trust.join("private").join(format!("{id}.key")));
        assert_eq!(path, key_path(&trust, &id));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(write_key(&trust, &id, &pem, Overwrite::Refuse).is_err());
        assert!(write_key(&trust, "../evil", &pem, Overwrite::Refuse).is_err());

        let (loaded, got) = load_signer(&path, &pass("load me please"), "snapshot key").unwrap();
        assert_eq!(loaded.public_key(), signer.public_key());
        assert_eq!(got, Some(meta));
        assert_eq!(loaded.describe(), "snapshot key");
        match load_signer(&path, &pass("not this one"), "snapshot key") {
            Err(Error::WrongPassphrase { what }) => assert_eq!(what, "snapshot key"),
            _ => panic!("expected WrongPassphrase"),
        }
        std::fs::write(&path, "garbage").unwrap();
        match load_signer(&path, &pass("load me please"), "snapshot key") {
            Err(Error::KeyFile { path: p, .. }) => assert_eq!(p, path),
            _ => panic!("expected KeyFile"),
        }
        assert!(matches!(
            load_signer(&trust.join("missing.key"), &pass("x"), "m"),
            Err(Error::Io { .. })
        ));
    }
}
