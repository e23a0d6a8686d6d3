//! `trustkey init | add | remove | status | publish | list | verify`: the publisher's day, and a
//! client that checks what was published. The flags are defined here; each handler calls the
//! library (`repo::init`, `repo::targets`, `repo::publish`, `repo::client`) and renders.

mod download;
mod migrate;
mod publish;
mod stage;
mod verify;

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::Ctx;
use crate::repo::expiry::ExpiryArg;
use crate::repo::server_repo::ServerAddress;
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::dialect::Dialect;
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
        #[arg(long, value_name = "URI", conflicts_with = "root_key")]
        root: Option<String>,
        /// A root key of a threshold root, repeatable: a token (pkcs11:, yubikey:) or a file
        /// with its public key or certificate (`trustkey root export`). Tokens at hand sign
        /// now; when they are not enough, a signing request is written for the others.
        #[arg(long, value_name = "FILE|URI")]
        root_key: Vec<String>,
        /// How many of the --root-key keys must sign root.
        #[arg(long, value_name = "M")]
        root_threshold: Option<u64>,
        /// Write the signing request to this new file, even when the tokens at hand could sign.
        #[arg(long, value_name = "FILE")]
        request: Option<PathBuf>,
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
    /// Stage a target known by its size and digests, without a file (as `notary addhash`):
    /// an image manifest signed by digest.
    #[command(after_help = "\
Examples:
  trustkey addhash example.com/app v1.0 1024 --sha256 3b5c...e1
  trustkey addhash example.com/app v1.0 1024 --sha256 3b5c...e1 --sha512 9f86...08 --role targets/releases
A tuf-dialect repository has no file to copy for it: publish with --metadata-only.")]
    Addhash {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// The target's name in the repository.
        name: String,
        /// The target's size in bytes.
        size: u64,
        /// Its SHA-256 digest, hex.
        #[arg(long, value_name = "HEX")]
        sha256: String,
        /// Its SHA-512 digest, hex (optional: Docker signs manifests by sha256 only).
        #[arg(long, value_name = "HEX")]
        sha512: Option<String>,
        /// The delegated role that signs it (e.g. targets/releases).
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
        /// Exit with code 7, naming each role, when a role of the publisher's copy expires
        /// within DURATION (N s|m|h|d|w|y, e.g. 30d).
        #[arg(long, value_name = "DURATION")]
        expiring_within: Option<String>,
    },
    /// Discard the staged target changes of a repository (`add`, `addhash`, `remove` since the
    /// last publish). Delegation changes are kept: they are in the repository's config already.
    #[command(after_help = "Examples:\n  trustkey reset example.com/app")]
    Reset {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
    },
    /// Delete the local trust data of a repository (as `notary delete`): its config, staged
    /// changes, the publisher's copy and the client's trusted state in TRUSTDIR/tuf/<gun>/.
    /// Keys stay in TRUSTDIR/private/ (`key list`, `key remove`).
    ///
    /// With --remote, first delete the repository on notary-server too (-s URL, else the server
    /// the repository was initialized with): clients can then no longer fetch it.
    #[command(after_help = "\
Examples:
  trustkey delete example.com/app
  trustkey delete example.com/app --remote
  trustkey delete example.com/app --remote -s https://notary.example.com --tlscacert ca.crt")]
    Delete {
        /// The repository (GUN), e.g. example.com/app.
        gun: Gun,
        /// Also delete it on the notary-server (DELETE /v2/<gun>/_trust/tuf/).
        #[arg(long)]
        remote: bool,
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
        #[command(flatten)]
        client: verify::ClientFlags,
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
        #[command(flatten)]
        client: verify::ClientFlags,
        /// Check a local file against a target: NAME=FILE. Repeatable.
        #[arg(long, value_name = "NAME=FILE")]
        target: Vec<String>,
        /// Exit with code 7, naming each role, when a role expires within DURATION (N s|m|h|d|w|y,
        /// e.g. 30d): a scheduled job runs `verify ... --expiring-within 30d || publish`.
        #[arg(long, value_name = "DURATION")]
        expiring_within: Option<String>,
    },
    /// Download targets as a TUF client: a trusted root, a metadata directory, the metadata
    /// and targets URLs (python-tuf's Updater); each target looked up through the delegations,
    /// checked for length and hashes, and stored (not fetched again while it matches).
    ///
    /// Refreshes root (each next version, at most 256), timestamp (at most 16 KiB), snapshot
    /// and targets (at most the length listed, else 2 MB / 5 MB), using the stored files when
    /// they are still the versions listed; a target lookup visits at most 32 roles, pre-order
    /// depth first as the delegations list them, and fetches only the roles it visits.
    Download(download::DownloadArgs),
    /// Carry a Docker Content Trust repository from a notary-server into a new TUF repository
    /// in a directory (for publishers leaving notary.docker.io).
    ///
    /// Reads GUN from the notary-server and verifies it as `verify -s` does; then creates a TUF
    /// 1.0 repository (as `init --dialect tuf`: a root signed on your token, new keys on disk)
    /// listing every signed target with its name, length and hashes, and publishes its
    /// metadata to DIR/<gun>/metadata/. A delegated role (targets/releases) stays a delegation
    /// (`releases`, its targets' names as its paths) when its private key is in the trust dir;
    /// otherwise top-level targets carries its targets. The output says which, per role.
    #[command(after_help = "\
