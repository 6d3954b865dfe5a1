//! The action dispatcher: one `mainEntry` per effect (generic over [`Plugin`]), with every
//! action run under `catch_unwind`, typed action arguments, instance data management, and
//! errors and panics turned into OFX statuses plus a message to the host.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use openfx::sys::generic::core::{
    OfxHost, OfxPlugin, OfxPropertySetHandle, OfxStatus, kOfxActionBeginInstanceChanged,
    kOfxActionCreateInstance, kOfxActionDescribe, kOfxActionDestroyInstance,
    kOfxActionEndInstanceChanged, kOfxActionInstanceChanged, kOfxActionLoad, kOfxActionPurgeCaches,
    kOfxActionUnload, kOfxChangePluginEdited, kOfxChangeTime, kOfxChangeUserEdited,
    kOfxStatErrUnknown, kOfxStatFailed, kOfxStatOK, kOfxStatReplyDefault,
};
use openfx::sys::generic::core::{kOfxPropChangeReason, kOfxPropName, kOfxPropTime, kOfxPropType};
use openfx::sys::image_effect_v1::image_effect::{
    OfxImageEffectHandle, kOfxImageEffectActionDescribeInContext,
    kOfxImageEffectActionGetClipPreferences, kOfxImageEffectActionGetFramesNeeded,
    kOfxImageEffectActionGetRegionsOfInterest, kOfxImageEffectActionGetTimeDomain,
    kOfxImageEffectActionIsIdentity, kOfxImageEffectActionRender, kOfxImageEffectFrameVarying,
    kOfxImageEffectPluginApi, kOfxImageEffectPropContext, kOfxImageEffectPropFrameRange,
    kOfxImageEffectPropInteractiveRenderStatus, kOfxImageEffectPropRegionOfInterest,
    kOfxImageEffectPropRenderQualityDraft, kOfxImageEffectPropRenderScale,
    kOfxImageEffectPropRenderWindow, kOfxImageEffectPropSequentialRenderStatus, kOfxTypeClip,
};
use openfx::sys::image_effect_v1::param::kOfxTypeParameter;
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, PixelDepth};

use super::effect::{CanonicalRect, Context, ImageEffect};
use super::host::{self, MessageLevel};
use super::image::{components_name, depth_name};
use super::property::{PropertySet, dynamic_name};
use super::status::{Error, Result, panic_message};

/// What an action did when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Trapped (`kOfxStatOK`).
    Done,
    /// Not trapped: the host uses its default (`kOfxStatReplyDefault`).
    Default,
}

/// Arguments of the render and isIdentity actions.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderArgs {
    pub time: f64,
    /// Region to fill, pixel coordinates at the render scale.
    pub window: Rect,
    pub render_scale: [f64; 2],
    pub sequential: bool,
    pub interactive: bool,
    pub draft: bool,
}

/// What changed in an instanceChanged action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangedKind {
    Param,
    Clip,
    Other,
}

/// Who changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeReason {
    User,
    Plugin,
    Time,
    Other,
}

/// Arguments of the instanceChanged action.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceChanged {
    pub kind: ChangedKind,
    pub name: String,
    pub reason: ChangeReason,
    pub time: f64,
}

/// Arguments and results of the getRegionsOfInterest action.
pub struct RegionsOfInterest<'a> {
    pub time: f64,
    pub render_scale: [f64; 2],
    /// Region of the output to be rendered, canonical coordinates.
    pub region: CanonicalRect,
    out: PropertySet<'a>,
}

impl RegionsOfInterest<'_> {
    /// Sets the region needed from `clip` (canonical coordinates).
    pub fn set(&self, clip: &str, region: CanonicalRect) -> Result<()> {
        self.out.set_doubles(
            &dynamic_name("OfxImageClipPropRoI_", clip)?,
            &region.to_array(),
        )
    }
}

/// Arguments and results of the getFramesNeeded action.
pub struct FramesNeeded<'a> {
    pub time: f64,
    out: PropertySet<'a>,
}

impl FramesNeeded<'_> {
    /// Sets the frame ranges (inclusive pairs) needed from `clip`.
    pub fn set(&self, clip: &str, ranges: &[(f64, f64)]) -> Result<()> {
        let flat: Vec<f64> = ranges.iter().flat_map(|(a, b)| [*a, *b]).collect();
        self.out
            .set_doubles(&dynamic_name("OfxImageClipPropFrameRange_", clip)?, &flat)
    }
}

/// Results of the getClipPreferences action.
pub struct ClipPreferences<'a> {
    out: PropertySet<'a>,
}

