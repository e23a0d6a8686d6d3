//! `list` and `verify`: the client's check through the library, and its result rendered.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::Ctx;
use super::ExpiryWindow;
use crate::cli::output::root_key_ids;
use crate::repo::client::{check, check_target_file, list_targets, Check, PinMatch};
use crate::repo::expiry::{check_expiring, expiring, rfc3339, RoleExpiry};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::keyid::RootKeyIds;
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// Where a client reads a repository and what it trusts: the flags `list` and `verify` share.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientFlags {
    /// The static repository: the GUN's files are in DIR/<gun>/ (a directory, or an http(s)
    /// URL; --tlscacert for its CA). (Or -s URL: a notary-server.)
    #[arg(long, value_name = "DIR|URL")]
    repo: Option<PathBuf>,
    /// Trust only a root with this key ID (root metadata's, or the canonical one `root list`
    /// shows); checked on first use and whenever given.
    #[arg(long, value_name = "ID")]
    root_keyid: Option<String>,
    /// On first use, trust this root (given out of band) instead of the repository's first
    /// root; it must be signed by its own root keys.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// The repository's dialect (default: the one it was initialized with here, else notary).
    #[arg(long, value_enum)]
    dialect: Option<super::DialectArg>,
}

impl ClientFlags {
    /// The client's check of `gun` these flags ask for.
    fn check<'a>(self, ctx: &Ctx, gun: &'a Gun) -> Result<Check<'a>> {
        let trusted_root = self
            .trusted_root
            .map(|f| {
                std::fs::read(&f).map_err(|e| Error::io(format!("reading {}", f.display()), e))
            })
            .transpose()?;
        Ok(Check {
            gun,
            place: super::place(ctx, self.repo)?,
            root_key_id: self.root_keyid,
            trusted_root,
            dialect: self.dialect.map(Into::into),
            now: OffsetDateTime::now_utc(),
        })
    }
}

/// `--target NAME=FILE`, each.
pub(super) fn target_files(args: &[String]) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for t in args {
        let (name, file) = t
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--target {t:?}: expected NAME=FILE")))?;
        files.push((name.to_string(), PathBuf::from(file)));
    }
    Ok(files)
}

pub(super) fn list(
    ctx: &Ctx,
    td: &TrustDir,
    gun: &Gun,
    flags: ClientFlags,
    role: Option<String>,
) -> Result<()> {
    let req = flags.check(ctx, gun)?;
    let (v, dialect) = check(td, req, ctx.session.prompter())?;
    let rows = list_targets(&v, dialect, role.as_deref())?;
    ctx.output.emit_list("targets", &rows, |rows| {
        if rows.is_empty() {
            return format!("no targets in {gun}");
        }
        let mut t =
            crate::cli::table::Table::new(&["NAME", "DIGEST", "SIZE (BYTES)", "ROLE"]).right(2);
        for r in rows {
            t.row([&r.name, &r.sha256, &r.length.to_string(), &r.role]);
        }
        t.render()
    });
    Ok(())
}

/// When a role expires, in `--json` (RFC 3339, UTC).
#[derive(Debug, Serialize)]
pub(super) struct Expiry {
    pub role: String,
    pub expires: String,
}

/// Each role's expiry as `--json` gives it, and the roles that expire within the window.
pub(super) fn expiries_of(all: &[RoleExpiry], window: &ExpiryWindow) -> (Vec<Expiry>, Vec<String>) {
    let shown = all
        .iter()
        .map(|r| Expiry {
            role: r.role.clone(),
            expires: rfc3339(r.expires),
        })
        .collect();
    let soon = window
        .as_ref()
        .map(|(d, _)| expiring(all, OffsetDateTime::now_utc(), *d))
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.role)
        .collect();
    (shown, soon)
}

#[derive(Debug, Serialize)]
struct VerifyReport {
    gun: Gun,
    versions: BTreeMap<RoleName, u64>,
    expires: Vec<Expiry>,
    /// With --expiring-within: the roles that expire within the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    delegations: BTreeMap<String, u64>,
    root_key_ids: Vec<String>,
    root_keys: Vec<RootKeyIds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pin_match: Option<PinMatch>,
    pinned_now: bool,
    targets: usize,
    checked_files: Vec<String>,
}

pub(super) fn verify(
    ctx: &Ctx,
    td: &TrustDir,
    gun: &Gun,
    flags: ClientFlags,
    files: &[(String, PathBuf)],
    window: ExpiryWindow,
) -> Result<()> {
    let req = flags.check(ctx, gun)?;
    let (v, dialect) = check(td, req, ctx.session.prompter())?;
    let mut checked = Vec::new();
    for (name, file) in files {
        check_target_file(dialect, &v, name, file)?;
        checked.push(name.clone());
    }
    let all = v.expiries(dialect)?;
    let (expires, soon) = expiries_of(&all, &window);
    let report = VerifyReport {
        gun: v.gun.clone(),
        versions: v.versions.clone(),
        expires,
        expiring: window.as_ref().map(|_| soon),
        delegations: v.delegation_versions(),
        root_key_ids: v.root_key_ids.clone(),
        root_keys: v.root_keys.clone(),
        pin_match: v.pin_match.clone(),
        pinned_now: v.pinned_now,
        targets: v.target_count(),
        checked_files: checked,
    };
    ctx.output.emit(&report, |r| {
        let ver = |role| r.versions.get(&role).copied().unwrap_or(0);
        let mut s = format!(
            "verified {}: root v{}, targets v{}, snapshot v{}, timestamp v{}{}; {} targets\n",
            r.gun,
            ver(RoleName::Root),
            ver(RoleName::Targets),
            ver(RoleName::Snapshot),
            ver(RoleName::Timestamp),
            match r.delegations.len() {
                0 => String::new(),
                1..=4 => format!(
                    ", {}",
                    r.delegations
                        .iter()
                        .map(|(n, v)| format!("{n} v{v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                n => format!(", {n} delegated roles"),
            },
            r.targets
        );
        for k in &r.root_keys {
            s += &format!("root key: {}\n", root_key_ids(k));
        }
        s += &format!(
            "expires: {}\n",
            r.expires
                .iter()
                .take(4)
                .map(|e| format!("{} {}", e.role, e.expires))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if r.pinned_now {
            s += &format!(
                "pinned root key {} on first use\n",
                r.root_keys
                    .iter()
                    .map(|k| k.canonical_key_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(m) = &r.pin_match {
            s += &format!(
                "--root-keyid {} matched the {} of root key {}\n",
                m.pin,
                m.matched.label(),
                m.key.canonical_key_id
            );
        }
        for n in &r.checked_files {
            s += &format!("target {n}: length and hashes match\n");
        }
        s
    });
    // The process ends right after this: freeing 100,000 targets one by one would cost
    // more than verifying them.
    std::mem::forget(v);
    match window {
        Some((d, text)) => check_expiring(gun.as_str(), &all, OffsetDateTime::now_utc(), d, &text),
        None => Ok(()),
    }
}
