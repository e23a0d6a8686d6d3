//! `trustkey key ...`: repository keys on disk (and where each root key lives).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use super::Ctx;
use crate::keys::canonical_key_id;
use crate::keys::file::{self, KeyMeta};
use crate::repo::fsio::{write_secret, Overwrite};
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Every key in the trust dir: role, GUN, key ID, and the file it lives in.
    #[command(
        after_help = "Examples:\n  trustkey key list\n  trustkey -d ./trust key list --json"
    )]
    List,
    /// Write a key file (still encrypted, with its role and gun headers) to FILE or stdout.
    #[command(after_help = "Examples:\n  trustkey key export 4f2a... --out targets.key")]
    Export {
        /// The key ID (a unique prefix is enough).
        key_id: String,
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Re-encrypt a key file under a new passphrase (atomically: the old file stays until the
    /// new one is complete). The new passphrase is prompted twice, or read from
    /// TRUSTKEY_NEW_PASSPHRASE.
    #[command(after_help = "Examples:\n  trustkey key passwd 4f2a\n  \
                            TRUSTKEY_TARGETS_PASSPHRASE=old TRUSTKEY_NEW_PASSPHRASE=new trustkey key passwd 4f2a")]
    Passwd {
        /// The key ID (a unique prefix is enough).
        key_id: String,
    },
    /// Import a PEM private key (trustkey's, notary's, or openssl's) into the trust dir,
    /// re-encrypted with the role's passphrase.
    #[command(after_help = "\
Examples:
  trustkey key import targets.key                      # role and gun from its PEM headers
  trustkey key import plain.pem --role targets --gun example.com/app")]
    Import {
        file: PathBuf,
        /// Role, when the file has no `role:` header.
        #[arg(long)]
        role: Option<String>,
        /// GUN, when the file has no `gun:` header.
        #[arg(long)]
        gun: Option<String>,
        /// Replace a key with the same ID.
        #[arg(long)]
        force: bool,
    },
}

impl KeyCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self {
            KeyCmd::List => list(ctx),
            KeyCmd::Export { key_id, out } => export(ctx, &key_id, out.as_deref()),
            KeyCmd::Passwd { key_id } => passwd(ctx, &key_id),
            KeyCmd::Import {
                file,
                role,
                gun,
                force,
            } => import(ctx, &file, role, gun, force),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct KeyEntry {
    pub key_id: String,
    pub role: String,
    pub gun: String,
    pub location: String,
}

/// The key files in `TRUSTDIR/private`, sorted by role, GUN and ID.
pub fn key_files(trust_dir: &Path) -> Result<Vec<KeyEntry>> {
    let dir = trust_dir.join("private");
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("key") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let pem = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let meta = file::read_meta(&pem);
        out.push(KeyEntry {
            key_id: stem.to_string(),
            role: meta.as_ref().map(|m| m.role.clone()).unwrap_or_default(),
            gun: meta.map(|m| m.gun).unwrap_or_default(),
            location: path.display().to_string(),
        });
    }
    out.sort_by(|a, b| (&a.role, &a.gun, &a.key_id).cmp(&(&b.role, &b.gun, &b.key_id)));
    Ok(out)
}

fn list(ctx: &Ctx) -> Result<()> {
    let keys = key_files(&ctx.trust_dir)?;
    ctx.output.emit(&keys, |keys| {
        if keys.is_empty() {
            return format!("no keys in {}", ctx.trust_dir.join("private").display());
        }
        let mut s = format!("{:<10} {:<30} {:<64} LOCATION\n", "ROLE", "GUN", "KEY ID");
        for k in keys {
            s += &format!(
                "{:<10} {:<30} {:<64} {}\n",
                k.role, k.gun, k.key_id, k.location
            );
        }
        s
    });
    Ok(())
}

/// The one key file whose ID starts with `prefix`.
fn find_key(trust_dir: &Path, prefix: &str) -> Result<KeyEntry> {
    let mut found: Vec<KeyEntry> = key_files(trust_dir)?
        .into_iter()
        .filter(|k| !prefix.is_empty() && k.key_id.starts_with(prefix))
        .collect();
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(Error::NotFound(format!(
            "no key {prefix} in {}",
            trust_dir.join("private").display()
        ))),
        n => Err(Error::Usage(format!(
            "{n} keys start with {prefix}; give more of the key ID"
        ))),
    }
}

fn export(ctx: &Ctx, prefix: &str, out: Option<&Path>) -> Result<()> {
    let key = find_key(&ctx.trust_dir, prefix)?;
    let pem = std::fs::read(&key.location)
        .map_err(|e| Error::io(format!("reading {}", key.location), e))?;
    match out {
        Some(path) => {
            write_secret(path, &pem, Overwrite::Refuse)?;
            ctx.output.progress(&format!(
                "exported {} key {} to {} (still encrypted)",
                key.role,
                key.key_id,
                path.display()
            ));
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&pem)
                .map_err(|e| Error::io("writing to stdout", e))?;
        }
    }
    Ok(())
}

