//! A PKCS#11 module for fault tests. It loads the real module named by `TRUSTKEY_FAULT_MODULE`
//! (SoftHSM), hands out the real function list with the functions that matter wrapped, and:
//!
//! - counts their calls: with `TRUSTKEY_FAULT_COUNTS=FILE`, after every call FILE holds one
//!   `NAME COUNT` line per function called so far (a test learns how many points to iterate);
//! - fails one call: with `TRUSTKEY_FAULT_FN=C_Sign TRUSTKEY_FAULT_AT=2
//!   TRUSTKEY_FAULT_RV=CKR_DEVICE_REMOVED`, the second call of `C_Sign` returns that value
//!   without reaching the real module; every other call goes through (a transient fault, so
//!   the caller's clean-up can be checked).
//!
//! Test-only code: raw pointers are passed through untouched to the real module.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use cryptoki_sys::*;

struct Real {
    list: CK_FUNCTION_LIST,
    // Keeps the real module loaded for the life of the process.
    _lib: libloading::Library,
}

static REAL: OnceLock<Option<Real>> = OnceLock::new();
static WRAPPED: OnceLock<CK_FUNCTION_LIST> = OnceLock::new();
static COUNTS: Mutex<BTreeMap<&'static str, u64>> = Mutex::new(BTreeMap::new());

fn load() -> Option<Real> {
    let path = std::env::var_os("TRUSTKEY_FAULT_MODULE")?;
    let lib = unsafe { libloading::Library::new(path) }.ok()?;
    let get: libloading::Symbol<unsafe extern "C" fn(*mut CK_FUNCTION_LIST_PTR) -> CK_RV> =
        unsafe { lib.get(b"C_GetFunctionList\0") }.ok()?;
    let mut ptr: CK_FUNCTION_LIST_PTR = std::ptr::null_mut();
    if unsafe { get(&mut ptr) } != CKR_OK || ptr.is_null() {
        return None;
    }
    let list = unsafe { *ptr };
    Some(Real { list, _lib: lib })
}

fn real() -> Option<&'static CK_FUNCTION_LIST> {
    REAL.get_or_init(load).as_ref().map(|r| &r.list)
}

fn rv_named(name: &str) -> CK_RV {
    match name {
        "CKR_DEVICE_REMOVED" => CKR_DEVICE_REMOVED,
        "CKR_TOKEN_NOT_PRESENT" => CKR_TOKEN_NOT_PRESENT,
        "CKR_DEVICE_ERROR" => CKR_DEVICE_ERROR,
        "CKR_SESSION_HANDLE_INVALID" => CKR_SESSION_HANDLE_INVALID,
        _ => CKR_FUNCTION_FAILED,
    }
}

/// Counts a call of `name`; the value to return instead of calling the real module, if this
/// is the call chosen to fail.
fn hit(name: &'static str) -> Option<CK_RV> {
    let n = {
        let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(name).or_insert(0);
        *n += 1;
        let n = *n;
        if let Some(file) = std::env::var_os("TRUSTKEY_FAULT_COUNTS") {
            let text: String = counts.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
            let _ = std::fs::write(file, text);
        }
        n
    };
    let chosen = std::env::var("TRUSTKEY_FAULT_FN").ok()?;
    let at: u64 = std::env::var("TRUSTKEY_FAULT_AT").ok()?.parse().ok()?;
    if chosen != name || at != n {
        return None;
    }
    let rv = std::env::var("TRUSTKEY_FAULT_RV").unwrap_or_default();
    Some(rv_named(&rv))
}

macro_rules! wrap {
    ($($name:ident ( $($arg:ident : $ty:ty),* );)*) => {
        mod wrapped {
            use super::*;
            $(
                #[allow(non_snake_case)]
                pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
                    if let Some(rv) = hit(stringify!($name)) {
                        return rv;
                    }
                    match real().and_then(|r| r.$name) {
                        Some(f) => unsafe { f($($arg),*) },
                        None => CKR_FUNCTION_NOT_SUPPORTED,
                    }
                }
            )*
        }

        fn wrap_list(mut list: CK_FUNCTION_LIST) -> CK_FUNCTION_LIST {
            $( if list.$name.is_some() { list.$name = Some(wrapped::$name); } )*
            list.C_GetFunctionList = Some(C_GetFunctionList);
            list
        }
    };
}

wrap! {
    C_GetSlotList(present: CK_BBOOL, slots: *mut CK_SLOT_ID, count: *mut CK_ULONG);
    C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO);
    C_OpenSession(slot: CK_SLOT_ID, flags: CK_FLAGS, app: *mut std::ffi::c_void, notify: CK_NOTIFY, session: *mut CK_SESSION_HANDLE);
    C_Login(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, len: CK_ULONG);
    C_FindObjectsInit(session: CK_SESSION_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG);
    C_FindObjects(session: CK_SESSION_HANDLE, objects: *mut CK_OBJECT_HANDLE, max: CK_ULONG, count: *mut CK_ULONG);
    C_GenerateKeyPair(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, public: *mut CK_ATTRIBUTE, public_count: CK_ULONG, private: *mut CK_ATTRIBUTE, private_count: CK_ULONG, public_key: *mut CK_OBJECT_HANDLE, private_key: *mut CK_OBJECT_HANDLE);
    C_CreateObject(session: CK_SESSION_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG, object: *mut CK_OBJECT_HANDLE);
    C_DestroyObject(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE);
    C_GetAttributeValue(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG);
    C_SetAttributeValue(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE, template: *mut CK_ATTRIBUTE, count: CK_ULONG);
    C_SignInit(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE);
    C_Sign(session: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG, signature: *mut CK_BYTE, signature_len: *mut CK_ULONG);
}

/// The module's entry point: the real module's function list, with the functions above wrapped.
///
/// # Safety
/// `list` is a valid pointer to write the list's address to (the PKCS#11 contract).
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut CK_FUNCTION_LIST_PTR) -> CK_RV {
    if list.is_null() {
        return CKR_ARGUMENTS_BAD;
    }
    let Some(real) = real() else {
        return CKR_GENERAL_ERROR;
    };
    let wrapped = WRAPPED.get_or_init(|| wrap_list(*real));
    unsafe { *list = wrapped as *const CK_FUNCTION_LIST as CK_FUNCTION_LIST_PTR };
    CKR_OK
}
