//! Threshold roots in the notary dialect, against the real notary-server and `notary` client:
//! three key holders export their root keys with certificates for the GUN (signed on their
//! tokens), the publisher inits a 2-of-3 root on the server, two sign on their own machines,
//! the publisher applies and publishes; the notary client lists the targets. And
//! `delegation add --key alice.pub | alice.crt` (as `docker trust signer add`), which the
//! notary client lists.

mod common;

use std::path::Path;
use std::process::Command;

use common::ceremony::Ceremony;
use common::notary_server::NotaryServer;
use common::{json, run_ok};

const GUN: &str = "example.com/threshold";

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(Command::new("openssl").current_dir(dir).args(args));
}

#[test]
fn two_of_three_notary_root_on_notary_server() {
    let server = NotaryServer::start();
    let c = Ceremony::new(&["alice", "bob", "carol"]);
    let mut keys = Vec::new();
    for h in &c.holders {
        let f = h.export(c.xfer(), Some(GUN));
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("BEGIN PUBLIC KEY") && text.contains("BEGIN CERTIFICATE"));
        keys.extend(["--root-key".to_string(), f.display().to_string()]);
    }
    // A key file without a certificate for the GUN is refused in this dialect.
    let bare = c.xfer().join("bare.pub");
    run_ok(
        c.holders[0]
            .tk()
            .args(["root", "export", "--token", &c.holders[0].uri(), "--out"])
            .arg(&bare),
    );
    let (code, err) = c.fails(&[
        "init",
        "example.com/bare",
        "--root-key",
        bare.to_str().unwrap(),
    ]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("needs a certificate for example.com/bare"),
        "{err}"
    );

    let req = c.xfer().join("root.json");
    let mut init = c.tk();
    init.args(["-s", &server.url, "--tlscacert"])
        .arg(&server.ca)
        .args(["init", GUN])
        .args(&keys)
        .args(["--root-threshold", "2", "--request"])
        .arg(&req);
    let out = run_ok(&mut init);
    assert!(out.contains("needs signatures"), "{out}");
    let (a, summary) = c.holder("alice").sign(&req, c.xfer());
    assert!(summary.contains("(notary dialect)"), "{summary}");
    assert!(
        summary.contains(&format!("certificate for {GUN}")),
        "{summary}"
    );
    eprintln!("--- what a signer reads (alice, notary dialect) ---\n{summary}");
    let (b, _) = c.holder("bob").sign(&req, c.xfer());
    c.ok(&["apply", a.to_str().unwrap(), b.to_str().unwrap()]);
    let target = c.publisher.path().join("v1.bin");
    std::fs::write(&target, b"v1").unwrap();
    c.ok(&["add", GUN, "v1", target.to_str().unwrap()]);
    let out = c.ok(&["publish", GUN]);
    eprintln!("publish: {out}");
    let listed = server.notary_list(
        c.publisher.path(),
        &c.publisher.path().join("notary-client"),
        GUN,
    );
    assert!(listed.contains("v1"), "{listed}");
    // trustkey's own client too.
    run_ok(
        c.publisher
            .client("tkclients", "n")
            .args(["-s", &server.url, "--tlscacert"])
            .arg(&server.ca)
            .args(["verify", GUN]),
    );

    // Delegations to keys whose holders sign with their own tools: a PEM public key and an
    // x509 certificate (what docker trust makes).
    let x = c.xfer();
    openssl(
        x,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "alice.key",
        ],
    );
    openssl(
        x,
        &[
            "ec",
            "-in",
            "alice.key",
            "-pubout",
            "-out",
            "alice-deleg.pub",
        ],
    );
    openssl(
        x,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "bob.key",
        ],
    );
    openssl(
        x,
        &[
            "req", "-new", "-x509", "-key", "bob.key", "-out", "bob.crt", "-days", "30", "-subj",
            "/CN=bob",
        ],
    );
    let out = c.ok(&[
        "delegation",
        "add",
        GUN,
        "targets/releases",
        "--key",
        x.join("alice-deleg.pub").to_str().unwrap(),
        "--key",
        x.join("bob.crt").to_str().unwrap(),
    ]);
    assert!(out.contains("its holder's"), "{out}");
    c.ok(&["publish", GUN]);
    let out = run_ok(
        server
            .notary(
                &c.publisher.path().join("notary-client"),
                &["delegation", "list", GUN],
            )
            .env("HOME", c.publisher.path()),
    );
    eprintln!("notary delegation list:\n{out}");
    assert!(out.contains("targets/releases"), "{out}");
    let listing = json(&c.ok(&["--json", "delegation", "list", GUN]));
    assert_eq!(
        listing["delegations"][0]["keys"].as_array().unwrap().len(),
        2,
        "{listing}"
    );
    // The notary client still lists the targets.
    let listed = server.notary_list(
        c.publisher.path(),
        &c.publisher.path().join("notary-client"),
        GUN,
    );
    assert!(listed.contains("v1"), "{listed}");

    // key rotate under the 2-of-3 root: the root naming the new targets key is a request;
    // two holders sign it; apply, publish; the notary client (which trusts root v1) follows
    // root v2 and lists the targets signed with the new key.
    let rot = json(&c.ok(&["--json", "key", "rotate", GUN, "targets"]));
    assert_eq!(rot["outcome"], "requested", "{rot}");
    let handed = c.xfer().join("key-rotate.json");
    std::fs::copy(rot["request"].as_str().unwrap(), &handed).unwrap();
    let (ka, summary) = c.holder("alice").sign(&handed, c.xfer());
    assert!(summary.contains("a new repository key"), "{summary}");
    let (kc, _) = c.holder("carol").sign(&handed, c.xfer());
    c.ok(&["apply", ka.to_str().unwrap(), kc.to_str().unwrap()]);
    std::fs::write(&target, b"v2").unwrap();
    c.ok(&["add", GUN, "v2", target.to_str().unwrap()]);
    c.ok(&["publish", GUN]);
    let listed = server.notary_list(
        c.publisher.path(),
        &c.publisher.path().join("notary-client"),
        GUN,
    );
    assert!(listed.contains("v1") && listed.contains("v2"), "{listed}");
    let v = json(&run_ok(
        c.publisher
            .client("tkclients", "n")
            .args(["-s", &server.url, "--tlscacert"])
            .arg(&server.ca)
            .args(["--json", "verify", GUN]),
    ));
    assert_eq!(v["versions"]["root"], rot["root_version"], "{v}");
}
