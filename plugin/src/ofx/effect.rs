//! Effect and clip handles: the effect descriptor/instance, its clips, abort, progress,
//! host messages and the canonical <-> pixel coordinate conversions.

use std::ffi::{CStr, CString, c_void};
use std::marker::PhantomData;
use std::ptr;

use openfx::sys::generic::core::{OfxPropertySetHandle, OfxRectD};
use openfx::sys::image_effect_v1::image_effect::{
    OfxImageClipHandle, OfxImageEffectHandle, kOfxImageClipPropConnected, kOfxImageClipPropIsMask,
    kOfxImageClipPropOptional, kOfxImageEffectContextFilter, kOfxImageEffectContextGeneral,
    kOfxImageEffectContextGenerator, kOfxImageEffectContextPaint, kOfxImageEffectContextRetimer,
    kOfxImageEffectContextTransition, kOfxImageEffectPropComponents, kOfxImageEffectPropContext,
    kOfxImageEffectPropFrameRange, kOfxImageEffectPropPixelDepth,
    kOfxImageEffectPropSupportedComponents, kOfxImageEffectPropSupportsTiles,
    kOfxImageEffectPropTemporalClipAccess, kOfxImagePropPixelAspectRatio,
};
use openfx::sys::image_effect_v1::param::OfxParamSetHandle;
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, PixelDepth};

use super::host::{Host, MessageLevel, ProgressSuite, c_text, func};
use super::image::{Image, components_name, parse_components, parse_depth};
use super::param::ParamSet;
use super::property::PropertySet;
use super::status::{Error, Result, check};

/// The image effect contexts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Generator,
    Filter,
    Transition,
    Paint,
    General,
    Retimer,
}

impl Context {
    const ALL: [(Context, &'static CStr); 6] = [
        (Context::Generator, kOfxImageEffectContextGenerator),
        (Context::Filter, kOfxImageEffectContextFilter),
        (Context::Transition, kOfxImageEffectContextTransition),
        (Context::Paint, kOfxImageEffectContextPaint),
        (Context::General, kOfxImageEffectContextGeneral),
        (Context::Retimer, kOfxImageEffectContextRetimer),
    ];

    /// The OFX name.
    pub fn c_name(self) -> &'static CStr {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
            .unwrap_or(kOfxImageEffectContextGeneral)
    }

    /// Parses an OFX context name.
    pub fn parse(name: &str) -> Option<Context> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.to_bytes() == name.as_bytes())
            .map(|(c, _)| *c)
    }
}

/// A rectangle in canonical coordinates (doubles, render scale 1, pixel aspect applied).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CanonicalRect {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
}

impl CanonicalRect {
    /// From the four doubles of a property (x1, y1, x2, y2).
    pub fn from_array(v: [f64; 4]) -> Self {
        CanonicalRect {
            x1: v[0],
            y1: v[1],
            x2: v[2],
            y2: v[3],
        }
    }
    pub fn to_array(self) -> [f64; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }

    /// Pixel coordinates at `scale` with pixel aspect ratio `par`, rounded outwards so the pixel
    /// rectangle covers the canonical one.
    pub fn to_pixels(self, scale: [f64; 2], par: f64) -> Rect {
        let par = if par > 0.0 { par } else { 1.0 };
        let conv = |v: f64| v.clamp(i32::MIN as f64, i32::MAX as f64);
        Rect {
            x1: conv((self.x1 * scale[0] / par).floor()) as i32,
            y1: conv((self.y1 * scale[1]).floor()) as i32,
            x2: conv((self.x2 * scale[0] / par).ceil()) as i32,
            y2: conv((self.y2 * scale[1]).ceil()) as i32,
        }
    }

