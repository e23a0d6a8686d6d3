//! Key files against the real tools: `openssl` and the notary 0.7 client.
//!
//! Tests that run `openssl` or `notary` fail (they do not skip) when the tool is missing: CI
//! installs both (Debian packages `openssl` and `notary`).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use p256::SecretKey;
use rand_core::OsRng;
use secrecy::SecretString;

use trustkey::fsio::Overwrite;
use trustkey::keys::canonical_key_id;
use trustkey::keys::file::{decrypt_pem, encrypt_pem, parse_plain_pem, read_meta, KeyMeta};
use trustkey::keys::store::{key_path, load_signer, write_key};
use trustkey::keys::Signer as _;
use trustkey::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/notary-keys");
const NOTARY_FIXTURE_PASS: &str = "notary-fixture-passphrase";
/// The passphrase variable handed to openssl (`-passin env:...`), set per command only.
const PASS_VAR: &str = "TRUSTKEY_TEST_KEY_PASSPHRASE";

fn pass(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// Runs a command; panics with its stderr when it cannot start or fails.
fn run(cmd: &mut Command) -> Output {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command and returns its output whatever the exit status; a missing tool is a failure.
fn output(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "{:?} is not installed: this test needs it (Debian packages `openssl`, `notary`)",
            cmd.get_program()
        ),
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    }
}

fn openssl() -> Command {
    Command::new("openssl")
}

/// A notary command over `trust_dir`, offline, with every role's passphrase set to `passphrase`.
fn notary(trust_dir: &Path, passphrase: &str) -> Command {
    let mut c = Command::new("notary");
    // Keep notary away from smart cards (ykcs11 + pcscd would let it write to a card).
    c.env(
        "PCSCLITE_CSOCK_NAME",
        "/nonexistent/trustkey-tests-no-pcscd",
    );
    c.arg("-d")
        .arg(trust_dir)
        .stdin(std::process::Stdio::null());
    for role in ["ROOT", "TARGETS", "SNAPSHOT", "DELEGATION"] {
        c.env(format!("NOTARY_{role}_PASSPHRASE"), passphrase);
    }
    c
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

fn public_pem(key: &p256::PublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF).unwrap()
}

/// The public key openssl sees in an unencrypted private key file.
fn openssl_public_pem(private_pem: &Path) -> String {
    stdout(&run(openssl()
        .args(["ec", "-pubout", "-in"])
        .arg(private_pem)))
}

/// `notary key list` as (key ID -> (role, GUN)).
fn notary_key_list(text: &str) -> BTreeMap<String, (String, String)> {
    let mut keys = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (role, gun, id) = match f.as_slice() {
            [role, gun, id, _location] => (*role, *gun, *id),
            // The GUN column is blank for root and delegation keys.
            [role, id, _location] => (*role, "", *id),
            _ => continue,
        };
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            keys.insert(id.to_string(), (role.to_string(), gun.to_string()));
        }
    }
    keys
}

fn fixture_keys() -> Vec<PathBuf> {
    let mut keys: Vec<PathBuf> = fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 4, "fixtures missing in {FIXTURES}");
    keys
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// openssl

#[test]
fn openssl_decrypts_a_headerless_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::random(&mut OsRng);
    let pem = encrypt_pem(&key, &pass("escrow passphrase 1"), None).unwrap();
    let enc = dir.path().join("escrow.pem");
    fs::write(&enc, pem.as_bytes()).unwrap();

    let plain = dir.path().join("plain.pem");
    run(openssl()
        .args(["pkcs8", "-in"])
        .arg(&enc)
        .args(["-passin", &format!("env:{PASS_VAR}"), "-out"])
        .arg(&plain)
        .env(PASS_VAR, "escrow passphrase 1"));
    assert_eq!(openssl_public_pem(&plain), public_pem(&key.public_key()));

    // openssl names the parameters we chose.
    let text = stdout(&run(openssl().args(["asn1parse", "-in"]).arg(&enc)));
    assert!(
        text.contains(":PBES2") && text.contains(":PBKDF2"),
        "{text}"
    );
    assert!(text.contains(":aes-256-cbc"), "{text}");
    assert!(
        text.contains("INTEGER           :13D620"),
        "1,300,000 iterations: {text}"
    );
    assert!(!text.contains("hmacWithSHA256"), "{text}");

    let wrong = output(
        openssl()
            .args(["pkcs8", "-in"])
            .arg(&enc)
            .args(["-passin", &format!("env:{PASS_VAR}")])
            .env(PASS_VAR, "not the passphrase"),
    );
    assert!(!wrong.status.success());
}

