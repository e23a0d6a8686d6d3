//! The trust dir's layout for repositories, the per-GUN config, and the per-GUN lock.
//!
//! ```text
//! TRUSTDIR/private/<key id>.key          repository keys (notary's layout)
//! TRUSTDIR/tuf/<gun>/trustkey.json       this repository's config (RepoConfig)
//! TRUSTDIR/tuf/<gun>/staged.json         staged target changes
//! TRUSTDIR/tuf/<gun>/published/          the publisher's copy of what it last published
//! TRUSTDIR/tuf/<gun>/client/             a verifier's trusted state, separate from the above
//! TRUSTDIR/tuf/<gun>/trustkey.lock       serializes trustkey processes working on this GUN
//! TRUSTDIR/tuf/<gun>/client.lock         serializes updates of the client's trusted state
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::fsio::{self, Overwrite};
use crate::tuf::dialect::{Dialect, MetaHashes};
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// A globally unique name of a repository (`docker.io/library/alpine`), checked so that it is
/// also a safe relative path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gun(String);

impl Gun {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Gun {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Err(Error::Usage(format!("invalid GUN {s:?}: {why}")));
        if s.is_empty() {
            return bad("it is empty");
        }
        if s.len() > 255 {
            return bad("it is longer than 255 characters");
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@".contains(*c)))
        {
            return bad(&format!(
                "{c:?} is not allowed (use letters, digits and ._-/:@)"
            ));
        }
        if s.starts_with('/') || s.ends_with('/') {
            return bad("it starts or ends with /");
        }
        if s.split('/').any(|p| p.is_empty() || p == "." || p == "..") {
            return bad("it has an empty, . or .. path component");
        }
        Ok(Gun(s.to_string()))
    }
}

impl TryFrom<String> for Gun {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Gun> for String {
    fn from(g: Gun) -> String {
        g.0
    }
}

impl fmt::Display for Gun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Paths in a trust dir.
#[derive(Debug, Clone)]
pub struct TrustDir {
    pub root: PathBuf,
}

impl TrustDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        TrustDir { root: root.into() }
    }

    pub fn private_dir(&self) -> PathBuf {
        self.root.join("private")
    }

