//! Typed errors with a `hint()` that says what to do next, and the exit code each maps to.

use std::path::PathBuf;

mod verify;
pub use verify::{DelegationProblem, RootPathError, SignatureProblem, VerifyError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: i32 = 0;
    /// Anything not listed below.
    pub const FAILURE: i32 = 1;
    /// Bad command line, bad key reference, refused input (e.g. a PIN on argv).
    pub const USAGE: i32 = 2;
    /// Wrong, locked or refused PIN; wrong passphrase.
    pub const AUTH: i32 = 3;
    /// PKCS#11 module, token, key or repository not found.
    pub const NOT_FOUND: i32 = 4;
    /// Verification failed: metadata (signature, threshold, expiry, rollback, hash, root
    /// chain), a backup archive, an attestation, a key check.
    pub const VERIFY: i32 = 5;
    /// Reading or writing a file failed.
    pub const IO: i32 = 6;
    /// `--expiring-within`: the repository verified, but a role expires within the window.
    pub const EXPIRING: i32 = 7;
}

/// A role that expires within the window `--expiring-within` gave, and when (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringRole {
    pub role: String,
    pub expires: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("invalid key reference {uri:?}: {reason}")]
    BadUri { uri: String, reason: String },

    #[error("no PKCS#11 module given")]
    NoModule,

    #[error("cannot load PKCS#11 module {path}: {reason}")]
    ModuleLoad { path: PathBuf, reason: String },

    #[error("no token matches {selector}{}", list_available(.available))]
    TokenNotFound {
        selector: String,
        available: Vec<String>,
    },

    #[error("{token} was removed during the command ({op} failed)")]
    TokenRemoved { token: String, op: &'static str },

    #[error("{selector} matches {count} tokens; name one by serial")]
    TokenAmbiguous { selector: String, count: usize },

    #[error("no key {object} on {token}")]
    KeyNotFound { token: String, object: String },

    #[error("{what} already exists on {token}")]
    KeyExists { token: String, what: String },

    #[error("wrong PIN for {token}: {state}")]
    WrongPin { token: String, state: String },

    #[error("the user PIN of {token} is locked")]
    PinLocked { token: String },

    #[error("{token} allows only one more PIN try; refusing to spend it")]
    FinalPinTry { token: String },

    #[error("{0}")]
    PinUnavailable(String),

    /// `--expiring-within`: these roles expire within the window.
    #[error(
        "{gun}: {} role(s) expire within {within}: {}",
        roles.len(),
        roles.iter().map(|r| format!("{} ({})", r.role, r.expires)).collect::<Vec<_>>().join(", ")
    )]
    Expiring {
        gun: String,
        within: String,
        roles: Vec<ExpiringRole>,
    },

    /// A PIN or passphrase that was needed and not given: `set` names the variables that
    /// would have given it (the hint names them, not some other secret's).
    #[error("{reason}")]
    SecretUnavailable {
        reason: String,
        set: Vec<String>,
        /// Whether a terminal would have been asked (not when a pin-source names the source).
        terminal: bool,
    },

    #[error("PKCS#11 {op} failed on {token}: {source}")]
    Token {
        token: String,
        op: &'static str,
        #[source]
        source: cryptoki::error::Error,
    },

    #[error("{0}")]
    Mirror(String),

    /// A key file or escrow did not decrypt: its format cannot tell a wrong passphrase from
    /// damage to the encrypted bytes (damage it can tell is `KeyFile`, exit 6).
    #[error("wrong passphrase for {what}, or the file is damaged")]
    WrongPassphrase { what: String },

    #[error("{0}")]
    Passphrase(String),

    /// A new passphrase under the minimum strength (`secret::check_strength`), which gives
    /// the thresholds for the hint.
    #[error("{reason}")]
    WeakPassphrase {
        reason: String,
        min_len: usize,
        min_score: u8,
    },

    #[error("{path}: {reason}")]
    KeyFile { path: PathBuf, reason: String },

    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Crypto(String),

    #[error("{0}")]
    Metadata(String),

    /// Metadata failed verification; the variant says which check.
    #[error("{0}")]
    Verify(#[from] VerifyError),

    /// A check other than metadata verification failed (a backup archive's entries, an
    /// attestation, a key's challenge), already phrased as the one line the user sees.
    #[error("{0}")]
    Integrity(String),

    #[error("{0}")]
    NotFound(String),

    /// Another trustkey held a lock for longer than this command waits (`what`: what holds it).
    #[error("gave up after {waited_secs} s waiting for {what} (lock {})", .lock.display())]
    Busy {
        what: String,
        lock: PathBuf,
        waited_secs: u64,
    },

    /// A notary-server request failed; `reason` is one line (TLS, HTTP status and the
    /// server's message, size limit, timeout, unreachable).
    #[error("notary server {url}: {reason}")]
    Server {
        url: String,
        kind: ServerFailure,
        reason: String,
    },

    #[error("{}", piv_not_found(.serial, .available))]
    PivNotFound {
        serial: Option<u32>,
        available: Vec<u32>,
    },

    #[error("several YubiKeys are plugged in (serials {}); say which one", join_serials(.serials))]
    PivAmbiguous { serials: Vec<u32> },

    #[error("the YubiKey in reader {reader:?} is in use by another program")]
    PivBusy { reader: String },

    #[error("{0}")]
    PcscUnavailable(String),

    #[error("the PIN of YubiKey {serial} is blocked")]
    PivPinBlocked { serial: u32 },

    #[error("the PUK of YubiKey {serial} is blocked")]
    PivPukBlocked { serial: u32 },

    #[error(
        "YubiKey {serial} still has the factory default {which}; refusing to put a root key on it"
    )]
    PivDefaultCredentials { serial: u32, which: String },

    #[error("{device} rejected the management key")]
    PivManagementKey { device: String },

    #[error("slot {slot} of {device} holds no certificate (no key trustkey can use)")]
    PivSlotEmpty { device: String, slot: &'static str },

    #[error("{device} gives no attestation for slot {slot}")]
    PivNoAttestation { device: String, slot: &'static str },

    #[error(
        "this trustkey was built without YubiKey PIV support (cargo feature `piv`), so it cannot \
         use yubikey: references or the yubikey commands"
    )]
    PivUnsupported,

    #[cfg(feature = "piv")]
    #[error("{op} failed on {device}: {source}")]
    Piv {
        device: String,
        op: &'static str,
        #[source]
        source: yubikey::Error,
    },
}

