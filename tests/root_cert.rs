//! Notary root certificates read by openssl. Fails (does not skip) without `openssl`.

use std::fs;
use std::process::Command;

use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use time::macros::datetime;

use trustkey::keys::MemorySigner;
use trustkey::keys::Signer as _;
use trustkey::tuf::cert::{default_validity, parse_certificate, root_certificate, to_pem};

fn openssl(args: &[&str]) -> String {
    let out = match Command::new("openssl").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("openssl is not installed: this test needs it (Debian package `openssl`)")
        }
        Err(e) => panic!("cannot run openssl: {e}"),
    };
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn openssl_reads_the_root_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let signer = MemorySigner::generate("root");
    let (nb, na) = default_validity(datetime!(2026-11-25 12:00:00 UTC));
    let der = root_certificate(&signer, "docker.io/library/app", nb, na).unwrap();
    let path = dir.path().join("root.crt");
    fs::write(&path, to_pem(&der)).unwrap();
    let p = path.to_str().unwrap();

    let text = openssl(&["x509", "-in", p, "-noout", "-text"]);
    // openssl 1.1 prints `CN=x`, 3.x `CN = x`; compare trimmed lines with that normalized.
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.trim().replace("CN = ", "CN="))
        .collect();
    let has = |want: &str| lines.iter().any(|l| l == want);
    let after = |label: &str| {
        let i = lines
            .iter()
            .position(|l| l == label)
            .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"));
        lines[i + 1].clone()
    };
    for want in [
        "Version: 3 (0x2)",
        "Signature Algorithm: ecdsa-with-SHA256",
        "Issuer: CN=docker.io/library/app",
        "Subject: CN=docker.io/library/app",
        "Not Before: Nov 25 12:00:00 2026 GMT",
        "Not After : Nov 22 12:00:00 2036 GMT",
        "ASN1 OID: prime256v1",
    ] {
        assert!(has(want), "no {want:?} in:\n{text}");
    }
    assert_eq!(
        after("X509v3 Key Usage: critical"),
        "Digital Signature, Key Encipherment"
    );
    assert_eq!(after("X509v3 Extended Key Usage:"), "Code Signing");
    assert_eq!(after("X509v3 Basic Constraints: critical"), "CA:FALSE");
    // Nothing else: no key identifiers (Go adds them only to CA certificates).
    assert_eq!(lines.iter().filter(|l| l.starts_with("X509v3 ")).count(), 4);

    // The key in the certificate is the signer's.
    let public = openssl(&["x509", "-in", p, "-noout", "-pubkey"]);
    assert_eq!(
        public,
        signer
            .public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
    );

    // openssl checks the self-signature too (a self-signed leaf as its own trust anchor).
    let verified = openssl(&[
        "verify",
        "-CAfile",
        p,
        "-partial_chain",
        "-attime",
        "1800000000",
        "-purpose",
        "any",
        p,
    ]);
    assert!(verified.contains(": OK"), "{verified}");

    // DER from openssl parses back to the same facts.
    let der_path = dir.path().join("root.der");
    openssl(&[
        "x509",
        "-in",
        p,
        "-outform",
        "DER",
        "-out",
        der_path.to_str().unwrap(),
    ]);
    let info = parse_certificate(&fs::read(&der_path).unwrap()).unwrap();
    assert!(info.self_signed_ok);
    assert_eq!(info.common_name, "docker.io/library/app");
    assert_eq!(info.not_before, nb.replace_millisecond(0).unwrap());
}
