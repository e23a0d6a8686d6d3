//! `init` and `publish`: the flags gathered into the library's requests, and the results
//! rendered.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::{check_one_place, server_address, Ctx};
use crate::keys::public::KeySpec;
use crate::keys::uri::KeyRef;
use crate::repo::client::no_place;
use crate::repo::expiry::{Expiries, ExpiryArg};
use crate::repo::init::{self, InitRequest};
use crate::repo::publish::{self, Directory, PublishOptions, PublishRequest, Server};
use crate::repo::trustdir::{Gun, TrustDir, TufOptions};
use crate::tuf::dialect::{Dialect, MetaHashes};
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// `init`'s flags, as given.
pub(super) struct InitFlags {
    pub root: Option<String>,
    pub root_keys: Vec<String>,
    pub root_threshold: Option<u64>,
    pub request: Option<PathBuf>,
    pub dialect: Dialect,
    pub consistent_snapshot: bool,
    pub meta_hashes: bool,
    pub hashed_bins: Option<u32>,
    pub expires: Vec<ExpiryArg>,
    pub server_managed_snapshot: bool,
    pub targets_key: Option<String>,
    pub force: bool,
}

pub(super) fn init(ctx: &Ctx, td: &TrustDir, gun: &Gun, flags: InitFlags) -> Result<()> {
    let InitFlags {
        root,
        root_keys,
        root_threshold,
        request,
        dialect,
        consistent_snapshot,
        meta_hashes,
        hashed_bins,
        expires,
        server_managed_snapshot,
        targets_key,
        force,
    } = flags;
    let bins = hashed_bins
        .map(crate::tuf::delegation::HashedBins::new)
        .transpose()
        .map_err(Error::Usage)?;
    if bins.is_some() && (dialect != Dialect::Tuf || ctx.server.is_some()) {
        return Err(Error::Usage(
            "--hashed-bins needs --dialect tuf (notary clients have no hashed bins)".into(),
        ));
    }
    let mut root = root.map(|r| r.parse::<KeyRef>()).transpose()?;
    let specs: Vec<KeySpec> = root_keys
        .iter()
        .map(|k| KeySpec::parse(k))
        .collect::<Result<_>>()?;
    // One token and nothing more asked for: a root of one key, signed now.
    let threshold_root = match (specs.as_slice(), root_threshold, &request) {
        ([], None, None) => None,
        ([], _, _) => {
            return Err(Error::Usage(
                "--root-threshold and --request go with --root-key (one per root key)".into(),
            ))
        }
        ([KeySpec::Token(t)], None | Some(1), None) => {
            root = Some(t.clone());
            None
        }
        (_, threshold, _) => Some(init::ThresholdRoot {
            threshold: match (threshold, specs.len()) {
                (Some(t), _) => t,
                (None, 1) => 1,
                (None, _) => {
                    return Err(Error::Usage(
                        "name the threshold of these root keys with --root-threshold M".into(),
                    ))
                }
            },
            keys: specs,
            request,
        }),
    };
    let tuf = (consistent_snapshot || meta_hashes).then_some(TufOptions {
        consistent_snapshot,
        meta_hashes: if meta_hashes {
            MetaHashes::Include
        } else {
            MetaHashes::Omit
        },
    });
    if ctx.server.is_some() || server_managed_snapshot || targets_key.is_some() {
        if force {
            return Err(Error::Usage(
                "init --force re-initializes a repository published to a directory; \
                 on notary-server, delete the repository there first (`notary delete \
                 GUN --remote`)"
                    .into(),
            ));
        }
        if dialect != Dialect::Notary || tuf.is_some() {
            return Err(Error::Usage(
                "notary-server, --server-managed-snapshot and --targets-key go with \
                 the notary dialect"
                    .into(),
            ));
        }
    }
    let expiries = Expiries::new(&expires, &[RoleName::Root])?;
    let req = InitRequest {
        gun,
        dialect,
        tuf,
        hashed_bins: bins,
        root,
        threshold_root,
        expiries: &expiries,
        server: server_address(ctx),
        server_managed_snapshot,
        targets_key: targets_key.as_deref(),
        force,
        now: OffsetDateTime::now_utc(),
    };
    let done = init::initialize(&ctx.session, td, &req)?;
    ctx.output.emit(&done, |d| {
        let mut s = format!(
            "initialized {} ({} dialect), root version {}\n",
            d.gun, d.dialect, d.root_version
        );
        for k in &d.keys {
            s += &format!("  {:<9} {}  {}\n", k.role.as_str(), k.key_id, k.location);
        }
        s += &format!(
            "root key: {}\n",
            crate::cli::output::root_key_ids(&d.root_key)
        );
        if let Some(c) = &d.ceremony {
            s += &crate::cli::ceremony::outcome_text(c);
        }
        s
    });
    Ok(())
}

