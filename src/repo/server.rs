//! A blocking client for notary-server's HTTP API (Notary v1 / Docker Content Trust).
//!
//! TLS is rustls with the `ring` provider; certificates are always verified. With
//! `--tlscacert FILE` the certificates in FILE are the only trust roots (as the notary client
//! does); without it, Mozilla's roots (webpki-roots) are used. Every response body is read
//! with a size limit, and every request has connect, per-read and overall timeouts.

use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use percent_encoding::utf8_percent_encode;
use ureq::http::{Response, StatusCode};
use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq::{Agent, Body};
use zeroize::Zeroizing;

use crate::error::{Error, Result, ServerFailure};

mod auth;
mod failure;
mod files;
mod url;

use failure::error_codes;
pub(crate) use failure::status_reason;
use failure::transport_error;
pub use files::{Fetched, FileServer};
pub use url::redact_url;
use url::{check_name, normalize_base, resolve_location, scheme_and_host, PATH};

/// Time allowed to open the TCP connection (and resolve the name).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence allowed on one read or write once connected.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for one whole request, so a server that trickles bytes cannot stall us forever.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest metadata file accepted (root, targets, snapshot, timestamp, delegations).
pub const METADATA_LIMIT: u64 = 64 * 1024 * 1024;
/// Largest key response accepted (a key is a few hundred bytes).
pub const KEY_LIMIT: u64 = 64 * 1024;
/// How much of an error or acknowledgement body is read.
pub const MESSAGE_LIMIT: u64 = 64 * 1024;

/// Time limits for every request; `Timeouts::default()` uses the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Name resolution and TCP connect (each).
    pub connect: Duration,
    /// Longest silence on one read or write.
    pub read: Duration,
    /// One whole request, body included.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            read: READ_TIMEOUT,
            total: TOTAL_TIMEOUT,
        }
    }
}

/// A key the server holds (timestamp, and snapshot when the server signs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKey {
    /// `ecdsa` for notary-server configured as in our harness and in Docker Hub.
    pub keytype: String,
    /// `keyval.public`: base64 of the DER SubjectPublicKeyInfo.
    pub public_b64: String,
    /// The response exactly as the server sent it.
    pub raw: Vec<u8>,
}

/// How many redirects one request follows (each within the same host, never from https to
/// http).
pub const MAX_REDIRECTS: usize = 5;

/// A notary-server at a base URL (`https://notary.example.com`).
pub struct NotaryServer {
    /// Where requests go: the base URL without userinfo (ureq sends none from the URL).
    base: String,
    /// The base URL as messages show it: userinfo (`alice:pass@`) redacted to `***@`.
    shown: String,
    agent: Agent,
    timeouts: Timeouts,
    /// The `Authorization` header the last challenge was answered with (a bearer token or
    /// basic credentials), sent with every later request; never shown.
    authorization: Mutex<Option<Zeroizing<String>>>,
}

impl std::fmt::Debug for NotaryServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotaryServer")
            .field("base", &self.shown)
            .finish_non_exhaustive()
    }
}

impl NotaryServer {
    /// `url` is the server's base URL (`https://` is assumed when no scheme is given);
    /// `tls_ca` a PEM file whose certificates become the only trust roots.
    pub fn new(url: &str, tls_ca: Option<&Path>) -> Result<Self> {
        Self::with_timeouts(url, tls_ca, Timeouts::default())
    }

    /// As [`NotaryServer::new`], with other time limits.
    pub fn with_timeouts(url: &str, tls_ca: Option<&Path>, timeouts: Timeouts) -> Result<Self> {
        Self::with_client_cert(url, tls_ca, None, timeouts)
    }

    /// As [`NotaryServer::with_timeouts`], presenting a client certificate in the TLS
    /// handshake (`--tlscert/--tlskey`), for servers (or proxies) that require one.
    pub fn with_client_cert(
        url: &str,
        tls_ca: Option<&Path>,
        client: Option<&ClientCertFiles>,
        timeouts: Timeouts,
    ) -> Result<Self> {
        let (base, shown) = normalize_base(url)?;
        let agent = agent(tls_ca, client, timeouts)?;
        Ok(NotaryServer {
            base,
            shown,
            agent,
            timeouts,
            authorization: Mutex::new(None),
        })
    }

