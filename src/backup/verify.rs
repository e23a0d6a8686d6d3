//! Verifying a backup: every key decrypts with its role's passphrase and is named after its
//! key ID; each is matched against the root metadata the trust dir holds.

use std::collections::HashMap;
use std::path::Path;

use secrecy::SecretString;
use serde::Serialize;

use super::archive::{read_archive, Archive};
use crate::error::Error;
use crate::keys::canonical_key_id;
use crate::keys::file::decrypt_pem;
use crate::repo::trustdir::TrustDir;
use crate::secret::{unlock_passphrase, KeyRole, Prompter};
use crate::tuf::keyid::short;
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    /// Not a key (a file in private/ whose name does not end in `.key`).
    Skipped,
}

#[derive(Debug, Serialize)]
pub struct KeyCheck {
    /// Path inside the archive.
    pub path: String,
    /// The key ID the file name claims (its stem), or the escrow file's name.
    pub key_id: String,
    /// The canonical key ID of the decrypted key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_key_id: Option<String>,
    pub role: Option<String>,
    pub gun: Option<String>,
    pub escrow: bool,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the trust dir's current root metadata lists this key, when its repository is
    /// known there (`match_published`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub archive: String,
    pub ok: bool,
    pub keys: Vec<KeyCheck>,
}

impl VerifyReport {
    pub fn failed(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.status == Status::Failed)
            .count()
    }
    pub fn checked(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| k.status != Status::Skipped)
            .count()
    }

    /// The verdict on the backup: the number of keys checked when every one of them passed, an
    /// `Error::Integrity` when one failed or the backup holds no keys at all.
    pub fn verdict(&self) -> Result<usize> {
        let failed = self.failed();
        if failed > 0 {
            return Err(Error::Integrity(format!(
                "{}: {failed} of {} key(s) failed verification",
                self.archive,
                self.checked()
            )));
        }
        match self.checked() {
            0 => Err(Error::Integrity(format!(
                "{}: the backup holds no keys",
                self.archive
            ))),
            n => Ok(n),
        }
    }
}

/// Old notary releases named keys `<keyid>_<role>.key` (under `root_keys/` and
/// `tuf_keys/<gun>/`); today's name is `<keyid>.key`. Returns the key ID and the legacy role.
fn split_legacy_name(stem: &str) -> (&str, Option<&str>) {
    match stem.split_once('_') {
        Some((id, role))
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !role.is_empty() =>
        {
            (id, Some(role))
        }
        _ => (stem, None),
    }
}

