//! A repository on notary-server: which server a command means (`ServerAddress`), reading it
//! (`ServerRemote`, for `list`/`verify`), the keys the server holds (`server_key`, for `init
//! --server`), and which repositories can go there. Publishing to it is
//! `publish::server::Server`.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::client::{too_large, Remote};
use super::server::{ClientCertFiles, NotaryServer, RemoteKey, Timeouts};
use super::trustdir::{Gun, RepoConfig, ServerConfig};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{Key, KeyVal, RoleName};
use crate::{Error, Result};

/// Where a command was told the notary-server is (`-s URL`, `--tlscacert FILE`); either may
/// be missing, as a repository remembers its server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerAddress {
    pub url: Option<String>,
    pub tlscacert: Option<PathBuf>,
    /// The time limits of every request to it.
    pub timeouts: Timeouts,
    /// `--tlscert/--tlskey`: a client certificate for the TLS handshake (not remembered).
    pub client_cert: Option<ClientCertFiles>,
}

impl ServerAddress {
    /// The notary-server of a command: the one given, else the one `remembered` (a
    /// repository's config) names. A CA file given keeps its absolute path; the same server as
    /// the remembered one keeps the remembered CA file, another server does not inherit it.
    /// `None` when neither names one.
    pub fn resolve(
        &self,
        remembered: Option<&RepoConfig>,
    ) -> Result<Option<(NotaryServer, ServerConfig)>> {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let remembered = remembered.and_then(|c| c.server.clone());
        let chosen = match (&self.url, remembered) {
            (Some(url), rem) => {
                let same =
                    |r: &ServerConfig| r.url.trim_end_matches('/') == url.trim_end_matches('/');
                ServerConfig {
                    url: url.clone(),
                    tlscacert: match &self.tlscacert {
                        Some(p) => Some(absolute(p)),
                        None => rem.filter(same).and_then(|r| r.tlscacert),
                    },
                }
            }
            (None, Some(mut rem)) => {
                if let Some(p) = &self.tlscacert {
                    rem.tlscacert = Some(absolute(p));
                }
                rem
            }
            (None, None) => return Ok(None),
        };
        let server = NotaryServer::with_client_cert(
            &chosen.url,
            chosen.tlscacert.as_deref(),
            self.client_cert.as_ref(),
            self.timeouts,
        )?;
        let chosen = ServerConfig {
            url: server.url().to_string(),
            ..chosen
        };
        Ok(Some((server, chosen)))
    }
}

/// The variable Docker reads for its notary-server; trustkey's default server for commands
/// that read or publish one (not `init`, where no server means a directory repository).
pub const DEFAULT_SERVER_VAR: &str = "DOCKER_CONTENT_TRUST_SERVER";

impl ServerAddress {
    /// As [`resolve`](Self::resolve), with `DOCKER_CONTENT_TRUST_SERVER` as the server when
    /// neither the command nor the repository's config names one.
    pub fn resolve_or_default(
        &self,
        remembered: Option<&RepoConfig>,
    ) -> Result<Option<(NotaryServer, ServerConfig)>> {
        if let Some(found) = self.resolve(remembered)? {
            return Ok(Some(found));
        }
        match std::env::var(DEFAULT_SERVER_VAR) {
            Ok(url) if !url.trim().is_empty() => ServerAddress {
                url: Some(url),
                tlscacert: self.tlscacert.clone(),
                client_cert: self.client_cert.clone(),
                timeouts: self.timeouts,
            }
            .resolve(None),
            _ => Ok(None),
        }
    }
}

/// notary-server as a [`Remote`]: `root.json` is `GET /v2/<gun>/_trust/tuf/root.json`, and so
/// on; a 404 is `None`, every other failure an error naming the server.
#[derive(Debug)]
pub struct ServerRemote {
    pub server: NotaryServer,
    pub gun: Gun,
}

impl Remote for ServerRemote {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        get_bounded(self, &self.server, &self.gun, name, max_len)
    }
    fn describe(&self) -> String {
        describe(&self.server, &self.gun)
    }
}

/// `gun` on `server` as a [`Remote`], borrowing the server (a publish reads what another
/// client published there).
pub fn remote<'a>(server: &'a NotaryServer, gun: &Gun) -> impl Remote + 'a {
    Borrowed {
        server,
        gun: gun.clone(),
    }
}

/// A [`ServerRemote`] that borrows the server.
struct Borrowed<'a> {
    server: &'a NotaryServer,
    gun: Gun,
}

impl Remote for Borrowed<'_> {
    fn get(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>> {
        get_bounded(self, self.server, &self.gun, name, max_len)
    }
    fn describe(&self) -> String {
        describe(self.server, &self.gun)
    }
}

/// `name` (`root.json`) from the server, reading at most `max_len` bytes of the response
/// (the server's own response limit applies too); a longer one is a verification failure.
fn get_bounded(
    remote: &dyn Remote,
    server: &NotaryServer,
    gun: &Gun,
    name: &str,
    max_len: u64,
) -> Result<Option<Vec<u8>>> {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    match server.get_metadata_within(gun.as_str(), stem, max_len) {
        Err(Error::Server {
            kind: crate::error::ServerFailure::TooLarge,
            ..
        }) => Err(too_large(
            remote,
            name,
            max_len.min(super::server::METADATA_LIMIT),
        )),
        other => other,
    }
}

fn describe(server: &NotaryServer, gun: &Gun) -> String {
    format!("{} ({})", server.url(), gun)
}