impl ClipPreferences<'_> {
    pub fn set_components(&self, clip: &str, components: Components) -> Result<()> {
        self.out.set_cstr(
            &dynamic_name("OfxImageClipPropComponents_", clip)?,
            0,
            components_name(components),
        )
    }
    pub fn set_depth(&self, clip: &str, depth: PixelDepth) -> Result<()> {
        self.out.set_cstr(
            &dynamic_name("OfxImageClipPropDepth_", clip)?,
            0,
            depth_name(depth),
        )
    }
    pub fn set_pixel_aspect_ratio(&self, clip: &str, par: f64) -> Result<()> {
        self.out
            .set_double(&dynamic_name("OfxImageClipPropPAR_", clip)?, 0, par)
    }
    /// Whether the output differs from frame to frame even with constant inputs.
    pub fn set_frame_varying(&self, varying: bool) -> Result<()> {
        self.out
            .set_int(kOfxImageEffectFrameVarying, 0, varying as i32)
    }
}

/// An effect: its identity, its describe actions and its instance actions.
pub trait Plugin: 'static {
    /// Unique reverse-domain identifier.
    const ID: &'static CStr;
    /// Major and minor version.
    const VERSION: (u32, u32);
    /// Per-instance state, shared by concurrent renders.
    type Instance: Send + Sync + 'static;

    fn describe(effect: &ImageEffect) -> Result<()>;
    fn describe_in_context(effect: &ImageEffect, context: Context) -> Result<()>;
    /// Must be light: no model loading here.
    fn create_instance(effect: &ImageEffect) -> Result<Self::Instance>;
    fn instance_changed(
        _inst: &Self::Instance,
        _effect: &ImageEffect,
        _args: &InstanceChanged,
    ) -> Result<Reply> {
        Ok(Reply::Default)
    }
    fn regions_of_interest(
        _inst: &Self::Instance,
        _effect: &ImageEffect,
        _args: &RegionsOfInterest,
    ) -> Result<Reply> {
        Ok(Reply::Default)
    }
    fn frames_needed(
        _inst: &Self::Instance,
        _effect: &ImageEffect,
        _args: &FramesNeeded,
    ) -> Result<Reply> {
        Ok(Reply::Default)
    }
    fn clip_preferences(
        _inst: &Self::Instance,
        _effect: &ImageEffect,
        _args: &ClipPreferences,
    ) -> Result<Reply> {
        Ok(Reply::Default)
    }
    /// The frames the effect can produce (both ends included), when it is not the frame
    /// range of its inputs (general context only: hosts ask other contexts nothing).
    fn time_domain(_inst: &Self::Instance, _effect: &ImageEffect) -> Result<Option<(f64, f64)>> {
        Ok(None)
    }
    /// `Some((clip, time))` if the output is that clip's image unchanged.
    fn is_identity(
        _inst: &Self::Instance,
        _effect: &ImageEffect,
        _args: &RenderArgs,
    ) -> Result<Option<(String, f64)>> {
        Ok(None)
    }
    fn render(inst: &Self::Instance, effect: &ImageEffect, args: &RenderArgs) -> Result<()>;
    fn purge_caches(_inst: &Self::Instance) {}
}

/// An `OfxPlugin` record for the host (layout-identical to `OfxPlugin`).
#[repr(transparent)]
pub struct PluginEntry(OfxPlugin);

impl PluginEntry {
    pub const fn new<P: Plugin>() -> Self {
        PluginEntry(OfxPlugin {
            pluginApi: kOfxImageEffectPluginApi.as_ptr(),
            apiVersion: 1,
            pluginIdentifier: P::ID.as_ptr(),
            pluginVersionMajor: P::VERSION.0,
            pluginVersionMinor: P::VERSION.1,
            setHost: Some(set_host),
            mainEntry: Some(main_entry::<P>),
        })
    }

    /// The identifier, for listings and tests.
    pub fn id(&self) -> &'static str {
        // SAFETY: pluginIdentifier always comes from a `&'static CStr` (see `new`).
        unsafe { CStr::from_ptr(self.0.pluginIdentifier) }
            .to_str()
            .unwrap_or("")
    }
}

/// `OfxPlugin::setHost` and `OfxSetHost`.
///
/// # Safety
/// Called by the host with its `OfxHost`, valid while the plugin is loaded.
pub unsafe extern "C" fn set_host(host: *mut OfxHost) {
    // SAFETY: forwarded contract.
    unsafe { host::set_host_pointer(host) }
}

/// Per-instance state plus whether a persistent error message is showing.
struct InstanceBox<I> {
    inner: I,
    persistent_message: AtomicBool,
}

