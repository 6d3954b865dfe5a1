//! The host: the `OfxHost` pointer given in `setHost` and the suites fetched from it on load.
//!
//! Suites are fetched once per load into a [`Host`] that lives until the binary is unloaded
//! (hosts keep suite tables alive for their whole lifetime). Required suites: property, image
//! effect, parameter. Optional: memory, multithread, message (v2 when offered, else v1),
//! progress (v2 when offered, else v1).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use openfx::sys::generic::core::{OfxHost, OfxPropertySetHandle, kOfxPropLabel, kOfxPropName};
use openfx::sys::generic::property::OfxPropertySuiteV1;
use openfx::sys::generic::property::kOfxPropertySuite;
use openfx::sys::image_effect_v1::image_effect::{
    OfxImageEffectSuiteV1, kOfxImageEffectPropTemporalClipAccess, kOfxImageEffectSuite,
};
use openfx::sys::image_effect_v1::memory::{OfxMemorySuiteV1, kOfxMemorySuite};
use openfx::sys::image_effect_v1::message::{
    OfxMessageSuiteV1, OfxMessageSuiteV2, kOfxMessageError, kOfxMessageLog, kOfxMessageMessage,
    kOfxMessageSuite, kOfxMessageWarning,
};
use openfx::sys::image_effect_v1::multi_thread::{OfxMultiThreadSuiteV1, kOfxMultiThreadSuite};
use openfx::sys::image_effect_v1::param::{OfxParameterSuiteV1, kOfxParameterSuite};
use openfx::sys::image_effect_v1::progress::{
    OfxProgressSuiteV1, OfxProgressSuiteV2, kOfxProgressSuite,
};

use super::property::PropertySet;
use super::status::{Error, Result};

