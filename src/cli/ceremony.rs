//! `trustkey sign` and `trustkey apply`: root ceremonies with several key holders. The
//! library (`repo::ceremony`) does the work; this renders what a signer reads and asks them.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;

use super::Ctx;
use crate::repo::ceremony::{self, Outcome};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::keyid::short;
use crate::tuf::request::Summary;
use crate::{Error, Result};

/// `trustkey sign`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Runs with nothing but the request file and the token: no trust dir, no network. What the
request asks to sign is recomputed from its bytes and shown first; compare its sha256 with the
one the publisher announced.

Examples:
  trustkey sign example.com_app-root.request.json --key 'pkcs11:token=alice'
  trustkey sign request.json --key yubikey:serial=12345678 --out request-alice.json
  trustkey sign request.json --key 'pkcs11:token=bob' --yes    # scripts: no question")]
pub struct SignArgs {
    /// The signing request (written by init, root rotate, root renew or key rotate).
    request: PathBuf,
    /// The token or YubiKey holding your root key.
    #[arg(long, value_name = "URI")]
    key: String,
    /// Write the signed request to this new file instead of back into REQUEST.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Sign without asking (after showing what is signed).
    #[arg(long)]
    yes: bool,
}

/// `trustkey apply`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Merges the signatures of every copy given, checks each against the keys the request names and
the thresholds (distinct keys; for a rotation both the new root's and the trusted root's), and
makes the root the repository's next root. Then `trustkey publish` as usual.

Examples:
  trustkey apply request-alice.json request-bob.json
  trustkey apply --gun example.com/app request.json")]
pub struct ApplyArgs {
    /// Signed copies of one request.
    #[arg(required = true)]
    requests: Vec<PathBuf>,
    /// Refuse unless the request is for this repository.
    #[arg(long, value_name = "GUN")]
    gun: Option<Gun>,
}

pub fn sign(ctx: &Ctx, a: SignArgs) -> Result<()> {
    let key = a.key.parse()?;
    let reviewed = ceremony::sign::review(&a.request)?;
    let text = summary_text(&reviewed.summary);
    if ctx.output.format == super::output::Format::Human {
        println!("{}", crate::text::printable_lines(&text));
    }
    if !a.yes {
        confirm(&format!(
            "sign root v{} of {} with {}? [y/N] ",
            reviewed.summary.version,
            crate::text::printable(&reviewed.summary.gun),
            key
        ))?;
    }
    let done = ceremony::sign::sign(&ctx.session, &a.request, reviewed, &key, a.out.as_deref())?;
    ctx.output.emit(&done, |d| {
        if d.added {
            format!(
                "signed as key {} ({}); the signed request is {}: send it back to the publisher",
                d.key_id,
                d.signed_as
                    .iter()
                    .map(|i| short(i))
                    .collect::<Vec<_>>()
                    .join(", "),
                d.written_to
            )
        } else {
            format!(
                "key {} had signed this request already: nothing added ({})",
                d.key_id, d.written_to
            )
        }
    });
    Ok(())
}

/// Asks on the terminal; without one, refuses (scripts pass --yes).
fn confirm(question: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no terminal to confirm on: read the summary above, then run again with --yes".into(),
        ));
    }
    eprint!("{question}");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::io("reading from the terminal", e))?;
    match line.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(Error::Usage("not signed: not confirmed".into())),
    }
}

pub fn apply(ctx: &Ctx, a: ApplyArgs) -> Result<()> {
    let td = TrustDir::new(&ctx.trust_dir);
    let done = ceremony::apply::apply(&ctx.session, &td, &a.requests, a.gun.as_ref())?;
    ctx.output
        .emit(&done, |d| outcome_text(&Outcome::Applied(d.clone())));
    Ok(())
}

/// What a signer reads before signing.
pub fn summary_text(s: &Summary) -> String {
    let mut t = format!(
        "Signing request: {} of {} ({} dialect)\n  sha256 of what is signed: {}\n  root version {}, \
         expires {}{}\n",
        s.purpose.describe(),
        s.gun,
        s.dialect,
        s.sha256,
        s.version,
        s.expires,
        if s.consistent_snapshot {
            ", consistent snapshots"
        } else {
            ""
        }
    );
    t += "  keys:\n";
    for r in &s.roles {
        t += &format!("    {} ({} of {}):\n", r.role, r.threshold, r.keys.len());
        for k in &r.keys {
            t += &format!("      {}", k.canonical_id);
            if k.key_id != k.canonical_id {
                t += &format!(" (listed as {})", short(&k.key_id));
            }
            if let Some(cn) = &k.certificate_for {
                t += &format!(" certificate for {cn}");
            }
            t += "\n";
        }
    }
    match s.previous_version {
        Some(v) => {
            t += &format!("  changes from the trusted root v{v}:\n");
            for c in &s.changes {
                t += &format!("    {}\n", c.0);
            }
        }
        None => t += "  a first root: there is no previous root to compare with\n",
    }
    t += "  signatures needed:\n";
    for n in &s.needs {
        t += &format!("    {n}\n");
    }
    t
}

/// An init's, rotation's or renewal's root: applied, or a request written.
pub fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Applied(a) => format!(
            "root v{} of {} is signed ({} signature(s)), expires {}; run `trustkey publish {}` to \
             publish it\n",
            a.version,
            a.gun,
            a.signed_by.len(),
            a.expires,
            a.gun
        ),
        Outcome::Requested(r) => {
            let mut s = format!(
                "root v{} of {} needs signatures: request written to {}\n  sha256 {}\n",
                r.version, r.gun, r.path, r.sha256
            );
            for n in &r.needs {
                s += &format!("  {n}\n");
            }
            s += "  each key holder runs `trustkey sign REQUEST --key URI`; then `trustkey apply \
                  REQUEST...` here\n";
            s
        }
    }
}
