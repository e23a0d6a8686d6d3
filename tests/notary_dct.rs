//! Docker Content Trust round trips against a real notary-server + notary-signer (Debian's
//! `notary` package, started per test by `scripts/notary-server.sh`): trustkey publishes and
//! the real `notary` client reads; `notary` publishes and trustkey verifies; key files made by
//! one are used by the other; and the failures a publisher meets (server down, wrong CA, a
//! stale trust dir) are one line, with nothing changed locally.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{json, run_fails, run_ok, Hsm, Publisher as _};

const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

/// A running notary-server + notary-signer in a temp dir (tests/common); stopped on drop.
type Server = common::notary_server::NotaryServer;

trait ServerExt {
    fn ca(&self) -> &str;
}

impl ServerExt for Server {
    fn ca(&self) -> &str {
        self.ca.to_str().unwrap()
    }
}

/// A SoftHSM with a root key, and trustkey's publisher trust dir.
struct Publisher {
    hsm: Hsm,
}

impl_publisher!(Publisher, PASS);

impl Publisher {
    fn new() -> Self {
        let hsm = Hsm::with_root("rootA");
        Publisher { hsm }
    }

    /// Runs trustkey, expecting failure; asserts a single error line (plus an optional hint).
    fn fails(&self, args: &[&str]) -> (i32, String) {
        let (code, err) = run_fails(self.tk().args(args));
        one_line(&err);
        (code, err)
    }

    fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    fn add(&self, gun: &str, name: &str, file: &Path) {
        self.ok(&["add", gun, name, file.to_str().unwrap()]);
    }

    fn config(&self, gun: &str) -> serde_json::Value {
        json(
            &std::fs::read_to_string(
                self.hsm
                    .trust_dir
                    .join("tuf")
                    .join(gun)
                    .join("trustkey.json"),
            )
            .unwrap(),
        )
    }

    fn staged(&self, gun: &str) -> Option<Vec<u8>> {
        std::fs::read(self.hsm.trust_dir.join("tuf").join(gun).join("staged.json")).ok()
    }

    /// trustkey as a separate client with a fresh trust dir of its own (`clients/<name>`).
    fn client(&self, name: &str) -> Command {
        self.hsm.client("clients", name)
    }
}

/// One error line, optionally followed by one `hint:` line.
fn one_line(err: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        !lines.is_empty() && lines.iter().skip(1).all(|l| l.starts_with("hint:")),
        "one error line expected:\n{err}"
    );
}

fn sha256_hex(p: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(p));
    out.split_whitespace().next().unwrap().to_string()
}

