//! A small deterministic mutator for the test-time fuzzing loop: AFL's havoc stage in brief
//! (bit flips, interesting bytes and integers, deletions, duplications, dictionary tokens,
//! truncation, splicing two seeds), plus number and string swaps for JSON text. Seeded per
//! harness, so a failure reproduces run after run.

/// SplitMix64: tiny, fast, and good enough to pick mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that tend to matter to parsers of text and of binary formats.
const BYTES: &[u8] = b"\x00\x01\x7f\x80\xff\"\\{}[],:-0 \n\r\t/.%;?&=*";

/// Integers at the edges of the types metadata and archives use, as text.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1.5",
    "1e400",
    "-0",
    "0.0",
];

/// Tokens of the formats the harnesses read (JSON metadata and config, key references, PEM).
const TOKENS: &[&str] = &[
    "null",
    "true",
    "false",
    "[]",
    "{}",
    "\"\"",
    "\"..\"",
    "\"/\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\u001b[31m\"",
    "\"_type\"",
    "\"version\"",
    "\"expires\"",
    "\"spec_version\"",
    "\"keys\"",
    "\"keyids\"",
    "\"keytype\"",
    "\"keyval\"",
    "\"public\"",
    "\"scheme\"",
    "\"roles\"",
    "\"threshold\"",
    "\"targets\"",
    "\"delegations\"",
    "\"paths\"",
    "\"path_hash_prefixes\"",
    "\"terminating\"",
    "\"meta\"",
    "\"length\"",
    "\"hashes\"",
    "\"sha256\"",
    "\"sha512\"",
    "\"signed\"",
    "\"signatures\"",
    "\"sig\"",
    "\"method\"",
    "\"consistent_snapshot\"",
    "\"ecdsa\"",
    "\"ecdsa-x509\"",
    "\"ecdsa-sha2-nistp256\"",
    "\"root\"",
    "\"snapshot\"",
    "\"timestamp\"",
    "\"targets/releases\"",
    "\"2000-01-01T00:00:00Z\"",
    "\"0000-01-01T00:00:00+23:59\"",
    "\"9999-12-31T23:59:59-23:59\"",
    "\"action\"",
    "\"add\"",
    "\"remove\"",
    "\"gun\"",
    "\"dialect\"",
    "\"notary\"",
    "\"tuf\"",
    "\"hashed_bins\"",
    "\"count\"",
    "\"server\"",
    "\"url\"",
    "\"errors\"",
    "\"message\"",
    "\"detail\"",
    "pkcs11:",
    "yubikey:",
    "token=",
    "object=",
    "serial=",
    "slot=9c",
    "id=%01",
    "pin-source=env:PIN",
    "pin-source=file:/x",
    "pin-value=1234",
    "module-path=/x.so",
    "%zz",
    "%00",
    "-----BEGIN ",
    "-----END ",
    "CERTIFICATE-----",
    "ENCRYPTED PRIVATE KEY-----",
    "PRIVATE KEY-----",
    "EC PRIVATE KEY-----",
    "Proc-Type: 4,ENCRYPTED",
    "role: root",
    "gun: example.com/app",
    "private/",
    "escrow/",
    "../",
    "*",
    "?",
    "[!a-z]",
    "[",
];

/// Mutates seeds; each call stacks one to eight changes on one seed.
pub struct Mutator<'a> {
    rng: Rng,
    seeds: &'a [Vec<u8>],
}

impl<'a> Mutator<'a> {
    pub fn new(seed: u64, seeds: &'a [Vec<u8>]) -> Self {
        Mutator {
            rng: Rng::new(seed),
            seeds,
        }
    }

    pub fn mutate(&mut self, base: &[u8]) -> Vec<u8> {
        let mut out = base.to_vec();
        let rounds = 1 + self.rng.below(8);
        for _ in 0..rounds {
            self.once(&mut out);
        }
        out
    }

    fn once(&mut self, b: &mut Vec<u8>) {
        let r = &mut self.rng;
        if b.is_empty() {
            b.extend_from_slice(r.pick(TOKENS).as_bytes());
            return;
        }
        let at = r.below(b.len());
        match r.below(11) {
            0 => b[at] ^= 1 << r.below(8),
            1 => b[at] = *r.pick(BYTES),
            2 => {
                let len = 1 + r.below(b.len().min(32));
                b.drain(at..(at + len).min(b.len()));
            }
            3 => {
                let len = 1 + r.below((b.len() - at).min(64));
                let chunk = b[at..at + len].to_vec();
                let to = r.below(b.len() + 1);
                b.splice(to..to, chunk);
            }
            4 => {
                let t = r.pick(TOKENS).as_bytes();
                b.splice(at..at, t.iter().copied());
            }
            5 => number(r, b),
            6 => b.truncate(at),
            7 => {
                // Splice: this seed's head, another's tail.
                let other = r.pick(self.seeds);
                if !other.is_empty() {
                    let from = r.below(other.len());
                    b.truncate(at);
                    b.extend_from_slice(&other[from..]);
                }
            }
            8 => {
                // A binary integer at the edge of its width (tar headers, DER lengths).
                let width = *r.pick(&[1usize, 2, 4, 8]);
                let v: u64 = *r.pick(&[0, 1, u64::MAX, 0x7f, 0x80, 0xffff, 0x7fff_ffff]);
                let bytes = if r.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let n = width.min(b.len() - at);
                b[at..at + n].copy_from_slice(&bytes[8 - width..8 - width + n]);
            }
            9 => {
                // Replace a token in place, or repeat one (long strings, deep nesting).
                let t = r.pick(TOKENS).as_bytes();
                let n = t.len().min(b.len() - at);
                b.splice(at..at + n, t.iter().copied());
            }
            _ => {
                let t = *r.pick(&[&b"["[..], b"{\"a\":", b"a/", b"*"]);
                let times = 1 + r.below(300);
                let rep: Vec<u8> = t.iter().copied().cycle().take(t.len() * times).collect();
                b.splice(at..at, rep);
            }
        }
    }
}

/// Replaces a run of digits (a JSON number, a tar size) with an interesting integer.
fn number(r: &mut Rng, b: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..b.len())
        .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let start = *r.pick(&starts);
    let end = (start..b.len())
        .find(|&i| !b[i].is_ascii_digit())
        .unwrap_or(b.len());
    b.splice(start..end, r.pick(NUMBERS).bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_mutates_the_same_way() {
        let seeds = vec![b"{\"version\":1,\"a\":[true]}".to_vec(), b"xyz".to_vec()];
        let run = |s| {
            let mut m = Mutator::new(s, &seeds);
            (0..200)
                .map(|i| m.mutate(&seeds[i % 2]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // The mutations change inputs (not only copy them) and vary.
        let out = run(7);
        assert!(
            out.iter()
                .filter(|o| **o != seeds[0] && **o != seeds[1])
                .count()
                > 150
        );
        let distinct: std::collections::BTreeSet<_> = out.iter().collect();
        assert!(distinct.len() > 150, "{}", distinct.len());
    }

    #[test]
    fn numbers_are_swapped_whole() {
        let mut r = Rng::new(1);
        for _ in 0..50 {
            let mut b = b"{\"version\":12345}".to_vec();
            number(&mut r, &mut b);
            let s = String::from_utf8(b).unwrap();
            let n = s.trim_start_matches("{\"version\":").trim_end_matches('}');
            assert!(NUMBERS.contains(&n), "{s}");
        }
    }
}
