//! `trustkey init | add | remove | status | publish | list | verify`: the publisher's day, and a
//! client that checks what was published.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;
use time::OffsetDateTime;

use super::Ctx;
use crate::keys::uri::KeyRef;
use crate::repo::client::{check_target_file, DirRemote, Remote, Updater, VerifyOptions};
use crate::repo::expiry::{Expiries, ExpiryArg};
use crate::repo::init::{self, InitRequest};
use crate::repo::layout;
use crate::repo::publish::{self, gun_repo_dir, Directory, PublishOptions, PublishRequest, Server};
use crate::repo::server::NotaryServer;
use crate::repo::server_repo::{ServerAddress, ServerRemote};
use crate::repo::stage::{check_target_name, Change, Stage};
use crate::repo::trustdir::{Gun, RepoConfig, ServerConfig, TrustDir, TufOptions};
use crate::tuf::dialect::{Dialect, MetaHashes};
use crate::tuf::model::RoleName;
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum RepoCmd {
    /// Create a repository: new repository keys on disk, root metadata signed on the token.
    ///
    /// Creates the targets, snapshot and timestamp keys (P-256), each encrypted with its
    /// passphrase in TRUSTDIR/private/<key id>.key, and root metadata (version 1) signed by the
    /// root key on its token: in the notary dialect with the root certificate (CN = GUN), in the
    /// tuf dialect (TUF 1.0, as python-tuf reads it) with the bare key.
    #[command(after_help = "\
Passphrases for the new keys come from TRUSTKEY_TARGETS_PASSPHRASE, TRUSTKEY_SNAPSHOT_PASSPHRASE
and TRUSTKEY_TIMESTAMP_PASSPHRASE (or NOTARY_*_PASSPHRASE), else a prompt (asked twice).

With -s/--server URL the repository is made for a notary-server (Docker Content Trust): root names
the timestamp key the server holds (fetched now, once), no timestamp key is made on disk, and the
server is remembered, so `publish GUN` needs no -s later. --server-managed-snapshot also leaves
snapshot to the server (as `notary key rotate GUN snapshot -r` does).

Examples:
  trustkey init example.com/app --root 'pkcs11:token=rootA;object=root'
  trustkey init example.com/app --root yubikey:serial=12345678
  # the only key labelled `root` on the module's tokens is used
  trustkey init example.com/app
  trustkey init example.com/app --expires root=5y
  trustkey init example.com/app -s https://notary.example.com --tlscacert ca.crt
  trustkey init example.com/app -s https://notary.example.com --server-managed-snapshot
  # a targets key imported with `trustkey key import` (e.g. one notary made)
  trustkey init example.com/app -s https://notary.example.com --targets-key 3f2a
  trustkey init example.com/app --dialect tuf --consistent-snapshot --meta-hashes")]
    Init {
        /// The repository's globally unique name (e.g. docker.io/library/alpine).
        gun: Gun,
        /// The root key: a pkcs11: URI or yubikey:serial=N (default: the one EC key labelled
        /// `root` on the module's tokens).
        // A string, parsed in `run`: clap would echo a rejected value, PIN included.
        #[arg(long, value_name = "URI")]
        root: Option<String>,
        /// Metadata dialect.
        #[arg(long, value_enum, default_value_t = DialectArg::Notary)]
        dialect: DialectArg,
        /// tuf dialect: consistent snapshots (N.snapshot.json, N.targets.json, and target files
        /// named <hex sha256>.<name>), so clients never see a half-updated repository.
        #[arg(long)]
        consistent_snapshot: bool,
        /// tuf dialect: snapshot and timestamp list lengths and sha256 hashes, not only versions.
        #[arg(long)]
        meta_hashes: bool,
        /// tuf dialect: spread targets over N hashed-bin delegations (a power of two), so that
        /// adding a target signs one bin, not every target. The bins share one key on disk
        /// (passphrase: TRUSTKEY_DELEGATION_PASSPHRASE).
        #[arg(long, value_name = "N")]
        hashed_bins: Option<u32>,
        /// How long root metadata is valid: root=DURATION ([-]N s|m|h|d|w|y; default 10y).
        #[arg(long, value_name = "ROLE=DURATION")]
        expires: Vec<ExpiryArg>,
        /// The server (-s) signs snapshot too: root names its snapshot key.
        #[arg(long)]
        server_managed_snapshot: bool,
        /// Use this key from the trust dir as the targets key (ID or unique prefix; see `key
        /// list`) instead of making a new one.
        #[arg(long, value_name = "KEY_ID")]
        targets_key: Option<String>,
        /// Re-initialize an initialized repository under a new root, when its root key is lost:
        /// all new keys (the old ones are retired), root version = the old one + 1. The new
        /// root does not chain to the old one: clients that trust the old root must re-pin.
        #[arg(long)]
        force: bool,
    },
    /// Stage targets; their length, sha256 and sha512 are computed now, one read per file
    /// (files in parallel across the cores; a progress bar on a terminal).
    ///
    /// The file's path is remembered too: publishing a tuf-dialect repository copies the file
    /// into DIR/<gun>/targets/, checking while it copies that it still has these hashes.
    #[command(after_help = "\
Examples:
  trustkey add example.com/app v1.0 ./app-1.0.tar.gz
  # every file under ./dist, named by its path below it (dist/a/b.bin -> a/b.bin)
  trustkey add example.com/app --dir ./dist
  trustkey add example.com/app --dir ./dist --prefix releases/1.0/")]
    Add {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// The target's name in the repository.
        #[arg(required_unless_present = "dir")]
        name: Option<String>,
        /// The file to hash.
        #[arg(required_unless_present = "dir")]
        file: Option<PathBuf>,
        /// Add every regular file under DIR instead (symbolic links are not followed).
        #[arg(long, value_name = "DIR", conflicts_with_all = ["name", "file"])]
        dir: Option<PathBuf>,
        /// With --dir: put this before each file's relative path to make its target name.
        #[arg(long, value_name = "PREFIX", requires = "dir", default_value = "")]
        prefix: String,
        /// The delegated role that signs these targets (e.g. targets/releases; see
        /// `delegation list`); its paths must cover them.
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
    },
    /// Stage the removal of a target.
    #[command(after_help = "Examples:\n  trustkey remove example.com/app v0.9")]
    Remove {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// The target to remove.
        name: String,
        /// The delegated role that lists it.
        #[arg(long, value_name = "ROLE")]
        role: Option<String>,
    },
    /// Show the staged changes of a repository.
    #[command(after_help = "Examples:\n  trustkey status example.com/app\n  \
                            trustkey status example.com/app --json")]
    Status {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
    },
    /// Sign targets, snapshot and timestamp and write them into a static repository, or
    /// upload them to a notary-server.
    ///
    /// Signs with the keys on disk. Versions go up by one. Staged changes are cleared and new
    /// versions recorded only after a successful publish; a failed one changes nothing locally.
    ///
    /// With --repo DIR, notary dialect: writes, all or nothing, DIR/<gun>/{root,targets,
    /// snapshot,timestamp}.json, DIR/<gun>/<N>.root.json, and the checksum-named copies a notary
    /// client fetches (serve DIR as https://HOST/v2/ and `notary -s https://HOST` reads it).
    ///
    /// With --repo DIR, tuf dialect: DIR/<gun>/metadata/ holds <N>.root.json for every root
    /// version, root.json, timestamp.json, snapshot.json and targets.json (and <N>.snapshot.json,
    /// <N>.targets.json with consistent snapshots); DIR/<gun>/targets/ holds the target files,
    /// copied from the files given to `add` (checked, while copied, to be unchanged since), as
    /// <name> or, with consistent snapshots, <dir>/<hex sha256>.<base name>; files of removed
    /// targets are left in place. Serve DIR over HTTP and point a TUF client at
    /// http://HOST/<gun>/metadata/ and http://HOST/<gun>/targets/, with 1.root.json as its
    /// trusted root.
    ///
    /// With -s/--server URL (or the server `init -s` remembered; notary dialect): uploads root
    /// (if the server does not have it yet), targets and snapshot in one request; the server
    /// signs timestamp. If another client published since, the server's copy is verified
    /// against the root and the new targets build on it.
    #[command(after_help = "\
Passphrases: TRUSTKEY_{TARGETS,SNAPSHOT,TIMESTAMP}_PASSPHRASE (or NOTARY_*), else a prompt.
Expiry defaults (notary's): targets 3y, snapshot 3y, timestamp 14d.

Examples:
  trustkey publish example.com/app --repo /srv/trust
  trustkey publish example.com/app --repo /srv/trust --expires timestamp=1d --expires targets=90d
  trustkey publish example.com/app -s https://notary.example.com --tlscacert ca.crt
  trustkey publish example.com/app     # to the server remembered at init")]
    Publish {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// The static repository: the GUN's files are in DIR/<gun>/. (Or -s URL: a
        /// notary-server.)
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// How long a role is valid: ROLE=DURATION ([-]N s|m|h|d|w|y), ROLE one of targets,
        /// snapshot, timestamp. Repeatable. Delegated roles get targets' expiry.
        #[arg(long, value_name = "ROLE=DURATION")]
        expires: Vec<ExpiryArg>,
        /// tuf dialect: write metadata only; the target files are served from elsewhere.
        #[arg(long)]
        metadata_only: bool,
    },
    /// Verify a repository (see `verify`) and list its targets, with the role that signed each.
    #[command(
        after_help = "Examples:\n  trustkey list example.com/app --repo /srv/trust\n  \
                            trustkey list example.com/app --repo /srv/trust --json\n  \
                            trustkey list example.com/app -s https://notary.example.com --tlscacert ca.crt"
    )]
    List {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
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
        dialect: Option<DialectArg>,
        /// Only the targets this role provides (as `notary list -r targets/releases`).
        #[arg(short = 'r', long, value_name = "ROLE")]
        role: Option<String>,
    },
    /// Verify a repository as a client; fails with one line saying what is wrong (exit code 5).
    ///
    /// Pins the root on first use (or to --root-keyid), then checks signatures and thresholds
    /// of every role, the root certificate (CN = GUN, validity), expiry, rollback against the
    /// last trusted versions, snapshot and timestamp hashes and lengths, and given target files.
    /// A new root must be signed by the trusted root's keys and its own, one version at a time.
    ///
    /// tuf dialect (TUF 1.0 client workflow, as python-tuf's ngclient): reads
    /// DIR/<gun>/metadata/; first use trusts 1.root.json (self-signed, --root-keyid if given),
    /// then walks <N+1>.root.json until there is none; timestamp, snapshot and targets follow
    /// with signature, version (rollback), hash/length when listed, and expiry (freeze) checks.
    #[command(after_help = "\
