//! Human text vs `--json`, in one place. Results go to stdout; prompts and progress to stderr.

use serde::Serialize;

use crate::text::{printable, printable_lines};
use crate::tuf::keyid::{KeyIdKind, RootKeyIds};

/// A root key's IDs as every command shows them, labelled: `canonical key ID X, certificate
/// key ID Y` (notary dialect), `canonical key ID X, metadata key ID Y` (tuf dialect).
pub fn root_key_ids(k: &RootKeyIds) -> String {
    let mut s = format!("{} {}", KeyIdKind::Canonical.label(), k.canonical_key_id);
    if !k.metadata_key_id.is_empty() && k.metadata_key_id != k.canonical_key_id {
        s += &format!(", {} {}", k.metadata_kind().label(), k.metadata_key_id);
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    /// `--quiet`: no progress bars or notices.
    pub quiet: bool,
}

impl Output {
    pub fn from_global(g: &super::Global) -> Self {
        Output {
            format: if g.json { Format::Json } else { Format::Human },
            quiet: g.quiet,
        }
    }

    /// Prints a result: `human` renders it for people, `--json` prints `value` (a struct: a
    /// JSON object) as one JSON document, with `"schema": SCHEMA` (docs/json.md).
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        match self.format {
            Format::Json => print_document(serde_json::to_value(value)),
            Format::Human => print_human(human(value)),
        }
    }

    /// A list result: `--json` prints `{"schema": 1, "<key>": [...]}`, never a bare array,
    /// so every document is an object that can grow fields.
    pub fn emit_list<T: Serialize>(
        &self,
        key: &str,
        items: &[T],
        human: impl FnOnce(&[T]) -> String,
    ) {
        match self.format {
            Format::Json => {
                print_document(serde_json::to_value(items).map(|v| serde_json::json!({ key: v })))
            }
            Format::Human => print_human(human(items)),
        }
    }

    /// Progress and notices: stderr, and only in human mode.
    pub fn progress(&self, msg: &str) {
        if self.format == Format::Human && !self.quiet {
            eprintln!("{}", printable(msg));
        }
    }

    /// A byte-count progress bar for long work, on a terminal only (hidden with `--quiet`,
    /// `--json`, or when stderr is not a TTY).
    pub fn bytes_bar(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        use std::io::IsTerminal;
        if self.quiet || self.format == Format::Json || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}

/// The version of the `--json` documents (docs/json.md, docs/json-schema/): every document
/// carries it as `"schema"`; it changes only when a field changes meaning or goes away.
pub const SCHEMA: u64 = 1;

/// `value` with `"schema": SCHEMA`; a value that is not an object is an error (results are
/// structs, lists go through `emit_list`).
pub fn document(value: serde_json::Value) -> Result<serde_json::Value, String> {
    match value {
        serde_json::Value::Object(mut m) => {
            m.insert("schema".into(), SCHEMA.into());
            Ok(serde_json::Value::Object(m))
        }
        other => Err(format!("a result is not a JSON object: {other}")),
    }
}

fn print_document(value: serde_json::Result<serde_json::Value>) {
    // Results are structs with string keys: they serialize. Should one not, say so.
    match value.map_err(|e| e.to_string()).and_then(document) {
        Ok(v) => match serde_json::to_string_pretty(&v) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("trustkey: the result does not serialize: {e}"),
        },
        Err(e) => eprintln!("trustkey: the result does not serialize: {e}"),
    }
}

fn print_human(s: String) {
    if !s.is_empty() {
        // Rows hold outside text: what a terminal would act on is shown escaped (line feeds
        // inside a field are escaped where the row is made).
        println!("{}", printable_lines(s.trim_end_matches('\n')));
    }
}

/// An error on stderr: one line and a hint, or with `--json` one JSON object
/// `{"schema": 1, "error": ..., "hint": ... or null, "exit": N}`.
pub fn print_error(e: &crate::Error, format: Format) {
    match format {
        Format::Json => eprintln!("{}", error_document(e)),
        Format::Human => {
            // Errors carry outside text (names, server messages): shown, never acted on.
            eprintln!("trustkey: {}", printable(&e.to_string()));
            if let Some(h) = e.hint() {
                eprintln!("hint: {}", printable(&h));
            }
        }
    }
}

/// The `--json` form of an error, on one line. JSON escapes control characters itself.
pub fn error_document(e: &crate::Error) -> String {
    serde_json::json!({
        "schema": SCHEMA,
        "error": e.to_string(),
        "hint": e.hint(),
        "exit": e.exit_code(),
    })
    .to_string()
}
