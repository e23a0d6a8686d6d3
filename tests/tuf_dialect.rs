//! Repositories in the TUF 1.0 dialect, end to end: the root key on a SoftHSM token,
//! `init --dialect tuf`, `add`, `publish --repo`, served by `python3 -m http.server` and read by
//! python-tuf's `ngclient.Updater` (the venv of scripts/pyenv.sh); and trustkey's own `verify`
//! reading a repository that python-tuf's Metadata API wrote.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::pytuf::python;
use common::{json, run_fails, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/app";
const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// `python3 -m http.server` on 127.0.0.1 at a port the OS picks (parsed from its first line);
/// killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn serve(dir: &Path) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new(python())
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("python runs");
        let stdout = child.stdout.take().unwrap();
        // From here on the guard kills the server whatever happens.
        let mut server = Server { child, port: 0 };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
        server.port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in http.server's line {line:?}"));
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SoftHSM with one root key, and `GUN` initialized in the TUF dialect with `init_args`.
struct Setup {
    hsm: Hsm,
}

impl_publisher!(Setup, PASS);

impl Setup {
    fn new(init_args: &[&str]) -> Self {
        let hsm = Hsm::with_root("rootA");
        let s = Setup { hsm };
        let mut args = vec!["init", GUN, "--dialect", "tuf"];
        args.extend_from_slice(init_args);
        s.ok(&args);
        s
    }

    /// The directory the HTTP server serves; repositories are published below it.
    fn www(&self) -> PathBuf {
        self.path().join("www")
    }

    fn add(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.path().join(format!("file-{}", name.replace('/', "_")));
        std::fs::write(&p, content).unwrap();
        self.ok(&["add", GUN, name, p.to_str().unwrap()]);
        p
    }

    /// Publishes into `www/<repo>`.
    fn publish(&self, repo: &str, extra: &[&str]) -> String {
        let dir = self.www().join(repo);
        let dir = dir.to_str().unwrap();
        let mut args = vec!["publish", GUN, "--repo", dir];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    fn meta_dir(&self, repo: &str) -> PathBuf {
        self.www().join(repo).join(GUN).join("metadata")
    }

    /// python-tuf's Updater on `www/<repo>`, caching in `clients/<client>`; bootstraps from
    /// `1.root.json` of `www/good` on its first run.
    fn py_client(
        &self,
        server: &Server,
        repo: &str,
        client: &str,
        names: &[&str],
    ) -> serde_json::Value {
        let base = self.path().join("clients").join(client);
        common::pytuf::updater(
            &base,
            &server.url(&format!("{repo}/{GUN}/metadata/")),
            &server.url(&format!("{repo}/{GUN}/targets/")),
            &self.meta_dir("good").join("1.root.json"),
            names,
        )
    }

    /// trustkey's own client, with a trust dir of its own (`tkclients/<name>`).
    fn tk_client(&self, name: &str) -> Command {
        self.hsm.client("tkclients", name)
    }
}

/// trustkey `verify --dialect tuf` failing with exit code 5 and one line; returns the line.
fn verify_fails(mut c: Command) -> String {
    let (code, err) = run_fails(&mut c);
    assert_eq!(code, 5, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hint:")).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    lines[0].to_string()
}

/// Changes one byte in the `signed` part of a canonical file: the last digit of `expires`.
fn tamper_signed(file: &Path) {
    let mut b = std::fs::read(file).unwrap();
    let text = String::from_utf8(b.clone()).unwrap();
    let at = text.find("\"expires\":\"").expect("expires") + "\"expires\":\"".len();
    let end = at + text[at..].find('"').unwrap();
    let i = end - 2;
    assert!(b[i].is_ascii_digit(), "{}", &text[at..end]);
    b[i] = if b[i] == b'9' { b'0' } else { b[i] + 1 };
    std::fs::write(file, b).unwrap();
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The details of TUF 1.0 that python-tuf and securesystemslib expect, checked on the files.
fn check_format(meta: &Path) {
    let root = json(&std::fs::read_to_string(meta.join("1.root.json")).unwrap());
    let s = &root["signed"];
    assert_eq!(s["_type"], "root");
    assert_eq!(s["spec_version"], "1.0.31");
    assert_eq!(s["version"], 1);
    let exp = s["expires"].as_str().unwrap();
    assert!(
        exp.len() == 20 && exp.ends_with('Z') && exp.as_bytes()[10] == b'T',
        "{exp}"
    );
    assert_eq!(s["roles"].as_object().unwrap().len(), 4);
    for (id, key) in s["keys"].as_object().unwrap() {
        assert_eq!(key["keytype"], "ecdsa", "{key}");
        assert_eq!(key["scheme"], "ecdsa-sha2-nistp256", "{key}");
        let pem = key["keyval"]["public"].as_str().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"), "{pem}");
        assert_eq!(key["keyval"].as_object().unwrap().len(), 1, "{key}");
        assert_eq!(id.len(), 64);
    }
    for sig in root["signatures"].as_array().unwrap() {
        assert!(sig.get("method").is_none(), "{sig}");
        let hex_sig = sig["sig"].as_str().unwrap();
        assert!(is_hex(hex_sig) && hex_sig.starts_with("30"), "DER: {sig}");
    }
    let snap = json(&std::fs::read_to_string(meta.join("snapshot.json")).unwrap());
    assert_eq!(snap["signed"]["_type"], "snapshot");
    assert!(snap["signed"]["meta"]["targets.json"]["version"].is_u64());
    assert!(snap["signed"]["meta"].get("root.json").is_none());
    let ts = json(&std::fs::read_to_string(meta.join("timestamp.json")).unwrap());
    assert!(ts["signed"]["meta"]["snapshot.json"]["version"].is_u64());
    let tg = json(&std::fs::read_to_string(meta.join("targets.json")).unwrap());
    assert_eq!(tg["signed"]["_type"], "targets");
    assert!(tg["signed"].get("delegations").is_none());
    for t in tg["signed"]["targets"].as_object().unwrap().values() {
        assert!(is_hex(t["hashes"]["sha256"].as_str().unwrap()), "{t}");
    }
}

#[test]
fn python_tuf_client_downloads_and_follows_updates() {
    let s = Setup::new(&[]);
    let v1 = b"release one\n".to_vec();
    s.add("app.tar.gz", &v1);
    s.publish("good", &[]);
    let meta = s.meta_dir("good");
    check_format(&meta);
    let gun_dir = s.www().join("good").join(GUN);
    assert_eq!(
        std::fs::read(gun_dir.join("targets/app.tar.gz")).unwrap(),
        v1
    );
    assert!(meta.join("root.json").is_file());
    assert!(!meta.join("1.snapshot.json").exists());

    let server = Server::serve(&s.www());
    let r = s.py_client(&server, "good", "a", &["app.tar.gz"]);
    assert_eq!(r["ok"], true, "{r}");
    let got = PathBuf::from(r["targets"]["app.tar.gz"].as_str().unwrap());
    assert_eq!(std::fs::read(&got).unwrap(), v1);
    assert_eq!(r["targets_version"], 1);
    // The root key python-tuf trusts is the token's key: its ID is in trustkey's config.
    let cfg = json(
        &std::fs::read_to_string(s.hsm.trust_dir.join("tuf").join(GUN).join("trustkey.json"))
            .unwrap(),
    );
    assert_eq!(cfg["dialect"], "tuf");
    let root_id = cfg["key_ids"]["root"].as_str().unwrap();
    assert!(
        r["keyids"].as_array().unwrap().iter().any(|k| k == root_id),
        "{r}"
    );

    // A new version: the same name with new bytes, and a second target in a directory.
    let v2 = b"release two\n".to_vec();
    s.add("app.tar.gz", &v2);
    s.add("docs/readme.txt", b"read me\n");
    s.publish("good", &[]);
    // The same client (cached metadata, no bootstrap this time) gets the new version.
    let r = s.py_client(&server, "good", "a", &["app.tar.gz", "docs/readme.txt"]);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["targets_version"], 2);
    let got = PathBuf::from(r["targets"]["app.tar.gz"].as_str().unwrap());
    assert_eq!(std::fs::read(&got).unwrap(), v2);

    // trustkey's own client agrees, and checks a file against the target.
    let f = s.path().join("file-app.tar.gz");
    let out = run_ok(
        s.tk_client("a")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(s.www().join("good"))
            .arg("--target")
            .arg(format!("app.tar.gz={}", f.display())),
    );
    assert!(out.contains("targets v2"), "{out}");
    let out = run_ok(&mut s.tk_cmd("list", &s.www().join("good")));
    assert!(out.contains("docs/readme.txt"), "{out}");
}

impl Setup {
    /// `trustkey CMD GUN --repo DIR` on the publisher's trust dir (dialect from its config).
    fn tk_cmd(&self, cmd: &str, repo: &Path) -> Command {
        let mut c = self.tk();
        c.args([cmd, GUN, "--repo"]).arg(repo);
        c
    }
}

#[test]
fn python_tuf_client_with_consistent_snapshots_and_meta_hashes() {
    let s = Setup::new(&["--consistent-snapshot", "--meta-hashes"]);
    let v1 = b"consistent one\n".to_vec();
    s.add("bin/tool", &v1);
    s.publish("good", &[]);
    let meta = s.meta_dir("good");
    let root = json(&std::fs::read_to_string(meta.join("1.root.json")).unwrap());
    assert_eq!(root["signed"]["consistent_snapshot"], true);
    assert!(meta.join("1.snapshot.json").is_file());
    assert!(meta.join("1.targets.json").is_file());
    let ts = json(&std::fs::read_to_string(meta.join("timestamp.json")).unwrap());
    let sm = &ts["signed"]["meta"]["snapshot.json"];
    assert!(
        sm["length"].is_u64() && is_hex(sm["hashes"]["sha256"].as_str().unwrap()),
        "{sm}"
    );
    let sha = hex_sha256(&v1);
    let gun_dir = s.www().join("good").join(GUN);
    assert_eq!(
        std::fs::read(gun_dir.join(format!("targets/bin/{sha}.tool"))).unwrap(),
        v1
    );

    let server = Server::serve(&s.www());
    let r = s.py_client(&server, "good", "c", &["bin/tool"]);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        std::fs::read(r["targets"]["bin/tool"].as_str().unwrap()).unwrap(),
        v1
    );

    let v2 = b"consistent two\n".to_vec();
    s.add("bin/tool", &v2);
    s.publish("good", &[]);
    assert!(meta.join("2.targets.json").is_file());
    let r = s.py_client(&server, "good", "c", &["bin/tool"]);
    assert_eq!(r["targets_version"], 2, "{r}");
    assert_eq!(
        std::fs::read(r["targets"]["bin/tool"].as_str().unwrap()).unwrap(),
        v2
    );
    run_ok(
        s.tk_client("c")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(s.www().join("good")),
    );

    // A file changed after `add` is refused at publish, and nothing new is published.
    let f = s.add("bin/other", b"original\n");
    std::fs::write(&f, b"changed!\n").unwrap();
    let (_, err) = run_fails(
        s.tk()
            .args(["publish", GUN, "--repo"])
            .arg(s.www().join("good")),
    );
    assert!(err.contains("changed since it was added"), "{err}");
    assert!(!meta.join("3.targets.json").exists());
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn python_tuf_client_rejects_tampering() {
    let s = Setup::new(&[]);
    s.add("app", b"payload\n");
    s.publish("good", &[]);
    let good = s.www().join("good");

    // Version 1, kept to roll clients back to later.
    common::copy_tree(&good, &s.www().join("old"));
    // One byte of targets.json's signed part.
    common::copy_tree(&good, &s.www().join("tampered"));
    tamper_signed(&s.meta_dir("tampered").join("targets.json"));
    // The target file changed on the server (metadata intact).
    common::copy_tree(&good, &s.www().join("badfile"));
    std::fs::write(
        s.www().join("badfile").join(GUN).join("targets/app"),
        b"payloaD\n",
    )
    .unwrap();
    // Timestamp expired an hour ago (a second publish, into its own directory).
    s.publish("expired", &["--expires", "timestamp=-1h"]);
    // Root version 2 signed only by a key the trusted root does not list.
    common::copy_tree(&good, &s.www().join("foreign"));
    run_ok(
        Command::new(python())
            .arg(data("tuf_foreign_root.py"))
            .arg(s.meta_dir("foreign").join("1.root.json"))
            .arg(s.meta_dir("foreign").join("2.root.json")),
    );

    let server = Server::serve(&s.www());
    let r = s.py_client(&server, "good", "ok", &["app"]);
    assert_eq!(r["ok"], true, "{r}");
    for (repo, want) in [
        ("tampered", "UnsignedMetadataError"),
        ("expired", "ExpiredMetadataError"),
        ("foreign", "UnsignedMetadataError"),
        ("badfile", "LengthOrHashMismatchError"),
    ] {
        let r = s.py_client(&server, repo, repo, &["app"]);
        assert_eq!(r["ok"], false, "{repo}: {r}");
        let e = r["error"].as_str().unwrap();
        assert!(e.starts_with(want), "{repo}: {e}");
    }

    // trustkey's own client rejects the same three, each with one line.
    for (repo, want) in [
        (
            "tampered",
            "targets: valid signatures did not meet threshold",
        ),
        ("expired", "timestamp expired at"),
        ("foreign", "could not validate the path to a trusted root"),
    ] {
        let mut c = s.tk_client(repo);
        c.args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(s.www().join(repo));
        let line = verify_fails(c);
        assert!(line.contains(want), "{repo}: {line}");
    }

    // Rollback: clients that saw version 3 are shown version 1 again.
    s.publish("good", &[]);
    let r = s.py_client(&server, "good", "ok", &["app"]);
    assert_eq!(r["targets_version"], 3, "{r}");
    let r = s.py_client(&server, "old", "ok", &["app"]);
    let e = r["error"].as_str().unwrap();
    assert!(e.starts_with("BadVersionNumberError"), "{e}");
    run_ok(
        s.tk_client("rb")
            .args(["verify", GUN, "--dialect", "tuf", "--repo"])
            .arg(&good),
    );
    let mut c = s.tk_client("rb");
    c.args(["verify", GUN, "--dialect", "tuf", "--repo"])
        .arg(s.www().join("old"));
    let line = verify_fails(c);
    assert!(
        line.contains("timestamp: version 1 is lower than current version 3"),
        "{line}"
    );
}

#[test]
fn tuf_options_need_the_tuf_dialect() {
    let hsm = Hsm::new();
    let (code, err) = hsm.fails(&["init", GUN, "--consistent-snapshot"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("need --dialect tuf"), "{err}");
}

#[test]
fn trustkey_verifies_a_python_tuf_repository() {
    const PYGUN: &str = "example.com/py";
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let file = t.path().join("hello.txt");
    std::fs::write(&file, b"hello from python-tuf\n").unwrap();
    let root_id = run_ok(
        Command::new(python())
            .arg(data("tuf_make_repo.py"))
            .arg(repo.join(PYGUN))
            .arg("hello.txt")
            .arg(&file),
    );
    let client = |name: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        c.env("HOME", t.path())
            .arg("-d")
            .arg(t.path().join("clients").join(name))
            .args(["verify", PYGUN, "--dialect", "tuf", "--repo"])
            .arg(&repo)
            .stdin(Stdio::null());
        c
    };
    let out = run_ok(
        client("a")
            .args(["--root-keyid", root_id.trim(), "--target"])
            .arg(format!("hello.txt={}", file.display())),
    );
    assert!(out.contains("verified example.com/py"), "{out}");
    assert!(
        out.contains("target hello.txt: length and hashes match"),
        "{out}"
    );

    // A wrong pin is refused.
    let mut c = client("pin");
    c.args(["--root-keyid", &"ab".repeat(32)]);
    let line = verify_fails(c);
    assert!(
        line.contains("could not validate the path to a trusted root"),
        "{line}"
    );

    // One byte of targets.json (pretty-printed by python-tuf) changed: the length.
    let tg = repo.join(PYGUN).join("metadata/targets.json");
    let text = std::fs::read_to_string(&tg).unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    let from = format!("\"length\": {len}");
    assert!(text.contains(&from), "{text}");
    std::fs::write(
        &tg,
        text.replace(&from, &format!("\"length\": {}", len + 1)),
    )
    .unwrap();
    let line = verify_fails(client("b"));
    assert!(
        line.contains("targets: valid signatures did not meet threshold"),
        "{line}"
    );
    // A client that trusted the good repository also refuses it now.
    let line = verify_fails(client("a"));
    assert!(line.contains("targets: valid signatures"), "{line}");
}
