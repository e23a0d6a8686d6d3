//! Hashed bins at scale: publishing a repository of 1,000,000 targets in 1,024 bins, then adding
//! one target, which must sign and write one bin (and snapshot and timestamp) only. Both are
//! measured in this process, with the keys already decrypted, through the same `publish` the
//! command line uses; the figure is their ratio (goal: under 1/50). Also: verifying the
//! repository as a client. Not criterion: one publish of 1,000,000 targets takes seconds.
//!
//!   cargo bench --bench bins                 1,000,000 targets, 1,024 bins
//!   BENCH_BIN_TARGETS=100000 cargo bench --bench bins

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use sha2::{Digest, Sha256, Sha512};
use time::OffsetDateTime;

use trustkey::keys::MemorySigner;
use trustkey::keys::Signer;
use trustkey::repo::client::{DirRemote, Updater, VerifyOptions};
use trustkey::repo::delegations::DelegationSigners;
use trustkey::repo::delegations::{BinsConfig, DelegationKey, KeyLocation};
use trustkey::repo::expiry::Expiries;
use trustkey::repo::init::{self, DISK_ROLES};
use trustkey::repo::layout;
use trustkey::repo::publish::{
    self, gun_repo_dir, Directory, PublishOptions, Signing, PUBLISH_ROLES,
};
use trustkey::repo::stage::{Change, Stage};
use trustkey::repo::trustdir::{Gun, TrustDir, TufOptions};
use trustkey::tuf::dialect::Dialect;
use trustkey::tuf::model::{MetaList, RoleName};
use trustkey::tuf::signed::SignedMeta;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn change(cfg: &trustkey::repo::trustdir::RepoConfig, i: usize) -> Change {
    let name = format!("packages/pkg-{i:07}.tar.gz");
    Change::Add {
        sha256: hex::encode(Sha256::digest(name.as_bytes())),
        sha512: hex::encode(Sha512::digest(name.as_bytes())),
        length: 1000 + i as u64,
        role: Some(cfg.route(&name, None).unwrap()),
        path: None,
        name,
    }
}

