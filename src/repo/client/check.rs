//! A client's check of a published repository, as `verify` and `list` run it: where the
//! repository is read from (a directory, or notary-server), in which dialect, the update, the
//! targets it lists, and a warning per role that lists targets outside its delegated paths.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use super::{DirRemote, HttpRemote, Rejected, Remote, Updater, Verified, VerifyOptions};
use crate::repo::layout;
use crate::repo::publish::gun_repo_dir;
use crate::repo::server::{FileServer, Timeouts};
use crate::repo::server_repo::{ServerAddress, ServerRemote};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::secret::SharedPrompter;
use crate::tuf::dialect::Dialect;
use crate::{Error, Result};

/// Where a client reads a repository.
#[derive(Debug, Clone)]
pub enum Place {
    /// A static repository: the GUN's files are in `DIR/<gun>/`.
    Directory(PathBuf),
    /// notary-server: the one given, else the one the GUN's config remembers.
    Server(ServerAddress),
    /// A static repository over HTTP(S): the GUN's files are under `URL/<gun>/`, laid out as
    /// in a directory.
    Url(WebAddress),
}

/// A static repository's base URL, the CA file to trust for it, and the time limits.
#[derive(Debug, Clone)]
pub struct WebAddress {
    pub url: String,
    pub tlscacert: Option<PathBuf>,
    pub timeouts: Timeouts,
}

impl WebAddress {
    /// The remote of the GUN's metadata: `URL/<gun>/` (notary) or `URL/<gun>/metadata/`.
    pub fn remote(&self, dialect: Dialect, gun: &Gun) -> Result<HttpRemote> {
        let gun_url = format!("{}/{}", self.url.trim_end_matches('/'), gun.as_str());
        let url = match dialect {
            Dialect::Notary => gun_url,
            Dialect::Tuf => format!("{gun_url}/metadata"),
        };
        self.at(&url)
    }

    /// The remote of the metadata at `url` itself.
    pub fn at(&self, url: &str) -> Result<HttpRemote> {
        Ok(HttpRemote {
            server: FileServer::new(url, self.tlscacert.as_deref(), self.timeouts)?,
        })
    }
}

/// Neither a directory nor a server names the repository.
pub fn no_place() -> Error {
    Error::Usage(
        "name the repository directory with --repo DIR or the notary-server with -s URL".into(),
    )
}

/// A client's check.
#[derive(Debug)]
pub struct Check<'a> {
    pub gun: &'a Gun,
    pub place: Place,
    /// Trust only a root with this key ID.
    pub root_key_id: Option<String>,
    /// On first use, trust this root (given out of band) rather than the repository's first.
    pub trusted_root: Option<Vec<u8>>,
    /// The dialect (default: the one the GUN was initialized with here, else notary).
    pub dialect: Option<Dialect>,
    pub now: OffsetDateTime,
}

/// Updates the client's trusted state from the repository and returns what it now trusts,
/// with the dialect it was read in. Targets a role may not sign are reported through the
/// prompter, one line per role.
pub fn check(
    td: &TrustDir,
    req: Check<'_>,
    prompter: &SharedPrompter,
) -> Result<(Verified, Dialect)> {
    let gun = req.gun;
    let cfg = td.load_config(gun).ok();
    let dialect = match req.dialect {
        Some(d) => d,
        None => cfg.as_ref().map(|c| c.dialect).unwrap_or(Dialect::Notary),
    };
    let remote: Box<dyn Remote> = match req.place {
        Place::Directory(repo) => Box::new(DirRemote {
            dir: layout::metadata_dir(dialect, &gun_repo_dir(&repo, gun)),
        }),
        Place::Server(address) => match address.resolve_or_default(cfg.as_ref())? {
            Some((server, _)) => Box::new(ServerRemote {
                server,
                gun: gun.clone(),
            }),
            None => return Err(no_place()),
        },
        Place::Url(address) => Box::new(address.remote(dialect, gun)?),
    };
    let updater = Updater::new(
        td,
        gun,
        remote.as_ref(),
        VerifyOptions {
            dialect,
            root_key_id: req.root_key_id,
            now: req.now,
        },
    )
    .with_trusted_root(req.trusted_root);
    let v = updater.update()?;
    warn_rejected(&v, prompter);
    Ok((v, dialect))
}

/// One line per role that lists targets outside its delegated paths.
fn warn_rejected(v: &Verified, prompter: &SharedPrompter) {
    let mut by_role: BTreeMap<&str, Vec<&Rejected>> = BTreeMap::new();
    for r in &v.rejected {
        by_role.entry(&r.role).or_default().push(r);
    }
    for (role, rs) in by_role {
        prompter.notice(&format!(
            "warning: rejected {} target(s) that {role} may not sign: {}",
            rs.len(),
            rs.iter()
                .take(3)
                .map(|r| r.reason.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
}

/// A target as `list` shows it.
#[derive(Debug, Serialize)]
pub struct ListedTarget {
    pub name: String,
    /// Hex; empty when the role lists no sha256.
    pub sha256: String,
    pub length: u64,
    /// The role that provides it.
    pub role: String,
}

/// The targets `v` trusts, sorted by name; with `only`, the ones that role provides (which
/// must be one of the repository's roles).
pub fn list_targets(
    v: &Verified,
    dialect: Dialect,
    only: Option<&str>,
) -> Result<Vec<ListedTarget>> {
    if let Some(r) = only {
        if !v.roles.iter().any(|x| x.name == r) {
            return Err(Error::NotFound(format!("{} has no role {r}", v.gun)));
        }
    }
    let mut rows: Vec<ListedTarget> = v
        .roles
        .iter()
        .filter(|r| only.is_none_or(|o| o == r.name))
        .flat_map(|r| {
            r.targets.iter().map(|(name, m)| ListedTarget {
                name: name.clone(),
                sha256: m
                    .hashes
                    .get("sha256")
                    .and_then(|h| dialect.decode_hash(h).ok())
                    .map(hex::encode)
                    .unwrap_or_default(),
                length: m.length,
                role: r.name.clone(),
            })
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}
