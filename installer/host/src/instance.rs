//! An effect instance: params, clip connections, time domain, rendering and
//! the messages the plugin posted.

use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_uint, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{HostError, from_c};
use crate::ffi;
use crate::host::HostInner;
use crate::image::{FrameSource, HostImage};
use crate::options::{Depth, RenderOptions, RowOrder};

/// Kind of a param, from its OpenFX type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Integer,
    Double,
    Boolean,
    Choice,
    String,
    Custom,
    Rgba,
    Rgb,
    Double2D,
    Integer2D,
    Double3D,
    Integer3D,
    PushButton,
    Group,
    Page,
    Other(String),
}

impl ParamKind {
    fn from_ofx(t: &str) -> ParamKind {
        match t {
            "OfxParamTypeInteger" => ParamKind::Integer,
            "OfxParamTypeDouble" => ParamKind::Double,
            "OfxParamTypeBoolean" => ParamKind::Boolean,
            "OfxParamTypeChoice" => ParamKind::Choice,
            "OfxParamTypeString" => ParamKind::String,
            "OfxParamTypeCustom" => ParamKind::Custom,
            "OfxParamTypeRGBA" => ParamKind::Rgba,
            "OfxParamTypeRGB" => ParamKind::Rgb,
            "OfxParamTypeDouble2D" => ParamKind::Double2D,
            "OfxParamTypeInteger2D" => ParamKind::Integer2D,
            "OfxParamTypeDouble3D" => ParamKind::Double3D,
            "OfxParamTypeInteger3D" => ParamKind::Integer3D,
            "OfxParamTypePushButton" => ParamKind::PushButton,
            "OfxParamTypeGroup" => ParamKind::Group,
            "OfxParamTypePage" => ParamKind::Page,
            other => ParamKind::Other(other.to_string()),
        }
    }
}

/// A param of an instance. Values are shown as text the way `set_param` takes
/// them (numbers, `true`/`false`, choice option names, `a,b,c` for vectors).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    /// Script name, as `set_param` takes it.
    pub name: String,
    pub kind: ParamKind,
    pub label: String,
    pub hint: String,
    pub default: Option<String>,
    pub value: Option<String>,
    /// Choice params: option labels.
    pub options: Vec<String>,
    /// Choice params: option names (OFX 1.5 `OfxParamPropChoiceEnum`), empty if the effect gave none.
    pub option_names: Vec<String>,
    pub secret: bool,
    pub parent: String,
}

/// A clip of an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipInfo {
    pub name: String,
    pub label: String,
    pub optional: bool,
    pub mask: bool,
    pub output: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageLevel {
    Log,
    Message,
    Warning,
    Error,
    Fatal,
    Question,
}

impl MessageLevel {
    fn from_c(l: c_int) -> MessageLevel {
        match l {
            0 => MessageLevel::Log,
            1 => MessageLevel::Message,
            2 => MessageLevel::Warning,
            3 => MessageLevel::Error,
            4 => MessageLevel::Fatal,
            _ => MessageLevel::Question,
        }
    }

    fn name(self) -> &'static str {
        match self {
            MessageLevel::Log => "log",
            MessageLevel::Message => "message",
            MessageLevel::Warning => "warning",
            MessageLevel::Error => "error",
            MessageLevel::Fatal => "fatal",
            MessageLevel::Question => "question",
        }
    }
}

/// A message the plugin posted through the message suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub level: MessageLevel,
    /// Posted with `setPersistentMessage` (and not cleared since).
    pub persistent: bool,
    pub text: String,
}

/// Cancels a running `render_frames` from another thread.
#[derive(Clone, Debug)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Where the time of one rendered frame went, measured by the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameTiming {
    pub frame: i32,
    /// Inside the effect's render action (summed over tiles).
    pub render_action: Duration,
    /// The part of `render_action` the host spent handing the plugin its input images
    /// (reading the source frames, scaling, converting to the render depth). The plugin's
    /// own time is `render_action - image_fetch`.
    pub image_fetch: Duration,
    /// The whole frame in the host: region of definition, converting the source frames to the
    /// render depth, the output buffers, the render action and reading the output back as
    /// RGBA float (the frame sink not included).
    pub total: Duration,
}

