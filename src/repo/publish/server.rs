//! notary-server as the destination of a publish: root (when the server does not have it yet,
//! or has another), targets, the delegated roles and snapshot go up in one multipart request,
//! and the server signs timestamp (and snapshot, when it manages that key too). If another
//! client published since, the server's copy is verified against the publisher's root and the
//! new versions build on it.

use time::OffsetDateTime;

use super::{Ahead, Destination, Outgoing};
use crate::repo::client::PendingState;
use crate::repo::server::NotaryServer;
use crate::repo::server_repo::{not_for_server, remote};
use crate::repo::trustdir::{Gun, RepoConfig, ServerConfig, TrustDir};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::tuf::signed::SignedMeta;
use crate::Result;

/// A repository on notary-server.
#[derive(Debug)]
pub struct Server {
    server: NotaryServer,
    /// What the config remembers of the server once it has taken a publish.
    config: ServerConfig,
    /// Whether root goes up: the server has none yet, or another one.
    send_root: bool,
    /// The server's copy as verified (the publisher's client state), stored once the upload
    /// went through: a failed publish changes nothing in the trust dir.
    verified: Option<PendingState>,
}

impl Server {
    pub fn new(server: NotaryServer, config: ServerConfig) -> Self {
        Server {
            server,
            config,
            send_root: true,
            verified: None,
        }
    }
}

impl Destination for Server {
    fn describe(&self, _: &Gun) -> String {
        self.server.url().to_string()
    }

    /// notary-server signs timestamp with its own key: root must name that key.
    fn accepts(&self, cfg: &RepoConfig) -> Result<()> {
        if cfg.dialect != Dialect::Notary || !cfg.server_signs(RoleName::Timestamp) {
            return Err(not_for_server(&cfg.gun));
        }
        Ok(())
    }

    fn ahead(
        &mut self,
        td: &TrustDir,
        cfg: &RepoConfig,
        root: &SignedMeta,
        now: OffsetDateTime,
    ) -> Result<Ahead> {
        let gun = &cfg.gun;
        // Root goes up with the first publish, and whenever the server's differs from ours.
        let on_server = self.server.get_metadata(gun.as_str(), "root")?;
        self.send_root = on_server.as_deref() != Some(&root.bytes[..]);
        if self.send_root {
            return Ok(Ahead::default());
        }
        // Another client (notary with these keys, or another copy of this trust dir) may have
        // published since: build on what the server has, once it verifies against our root.
        let remote = remote(&self.server, gun);
        let repo = format!("{gun} on {}", self.server.url());
        let (ahead, pending) = super::verify_remote(td, cfg, &remote, repo, now)?;
        self.verified = Some(pending);
        // The server signs timestamp: its version there is not one this publish builds on.
        Ok(Ahead {
            timestamp: 0,
            ..ahead
        })
    }

    fn fetch(&self, gun: &Gun, role: RoleName) -> Result<Option<Vec<u8>>> {
        self.server.get_metadata(gun.as_str(), role.as_str())
    }

    /// One request; the config remembers the server once it has accepted it.
    fn deliver(&mut self, _: &TrustDir, cfg: &mut RepoConfig, out: &Outgoing<'_>) -> Result<()> {
        let mut files: Vec<(&str, &[u8])> = Vec::new();
        if self.send_root {
            files.push(("root", &out.root.bytes));
        }
        if let Some(t) = out.targets {
            files.push(("targets", &t.bytes));
        }
        for m in out.delegated {
            files.push((m.name.as_str(), &m.bytes));
        }
        if let Some(sm) = out.snapshot {
            files.push(("snapshot", &sm.bytes));
        }
        self.server.publish(cfg.gun.as_str(), &files)?;
        if let Some(pending) = self.verified.take() {
            pending.store()?;
        }
        cfg.server = Some(self.config.clone());
        Ok(())
    }
}
