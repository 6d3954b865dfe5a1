//! Raw declarations of the C ABI in `cpp/pxhost.h` (the C++ host over HostSupport).

use std::os::raw::{c_char, c_double, c_int, c_uint, c_void};

#[repr(C)]
pub struct PxHost {
    _private: [u8; 0],
}

#[repr(C)]
pub struct PxInstance {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct PxSource {
    pub user: *mut c_void,
    pub frame_range: extern "C" fn(user: *mut c_void, first: *mut c_int, last: *mut c_int),
    pub size: extern "C" fn(user: *mut c_void, width: *mut c_uint, height: *mut c_uint),
    pub read: extern "C" fn(
        user: *mut c_void,
        frame: c_int,
        out: *mut f32,
        n_floats: usize,
        err: *mut c_char,
        err_cap: usize,
    ) -> c_int,
    pub release: extern "C" fn(user: *mut c_void),
}

pub const PX_PROFILE_FULL: c_int = 0;
pub const PX_PROFILE_RESTRICTED: c_int = 1;

pub const PX_DEPTH_BYTE: c_int = 0;
pub const PX_DEPTH_SHORT: c_int = 1;
pub const PX_DEPTH_FLOAT: c_int = 2;

#[repr(C)]
pub struct PxRenderOptions {
    pub depth: c_int,
    pub scale: c_double,
    pub threads: c_int,
    pub top_down: c_int,
    pub row_padding: c_int,
    pub tile_width: c_int,
    pub tile_height: c_int,
    pub cancelled: Option<extern "C" fn(user: *mut c_void) -> c_int>,
    pub cancel_user: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct PxFrameTiming {
    pub frame: c_int,
    pub render_action: c_double,
    pub image_fetch: c_double,
    pub total: c_double,
}

pub type PxSink = extern "C" fn(
    user: *mut c_void,
    frame: c_int,
    rgba: *const f32,
    width: c_uint,
    height: c_uint,
    err: *mut c_char,
    err_cap: usize,
) -> c_int;

unsafe extern "C" {
    pub fn px_string_free(s: *mut c_char);

    pub fn px_host_new2(
        dirs: *const *const c_char,
        n_dirs: usize,
        profile: c_int,
        err: *mut *mut c_char,
    ) -> *mut PxHost;
    pub fn px_host_free(host: *mut PxHost);
    pub fn px_host_effect_count(host: *mut PxHost) -> c_int;
    pub fn px_host_effect_string(
        host: *mut PxHost,
        index: c_int,
        key: *const c_char,
    ) -> *mut c_char;

    pub fn px_instance_new(
        host: *mut PxHost,
        effect_id: *const c_char,
        err: *mut *mut c_char,
    ) -> *mut PxInstance;
    pub fn px_instance_free(inst: *mut PxInstance);
    pub fn px_instance_context(inst: *mut PxInstance) -> *mut c_char;
    pub fn px_instance_render_thread_safety(inst: *mut PxInstance) -> *mut c_char;
    pub fn px_instance_supports_tiles(inst: *mut PxInstance) -> c_int;
    pub fn px_instance_supports_multi_resolution(inst: *mut PxInstance) -> c_int;

    pub fn px_instance_clip_count(inst: *mut PxInstance) -> c_int;
    pub fn px_instance_clip_string(
        inst: *mut PxInstance,
        index: c_int,
        key: *const c_char,
    ) -> *mut c_char;

    pub fn px_instance_param_count(inst: *mut PxInstance) -> c_int;
    pub fn px_instance_param_string(
        inst: *mut PxInstance,
        index: c_int,
        key: *const c_char,
    ) -> *mut c_char;
    pub fn px_instance_set_param(
        inst: *mut PxInstance,
        name: *const c_char,
        value: *const c_char,
        err: *mut *mut c_char,
    ) -> c_int;

    pub fn px_instance_connect(
        inst: *mut PxInstance,
        clip: *const c_char,
        source: PxSource,
        err: *mut *mut c_char,
    ) -> c_int;
    pub fn px_instance_time_domain(
        inst: *mut PxInstance,
        first: *mut c_double,
        last: *mut c_double,
        err: *mut *mut c_char,
    ) -> c_int;

    pub fn px_instance_frames_needed(
        inst: *mut PxInstance,
        time: c_double,
        clip: *const c_char,
        ranges: *mut c_double,
        cap: usize,
        n: *mut usize,
        err: *mut *mut c_char,
    ) -> c_int;

    pub fn px_instance_render(
        inst: *mut PxInstance,
        frames: *const c_int,
        n_frames: usize,
        opts: *const PxRenderOptions,
        sink: PxSink,
        sink_user: *mut c_void,
        err: *mut *mut c_char,
    ) -> c_int;

    pub fn px_instance_render_timings(
        inst: *mut PxInstance,
        out: *mut PxFrameTiming,
        cap: usize,
    ) -> usize;

    pub fn px_instance_message_count(inst: *mut PxInstance) -> c_int;
    pub fn px_instance_message(
        inst: *mut PxInstance,
        index: c_int,
        level: *mut c_int,
        persistent: *mut c_int,
    ) -> *mut c_char;
    pub fn px_instance_progress(inst: *mut PxInstance) -> c_double;
}

/// Take ownership of a string returned by the C++ side.
///
/// # Safety
/// `s` must be null or a string allocated by the C++ host and not yet freed.
pub unsafe fn take_string(s: *mut c_char) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, allocated by the host (caller's contract).
    let out = unsafe { std::ffi::CStr::from_ptr(s) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: allocated with malloc by the host, freed exactly once here.
    unsafe { px_string_free(s) };
    Some(out)
}

/// Write `msg` (truncated, NUL-terminated) into a C buffer of `cap` bytes.
///
/// # Safety
/// `buf` must be null or valid for `cap` bytes of writes.
pub unsafe fn write_c_message(buf: *mut c_char, cap: usize, msg: &str) {
    if buf.is_null() || cap == 0 {
        return;
    }
    let bytes = msg.as_bytes();
    let n = bytes.len().min(cap - 1);
    // SAFETY: buf is valid for cap bytes (caller's contract) and n < cap.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, n);
        *buf.add(n) = 0;
    }
}
