//! Canonical JSON of a large targets role, against serde_json's plain (non-canonical) writer of
//! the same value in the same process; and telling canonical text from other text.

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};

fn targets(n: usize) -> Value {
    let mut t = Map::new();
    for i in 0..n {
        t.insert(
            format!("images/app-{i:06}.tar"),
            json!({"length": 1000 + i, "hashes": {
                "sha256": format!("{:064x}", i),
                "sha512": format!("{:0128x}", i),
            }}),
        );
    }
    json!({"_type": "Targets", "expires": "2029-11-25T00:00:00Z", "version": 1, "targets": t})
}

fn canonical(c: &mut Criterion) {
    let v = targets(100_000);
    let mut group = c.benchmark_group("cjson_100k_targets");
    group.bench_function("serde_json_to_vec", |b| {
        b.iter(|| serde_json::to_vec(&v).unwrap())
    });
    group.bench_function("trustkey_cjson", |b| {
        b.iter(|| trustkey::tuf::cjson::encode(&v).unwrap())
    });
    // What checking a file's signatures costs on top of the signature itself: the one-pass
    // canonical check of the text as it stands (canonical files), against parsing it and
    // encoding it again (every other file).
    let text = trustkey::tuf::cjson::encode(&v).unwrap();
    group.bench_function("is_canonical", |b| {
        b.iter(|| assert!(trustkey::tuf::cjson::is_canonical(&text)))
    });
    group.bench_function("parse_and_reencode", |b| {
        b.iter(|| {
            let parsed: Value = serde_json::from_slice(&text).unwrap();
            trustkey::tuf::cjson::encode(&parsed).unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = canonical
}
criterion_main!(benches);