pub(super) fn publish(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    repo: Option<PathBuf>,
    expires: &[ExpiryArg],
    metadata_only: bool,
) -> Result<()> {
    check_one_place(ctx, repo.as_ref())?;
    let req = PublishRequest {
        gun: &gun,
        expires,
        now: OffsetDateTime::now_utc(),
    };
    let Some(repo) = repo else {
        return publish_server_cmd(ctx, td, &req);
    };
    let mut dest = Directory::new(repo, PublishOptions { metadata_only })
        .with_notices(ctx.session.prompter().clone());
    let done = publish::publish(&ctx.session, td, &mut dest, &req)?;
    ctx.output.emit(&done, |p| {
        format!(
            "published {} to {}: targets v{}{}, snapshot v{}, timestamp v{} ({} changes{}){}",
            p.gun,
            p.repo,
            p.versions.get(&RoleName::Targets).copied().unwrap_or(0),
            if p.signed_targets { "" } else { " (unchanged)" },
            p.versions.get(&RoleName::Snapshot).copied().unwrap_or(0),
            p.versions.get(&RoleName::Timestamp).copied().unwrap_or(0),
            p.changes,
            if p.changes == 0 {
                "; expiries renewed"
            } else {
                ""
            },
            describe_delegated(p),
        )
    });
    Ok(())
}

/// `publish` to a notary-server: -s URL, or the server the GUN's config remembers.
fn publish_server_cmd(ctx: &Ctx, td: &TrustDir, req: &PublishRequest<'_>) -> Result<()> {
    let first = td.load_config(req.gun)?;
    let Some((server, chosen)) = server_address(ctx).resolve_or_default(Some(&first))? else {
        return Err(no_place());
    };
    let mut dest = Server::new(server, chosen);
    let done = publish::publish(&ctx.session, td, &mut dest, req)?;
    let server_signed: Vec<&str> = first.server_roles.iter().map(|r| r.as_str()).collect();
    ctx.output.emit(&done, |p| {
        let mut s = format!(
            "published {} to {}: targets v{}",
            p.gun,
            p.repo,
            p.versions.get(&RoleName::Targets).copied().unwrap_or(0)
        );
        if !server_signed.contains(&"snapshot") {
            s += &format!(
                ", snapshot v{}",
                p.versions.get(&RoleName::Snapshot).copied().unwrap_or(0)
            );
        }
        s += &format!(
            " ({} signed by the server; {} changes){}",
            server_signed.join(" and "),
            p.changes,
            describe_delegated(p)
        );
        s
    });
    Ok(())
}

/// `; signed targets/releases v2, targets/qa v1` (bins summarized), and the roles a renewing
/// publish could not sign.
fn describe_delegated(p: &publish::Published) -> String {
    let mut s = String::new();
    if !p.delegations.is_empty() {
        let shown: Vec<String> = p
            .delegations
            .iter()
            .take(8)
            .map(|(n, v)| format!("{n} v{v}"))
            .collect();
        s += &format!("; signed {}", shown.join(", "));
        let more = p.delegations.len() - shown.len();
        if more > 0 {
            s += &format!(" and {more} more");
        }
    }
    if !p.not_renewed.is_empty() {
        s += &format!(
            "; not renewed (their keys are not at hand): {}",
            p.not_renewed.join(", ")
        );
    }
    s
}
