//! `trustkey root ...`: the root key, created once on tokens and never again in the open.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;
use time::OffsetDateTime;

use super::Ctx;
use crate::keys::discovery::{discover, RootFilter};
use crate::keys::piv::PivOptions;
use crate::keys::public::KeySpec;
use crate::keys::root_key::{self, CreatedRoot, NewRoot};
use crate::keys::uri::KeyRef;
use crate::piv::{DefaultCredentials, PinPolicy, Policies, TouchPolicy};
use crate::repo::expiry::Expiries;
use crate::repo::rotation::{self, RootRotation, RotatedRoot};
use crate::repo::trustdir::TrustDir;
use crate::tuf::model::RoleName;
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
        #[arg(long, value_name = "URI", required_unless_present = "root_key")]
        token: Option<String>,
        /// The new root's keys instead, for a threshold root (repeatable): tokens or public key
        /// files (`root export`). Needs the trusted root's threshold of signatures and the new
        /// one's: the tokens at hand sign, a signing request goes to the other key holders.
        #[arg(long, value_name = "FILE|URI", conflicts_with_all = ["token", "mirror"])]
        root_key: Vec<String>,
        /// How many of the --root-key keys must sign the new root.
        #[arg(long, value_name = "M", requires = "root_key")]
        root_threshold: Option<u64>,
        /// Write the signing request to this new file, even when the tokens at hand could sign.
        #[arg(long, value_name = "FILE", requires = "root_key")]
        request: Option<PathBuf>,
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
    /// Write the public half of a root key on a token, for a threshold root kept by several
    /// people: the publisher names the file where a token would be named (`init --root-key
    /// FILE`, `root rotate --root-key FILE`). With --gun, a self-signed certificate for that
    /// GUN (CN = GUN, signed on the token) follows the key: the notary dialect lists root keys
    /// as certificates.
    #[command(after_help = "\
