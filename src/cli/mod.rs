//! The command line: global flags, the command tree, and the per-command context.

pub mod backup;
pub mod ceremony;
pub mod delegation;
pub mod docs;
pub mod key;
pub mod output;
pub mod prompt;
pub mod repo;
pub mod root;
pub mod table;
pub mod token;
pub mod yubikey;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::keys::uri::KeyRef;
use crate::keys::{Session, Signer};
use crate::repo::server::Timeouts;
use crate::secret::Prompter;
use crate::{Error, Result};
use output::Output;
use prompt::TerminalPrompter;

const ABOUT: &str = "Sign TUF and Docker Content Trust metadata with a root key that lives on \
                     hardware tokens (PKCS#11: YubiKey, HSMs, SoftHSM).";

const AFTER_HELP: &str = "\
Key references are RFC 7512 PKCS#11 URIs or YubiKey PIV slots:
  pkcs11:token=rootA;object=root?pin-source=env:ROOT_PIN
  yubikey:serial=12345678;slot=9c?pin-source=env:ROOT_PIN   (slot 9c by default; serial may be
                                                            left out with one YubiKey plugged in)
PINs come from the reference's pin-source (env:NAME or file:PATH), TRUSTKEY_PIN, or a prompt;
never from the command line.

Examples:
  trustkey --module softhsm token list
  trustkey root create --token 'pkcs11:token=rootA' --mirror 'pkcs11:token=rootB' --escrow root.p8
  trustkey root create --token yubikey:serial=12345678 --mirror yubikey:serial=87654321";

#[derive(Debug, Parser)]
#[command(name = "trustkey", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct Global {
    /// Trust directory (keys in private/, metadata cache and staged changes in tuf/).
    #[arg(
        short = 'd',
        long,
        global = true,
        env = "TRUSTKEY_TRUST_DIR",
        value_name = "DIR"
    )]
    pub trust_dir: Option<PathBuf>,
    /// Notary server URL.
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// CA certificate file for the server's TLS certificate.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Client certificate (PEM) for servers that require one; with --tlskey.
    #[arg(long, global = true, value_name = "FILE", requires = "tlskey")]
    pub tlscert: Option<PathBuf>,
    /// Private key (PEM, unencrypted) of --tlscert.
    #[arg(long, global = true, value_name = "FILE", requires = "tlscert")]
    pub tlskey: Option<PathBuf>,
    /// PKCS#11 module: a path to the .so, or a profile name (softhsm, ykcs11, opensc).
    #[arg(
        long,
        global = true,
        env = "TRUSTKEY_PKCS11_MODULE",
        value_name = "PATH|PROFILE"
    )]
    pub module: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars or notices on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Spend a token's last PIN try (a wrong PIN then locks it).
    #[arg(long, global = true)]
    pub allow_final_pin_try: bool,
    /// Refused: a PIN on the command line is visible to every user through `ps`.
    #[arg(long, global = true, hide = true, value_name = "PIN")]
    pub pin: Option<String>,
}

// Parsed once per process; boxing the larger variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// PKCS#11 modules, tokens and the keys on them.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// The root key: create it on tokens, find it, duplicate it from escrow, rotate it.
    #[command(subcommand)]
    Root(root::RootCmd),
    /// Repository keys on disk: list, rotate, remove, export, import, change passphrase.
    #[command(subcommand)]
    Key(key::KeyCmd),
    /// Back up, verify and restore the keys in the trust dir (tar.gz, owner-only).
    #[command(subcommand)]
    Backup(backup::BackupCmd),
    #[command(flatten)]
    Repo(repo::RepoCmd),
    /// Sign a signing request on your token (air-gapped: no trust dir, no network).
    Sign(ceremony::SignArgs),
    /// Merge signed copies of a signing request and make its root the repository's root.
    Apply(ceremony::ApplyArgs),
    /// Delegations: signers with keys of their own (on disk, or on their own token).
    #[command(subcommand)]
    Delegation(delegation::DelegationCmd),
    /// YubiKey PIV: list, status, setup (PIN, PUK, management key), unblock, attest.
    #[command(subcommand)]
    Yubikey(yubikey::YubikeyCmd),
    /// Print the shell completion script for SHELL (e.g. `trustkey completions bash >
    /// /etc/bash_completion.d/trustkey`).
    Completions {
        #[arg(value_enum)]
        shell: docs::Shell,
    },
    /// Write the man pages (trustkey.1 and one per subcommand) into a directory.
    Manpages {
        /// Where to write them (e.g. /usr/local/share/man/man1).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// What every command handler gets: the command line's settings, and the library session
/// (token modules, prompter, PIN policy) built from them.
pub struct Ctx {
    pub trust_dir: PathBuf,
    pub server: Option<String>,
    pub tlscacert: Option<PathBuf>,
    /// The notary-server time limits (`TRUSTKEY_HTTP_TIMEOUT_SECS`).
    pub timeouts: Timeouts,
    /// `--tlscert/--tlskey`.
    pub client_cert: Option<crate::repo::server::ClientCertFiles>,
    pub output: Output,
    pub verbose: u8,
    pub session: Session,
}

impl Ctx {
    /// The prompter is the terminal, following `--quiet` and `--json`.
    pub fn new(g: &Global) -> Result<Self> {
        let trust_dir = match &g.trust_dir {
            Some(d) => d.clone(),
            None => default_trust_dir()?,
        };
        let output = Output::from_global(g);
        let prompter = Box::new(TerminalPrompter::new(output));
        Ok(Ctx {
            trust_dir,
            server: g.server.clone(),
            tlscacert: g.tlscacert.clone(),
            timeouts: http_timeouts(std::env::var_os(HTTP_TIMEOUT_VAR).as_deref())?,
            client_cert: match (&g.tlscert, &g.tlskey) {
                (Some(cert), Some(key)) => Some(crate::repo::server::ClientCertFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
            output,
            verbose: g.verbose,
            session: Session::new(g.module.clone(), prompter)
                .allow_final_pin_try(g.allow_final_pin_try),
        })
    }

    /// Runs `f` with the session's prompter (PINs, passphrases, notices).
    pub fn with_prompter<T>(&self, f: impl FnOnce(&mut dyn Prompter) -> T) -> T {
        self.session.with_prompter(f)
    }

    /// Opens the key a reference names, logging in once per token per command.
    pub fn open_signer(&self, key: &KeyRef) -> Result<Box<dyn Signer>> {
        self.session.open_signer(key)
    }

    /// Finalizes every PKCS#11 module this command loaded.
    pub fn finish(self) -> Result<()> {
        self.session.finish()
    }
}

/// Sets the connect and per-read limits of notary-server requests, in whole seconds (e.g. a
/// short one for tests; the overall limit stays).
const HTTP_TIMEOUT_VAR: &str = "TRUSTKEY_HTTP_TIMEOUT_SECS";

/// The time limits `TRUSTKEY_HTTP_TIMEOUT_SECS` sets (1 to the overall limit), else the
/// defaults.
fn http_timeouts(value: Option<&std::ffi::OsStr>) -> Result<Timeouts> {
    let default = Timeouts::default();
    let Some(value) = value else {
        return Ok(default);
    };
    let max = default.total.as_secs();
    let secs = value
        .to_str()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=max).contains(s))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{HTTP_TIMEOUT_VAR}={}: expected whole seconds from 1 to {max}",
                crate::text::printable(&value.to_string_lossy())
            ))
        })?;
    let limit = std::time::Duration::from_secs(secs);
    Ok(Timeouts {
        connect: limit,
        read: limit,
        total: default.total,
    })
}

