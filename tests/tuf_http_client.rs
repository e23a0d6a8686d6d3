//! trustkey as a client of static repositories over HTTP (issue 17): `verify`/`list --repo
//! URL` of repositories trustkey published (both dialects) and of one python-tuf's Metadata API
//! built; `download` through a delegation with consistent snapshots, keeping what it trusts in
//! a metadata directory and not fetching a target again while it matches; and servers that
//! misbehave: a timestamp larger than its bound, a server that stalls.
//!
//! Every server here runs in this process on 127.0.0.1 and records the paths asked for.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pytuf::python;
use common::{run_fails, run_ok, Hsm, Publisher as _};

const GUN: &str = "example.com/app";
use common::PUBLISHER_PASSPHRASES as PASS;

/// A publisher: the root on token `root`, a delegate's token `alice`, `GUN` initialized.
struct Setup {
    hsm: Hsm,
}

impl_publisher!(Setup, PASS);

impl Setup {
    fn new(init: &[&str]) -> Self {
        let hsm = Hsm::new();
        for t in ["root", "alice"] {
            hsm.add_token(t);
        }
        hsm.ok(&["root", "create", "--token", "pkcs11:token=root"]);
        let s = Setup { hsm };
        let mut args = vec!["init", GUN, "--root", "pkcs11:token=root;object=root"];
        args.extend_from_slice(init);
        s.ok(&args);
        s
    }

    fn www(&self) -> PathBuf {
        self.path().join("www")
    }

    fn add(&self, name: &str, data: &[u8], extra: &[&str]) {
        let p = self.path().join("files").join(name.replace('/', "_"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        let mut args = vec!["add", GUN, name, p.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.ok(&args);
    }

    fn publish(&self) -> String {
        let repo = self.www().join("r");
        self.ok(&["publish", GUN, "--repo", repo.to_str().unwrap()])
    }

    /// trustkey as a client with a trust dir of its own.
    fn client(&self, name: &str) -> Command {
        self.hsm.client("clients", name)
    }
}

/// Requests a server was asked, by path.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn paths(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.0.lock().unwrap().clear()
    }
}

/// Serves the files under `dir` (GET only, 404 for anything else), logging each path.
fn serve_dir(dir: PathBuf) -> (u16, Log) {
    let log = Log::default();
    let l = log.clone();
    let port = common::serve(move |path| {
        l.0.lock().unwrap().push(path.to_string());
        let p = path.strip_prefix('/')?;
        if p.split('/').any(|c| c == "..") {
            return None;
        }
        std::fs::read(dir.join(p)).ok()
    });
    (port, log)
}

/// A raw server: `answer` gets each request's path and the connection, on its own thread.
fn serve_raw(answer: impl Fn(&str, TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                answer(&path, stream);
            });
        }
    });
    port
}