    /// Canonical coordinates of a pixel rectangle at `scale` with pixel aspect ratio `par`.
    pub fn from_pixels(r: Rect, scale: [f64; 2], par: f64) -> Self {
        let par = if par > 0.0 { par } else { 1.0 };
        let sx = if scale[0] > 0.0 { scale[0] } else { 1.0 };
        let sy = if scale[1] > 0.0 { scale[1] } else { 1.0 };
        CanonicalRect {
            x1: r.x1 as f64 * par / sx,
            y1: r.y1 as f64 / sy,
            x2: r.x2 as f64 * par / sx,
            y2: r.y2 as f64 / sy,
        }
    }
}

/// An image effect: the descriptor (describe actions) or an instance (all others).
#[derive(Clone, Copy)]
pub struct ImageEffect<'a> {
    handle: OfxImageEffectHandle,
    host: &'static Host,
    instance: bool,
    _life: PhantomData<&'a ()>,
}

// SAFETY: effect handles may be used from any thread the host calls the action on; FullySafe
// effects are rendered concurrently and OFX suites are thread safe for them.
unsafe impl Send for ImageEffect<'_> {}
unsafe impl Sync for ImageEffect<'_> {}

impl<'a> ImageEffect<'a> {
    /// # Safety
    /// `handle` must be a valid effect descriptor (`instance == false`) or instance of `host`
    /// for the whole of `'a`.
    pub(crate) unsafe fn from_raw(
        handle: OfxImageEffectHandle,
        host: &'static Host,
        instance: bool,
    ) -> Self {
        ImageEffect {
            handle,
            host,
            instance,
            _life: PhantomData,
        }
    }

