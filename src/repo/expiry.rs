//! How long signed metadata stays valid: notary's defaults, overridden per role with
//! `--expires ROLE=DURATION` (`targets=30d`, `timestamp=-1h` for an already-expired role in tests).

use std::collections::BTreeMap;
use std::str::FromStr;

use time::Duration;

use crate::tuf::model::RoleName;
use crate::Error;

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