/// An instance of an effect, created by [`crate::Host::instance`].
pub struct Instance {
    raw: *mut ffi::PxInstance,
    cancel: Arc<AtomicBool>,
    // Declared last: dropped after the instance is freed.
    _host: Arc<HostInner>,
}

// SAFETY: the C++ instance is not tied to a thread; `&mut self` methods give
// exclusive access, and `&self` methods only read under the host's mutex.
unsafe impl Send for Instance {}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: raw came from px_instance_new and is freed once; the host is still alive.
        unsafe { ffi::px_instance_free(self.raw) }
    }
}

fn cstring(s: &str, what: &str) -> Result<CString, HostError> {
    CString::new(s).map_err(|_| HostError::new(format!("{what} \"{s}\" contains a NUL byte")))
}

impl Instance {
    pub(crate) fn create(host: Arc<HostInner>, effect_id: &str) -> Result<Instance, HostError> {
        let id = cstring(effect_id, "effect id")?;
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: host.raw is live; id is NUL-terminated; err is an out-pointer.
        let raw = unsafe { ffi::px_instance_new(host.raw, id.as_ptr(), &mut err) };
        if raw.is_null() {
            return Err(from_c(err, "could not create the effect instance"));
        }
        Ok(Instance {
            raw,
            cancel: Arc::new(AtomicBool::new(false)),
            _host: host,
        })
    }

    fn string(&self, f: unsafe extern "C" fn(*mut ffi::PxInstance) -> *mut c_char) -> String {
        // SAFETY: raw is live; the string is ours to free.
        unsafe { ffi::take_string(f(self.raw)) }.unwrap_or_default()
    }

    /// The context the instance was created in (`OfxImageEffectContextGeneral` or `...Filter`).
    pub fn context(&self) -> String {
        self.string(ffi::px_instance_context)
    }

    /// `OfxImageEffectRenderFullySafe`, `...InstanceSafe` or `...Unsafe`.
    pub fn render_thread_safety(&self) -> String {
        self.string(ffi::px_instance_render_thread_safety)
    }

    pub fn supports_tiles(&self) -> bool {
        // SAFETY: raw is live.
        unsafe { ffi::px_instance_supports_tiles(self.raw) != 0 }
    }

    pub fn supports_multi_resolution(&self) -> bool {
        // SAFETY: raw is live.
        unsafe { ffi::px_instance_supports_multi_resolution(self.raw) != 0 }
    }

    /// Clips in declaration order, the output clip included.
    pub fn clips(&self) -> Vec<ClipInfo> {
        // SAFETY: raw is live.
        let n = unsafe { ffi::px_instance_clip_count(self.raw) };
        (0..n)
            .map(|i| {
                let get = |k: &str| {
                    let key = CString::new(k).expect("static key");
                    // SAFETY: raw is live; the string is ours to free.
                    unsafe {
                        ffi::take_string(ffi::px_instance_clip_string(self.raw, i, key.as_ptr()))
                    }
                    .unwrap_or_default()
                };
                ClipInfo {
                    name: get("name"),
                    label: get("label"),
                    optional: get("optional") == "1",
                    mask: get("mask") == "1",
                    output: get("output") == "1",
                }
            })
            .collect()
    }

