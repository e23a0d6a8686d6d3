//! The terminal as the library's `Prompter`: secrets read without echo from the controlling
//! terminal, and messages on stderr (stdout carries only results, so `--json` stays parseable),
//! following the rule documented on `secret::Prompter`: notices obey `--quiet` and `--json`,
//! touch requests and warnings always show.

use secrecy::SecretString;

use super::output::Output;
use crate::secret::Prompter;
use crate::text::printable;
use crate::{Error, Result};

/// Prompts on the controlling terminal; refuses when there is none.
#[derive(Debug, Clone, Copy)]
pub struct TerminalPrompter {
    output: Output,
}

impl TerminalPrompter {
    pub fn new(output: Output) -> Self {
        TerminalPrompter { output }
    }
}

impl Prompter for TerminalPrompter {
    fn secret(&mut self, prompt: &str) -> Result<SecretString> {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Error::PinUnavailable(format!(
                "{} is needed but there is no terminal to ask on",
                prompt.trim_end_matches([':', ' '])
            )));
        }
        let s = rpassword::prompt_password(printable(prompt))
            .map_err(|e| Error::io("reading from the terminal", e))?;
        Ok(SecretString::from(s))
    }

    fn notice(&mut self, msg: &str) {
        self.output.progress(msg);
    }

    fn touch(&mut self, msg: &str) {
        eprintln!("{}", printable(msg));
    }

    fn warn(&mut self, msg: &str) {
        eprintln!("{}", printable(msg));
    }
}