Examples:
  trustkey root export --token 'pkcs11:token=alice' --out alice.pub
  trustkey root export --token yubikey:serial=12345678 --gun example.com/app --out alice.pem")]
    Export {
        /// The token (and object label; default `root`) or yubikey:serial=N holding the key.
        #[arg(long, value_name = "URI")]
        token: String,
        /// Add a certificate for this GUN (the notary dialect needs one per GUN).
        #[arg(long, value_name = "GUN")]
        gun: Option<crate::repo::trustdir::Gun>,
        /// Write to this new file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Sign the same root again with a later expiry (version + 1): the root keys at hand sign,
    /// and for a threshold root a signing request goes to the other key holders.
    #[command(after_help = "\
Examples:
  trustkey root renew example.com/app --expires 5y
  trustkey root renew example.com/app --expires 2y --request renew.json")]
    Renew {
        /// The repository (GUN), e.g. example.com/app.
        gun: crate::repo::trustdir::Gun,
        /// How long the renewed root is valid from now ([-]N s|m|h|d|w|y).
        #[arg(long, value_name = "DURATION")]
        expires: String,
        /// Write the signing request to this new file, even when the tokens at hand could sign.
        #[arg(long, value_name = "FILE")]
        request: Option<PathBuf>,
    },
    /// Every root version the repository published: its keys (and where each is known to
    /// live), threshold, expiry, and which keys signed it.
    #[command(after_help = "Examples:\n  trustkey root history example.com/app\n  \
                            trustkey root history example.com/app --json")]
    History {
        /// The repository (GUN), e.g. example.com/app.
        gun: crate::repo::trustdir::Gun,
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
                let req = NewRoot {
                    token,
                    mirrors,
                    escrow,
                    piv: &opts,
                };
                print_created(ctx, &root_key::create(&ctx.session, &req)?);
                Ok(())
            }
            RootCmd::List => list(ctx),
            RootCmd::Export { token, gun, out } => {
                let e = crate::keys::public::export(
                    &ctx.session,
                    &token.parse()?,
                    gun.as_ref().map(|g| g.as_str()),
                    out.as_deref(),
                    OffsetDateTime::now_utc(),
                )?;
                ctx.output.emit(&e, |e| match &e.out {
                    Some(path) => format!(
                        "wrote the public key{} of root key ID {} ({}) to {path}",
                        match &e.gun {
                            Some(g) => format!(" and a certificate for {g}"),
                            None => String::new(),
                        },
                        e.key_id,
                        e.token
                    ),
                    None => e.pem.trim_end().to_string(),
                });
                Ok(())
            }
            RootCmd::Check { token, key_id } => {
                let out = root_key::check(&ctx.session, &token.parse()?, key_id.as_deref())?;
                ctx.output.emit(&out, |c| {
                    format!(
                        "{}: root key ID {} signs, and the signature verifies",
                        c.token, c.key_id
                    )
                });
                Ok(())
            }
            RootCmd::Duplicate {
                to,
                from_escrow,
                piv,
            } => {
                let to: KeyRef = to.parse()?;
                let opts = piv.options(&[&to])?;
                let done = root_key::duplicate(&ctx.session, &to, &from_escrow, &opts)?;
                print_created(ctx, &done);
                Ok(())
            }
            RootCmd::Renew {
                gun,
                expires,
                request,
            } => {
                let d = crate::repo::expiry::parse_duration(&expires).map_err(Error::Usage)?;
                let now = OffsetDateTime::now_utc();
                next_root(ctx, &gun, None, now + d, request, now)
            }
            RootCmd::History { gun } => history(ctx, &gun),
            RootCmd::Rotate {
                gun,
                token: None,
                root_key,
                root_threshold,
                request,
                expires,
                ..
            } => {
                let specs: Vec<KeySpec> = root_key
                    .iter()
                    .map(|k| KeySpec::parse(k))
                    .collect::<Result<_>>()?;
                let threshold = match (root_threshold, specs.len()) {
                    (Some(t), _) => t,
                    (None, 1) => 1,
                    (None, _) => {
                        return Err(Error::Usage(
                            "name the new root's threshold with --root-threshold M".into(),
                        ))
                    }
                };
                let expiries = Expiries::new(&expires, &[RoleName::Root])?;
                let now = OffsetDateTime::now_utc();
                let until = now + expiries.get(RoleName::Root);
                next_root(ctx, &gun, Some((&specs, threshold)), until, request, now)
            }
            RootCmd::Rotate {
                gun,
                token: Some(token),
                mirror,
                root,
                expires,
                piv,
                ..
            } => {
                let token: KeyRef = token.parse()?;
                let mirrors: Vec<KeyRef> =
                    mirror.iter().map(|m| m.parse()).collect::<Result<_>>()?;
                let opts =
                    piv.options(&std::iter::once(&token).chain(&mirrors).collect::<Vec<_>>())?;
                let old = root.map(|r| r.parse()).transpose()?;
                let expiries = Expiries::new(&expires, &[RoleName::Root])?;
                let req = RootRotation {
                    gun: &gun,
                    token,
                    mirrors,
                    old,
                    piv: &opts,
                    expiries: &expiries,
                    now: OffsetDateTime::now_utc(),
                };
                let td = TrustDir::new(&ctx.trust_dir);
                print_rotated(ctx, &rotation::rotate_root(&ctx.session, &td, &req)?);
                Ok(())
            }
        }
    }
}

