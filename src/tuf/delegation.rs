//! Delegated targets roles: which names a dialect allows, which targets a delegation covers,
//! and hashed bins.
//!
//! Notary (`tuf/data/roles.go`): roles are `targets/<name>` (`^[-a-z0-9_/]+$`, clean, under 256
//! characters); `paths` are prefixes (`""` covers every target); a child's paths are restricted
//! to its parent's. TUF 1.0 (python-tuf `DelegatedRole.is_delegated_path`): `paths` are glob
//! patterns matched component by component (`fnmatchcase` on each `/`-separated part, same
//! number of parts), or `path_hash_prefixes` are hex prefixes of the sha256 of the target path.

use sha2::{Digest, Sha256};

use super::dialect::Dialect;
use super::model::{DelegatedRole, RoleName};

/// Checks the name of a delegated role trustkey creates (a direct child of `targets`).
pub fn check_name(dialect: Dialect, name: &str) -> Result<(), String> {
    match dialect {
        Dialect::Notary => {
            let Some(rest) = name.strip_prefix("targets/") else {
                return Err(format!(
                    "delegation {name:?}: notary delegations are named targets/<name> (e.g. \
                     targets/releases)"
                ));
            };
            if rest.is_empty()
                || rest.contains('/')
                || name.len() >= 256
                || !rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "delegation {name:?}: use targets/<name> with one name of lowercase letters, \
                     digits, - and _ (trustkey delegates from targets only)"
                ));
            }
            Ok(())
        }
        Dialect::Tuf => {
            if shares_a_metadata_file(name) {
                return Err(format!(
                    "delegation {name:?}: its file {name}.json would be a top-level role's \
                     (root, targets, snapshot, timestamp) or a versioned file's (N.<role>.json); \
                     choose a name that is neither and does not start with digits and a dot"
                ));
            }
            let ok = !name.is_empty()
                && name.len() < 256
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                && !name.starts_with('.');
            if !ok {
                return Err(format!(
                    "delegation {name:?}: use letters, digits, ., - and _ (not starting with .); \
                     the role's file is <name>.json"
                ));
            }
            Ok(())
        }
    }
}

/// Whether a TUF 1.0 delegated role named `name`, whose file is `<name>.json` (or
/// `<V>.<name>.json` with consistent snapshots), could share a file with a top-level role: it
/// is a top-level role's name (in any case: some file systems ignore case), or it starts with
/// digits and a dot, the shape of every versioned file (`2.root.json`, `7.snapshot.json`,
/// `3.<role>.json`). Notary names (`targets/<name>`, no dots) cannot collide: their files are
/// below `targets/`, and checksummed names (`<role>.<sha256>.json`) need a dot in the role.
pub fn shares_a_metadata_file(name: &str) -> bool {
    let versioned = name
        .split_once('.')
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    versioned
        || RoleName::ALL
            .into_iter()
            .any(|r| r.as_str().eq_ignore_ascii_case(name))
}

/// What `path_hash_prefixes` are prefixes of: the hex sha256 of the target's name.
pub fn target_hash(target: &str) -> String {
    hex::encode(Sha256::digest(target.as_bytes()))
}

/// Whether the lowercase hex form of `digest` starts with `prefix`, without spelling the
/// hex out: a client checks every target of a hashed bin this way (a million in a big
/// repository).
pub fn hex_starts_with(digest: &[u8], prefix: &str) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let nibbles = digest.iter().flat_map(|b| [b >> 4, b & 0x0f]);
    prefix.len() <= digest.len() * 2
        && prefix
            .bytes()
            .zip(nibbles)
            .all(|(c, n)| HEX.get(usize::from(n)) == Some(&c))
}

/// Whether `role` is trusted for `target`.
pub fn covers(dialect: Dialect, role: &DelegatedRole, target: &str) -> bool {
    if let Some(prefixes) = &role.path_hash_prefixes {
        let h = Sha256::digest(target.as_bytes());
        return prefixes.iter().any(|p| hex_starts_with(&h, p));
    }
    let paths = role.paths.as_deref().unwrap_or_default();
    match dialect {
        Dialect::Notary => paths.iter().any(|p| target.starts_with(p.as_str())),
        Dialect::Tuf => paths.iter().any(|p| path_pattern_matches(target, p)),
    }
}

