//! What went wrong with a request, on one line: a notary error body, a transport failure.

use std::fmt::Write as _;
use std::time::Duration;

use ureq::http::StatusCode;

use super::Timeouts;
use crate::error::{Error, ServerFailure};

/// "HTTP 400 Bad Request: <server message> (<code>: <detail>)", on one line.
pub(crate) fn status_reason(status: StatusCode, body: &[u8]) -> String {
    let mut out = format!("HTTP {}", status.as_u16());
    if let Some(text) = status.canonical_reason() {
        let _ = write!(out, " {text}");
    }
    let message = server_message(body);
    if !message.is_empty() {
        let _ = write!(out, ": {message}");
    }
    out
}

/// The `code`s of a notary (docker distribution errcode) JSON error body.
pub(crate) fn error_codes(body: &[u8]) -> Vec<String> {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|v| v.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("code").and_then(|c| c.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The message of a notary (docker distribution errcode) JSON error body,
/// `{"errors":[{"code":..,"message":..,"detail":..}]}`; otherwise the body's text.
pub(super) fn server_message(body: &[u8]) -> String {
    const MAX: usize = 400;
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|v| v.as_array());
    let text = match errors {
        Some(errors) if !errors.is_empty() => errors
            .iter()
            .map(|e| {
                let field = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let mut s = field("message").to_string();
                let code = field("code");
                let detail = match e.get("detail") {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(d)) => d.clone(),
                    Some(v) if v.as_object().is_some_and(|o| o.is_empty()) => String::new(),
                    Some(v) => v.to_string(),
                };
                match (code.is_empty(), detail.is_empty()) {
                    (true, true) => {}
                    (false, true) => {
                        let _ = write!(s, " ({code})");
                    }
                    (true, false) => {
                        let _ = write!(s, " ({detail})");
                    }
                    (false, false) => {
                        let _ = write!(s, " ({code}: {detail})");
                    }
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    one_line(&text, MAX)
}

/// Collapses whitespace (so the error stays on one line), escapes what a terminal would act
/// on (a server's message is outside text: an escape sequence in it must not reach the
/// terminal), and cuts at `max` characters.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::truncate(&crate::text::printable(&joined), max).into_owned()
}

/// Turns a transport failure into one line naming the URL and what went wrong.
pub(super) fn transport_error(url: &str, timeouts: &Timeouts, e: ureq::Error) -> Error {
    use ureq::Error as U;
    let (kind, reason) = match e {
        U::Io(io) => io_failure(&io, timeouts),
        U::HostNotFound => (
            ServerFailure::Unreachable,
            "cannot connect: host not found".to_string(),
        ),
        U::ConnectionFailed => (
            ServerFailure::Unreachable,
            "cannot connect: connection failed".to_string(),
        ),
        U::Timeout(t) => (
            ServerFailure::Timeout,
            format!(
                "timed out ({t}; limits: connect {}, read {}, total {})",
                secs(timeouts.connect),
                secs(timeouts.read),
                secs(timeouts.total)
            ),
        ),
        U::BodyExceedsLimit(limit) => (
            ServerFailure::TooLarge,
            format!("response larger than the {} limit", human_size(limit)),
        ),
        U::LargeResponseHeader(got, max) => (
            ServerFailure::TooLarge,
            format!("response header too large ({got} bytes, limit {max})"),
        ),
        U::Tls(msg) => (ServerFailure::Tls, format!("TLS: {msg}")),
        U::Rustls(err) => (ServerFailure::Tls, format!("TLS: {err}")),
        U::Pem(err) => (ServerFailure::Tls, format!("TLS: {err}")),
        U::TlsRequired => (ServerFailure::Tls, "TLS: required but not set up".into()),
        U::Protocol(err) => (
            ServerFailure::Protocol,
            format!("invalid HTTP response: {err}"),
        ),
        other => (ServerFailure::Protocol, other.to_string()),
    };
    Error::Server {
        url: url.to_string(),
        kind,
        reason,
    }
}

pub(super) fn io_failure(io: &std::io::Error, timeouts: &Timeouts) -> (ServerFailure, String) {
    use std::io::ErrorKind as K;
    // rustls reports handshake failures (unknown CA, name mismatch, expired certificate)
    // through the I/O error it returns.
    let mut source: Option<&(dyn std::error::Error + 'static)> = io.get_ref().map(|e| e as _);
    while let Some(err) = source {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return (ServerFailure::Tls, format!("TLS: {tls}"));
        }
        if let Some(u) = err.downcast_ref::<ureq::Error>() {
            if let ureq::Error::Rustls(tls) = u {
                return (ServerFailure::Tls, format!("TLS: {tls}"));
            }
            if let ureq::Error::BodyExceedsLimit(limit) = u {
                return (
                    ServerFailure::TooLarge,
                    format!("response larger than the {} limit", human_size(*limit)),
                );
            }
        }
        source = err.source();
    }
    match io.kind() {
        K::ConnectionRefused => (
            ServerFailure::Unreachable,
            "cannot connect: connection refused (is the server running?)".into(),
        ),
        K::TimedOut | K::WouldBlock => (
            ServerFailure::Timeout,
            format!("timed out ({io}; read limit {})", secs(timeouts.read)),
        ),
        K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe => (
            ServerFailure::Protocol,
            format!("connection closed by the server: {io}"),
        ),
        _ => (ServerFailure::Unreachable, format!("cannot connect: {io}")),
    }
}

pub(super) fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

pub(super) fn human_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::server::{KEY_LIMIT, METADATA_LIMIT};

    #[test]
    fn notary_error_bodies_give_one_line() {
        let body = br#"{"errors":[{"code":"MALFORMED_JSON","message":"JSON sent by the client could not be parsed by the server"}]}"#;
        assert_eq!(
            status_reason(StatusCode::BAD_REQUEST, body),
            "HTTP 400 Bad Request: JSON sent by the client could not be parsed by the server \
             (MALFORMED_JSON)"
        );
        let body = br#"{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadRoot","Error":{"Msg":"no root"}}}]}"#;
        let reason = status_reason(StatusCode::BAD_REQUEST, body);
        assert!(
            reason.contains("Update sent by the client is invalid."),
            "{reason}"
        );
        assert!(
            reason.contains("(INVALID_UPDATE: ") && reason.contains("\"Name\":\"ErrBadRoot\""),
            "{reason}"
        );
        let reason = status_reason(StatusCode::BAD_GATEWAY, b"<html>\n bad\n gateway</html>");
        assert_eq!(reason, "HTTP 502 Bad Gateway: <html> bad gateway</html>");
        let long = "x".repeat(2000);
        assert!(status_reason(StatusCode::INTERNAL_SERVER_ERROR, long.as_bytes()).len() < 500);
        // A hostile body: escape sequences and CR shown, not acted on; still cut short.
        let body = "\u{1b}]0;owned\u{7}\u{1b}[2Jfake\rtrustkey: all good \u{202e}".repeat(100);
        let reason = status_reason(StatusCode::INTERNAL_SERVER_ERROR, body.as_bytes());
        assert!(
            !reason.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{reason:?}"
        );
        assert!(reason.contains("\\e]0;owned\\u{7}\\e[2Jfake"), "{reason}");
        assert!(reason.chars().count() < 450, "{reason}");
        let body = br#"{"errors":[{"code":"X","message":"\u001b[31mred"}]}"#;
        assert!(status_reason(StatusCode::BAD_REQUEST, body).contains("\\e[31mred"));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(METADATA_LIMIT), "64 MiB");
        assert_eq!(human_size(KEY_LIMIT), "64 KiB");
        assert_eq!(human_size(100), "100 bytes");
    }
}