fn print_created(ctx: &Ctx, c: &CreatedRoot) {
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

#[derive(Debug, Serialize)]
struct Holder {
    token: String,
    label: String,
    serial: String,
    object: String,
    uri: String,
}

/// A repository in the trust dir whose root the key is.
#[derive(Debug, Serialize)]
struct RootOf {
    gun: String,
    root_key: crate::tuf::keyid::RootKeyIds,
}

#[derive(Debug, Serialize)]
struct RootKey {
    /// The canonical key ID.
    key_id: String,
    holders: Vec<Holder>,
    repositories: Vec<RootOf>,
}

/// Root keys on the PKCS#11 module's tokens (if a module is configured) and on the YubiKeys
/// plugged in (if PC/SC runs); an error only when neither can be looked at.
fn list(ctx: &Ctx) -> Result<()> {
    let td = TrustDir::new(&ctx.trust_dir);
    let not_roots = crate::repo::inventory::delegation_key_ids(&td)?;
    let found = discover(&ctx.session, RootFilter::AnyButDelegations, &not_roots)?;
    let uses: Vec<(String, crate::tuf::keyid::RootKeyIds)> = crate::repo::retire::configs(&td)?
        .iter()
        .map(|cfg| {
            (
                cfg.gun.to_string(),
                crate::repo::inventory::root_key_ids(cfg),
            )
        })
        .collect();
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
        .map(|(key_id, holders)| RootKey {
            repositories: uses
                .iter()
                .filter(|(_, ids)| ids.canonical_key_id == key_id)
                .map(|(gun, ids)| RootOf {
                    gun: gun.clone(),
                    root_key: ids.clone(),
                })
                .collect(),
            key_id,
            holders,
        })
        .collect();
    ctx.output.emit_list("keys", &keys, |keys| {
        if keys.is_empty() {
            return "no EC keys on any token or YubiKey".into();
        }
        let mut s = String::new();
        for k in keys {
            s += &format!(
                "{} {} on {} token(s)\n",
                crate::tuf::keyid::KeyIdKind::Canonical.label(),
                k.key_id,
                k.holders.len()
            );
            for h in &k.holders {
                s += &format!("  {}  {}\n", h.token, h.uri);
            }
            for r in &k.repositories {
                s += &format!(
                    "  root key of {}: {}\n",
                    r.gun,
                    super::output::root_key_ids(&r.root_key)
                );
            }
        }
        s
    });
    Ok(())
}

fn print_rotated(ctx: &Ctx, r: &RotatedRoot) {
    ctx.output.emit(r, |r| {
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
}

fn next_root(
    ctx: &Ctx,
    gun: &crate::repo::trustdir::Gun,
    rotate_to: Option<(&[KeySpec], u64)>,
    expires: OffsetDateTime,
    request: Option<PathBuf>,
    now: OffsetDateTime,
) -> Result<()> {
    use crate::repo::ceremony::{change, RequestOut};
    let td = TrustDir::new(&ctx.trust_dir);
    let r = change::NextRoot {
        gun,
        rotate_to,
        expires,
        out: match request {
            Some(p) => RequestOut::To(p),
            None => RequestOut::IfNeeded,
        },
        now,
    };
    let o = change::next_root(&ctx.session, &td, &r)?;
    ctx.output.emit(&o, super::ceremony::outcome_text);
    Ok(())
}

fn history(ctx: &Ctx, gun: &crate::repo::trustdir::Gun) -> Result<()> {
    let td = TrustDir::new(&ctx.trust_dir);
    let h = crate::repo::ceremony::history::history(&td, gun)?;
    ctx.output.emit(&h, |h| {
        let mut s = format!("root history of {}\n", h.gun);
        for v in &h.versions {
            s += &format!(
                "v{}: {} of {} root keys, expires {}\n",
                v.version,
                v.threshold,
                v.keys.len(),
                v.expires
            );
            for k in &v.keys {
                s += &format!(
                    "  {} {}  {}\n",
                    if k.signed { "signed " } else { "-      " },
                    k.canonical_id,
                    k.location
                );
            }
            for k in &v.also_signed_by {
                s += &format!("  signed  {k}  (a key of the previous root)\n");
            }
        }
        if let Some(p) = h.pending {
            s += &format!("v{p}: waiting for signatures (`trustkey apply`)\n");
        }
        s
    });
    Ok(())
}
