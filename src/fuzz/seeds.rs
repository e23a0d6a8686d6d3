//! Packs the raw material `scripts/fuzz-seeds.sh` makes (real repositories, key files, a
//! backup, trust dir files) into the seed corpus `fuzz/seeds/<harness>/`: ignored tests that
//! the script runs. The test key's root certificate is made once and kept (the signed seeds
//! name it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};

use super::trusted::{self, sign_body, test_key, test_signer};
use crate::sign::Signer as _;
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;

const GUN: &str = trusted::GUN;

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Replaces the seeds of `harness` with `seeds` (name, bytes).
fn write_seeds(harness: &str, seeds: &[(String, Vec<u8>)]) {
    let dir = out_dir().join(harness);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
#[ignore = "run once: the signed seeds name this certificate"]
fn make_test_certificate() {
    let s = test_signer();
    let at = |y| {
        time::Date::from_calendar_date(y, time::Month::January, 1)
            .unwrap()
            .midnight()
            .assume_utc()
    };
    let der = crate::tuf::cert::root_certificate(&s, GUN, at(2020), at(2120)).unwrap();
    std::fs::write(
        out_dir().join("notary-root.crt"),
        crate::tuf::cert::to_pem(&der),
    )
    .unwrap();
}

/// A repository's files, in the order a client reads them.
struct Repo {
    name: String,
    d: Dialect,
    gun: String,
    now: String,
    roots: Vec<Vec<u8>>,
    timestamp: Vec<u8>,
    snapshot: Vec<u8>,
    targets: Vec<u8>,
    delegated: Vec<(String, Vec<u8>)>,
    /// The client's state.json after verifying it, if a client did.
    state: Option<Vec<u8>>,
}

impl Repo {
    /// The metadata in `dir` (Notary: the GUN's directory; TUF: `metadata/`). Roots: TUF
    /// `N.root.json` from 1; Notary `N.root.json` then `root.json` (where a stored update walks).
    fn load(name: &str, d: Dialect, gun: &str, dir: &Path, now: &str) -> Repo {
        let mut versioned = Vec::new();
        for n in 1.. {
            let p = dir.join(format!("{n}.root.json"));
            if !p.exists() {
                break;
            }
            versioned.push(read(&p));
        }
        let latest = read(&dir.join("root.json"));
        let roots = match d {
            Dialect::Tuf if !versioned.is_empty() => versioned,
            Dialect::Tuf => vec![latest],
            Dialect::Notary => versioned.into_iter().chain([latest]).collect(),
        };
        let targets = read(&dir.join("targets.json"));
        let delegated = delegations(&targets)
            .into_iter()
            .filter_map(|r| {
                let p = dir.join(format!("{r}.json"));
                p.exists().then(|| (r, read(&p)))
            })
            .collect();
        Repo {
            name: name.into(),
            d,
            gun: gun.into(),
            now: now.into(),
            roots,
            timestamp: read(&dir.join("timestamp.json")),
            snapshot: read(&dir.join("snapshot.json")),
            targets,
            delegated,
            state: None,
        }
    }

    fn flags(&self) -> u8 {
        if self.d == Dialect::Tuf {
            trusted::TUF
        } else {
            0
        }
    }

    /// The bundle [`trusted::trusted_set`] reads: first use (Notary: from `root.json`), or
    /// from the first root as stored.
    fn bundle(&self, stored: bool) -> Vec<u8> {
        let mut b = Bundle::new(self.flags() | if stored { trusted::STORED } else { 0 });
        b.part(trusted::NOW, self.now.as_bytes());
        b.part(trusted::REPOSITORY, self.gun.as_bytes());
        if let (true, Some(s)) = (stored, &self.state) {
            b.part(trusted::STATE, s);
        }
        let roots: &[Vec<u8>] = match (self.d, stored) {
            (Dialect::Notary, false) => &self.roots[self.roots.len() - 1..],
            _ => &self.roots,
        };
        for r in roots {
            b.part(trusted::ROOT, r);
        }
        b.part(trusted::TIMESTAMP, &self.timestamp);
        b.part(trusted::SNAPSHOT, &self.snapshot);
        b.part(trusted::TARGETS, &self.targets);
        for (_, m) in &self.delegated {
            b.part(trusted::DELEGATED, m);
        }
        b.0
    }

    /// The bundle [`trusted::trusted_set_signed`] reads: the same `signed` objects, with the
    /// test key in place of every key, and the lengths and hashes in snapshot and timestamp
    /// those of the files as the harness signs them.
    fn signed_bundle(&self, flags: u8) -> Vec<u8> {
        let d = self.d;
        let body = |bytes: &[u8]| -> Value {
            SignedMeta::parse(RoleName::Root, bytes.to_vec())
                .unwrap()
                .signed_value()
                .unwrap()
        };
        let roots: Vec<Value> = self
            .roots
            .iter()
            .map(|r| with_test_keys_in_root(d, body(r)))
            .collect();
        let targets = with_test_keys_in_delegations(d, body(&self.targets));
        let delegated: Vec<(String, Value)> = self
            .delegated
            .iter()
            .map(|(n, m)| (n.clone(), with_test_keys_in_delegations(d, body(m))))
            .collect();
        let sign = |role, name: &str, v: &Value| {
            sign_body(d, role, name, &serde_json::to_vec(v).unwrap()).unwrap()
        };
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        if let Some(latest) = roots.last() {
            files.insert("root".into(), sign(RoleName::Root, "root", latest));
        }
        files.insert(
            "targets".into(),
            sign(RoleName::Targets, "targets", &targets),
        );
        for (n, v) in &delegated {
            files.insert(n.clone(), sign(RoleName::Targets, n, v));
        }
        let snapshot = relist(d, body(&self.snapshot), &files);
        files.insert(
            "snapshot".into(),
            sign(RoleName::Snapshot, "snapshot", &snapshot),
        );
        let timestamp = relist(d, body(&self.timestamp), &files);

        let mut b = Bundle::new(self.flags() | flags);
        b.part(trusted::NOW, self.now.as_bytes());
        let stored = flags & trusted::STORED != 0;
        let roots: &[Value] = match (d, stored) {
            (Dialect::Notary, false) => &roots[roots.len() - 1..],
            _ => &roots,
        };
        for r in roots {
            b.part(trusted::ROOT, &serde_json::to_vec(r).unwrap());
        }
        for (tag, v) in [
            (trusted::TIMESTAMP, &timestamp),
            (trusted::SNAPSHOT, &snapshot),
            (trusted::TARGETS, &targets),
        ] {
            b.part(tag, &serde_json::to_vec(v).unwrap());
        }
        for (_, v) in &delegated {
            b.part(trusted::DELEGATED, &serde_json::to_vec(v).unwrap());
        }
        b.0
    }
}

struct Bundle(Vec<u8>);

impl Bundle {
    fn new(flags: u8) -> Self {
        Bundle(vec![flags])
    }
    fn part(&mut self, tag: u8, bytes: &[u8]) {
        assert!(!bytes.contains(&0), "a bundled file holds a NUL");
        self.0.push(0);
        self.0.push(tag);
        self.0.extend_from_slice(bytes);
    }
}

/// The delegated roles `targets` lists, in order.
fn delegations(targets: &[u8]) -> Vec<String> {
    let v: Value = serde_json::from_slice(targets).unwrap();
    v["signed"]["delegations"]["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// (key ID, key) of the test key as `d` lists it for a role (`root`: Notary's certificate).
fn test_key_entry(d: Dialect, root_role: bool) -> (String, Value) {
    let k = test_key();
    let key = match (d, root_role) {
        (Dialect::Notary, true) => d.root_key(trusted::TEST_CERT),
        _ => d.public_key(k.signer.public_key()),
    };
    (d.key_id(&key), serde_json::to_value(&key).unwrap())
}

fn with_test_keys_in_root(d: Dialect, mut root: Value) -> Value {
    let mut keys = serde_json::Map::new();
    if let Some(roles) = root["roles"].as_object_mut() {
        for (name, role) in roles.iter_mut() {
            let (id, key) = test_key_entry(d, name == "root");
            role["keyids"] = json!([id]);
            role["threshold"] = json!(1);
            keys.insert(id, key);
        }
    }
    root["keys"] = Value::Object(keys);
    root
}

fn with_test_keys_in_delegations(d: Dialect, mut targets: Value) -> Value {
    let (id, key) = test_key_entry(d, false);
    if let Some(dl) = targets.get_mut("delegations").filter(|v| v.is_object()) {
        dl["keys"] = json!({ id.clone(): key });
        if let Some(roles) = dl["roles"].as_array_mut() {
            for r in roles {
                r["keyids"] = json!([id]);
                r["threshold"] = json!(1);
            }
        }
    }
    targets
}

/// `list` (a snapshot or timestamp `signed` object) with each listed file's length and hashes
/// (those already listed) made those of `files` (by role name).
fn relist(d: Dialect, mut list: Value, files: &BTreeMap<String, Vec<u8>>) -> Value {
    if let Some(meta) = list["meta"].as_object_mut() {
        for (key, entry) in meta.iter_mut() {
            let role = match d {
                Dialect::Notary => key.as_str(),
                Dialect::Tuf => key.strip_suffix(".json").unwrap_or(key),
            };
            let Some(bytes) = files.get(role) else {
                continue;
            };
            if entry.get("length").is_some() {
                entry["length"] = json!(bytes.len());
            }
            if let Some(hashes) = entry.get_mut("hashes").and_then(Value::as_object_mut) {
                for (alg, h) in hashes.iter_mut() {
                    let digest = match alg.as_str() {
                        "sha256" => Sha256::digest(bytes).to_vec(),
                        "sha512" => Sha512::digest(bytes).to_vec(),
                        _ => continue,
                    };
                    *h = json!(d.encode_hash(&digest));
                }
            }
        }
    }
    list
}

fn sources() -> PathBuf {
    PathBuf::from(
        std::env::var("TRUSTKEY_FUZZ_SOURCES")
            .expect("TRUSTKEY_FUZZ_SOURCES (scripts/fuzz-seeds.sh)"),
    )
}

#[test]
#[ignore = "run by scripts/fuzz-seeds.sh"]
fn make_seeds() {
    assert!(
        trusted::TEST_CERT.contains("CERTIFICATE"),
        "make the test certificate first (make_test_certificate)"
    );
    let src = sources();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Made a minute ago: valid now, for the certificates and every expiry.
    let now = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut repos = Vec::new();
    for (name, d, dir) in [
        ("notary-first", Dialect::Notary, src.join("first-notary")),
        (
            "notary-rotated",
            Dialect::Notary,
            src.join("published-notary"),
        ),
        ("tuf-first", Dialect::Tuf, src.join("first-tuf/metadata")),
        (
            "tuf-rotated",
            Dialect::Tuf,
            src.join("published-tuf/metadata"),
        ),
        ("pytuf", Dialect::Tuf, src.join("pytuf/metadata")),
    ] {
        let mut r = Repo::load(name, d, GUN, &dir, &now);
        let state = src.join(format!(
            "client-{}/tuf/{GUN}/client/state.json",
            if d == Dialect::Tuf { "tuf" } else { "notary" }
        ));
        if name.ends_with("rotated") {
            r.state = state.exists().then(|| read(&state));
        }
        repos.push(r);
    }
    let fixture = root.join("tests/data/notary-0.7/example.com/fixture");
    repos.push(Repo::load(
        "notary-fixture",
        Dialect::Notary,
        "example.com/fixture",
        &fixture,
        "2026-11-26T00:00:00Z",
    ));

    let mut raw = Vec::new();
    let mut signed = Vec::new();
    let mut metadata = BTreeMap::new();
    for r in &repos {
        raw.push((format!("{}.first-use", r.name), r.bundle(false)));
        if r.roots.len() > 1 || r.state.is_some() {
            raw.push((format!("{}.stored", r.name), r.bundle(true)));
        }
        if r.name != "notary-fixture" {
            signed.push((format!("{}.first-use", r.name), r.signed_bundle(0)));
        }
        if r.name.ends_with("rotated") {
            signed.push((
                format!("{}.stored-pinned", r.name),
                r.signed_bundle(trusted::STORED | trusted::PINNED),
            ));
        }
        let files = r
            .roots
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("root{}", i + 1), b))
            .chain([
                ("timestamp".to_string(), &r.timestamp),
                ("snapshot".to_string(), &r.snapshot),
                ("targets".to_string(), &r.targets),
            ])
            .chain(r.delegated.iter().map(|(n, b)| (n.replace('/', "-"), b)));
        for (n, b) in files {
            metadata
                .entry(b.clone())
                .or_insert_with(|| format!("{}.{n}.json", r.name));
        }
    }
    write_seeds("trusted_set", &raw);
    write_seeds("trusted_set_signed", &signed);
    let metadata: Vec<(String, Vec<u8>)> = metadata.into_iter().map(|(b, n)| (n, b)).collect();
    write_seeds("metadata", &metadata);
    super::seeds_more::make(&src, &repos_files(&repos), &metadata);
}

/// Every metadata file's bytes, by repository name and role.
fn repos_files(repos: &[Repo]) -> Vec<(String, Dialect, Vec<u8>)> {
    let mut out = Vec::new();
    for r in repos {
        for b in r.roots.iter().chain([&r.targets]) {
            out.push((r.name.clone(), r.d, b.clone()));
        }
    }
    out
}
