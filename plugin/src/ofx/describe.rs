//! The effect-wide properties set in the describe action, in one place.

use std::ffi::CStr;

use openfx::sys::generic::core::{
    kOfxPropLabel, kOfxPropLongLabel, kOfxPropPluginDescription, kOfxPropShortLabel,
    kOfxPropVersion, kOfxPropVersionLabel,
};
use openfx::sys::image_effect_v1::image_effect::{
    kOfxImageEffectPluginPropFieldRenderTwiceAlways, kOfxImageEffectPluginPropGrouping,
    kOfxImageEffectPluginPropHostFrameThreading, kOfxImageEffectPluginPropSingleInstance,
    kOfxImageEffectPluginRenderThreadSafety, kOfxImageEffectPropSupportedContexts,
    kOfxImageEffectPropSupportedPixelDepths, kOfxImageEffectPropSupportsMultiResolution,
    kOfxImageEffectPropSupportsMultipleClipDepths, kOfxImageEffectPropSupportsMultipleClipPARs,
    kOfxImageEffectPropSupportsTiles, kOfxImageEffectPropTemporalClipAccess,
    kOfxImageEffectRenderFullySafe, kOfxImageEffectRenderInstanceSafe, kOfxImageEffectRenderUnsafe,
};
use pixelspace_shared::image::PixelDepth;

use super::effect::{Context, ImageEffect};
use super::image::depth_name;
use super::status::Result;

/// How many renders the host may run at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadSafety {
    /// One render at a time across all instances.
    Unsafe,
    /// One render at a time per instance.
    InstanceSafe,
    /// Any number of renders at once, also on one instance.
    FullySafe,
}

/// What an effect tells the host about itself in describe.
pub struct Description<'s> {
    pub label: &'s str,
    pub group: &'s str,
    pub description: &'s str,
    pub version: (u32, u32),
    pub contexts: &'s [Context],
    pub depths: &'s [PixelDepth],
    pub tiles: bool,
    pub multi_resolution: bool,
    pub temporal_access: bool,
    pub thread_safety: ThreadSafety,
    /// Whether the host may split a frame over threads (false: the effect threads itself).
    pub host_frame_threading: bool,
}

impl Description<'_> {
    /// Sets every describe property on the effect descriptor.
    pub fn apply(&self, effect: &ImageEffect) -> Result<()> {
        let p = effect.properties()?;
        p.set_string(kOfxPropLabel, 0, self.label)?;
        p.set_string(kOfxImageEffectPluginPropGrouping, 0, self.group)?;
        p.set_string(kOfxPropPluginDescription, 0, self.description)?;
        let contexts: Vec<&CStr> = self.contexts.iter().map(|c| c.c_name()).collect();
        p.set_cstrs(kOfxImageEffectPropSupportedContexts, &contexts)?;
        let depths: Vec<&CStr> = self.depths.iter().map(|d| depth_name(*d)).collect();
        p.set_cstrs(kOfxImageEffectPropSupportedPixelDepths, &depths)?;
        p.set_int(kOfxImageEffectPropSupportsTiles, 0, self.tiles as i32)?;
        p.set_int(
            kOfxImageEffectPropSupportsMultiResolution,
            0,
            self.multi_resolution as i32,
        )?;
        p.set_int(
            kOfxImageEffectPropTemporalClipAccess,
            0,
            self.temporal_access as i32,
        )?;
        let safety = match self.thread_safety {
            ThreadSafety::Unsafe => kOfxImageEffectRenderUnsafe,
            ThreadSafety::InstanceSafe => kOfxImageEffectRenderInstanceSafe,
            ThreadSafety::FullySafe => kOfxImageEffectRenderFullySafe,
        };
        p.set_cstr(kOfxImageEffectPluginRenderThreadSafety, 0, safety)?;
        p.set_int(kOfxImageEffectPluginPropSingleInstance, 0, 0)?;
        p.set_int(
            kOfxImageEffectPluginPropHostFrameThreading,
            0,
            self.host_frame_threading as i32,
        )?;
        p.set_int(kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0)?;
        p.set_int(kOfxImageEffectPropSupportsMultipleClipPARs, 0, 0)?;
        p.set_int(kOfxImageEffectPluginPropFieldRenderTwiceAlways, 0, 0)?;
        // Nice to have; older hosts may not know these properties.
        let _ = p.set_string(kOfxPropShortLabel, 0, self.label);
        let _ = p.set_string(kOfxPropLongLabel, 0, self.label);
        let _ = p.set_ints(
            kOfxPropVersion,
            &[self.version.0 as i32, self.version.1 as i32],
        );
        let _ = p.set_string(
            kOfxPropVersionLabel,
            0,
            &format!("{}.{}", self.version.0, self.version.1),
        );
        Ok(())
    }
}
