//! The key store: repository keys in the trust dir's `private/` directory, one encrypted file per
//! key named after its key ID, as notary keeps them. The file format is `file`'s.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::file::{decrypt_pem_at, KeyMeta};
use crate::fsio::{write_secret, Overwrite};
use crate::sign::MemorySigner;
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