/// The one `trustkey:` line of a failure's stderr.
fn error_line(err: &str) -> String {
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("trustkey:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

#[test]
fn trustkey_published_repositories_verify_over_http_in_both_dialects() {
    for dialect in ["notary", "tuf"] {
        let s = Setup::new(&["--dialect", dialect]);
        s.add("app.tar.gz", b"release one\n", &[]);
        s.publish();
        let (port, log) = serve_dir(s.www());
        let url = format!("http://127.0.0.1:{port}/r/");
        let out =
            run_ok(
                s.client(dialect)
                    .args(["verify", GUN, "--dialect", dialect, "--repo", &url]),
            );
        assert!(out.contains("verified example.com/app"), "{dialect}: {out}");
        // Where each dialect lays the GUN's files out.
        let root = match dialect {
            "notary" => format!("/r/{GUN}/root.json"),
            _ => format!("/r/{GUN}/metadata/1.root.json"),
        };
        assert!(log.paths().contains(&root), "{dialect}: {:?}", log.paths());
        let out =
            run_ok(
                s.client(dialect)
                    .args(["list", GUN, "--dialect", dialect, "--repo", &url]),
            );
        assert!(out.contains("app.tar.gz"), "{dialect}: {out}");

        // A changed byte of what is served is refused over HTTP as in a directory.
        let dir = s.www().join("r").join(GUN);
        let ts = match dialect {
            "notary" => dir.join("timestamp.json"),
            _ => dir.join("metadata/timestamp.json"),
        };
        let text = std::fs::read_to_string(&ts).unwrap();
        let bumped = text.replacen("\"expires\":\"2", "\"expires\":\"3", 1);
        assert_ne!(text, bumped, "{text}");
        std::fs::write(&ts, bumped).unwrap();
        let (code, err) = run_fails(s.client(&format!("{dialect}-2")).args([
            "verify",
            GUN,
            "--dialect",
            dialect,
            "--repo",
            &url,
        ]));
        assert_eq!(code, 5, "{err}");
        assert!(error_line(&err).contains("timestamp"), "{err}");
    }
}

#[test]
fn a_python_tuf_repository_verifies_and_downloads_over_http() {
    let t = tempfile::tempdir().unwrap();
    let www = t.path().join("www");
    let file = t.path().join("hello.txt");
    std::fs::write(&file, b"hello from python-tuf\n").unwrap();
    let root_id = run_ok(
        Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tuf_make_repo.py"))
            .arg(www.join("example.com/py"))
            .arg("hello.txt")
            .arg(&file),
    );
    let (port, log) = serve_dir(www.clone());
    let tk = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
        c.env("HOME", t.path())
            .arg("-d")
            .arg(t.path().join("trust"));
        c
    };
    let url = format!("http://127.0.0.1:{port}");
    let out = run_ok(tk().args([
        "verify",
        "example.com/py",
        "--dialect",
        "tuf",
        "--repo",
        &url,
        "--root-keyid",
        root_id.trim(),
    ]));
    assert!(out.contains("verified example.com/py"), "{out}");

    // python-tuf's Updater shape: a root given out of band, explicit URLs, a metadata dir.
    let meta_url = format!("{url}/example.com/py/metadata/");
    let md = t.path().join("md");
    let down = t.path().join("down");
    log.clear();
    let out = run_ok(
        tk().args(["download", "--metadata-url", &meta_url, "--metadata-dir"])
            .arg(&md)
            .arg("--trusted-root")
            .arg(www.join("example.com/py/metadata/1.root.json"))
            .args(["--targets-url", &format!("{url}/example.com/py/targets/")])
            .args(["--target", "hello.txt", "--target-dir"])
            .arg(&down),
    );
    assert!(out.contains("hello.txt: downloaded"), "{out}");
    assert_eq!(
        std::fs::read(down.join("hello.txt")).unwrap(),
        b"hello from python-tuf\n"
    );
    let mut stored: Vec<String> = std::fs::read_dir(&md)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            "root.json",
            "snapshot.json",
            "targets.json",
            "timestamp.json"
        ]
    );
    // No trust on first use: the root came from the file, never from the server.
    assert!(
        !log.paths().iter().any(|p| p.ends_with("/1.root.json")),
        "{:?}",
        log.paths()
    );
}

#[test]
fn download_through_a_delegation_with_consistent_snapshots() {
    let s = Setup::new(&["--dialect", "tuf", "--consistent-snapshot"]);
    s.ok(&[
        "delegation",
        "add",
        GUN,
        "releases",
        "--key",
        "pkcs11:token=alice;object=releases",
        "--generate",
        "--paths",
        "releases/*",
        "--terminating",
    ]);
    let v1 = b"release one\n";
    s.add("releases/app.tgz", v1, &["--role", "releases"]);
    s.add("readme.txt", b"read me\n", &[]);
    s.publish();
    let (port, log) = serve_dir(s.www());
    let url = format!("http://127.0.0.1:{port}/r/");
    let down = s.path().join("down");
    let download = |target: &str| {
        let mut c = s.client("c");
        c.args(["download", GUN, "--dialect", "tuf", "--repo", &url])
            .args(["--target", target, "--target-dir"])
            .arg(&down);
        c
    };
    let target_requests = |log: &Log| -> Vec<String> {
        log.paths()
            .into_iter()
            .filter(|p| p.contains("/targets/"))
            .collect()
    };
    let out = run_ok(&mut download("releases/app.tgz"));
    assert!(out.contains("signed by releases"), "{out}");
    let saved = down.join("releases%2Fapp.tgz");
    assert_eq!(std::fs::read(&saved).unwrap(), v1);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(v1));
    assert_eq!(
        target_requests(&log),
        [format!("/r/{GUN}/targets/releases/{sha}.app.tgz")]
    );
    // The delegated role was fetched by version (consistent snapshots) and is kept under its
    // plain name, beside the top-level roles.
    assert!(
        log.paths()
            .contains(&format!("/r/{GUN}/metadata/1.releases.json")),
        "{:?}",
        log.paths()
    );
    let md = s
        .path()
        .join("clients/c/tuf")
        .join(GUN)
        .join("client/tuf/metadata");
    for f in [
        "root.json",
        "timestamp.json",
        "snapshot.json",
        "targets.json",
        "releases.json",
    ] {
        assert!(md.join(f).is_file(), "{f}");
    }

    // Again: the file matches, nothing under targets/ is asked for; the metadata is reused
    // (only root's next version and timestamp are asked for).
    log.clear();
    let out = run_ok(&mut download("releases/app.tgz"));
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(target_requests(&log), Vec::<String>::new());
    assert_eq!(
        log.paths(),
        [
            format!("/r/{GUN}/metadata/2.root.json"),
            format!("/r/{GUN}/metadata/timestamp.json")
        ]
    );

    // A new release: fetched again, into the same file.
    let v2 = b"release two\n";
    s.add("releases/app.tgz", v2, &["--role", "releases"]);
    s.publish();
    log.clear();
    run_ok(&mut download("releases/app.tgz"));
    assert_eq!(std::fs::read(&saved).unwrap(), v2);
    assert_eq!(target_requests(&log).len(), 1, "{:?}", log.paths());

    // A target the terminating delegation covers but does not list is not searched for
    // elsewhere; one outside every delegation comes from targets.
    let (code, err) = run_fails(&mut download("releases/other.tgz"));
    assert_eq!(code, 5, "{err}");
    assert!(
        error_line(&err).contains("not in targets or its delegations"),
        "{err}"
    );
    run_ok(&mut download("readme.txt"));
    assert_eq!(
        std::fs::read(down.join("readme.txt")).unwrap(),
        b"read me\n"
    );
}