/// `notary list` rows: (name, digest, size).
fn notary_rows(out: &str) -> Vec<(String, String, u64)> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() == 4 && f[1].len() == 64 && f[3] == "targets" {
                Some((f[0].to_string(), f[1].to_string(), f[2].parse().ok()?))
            } else {
                None
            }
        })
        .collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn trustkey_publishes_and_notary_lists() {
    let srv = Server::start();
    let p = Publisher::new();
    let gun = "example.com/dct/app";
    let out = p.ok(&["init", gun, "-s", &srv.url, "--tlscacert", srv.ca()]);
    assert!(out.contains("timestamp"), "{out}");
    // The timestamp key is the server's: none on disk, and the server is remembered.
    let cfg = p.config(gun);
    assert_eq!(cfg["server"]["url"], srv.url.as_str());
    assert_eq!(cfg["server_roles"], serde_json::json!(["timestamp"]));
    let ts_id = cfg["key_ids"]["timestamp"].as_str().unwrap();
    assert!(!p
        .hsm
        .trust_dir
        .join("private")
        .join(format!("{ts_id}.key"))
        .exists());

    let a = p.write("a.bin", b"first artifact\n");
    let b = p.write("b.bin", &vec![7u8; 100_000]);
    p.add(gun, "v1", &a);
    p.add(gun, "v2", &b);
    // No -s: the server init remembered.
    let out = p.ok(&["publish", gun]);
    assert!(out.contains(&srv.url), "{out}");
    assert!(p.staged(gun).is_none());

    // The real notary client, with a fresh trust dir, sees every target.
    let fresh = p.path().join("notary-fresh");
    let list = stdout(&run_notary_ok(srv.notary(&fresh, &["list", gun])));
    let mut rows = notary_rows(&list);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("v1".into(), sha256_hex(&a), 15),
            ("v2".into(), sha256_hex(&b), 100_000)
        ],
        "{list}"
    );

    // A second publish (root already on the server, so not sent again): notary follows.
    p.ok(&["remove", gun, "v1"]);
    let c = p.write("c.bin", b"third");
    p.add(gun, "v3", &c);
    // Characters Go's encoding/json escapes (the server re-serializes what it gets).
    p.add(gun, "r&d<1>", &c);
    p.ok(&["publish", gun, "-s", &srv.url]);
    let list = stdout(&run_notary_ok(srv.notary(&fresh, &["list", gun])));
    let names: Vec<String> = notary_rows(&list).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["r&d<1>", "v2", "v3"], "{list}");
    assert_eq!(p.config(gun)["versions"]["targets"], 2);

    // trustkey's own client verifies it too, from a fresh trust dir (timestamp signed by the
    // server's key named in root).
    let out = run_ok(p.client("tk").args([
        "verify",
        gun,
        "-s",
        &srv.url,
        "--tlscacert",
        srv.ca(),
        "--target",
        &format!("v3={}", c.display()),
    ]));
    assert!(out.contains("verified example.com/dct/app"), "{out}");
    let out = run_ok(
        p.client("tk")
            .args(["list", gun, "-s", &srv.url, "--tlscacert", srv.ca()]),
    );
    assert!(out.contains(&sha256_hex(&b)), "{out}");
    // The publisher's own trust dir knows the server: no -s needed.
    let out = p.ok(&["verify", gun]);
    assert!(out.contains("verified"), "{out}");
}

#[test]
fn server_managed_snapshot() {
    let srv = Server::start();
    let p = Publisher::new();
    let gun = "example.com/dct/snap";
    p.ok(&[
        "init",
        gun,
        "-s",
        &srv.url,
        "--tlscacert",
        srv.ca(),
        "--server-managed-snapshot",
    ]);
    let cfg = p.config(gun);
    assert_eq!(
        cfg["server_roles"],
        serde_json::json!(["snapshot", "timestamp"])
    );
    // Only the targets key is on disk.
    let keys = std::fs::read_dir(p.hsm.trust_dir.join("private"))
        .unwrap()
        .count();
    assert_eq!(keys, 1);
    let a = p.write("a.bin", b"snap");
    p.add(gun, "v1", &a);
    // The server hashes targets into its snapshot after re-serializing them as Go does.
    p.add(gun, "r&d<1>", &a);
    // Only the targets passphrase is needed.
    let out = run_ok(
        p.hsm
            .trustkey()
            .env("TRUSTKEY_TARGETS_PASSPHRASE", PASS[0].1)
            .args(["publish", gun]),
    );
    assert!(
        out.contains("snapshot and timestamp signed by the server"),
        "{out}"
    );
    let fresh = p.path().join("notary-fresh");
    let list = stdout(&run_notary_ok(srv.notary(&fresh, &["list", gun])));
    assert_eq!(
        notary_rows(&list),
        vec![
            ("r&d<1>".into(), sha256_hex(&a), 4),
            ("v1".into(), sha256_hex(&a), 4)
        ],
        "{list}"
    );
    let out = run_ok(
        p.client("tk")
            .args(["verify", gun, "-s", &srv.url, "--tlscacert", srv.ca()]),
    );
    assert!(out.contains("verified"), "{out}");
}

