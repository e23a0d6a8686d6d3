//! Fault injection for the fault tests: the PKCS#11 fault module (tests/pkcs11-fault, built
//! here on first use), snapshots of everything a command may change (token objects as
//! `pkcs11-tool` lists them, every file under the trust dir and the repository with its mode
//! and hash), and the loop that fails every call a command makes, one at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::{run_ok, Hsm, PIN, SOFTHSM_MODULE};

/// The PKCS#11 functions whose every call is failed in turn.
pub const FUNCTIONS: &[&str] = &[
    "C_GetTokenInfo",
    "C_OpenSession",
    "C_Login",
    "C_FindObjectsInit",
    "C_FindObjects",
    "C_GenerateKeyPair",
    "C_CreateObject",
    "C_SignInit",
    "C_Sign",
    "C_DestroyObject",
    "C_GetAttributeValue",
];

/// What a faulty token answers, taken in turn.
pub const FAULTS: &[&str] = &[
    "CKR_DEVICE_REMOVED",
    "CKR_TOKEN_NOT_PRESENT",
    "CKR_FUNCTION_FAILED",
];

/// The fault module, built once per test process (its own workspace and target dir).
pub fn fault_module() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pkcs11-fault");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run_ok(
            Command::new(cargo)
                .args(["build", "--quiet", "--manifest-path"])
                .arg(dir.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(dir.join("target")),
        );
        dir.join("target/debug/libpkcs11_fault.so")
    })
}

/// Every entry under `dir` (recursively): its mode, its path, and for a file the SHA-256 of its
/// bytes (a symlink: its target). Empty when `dir` does not exist.
pub fn tree(dir: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                todo.push(p.clone());
                "dir".into()
            } else {
                hex(&Sha256::digest(std::fs::read(&p).unwrap()))
            };
            out.insert(rel, format!("{mode:o} {what}"));
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The objects on token `label`, as `pkcs11-tool --list-objects` prints them after login.
pub fn token_objects(hsm: &Hsm, label: &str) -> String {
    run_ok(
        hsm.pkcs11_tool()
            .args(["--token-label", label, "--login", "--pin", PIN])
            .arg("--list-objects"),
    )
}

/// Everything a command may change: the listed tokens' objects and the listed directories.
#[derive(Debug, PartialEq)]
pub struct State {
    tokens: Vec<(String, String)>,
    dirs: Vec<(PathBuf, BTreeMap<String, String>)>,
}

impl State {
    pub fn of(hsm: &Hsm, tokens: &[&str], dirs: &[PathBuf]) -> Self {
        State {
            tokens: tokens
                .iter()
                .map(|t| (t.to_string(), token_objects(hsm, t)))
                .collect(),
            dirs: dirs.iter().map(|d| (d.clone(), tree(d))).collect(),
        }
    }
}

/// Copies `from` to `to` with `cp -a` (modes kept); `to` must not exist.
pub fn copy_all(from: &Path, to: &Path) {
    if from.exists() {
        run_ok(Command::new("cp").arg("-a").arg(from).arg(to));
    }
}

fn replace_with(saved: &Path, dir: &Path) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    copy_all(saved, dir);
}

/// Calls per function of one run of `cmd` through the fault module (no fault injected); the
/// run must succeed.
fn count_calls(hsm: &Hsm, mut cmd: Command) -> BTreeMap<String, u64> {
    let file = hsm
        .path()
        .join(format!("fault-counts-{}", std::process::id()));
    run_ok(
        cmd.env("TRUSTKEY_PKCS11_MODULE", fault_module())
            .env("TRUSTKEY_FAULT_MODULE", SOFTHSM_MODULE)
            .env("TRUSTKEY_FAULT_COUNTS", &file),
    );
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::remove_file(&file).ok();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
        .collect()
}

/// One failed run: the stderr line that says why.
pub struct Failure {
    pub function: &'static str,
    pub at: u64,
    pub rv: &'static str,
    pub line: String,
}

/// What the fault loop found: the failures, the calls skipped harmlessly (a slot whose token
/// info cannot be read is passed over while looking for another token; the command then
/// succeeded), and the number of calls per function.
pub struct Faults {
    pub failures: Vec<Failure>,
    pub tolerated: Vec<String>,
    pub counts: BTreeMap<String, u64>,
}

/// Saved copies of the token directory and `dirs`, to put back after a run that changed them.
struct Saved {
    root: PathBuf,
    dirs: Vec<PathBuf>,
}

