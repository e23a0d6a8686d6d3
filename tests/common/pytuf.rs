//! python-tuf (the venv of scripts/pyenv.sh) and a static HTTP server for TUF repositories.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{json, run_ok};

/// The venv's python with python-tuf (scripts/pyenv.sh), made once per test process.
pub fn python() -> &'static Path {
    static PY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pyenv.sh");
        PathBuf::from(run_ok(Command::new("bash").arg(script)).trim())
    })
}

/// Serves `dir` over HTTP (any static server would do).
pub fn serve_static(dir: PathBuf) -> u16 {
    super::serve(move |path| {
        let p = path.strip_prefix('/')?;
        if p.split('/').any(|c| c == "..") {
            return None;
        }
        std::fs::read(dir.join(p)).ok()
    })
}

/// python-tuf's Updater (tests/data/tuf_client.py): metadata from `metadata_url`, targets
/// from `targets_url`, its cache in `base`, bootstrapped from `bootstrap` on its first run;
/// downloads `names`. Returns the script's JSON line.
pub fn updater(
    base: &Path,
    metadata_url: &str,
    targets_url: &str,
    bootstrap: &Path,
    names: &[&str],
) -> serde_json::Value {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tuf_client.py"))
        .arg(base.join("metadata"))
        .arg(metadata_url)
        .arg(targets_url)
        .arg(base.join("downloads"))
        .arg(bootstrap)
        .args(names)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = json(text.lines().last().unwrap_or_default());
    assert_eq!(
        out.status.success(),
        v["ok"] == true,
        "{v}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}