fn run_notary_ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn notary_publishes_and_trustkey_verifies() {
    let srv = Server::start();
    let p = Publisher::new();
    let gun = "example.com/dct/by-notary";
    let ntrust = p.path().join("notary-publisher");
    let file = p.write("hello.txt", b"hello from notary\n");
    run_notary_ok(srv.notary(&ntrust, &["init", gun]));
    run_notary_ok(srv.notary(&ntrust, &["add", gun, "hello", file.to_str().unwrap()]));
    run_notary_ok(srv.notary(&ntrust, &["publish", gun]));

    let tls = ["-s", srv.url.as_str(), "--tlscacert", srv.ca()];
    let out = run_ok(
        p.client("a")
            .args(["verify", gun])
            .args(tls)
            .args(["--target", &format!("hello={}", file.display())]),
    );
    assert!(out.contains("pinned root key"), "{out}");
    assert!(
        out.contains("target hello: length and hashes match"),
        "{out}"
    );
    let out = run_ok(p.client("a").args(["list", gun]).args(tls));
    let row = out.lines().find(|l| l.starts_with("hello ")).expect(&out);
    assert!(
        row.contains(&sha256_hex(&file)) && row.contains(" 18 "),
        "{out}"
    );

    // trustkey will not initialize a GUN the server already has.
    let (code, err) = p.fails(&["init", gun, "-s", &srv.url, "--tlscacert", srv.ca()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("already exists on"), "{err}");
    assert!(!p
        .hsm
        .trust_dir
        .join("tuf")
        .join(gun)
        .join("trustkey.json")
        .exists());

    // Pinned to another root: notary's own words.
    let (code, err) = run_fails(
        p.client("b")
            .args(["verify", gun])
            .args(tls)
            .args(["--root-keyid", &"ab".repeat(32)]),
    );
    assert_eq!(code, 5, "{err}");
    one_line(&err);
    assert!(
        err.contains("could not validate the path to a trusted root"),
        "{err}"
    );

    // Another notary repository's root, handed out under this GUN's name by a client that
    // already trusts this GUN: a replaced root is refused.
    let other = "example.com/dct/other";
    run_notary_ok(srv.notary(&ntrust, &["init", other]));
    run_notary_ok(srv.notary(&ntrust, &["publish", other]));

    // The server's bytes, served through a small static server; first untouched, then tampered.
    let mirror = p.path().join("mirror");
    let gdir = mirror.join(gun);
    std::fs::create_dir_all(&gdir).unwrap();
    let api = trustkey::repo::server::NotaryServer::new(&srv.url, Some(&srv.ca)).unwrap();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let b = api.get_metadata(gun, role).unwrap().unwrap();
        std::fs::write(gdir.join(format!("{role}.json")), b).unwrap();
    }
    let port = common::serve_notary_layout(mirror.clone());
    let url = format!("http://127.0.0.1:{port}");
    run_ok(p.client("c").args(["verify", gun, "-s", &url]));
    // targets.json: one byte of the signed part changed (the length of the target).
    let t = gdir.join("targets.json");
    let text = std::fs::read_to_string(&t).unwrap();
    std::fs::write(&t, text.replacen("\"length\":18", "\"length\":19", 1)).unwrap();
    let (code, err) = run_fails(p.client("d").args(["verify", gun, "-s", &url]));
    assert_eq!(code, 5, "{err}");
    one_line(&err);
    assert!(err.contains("targets"), "{err}");
    // Root swapped for the other repository's: no longer the root client "c" pinned.
    std::fs::write(&t, text).unwrap();
    let other_root = api.get_metadata(other, "root").unwrap().unwrap();
    std::fs::write(gdir.join("root.json"), other_root).unwrap();
    let (code, err) = run_fails(p.client("c").args(["verify", gun, "-s", &url]));
    assert_eq!(code, 5, "{err}");
    one_line(&err);
    assert!(
        err.contains("could not validate the path to a trusted root"),
        "{err}"
    );
}

/// The key file of `role` for `gun` in a notary trust dir (found by its PEM headers).
fn notary_key_file(trust_dir: &Path, role: &str, gun: &str) -> PathBuf {
    for e in std::fs::read_dir(trust_dir.join("private")).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(&format!("role: {role}\n")) && text.contains(&format!("gun: {gun}\n")) {
            return path;
        }
    }
    panic!("no {role} key for {gun} in {}", trust_dir.display());
}

