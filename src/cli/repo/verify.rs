//! `list` and `verify`: the client's check through the library, and its result rendered.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::Ctx;
use crate::cli::output::root_key_ids;
use crate::repo::client::{check, check_target_file, list_targets, Check, PinMatch};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::keyid::RootKeyIds;
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// Where a client reads a repository and what it trusts: the flags `list` and `verify` share.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientFlags {
    /// The static repository: the GUN's files are in DIR/<gun>/. (Or -s URL: a
    /// notary-server.)
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Trust only a root with this key ID (root metadata's, or the canonical one `root list`
    /// shows); checked on first use and whenever given.
    #[arg(long, value_name = "ID")]
    root_keyid: Option<String>,
    /// The repository's dialect (default: the one it was initialized with here, else notary).
    #[arg(long, value_enum)]
    dialect: Option<super::DialectArg>,
}

impl ClientFlags {
    /// The client's check of `gun` these flags ask for.
    fn check<'a>(self, ctx: &Ctx, gun: &'a Gun) -> Result<Check<'a>> {
        Ok(Check {
            gun,
            place: super::place(ctx, self.repo)?,
            root_key_id: self.root_keyid,
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

#[derive(Debug, Serialize)]
struct VerifyReport {
    gun: Gun,
    versions: BTreeMap<RoleName, u64>,
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
) -> Result<()> {
    let req = flags.check(ctx, gun)?;
    let (v, dialect) = check(td, req, ctx.session.prompter())?;
    let mut checked = Vec::new();
    for (name, file) in files {
        check_target_file(dialect, &v, name, file)?;
        checked.push(name.clone());
    }
    let report = VerifyReport {
        gun: v.gun.clone(),
        versions: v.versions.clone(),
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
    Ok(())
}