    /// Params in definition order, with their current values.
    pub fn params(&self) -> Vec<ParamInfo> {
        // SAFETY: raw is live.
        let n = unsafe { ffi::px_instance_param_count(self.raw) };
        (0..n)
            .map(|i| {
                let get = |k: &str| {
                    let key = CString::new(k).expect("static key");
                    // SAFETY: raw is live; the string is ours to free.
                    unsafe {
                        ffi::take_string(ffi::px_instance_param_string(self.raw, i, key.as_ptr()))
                    }
                };
                let list = |k: &str| -> Vec<String> {
                    get(k)
                        .filter(|s| !s.is_empty())
                        .map(|s| s.split('\u{1f}').map(String::from).collect())
                        .unwrap_or_default()
                };
                ParamInfo {
                    name: get("name").unwrap_or_default(),
                    kind: ParamKind::from_ofx(&get("type").unwrap_or_default()),
                    label: get("label").unwrap_or_default(),
                    hint: get("hint").unwrap_or_default(),
                    default: get("default"),
                    value: get("value"),
                    options: list("options"),
                    option_names: list("option_names"),
                    secret: get("secret").as_deref() == Some("1"),
                    parent: get("parent").unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Set a param by script name from text: integers, numbers, booleans
    /// (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`), choice options by
    /// name or label (case and punctuation ignored) or index, strings as is,
    /// vectors as `a,b,c`. The effect is told through its instance-changed action.
    pub fn set_param(&mut self, name: &str, value: &str) -> Result<(), HostError> {
        let n = cstring(name, "param name")?;
        let v = cstring(value, "param value")?;
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: raw is live; strings are NUL-terminated; err is an out-pointer.
        let rc = unsafe { ffi::px_instance_set_param(self.raw, n.as_ptr(), v.as_ptr(), &mut err) };
        if rc != 0 {
            Err(from_c(err, "could not set the param"))
        } else {
            Ok(())
        }
    }

    /// Connect input clip `clip` to `src`. Frames are read lazily while rendering.
    pub fn connect(&mut self, clip: &str, src: Arc<dyn FrameSource>) -> Result<(), HostError> {
        let name = cstring(clip, "clip name")?;
        let user = Box::into_raw(Box::new(src)) as *mut c_void;
        let source = ffi::PxSource {
            user,
            frame_range: source_frame_range,
            size: source_size,
            read: source_read,
            release: source_release,
        };
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: raw is live; the C++ side takes ownership of `user` and calls release once.
        let rc = unsafe { ffi::px_instance_connect(self.raw, name.as_ptr(), source, &mut err) };
        if rc != 0 {
            Err(from_c(err, "could not connect the clip"))
        } else {
            Ok(())
        }
    }

    /// Frames the effect can produce (its time-domain action in the general
    /// context; the connected clips' frame ranges otherwise), both ends included.
    /// Fails in the restricted profile, which never asks.
    pub fn time_domain(&self) -> Result<(f64, f64), HostError> {
        let (mut a, mut b) = (0.0, 0.0);
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: raw is live; out-pointers are valid.
        let rc = unsafe { ffi::px_instance_time_domain(self.raw, &mut a, &mut b, &mut err) };
        if rc != 0 {
            Err(from_c(err, "could not get the time domain"))
        } else {
            Ok((a, b))
        }
    }

    /// The source frames the effect needs from input clip `clip` to render frame `time` (its
    /// frames-needed action; the frame itself when the effect does not say), as inclusive
    /// (first, last) ranges. Fails in the restricted profile, which never asks.
    pub fn frames_needed(&self, time: f64, clip: &str) -> Result<Vec<(f64, f64)>, HostError> {
        let name = cstring(clip, "clip name")?;
        let mut cap = 8usize;
        loop {
            let mut buf = vec![0.0f64; 2 * cap];
            let mut n = 0usize;
            let mut err: *mut c_char = ptr::null_mut();
            // SAFETY: raw is live; buf holds 2*cap doubles; out-pointers are valid.
            let rc = unsafe {
                ffi::px_instance_frames_needed(
                    self.raw,
                    time,
                    name.as_ptr(),
                    buf.as_mut_ptr(),
                    cap,
                    &mut n,
                    &mut err,
                )
            };
            if rc != 0 {
                return Err(from_c(err, "could not get the frames needed"));
            }
            if n <= cap {
                return Ok(buf.chunks_exact(2).take(n).map(|r| (r[0], r[1])).collect());
            }
            cap = n;
        }
    }

    /// A handle that cancels a render running on another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// Render `frames`. Each frame is rendered over the effect's region of
    /// definition at `opts.scale`; fully thread-safe effects get `opts.threads`
    /// frames at once, others one at a time. `sink` receives each finished frame
    /// (RGBA float, y up, at the render scale), possibly from several threads and
    /// in any order. The first failure stops the render and is returned; the
    /// sink is never called for a failed frame.
    pub fn render_frames(
        &mut self,
        frames: &[i32],
        opts: &RenderOptions,
        sink: &(dyn Fn(i32, HostImage) -> Result<(), String> + Sync),
    ) -> Result<(), HostError> {
        if opts.threads == 0 {
            return Err(HostError::new("threads must be at least 1"));
        }
        if !(opts.scale > 0.0 && opts.scale <= 1.0) {
            return Err(HostError::new(format!(
                "render scale must be in (0, 1], got {}",
                opts.scale
            )));
        }
        let (tile_width, tile_height) = match opts.tile {
            Some((w, h)) if w > 0 && h > 0 => (w as c_int, h as c_int),
            Some(_) => return Err(HostError::new("tile width and height must be positive")),
            None => (0, 0),
        };
        self.cancel.store(false, Ordering::SeqCst);
        let c_opts = ffi::PxRenderOptions {
            depth: match opts.depth {
                Depth::Byte => ffi::PX_DEPTH_BYTE,
                Depth::Short => ffi::PX_DEPTH_SHORT,
                Depth::Float => ffi::PX_DEPTH_FLOAT,
            },
            scale: opts.scale,
            threads: opts.threads.min(1024) as c_int,
            top_down: (opts.row_order == RowOrder::TopDown) as c_int,
            row_padding: opts.row_padding.min(1 << 20) as c_int,
            tile_width,
            tile_height,
            cancelled: Some(is_cancelled),
            cancel_user: Arc::as_ptr(&self.cancel) as *mut c_void,
        };
        let mut ctx = SinkContext { sink };
        let mut err: *mut c_char = ptr::null_mut();
        // SAFETY: raw is live; frames/opts/ctx outlive the call; callbacks match the ABI.
        let rc = unsafe {
            ffi::px_instance_render(
                self.raw,
                frames.as_ptr(),
                frames.len(),
                &c_opts,
                sink_frame,
                &mut ctx as *mut SinkContext as *mut c_void,
                &mut err,
            )
        };
        if rc != 0 {
            Err(from_c(err, "render failed"))
        } else {
            Ok(())
        }
    }

    /// How long each frame of the last [`Instance::render_frames`] call took, in the order
    /// the frames finished (failed frames are absent).
    pub fn last_render_timings(&self) -> Vec<FrameTiming> {
        // SAFETY: raw is live; a null buffer with capacity 0 only asks for the count.
        let n = unsafe { ffi::px_instance_render_timings(self.raw, ptr::null_mut(), 0) };
        let mut raw = vec![ffi::PxFrameTiming::default(); n];
        // SAFETY: raw is live; `raw` holds `n` writable entries.
        let got = unsafe { ffi::px_instance_render_timings(self.raw, raw.as_mut_ptr(), n) };
        raw.truncate(got.min(n));
        raw.iter()
            .map(|t| FrameTiming {
                frame: t.frame,
                render_action: Duration::from_secs_f64(t.render_action.max(0.0)),
                image_fetch: Duration::from_secs_f64(t.image_fetch.max(0.0)),
                total: Duration::from_secs_f64(t.total.max(0.0)),
            })
            .collect()
    }

    /// Everything the plugin posted, as `level: text`.
    pub fn messages(&self) -> Vec<String> {
        self.posted()
            .into_iter()
            .map(|m| format!("{}: {}", m.level.name(), m.text))
            .collect()
    }

    /// Everything the plugin posted, with levels.
    pub fn posted(&self) -> Vec<Message> {
        // SAFETY: raw is live.
        let n = unsafe { ffi::px_instance_message_count(self.raw) };
        (0..n)
            .filter_map(|i| {
                let (mut level, mut persistent) = (0, 0);
                // SAFETY: raw is live; out-pointers valid; the string is ours to free.
                let text = unsafe {
                    ffi::take_string(ffi::px_instance_message(
                        self.raw,
                        i,
                        &mut level,
                        &mut persistent,
                    ))
                }?;
                Some(Message {
                    level: MessageLevel::from_c(level),
                    persistent: persistent != 0,
                    text,
                })
            })
            .collect()
    }

    /// The last progress the plugin reported through the progress suite (0..1).
    pub fn progress(&self) -> f64 {
        // SAFETY: raw is live.
        unsafe { ffi::px_instance_progress(self.raw) }
    }
}

// ---- callbacks from C++ ------------------------------------------------------

type Source = Arc<dyn FrameSource>;

fn source<'a>(user: *mut c_void) -> &'a Source {
    // SAFETY: user is the Box<Source> leaked in `connect`, alive until release.
    unsafe { &*(user as *const Source) }
}

extern "C" fn source_frame_range(user: *mut c_void, first: *mut c_int, last: *mut c_int) {
    let r = catch_unwind(AssertUnwindSafe(|| source(user).frame_range())).unwrap_or((0, -1));
    // SAFETY: the C++ side passes valid out-pointers.
    unsafe {
        *first = r.0;
        *last = r.1;
    }
}

extern "C" fn source_size(user: *mut c_void, width: *mut c_uint, height: *mut c_uint) {
    let r = catch_unwind(AssertUnwindSafe(|| source(user).rod())).unwrap_or((0, 0));
    // SAFETY: the C++ side passes valid out-pointers.
    unsafe {
        *width = r.0;
        *height = r.1;
    }
}

extern "C" fn source_read(
    user: *mut c_void,
    frame: c_int,
    out: *mut f32,
    n_floats: usize,
    err: *mut c_char,
    err_cap: usize,
) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
        let src = source(user);
        let image = src.read(frame)?;
        let (w, h) = src.rod();
        if image.width != w || image.height != h {
            return Err(format!(
                "the frame is {}x{} but the clip is {}x{}",
                image.width, image.height, w, h
            ));
        }
        if image.data.len() != n_floats {
            return Err(format!(
                "the frame has {} floats, expected {} (RGBA {}x{})",
                image.data.len(),
                n_floats,
                w,
                h
            ));
        }
        // SAFETY: out is valid for n_floats writes (the C++ side allocated it).
        unsafe { ptr::copy_nonoverlapping(image.data.as_ptr(), out, n_floats) };
        Ok(())
    }));
    let msg = match result {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e,
        Err(_) => "the frame reader panicked".to_string(),
    };
    // SAFETY: err is valid for err_cap bytes.
    unsafe { ffi::write_c_message(err, err_cap, &msg) };
    1
}