    /// Checks the directories that hold secrets before a command uses them (issue 20, defect
    /// 14): `private/`, `private/retired/` and `escrow/` must not be symbolic links (refused:
    /// keys would be read from and written to wherever the link points), and are made
    /// owner-only if group or world could reach them, with a notice through `warn`
    /// ([`fsio::secure_dir`] says why tightening beats refusing). The trust dir itself is
    /// tightened too when it holds keys; it may be a link (the user's choice of where it
    /// lives), but not a link to a group- or world-accessible directory left so.
    pub fn secure(&self, mut warn: impl FnMut(&str)) -> Result<()> {
        let private = self.private_dir();
        let escrow = self.root.join("escrow");
        let mut holds_keys = false;
        for dir in [&private, &private.join("retired"), &escrow] {
            match fsio::secure_dir(dir)? {
                fsio::DirState::Missing => {}
                fsio::DirState::Private => holds_keys = true,
                fsio::DirState::Tightened(mode) => {
                    holds_keys = true;
                    warn(&tightened(dir, mode));
                }
            }
        }
        if !holds_keys {
            return Ok(());
        }
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&self.root)
            .map_err(|e| Error::io(format!("reading {}", self.root.display()), e))?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(
                &self.root,
                std::fs::Permissions::from_mode(fsio::SECRET_DIR_MODE),
            )
            .map_err(|e| Error::io(format!("restricting {}", self.root.display()), e))?;
            warn(&tightened(&self.root, mode));
        }
        Ok(())
    }

    /// Where notary keeps (and looks for) a key: `private/<key id>.key`.
    pub fn key_path(&self, key_id: &str) -> PathBuf {
        crate::keys::store::key_path(&self.root, key_id)
    }

    pub fn gun_dir(&self, gun: &Gun) -> PathBuf {
        let mut p = self.root.join("tuf");
        for part in gun.as_str().split('/') {
            p.push(part);
        }
        p
    }

    pub fn config_path(&self, gun: &Gun) -> PathBuf {
        self.gun_dir(gun).join("trustkey.json")
    }

    pub fn staged_path(&self, gun: &Gun) -> PathBuf {
        self.gun_dir(gun).join("staged.json")
    }

    pub fn published_dir(&self, gun: &Gun) -> PathBuf {
        self.gun_dir(gun).join("published")
    }

    /// A verifier's trusted state of the GUN in `dialect`: `client/<dialect>/`. Apart per
    /// dialect, so that after `migrate` the TUF copy of a GUN and its notary original are each
    /// verified against their own trusted root.
    pub fn client_dir(&self, gun: &Gun, dialect: Dialect) -> PathBuf {
        self.legacy_client_dir(gun).join(dialect.name())
    }

    /// Where older trust dirs keep the trusted state of either dialect: `client/` itself.
    /// Still read, for the dialect of the root stored there.
    pub fn legacy_client_dir(&self, gun: &Gun) -> PathBuf {
        self.gun_dir(gun).join("client")
    }

    /// Takes the GUN's lock, waiting (with a notice) while another trustkey holds it.
    pub fn lock(&self, gun: &Gun, notice: impl FnOnce(&str)) -> Result<RepoLock> {
        self.lock_file(gun, "trustkey.lock", notice)
    }

    /// Takes the lock of the GUN's client state (`client/`), waiting (with a notice) while
    /// another update holds it: an update reads the trusted versions, verifies, and stores
    /// the new ones under it, so that two updates never store versions out of order. Apart
    /// from [`lock`](Self::lock), which a publisher holds while it verifies what it builds on.
    pub fn lock_client(&self, gun: &Gun, notice: impl FnOnce(&str)) -> Result<RepoLock> {
        self.lock_file(gun, "client.lock", notice)
    }

    fn lock_file(&self, gun: &Gun, name: &str, notice: impl FnOnce(&str)) -> Result<RepoLock> {
        let dir = self.gun_dir(gun);
        fsio::create_private_dir(&dir)?;
        let path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening lock {}", path.display()), e))?;
        let what = match name {
            "client.lock" => format!("another verify of {gun}"),
            _ => format!("another trustkey working on {gun}"),
        };
        take_lock(file, &path, &what, notice)
    }

    /// The config of an initialized repository, or a clear "unknown GUN" error.
    pub fn load_config(&self, gun: &Gun) -> Result<RepoConfig> {
        let path = self.config_path(gun);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(format!(
                    "unknown GUN {gun}: no repository initialized in {} (run `trustkey init {gun}`)",
                    self.root.display()
                )))
            }
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        RepoConfig::from_bytes(&bytes, &path, gun)
    }

    pub fn save_config(&self, cfg: &RepoConfig) -> Result<()> {
        let path = self.config_path(&cfg.gun);
        let mut bytes = serde_json::to_vec_pretty(cfg)
            .map_err(|e| Error::Metadata(format!("{}: {e}", path.display())))?;
        bytes.push(b'\n');
        fsio::create_private_dir(&self.gun_dir(&cfg.gun))?;
        fsio::write_atomic(&path, &bytes, fsio::SECRET_FILE_MODE, Overwrite::Replace)
    }

    /// Reads a file the publisher keeps (`published/root.json`, ...); `None` if absent.
    pub fn read_published(&self, gun: &Gun, name: &str) -> Result<Option<Vec<u8>>> {
        read_optional(&self.published_dir(gun).join(name))
    }
}

fn tightened(dir: &Path, mode: u32) -> String {
    format!(
        "{} was mode {mode:04o}, open to other users; made it 0700 (owner only): it holds \
         private keys",
        dir.display()
    )
}

pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Held while a command works on a GUN (or publishes into a directory); released on drop
/// (and by the OS if the process dies).
#[derive(Debug)]
pub struct RepoLock {
    _file: File,
}

