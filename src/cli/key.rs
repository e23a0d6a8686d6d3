//! `trustkey key ...`: repository keys on disk (and where each root key lives).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;

use super::Ctx;
use crate::fsio::{write_secret, Overwrite};
use crate::keys::file::{self, KeyMeta};
use crate::keys::uri::KeyRef;
use crate::keys::{canonical_key_id, store, MemorySigner, Signer};
use crate::repo::expiry::{Expiries, ExpiryArg};
use crate::repo::retire::{self, retired_dir};
use crate::repo::root::{self as reroot, Change};
use crate::repo::trustdir::{Gun, RetiredKey, TrustDir};
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::tuf::model::RoleName;
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Every key in the trust dir: role, GUN, key ID, where it lives (key file, or the token
    /// URI of each repository's root key), and whether it is active or retired.
    #[command(
        after_help = "Examples:\n  trustkey key list\n  trustkey -d ./trust key list --json"
    )]
    List,
    /// Replace a repository key (targets, snapshot or timestamp) with a new one: root metadata
    /// is re-signed on the token (version + 1, the new key ID in the role), the old key is
    /// retired (moved to TRUSTDIR/private/retired/, kept until `key remove`). The old key is
    /// not needed: this is how to recover when a repository key is lost. The next `publish`
    /// signs the role with the new key and publishes the new root.
    #[command(after_help = "\
The new key's passphrase is prompted twice, or read from TRUSTKEY_<ROLE>_PASSPHRASE (or NOTARY_*).

Examples:
  trustkey key rotate example.com/app targets
  trustkey publish example.com/app --repo /srv/trust
  # the root key is on another token than the one recorded at init
  trustkey key rotate example.com/app snapshot --root 'pkcs11:token=rootB;object=root'")]
    Rotate {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// targets, snapshot or timestamp.
        role: RoleName,
        /// The root key to sign with (default: the one recorded for the GUN).
        #[arg(long, value_name = "URI")]
        root: Option<String>,
        /// How long the new root metadata is valid: root=DURATION (default 10y).
        #[arg(long, value_name = "ROLE=DURATION")]
        expires: Vec<ExpiryArg>,
    },
    /// Delete a key file. Refused while the current root metadata of a repository in the trust
    /// dir lists the key for a role (rotate it first), unless --force; retired keys go freely.
    #[command(
        after_help = "Examples:\n  trustkey key remove 4f2a\n  trustkey key remove 4f2a --force"
    )]
    Remove {
        /// The key ID (a unique prefix is enough).
        key_id: String,
        /// Delete it even though metadata still needs it (that role can then not be signed
        /// until it is rotated).
        #[arg(long)]
        force: bool,
    },
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
            KeyCmd::Rotate {
                gun,
                role,
                root,
                expires,
            } => rotate(ctx, gun, role, root, &expires),
            KeyCmd::Remove { key_id, force } => remove(ctx, &key_id, force),
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
    /// `active`, or `retired` (rotated out, kept until `key remove`).
    pub status: &'static str,
}

pub const ACTIVE: &str = "active";
pub const RETIRED: &str = "retired";

/// The key files in `TRUSTDIR/private` and `TRUSTDIR/private/retired`, active first, then by
/// role, GUN and ID.
pub fn key_files(trust_dir: &Path) -> Result<Vec<KeyEntry>> {
    let td = TrustDir::new(trust_dir);
    let mut out = key_files_in(&td.private_dir(), ACTIVE)?;
    out.extend(key_files_in(&retired_dir(&td), RETIRED)?);
    out.sort_by(|a, b| {
        (a.status, &a.role, &a.gun, &a.key_id).cmp(&(b.status, &b.role, &b.gun, &b.key_id))
    });
    Ok(out)
}

fn key_files_in(dir: &Path, status: &'static str) -> Result<Vec<KeyEntry>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
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
            status,
        });
    }
    Ok(out)
}

/// The root keys the repositories in the trust dir use (and have retired), from their configs.
pub fn root_keys(trust_dir: &Path) -> Result<Vec<KeyEntry>> {
    let td = TrustDir::new(trust_dir);
    let mut out = Vec::new();
    for cfg in retire::configs(&td)? {
        out.push(KeyEntry {
            key_id: cfg.root_key_id.clone(),
            role: RoleName::Root.to_string(),
            gun: cfg.gun.to_string(),
            location: cfg.root_key.clone(),
            status: ACTIVE,
        });
        for r in cfg.retired.iter().filter(|r| r.role == RoleName::Root) {
            out.push(KeyEntry {
                key_id: r.key_id.clone(),
                role: RoleName::Root.to_string(),
                gun: cfg.gun.to_string(),
                location: r.location.clone(),
                status: RETIRED,
            });
        }
    }
    Ok(out)
}