/// python-tuf's `_is_target_in_pathpattern`: the same number of `/`-separated parts, each
/// matching its pattern part with `fnmatchcase`.
pub fn path_pattern_matches(target: &str, pattern: &str) -> bool {
    let t: Vec<&str> = target.split('/').collect();
    let p: Vec<&str> = pattern.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| fnmatch(t.as_bytes(), p.as_bytes()))
}

/// Python's `fnmatch.fnmatchcase`: `*` any run, `?` one character, `[seq]`, `[!seq]` (with
/// ranges); a `[` without its `]` is a literal. Works on UTF-8 bytes, which is exact for `*`,
/// `?` over ASCII and for literal matching, the forms delegations use.
fn fnmatch(s: &[u8], p: &[u8]) -> bool {
    matches(&compile(p), s).0
}

/// One element of a compiled pattern.
#[derive(Debug, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(u8),
    /// `[...]`: the ranges it lists (a single byte is a range of one), and `!`.
    Class {
        negate: bool,
        ranges: Vec<(u8, u8)>,
    },
}

/// The pattern as tokens, in one pass: each `[` is resolved once (a pattern read anew at every
/// step of a `*` took seconds for a 1.5 KB pattern of unclosed `[`; found by fuzzing).
fn compile(p: &[u8]) -> Vec<Tok> {
    // closes[i]: whether a `]` is at index i or later. A class opened with its members at
    // `start` ends at the first `]` after `start` (a `]` at `start` is a member; a range's
    // high end is never `]`), so it is closed exactly when there is one.
    let mut closes = vec![false; p.len() + 1];
    for i in (0..p.len()).rev() {
        let here = p.get(i) == Some(&b']') || closes.get(i + 1) == Some(&true);
        if let Some(c) = closes.get_mut(i) {
            *c = here;
        }
    }
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        i += 1;
        match c {
            b'*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
            }
            b'?' => toks.push(Tok::Any),
            b'[' => {
                let negate = p.get(i) == Some(&b'!');
                let start = i + usize::from(negate);
                if closes.get(start + 1) != Some(&true) {
                    // Not closed: a literal `[`.
                    toks.push(Tok::Lit(b'['));
                    continue;
                }
                let mut ranges = Vec::new();
                let mut j = start;
                while let Some(&pc) = p.get(j) {
                    if pc == b']' && j != start {
                        break;
                    }
                    match (p.get(j + 1), p.get(j + 2)) {
                        (Some(b'-'), Some(&hi)) if hi != b']' => {
                            ranges.push((pc, hi));
                            j += 3;
                        }
                        _ => {
                            ranges.push((pc, pc));
                            j += 1;
                        }
                    }
                }
                toks.push(Tok::Class { negate, ranges });
                i = j + 1;
            }
            _ => toks.push(Tok::Lit(c)),
        }
    }
    toks
}

/// The most work one name's match against one pattern may take. Names and patterns that
/// delegations use need a few hundred steps; a hostile pattern that needs more is taken as
/// not matching, so its role covers nothing (fail closed) instead of costing seconds per name.
const MATCH_WORK_LIMIT: usize = 1 << 22;

/// Whether the compiled pattern matches all of `s`, and the work it took (bytes and tokens
/// looked at). The parts between `*`s have fixed lengths: the first is matched at the start,
/// the last at the end, and each one between at its leftmost place after the one before
/// (leftmost is never worse for what follows). A part of literals is found with `memmem`,
/// in time linear in the name; one with `?` or `[...]` is tried place by place, within
/// [`MATCH_WORK_LIMIT`]. (The backtracking matcher before took |s| x |pattern| steps: 1.2 s
/// for `*` and 7,000 `o`s against 11,000 `o`s; found by fuzzing.)
fn matches(toks: &[Tok], s: &[u8]) -> (bool, usize) {
    let mut work = 0usize;
    let hit = match_parts(toks, s, &mut work).unwrap_or(false);
    (hit, work)
}