impl Saved {
    fn new(hsm: &Hsm, dirs: &[PathBuf]) -> Self {
        let root = hsm.path().join("saved-state");
        let mut all = vec![hsm.path().join("tokens")];
        all.extend(dirs.iter().cloned());
        for (i, d) in all.iter().enumerate() {
            std::fs::create_dir_all(root.join(i.to_string())).unwrap();
            copy_all(d, &root.join(i.to_string()).join("copy"));
        }
        Saved { root, dirs: all }
    }

    fn put_back(&self) {
        for (i, d) in self.dirs.iter().enumerate() {
            replace_with(&self.root.join(i.to_string()).join("copy"), d);
        }
    }
}

/// Lines a command may print on stderr besides its error: the notice to touch a token.
pub fn is_notice(line: &str) -> bool {
    line.starts_with("hint: ") || (line.starts_with("Signing on ") && line.ends_with("..."))
}

/// Fails every call `make()` makes of each of [`FUNCTIONS`], one run per call, and checks each
/// run: non-zero exit (never a panic), one error line (besides its hint and touch notices),
/// and `tokens` and `dirs` exactly as before. Then the same command succeeds with no fault.
/// The caller checks that each failure's line names its cause.
///
/// The calls are counted first by one successful run, after which the token directory and
/// `dirs` are put back as they were (and checked to be). Every problem is collected (the state
/// put back after each) and reported together.
pub fn fail_every_call(
    hsm: &Hsm,
    tokens: &[&str],
    dirs: &[PathBuf],
    make: impl Fn() -> Command,
) -> Faults {
    let before = State::of(hsm, tokens, dirs);
    let saved = Saved::new(hsm, dirs);
    let counts = count_calls(hsm, make());
    saved.put_back();
    assert_eq!(
        State::of(hsm, tokens, dirs),
        before,
        "put back after counting"
    );

    let mut problems = Vec::new();
    let mut failures = Vec::new();
    let mut tolerated = Vec::new();
    let mut i = 0;
    for function in FUNCTIONS {
        for at in 1..=counts.get(*function).copied().unwrap_or(0) {
            let rv = FAULTS[i % FAULTS.len()];
            i += 1;
            let out = make()
                .env("TRUSTKEY_PKCS11_MODULE", fault_module())
                .env("TRUSTKEY_FAULT_MODULE", SOFTHSM_MODULE)
                .env("TRUSTKEY_FAULT_FN", function)
                .env("TRUSTKEY_FAULT_AT", at.to_string())
                .env("TRUSTKEY_FAULT_RV", rv)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            let what = format!("{function} call {at} -> {rv}");
            if out.status.success() {
                saved.put_back();
                if *function == "C_GetTokenInfo" {
                    tolerated.push(what);
                } else {
                    problems.push(format!("{what}: succeeded\n{err}"));
                }
                continue;
            }
            let lines: Vec<&str> = err.lines().filter(|l| !is_notice(l)).collect();
            if out.status.code().is_none_or(|c| c == 101) {
                problems.push(format!(
                    "{what}: panicked or killed ({})\n{err}",
                    out.status
                ));
            } else if lines.len() != 1 || !lines[0].starts_with("trustkey: ") {
                problems.push(format!("{what}: not one line:\n{err}"));
            }
            let after = State::of(hsm, tokens, dirs);
            if after != before {
                problems.push(format!("{what}: changed {}\n{err}", diff(&before, &after)));
                saved.put_back();
            }
            failures.push(Failure {
                function,
                at,
                rv,
                line: lines.first().unwrap_or(&"").to_string(),
            });
        }
    }
    std::fs::remove_dir_all(&saved.root).unwrap();
    eprintln!(
        "{i} faults injected ({} failed the command, {} passed over harmlessly): {counts:?}",
        failures.len(),
        tolerated.len()
    );
    assert!(
        problems.is_empty(),
        "{} of {i} faults went wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
    run_ok(
        make()
            .env("TRUSTKEY_PKCS11_MODULE", fault_module())
            .env("TRUSTKEY_FAULT_MODULE", SOFTHSM_MODULE),
    );
    Faults {
        failures,
        tolerated,
        counts,
    }
}

/// What differs between two states, briefly.
fn diff(a: &State, b: &State) -> String {
    let mut out = Vec::new();
    for ((t, x), (_, y)) in a.tokens.iter().zip(&b.tokens) {
        if x != y {
            out.push(format!("token {t}: {x:?} -> {y:?}"));
        }
    }
    for ((d, x), (_, y)) in a.dirs.iter().zip(&b.dirs) {
        for k in x.keys().chain(y.keys()) {
            if x.get(k) != y.get(k) {
                out.push(format!(
                    "{}/{k}: {:?} -> {:?}",
                    d.display(),
                    x.get(k),
                    y.get(k)
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out.join("; ")
}