/// What went wrong talking to a notary-server, for exit codes and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerFailure {
    /// Nothing answered: connection refused, host not found, network unreachable.
    Unreachable,
    /// The TLS handshake failed (unknown CA, name mismatch, expired certificate).
    Tls,
    /// The server answered with this non-success HTTP status.
    Status(u16),
    /// The response exceeded its size limit.
    TooLarge,
    /// A connect, read or overall timeout expired.
    Timeout,
    /// Not valid HTTP, or the connection was cut.
    Protocol,
    /// Valid HTTP, but the body is not what the API promises.
    BadResponse,
    /// A redirect refused (from https to http, to another host, or too many).
    Redirect,
    /// The server already has a newer version of a role than the upload (another publisher
    /// published meanwhile): notary-server's `VERSION` error.
    Conflict,
}

fn join_serials(serials: &[u32]) -> String {
    serials
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn piv_not_found(serial: &Option<u32>, available: &[u32]) -> String {
    match (serial, available.is_empty()) {
        (None, _) => "no YubiKey found: insert your YubiKey".into(),
        (Some(s), true) => format!("YubiKey {s} not found: insert it (no YubiKey is plugged in)"),
        (Some(s), false) => format!(
            "YubiKey {s} not found (plugged in: {})",
            join_serials(available)
        ),
    }
}

fn list_available(available: &[String]) -> String {
    if available.is_empty() {
        " (no initialized tokens found)".to_string()
    } else {
        format!(" (available: {})", available.join(", "))
    }
}

impl Error {
    pub fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            what: what.to_string(),
            source,
        }
    }

    pub fn exit_code(&self) -> i32 {
        use Error::*;
        match self {
            Usage(_) | BadUri { .. } => exit::USAGE,
            Expiring { .. } => exit::EXPIRING,
            WrongPin { .. }
            | PinLocked { .. }
            | FinalPinTry { .. }
            | PinUnavailable(_)
            | SecretUnavailable { .. }
            | PivPinBlocked { .. }
            | PivPukBlocked { .. }
            | PivDefaultCredentials { .. }
            | PivManagementKey { .. }
            | WrongPassphrase { .. }
            | Passphrase(_)
            | WeakPassphrase { .. } => exit::AUTH,
            NoModule
            | ModuleLoad { .. }
            | TokenNotFound { .. }
            | TokenRemoved { .. }
            | TokenAmbiguous { .. }
            | KeyNotFound { .. }
            | NotFound(_)
            | PivNotFound { .. }
            | PcscUnavailable(_)
            | PivSlotEmpty { .. } => exit::NOT_FOUND,
            PivAmbiguous { .. } => exit::USAGE,
            PivBusy { .. } | PivNoAttestation { .. } => exit::FAILURE,
            #[cfg(feature = "piv")]
            Piv { .. } => exit::FAILURE,
            PivUnsupported => exit::USAGE,
            Verify(_) | Integrity(_) => exit::VERIFY,
            Server {
                kind: ServerFailure::Status(404),
                ..
            } => exit::NOT_FOUND,
            Server {
                kind: ServerFailure::Status(401 | 403),
                ..
            } => exit::AUTH,
            Io { .. } | KeyFile { .. } => exit::IO,
            Token { .. }
            | Mirror(_)
            | KeyExists { .. }
            | Crypto(_)
            | Metadata(_)
            | Busy { .. }
            | Server { .. } => exit::FAILURE,
        }
    }

    /// What the user can do next, where there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        use Error::*;
        Some(match self {
            NoModule => "pass --module PATH (or a profile: softhsm, ykcs11, opensc), set \
                         TRUSTKEY_PKCS11_MODULE, or add module-path=... to the pkcs11: URI"
                .into(),
            ModuleLoad { .. } => "check the path, or set TRUSTKEY_PKCS11_MODULE to the \
                                  module's .so (e.g. /usr/lib/softhsm/libsofthsm2.so)"
                .into(),
            TokenNotFound { .. } => {
                "insert the token, or run `trustkey token list` to see labels and serials".into()
            }
            TokenRemoved { .. } => "insert the token again and run the command again".into(),
            KeyNotFound { .. } => "run `trustkey token list` to see the keys on each token".into(),
            WrongPin { .. } => "check the PIN and run the command again; trustkey never \
                                retries a PIN by itself"
                .into(),
            PinLocked { .. } => "unblock the PIN with the security officer PIN (or the PUK \
                                 on a YubiKey) before using this token again"
                .into(),
            FinalPinTry { .. } => "if you are sure of the PIN, run again with \
                                   --allow-final-pin-try; a wrong PIN now locks the token"
                .into(),
            PinUnavailable(_) => "set TRUSTKEY_PIN, add pin-source=env:NAME or \
                                  pin-source=file:PATH to the URI, or run on a terminal"
                .into(),
            Expiring { gun, roles, .. } => {
                let mut h = format!(
                    "renew them: `trustkey publish {gun}` with nothing staged signs targets, \
                     snapshot, timestamp and the delegated roles whose keys are at hand again"
                );
                if roles.iter().any(|r| r.role == "root") {
                    h += "; root metadata is signed again only when its keys change (`trustkey \
                          key rotate`, `trustkey root rotate`), with the root token";
                }
                h
            }
            SecretUnavailable { set, terminal, .. } => format!(
                "set {}{}",
                set.join(" or "),
                if *terminal {
                    ", or run on a terminal"
                } else {
                    ""
                }
            ),
            WrongPassphrase { .. } => "check the passphrase (or the TRUSTKEY_*_PASSPHRASE / \
                                       NOTARY_*_PASSPHRASE variable) and run again; if it is \
                                       right, the file is damaged: restore it from a backup"
                .into(),
            WeakPassphrase {
                min_len, min_score, ..
            } => format!(
                "choose a passphrase of {min_len} or more characters that the zxcvbn estimate \
                 rates at least {min_score} of 4 (over 10^10 guesses: a copied key file can be \
                 attacked offline): several uncommon words, or a random string from a password \
                 manager"
            ),
            Server { kind, .. } => return server_hint(*kind),
            Busy { .. } => "nothing was changed; run the command again once the other one has \
                            finished (TRUSTKEY_LOCK_TIMEOUT_SECS=N waits up to N seconds)"
                .into(),
            Verify(VerifyError::UntrustedRoot(_)) => {
                "the repository's root does not chain to the root this client trusts: an attack, \
                 or the publisher lost its root and re-initialized. Confirm the new root key ID \
                 with the publisher (not from the repository), then re-pin: delete \
                 TRUSTDIR/tuf/<GUN>/client/ and verify with --root-keyid ID"
                    .into()
            }
            PivNotFound { .. } => {
                "run `trustkey yubikey list` to see the YubiKeys plugged in".into()
            }
            PivAmbiguous { .. } => {
                "pass --serial N (or serial=N in a yubikey: key reference)".into()
            }
            PivBusy { .. } => "another program holds the card: most often GnuPG's scdaemon \
                               (`gpgconf --kill scdaemon`) or yubikey-agent; stop it and run \
                               again"
                .into(),
            PcscUnavailable(_) => pcsc_hint().into(),
            PivUnsupported => "install a build with the default features (`cargo install --path \
                               .`), or reach the YubiKey through Yubico's PKCS#11 module: \
                               --module ykcs11 and pkcs11:serial=N;id=%02 for slot 9c"
                .into(),
            PivPinBlocked { serial } => format!(
                "the PUK unblocks it: `trustkey yubikey unblock --serial {serial}` (or `ykman \
                 piv access unblock-pin`); if the PUK is blocked too, only a PIV reset \
                 (`ykman piv reset`, which erases the keys) makes the card usable again"
            ),
            PivPukBlocked { .. } => "only a PIV reset (`ykman piv reset`) helps now; it erases \
                                     every key on the card"
                .into(),
            PivDefaultCredentials { serial, .. } => format!(
                "run `trustkey yubikey setup --serial {serial}` first, or pass \
                 --allow-default-credentials for a throwaway test key"
            ),
            PivManagementKey { .. } => "set TRUSTKEY_MGM_KEY to the card's management key (48 \
                                        hex digits), or run `trustkey yubikey setup`"
                .into(),
            PivSlotEmpty { .. } => {
                "run `trustkey yubikey status` to see what each slot holds".into()
            }
            PivNoAttestation { .. } => "only keys generated on a YubiKey can be attested; \
                                        imported keys (mirrors) cannot"
                .into(),
            Usage(_) | BadUri { .. } => return None,
            _ => return None,
        })
    }
}