/// `None`: the work limit was reached.
fn match_parts(toks: &[Tok], s: &[u8], work: &mut usize) -> Option<bool> {
    let parts: Vec<&[Tok]> = toks.split(|t| *t == Tok::Star).collect();
    let (Some((first, rest)), Some(last)) = (parts.split_first(), parts.last()) else {
        return Some(s.is_empty());
    };
    if rest.is_empty() {
        // No `*`: the whole name, byte for byte.
        return Some(first.len() == s.len() && part_at(first, s, work)?);
    }
    let Some(end) = s.len().checked_sub(last.len()) else {
        return Some(false);
    };
    if end < first.len() {
        return Some(false);
    }
    let (head, tail) = (s.get(..first.len())?, s.get(end..)?);
    if !part_at(first, head, work)? || !part_at(last, tail, work)? {
        return Some(false);
    }
    let mut pos = first.len();
    for part in rest.iter().take(rest.len().saturating_sub(1)) {
        let hay = s.get(pos..end)?;
        match find_part(part, hay, work)? {
            Some(at) => pos += at + part.len(),
            None => return Some(false),
        }
    }
    Some(true)
}

/// Whether the fixed-length `part` matches the start of `s` (which is at least as long).
fn part_at(part: &[Tok], s: &[u8], work: &mut usize) -> Option<bool> {
    for (t, &c) in part.iter().zip(s) {
        *work = work.saturating_add(1);
        let hit = match t {
            Tok::Any => true,
            Tok::Lit(l) => *l == c,
            Tok::Class { negate, ranges } => {
                *work = work.saturating_add(ranges.len());
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negate
            }
            Tok::Star => false,
        };
        if *work > MATCH_WORK_LIMIT {
            return None;
        }
        if !hit {
            return Some(false);
        }
    }
    Some(part.len() <= s.len())
}

/// Where `part` first matches in `hay`.
fn find_part(part: &[Tok], hay: &[u8], work: &mut usize) -> Option<Option<usize>> {
    let literal: Option<Vec<u8>> = part
        .iter()
        .map(|t| match t {
            Tok::Lit(c) => Some(*c),
            _ => None,
        })
        .collect();
    if let Some(needle) = literal {
        *work = work.saturating_add(hay.len() + needle.len());
        return Some(memchr::memmem::find(hay, &needle));
    }
    for at in 0..=hay.len().saturating_sub(part.len()) {
        let rest = hay.get(at..)?;
        if rest.len() >= part.len() && part_at(part, rest, work)? {
            return Some(Some(at));
        }
    }
    Some(None)
}