Registry auth: NOTARY_AUTH (base64 of user:password) or the Docker config's credentials
(DOCKER_CONFIG, `docker login`); DOCKER_CONTENT_TRUST_SERVER is the server when -s is not given.
Passphrases for the new keys: TRUSTKEY_{TARGETS,SNAPSHOT,TIMESTAMP}_PASSPHRASE; for kept
delegation keys: TRUSTKEY_DELEGATION_PASSPHRASE (or notary's NOTARY_*_PASSPHRASE).

Examples:
  trustkey migrate docker.io/acme/app -s https://notary.docker.io --to /srv/tuf --dialect tuf
  trustkey migrate docker.io/acme/app -s https://notary.docker.io --to /srv/tuf --dialect tuf \\
      --root 'pkcs11:token=rootA;object=root' --as tuf.acme.example/app")]
    Migrate {
        /// The repository on the notary-server (GUN), e.g. docker.io/acme/app.
        gun: Gun,
        /// Where the new repository is published: DIR/<gun>/metadata/.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The new repository's dialect (tuf: the TUF 1.0 specification).
        #[arg(long, value_enum)]
        dialect: DialectArg,
        /// The new root key: a pkcs11: URI or yubikey:serial=N (default: the one EC key
        /// labelled `root` on the module's tokens).
        #[arg(long, value_name = "URI")]
        root: Option<String>,
        /// The new repository's GUN (default: the same as the source's).
        #[arg(long = "as", value_name = "GUN")]
        rename: Option<Gun>,
        /// Trust only a source root with this key ID.
        #[arg(long, value_name = "ID")]
        root_keyid: Option<String>,
        /// How long the new root metadata is valid: root=DURATION (default 10y).
        #[arg(long, value_name = "ROLE=DURATION")]
        expires: Vec<ExpiryArg>,
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
                root_key,
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
            } => publish::init(
                ctx,
                &td,
                &gun,
                publish::InitFlags {
                    root,
                    root_keys: root_key,
                    root_threshold,
                    request,
                    dialect: dialect.into(),
                    consistent_snapshot,
                    meta_hashes,
                    hashed_bins,
                    expires,
                    server_managed_snapshot,
                    targets_key,
                    force,
                },
            ),
            RepoCmd::Add {
                gun,
                name,
                file,
                dir,
                prefix,
                role,
            } => {
                let files = match (dir, name, file) {
                    (Some(dir), _, _) => crate::repo::targets::files_under(&dir, &prefix)?,
                    (None, Some(name), Some(file)) => vec![(name, file)],
                    _ => return Err(Error::Usage("add needs NAME FILE, or --dir DIR".into())),
                };
                stage::add(ctx, &td, gun, files, role.as_deref())
            }
            RepoCmd::Addhash {
                gun,
                name,
                size,
                sha256,
                sha512,
                role,
            } => {
                let t = crate::repo::targets::HashedTarget {
                    name,
                    length: size,
                    sha256,
                    sha512,
                };
                stage::addhash(ctx, &td, gun, t, role.as_deref())
            }
            RepoCmd::Remove { gun, name, role } => {
                stage::remove(ctx, &td, gun, name, role.as_deref())
            }
            RepoCmd::Status {
                gun,
                expiring_within,
            } => {
                let window = expiry_window(expiring_within.as_deref())?;
                stage::status(ctx, &td, gun, window)
            }
            RepoCmd::Reset { gun } => {
                let r = crate::repo::discard::reset(&td, &gun, ctx.session.prompter())?;
                ctx.output.emit(&r, |r| {
                    let mut s = format!("{}: discarded {} staged change(s)", r.gun, r.discarded);
                    if r.delegations_changed {
                        s += "; the delegation changes stay: the next publish signs them";
                    }
                    s
                });
                Ok(())
            }
            RepoCmd::Delete { gun, remote } => {
                let address = remote.then(|| server_address(ctx));
                let d = crate::repo::discard::delete(
                    &td,
                    &gun,
                    address.as_ref(),
                    ctx.session.prompter(),
                )?;
                ctx.output.emit(&d, |d| {
                    let mut s = String::new();
                    if let Some(r) = &d.remote {
                        s += &format!("deleted {} on {r}\n", d.gun);
                    }
                    match &d.local {
                        Some(l) => {
                            s += &format!(
                            "deleted the local trust data of {} ({l}); its keys stay in private/\n",
                            d.gun
                        )
                        }
                        None => s += &format!("no local trust data of {}\n", d.gun),
                    }
                    s
                });
                Ok(())
            }
            RepoCmd::Publish {
                gun,
                repo,
                expires,
                metadata_only,
            } => publish::publish(ctx, &td, gun, repo, &expires, metadata_only),
            RepoCmd::List { gun, client, role } => verify::list(ctx, &td, &gun, client, role),
            RepoCmd::Verify {
                gun,
                client,
                target,
                expiring_within,
            } => {
                let files = verify::target_files(&target)?;
                let window = expiry_window(expiring_within.as_deref())?;
                verify::verify(ctx, &td, &gun, client, &files, window)
            }
            RepoCmd::Download(args) => download::run(ctx, &td, args),
            RepoCmd::Migrate {
                gun,
                to,
                dialect,
                root,
                rename,
                root_keyid,
                expires,
            } => migrate::migrate(
                ctx,
                &td,
                migrate::MigrateFlags {
                    gun,
                    to,
                    dialect: dialect.into(),
                    root,
                    rename,
                    root_keyid,
                    expires,
                },
            ),
        }
    }
}

