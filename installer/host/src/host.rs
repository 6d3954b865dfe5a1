//! Plugin discovery: a host scans plugin directories for `*.ofx.bundle`s the
//! way OpenFX hosts do and lists the effects it found.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::raw::c_char;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::error::{HostError, from_c};
use crate::ffi;
use crate::instance::Instance;
use crate::options::HostProfile;

/// An effect found in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectInfo {
    pub id: String,
    pub label: String,
    pub group: String,
    pub version: String,
    pub contexts: Vec<String>,
    pub bundle_path: PathBuf,
}

pub(crate) struct HostInner {
    pub(crate) raw: *mut ffi::PxHost,
    pub(crate) profile: HostProfile,
}

// SAFETY: the C++ host serialises every call on a host with a global mutex.
unsafe impl Send for HostInner {}
// SAFETY: as above; no call mutates state without that mutex.
unsafe impl Sync for HostInner {}

impl Drop for HostInner {
    fn drop(&mut self) {
        // SAFETY: raw came from px_host_new and every Instance holding an Arc to us is gone.
        unsafe { ffi::px_host_free(self.raw) }
    }
}

/// A headless OpenFX host over a set of plugin directories.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
    effects: Vec<EffectInfo>,
}

impl Host {
    /// Scan `plugin_dirs` (recursively) for OpenFX bundles. With an empty list the
    /// standard search path is used (`OFX_PLUGIN_PATH`, then `/usr/OFX/Plugins`);
    /// otherwise only the given directories are searched. A path to a bundle
    /// itself scans the directory holding it. The host offers everything it can
    /// ([`HostProfile::Full`]).
    pub fn new(plugin_dirs: &[PathBuf]) -> Result<Host, HostError> {
        Host::with_profile(plugin_dirs, HostProfile::Full)
    }

    /// As [`Host::new`], offering plugins what `profile` says. A process uses one
    /// profile: asking for the other one after a host was made fails.
    pub fn with_profile(plugin_dirs: &[PathBuf], profile: HostProfile) -> Result<Host, HostError> {
        // One C++ host per set of directories in the process: scanning a bundle
        // again sends its plugins load/describe/unload while instances made by
        // an earlier host may be rendering.
        type Key = (HostProfile, Vec<PathBuf>);
        static HOSTS: OnceLock<Mutex<HashMap<Key, Weak<HostInner>>>> = OnceLock::new();
        let mut hosts = HOSTS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        hosts.retain(|_, h| h.strong_count() > 0);
        let key = (profile, plugin_dirs.to_vec());
        if let Some(inner) = hosts.get(&key).and_then(Weak::upgrade) {
            let effects = list_effects(inner.raw);
            return Ok(Host { inner, effects });
        }
        let dirs: Vec<CString> = plugin_dirs
            .iter()
            .map(|d| path_cstring(d))
            .collect::<Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = dirs.iter().map(|d| d.as_ptr()).collect();
        let mut err: *mut c_char = ptr::null_mut();
        let c_profile = match profile {
            HostProfile::Full => ffi::PX_PROFILE_FULL,
            HostProfile::Restricted => ffi::PX_PROFILE_RESTRICTED,
        };
        // SAFETY: ptrs points at live NUL-terminated strings; err is an out-pointer.
        let raw = unsafe { ffi::px_host_new2(ptrs.as_ptr(), ptrs.len(), c_profile, &mut err) };
        if raw.is_null() {
            return Err(from_c(err, "could not create the OpenFX host"));
        }
        let inner = Arc::new(HostInner { raw, profile });
        hosts.insert(key, Arc::downgrade(&inner));
        let effects = list_effects(raw);
        Ok(Host { inner, effects })
    }

    /// What this host offers plugins.
    pub fn profile(&self) -> HostProfile {
        self.inner.profile
    }

    /// Effects found in the scanned bundles.
    pub fn effects(&self) -> Vec<EffectInfo> {
        self.effects.clone()
    }

    /// Create an instance of effect `effect_id` in the general context (the
    /// filter context for effects that only have that one; always the filter
    /// context in the restricted profile) and run its create-instance action.
    pub fn instance(&self, effect_id: &str) -> Result<Instance, HostError> {
        Instance::create(self.inner.clone(), effect_id)
    }
}

fn list_effects(raw: *mut ffi::PxHost) -> Vec<EffectInfo> {
    // SAFETY: raw is a live host.
    let count = unsafe { ffi::px_host_effect_count(raw) };
    (0..count)
        .map(|i| {
            let get = |key: &str| effect_string(raw, i, key).unwrap_or_default();
            EffectInfo {
                id: get("id"),
                label: get("label"),
                group: get("group"),
                version: get("version"),
                contexts: get("contexts")
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                bundle_path: PathBuf::from(get("bundle")),
            }
        })
        .collect()
}

fn effect_string(raw: *mut ffi::PxHost, i: i32, key: &str) -> Option<String> {
    let key = CString::new(key).ok()?;
    // SAFETY: raw is a live host; the returned string is ours to free.
    unsafe { ffi::take_string(ffi::px_host_effect_string(raw, i, key.as_ptr())) }
}

fn path_cstring(p: &Path) -> Result<CString, HostError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| HostError::new(format!("plugin path {} contains a NUL byte", p.display())))
}
