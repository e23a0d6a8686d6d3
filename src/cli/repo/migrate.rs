//! `migrate`: the flags gathered into the library's request, and the result rendered.

use std::path::PathBuf;

use time::OffsetDateTime;

use super::{server_address, Ctx};
use crate::keys::uri::KeyRef;
use crate::repo::expiry::{Expiries, ExpiryArg};
use crate::repo::migrate::{self, MigrateRequest, Migrated};
use crate::repo::trustdir::{Gun, TrustDir};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::RoleName;
use crate::{Error, Result};

/// `migrate`'s flags, as given.
pub(super) struct MigrateFlags {
    pub gun: Gun,
    pub to: PathBuf,
    pub dialect: Dialect,
    pub root: Option<String>,
    pub rename: Option<Gun>,
    pub root_keyid: Option<String>,
    pub expires: Vec<ExpiryArg>,
}

pub(super) fn migrate(ctx: &Ctx, td: &TrustDir, flags: MigrateFlags) -> Result<()> {
    if flags.dialect != Dialect::Tuf {
        return Err(Error::Usage(
            "migrate makes a TUF repository: --dialect tuf (a notary-dialect copy would stay \
             with notary clients)"
                .into(),
        ));
    }
    let root = flags.root.map(|r| r.parse::<KeyRef>()).transpose()?;
    let expiries = Expiries::new(&flags.expires, &[RoleName::Root])?;
    let gun = flags.rename.as_ref().unwrap_or(&flags.gun);
    let req = MigrateRequest {
        source: &flags.gun,
        gun,
        server: server_address(ctx),
        source_root_key_id: flags.root_keyid,
        to: flags.to,
        root,
        expiries: &expiries,
        now: OffsetDateTime::now_utc(),
    };
    let done = migrate::migrate(&ctx.session, td, &req)?;
    ctx.output.emit(&done, render);
    Ok(())
}

fn render(m: &Migrated) -> String {
    let mut s = format!(
        "migrated {} from {} to {} (tuf dialect): {} targets, root key {}\n",
        m.source, m.server, m.repo, m.targets, m.root_key_id
    );
    for r in &m.roles {
        let how = match (&r.why_not, r.kept, r.source == r.signed_by) {
            (_, true, _) => format!("kept as the delegation {}", r.signed_by),
            (Some(why), _, _) => format!("carried by targets ({why})"),
            (None, _, true) => format!("signed by {}", r.signed_by),
            (None, _, false) => format!("carried by {}", r.signed_by),
        };
        s += &format!("  {:<24} {:>6} targets  {how}\n", r.source, r.targets);
    }
    if m.rejected > 0 {
        s += &format!(
            "  {} target(s) outside a delegation's paths were not carried (clients do not \
             trust them)\n",
            m.rejected
        );
    }
    if m.gun != m.source {
        s += &format!("  the new repository's GUN is {}\n", m.gun);
    }
    s +=
        &format!(
        "serve {} over HTTP: TUF clients read <url>/{}/metadata/ and trust {}/metadata/1.root.json",
        m.repo.trim_end_matches(m.gun.as_str()).trim_end_matches('/'),
        m.gun,
        m.repo
    );
    s
}