/// The `mainEntry` of effect `P`.
///
/// # Safety
/// Called by the host per the OFX API: `action` a NUL-terminated action name, `handle` the
/// effect descriptor or instance the action is for, the argument sets valid for the call.
pub unsafe extern "C" fn main_entry<P: Plugin>(
    action: *const c_char,
    handle: *const c_void,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> OfxStatus {
    if action.is_null() {
        return kOfxStatErrUnknown;
    }
    // SAFETY: NUL-terminated action name from the host.
    let action = unsafe { CStr::from_ptr(action) };
    let instance_action = is_instance_action(action);
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: forwarded contract.
        unsafe { dispatch::<P>(action, handle as OfxImageEffectHandle, in_args, out_args) }
    }));
    let error = match result {
        Ok(Ok(Reply::Done)) => return kOfxStatOK,
        Ok(Ok(Reply::Default)) => return kOfxStatReplyDefault,
        Ok(Err(Silent)) => return kOfxStatFailed,
        Ok(Err(Reported(e))) => e,
        Err(panic) => Error::failed(format!(
            "internal error in Pixelspace ({}) during {}: {}; please report this",
            P::ID.to_string_lossy(),
            action.to_string_lossy(),
            panic_message(panic.as_ref())
        )),
    };
    let status = error.status();
    // Reporting must not unwind into the host either.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        report::<P>(handle as OfxImageEffectHandle, instance_action, &error)
    }));
    status
}

/// How an action failed: with a message for the artist, or silently (the host aborted).
enum Failure {
    Reported(Error),
    Silent,
}
use Failure::{Reported, Silent};

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Reported(e)
    }
}

fn is_instance_action(action: &CStr) -> bool {
    ![
        kOfxActionLoad,
        kOfxActionUnload,
        kOfxActionDescribe,
        kOfxImageEffectActionDescribeInContext,
    ]
    .contains(&action)
}

fn report<P: Plugin>(handle: OfxImageEffectHandle, instance_action: bool, error: &Error) {
    let Ok(host) = host::host() else {
        eprintln!(
            "Pixelspace {}: {}",
            P::ID.to_string_lossy(),
            error.message()
        );
        return;
    };
    if instance_action && !handle.is_null() {
        // SAFETY: the host passed a live instance handle for this instance action.
        let effect = unsafe { ImageEffect::from_raw(handle, host, true) };
        if effect.set_persistent_message(MessageLevel::Error, error.message())
            && let Ok(Some(b)) = instance_box::<P>(&effect)
        {
            b.persistent_message.store(true, Ordering::Relaxed);
        }
    } else if !host.post_message(std::ptr::null_mut(), MessageLevel::Error, error.message()) {
        eprintln!(
            "Pixelspace {}: {}",
            P::ID.to_string_lossy(),
            error.message()
        );
    }
}

/// The instance's state, if created.
fn instance_box<'e, P: Plugin>(
    effect: &'e ImageEffect,
) -> Result<Option<&'e InstanceBox<P::Instance>>> {
    let p = effect.instance_data()?;
    // SAFETY: the only pointer ever stored in kOfxPropInstanceData is a Box<InstanceBox<P::Instance>>
    // made in create_instance and freed in destroy_instance, after which it is reset to null.
    Ok(unsafe { (p as *const InstanceBox<P::Instance>).as_ref() })
}

