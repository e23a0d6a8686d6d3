//! Registry auth in front of a real notary-server: notary-server's own `auth: token`
//! configuration (docker/distribution's token access controller) with a small token service
//! written here, which checks basic credentials and issues JWTs (ES256) signed by a key whose
//! self-signed certificate is the server's `rootcertbundle`. trustkey publishes and verifies
//! through it with `NOTARY_AUTH` or the Docker config's credentials; a wrong password is exit 3
//! with one line naming the token service; no credential or token is ever printed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine as _;
use common::notary_server::NotaryServer;
use common::{run_ok, Hsm};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery-staple-7";
const ISSUER: &str = "trustkey-test-token-issuer";
const SERVICE: &str = "notary-test";
const GUN: &str = "registry.example.com/team/app";

const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

/// The token service's signing key and its self-signed certificate (the server's
/// `rootcertbundle`), made with openssl.
struct TokenKey {
    key: p256::SecretKey,
    cert: PathBuf,
    /// The certificate's DER, base64: the JWT header's `x5c`.
    x5c: String,
}

fn token_key(dir: &Path) -> TokenKey {
    let key = dir.join("token.key");
    let cert = dir.join("token.crt");
    let der = dir.join("token.der");
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
                "-x509",
                "-new",
                "-sha256",
                "-days",
                "2",
                "-subj",
                "/CN=trustkey test token signer",
                "-key",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    run_ok(
        Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .arg("-out")
            .arg(&der),
    );
    let pem = std::fs::read_to_string(&key).unwrap();
    TokenKey {
        key: p256::SecretKey::from_sec1_pem(&pem).unwrap(),
        cert,
        x5c: B64.encode(std::fs::read(&der).unwrap()),
    }
}

/// What the token service saw and gave out.
#[derive(Default)]
struct Log {
    /// Every token issued (none may appear in trustkey's output).
    tokens: Vec<String>,
    /// Requests refused for bad or missing credentials.
    refused: usize,
    /// The scopes asked for.
    scopes: Vec<String>,
}

/// Serves the token endpoint over TLS (the notary harness's server certificate, trusted
/// through its CA) on `listener`, for as long as the test process lives.
fn serve_tokens(listener: TcpListener, tls_dir: &Path, key: TokenKey, log: Arc<Mutex<Log>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_dir.join("server.crt"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let tls_key = PrivateKeyDer::from_pem_file(tls_dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, tls_key)
    .unwrap();
    let config = Arc::new(config);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let _ = answer(&mut tls, &key, &log);
        }
    });
}

fn answer(tls: &mut (impl Read + Write), key: &TokenKey, log: &Mutex<Log>) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *tls);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut authorization = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    drop(reader);
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let (mut service, mut scopes) = (String::new(), Vec::new());
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "service" => service = v,
            "scope" => scopes.extend(v.split(' ').map(String::from)),
            _ => {}
        }
    }
    let expected = format!("Basic {}", B64.encode(format!("{USER}:{PASSWORD}")));
    let (status, body) = if authorization.as_deref() != Some(expected.as_str()) {
        log.lock().unwrap().refused += 1;
        (
            "401 Unauthorized",
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                .to_string(),
        )
    } else {
        let token = jwt(key, &service, &scopes);
        let mut l = log.lock().unwrap();
        l.tokens.push(token.clone());
        l.scopes.extend(scopes);
        (
            "200 OK",
            serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                .to_string(),
        )
    };
    write!(
        tls,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    tls.flush()
}

