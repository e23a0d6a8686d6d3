//! What an installed trustkey ships besides the binary: shell completions and man pages made
//! from the command definitions, and (built without the `piv` feature) a binary that needs no
//! PC/SC library and refuses `yubikey:` references in one line.

mod common;

use std::process::Command;

#[cfg(not(feature = "piv"))]
use common::Hsm;

fn trustkey() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trustkey"))
}

#[test]
fn bash_completions_parse_and_know_the_commands() {
    let out = common::run_ok(trustkey().args(["completions", "bash"]));
    for cmd in ["init", "publish", "verify", "delegation", "backup"] {
        assert!(out.contains(cmd), "completions lack {cmd}");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("trustkey.bash");
    std::fs::write(&script, &out).unwrap();
    // bash -n: the script parses; sourcing it registers the completion function.
    common::run_ok(Command::new("bash").arg("-n").arg(&script));
    let registered = common::run_ok(Command::new("bash").arg("-c").arg(format!(
        "source {} && complete -p trustkey",
        script.display()
    )));
    assert!(registered.contains("trustkey"), "{registered}");
}

#[test]
fn zsh_and_fish_completions_are_generated() {
    let zsh = common::run_ok(trustkey().args(["completions", "zsh"]));
    assert!(
        zsh.starts_with("#compdef trustkey"),
        "{}",
        &zsh[..zsh.len().min(80)]
    );
    let fish = common::run_ok(trustkey().args(["completions", "fish"]));
    assert!(fish.contains("complete -c trustkey"));
    let (code, err) = common::run_fails(trustkey().args(["completions", "tcsh"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn man_pages_render_with_man() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    common::run_ok(trustkey().args(["manpages", "--out"]).arg(&out));
    for page in [
        "trustkey.1",
        "trustkey-init.1",
        "trustkey-root-create.1",
        "trustkey-backup-verify.1",
    ] {
        let path = out.join(page);
        assert!(path.exists(), "{page} missing");
        let text = common::run_ok(
            Command::new("man")
                .arg("-l")
                .arg(&path)
                .env("MANWIDTH", "100")
                .env("MANPAGER", "cat")
                .env("PAGER", "cat"),
        );
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{page}:\n{text}"
        );
    }
    let root = common::run_ok(
        Command::new("man")
            .arg("-l")
            .arg(out.join("trustkey-root-create.1"))
            .env("MANPAGER", "cat"),
    );
    assert!(root.contains("--mirror"), "{root}");
    // No page for clap's generated `help` subcommands.
    assert!(!out.join("trustkey-help.1").exists());
}

/// Only in a build without the `piv` feature (CI runs the suite that way too).
#[cfg(not(feature = "piv"))]
#[test]
fn without_piv_a_yubikey_reference_is_refused_in_one_line_and_no_pcsc_is_linked() {
    let hsm = Hsm::with_root("rootA");
    let (code, err) = hsm.fails(&[
        "init",
        "example.com/lean",
        "--root",
        "yubikey:serial=12345678",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("built without YubiKey PIV support"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("trustkey:")).count(),
        1,
        "{err}"
    );
    assert!(!hsm.trust_dir.join("tuf/example.com/lean").exists());
    let (code, err) = hsm.fails(&["yubikey", "list"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("built without YubiKey PIV support"), "{err}");
    // The PKCS#11 path works in the lean build.
    common::run_ok(
        hsm.trustkey_with(&[
            ("TRUSTKEY_TARGETS_PASSPHRASE", "lean targets passphrase"),
            ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "lean snapshot passphrase"),
            ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "lean timestamp passphrase"),
        ])
        .args(["init", "example.com/lean", "--root", "pkcs11:token=rootA"]),
    );
    let ldd = common::run_ok(Command::new("ldd").arg(env!("CARGO_BIN_EXE_trustkey")));
    assert!(!ldd.contains("pcsclite"), "{ldd}");
}

/// With the default features the binary links PC/SC (what the lean build drops).
#[cfg(feature = "piv")]
#[test]
fn with_piv_the_binary_links_pcsclite() {
    let ldd = common::run_ok(Command::new("ldd").arg(env!("CARGO_BIN_EXE_trustkey")));
    assert!(ldd.contains("libpcsclite"), "{ldd}");
}
