//! `trustkey yubikey ...`: PIV specifics through the `yubikey` crate (list, status, setup,
//! unblock, attest). Root keys on a YubiKey are created with `root create`.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::Ctx;
use crate::piv::{self, SetupOptions, Slot};
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub enum YubikeyCmd {
    /// The YubiKeys plugged in: serial, firmware, reader.
    #[command(after_help = "Examples:\n  trustkey yubikey list\n  trustkey yubikey list --json")]
    List,

    /// Serial, firmware, PIN and PUK retries, factory defaults still set, slots and their
    /// certificates, and Yubico security advisories for the firmware. Never asks for a PIN.
    #[command(after_help = "Examples:\n  trustkey yubikey status\n  \
                            trustkey yubikey status --serial 12345678 --json")]
    Status {
        /// The YubiKey's serial (needed when several are plugged in).
        #[arg(long)]
        serial: Option<u32>,
    },

    /// Replace the factory PIN, PUK and management key before a root goes on the card.
    ///
    /// New values are asked twice (or read from TRUSTKEY_NEW_PIN / TRUSTKEY_NEW_PUK). The
    /// management key becomes a random one stored on the card behind the PIN, as ykman's
    /// `--protect` does, so that only the PIN is needed later. A credential is taken to be the
    /// factory default only when the card reports so; trustkey never tries a default PIN.
    #[command(after_help = "Examples:\n  trustkey yubikey setup\n  \
                            trustkey yubikey setup --serial 12345678 --change-pin\n  \
                            TRUSTKEY_NEW_PIN=... TRUSTKEY_NEW_PUK=... trustkey yubikey setup   # CI")]
    Setup {
        /// The YubiKey's serial (needed when several are plugged in).
        #[arg(long)]
        serial: Option<u32>,
        /// Change the PIN even if it is not the default (current PIN: TRUSTKEY_PIN or prompt).
        #[arg(long)]
        change_pin: bool,
        /// Change the PUK even if it is not the default (current PUK: TRUSTKEY_PUK or prompt).
        #[arg(long)]
        change_puk: bool,
        /// Replace the management key even if it is not the default.
        #[arg(long)]
        change_management_key: bool,
    },

    /// Unblock a blocked PIN with the PUK and set a new PIN.
    #[command(after_help = "Examples:\n  trustkey yubikey unblock --serial 12345678")]
    Unblock {
        /// The YubiKey's serial (needed when several are plugged in).
        #[arg(long)]
        serial: Option<u32>,
    },

    /// Verify that the key in a slot was generated on a genuine YubiKey: reads the slot's
    /// attestation certificate and checks it up to the device certificate (slot f9) and
    /// Yubico's PIV root CA. Imported keys (mirrors) cannot be attested.
    #[command(
        after_help = "Examples:\n  trustkey yubikey attest --slot 9c --root yubico-piv-ca.pem\n  \
                            trustkey yubikey attest --serial 12345678 --slot 9c --root ca.pem --json"
    )]
    Attest {
        /// The YubiKey's serial (needed when several are plugged in).
        #[arg(long)]
        serial: Option<u32>,
        /// The slot: 9a, 9c, 9d or 9e.
        #[arg(long, default_value = "9c")]
        slot: Slot,
        /// Yubico's PIV attestation root CA certificate (PEM or DER), as Yubico publishes it.
        /// Required: trustkey does not ship a copy yet, and never fetches one.
        #[arg(long, value_name = "FILE")]
        root: PathBuf,
        /// The device certificate (PEM or DER) instead of the one in slot f9.
        #[arg(long, value_name = "FILE")]
        device_cert: Option<PathBuf>,
        /// Further intermediates between the device certificate and the root, in order
        /// (firmware 5.7.4 and later: Yubico's "PIV Attestation" and "Attestation Intermediate").
        #[arg(long = "intermediate", value_name = "FILE")]
        intermediates: Vec<PathBuf>,
    },
}

impl YubikeyCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self {
            YubikeyCmd::List => {
                let list = piv::list()?;
                ctx.output.emit_list("yubikeys", &list, |l| {
                    if l.is_empty() {
                        return "no YubiKey found".into();
                    }
                    l.iter()
                        .map(|d| {
                            format!(
                                "YubiKey {} (firmware {}) in reader {:?}\n",
                                d.serial, d.firmware, d.reader
                            )
                        })
                        .collect()
                });
                Ok(())
            }
            YubikeyCmd::Status { serial } => {
                let status = piv::open(serial)?.status()?;
                ctx.output.emit(&status, render_status);
                Ok(())
            }
            YubikeyCmd::Setup {
                serial,
                change_pin,
                change_puk,
                change_management_key,
            } => {
                let mut dev = piv::open(serial)?;
                let opts = SetupOptions {
                    change_pin,
                    change_puk,
                    change_management_key,
                };
                let report = ctx.with_prompter(|p| dev.setup(opts, p))?;
                ctx.output.emit(&report, |r| {
                    if !r.pin_changed && !r.puk_changed && r.management_key.is_none() {
                        format!(
                            "YubiKey {}: nothing to do (no factory defaults left)",
                            r.serial
                        )
                    } else {
                        format!(
                            "YubiKey {}: PIN {}, PUK {}, management key {}",
                            r.serial,
                            changed(r.pin_changed),
                            changed(r.puk_changed),
                            r.management_key
                                .map(|m| format!("replaced ({m})"))
                                .unwrap_or_else(|| "unchanged".into())
                        )
                    }
                });
                Ok(())
            }
            YubikeyCmd::Unblock { serial } => {
                let mut dev = piv::open(serial)?;
                ctx.with_prompter(|p| dev.unblock_pin(p))?;
                ctx.output.emit(
                    &serde_json::json!({"serial": dev.serial(), "pin": "unblocked"}),
                    |_| format!("{}: PIN unblocked and replaced", dev.desc()),
                );
                Ok(())
            }
            YubikeyCmd::Attest {
                serial,
                slot,
                root,
                device_cert,
                intermediates,
            } => attest(
                ctx,
                serial,
                slot,
                &root,
                device_cert.as_deref(),
                &intermediates,
            ),
        }
    }
}

