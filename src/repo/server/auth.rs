//! Registry auth in front of notary-server, as the notary client and Docker answer it.
//!
//! A request answered `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…` gets a
//! token from the realm (`GET realm?service=…&scope=…`, with basic credentials when there are
//! any) and is sent once more with `Authorization: Bearer <token>`; a `Basic` challenge is
//! answered with the credentials themselves. Credentials come from `NOTARY_AUTH` (base64 of
//! `user:password`, as notary reads it), else from the Docker config (`$DOCKER_CONFIG` or
//! `~/.docker`, `config.json`, an `auths` entry's `auth`) for the notary-server's host or the
//! registry the repository's name starts with. Credential helpers (`credsStore`,
//! `credHelpers`) are not run.
//!
//! Nothing here ever reaches a message: credentials and tokens are zeroized strings that are
//! only put into request headers; errors name the realm (userinfo redacted) and the status.

use std::io::Read as _;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ureq::http::{header::WWW_AUTHENTICATE, Response, StatusCode};
use ureq::Body;
use zeroize::Zeroizing;

use super::url::{redact_url, scheme_and_host};
use super::{status_reason, NotaryServer, MAX_REDIRECTS, MESSAGE_LIMIT};
use crate::error::ServerFailure;
use crate::{Error, Result};

/// Sends one request, given the `Authorization` header to send (if any).
pub(super) type Attempt<'a> =
    dyn Fn(Option<&str>) -> std::result::Result<Response<Body>, ureq::Error> + 'a;

/// A query value: everything but unreserved characters percent-encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl NotaryServer {
    /// Sends a request (`attempt`) with the authorization answered before; a `401` with a
    /// challenge trustkey can answer is answered and the request sent once more. Any other
    /// response (a second `401` too) is returned as it is.
    pub(super) fn send_authorized(
        &self,
        url: &str,
        attempt: &Attempt<'_>,
    ) -> Result<Response<Body>> {
        let current = self.current_authorization();
        let resp = self.send(url, attempt(current.as_deref().map(String::as_str)))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let values = resp.headers().get_all(WWW_AUTHENTICATE);
        let Some(challenge) = parse_challenges(values.iter().filter_map(|v| v.to_str().ok()))
        else {
            return Ok(resp);
        };
        let header = self.answer(url, &challenge)?;
        let resp = self.send(url, attempt(Some(header.as_str())))?;
        if let Ok(mut slot) = self.authorization.lock() {
            *slot = Some(header);
        }
        Ok(resp)
    }

    fn current_authorization(&self) -> Option<Zeroizing<String>> {
        self.authorization.lock().ok().and_then(|a| a.clone())
    }

    /// `host[:port]` of the server, as Docker keys its credentials.
    fn host_port(&self) -> &str {
        self.base.split_once("://").map_or(&self.base, |(_, r)| r)
    }

    /// The `Authorization` header that answers `challenge`.
    fn answer(&self, url: &str, challenge: &Challenge) -> Result<Zeroizing<String>> {
        let creds = credentials(self.host_port(), challenge.repository())?;
        match challenge {
            Challenge::Basic => match creds {
                Some(c) => Ok(c.basic_header()),
                None => Err(Error::Server {
                    url: self.show(url),
                    kind: ServerFailure::Status(401),
                    reason: "HTTP 401 Unauthorized: the server asks for a user name and                              password, and none was found"
                        .into(),
                }),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let token = self.fetch_token(url, realm, service, scope, creds.as_ref())?;
                Ok(Zeroizing::new(format!("Bearer {}", *token)))
            }
        }
    }

    /// A token from the token service at `realm` for `service` and `scope`, asked with the
    /// credentials (anonymously without). The request follows redirects as every other does
    /// (the same host, never from https to http), trusts the same certificates, and is
    /// refused over plain HTTP when the server itself is reached over HTTPS.
    fn fetch_token(
        &self,
        url: &str,
        realm: &str,
        service: &Option<String>,
        scope: &Option<String>,
        creds: Option<&Credentials>,
    ) -> Result<Zeroizing<String>> {
        let shown_realm = redact_url(realm);
        let fail = |kind, reason: String| Error::Server {
            url: self.show(url),
            kind,
            reason,
        };
        let Some((scheme, _)) = scheme_and_host(realm) else {
            return Err(fail(
                ServerFailure::BadResponse,
                format!(
                    "the token service {shown_realm:?} named by the server is not an http(s) URL"
                ),
            ));
        };
        if scheme == "http" && self.base.starts_with("https://") {
            return Err(fail(
                ServerFailure::Redirect,
                format!(
                    "the token service {shown_realm} is plain HTTP: refused (credentials and                      tokens are not sent from https to http)"
                ),
            ));
        }
        let mut query = Vec::new();
        for (k, v) in [("service", service), ("scope", scope)] {
            if let Some(v) = v {
                query.push(format!("{k}={}", utf8_percent_encode(v, QUERY)));
            }
        }
        let mut current = realm.to_string();
        if !query.is_empty() {
            let sep = if realm.contains('?') { '&' } else { '?' };
            current = format!("{realm}{sep}{}", query.join("&"));
        }
        let basic = creds.map(Credentials::basic_header);
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.agent.get(&current);
            if let Some(b) = &basic {
                req = req.header("Authorization", b.as_str());
            }
            let mut resp = req
                .call()
                .map_err(|e| super::transport_error(&redact_url(&current), &self.timeouts, e))?;
            if let Some(next) = self.redirect(&current, &resp)? {
                current = next;
                continue;
            }
            let status = resp.status();
            let mut body = Zeroizing::new(Vec::new());
            let read = resp
                .body_mut()
                .with_config()
                .reader()
                .take(MESSAGE_LIMIT)
                .read_to_end(&mut body);
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let whose = creds.map_or("no credentials were found (set NOTARY_AUTH or run                                           `docker login`)".to_string(), |c| {
                    format!("the credentials from {} were refused", c.source)
                });
                return Err(fail(
                    ServerFailure::Status(status.as_u16()),
                    format!(
                        "the token service {shown_realm} answered HTTP {}: {whose}",
                        status.as_u16()
                    ),
                ));
            }
            if !status.is_success() {
                return Err(fail(
                    ServerFailure::Status(status.as_u16()),
                    format!(
                        "the token service {shown_realm}: {}",
                        status_reason(status, &body)
                    ),
                ));
            }
            read.map_err(|e| {
                fail(
                    ServerFailure::Protocol,
                    format!("the token service {shown_realm}: {e}"),
                )
            })?;
            return token_of(&body).ok_or_else(|| {
                fail(
                    ServerFailure::BadResponse,
                    format!("the token service {shown_realm} sent no token"),
                )
            });
        }
        Err(fail(
            ServerFailure::Redirect,
            format!("the token service {shown_realm}: more than {MAX_REDIRECTS} redirects"),
        ))
    }
}

