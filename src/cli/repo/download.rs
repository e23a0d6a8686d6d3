//! `download`: a TUF client as python-tuf's Updater is one (a trusted root given, a metadata
//! directory, explicit metadata and targets URLs), through the library's `CachedUpdater`.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::{Ctx, DialectArg};
use crate::repo::client::{
    download, CachedUpdater, DirRemote, Downloaded, Remote, StartRoot, TargetDir, VerifyOptions,
};
use crate::repo::publish::gun_repo_dir;
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::dialect::Dialect;
use crate::{Error, Result};

#[derive(Debug, Args)]
#[command(after_help = "\
Without --target only the metadata is refreshed. Exit code 5 when anything does not verify.
A GUN with --repo: the metadata is kept in TRUSTDIR/tuf/<gun>/client/tuf/metadata/ and, without
--trusted-root, the repository's first root is trusted on first use (--root-keyid pins it).
With --metadata-url the root must be given (--trusted-root FILE) or stored in --metadata-dir.

Examples:
  trustkey download example.com/app --repo https://tuf.example.com --target app-1.0.tar.gz \\
      --target-dir ./downloads
  trustkey download --trusted-root root.json --metadata-dir ~/.cache/app-tuf \\
      --metadata-url https://example.com/metadata/ --targets-url https://example.com/targets/ \\
      --target app-1.0.tar.gz --target-dir ./downloads")]
pub struct DownloadArgs {
    /// The repository (GUN), with --repo: its files are under DIR/<gun>/ or URL/<gun>/.
    gun: Option<Gun>,
    /// The static repository, a directory or an http(s):// URL (--tlscacert for its CA).
    #[arg(long, value_name = "DIR|URL", conflicts_with = "metadata_url")]
    repo: Option<PathBuf>,
    /// Where the metadata is: an http(s):// URL or a directory (python-tuf's metadata_base_url).
    #[arg(long, value_name = "URL|DIR")]
    metadata_url: Option<String>,
    /// Where the target files are (default with --repo: <repo>/<gun>/targets/).
    #[arg(long, value_name = "URL|DIR")]
    targets_url: Option<String>,
    /// Where the trusted metadata is kept, under non-versioned names (root.json, ...).
    #[arg(long, value_name = "DIR")]
    metadata_dir: Option<PathBuf>,
    /// The root to trust when the metadata directory holds none yet, given out of band.
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Trust only a root with this key ID.
    #[arg(long, value_name = "ID")]
    root_keyid: Option<String>,
    /// The repository's dialect (default: tuf with --metadata-url; with a GUN the one it was
    /// initialized with here, else notary).
    #[arg(long, value_enum)]
    dialect: Option<DialectArg>,
    /// A target to download, by its path in the repository. Repeatable: in order, stopping at
    /// the first that fails.
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Where downloaded targets are stored (one file each, its name the percent-encoded path).
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
}

/// A metadata or targets location: a URL or a directory.
fn remote_at(ctx: &Ctx, at: &str) -> Result<Box<dyn Remote>> {
    match super::web_address(ctx, std::path::Path::new(at)) {
        Some(address) => Ok(Box::new(address.at(at)?)),
        None => Ok(Box::new(DirRemote {
            dir: PathBuf::from(at),
        })),
    }
}

#[derive(Debug, Serialize)]
struct Report {
    metadata_dir: PathBuf,
    downloaded: Vec<Downloaded>,
}

