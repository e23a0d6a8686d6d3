//! Passphrases and PINs: where they come from (prompt, env, file), and keeping them zeroized.
//!
//! Token and key code never calls rpassword itself: it asks a `Prompter`, so tests and CI can
//! answer without a terminal and nothing blocks silently.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use secrecy::{ExposeSecret, SecretString};

use crate::{Error, Result};

/// Minimum passphrase length, as notary enforces.
pub const MIN_PASSPHRASE_LEN: usize = 8;

/// Asks the user for secrets and tells them what is happening. The library never prints: every
/// message to the user goes through here, and the front end decides where it shows.
///
/// The rule for the three kinds of message (the command line's terminal prompter follows it,
/// always on stderr so that stdout stays the command's result, e.g. `--json`):
/// - [`notice`](Prompter::notice): progress and information ("PIN changed"). Hidden by
///   `--quiet`, and under `--json`.
/// - [`touch`](Prompter::touch): the device is about to wait for the user (a touch, a PIN pad).
///   Always shown: without it the wait looks like a hang.
/// - [`warn`](Prompter::warn): what the user must know whatever the flags (a security advisory
///   for a device, key material that could not be removed, a credential shown only once).
///   Always shown.
pub trait Prompter {
    /// Reads a secret without echo. Fails (never blocks) when there is no terminal.
    fn secret(&mut self, prompt: &str) -> Result<SecretString>;
    /// Progress and information.
    fn notice(&mut self, msg: &str);
    /// The device waits for the user now (touch, PIN pad).
    fn touch(&mut self, msg: &str) {
        self.notice(msg)
    }
    /// Something the user must know even when notices are off.
    fn warn(&mut self, msg: &str) {
        self.notice(msg)
    }
}

/// A [`Prompter`] shared by a session and what it opens: signers announce touches through it, and
/// a key placement rolled back on drop reports what it did. Single-threaded, like the PKCS#11
/// sessions and PC/SC connections it goes with.
#[derive(Clone)]
pub struct SharedPrompter {
    inner: Rc<RefCell<Box<dyn Prompter>>>,
    /// Messages sent while the prompter was in use further up the stack.
    deferred: Rc<RefCell<Vec<(Kind, String)>>>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Notice,
    Touch,
    Warn,
}

impl SharedPrompter {
    pub fn new(prompter: Box<dyn Prompter>) -> Self {
        SharedPrompter {
            inner: Rc::new(RefCell::new(prompter)),
            deferred: Rc::default(),
        }
    }

    /// Runs `f` with the prompter. Used again from inside `f` (which nothing does on purpose),
    /// it cannot be lent twice: messages then wait until the outer use ends, and a secret is
    /// refused rather than the program aborted.
    pub fn with<T>(&self, f: impl FnOnce(&mut dyn Prompter) -> T) -> T {
        let Ok(mut p) = self.inner.try_borrow_mut() else {
            return f(&mut Deferred(&self.deferred));
        };
        let out = f(p.as_mut());
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for (kind, msg) in deferred {
            match kind {
                Kind::Notice => p.notice(&msg),
                Kind::Touch => p.touch(&msg),
                Kind::Warn => p.warn(&msg),
            }
        }
        out
    }

    pub fn notice(&self, msg: &str) {
        self.with(|p| p.notice(msg))
    }

    pub fn touch(&self, msg: &str) {
        self.with(|p| p.touch(msg))
    }

    pub fn warn(&self, msg: &str) {
        self.with(|p| p.warn(msg))
    }
}

impl std::fmt::Debug for SharedPrompter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedPrompter").finish_non_exhaustive()
    }
}

/// What a nested use of a [`SharedPrompter`] gets: messages are kept for later.
struct Deferred<'a>(&'a RefCell<Vec<(Kind, String)>>);