fn changed(b: bool) -> &'static str {
    if b {
        "changed"
    } else {
        "unchanged"
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn render_status(s: &piv::Status) -> String {
    let default = |d: Option<bool>| match d {
        Some(true) => "FACTORY DEFAULT",
        Some(false) => "changed",
        None => "unknown",
    };
    let mut out = format!(
        "YubiKey {} (firmware {}) in reader {:?}\n\
         PIN: {} of {} tries left, {}\n\
         PUK: {} of {} tries left, {}\n\
         management key: {}\n",
        s.serial,
        s.firmware,
        s.reader,
        opt(&s.pin.retries_left),
        opt(&s.pin.retries_total),
        default(s.pin.is_default),
        opt(&s.puk.retries_left),
        opt(&s.puk.retries_total),
        default(s.puk.is_default),
        default(s.management_key.is_default),
    );
    if s.slots.is_empty() {
        out += "slots: all empty\n";
    }
    for slot in &s.slots {
        out += &format!(
            "slot {}: {} {}, PIN policy {}, touch policy {}{}{}\n",
            slot.slot,
            slot.algorithm.as_deref().unwrap_or("key"),
            slot.origin.as_deref().unwrap_or("(origin unknown)"),
            slot.pin_policy
                .map(|p| format!("{p:?}").to_lowercase())
                .unwrap_or_else(|| "unknown".into()),
            slot.touch_policy
                .map(|p| format!("{p:?}").to_lowercase())
                .unwrap_or_else(|| "unknown".into()),
            slot.certificate_subject
                .as_ref()
                .map(|c| format!(", certificate {c}"))
                .unwrap_or_else(|| ", no certificate".into()),
            slot.key_id
                .as_ref()
                .map(|k| format!(", key ID {k}"))
                .unwrap_or_default(),
        );
    }
    for a in &s.advisories {
        out += &format!("warning: {a}\n");
    }
    let defaults = s.default_credentials();
    if !defaults.is_empty() {
        out += &format!(
            "warning: factory default {} still set: run `trustkey yubikey setup --serial {}`\n",
            defaults.join(", "),
            s.serial
        );
    }
    out
}

/// A certificate file, PEM or DER, checked to be one.
fn read_cert(path: &std::path::Path) -> Result<Vec<u8>> {
    use der::Decode;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    let der = if bytes.starts_with(b"-----BEGIN") {
        let text = String::from_utf8_lossy(&bytes);
        der::Document::from_pem(&text)
            .map(|(_, doc)| doc.as_bytes().to_vec())
            .map_err(|e| Error::Usage(format!("{}: not a PEM certificate: {e}", path.display())))?
    } else {
        bytes
    };
    x509_cert::Certificate::from_der(&der)
        .map_err(|e| Error::Usage(format!("{}: not a certificate: {e}", path.display())))?;
    Ok(der)
}

#[derive(Serialize)]
struct AttestReport {
    serial: u32,
    slot: &'static str,
    #[serde(flatten)]
    attestation: piv::Attestation,
    matches_slot_certificate: bool,
}

fn attest(
    ctx: &Ctx,
    serial: Option<u32>,
    slot: Slot,
    root: &std::path::Path,
    device_cert: Option<&std::path::Path>,
    intermediates: &[PathBuf],
) -> Result<()> {
    let root_der = read_cert(root)?;
    let inter_from_file = device_cert.map(read_cert).transpose()?;
    let more = intermediates
        .iter()
        .map(|p| read_cert(p))
        .collect::<Result<Vec<_>>>()?;
    let mut dev = piv::open(serial)?;
    let leaf = dev.attest(slot)?;
    let inter = match inter_from_file {
        Some(d) => d,
        None => dev.attestation_intermediate()?.ok_or_else(|| {
            Error::NotFound(format!(
                "{} has no device attestation certificate in slot f9",
                dev.desc()
            ))
        })?,
    };
    let mut chain: Vec<&[u8]> = vec![&inter];
    chain.extend(more.iter().map(Vec::as_slice));
    let att = piv::verify_attestation(&leaf, &chain, &root_der)?;
    let in_slot = dev.public_key(slot).ok();
    let report = AttestReport {
        serial: dev.serial(),
        slot: slot.name(),
        matches_slot_certificate: in_slot.as_ref() == Some(&att.public_key),
        attestation: att,
    };
    ctx.output.emit(&report, |r| {
        format!(
            "slot {} of YubiKey {}: key {} was generated on the card (attested: serial {}, \
             firmware {}, PIN policy {}, touch policy {}){}",
            r.slot,
            r.serial,
            r.attestation.key_id,
            opt(&r.attestation.serial),
            opt(&r.attestation.firmware),
            r.attestation
                .pin_policy
                .map(|p| format!("{p:?}").to_lowercase())
                .unwrap_or_else(|| "unknown".into()),
            r.attestation
                .touch_policy
                .map(|p| format!("{p:?}").to_lowercase())
                .unwrap_or_else(|| "unknown".into()),
            if r.matches_slot_certificate {
                ""
            } else {
                "\nwarning: the slot's certificate names another key"
            }
        )
    });
    Ok(())
}
