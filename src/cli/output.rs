//! Human text vs `--json`, in one place. Results go to stdout; prompts and progress to stderr.

use serde::Serialize;

use crate::text::{printable, printable_lines};

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

    /// Prints a result: `human` renders it for people, `--json` prints `value` as one JSON document.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce(&T) -> String) {
        match self.format {
            // Results are structs with string keys: they serialize. Should one not, say so.
            Format::Json => match serde_json::to_string_pretty(value) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("trustkey: the result does not serialize: {e}"),
            },
            Format::Human => {
                let s = human(value);
                if !s.is_empty() {
                    // Rows hold outside text: what a terminal would act on is shown escaped
                    // (line feeds inside a field are escaped where the row is made).
                    println!("{}", printable_lines(s.trim_end_matches('\n')));
                }
            }
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
