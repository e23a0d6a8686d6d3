//! `trustkey root ...`: the root key, created once on tokens and never again in the open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde::Serialize;

use super::Ctx;
use crate::fsio::{write_secret, Overwrite};
use crate::keys::discovery::{discover, RootFilter};
use crate::keys::file::{decrypt_pem, encrypt_pem};
use crate::keys::mirror::{self, Placement};
use crate::keys::piv::PivOptions;
use crate::keys::uri::KeyRef;
use crate::keys::MemorySigner;
use crate::keys::{canonical_key_id, Signer};
use crate::piv::{DefaultCredentials, PinPolicy, Policies, TouchPolicy};
use crate::secret::{new_passphrase, unlock_passphrase, KeyRole};
use crate::{Error, Result};

/// How a key generated on a YubiKey is protected (`root create`, `root duplicate`,
/// `delegation add --generate`).
#[derive(Debug, Clone, clap::Args)]
pub struct PivArgs {
    /// YubiKey only: when the card waits for a touch before it signs with the key.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = TouchArg::Always)]
    touch: TouchArg,
    /// YubiKey only: when the card asks for the PIN (trustkey asks once per command either way).
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = RootPinPolicy::Once)]
    pin_policy: RootPinPolicy,
    /// YubiKey only: accept a card that still has its factory PIN, PUK or management key
    /// (for throwaway test keys; run `trustkey yubikey setup` for a real key).
    #[arg(long)]
    allow_default_credentials: bool,
}

/// The PIN policies a root may have (never "never").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RootPinPolicy {
    Once,
    Always,
}

/// `--touch`: the command line's names for `piv::TouchPolicy` (the library has no clap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum TouchArg {
    Never,
    /// A touch for every signature.
    Always,
    /// A touch is remembered for 15 seconds.
    Cached,
}

impl From<TouchArg> for TouchPolicy {
    fn from(t: TouchArg) -> Self {
        match t {
            TouchArg::Never => TouchPolicy::Never,
            TouchArg::Always => TouchPolicy::Always,
            TouchArg::Cached => TouchPolicy::Cached,
        }
    }
}

