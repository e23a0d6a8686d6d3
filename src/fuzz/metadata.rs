//! One metadata file at a time, canonical JSON, and delegation paths.

use time::OffsetDateTime;

use super::shown;
use crate::tuf::delegation::{self, HashedBins};
use crate::tuf::dialect::{Dialect, MetaHashes};
use crate::tuf::model::{DelegatedRole, MetaList, RoleName, Root, Targets};
use crate::tuf::signed::SignedMeta;
use crate::tuf::verify::{self, Digests, RoleKeySet};
use crate::tuf::{cjson, keyid};

pub(super) const DIALECTS: [Dialect; 2] = [Dialect::Notary, Dialect::Tuf];
const ROLES: [RoleName; 4] = [
    RoleName::Root,
    RoleName::Targets,
    RoleName::Snapshot,
    RoleName::Timestamp,
];
/// Items looked at per map or list: enough for every code path, bounded per input.
const EACH: usize = 16;

fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-12-05 00:00 UTC)
}

/// A metadata file of either dialect: the envelope, each typed view and what the client checks
/// on it one role at a time (its keys against its own signatures, type, expiry, version,
/// hashes, delegations); then the file written back as each dialect writes it, which must
/// read back to the same `signed` object.
pub fn metadata(data: &[u8]) {
    let m = match SignedMeta::parse(RoleName::Root, data.to_vec()) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.len();
            return;
        }
    };
    let _ = (m.version(), shown(&m.signed_bytes()));
    for d in DIALECTS {
        for sig in &m.signatures {
            let _ = shown(&d.decode_signature(sig));
        }
        root_view(d, &m);
        targets_view(d, &m);
        meta_list_view(d, &m);
    }
    write_back(&m);
}

fn common_checks(d: Dialect, kind: RoleName, name: &str, c: &crate::tuf::model::Common) {
    let _ = shown(&verify::type_name(d, kind, name, c));
    let _ = shown(&verify::expiry(d, name, c, now()));
    let _ = shown(&verify::spec_version(d, name, c));
    let _ = shown(&verify::version(name, c.version, Some(2)));
}