/// A user name and password for basic auth; the password is zeroized when dropped.
pub(super) struct Credentials {
    user: Zeroizing<String>,
    password: Zeroizing<String>,
    /// Where they came from, for messages (`NOTARY_AUTH`, `/home/u/.docker/config.json`).
    pub(super) source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// `base64(user:password)`, as Docker stores it and as `NOTARY_AUTH` holds it.
    fn from_b64(encoded: &str, source: &str) -> Result<Self> {
        let bad = || {
            Error::Usage(format!(
                "{source}: not base64 of user:password (the credentials are not shown)"
            ))
        };
        let raw = Zeroizing::new(B64.decode(encoded.trim().as_bytes()).map_err(|_| bad())?);
        let text = std::str::from_utf8(&raw).map_err(|_| bad())?;
        let (user, password) = text.split_once(':').ok_or_else(bad)?;
        Ok(Credentials {
            user: Zeroizing::new(user.to_string()),
            password: Zeroizing::new(password.to_string()),
            source: source.to_string(),
        })
    }

    /// The `Authorization` header value for basic auth.
    pub(super) fn basic_header(&self) -> Zeroizing<String> {
        let joined = Zeroizing::new(format!("{}:{}", *self.user, *self.password));
        Zeroizing::new(format!("Basic {}", B64.encode(joined.as_bytes())))
    }
}

/// The credentials for a notary-server at `server_host` (`host[:port]`) serving `repository`
/// (a GUN, from the challenge's scope): `NOTARY_AUTH`, else the Docker config's entry for
/// the server's host, else for the registry the repository's name starts with.
pub(super) fn credentials(
    server_host: &str,
    repository: Option<&str>,
) -> Result<Option<Credentials>> {
    if let Some(v) = std::env::var_os("NOTARY_AUTH") {
        let v = Zeroizing::new(v.to_string_lossy().into_owned());
        if !v.trim().is_empty() {
            return Credentials::from_b64(&v, "NOTARY_AUTH").map(Some);
        }
    }
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    let source = path.display().to_string();
    let config: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| Error::Usage(format!("{source}: not JSON (its contents are not shown)")))?;
    let Some(auths) = config.get("auths").and_then(|a| a.as_object()) else {
        return Ok(None);
    };
    let mut wanted = vec![server_host.to_ascii_lowercase()];
    if let Some(registry) = repository.and_then(registry_of) {
        wanted.push(registry);
    }
    for want in &wanted {
        for (key, entry) in auths {
            if registry_key(key) != *want {
                continue;
            }
            if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
                if !auth.is_empty() {
                    return Credentials::from_b64(auth, &source).map(Some);
                }
            }
        }
    }
    Ok(None)
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

