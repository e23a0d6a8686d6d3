//! `trustkey delegation add | remove | list`: signers with keys of their own. A delegation's
//! key may be on a token (`pkcs11:`, `yubikey:`), so each publisher signs with the token they
//! carry, or encrypted on disk. Changes take effect at the next `publish`, which signs
//! targets again (with the new delegations) and each delegated role that changed.

use std::collections::BTreeMap;

use clap::Subcommand;
use serde::Serialize;

use super::Ctx;
use crate::fsio::Overwrite;
use crate::keys::file::{encrypt_pem, KeyMeta};
use crate::keys::piv::PivOptions;
use crate::keys::store::{load_signer, write_key};
use crate::keys::uri::KeyRef;
use crate::keys::MemorySigner;
use crate::keys::{canonical_key_id, Signer};
use crate::repo::delegations::{DelegationConfig, DelegationKey, KeyLocation, TARGETS};
use crate::repo::publish::DelegationSigners;
use crate::repo::stage::Stage;
use crate::repo::trustdir::{Gun, RepoConfig, TrustDir};
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::tuf::delegation::{check_name, describe_paths};
use crate::tuf::dialect::Dialect;
use crate::tuf::keyid::short;
use crate::{Error, Result};

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
                add(
                    ctx,
                    &td,
                    &gun,
                    &role,
                    &key,
                    (generate, piv),
                    paths,
                    threshold,
                    terminating,
                )
            }
            DelegationCmd::Remove { gun, role, key } => remove(ctx, &td, &gun, &role, key),
            DelegationCmd::List { gun } => list(ctx, &td, &gun),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn add(
    ctx: &Ctx,
    td: &TrustDir,
    gun: &Gun,
    role: &str,
    refs: &[String],
    (generate, piv): (bool, PivOptions),
    paths: Vec<String>,
    threshold: Option<u64>,
    terminating: bool,
) -> Result<()> {
    let cfg = td.load_config(gun)?;
    let d = cfg.dialect;
    check_name(d, role).map_err(Error::Usage)?;
    if cfg.hashed_bins.is_some() && role.starts_with("bins-") {
        return Err(Error::Usage(format!(
            "{role}: names starting with bins- are the hashed bins'"
        )));
    }
    if terminating && d == Dialect::Notary {
        return Err(Error::Usage(
            "--terminating is a tuf-dialect option; notary delegations have none".into(),
        ));
    }
    let existing = cfg.delegation(role).cloned();
    let paths = match (paths.is_empty(), &existing, d) {
        (false, _, _) => paths,
        (true, Some(e), _) => e.paths.clone(),
        (true, None, Dialect::Notary) => vec![String::new()],
        (true, None, Dialect::Tuf) => {
            return Err(Error::Usage(format!(
                "{role}: name the paths it may sign with --paths (glob patterns such as \
                 'releases/*')"
            )))
        }
    };
    if threshold == Some(0) {
        return Err(Error::Usage("--threshold must be at least 1".into()));
    }
    // Passphrases and references first; tokens (PINs) last.
    let mut new_keys = Vec::new();
    for r in refs {
        new_keys.push(resolve_key(
            ctx,
            td,
            &cfg,
            role,
            r,
            generate.then_some(piv),
        )?);
    }
    let _lock = td.lock(gun, |m| ctx.output.progress(m))?;
    let mut cfg = td.load_config(gun)?;
    let mut entry = existing.unwrap_or(DelegationConfig {
        name: role.to_string(),
        keys: Vec::new(),
        threshold: 1,
        paths: Vec::new(),
        terminating,
    });
    for k in new_keys {
        if !entry.keys.iter().any(|e| e.key_id == k.key_id) {
            entry.keys.push(k);
        }
    }
    entry.paths = paths;
    entry.threshold = threshold.unwrap_or(entry.threshold);
    entry.terminating |= terminating;
    if entry.threshold > entry.keys.len() as u64 {
        return Err(Error::Usage(format!(
            "{role}: threshold {} with {} key(s)",
            entry.threshold,
            entry.keys.len()
        )));
    }
    match cfg.delegations.iter_mut().find(|e| e.name == role) {
        Some(e) => *e = entry.clone(),
        None => cfg.delegations.push(entry.clone()),
    }
    td.save_config(&cfg)?;
    mark_changed(td, gun)?;
    ctx.output.emit(&Listed::of(td, &cfg, &entry), |l| {
        format!(
            "staged: delegation {} ({}; {} of {} key(s): {}); publish to sign it\n",
            l.name,
            l.paths,
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

/// Stage "targets must be signed again".
fn mark_changed(td: &TrustDir, gun: &Gun) -> Result<()> {
    let path = td.staged_path(gun);
    let mut stage = Stage::load(&path)?;
    stage.delegations_changed = true;
    stage.save(&path)
}

/// The key a `--key` reference names, as delegations list it, and where its private half is.
fn resolve_key(
    ctx: &Ctx,
    td: &TrustDir,
    cfg: &RepoConfig,
    role: &str,
    r: &str,
    generate: Option<PivOptions>,
) -> Result<DelegationKey> {
    let d = cfg.dialect;
    let listed = |pk: &p256::PublicKey, location: KeyLocation| {
        let key = d.public_key(pk);
        DelegationKey {
            key_id: d.key_id(&key),
            key,
            location,
        }
    };
    if r.starts_with("pkcs11:") || r.starts_with("yubikey:") {
        let kr: KeyRef = r.parse()?;
        let public = if let Some(piv) = generate {
            let (pk, placement) = crate::keys::mirror::generate(&ctx.session, &kr, &piv)?;
            ctx.output
                .progress(&format!("generated the {role} key on {}", placement.token));
            pk
        } else {
            *ctx.open_signer(&kr)?.public_key()
        };
        return Ok(listed(
            &public,
            KeyLocation::Token {
                uri: kr.to_string(),
            },
        ));
    }
    if r == "new" {
        let what = format!("the new {role} key of {}", cfg.gun);
        let pass = ctx.with_prompter(|p| new_passphrase(KeyRole::Delegation, &what, p))?;
        let key = MemorySigner::generate(&what);
        let pem = encrypt_pem(&key.secret_key(), &pass, Some(&header(cfg.dialect, role)))?;
        let id = canonical_key_id(key.public_key());
        write_key(&td.root, &id, &pem, Overwrite::Refuse)?;
        return Ok(listed(
            key.public_key(),
            KeyLocation::File { key_file_id: id },
        ));
    }
    if generate.is_some() {
        return Err(Error::Usage(format!(
            "--generate creates a key on a token; {r:?} is neither a pkcs11: nor a yubikey: \
             reference (use `new` for a new key on disk)"
        )));
    }
    // A key already in the trust dir, by ID or unique prefix.
    let entry = crate::repo::inventory::find_key(td, r)?;
    let path = std::path::PathBuf::from(&entry.location);
    let id = entry.key_id;
    let what = format!("the key {} for {role}", short(&id));
    let pass = ctx.with_prompter(|p| unlock_passphrase(KeyRole::Delegation, &what, p))?;
    let (key, _) = load_signer(&path, &pass, &what)?;
    Ok(listed(
        key.public_key(),
        KeyLocation::File { key_file_id: id },
    ))
}

fn remove(ctx: &Ctx, td: &TrustDir, gun: &Gun, role: &str, key: Option<String>) -> Result<()> {
    td.load_config(gun)?;
    let _lock = td.lock(gun, |m| ctx.output.progress(m))?;
    let mut cfg = td.load_config(gun)?;
    let idx = cfg
        .delegations
        .iter()
        .position(|e| e.name == role)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{gun} has no delegation {role:?} (see `trustkey delegation list {gun}`)"
            ))
        })?;
    let msg = match key {
        Some(prefix) => {
            let e = &mut cfg.delegations[idx];
            let hits: Vec<usize> = (0..e.keys.len())
                .filter(|i| e.keys[*i].key_id.starts_with(&prefix))
                .collect();
            let i = match hits.as_slice() {
                [i] => *i,
                [] => {
                    return Err(Error::NotFound(format!(
                        "{role} has no key {prefix:?} (see `trustkey delegation list {gun}`)"
                    )))
                }
                _ => {
                    return Err(Error::Usage(format!(
                        "key ID prefix {prefix:?} is ambiguous"
                    )))
                }
            };
            if e.keys.len() - 1 < e.threshold as usize {
                return Err(Error::Usage(format!(
                    "{role} needs {} key(s) to sign; removing one leaves {}: add another key \
                     first, or remove the delegation",
                    e.threshold,
                    e.keys.len() - 1
                )));
            }
            let k = e.keys.remove(i);
            format!(
                "staged: key {} ({}) removed from {role}; publish to take it out of targets",
                short(&k.key_id),
                k.location
            )
        }
        None => {
            cfg.delegations.remove(idx);
            // Its targets go with it; a delegation added later under this name starts empty.
            let copy = td.published_dir(gun).join(format!("{role}.json"));
            if let Err(e) = std::fs::remove_file(&copy) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(Error::io(format!("removing {}", copy.display()), e));
                }
            }
            let path = td.staged_path(gun);
            let mut stage = Stage::load(&path)?;
            let before = stage.changes.len();
            stage.changes.retain(|c| c.role() != Some(role));
            let dropped = before - stage.changes.len();
            stage.save(&path)?;
            format!(
                "staged: delegation {role} removed{}; publish to take it out of targets",
                if dropped > 0 {
                    format!(" (and {dropped} staged change(s) to it)")
                } else {
                    String::new()
                }
            )
        }
    };
    td.save_config(&cfg)?;
    mark_changed(td, gun)?;
    #[derive(Serialize)]
    struct Removed<'a> {
        gun: &'a Gun,
        role: &'a str,
        message: &'a str,
    }
    ctx.output.emit(
        &Removed {
            gun,
            role,
            message: &msg,
        },
        |r| r.message.to_string(),
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct ListedKey {
    key_id: String,
    location: String,
}

#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    threshold: u64,
    paths: String,
    terminating: bool,
    keys: Vec<ListedKey>,
    /// The version last published from here (0: never).
    published_version: u64,
    published_targets: usize,
}

