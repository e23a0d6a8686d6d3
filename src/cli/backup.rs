//! `trustkey backup ...`: a tar.gz of the trust dir's keys; verify that every key in it
//! decrypts; restore it without surprises.

use std::path::PathBuf;

use clap::Subcommand;

use super::Ctx;
use crate::backup::{self, Status, MAX_ENTRIES, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES};
use crate::fsio::Overwrite;
use crate::repo::trustdir::TrustDir;
use crate::Result;

fn overwrite(force: bool) -> Overwrite {
    if force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    }
}

#[derive(Debug, Subcommand)]
pub enum BackupCmd {
    /// Write a tar.gz of the trust dir's private/ (the encrypted repository keys), plus root
    /// escrow files, with owner-only modes (0600 files, 0700 directories; the archive 0600).
    #[command(after_help = "\
The keys stay encrypted with their passphrases; keep those apart from the archive.
The archive is written atomically and never replaces an existing file without --force.
Escrow files given with --include are stored as escrow/<name>.

Examples:
  trustkey backup create --out trust-backup.tar.gz
  trustkey -d ~/.docker/trust backup create --out /media/safe/trust.tgz --include root-escrow.p8
  # then prove it restores and decrypts
  trustkey backup verify /media/safe/trust.tgz")]
    Create {
        /// The archive to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
        /// A root escrow file to include (repeatable); stored as escrow/<name>.
        #[arg(long = "include", value_name = "FILE")]
        include: Vec<PathBuf>,
    },
    /// List every key in a backup (role, GUN, key ID) and prove each decrypts with its
    /// passphrase and matches its key ID. Exits non-zero if any key fails.
    #[command(after_help = "\
Passphrases come from the role's variables (TRUSTKEY_<ROLE>_PASSPHRASE, NOTARY_<ROLE>_PASSPHRASE,
DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE / DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE), else a prompt.
Escrow files are opened with the root passphrase.

Examples:
  trustkey backup verify trust-backup.tar.gz
  TRUSTKEY_TARGETS_PASSPHRASE=... TRUSTKEY_SNAPSHOT_PASSPHRASE=... \\
    trustkey --json backup verify trust-backup.tar.gz")]
    Verify {
        /// The archive to check.
        #[arg(value_name = "FILE")]
        archive: PathBuf,
    },
    /// Restore a backup into the trust dir: all or nothing, 0600 files in 0700 directories.
    #[command(after_help = "\
Before writing anything, every entry is checked: only regular files and directories below
private/ and escrow/, no absolute paths or `..`, no links, devices or FIFOs, no duplicates, at most
1 MiB per entry, 64 MiB and 4096 entries in all. Existing keys are never replaced without --force. If a write
fails, what this run wrote is removed (and replaced keys are put back).
Escrow files are restored to <trust dir>/escrow/.

Examples:
  trustkey -d ~/.docker/trust backup restore trust-backup.tar.gz
  trustkey backup restore --force trust-backup.tar.gz")]
    Restore {
        /// The archive to restore.
        #[arg(value_name = "FILE")]
        archive: PathBuf,
        /// Replace keys that already exist in the trust dir.
        #[arg(long)]
        force: bool,
    },
}

impl BackupCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self {
            BackupCmd::Create {
                out,
                force,
                include,
            } => create(ctx, &out, overwrite(force), &include),
            BackupCmd::Verify { archive } => verify(ctx, &archive),
            BackupCmd::Restore { archive, force } => restore(ctx, &archive, overwrite(force)),
        }
    }
}

fn create(ctx: &Ctx, out: &std::path::Path, ow: Overwrite, include: &[PathBuf]) -> Result<()> {
    let report = backup::create(&ctx.trust_dir, include, out, ow)?;
    ctx.output.emit(&report, |r| {
        let mut s = format!(
            "wrote {} (0600): {} key file(s), {} escrow file(s)\n",
            r.archive, r.keys, r.escrow_files
        );
        for e in &r.entries {
            match e.bytes {
                Some(n) => s += &format!("  {}  ({n} bytes)\n", e.path),
                None => s += &format!("  {}/\n", e.path),
            }
        }
        s
    });
    Ok(())
}

fn verify(ctx: &Ctx, path: &std::path::Path) -> Result<()> {
    let td = TrustDir::new(&ctx.trust_dir);
    let report = ctx.with_prompter(|p| backup::verify_file(path, &td, p))?;
    ctx.output.emit(&report, |r| {
        let mut s = String::new();
        for k in &r.keys {
            let mark = match k.status {
                Status::Ok => "ok    ",
                Status::Failed => "FAILED",
                Status::Skipped => "skip  ",
            };
            let role = k.role.as_deref().unwrap_or("?");
            let gun = match k.gun.as_deref() {
                Some(g) if !g.is_empty() => g,
                _ => "-",
            };
            let id = if k.escrow {
                format!(
                    "escrow {} (key ID {})",
                    k.key_id,
                    k.actual_key_id.as_deref().unwrap_or("?")
                )
            } else {
                k.key_id.clone()
            };
            s += &format!("{mark}  {role:<10} {gun:<24} {id}  {}\n", k.path);
            if let Some(e) = &k.error {
                s += &format!("        {e}\n");
            }
            if let Some(p) = &k.published {
                s += &format!("        published: {p}\n");
            }
        }
        s
    });
    let checked = report.verdict()?;
    ctx.output.progress(&format!(
        "all {checked} key(s) in {} decrypt and match their key IDs",
        report.archive
    ));
    Ok(())
}

fn restore(ctx: &Ctx, path: &std::path::Path, ow: Overwrite) -> Result<()> {
    let report = backup::restore(&ctx.trust_dir, path, ow)?;
    ctx.output.emit(&report, |r| {
        let mut s = format!(
            "restored {} into {}: {} new file(s), {} replaced\n",
            r.archive,
            ctx.trust_dir.display(),
            r.written.len(),
            r.replaced.len()
        );
        for w in &r.written {
            s += &format!("  new       {w}\n");
        }
        for w in &r.replaced {
            s += &format!("  replaced  {w}\n");
        }
        s
    });
    Ok(())
}

// The limits the help text states.
const _: () =
    assert!(MAX_ENTRY_BYTES == 1 << 20 && MAX_TOTAL_BYTES == 64 << 20 && MAX_ENTRIES == 4096);
