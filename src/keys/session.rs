//! A session: what opening keys takes besides the key reference, for the length of one command.
//! The PKCS#11 module to use when a reference names none, the modules loaded so far (each
//! initialized once, finalized by [`Session::finish`]), the prompter for PINs and notices, and
//! whether a PIN's last try may be spent. The command line builds one from its flags; nothing
//! here knows about flags.

use super::uri::KeyRef;
use crate::piv;
use crate::secret::{Prompter, SharedPrompter};
use crate::sign::Signer;
use crate::token::{self, Pkcs11Uri, Token, TokenSigner, Tokens};
use crate::Result;

pub struct Session {
    module: Option<String>,
    tokens: Tokens,
    prompter: SharedPrompter,
    allow_final_pin_try: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("module", &self.module)
            .field("allow_final_pin_try", &self.allow_final_pin_try)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// `module`: the PKCS#11 module for references without a `module-path` (a path to the
    /// .so, or a profile name: softhsm, ykcs11, opensc).
    pub fn new(module: Option<String>, prompter: Box<dyn Prompter>) -> Self {
        Session {
            module,
            tokens: Tokens::default(),
            prompter: SharedPrompter::new(prompter),
            allow_final_pin_try: false,
        }
    }

    /// Lets a login spend a PIN's last try (a wrong PIN then locks the token). Refused unless
    /// asked for.
    pub fn allow_final_pin_try(mut self, allow: bool) -> Self {
        self.allow_final_pin_try = allow;
        self
    }

    pub fn final_pin_try_allowed(&self) -> bool {
        self.allow_final_pin_try
    }

    /// The module for references that name none.
    pub fn module(&self) -> Option<&str> {
        self.module.as_deref()
    }

    /// The PKCS#11 modules loaded in this session.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn prompter(&self) -> &SharedPrompter {
        &self.prompter
    }

    /// Runs `f` with the prompter (PINs, passphrases, notices).
    pub fn with_prompter<T>(&self, f: impl FnOnce(&mut dyn Prompter) -> T) -> T {
        self.prompter.with(f)
    }

    /// The one token a URI names, on its module or the session's.
    pub fn find_token(&self, uri: &Pkcs11Uri) -> Result<Token> {
        token::find_token(&self.tokens, self.module(), uri)
    }

    /// Opens the key a reference names, logging in once per token per command.
    pub fn open_signer(&self, key: &KeyRef) -> Result<Box<dyn Signer>> {
        match key {
            KeyRef::Pkcs11(uri) => {
                let token = self.find_token(uri)?;
                let signer = self.with_prompter(|p| {
                    TokenSigner::open(token, uri, p, self.allow_final_pin_try)
                })?;
                Ok(self.announced(signer))
            }
            KeyRef::Yubikey(r) => {
                let dev = piv::open(r.serial)?;
                let signer = self.with_prompter(|p| {
                    dev.signer(r.slot, r.pin_source.as_ref(), p, self.allow_final_pin_try)
                })?;
                Ok(self.announced(signer))
            }
        }
    }

    /// `signer`, telling the user through this session's prompter what the device waits for
    /// before each signature.
    pub fn announced<S: Signer + 'static>(&self, signer: S) -> Box<dyn Signer> {
        Box::new(Announced::new(signer, self.prompter.clone()))
    }

    /// Finalizes every PKCS#11 module this session loaded.
    pub fn finish(self) -> Result<()> {
        self.tokens.finish()
    }
}

/// A signer that says what the device waits for (a touch) before each signature, through the
/// prompter: signers themselves never print.
pub struct Announced<S> {
    inner: S,
    prompter: SharedPrompter,
}

impl<S: Signer> Announced<S> {
    pub fn new(inner: S, prompter: SharedPrompter) -> Self {
        Announced { inner, prompter }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Signer> Signer for Announced<S> {
    fn public_key(&self) -> &p256::PublicKey {
        self.inner.public_key()
    }

    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        if let Some(msg) = self.inner.touch_notice() {
            self.prompter.touch(&msg);
        }
        self.inner.sign(msg)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}