/// A python-tuf repository in `dir`, served by `serve_raw` with `timestamp` answering for
/// `timestamp.json`.
fn repo_with_timestamp(
    dir: &Path,
    timestamp: impl Fn(TcpStream) + Send + Sync + 'static,
) -> (u16, PathBuf) {
    let file = dir.join("t.txt");
    std::fs::write(&file, b"t\n").unwrap();
    let repo = dir.join("repo");
    run_ok(
        Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tuf_make_repo.py"))
            .arg(&repo)
            .arg("t.txt")
            .arg(&file),
    );
    let served = repo.clone();
    let port = serve_raw(move |path, mut stream| {
        if path.ends_with("/timestamp.json") {
            return timestamp(stream);
        }
        let found = path
            .strip_prefix('/')
            .filter(|p| !p.contains(".."))
            .and_then(|p| std::fs::read(served.join(p)).ok());
        let _ = match found {
            Some(b) => write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                b.len()
            )
            .and_then(|()| stream.write_all(&b)),
            None => write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        };
    });
    (port, repo)
}

fn refresh(dir: &Path, port: u16, repo: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trustkey"));
    c.env("HOME", dir)
        .env("TRUSTKEY_HTTP_TIMEOUT_SECS", "2")
        .args(["download", "--metadata-url"])
        .arg(format!("http://127.0.0.1:{port}/metadata/"))
        .arg("--metadata-dir")
        .arg(dir.join("md"))
        .arg("--trusted-root")
        .arg(repo.join("metadata/1.root.json"));
    c
}

#[test]
fn a_timestamp_over_its_bound_is_refused_without_reading_it_whole() {
    // Without a length, an endless body: the client stops after the bound (16 KiB) and one
    // byte, where reading it whole would never end.
    let t = tempfile::tempdir().unwrap();
    let sent = Arc::new(Mutex::new(0usize));
    let counter = sent.clone();
    let (port, repo) = repo_with_timestamp(t.path(), move |mut stream| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = [b' '; 4096];
        while stream.write_all(&chunk).is_ok() {
            *counter.lock().unwrap() += chunk.len();
        }
    });
    let start = Instant::now();
    let (code, err) = run_fails(&mut refresh(t.path(), port, &repo));
    assert_eq!(code, 5, "{err}");
    let line = error_line(&err);
    assert!(
        line.contains("timestamp.json") && line.contains("larger than 16384 bytes"),
        "{line}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );

    // With a length over the bound: refused by it, the body unread.
    let t = tempfile::tempdir().unwrap();
    let (port, repo) = repo_with_timestamp(t.path(), |mut stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n{",
        );
        // The client must not wait for the rest.
        std::thread::sleep(Duration::from_secs(30));
    });
    let start = Instant::now();
    let (code, err) = run_fails(&mut refresh(t.path(), port, &repo));
    assert_eq!(code, 5, "{err}");
    let line = error_line(&err);
    assert!(line.contains("larger than 16384 bytes"), "{line}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_stalling_server_times_out_with_one_line() {
    let t = tempfile::tempdir().unwrap();
    let (port, repo) = repo_with_timestamp(t.path(), |stream| {
        // Headers never come; the connection stays open.
        std::thread::sleep(Duration::from_secs(30));
        drop(stream);
    });
    let start = Instant::now();
    let (code, err) = run_fails(&mut refresh(t.path(), port, &repo));
    let line = error_line(&err);
    assert!(line.contains("timed out"), "{line}");
    assert!(line.contains("timestamp.json"), "{line}");
    assert_ne!(code, 0);
    // TRUSTKEY_HTTP_TIMEOUT_SECS=2: well before the server gives up after 30 s.
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}