impl PivArgs {
    /// The options for the YubiKeys among `refs`; flags changed from their defaults are an
    /// error when no YubiKey is named.
    pub fn options(&self, refs: &[&KeyRef]) -> Result<PivOptions> {
        let policies = Policies {
            pin: match self.pin_policy {
                RootPinPolicy::Once => PinPolicy::Once,
                RootPinPolicy::Always => PinPolicy::Always,
            },
            touch: self.touch.into(),
        };
        let any_yubikey = refs.iter().any(|r| matches!(r, KeyRef::Yubikey(_)));
        let changed = policies != Policies::default() || self.allow_default_credentials;
        if changed && !any_yubikey {
            return Err(Error::Usage(
                "--touch, --pin-policy and --allow-default-credentials apply to YubiKeys; \
                 name one with yubikey:serial=N"
                    .into(),
            ));
        }
        Ok(PivOptions {
            policies,
            default_credentials: if self.allow_default_credentials {
                DefaultCredentials::Allow
            } else {
                DefaultCredentials::Refuse
            },
            subject: crate::keys::piv::ROOT_SUBJECT,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum RootCmd {
    /// Create the root key: on one token or YubiKey (generated there, never extractable), or
    /// with --mirror on several at once from one key generated in memory and then zeroized.
    ///
    /// A YubiKey gets the key in a PIV slot (9c by default) with a self-signed certificate
    /// (CN "trustkey root"), PIN policy --pin-policy and touch policy --touch. A card that still
    /// has its factory PIN, PUK or management key is refused: run `trustkey yubikey setup`.
    #[command(after_help = "\
Examples:
  # generated on the token; it can never leave it
  trustkey root create --token 'pkcs11:token=rootA'
  # the two-USB-keys advice: one key on two tokens, plus an encrypted escrow file
  trustkey root create --token 'pkcs11:token=rootA' --mirror 'pkcs11:token=rootB' --escrow root-escrow.p8
  # generated on a YubiKey, slot 9c
  trustkey root create --token yubikey:serial=12345678
  # two YubiKeys (one goes to the safe), touch needed for every signature
  trustkey root create --token yubikey:serial=12345678 --mirror yubikey:serial=87654321 \\
      --touch always --escrow root-escrow.p8")]
    Create {
        /// Where the key goes: a pkcs11: URI (object label default `root`) or yubikey:serial=N.
        #[arg(long, value_name = "URI")]
        token: String,
        /// Another token or YubiKey to hold the same key (repeatable).
        #[arg(long, value_name = "URI")]
        mirror: Vec<String>,
        /// Also write the key, encrypted with the root passphrase, to this new file.
        #[arg(long, value_name = "FILE")]
        escrow: Option<PathBuf>,
        #[command(flatten)]
        piv: PivArgs,
    },
    /// Which tokens hold which root key (matched by public key).
    #[command(after_help = "Examples:\n  trustkey root list\n  trustkey root list --json")]
    List,
    /// Prove a token or YubiKey holds a working root key: sign a fresh challenge on it and
    /// verify the signature (e.g. the backup key, before it goes back into the safe).
    #[command(
        after_help = "Examples:\n  trustkey root check --token 'pkcs11:token=rootB'\n  \
                            trustkey root check --token 'pkcs11:token=rootB' --key-id 03ae8d... --json\n  \
                            trustkey root check --token yubikey:serial=87654321 --key-id 03ae8d..."
    )]
    Check {
        #[arg(long, value_name = "URI")]
        token: String,
        /// Fail unless the key on the token has this key ID.
        #[arg(long, value_name = "KEYID")]
        key_id: Option<String>,
    },
    /// Replace the root key of a repository: a new key on a token (generated there, or with
    /// --mirror put on several tokens), and new root metadata (version + 1) listing it, signed
    /// by both the old and the new root key so that clients which trust the old root accept the
    /// new one. In the Notary dialect the new root certificate is for the same GUN. The old root
    /// key stays on its token (listed as retired by `key list`). The next `publish` publishes it.
    #[command(after_help = "\
Examples:
  trustkey root rotate example.com/app --token 'pkcs11:token=rootC'
  trustkey root rotate example.com/app --token 'pkcs11:token=rootC' --mirror 'pkcs11:token=rootD'
  # a second key on the same token needs another object label
  trustkey root rotate example.com/app --token 'pkcs11:token=rootA;object=root-2026'
  # onto two YubiKeys
  trustkey root rotate example.com/app --token yubikey:serial=12345678 --mirror yubikey:serial=87654321
  trustkey publish example.com/app --repo /srv/trust")]
    Rotate {
        /// The repository (GUN), e.g. example.com/app.
        gun: crate::repo::trustdir::Gun,
        /// The token (and object label; default `root`) for the new root key.
        #[arg(long, value_name = "URI")]
        token: String,
        /// Another token to hold the same new key (repeatable).
        #[arg(long, value_name = "URI")]
        mirror: Vec<String>,
        /// The current root key (default: the one recorded for the GUN).
        #[arg(long, value_name = "URI")]
        root: Option<String>,
        /// How long the new root metadata is valid: root=DURATION (default 10y).
        #[arg(long, value_name = "ROLE=DURATION")]
        expires: Vec<crate::repo::expiry::ExpiryArg>,
        #[command(flatten)]
        piv: PivArgs,
    },
    /// Import the root key from an escrow file into another token (same checks as a mirror).
    ///
    /// The token may be a YubiKey (yubikey:serial=N, slot 9c by default), with --touch and
    /// --pin-policy as for `root create`.
    #[command(
        after_help = "Examples:\n  trustkey root duplicate --to 'pkcs11:token=rootC' --from-escrow root-escrow.p8\n  \
                            trustkey root duplicate --to yubikey:serial=87654321 --from-escrow root-escrow.p8"
    )]
    Duplicate {
        #[arg(long, value_name = "URI")]
        to: String,
        #[arg(long, value_name = "FILE")]
        from_escrow: PathBuf,
        #[command(flatten)]
        piv: PivArgs,
    },
}

