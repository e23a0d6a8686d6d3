//! notary-server faults, through a fault proxy in front of the real server
//! (tests/common/fault_proxy.rs): the upload dropped halfway, a 500, a server that never
//! answers (with `TRUSTKEY_HTTP_TIMEOUT_SECS=1`, so the stall costs a second). Each: one
//! error line naming the cause, non-zero exit, the trust dir as before (mode and hash of every
//! file, the stage among them); then the same publish succeeds once the proxy passes traffic.
//! `verify -s` meets the 500 and the stall too, and its trust dir stays as it was.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fault_proxy::{Fault, FaultProxy};
use common::faults::{is_notice, tree};
use common::notary_server::NotaryServer;
use common::{run_ok, Hsm};

const GUN: &str = "example.com/faults/server";
const PASS: [(&str, &str); 3] = [
    ("TRUSTKEY_TARGETS_PASSPHRASE", "targets-pass-1"),
    ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot-pass-1"),
    ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp-pass-1"),
];
const TIMEOUT: (&str, &str) = ("TRUSTKEY_HTTP_TIMEOUT_SECS", "1");

/// A failed run: non-zero exit (not a panic), one `trustkey: ` line (besides notices) that
/// names `cause`. Returns the line.
fn one_line(what: &str, out: &Output, cause: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|c| c != 0 && c != 101),
        "{what}: {}\n{err}",
        out.status
    );
    let lines: Vec<&str> = err.lines().filter(|l| !is_notice(l)).collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("trustkey: "),
        "{what}: not one line:\n{err}"
    );
    assert!(
        lines[0].contains(cause),
        "{what}: {cause:?} not named:\n{err}"
    );
    eprintln!("{what}: {}", lines[0]);
    lines[0].to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn publish_survives_a_dropped_upload_a_500_and_a_stall() {
    let srv = NotaryServer::start();
    let hsm = Hsm::with_root("rootA");
    let tk = |args: &[&str]| -> Command {
        let mut c = hsm.trustkey_with(&PASS);
        c.env(TIMEOUT.0, TIMEOUT.1).args(args);
        c
    };
    let client = |args: &[&str]| -> Command {
        let mut c = hsm.client("clients", "c");
        c.env(TIMEOUT.0, TIMEOUT.1).args(args);
        c
    };
    let client_dir = hsm.path().join("clients/c");
    let stage = hsm.trust_dir.join("tuf").join(GUN).join("staged.json");
    run_ok(&mut tk(&[
        "init",
        GUN,
        "-s",
        &srv.url,
        "--tlscacert",
        s(&srv.ca),
    ]));
    let file = hsm.path().join("a.bin");
    std::fs::write(&file, b"release 0").unwrap();
    run_ok(&mut tk(&["add", GUN, "v0", s(&file)]));
    run_ok(&mut tk(&["publish", GUN]));
    // The second publish verifies the server's copy first (the publisher's client state, and
    // its lock file, made on first use like trustkey.lock; a failed publish must store
    // nothing there).
    std::fs::write(&file, b"release 0.1").unwrap();
    run_ok(&mut tk(&["add", GUN, "v0.1", s(&file)]));
    run_ok(&mut tk(&["publish", GUN]));
    // The client trusts the repository already (root pinned on first use).
    run_ok(&mut client(&[
        "verify",
        GUN,
        "-s",
        &srv.url,
        "--tlscacert",
        s(&srv.ca),
    ]));

    let proxy = FaultProxy::start(&srv);
    let faults = [
        (Fault::DropMidBody, "connection closed by the server"),
        (Fault::Status500, "HTTP 500"),
        (Fault::Stall, "timed out"),
    ];
    for (i, (fault, cause)) in faults.into_iter().enumerate() {
        let name = format!("v{}", i + 1);
        std::fs::write(&file, format!("release {}", i + 1)).unwrap();
        run_ok(&mut tk(&["add", GUN, &name, s(&file)]));
        let before = tree(&hsm.trust_dir);
        assert!(stage.exists());

        proxy.set(fault, "POST");
        let what = format!("publish, upload {fault:?}");
        let out = tk(&["publish", GUN, "-s", &proxy.url]).output().unwrap();
        one_line(&what, &out, cause);
        assert_eq!(
            proxy.faulted(),
            1,
            "{what}: the upload did not meet the fault"
        );
        assert_eq!(
            tree(&hsm.trust_dir),
            before,
            "{what}: the trust dir changed"
        );

        if fault != Fault::DropMidBody {
            proxy.set(fault, "GET");
            let what = format!("verify, {fault:?}");
            let client_before = tree(&client_dir);
            let out = client(&["verify", GUN, "-s", &proxy.url]).output().unwrap();
            one_line(&what, &out, cause);
            assert!(proxy.faulted() > 0, "{what}: no request met the fault");
            assert_eq!(tree(&client_dir), client_before, "{what}: changed");
        }

        proxy.set(Fault::Pass, "");
        run_ok(&mut tk(&["publish", GUN, "-s", &proxy.url]));
        assert!(!stage.exists(), "published, yet the stage is still there");
        let listed = run_ok(&mut client(&["list", GUN, "-s", &proxy.url]));
        assert!(listed.contains(&name), "{name} not published:\n{listed}");
        run_ok(&mut client(&["verify", GUN, "-s", &proxy.url]));
    }
}
