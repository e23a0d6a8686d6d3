//! Every harness on a short, deterministic budget: its seeds (`fuzz/seeds/<name>/`), then
//! mutations of them. A panic fails the test with the input in hex (and saved to a file, to
//! replay with `scripts/fuzz.sh NAME --replay FILE`); so does an input that takes too long.
//! `TRUSTKEY_FUZZ_ITERATIONS` scales the budget (a number of mutations per harness).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::mutate::Mutator;
use super::{harness, Harness, HARNESSES};

/// Longest one input may take in a test build before it counts as a hang.
const SLOW: Duration = Duration::from_secs(10);

fn seed_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(name)
}

/// The seeds of `name`, in file-name order (the mutation loop depends on the order).
fn seeds(name: &str) -> Vec<Vec<u8>> {
    let dir = seed_dir(name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn run_one(h: &Harness, input: &[u8]) {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| (h.run)(input)));
    let took = start.elapsed();
    let failure = match outcome {
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            format!("panicked: {msg}")
        }
        Ok(()) if took > SLOW => format!("took {took:?} (a hang?)"),
        Ok(()) => return,
    };
    let saved =
        std::env::temp_dir().join(format!("trustkey-fuzz-{}-{:016x}.bin", h.name, fnv(input)));
    let _ = std::fs::write(&saved, input);
    panic!(
        "harness {} {failure}\ninput ({} bytes, saved to {}):\n{}",
        h.name,
        input.len(),
        saved.display(),
        hex::encode(input)
    );
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The seeds, then `mutations` mutated inputs (scaled by `TRUSTKEY_FUZZ_ITERATIONS`, which is
/// the count for a harness whose default is 1000).
fn fuzz(name: &str, mutations: usize) {
    let h = harness(name).unwrap_or_else(|| panic!("no harness {name}"));
    let seeds = seeds(name);
    assert!(
        !seeds.is_empty(),
        "no seeds in {}",
        seed_dir(name).display()
    );
    for s in &seeds {
        run_one(h, s);
    }
    let mutations = match std::env::var("TRUSTKEY_FUZZ_ITERATIONS") {
        Ok(v) => v.parse::<usize>().expect("a number") * mutations / 1000,
        Err(_) => mutations,
    };
    let mut m = Mutator::new(fnv(name.as_bytes()), &seeds);
    for i in 0..mutations {
        let input = m.mutate(&seeds[i % seeds.len()]);
        run_one(h, &input);
    }
}

/// One test per harness, so that they run in parallel; the counts keep the whole set under
/// two minutes on two cores in a debug build.
const BUDGET: &[(&str, usize)] = &[
    ("metadata", 3000),
    ("trusted_set", 1500),
    ("trusted_set_signed", 400),
    ("cjson", 6000),
    ("key", 3000),
    ("key_file", 3000),
    ("certificate", 3000),
    ("archive", 3000),
    ("key_reference", 6000),
    ("stage", 4000),
    ("config", 3000),
    ("server_response", 6000),
    ("delegation_paths", 6000),
];

fn budget(name: &str) -> usize {
    BUDGET
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_else(|| panic!("no budget for {name}"))
}

macro_rules! harness_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name), budget(stringify!($name)));
            }
        )*
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

harness_tests!(
    metadata,
    trusted_set,
    trusted_set_signed,
    cjson,
    key,
    key_file,
    certificate,
    archive,
    key_reference,
    stage,
    config,
    server_response,
    delegation_paths,
);

#[test]
fn every_harness_is_tested_and_seeded() {
    for h in HARNESSES {
        assert!(TESTED.contains(&h.name), "no test runs harness {}", h.name);
        assert!(!seeds(h.name).is_empty(), "harness {} has no seeds", h.name);
    }
    assert_eq!(TESTED.len(), HARNESSES.len());
    assert_eq!(BUDGET.len(), HARNESSES.len());
}

/// The loop catches what it must: a panic fails the test, naming the input.
#[test]
fn a_panicking_harness_fails_with_its_input() {
    fn bad(data: &[u8]) {
        assert!(!data.starts_with(b"boom"), "found it");
    }
    let h = Harness {
        name: "selftest",
        run: bad,
        covers: "",
    };
    run_one(&h, b"fine");
    let e = catch_unwind(|| run_one(&h, b"boom!")).unwrap_err();
    let msg = e.downcast_ref::<String>().unwrap();
    assert!(msg.contains("panicked: found it"), "{msg}");
    assert!(msg.contains(&hex::encode(b"boom!")), "{msg}");
}

/// The repository seeds verify whole (first root to the last delegated role): mutations of
/// them reach every step, not only the first checks.
#[test]
fn repository_seeds_verify() {
    for (name, update) in [
        (
            "trusted_set",
            super::trusted::update_as_is as fn(&[u8]) -> crate::Result<()>,
        ),
        ("trusted_set_signed", super::trusted::update_signed),
    ] {
        for (i, s) in seeds(name).iter().enumerate() {
            if let Err(e) = update(s) {
                panic!("{name} seed {i}: {e}");
            }
        }
    }
}

/// The other seeds are accepted as the formats they are, so the harnesses start deep.
#[test]
fn seeds_are_accepted() {
    use std::path::Path;
    for s in seeds("archive") {
        let gz = if s.starts_with(&[0x1f, 0x8b]) {
            s
        } else {
            continue;
        };
        crate::backup::read_archive_from(&gz[..], "seed").unwrap();
    }
    for s in seeds("metadata") {
        crate::tuf::signed::SignedMeta::parse(crate::tuf::model::RoleName::Root, s).unwrap();
    }
    for s in seeds("certificate") {
        crate::tuf::cert::parse_certificate(&s).unwrap();
    }
    for s in seeds("stage") {
        crate::repo::stage::Stage::from_bytes(&s, Path::new("staged.json")).unwrap();
    }
    for s in seeds("key") {
        let key: crate::tuf::model::Key = serde_json::from_slice(&s).unwrap();
        let decoded = super::metadata::DIALECTS
            .iter()
            .filter(|d| d.decode_key(&key).is_ok())
            .count();
        assert_eq!(decoded, 1, "{key:?}");
    }
    // The encrypted seeds at a small KDF cost decrypt with the seeds' passphrase.
    let pass = secrecy::SecretString::from(super::keys::SEED_PASSPHRASE.to_string());
    let small: Vec<_> = seeds("key_file")
        .into_iter()
        .filter(|s| s.windows(9).any(|w| w == b"ENCRYPTED"))
        .filter_map(|s| {
            let text = String::from_utf8(s).unwrap();
            crate::keys::file::decrypt_pem(&text, &pass, "seed").ok()
        })
        .collect();
    assert_eq!(small.len(), 2, "the openssl pbkdf2 and scrypt seeds");
}