extern "C" fn source_release(user: *mut c_void) {
    // SAFETY: user is the Box<Source> leaked in `connect`; release is called once.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        drop(unsafe { Box::from_raw(user as *mut Source) })
    }));
}

extern "C" fn is_cancelled(user: *mut c_void) -> c_int {
    // SAFETY: user is the AtomicBool held by the Instance for the whole render.
    let flag = unsafe { &*(user as *const AtomicBool) };
    flag.load(Ordering::SeqCst) as c_int
}

struct SinkContext<'a> {
    sink: &'a (dyn Fn(i32, HostImage) -> Result<(), String> + Sync),
}

extern "C" fn sink_frame(
    user: *mut c_void,
    frame: c_int,
    rgba: *const f32,
    width: c_uint,
    height: c_uint,
    err: *mut c_char,
    err_cap: usize,
) -> c_int {
    // SAFETY: user is the SinkContext on render_frames' stack, alive for the call.
    let ctx = unsafe { &*(user as *const SinkContext) };
    let n = width as usize * height as usize * 4;
    // SAFETY: rgba holds width*height*4 floats for the duration of the call.
    let data = unsafe { std::slice::from_raw_parts(rgba, n) }.to_vec();
    let image = HostImage {
        width,
        height,
        data,
    };
    let msg = match catch_unwind(AssertUnwindSafe(|| (ctx.sink)(frame, image))) {
        Ok(Ok(())) => return 0,
        Ok(Err(e)) => e,
        Err(_) => "the frame sink panicked".to_string(),
    };
    // SAFETY: err is valid for err_cap bytes.
    unsafe { ffi::write_c_message(err, err_cap, &msg) };
    1
}