// Key references are taken as strings and parsed here, not by clap: clap echoes a rejected
// value, and a mistyped `pin-value=` must not be printed back.
impl RootCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self {
            RootCmd::Create {
                token,
                mirror,
                escrow,
                piv,
            } => {
                let token: KeyRef = token.parse()?;
                let mirrors: Vec<KeyRef> =
                    mirror.iter().map(|m| m.parse()).collect::<Result<_>>()?;
                let opts =
                    piv.options(&std::iter::once(&token).chain(&mirrors).collect::<Vec<_>>())?;
                create(ctx, token, mirrors, escrow, &opts)
            }
            RootCmd::List => list(ctx),
            RootCmd::Check { token, key_id } => check(ctx, &token.parse()?, key_id.as_deref()),
            RootCmd::Duplicate {
                to,
                from_escrow,
                piv,
            } => {
                let to: KeyRef = to.parse()?;
                let opts = piv.options(&[&to])?;
                duplicate(ctx, to, &from_escrow, &opts)
            }
            RootCmd::Rotate {
                gun,
                token,
                mirror,
                root,
                expires,
                piv,
            } => {
                let token: KeyRef = token.parse()?;
                let mirrors: Vec<KeyRef> =
                    mirror.iter().map(|m| m.parse()).collect::<Result<_>>()?;
                let opts =
                    piv.options(&std::iter::once(&token).chain(&mirrors).collect::<Vec<_>>())?;
                rotate(
                    ctx,
                    gun,
                    token,
                    mirrors,
                    root.map(|r| r.parse()).transpose()?,
                    &expires,
                    &opts,
                )
            }
        }
    }
}

#[derive(Debug, Serialize)]
struct Created {
    key_id: String,
    public_key: String,
    tokens: Vec<Placement>,
    escrow: Option<String>,
}

fn public_pem(key: &p256::PublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF)
        .expect("a P-256 key always encodes")
}

fn print_created(ctx: &Ctx, c: &Created) {
    ctx.output.emit(c, |c| {
        let mut s = format!("root key ID {}\n", c.key_id);
        for t in &c.tokens {
            let how = if t.generated_on_token {
                "generated there"
            } else {
                "imported"
            };
            s += &match &t.piv {
                Some(p) => format!(
                    "  on {} ({how}; PIN policy {}, touch policy {})\n",
                    t.token,
                    policy_name(p.pin_policy),
                    policy_name(p.touch_policy)
                ),
                None => format!(
                    "  on {} ({how}; sensitive={}, extractable={})\n",
                    t.token, t.security.sensitive, t.security.extractable
                ),
            };
        }
        if let Some(e) = &c.escrow {
            s += &format!("  escrow: {e} (encrypted with the root passphrase)\n");
        }
        s += &c.public_key;
        s
    });
}