impl Prompter for Deferred<'_> {
    fn secret(&mut self, prompt: &str) -> Result<SecretString> {
        Err(Error::PinUnavailable(format!(
            "{} is needed while another prompt is open",
            prompt.trim_end_matches([':', ' '])
        )))
    }
    fn notice(&mut self, msg: &str) {
        self.0.borrow_mut().push((Kind::Notice, msg.to_string()));
    }
    fn touch(&mut self, msg: &str) {
        self.0.borrow_mut().push((Kind::Touch, msg.to_string()));
    }
    fn warn(&mut self, msg: &str) {
        self.0.borrow_mut().push((Kind::Warn, msg.to_string()));
    }
}

/// Where a PIN comes from, as named by a key reference's `pin-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    Env(String),
    File(PathBuf),
}

impl PinSource {
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(name) = s.strip_prefix("env:") {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("pin-source env:{name} is not a variable name"));
            }
            Ok(PinSource::Env(name.to_string()))
        } else if let Some(path) = s.strip_prefix("file://") {
            Self::file(path)
        } else if let Some(path) = s.strip_prefix("file:") {
            Self::file(path)
        } else {
            // The value is not echoed: it may be a PIN typed in the wrong place.
            Err("pin-source must be env:NAME or file:PATH (never the PIN itself)".into())
        }
    }

    fn file(path: &str) -> Result<Self, String> {
        if path.is_empty() {
            return Err("pin-source file: needs a path".into());
        }
        Ok(PinSource::File(PathBuf::from(path)))
    }

    pub fn read(&self) -> Result<SecretString> {
        match self {
            PinSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                _ => Err(Error::SecretUnavailable {
                    reason: format!("pin-source names ${name}, which is not set"),
                    set: vec![name.clone()],
                    terminal: false,
                }),
            },
            PinSource::File(path) => {
                let mut s = std::fs::read_to_string(path)
                    .map_err(|e| Error::io(format!("reading PIN file {}", path.display()), e))?;
                // A trailing newline is how editors and `echo` leave it; it is not part of the PIN.
                while s.ends_with('\n') || s.ends_with('\r') {
                    s.pop();
                }
                Ok(SecretString::from(s))
            }
        }
    }
}

impl std::fmt::Display for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PinSource::Env(n) => write!(f, "env:{n}"),
            // `file://` is read as a prefix too, so a path that itself starts with `//` keeps
            // it spelled out, or it would read back as another path (found by fuzzing). Text,
            // not `Path::starts_with`: as paths, `/x` starts with `//` too.
            PinSource::File(p) if p.as_os_str().as_encoded_bytes().starts_with(b"//") => {
                write!(f, "file://{}", p.display())
            }
            PinSource::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// The PIN for a token: the reference's pin-source, else `TRUSTKEY_PIN`, else a prompt.
pub fn token_pin(
    source: Option<&PinSource>,
    token: &str,
    prompter: &mut dyn Prompter,
) -> Result<SecretString> {
    if let Some(src) = source {
        return src.read();
    }
    if let Ok(v) = std::env::var("TRUSTKEY_PIN") {
        if !v.is_empty() {
            return Ok(SecretString::from(v));
        }
    }
    prompter
        .secret(&format!("User PIN for {token}: "))
        .map_err(|e| {
            missing(
                e,
                &["TRUSTKEY_PIN (or pin-source=env:NAME in the key's URI)"],
            )
        })
}

/// A prompt that could not be shown (no terminal) as the secret that was missing, naming the
/// variables that give it.
fn missing<S: AsRef<str>>(e: Error, vars: &[S]) -> Error {
    match e {
        Error::PinUnavailable(reason) => Error::SecretUnavailable {
            reason,
            set: vars.iter().map(|v| v.as_ref().to_string()).collect(),
            terminal: true,
        },
        other => other,
    }
}

/// The roles whose keys are protected by a passphrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    Root,
    Targets,
    Snapshot,
    Timestamp,
    Delegation,
}