The trusted state is kept in TRUSTDIR/tuf/<gun>/client/, apart from the publisher's.
Without --repo or -s, the server the repository was published to (`init -s`) is used.
The dialect is the one the GUN was initialized with in this trust dir, else --dialect (notary).

Examples:
  trustkey verify example.com/app --repo /srv/trust
  trustkey verify example.com/app -s https://notary.example.com --tlscacert ca.crt
  trustkey verify example.com/app --repo /srv/trust --root-keyid 3f2a...c9
  trustkey verify example.com/app --repo /srv/trust --target v1.0=./app-1.0.tar.gz
  trustkey verify example.com/py --repo /srv/tuf --dialect tuf")]
    Verify {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
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
        dialect: Option<DialectArg>,
        /// Check a local file against a target: NAME=FILE. Repeatable.
        #[arg(long, value_name = "NAME=FILE")]
        target: Vec<String>,
    },
}

/// `--dialect`: the command line's names for `tuf::dialect::Dialect` (the library has no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DialectArg {
    /// Notary v1 / Docker Content Trust.
    Notary,
    /// The TUF 1.0 specification, as python-tuf's ngclient verifies it.
    Tuf,
}

impl From<DialectArg> for Dialect {
    fn from(d: DialectArg) -> Self {
        match d {
            DialectArg::Notary => Dialect::Notary,
            DialectArg::Tuf => Dialect::Tuf,
        }
    }
}