/// "once", "always", "unknown"
fn policy_name<T: Serialize>(p: Option<T>) -> String {
    p.and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

fn create(
    ctx: &Ctx,
    token: KeyRef,
    mirrors: Vec<KeyRef>,
    escrow: Option<PathBuf>,
    opts: &PivOptions,
) -> Result<()> {
    if let Some(e) = &escrow {
        if e.exists() {
            return Err(Error::Usage(format!(
                "escrow file {} already exists; choose another name",
                e.display()
            )));
        }
    }
    if mirrors.is_empty() && escrow.is_none() {
        let (public, placement) = mirror::generate(&ctx.session, &token, opts)?;
        return {
            print_created(
                ctx,
                &Created {
                    key_id: canonical_key_id(&public),
                    public_key: public_pem(&public),
                    tokens: vec![placement],
                    escrow: None,
                },
            );
            Ok(())
        };
    }
    // Ask for the escrow passphrase before touching any token.
    let passphrase = match &escrow {
        Some(_) => {
            Some(ctx.with_prompter(|p| new_passphrase(KeyRole::Root, "the root escrow", p))?)
        }
        None => None,
    };
    let key = MemorySigner::generate("new root key (in memory)");
    let sealed = match &passphrase {
        Some(pass) => Some(encrypt_pem(&key.secret_key(), pass, None)?),
        None => None,
    };
    let mut uris = vec![token];
    uris.extend(mirrors);
    let placed = mirror::place_with(&ctx.session, &uris, &key, opts)?;
    if let (Some(path), Some(pem)) = (&escrow, &sealed) {
        if let Err(e) = write_secret(path, pem.as_bytes(), Overwrite::Refuse) {
            // Nothing is kept without its escrow: every key imported in this run goes.
            let undone = placed.abandon();
            return Err(Error::Mirror(format!(
                "writing the escrow failed: {e}; {undone}; no root key was created"
            )));
        }
    }
    let tokens = placed.commit();
    let public = *key.public_key();
    drop(key); // zeroizes the private scalar
    print_created(
        ctx,
        &Created {
            key_id: canonical_key_id(&public),
            public_key: public_pem(&public),
            tokens,
            escrow: escrow.map(|p| p.display().to_string()),
        },
    );
    Ok(())
}

fn duplicate(ctx: &Ctx, to: KeyRef, escrow: &Path, opts: &PivOptions) -> Result<()> {
    let pem = std::fs::read_to_string(escrow)
        .map_err(|e| Error::io(format!("reading escrow {}", escrow.display()), e))?;
    let what = format!("root escrow {}", escrow.display());
    let pass = ctx.with_prompter(|p| unlock_passphrase(KeyRole::Root, &what, p))?;
    let (secret, _) = decrypt_pem(&pem, &pass, &what)?;
    let key = MemorySigner::from_secret_key(&secret, "root key from escrow");
    drop(secret);
    let placed = mirror::place_with(&ctx.session, std::slice::from_ref(&to), &key, opts)?;
    let tokens = placed.commit();
    let public = *key.public_key();
    drop(key);
    print_created(
        ctx,
        &Created {
            key_id: canonical_key_id(&public),
            public_key: public_pem(&public),
            tokens,
            escrow: None,
        },
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct Holder {
    token: String,
    label: String,
    serial: String,
    object: String,
    uri: String,
}

#[derive(Debug, Serialize)]
struct RootKey {
    key_id: String,
    holders: Vec<Holder>,
}

/// Root keys on the PKCS#11 module's tokens (if a module is configured) and on the YubiKeys
/// plugged in (if PC/SC runs); an error only when neither can be looked at.
fn list(ctx: &Ctx) -> Result<()> {
    let found = discover(&ctx.session, RootFilter::AnyButDelegations)?;
    if let Some(e) = found.unlisted_token {
        return Err(e);
    }
    match found.unlisted_yubikeys {
        None | Some(Error::PcscUnavailable(_)) => {}
        Some(e) => ctx
            .output
            .progress(&format!("warning: YubiKeys not listed: {e}")),
    }
    let mut by_key: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    for k in found.keys {
        by_key.entry(k.key_id).or_default().push(Holder {
            token: k.device,
            label: k.label,
            serial: k.serial,
            object: k.object,
            uri: k.key.to_string(),
        });
    }
    let keys: Vec<RootKey> = by_key
        .into_iter()
        .map(|(key_id, holders)| RootKey { key_id, holders })
        .collect();
    ctx.output.emit(&keys, |keys| {
        if keys.is_empty() {
            return "no EC keys on any token or YubiKey".into();
        }
        let mut s = String::new();
        for k in keys {
            s += &format!("key ID {} on {} token(s)\n", k.key_id, k.holders.len());
            for h in &k.holders {
                s += &format!("  {}  {}\n", h.token, h.uri);
            }
        }
        s
    });
    Ok(())
}

#[derive(Debug, Serialize)]
struct Checked {
    key_id: String,
    token: String,
    public_key: String,
    challenge_hex: String,
    signature_der_hex: String,
    verified: bool,
}

fn check(ctx: &Ctx, key: &KeyRef, expect: Option<&str>) -> Result<()> {
    let signer = ctx.open_signer(key)?;
    let key_id = canonical_key_id(signer.public_key());
    if let Some(want) = expect {
        if !key_id.starts_with(want) || want.is_empty() {
            return Err(Error::Integrity(format!(
                "{} holds key ID {key_id}, not {want}",
                signer.describe()
            )));
        }
    }
    let c = crate::sign::challenge(&signer, signer.public_key())?;
    let out = Checked {
        key_id,
        token: signer.describe(),
        public_key: public_pem(signer.public_key()),
        challenge_hex: hex::encode(c.nonce),
        signature_der_hex: hex::encode(c.signature.to_der().as_bytes()),
        verified: c.verified,
    };
    if !c.verified {
        return Err(Error::Integrity(format!(
            "a signature made on {} does not verify under its public key",
            out.token
        )));
    }
    ctx.output.emit(&out, |c| {
        format!(
            "{}: root key ID {} signs, and the signature verifies",
            c.token, c.key_id
        )
    });
    Ok(())
}

#[derive(Debug, Serialize)]
struct RootRotated {
    #[serde(flatten)]
    resigned: crate::repo::root::Resigned,
    tokens: Vec<Placement>,
    old_root: String,
}

fn rotate(
    ctx: &Ctx,
    gun: crate::repo::trustdir::Gun,
    token: KeyRef,
    mirrors: Vec<KeyRef>,
    old: Option<crate::keys::uri::KeyRef>,
    expires: &[crate::repo::expiry::ExpiryArg],
    opts: &PivOptions,
) -> Result<()> {
    use crate::repo::expiry::Expiries;
    use crate::repo::root::{self as reroot, Change};
    use crate::repo::trustdir::{RetiredKey, TrustDir};
    use crate::tuf::model::RoleName;

    let expiries = Expiries::new(expires, &[RoleName::Root])?;
    let td = TrustDir::new(&ctx.trust_dir);
    td.load_config(&gun)?;
    let _lock = td.lock(&gun, |m| ctx.output.progress(m))?;
    let mut cfg = td.load_config(&gun)?;
    reroot::current_root(&td, &gun)?;
    let old_ref = match old {
        Some(r) => r,
        None => cfg.root_key.parse()?,
    };
    let old_id = cfg.root_key_id.clone();
    // The current root key first: a wrong token costs nothing on the new one.
    let old_signer = ctx.open_signer(&old_ref)?;
    reroot::check_root_signer(&cfg, old_signer.as_ref())?;
    let now = time::OffsetDateTime::now_utc();
    let key_ref = token.to_string();
    let (done, tokens) = if mirrors.is_empty() {
        let (signer, placement) = mirror::generate_signer_at(&ctx.session, &token, opts)?;
        let public = *signer.public_key();
        let left_behind = |e: Error| {
            Error::Mirror(match &token {
                KeyRef::Pkcs11(uri) => format!(
                    "{e}; the new key generated on {} (object {:?}, key ID {}) was not used: \
                     delete it there, or rotate again with another object label",
                    uri.token_desc(),
                    uri.object_label(),
                    canonical_key_id(&public)
                ),
                KeyRef::Yubikey(y) => format!(
                    "{e}; the new key generated in {} (key ID {}) was not used: rotate again \
                     with another slot, or generate over it",
                    y.desc(),
                    canonical_key_id(&public)
                ),
            })
        };
        let change = Change::RootKey {
            signer: signer.as_ref(),
            key_ref: key_ref.clone(),
        };
        let done = reroot::resign(&td, &mut cfg, old_signer.as_ref(), change, &expiries, now)
            .map_err(left_behind)?;
        (done, vec![placement])
    } else {
        let key = MemorySigner::generate("new root key (in memory)");
        let mut uris = vec![token.clone()];
        uris.extend(mirrors);
        // Dropped uncommitted on any failure below: the imported keys are removed again.
        let placed = mirror::place_with(&ctx.session, &uris, &key, opts)?;
        let public = *key.public_key();
        drop(key); // zeroizes the private scalar; the tokens sign from now on
        let signer = ctx.open_signer(&token)?;
        if signer.public_key() != &public {
            return Err(Error::Crypto(format!(
                "{} holds another key than the one just imported",
                signer.describe()
            )));
        }
        let change = Change::RootKey {
            signer: signer.as_ref(),
            key_ref: key_ref.clone(),
        };
        let done = reroot::resign(&td, &mut cfg, old_signer.as_ref(), change, &expiries, now)?;
        (done, placed.commit())
    };
    cfg.retired.push(RetiredKey {
        role: RoleName::Root,
        key_id: old_id,
        location: old_ref.to_string(),
        root_version: done.root_version,
        retired_at: cfg.dialect.format_time(now),
    });
    td.save_config(&cfg)?;
    let out = RootRotated {
        resigned: done,
        tokens,
        old_root: old_ref.to_string(),
    };
    ctx.output.emit(&out, |r| {
        let d = &r.resigned;
        let mut s = format!(
            "rotated the root key of {}: {} -> {}\n\
             root metadata v{} signed by the old root ({}) and the new one\n",
            d.gun, d.old_key_id, d.new_key_id, d.root_version, r.old_root
        );
        for t in &r.tokens {
            s += &format!(
                "  new root key on {} ({})\n",
                t.token,
                if t.generated_on_token {
                    "generated there"
                } else {
                    "imported"
                }
            );
        }
        s += &format!(
            "run `trustkey publish {}` to publish root v{}",
            d.gun, d.root_version
        );
        s
    });
    Ok(())
}