/// `--expiring-within DURATION`: the window and how it was written.
pub(super) type ExpiryWindow = Option<(time::Duration, String)>;

fn expiry_window(arg: Option<&str>) -> Result<ExpiryWindow> {
    let Some(text) = arg else { return Ok(None) };
    let d = crate::repo::expiry::parse_duration(text)
        .map_err(|e| Error::Usage(format!("--expiring-within {e}")))?;
    if d.is_negative() {
        return Err(Error::Usage(format!(
            "--expiring-within {text:?}: the window cannot be negative"
        )));
    }
    Ok(Some((d, text.to_string())))
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

/// Where a client reads the repository: `--repo DIR`, `--repo URL` (a static repository over
/// HTTP(S), `--tlscacert` its CA), or the notary-server (`-s URL`, else the one the GUN's
/// config remembers).
fn place(ctx: &Ctx, repo: Option<PathBuf>) -> Result<crate::repo::client::Place> {
    use crate::repo::client::Place;
    check_one_place(ctx, repo.as_ref())?;
    Ok(match repo {
        Some(at) => match web_address(ctx, &at) {
            Some(address) => Place::Url(address),
            None => Place::Directory(at),
        },
        None => Place::Server(server_address(ctx)),
    })
}

/// `--repo` as a URL, if it is one (`http://` or `https://`).
pub(super) fn web_address(ctx: &Ctx, at: &Path) -> Option<crate::repo::client::WebAddress> {
    let s = at.to_str()?;
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| {
        crate::repo::client::WebAddress {
            url: s.to_string(),
            tlscacert: ctx.tlscacert.clone(),
            timeouts: ctx.timeouts,
        }
    })
}

/// The notary-server the command line names (-s/--server, --tlscacert, --tlscert/--tlskey).
fn server_address(ctx: &Ctx) -> ServerAddress {
    ServerAddress {
        url: ctx.server.clone(),
        tlscacert: ctx.tlscacert.clone(),
        timeouts: ctx.timeouts,
        client_cert: ctx.client_cert.clone(),
    }
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

    #[test]
    fn the_flags_name_one_place() {
        // --repo and -s together are refused.
        assert!(check_one_place(&ctx(&["-s", "x.example.com"]), Some(&"/r".into())).is_err());
        assert!(check_one_place(&ctx(&[]), Some(&"/r".into())).is_ok());
        let ca = std::path::PathBuf::from("ca.crt");
        let c = ctx(&["-s", "x.example.com", "--tlscacert", "ca.crt"]);
        assert_eq!(
            server_address(&c),
            ServerAddress {
                url: Some("x.example.com".into()),
                tlscacert: Some(ca),
                timeouts: crate::repo::server::Timeouts::default(),
                client_cert: None,
            }
        );
    }
}