pub(super) fn run(ctx: &Ctx, td: &TrustDir, a: DownloadArgs) -> Result<()> {
    if !a.targets.is_empty() && a.target_dir.is_none() {
        return Err(Error::Usage("--target needs --target-dir DIR".into()));
    }
    let cfg = a.gun.as_ref().and_then(|g| td.load_config(g).ok());
    let dialect = match (a.dialect, &a.metadata_url) {
        (Some(d), _) => d.into(),
        (None, Some(_)) => Dialect::Tuf,
        (None, None) => cfg.as_ref().map_or(Dialect::Notary, |c| c.dialect),
    };
    // Where the metadata and targets are, and whether the GUN's own client dir keeps it.
    let (metadata, targets, gun) = match (&a.repo, &a.metadata_url, &a.gun) {
        (Some(repo), None, Some(gun)) => {
            let base = repo.to_string_lossy().trim_end_matches('/').to_string();
            let gun_at = match super::web_address(ctx, repo) {
                Some(_) => format!("{base}/{gun}"),
                None => gun_repo_dir(repo, gun).to_string_lossy().into_owned(),
            };
            let meta = match dialect {
                Dialect::Notary => gun_at.clone(),
                Dialect::Tuf => format!("{gun_at}/metadata"),
            };
            (
                meta,
                a.targets_url.clone().unwrap_or(format!("{gun_at}/targets")),
                gun.clone(),
            )
        }
        (None, Some(url), gun) => {
            let placeholder = || "repository".parse::<Gun>();
            let gun = match gun {
                Some(g) => g.clone(),
                None if dialect == Dialect::Notary => {
                    return Err(Error::Usage(
                        "the notary dialect checks root certificates against the GUN: name it"
                            .into(),
                    ))
                }
                None => placeholder()?,
            };
            let targets = a.targets_url.clone();
            if targets.is_none() && !a.targets.is_empty() {
                return Err(Error::Usage("--target needs --targets-url URL".into()));
            }
            (url.clone(), targets.unwrap_or_default(), gun)
        }
        (Some(_), None, None) => {
            return Err(Error::Usage("--repo needs the repository's GUN".into()))
        }
        _ => {
            return Err(Error::Usage(
                "name the repository: GUN --repo DIR|URL, or --metadata-url URL".into(),
            ))
        }
    };
    let own_dir = a.metadata_dir.is_none() && a.metadata_url.is_none();
    let metadata_dir = match &a.metadata_dir {
        Some(d) => d.clone(),
        None if own_dir => td.client_dir(&gun, Dialect::Tuf).join("metadata"),
        None => {
            return Err(Error::Usage(
                "--metadata-url needs --metadata-dir DIR (where the trusted metadata is kept)"
                    .into(),
            ))
        }
    };
    let start = match &a.trusted_root {
        Some(f) => StartRoot::Given(
            std::fs::read(f).map_err(|e| Error::io(format!("reading {}", f.display()), e))?,
        ),
        None if own_dir => StartRoot::StoredOrFirstUse,
        None => StartRoot::Stored,
    };
    // The GUN's own client state is serialized with `verify`'s.
    let _lock = own_dir.then(|| td.lock_client(&gun, |_| {})).transpose()?;
    let remote = remote_at(ctx, &metadata)?;
    let updater = CachedUpdater {
        gun,
        dir: metadata_dir.clone(),
        remote: remote.as_ref(),
        opts: VerifyOptions {
            dialect,
            root_key_id: a.root_keyid,
            now: OffsetDateTime::now_utc(),
        },
        start,
    };
    let mut client = updater.refresh()?;
    let mut report = Report {
        metadata_dir,
        downloaded: Vec::new(),
    };
    if let Some(dir) = &a.target_dir {
        let targets_remote = remote_at(ctx, &targets)?;
        let dir = TargetDir(dir.clone());
        for t in &a.targets {
            report
                .downloaded
                .push(download(&mut client, targets_remote.as_ref(), t, &dir)?);
        }
    }
    ctx.output.emit(&report, |r| {
        let mut s = format!(
            "metadata verified and kept in {}\n",
            r.metadata_dir.display()
        );
        for d in &r.downloaded {
            s += &if d.cached {
                format!(
                    "{}: up to date in {} (length and hashes match)\n",
                    d.name,
                    d.path.display()
                )
            } else {
                format!(
                    "{}: downloaded to {} ({} bytes, signed by {})\n",
                    d.name,
                    d.path.display(),
                    d.length,
                    d.role
                )
            };
        }
        s
    });
    Ok(())
}