#[test]
fn key_files_interoperate_both_ways() {
    let srv = Server::start();
    let p = Publisher::new();
    let tls = ["-s", srv.url.as_str(), "--tlscacert", srv.ca()];

    // 1. notary, pointed at trustkey's trust dir, publishes a target with trustkey's targets
    //    (and snapshot) key: it decrypts trustkey's PKCS#8 files.
    let gun = "example.com/dct/shared";
    p.ok(&["init", gun, "-s", &srv.url, "--tlscacert", srv.ca()]);
    let a = p.write("a.bin", b"by trustkey");
    p.add(gun, "from-trustkey", &a);
    p.ok(&["publish", gun]);
    let b = p.write("b.bin", b"by notary, with trustkey's keys");
    let mut n = srv.notary(
        &p.hsm.trust_dir,
        &["add", gun, "from-notary", b.to_str().unwrap()],
    );
    run_notary_ok(n);
    n = srv.notary(&p.hsm.trust_dir, &["publish", gun]);
    n.env("NOTARY_TARGETS_PASSPHRASE", PASS[0].1)
        .env("NOTARY_SNAPSHOT_PASSPHRASE", PASS[1].1)
        // No root key anywhere on disk: notary must not need it to publish targets.
        .env("NOTARY_ROOT_PASSPHRASE", "no-such-root-key");
    run_notary_ok(n);
    let out = run_ok(p.client("v1").args(["list", gun]).args(tls));
    assert!(
        out.contains("from-trustkey") && out.contains("from-notary"),
        "{out}"
    );
    assert!(out.contains(&sha256_hex(&b)), "{out}");
    // trustkey publishes again, on top of what notary published (verified first).
    let d = p.write("d.bin", b"trustkey again");
    p.add(gun, "again", &d);
    p.ok(&["publish", gun]);
    let fresh = p.path().join("notary-fresh-1");
    let list = stdout(&run_notary_ok(srv.notary(&fresh, &["list", gun])));
    let names: Vec<String> = notary_rows(&list).into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["again", "from-notary", "from-trustkey"], "{list}");
    assert_eq!(p.config(gun)["versions"]["targets"], 3);

    // 2. trustkey publishes with a targets key notary made (`notary init` of a repository it
    //    never published), imported with `trustkey key import`.
    let ntrust = p.path().join("notary-keys");
    let gun2 = "example.com/dct/notary-key";
    run_notary_ok(srv.notary(&ntrust, &["init", gun2]));
    let nkey = notary_key_file(&ntrust, "targets", gun2);
    let nkey_id = nkey.file_stem().unwrap().to_str().unwrap().to_string();
    // Unlocked with notary's passphrase, kept under it.
    run_ok(
        p.hsm
            .trustkey()
            .env("NOTARY_TARGETS_PASSPHRASE", "targets-passphrase-1")
            .args(["key", "import", nkey.to_str().unwrap()]),
    );
    let with_notary_pass = |args: &[&str]| {
        run_ok(
            p.tk()
                .env("TRUSTKEY_TARGETS_PASSPHRASE", "targets-passphrase-1")
                .args(args),
        )
    };
    let out = with_notary_pass(&[
        "init",
        gun2,
        "-s",
        &srv.url,
        "--tlscacert",
        srv.ca(),
        "--targets-key",
        &nkey_id[..12],
    ]);
    assert!(out.contains(&nkey_id), "{out}");
    assert_eq!(p.config(gun2)["key_ids"]["targets"], nkey_id.as_str());
    let c = p.write("c.bin", b"signed with notary's key");
    with_notary_pass(&["add", gun2, "v1", c.to_str().unwrap()]);
    with_notary_pass(&["publish", gun2]);
    let fresh = p.path().join("notary-fresh");
    let list = stdout(&run_notary_ok(srv.notary(&fresh, &["list", gun2])));
    assert_eq!(
        notary_rows(&list),
        vec![("v1".into(), sha256_hex(&c), 24)],
        "{list}"
    );
    // The targets signature is by notary's key.
    let api = trustkey::repo::server::NotaryServer::new(&srv.url, Some(&srv.ca)).unwrap();
    let targets =
        json(&String::from_utf8(api.get_metadata(gun2, "targets").unwrap().unwrap()).unwrap());
    assert_eq!(targets["signatures"][0]["keyid"], nkey_id.as_str());
}

