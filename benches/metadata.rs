//! Canonical JSON of a large targets role, against serde_json's plain (non-canonical) writer of
//! the same value in the same process.

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
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = canonical
}
criterion_main!(benches);
