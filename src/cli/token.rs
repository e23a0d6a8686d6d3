//! `trustkey token ...`: what the PKCS#11 module sees.

use clap::Subcommand;
use serde::Serialize;

use super::table::Table;
use super::Ctx;
use crate::token::{report_slots, resolve_module, SlotReport};
use crate::Result;

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Every slot and token of the module: label, serial, model, PIN state, and key objects.
    ///
    /// Never asks for a PIN: only public objects are listed.
    #[command(after_help = "Examples:\n  trustkey --module softhsm token list\n  \
                            TRUSTKEY_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so trustkey token list --json")]
    List,
}

#[derive(Debug, Serialize)]
struct ModuleReport {
    module: String,
    library: String,
    slots: Vec<SlotReport>,
}

impl TokenCmd {
    pub fn run(self, ctx: &Ctx) -> Result<()> {
        match self {
            TokenCmd::List => list(ctx),
        }
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let path = resolve_module(ctx.session.module(), None)?;
    let pkcs11 = ctx.session.tokens().module(&path)?;
    let library = pkcs11
        .get_library_info()
        .map(|i| {
            format!(
                "{} {} ({})",
                i.manufacturer_id().trim(),
                i.library_version(),
                i.library_description().trim()
            )
        })
        .unwrap_or_default();
    let report = ModuleReport {
        module: path.display().to_string(),
        library,
        slots: report_slots(&pkcs11, &path)?,
    };
    ctx.output.emit(&report, |r| {
        let mut s = format!("module {} ({})\n", r.module, r.library);
        for slot in &r.slots {
            if !slot.token_present {
                s += &format!("slot {}: no token\n", slot.slot);
                continue;
            }
            if !slot.initialized {
                s += &format!("slot {}: uninitialized token\n", slot.slot);
                continue;
            }
            s += &format!(
                "slot {}: token {:?} serial {} ({} {}), PIN: {}\n",
                slot.slot,
                slot.label.as_deref().unwrap_or(""),
                slot.serial.as_deref().unwrap_or(""),
                slot.manufacturer.as_deref().unwrap_or(""),
                slot.model.as_deref().unwrap_or(""),
                slot.pin_summary.unwrap_or("unknown"),
            );
            if !slot.keys.is_empty() {
                let mut t = Table::new(&["CLASS", "LABEL", "ID", "KEY ID"]);
                for k in &slot.keys {
                    t.row([
                        k.class,
                        &format!("{:?}", k.label),
                        &k.id,
                        k.key_id.as_deref().unwrap_or(""),
                    ]);
                }
                for line in t.render().lines() {
                    s += &format!("  {line}\n");
                }
            }
            if let Some(n) = &slot.note {
                s += &format!("  (keys not listed: {n})\n");
            }
        }
        s
    });
    Ok(())
}
