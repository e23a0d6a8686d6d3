//! `trustkey delegation add | remove | list`: signers with keys of their own. A delegation's
//! key may be on a token (`pkcs11:`, `yubikey:`), so each publisher signs with the token they
//! carry, or encrypted on disk. Changes take effect at the next `publish`, which signs
//! targets again (with the new delegations) and each delegated role that changed.

use clap::Subcommand;

use super::table::Table;
use super::Ctx;
use crate::keys::piv::PivOptions;
use crate::keys::uri::KeyRef;
use crate::repo::delegations::edit::{self, NewDelegation};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::keyid::short;
use crate::Result;

#[derive(Debug, Subcommand)]
pub enum DelegationCmd {
    /// Delegate targets to a role with keys of its own (or add keys to a delegation).
    ///
    /// Notary dialect: the role is targets/<name> and --paths are path prefixes ("" = every
    /// target, the default, as `docker trust signer add` does). tuf dialect: any name, and
    /// --paths are glob patterns matched per /-separated part (releases/* covers
    /// releases/a.tgz, not releases/a/b.tgz).
    #[command(after_help = "\
--key is one of:
  pkcs11:token=alice;object=releases   a key on a token (add --generate to create it there)
  yubikey:serial=12345678;slot=9a      a key on a YubiKey (--generate creates it; --touch,
                                       --pin-policy as for `root create`)
  new                                  a new key on disk, encrypted with
                                       TRUSTKEY_DELEGATION_PASSPHRASE (or a prompt)
  KEY_ID                               a key already in the trust dir (`trustkey key list`)

Examples:
  trustkey delegation add example.com/app targets/releases \\
      --key 'pkcs11:token=alice;object=releases' --generate
  trustkey delegation add example.com/app targets/qa --key new --paths qa/
  trustkey delegation add example.com/py releases --key new --paths 'releases/*' --terminating
  trustkey publish example.com/app --repo /srv/trust")]
    Add {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// The delegated role (notary: targets/<name>).
        role: String,
        /// The delegation's key(s). Repeatable.
        #[arg(long, required = true, value_name = "REF")]
        key: Vec<String>,
        /// Generate the token --key(s) on their tokens first (they must not exist there yet).
        #[arg(long)]
        generate: bool,
        /// Paths the role may sign (repeatable; notary: prefixes, default ""; tuf: globs).
        #[arg(long, value_name = "PATH")]
        paths: Vec<String>,
        /// How many of the role's keys must sign (default 1; an existing delegation keeps its
        /// own).
        #[arg(long, value_name = "N")]
        threshold: Option<u64>,
        /// tuf dialect: clients that do not find a target here stop looking (an existing
        /// delegation keeps its setting).
        #[arg(long)]
        terminating: bool,
        #[command(flatten)]
        piv: super::root::PivArgs,
    },
    /// Remove a delegation, or one of its keys (--key ID): it can no longer publish.
    #[command(
        after_help = "Examples:\n  trustkey delegation remove example.com/app targets/qa\n  \
                            trustkey delegation remove example.com/app targets/releases --key 3f2a"
    )]
    Remove {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// The delegated role (notary: targets/<name>).
        role: String,
        /// Only this key (ID or unique prefix, as `delegation list` shows).
        #[arg(long, value_name = "KEY_ID")]
        key: Option<String>,
    },
    /// The delegations of a repository, their keys, paths and published versions.
    #[command(
        after_help = "Examples:\n  trustkey delegation list example.com/app\n  \
                            trustkey delegation list example.com/app --json"
    )]
    List {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
    },
}

impl DelegationCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let td = TrustDir::new(&ctx.trust_dir);
        match self {
            DelegationCmd::Add {
                gun,
                role,
                key,
                generate,
                paths,
                threshold,
                terminating,
                piv,
            } => {
                let refs: Vec<KeyRef> = key
                    .iter()
                    .filter(|r| r.starts_with("yubikey:") || r.starts_with("pkcs11:"))
                    .map(|r| r.parse())
                    .collect::<Result<_>>()?;
                let piv = PivOptions {
                    subject: crate::keys::piv::DELEGATION_SUBJECT,
                    ..piv.options(&refs.iter().collect::<Vec<_>>())?
                };
                let req = NewDelegation {
                    gun: &gun,
                    role: &role,
                    keys: &key,
                    generate: generate.then_some(piv),
                    paths,
                    threshold,
                    terminating,
                };
                let l = edit::add(&ctx.session, &td, &req)?;
                ctx.output.emit(&l, |l| {
                    format!(
                        "staged: delegation {} ({}; {} of {} key(s): {}); publish to sign it\n",
                        l.name,
                        l.paths_shown,
                        l.threshold,
                        l.keys.len(),
                        l.keys
                            .iter()
                            .map(|k| format!("{} at {}", short(&k.key_id), k.location))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
                Ok(())
            }
            DelegationCmd::Remove { gun, role, key } => {
                let r = edit::remove(&ctx.session, &td, &gun, &role, key.as_deref())?;
                ctx.output.emit(&r, |r| r.message.clone());
                Ok(())
            }
            DelegationCmd::List { gun } => list(ctx, &td, &gun),
        }
    }
}

fn list(ctx: &Ctx, td: &TrustDir, gun: &Gun) -> Result<()> {
    let all = edit::list(td, gun)?;
    ctx.output.emit(&all, |a| {
        let mut s = String::new();
        if a.delegations.is_empty() && a.hashed_bins.is_none() {
            s += &format!("{} has no delegations\n", a.gun);
        }
        if !a.delegations.is_empty() {
            let mut t = Table::new(&[
                "ROLE",
                "PATHS",
                "THRESHOLD",
                "TERMINATING",
                "PUBLISHED",
                "KEY ID",
                "LOCATION",
            ]);
            for l in &a.delegations {
                let published =
                    format!("v{} ({} targets)", l.published_version, l.published_targets);
                let threshold = l.threshold.to_string();
                let terminating = if l.terminating { "yes" } else { "no" };
                // The role's columns on its first key's row (or alone, with no key).
                let keys: Vec<(&str, &str)> = match l.keys.as_slice() {
                    [] => vec![("", "")],
                    ks => ks
                        .iter()
                        .map(|k| (k.key_id.as_str(), k.location.as_str()))
                        .collect(),
                };
                for (i, (key_id, location)) in keys.into_iter().enumerate() {
                    if i == 0 {
                        t.row([
                            &l.name,
                            &l.paths_shown,
                            &threshold,
                            terminating,
                            &published,
                            key_id,
                            location,
                        ]);
                    } else {
                        t.row(["", "", "", "", "", key_id, location]);
                    }
                }
            }
            s += &t.render();
        }
        if let Some(b) = &a.hashed_bins {
            s += &format!(
                "hashed bins: {} ({} .. {}), key {}  {}\n",
                b.count, b.first, b.last, b.key_id, b.location
            );
        }
        s
    });
    Ok(())
}
