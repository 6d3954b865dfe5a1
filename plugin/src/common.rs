//! What several effects declare the same way: the pixel depths they take, the description and
//! the Output and Source clips of an effect that works on whole frames from several times, and
//! the `provider` and `colourSpace` params of every effect that runs a model, and where the
//! default models are looked for.

use std::path::PathBuf;

use pixelspace_shared::image::{Components, PixelDepth};
use pixelspace_shared::models_dir;
use pixelspace_shared::runtime::Provider;

use crate::inference::{COLOUR_OPTIONS, PARAM_COLOUR_SPACE, PARAM_PROVIDER, PROVIDER_OPTIONS};
use crate::ofx::{Context, Description, ImageEffect, ParamSet, Result, ThreadSafety};

/// Every depth a host may offer; each effect takes all of them.
pub const ALL_DEPTHS: &[PixelDepth] = &[
    PixelDepth::Byte,
    PixelDepth::Short,
    PixelDepth::Half,
    PixelDepth::Float,
];

/// Describes an effect that renders whole frames from frames at other times (ExtendShot, Face,
/// CleanPlate): general and filter contexts, every depth, any render scale, no tiles, temporal
/// access, fully thread-safe, threading each frame itself.
pub fn describe_whole_frame_effect(
    effect: &ImageEffect,
    label: &str,
    description: &str,
    version: (u32, u32),
) -> Result<()> {
    Description {
        label,
        group: crate::GROUP,
        description,
        version,
        contexts: &[Context::General, Context::Filter],
        depths: ALL_DEPTHS,
        tiles: false,
        multi_resolution: true,
        temporal_access: true,
        thread_safety: ThreadSafety::FullySafe,
        host_frame_threading: false,
    }
    .apply(effect)
}

/// Declares the `output` clip and a temporal `source` clip, both RGBA and without tiles.
pub fn define_whole_frame_clips(effect: &ImageEffect, output: &str, source: &str) -> Result<()> {
    effect
        .define_clip(output)?
        .supported_components(&[Components::Rgba])?
        .supports_tiles(false)?;
    effect
        .define_clip(source)?
        .supported_components(&[Components::Rgba])?
        .temporal_access(true)?
        .supports_tiles(false)?;
    Ok(())
}

/// Declares the `provider` choice (where ONNX Runtime runs the effect's `models`, as the hint
/// words it) and the `colourSpace` choice (how the host's frames are encoded).
pub fn define_provider_and_colour_params(params: &ParamSet, models: &str) -> Result<()> {
    params
        .define_choice(PARAM_PROVIDER, "Provider", &PROVIDER_OPTIONS, 0)?
        .hint(&format!(
            "Where ONNX Runtime runs the {models}: auto (GPU when available), cpu, cuda or tensorrt."
        ))?
        .animates(false)?
        .evaluate_on_change(true)?;
    params
        .define_choice(PARAM_COLOUR_SPACE, "Frame colour space", &COLOUR_OPTIONS, 0)?
        .hint("How the incoming frames are encoded. auto: 8/16-bit frames are sRGB, half/float frames are scene linear.")?
        .animates(false)?
        .evaluate_on_change(true)?;
    Ok(())
}

/// The folders searched for an effect's default models: the bundle's
/// `Contents/Resources/models`, then the user's model folder (`$PIXELSPACE_MODELS_DIR`, ...).
pub fn default_model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(bin) = crate::ofx::path::binary_dir()
        && let Some(contents) = bin.parent()
    {
        dirs.push(contents.join("Resources").join("models"));
    }
    dirs.push(models_dir::models_dir());
    dirs
}

/// Whether models built with Pixelspace's own operators (domain org.pixelspace, which run on
/// the CPU only) are the better default for `provider`: on the CPU they are; on a GPU the
/// portable model is, since a GPU provider would copy tensors to the CPU and back around every
/// such node. `auto` counts as a GPU when this build has CUDA in it.
pub fn prefers_own_operators(provider: Provider) -> bool {
    match provider {
        Provider::Cpu => true,
        Provider::Cuda | Provider::TensorRt => false,
        Provider::Auto => !Provider::Cuda.compiled_in(),
    }
}

/// The RIFE models in order of preference for `provider`: `rife-motion` (flows and mask only,
/// built with our operators) and the portable `rife`, by model name.
pub fn rife_models(provider: Provider) -> [&'static str; 2] {
    if prefers_own_operators(provider) {
        ["rife-motion", "rife"]
    } else {
        ["rife", "rife-motion"]
    }
}