/// The public key the server holds for `role` (timestamp or snapshot) of `gun`, as root
/// metadata lists it. Until a root naming one is published, the server makes a new key on
/// every call: call this once per role and put exactly this key into root.
pub fn server_key(
    server: &NotaryServer,
    dialect: Dialect,
    gun: &Gun,
    role: RoleName,
) -> Result<Key> {
    if dialect != Dialect::Notary {
        return Err(Error::Usage(format!(
            "notary-server speaks the Notary dialect; {gun} uses the {dialect} dialect"
        )));
    }
    let remote = server.remote_key(gun.as_str(), role.as_str())?;
    listed_key(remote).map_err(|reason| Error::Server {
        url: server.url().to_string(),
        kind: crate::error::ServerFailure::BadResponse,
        reason: format!("the {role} key of {gun}: {reason}"),
    })
}

/// A key the server sent, checked (an ECDSA P-256 SubjectPublicKeyInfo), as root lists it.
pub(crate) fn listed_key(remote: RemoteKey) -> std::result::Result<Key, String> {
    if remote.keytype != crate::tuf::dialect::NOTARY_KEYTYPE_ECDSA {
        return Err(format!(
            "key type {:?} is not supported (trustkey verifies ecdsa P-256 keys)",
            remote.keytype
        ));
    }
    let der = B64
        .decode(remote.public_b64.as_bytes())
        .map_err(|_| "its public key is not base64".to_string())?;
    {
        use p256::pkcs8::DecodePublicKey;
        p256::PublicKey::from_public_key_der(&der)
            .map_err(|_| "not a P-256 SubjectPublicKeyInfo".to_string())?;
    }
    // Exactly the server's encoding: the server compares key IDs, which hash this text.
    Ok(Key {
        keytype: remote.keytype,
        keyval: KeyVal {
            public: remote.public_b64,
            extra: [("private".to_string(), serde_json::Value::Null)].into(),
        },
        extra: Default::default(),
    })
}

/// A repository whose root names a timestamp key on disk cannot go to notary-server, which
/// signs timestamp with its own key.
pub fn not_for_server(gun: &Gun) -> Error {
    Error::Usage(format!(
        "{gun} was initialized for publishing to a directory: its root names a timestamp key \
         on disk, but notary-server signs timestamp with its own key, so the server would \
         refuse it; initialize the repository with `trustkey init {gun} --server URL` (or \
         publish it with --repo DIR)"
    ))
}

/// A repository whose timestamp (or snapshot) key the server holds cannot be published to a
/// directory: nobody here could sign timestamp.
pub fn not_for_dir(gun: &Gun, cfg: &RepoConfig) -> Error {
    let roles: Vec<&str> = cfg.server_roles.iter().map(|r| r.as_str()).collect();
    let url = cfg
        .server
        .as_ref()
        .map_or("its notary-server", |s| s.url.as_str());
    Error::Usage(format!(
        "{gun} is published to {url}, which holds its {} key: publish it with `trustkey \
         publish {gun}` (or -s URL), not --repo",
        roles.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn cfg(server: Option<ServerConfig>) -> RepoConfig {
        RepoConfig {
            gun: "example.com/app".parse().unwrap(),
            dialect: Dialect::Notary,
            root_key: String::new(),
            root_key_id: String::new(),
            key_ids: BTreeMap::new(),
            versions: BTreeMap::new(),
            server,
            server_roles: vec![RoleName::Timestamp],
            tuf: None,
            key_files: BTreeMap::new(),
            retired: Vec::new(),
            delegations: Vec::new(),
            hashed_bins: None,
            root_set: None,
            pending_root: None,
        }
    }

    fn given(url: Option<&str>) -> ServerAddress {
        ServerAddress {
            url: url.map(String::from),
            tlscacert: None,
            timeouts: Timeouts::default(),
            client_cert: None,
        }
    }

    #[test]
    fn the_server_comes_from_flags_then_the_config() {
        let ca = std::env::temp_dir().join("trustkey-server-for-test-ca.crt");
        let remembered = ServerConfig {
            url: "https://notary.example.com".into(),
            tlscacert: Some(ca.clone()),
        };
        // Nothing given, nothing remembered.
        assert!(given(None).resolve(Some(&cfg(None))).unwrap().is_none());
        // Remembered (the CA file is read when the client is made: use none here).
        let plain = ServerConfig {
            url: "https://notary.example.com".into(),
            tlscacert: None,
        };
        let (_, got) = given(None)
            .resolve(Some(&cfg(Some(plain.clone()))))
            .unwrap()
            .unwrap();
        assert_eq!(got, plain);
        // -s wins; another server does not inherit the remembered CA file.
        let (s, got) = given(Some("other.example.com/"))
            .resolve(Some(&cfg(Some(remembered.clone()))))
            .unwrap()
            .unwrap();
        assert_eq!(s.url(), "https://other.example.com");
        assert_eq!(got.url, "https://other.example.com");
        assert_eq!(got.tlscacert, None);
        // The same server keeps its CA file (which must then exist).
        let err = given(Some("https://notary.example.com/"))
            .resolve(Some(&cfg(Some(remembered))))
            .unwrap_err();
        assert!(err.to_string().contains(ca.to_str().unwrap()), "{err}");
        // A CA file given is kept as an absolute path (and must exist).
        let err = ServerAddress {
            url: Some("https://notary.example.com".into()),
            tlscacert: Some("relative-ca.crt".into()),
            timeouts: Timeouts::default(),
            client_cert: None,
        }
        .resolve(None)
        .unwrap_err();
        let absolute = std::env::current_dir().unwrap().join("relative-ca.crt");
        assert!(
            err.to_string().contains(absolute.to_str().unwrap()),
            "{err}"
        );
    }
}
