//! A static repository served over HTTP(S): files under a base URL
//! (`https://host/repo/metadata/`), read with notary-server's TLS set-up, time limits and
//! redirect rules, each body bounded.

use std::path::Path;

use percent_encoding::utf8_percent_encode;
use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body};

use percent_encoding::AsciiSet;

use super::url::{normalize_base, PATH};
use super::{agent, failure, next_hop, redact_url, Timeouts, MAX_REDIRECTS};
use crate::error::{Error, Result, ServerFailure};

/// What is escaped in a file's name: as a path (`/` stays), but `%` is sent as given, so
/// that a name already escaped (python-tuf's `quote(role, "")`, `%3F.json`) reaches the
/// server as the client means it.
const NAME: &AsciiSet = &PATH.remove(b'%');

/// Files under one base URL.
pub struct FileServer {
    /// The base for requests, ending in `/`, without userinfo.
    base: String,
    /// The base as messages show it (userinfo redacted).
    shown: String,
    agent: Agent,
    timeouts: Timeouts,
}

impl std::fmt::Debug for FileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileServer")
            .field("base", &self.shown)
            .finish_non_exhaustive()
    }
}

/// What a bounded GET found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    Found(Vec<u8>),
    /// 404 or 403 (python-tuf's `DownloadHTTPError` it treats as "no such file").
    Missing,
    /// Longer than the bound: by its `Content-Length` (`actual`), unread, or found while
    /// reading, after the bound and one byte.
    TooLarge {
        actual: Option<u64>,
    },
}

impl FileServer {
    /// `url`: an `http://` or `https://` base URL (a trailing `/` is added); `tls_ca`: a PEM
    /// file whose certificates become the only trust roots.
    pub fn new(url: &str, tls_ca: Option<&Path>, timeouts: Timeouts) -> Result<Self> {
        if !url.contains("://") {
            return Err(Error::Usage(format!(
                "{:?}: expected an http:// or https:// URL",
                redact_url(url)
            )));
        }
        let (base, shown) = normalize_base(url)?;
        Ok(FileServer {
            base: format!("{base}/"),
            shown: format!("{shown}/"),
            agent: agent(tls_ca, None, timeouts)?,
            timeouts,
        })
    }

    /// The base URL as messages show it (ends in `/`).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// For a base reached over plain `http://`: nothing it sends is protected in transit
    /// (what is verified by signatures and hashes still is).
    pub fn is_plain_http(&self) -> bool {
        self.base.starts_with("http://")
    }

    /// `GET <base><name>`; `name` is a relative path whose segments are escaped here but for
    /// `%` (`/` separates them; `.`, `..` and empty segments are refused). The body is read
    /// up to `limit` bytes.
    pub fn get(&self, name: &str, limit: u64) -> Result<Fetched> {
        if name.is_empty()
            || name
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(Error::Usage(format!(
                "{:?} cannot be fetched from {} (an empty, . or .. path segment)",
                crate::text::printable(name),
                self.shown
            )));
        }
        let url = format!("{}{}", self.base, utf8_percent_encode(name, NAME));
        let (url, mut resp) = self.follow(&url)?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN {
            return Ok(Fetched::Missing);
        }
        if !status.is_success() {
            return Err(Error::Server {
                url: self.show(&url),
                kind: ServerFailure::Status(status.as_u16()),
                reason: failure::status_reason(status, b""),
            });
        }
        let declared = resp
            .headers()
            .get(ureq::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(len) = declared.filter(|&len| len > limit) {
            return Ok(Fetched::TooLarge { actual: Some(len) });
        }
        match resp.body_mut().with_config().limit(limit).read_to_vec() {
            Ok(bytes) => Ok(Fetched::Found(bytes)),
            Err(ureq::Error::BodyExceedsLimit(_)) => Ok(Fetched::TooLarge { actual: None }),
            Err(e) => Err(failure::transport_error(
                &self.show(&url),
                &self.timeouts,
                e,
            )),
        }
    }

    /// GET `url`, following at most [`MAX_REDIRECTS`] redirects as notary-server's are.
    fn follow(&self, url: &str) -> Result<(String, Response<Body>)> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let resp =
                self.agent.get(&current).call().map_err(|e| {
                    failure::transport_error(&self.show(&current), &self.timeouts, e)
                })?;
            match next_hop(&self.show(&current), &current, &resp)? {
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

    fn show(&self, url: &str) -> String {
        match url.strip_prefix(&self.base) {
            Some(rest) => format!("{}{rest}", self.shown),
            None => redact_url(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_checked() {
        let s = FileServer::new("http://127.0.0.1:9/repo", None, Timeouts::default()).unwrap();
        assert_eq!(s.url(), "http://127.0.0.1:9/repo/");
        for bad in ["", "../x", "a//b", "a/./b", "/abs"] {
            assert!(matches!(s.get(bad, 10), Err(Error::Usage(_))), "{bad}");
        }
        assert!(FileServer::new("/srv/repo", None, Timeouts::default()).is_err());
    }
}
