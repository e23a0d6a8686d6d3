//! Signing requests: root metadata that needs signatures from keys held by several people, in
//! a file that travels to each of them (docs/signing-requests.md describes the format).
//!
//! A request holds the exact bytes to sign (the canonical JSON of the `signed` object, base64)
//! and their sha256, the trusted root it follows (for a rotation), which keys and thresholds
//! must sign, and the signatures made so far. It holds no secret. Whoever reads one recomputes
//! everything from the bytes ([`Request::open`]) and never trusts the other fields: `needs` must
//! be what the bytes say, and a signature counts only when it verifies over those bytes.

mod check;
mod summary;

pub use check::{check_signatures, Accepted};
pub use summary::{Change, KeySummary, RoleSummary, Summary};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::cjson;
use super::dialect::Dialect;
use super::model::{RoleName, Root, Signature};
use super::signed::SignedMeta;
use super::verify::{self, RoleKeySet};

/// The `format` every request names.
pub const FORMAT: &str = "trustkey-signing-request";
/// The format's version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The most a request file may be (a root of a few dozen keys is ~20 KB; its previous root too).
pub const MAX_REQUEST: u64 = 1 << 20;

/// What the request is for (shown to signers; the bytes say what it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// The first root of a repository (`init`).
    Init,
    /// New root keys (`root rotate`).
    RootRotate,
    /// The same root, valid longer (`root renew`).
    RootRenew,
    /// A new key for targets, snapshot or timestamp (`key rotate`).
    KeyRotate,
}

impl Purpose {
    pub fn describe(self) -> &'static str {
        match self {
            Purpose::Init => "the first root of a new repository",
            Purpose::RootRotate => "a root key rotation",
            Purpose::RootRenew => "a root renewal (a later expiry)",
            Purpose::KeyRotate => "a new repository key (targets, snapshot or timestamp)",
        }
    }
}

/// Whose signatures a request needs: the keys of one root version and its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// The root version whose root keys these are (the new one, or the trusted one before it).
    pub root_version: u64,
    pub threshold: u64,
    pub keyids: Vec<String>,
}

/// A signing request as it is in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub format: String,
    pub format_version: u32,
    /// The repository, as the publisher named it (TUF root metadata does not name it).
    pub gun: String,
    pub dialect: Dialect,
    pub role: RoleName,
    pub purpose: Purpose,
    /// The canonical JSON of the `signed` object, base64: the bytes every signature is over.
    pub signed: String,
    /// Hex sha256 of those bytes (what a signer compares across copies).
    pub sha256: String,
    /// The trusted root this one follows, the whole file, base64 (absent for a first root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The keys and thresholds that must sign: the new root's, and the trusted root's.
    pub needs: Vec<Need>,
    /// Signatures made so far, in the dialect's encoding.
    pub signatures: Vec<Signature>,
}

/// A request's contents, recomputed from its bytes and checked.
#[derive(Debug, Clone)]
pub struct Opened {
    pub dialect: Dialect,
    /// The canonical bytes of the `signed` object.
    pub bytes: Vec<u8>,
    pub root: Root,
    /// The trusted root it follows, as signed metadata and parsed.
    pub previous: Option<(SignedMeta, Root)>,
    /// The new root's root keys; then the previous root's.
    pub sets: Vec<RoleKeySet>,
}

type R<T> = std::result::Result<T, String>;

impl Request {
    /// A new request for `bytes` (the canonical `signed` object of a root), following
    /// `previous` (the trusted root's file) if given, with no signatures.
    pub fn new(
        gun: &str,
        dialect: Dialect,
        purpose: Purpose,
        bytes: &[u8],
        previous: Option<&[u8]>,
    ) -> R<Self> {
        let mut r = Request {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            gun: gun.into(),
            dialect,
            role: RoleName::Root,
            purpose,
            signed: B64.encode(bytes),
            sha256: sha256_hex(bytes),
            previous: previous.map(|p| B64.encode(p)),
            needs: Vec::new(),
            signatures: Vec::new(),
        };
        r.needs = needs_of(&r.open_unchecked()?);
        Ok(r)
    }