#[test]
fn openssl_decrypts_a_file_with_headers_once_they_are_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::random(&mut OsRng);
    let meta = KeyMeta::new("targets", "example.com/app");
    let pem = encrypt_pem(&key, &pass("targets passphrase"), Some(&meta)).unwrap();
    let stripped: String = pem
        .lines()
        .filter(|l| !l.contains(": ") && !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(stripped.lines().count(), pem.lines().count() - 3);
    let enc = dir.path().join("stripped.pem");
    fs::write(&enc, stripped).unwrap();
    let plain = dir.path().join("plain.pem");
    run(openssl()
        .args(["pkcs8", "-in"])
        .arg(&enc)
        .args(["-passin", &format!("env:{PASS_VAR}"), "-out"])
        .arg(&plain)
        .env(PASS_VAR, "targets passphrase"));
    assert_eq!(openssl_public_pem(&plain), public_pem(&key.public_key()));
}

#[test]
fn reads_keys_openssl_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pem");
    run(openssl()
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&plain));
    let expected = openssl_public_pem(&plain);

    // `openssl pkcs8 -topk8 -v2 aes-256-cbc`, with each PRF notary or openssl users pick, and
    // scrypt, which pkcs5 also reads.
    let variants: [&[&str]; 4] = [
        &["-v2prf", "hmacWithSHA1"],
        &["-v2prf", "hmacWithSHA256"],
        &["-v2prf", "hmacWithSHA1", "-iter", "2048"],
        &["-scrypt"],
    ];
    for (i, extra) in variants.iter().enumerate() {
        let enc = dir.path().join(format!("enc{i}.pem"));
        run(openssl()
            .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc"])
            .args(*extra)
            .arg("-in")
            .arg(&plain)
            .args(["-passout", &format!("env:{PASS_VAR}"), "-out"])
            .arg(&enc)
            .env(PASS_VAR, "openssl passphrase"));
        let text = fs::read_to_string(&enc).unwrap();
        let (key, meta) = decrypt_pem(&text, &pass("openssl passphrase"), "openssl key")
            .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        assert_eq!(public_pem(&key.public_key()), expected, "{extra:?}");
        assert_eq!(meta, None);
        assert!(
            matches!(
                decrypt_pem(&text, &pass("wrong passphrase"), "openssl key"),
                Err(Error::WrongPassphrase { .. })
            ),
            "{extra:?}"
        );
    }

    // Unencrypted forms for `key import`: PKCS#8, and SEC1 with openssl's EC PARAMETERS block.
    let (key, _) = parse_plain_pem(&fs::read_to_string(&plain).unwrap(), "plain").unwrap();
    assert_eq!(public_pem(&key.public_key()), expected);
    let sec1 = stdout(&run(openssl().args([
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
    ])));
    assert!(sec1.contains("BEGIN EC PARAMETERS") && sec1.contains("BEGIN EC PRIVATE KEY"));
    let sec1_path = dir.path().join("sec1.pem");
    fs::write(&sec1_path, &sec1).unwrap();
    let (key, _) = parse_plain_pem(&sec1, "sec1").unwrap();
    assert_eq!(
        public_pem(&key.public_key()),
        openssl_public_pem(&sec1_path)
    );
}

// ---------------------------------------------------------------------------------------------
// notary

