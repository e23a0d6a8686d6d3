//! Target hashing: one read per file, sha256 and sha512 in the same pass, bounded memory.
//!
//! A single file is read once and its chunks go to two hashers on two threads (sha512 is the
//! slow one; sha256 runs beside it), so one big file costs about one sha512. Many files are
//! spread over the cores, one file per worker, each hashed in one pass.
//!
//! The SHA-2 code is OpenSSL's libcrypto (through the `openssl` crate's plain SHA-2 contexts:
//! no EVP provider lookup per file): its x86_64 SHA-512 takes the AVX2 path on every vendor,
//! where ring and aws-lc fall back to scalar code on AMD (about 1.3x slower there), and it
//! matches or beats them elsewhere (README, Performance).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, PoisonError};

use openssl::sha::{Sha256, Sha512};

/// Read size: large enough that per-chunk overhead vanishes, small enough to bound memory
/// (at most `QUEUE + 2` chunks are alive per file: about 6 MiB).
const CHUNK: usize = 1 << 20;
const QUEUE: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub length: u64,
    pub sha256: [u8; 32],
    pub sha512: [u8; 64],
}

fn read_chunk(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    // Fill the whole chunk when possible: fewer, larger hash updates.
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(buf.get_mut(filled..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Hashes a reader on the current thread, both digests in one pass. `progress` gets the byte
/// count of each chunk.
pub fn hash_reader_serial(r: impl Read, progress: &dyn Fn(u64)) -> std::io::Result<Digests> {
    hash_with_buffer(r, &mut vec![0u8; CHUNK], progress)
}

/// As `hash_reader_serial`, reading through `buf`: a worker hashing many files allocates it
/// once, not once per file.
fn hash_with_buffer(
    mut r: impl Read,
    buf: &mut [u8],
    progress: &dyn Fn(u64),
) -> std::io::Result<Digests> {
    let mut s256 = Sha256::new();
    let mut s512 = Sha512::new();
    let mut length = 0u64;
    loop {
        let n = read_chunk(&mut r, buf)?;
        if n == 0 {
            break;
        }
        let data = buf.get(..n).unwrap_or_default();
        s256.update(data);
        s512.update(data);
        length += n as u64;
        progress(n as u64);
    }
    Ok(Digests {
        length,
        sha256: s256.finish(),
        sha512: s512.finish(),
    })
}

/// Hashes a reader with sha512 on a second thread, read once.
pub fn hash_reader_split(mut r: impl Read, progress: &dyn Fn(u64)) -> std::io::Result<Digests> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(QUEUE);
        // sha512 is the slower hash: it gets a thread of its own, and this thread reads the
        // file and does sha256 beside it.
        let h512 = scope.spawn(move || {
            let mut s512 = Sha512::new();
            for chunk in rx {
                s512.update(&chunk[..]);
            }
            s512.finish()
        });
        let mut s256 = Sha256::new();
        let mut length = 0u64;
        // Buffers come back for reuse once the sha512 thread is done with them, so a big file
        // costs no allocation (nor zeroing) per chunk.
        let mut pool: std::collections::VecDeque<Arc<Vec<u8>>> = std::collections::VecDeque::new();
        let result = (|| loop {
            let mut chunk = match pool.pop_front() {
                Some(a) if Arc::strong_count(&a) == 1 => a,
                Some(a) => {
                    pool.push_front(a);
                    Arc::new(vec![0u8; CHUNK])
                }
                None => Arc::new(vec![0u8; CHUNK]),
            };
            let Some(buf) = Arc::get_mut(&mut chunk) else {
                return Err(std::io::Error::other("a hashing buffer is still in use"));
            };
            buf.resize(CHUNK, 0);
            let n = read_chunk(&mut r, buf)?;
            if n == 0 {
                return Ok(());
            }
            buf.truncate(n);
            if tx.send(Arc::clone(&chunk)).is_err() {
                return Err(std::io::Error::other("the sha512 thread stopped"));
            }
            s256.update(&chunk[..]);
            length += n as u64;
            progress(n as u64);
            pool.push_back(chunk);
        })();
        drop(tx);
        let sha512 = h512
            .join()
            .map_err(|_| std::io::Error::other("the sha512 thread failed"));
        result.and_then(|()| {
            Ok(Digests {
                length,
                sha256: s256.finish(),
                sha512: sha512?,
            })
        })
    })
}

pub fn hash_file(path: &Path, progress: &dyn Fn(u64)) -> std::io::Result<Digests> {
    hash_reader_split(std::fs::File::open(path)?, progress)
}

/// Hashes many files across the cores; results in input order. A single file is split over
/// two threads instead.
pub fn hash_files(
    paths: &[PathBuf],
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<std::io::Result<Digests>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(paths.len());
    if workers <= 1 {
        return paths.iter().map(|p| hash_file(p, progress)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<std::io::Result<Digests>>> = Vec::new();
    results.resize_with(paths.len(), || None);
    let collected = std::sync::Mutex::new(results);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let r = std::fs::File::open(path)
                        .and_then(|f| hash_with_buffer(f, &mut buf, progress));
                    let mut results = collected.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    collected
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(std::io::Error::other("not hashed"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use sha2::{Digest, Sha256, Sha512};

    fn reference(data: &[u8]) -> Digests {
        Digests {
            length: data.len() as u64,
            sha256: Sha256::digest(data).into(),
            sha512: Sha512::digest(data).into(),
        }
    }

    #[test]
    fn all_paths_agree() {
        for len in [0usize, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let want = reference(&data);
            assert_eq!(
                hash_reader_serial(&data[..], &|_| {}).unwrap(),
                want,
                "{len}"
            );
            assert_eq!(
                hash_reader_split(&data[..], &|_| {}).unwrap(),
                want,
                "{len}"
            );
        }
    }

    #[test]
    fn many_files_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        let mut want = Vec::new();
        for i in 0..9usize {
            let data = vec![i as u8; i * 100_000];
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, &data).unwrap();
            paths.push(p);
            want.push(reference(&data));
        }
        paths.push(dir.path().join("missing"));
        let total = AtomicUsize::new(0);
        let got = hash_files(&paths, &|n| {
            total.fetch_add(n as usize, Ordering::Relaxed);
        });
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.as_ref().unwrap(), w);
        }
        assert!(got[9].is_err());
        assert_eq!(
            total.load(Ordering::Relaxed) as u64,
            want.iter().map(|d| d.length).sum::<u64>()
        );
    }
}