    pub fn host(&self) -> &'static Host {
        self.host
    }

    /// Whether this is an instance (false: the descriptor).
    pub fn is_instance(&self) -> bool {
        self.instance
    }

    /// The effect's property set.
    pub fn properties(&self) -> Result<PropertySet<'a>> {
        let f = func(self.host.effect.getPropertySet, "getPropertySet")?;
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: valid effect handle, valid out pointer.
        check(unsafe { f(self.handle, &mut props) }, "effect properties")?;
        // SAFETY: the effect's property set lives as long as the effect.
        Ok(unsafe { PropertySet::from_raw(props, self.host) })
    }

    /// The effect's parameter set.
    pub fn params(&self) -> Result<ParamSet<'a>> {
        let f = func(self.host.effect.getParamSet, "getParamSet")?;
        let mut set: OfxParamSetHandle = ptr::null_mut();
        // SAFETY: valid effect handle, valid out pointer.
        check(unsafe { f(self.handle, &mut set) }, "effect parameters")?;
        // SAFETY: the param set lives as long as the effect.
        Ok(unsafe { ParamSet::from_raw(set, self.host) })
    }

    /// The context the instance runs in.
    pub fn context(&self) -> Result<Context> {
        let name = self
            .properties()?
            .get_string(kOfxImageEffectPropContext, 0)?;
        Context::parse(&name).ok_or_else(|| Error::failed(format!("unknown effect context {name}")))
    }

    /// Defines a clip (describeInContext).
    pub fn define_clip(&self, name: &str) -> Result<ClipDescriptor<'a>> {
        let f = func(self.host.effect.clipDefine, "clipDefine")?;
        let cname = clip_c_name(name)?;
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: valid descriptor, NUL-terminated name, valid out pointer.
        check(
            unsafe { f(self.handle, cname.as_ptr(), &mut props) },
            format!("define clip {name}"),
        )?;
        // SAFETY: the clip descriptor lives as long as the effect descriptor.
        Ok(ClipDescriptor {
            props: unsafe { PropertySet::from_raw(props, self.host) },
        })
    }

    /// An instance's clip by name.
    pub fn clip(&self, name: &str) -> Result<Clip<'a>> {
        let f = func(self.host.effect.clipGetHandle, "clipGetHandle")?;
        let cname = clip_c_name(name)?;
        let mut handle: OfxImageClipHandle = ptr::null_mut();
        let mut props: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: valid instance, NUL-terminated name, valid out pointers.
        check(
            unsafe { f(self.handle, cname.as_ptr(), &mut handle, &mut props) },
            format!("clip {name}"),
        )?;
        Ok(Clip {
            handle,
            // SAFETY: the clip's properties live as long as the instance.
            props: unsafe { PropertySet::from_raw(props, self.host) },
            host: self.host,
            name: name.to_string(),
            _life: PhantomData,
        })
    }

    /// The clip `name` when the instance has it and something is connected to it; None when
    /// the context it runs in has no such clip (the filter context has Source and Output
    /// only) or nothing is connected.
    pub fn connected_clip(&self, name: &str) -> Option<Clip<'a>> {
        self.clip(name).ok().filter(|c| c.connected())
    }

    /// Whether the host wants the current render stopped.
    pub fn abort_requested(&self) -> bool {
        match self.host.effect.abort {
            // SAFETY: valid instance handle.
            Some(f) => unsafe { f(self.handle) != 0 },
            None => false,
        }
    }

    /// Posts a transient message to the host (instances only; descriptors post without a handle).
    pub fn post_message(&self, level: MessageLevel, text: &str) -> bool {
        self.host.post_message(self.message_handle(), level, text)
    }

    /// Sets the instance's persistent message; falls back to a transient message on hosts
    /// without v2 message suites. Returns whether a persistent message was set.
    pub fn set_persistent_message(&self, level: MessageLevel, text: &str) -> bool {
        if self.instance
            && self
                .host
                .set_persistent_message(self.handle as *mut c_void, level, text)
        {
            true
        } else {
            self.post_message(level, text);
            false
        }
    }

    /// Clears the instance's persistent message.
    pub fn clear_persistent_message(&self) {
        if self.instance {
            self.host
                .clear_persistent_message(self.handle as *mut c_void);
        }
    }

    fn message_handle(&self) -> *mut c_void {
        if self.instance {
            self.handle as *mut c_void
        } else {
            ptr::null_mut()
        }
    }

    /// Starts a progress report (ended when the returned value drops). Does nothing on hosts
    /// without a progress suite.
    pub fn progress(&self, label: &str) -> Progress<'a> {
        let label = c_text(label);
        let started = self.instance
            && match self.host.progress {
                // SAFETY: valid instance handle, NUL-terminated strings.
                ProgressSuite::V2(s) => s.progressStart.is_some_and(|f| unsafe {
                    f(
                        self.handle as *mut c_void,
                        label.as_ptr(),
                        c"org.pixelspace.progress".as_ptr(),
                    ) == 0
                }),
                ProgressSuite::V1(s) => s
                    .progressStart
                    .is_some_and(|f| unsafe { f(self.handle as *mut c_void, label.as_ptr()) == 0 }),
                ProgressSuite::None => false,
            };
        Progress {
            effect: *self,
            started,
        }
    }

    /// The instance data pointer (kOfxPropInstanceData).
    pub(crate) fn instance_data(&self) -> Result<*mut c_void> {
        self.properties()?
            .get_pointer(openfx::sys::generic::core::kOfxPropInstanceData, 0)
    }

    pub(crate) fn set_instance_data(&self, data: *mut c_void) -> Result<()> {
        self.properties()?
            .set_pointer(openfx::sys::generic::core::kOfxPropInstanceData, 0, data)
    }
}

fn clip_c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::failed(format!("invalid clip name {name:?}")))
}

/// Progress of a render, reported to the host; ends on drop.
pub struct Progress<'a> {
    effect: ImageEffect<'a>,
    started: bool,
}

