//! A key on a PKCS#11 token as a `Signer`: one session and one login per command; SHA-256 is
//! computed on the host and the digest signed with `CKM_ECDSA` (SoftHSM 2.6 has no
//! `CKM_ECDSA_SHA256`), giving raw r||s.

use std::cell::Cell;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::{Digest, Sha256};

use super::uri::Pkcs11Uri;
use super::{key_template, read_ec_point, Token};
use crate::secret::Prompter;
use crate::sign::Signer;
use crate::{Error, Result};

pub struct TokenSigner {
    token: Token,
    session: Session,
    key: ObjectHandle,
    public: p256::PublicKey,
    object: String,
    noticed: Cell<bool>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("token", &self.token.desc())
            .field("object", &self.object)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// Finds the key on `token`, then logs in (the only PIN prompt of the command for this
    /// token). `allow_final_try`: spend the PIN's last try (see [`Token::login`]).
    pub fn open(
        token: Token,
        uri: &Pkcs11Uri,
        prompter: &mut dyn Prompter,
        allow_final_try: bool,
    ) -> Result<Self> {
        let session = token.open_session(false)?;
        // Find the public half before asking for a PIN: a wrong URI costs no PIN try.
        let public = find_public(&token, &session, uri)?;
        token.login(&session, uri, prompter, allow_final_try)?;
        Self::with_session(token, session, uri, public)
    }

    /// Wraps an open, logged-in session (used right after creating or importing a key).
    pub fn with_session(
        token: Token,
        session: Session,
        uri: &Pkcs11Uri,
        public: p256::PublicKey,
    ) -> Result<Self> {
        let key = find_one(&token, &session, uri, ObjectClass::PRIVATE_KEY)?;
        // cryptoki leaves out an attribute the module does not know; any other failure is the
        // token's (read as "no" it would fail later at C_Sign, naming the wrong cause).
        let always_auth = session
            .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
            .map_err(|e| token.err("C_GetAttributeValue", e))?
            .into_iter()
            .any(|a| matches!(a, Attribute::AlwaysAuthenticate(true)));
        if always_auth {
            return Err(Error::Crypto(format!(
                "key {:?} on {} needs a PIN before every signature (CKA_ALWAYS_AUTHENTICATE), \
                 which trustkey does not support through PKCS#11; recreate it with PIN policy \
                 'once'",
                uri.object_label(),
                token.desc()
            )));
        }
        Ok(TokenSigner {
            object: uri.object_label().to_string(),
            token,
            session,
            key,
            public,
            noticed: Cell::new(false),
        })
    }

    pub fn token(&self) -> &Token {
        &self.token
    }

    pub fn session(&self) -> &Session {
        &self.session
    }
}

/// The public key a URI names: from the public key object (private EC objects do not carry
/// the point on most modules).
pub fn find_public(token: &Token, session: &Session, uri: &Pkcs11Uri) -> Result<p256::PublicKey> {
    let h = find_one(token, session, uri, ObjectClass::PUBLIC_KEY)?;
    read_ec_point(session, h).map_err(|reason| {
        Error::Crypto(format!(
            "key {:?} on {}: {reason}",
            uri.object_label(),
            token.desc()
        ))
    })
}

fn find_one(
    token: &Token,
    session: &Session,
    uri: &Pkcs11Uri,
    class: ObjectClass,
) -> Result<ObjectHandle> {
    let found = session
        .find_objects(&key_template(uri, class))
        .map_err(|e| token.err("C_FindObjects", e))?;
    let what = if class == ObjectClass::PUBLIC_KEY {
        "public"
    } else {
        "private"
    };
    match found.as_slice() {
        [h] => Ok(*h),
        [] => Err(Error::KeyNotFound {
            token: token.desc(),
            object: format!("{} ({what} EC key)", uri.key_desc()),
        }),
        _ => Err(Error::Usage(format!(
            "{} holds {} {what} keys labelled {:?}; add id=... to the URI",
            token.desc(),
            found.len(),
            uri.object_label()
        ))),
    }
}

impl Signer for TokenSigner {
    fn public_key(&self) -> &p256::PublicKey {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        sign_on_token(&self.token, &self.session, self.key, msg)
    }

    fn describe(&self) -> String {
        format!("{}, object {:?}", self.token.desc(), self.object)
    }

    /// Once per signer: PKCS#11 cannot say whether the token waits for a touch.
    fn touch_notice(&self) -> Option<String> {
        (!self.noticed.replace(true)).then(|| {
            format!(
                "Signing on {} (touch it if it blinks)...",
                self.token.desc()
            )
        })
    }
}

/// A key in a session the caller keeps (one just generated or imported, before it is handed
/// over), signing as [`TokenSigner`] does. `public` is the key it is meant to be, for checking.
pub struct SessionKey<'a> {
    pub token: &'a Token,
    pub session: &'a Session,
    pub private: ObjectHandle,
    pub public: p256::PublicKey,
    pub object: &'a str,
}

impl Signer for SessionKey<'_> {
    fn public_key(&self) -> &p256::PublicKey {
        &self.public
    }

    fn sign(&self, msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        sign_on_token(self.token, self.session, self.private, msg)
    }

    fn describe(&self) -> String {
        format!("{}, object {:?}", self.token.desc(), self.object)
    }
}

/// SHA-256 on the host, `CKM_ECDSA` over the digest on the token, raw r||s back.
fn sign_on_token(
    token: &Token,
    session: &Session,
    key: ObjectHandle,
    msg: &[u8],
) -> Result<p256::ecdsa::Signature> {
    let digest = Sha256::digest(msg);
    let raw = session
        .sign(&Mechanism::Ecdsa, key, &digest)
        .map_err(|e| token.err("C_Sign", e))?;
    p256::ecdsa::Signature::from_slice(&raw).map_err(|_| {
        Error::Crypto(format!(
            "{} returned a {}-byte signature, not P-256 r||s",
            token.desc(),
            raw.len()
        ))
    })
}