fn server_hint(kind: ServerFailure) -> Option<String> {
    Some(match kind {
        ServerFailure::Unreachable => "check the server URL (-s/--server) and that the server \
                                       is running and reachable"
            .into(),
        ServerFailure::Tls => "if the server uses a private CA, pass its certificate with \
                               --tlscacert FILE; check that the URL's host name matches the \
                               server's certificate"
            .into(),
        ServerFailure::Status(401 | 403) => "the server refused access: check the credentials \
                                             (NOTARY_AUTH = base64 of user:password, or `docker \
                                             login` for the registry) and that you may use this \
                                             repository"
            .into(),
        ServerFailure::Status(404) => "check the GUN and the server URL; a new repository \
                                       needs `trustkey init` and `publish` first"
            .into(),
        ServerFailure::TooLarge | ServerFailure::BadResponse => "check that the URL points \
                                                                 at a notary server"
            .into(),
        ServerFailure::Timeout => "the server is slow or unreachable; try again later".into(),
        ServerFailure::Conflict => "nothing was published and the staged changes are kept: \
                                    run `trustkey publish` again; it reads the server's newer \
                                    version and builds on it"
            .into(),
        ServerFailure::Redirect => "trustkey follows redirects only within the same host and \
                                    never from https to http: if the new place is right, pass \
                                    it with -s/--server"
            .into(),
        _ => return None,
    })
}

fn pcsc_hint() -> &'static str {
    if cfg!(target_os = "windows") {
        "start the Smart Card service (services.msc, \"Smart Card\")"
    } else if cfg!(target_os = "macos") {
        "macOS's CryptoTokenKit should be running; replug the YubiKey"
    } else if cfg!(any(target_os = "openbsd", target_os = "freebsd")) {
        "start pcscd: `rcctl start pcscd` (OpenBSD) or `service pcscd start` (FreeBSD)"
    } else {
        "start pcscd: `sudo systemctl start pcscd` (Debian/Ubuntu: apt install pcscd)"
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}