    /// Parses a request file's bytes (one line of error naming what is wrong).
    pub fn parse(bytes: &[u8]) -> R<Self> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            format_version: Option<u32>,
        }
        let head: Head = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a signing request (not JSON: {e})"))?;
        if head.format.as_deref() != Some(FORMAT) {
            return Err(format!("not a signing request (no \"format\": {FORMAT:?})"));
        }
        if head.format_version != Some(FORMAT_VERSION) {
            return Err(format!(
                "a signing request of format version {:?}; this trustkey reads version \
                 {FORMAT_VERSION}",
                head.format_version
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| format!("malformed signing request: {e}"))
    }

    /// The file's bytes (pretty JSON, ending with a newline).
    pub fn to_bytes(&self) -> R<Vec<u8>> {
        let mut b = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        b.push(b'\n');
        Ok(b)
    }

    /// Decodes and checks everything the request says, from its bytes: the sha256, canonical
    /// JSON, a root of the dialect, keys whose IDs are their content's, the previous root
    /// (version one less, signed by its own root keys), and `needs` as the bytes say.
    pub fn open(&self) -> R<Opened> {
        let o = self.open_unchecked()?;
        if needs_of(&o) != self.needs {
            return Err(
                "the request's \"needs\" are not the keys and thresholds its root names: it was \
                 edited"
                    .into(),
            );
        }
        Ok(o)
    }

    fn open_unchecked(&self) -> R<Opened> {
        if self.role != RoleName::Root {
            return Err(format!(
                "a signing request for {}: only root is signed this way",
                self.role
            ));
        }
        let d = self.dialect;
        let bytes = B64
            .decode(self.signed.as_bytes())
            .map_err(|_| "the request's \"signed\" is not base64".to_string())?;
        if sha256_hex(&bytes) != self.sha256.to_ascii_lowercase() {
            return Err(
                "the request's root does not have the sha256 the request gives: it was edited \
                 after it was made"
                    .into(),
            );
        }
        let value = parse_canonical(&bytes)?;
        let root: Root = serde_json::from_value(value)
            .map_err(|e| format!("the request's root is not root metadata: {e}"))?;
        if root.common.type_ != d.type_name(RoleName::Root) {
            return Err(format!(
                "the request's root has _type {:?}, not {:?} ({} dialect)",
                root.common.type_,
                d.type_name(RoleName::Root),
                d
            ));
        }
        d.check_spec_version(root.common.spec_version.as_deref())?;
        d.parse_time(&root.common.expires)?;
        let set = RoleKeySet::from_root(d, &root, RoleName::Root).map_err(|e| e.to_string())?;
        let mut sets = vec![set];
        let previous = match &self.previous {
            None => None,
            Some(p) => {
                let raw = B64
                    .decode(p.as_bytes())
                    .map_err(|_| "the request's \"previous\" is not base64".to_string())?;
                let meta = SignedMeta::parse(RoleName::Root, raw)
                    .map_err(|e| format!("the request's previous root: {e}"))?;
                let prev: Root = meta.view("the request's previous root")?;
                if prev.common.version.checked_add(1) != Some(root.common.version) {
                    return Err(format!(
                        "the request's root is version {}, but the root it follows is version {}",
                        root.common.version, prev.common.version
                    ));
                }
                let pset =
                    RoleKeySet::from_root(d, &prev, RoleName::Root).map_err(|e| e.to_string())?;
                verify::signatures(d, &meta, &pset)
                    .map_err(|e| format!("the request's previous root: {e}"))?;
                sets.push(pset);
                Some((meta, prev))
            }
        };
        Ok(Opened {
            dialect: d,
            bytes,
            root,
            previous,
            sets,
        })
    }

    /// Adds `sig` unless a signature by its key ID that verifies is already there (signing a
    /// request twice adds nothing); a stale one by that ID is replaced. Returns whether it
    /// changed the request.
    pub fn add_signature(&mut self, opened: &Opened, sig: Signature) -> bool {
        let good = |s: &Signature| check::verifies(opened, s);
        if self
            .signatures
            .iter()
            .any(|s| s.keyid == sig.keyid && good(s))
        {
            return false;
        }
        self.signatures.retain(|s| s.keyid != sig.keyid);
        self.signatures.push(sig);
        true
    }

    /// Takes the signatures of `other` (a copy of the same request) that this one lacks.
    pub fn merge(&mut self, other: &Request) -> R<()> {
        if other.signed != self.signed || other.previous != self.previous {
            return Err("the requests are for different roots".into());
        }
        // A signature already taken from another copy is not taken again; one listed twice in
        // a copy stays twice, for the check to name.
        let before = self.signatures.clone();
        for s in &other.signatures {
            if !before.contains(s) {
                self.signatures.push(s.clone());
            }
        }
        Ok(())
    }

    /// The ID(s) under which the needed root keys list `key` (a key may be listed under one ID
    /// in the new root and another in the trusted one).
    pub fn key_ids_for(opened: &Opened, key: &p256::PublicKey) -> Vec<String> {
        let mut ids: Vec<String> = opened
            .sets
            .iter()
            .flat_map(|s| s.keys.iter())
            .filter(|(_, pk)| pk.key.p256() == Some(key))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// What `opened`'s bytes say must sign it.
fn needs_of(o: &Opened) -> Vec<Need> {
    let versions = [
        Some(o.root.common.version),
        o.previous.as_ref().map(|(_, p)| p.common.version),
    ];
    o.sets
        .iter()
        .zip(versions)
        .map(|(s, v)| Need {
            root_version: v.unwrap_or(0),
            threshold: s.threshold,
            keyids: s.keys.keys().cloned().collect(),
        })
        .collect()
}

/// Parses canonical JSON, which leaves control characters in strings raw (the newlines of PEM
/// keys), as JSON does not: they can only be inside strings (canonical JSON has no whitespace),
/// so they are escaped first. The text must be exactly the canonical form of what it parses to.
pub fn parse_canonical(bytes: &[u8]) -> R<serde_json::Value> {
    let mut text = Vec::with_capacity(bytes.len() + 64);
    for &b in bytes {
        if b < 0x20 {
            text.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            text.push(b);
        }
    }
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| format!("the request's root is not JSON: {e}"))?;
    if cjson::encode(&value)? != bytes {
        return Err("the request's root is not canonical JSON".into());
    }
    Ok(value)
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(b))
}