/// An `auths` key as `host[:port]`, lowercase: `https://index.docker.io/v1/` ->
/// `index.docker.io`.
fn registry_key(key: &str) -> String {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    rest.split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The registry a repository's name starts with (`registry.example.com:5000/app` ->
/// `registry.example.com:5000`), as Docker tells a registry host from a path: it has a dot or
/// a port, or is `localhost`. Docker Hub's names are stored under `index.docker.io`.
fn registry_of(repository: &str) -> Option<String> {
    let (first, _) = repository.split_once('/')?;
    let first = first.to_ascii_lowercase();
    if !(first.contains('.') || first.contains(':') || first == "localhost") {
        return None;
    }
    Some(match first.as_str() {
        "docker.io" | "registry-1.docker.io" => "index.docker.io".to_string(),
        _ => first,
    })
}

/// A `WWW-Authenticate` challenge trustkey answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

impl Challenge {
    /// The repository the scope names (`repository:<name>:push,pull`).
    pub(super) fn repository(&self) -> Option<&str> {
        match self {
            Challenge::Bearer {
                scope: Some(scope), ..
            } => {
                let rest = scope.strip_prefix("repository:")?;
                rest.rsplit_once(':').map(|(name, _)| name)
            }
            _ => None,
        }
    }
}

/// The first challenge trustkey can answer among `WWW-Authenticate` header values (Bearer
/// before Basic).
pub(super) fn parse_challenges<'a>(values: impl Iterator<Item = &'a str>) -> Option<Challenge> {
    let mut basic = false;
    for v in values {
        let v = v.trim();
        let (scheme, params) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let params = auth_params(params);
            let get = |k: &str| {
                params
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            if let Some(realm) = get("realm").filter(|r| !r.is_empty()) {
                return Some(Challenge::Bearer {
                    realm,
                    service: get("service"),
                    scope: get("scope"),
                });
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            basic = true;
        }
    }
    basic.then_some(Challenge::Basic)
}

/// `realm="https://a/token",service="notary",scope="repository:x:pull"` as (name, value)
/// pairs; values may be quoted (with `\` escapes) or bare tokens.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' || c.is_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            return out;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek() != Some(&'=') {
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

/// The token of a token service's JSON answer (`token`, or OAuth2's `access_token`).
pub(super) fn token_of(body: &[u8]) -> Option<Zeroizing<String>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let t = v
        .get("token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .or_else(|| v.get("access_token").and_then(|t| t.as_str()))?;
    // A header value: printable ASCII only.
    (!t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| Zeroizing::new(t.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenges(
            [r#"Bearer realm="https://auth.example.com/token",service="notary",scope="repository:docker.io/a/b:push,pull""#]
                .into_iter(),
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("notary".into()),
                scope: Some("repository:docker.io/a/b:push,pull".into()),
            }
        );
        assert_eq!(c.repository(), Some("docker.io/a/b"));
        assert_eq!(
            parse_challenges([r#"Basic realm="x""#].into_iter()),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenges(["Negotiate"].into_iter()), None);
        assert_eq!(parse_challenges(["Bearer service=x"].into_iter()), None);
        let c = parse_challenges([r#"bearer realm=https://a/t, service = "s\"q""#].into_iter());
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://a/t".into(),
                service: Some("s\"q".into()),
                scope: None
            })
        );
    }

    #[test]
    fn registries_and_keys() {
        assert_eq!(
            registry_key("https://index.docker.io/v1/"),
            "index.docker.io"
        );
        assert_eq!(
            registry_key("Notary.Example.com:4443"),
            "notary.example.com:4443"
        );
        assert_eq!(
            registry_of("docker.io/library/alpine").as_deref(),
            Some("index.docker.io")
        );
        assert_eq!(
            registry_of("localhost:5000/a").as_deref(),
            Some("localhost:5000")
        );
        assert_eq!(registry_of("library/alpine"), None);
    }

    #[test]
    fn credentials_decode_and_never_show() {
        let c = Credentials::from_b64(&B64.encode("alice:s3cret:x"), "NOTARY_AUTH").unwrap();
        assert_eq!(*c.password, "s3cret:x");
        assert!(!format!("{c:?}").contains("s3cret"));
        let err = Credentials::from_b64("!!", "NOTARY_AUTH").unwrap_err();
        assert!(err.to_string().contains("NOTARY_AUTH"));
        let err = Credentials::from_b64(&B64.encode("nocolon"), "X").unwrap_err();
        assert!(!err.to_string().contains("nocolon"));
        assert_eq!(
            token_of(br#"{"token":"abc"}"#)
                .as_deref()
                .map(|s| s.as_str()),
            Some("abc")
        );
        assert_eq!(
            token_of(br#"{"access_token":"xyz"}"#)
                .as_deref()
                .map(|s| s.as_str()),
            Some("xyz")
        );
        assert!(token_of(b"{\"token\":\"a\\nb\"}").is_none());
    }
}
