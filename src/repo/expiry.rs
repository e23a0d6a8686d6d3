//! How long signed metadata stays valid: notary's defaults, overridden per role with
//! `--expires ROLE=DURATION` (`targets=30d`, `timestamp=-1h` for an already-expired role in tests).

use std::collections::BTreeMap;
use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use super::trustdir::{RepoConfig, TrustDir};
use crate::tuf::dialect::Dialect;
use crate::tuf::model::{Common, RoleName};
use crate::tuf::signed::SignedMeta;
use crate::Error;

/// When one role's metadata expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleExpiry {
    pub role: String,
    pub expires: OffsetDateTime,
}

/// The roles of `all` that expire before `now + window` (already expired ones too), for
/// `--expiring-within`.
pub fn expiring(all: &[RoleExpiry], now: OffsetDateTime, window: Duration) -> Vec<RoleExpiry> {
    all.iter()
        .filter(|r| r.expires < now + window)
        .cloned()
        .collect()
}

/// `--expiring-within DURATION` as an error naming each role (exit code 7), or nothing when
/// no role expires within the window.
pub fn check_expiring(
    gun: &str,
    all: &[RoleExpiry],
    now: OffsetDateTime,
    window: Duration,
    window_text: &str,
) -> Result<(), Error> {
    let soon = expiring(all, now, window);
    if soon.is_empty() {
        return Ok(());
    }
    Err(Error::Expiring {
        gun: gun.to_string(),
        within: window_text.to_string(),
        roles: soon
            .iter()
            .map(|r| crate::error::ExpiringRole {
                role: r.role.clone(),
                expires: rfc3339(r.expires),
            })
            .collect(),
    })
}

/// RFC 3339 in UTC (`2026-05-01T12:00:00Z`), as `--json` gives every expiry.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// When each role of the publisher's copy (`published/`) expires: root, targets, snapshot,
/// timestamp (those the copy holds: a notary-server keeps timestamp), then the delegated
/// roles published from here.
pub fn published_expiries(td: &TrustDir, cfg: &RepoConfig) -> crate::Result<Vec<RoleExpiry>> {
    let top = [
        RoleName::Root,
        RoleName::Targets,
        RoleName::Snapshot,
        RoleName::Timestamp,
    ]
    .map(|r| (r, r.to_string()));
    let delegated = cfg
        .delegated_roles()
        .into_iter()
        .map(|spec| (RoleName::Targets, spec.role.name));
    let mut out = Vec::new();
    for (kind, name) in top.into_iter().chain(delegated) {
        let Some(bytes) = td.read_published(&cfg.gun, &format!("{name}.json"))? else {
            continue;
        };
        out.push(RoleExpiry {
            expires: expiry_of(cfg.dialect, kind, &name, bytes)?,
            role: name,
        });
    }
    Ok(out)
}

fn expiry_of(
    d: Dialect,
    kind: RoleName,
    name: &str,
    bytes: Vec<u8>,
) -> crate::Result<OffsetDateTime> {
    let what = format!("published {name}");
    let m = SignedMeta::parse_named(kind, name, bytes).map_err(Error::Metadata)?;
    let common: Common = m.view(&what).map_err(Error::Metadata)?;
    d.parse_time(&common.expires)
        .map_err(|e| Error::Metadata(format!("{what}: {e}")))
}

/// Notary's defaults (`const.go`: NotaryRootExpiry ... NotaryTimestampExpiry).
pub fn default_expiry(role: RoleName) -> Duration {
    match role {
        RoleName::Root => Duration::days(10 * 365),
        RoleName::Targets | RoleName::Snapshot => Duration::days(3 * 365),
        RoleName::Timestamp => Duration::days(14),
    }
}

/// One `--expires ROLE=DURATION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryArg {
    pub role: RoleName,
    pub duration: Duration,
}

impl FromStr for ExpiryArg {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (role, dur) = s.split_once('=').ok_or_else(|| {
            Error::Usage(format!(
                "--expires {s:?}: expected ROLE=DURATION, e.g. targets=30d"
            ))
        })?;
        let role = role
            .parse::<RoleName>()
            .map_err(|e| Error::Usage(format!("--expires {s:?}: {e}")))?;
        let duration =
            parse_duration(dur).map_err(|e| Error::Usage(format!("--expires {s:?}: {e}")))?;
        Ok(ExpiryArg { role, duration })
    }
}

/// `[-]N(s|m|h|d|w|y)`; a year is 365 days, as in notary.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit (s, m, h, d, w, y)"))?;
    let (num, unit) = body.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} does not start with a number"))?;
    let secs_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (s, m, h, d, w, y)")),
    };
    let secs = n
        .checked_mul(secs_per)
        .filter(|v| *v <= 1000 * 365 * 86_400)
        .ok_or_else(|| format!("{s:?} is too long"))?;
    Ok(Duration::seconds(if neg { -secs } else { secs }))
}

/// The expiry duration of each role for one command.
#[derive(Debug, Clone, Default)]
pub struct Expiries(BTreeMap<RoleName, Duration>);

impl Expiries {
    /// From the flags; `allowed` are the roles this command signs.
    pub fn new(args: &[ExpiryArg], allowed: &[RoleName]) -> Result<Self, Error> {
        let mut m = BTreeMap::new();
        for a in args {
            if !allowed.contains(&a.role) {
                return Err(Error::Usage(format!(
                    "--expires {}=...: this command does not sign {} (it signs {})",
                    a.role,
                    a.role,
                    allowed
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            m.insert(a.role, a.duration);
        }
        Ok(Expiries(m))
    }

    pub fn get(&self, role: RoleName) -> Duration {
        self.0
            .get(&role)
            .copied()
            .unwrap_or_else(|| default_expiry(role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_duration("-1h").unwrap(), Duration::hours(-1));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("10y").unwrap(), Duration::days(3650));
        for bad in ["", "d", "10", "1x", "1.5d", "--1d", "99999999999y"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn args() {
        let a: ExpiryArg = "timestamp=-1h".parse().unwrap();
        assert_eq!(a.role, RoleName::Timestamp);
        assert!("nope=1d".parse::<ExpiryArg>().is_err());
        assert!("targets".parse::<ExpiryArg>().is_err());
        let e = Expiries::new(&[a], &[RoleName::Timestamp]).unwrap();
        assert_eq!(e.get(RoleName::Timestamp), Duration::hours(-1));
        assert_eq!(e.get(RoleName::Snapshot), Duration::days(3 * 365));
        assert!(Expiries::new(&[a], &[RoleName::Root]).is_err());
    }
}