/// A JWT as docker/distribution's token access controller verifies it: ES256 over
/// `header.claims`, the signing certificate in `x5c`, the scopes granted as `access`.
fn jwt(key: &TokenKey, service: &str, scopes: &[String]) -> String {
    use p256::ecdsa::signature::Signer as _;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [key.x5c]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": service, "exp": now + 600, "nbf": now - 10,
        "iat": now, "jti": format!("{now}-{}", scopes.len()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let sk = p256::ecdsa::SigningKey::from(&key.key);
    let sig: p256::ecdsa::Signature = sk.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", B64URL.encode(sig.to_bytes()))
}

/// A notary-server behind the token service; the service's log.
struct Setup {
    server: NotaryServer,
    log: Arc<Mutex<Log>>,
    realm: String,
    _keys: tempfile::TempDir,
}

fn setup() -> Setup {
    let keys = tempfile::tempdir().unwrap();
    let key = token_key(keys.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let realm = format!(
        "https://127.0.0.1:{}/token",
        listener.local_addr().unwrap().port()
    );
    let auth = serde_json::json!({
        "type": "token",
        "options": {"realm": realm, "service": SERVICE, "issuer": ISSUER,
                    "rootcertbundle": key.cert.to_str().unwrap()},
    });
    let server = NotaryServer::start_with_auth(Some(&auth.to_string()));
    let log = Arc::new(Mutex::new(Log::default()));
    serve_tokens(listener, server.dir.path(), key, log.clone());
    Setup {
        server,
        log,
        realm,
        _keys: keys,
    }
}

fn notary_auth(user: &str, password: &str) -> String {
    B64.encode(format!("{user}:{password}"))
}

/// Everything a command printed, checked for secrets: the password, NOTARY_AUTH's value, and
/// every token issued so far.
fn assert_no_secret(s: &Setup, out: &Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [
        PASSWORD.to_string(),
        notary_auth(USER, PASSWORD),
        notary_auth(USER, "wrong-password"),
    ] {
        assert!(!text.contains(&secret), "a credential was printed:\n{text}");
    }
    for token in &s.log.lock().unwrap().tokens {
        // Any part of a token (its signature above all) gives it away.
        for part in token.split('.') {
            assert!(!text.contains(part), "a token was printed:\n{text}");
        }
    }
    assert!(
        !text.contains("Bearer ") && !text.contains("Basic "),
        "{text}"
    );
}

fn run(s: &Setup, cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert_no_secret(s, &out);
    out
}

fn ok(s: &Setup, cmd: &mut Command) -> String {
    let out = run(s, cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn publish_and_verify_through_bearer_token_auth() {
    let s = setup();
    let url = s.server.url.clone();
    let ca = s.server.ca.to_str().unwrap().to_string();
    let hsm = Hsm::with_root("rootA");
    let file = hsm.path().join("app.bin");
    std::fs::write(&file, b"signed behind registry auth\n").unwrap();
    let publisher = || {
        let mut c = hsm.trustkey_with(&PASS);
        c.env("NOTARY_AUTH", notary_auth(USER, PASSWORD));
        c
    };

    // No credentials at all: the token service refuses, exit 3, one line.
    let out = run(
        &s,
        hsm.trustkey_with(&PASS)
            .args(["init", GUN, "-s", &url, "--tlscacert", &ca]),
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    ok(
        &s,
        publisher().args(["init", GUN, "-s", &url, "--tlscacert", &ca]),
    );
    ok(&s, publisher().args(["add", GUN, "v1"]).arg(&file));
    let published = ok(&s, publisher().args(["publish", GUN]));
    assert!(published.contains("targets v1"), "{published}");

    // A client: NOTARY_AUTH.
    let mut c = hsm.client("clients", "one");
    c.env("NOTARY_AUTH", notary_auth(USER, PASSWORD));
    let listed = ok(&s, c.args(["list", GUN, "-s", &url, "--tlscacert", &ca]));
    assert!(listed.contains("v1"), "{listed}");

    // A client: the Docker config's credentials for the server, DOCKER_CONFIG-aware;
    // DOCKER_CONTENT_TRUST_SERVER names the server.
    let docker = hsm.path().join("docker-config");
    std::fs::create_dir(&docker).unwrap();
    let host = url.trim_start_matches("https://");
    let config = serde_json::json!({"auths": {
        "https://index.docker.io/v1/": {"auth": notary_auth("someone", "else")},
        format!("https://{host}"): {"auth": notary_auth(USER, PASSWORD)},
    }});
    std::fs::write(docker.join("config.json"), config.to_string()).unwrap();
    let verified = ok(
        &s,
        hsm.client("clients", "two")
            .env("DOCKER_CONFIG", &docker)
            .env("DOCKER_CONTENT_TRUST_SERVER", &url)
            .args(["verify", GUN, "--tlscacert", &ca]),
    );
    assert!(
        verified.contains("verified") && verified.contains("1 targets"),
        "{verified}"
    );

    // A wrong password: exit 3 (authentication), one line naming the token service.
    let out = run(
        &s,
        hsm.client("clients", "three")
            .env("NOTARY_AUTH", notary_auth(USER, "wrong-password"))
            .args(["verify", GUN, "-s", &url, "--tlscacert", &ca]),
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.contains(&s.realm) && first.contains("refused"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| !l.starts_with("hint:")).count(),
        1,
        "{err}"
    );

    // The publisher's second publish reuses nothing it should not: a new change, the same
    // flow (401, token for push, retry).
    ok(&s, publisher().args(["add", GUN, "v2"]).arg(&file));
    ok(&s, publisher().args(["publish", GUN]));
    let listed = ok(
        &s,
        hsm.client("clients", "one")
            .env("NOTARY_AUTH", notary_auth(USER, PASSWORD))
            .args(["list", GUN, "-s", &url, "--tlscacert", &ca]),
    );
    assert!(listed.contains("v2"), "{listed}");

    let log = s.log.lock().unwrap();
    assert!(
        log.refused >= 2,
        "the wrong and the missing credentials were refused"
    );
    assert!(
        log.scopes
            .iter()
            .any(|sc| sc == &format!("repository:{GUN}:push,pull"))
            || log
                .scopes
                .iter()
                .any(|sc| sc.starts_with(&format!("repository:{GUN}:")) && sc.contains("push")),
        "publishing asked for push: {:?}",
        log.scopes
    );
    assert!(!log.tokens.is_empty());
}
