//! A virtual PIV card for trustkey's tests: Nitrokey's piv-authenticator on trussed's `virt`
//! platform (RAM storage, a fixed RNG seed: **never for real keys**), served to Debian's
//! vsmartcard `vpcd` reader driver, dressed up enough as a YubiKey 5 for the `yubikey` crate
//! and ykcs11:
//!
//! - GET VERSION (0xFD) answers a YubiKey 5 version below 5.7 (5.7 would make the `yubikey`
//!   crate expect an AES management key), and GET SERIAL (0xF8) a serial given on the command
//!   line;
//! - the short 5-byte PIV SELECT is expanded to the full AID; other AIDs are not found;
//! - GET METADATA (0xF7) for the PIN, PUK, management key and key slots is answered from what
//!   this harness saw go through (retries, whether credentials are still the defaults, key
//!   origin and policies), as a YubiKey >= 5.3 would;
//! - TCP_NODELAY on the vpcd socket (without it every APDU waits for a delayed ACK).
//!
//! Usage: virtual-piv [--port 35963] [--serial 12345678] [--version 5.4.3]
//! The process exits when vpcd closes the connection or on SIGTERM.

mod dispatch;

use std::net::TcpStream;

use iso7816::{command::FromSliceError, Command, Status};
use piv_authenticator::{Authenticator, Options};
use trussed::virt::{self, StoreConfig};

const REQUEST_LEN: usize = 7609;
const RESPONSE_LEN: usize = 7609;

const FULL_PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];
const DEFAULT_PIN: &[u8] = b"123456";
const DEFAULT_PUK: &[u8] = b"12345678";
const DEFAULT_MGM: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];
/// piv-authenticator's retry counters.
const PIN_TRIES: u8 = 3;
const PUK_TRIES: u8 = 3;

type Client<'a> = virt::Client<'a, dispatch::Dispatch>;

struct Config {
    port: u16,
    serial: u32,
    version: [u8; 3],
}

