//! `list` and `verify`: the client's check through the library, and its result rendered.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::Ctx;
use crate::repo::client::{check, check_target_file, list_targets, Check};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::model::RoleName;
use crate::{Error, Result};

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

pub(super) fn list(ctx: &Ctx, td: &TrustDir, req: Check<'_>, role: Option<String>) -> Result<()> {
    let gun = req.gun;
    let (v, dialect) = check(td, req, ctx.session.prompter())?;
    let rows = list_targets(&v, dialect, role.as_deref())?;
    ctx.output.emit(&rows, |rows| {
        if rows.is_empty() {
            return format!("no targets in {gun}");
        }
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        let mut s = format!(
            "{:<w$}  {:<64}  {:>12}  ROLE\n",
            "NAME", "DIGEST", "SIZE (BYTES)"
        );
        for r in rows {
            s += &format!(
                "{:<w$}  {}  {:>12}  {}\n",
                r.name, r.sha256, r.length, r.role
            );
        }
        s
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
    pinned_now: bool,
    targets: usize,
    checked_files: Vec<String>,
}

pub(super) fn verify(
    ctx: &Ctx,
    td: &TrustDir,
    req: Check<'_>,
    files: &[(String, PathBuf)],
) -> Result<()> {
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
        if r.pinned_now {
            s += &format!(
                "pinned root key {} on first use\n",
                r.root_key_ids.join(", ")
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