    /// The base URL as messages and the config show it: without a trailing slash, userinfo
    /// redacted (`https://***@host`).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// For a server reached over plain `http://`, the warning to show once: nothing it
    /// sends is protected in transit (metadata is still verified by its signatures, but the
    /// uploads, keys and errors are not).
    pub fn plain_http_warning(&self) -> Option<String> {
        self.base.starts_with("http://").then(|| {
            format!(
                "warning: {} is plain HTTP: anyone on the network can read and change what \
                 trustkey and the server exchange; use https://",
                self.shown
            )
        })
    }

    /// `url` (a request URL under `base`) as messages show it.
    fn show(&self, url: &str) -> String {
        match url.strip_prefix(&self.base) {
            Some(rest) => format!("{}{rest}", self.shown),
            None => redact_url(url),
        }
    }

    /// GET `url`, following at most [`MAX_REDIRECTS`] redirects, each within the same host
    /// and never from https to http; returns the final URL and its response.
    fn get(&self, url: &str) -> Result<(String, Response<Body>)> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send_authorized(&current, &|auth| {
                let mut req = self.agent.get(&current);
                if let Some(auth) = auth {
                    req = req.header("Authorization", auth);
                }
                req.call()
            })?;
            match self.redirect(&current, &resp)? {
                Some(next) => current = next,
                None => return Ok((current, resp)),
            }
        }
        Err(Error::Server {
            url: self.show(url),
            kind: ServerFailure::Redirect,
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// Where a 3xx response with a `Location` sends the request, once that is allowed: the
    /// same host, and https only to https.
    fn redirect(&self, url: &str, resp: &Response<Body>) -> Result<Option<String>> {
        next_hop(&self.show(url), url, resp)
    }

    /// `GET /v2/<gun>/_trust/tuf/<role>.key`: the server-held public key of `role`
    /// (`timestamp` or `snapshot`). Until a root.json naming one of its keys is published,
    /// notary-server creates a *new* key on every call; afterwards it returns that key. So
    /// fetch it once, put that key into root, and publish.
    pub fn remote_key(&self, gun: &str, role: &str) -> Result<RemoteKey> {
        let url = self.tuf_url(gun, &format!("{role}.key"))?;
        let (url, resp) = self.get(&url)?;
        let raw = self.read_ok(&url, resp, KEY_LIMIT)?;
        let (keytype, public_b64) = parse_key(&raw).map_err(|reason| Error::Server {
            url: self.show(&url),
            kind: ServerFailure::BadResponse,
            reason,
        })?;
        Ok(RemoteKey {
            keytype,
            public_b64,
            raw,
        })
    }

    /// `GET /v2/<gun>/_trust/tuf/<name>.json`: the metadata bytes exactly as stored, or
    /// `None` when the server has no such file (404). `name` is a role (`root`), a
    /// checksummed name (`snapshot.<sha256 hex>`) or a versioned one (`3.root`).
    pub fn get_metadata(&self, gun: &str, name: &str) -> Result<Option<Vec<u8>>> {
        self.get_metadata_within(gun, name, METADATA_LIMIT)
    }

    /// As [`get_metadata`](Self::get_metadata), reading at most `limit` bytes of the body
    /// (and never more than [`METADATA_LIMIT`]): a longer body is a `ServerFailure::TooLarge`
    /// error, found without reading past the limit.
    pub fn get_metadata_within(
        &self,
        gun: &str,
        name: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>> {
        let url = self.tuf_url(gun, &format!("{name}.json"))?;
        let (url, resp) = self.get(&url)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        self.read_ok(&url, resp, limit.min(METADATA_LIMIT))
            .map(Some)
    }

    /// `POST /v2/<gun>/_trust/tuf/`: uploads every file in one request, which the server
    /// accepts or rejects as a whole. `files` holds (role name, metadata bytes).
    pub fn publish(&self, gun: &str, files: &[(&str, &[u8])]) -> Result<()> {
        if files.is_empty() {
            return Err(Error::Usage("nothing to publish".into()));
        }
        let url = self.tuf_url(gun, "")?;
        let (boundary, body) = multipart(files)?;
        let resp = self.send_authorized(&url, &|auth| {
            let mut req = self.agent.post(&url).header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            );
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            req.send(&body[..])
        })?;
        // An upload is not sent again elsewhere: a redirect is refused, saying where to.
        if let Some(to) = self.redirect(&url, &resp)? {
            return Err(Error::Server {
                url: self.show(&url),
                kind: ServerFailure::Redirect,
                reason: format!(
                    "redirected to {}: uploads are not redirected; use that URL",
                    redact_url(&to)
                ),
            });
        }
        self.read_ok(&url, resp, MESSAGE_LIMIT).map(drop)
    }

    /// `DELETE /v2/<gun>/_trust/tuf/`: the server forgets every metadata file of the GUN (as
    /// `notary delete GUN --remote`).
    pub fn delete_repository(&self, gun: &str) -> Result<()> {
        let url = self.tuf_url(gun, "")?;
        let resp = self.send_authorized(&url, &|auth| {
            let mut req = self.agent.delete(&url);
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            req.call()
        })?;
        self.read_ok(&url, resp, MESSAGE_LIMIT).map(drop)
    }

    fn tuf_url(&self, gun: &str, file: &str) -> Result<String> {
        check_name("GUN", gun)?;
        if !file.is_empty() {
            check_name("metadata name", file)?;
        }
        Ok(format!(
            "{}/v2/{}/_trust/tuf/{}",
            self.base,
            utf8_percent_encode(gun, PATH),
            utf8_percent_encode(file, PATH)
        ))
    }

    fn send(
        &self,
        url: &str,
        result: std::result::Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>> {
        result.map_err(|e| transport_error(&self.show(url), &self.timeouts, e))
    }

    /// Reads a 2xx body within `limit`; any other status becomes an error carrying the
    /// server's message.
    fn read_ok(&self, url: &str, mut resp: Response<Body>, limit: u64) -> Result<Vec<u8>> {
        let status = resp.status();
        if !status.is_success() {
            let mut body = Vec::new();
            // Best effort: the status is the error; the body only explains it.
            let _ = resp
                .body_mut()
                .with_config()
                .reader()
                .take(MESSAGE_LIMIT)
                .read_to_end(&mut body);
            let reason = status_reason(status, &body);
            // notary-server's answer to an update older than what it has: another publisher
            // got there first; a publish built on the newer version is taken.
            if status.as_u16() == 400 && error_codes(&body).iter().any(|c| c == "VERSION") {
                return Err(Error::Server {
                    url: self.show(url),
                    kind: ServerFailure::Conflict,
                    reason: format!(
                        "the server has a newer version of the repository than this publish \
                         built on (another publisher published meanwhile): {reason}"
                    ),
                });
            }
            return Err(Error::Server {
                url: self.show(url),
                kind: ServerFailure::Status(status.as_u16()),
                reason,
            });
        }
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| transport_error(&self.show(url), &self.timeouts, e))
    }
}

/// The HTTP agent of every request: rustls with `tls_ca`'s certificates as the only trust
/// roots (else Mozilla's), the time limits, redirects left to [`next_hop`].
fn agent(
    tls_ca: Option<&Path>,
    client: Option<&ClientCertFiles>,
    timeouts: Timeouts,
) -> Result<Agent> {
    let roots = match tls_ca {
        Some(path) => RootCerts::from(read_ca_file(path)?),
        None => RootCerts::WebPki,
    };
    let client_cert = client.map(read_client_cert).transpose()?;
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(roots)
        .client_cert(client_cert)
        .build();
    let config = Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        // Redirects are followed by the caller, each one checked first (`next_hop`).
        .max_redirects(0)
        .timeout_connect(Some(timeouts.connect))
        .timeout_resolve(Some(timeouts.connect))
        .timeout_per_read(Some(timeouts.read))
        .timeout_per_write(Some(timeouts.read))
        .timeout_global(Some(timeouts.total))
        .user_agent(concat!("trustkey/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.into())
}

/// Where a 3xx response with a `Location` sends the request to `url` (shown as `shown`),
/// once that is allowed: the same host, and https only to https.
fn next_hop(shown: &str, url: &str, resp: &Response<Body>) -> Result<Option<String>> {
    if !resp.status().is_redirection() {
        return Ok(None);
    }
    let Some(location) = resp
        .headers()
        .get(ureq::http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let refuse = |to: &str, why: &str| Error::Server {
        url: shown.to_string(),
        kind: ServerFailure::Redirect,
        reason: format!("redirected to {}: refused ({why})", redact_url(to)),
    };
    let next = resolve_location(url, location).ok_or_else(|| refuse(location, "not a URL"))?;
    let (from_scheme, from_host) = scheme_and_host(url).unwrap_or_default();
    let Some((to_scheme, to_host)) = scheme_and_host(&next) else {
        return Err(refuse(&next, "not an http or https URL"));
    };
    if from_scheme == "https" && to_scheme != "https" {
        return Err(refuse(&next, "from https to http"));
    }
    if !from_host.eq_ignore_ascii_case(&to_host) {
        return Err(refuse(&next, "to another host"));
    }
    Ok(Some(next))
}

/// A client certificate (PEM, with its chain) and its private key (PEM, unencrypted), as
/// `--tlscert FILE --tlskey FILE` name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

fn read_client_cert(files: &ClientCertFiles) -> Result<ClientCert> {
    let certs = read_pem_certs("--tlscert", &files.cert)?;
    let pem = Zeroizing::new(
        std::fs::read(&files.key)
            .map_err(|e| Error::io(format!("reading --tlskey {}", files.key.display()), e))?,
    );
    let key = ureq::tls::parse_pem(&pem)
        .find_map(|item| match item {
            Ok(PemItem::PrivateKey(k)) => Some(k.to_owned()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::Usage(format!(
                "--tlskey {}: no unencrypted PEM private key found",
                files.key.display()
            ))
        })?;
    Ok(ClientCert::new_with_certs(&certs, key))
}

fn read_ca_file(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    read_pem_certs("--tlscacert", path)
}

fn read_pem_certs(flag: &str, path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::io(format!("reading {flag} {}", path.display()), e))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::Usage(format!(
                    "{flag} {}: not a PEM certificate file ({e})",
                    path.display()
                )))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::Usage(format!(
            "{flag} {}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

pub(crate) fn parse_key(raw: &[u8]) -> std::result::Result<(String, String), String> {
    let v: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| format!("key response is not JSON: {e}"))?;
    let keytype = v
        .get("keytype")
        .and_then(|k| k.as_str())
        .ok_or("key response has no \"keytype\"")?;
    let public = v
        .get("keyval")
        .and_then(|k| k.get("public"))
        .and_then(|k| k.as_str())
        .ok_or("key response has no \"keyval\".\"public\"")?;
    if public.is_empty() {
        return Err("key response has an empty public key".into());
    }
    Ok((keytype.to_string(), public.to_string()))
}

/// The body of a multipart/form-data upload: one part per file, field name `files`,
/// file name = role name, as notary's client sends it.
fn multipart(files: &[(&str, &[u8])]) -> Result<(String, Vec<u8>)> {
    for (role, _) in files {
        if role.is_empty() || role.contains(['"', '\\', '\r', '\n']) {
            return Err(Error::Usage(format!("invalid role name {role:?}")));
        }
    }
    loop {
        let boundary = random_boundary()?;
        let needle = boundary.as_bytes();
        if files
            .iter()
            .any(|(_, data)| data.windows(needle.len()).any(|w| w == needle))
        {
            continue; // astronomically unlikely with 128 random bits; pick another
        }
        let size: usize = files.iter().map(|(r, d)| d.len() + r.len() + 160).sum();
        let mut body = Vec::with_capacity(size + boundary.len() + 8);
        for (role, data) in files {
            body.extend_from_slice(b"--");
            body.extend_from_slice(needle);
            body.extend_from_slice(
                b"\r\nContent-Disposition: form-data; name=\"files\"; filename=\"",
            );
            body.extend_from_slice(role.as_bytes());
            body.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream\r\n\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(needle);
        body.extend_from_slice(b"--\r\n");
        return Ok((boundary, body));
    }
}

fn random_boundary() -> Result<String> {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::Crypto(format!("no randomness for the upload boundary: {e}")))?;
    Ok(format!("trustkey-{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Credentials in a server URL never reach a message: requests go without them (ureq
    /// sends none from the URL), messages show `***@`.
    #[test]
    fn userinfo_is_redacted() {
        let s = NotaryServer::new("http://alice:pa%40ss@127.0.0.1:1/", None).unwrap();
        assert_eq!(s.url(), "http://***@127.0.0.1:1");
        assert_eq!(s.base, "http://127.0.0.1:1");
        assert!(!format!("{s:?}").contains("alice"));
        let e = s.get_metadata("example.com/app", "root").unwrap_err();
        let line = e.to_string();
        assert!(
            line.starts_with("notary server http://***@127.0.0.1:1/v2/"),
            "{line}"
        );
        assert!(
            !line.contains("alice") && !line.contains("pa%40ss"),
            "{line}"
        );
        for bad in ["ftp://bob:secret@host", "https://bob:secret@"] {
            let line = NotaryServer::new(bad, None).unwrap_err().to_string();
            assert!(!line.contains("secret") && line.contains("***@"), "{line}");
        }
        assert_eq!(
            redact_url("https://u:p@h:1/x?q=a@b"),
            "https://***@h:1/x?q=a@b"
        );
        assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
    }

    #[test]
    fn plain_http_is_warned_about() {
        let s = NotaryServer::new("http://n.example.com", None).unwrap();
        assert!(s.plain_http_warning().unwrap().contains("plain HTTP"));
        let s = NotaryServer::new("https://n.example.com", None).unwrap();
        assert_eq!(s.plain_http_warning(), None);
    }

    #[test]
    fn names_are_checked_and_escaped() {
        let s = NotaryServer::new("https://n.example.com", None).unwrap();
        assert_eq!(
            s.tuf_url("docker.io/library/alpine", "root.json").unwrap(),
            "https://n.example.com/v2/docker.io/library/alpine/_trust/tuf/root.json"
        );
        assert_eq!(
            s.tuf_url("a b?c", "targets/x.json").unwrap(),
            "https://n.example.com/v2/a%20b%3Fc/_trust/tuf/targets/x.json"
        );
        for bad in ["", "/abs", "a//b", "a/../b", "a/"] {
            assert!(s.tuf_url(bad, "root.json").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_responses_are_parsed() {
        let raw = br#"{"keytype":"ecdsa","keyval":{"public":"MFkw","private":null}}"#;
        assert_eq!(
            parse_key(raw).unwrap(),
            ("ecdsa".to_string(), "MFkw".to_string())
        );
        assert!(parse_key(b"{}").is_err());
        assert!(parse_key(b"<html>").is_err());
        assert!(parse_key(br#"{"keytype":"ecdsa","keyval":{"public":""}}"#).is_err());
    }

    #[test]
    fn multipart_body_has_one_part_per_role() {
        let (boundary, body) =
            multipart(&[("root", b"{\"a\":1}".as_slice()), ("targets", b"xyz")]).unwrap();
        let text = String::from_utf8(body).unwrap();
        let expected = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"root\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n{{\"a\":1}}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"targets\"\r\n\
             Content-Type: application/octet-stream\r\n\r\nxyz\r\n--{b}--\r\n",
            b = boundary
        );
        assert_eq!(text, expected);
        assert!(multipart(&[("ro\"ot", b"x".as_slice())]).is_err());
    }
}
