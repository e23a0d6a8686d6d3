//! `trustkey key ...`: repository keys on disk (and where each root key lives).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use time::OffsetDateTime;

use super::Ctx;
use crate::fsio::{write_secret, Overwrite};
use crate::keys::store;
use crate::repo::expiry::{Expiries, ExpiryArg};
use crate::repo::inventory::{self, KeyEntry, ACTIVE};
use crate::repo::rotation::{self, KeyRotation};
use crate::repo::trustdir::{Gun, TrustDir};
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
        /// Write the root naming the new key as a signing request to this new file, even when
        /// the root tokens at hand could sign it (under a threshold root, a request is written
        /// whenever they cannot).
        #[arg(long, value_name = "FILE")]
        request: Option<PathBuf>,
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
                request,
            } => rotate(ctx, gun, role, root, &expires, request),
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

fn list(ctx: &Ctx) -> Result<()> {
    let keys = inventory::all_keys(&TrustDir::new(&ctx.trust_dir))?;
    ctx.output.emit_list("keys", &keys, |keys| {
        if keys.is_empty() {
            return format!("no keys in {}", ctx.trust_dir.join("private").display());
        }
        let mut t = super::table::Table::new(&["ROLE", "GUN", "KEY ID", "STATUS", "LOCATION"]);
        for k in keys {
            t.row([&k.role, &k.gun, &k.key_id, k.status, &k.location]);
        }
        let mut s = t.render();
        for k in keys {
            if let Some(ids) = &k.root_key {
                s += &format!(
                    "root key of {}: {}\n",
                    k.gun,
                    super::output::root_key_ids(ids)
                );
            }
        }
        s
    });
    Ok(())
}

fn export(ctx: &Ctx, prefix: &str, out: Option<&Path>) -> Result<()> {
    let key = inventory::find_key(&TrustDir::new(&ctx.trust_dir), prefix)?;
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

fn import(
    ctx: &Ctx,
    file: &Path,
    role: Option<String>,
    gun: Option<String>,
    force: bool,
) -> Result<()> {
    let req = store::Import {
        file,
        role,
        gun,
        replace: force,
    };
    let k = store::import(&ctx.trust_dir, &req, ctx.session.prompter())?;
    let entry = KeyEntry {
        key_id: k.key_id,
        role: k.role,
        gun: k.gun,
        location: k.path.display().to_string(),
        status: ACTIVE,
        root_key: None,
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
    let key = inventory::find_key(&TrustDir::new(&ctx.trust_dir), prefix)?;
    let stored = store::Stored {
        key_id: key.key_id.clone(),
        role: key.role.clone(),
        gun: key.gun.clone(),
        path: PathBuf::from(&key.location),
    };
    store::change_passphrase(&stored, ctx.session.prompter())?;
    ctx.output.emit(&key, |k| {
        format!("{} key {} now uses the new passphrase", k.role, k.key_id)
    });
    Ok(())
}

fn rotate(
    ctx: &Ctx,
    gun: Gun,
    role: RoleName,
    root: Option<String>,
    expires: &[ExpiryArg],
    request: Option<PathBuf>,
) -> Result<()> {
    if role == RoleName::Root {
        return Err(rotation::root_is_rotated_elsewhere(&gun));
    }
    let expiries = Expiries::new(expires, &[RoleName::Root])?;
    let req = KeyRotation {
        gun: &gun,
        role,
        root: root.map(|r| r.parse()).transpose()?,
        expiries: &expiries,
        now: OffsetDateTime::now_utc(),
        request,
    };
    let td = TrustDir::new(&ctx.trust_dir);
    let out = rotation::rotate_key(&ctx.session, &td, &req)?;
    ctx.output.emit(&out, |r| {
        let d = &r.resigned;
        if let Some(path) = &r.request {
            let mut s = format!(
                "new {} key of {}: {} (replaces {}) in {}\n\
                 root v{} naming it needs root signatures: request written to {}\n",
                d.role, d.gun, d.new_key_id, d.old_key_id, r.key_file, d.root_version, path
            );
            for n in &r.needs {
                s += &format!("  {n}\n");
            }
            s += &format!(
                "  each key holder runs `trustkey sign REQUEST --key URI`; then `trustkey apply \
                 REQUEST...` here (the old key is retired then), and `trustkey publish {}`",
                d.gun
            );
            return s;
        }
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
            r.root.join(", "),
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

fn remove(ctx: &Ctx, prefix: &str, force: bool) -> Result<()> {
    let td = TrustDir::new(&ctx.trust_dir);
    let out = inventory::remove_key(&td, prefix, force, ctx.session.prompter())?;
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