/// Sets how long a command waits for a lock another trustkey holds, in whole seconds.
pub const LOCK_TIMEOUT_VAR: &str = "TRUSTKEY_LOCK_TIMEOUT_SECS";
/// How long a command waits for a lock by default: a publish holding it may be waiting for a
/// passphrase or a touch, but a command never waits without end.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest wait `TRUSTKEY_LOCK_TIMEOUT_SECS` may ask for (a day).
const LOCK_TIMEOUT_MAX: u64 = 86_400;

/// The wait [`LOCK_TIMEOUT_VAR`] sets (0 to a day; 0: do not wait), else [`LOCK_TIMEOUT`].
pub fn lock_timeout() -> Result<Duration> {
    let Some(value) = std::env::var_os(LOCK_TIMEOUT_VAR) else {
        return Ok(LOCK_TIMEOUT);
    };
    value
        .to_str()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| *s <= LOCK_TIMEOUT_MAX)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            Error::Usage(format!(
                "{LOCK_TIMEOUT_VAR}={}: expected whole seconds from 0 to {LOCK_TIMEOUT_MAX}",
                crate::text::printable(&value.to_string_lossy())
            ))
        })
}

/// Takes `file`'s exclusive lock (`flock`; `path` names it, `what` says who holds it). While
/// another process holds it, says so once through `notice` and waits, at most
/// [`lock_timeout`]: then fails with [`Error::Busy`], having changed nothing.
pub fn take_lock(
    file: File,
    path: &Path,
    what: &str,
    notice: impl FnOnce(&str),
) -> Result<RepoLock> {
    // Read before trying: a bad setting is an error even when the lock is free.
    let wait = lock_timeout()?;
    let mut notice = Some(notice);
    let mut deadline = None;
    let mut pause = Duration::from_millis(5);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(RepoLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(Error::io(format!("locking {}", path.display()), e))
            }
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + wait);
        if let Some(notice) = notice.take() {
            notice(&format!(
                "waiting for {what} (lock {}; at most {} s)...",
                path.display(),
                wait.as_secs()
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Busy {
                what: what.to_string(),
                lock: path.to_path_buf(),
                waited_secs: wait.as_secs(),
            });
        }
        // Polled: flock has no timed wait. Short pauses first (a publish often ends soon).
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// What trustkey remembers about a repository it publishes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoConfig {
    pub gun: Gun,
    pub dialect: Dialect,
    /// The root key's reference (a `pkcs11:` URI).
    pub root_key: String,
    /// The root key's canonical ID (bare public key, as `root list` shows it).
    pub root_key_id: String,
    /// Each role's key ID as root metadata lists it.
    pub key_ids: BTreeMap<RoleName, String>,
    /// The version of each role last published (root: last signed).
    pub versions: BTreeMap<RoleName, u64>,
    /// The notary-server this repository is published to (`init`/`publish --server`), so that
    /// later commands need no `-s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerConfig>,
    /// Roles whose keys the server holds and signs with (timestamp; snapshot too with
    /// `--server-managed-snapshot`). Empty for repositories published to a directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_roles: Vec<RoleName>,
    /// Options of the TUF 1.0 dialect chosen at `init` (absent in the Notary dialect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuf: Option<TufOptions>,
    /// Key file IDs (`private/<id>.key`, notary's canonical IDs) where they differ from the
    /// metadata key IDs in `key_ids` (the TUF 1.0 dialect names keys differently).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub key_files: BTreeMap<RoleName, String>,
    /// Keys rotated out (`key rotate`, `root rotate`), kept until `key remove`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<RetiredKey>,
    /// Delegations from targets (`delegation add`), in the order clients consult them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delegations: Vec<super::delegations::DelegationConfig>,
    /// Hashed bins (`init --hashed-bins N`, TUF 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashed_bins: Option<super::delegations::BinsConfig>,
    /// A threshold root's keys and where each lives (`init --root-key ... --root-threshold`);
    /// absent for a root of one key (`root_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_set: Option<super::ceremony::RootSet>,
    /// A root waiting for signatures (`trustkey apply` makes it the root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_root: Option<super::ceremony::PendingRoot>,
}