impl RepoCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        let td = TrustDir::new(&ctx.trust_dir);
        match self {
            RepoCmd::Init {
                gun,
                root,
                dialect,
                consistent_snapshot,
                meta_hashes,
                hashed_bins,
                expires,
                server_managed_snapshot,
                targets_key,
                force,
            } => {
                let dialect = Dialect::from(dialect);
                let bins = hashed_bins
                    .map(crate::tuf::delegation::HashedBins::new)
                    .transpose()
                    .map_err(Error::Usage)?;
                if bins.is_some() && (dialect != Dialect::Tuf || ctx.server.is_some()) {
                    return Err(Error::Usage(
                        "--hashed-bins needs --dialect tuf (notary clients have no hashed bins)"
                            .into(),
                    ));
                }
                let root = root.map(|r| r.parse::<KeyRef>()).transpose()?;
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
                    gun: &gun,
                    dialect,
                    tuf,
                    hashed_bins: bins,
                    root,
                    expiries: &expiries,
                    server: server_address(ctx),
                    server_managed_snapshot,
                    targets_key: targets_key.as_deref(),
                    force,
                    now: OffsetDateTime::now_utc(),
                };
                let done = init::initialize(&ctx.session, &td, &req)?;
                ctx.output.emit(&done, |d| {
                    let mut s = format!(
                        "initialized {} ({} dialect), root version {}\n",
                        d.gun, d.dialect, d.root_version
                    );
                    for k in &d.keys {
                        s += &format!("  {:<9} {}  {}\n", k.role.as_str(), k.key_id, k.location);
                    }
                    s
                });
                Ok(())
            }
            RepoCmd::Add {
                gun,
                name,
                file,
                dir,
                prefix,
                role,
            } => {
                let files = match (dir, name, file) {
                    (Some(dir), _, _) => files_under(&dir, &prefix)?,
                    (None, Some(name), Some(file)) => vec![(name, file)],
                    _ => return Err(Error::Usage("add needs NAME FILE, or --dir DIR".into())),
                };
                add(ctx, &td, gun, files, role.as_deref())
            }
            RepoCmd::Remove { gun, name, role } => remove(ctx, &td, gun, name, role.as_deref()),
            RepoCmd::Status { gun } => status(ctx, &td, gun),
            RepoCmd::Publish {
                gun,
                repo,
                expires,
                metadata_only,
            } => publish_cmd(
                ctx,
                &td,
                gun,
                repo,
                &expires,
                PublishOptions { metadata_only },
            ),
            RepoCmd::List {
                gun,
                repo,
                root_keyid,
                dialect,
                role,
            } => list(
                ctx,
                &td,
                gun,
                repo,
                root_keyid,
                dialect.map(Into::into),
                role,
            ),
            RepoCmd::Verify {
                gun,
                repo,
                root_keyid,
                dialect,
                target,
            } => verify_cmd(
                ctx,
                &td,
                gun,
                repo,
                root_keyid,
                dialect.map(Into::into),
                &target,
            ),
        }
    }
}

