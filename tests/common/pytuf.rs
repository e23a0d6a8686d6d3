//! python-tuf (the venv of scripts/pyenv.sh) and a static HTTP server for TUF repositories.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let body = path
                .strip_prefix('/')
                .filter(|p| !p.split('/').any(|c| c == ".."))
                .and_then(|p| std::fs::read(dir.join(p)).ok());
            let _ = match body {
                Some(b) => write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )
                .and_then(|()| stream.write_all(&b)),
                None => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    port
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