fn parse_args() -> Config {
    let mut c = Config {
        port: 35963,
        serial: 12_345_678,
        version: [5, 4, 3],
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args
            .next()
            .unwrap_or_else(|| usage(&format!("{a} needs a value")));
        match a.as_str() {
            "--port" => c.port = v.parse().unwrap_or_else(|_| usage("bad port")),
            "--serial" => c.serial = v.parse().unwrap_or_else(|_| usage("bad serial")),
            "--version" => {
                let parts: Vec<u8> = v
                    .split('.')
                    .map(|p| p.parse().unwrap_or_else(|_| usage("bad version")))
                    .collect();
                let [a, b, c2] = parts[..] else {
                    usage("version is MAJOR.MINOR.PATCH")
                };
                c.version = [a, b, c2];
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    c
}

fn usage(msg: &str) -> ! {
    eprintln!("virtual-piv: {msg}\nusage: virtual-piv [--port N] [--serial N] [--version X.Y.Z]");
    std::process::exit(2)
}

fn main() {
    env_logger::init();
    let cfg = parse_args();
    let stream = TcpStream::connect(("127.0.0.1", cfg.port)).unwrap_or_else(|e| {
        eprintln!(
            "virtual-piv: cannot reach vpcd on 127.0.0.1:{}: {e} (is pcscd running with vsmartcard-vpcd?)",
            cfg.port
        );
        std::process::exit(1)
    });
    stream.set_nodelay(true).expect("TCP_NODELAY");
    eprintln!(
        "virtual-piv: serving a YubiKey {}.{}.{} (serial {}) to vpcd on port {}",
        cfg.version[0], cfg.version[1], cfg.version[2], cfg.serial, cfg.port
    );
    let conn = vpicc::Connection::from(stream);
    virt::with_platform(StoreConfig::ram(), |platform| {
        platform.run_client_with_backends(
            "piv",
            dispatch::Dispatch::default(),
            dispatch::BACKENDS,
            |client| {
                let card = Authenticator::new(client, Options::default());
                let mut vcard = Card::new(card, cfg.serial, cfg.version);
                match conn.run(&mut vcard) {
                    Ok(()) => {}
                    Err(e) => eprintln!("virtual-piv: vpcd connection ended: {e}"),
                }
            },
        )
    });
}

/// How a key in a slot came to be, and its policies, as a YubiKey's metadata reports them.
#[derive(Clone, Copy)]
struct SlotInfo {
    alg: u8,
    pin_policy: u8,
    touch_policy: u8,
    imported: bool,
}

/// What the harness learnt from the APDUs that went through.
struct Tracked {
    pin_default: bool,
    puk_default: bool,
    mgm_default: bool,
    pin_left: u8,
    puk_left: u8,
    slots: std::collections::HashMap<u8, SlotInfo>,
}

impl Default for Tracked {
    fn default() -> Self {
        Tracked {
            pin_default: true,
            puk_default: true,
            mgm_default: true,
            pin_left: PIN_TRIES,
            puk_left: PUK_TRIES,
            slots: Default::default(),
        }
    }
}

struct Card<'a> {
    request_buffer: Option<Command<REQUEST_LEN>>,
    response: heapless::Vec<u8, RESPONSE_LEN>,
    offset: usize,
    card: Authenticator<Client<'a>>,
    serial: u32,
    version: [u8; 3],
    tracked: Tracked,
}

impl<'a> Card<'a> {
    fn new(card: Authenticator<Client<'a>>, serial: u32, version: [u8; 3]) -> Self {
        Card {
            request_buffer: None,
            response: heapless::Vec::new(),
            offset: 0,
            card,
            serial,
            version,
            tracked: Tracked::default(),
        }
    }

    /// Runs one complete (unchained) command on the authenticator.
    fn run(&mut self, command: &Command<REQUEST_LEN>) -> (Vec<u8>, Status) {
        if command.instruction() == iso7816::Instruction::GetResponse {
            return self.take(command.expected());
        }
        self.response.clear();
        self.offset = 0;
        if let Err(status) = self
            .card
            .respond(command.as_view(), self.response.as_mut_view())
        {
            return (Vec::new(), status);
        }
        self.take(command.expected())
    }

    fn take(&mut self, n: usize) -> (Vec<u8>, Status) {
        // Without Le a YubiKey still answers with its data (up to 256 bytes), and clients such
        // as the `yubikey` crate's GENERAL AUTHENTICATE rely on it.
        let n = if n == 0 { 256 } else { n };
        let n = n.min(self.response.len() - self.offset);
        let data = self.response[self.offset..][..n].to_vec();
        self.offset += n;
        let status = if self.offset >= self.response.len() {
            Status::Success
        } else {
            let rest = self.response.len() - self.offset;
            Status::MoreAvailable(u8::try_from(rest).unwrap_or(u8::MAX))
        };
        (data, status)
    }

    fn handle(&mut self, apdu: &[u8]) -> Vec<u8> {
        if apdu.len() < 4 {
            return sw(0x6700);
        }
        let (cla, ins, p1, p2) = (apdu[0], apdu[1], apdu[2], apdu[3]);
        let data = short_data(apdu);
        // YubiKey extensions the authenticator answers differently from a YubiKey.
        match ins {
            0xFD => return [&self.version[..], &sw(0x9000)].concat(),
            0xF8 => return [&self.serial.to_be_bytes()[..], &sw(0x9000)].concat(),
            0xF7 => return self.metadata(p2),
            0xA4 if p1 == 0x04 => {
                let aid = data.unwrap_or(&[]);
                if aid.len() < 5 || !FULL_PIV_AID.starts_with(aid) {
                    return sw(0x6A82);
                }
                let mut full = vec![cla, ins, p1, p2, FULL_PIV_AID.len() as u8];
                full.extend_from_slice(&FULL_PIV_AID);
                full.push(0x00);
                return self.forward(&full);
            }
            _ => {}
        }
        let response = self.forward(apdu);
        if cla & 0x10 == 0 {
            let status =
                u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]]);
            self.observe(ins, p1, p2, data.unwrap_or(&[]), status);
        }
        response
    }

    fn forward(&mut self, apdu: &[u8]) -> Vec<u8> {
        let command: Command<REQUEST_LEN> = match apdu.try_into() {
            Ok(c) => c,
            Err(e) => {
                log::warn!("unparsable command: {e:?}");
                return sw(match e {
                    FromSliceError::InvalidClass => 0x6E00,
                    _ => 0x6700,
                });
            }
        };
        // Command chaining: gather the pieces, run the whole.
        if let Some(buf) = &mut self.request_buffer {
            if buf.extend_from_command(&command).is_err() {
                self.request_buffer = None;
                return sw(0x6700);
            }
        }
        let (data, status) = if command.class().chain().last_or_only() {
            match self.request_buffer.take() {
                Some(whole) => self.run(&whole),
                None => self.run(&command),
            }
        } else {
            if self.request_buffer.is_none() {
                self.request_buffer = Some(command);
            }
            (Vec::new(), Status::Success)
        };
        let status: [u8; 2] = status.into();
        [&data[..], &status[..]].concat()
    }

    /// Learns retries, default credentials and key origins from completed commands.
    fn observe(&mut self, ins: u8, p1: u8, p2: u8, data: &[u8], status: u16) {
        let t = &mut self.tracked;
        let ok = status == 0x9000;
        let left = if status & 0xFFF0 == 0x63C0 {
            Some((status & 0x0F) as u8)
        } else if status == 0x6983 {
            Some(0)
        } else {
            None
        };
        match (ins, p2) {
            // VERIFY PIN (an empty VERIFY only asks for the retries)
            (0x20, 0x80) => {
                if ok && !data.is_empty() {
                    t.pin_left = PIN_TRIES;
                } else if let Some(n) = left {
                    t.pin_left = n;
                }
            }
            // CHANGE REFERENCE DATA: old || new, each padded to 8 bytes with 0xFF
            (0x24, 0x80) | (0x24, 0x81) => {
                let is_pin = p2 == 0x80;
                if ok && data.len() == 16 {
                    let new = unpad(&data[8..]);
                    if is_pin {
                        t.pin_default = new == DEFAULT_PIN;
                        t.pin_left = PIN_TRIES;
                    } else {
                        t.puk_default = new == DEFAULT_PUK;
                        t.puk_left = PUK_TRIES;
                    }
                } else if let Some(n) = left {
                    if is_pin {
                        t.pin_left = n;
                    } else {
                        t.puk_left = n;
                    }
                }
            }
            // RESET RETRY COUNTER: PUK || new PIN
            (0x2C, 0x80) => {
                if ok && data.len() == 16 {
                    t.puk_left = PUK_TRIES;
                    t.pin_left = PIN_TRIES;
                    t.pin_default = unpad(&data[8..]) == DEFAULT_PIN;
                } else if let Some(n) = left {
                    t.puk_left = n;
                }
            }
            // SET MANAGEMENT KEY: 03 9B 18 KEY
            (0xFF, 0xFF) | (0xFF, 0xFE) if p1 == 0xFF && ok && data.len() == 27 => {
                t.mgm_default = data[3..] == DEFAULT_MGM;
            }
            // RESET
            (0xFB, _) if ok => *t = Tracked::default(),
            // GENERATE ASYMMETRIC KEY PAIR: AC { 80 alg, [AA pin], [AB touch] }
            (0x47, slot) if ok => {
                let inner = tlv(data, 0xAC).unwrap_or(&[]);
                if let Some(&[alg]) = tlv(inner, 0x80) {
                    t.slots.insert(
                        slot,
                        SlotInfo {
                            alg,
                            pin_policy: policy(inner, 0xAA, default_pin_policy(slot)),
                            touch_policy: policy(inner, 0xAB, 1),
                            imported: false,
                        },
                    );
                }
            }
            // IMPORT ASYMMETRIC KEY (P1 = algorithm): 06 scalar, [AA pin], [AB touch]
            (0xFE, slot) if ok => {
                t.slots.insert(
                    slot,
                    SlotInfo {
                        alg: p1,
                        pin_policy: policy(data, 0xAA, default_pin_policy(slot)),
                        touch_policy: policy(data, 0xAB, 1),
                        imported: true,
                    },
                );
            }
            _ => {}
        }
    }

    fn metadata(&self, slot: u8) -> Vec<u8> {
        let t = &self.tracked;
        let mut out = Vec::new();
        match slot {
            0x80 | 0x81 => {
                let (default, total, left) = if slot == 0x80 {
                    (t.pin_default, PIN_TRIES, t.pin_left)
                } else {
                    (t.puk_default, PUK_TRIES, t.puk_left)
                };
                out.extend_from_slice(&[0x01, 0x01, 0xFF]);
                out.extend_from_slice(&[0x05, 0x01, default as u8]);
                out.extend_from_slice(&[0x06, 0x02, total, left]);
            }
            0x9B => {
                out.extend_from_slice(&[0x01, 0x01, 0x03]);
                out.extend_from_slice(&[0x02, 0x02, 0x00, 0x01]);
                out.extend_from_slice(&[0x05, 0x01, t.mgm_default as u8]);
            }
            _ => match t.slots.get(&slot) {
                Some(s) => {
                    out.extend_from_slice(&[0x01, 0x01, s.alg]);
                    out.extend_from_slice(&[0x02, 0x02, s.pin_policy, s.touch_policy]);
                    out.extend_from_slice(&[0x03, 0x01, if s.imported { 2 } else { 1 }]);
                }
                None => return sw(0x6A88),
            },
        }
        out.extend_from_slice(&sw(0x9000));
        out
    }
}