fn env_passphrase_set(role: KeyRole) -> bool {
    role.env_vars()
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Verifies the backup at `path` in full: reads and checks the archive (`read_archive`),
/// decrypts every key (`verify`) and matches them against the trust dir's root metadata
/// (`match_published`). The report says which keys failed; see [`VerifyReport::verdict`].
pub fn verify_file(
    path: &Path,
    td: &TrustDir,
    prompter: &mut dyn Prompter,
) -> Result<VerifyReport> {
    let archive = read_archive(path)?;
    let mut report = verify(&archive, prompter);
    match_published(&mut report, td)?;
    Ok(report)
}

/// Matches each decrypted key against the current root metadata of the repositories the trust
/// dir knows: a key listed for another role than its file says fails; a key of a known
/// repository that root no longer lists is reported (retired or replaced), not failed.
pub fn match_published(report: &mut VerifyReport, td: &TrustDir) -> Result<()> {
    let known: Vec<String> = crate::repo::retire::guns(td)?
        .iter()
        .map(|g| g.as_str().to_string())
        .collect();
    for k in report.keys.iter_mut().filter(|k| k.status == Status::Ok) {
        let Some(id) = k.actual_key_id.clone() else {
            continue;
        };
        let uses = crate::repo::retire::key_uses(td, &id)?;
        if let Some(u) = uses.first() {
            let claimed = k.role.as_deref().unwrap_or("root");
            let delegation = KeyRole::for_role(claimed) == Some(KeyRole::Delegation);
            if !k.escrow
                && uses
                    .iter()
                    .all(|u| u.role != claimed && !(delegation && u.is_delegation()))
            {
                k.status = Status::Failed;
                k.error = Some(format!(
                    "the file says {claimed}, but the current root of {} lists this key for {}",
                    u.gun, u.role
                ));
            }
            k.published = Some(
                uses.iter()
                    .map(|u| {
                        if u.is_delegation() {
                            format!("{} delegation {}", u.gun, u.role)
                        } else {
                            format!("{} root v{}: {}", u.gun, u.root_version, u.role)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        } else if let Some(gun) = k.gun.as_deref().filter(|g| known.iter().any(|x| x == g)) {
            k.published = Some(format!(
                "not listed by the current root of {gun} (retired or replaced)"
            ));
        }
    }
    report.ok = report.failed() == 0;
    Ok(())
}

/// Decrypts every key in `archive` with its role's passphrase (env vars, else `prompter`) and
/// checks that each file in `private/` is named after its key's canonical ID.
/// Root escrow files are decrypted with the root passphrase; their names are free.
pub fn verify(archive: &Archive, prompter: &mut dyn Prompter) -> VerifyReport {
    // Cheap checks for every entry first; passphrases only after.
    struct Todo<'a> {
        pem: Option<&'a str>,
        role: Option<KeyRole>,
    }
    let mut checks = Vec::new();
    let mut todo = Vec::new();
    for (path, bytes) in archive.files() {
        let escrow = path.starts_with("escrow/");
        let file_name = path.rsplit('/').next().unwrap_or(path);
        let (key_id, legacy_role) = match file_name.strip_suffix(".key") {
            Some(stem) if !escrow => split_legacy_name(stem),
            _ => (file_name, None),
        };
        let mut check = KeyCheck {
            path: path.to_string(),
            key_id: key_id.to_string(),
            actual_key_id: None,
            role: None,
            gun: None,
            escrow,
            published: None,
            status: Status::Failed,
            error: None,
        };
        let mut t = Todo {
            pem: None,
            role: None,
        };
        if !escrow && !file_name.ends_with(".key") {
            check.status = Status::Skipped;
            check.error = Some("not a key file (name does not end in .key)".into());
        } else {
            match std::str::from_utf8(bytes) {
                Err(_) => check.error = Some("not a PEM text file".into()),
                Ok(pem) => {
                    t.pem = Some(pem);
                    let meta = crate::keys::file::read_meta(pem);
                    check.role = meta
                        .as_ref()
                        .map(|m| m.role.clone())
                        .filter(|r| !r.is_empty())
                        .or(legacy_role.map(String::from));
                    check.gun = meta.map(|m| m.gun).filter(|g| !g.is_empty());
                    if escrow {
                        t.role = Some(KeyRole::Root);
                        check.role.get_or_insert_with(|| "root".into());
                    } else {
                        match check.role.as_deref() {
                            None => {
                                check.error = Some(
                                    "no `role:` PEM header; cannot tell which passphrase \
                                     unlocks it"
                                        .into(),
                                )
                            }
                            Some(r) => match KeyRole::for_role(r) {
                                Some(k) => t.role = Some(k),
                                None => check.error = Some(format!("unknown role {r:?}")),
                            },
                        }
                    }
                }
            }
        }
        checks.push(check);
        todo.push(t);
    }

    let mut known: HashMap<&'static str, SecretString> = HashMap::new();
    for (check, t) in checks.iter_mut().zip(&todo) {
        let (Some(pem), Some(role)) = (t.pem, t.role) else {
            continue;
        };
        let what = format!(
            "{} key {} (backup entry {})",
            check.role.as_deref().unwrap_or(role.name()),
            short(&check.key_id),
            check.path
        );
        let outcome = (|| -> Result<p256::SecretKey> {
            let cached = known.get(role.name()).cloned();
            let first = match &cached {
                Some(p) => p.clone(),
                None => unlock_passphrase(role, &what, prompter)?,
            };
            match decrypt_pem(pem, &first, &what) {
                Ok((key, _)) => {
                    known.insert(role.name(), first);
                    Ok(key)
                }
                // A passphrase that opened another key of this role may not open this one:
                // ask (a variable would only give the same answer again).
                Err(Error::WrongPassphrase { .. })
                    if cached.is_some() && !env_passphrase_set(role) =>
                {
                    let again = unlock_passphrase(role, &what, prompter)?;
                    let (key, _) = decrypt_pem(pem, &again, &what)?;
                    known.insert(role.name(), again);
                    Ok(key)
                }
                Err(e) => Err(e),
            }
        })();
        match outcome {
            Err(e @ (Error::PinUnavailable(_) | Error::SecretUnavailable { .. })) => {
                check.error = Some(format!("{e}; set {}", role.env_vars().join(" or ")))
            }
            Err(e) => check.error = Some(e.to_string()),
            Ok(key) => {
                let id = canonical_key_id(&key.public_key());
                if !check.escrow && id != check.key_id {
                    check.error = Some(format!(
                        "the file name says key ID {} but the key inside has ID {id}",
                        check.key_id
                    ));
                } else {
                    check.status = Status::Ok;
                }
                check.actual_key_id = Some(id);
            }
        }
    }
    let ok = checks.iter().all(|c| c.status != Status::Failed)
        && checks.iter().any(|c| c.status == Status::Ok);
    VerifyReport {
        archive: archive.name.clone(),
        ok,
        keys: checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_file_names() {
        let id = "ab".repeat(32);
        assert_eq!(
            split_legacy_name(&format!("{id}_root")),
            (id.as_str(), Some("root"))
        );
        assert_eq!(split_legacy_name(&id), (id.as_str(), None));
        assert_eq!(split_legacy_name("my_key"), ("my_key", None));
    }

    fn report_of(statuses: &[Status]) -> VerifyReport {
        VerifyReport {
            archive: "b.tgz".into(),
            ok: false,
            keys: statuses
                .iter()
                .map(|&status| KeyCheck {
                    path: "private/x.key".into(),
                    key_id: "x".into(),
                    actual_key_id: None,
                    role: None,
                    gun: None,
                    escrow: false,
                    status,
                    error: None,
                    published: None,
                })
                .collect(),
        }
    }

    #[test]
    fn verdict() {
        use Status::*;
        assert_eq!(report_of(&[Ok, Skipped, Ok]).verdict().unwrap(), 2);
        let err = report_of(&[Ok, Failed, Skipped]).verdict().unwrap_err();
        assert!(matches!(err, Error::Integrity(_)), "{err:?}");
        assert_eq!(err.to_string(), "b.tgz: 1 of 2 key(s) failed verification");
        for empty in [&[][..], &[Skipped]] {
            let err = report_of(empty).verdict().unwrap_err();
            assert!(matches!(err, Error::Integrity(_)), "{err:?}");
            assert_eq!(err.to_string(), "b.tgz: the backup holds no keys");
        }
    }
}
