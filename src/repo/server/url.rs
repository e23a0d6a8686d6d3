//! Server URLs: the base a command names, credentials kept out of every message, where a
//! redirect leads, and names placed in a request's path.

use percent_encoding::{AsciiSet, CONTROLS};

use crate::error::{Error, Result};

/// Characters escaped in a GUN or role name placed in the URL path ('/' stays a separator).
pub(super) const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b']')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The base URL for requests (no trailing slash, no userinfo) and as messages show it
/// (userinfo redacted).
pub(super) fn normalize_base(url: &str) -> Result<(String, String)> {
    let url = url.trim();
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("https://{url}")
    };
    let lower = with_scheme.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err(Error::Usage(format!(
            "server URL {:?}: only https:// (or http://) is supported",
            redact_url(url)
        )));
    }
    let base = with_scheme.trim_end_matches('/').to_string();
    let (scheme, rest) = base.split_once("://").unwrap_or((&base, ""));
    let (userinfo, host) = split_userinfo(rest);
    if host.is_empty() || host.starts_with('/') || base.contains(char::is_whitespace) {
        return Err(Error::Usage(format!(
            "invalid server URL {:?}",
            redact_url(url)
        )));
    }
    let request = format!("{scheme}://{host}");
    let shown = match userinfo {
        Some(_) => format!("{scheme}://***@{host}"),
        None => request.clone(),
    };
    Ok((request, shown))
}

/// `alice:pass@host/path` -> (`alice:pass`, `host/path`): the userinfo ends at the last `@`
/// before the path.
pub(super) fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..authority_end).unwrap_or(rest);
    match authority.rfind('@') {
        Some(at) => (rest.get(..at), rest.get(at + 1..).unwrap_or_default()),
        None => (None, rest),
    }
}

/// `url` with any userinfo replaced by `***`: `http://alice:pass@host/x` ->
/// `http://***@host/x`. Credentials in a URL never appear in a message.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let (userinfo, after) = split_userinfo(rest);
    match (scheme, userinfo) {
        (_, None) => url.to_string(),
        (Some(s), Some(_)) => format!("{s}://***@{after}"),
        (None, Some(_)) => format!("***@{after}"),
    }
}

/// The lowercase scheme and the host (without port or userinfo) of an absolute http(s) URL.
pub(super) fn scheme_and_host(url: &str) -> Option<(String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (_, rest) = split_userinfo(rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]:443`.
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    (!host.is_empty()).then(|| (scheme, host.to_ascii_lowercase()))
}

/// The absolute URL a `Location` header names, relative to the request's `url`.
pub(super) fn resolve_location(url: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() || location.contains(char::is_whitespace) {
        return None;
    }
    if location.contains("://") {
        return Some(location.to_string());
    }
    let (scheme, rest) = url.split_once("://")?;
    if let Some(net_path) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{net_path}"));
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", rest.get(..authority_end)?);
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    // Relative to the request's directory.
    let path = rest.get(authority_end..).unwrap_or_default();
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let dir = path.rfind('/').and_then(|i| path.get(..=i)).unwrap_or("/");
    Some(format!("{origin}{dir}{location}"))
}

pub(super) fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(Error::Usage(format!("invalid {what} {name:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_normalized() {
        assert_eq!(
            normalize_base("https://n.example.com/").unwrap().0,
            "https://n.example.com"
        );
        assert_eq!(
            normalize_base("n.example.com:4443").unwrap().0,
            "https://n.example.com:4443"
        );
        assert!(normalize_base("ftp://n.example.com").is_err());
        assert!(normalize_base("https://").is_err());
        assert!(normalize_base("https://alice:pass@").is_err());
    }

    #[test]
    fn redirect_targets_resolve_and_name_their_host() {
        let base = "https://n.example.com:4443/v2/a/_trust/tuf/root.json";
        for (location, resolved) in [
            ("https://other/x", "https://other/x"),
            ("//other/x", "https://other/x"),
            ("/v3/y", "https://n.example.com:4443/v3/y"),
            (
                "timestamp.json",
                "https://n.example.com:4443/v2/a/_trust/tuf/timestamp.json",
            ),
        ] {
            assert_eq!(resolve_location(base, location).as_deref(), Some(resolved));
        }
        assert_eq!(resolve_location(base, "a b"), None);
        assert_eq!(
            scheme_and_host("HTTPS://u:p@N.Example.com:1/x"),
            Some(("https".into(), "n.example.com".into()))
        );
        assert_eq!(
            scheme_and_host("http://[::1]:80/"),
            Some(("http".into(), "::1".into()))
        );
        assert_eq!(scheme_and_host("ftp://h/"), None);
    }
}