/// Delegation keys on tokens (the ones on disk are key files), from every repository's config.
fn delegation_token_keys(trust_dir: &Path) -> Result<Vec<KeyEntry>> {
    let td = TrustDir::new(trust_dir);
    let mut out = Vec::new();
    for cfg in retire::configs(&td)? {
        for d in &cfg.delegations {
            for k in &d.keys {
                if let crate::repo::delegations::KeyLocation::Token { uri } = &k.location {
                    out.push(KeyEntry {
                        key_id: k.key_id.clone(),
                        role: d.name.clone(),
                        gun: cfg.gun.to_string(),
                        location: uri.clone(),
                        status: ACTIVE,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn list(ctx: &Ctx) -> Result<()> {
    let mut keys = root_keys(&ctx.trust_dir)?;
    keys.extend(delegation_token_keys(&ctx.trust_dir)?);
    keys.extend(key_files(&ctx.trust_dir)?);
    keys.sort_by(|a, b| {
        (a.status, &a.role, &a.gun, &a.key_id).cmp(&(b.status, &b.role, &b.gun, &b.key_id))
    });
    ctx.output.emit(&keys, |keys| {
        if keys.is_empty() {
            return format!("no keys in {}", ctx.trust_dir.join("private").display());
        }
        let mut s = format!(
            "{:<10} {:<30} {:<64} {:<8} LOCATION\n",
            "ROLE", "GUN", "KEY ID", "STATUS"
        );
        for k in keys {
            s += &format!(
                "{:<10} {:<30} {:<64} {:<8} {}\n",
                k.role, k.gun, k.key_id, k.status, k.location
            );
        }
        s
    });
    Ok(())
}

/// The one key file whose ID starts with `prefix`.
pub(crate) fn find_key(trust_dir: &Path, prefix: &str) -> Result<KeyEntry> {
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
    KeyRole::for_role(name).ok_or_else(|| {
        Error::Usage(format!(
            "unknown role {name:?} (root, targets, snapshot, timestamp, targets/NAME, or a \
             delegated role's name)"
        ))
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
    let dest = store::key_path(&ctx.trust_dir, &key_id);
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
        status: ACTIVE,
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

#[derive(Debug, Serialize)]
struct Rotated {
    #[serde(flatten)]
    resigned: reroot::Resigned,
    key_file: String,
    /// Where the old key went (`private/retired/...`), or `None` if its file was already gone.
    retired_to: Option<String>,
}

fn rotate(
    ctx: &Ctx,
    gun: Gun,
    role: RoleName,
    root: Option<String>,
    expires: &[ExpiryArg],
) -> Result<()> {
    if role == RoleName::Root {
        return Err(Error::Usage(format!(
            "the root key is rotated with `trustkey root rotate {gun} --token URI`"
        )));
    }
    let expiries = Expiries::new(expires, &[RoleName::Root])?;
    let root_ref: Option<KeyRef> = root.map(|r| r.parse()).transpose()?;
    let td = TrustDir::new(&ctx.trust_dir);
    td.load_config(&gun)?;
    let _lock = td.lock(&gun, |m| ctx.output.progress(m))?;
    let mut cfg = td.load_config(&gun)?;
    let root_ref = match root_ref {
        Some(r) => r,
        None => cfg.root_key.parse()?,
    };
    // Cheap checks first: the signed root is there, the role exists.
    let (_, current) = reroot::current_root(&td, &gun)?;
    let old_version = current.common.version;
    if cfg.server_signs(role) {
        return Err(Error::Usage(format!(
            "notary-server holds the {role} key of {gun}: rotate it on the server \
             (`notary key rotate {gun} {role} -r`)"
        )));
    }
    let old_id = cfg.key_file_id(role)?.to_string();

    let what = format!("the new {role} key of {gun}");
    let pass = ctx.with_prompter(|p| new_passphrase(KeyRole::from(role), &what, p))?;
    let key = MemorySigner::generate(what.clone());
    let new_id = canonical_key_id(key.public_key());
    let pem = file::encrypt_pem(
        &key.secret_key(),
        &pass,
        Some(&KeyMeta::new(role.as_str(), gun.as_str())),
    )?;
    let signer = ctx.open_signer(&root_ref)?;
    reroot::check_root_signer(&cfg, signer.as_ref())?;
    // The new key is on disk before any metadata names it.
    let path = store::write_key(&ctx.trust_dir, &new_id, &pem, Overwrite::Refuse)?;
    let now = time::OffsetDateTime::now_utc();
    let change = Change::RoleKey {
        role,
        key: *key.public_key(),
    };
    let done = match reroot::resign(&td, &mut cfg, signer.as_ref(), change, &expiries, now) {
        Ok(d) => d,
        Err(e) => {
            // Keep the new key if a root naming it was written; otherwise it is useless.
            let named = reroot::current_root(&td, &gun)
                .map(|(_, r)| r.common.version != old_version)
                .unwrap_or(true);
            if !named {
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
    };
    drop(key);
    let moved = retire::retire_key_file(&td, &old_id)?;
    cfg.retired.push(RetiredKey {
        role,
        key_id: old_id,
        location: moved
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(no key file: it was already gone)".into()),
        root_version: done.root_version,
        retired_at: cfg.dialect.format_time(now),
    });
    td.save_config(&cfg)?;
    let out = Rotated {
        resigned: done,
        key_file: path.display().to_string(),
        retired_to: moved.map(|p| p.display().to_string()),
    };
    ctx.output.emit(&out, |r| {
        let d = &r.resigned;
        format!(
            "rotated the {} key of {}: {} -> {} ({})\n\
             root metadata v{} signed by the root key on {}\n\
             old key retired: {}\n\
             run `trustkey publish {}` to sign {} with the new key and publish root v{}",
            d.role,
            d.gun,
            d.old_key_id,
            d.new_key_id,
            r.key_file,
            d.root_version,
            root_ref,
            r.retired_to
                .as_deref()
                .unwrap_or("its key file was already gone"),
            d.gun,
            d.role,
            d.root_version
        )
    });
    Ok(())
}

#[derive(Debug, Serialize)]
struct Removed {
    key_id: String,
    role: String,
    gun: String,
    location: String,
    status: &'static str,
    /// Where current metadata still listed it (only with --force).
    in_use: Vec<retire::KeyUse>,
}

fn remove(ctx: &Ctx, prefix: &str, force: bool) -> Result<()> {
    let td = TrustDir::new(&ctx.trust_dir);
    let matches = |id: &str| !prefix.is_empty() && id.starts_with(prefix);
    let mut files: Vec<KeyEntry> = key_files(&ctx.trust_dir)?
        .into_iter()
        .filter(|k| matches(&k.key_id))
        .collect();
    if files.is_empty() {
        if let Some(r) = root_keys(&ctx.trust_dir)?
            .into_iter()
            .find(|k| matches(&k.key_id))
        {
            return Err(Error::Usage(format!(
                "{} is the {} root key of {}, on {}; root keys live on tokens and trustkey does \
                 not delete them (after `trustkey root rotate`, wipe or store the old token)",
                r.key_id, r.status, r.gun, r.location
            )));
        }
        return Err(Error::NotFound(format!(
            "no key {prefix} in {}",
            td.private_dir().display()
        )));
    }
    let ids: std::collections::BTreeSet<&str> = files.iter().map(|k| k.key_id.as_str()).collect();
    if ids.len() > 1 {
        return Err(Error::Usage(format!(
            "{} keys start with {prefix}; give more of the key ID",
            ids.len()
        )));
    }
    // The same key may be both active and retired (restored from a backup): active first.
    let key = files.remove(0);
    let uses = retire::key_uses(&td, &key.key_id)?;
    if let Some(u) = uses.iter().find(|u| u.is_delegation()).filter(|_| !force) {
        return Err(Error::Usage(format!(
            "key {} is still in use: {} signs the delegation {} with it; take it out first \
             (`trustkey delegation remove {} {} --key {}`) or pass --force",
            key.key_id, u.gun, u.role, u.gun, u.role, key.key_id
        )));
    }
    if !uses.is_empty() && !force {
        let first = &uses[0];
        return Err(Error::Usage(format!(
            "key {} is still in use: the current root metadata of {} (version {}) lists it for \
             {}{}; rotate it first (`trustkey key rotate {} {}`) or pass --force",
            key.key_id,
            first.gun,
            first.root_version,
            first.role,
            if uses.len() > 1 {
                format!(" (and {} more)", uses.len() - 1)
            } else {
                String::new()
            },
            first.gun,
            first.role
        )));
    }
    std::fs::remove_file(&key.location)
        .map_err(|e| Error::io(format!("removing {}", key.location), e))?;
    // Forget it in the configs that recorded it as retired (unless another copy is left).
    let still_there = key_files(&ctx.trust_dir)?
        .iter()
        .any(|k| k.key_id == key.key_id);
    if !still_there {
        let mut by_gun: BTreeMap<Gun, ()> = BTreeMap::new();
        for cfg in retire::configs(&td)? {
            if cfg.retired.iter().any(|r| r.key_id == key.key_id) {
                by_gun.insert(cfg.gun.clone(), ());
            }
        }
        for gun in by_gun.keys() {
            let _lock = td.lock(gun, |m| ctx.output.progress(m))?;
            let mut cfg = td.load_config(gun)?;
            cfg.retired
                .retain(|r| r.key_id != key.key_id || r.role == RoleName::Root);
            td.save_config(&cfg)?;
        }
    }
    let out = Removed {
        key_id: key.key_id,
        role: key.role,
        gun: key.gun,
        location: key.location,
        status: key.status,
        in_use: uses,
    };
    ctx.output.emit(&out, |r| {
        let mut s = format!(
            "removed {} {} key {} ({})",
            r.status, r.role, r.key_id, r.location
        );
        for u in &r.in_use {
            s += &format!(
                "\nwarning: root v{} of {} still lists it for {}; rotate that key (`trustkey key rotate {} {}`)",
                u.root_version, u.gun, u.role, u.gun, u.role
            );
        }
        s
    });
    Ok(())
}
