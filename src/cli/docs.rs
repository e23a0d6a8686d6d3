//! `trustkey completions SHELL` and `trustkey manpages --out DIR`: shell completions and man
//! pages generated from the clap definitions, so they never drift from the commands.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, ValueEnum};

use super::Cli;
use crate::fsio::{self, Overwrite};
use crate::{Error, Result};

/// Shells clap_complete writes completions for.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl From<Shell> for clap_complete::Shell {
    fn from(s: Shell) -> Self {
        match s {
            Shell::Bash => clap_complete::Shell::Bash,
            Shell::Zsh => clap_complete::Shell::Zsh,
            Shell::Fish => clap_complete::Shell::Fish,
            Shell::Elvish => clap_complete::Shell::Elvish,
            Shell::Powershell => clap_complete::Shell::PowerShell,
        }
    }
}

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::from(shell),
        &mut cmd,
        "trustkey",
        &mut out,
    );
    use std::io::Write as _;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Error::io("writing the completions to stdout", e))
}

/// Writes `trustkey.1` and one page per subcommand (`trustkey-root-create.1`, ...) into `dir`,
/// returning the files written.
pub fn manpages(dir: &Path) -> Result<Vec<PathBuf>> {
    fsio::create_dir(dir)?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, "trustkey", dir, &mut written)?;
    Ok(written)
}

fn write_pages(cmd: &clap::Command, name: &str, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    // Each page is titled with its full command name, as `git-commit(1)` is.
    let page = cmd.clone().name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(|e| Error::io(format!("rendering the man page of {name}"), e))?;
    let path = dir.join(format!("{name}.1"));
    fsio::write_atomic(&path, &buf, 0o644, Overwrite::Replace)?;
    out.push(path);
    // clap's generated `help` subcommands have no page of their own.
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, out)?;
    }
    Ok(())
}
