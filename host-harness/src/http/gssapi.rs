//! The system's GSSAPI library, opened at run time: just enough of it to make the first token
//! of a Kerberos security context, which is all an HTTP `Negotiate` client sends (RFC 4559).
//!
//! Opening the library at run time (rather than linking it) keeps Kerberos out of the build
//! and out of every run that does not ask for it: a fresh machine without Kerberos packages
//! builds and runs the harness, and only `host_auth=negotiate` needs `libgssapi_krb5.so.2`.
//!
//! This file holds the harness's only `unsafe` code, a hand-written binding of six calls of
//! the GSSAPI C bindings (RFC 2744) as MIT krb5's `<gssapi/gssapi.h>` declares them on Linux.
//! Every handle the library hands out is released before the function that got it returns.
//! Apple's GSS framework packs these structs to 2 bytes and is not supported.

use std::ffi::{c_int, c_void};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use libloading::Library;

/// MIT krb5's GSSAPI library; its soname has been `.so.2` since krb5 1.2.
pub const LIBRARY: &str = "libgssapi_krb5.so.2";

type OmUint32 = u32;
/// `gss_name_t`, `gss_ctx_id_t`, `gss_cred_id_t` and `gss_channel_bindings_t`: opaque.
type Handle = *mut c_void;

/// `gss_buffer_desc`.
#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

impl Buffer {
    fn empty() -> Self {
        Self {
            length: 0,
            value: null_mut(),
        }
    }
}

/// `gss_OID_desc`: the DER contents of an object identifier.
#[repr(C)]
struct Oid {
    length: OmUint32,
    elements: *const c_void,
}

impl Oid {
    fn of(der: &'static [u8]) -> Self {
        Self {
            // Every OID here is a handful of bytes.
            length: der.len() as OmUint32,
            elements: der.as_ptr().cast(),
        }
    }
}

/// 1.3.6.1.5.5.2, the SPNEGO mechanism (RFC 4178): what `Negotiate` carries.
const SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// 1.2.840.113554.1.2.2, the Kerberos 5 mechanism (RFC 1964): only asked for to explain a
/// failure, because SPNEGO reports the Kerberos reason as "no mechanism available".
const KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// 1.2.840.113554.1.2.1.4, GSS_C_NT_HOSTBASED_SERVICE: a name written `service@host`.
const HOSTBASED_SERVICE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04];

/// `GSS_ERROR`: the calling-error and routine-error fields of a major status.
const ERROR_MASK: OmUint32 = 0xffff_0000;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
/// `gss_display_status` hands out one line per call; a status is never more than a few.
const MAX_STATUS_LINES: usize = 8;

type ImportName =
    unsafe extern "C" fn(*mut OmUint32, *const Buffer, *const Oid, *mut Handle) -> OmUint32;
type InitSecContext = unsafe extern "C" fn(
    *mut OmUint32, // minor_status
    Handle,        // claimant_cred_handle
    *mut Handle,   // context_handle
    Handle,        // target_name
    *const Oid,    // mech_type
    OmUint32,      // req_flags
    OmUint32,      // time_req
    Handle,        // input_chan_bindings
    *const Buffer, // input_token
    *mut *mut Oid, // actual_mech_type
    *mut Buffer,   // output_token
    *mut OmUint32, // ret_flags
    *mut OmUint32, // time_rec
) -> OmUint32;
type ReleaseBuffer = unsafe extern "C" fn(*mut OmUint32, *mut Buffer) -> OmUint32;
type DeleteSecContext = unsafe extern "C" fn(*mut OmUint32, *mut Handle, *mut Buffer) -> OmUint32;
type ReleaseName = unsafe extern "C" fn(*mut OmUint32, *mut Handle) -> OmUint32;
type DisplayStatus = unsafe extern "C" fn(
    *mut OmUint32,
    OmUint32,
    c_int,
    *const Oid,
    *mut OmUint32,
    *mut Buffer,
) -> OmUint32;

/// Which mechanism a token is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mech {
    Spnego,
    Krb5,
}

impl Mech {
    fn oid(self) -> Oid {
        Oid::of(match self {
            Self::Spnego => SPNEGO,
            Self::Krb5 => KRB5,
        })
    }
}