impl KeyRole {
    /// The passphrase a key of `role` takes, by the role's name as metadata, a key file's
    /// `role:` header or a flag spells it. The four top-level roles have their own; every
    /// delegated role shares the delegation passphrase, however it is named: `targets/<name>`
    /// (notary), any other role name (TUF 1.0 delegations such as `releases`, hashed bins such
    /// as `bins-000-003`), or `delegation` (the header trustkey writes on TUF-dialect delegation
    /// keys). `None` when `role` names no role: empty, a `targets/` without a name, an empty or
    /// dot-led `/` component, or characters other than ASCII letters, digits, `-`, `_` and `.`.
    pub fn for_role(role: &str) -> Option<KeyRole> {
        Some(match role {
            "root" => KeyRole::Root,
            "targets" => KeyRole::Targets,
            "snapshot" => KeyRole::Snapshot,
            "timestamp" => KeyRole::Timestamp,
            "delegation" => KeyRole::Delegation,
            r if is_role_name(r) => KeyRole::Delegation,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyRole::Root => "root",
            KeyRole::Targets => "targets",
            KeyRole::Snapshot => "snapshot",
            KeyRole::Timestamp => "timestamp",
            KeyRole::Delegation => "delegation",
        }
    }

    /// Environment variables consulted, in order: ours, then the names notary and docker
    /// users already set.
    pub fn env_vars(self) -> Vec<String> {
        let up = self.name().to_uppercase();
        let mut v = vec![
            format!("TRUSTKEY_{up}_PASSPHRASE"),
            format!("NOTARY_{up}_PASSPHRASE"),
        ];
        match self {
            KeyRole::Root => v.push("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE".into()),
            KeyRole::Targets | KeyRole::Snapshot | KeyRole::Delegation => {
                v.push("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE".into())
            }
            KeyRole::Timestamp => {}
        }
        v
    }
}

/// Whether `name` is spelled like a role: `/`-separated components, each non-empty, not led by
/// a dot, of ASCII letters, digits, `-`, `_` and `.` (notary's `[-a-z0-9_/]` and the names TUF
/// delegations take in practice), under 256 characters in all as notary requires.
fn is_role_name(name: &str) -> bool {
    name.len() < 256
        && name.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

fn passphrase_from_env(role: KeyRole) -> Option<SecretString> {
    role.env_vars().into_iter().find_map(|name| {
        std::env::var(&name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    })
}

/// A passphrase to unlock an existing key of `role`.
pub fn unlock_passphrase(
    role: KeyRole,
    what: &str,
    prompter: &mut dyn Prompter,
) -> Result<SecretString> {
    if let Some(p) = passphrase_from_env(role) {
        return Ok(p);
    }
    prompter
        .secret(&format!("Passphrase for {what}: "))
        .map_err(|e| missing(e, &role.env_vars()))
}

/// A passphrase for a new key of `role`: asked twice, and checked for minimum strength.
pub fn new_passphrase(
    role: KeyRole,
    what: &str,
    prompter: &mut dyn Prompter,
) -> Result<SecretString> {
    let p = match passphrase_from_env(role) {
        Some(p) => p,
        None => {
            let vars = role.env_vars();
            let a = prompter
                .secret(&format!("Enter a passphrase for {what}: "))
                .map_err(|e| missing(e, &vars))?;
            let b = prompter
                .secret(&format!("Repeat the passphrase for {what}: "))
                .map_err(|e| missing(e, &vars))?;
            if a.expose_secret() != b.expose_secret() {
                return Err(Error::Passphrase("the two passphrases differ".into()));
            }
            a
        }
    };
    check_strength(p.expose_secret(), what)?;
    Ok(p)
}

/// The new passphrase of a key whose passphrase changes (`key passwd`): from
/// `TRUSTKEY_NEW_PASSPHRASE`, else asked twice; checked for minimum strength.
pub fn replacement_passphrase(what: &str, prompter: &mut dyn Prompter) -> Result<SecretString> {
    if let Ok(v) = std::env::var("TRUSTKEY_NEW_PASSPHRASE") {
        if !v.is_empty() {
            check_strength(&v, what)?;
            return Ok(SecretString::from(v));
        }
    }
    let vars = ["TRUSTKEY_NEW_PASSPHRASE"];
    let a = prompter
        .secret(&format!("New passphrase for {what}: "))
        .map_err(|e| missing(e, &vars))?;
    let b = prompter
        .secret(&format!("Repeat the new passphrase for {what}: "))
        .map_err(|e| missing(e, &vars))?;
    if a.expose_secret() != b.expose_secret() {
        return Err(Error::Passphrase("the two passphrases differ".into()));
    }
    check_strength(a.expose_secret(), what)?;
    Ok(a)
}

/// The least zxcvbn score (0 to 4) a new passphrase must reach: 4, more than 10^10 guesses.
/// A key file or escrow is attacked offline: whoever copies it guesses at leisure, slowed only
/// by PBKDF2 (1,300,000 rounds of HMAC-SHA1 in trustkey's files: a few thousand guesses a
/// second on one GPU). Score 3 (10^8 guesses) would fall in hours on one GPU, 4 needs
/// GPU-months; zxcvbn's own guidance gives 4 for "strong protection from offline slow-hash"
/// attacks. Three common words with a separator (`targets-pass-1`) already reach 4.
pub const MIN_PASSPHRASE_SCORE: u8 = 4;

/// Minimum strength of a passphrase trustkey creates a key file or escrow with: as long as
/// notary requires, and a zxcvbn strength estimate of at least [`MIN_PASSPHRASE_SCORE`]
/// (dictionary words, keyboard walks, repeats and sequences such as `password`, `12345678`
/// and `abababab` score 0). Not applied when unlocking an existing file.
pub fn check_strength(p: &str, what: &str) -> Result<()> {
    if p.chars().count() < MIN_PASSPHRASE_LEN {
        return Err(weak(format!(
            "the passphrase for {what} is too short: use at least {MIN_PASSPHRASE_LEN} characters"
        )));
    }
    let estimate = zxcvbn::zxcvbn(p, &["trustkey", "notary", "docker"]);
    let score = u8::from(estimate.score());
    if score < MIN_PASSPHRASE_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({})", w.to_string().trim_end_matches('.').to_lowercase()))
            .unwrap_or_default();
        return Err(weak(format!(
            "the passphrase for {what} is too weak: strength {score} of 4{why}"
        )));
    }
    Ok(())
}

fn weak(reason: String) -> Error {
    Error::WeakPassphrase {
        reason,
        min_len: MIN_PASSPHRASE_LEN,
        min_score: MIN_PASSPHRASE_SCORE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (key_reference, 13 crashes): `file:////O` is the path `//O`, which
    /// printed as `file://O` and read back as the path `O`.
    #[test]
    fn a_pin_file_path_starting_with_two_slashes_prints_as_it_parses() {
        for s in [
            "file:////O",
            "file://///x",
            "file://a",
            "file:/a",
            "file:a",
            "file:////",
        ] {
            let p = PinSource::parse(s).unwrap();
            assert_eq!(
                PinSource::parse(&p.to_string()).unwrap(),
                p,
                "{s} printed as {p}"
            );
        }
        let p = PinSource::parse("file:////O").unwrap();
        assert_eq!(p, PinSource::File("//O".into()));
        assert_eq!(p.to_string(), "file:////O");
        // An absolute path prints as it always did (`Path::starts_with("//")` holds for it).
        assert_eq!(PinSource::parse("file:/a").unwrap().to_string(), "file:/a");
    }

    #[test]
    fn key_role_for_role() {
        use KeyRole::*;
        let table: &[(&str, Option<KeyRole>)] = &[
            // Top-level roles.
            ("root", Some(Root)),
            ("targets", Some(Targets)),
            ("snapshot", Some(Snapshot)),
            ("timestamp", Some(Timestamp)),
            // Delegations: the TUF-dialect key header, notary names, TUF names, hashed bins.
            ("delegation", Some(Delegation)),
            ("targets/releases", Some(Delegation)),
            ("targets/releases/nightly", Some(Delegation)),
            ("targets/ci_2", Some(Delegation)),
            ("releases", Some(Delegation)),
            ("role1.v2", Some(Delegation)),
            ("bins", Some(Delegation)),
            ("bins-000-003", Some(Delegation)),
            ("bins-a", Some(Delegation)),
            // Not role names.
            ("", None),
            ("targets/", None),
            ("/targets", None),
            ("targets//x", None),
            ("targets/../root", None),
            (".hidden", None),
            ("two words", None),
            ("root\n", None),
            ("r\u{f6}le", None),
        ];
        for &(name, want) in table {
            assert_eq!(KeyRole::for_role(name), want, "{name:?}");
        }
        assert_eq!(KeyRole::for_role(&"a".repeat(255)), Some(Delegation));
        assert_eq!(KeyRole::for_role(&"a".repeat(256)), None);
        // Each passphrase's own name maps back to it.
        for r in [Root, Targets, Snapshot, Timestamp, Delegation] {
            assert_eq!(KeyRole::for_role(r.name()), Some(r));
        }
    }

    #[test]
    fn pin_source_parses() {
        assert_eq!(
            PinSource::parse("env:MY_PIN").unwrap(),
            PinSource::Env("MY_PIN".into())
        );
        assert_eq!(
            PinSource::parse("file:/tmp/pin").unwrap(),
            PinSource::File("/tmp/pin".into())
        );
        assert_eq!(
            PinSource::parse("file:///tmp/pin").unwrap(),
            PinSource::File("/tmp/pin".into())
        );
        assert!(PinSource::parse("env:").is_err());
        assert!(PinSource::parse("env:A-B").is_err());
        assert!(PinSource::parse("1234").is_err());
        assert!(PinSource::parse("file:").is_err());
    }

    /// Records what it is told; answers secrets from a list.
    #[derive(Default)]
    struct Script {
        log: Rc<RefCell<Vec<String>>>,
    }

    impl Prompter for Script {
        fn secret(&mut self, prompt: &str) -> Result<SecretString> {
            self.log.borrow_mut().push(format!("secret {prompt}"));
            Ok(SecretString::from("s3cret-pin"))
        }
        fn notice(&mut self, msg: &str) {
            self.log.borrow_mut().push(format!("notice {msg}"));
        }
        fn touch(&mut self, msg: &str) {
            self.log.borrow_mut().push(format!("touch {msg}"));
        }
    }

    #[test]
    fn a_shared_prompter_used_twice_defers_instead_of_panicking() {
        let log = Rc::default();
        let shared = SharedPrompter::new(Box::new(Script {
            log: Rc::clone(&log),
        }));
        let other = shared.clone();
        shared.with(|p| {
            p.notice("outer");
            // A nested use: its messages wait, its secrets are refused.
            other.touch("inner touch");
            other.warn("inner warning");
            assert!(matches!(
                other.with(|q| q.secret("PIN: ")),
                Err(Error::PinUnavailable(_))
            ));
            p.notice("outer again");
        });
        shared.notice("after");
        assert_eq!(
            *log.borrow(),
            [
                "notice outer",
                "notice outer again",
                "touch inner touch",
                // `warn` falls back to `notice` for a prompter without one.
                "notice inner warning",
                "notice after",
            ]
        );
        assert!(shared.with(|p| p.secret("PIN: ")).is_ok());
    }

    #[test]
    fn strength() {
        for weak in [
            "short",
            "aaaaaaaaaa",
            "password",
            "12345678",
            "abababab",
            "Password1!",
            "correct horse",
        ] {
            let e = check_strength(weak, "k").unwrap_err();
            assert!(matches!(e, Error::WeakPassphrase { .. }), "{weak}: {e}");
            assert_eq!(e.exit_code(), crate::error::exit::AUTH);
        }
        for strong in [
            "correct horse battery staple",
            "copper-lantern-77",
            "targets-pass-1",
        ] {
            check_strength(strong, "k").unwrap();
        }
    }
}