#[test]
fn failures_are_one_line_and_change_nothing() {
    let srv = Server::start();
    let p = Publisher::new();
    let gun = "example.com/dct/errors";
    p.ok(&["init", gun, "-s", &srv.url, "--tlscacert", srv.ca()]);
    let a = p.write("a.bin", b"one");
    p.add(gun, "v1", &a);
    p.ok(&["publish", gun]);
    let cfg_path = p.hsm.trust_dir.join("tuf").join(gun).join("trustkey.json");
    // What a failed publish must leave alone: the stage and the config (versions).
    let state = || (p.staged(gun), std::fs::read(&cfg_path).unwrap());

    // A repository made for a directory is refused before anything is signed.
    p.ok(&["init", "example.com/dct/dir-only"]);
    let (code, err) = p.fails(&["publish", "example.com/dct/dir-only", "-s", &srv.url]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("initialized for publishing to a directory"),
        "{err}"
    );
    assert!(
        err.contains("init example.com/dct/dir-only --server URL"),
        "{err}"
    );
    // And a server repository is not published to a directory.
    let repo_dir = p.path().join("r");
    let (code, err) = p.fails(&["publish", gun, "--repo", repo_dir.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds its timestamp key"), "{err}");

    let b = p.write("b.bin", b"two");
    p.add(gun, "v2", &b);
    let before = state();
    assert!(before.0.is_some());

    // Wrong CA: a TLS failure, one line.
    let wrong = p.path().join("wrong-ca");
    std::fs::create_dir(&wrong).unwrap();
    run_ok(Command::new("openssl").current_dir(&wrong).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/CN=Some Other CA",
        "-days",
        "2",
    ]));
    let wrong_ca = wrong.join("ca.crt");
    let (code, err) = p.fails(&["publish", gun, "--tlscacert", wrong_ca.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("TLS"), "{err}");
    assert!(err.contains(&srv.url), "{err}");
    eprintln!("wrong CA: {err}");
    assert_eq!(state(), before, "wrong CA changed local state");
    let (_, err) = p.fails(&["publish", gun, "--tlscacert", "/nonexistent/ca.crt"]);
    assert!(err.contains("/nonexistent/ca.crt"), "{err}");
    assert_eq!(state(), before, "missing CA file changed local state");

    // A stale copy of the trust dir, behind a cache that still serves the old metadata: it
    // signs a version the server already has, and the server refuses it and says why.
    let td = p.hsm.trust_dir.clone();
    let stale = p.path().join("trust-stale");
    run_ok(Command::new("cp").arg("-a").arg(&td).arg(&stale));
    let cache = p.path().join("cache");
    let api = trustkey::repo::server::NotaryServer::new(&srv.url, Some(&srv.ca)).unwrap();
    std::fs::create_dir_all(cache.join(gun)).unwrap();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        let bytes = api.get_metadata(gun, role).unwrap().unwrap();
        std::fs::write(cache.join(gun).join(format!("{role}.json")), bytes).unwrap();
    }
    let port = stale_cache(cache, srv.url.clone(), srv.ca.clone());
    p.ok(&["publish", gun]);
    let current = p.path().join("trust-current");
    std::fs::rename(&td, &current).unwrap();
    std::fs::rename(&stale, &td).unwrap();
    let stale_url = format!("http://127.0.0.1:{port}");
    let (code, err) = p.fails(&["publish", gun, "-s", &stale_url]);
    assert_ne!(code, 0);
    assert!(err.contains("HTTP 400"), "{err}");
    assert!(
        err.contains("A newer version of metadata is already available"),
        "{err}"
    );
    eprintln!("stale publish: {err}");
    assert_eq!(state(), before, "the rejected upload changed local state");

    // Without the stale cache, the same copy builds on what the server has (verified first).
    p.ok(&["publish", gun]);
    let out = run_ok(
        p.client("y")
            .args(["list", gun, "-s", &srv.url, "--tlscacert", srv.ca()]),
    );
    assert!(out.contains("v1 ") && out.contains("v2 "), "{out}");
    assert_eq!(p.config(gun)["versions"]["targets"], 3);

    // Server down.
    let c = p.write("c.bin", b"three");
    p.add(gun, "v3", &c);
    let before = state();
    srv.stop();
    let (code, err) = p.fails(&["publish", gun]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains(&srv.url), "{err}");
    eprintln!("server down: {err}");
    assert_eq!(state(), before, "server down changed local state");
    let (code, err) =
        run_fails(
            p.client("x")
                .args(["verify", gun, "-s", &srv.url, "--tlscacert", srv.ca()]),
        );
    assert_ne!(code, 0);
    one_line(&err);
    assert!(err.contains("cannot connect"), "{err}");
}