fn snapshot_meta(td: &TrustDir, gun: &Gun) -> BTreeMap<String, trustkey::tuf::model::MetaFile> {
    let b = td.read_published(gun, "snapshot.json").unwrap().unwrap();
    let m = SignedMeta::parse(RoleName::Snapshot, b).unwrap();
    m.view::<MetaList>("snapshot").unwrap().meta
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this with no such flag: then a
    // quick run that only checks the workflow.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        2_000
    } else {
        env_or("BENCH_BIN_TARGETS", 1_000_000)
    };
    let bins = if quick {
        16
    } else {
        env_or("BENCH_BINS", 1024)
    } as u32;

    let dir = tempfile::tempdir().unwrap();
    let td = TrustDir::new(dir.path().join("trust"));
    let repo = dir.path().join("repo");
    let gun: Gun = "bench.example/bins".parse().unwrap();
    let now = OffsetDateTime::now_utc();
    let root = MemorySigner::generate("bench root");
    let pass = SecretString::from("bench pass".to_string());
    let passphrases = DISK_ROLES.iter().map(|r| (*r, pass.clone())).collect();
    let sources = init::KeySource::new_keys(&passphrases).unwrap();
    init::create(
        &td,
        &init::NewRepo {
            gun: &gun,
            dialect: Dialect::Tuf,
            tuf: Some(TufOptions::default()),
            root: init::RootSigning::Token {
                reference: "memory:bench-root",
                signer: &root,
            },
            sources: &sources,
            server: None,
            expiries: &Expiries::new(&[], &[RoleName::Root]).unwrap(),
            now,
        },
    )
    .unwrap();
    let mut cfg = td.load_config(&gun).unwrap();
    let bins_key = MemorySigner::generate("bench bins");
    let listed = Dialect::Tuf.public_key(bins_key.public_key());
    let key_id = Dialect::Tuf.key_id(&listed);
    cfg.hashed_bins = Some(BinsConfig {
        count: bins,
        key: DelegationKey {
            key_id: key_id.clone(),
            key: listed,
            location: KeyLocation::File {
                key_file_id: "in-memory".into(),
            },
        },
    });
    td.save_config(&cfg).unwrap();
    let unlock: Vec<_> = PUBLISH_ROLES
        .iter()
        .map(|r| (*r, publish::key_file(&td, &cfg, *r).unwrap(), pass.clone()))
        .collect();
    let keys = publish::load_keys(&cfg, &unlock).unwrap();
    let mut signers: DelegationSigners = BTreeMap::new();
    signers.insert(key_id, Box::new(bins_key));
    let expiries = Expiries::new(&[], &PUBLISH_ROLES).unwrap();
    let mut dest = Directory::new(
        &repo,
        PublishOptions {
            metadata_only: true,
        },
    );
    let signing = Signing {
        keys: &keys,
        delegations: &signers,
        expiries: &expiries,
        now,
    };

    eprintln!("bins: staging {n} targets in {bins} bins");
    let stage = Stage {
        changes: (0..n).map(|i| change(&cfg, i)).collect(),
        delegations_changed: false,
    };
    let t = Instant::now();
    publish::sign_and_deliver(&td, &mut cfg, &stage, &signing, &mut dest).unwrap();
    let all = t.elapsed();
    drop(stage);
    let before = snapshot_meta(&td, &gun);

    let one = Stage {
        changes: vec![change(&cfg, n)],
        delegations_changed: false,
    };
    let t = Instant::now();
    let done = publish::sign_and_deliver(&td, &mut cfg, &one, &signing, &mut dest).unwrap();
    let add_one = t.elapsed();
    let after = snapshot_meta(&td, &gun);
    let changed: Vec<&String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(changed.len(), 1, "one bin signed again: {changed:?}");
    assert!(
        !done.signed_targets && done.delegations.len() == 1,
        "{done:?}"
    );

    let t = Instant::now();
    let remote = DirRemote {
        dir: layout::metadata_dir(Dialect::Tuf, &gun_repo_dir(&repo, &gun)),
    };
    let client_td = TrustDir::new(dir.path().join("client"));
    let v = Updater::new(
        &client_td,
        &gun,
        &remote,
        VerifyOptions {
            dialect: Dialect::Tuf,
            root_key_id: None,
            now,
        },
    )
    .update()
    .unwrap();
    let verify = t.elapsed();
    assert_eq!(v.target_count(), n + 1);
    std::mem::forget(v);
    // What verify cannot go below: reading every metadata file once and hashing it (sha256,
    // one thread), as the client must before it parses them.
    let t = Instant::now();
    let mut meta_bytes = 0usize;
    for e in std::fs::read_dir(&remote.dir).unwrap() {
        let b = std::fs::read(e.unwrap().path()).unwrap();
        meta_bytes += b.len();
        std::hint::black_box(Sha256::digest(&b));
    }
    let floor = t.elapsed();

    let ratio = secs(add_one) / secs(all);
    println!("| figure | trustkey | reference (same run) | ratio | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| add + publish of 1 target to {n} targets in {bins} hashed bins (signs {}) | {:.3} s | publishing all {n} targets ({bins} bins signed): {:.2} s | 1/{:.0} | < 1/50 |",
        changed[0],
        secs(add_one),
        secs(all),
        1.0 / ratio
    );
    println!(
        "| verify of that repository ({} roles, {} MB of metadata) | {:.2} s | reading and hashing its metadata files (sha256, one thread): {:.2} s | {:.2} | — |",
        bins + 1,
        meta_bytes / 1_000_000,
        secs(verify),
        secs(floor),
        secs(verify) / secs(floor)
    );
    if !quick && ratio >= 1.0 / 50.0 {
        eprintln!("bins: goal not met: {ratio:.4} >= 1/50");
    }
}
