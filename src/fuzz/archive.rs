//! Backup archives (`backup verify`, `backup restore`).

use std::io::Write as _;

use secrecy::SecretString;

use super::{shown, shown_error};
use crate::backup;
use crate::secret::Prompter;
use crate::Error;

/// A tar.gz as `backup verify` and `backup restore` read it; anything else is taken for a bare
/// tar and gzipped here (stored, not compressed), so that mutations reach the tar reader
/// rather than dying in deflate. Then the checks `backup verify` makes before it asks for any
/// passphrase (the prompter has none to give, so no key is decrypted).
pub fn archive(data: &[u8]) {
    let gz;
    let input = if data.starts_with(&[0x1f, 0x8b]) {
        data
    } else {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        if enc.write_all(data).is_err() {
            return;
        }
        let Ok(bytes) = enc.finish() else {
            return;
        };
        gz = bytes;
        &gz
    };
    let archive = match backup::read_archive_from(input, "fuzz.tar.gz") {
        Ok(a) => a,
        Err(e) => {
            let _ = shown_error(&Err::<(), _>(e));
            return;
        }
    };
    for (path, bytes) in archive.files() {
        let _ = (path.len(), bytes.len());
    }
    let report = backup::verify(&archive, &mut NoPassphrase);
    let _ = (report.failed(), report.checked(), shown(&report.verdict()));
}

/// A prompter without a terminal: no passphrase, nothing shown.
struct NoPassphrase;

impl Prompter for NoPassphrase {
    fn secret(&mut self, _prompt: &str) -> crate::Result<SecretString> {
        Err(Error::PinUnavailable("fuzzing: no passphrase".into()))
    }
    fn notice(&mut self, _msg: &str) {}
}