impl Listed {
    fn of(td: &TrustDir, cfg: &RepoConfig, e: &DelegationConfig) -> Self {
        let spec = cfg
            .delegated_roles()
            .into_iter()
            .find(|s| s.role.name == e.name)
            .expect("a configured delegation");
        let (targets, version) = crate::repo::publish::published_role(td, &cfg.gun, &e.name)
            .ok()
            .flatten()
            .and_then(|m| crate::repo::publish::role_targets(&m).ok())
            .map(|(t, v)| (t.len(), v))
            .unwrap_or((0, 0));
        Listed {
            name: e.name.clone(),
            threshold: e.threshold,
            paths: describe_paths(&spec.role),
            terminating: e.terminating,
            keys: e
                .keys
                .iter()
                .map(|k| ListedKey {
                    key_id: k.key_id.clone(),
                    location: k.location.to_string(),
                })
                .collect(),
            published_version: version,
            published_targets: targets,
        }
    }
}

fn list(ctx: &Ctx, td: &TrustDir, gun: &Gun) -> Result<()> {
    let cfg = td.load_config(gun)?;
    #[derive(Serialize)]
    struct Bins {
        count: u32,
        first: String,
        last: String,
        key_id: String,
        location: String,
    }
    #[derive(Serialize)]
    struct All {
        gun: Gun,
        delegations: Vec<Listed>,
        hashed_bins: Option<Bins>,
    }
    let all = All {
        gun: gun.clone(),
        delegations: cfg
            .delegations
            .iter()
            .map(|e| Listed::of(td, &cfg, e))
            .collect(),
        hashed_bins: cfg.hashed_bins.as_ref().map(|b| Bins {
            count: b.count,
            first: b.bins().name(0),
            last: b.bins().name(b.count - 1),
            key_id: b.key.key_id.clone(),
            location: b.key.location.to_string(),
        }),
    };
    ctx.output.emit(&all, |a| {
        let mut s = String::new();
        if a.delegations.is_empty() && a.hashed_bins.is_none() {
            s += &format!("{} has no delegations\n", a.gun);
        }
        for l in &a.delegations {
            s += &format!(
                "{}  paths {}  threshold {}{}  published v{} ({} targets)\n",
                l.name,
                l.paths,
                l.threshold,
                if l.terminating { "  terminating" } else { "" },
                l.published_version,
                l.published_targets
            );
            for k in &l.keys {
                s += &format!("    key {}  {}\n", k.key_id, k.location);
            }
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

/// Opens the keys that sign `roles`: tokens (one login per token) and key files (the
/// delegation passphrase). A token that is not plugged in is skipped (publishing then says
/// which role lacks signatures); any other failure stops here.
pub fn open_signers(
    ctx: &Ctx,
    td: &TrustDir,
    cfg: &RepoConfig,
    roles: &std::collections::BTreeSet<String>,
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
                match ctx.open_signer(&kr) {
                    Ok(s) => s,
                    // Not plugged in: the role may have other keys, or keep its old signature.
                    Err(
                        e @ (Error::NotFound(_)
                        | Error::TokenNotFound { .. }
                        | Error::PivNotFound { .. }),
                    ) => {
                        ctx.output.progress(&format!("{role}: {e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
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
                    ctx.with_prompter(|p| unlock_passphrase(KeyRole::Delegation, &what, p))?;
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

/// A new hashed-bins key on disk (`init --hashed-bins`), with its passphrase asked first.
pub fn new_bins_key(
    td: &TrustDir,
    dialect: Dialect,
    pass: &secrecy::SecretString,
) -> Result<DelegationKey> {
    let key = MemorySigner::generate("the hashed bins key");
    let pem = encrypt_pem(&key.secret_key(), pass, Some(&header(dialect, "bins")))?;
    let id = canonical_key_id(key.public_key());
    write_key(&td.root, &id, &pem, Overwrite::Refuse)?;
    let listed = dialect.public_key(key.public_key());
    Ok(DelegationKey {
        key_id: dialect.key_id(&listed),
        key: listed,
        location: KeyLocation::File { key_file_id: id },
    })
}

/// The PEM `role:` header of a delegation key file: notary's `targets/<name>`; in the TUF
/// dialect `delegation` (the passphrase it takes), whatever the role's name.
fn header(dialect: Dialect, role: &str) -> KeyMeta {
    match dialect {
        Dialect::Notary => KeyMeta::new(role, ""),
        Dialect::Tuf => KeyMeta::new("delegation", ""),
    }
}

/// The role a staged change goes to, for messages (`targets` when none).
pub fn role_label(role: Option<&str>) -> &str {
    role.unwrap_or(TARGETS)
}
