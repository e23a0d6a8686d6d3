//! `--tlscert/--tlskey`: a client certificate presented to a server that requires one. The
//! server here is TLS with client authentication (rustls, the notary harness's CA, server and
//! client certificates) serving a notary-layout repository trustkey published to a directory.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::notary_server::NotaryServer;
use common::{run_fails, run_ok, Hsm};

const GUN: &str = "example.com/mtls/app";

const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

/// Serves `repo` (notary's layout) over TLS that requires a client certificate signed by the
/// CA in `certs`; returns the port. Lives as long as the test process.
fn serve_mtls(certs: &Path, repo: PathBuf) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(certs.join("ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(certs.join("server.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(certs.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut line = String::new();
            let mut reader = BufReader::new(&mut tls);
            if reader.read_line(&mut line).is_err() {
                continue; // no client certificate: the handshake failed
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            drop(reader);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let body = path
                .strip_prefix("/v2/")
                .and_then(|p| p.split_once("/_trust/tuf/"))
                .filter(|(g, f)| !g.contains("..") && !f.contains(".."))
                .and_then(|(g, f)| std::fs::read(repo.join(g).join(f)).ok());
            let _ = match body {
                Some(b) => write!(
                    tls,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )
                .and_then(|()| tls.write_all(&b)),
                None => write!(
                    tls,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
            let _ = tls.flush();
        }
    });
    port
}

#[test]
fn a_server_that_requires_a_client_certificate() {
    // The harness makes the CA and the server and client certificates.
    let harness = NotaryServer::start();
    let certs = harness.dir.path();
    let hsm = Hsm::with_root("rootA");
    let file = hsm.path().join("app.bin");
    std::fs::write(&file, b"behind client certificates\n").unwrap();
    let repo = hsm.path().join("repo");
    let tk = |args: &[&str]| run_ok(hsm.trustkey_with(&PASS).args(args));
    tk(&["init", GUN]);
    run_ok(hsm.trustkey_with(&PASS).args(["add", GUN, "v1"]).arg(&file));
    run_ok(
        hsm.trustkey_with(&PASS)
            .args(["publish", GUN, "--repo"])
            .arg(&repo),
    );
    let url = format!("https://127.0.0.1:{}", serve_mtls(certs, repo));
    let ca = certs.join("ca.crt");
    let ca = ca.to_str().unwrap();

    // Without a client certificate the handshake fails: one line, non-zero.
    let (code, err) =
        run_fails(
            hsm.client("c", "a")
                .args(["verify", GUN, "-s", &url, "--tlscacert", ca]),
        );
    assert_ne!(code, 0);
    assert!(err.contains("notary server"), "{err}");

    // With one, the client verifies.
    let out = run_ok(
        hsm.client("c", "b")
            .args(["verify", GUN, "-s", &url, "--tlscacert", ca, "--tlscert"])
            .arg(certs.join("client.crt"))
            .arg("--tlskey")
            .arg(certs.join("client.key")),
    );
    assert!(
        out.contains("verified") && out.contains("1 targets"),
        "{out}"
    );

    // --tlscert without --tlskey is a usage error; a key file without a key is one line.
    let (code, _) = run_fails(
        hsm.client("c", "c")
            .args(["verify", GUN, "-s", &url, "--tlscert"])
            .arg(certs.join("client.crt")),
    );
    assert_eq!(code, 2);
    let (code, err) = run_fails(
        hsm.client("c", "d")
            .args(["verify", GUN, "-s", &url, "--tlscacert", ca, "--tlscert"])
            .arg(certs.join("client.crt"))
            .arg("--tlskey")
            .arg(certs.join("client.crt")),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--tlskey") && err.contains("no unencrypted PEM private key"),
        "{err}"
    );
}