#[test]
fn changed_commands_have_examples() {
    for cmd in ["init", "publish", "list", "verify"] {
        let out = run_ok(Command::new(env!("CARGO_BIN_EXE_trustkey")).args([cmd, "--help"]));
        assert!(out.contains("Examples:\n  trustkey "), "{cmd}:\n{out}");
        assert!(
            out.contains("-s https://notary.example.com")
                || out.contains("trustkey publish example.com/app     #"),
            "{cmd}:\n{out}"
        );
    }
}

/// A cache in front of notary-server that serves old metadata (the files in `dir`) for every
/// GET and passes uploads (POST) on to the real server, answering with its status and body.
fn stale_cache(dir: PathBuf, upstream: String, ca: PathBuf) -> u16 {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let certs: Vec<_> = ureq::tls::parse_pem(&std::fs::read(&ca).unwrap())
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::from(certs))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build()
            .into();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse().unwrap_or(0),
                        "content-type" => content_type = v.trim().to_string(),
                        _ => {}
                    }
                }
            }
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
            let (status, body) = if method == "POST" {
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                let mut resp = agent
                    .post(format!("{upstream}{path}"))
                    .header("Content-Type", &content_type)
                    .send(&body[..])
                    .unwrap();
                let status = resp.status().as_u16();
                (status, resp.body_mut().read_to_vec().unwrap_or_default())
            } else {
                let file = path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split_once("/_trust/tuf/"))
                    .filter(|(g, f)| !g.contains("..") && !f.contains('/'))
                    .and_then(|(g, f)| std::fs::read(dir.join(g).join(f)).ok());
                match file {
                    Some(b) => (200, b),
                    None => (404, Vec::new()),
                }
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .and_then(|()| stream.write_all(&body));
        }
    });
    port
}

#[test]
fn a_delegation_notary_made_with_a_certificate_verifies_in_trustkey() {
    let srv = Server::start();
    let p = Publisher::new();
    let gun = "example.com/dct/delegated";
    let ntrust = p.path().join("notary-publisher");
    std::fs::create_dir_all(&ntrust).unwrap();
    run_notary_ok(srv.notary(&ntrust, &["init", gun]));
    run_notary_ok(srv.notary(&ntrust, &["publish", gun]));
    // As `docker trust signer add` does: a signer's x509 certificate delegated targets/releases.
    let key = p.path().join("signer.key");
    let cert = p.path().join("signer.crt");
    run_ok(
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&key),
    );
    run_ok(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-x509",
                "-days",
                "30",
                "-subj",
                "/CN=signer",
                "-key",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    let (k, c) = (key.to_str().unwrap(), cert.to_str().unwrap());
    run_notary_ok(srv.notary(
        &ntrust,
        &[
            "delegation",
            "add",
            gun,
            "targets/releases",
            c,
            "--all-paths",
        ],
    ));
    run_notary_ok(srv.notary(&ntrust, &["publish", gun]));
    run_notary_ok(srv.notary(&ntrust, &["key", "import", k, "--role", "targets/releases"]));
    let file = p.write("app.tgz", b"signed by a delegate\n");
    run_notary_ok(srv.notary(
        &ntrust,
        &[
            "add",
            gun,
            "rel/app.tgz",
            file.to_str().unwrap(),
            "--roles",
            "targets/releases",
        ],
    ));
    run_notary_ok(srv.notary(&ntrust, &["publish", gun]));

    let tls = ["-s", srv.url.as_str(), "--tlscacert", srv.ca()];
    let out = run_ok(
        p.client("a")
            .args(["list", gun, "-r", "targets/releases"])
            .args(tls),
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("rel/app.tgz"))
        .expect(&out);
    assert!(
        row.contains(&sha256_hex(&file)) && row.trim_end().ends_with("targets/releases"),
        "{out}"
    );
    run_ok(
        p.client("a")
            .args(["verify", gun])
            .args(tls)
            .args(["--target", &format!("rel/app.tgz={}", file.display())]),
    );
}
