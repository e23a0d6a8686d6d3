//! Fuzzing harnesses: one per parser of outside data (metadata of either dialect, the trusted
//! set's update steps, canonical JSON, key objects, key files, root certificates, backup
//! archives, key references, the trust dir's stage and config files, notary-server responses).
//!
//! Each harness is a plain function of bytes that must never panic, abort, hang or grow
//! without bound: whatever the bytes, the code under test answers with a value or an error.
//! Harnesses also check properties the program relies on (what trustkey writes, it reads back;
//! a reference it prints, it parses to the same reference); a broken property panics, as a
//! crash would.
//!
//! They run in two places:
//! - `cargo test` (tests.rs): every harness on its seed corpus (`fuzz/seeds/<name>/`, real
//!   files made by trustkey, notary and python-tuf) and a short deterministic mutation loop;
//! - `scripts/fuzz.sh NAME [SECONDS]`: one harness under AFL++ (`cargo afl`, on stable Rust),
//!   through the driver crate in `fuzz/`, which builds this module with the `fuzzing` feature.
//!
//! Inputs that bundle several files (a repository for the trusted set) are tagged files
//! separated by NUL bytes, which JSON text cannot contain (see [`files`]).

use std::fmt::Display;

mod archive;
mod config;
mod keys;
mod metadata;
mod references;
mod server;
mod trusted;

#[cfg(test)]
mod mutate;
#[cfg(test)]
mod seeds;
#[cfg(test)]
mod seeds_more;
#[cfg(test)]
mod tests;

/// One harness: its name (the seed directory, and the argument of `scripts/fuzz.sh`), the
/// function, and what it covers.
pub struct Harness {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub covers: &'static str,
}

/// Every harness.
pub const HARNESSES: &[Harness] = &[
    Harness {
        name: "metadata",
        run: metadata::metadata,
        covers: "a metadata file of either dialect: envelope, typed views, keys, signatures, \
                 times, hashes, delegations, and writing it back",
    },
    Harness {
        name: "trusted_set",
        run: trusted::trusted_set,
        covers: "a repository as the client reads it: the trusted set's steps from root to \
                 the delegated roles, with the files' own signatures",
    },
    Harness {
        name: "trusted_set_signed",
        run: trusted::trusted_set_signed,
        covers: "the trusted set's steps past the signature checks: each file's `signed` \
                 object comes from the input and is signed with a fixed test key",
    },
    Harness {
        name: "cjson",
        run: metadata::cjson,
        covers: "canonical JSON: encoding any JSON value, and encoding what it wrote again",
    },
    Harness {
        name: "key",
        run: keys::key,
        covers: "key objects as metadata lists them: key IDs and decoding in both dialects",
    },
    Harness {
        name: "key_file",
        run: keys::key_file,
        covers: "key files: PEM armour and headers, PKCS#8 and SEC1 keys, encrypted PKCS#8 \
                 (decrypted only at a small KDF cost)",
    },
    Harness {
        name: "certificate",
        run: keys::certificate,
        covers: "x509 root certificates (PEM or DER) as Notary roots list them",
    },
    Harness {
        name: "archive",
        run: archive::archive,
        covers: "backup archives (tar.gz, or a bare tar gzipped here) and the checks of \
                 `backup verify` before any passphrase",
    },
    Harness {
        name: "key_reference",
        run: references::key_reference,
        covers: "`pkcs11:` URIs and `yubikey:` references: parsing, printing and redaction",
    },
    Harness {
        name: "stage",
        run: config::stage,
        covers: "the trust dir's stage file (staged.json) and applying it to targets",
    },
    Harness {
        name: "config",
        run: config::config,
        covers: "the trust dir's config (config.json: keys, versions, server, delegations, \
                 hashed bins) and the client's state.json",
    },
    Harness {
        name: "server_response",
        run: server::server_response,
        covers: "notary-server responses: key responses and error bodies",
    },
    Harness {
        name: "delegation_paths",
        run: metadata::delegation_paths,
        covers: "delegated role names, path patterns and prefixes, hashed bins",
    },
];

/// The harness named `name`.
pub fn harness(name: &str) -> Option<&'static Harness> {
    HARNESSES.iter().find(|h| h.name == name)
}

/// The tagged files of a bundled input: each NUL-separated part is a tag byte and the file's
/// bytes (empty parts are skipped).
pub fn files(data: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    data.split(|&b| b == 0)
        .filter_map(|part| part.split_first().map(|(tag, rest)| (*tag, rest)))
}

/// Formats an outcome as the program would show it: an error's message is part of what
/// outside data reaches (and must not panic either).
fn shown<T, E: Display>(r: &Result<T, E>) -> usize {
    match r {
        Ok(_) => 0,
        Err(e) => e.to_string().len(),
    }
}

/// [`shown`] for the crate's errors, with the hint the command line prints under them.
fn shown_error<T>(r: &crate::Result<T>) -> usize {
    match r {
        Ok(_) => 0,
        Err(e) => {
            let _ = e.exit_code();
            e.to_string().len() + e.hint().map_or(0, |h| h.len())
        }
    }
}
