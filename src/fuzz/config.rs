//! The trust dir's own files: the stage, the config, the client's state. trustkey writes them,
//! but they are files on disk that anyone with access may have changed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::metadata::DIALECTS;
use super::{shown, shown_error};
use crate::repo::client::TrustedState;
use crate::repo::layout;
use crate::repo::stage::{self, Stage};
use crate::repo::trustdir::{Gun, RepoConfig};
use crate::tuf::model::RoleName;

const ROLES: [RoleName; 4] = [
    RoleName::Root,
    RoleName::Targets,
    RoleName::Snapshot,
    RoleName::Timestamp,
];
/// Items looked at per list: enough for every code path, bounded per input.
const EACH: usize = 16;

/// A stage file (`staged.json`): its changes applied to targets in both dialects as `publish`
/// applies them, staged again as `add` stages them, and the names checked as `add` checks them.
pub fn stage(data: &[u8]) {
    let s = match Stage::from_bytes(data, Path::new("staged.json")) {
        Ok(s) => s,
        Err(e) => {
            let _ = shown_error(&Err::<(), _>(e));
            return;
        }
    };
    for d in DIALECTS {
        let mut targets = BTreeMap::new();
        let _ = shown_error(&s.apply(d, &mut targets));
    }
    let mut again = Stage::default();
    again.push_many(s.changes.clone());
    for c in s.changes.iter().take(EACH) {
        let _ = (again.adds(c.name()), c.role());
        let _ = shown_error(&stage::check_target_name(c.name()));
        let _ = shown_error(&layout::check_target_path(c.name()));
    }
    let _ = s.is_empty();
}

/// A config file (`trustkey.json`) of the GUN it names, and what commands ask of it: key IDs and
/// versions per role, the delegated roles and the `delegations` object they make, where
/// targets go; the server's URL. Also the client's `state.json`.
pub fn config(data: &[u8]) {
    if let Ok(state) = serde_json::from_slice::<TrustedState>(data) {
        let _ = serde_json::to_vec(&state);
    }
    #[derive(Deserialize)]
    struct Named {
        gun: String,
    }
    let gun = serde_json::from_slice::<Named>(data)
        .ok()
        .and_then(|n| n.gun.parse::<Gun>().ok());
    let Some(gun) = gun else {
        return;
    };
    let cfg = match RepoConfig::from_bytes(data, Path::new("trustkey.json"), &gun) {
        Ok(c) => c,
        Err(e) => {
            let _ = shown_error(&Err::<(), _>(e));
            return;
        }
    };
    for role in ROLES {
        let _ = shown_error(&cfg.key_id(role));
        let _ = shown_error(&cfg.key_file_id(role));
        let _ = (cfg.version(role), cfg.server_signs(role));
    }
    let _ = cfg.tuf_options();
    let roles = cfg.delegated_roles();
    let _ = cfg.targets_delegations();
    let mut names: Vec<String> = roles
        .iter()
        .take(EACH)
        .map(|r| r.role.name.clone())
        .collect();
    names.push("targets".into());
    names.push("bins-0".into());
    for name in &names {
        let _ = cfg.is_delegated_role(name);
        let _ = cfg.delegation(name);
        let _ = shown_error(&cfg.route(name, Some(name)));
        let _ = shown_error(&cfg.route(name, None));
    }
    for r in cfg.retired.iter().take(EACH) {
        let _ = r.key_id.len();
    }
    if let Some(server) = &cfg.server {
        let _ = shown(&crate::repo::server::NotaryServer::new(&server.url, None));
    }
}
