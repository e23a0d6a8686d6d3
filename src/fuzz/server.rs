//! notary-server responses. Metadata the server sends goes through the trusted set (see the
//! `trusted_set` harnesses); here, what trustkey reads from the server besides metadata.

use ureq::http::StatusCode;

use super::shown;
use crate::repo::server::{parse_key, status_reason, RemoteKey};
use crate::repo::server_repo::listed_key;

/// The first byte chooses the response: even, a key response (`GET .../<role>.key`) as
/// `init --server` checks it and lists it in root; odd, an error body with the status in the
/// next two bytes, as every failed request reports it.
pub fn server_response(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        let Ok((keytype, public_b64)) = parse_key(rest) else {
            return;
        };
        let remote = RemoteKey {
            keytype,
            public_b64,
            raw: rest.to_vec(),
        };
        if let Ok(key) = listed_key(remote) {
            for d in super::metadata::DIALECTS {
                let _ = (d.key_id(&key), shown(&d.decode_key(&key)));
            }
        }
    } else {
        let (code, body) = match rest {
            [a, b, body @ ..] => (u16::from_be_bytes([*a, *b]), body),
            _ => (500, rest),
        };
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let _ = status_reason(status, body);
    }
}