/// # Safety
/// See [`main_entry`].
unsafe fn dispatch<P: Plugin>(
    action: &CStr,
    handle: OfxImageEffectHandle,
    in_args: OfxPropertySetHandle,
    out_args: OfxPropertySetHandle,
) -> std::result::Result<Reply, Failure> {
    if action == kOfxActionLoad {
        host::load()?;
        return Ok(Reply::Done);
    }
    if action == kOfxActionUnload {
        host::unload();
        return Ok(Reply::Done);
    }
    let host = host::host()?;
    let instance_action = is_instance_action(action);
    // SAFETY: the host passes the descriptor or instance this action is for.
    let effect = unsafe { ImageEffect::from_raw(handle, host, instance_action) };
    // SAFETY: argument sets are valid for the duration of the action (may be null).
    let in_args = unsafe { PropertySet::from_raw(in_args, host) };
    let out_args = unsafe { PropertySet::from_raw(out_args, host) };

    if action == kOfxActionDescribe {
        P::describe(&effect)?;
        return Ok(Reply::Done);
    }
    if action == kOfxImageEffectActionDescribeInContext {
        let name = in_args.get_string(kOfxImageEffectPropContext, 0)?;
        let context = Context::parse(&name)
            .ok_or_else(|| Error::missing_host_feature(format!("unknown effect context {name}")))?;
        P::describe_in_context(&effect, context)?;
        return Ok(Reply::Done);
    }
    if action == kOfxActionCreateInstance {
        let inner = P::create_instance(&effect)?;
        let b = Box::new(InstanceBox {
            inner,
            persistent_message: AtomicBool::new(false),
        });
        let raw = Box::into_raw(b);
        if let Err(e) = effect.set_instance_data(raw as *mut c_void) {
            // SAFETY: not stored anywhere; reclaim.
            drop(unsafe { Box::from_raw(raw) });
            return Err(e.into());
        }
        return Ok(Reply::Done);
    }
    if action == kOfxActionDestroyInstance {
        let p = effect.instance_data()?;
        if !p.is_null() {
            effect.set_instance_data(std::ptr::null_mut())?;
            // SAFETY: made by Box::into_raw in create instance; reset to null above, so freed once.
            drop(unsafe { Box::from_raw(p as *mut InstanceBox<P::Instance>) });
        }
        return Ok(Reply::Done);
    }

    let Some(inst) = instance_box::<P>(&effect)? else {
        // Hosts may send instanceChanged (e.g. for a param the plugin sets) while the instance
        // is still being created; there is nothing to do for it yet.
        if action == kOfxActionInstanceChanged
            || action == kOfxActionBeginInstanceChanged
            || action == kOfxActionEndInstanceChanged
            || action == kOfxActionPurgeCaches
        {
            return Ok(Reply::Default);
        }
        return Err(Error::failed("the host used an effect instance it never created").into());
    };
    let reply = if action == kOfxImageEffectActionRender {
        let args = render_args(&in_args)?;
        let started = crate::render_log::enabled().then(std::time::Instant::now);
        let rendered = P::render(&inst.inner, &effect, &args);
        if let Some(t) = started {
            crate::render_log::record(&P::ID.to_string_lossy(), args.time, t.elapsed());
        }
        match rendered {
            Ok(()) => {
                if inst.persistent_message.swap(false, Ordering::Relaxed) {
                    effect.clear_persistent_message();
                }
                Reply::Done
            }
            // A render the host aborted fails without bothering the artist.
            Err(_) if effect.abort_requested() => return Err(Silent),
            Err(e) => return Err(e.into()),
        }
    } else if action == kOfxImageEffectActionIsIdentity {
        let args = render_args(&in_args)?;
        match P::is_identity(&inst.inner, &effect, &args)? {
            Some((clip, time)) => {
                out_args.set_string(kOfxPropName, 0, &clip)?;
                out_args.set_double(kOfxPropTime, 0, time)?;
                Reply::Done
            }
            None => Reply::Default,
        }
    } else if action == kOfxImageEffectActionGetRegionsOfInterest {
        let args = RegionsOfInterest {
            time: in_args.get_double(kOfxPropTime, 0)?,
            render_scale: in_args.get_double_n::<2>(kOfxImageEffectPropRenderScale)?,
            region: CanonicalRect::from_array(
                in_args.get_double_n::<4>(kOfxImageEffectPropRegionOfInterest)?,
            ),
            out: out_args,
        };
        P::regions_of_interest(&inst.inner, &effect, &args)?
    } else if action == kOfxImageEffectActionGetFramesNeeded {
        let args = FramesNeeded {
            time: in_args.get_double(kOfxPropTime, 0)?,
            out: out_args,
        };
        P::frames_needed(&inst.inner, &effect, &args)?
    } else if action == kOfxImageEffectActionGetTimeDomain {
        match P::time_domain(&inst.inner, &effect)? {
            Some((first, last)) => {
                out_args.set_doubles(kOfxImageEffectPropFrameRange, &[first, last])?;
                Reply::Done
            }
            None => Reply::Default,
        }
    } else if action == kOfxImageEffectActionGetClipPreferences {
        P::clip_preferences(&inst.inner, &effect, &ClipPreferences { out: out_args })?
    } else if action == kOfxActionInstanceChanged {
        let kind = in_args.get_string(kOfxPropType, 0)?;
        let kind = if kind.as_bytes() == kOfxTypeParameter.to_bytes() {
            ChangedKind::Param
        } else if kind.as_bytes() == kOfxTypeClip.to_bytes() {
            ChangedKind::Clip
        } else {
            ChangedKind::Other
        };
        let reason = in_args
            .get_string(kOfxPropChangeReason, 0)
            .unwrap_or_default();
        let reason = [
            (kOfxChangeUserEdited, ChangeReason::User),
            (kOfxChangePluginEdited, ChangeReason::Plugin),
            (kOfxChangeTime, ChangeReason::Time),
        ]
        .into_iter()
        .find(|(n, _)| n.to_bytes() == reason.as_bytes())
        .map_or(ChangeReason::Other, |(_, r)| r);
        let args = InstanceChanged {
            kind,
            name: in_args.get_string(kOfxPropName, 0)?,
            reason,
            time: in_args.get_double(kOfxPropTime, 0).unwrap_or(0.0),
        };
        P::instance_changed(&inst.inner, &effect, &args)?
    } else if action == kOfxActionPurgeCaches {
        P::purge_caches(&inst.inner);
        Reply::Done
    } else {
        // begin/endInstanceChanged, begin/endSequenceRender, getRegionOfDefinition, ...
        Reply::Default
    };
    Ok(reply)
}

