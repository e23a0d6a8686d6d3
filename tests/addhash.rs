//! `addhash`: a target staged by its size and digests (an image manifest signed by digest, as
//! `notary addhash` and `docker trust sign` do), published to a real notary-server, read back
//! by the real `notary list` with that size and digest.

mod common;

use common::notary_server::NotaryServer;
use common::{run_fails, run_ok, Hsm};

const GUN: &str = "example.com/acme/image";

const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];

#[test]
fn addhash_targets_reach_the_notary_client() {
    let srv = NotaryServer::start();
    let hsm = Hsm::with_root("rootA");
    let ca = srv.ca.to_str().unwrap();
    let tk = |args: &[&str]| run_ok(hsm.trustkey_with(&PASS).args(args));
    tk(&["init", GUN, "-s", &srv.url, "--tlscacert", ca]);

    // A manifest digest, sha256 only (uppercase accepted, stored lowercase).
    let manifest = "7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730";
    let out = tk(&[
        "addhash",
        GUN,
        "latest",
        "1570",
        "--sha256",
        &manifest.to_uppercase(),
    ]);
    assert!(out.contains("latest (1570 bytes, sha256 7d865e95"), "{out}");
    // With sha512 too.
    let sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    let sha512 = "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
    tk(&[
        "addhash", GUN, "v1.0", "5", "--sha256", sha256, "--sha512", sha512,
    ]);

    // Digests that are not what they claim are refused, and nothing is staged for them.
    for bad in [
        &["--sha256", "abc"][..],
        &["--sha256", &"g".repeat(64)],
        &["--sha256", sha256, "--sha512", sha256],
    ] {
        let (code, err) = run_fails(
            hsm.trustkey_with(&PASS)
                .args(["addhash", GUN, "bad", "1"])
                .args(bad),
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("hex digits"), "{err}");
    }
    tk(&["publish", GUN]);

    let home = hsm.path().join("notary-home");
    std::fs::create_dir(&home).unwrap();
    let listed = srv.notary_list(&home, &home.join("trust"), GUN);
    let row = |name: &str| {
        listed
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{listed}"))
            .split_whitespace()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("latest")[1..3],
        [manifest.to_string(), "1570".into()],
        "{listed}"
    );
    assert_eq!(
        row("v1.0")[1..3],
        [sha256.to_string(), "5".into()],
        "{listed}"
    );
    assert!(!listed.contains("bad"), "{listed}");

    // trustkey's own client agrees.
    let out =
        run_ok(
            hsm.client("clients", "c")
                .args(["list", GUN, "-s", &srv.url, "--tlscacert", ca]),
        );
    assert!(out.contains(manifest) && out.contains(sha256), "{out}");
}
