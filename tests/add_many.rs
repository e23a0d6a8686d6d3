//! `add --dir`: many targets staged in one command, hashed in parallel, then published and
//! verified.

mod common;

use common::{json, Hsm};

#[test]
fn add_a_directory_publish_and_verify() {
    let hsm = Hsm::with_root("rootA");
    let env = [
        ("TRUSTKEY_TARGETS_PASSPHRASE", "targets passphrase"),
        ("TRUSTKEY_SNAPSHOT_PASSPHRASE", "snapshot passphrase"),
        ("TRUSTKEY_TIMESTAMP_PASSPHRASE", "timestamp passphrase"),
    ];
    let run = |args: &[&str]| {
        let mut c = hsm.trustkey();
        c.envs(env).args(args);
        common::run_ok(&mut c)
    };
    run(&["init", "example.com/many", "--root", "pkcs11:token=rootA"]);
    let dist = hsm.path().join("dist");
    std::fs::create_dir_all(dist.join("a/b")).unwrap();
    let mut want = std::collections::BTreeMap::new();
    for (name, body) in [
        ("x.txt", "x\n"),
        ("a/y.bin", "yy"),
        ("a/b/z", ""),
        ("a/b/w", "w"),
    ] {
        std::fs::write(dist.join(name), body).unwrap();
        want.insert(format!("rel/{name}"), body.len() as u64);
    }
    std::os::unix::fs::symlink("/etc/passwd", dist.join("link")).unwrap();

    let v = json(&run(&[
        "--json",
        "add",
        "example.com/many",
        "--dir",
        dist.to_str().unwrap(),
        "--prefix",
        "rel/",
    ]));
    let staged: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        staged,
        want.keys().map(String::as_str).collect::<Vec<_>>(),
        "symlinks skipped"
    );
    // Staging the same directory again replaces, not duplicates.
    run(&[
        "add",
        "example.com/many",
        "--dir",
        dist.to_str().unwrap(),
        "--prefix",
        "rel/",
    ]);
    let status = json(&run(&["--json", "status", "example.com/many"]));
    assert_eq!(status["changes"].as_array().unwrap().len(), want.len());

    let repo = hsm.path().join("repo");
    run(&[
        "publish",
        "example.com/many",
        "--repo",
        repo.to_str().unwrap(),
    ]);
    let out = run(&[
        "--json",
        "list",
        "example.com/many",
        "--repo",
        repo.to_str().unwrap(),
    ]);
    let listed = json(&out);
    let mut got = std::collections::BTreeMap::new();
    for t in listed["targets"].as_array().unwrap() {
        got.insert(
            t["name"].as_str().unwrap().to_string(),
            t["length"].as_u64().unwrap(),
        );
    }
    assert_eq!(got, want, "{out}");
    let z = format!("rel/a/b/w={}", dist.join("a/b/w").display());
    run(&[
        "verify",
        "example.com/many",
        "--repo",
        repo.to_str().unwrap(),
        "--target",
        &z,
    ]);

    // NAME FILE and --dir are exclusive; an empty directory is an error.
    let (code, _) = hsm.fails(&["add", "example.com/many", "n", "f", "--dir", "d"]);
    assert_eq!(code, 2);
    std::fs::create_dir(hsm.path().join("empty")).unwrap();
    let (code, err) = hsm.fails(&[
        "add",
        "example.com/many",
        "--dir",
        hsm.path().join("empty").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no files under"), "{err}");
}