/// The message suite in the best version the host offers.
#[derive(Clone, Copy)]
pub(crate) enum MessageSuite {
    V2(&'static OfxMessageSuiteV2),
    V1(&'static OfxMessageSuiteV1),
    None,
}

/// The progress suite in the best version the host offers.
#[derive(Clone, Copy)]
pub(crate) enum ProgressSuite {
    V2(&'static OfxProgressSuiteV2),
    V1(&'static OfxProgressSuiteV1),
    None,
}

/// How serious a message to the host is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageLevel {
    Error,
    Warning,
    Message,
    Log,
}

impl MessageLevel {
    fn c_name(self) -> &'static CStr {
        match self {
            MessageLevel::Error => kOfxMessageError,
            MessageLevel::Warning => kOfxMessageWarning,
            MessageLevel::Message => kOfxMessageMessage,
            MessageLevel::Log => kOfxMessageLog,
        }
    }
}

/// Message id passed with every message (some hosts build strings from it, so never null).
const MESSAGE_ID: &CStr = c"org.pixelspace";

/// The host and its suites, valid from load to unload.
pub struct Host {
    properties: OfxPropertySetHandle,
    pub(crate) prop: &'static OfxPropertySuiteV1,
    pub(crate) effect: &'static OfxImageEffectSuiteV1,
    pub(crate) param: &'static OfxParameterSuiteV1,
    pub(crate) memory: Option<&'static OfxMemorySuiteV1>,
    pub(crate) thread: Option<&'static OfxMultiThreadSuiteV1>,
    pub(crate) message: MessageSuite,
    pub(crate) progress: ProgressSuite,
}

// SAFETY: the host's property set handle and suite tables are owned by the host, immutable
// while the plugin is loaded, and OFX suite functions may be called from any render thread.
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

static HOST_POINTER: AtomicPtr<OfxHost> = AtomicPtr::new(ptr::null_mut());
/// The loaded host and how many of the binary's plugins are loaded (each gets its own load).
static HOST: RwLock<(Option<&'static Host>, usize)> = RwLock::new((None, 0));

/// Remembers the host pointer (`OfxPlugin::setHost`).
///
/// # Safety
/// `host` must be null or point to an `OfxHost` that stays valid while the plugin is loaded.
pub(crate) unsafe fn set_host_pointer(host: *mut OfxHost) {
    HOST_POINTER.store(host, Ordering::Release);
}

/// Fetches a suite, or null.
///
/// # Safety
/// `host` must be a valid `OfxHost`.
unsafe fn fetch(host: &OfxHost, name: &CStr, version: c_int) -> *const c_void {
    match host.fetchSuite {
        // SAFETY: the host's own fetchSuite with its own property set.
        Some(f) => unsafe { f(host.host, name.as_ptr(), version) },
        None => ptr::null(),
    }
}

/// Fetches the suites (`kOfxActionLoad`). Fails with a missing-host-feature error if `setHost`
/// was never called or a required suite is absent.
pub(crate) fn load() -> Result<&'static Host> {
    let mut guard = HOST.write().unwrap_or_else(|e| e.into_inner());
    if let (Some(h), n) = &mut *guard {
        *n += 1;
        return Ok(*h);
    }
    let pointer = HOST_POINTER.load(Ordering::Acquire);
    if pointer.is_null() {
        return Err(Error::missing_host_feature(
            "the host did not call setHost before loading the plugin",
        ));
    }
    // SAFETY: set_host_pointer's contract: valid while loaded.
    let host = unsafe { &*pointer };
    // SAFETY: fetched suite pointers are null or point to suite tables of the requested version
    // that the host keeps alive while the plugin is loaded.
    let required = |name: &CStr, version: c_int| -> Result<*const c_void> {
        let p = unsafe { fetch(host, name, version) };
        if p.is_null() {
            Err(Error::missing_host_feature(format!(
                "the host does not offer {} version {version}, which Pixelspace needs",
                name.to_string_lossy()
            )))
        } else {
            Ok(p)
        }
    };
    let optional = |name: &CStr, version: c_int| unsafe { fetch(host, name, version) };
    // SAFETY (all casts below): each pointer was returned by fetchSuite for exactly that suite
    // name and version, so it points at a table of that type living as long as the host.
    let h = unsafe {
        let message = {
            let v2 = optional(kOfxMessageSuite, 2) as *const OfxMessageSuiteV2;
            let v1 = optional(kOfxMessageSuite, 1) as *const OfxMessageSuiteV1;
            if !v2.is_null() {
                MessageSuite::V2(&*v2)
            } else if !v1.is_null() {
                MessageSuite::V1(&*v1)
            } else {
                MessageSuite::None
            }
        };
        let progress = {
            let v2 = optional(kOfxProgressSuite, 2) as *const OfxProgressSuiteV2;
            let v1 = optional(kOfxProgressSuite, 1) as *const OfxProgressSuiteV1;
            if !v2.is_null() {
                ProgressSuite::V2(&*v2)
            } else if !v1.is_null() {
                ProgressSuite::V1(&*v1)
            } else {
                ProgressSuite::None
            }
        };
        Host {
            properties: host.host,
            prop: &*(required(kOfxPropertySuite, 1)? as *const OfxPropertySuiteV1),
            effect: &*(required(kOfxImageEffectSuite, 1)? as *const OfxImageEffectSuiteV1),
            param: &*(required(kOfxParameterSuite, 1)? as *const OfxParameterSuiteV1),
            memory: (optional(kOfxMemorySuite, 1) as *const OfxMemorySuiteV1).as_ref(),
            thread: (optional(kOfxMultiThreadSuite, 1) as *const OfxMultiThreadSuiteV1).as_ref(),
            message,
            progress,
        }
    };
    // One small allocation per load of the binary (never freed: a late call from a host
    // thread after unload then still reads valid memory).
    let leaked: &'static Host = Box::leak(Box::new(h));
    *guard = (Some(leaked), 1);
    Ok(leaked)
}

/// Forgets the suites when the last of the binary's plugins is unloaded (`kOfxActionUnload`).
pub(crate) fn unload() {
    let mut guard = HOST.write().unwrap_or_else(|e| e.into_inner());
    guard.1 = guard.1.saturating_sub(1);
    if guard.1 == 0 {
        guard.0 = None;
    }
}

/// The loaded host, or a missing-host-feature error before load.
pub fn host() -> Result<&'static Host> {
    HOST.read()
        .unwrap_or_else(|e| e.into_inner())
        .0
        .ok_or_else(|| Error::missing_host_feature("the plugin was used before the host loaded it"))
}

/// A required suite function, or a missing-host-feature error naming it.
pub(crate) fn func<F>(f: Option<F>, name: &str) -> Result<F> {
    f.ok_or_else(|| Error::missing_host_feature(format!("the host's suites lack {name}")))
}

impl Host {
    /// The host's own property set (name, label, capabilities).
    pub fn properties(&'static self) -> PropertySet<'static> {
        // SAFETY: the host property set lives as long as the host.
        unsafe { PropertySet::from_raw(self.properties, self) }
    }

    /// Whether the host gives an effect frames of a clip at times other than the one being
    /// rendered (`kOfxImageEffectPropTemporalClipAccess`). A host that does not say is taken
    /// not to: MLT, for one, says 0 and hands back the current frame whatever time is asked.
    pub fn temporal_clip_access(&'static self) -> bool {
        self.properties()
            .get_int(kOfxImageEffectPropTemporalClipAccess, 0)
            .is_ok_and(|v| v != 0)
    }

    /// The host's name (`kOfxPropName`, e.g. `uk.co.thefoundry.nuke`), or its label, for messages.
    pub fn name(&'static self) -> String {
        let props = self.properties();
        [kOfxPropLabel, kOfxPropName]
            .into_iter()
            .filter_map(|p| props.get_string(p, 0).ok())
            .find(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "this host".to_string())
    }

    /// Number of CPUs the host lets plugins use (multithread suite), if it says.
    pub fn num_cpus(&self) -> Option<u32> {
        let f = self.thread?.multiThreadNumCPUs?;
        let mut n: std::ffi::c_uint = 0;
        // SAFETY: valid out pointer.
        let status = unsafe { f(&mut n) };
        (status == 0 && n > 0).then_some(n)
    }

    /// Whether the host offers the memory suite.
    pub fn has_memory_suite(&self) -> bool {
        self.memory.is_some()
    }

    /// Whether the host offers persistent messages (message suite v2).
    pub fn has_persistent_messages(&self) -> bool {
        matches!(self.message, MessageSuite::V2(_))
    }

    /// Posts a transient message. `handle` is an effect instance handle or null (descriptors and
    /// load/unload: hosts may treat the handle as an instance, so never pass a descriptor).
    pub(crate) fn post_message(
        &self,
        handle: *mut c_void,
        level: MessageLevel,
        text: &str,
    ) -> bool {
        let text = c_text(text);
        let f = match self.message {
            MessageSuite::V2(s) => s.message,
            MessageSuite::V1(s) => s.message,
            MessageSuite::None => None,
        };
        match f {
            // SAFETY: "%s" with one NUL-terminated string argument; the text is never the format.
            Some(f) => unsafe {
                f(
                    handle,
                    level.c_name().as_ptr(),
                    MESSAGE_ID.as_ptr(),
                    c"%s".as_ptr(),
                    text.as_ptr(),
                ) == 0
            },
            None => false,
        }
    }

    /// Sets the instance's persistent message; false if the host has no v2 message suite.
    pub(crate) fn set_persistent_message(
        &self,
        instance: *mut c_void,
        level: MessageLevel,
        text: &str,
    ) -> bool {
        let MessageSuite::V2(s) = self.message else {
            return false;
        };
        let Some(f) = s.setPersistentMessage else {
            return false;
        };
        let text = c_text(text);
        // SAFETY: as in post_message; `instance` is a live effect instance handle.
        unsafe {
            f(
                instance,
                level.c_name().as_ptr(),
                MESSAGE_ID.as_ptr(),
                c"%s".as_ptr(),
                text.as_ptr(),
            ) == 0
        }
    }

    /// Clears the instance's persistent message, if the host has them.
    pub(crate) fn clear_persistent_message(&self, instance: *mut c_void) {
        if let MessageSuite::V2(s) = self.message
            && let Some(f) = s.clearPersistentMessage
        {
            // SAFETY: `instance` is a live effect instance handle.
            unsafe { f(instance) };
        }
    }
}

/// A message as a C string; interior NULs (never expected) become spaces.
pub(crate) fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

/// A string from a host-owned C string (copied; null becomes empty).
///
/// # Safety
/// `p` must be null or a NUL-terminated string valid for the duration of the call.
pub(crate) unsafe fn string_from_host(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: caller's contract.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}