fn default_trust_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .ok_or_else(|| Error::Usage("HOME is not set; pass --trust-dir DIR".into()))?;
    Ok(PathBuf::from(home).join(".docker").join("trust"))
}

/// Runs one command to the end, finalizing token modules whatever happened.
pub fn run(cli: Cli) -> Result<()> {
    if cli.global.pin.is_some() {
        return Err(Error::Usage(
            "--pin is refused: a PIN on the command line is visible to other users; set \
             TRUSTKEY_PIN, add pin-source=env:NAME or pin-source=file:PATH to the URI, or \
             let trustkey prompt"
                .into(),
        ));
    }
    // Generated from the command definitions: no trust dir, no tokens.
    match &cli.command {
        Command::Completions { shell } => return docs::completions(*shell),
        Command::Manpages { out } => {
            let written = docs::manpages(out)?;
            let output = Output::from_global(&cli.global);
            output.progress(&format!(
                "wrote {} man pages to {}",
                written.len(),
                out.display()
            ));
            return Ok(());
        }
        _ => {}
    }
    let ctx = Ctx::new(&cli.global)?;
    // Secrets' directories are checked before any command uses them (token and YubiKey
    // commands do not touch the trust dir).
    if !matches!(
        cli.command,
        Command::Token(_) | Command::Yubikey(_) | Command::Sign(_)
    ) {
        crate::repo::trustdir::TrustDir::new(&ctx.trust_dir)
            .secure(|m| ctx.with_prompter(|p| p.warn(m)))?;
    }
    let result = match cli.command {
        Command::Completions { .. } | Command::Manpages { .. } => Ok(()),
        Command::Token(c) => c.run(&ctx),
        Command::Root(c) => c.run(&ctx),
        Command::Key(c) => c.run(&ctx),
        Command::Backup(c) => c.run(&ctx),
        Command::Repo(c) => c.run(&ctx),
        Command::Delegation(c) => c.run(&ctx),
        Command::Sign(a) => ceremony::sign(&ctx, a),
        Command::Apply(a) => ceremony::apply(&ctx, a),
        Command::Yubikey(c) => c.run(&ctx),
    };
    let fin = ctx.finish();
    result.and(fin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The command line's value names are the library's names for the same values.
    #[test]
    fn value_enums_name_the_library_values() {
        use clap::ValueEnum;
        for v in repo::DialectArg::value_variants() {
            let name = v.to_possible_value().expect("not hidden");
            assert_eq!(
                name.get_name(),
                crate::tuf::dialect::Dialect::from(*v).name()
            );
        }
        for v in root::TouchArg::value_variants() {
            let name = v.to_possible_value().expect("not hidden");
            let policy = crate::piv::TouchPolicy::from(*v);
            assert_eq!(serde_json::to_value(policy).unwrap(), name.get_name());
        }
    }

    #[test]
    fn http_timeout_is_whole_seconds_within_the_overall_limit() {
        use std::ffi::OsStr;
        use std::time::Duration;
        assert_eq!(http_timeouts(None).unwrap(), Timeouts::default());
        let t = http_timeouts(Some(OsStr::new("2"))).unwrap();
        assert_eq!(
            (t.connect, t.read),
            (Duration::from_secs(2), Duration::from_secs(2))
        );
        assert_eq!(t.total, Timeouts::default().total);
        assert!(http_timeouts(Some(OsStr::new("300"))).is_ok());
        for bad in ["0", "301", "-1", "0.5", "", "1s"] {
            let err = http_timeouts(Some(OsStr::new(bad)))
                .unwrap_err()
                .to_string();
            assert!(err.contains("TRUSTKEY_HTTP_TIMEOUT_SECS"), "{bad}: {err}");
        }
    }
}