#[derive(Debug, Serialize)]
struct Staged<'a> {
    gun: &'a Gun,
    change: &'a Change,
}

fn add(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    files: Vec<(String, PathBuf)>,
    role: Option<&str>,
) -> Result<()> {
    let cfg = td.load_config(&gun)?;
    let copies_targets = layout::targets_dir(cfg.dialect, Path::new("")).is_some();
    let mut absolute = Vec::with_capacity(files.len());
    let mut roles = Vec::with_capacity(files.len());
    for (name, file) in files {
        check_target_name(&name)?;
        if copies_targets {
            layout::check_target_path(&name)?;
        }
        roles.push(signing_role(&cfg, &name, role)?);
        // Publishing a tuf-dialect repository copies the file from here.
        let file = std::path::absolute(&file)
            .map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
        absolute.push((name, file));
    }
    let files = absolute;
    let paths: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
    let total: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = ctx.output.bytes_bar(total, "hashing");
    let digests = crate::repo::hashing::hash_files(&paths, &|n| bar.inc(n));
    bar.finish_and_clear();
    let mut changes = Vec::with_capacity(files.len());
    for (((name, path), d), role) in files.into_iter().zip(digests).zip(roles) {
        let d = d.map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        changes.push(Change::Add {
            name,
            length: d.length,
            sha256: hex::encode(d.sha256),
            sha512: hex::encode(d.sha512),
            path: Some(path),
            role,
        });
    }
    // Hash first, then take the lock only to update the stage: a long add does not block a
    // publish on the same repository.
    let _lock = td.lock(&gun, |m| ctx.output.progress(m))?;
    let path = td.staged_path(&gun);
    let mut stage = Stage::load(&path)?;
    stage.push_many(changes.clone());
    stage.save(&path)?;
    if changes.len() == 1 {
        ctx.output.emit(
            &Staged {
                gun: &gun,
                change: &changes[0],
            },
            |s| describe_change(s.change),
        );
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

/// Every regular file under `dir`, named `prefix` + its path relative to `dir` (with `/`),
/// sorted by name. Symbolic links are skipped, not followed.
fn files_under(dir: &std::path::Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| Error::io(format!("reading {}", d.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("reading {}", d.display()), e))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let rel = path.strip_prefix(dir).expect("below dir");
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((format!("{prefix}{}", rel.join("/")), path));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Usage(format!("no files under {}", dir.display())));
    }
    out.sort();
    Ok(out)
}