fn role_of(name: &str) -> Result<KeyRole> {
    Ok(match name {
        "root" => KeyRole::Root,
        "targets" => KeyRole::Targets,
        "snapshot" => KeyRole::Snapshot,
        "timestamp" => KeyRole::Timestamp,
        r if r.starts_with("targets/") => KeyRole::Delegation,
        r => {
            return Err(Error::Usage(format!(
                "unknown role {r:?} (root, targets, snapshot, timestamp, targets/NAME)"
            )))
        }
    })
}

fn import(
    ctx: &Ctx,
    path: &Path,
    role: Option<String>,
    gun: Option<String>,
    force: bool,
) -> Result<()> {
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
    );
    let headers = file::read_meta(&pem);
    let role = role
        .or_else(|| headers.as_ref().map(|m| m.role.clone()))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} has no role: header; pass --role targets|snapshot|timestamp|targets/NAME",
                path.display()
            ))
        })?;
    let key_role = role_of(&role)?;
    if key_role == KeyRole::Root {
        return Err(Error::Usage(
            "root keys live on tokens: use `trustkey root duplicate --from-escrow FILE`".into(),
        ));
    }
    let gun = gun
        .or_else(|| headers.as_ref().map(|m| m.gun.clone()))
        .unwrap_or_default();
    if gun.is_empty() && key_role != KeyRole::Delegation {
        return Err(Error::Usage(format!(
            "{} has no gun: header; pass --gun GUN",
            path.display()
        )));
    }
    let what = format!("{} key {}", role, path.display());
    let secret = if pem.contains("ENCRYPTED PRIVATE KEY") {
        let pass = ctx.with_prompter(|p| unlock_passphrase(key_role, &what, p))?;
        file::decrypt_pem(&pem, &pass, &what)?.0
    } else {
        file::parse_plain_pem(&pem, &what)?.0
    };
    let key_id = canonical_key_id(&secret.public_key());
    let dest = file::key_path(&ctx.trust_dir, &key_id);
    if dest.exists() && !force {
        return Err(Error::Usage(format!(
            "key {key_id} is already in the trust dir ({}); pass --force to replace it",
            dest.display()
        )));
    }
    let new_pass =
        ctx.with_prompter(|p| new_passphrase(key_role, &format!("{role} key {key_id}"), p))?;
    let meta = KeyMeta {
        role: role.clone(),
        gun: gun.clone(),
    };
    let sealed = file::encrypt_pem(&secret, &new_pass, Some(&meta))?;
    write_secret(
        &dest,
        sealed.as_bytes(),
        if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        },
    )?;
    let entry = KeyEntry {
        key_id,
        role,
        gun,
        location: dest.display().to_string(),
    };
    ctx.output.emit(&entry, |e| {
        format!(
            "imported {} key {} for {:?} into {}",
            e.role, e.key_id, e.gun, e.location
        )
    });
    Ok(())
}

fn passwd(ctx: &Ctx, prefix: &str) -> Result<()> {
    let key = find_key(&ctx.trust_dir, prefix)?;
    let role = role_of(&key.role)?;
    let path = PathBuf::from(&key.location);
    let pem = zeroize::Zeroizing::new(
        std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
    );
    let what = format!("{} key {}", key.role, key.key_id);
    let old = ctx.with_prompter(|p| unlock_passphrase(role, &what, p))?;
    let (secret, meta) = file::decrypt_pem(&pem, &old, &what)?;
    let new = match std::env::var("TRUSTKEY_NEW_PASSPHRASE") {
        Ok(v) if !v.is_empty() => {
            crate::secret::check_strength(&v, &what)?;
            secrecy::SecretString::from(v)
        }
        _ => ctx.with_prompter(|p| {
            let a = p.secret(&format!("New passphrase for {what}: "))?;
            let b = p.secret(&format!("Repeat the new passphrase for {what}: "))?;
            use secrecy::ExposeSecret;
            if a.expose_secret() != b.expose_secret() {
                return Err(Error::Passphrase("the two passphrases differ".into()));
            }
            crate::secret::check_strength(a.expose_secret(), &what)?;
            Ok(a)
        })?,
    };
    let meta = meta.unwrap_or(KeyMeta {
        role: key.role.clone(),
        gun: key.gun.clone(),
    });
    let sealed = file::encrypt_pem(&secret, &new, Some(&meta))?;
    write_secret(&path, sealed.as_bytes(), Overwrite::Replace)?;
    ctx.output.emit(&key, |k| {
        format!("{} key {} now uses the new passphrase", k.role, k.key_id)
    });
    Ok(())
}