#[test]
fn reads_keys_notary_wrote() {
    let listed = notary_key_list(
        &fs::read_to_string(Path::new(FIXTURES).join("notary-key-list.txt")).unwrap(),
    );
    assert_eq!(listed.len(), 4);
    for path in fixture_keys() {
        let text = fs::read_to_string(&path).unwrap();
        let id = stem(&path);
        let (role, gun) = &listed[&id];
        let (key, meta) = decrypt_pem(&text, &pass(NOTARY_FIXTURE_PASS), &id).unwrap();
        // The key notary lists under this ID is the one we decrypted.
        assert_eq!(canonical_key_id(&key.public_key()), id);
        assert_eq!(meta, Some(KeyMeta::new(role.clone(), gun.clone())));
        assert_eq!(read_meta(&text), meta);

        let (signer, _) = load_signer(&path, &pass(NOTARY_FIXTURE_PASS), &id).unwrap();
        assert_eq!(signer.public_key(), &key.public_key());
        assert!(matches!(
            decrypt_pem(&text, &pass("not-the-fixture-passphrase"), &id),
            Err(Error::WrongPassphrase { .. })
        ));
    }
    // The two imported keys: their public keys as openssl printed them.
    for (id, pub_file) in [
        (
            "17b38070ecc260ec544f83cbf89d35147d55d8097efc1495ecc6d810878ca474",
            "targets-example.com-app.pub.pem",
        ),
        (
            "dd8f0b27b229465c36926bf33ef59dfdb6c03bd61274d3f1ae872432f16d41c8",
            "snapshot-example.com-app.pub.pem",
        ),
    ] {
        let text = fs::read_to_string(Path::new(FIXTURES).join(format!("{id}.key"))).unwrap();
        let (key, _) = decrypt_pem(&text, &pass(NOTARY_FIXTURE_PASS), id).unwrap();
        let expected = fs::read_to_string(Path::new(FIXTURES).join(pub_file)).unwrap();
        assert_eq!(public_pem(&key.public_key()), expected);
    }
}

#[test]
fn notary_lists_the_fixtures_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    for path in fixture_keys() {
        let to = private.join(path.file_name().unwrap());
        fs::copy(&path, &to).unwrap();
        fs::set_permissions(&to, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let live = notary_key_list(&stdout(&run(
        notary(dir.path(), "unused").args(["key", "list"])
    )));
    let recorded = notary_key_list(
        &fs::read_to_string(Path::new(FIXTURES).join("notary-key-list.txt")).unwrap(),
    );
    assert_eq!(live, recorded);
}

#[test]
fn notary_lists_and_decrypts_keys_trustkey_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust");
    let passphrase = "trustkey-written passphrase";
    let metas = [
        KeyMeta::new("root", ""),
        KeyMeta::new("targets", "example.com/app"),
        KeyMeta::new("snapshot", "example.com/app"),
        KeyMeta::new("targets/releases", "example.com/app"),
    ];
    let mut expected = BTreeMap::new();
    let mut keys = BTreeMap::new();
    for meta in &metas {
        let key = SecretKey::random(&mut OsRng);
        let id = canonical_key_id(&key.public_key());
        let pem = encrypt_pem(&key, &pass(passphrase), Some(meta)).unwrap();
        let path = write_key(&trust, &id, &pem, Overwrite::Refuse).unwrap();
        assert_eq!(path, key_path(&trust, &id));
        expected.insert(id.clone(), (meta.role.clone(), meta.gun.clone()));
        keys.insert(id, key);
    }
    // The delegation key's GUN was dropped, as notary does.
    assert!(expected
        .values()
        .any(|(r, g)| r == "targets/releases" && g.is_empty()));

    let listed = notary_key_list(&stdout(&run(
        notary(&trust, passphrase).args(["key", "list"])
    )));
    assert_eq!(listed, expected);

    // `notary key passwd` must decrypt the key (and re-encrypts it in notary's own format):
    // proof that notary reads the PBKDF2-HMAC-SHA1 / 1.3M-iteration encryption.
    for (id, key) in &keys {
        let wrong = output(notary(&trust, "a wrong passphrase").args(["key", "passwd", id]));
        assert!(
            !wrong.status.success(),
            "notary accepted a wrong passphrase"
        );
        run(notary(&trust, passphrase).args(["key", "passwd", id]));
        let rewritten = fs::read_to_string(key_path(&trust, id)).unwrap();
        let (back, meta) = decrypt_pem(&rewritten, &pass(passphrase), id).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        let (role, gun) = &expected[id];
        assert_eq!(meta, Some(KeyMeta::new(role.clone(), gun.clone())));
    }
}