/// A key this repository no longer uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredKey {
    pub role: RoleName,
    /// The canonical key ID (the key file's name; the bare key's ID for root).
    pub key_id: String,
    /// Where it was when it was retired: `private/retired/<id>.key`, a token URI, or a note
    /// that the key file was already gone.
    pub location: String,
    /// The root version that first left it out.
    pub root_version: u64,
    pub retired_at: String,
}

/// Where a repository's notary-server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    pub url: String,
    /// The CA certificate file for the server's TLS certificate (absolute path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlscacert: Option<PathBuf>,
}

/// How a TUF 1.0 repository is laid out and what snapshot and timestamp list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TufOptions {
    /// Root's `consistent_snapshot`: `N.snapshot.json`, `N.targets.json`, and targets
    /// under `<hex sha256>.<name>`.
    pub consistent_snapshot: bool,
    /// Whether snapshot and timestamp list lengths and hashes besides versions.
    pub meta_hashes: MetaHashes,
}

impl RepoConfig {
    /// The config file's contents, which must be the config of `gun` (`path` names the file
    /// in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path, gun: &Gun) -> Result<Self> {
        let cfg: RepoConfig = serde_json::from_slice(bytes)
            .map_err(|e| Error::Metadata(format!("{}: {e}", path.display())))?;
        if &cfg.gun != gun {
            return Err(Error::Metadata(format!(
                "{} is the config of {}, not {gun}",
                path.display(),
                cfg.gun
            )));
        }
        Ok(cfg)
    }

    pub fn key_id(&self, role: RoleName) -> Result<&str> {
        self.key_ids.get(&role).map(String::as_str).ok_or_else(|| {
            Error::Metadata(format!("the config of {} has no {role} key ID", self.gun))
        })
    }

    /// The ID naming `role`'s key file (`private/<id>.key`).
    pub fn key_file_id(&self, role: RoleName) -> Result<&str> {
        match self.key_files.get(&role) {
            Some(id) => Ok(id),
            None => self.key_id(role),
        }
    }

    /// The TUF 1.0 options (defaults for the Notary dialect, which has none).
    pub fn tuf_options(&self) -> TufOptions {
        self.tuf.unwrap_or_default()
    }

    pub fn version(&self, role: RoleName) -> u64 {
        self.versions.get(&role).copied().unwrap_or(0)
    }

    /// Whether the server signs `role` (its key is not on disk).
    pub fn server_signs(&self, role: RoleName) -> bool {
        self.server_roles.contains(&role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guns() {
        for ok in [
            "docker.io/library/alpine",
            "localhost:5000/app",
            "a",
            "x/y_z-1.2",
        ] {
            assert!(ok.parse::<Gun>().is_ok(), "{ok}");
        }
        for bad in ["", "/abs", "a/../b", "a//b", "a/", "sp ace", "a\\b", "./x"] {
            assert!(bad.parse::<Gun>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lock_serializes() {
        let t = tempfile::tempdir().unwrap();
        let td = TrustDir::new(t.path());
        let gun: Gun = "example.com/app".parse().unwrap();
        let l = td.lock(&gun, |_| {}).unwrap();
        let path = td.gun_dir(&gun).join("trustkey.lock");
        let f = File::open(&path).unwrap();
        assert!(f.try_lock().is_err());
        drop(l);
        assert!(f.try_lock().is_ok());
        drop(f);
        // The client's lock is another file: a publisher holding the GUN's lock can update.
        let _l = td.lock(&gun, |_| {}).unwrap();
        let c = td.lock_client(&gun, |_| {}).unwrap();
        let f = File::open(td.gun_dir(&gun).join("client.lock")).unwrap();
        assert!(f.try_lock().is_err());
        drop(c);
        assert!(f.try_lock().is_ok());
    }
}
