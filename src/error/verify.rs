//! Why metadata failed verification, one variant per check, so that callers (and the hint in
//! [`Error::hint`](super::Error::hint)) tell a rollback from an expiry without reading the
//! message. Each renders as the one line the user sees.
//!
//! The type lives beside the crate's `Error`, which carries it (`Error::Verify`), because the
//! error module is the lowest layer; the TUF code re-exports it as `tuf::VerifyError` and
//! returns it from every check. Roles are plain names here (`targets`, `targets/releases`),
//! as the messages show them.

/// A verification failure of TUF or Notary metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file is not signed metadata, or its `signed` object is not the role's shape: the
    /// parser's line, which names the file.
    #[error("{0}")]
    Malformed(String),

    /// A file the metadata calls for is not on the remote.
    #[error("{role}: {file} is missing from {remote}")]
    Missing {
        role: String,
        file: String,
        remote: String,
    },

    /// A file longer than the client accepts for it (`actual`: its length, when the remote
    /// knew it without sending it all).
    #[error("{file} from {remote} is larger than {max} bytes")]
    TooLarge {
        file: String,
        remote: String,
        max: u64,
        actual: Option<u64>,
    },

    /// A role longer than its parent lists, refused before it was read to the end (its
    /// length unknown).
    #[error("{what}: longer than the {expected} bytes listed in {parent}")]
    LongerThanListed {
        what: String,
        parent: String,
        expected: u64,
    },

    /// A file that is not a regular file (a FIFO, a device, a directory): refused without
    /// reading from it.
    #[error("{file} at {remote} is not a regular file")]
    NotAFile { file: String, remote: String },

    #[error("{role}: no signatures")]
    NoSignatures { role: String },

    /// Fewer distinct keys of `keys_of` signed `role` than its threshold.
    #[error(
        "{role}: valid signatures did not meet threshold for {keys_of}: {valid} of {needed} \
         ({problem})"
    )]
    Threshold {
        role: String,
        /// The role whose keys and threshold apply (the delegated role, or root's entry).
        keys_of: String,
        valid: usize,
        needed: u64,
        problem: SignatureProblem,
    },

    #[error("{role}: _type is {actual:?}, expected {expected:?}")]
    WrongType {
        role: String,
        actual: String,
        expected: &'static str,
    },

    #[error("{role}: {reason}")]
    SpecVersion { role: String, reason: String },

    /// `expires` does not parse as the dialect writes it.
    #[error("{role}: {reason}")]
    BadExpires { role: String, reason: String },

    #[error("{role} expired at {expires}")]
    Expired { role: String, expires: String },

    #[error("{role}: version {version} is not valid")]
    InvalidVersion { role: String, version: u64 },

    /// A role older than the version the client trusts.
    #[error("{role}: version {new} is lower than current version {trusted}")]
    Rollback {
        role: String,
        trusted: u64,
        new: u64,
    },

    /// A parent lists a version of `role` older than the trusted one (timestamp's snapshot
    /// version, snapshot's targets version).
    #[error("{parent}: lists {role} version {listed}, lower than current version {trusted}")]
    ListedRollback {
        parent: String,
        role: String,
        listed: u64,
        trusted: u64,
    },

    #[error("{parent}: does not list {role}")]
    NotListed { parent: String, role: String },

    /// A new snapshot drops a file the trusted one lists (TUF 1.0 5.5.5).
    #[error("{parent}: no longer lists {name}, which the trusted {parent} lists")]
    Dropped { parent: String, name: String },

    #[error("{parent}: {name} is listed without a version")]
    NoListedVersion { parent: String, name: String },

    #[error("{role}: version {actual} does not match version {listed} listed in {parent}")]
    VersionMismatch {
        role: String,
        actual: u64,
        listed: u64,
        parent: String,
    },

    #[error("{what}: length {actual} does not match the {expected} bytes listed in {parent}")]
    LengthMismatch {
        what: String,
        parent: String,
        actual: u64,
        expected: u64,
    },

    #[error("{what}: {alg} does not match the hash listed in {parent}")]
    HashMismatch {
        what: String,
        alg: String,
        parent: String,
    },

    #[error("{parent}: {what} is listed without a length")]
    NoListedLength { parent: String, what: String },

    #[error("{parent}: {what} is listed without a sha256 hash")]
    NoListedSha256 { parent: String, what: String },

    #[error("{parent}: {what} is listed with unsupported hash algorithm {alg:?}")]
    UnsupportedHash {
        parent: String,
        what: String,
        alg: String,
    },

    /// A listed hash that does not decode (not base64 / not hex).
    #[error("{parent}: {what}: {reason}")]
    BadHash {
        parent: String,
        what: String,
        reason: String,
    },

    #[error("root: no {role} role")]
    NoRole { role: String },

    #[error("root: the {role} role has threshold {threshold}")]
    RootThreshold { role: String, threshold: u64 },

    #[error("{parent}: the delegation {role} has threshold {threshold}")]
    DelegationThreshold {
        parent: String,
        role: String,
        threshold: u64,
    },

    #[error("root: {role} key {key_id} is not among the root's keys")]
    KeyNotInRoot { role: String, key_id: String },

    #[error("{parent}: {role} key {key_id} is not among the delegation keys")]
    KeyNotInDelegation {
        parent: String,
        role: String,
        key_id: String,
    },

    /// A key listed under an ID that is not the ID of its content (notary: "key ID is not
    /// valid for key content").
    #[error("{parent}: key ID {key_id} is not valid for key content")]
    KeyIdMismatch { parent: String, key_id: String },

    /// A listed key that does not decode (encoding, key type, scheme, certificate).
    #[error("{parent}: {role} key {key_id}: {reason}")]
    BadKey {
        parent: String,
        role: String,
        key_id: String,
        reason: String,
    },

    /// The root does not chain to the trusted root, or cannot be trusted on first use.
    #[error("could not validate the path to a trusted root: {0}")]
    UntrustedRoot(RootPathError),

    /// A delegated role's entry in its parent is unacceptable.
    #[error("{parent}: delegated role {role:?} {problem}")]
    BadDelegation {
        parent: String,
        role: String,
        problem: DelegationProblem,
    },

    #[error("snapshot: does not list the delegated role {role}")]
    DelegationNotListed { role: String },

    #[error("{parent} does not delegate to {role}")]
    NotDelegated { parent: String, role: String },

    #[error("more than {max} delegated roles")]
    TooManyRoles { max: usize },

    /// Terminating delegations laid out so that checking targets against them would take
    /// more than this many checks.
    #[error(
        "the terminating delegations would take more than {max} checks to search; refusing \
         the repository"
    )]
    TooManyChecks { max: usize },

    /// A role delegated more levels below targets than any client searches.
    #[error("delegated role {role} is more than {max} delegations below targets")]
    TooDeep { role: String, max: usize },

    #[error("target {target:?} is rejected: {reason}")]
    TargetRejected { target: String, reason: String },

    #[error("target {target:?} is not in targets or its delegations")]
    UnknownTarget { target: String },

    /// The client's steps were called in an order the specification does not allow (a
    /// defect of the caller, reported rather than panicking).
    #[error("{call} is out of order: {reason}")]
    OutOfOrder {
        call: &'static str,
        reason: &'static str,
    },

    /// A repository a publisher would build on does not verify.
    #[error("{repo} does not verify, so trustkey does not build on it: {source}")]
    NotBuildingOn {
        repo: String,
        source: Box<VerifyError>,
    },
}