impl vpicc::VSmartCard for Card<'_> {
    fn power_off(&mut self) {
        self.card.deselect();
    }

    fn reset(&mut self) {
        self.card.deselect();
    }

    fn execute(&mut self, request: &[u8]) -> Vec<u8> {
        log::debug!("-> {}", hex(request));
        let response = self.handle(request);
        log::debug!("<- {}", hex(&response));
        response
    }
}

fn sw(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// The data field of a short APDU (Lc present), if any.
fn short_data(apdu: &[u8]) -> Option<&[u8]> {
    let lc = *apdu.get(4)? as usize;
    if lc == 0 || apdu.len() < 5 + lc {
        return None;
    }
    Some(&apdu[5..5 + lc])
}

/// The value of the first BER-TLV with a one-byte tag `tag` at the top level of `data`.
fn tlv(mut data: &[u8], tag: u8) -> Option<&[u8]> {
    while data.len() >= 2 {
        let t = data[0];
        let (len, hdr) = match data[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (*data.get(2)? as usize, 3),
            0x82 => (
                u16::from_be_bytes([*data.get(2)?, *data.get(3)?]) as usize,
                4,
            ),
            _ => return None,
        };
        let value = data.get(hdr..hdr + len)?;
        if t == tag {
            return Some(value);
        }
        data = &data[hdr + len..];
    }
    None
}

fn policy(data: &[u8], tag: u8, default: u8) -> u8 {
    match tlv(data, tag) {
        Some(&[p]) if p != 0 => p,
        _ => default,
    }
}

/// A YubiKey's default PIN policy: "always" for the signature slot 9c, "once" elsewhere.
fn default_pin_policy(slot: u8) -> u8 {
    if slot == 0x9C {
        3
    } else {
        2
    }
}

fn unpad(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&b| b == 0xFF).unwrap_or(v.len());
    &v[..end]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
