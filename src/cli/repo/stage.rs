//! `add`, `remove`, `status`: staging targets through the library, and rendering the stage.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::verify::{expiries_of, Expiry};
use super::{Ctx, ExpiryWindow};
use crate::repo::expiry::{check_expiring, published_expiries};
use crate::repo::stage::{Change, Stage};
use crate::repo::targets;
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::model::RoleName;
use crate::Result;
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
struct Staged<'a> {
    gun: &'a Gun,
    change: &'a Change,
}

pub(super) fn add(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    files: Vec<(String, PathBuf)>,
    role: Option<&str>,
) -> Result<()> {
    let adds = targets::plan_adds(td, &gun, files, role)?;
    let bar = ctx.output.bytes_bar(adds.total_bytes(), "hashing");
    let hashed = adds.hash(&|n| bar.inc(n));
    bar.finish_and_clear();
    let changes = hashed?;
    targets::stage_adds(td, &gun, &changes, ctx.session.prompter())?;
    if let [change] = changes.as_slice() {
        ctx.output
            .emit(&Staged { gun: &gun, change }, |s| describe_change(s.change));
    } else {
        #[derive(Serialize)]
        struct StagedMany<'a> {
            gun: &'a Gun,
            changes: &'a [Change],
        }
        ctx.output.emit(
            &StagedMany {
                gun: &gun,
                changes: &changes,
            },
            |s| {
                let bytes: u64 = s
                    .changes
                    .iter()
                    .map(|c| match c {
                        Change::Add { length, .. } => *length,
                        Change::Remove { .. } => 0,
                    })
                    .sum();
                format!("staged: add {} targets ({bytes} bytes)", s.changes.len())
            },
        );
    }
    Ok(())
}

pub(super) fn addhash(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    target: targets::HashedTarget,
    role: Option<&str>,
) -> Result<()> {
    let change = targets::stage_hash(td, &gun, target, role, ctx.session.prompter())?;
    ctx.output.emit(
        &Staged {
            gun: &gun,
            change: &change,
        },
        |s| describe_change(s.change),
    );
    Ok(())
}

pub(super) fn remove(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    name: String,
    role: Option<&str>,
) -> Result<()> {
    let change = targets::stage_removal(td, &gun, name, role, ctx.session.prompter())?;
    ctx.output.emit(
        &Staged {
            gun: &gun,
            change: &change,
        },
        |s| describe_change(s.change),
    );
    Ok(())
}

fn describe_change(c: &Change) -> String {
    match c {
        Change::Add {
            name,
            length,
            sha256,
            role,
            ..
        } => format!(
            "staged: add {name} ({length} bytes, sha256 {sha256}){}",
            in_role(role)
        ),
        Change::Remove { name, role } => format!("staged: remove {name}{}", in_role(role)),
    }
}

fn in_role(role: &Option<String>) -> String {
    role.as_ref()
        .map(|r| format!(" in {r}"))
        .unwrap_or_default()
}

pub(super) fn status(ctx: &Ctx, td: &TrustDir, gun: Gun, window: ExpiryWindow) -> Result<()> {
    let cfg = td.load_config(&gun)?;
    let stage = Stage::load(&td.staged_path(&gun))?;
    let all = published_expiries(td, &cfg)?;
    let (expires, soon) = expiries_of(&all, &window);
    #[derive(Serialize)]
    struct Status<'a> {
        gun: &'a Gun,
        root_key: crate::tuf::keyid::RootKeyIds,
        versions: &'a BTreeMap<RoleName, u64>,
        /// The publisher's copy's roles.
        expires: Vec<Expiry>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expiring: Option<Vec<String>>,
        changes: &'a [Change],
        delegations_changed: bool,
    }
    ctx.output.emit(
        &Status {
            gun: &gun,
            root_key: crate::repo::inventory::root_key_ids(&cfg),
            versions: &cfg.versions,
            expires,
            expiring: window.as_ref().map(|_| soon),
            changes: &stage.changes,
            delegations_changed: stage.delegations_changed,
        },
        |s| {
            let mut out = format!(
                "{}: published targets version {}\n",
                s.gun,
                s.versions.get(&RoleName::Targets).copied().unwrap_or(0)
            );
            out += &format!(
                "root key: {}\n",
                crate::cli::output::root_key_ids(&s.root_key)
            );
            if !s.expires.is_empty() {
                out += &format!(
                    "expires: {}\n",
                    s.expires
                        .iter()
                        .map(|e| format!("{} {}", e.role, e.expires))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if s.changes.is_empty() && !s.delegations_changed {
                out += "no staged changes\n";
            }
            if s.delegations_changed {
                out += "  delegations changed: targets is signed again at the next publish\n";
            }
            for c in s.changes {
                out += &match c {
                    Change::Add {
                        name,
                        length,
                        sha256,
                        role,
                        ..
                    } => {
                        format!(
                            "  add     {name}  {length} bytes  sha256 {sha256}{}\n",
                            in_role(role)
                        )
                    }
                    Change::Remove { name, role } => {
                        format!("  remove  {name}{}\n", in_role(role))
                    }
                };
            }
            out
        },
    );
    match window {
        Some((d, text)) => check_expiring(gun.as_str(), &all, OffsetDateTime::now_utc(), d, &text),
        None => Ok(()),
    }
}