impl Progress<'_> {
    /// Reports progress in 0..1; false if the user cancelled through the progress bar.
    pub fn update(&self, fraction: f64) -> bool {
        if !self.started {
            return true;
        }
        let f = match self.effect.host.progress {
            ProgressSuite::V2(s) => s.progressUpdate,
            ProgressSuite::V1(s) => s.progressUpdate,
            ProgressSuite::None => None,
        };
        match f {
            // SAFETY: valid instance handle.
            Some(f) => unsafe {
                f(self.effect.handle as *mut c_void, fraction.clamp(0.0, 1.0))
                    != openfx::sys::generic::core::kOfxStatReplyNo
            },
            None => true,
        }
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        let f = match self.effect.host.progress {
            ProgressSuite::V2(s) => s.progressEnd,
            ProgressSuite::V1(s) => s.progressEnd,
            ProgressSuite::None => None,
        };
        if let Some(f) = f {
            // SAFETY: valid instance handle; paired with a successful progressStart.
            unsafe { f(self.effect.handle as *mut c_void) };
        }
    }
}

/// A clip being described.
#[derive(Clone, Copy)]
pub struct ClipDescriptor<'a> {
    props: PropertySet<'a>,
}

impl<'a> ClipDescriptor<'a> {
    pub fn properties(&self) -> PropertySet<'a> {
        self.props
    }
    pub fn supported_components(self, components: &[Components]) -> Result<Self> {
        let names: Vec<&CStr> = components.iter().map(|c| components_name(*c)).collect();
        self.props
            .set_cstrs(kOfxImageEffectPropSupportedComponents, &names)?;
        Ok(self)
    }
    pub fn temporal_access(self, on: bool) -> Result<Self> {
        self.props
            .set_int(kOfxImageEffectPropTemporalClipAccess, 0, on as i32)?;
        Ok(self)
    }
    pub fn optional(self, on: bool) -> Result<Self> {
        self.props
            .set_int(kOfxImageClipPropOptional, 0, on as i32)?;
        Ok(self)
    }
    pub fn is_mask(self, on: bool) -> Result<Self> {
        self.props.set_int(kOfxImageClipPropIsMask, 0, on as i32)?;
        Ok(self)
    }
    pub fn supports_tiles(self, on: bool) -> Result<Self> {
        self.props
            .set_int(kOfxImageEffectPropSupportsTiles, 0, on as i32)?;
        Ok(self)
    }
}

/// A clip of an effect instance.
pub struct Clip<'a> {
    handle: OfxImageClipHandle,
    props: PropertySet<'a>,
    host: &'static Host,
    name: String,
    _life: PhantomData<&'a ()>,
}

// SAFETY: see ImageEffect.
unsafe impl Send for Clip<'_> {}
unsafe impl Sync for Clip<'_> {}

