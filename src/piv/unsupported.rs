//! A binary built without the `piv` feature: no PC/SC, so no YubiKey can be opened through its
//! PIV application. `list` and `open` say so in one line; a `Device` (and so a `PivSigner`)
//! cannot exist, which the compiler checks through the uninhabited `Never`. YubiKeys remain
//! usable through Yubico's PKCS#11 module (`--module ykcs11`).

use super::{DeviceInfo, Overwrite, Policies, SetupOptions, SetupReport, Slot, SlotStatus, Status};
use crate::secret::{PinSource, Prompter};
use crate::sign::Signer;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy)]
enum Never {}

/// The YubiKeys plugged in: none can be seen without PIV support.
pub fn list() -> Result<Vec<DeviceInfo>> {
    Err(Error::PivUnsupported)
}

pub fn open(_serial: Option<u32>) -> Result<Device> {
    Err(Error::PivUnsupported)
}

/// Where the management key comes from (the same shape as with PIV support).
pub struct Auth<'a> {
    pub pin_source: Option<&'a PinSource>,
    pub prompter: &'a mut dyn Prompter,
    pub allow_final_try: bool,
}

/// Never constructed in this build.
#[derive(Debug)]
pub struct Device(Never);

/// Never constructed in this build.
#[derive(Debug)]
pub struct PivSigner(Never);

impl Device {
    pub fn serial(&self) -> u32 {
        match self.0 {}
    }
    pub fn desc(&self) -> String {
        match self.0 {}
    }
    pub fn info(&self) -> DeviceInfo {
        match self.0 {}
    }
    pub fn close(self) {}
    pub fn status(&mut self) -> Result<Status> {
        match self.0 {}
    }
    pub fn slot_status(&mut self, _slot: Slot) -> Option<SlotStatus> {
        match self.0 {}
    }
    pub fn certificate(&mut self, _slot: Slot) -> Result<Option<x509_cert::Certificate>> {
        match self.0 {}
    }
    pub fn public_key(&mut self, _slot: Slot) -> Result<p256::PublicKey> {
        match self.0 {}
    }
    pub fn verify_pin(
        &mut self,
        _source: Option<&PinSource>,
        _prompter: &mut dyn Prompter,
        _allow_final_try: bool,
    ) -> Result<()> {
        match self.0 {}
    }
    pub fn authenticate_admin(&mut self, _auth: &mut Auth<'_>) -> Result<()> {
        match self.0 {}
    }
    pub fn generate(
        &mut self,
        _slot: Slot,
        _policies: Policies,
        _subject: &str,
        _overwrite: Overwrite,
        _auth: &mut Auth<'_>,
    ) -> Result<p256::PublicKey> {
        match self.0 {}
    }
    pub fn import(
        &mut self,
        _slot: Slot,
        _secret: &p256::SecretKey,
        _policies: Policies,
        _subject: &str,
        _overwrite: Overwrite,
        _auth: &mut Auth<'_>,
    ) -> Result<()> {
        match self.0 {}
    }
    pub fn attest(&mut self, _slot: Slot) -> Result<Vec<u8>> {
        match self.0 {}
    }
    pub fn attestation_intermediate(&mut self) -> Result<Option<Vec<u8>>> {
        match self.0 {}
    }
    pub fn setup(
        &mut self,
        _opts: SetupOptions,
        _prompter: &mut dyn Prompter,
    ) -> Result<SetupReport> {
        match self.0 {}
    }
    pub fn unblock_pin(&mut self, _prompter: &mut dyn Prompter) -> Result<()> {
        match self.0 {}
    }
    pub fn signer(
        self,
        _slot: Slot,
        _pin_source: Option<&PinSource>,
        _prompter: &mut dyn Prompter,
        _allow_final_try: bool,
    ) -> Result<PivSigner> {
        match self.0 {}
    }
}

impl PivSigner {
    pub fn check_public_key(&self, _expected: &p256::PublicKey) -> Result<()> {
        match self.0 {}
    }
    pub fn serial(&self) -> u32 {
        match self.0 {}
    }
    pub fn slot(&self) -> Slot {
        match self.0 {}
    }
    pub fn into_device(self) -> Device {
        match self.0 {}
    }
}

impl Signer for PivSigner {
    fn public_key(&self) -> &p256::PublicKey {
        match self.0 {}
    }
    fn sign(&self, _msg: &[u8]) -> Result<p256::ecdsa::Signature> {
        match self.0 {}
    }
    fn describe(&self) -> String {
        match self.0 {}
    }
}