/// `"releases/*", "docs/*"` or `path hash prefixes 000-003`, for messages.
pub fn describe_paths(r: &DelegatedRole) -> String {
    if let Some(p) = &r.path_hash_prefixes {
        return match (p.first(), p.last()) {
            (Some(a), Some(b)) if a != b => format!("path hash prefixes {a}-{b}"),
            (Some(a), _) => format!("path hash prefix {a}"),
            _ => "no path hash prefixes".into(),
        };
    }
    match r.paths.as_deref() {
        None | Some([]) => "no paths".into(),
        Some(p) => p
            .iter()
            .map(|p| format!("{p:?}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Hashed bins (TUF 1.0): `count` delegated roles, each trusted for an equal range of the
/// prefixes of the sha256 of target paths, as python-tuf's hashed-bin example lays them out:
/// prefixes of `prefix_len` hex digits, `16^prefix_len / count` per bin, bins named by their
/// first and last prefix (`bins-000-003`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashedBins {
    pub count: u32,
}

impl HashedBins {
    pub const MAX: u32 = 65536;

    pub fn new(count: u32) -> Result<Self, String> {
        if !(2..=Self::MAX).contains(&count) || !count.is_power_of_two() {
            return Err(format!(
                "--hashed-bins {count}: use a power of two from 2 to {}",
                Self::MAX
            ));
        }
        Ok(HashedBins { count })
    }

    /// Hex digits per prefix: the fewest with at least `count` prefixes.
    pub fn prefix_len(self) -> usize {
        let mut len = 1;
        while 16u64.pow(len as u32) < self.count as u64 {
            len += 1;
        }
        len
    }

    fn per_bin(self) -> u64 {
        16u64.pow(self.prefix_len() as u32) / self.count as u64
    }

    /// The bin of a target.
    pub fn bin_of(self, target: &str) -> u32 {
        let h = Sha256::digest(target.as_bytes());
        let top = u32::from_be_bytes(h.first_chunk::<4>().copied().unwrap_or_default());
        let len = self.prefix_len();
        let prefix = (top >> (32 - 4 * len as u32)) as u64;
        (prefix / self.per_bin()) as u32
    }

    /// The name of bin `i`.
    pub fn name(self, i: u32) -> String {
        let len = self.prefix_len();
        let first = i as u64 * self.per_bin();
        let last = first + self.per_bin() - 1;
        if first == last {
            format!("bins-{first:0len$x}")
        } else {
            format!("bins-{first:0len$x}-{last:0len$x}")
        }
    }

    /// The prefixes bin `i` is trusted for.
    pub fn prefixes(self, i: u32) -> Vec<String> {
        let len = self.prefix_len();
        let first = i as u64 * self.per_bin();
        (first..first + self.per_bin())
            .map(|p| format!("{p:0len$x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(paths: &[&str]) -> DelegatedRole {
        DelegatedRole {
            name: "r".into(),
            keyids: vec![],
            threshold: 1,
            paths: Some(paths.iter().map(|p| p.to_string()).collect()),
            path_hash_prefixes: None,
            terminating: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn fnmatch_like_python() {
        for (s, p, want) in [
            ("a.tgz", "*.tgz", true),
            ("a.tgz", "*", true),
            ("", "*", true),
            ("abc", "a?c", true),
            ("abc", "a[bx]c", true),
            ("abc", "a[!b]c", false),
            ("a-c", "a[a-z-]c", true),
            ("a]c", "a[]]c", true),
            ("a[c", "a[c", true),
            ("abc", "abd", false),
            ("aXbYc", "a*b*c", true),
            ("abcd", "a*c", false),
            ("f", "[e-g]", true),
        ] {
            assert_eq!(fnmatch(s.as_bytes(), p.as_bytes()), want, "{s} {p}");
        }
        assert!(path_pattern_matches("releases/v1.tgz", "releases/*"));
        assert!(!path_pattern_matches("releases/a/v1.tgz", "releases/*"));
        assert!(!path_pattern_matches("other/v1.tgz", "releases/*"));
    }

    /// The matcher before patterns were compiled (reading `[` anew at every step), kept to
    /// check the compiled one against. Python's `fnmatch.fnmatchcase`: `*` any run, `?` one character, `[seq]`, `[!seq]` (with
    /// ranges); a `[` without its `]` is a literal. Works on UTF-8 bytes, which is exact for `*`,
    /// `?` over ASCII and for literal matching, the forms delegations use.
    fn reference(s: &[u8], p: &[u8]) -> bool {
        let (mut si, mut pi) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while let Some(&sc) = s.get(si) {
            // Where the pattern goes on if this character matches here.
            let next = match p.get(pi) {
                Some(b'*') => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                Some(b'?') => Some(pi + 1),
                Some(b'[') => match class(p, pi, sc) {
                    Some((true, next)) => Some(next),
                    Some((false, _)) => None,
                    // An unclosed `[` is a literal.
                    None => (sc == b'[').then_some(pi + 1),
                },
                Some(&c) if c == sc => Some(pi + 1),
                _ => None,
            };
            if let Some(next) = next {
                si += 1;
                pi = next;
                continue;
            }
            match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            }
        }
        p.get(pi..).unwrap_or_default().iter().all(|&c| c == b'*')
    }

    /// A `[...]` class at `p[at]`: whether `c` matches, and the index after it; `None` when the
    /// class is not closed (then `[` is literal, as in Python).
    fn class(p: &[u8], at: usize, c: u8) -> Option<(bool, usize)> {
        let mut i = at + 1;
        let negate = p.get(i) == Some(&b'!');
        if negate {
            i += 1;
        }
        let start = i;
        let mut matched = false;
        loop {
            // Running off the end: not closed.
            let pc = *p.get(i)?;
            if pc == b']' && i != start {
                break;
            }
            match (p.get(i + 1), p.get(i + 2)) {
                (Some(b'-'), Some(&hi)) if hi != b']' => {
                    matched |= pc <= c && c <= hi;
                    i += 3;
                }
                _ => {
                    matched |= pc == c;
                    i += 1;
                }
            }
        }
        Some((matched != negate, i + 1))
    }

    /// The compiled matcher agrees with the one before on every pattern and name built from
    /// the characters that matter (`*`, `?`, `[`, `]`, `!`, `-`, letters): patterns up to four
    /// long, names up to two.
    #[test]
    fn compiled_patterns_match_as_before() {
        let alphabet = b"*?[]!-ab";
        let all = |len: usize| {
            let mut out = vec![Vec::new()];
            for _ in 0..len {
                out = out
                    .iter()
                    .flat_map(|w| alphabet.iter().map(move |&c| [w.as_slice(), &[c]].concat()))
                    .collect();
            }
            out
        };
        let patterns: Vec<Vec<u8>> = (0..=4).flat_map(all).collect();
        let names: Vec<Vec<u8>> = (0..=3).flat_map(all).collect();
        for p in &patterns {
            let toks = compile(p);
            for n in &names {
                assert_eq!(
                    matches(&toks, n).0,
                    reference(n, p),
                    "{:?} {:?}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(p)
                );
            }
        }
    }

    /// Found by fuzzing (delegation_paths, 2 hangs of 5-6 s): `*` followed by thousands of
    /// unclosed `[` made every step of the `*` read the rest of the pattern. The work is now
    /// bounded by the name's length times the pattern's (checked by counting, not timing).
    #[test]
    fn unclosed_brackets_after_a_star_take_linear_work() {
        let pattern = [b"a*/*?".as_slice(), &[b'['; 3000], b"r"].concat();
        let name = [b"a".as_slice(), &[b'['; 2000]].concat();
        let (hit, work) = matches(&compile(&pattern), &name);
        assert!(!hit);
        assert!(work <= 4 * (name.len() + pattern.len()), "{work}");
        let toks = compile(&[b"x".as_slice(), &[b'['; 1000]].concat());
        assert_eq!(toks.len(), 1001);
    }

    /// Found by fuzzing (delegation_paths, 1.2 s after the fix above): `*` and 7,000 `o`s
    /// against 11,000 `o`s, and the shapes around it: literal parts between stars are found
    /// in work linear in the name; parts with `?` stop at the work limit and match nothing.
    #[test]
    fn long_runs_after_a_star_take_linear_work() {
        let o = |n: usize| vec![b'o'; n];
        let name = o(11_000);
        for (pattern, want) in [
            ([b"*".as_slice(), &o(7_000)].concat(), true),
            ([b"*".as_slice(), &o(7_000), b"*"].concat(), true),
            ([b"*".as_slice(), &o(7_000), b"x*"].concat(), false),
            ([b"*".as_slice(), &o(7_000), b"*x"].concat(), false),
            (
                [b"o*".as_slice(), &o(3_000), b"*", &o(3_000), b"*o"].concat(),
                true,
            ),
        ] {
            let (hit, work) = matches(&compile(&pattern), &name);
            assert_eq!(hit, want, "{}", pattern.len());
            assert!(work <= 4 * (name.len() + pattern.len()), "{work}");
        }
        let hostile = [b"*?".as_slice(), &o(7_000), b"x*"].concat();
        let (hit, work) = matches(&compile(&hostile), &name);
        assert!(!hit);
        assert!(work <= MATCH_WORK_LIMIT + 8_000, "{work}");
        // Below the limit, the same shape still matches.
        assert!(matches(&compile(b"*?ooo*"), &o(20)).0);
    }

    #[test]
    fn dialects_match_paths_their_own_way() {
        let r = role(&["releases/"]);
        assert!(covers(Dialect::Notary, &r, "releases/a/b"));
        assert!(!covers(Dialect::Tuf, &r, "releases/a"));
        assert!(covers(Dialect::Notary, &role(&[""]), "anything"));
        assert!(!covers(Dialect::Notary, &role(&[]), "anything"));
        let mut h = role(&[]);
        h.paths = None;
        let hex = hex::encode(Sha256::digest(b"file.txt"));
        h.path_hash_prefixes = Some(vec![hex[..2].to_string()]);
        assert!(covers(Dialect::Tuf, &h, "file.txt"));
        h.path_hash_prefixes = Some(vec!["zz".into()]);
        assert!(!covers(Dialect::Tuf, &h, "file.txt"));
    }

    /// The check without hex agrees with spelling the hex out and comparing, for every
    /// prefix length, odd lengths, upper case (never matches: python-tuf compares with the
    /// lowercase hexdigest) and prefixes longer than the hash.
    #[test]
    fn hex_prefix_check_agrees_with_hex_encoding() {
        for name in ["file.txt", "", "a/b/c", "\u{e9}t\u{e9}"] {
            let d = Sha256::digest(name.as_bytes());
            let hex = hex::encode(d);
            for len in 0..=hex.len() {
                let p = &hex[..len];
                assert!(hex_starts_with(&d, p), "{name} {p}");
                assert_eq!(
                    hex_starts_with(&d, &p.to_uppercase()),
                    p.to_uppercase() == p,
                    "{name} {p}"
                );
                let mut wrong = p.to_string();
                if let Some(last) = wrong.pop() {
                    wrong.push(if last == '0' { '1' } else { '0' });
                    assert!(!hex_starts_with(&d, &wrong), "{name} {wrong}");
                }
            }
            assert!(!hex_starts_with(&d, &format!("{hex}0")));
            assert!(!hex_starts_with(&d, "g"));
        }
    }

    #[test]
    fn bins_partition_the_prefixes() {
        let b = HashedBins::new(1024).unwrap();
        assert_eq!(b.prefix_len(), 3);
        assert_eq!(b.name(0), "bins-000-003");
        assert_eq!(b.name(1023), "bins-ffc-fff");
        assert_eq!(b.prefixes(1), ["004", "005", "006", "007"]);
        let b16 = HashedBins::new(16).unwrap();
        assert_eq!(
            (b16.name(10), b16.prefixes(10)),
            ("bins-a".into(), vec!["a".into()])
        );
        for t in ["a", "b/c.txt", "x"] {
            let i = b.bin_of(t);
            let h = hex::encode(Sha256::digest(t.as_bytes()));
            assert!(
                b.prefixes(i).iter().any(|p| h.starts_with(p.as_str())),
                "{t}"
            );
        }
        assert!(HashedBins::new(1000).is_err());
        assert!(HashedBins::new(1).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name(Dialect::Notary, "targets/releases").is_ok());
        for bad in [
            "releases",
            "targets/",
            "targets/a/b",
            "targets/Rel",
            "targets/a b",
        ] {
            assert!(check_name(Dialect::Notary, bad).is_err(), "{bad}");
        }
        for good in ["releases", "v1.2", "a1.root", "root.x", "x.1"] {
            assert!(check_name(Dialect::Tuf, good).is_ok(), "{good}");
        }
        for bad in [
            "targets",
            "a/b",
            "",
            ".x",
            "2.root",
            "1.root",
            "10.snapshot",
            "3.releases",
            "Root",
            "TIMESTAMP",
            "0.x",
        ] {
            assert!(check_name(Dialect::Tuf, bad).is_err(), "{bad}");
        }
    }
}