/// Why no threshold of valid signatures was found: the first problem met, if any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    #[error("key {key}: signature was invalid")]
    Invalid { key: String },
    /// The signature does not decode (method, encoding, length).
    #[error("key {key}: {reason}")]
    Undecodable { key: String, reason: String },
    #[error("no signature by any of its keys")]
    NoneByItsKeys,
}

/// Why a root cannot be trusted: it does not chain to the trusted root one version at a time,
/// or (first use, and every run for the final root) its keys or the pin do not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RootPathError {
    /// The root's keys cannot be read, or a fetched root does not parse.
    #[error("{0}")]
    Invalid(Box<VerifyError>),
    #[error("root key {key} is not a certificate")]
    NotCertificate { key: String },
    #[error("the root certificate {key} is for {common_name:?}, not {gun:?}")]
    CertificateName {
        key: String,
        common_name: String,
        gun: String,
    },
    #[error("the root certificate {key} is valid from {not_before} to {not_after}, not now")]
    CertificateNotValidNow {
        key: String,
        not_before: String,
        not_after: String,
    },
    /// A root not signed by a threshold of its own root keys.
    #[error("failed to validate integrity of roots: {0}")]
    NotSelfSigned(Box<VerifyError>),
    /// A new root not signed by a threshold of the trusted root's keys.
    #[error("failed to validate data with current trusted certificates")]
    NotSignedByTrusted,
    #[error("unable to match any certificates to the pinned root key ID {pin}")]
    PinMismatch { pin: String },
    #[error("root version {found} found where version {expected} was expected")]
    UnexpectedVersion { found: u64, expected: u64 },
    #[error("{file} is missing from {remote}")]
    Missing { file: String, remote: String },
    /// The trusted root has the last version there is (u64::MAX): nothing can follow it.
    #[error("root version {version} is the last there can be; no root can follow it")]
    NoNextVersion { version: u64 },
    #[error("more than {max} root versions in one update")]
    TooManyRotations { max: u64 },
}

/// What is wrong with a delegated role's entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DelegationProblem {
    /// Notary: not `<parent>/...`, not clean, too long, or characters outside `[-a-z0-9_/]`.
    #[error("is not a valid delegation of {parent}")]
    NotValidUnder { parent: String },
    #[error("has the name of a top-level role")]
    TopLevelName,
    /// TUF 1.0: a name whose file would be a top-level or versioned file's (`2.root`, `Root`).
    #[error("has a name whose file would be a top-level or versioned file's (N.<role>.json)")]
    SharesAFile,
    #[error("must have exactly one of paths and path_hash_prefixes")]
    PathsAndPrefixes,
    #[error("has no terminating field")]
    NoTerminating,
}