impl<'a> Clip<'a> {
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn properties(&self) -> PropertySet<'a> {
        self.props
    }

    /// Whether something is connected to the clip.
    pub fn connected(&self) -> bool {
        self.props
            .get_int(kOfxImageClipPropConnected, 0)
            .map(|v| v != 0)
            .unwrap_or(false)
    }

    /// The frame range the clip has images for (inclusive).
    pub fn frame_range(&self) -> Result<(f64, f64)> {
        let [a, b] = self
            .props
            .get_double_n::<2>(kOfxImageEffectPropFrameRange)?;
        Ok((a, b))
    }

    /// The depth images from this clip come in (after clip preferences).
    pub fn pixel_depth(&self) -> Result<Option<PixelDepth>> {
        Ok(parse_depth(
            &self.props.get_string(kOfxImageEffectPropPixelDepth, 0)?,
        ))
    }

    /// The components images from this clip come in (after clip preferences).
    pub fn components(&self) -> Result<Option<Components>> {
        Ok(parse_components(
            &self.props.get_string(kOfxImageEffectPropComponents, 0)?,
        ))
    }

    pub fn pixel_aspect_ratio(&self) -> f64 {
        self.props
            .get_double(kOfxImagePropPixelAspectRatio, 0)
            .ok()
            .filter(|p| *p > 0.0)
            .unwrap_or(1.0)
    }

    /// The clip's region of definition at `time`, canonical coordinates.
    pub fn region_of_definition(&self, time: f64) -> Result<CanonicalRect> {
        let f = func(
            self.host.effect.clipGetRegionOfDefinition,
            "clipGetRegionOfDefinition",
        )?;
        let mut r = OfxRectD {
            x1: 0.0,
            y1: 0.0,
            x2: 0.0,
            y2: 0.0,
        };
        // SAFETY: valid clip handle, valid out pointer.
        check(
            unsafe { f(self.handle, time, &mut r) },
            format!("region of definition of clip {}", self.name),
        )?;
        Ok(CanonicalRect {
            x1: r.x1,
            y1: r.y1,
            x2: r.x2,
            y2: r.y2,
        })
    }

    /// The clip's image at `time` (the region the host decided from the regions of interest).
    pub fn image(&self, time: f64) -> Result<Image<'a>> {
        let f = func(self.host.effect.clipGetImage, "clipGetImage")?;
        let mut handle: OfxPropertySetHandle = ptr::null_mut();
        // SAFETY: valid clip handle, null region (= the host's region of interest), valid out pointer.
        let status = unsafe { f(self.handle, time, ptr::null(), &mut handle) };
        if status != 0 || handle.is_null() {
            return Err(Error::failed(format!(
                "the host gave no image for clip {} at frame {time}{}",
                self.name,
                if self.connected() {
                    ""
                } else {
                    " (the clip is not connected)"
                }
            )));
        }
        // SAFETY: a fresh image handle from clipGetImage; Image releases it.
        unsafe { Image::from_raw(handle, self.host) }
            .map_err(|e| e.context(format!("image of clip {} at frame {time}", self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_round_trip() {
        for (c, n) in Context::ALL {
            assert_eq!(Context::parse(n.to_str().unwrap()), Some(c));
            assert_eq!(c.c_name(), n);
        }
        assert_eq!(Context::parse("OfxImageEffectContextNope"), None);
    }

    #[test]
    fn canonical_pixel_conversions() {
        let r = CanonicalRect {
            x1: 0.0,
            y1: 0.0,
            x2: 1920.0,
            y2: 1080.0,
        };
        assert_eq!(
            r.to_pixels([0.5, 0.5], 1.0),
            Rect {
                x1: 0,
                y1: 0,
                x2: 960,
                y2: 540
            }
        );
        // outward rounding
        let r = CanonicalRect {
            x1: 1.0,
            y1: 1.0,
            x2: 10.0,
            y2: 10.0,
        };
        assert_eq!(
            r.to_pixels([0.5, 0.5], 1.0),
            Rect {
                x1: 0,
                y1: 0,
                x2: 5,
                y2: 5
            }
        );
        // pixel aspect ratio 2: canonical x is twice the pixel x
        let p = Rect {
            x1: 10,
            y1: 4,
            x2: 20,
            y2: 8,
        };
        let c = CanonicalRect::from_pixels(p, [1.0, 1.0], 2.0);
        assert_eq!(
            c,
            CanonicalRect {
                x1: 20.0,
                y1: 4.0,
                x2: 40.0,
                y2: 8.0
            }
        );
        assert_eq!(c.to_pixels([1.0, 1.0], 2.0), p);
        let c = CanonicalRect::from_pixels(p, [0.25, 0.25], 1.0);
        assert_eq!(c.to_pixels([0.25, 0.25], 1.0), p);
        // infinite RoDs (generators) clamp instead of overflowing
        let inf = CanonicalRect {
            x1: f64::NEG_INFINITY,
            y1: -1e300,
            x2: f64::INFINITY,
            y2: 1e300,
        };
        assert_eq!(
            inf.to_pixels([1.0, 1.0], 1.0),
            Rect {
                x1: i32::MIN,
                y1: i32::MIN,
                x2: i32::MAX,
                y2: i32::MAX
            }
        );
    }
}
