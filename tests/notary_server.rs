//! The notary-server client against a real notary-server + notary-signer (Debian's `notary`
//! package), started per test by `scripts/notary-server.sh` in a temp dir, and against small
//! misbehaving servers made here.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use p256::pkcs8::DecodePublicKey as _;
use trustkey::error::ServerFailure;
use trustkey::repo::server::{NotaryServer, Timeouts, KEY_LIMIT, METADATA_LIMIT};
use trustkey::Error;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/notary-server.sh")
}

fn check(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running notary-server + notary-signer in a temp dir (tests/common); stopped on drop.
type Harness = common::notary_server::NotaryServer;

trait HarnessExt {
    fn client(&self) -> NotaryServer;
    fn notary_ok(&self, trust_dir: &Path, args: &[&str]) -> Output;
}

impl HarnessExt for Harness {
    fn client(&self) -> NotaryServer {
        NotaryServer::new(&self.url, Some(&self.ca)).unwrap()
    }

    /// Runs the real notary client against this server with its own trust dir; it must
    /// succeed.
    fn notary_ok(&self, trust_dir: &Path, args: &[&str]) -> Output {
        let out = self
            .notary(trust_dir, args)
            .current_dir(trust_dir)
            .output()
            .unwrap();
        check(&format!("notary {}", args.join(" ")), out)
    }
}

fn server_error(e: Error) -> (ServerFailure, String, Option<String>) {
    let line = e.to_string();
    let hint = e.hint();
    eprintln!("error: {line}\n  hint: {}", hint.as_deref().unwrap_or("-"));
    match e {
        Error::Server { kind, .. } => (kind, line, hint),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[test]
fn notary_client_publishes_and_trustkey_reads_it_back() {
    let h = Harness::start();
    let work = tempfile::tempdir().unwrap();
    let trust = work.path().join("trust");
    std::fs::create_dir(&trust).unwrap();
    std::fs::write(work.path().join("hello.txt"), b"hello\n").unwrap();
    let gun = "example.com/trustkey/app";

    h.notary_ok(&trust, &["init", gun]);
    h.notary_ok(
        &trust,
        &[
            "add",
            gun,
            "hello",
            work.path().join("hello.txt").to_str().unwrap(),
        ],
    );
    h.notary_ok(&trust, &["publish", gun]);
    let list = h.notary_ok(&trust, &["list", gun]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("hello"), "{listed}");

    // What the server hands out is byte for byte what notary cached after publishing.
    let client = h.client();
    let cache = trust.join("tuf").join(gun).join("metadata");
    for role in ["root", "targets", "snapshot"] {
        let got = client.get_metadata(gun, role).unwrap().expect(role);
        let cached = std::fs::read(cache.join(format!("{role}.json"))).unwrap();
        assert_eq!(got, cached, "{role}.json differs from notary's cache");
    }
    let timestamp = client.get_metadata(gun, "timestamp").unwrap().unwrap();
    assert!(String::from_utf8_lossy(&timestamp).contains("\"Timestamp\""));

    // Once root.json names it, the server's timestamp key is stable, and it is the one
    // notary put into root.json.
    let key = client.remote_key(gun, "timestamp").unwrap();
    assert_eq!(key.keytype, "ecdsa");
    assert_eq!(client.remote_key(gun, "timestamp").unwrap(), key);
    let root = String::from_utf8(client.get_metadata(gun, "root").unwrap().unwrap()).unwrap();
    assert!(
        root.contains(&key.public_b64),
        "timestamp key not in root.json"
    );

    // Unknown repositories and roles are None, not errors.
    assert_eq!(
        client
            .get_metadata("example.com/nobody/here", "root")
            .unwrap(),
        None
    );
    assert_eq!(
        client.get_metadata(gun, "targets/nosuchrole").unwrap(),
        None
    );

    // Uploading notary's own files again is refused, and the server says why.
    let files: Vec<(String, Vec<u8>)> = ["root", "targets", "snapshot"]
        .iter()
        .map(|r| {
            (
                r.to_string(),
                std::fs::read(cache.join(format!("{r}.json"))).unwrap(),
            )
        })
        .collect();
    let parts: Vec<(&str, &[u8])> = files.iter().map(|(r, d)| (r.as_str(), &d[..])).collect();
    let (kind, line, _) = server_error(client.publish(gun, &parts).unwrap_err());
    // notary-server's VERSION error: what another publisher gets when it lost a race.
    assert_eq!(kind, ServerFailure::Conflict, "{line}");
    assert!(line.contains("HTTP 400"), "{line}");
    assert!(
        line.contains("/v2/example.com/trustkey/app/_trust/tuf/"),
        "{line}"
    );
}

#[test]
fn remote_keys_are_ecdsa_and_new_until_root_names_them() {
    let h = Harness::start();
    let client = h.client();
    let gun = "example.com/keys/fresh";
    let first = client.remote_key(gun, "timestamp").unwrap();
    assert_eq!(first.keytype, "ecdsa");
    let der = base64::engine::general_purpose::STANDARD
        .decode(&first.public_b64)
        .unwrap();
    p256::PublicKey::from_public_key_der(&der).expect("a P-256 SubjectPublicKeyInfo");
    let raw: serde_json::Value = serde_json::from_slice(&first.raw).unwrap();
    assert_eq!(raw["keyval"]["public"], first.public_b64.as_str());
    assert_eq!(raw["keyval"]["private"], serde_json::Value::Null);

    // notary-server (GetOrCreateTimestampKey) makes a new key on every call until a root
    // naming one is published; from then on it returns that key (checked in the test above).
    // So `publish` must fetch the key once and put exactly that key into root.json.
    let second = client.remote_key(gun, "timestamp").unwrap();
    assert_eq!(second.keytype, "ecdsa");
    assert_ne!(first.public_b64, second.public_b64);
    assert_eq!(client.remote_key(gun, "snapshot").unwrap().keytype, "ecdsa");

    // Only timestamp and snapshot keys are held by the server.
    let err = client.remote_key(gun, "targets").unwrap_err();
    assert_eq!(err.exit_code(), trustkey::error::exit::NOT_FOUND);
    let (kind, line, _) = server_error(err);
    assert_eq!(kind, ServerFailure::Status(404), "{line}");
}

#[test]
fn garbage_upload_is_rejected_with_the_servers_message() {
    let h = Harness::start();
    let client = h.client();
    let err = client
        .publish(
            "example.com/garbage",
            &[("root", b"this is not json".as_slice())],
        )
        .unwrap_err();
    assert_eq!(err.exit_code(), trustkey::error::exit::FAILURE);
    let (kind, line, _) = server_error(err);
    assert_eq!(kind, ServerFailure::Status(400), "{line}");
    assert!(
        line.contains("JSON sent by the client could not be parsed by the server"),
        "{line}"
    );
    assert!(line.contains(&h.url), "{line}");
    assert!(!line.contains('\n'), "{line}");

    // A delegation role keeps its slash in the part's file name, and the server takes it as
    // the role (the JSON is what it rejects here, not the role name).
    let err = client
        .publish(
            "example.com/garbage",
            &[("targets/releases", b"{".as_slice())],
        )
        .unwrap_err();
    let (_, line, _) = server_error(err);
    assert!(line.contains("MALFORMED_JSON"), "{line}");

    // Valid JSON that is not signed metadata fails validation instead.
    let err = client
        .publish(
            "example.com/garbage",
            &[(
                "root",
                br#"{"signed":{"_type":"Root","version":1},"signatures":[]}"#.as_slice(),
            )],
        )
        .unwrap_err();
    let (kind, line, _) = server_error(err);
    assert_eq!(kind, ServerFailure::Status(400), "{line}");
    assert!(
        line.contains("INVALID_UPDATE") || line.contains("invalid"),
        "{line}"
    );
}

#[test]
fn server_down_is_unreachable() {
    // A port that was free a moment ago and has nothing listening now.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("https://127.0.0.1:{port}");
    let client = NotaryServer::new(&url, None).unwrap();
    let (kind, line, hint) =
        server_error(client.get_metadata("example.com/a", "root").unwrap_err());
    assert_eq!(kind, ServerFailure::Unreachable, "{line}");
    assert!(line.contains(&url), "{line}");
    assert!(line.contains("connection refused"), "{line}");
    assert!(hint.unwrap().contains("--server"));
}

#[test]
fn wrong_ca_is_a_tls_error() {
    let h = Harness::start();
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.crt");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=some other CA",
            "-keyout",
        ])
        .arg(other.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    check("openssl req", out);

    for client in [
        NotaryServer::new(&h.url, Some(&other_ca)).unwrap(),
        // Without --tlscacert, the public roots don't know the test CA either.
        NotaryServer::new(&h.url, None).unwrap(),
    ] {
        let err = client
            .remote_key("example.com/tls", "timestamp")
            .unwrap_err();
        let (kind, line, hint) = server_error(err);
        assert_eq!(kind, ServerFailure::Tls, "{line}");
        assert!(line.contains("TLS: "), "{line}");
        assert!(line.contains(&h.url), "{line}");
        assert!(hint.unwrap().contains("--tlscacert"));
    }

    // The right CA works, also when named by a host name the certificate carries.
    let port = h.url.rsplit(':').next().unwrap();
    let by_name = NotaryServer::new(&format!("https://localhost:{port}/"), Some(&h.ca)).unwrap();
    assert_eq!(
        by_name.get_metadata("example.com/tls", "root").unwrap(),
        None
    );

    // A CA file that isn't one is a usage error, found before any request.
    let bogus = other.path().join("bogus.pem");
    std::fs::write(&bogus, b"hello").unwrap();
    let err = NotaryServer::new(&h.url, Some(&bogus)).unwrap_err();
    assert!(err.to_string().contains("bogus.pem"), "{err}");
    let err = NotaryServer::new(&h.url, Some(&other.path().join("missing.pem"))).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

/// A plain-HTTP server on 127.0.0.1 for `conns` connections: it answers each request with
/// `head`, then (if `endless`) streams bytes until the client hangs up, or closes. Every loop
/// ends by `cap` at the latest. Returns its URL, the thread and the count of body bytes sent.
fn endless_server(
    head: &'static str,
    endless: bool,
    conns: usize,
    cap: Duration,
) -> (String, JoinHandle<()>, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + cap;
        listener.set_nonblocking(true).unwrap();
        let chunk = vec![b'{'; 64 * 1024];
        let mut served = 0;
        while served < conns && Instant::now() < deadline {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                Err(e) => panic!("accept: {e}"),
            };
            served += 1;
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream
                .set_write_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            // Request line and headers, up to the blank line.
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let mut stream = stream;
            if stream.write_all(head.as_bytes()).is_err() {
                continue;
            }
            while endless && Instant::now() < deadline {
                if stream.write_all(&chunk).is_err() {
                    break; // the client gave up: what we want
                }
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
    });
    (url, thread, sent)
}

#[test]
fn endless_response_hits_the_size_limit() {
    let cap = Duration::from_secs(60);
    let started = Instant::now();
    // No Content-Length: the body ends only when the connection closes (never, here).
    let (url, thread, sent) = endless_server(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        true,
        2,
        cap,
    );
    let client = NotaryServer::new(&url, None).unwrap();

    let (kind, line, _) = server_error(client.get_metadata("example.com/big", "root").unwrap_err());
    assert_eq!(kind, ServerFailure::TooLarge, "{line}");
    assert!(line.contains("64 MiB"), "{line}");
    assert!(line.contains(&url), "{line}");
    let after_metadata = sent.load(Ordering::Relaxed);
    assert!(after_metadata >= METADATA_LIMIT, "sent {after_metadata}");

    let (kind, line, _) = server_error(
        client
            .remote_key("example.com/big", "timestamp")
            .unwrap_err(),
    );
    assert_eq!(kind, ServerFailure::TooLarge, "{line}");
    assert!(line.contains("64 KiB"), "{line}");
    const { assert!(KEY_LIMIT < METADATA_LIMIT) };

    drop(client);
    assert!(
        started.elapsed() < cap,
        "the client should give up long before the cap"
    );
    thread.join().unwrap();
}

#[test]
fn huge_content_length_is_refused_up_front() {
    let (url, thread, _) = endless_server(
        "HTTP/1.1 200 OK\r\nContent-Length: 107374182400\r\nConnection: close\r\n\r\n",
        true,
        1,
        Duration::from_secs(20),
    );
    let client = NotaryServer::new(&url, None).unwrap();
    let started = Instant::now();
    let (kind, line, _) = server_error(client.get_metadata("example.com/big", "root").unwrap_err());
    assert_eq!(kind, ServerFailure::TooLarge, "{line}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(client);
    thread.join().unwrap();
}

#[test]
fn http_errors_show_the_status_and_body() {
    let (url, thread, _) = endless_server(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nupstream\nis down\n",
        false,
        1,
        Duration::from_secs(20),
    );
    let client = NotaryServer::new(&url, None).unwrap();
    let (kind, line, _) = server_error(client.get_metadata("example.com/a", "root").unwrap_err());
    assert_eq!(kind, ServerFailure::Status(502), "{line}");
    assert!(
        line.starts_with(&format!("notary server {url}/v2/example.com/a/")),
        "{line}"
    );
    assert!(
        line.contains("HTTP 502 Bad Gateway: upstream is down"),
        "{line}"
    );
    drop(client);
    thread.join().unwrap();
}

#[test]
fn two_harnesses_run_side_by_side() {
    let a = Harness::start();
    let b = Harness::start();
    assert_ne!(a.url, b.url);
    let ka = a
        .client()
        .remote_key("example.com/both", "timestamp")
        .unwrap();
    let kb = b
        .client()
        .remote_key("example.com/both", "timestamp")
        .unwrap();
    assert_ne!(
        ka.public_b64, kb.public_b64,
        "separate signers hold separate keys"
    );
    // Each CA vouches only for its own server.
    let cross = NotaryServer::new(&a.url, Some(&b.ca)).unwrap();
    let (kind, _, _) = server_error(cross.get_metadata("example.com/both", "root").unwrap_err());
    assert_eq!(kind, ServerFailure::Tls);

    // stop is idempotent and really stops.
    let stop = |dir: &Path| {
        Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(dir)
            .output()
            .unwrap()
    };
    check("stop", stop(a.dir.path()));
    check("stop again", stop(a.dir.path()));
    let (kind, line, _) = server_error(
        a.client()
            .get_metadata("example.com/both", "root")
            .unwrap_err(),
    );
    assert_eq!(kind, ServerFailure::Unreachable, "{line}");
    assert!(b
        .client()
        .get_metadata("example.com/both", "root")
        .unwrap()
        .is_none());
}

#[test]
fn silent_server_times_out() {
    // Accepts the connection and says nothing; hangs up after 2 s.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        drop(stream);
    });
    let timeouts = Timeouts {
        read: Duration::from_millis(500),
        ..Timeouts::default()
    };
    let client = NotaryServer::with_timeouts(&url, None, timeouts).unwrap();
    let started = Instant::now();
    let (kind, line, hint) =
        server_error(client.get_metadata("example.com/a", "root").unwrap_err());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kind, ServerFailure::Timeout, "{line}");
    assert!(line.contains("timed out"), "{line}");
    assert!(line.contains(&url), "{line}");
    assert!(hint.is_some());
    thread.join().unwrap();
}