fn root_view(d: Dialect, m: &SignedMeta) {
    let Ok(root) = m.view::<Root>("root") else {
        return;
    };
    common_checks(d, RoleName::Root, "root", &root.common);
    for role in ROLES {
        match RoleKeySet::from_root(d, &root, role) {
            Ok(set) => {
                let _ = shown(&verify::signatures(d, m, &set));
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    for key in root.keys.values().take(EACH) {
        let _ = d.key_id(key);
        if let Ok(pk) = d.decode_key(key) {
            // What the client says about a root certificate.
            if let Some(c) = pk.cert {
                let _ = (d.format_time(c.not_before), d.format_time(c.not_after));
            }
        }
    }
}

fn targets_view(d: Dialect, m: &SignedMeta) {
    let Ok(t) = m.view::<Targets>("targets") else {
        return;
    };
    common_checks(d, RoleName::Targets, "targets", &t.common);
    let zero = Digests {
        length: 0,
        sha256: &[0; 32],
        sha512: &[0; 64],
    };
    for (name, fm) in t.targets.iter().take(EACH) {
        for (_, h) in fm.hashes.iter() {
            let _ = shown(&d.decode_hash(h));
        }
        let _ = shown(&verify::file_meta(d, name, "targets", zero, fm));
    }
    let Some(dl) = &t.delegations else {
        return;
    };
    for role in dl.roles.iter().take(EACH) {
        let _ = shown(&delegation::check_name(d, &role.name));
        let _ = delegation::describe_paths(role);
        for name in t.targets.keys().take(EACH) {
            let _ = delegation::covers(d, role, name);
        }
        if let Ok(set) = RoleKeySet::from_delegation(d, "targets", &dl.keys, role) {
            let _ = shown(&verify::signatures(d, m, &set));
        }
    }
}

fn meta_list_view(d: Dialect, m: &SignedMeta) {
    let Ok(list) = m.view::<MetaList>("snapshot") else {
        return;
    };
    common_checks(d, RoleName::Snapshot, "snapshot", &list.common);
    for mf in list.meta.values().take(EACH) {
        for (_, h) in mf.hashes.iter().flat_map(|h| h.iter()) {
            let _ = shown(&d.decode_hash(h));
        }
    }
    // The file against the list: itself under each name its parent could list it by.
    for parent in [RoleName::Timestamp, RoleName::Snapshot] {
        let _ = shown(&verify::meta_matches(d, m, parent, &list.meta));
    }
    let _ = (
        d.meta_entry(m, MetaHashes::Include),
        d.meta_entry(m, MetaHashes::Omit),
    );
}

/// What trustkey writes in either dialect, it reads back: the same `signed` object. (The
/// Notary dialect writes `signed` in canonical form, where control characters in strings stay
/// raw, which no JSON parser takes: trustkey writes no such strings, which `add` refuses in
/// target names, its signatures are base64, and no other field it writes can hold one.)
fn write_back(m: &SignedMeta) {
    let Ok(env) = m.envelope() else {
        return;
    };
    for d in DIALECTS {
        if d == Dialect::Notary
            && serde_json::to_value(&env).map_or(true, |v| has_control_characters(&v))
        {
            continue;
        }
        let Ok(bytes) = d.file_bytes(&env) else {
            continue;
        };
        let again = match SignedMeta::parse(RoleName::Root, bytes) {
            Ok(a) => a,
            Err(e) => panic!("{d}: a file trustkey wrote does not parse: {e}"),
        };
        assert_eq!(
            again.signed_value().ok().as_ref(),
            Some(&env.signed),
            "{d}: a file trustkey wrote reads back as another object"
        );
        assert_eq!(again.signatures, env.signatures, "{d}: signatures changed");
    }
}

fn has_control_characters(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    let control = |s: &str| s.chars().any(|c| c < ' ');
    match v {
        Value::String(s) => control(s),
        Value::Array(a) => a.iter().any(has_control_characters),
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| control(k) || has_control_characters(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Canonical JSON of any JSON value: encoding fails only on what it refuses (non-integer
/// numbers); what it writes, when it is JSON a parser takes, parses to the same value and
/// encodes to the same bytes; the key ID of such a value is defined.
pub fn cjson(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(enc) = cjson::encode(&v) else {
        return;
    };
    let _ = keyid::key_id_of_value(&v);
    // Canonical JSON writes control characters in strings raw, which JSON parsers refuse.
    if let Ok(again) = serde_json::from_slice::<serde_json::Value>(&enc) {
        assert_eq!(again, v, "canonical JSON parsed back to another value");
        assert_eq!(
            cjson::encode(&again).ok().as_deref(),
            Some(enc.as_slice()),
            "canonical JSON of canonical JSON changed"
        );
    }
    if let Some(s) = v.as_str() {
        let _ = keyid::short(s);
    }
}

/// A hashed bin count (the first four bytes, little-endian), then a delegated role's name, a
/// path pattern and a target name (NUL-separated, as text): names each dialect allows,
/// patterns and prefixes each dialect matches, the bins of a target.
pub fn delegation_paths(data: &[u8]) {
    let (count, rest) = match data.split_first_chunk::<4>() {
        Some((c, rest)) => (u32::from_le_bytes(*c), rest),
        None => (0, data),
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\0');
    let name = parts.next().unwrap_or_default();
    let pattern = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let role = DelegatedRole {
        name: name.to_string(),
        keyids: vec![],
        threshold: 1,
        paths: Some(vec![pattern.to_string()]),
        path_hash_prefixes: None,
        terminating: None,
        extra: Default::default(),
    };
    let hashed = DelegatedRole {
        paths: None,
        path_hash_prefixes: Some(vec![pattern.to_string()]),
        ..role.clone()
    };
    for d in DIALECTS {
        let _ = shown(&delegation::check_name(d, name));
        let _ = delegation::covers(d, &role, target);
        let _ = delegation::covers(d, &hashed, target);
    }
    let _ = delegation::path_pattern_matches(target, pattern);
    let _ = (
        delegation::describe_paths(&role),
        delegation::describe_paths(&hashed),
    );
    if let Ok(bins) = HashedBins::new(count) {
        let i = bins.bin_of(target);
        let _ = (bins.name(i), bins.prefixes(i));
    }
}