fn render_args(in_args: &PropertySet) -> Result<RenderArgs> {
    let w = in_args.get_int_n::<4>(kOfxImageEffectPropRenderWindow)?;
    let flag = |name: &CStr| in_args.get_int(name, 0).map(|v| v != 0).unwrap_or(false);
    Ok(RenderArgs {
        time: in_args.get_double(kOfxPropTime, 0)?,
        window: Rect {
            x1: w[0],
            y1: w[1],
            x2: w[2],
            y2: w[3],
        },
        render_scale: in_args
            .get_double_n::<2>(kOfxImageEffectPropRenderScale)
            .unwrap_or([1.0, 1.0]),
        sequential: flag(kOfxImageEffectPropSequentialRenderStatus),
        interactive: flag(kOfxImageEffectPropInteractiveRenderStatus),
        draft: flag(kOfxImageEffectPropRenderQualityDraft),
    })
}

/// `OfxGetNumberOfPlugins` for a plugin list.
pub fn number_of_plugins(plugins: &[&PluginEntry]) -> c_int {
    plugins.len() as c_int
}

/// `OfxGetPlugin` for a plugin list: the nth record, or null.
pub fn get_plugin(plugins: &'static [&'static PluginEntry], nth: c_int) -> *const PluginEntry {
    usize::try_from(nth)
        .ok()
        .and_then(|i| plugins.get(i))
        .map_or(std::ptr::null(), |p| *p as *const PluginEntry)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dummy;
    impl Plugin for Dummy {
        const ID: &'static CStr = c"org.pixelspace.test.Dummy";
        const VERSION: (u32, u32) = (1, 2);
        type Instance = ();
        fn describe(_: &ImageEffect) -> Result<()> {
            Ok(())
        }
        fn describe_in_context(_: &ImageEffect, _: Context) -> Result<()> {
            Ok(())
        }
        fn create_instance(_: &ImageEffect) -> Result<()> {
            Ok(())
        }
        fn render(_: &(), _: &ImageEffect, _: &RenderArgs) -> Result<()> {
            panic!("never rendered in tests")
        }
    }

    static DUMMY: PluginEntry = PluginEntry::new::<Dummy>();
    static LIST: &[&PluginEntry] = &[&DUMMY];

    #[test]
    fn plugin_records() {
        assert_eq!(number_of_plugins(LIST), 1);
        assert_eq!(get_plugin(LIST, 0), &DUMMY as *const PluginEntry);
        assert!(get_plugin(LIST, 1).is_null());
        assert!(get_plugin(LIST, -1).is_null());
        assert_eq!(DUMMY.id(), "org.pixelspace.test.Dummy");
        assert_eq!(DUMMY.0.apiVersion, 1);
        assert_eq!(
            (DUMMY.0.pluginVersionMajor, DUMMY.0.pluginVersionMinor),
            (1, 2)
        );
    }

    #[test]
    fn instance_actions() {
        assert!(!is_instance_action(kOfxActionLoad));
        assert!(!is_instance_action(kOfxActionDescribe));
        assert!(!is_instance_action(kOfxImageEffectActionDescribeInContext));
        assert!(is_instance_action(kOfxImageEffectActionRender));
        assert!(is_instance_action(kOfxActionCreateInstance));
    }

    #[test]
    fn main_entry_without_host_fails_cleanly() {
        // No setHost/load: every action but load fails with a missing-host-feature status
        // and nothing unwinds. (Load fails too: no host pointer.)
        let f = DUMMY.0.mainEntry.unwrap();
        // SAFETY: null handles and argument sets are never dereferenced before the host check.
        let s = unsafe {
            f(
                kOfxActionDescribe.as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(s, openfx::sys::generic::core::kOfxStatErrMissingHostFeature);
        let s = unsafe {
            f(
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(s, kOfxStatErrUnknown);
    }
}
