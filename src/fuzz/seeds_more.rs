//! The seeds of the harnesses besides the repository ones (see seeds.rs).

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};

use super::trusted::{self, GUN};
use crate::tuf::dialect::Dialect;

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn write_seeds(harness: &str, seeds: &[(String, Vec<u8>)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(harness);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn named<const N: usize>(prefix: &str, items: [&str; N]) -> Vec<(String, Vec<u8>)> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{prefix}{i:02}"), s.as_bytes().to_vec()))
        .collect()
}

/// `src`: what scripts/fuzz-seeds.sh made; `roots_and_targets`: (repository, dialect, file);
/// `metadata`: the metadata seeds.
pub fn make(
    src: &Path,
    roots_and_targets: &[(String, Dialect, Vec<u8>)],
    metadata: &[(String, Vec<u8>)],
) {
    let repo_root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // Key objects, certificates and server key responses, from the roots and delegations.
    let mut keys = BTreeMap::new();
    let mut certs = BTreeMap::new();
    let mut responses = Vec::new();
    for (repo, d, file) in roots_and_targets {
        let v: Value = serde_json::from_slice(file).unwrap();
        let signed = &v["signed"];
        let listed = signed["keys"]
            .as_object()
            .into_iter()
            .chain(signed["delegations"]["keys"].as_object())
            .flatten();
        for (_, key) in listed {
            let bytes = serde_json::to_vec(key).unwrap();
            let kind = key["keytype"].as_str().unwrap_or("key").to_string();
            keys.entry(bytes.clone())
                .or_insert_with(|| format!("{repo}.{d}.{kind}"));
            if kind == "ecdsa-x509" {
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(key["keyval"]["public"].as_str().unwrap())
                    .unwrap();
                let der =
                    crate::pem::decode(std::str::from_utf8(&pem).unwrap(), "CERTIFICATE").unwrap();
                certs.entry(pem).or_insert_with(|| format!("{repo}.pem"));
                certs
                    .entry(der.to_vec())
                    .or_insert_with(|| format!("{repo}.der"));
            }
            if kind == "ecdsa" && *d == Dialect::Notary && responses.len() < 2 {
                // notary-server's key response is the key object, as root lists it.
                let mut r = vec![0u8];
                r.extend_from_slice(&bytes);
                responses.push((format!("{repo}.key-response"), r));
            }
        }
    }
    let seeds = |m: BTreeMap<Vec<u8>, String>| -> Vec<(String, Vec<u8>)> {
        m.into_iter().map(|(b, n)| (n, b)).collect()
    };
    write_seeds("key", &seeds(keys));
    let mut certs = seeds(certs);
    certs.push((
        "test-root.pem".into(),
        trusted::TEST_CERT.as_bytes().to_vec(),
    ));
    write_seeds("certificate", &certs);

    // notary-server's error bodies (docker distribution errcode JSON), status first.
    for (i, (status, body)) in [
        (400u16, r#"{"errors":[{"code":"MALFORMED_JSON","message":"JSON sent by the client could not be parsed by the server"}]}"#),
        (400, r#"{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadRoot","Error":{"Msg":"no root"}}}]}"#),
        (404, r#"{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":null}]}"#),
        (502, "<html>\n bad\n gateway</html>"),
    ]
    .iter()
    .enumerate()
    {
        let mut r = vec![1u8];
        r.extend_from_slice(&status.to_be_bytes());
        r.extend_from_slice(body.as_bytes());
        responses.push((format!("error{i}"), r));
    }
    write_seeds("server_response", &responses);

    // Canonical JSON: the signed objects of a few metadata files, and edge cases.
    let mut cjson: Vec<(String, Vec<u8>)> = metadata
        .iter()
        .filter(|(n, _)| n.starts_with("notary-first") || n.starts_with("pytuf"))
        .map(|(n, b)| {
            let v: Value = serde_json::from_slice(b).unwrap();
            (n.clone(), serde_json::to_vec(&v["signed"]).unwrap())
        })
        .collect();
    cjson.extend(named(
        "edge",
        [
            r#"{"b":1,"a":[true,null,{"d":"x","c":-2}],"é":3,"B":"<>&\u2028"}"#,
            r#"["a\"b\\c\nd", 18446744073709551615, -9223372036854775808, 0]"#,
            r#"{"x": 1.5}"#,
        ],
    ));
    write_seeds("cjson", &cjson);

    // Key files: trustkey's (keys and the root escrow), notary's fixtures, openssl's.
    let mut key_files = Vec::new();
    let trust = src.join("trust-tuf/private");
    let mut own: Vec<_> = std::fs::read_dir(&trust)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    own.sort();
    for p in own.iter().take(2) {
        key_files.push((format!("trustkey.{}", role_of(&read(p))), read(p)));
    }
    key_files.push((
        "trustkey.escrow.p8".into(),
        read(&src.join("root-escrow.p8")),
    ));
    let fixtures = repo_root.join("tests/fixtures/notary-keys");
    for id in [
        "77756ca1bb9f0fb63330afa42f66bc89b2d7edc764bb9fe98cc866e39dc5166f",
        "17b38070ecc260ec544f83cbf89d35147d55d8097efc1495ecc6d810878ca474",
    ] {
        let b = read(&fixtures.join(format!("{id}.key")));
        key_files.push((format!("notary.{}", role_of(&b)), b));
    }
    for name in ["ec.sec1", "ec.pkcs8", "ec.pbkdf2", "ec.scrypt", "ec.params"] {
        key_files.push((
            format!("openssl.{name}.pem"),
            read(&src.join(format!("openssl-keys/{name}.pem"))),
        ));
    }
    write_seeds("key_file", &key_files);

    // The backup, as written and as the bare tar inside it (mutations reach tar directly).
    let gz = read(&src.join("backup.tar.gz"));
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..])
        .read_to_end(&mut tar)
        .unwrap();
    write_seeds(
        "archive",
        &[("backup.tar.gz".into(), gz), ("backup.tar".into(), tar)],
    );

    // The trust dir's files.
    let mut stage = Vec::new();
    for d in ["notary", "tuf"] {
        stage.push((
            format!("{d}.staged.json"),
            read(&src.join(format!("stage-{d}/staged.json"))),
        ));
    }
    stage.extend(named(
        "edge",
        [
            r#"{"changes":[{"action":"remove","name":"a","role":"releases"}],"delegations_changed":true}"#,
        ],
    ));
    write_seeds("stage", &stage);
    let mut config = Vec::new();
    for d in ["notary", "tuf"] {
        let b = read(&src.join(format!("trust-{d}/tuf/{GUN}/trustkey.json")));
        let mut v: Value = serde_json::from_slice(&b).unwrap();
        config.push((format!("{d}.trustkey.json"), b));
        config.push((
            format!("{d}.state.json"),
            read(&src.join(format!("client-{d}/tuf/{GUN}/client/state.json"))),
        ));
        // As `init --server` and `init --hashed-bins` leave it.
        v["server"] = json!({"url": "https://notary.example.com:4443"});
        v["server_roles"] = json!(["timestamp"]);
        if let Some(key) = v["delegations"][0]["keys"][0].as_object().cloned() {
            v["hashed_bins"] = json!({"count": 16, "key": key});
        }
        config.push((
            format!("{d}.trustkey-server-bins.json"),
            serde_json::to_vec_pretty(&v).unwrap(),
        ));
    }
    write_seeds("config", &config);

    write_seeds(
        "key_reference",
        &named(
            "ref",
            [
                "pkcs11:token=rootA;object=root",
                "pkcs11:token=root%20A;object=root;id=%01%ff;serial=abc?pin-source=env:PIN&module-path=/usr/lib/x.so",
                "pkcs11:serial=1a2b;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;type=private",
                "pkcs11:token=x?pin-value=1234",
                "pkcs11:token=x;object=a?pin-source=file:///run/pin",
                "yubikey:serial=12345678;slot=9a?pin-source=env:YK_PIN",
                "yubikey:",
                "yubikey:serial=7;pin-source=file:/run/pin",
                "yubikey:slot=9C",
            ],
        ),
    );
    let mut paths = Vec::new();
    for (i, (count, name, pattern, target)) in [
        (16u32, "targets/releases", "releases/", "releases/app-1.txt"),
        (4, "releases", "releases/*", "releases/app-1.txt"),
        (256, "bins-00-0f", "a*/b?[!c-e]*", "ab/bxf.txt"),
        (2, "r", "0", "x"),
    ]
    .iter()
    .enumerate()
    {
        let mut b = count.to_le_bytes().to_vec();
        b.extend_from_slice(format!("{name}\0{pattern}\0{target}").as_bytes());
        paths.push((format!("paths{i}"), b));
    }
    write_seeds("delegation_paths", &paths);
}

/// The `role:` header of a key file, for its seed's name.
fn role_of(pem: &[u8]) -> String {
    crate::keys::file::read_meta(std::str::from_utf8(pem).unwrap())
        .map(|m| m.role.replace('/', "-"))
        .unwrap_or_else(|| "key".into())
}