/// The role a target is staged for: `None` for targets itself, else the delegated role
/// (`--role`, or its hashed bin).
fn signing_role(cfg: &RepoConfig, name: &str, role: Option<&str>) -> Result<Option<String>> {
    let r = cfg.route(name, role)?;
    Ok((r != crate::repo::delegations::TARGETS).then_some(r))
}

fn remove(ctx: &Ctx, td: &TrustDir, gun: Gun, name: String, role: Option<&str>) -> Result<()> {
    let cfg = td.load_config(&gun)?;
    let role = signing_role(&cfg, &name, role)?;
    let _lock = td.lock(&gun, |m| ctx.output.progress(m))?;
    let path = td.staged_path(&gun);
    let mut stage = Stage::load(&path)?;
    let label = crate::repo::delegations::role_label(role.as_deref());
    let (published, _) = publish::published_base(td, &gun, label)?;
    if !stage.adds(&name) && !published.contains_key(&name) {
        return Err(Error::NotFound(format!(
            "target {name:?} is neither published nor staged in {label} of {gun}"
        )));
    }
    let change = Change::Remove { name, role };
    stage.push(change.clone());
    stage.save(&path)?;
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

fn status(ctx: &Ctx, td: &TrustDir, gun: Gun) -> Result<()> {
    let cfg = td.load_config(&gun)?;
    let stage = Stage::load(&td.staged_path(&gun))?;
    #[derive(Serialize)]
    struct Status<'a> {
        gun: &'a Gun,
        versions: &'a BTreeMap<RoleName, u64>,
        changes: &'a [Change],
        delegations_changed: bool,
    }
    ctx.output.emit(
        &Status {
            gun: &gun,
            versions: &cfg.versions,
            changes: &stage.changes,
            delegations_changed: stage.delegations_changed,
        },
        |s| {
            let mut out = format!(
                "{}: published targets version {}\n",
                s.gun,
                s.versions.get(&RoleName::Targets).copied().unwrap_or(0)
            );
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
    Ok(())
}

fn publish_cmd(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    repo: Option<PathBuf>,
    expires: &[ExpiryArg],
    options: PublishOptions,
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
    let mut dest = Directory::new(repo, options);
    let done = publish::publish(&ctx.session, td, &mut dest, &req)?;
    ctx.output.emit(&done, |p| {
        format!(
            "published {} to {}: targets v{}{}, snapshot v{}, timestamp v{} ({} changes){}",
            p.gun,
            p.repo,
            p.versions.get(&RoleName::Targets).copied().unwrap_or(0),
            if p.signed_targets { "" } else { " (unchanged)" },
            p.versions.get(&RoleName::Snapshot).copied().unwrap_or(0),
            p.versions.get(&RoleName::Timestamp).copied().unwrap_or(0),
            p.changes,
            describe_delegated(p),
        )
    });
    Ok(())
}

/// `publish` to a notary-server: -s URL, or the server the GUN's config remembers.
fn publish_server_cmd(ctx: &Ctx, td: &TrustDir, req: &PublishRequest<'_>) -> Result<()> {
    let first = td.load_config(req.gun)?;
    let Some((server, chosen)) = server_for(ctx, Some(&first))? else {
        return Err(need_place());
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

fn client_update(
    ctx: &Ctx,
    td: &TrustDir,
    gun: &Gun,
    repo: Option<PathBuf>,
    root_keyid: Option<String>,
    dialect: Option<Dialect>,
) -> Result<(crate::repo::client::Verified, Dialect)> {
    check_one_place(ctx, repo.as_ref())?;
    let cfg = td.load_config(gun).ok();
    let dialect = match dialect {
        Some(d) => d,
        None => cfg.as_ref().map(|c| c.dialect).unwrap_or(Dialect::Notary),
    };
    let remote: Box<dyn Remote> = match repo {
        Some(repo) => Box::new(DirRemote {
            dir: layout::metadata_dir(dialect, &gun_repo_dir(&repo, gun)),
        }),
        None => match server_for(ctx, cfg.as_ref())? {
            Some((server, _)) => Box::new(ServerRemote {
                server,
                gun: gun.clone(),
            }),
            None => return Err(need_place()),
        },
    };
    let client = Updater::new(
        td,
        gun,
        remote.as_ref(),
        VerifyOptions {
            dialect,
            root_key_id: root_keyid,
            now: OffsetDateTime::now_utc(),
        },
    );
    let v = client.update()?;
    warn_rejected(ctx, &v);
    Ok((v, dialect))
}

/// One line per role that lists targets outside its delegated paths.
fn warn_rejected(ctx: &Ctx, v: &crate::repo::client::Verified) {
    let mut by_role: BTreeMap<&str, Vec<&crate::repo::client::Rejected>> = BTreeMap::new();
    for r in &v.rejected {
        by_role.entry(&r.role).or_default().push(r);
    }
    for (role, rs) in by_role {
        ctx.output.progress(&format!(
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

#[derive(Debug, Serialize)]
struct ListedTarget {
    name: String,
    sha256: String,
    length: u64,
    role: String,
}

fn listed(
    dialect: Dialect,
    v: &crate::repo::client::Verified,
    only: Option<&str>,
) -> Vec<ListedTarget> {
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
    rows
}

fn list(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    repo: Option<PathBuf>,
    root_keyid: Option<String>,
    dialect: Option<Dialect>,
    role: Option<String>,
) -> Result<()> {
    let (v, dialect) = client_update(ctx, td, &gun, repo, root_keyid, dialect)?;
    if let Some(r) = &role {
        if !v.roles.iter().any(|x| &x.name == r) {
            return Err(Error::NotFound(format!("{gun} has no role {r}")));
        }
    }
    let rows = listed(dialect, &v, role.as_deref());
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

fn verify_cmd(
    ctx: &Ctx,
    td: &TrustDir,
    gun: Gun,
    repo: Option<PathBuf>,
    root_keyid: Option<String>,
    dialect: Option<Dialect>,
    target_args: &[String],
) -> Result<()> {
    let mut files = Vec::new();
    for t in target_args {
        let (name, file) = t
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--target {t:?}: expected NAME=FILE")))?;
        files.push((name.to_string(), PathBuf::from(file)));
    }
    let (v, dialect) = client_update(ctx, td, &gun, repo, root_keyid, dialect)?;
    let mut checked = Vec::new();
    for (name, file) in &files {
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

/// `--repo DIR` and `-s URL` both say where the repository is: only one may be given.
fn check_one_place(ctx: &Ctx, repo: Option<&PathBuf>) -> Result<()> {
    if repo.is_some() && ctx.server.is_some() {
        return Err(Error::Usage(
            "--repo DIR and -s/--server URL both name where the repository is; give one".into(),
        ));
    }
    Ok(())
}

fn need_place() -> Error {
    Error::Usage(
        "name the repository directory with --repo DIR or the notary-server with -s URL".into(),
    )
}

/// The notary-server the command line names (-s/--server, --tlscacert).
fn server_address(ctx: &Ctx) -> ServerAddress {
    ServerAddress {
        url: ctx.server.clone(),
        tlscacert: ctx.tlscacert.clone(),
    }
}

/// The notary-server of a command: -s/--server (with --tlscacert), else the one the GUN's
/// config remembers.
fn server_for(ctx: &Ctx, cfg: Option<&RepoConfig>) -> Result<Option<(NotaryServer, ServerConfig)>> {
    server_address(ctx).resolve(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn ctx(args: &[&str]) -> Ctx {
        let mut argv = vec!["trustkey", "-d", "/nonexistent/trust"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["status", "example.com/app"]);
        let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
        Ctx::new(&cli.global).unwrap()
    }

    fn cfg(server: Option<ServerConfig>) -> RepoConfig {
        RepoConfig {
            gun: "example.com/app".parse().unwrap(),
            dialect: Dialect::Notary,
            root_key: String::new(),
            root_key_id: String::new(),
            key_ids: BTreeMap::new(),
            versions: BTreeMap::new(),
            server,
            server_roles: vec![RoleName::Timestamp],
            tuf: None,
            key_files: BTreeMap::new(),
            retired: Vec::new(),
            delegations: Vec::new(),
            hashed_bins: None,
        }
    }

    #[test]
    fn the_server_comes_from_flags_then_the_config() {
        let ca = std::env::temp_dir().join("trustkey-server-for-test-ca.crt");
        let remembered = ServerConfig {
            url: "https://notary.example.com".into(),
            tlscacert: Some(ca.clone()),
        };
        // Nothing given, nothing remembered.
        assert!(server_for(&ctx(&[]), Some(&cfg(None))).unwrap().is_none());
        // Remembered (the CA file is read when the client is made: use none here).
        let plain = ServerConfig {
            url: "https://notary.example.com".into(),
            tlscacert: None,
        };
        let (_, got) = server_for(&ctx(&[]), Some(&cfg(Some(plain.clone()))))
            .unwrap()
            .unwrap();
        assert_eq!(got, plain);
        // -s wins; another server does not inherit the remembered CA file.
        let (s, got) = server_for(
            &ctx(&["-s", "other.example.com/"]),
            Some(&cfg(Some(remembered.clone()))),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.url(), "https://other.example.com");
        assert_eq!(got.url, "https://other.example.com");
        assert_eq!(got.tlscacert, None);
        // The same server keeps its CA file (which must then exist).
        let err = server_for(
            &ctx(&["-s", "https://notary.example.com/"]),
            Some(&cfg(Some(remembered))),
        )
        .unwrap_err();
        assert!(err.to_string().contains(ca.to_str().unwrap()), "{err}");
        // --repo and -s together are refused.
        assert!(check_one_place(&ctx(&["-s", "x.example.com"]), Some(&"/r".into())).is_err());
    }
}
