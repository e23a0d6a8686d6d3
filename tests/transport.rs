//! The notary-server transport against a hostile HTTPS server on loopback (rustls, with a
//! certificate from a test CA made by openssl): redirects from https to http, or to another
//! host, are refused with one line naming both URLs; redirects within the host are followed.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use trustkey::error::ServerFailure;
use trustkey::repo::server::NotaryServer;
use trustkey::Error;

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it, made by openssl.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-sha256",
            "-days",
            "1",
            "-subj",
            "/CN=trustkey transport test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "ca.crt",
        ],
        d,
    );
    openssl(
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "server.key",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-new",
            "-key",
            "server.key",
            "-subj",
            "/CN=localhost",
            "-out",
            "server.csr",
        ],
        d,
    );
    std::fs::write(
        d.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-sha256",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
        d,
    );
    Pki {
        ca: d.join("ca.crt"),
        cert: d.join("server.crt"),
        key: d.join("server.key"),
        _dir: dir,
    }
}

/// An HTTPS server on 127.0.0.1 (port returned) answering each request with the raw HTTP
/// response `answer(path)`; it lives as long as the test process.
fn serve_https(pki: &Pki, answer: impl Fn(&str) -> String + Send + 'static) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pki.key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut reader = BufReader::new(&mut tls);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let _ = tls.write_all(answer(&path).as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    port
}

fn redirect_to(location: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A plain HTTP server on 127.0.0.1 that counts the requests it gets (none must come).
fn counting_http() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let port = common::serve(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        Some(b"{}".to_vec())
    });
    (port, hits)
}

/// The refusal of a redirect: its one line, which names both URLs.
fn refused(e: Error, from: &str, to: &str) -> String {
    let line = e.to_string();
    assert!(
        matches!(
            e,
            Error::Server {
                kind: ServerFailure::Redirect,
                ..
            }
        ),
        "{line}"
    );
    assert!(!line.contains('\n'), "{line}");
    assert!(line.contains(from) && line.contains(to), "{line}");
    line
}

#[test]
fn a_redirect_from_https_to_http_is_refused() {
    let pki = pki();
    let (http_port, hits) = counting_http();
    let to = format!("http://127.0.0.1:{http_port}/v2/example.com/app/_trust/tuf/root.json");
    let target = to.clone();
    let port = serve_https(&pki, move |_| redirect_to(&target));
    let s = NotaryServer::new(&format!("https://127.0.0.1:{port}"), Some(&pki.ca)).unwrap();
    let from = format!("https://127.0.0.1:{port}/v2/example.com/app/_trust/tuf/root.json");
    let line = refused(
        s.get_metadata("example.com/app", "root").unwrap_err(),
        &from,
        &to,
    );
    assert!(line.contains("from https to http"), "{line}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the http URL was fetched");
}

#[test]
fn a_redirect_to_another_host_is_refused() {
    let pki = pki();
    let port = serve_https(&pki, move |path| match path {
        "/elsewhere" => ok("{}"),
        _ => redirect_to(&format!("https://localhost:{}/elsewhere", 0)),
    });
    // The same server under the other name its certificate carries: another host all the
    // same (the port in the Location is not what decides).
    let s = NotaryServer::new(&format!("https://127.0.0.1:{port}"), Some(&pki.ca)).unwrap();
    let line = refused(
        s.remote_key("example.com/app", "timestamp").unwrap_err(),
        &format!("https://127.0.0.1:{port}/v2/example.com/app/_trust/tuf/timestamp.key"),
        "https://localhost:0/elsewhere",
    );
    assert!(line.contains("to another host"), "{line}");
}

#[test]
fn a_redirect_within_the_host_is_followed() {
    let pki = pki();
    let port = serve_https(&pki, |path| match path {
        "/v2/example.com/app/_trust/tuf/root.json" => redirect_to("/moved/root.json"),
        "/moved/root.json" => ok(r#"{"moved":true}"#),
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    });
    let s = NotaryServer::new(&format!("https://127.0.0.1:{port}"), Some(&pki.ca)).unwrap();
    assert_eq!(
        s.get_metadata("example.com/app", "root")
            .unwrap()
            .as_deref(),
        Some(&br#"{"moved":true}"#[..])
    );
}

/// End to end: `verify -s` against a server that redirects to plain HTTP fails with one line
/// (and a hint), naming both URLs, and never asks the HTTP server.
#[test]
fn verify_refuses_a_downgrading_redirect_in_one_line() {
    let pki = pki();
    let (http_port, hits) = counting_http();
    let port = serve_https(&pki, move |path| {
        redirect_to(&format!("http://127.0.0.1:{http_port}{path}"))
    });
    let hsm = common::Hsm::new();
    let (code, err) = common::run_fails(
        hsm.client("clients", "c")
            .arg("-s")
            .arg(format!("https://127.0.0.1:{port}"))
            .arg("--tlscacert")
            .arg(&pki.ca)
            .args(["verify", "example.com/app"]),
    );
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hint:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("https://127.0.0.1:{port}/v2/example.com/app/"))
            && lines[0].contains(&format!("http://127.0.0.1:{http_port}/v2/example.com/app/")),
        "{err}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
