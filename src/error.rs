//! Typed errors with a `hint()` that says what to do next, and the exit code each maps to.

use std::path::PathBuf;

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
    /// Metadata failed verification (signature, threshold, expiry, rollback, hash, root chain).
    pub const VERIFY: i32 = 5;
    /// Reading or writing a file failed.
    pub const IO: i32 = 6;
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

    #[error("PKCS#11 {op} failed on {token}: {source}")]
    Token {
        token: String,
        op: &'static str,
        #[source]
        source: cryptoki::error::Error,
    },

    #[error("{0}")]
    Mirror(String),

    #[error("wrong passphrase for {what}")]
    WrongPassphrase { what: String },

    #[error("{0}")]
    Passphrase(String),

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

    /// A verification failure, already phrased as the one line the user sees.
    #[error("{0}")]
    Verify(String),

    #[error("{0}")]
    NotFound(String),

    /// A notary-server request failed; `reason` is one line (TLS, HTTP status and the
    /// server's message, size limit, timeout, unreachable).
    #[error("notary server {url}: {reason}")]
    Server {
        url: String,
        kind: ServerFailure,
        reason: String,
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
            WrongPin { .. }
            | PinLocked { .. }
            | FinalPinTry { .. }
            | PinUnavailable(_)
            | WrongPassphrase { .. }
            | Passphrase(_) => exit::AUTH,
            NoModule
            | ModuleLoad { .. }
            | TokenNotFound { .. }
            | TokenAmbiguous { .. }
            | KeyNotFound { .. }
            | NotFound(_) => exit::NOT_FOUND,
            Verify(_) => exit::VERIFY,
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
            WrongPassphrase { .. } => "check the passphrase (or the TRUSTKEY_*_PASSPHRASE / \
                                       NOTARY_*_PASSPHRASE variable) and run again"
                .into(),
            Server { kind, .. } => return server_hint(*kind),
            Verify(m) if m.starts_with("could not validate the path to a trusted root") => {
                "the repository's root does not chain to the root this client trusts: an attack, \
                 or the publisher lost its root and re-initialized. Confirm the new root key ID \
                 with the publisher (not from the repository), then re-pin: delete \
                 TRUSTDIR/tuf/<GUN>/client/ and verify with --root-keyid ID"
                    .into()
            }
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
        ServerFailure::Status(401 | 403) => "the server refused access: check credentials and \
                                             that you may write to this repository"
            .into(),
        ServerFailure::Status(404) => "check the GUN and the server URL; a new repository \
                                       needs `trustkey init` and `publish` first"
            .into(),
        ServerFailure::TooLarge | ServerFailure::BadResponse => "check that the URL points \
                                                                 at a notary server"
            .into(),
        ServerFailure::Timeout => "the server is slow or unreachable; try again later".into(),
        _ => return None,
    })
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}