/// A failed GSSAPI call: its status codes and the library's own words for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GssError {
    /// Which call failed, e.g. `gss_init_sec_context`.
    pub call: &'static str,
    pub major: u32,
    pub minor: u32,
    /// `gss_display_status` of the major code, then of the minor code.
    pub text: String,
}

/// The loaded library and the calls taken from it. Kept for the life of the process (see
/// [`system`]), so the function pointers never outlive the library.
pub struct Gssapi {
    _library: Library,
    import_name: ImportName,
    init_sec_context: InitSecContext,
    release_buffer: ReleaseBuffer,
    delete_sec_context: DeleteSecContext,
    release_name: ReleaseName,
    display_status: DisplayStatus,
}

/// The system's GSSAPI library, opened on first use; the error says what to install.
pub fn system() -> Result<&'static Gssapi, String> {
    static SYSTEM: OnceLock<Result<Gssapi, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| Gssapi::open(LIBRARY))
        .as_ref()
        .map_err(Clone::clone)
}

impl Gssapi {
    /// Opens `file` (a soname searched as the dynamic linker does, or a path).
    pub fn open(file: &str) -> Result<Self, String> {
        // SAFETY: loading runs the library's initialisers; MIT krb5's only set up its error
        // tables and locks.
        let library = unsafe { Library::new(file) }.map_err(|e| {
            format!(
                "cannot load the system's GSSAPI library {file} ({e}): host_auth=negotiate \
                 needs MIT Kerberos's GSSAPI library; install it (Debian, Ubuntu: apt-get install \
                 libgssapi-krb5-2; Fedora, RHEL: dnf install krb5-libs)"
            )
        })?;
        let missing = |name: &str, e: libloading::Error| {
            format!("the GSSAPI library {file} has no `{name}` ({e}); is it MIT Kerberos's?")
        };
        // SAFETY: each symbol is given the C signature RFC 2744 and MIT's gssapi.h declare
        // for it; the pointers are kept beside the library, which is never unloaded.
        unsafe {
            macro_rules! symbol {
                ($name:literal) => {
                    *library.get($name).map_err(|e| missing($name, e))?
                };
            }
            Ok(Self {
                import_name: symbol!("gss_import_name"),
                init_sec_context: symbol!("gss_init_sec_context"),
                release_buffer: symbol!("gss_release_buffer"),
                delete_sec_context: symbol!("gss_delete_sec_context"),
                release_name: symbol!("gss_release_name"),
                display_status: symbol!("gss_display_status"),
                _library: library,
            })
        }
    }

    /// The first (and, for a server that does not authenticate itself back, only) token of a
    /// new security context for the host-based service `spn` (`service@host`), with the
    /// default credentials: the ticket cache `KRB5CCNAME` names, else the system default.
    /// Each call makes a new context, so each token is fresh.
    pub fn initial_token(&self, spn: &str, mech: Mech) -> Result<Vec<u8>, GssError> {
        let name = self.import_hostbased(spn)?;
        let mech_oid = mech.oid();
        let mut minor: OmUint32 = 0;
        let mut context: Handle = null_mut();
        let mut output = Buffer::empty();
        // SAFETY: every pointer is to a live local or null where RFC 2744 allows
        // GSS_C_NO_CREDENTIAL, GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER or "not wanted".
        // No flags: mutual authentication is not asked for, since the HTTP server's answer
        // never reaches this context.
        let major = unsafe {
            (self.init_sec_context)(
                &mut minor,
                null_mut(),
                &mut context,
                name.0,
                &mech_oid,
                0,
                0,
                null_mut(),
                null(),
                null_mut(),
                &mut output,
                null_mut(),
                null_mut(),
            )
        };
        let token = self.take_buffer(&mut output);
        if !context.is_null() {
            let mut ignored: OmUint32 = 0;
            // SAFETY: `context` came from gss_init_sec_context and is deleted once.
            unsafe { (self.delete_sec_context)(&mut ignored, &mut context, null_mut()) };
        }
        drop(name);
        if major & ERROR_MASK != 0 {
            return Err(self.error("gss_init_sec_context", major, minor));
        }
        match token {
            Some(token) if !token.is_empty() => Ok(token),
            _ => Err(GssError {
                call: "gss_init_sec_context",
                major,
                minor,
                text: "the library returned no token".to_string(),
            }),
        }
    }

