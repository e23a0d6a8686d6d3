//! Token signing overhead: trustkey's `TokenSigner` (host SHA-256, one session, one login)
//! against a raw `C_Sign` loop on the same SoftHSM key, in the same process.
//!
//! Needs softhsm2 (scripts/install-deps.sh). Run: `cargo bench --bench signing`.

use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use cryptoki::mechanism::Mechanism;
use cryptoki::session::UserType;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use trustkey::keys::uri::Pkcs11Uri;
use trustkey::keys::Signer;
use trustkey::token::TokenSigner;
use trustkey::token::{find_token, keygen, Tokens};

fn softhsm_token(dir: &std::path::Path) {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    let template = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hsm-config/softhsm2.conf.in"),
    )
    .unwrap();
    std::fs::write(
        &conf,
        template.replace("@TOKENDIR@", tokens.to_str().unwrap()),
    )
    .unwrap();
    // SoftHSM reads its config once, at C_Initialize: set it before anything loads the module.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let ok = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "bench"])
        .args(["--so-pin", "12345678", "--pin", "123456"])
        .output()
        .expect("softhsm2-util (scripts/install-deps.sh installs it)")
        .status
        .success();
    assert!(ok);
}

fn token_signing(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    softhsm_token(dir.path());
    let uri: Pkcs11Uri = "pkcs11:token=bench;object=bench-root".parse().unwrap();
    let tokens = Tokens::default();
    let token = find_token(&tokens, Some("softhsm"), &uri).unwrap();
    let session = token.open_session(true).unwrap();
    session
        .login(UserType::User, Some(&SecretString::from("123456")))
        .unwrap();
    let (pair, public) = keygen::generate(&token, &session, &uri, "trustkey bench").unwrap();

    // What trustkey signs: metadata of about a kilobyte.
    let msg = vec![b'x'; 1024];
    let digest = Sha256::digest(&msg);

    let mut group = c.benchmark_group("token_sign");
    group.bench_function("raw_c_sign", |b| {
        b.iter(|| {
            session
                .sign(&Mechanism::Ecdsa, pair.private, &digest)
                .unwrap()
        })
    });
    let signer = TokenSigner::with_session(
        find_token(&tokens, Some("softhsm"), &uri).unwrap(),
        token.open_session(false).unwrap(),
        &uri,
        public,
    )
    .unwrap();
    group.bench_function("trustkey_signer", |b| b.iter(|| signer.sign(&msg).unwrap()));
    group.finish();
    drop(signer);
    drop(session);
    drop(token);
    tokens.finish().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = token_signing
}
criterion_main!(benches);
