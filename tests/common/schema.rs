//! The `--json` contract: documents checked against docs/json-schema/trustkey.schema.json by
//! python's `jsonschema` (the venv of scripts/pyenv.sh).

use std::path::Path;
use std::process::Command;

/// Checks each (document name, document) against the schema; with `all`, also that every
/// document the schema lists was given (or is validated elsewhere). Panics with every problem.
pub fn validate(docs: &[(&str, serde_json::Value)], all: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docs.json");
    let pairs: Vec<serde_json::Value> = docs
        .iter()
        .map(|(n, d)| serde_json::json!([n, d]))
        .collect();
    std::fs::write(&file, serde_json::to_vec(&pairs).unwrap()).unwrap();
    let mut c = Command::new(super::pytuf::python());
    c.arg(root.join("tests/data/validate_json.py"))
        .arg(root.join("docs/json-schema/trustkey.schema.json"))
        .arg(&file);
    if all {
        c.arg("--all");
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "--json documents do not match docs/json-schema/trustkey.schema.json:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