    fn import_hostbased(&self, spn: &str) -> Result<Name<'_>, GssError> {
        let input = Buffer {
            length: spn.len(),
            value: spn.as_ptr().cast_mut().cast(),
        };
        let name_type = Oid::of(HOSTBASED_SERVICE);
        let mut minor: OmUint32 = 0;
        let mut name: Handle = null_mut();
        // SAFETY: the library copies `input` (it is only read during the call).
        let major = unsafe { (self.import_name)(&mut minor, &input, &name_type, &mut name) };
        if major & ERROR_MASK != 0 {
            return Err(self.error("gss_import_name", major, minor));
        }
        Ok(Name(name, self))
    }

    /// Copies a buffer the library allocated and releases it.
    fn take_buffer(&self, buffer: &mut Buffer) -> Option<Vec<u8>> {
        if buffer.value.is_null() {
            return None;
        }
        // SAFETY: the library set `value` to `length` readable bytes, released just below.
        let bytes = unsafe {
            std::slice::from_raw_parts(buffer.value.cast::<u8>(), buffer.length).to_vec()
        };
        let mut ignored: OmUint32 = 0;
        // SAFETY: a buffer the library allocated, released once.
        unsafe { (self.release_buffer)(&mut ignored, buffer) };
        Some(bytes)
    }

    fn error(&self, call: &'static str, major: u32, minor: u32) -> GssError {
        let mut lines = self.status_lines(major, GSS_C_GSS_CODE);
        if minor != 0 {
            lines.extend(self.status_lines(minor, GSS_C_MECH_CODE));
        }
        GssError {
            call,
            major,
            minor,
            text: lines.join("; "),
        }
    }

    /// The library's text for a status code. Minor codes are read with GSS_C_NO_OID, so the
    /// library finds the mechanism that raised them.
    fn status_lines(&self, code: u32, kind: c_int) -> Vec<String> {
        let mut lines = Vec::new();
        let mut more: OmUint32 = 0;
        while lines.len() < MAX_STATUS_LINES {
            let mut minor: OmUint32 = 0;
            let mut text = Buffer::empty();
            // SAFETY: locals only; the message context is the library's own cursor.
            let major = unsafe {
                (self.display_status)(&mut minor, code, kind, null(), &mut more, &mut text)
            };
            if major & ERROR_MASK != 0 {
                break;
            }
            if let Some(bytes) = self.take_buffer(&mut text) {
                let line = String::from_utf8_lossy(&bytes).trim().to_string();
                if !line.is_empty() {
                    lines.push(line);
                }
            }
            if more == 0 {
                break;
            }
        }
        lines
    }
}

/// A `gss_name_t`, released when dropped.
struct Name<'a>(Handle, &'a Gssapi);

impl Drop for Name<'_> {
    fn drop(&mut self) {
        let mut ignored: OmUint32 = 0;
        // SAFETY: a name gss_import_name made, released once.
        unsafe { (self.1.release_name)(&mut ignored, &mut self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_says_what_to_install() {
        let Err(message) = Gssapi::open("libgssapi_krb5.so.999-not-here") else {
            panic!("opened a library that does not exist")
        };
        assert!(
            message.contains("cannot load the system's GSSAPI library libgssapi_krb5.so.999")
                && message.contains("apt-get install libgssapi-krb5-2"),
            "{message}"
        );
    }

    #[test]
    fn oids_are_the_der_contents_of_their_dotted_forms() {
        fn der(arcs: &[u64]) -> Vec<u8> {
            let mut out = vec![(arcs[0] * 40 + arcs[1]) as u8];
            for &arc in &arcs[2..] {
                let mut chunk = vec![(arc & 0x7f) as u8];
                let mut rest = arc >> 7;
                while rest > 0 {
                    chunk.push((rest & 0x7f) as u8 | 0x80);
                    rest >>= 7;
                }
                out.extend(chunk.iter().rev());
            }
            out
        }
        assert_eq!(SPNEGO, der(&[1, 3, 6, 1, 5, 5, 2]));
        assert_eq!(KRB5, der(&[1, 2, 840, 113554, 1, 2, 2]));
        assert_eq!(HOSTBASED_SERVICE, der(&[1, 2, 840, 113554, 1, 2, 1, 4]));
    }
}
