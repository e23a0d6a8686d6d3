//! Human text vs `--json`, in one place. Results go to stdout; prompts and progress to stderr.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
}

impl Output {
    /// Prints a result: `human` renders it for people, `--json` prints `value` as one JSON document.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        match self.format {
            Format::Json => println!(
                "{}",
                serde_json::to_string_pretty(value).expect("results always serialize")
            ),
            Format::Human => {
                let s = human(value);
                if !s.is_empty() {
                    println!("{}", s.trim_end_matches('\n'));
                }
            }
        }
    }

    /// Progress and notices: stderr, and only in human mode.
    pub fn progress(&self, msg: &str) {
        if self.format == Format::Human {
            eprintln!("{msg}");
        }
    }
}
