//! `org.pixelspace.Inference`: runs any ONNX model described by a manifest on the host's
//! frames.
//!
//! Clips: `Source` (always), and two optional clips `Source2` and `Mask` (a matte; its alpha is
//! what a manifest input with `channels: alpha` reads), so a model can read two images or an
//! image and a matte. All clips are fetched as RGBA. Each manifest input names the clip it reads
//! and a frame offset; the effect asks the host for exactly those frames (temporal access).
//! Inputs at a frame outside the clip's range are taken from the nearest frame it has.
//!
//! Params: `model` (path of the .onnx file; its manifest sits beside it), `provider`
//! (auto|cpu|cuda|tensorrt), `colourSpace` (how the host's frames are encoded: auto = byte and
//! short are sRGB, half and float are linear), and the read-only `licence` of the chosen model.
//!
//! The pipeline (manifest + shared ONNX Runtime session) is loaded on first use, not at
//! instance creation, and cached per instance by (model path, provider). A render that fails
//! leaves the output untouched and tells the host why.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::image::{Components, PixelDepth};
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::{InferencePipeline, InputImage, RenderRequest};
use pixelspace_shared::runtime::Provider;

use crate::host_offers::{OneFrameOnly, TEMPORAL_HOSTS, is_general_context, not_in_filter_context};
use crate::ofx::{
    CanonicalRect, ChangedKind, ClipPreferences, Context, Description, Error, FramesNeeded,
    ImageEffect, InstanceChanged, MessageLevel, Plugin, RegionsOfInterest, RenderArgs, Reply,
    Result, StringMode, ThreadSafety,
};

/// Clip every model can read.
pub const CLIP_SOURCE: &str = "Source";
/// Optional second image clip.
pub const CLIP_SOURCE2: &str = "Source2";
/// Optional matte clip (alpha).
pub const CLIP_MASK: &str = "Mask";
/// The input clips, in the order they are declared.
pub const INPUT_CLIPS: [&str; 3] = [CLIP_SOURCE, CLIP_SOURCE2, CLIP_MASK];
const CLIP_OUTPUT: &str = "Output";

pub const PARAM_MODEL: &str = "model";
pub const PARAM_PROVIDER: &str = "provider";
pub const PARAM_COLOUR_SPACE: &str = "colourSpace";
pub const PARAM_LICENCE: &str = "licence";

/// Options of the `provider` choice, in index order.
pub const PROVIDER_OPTIONS: [&str; 4] = ["auto", "cpu", "cuda", "tensorrt"];
/// Options of the `colourSpace` choice, in index order.
pub const COLOUR_OPTIONS: [&str; 3] = ["auto", "linear", "srgb"];

/// The provider chosen by the `provider` param's index.
pub fn provider_from_index(index: i32) -> Result<Provider> {
    let name = usize::try_from(index)
        .ok()
        .and_then(|i| PROVIDER_OPTIONS.get(i))
        .ok_or_else(|| {
            Error::failed(format!(
                "the provider parameter has an unknown value ({index})"
            ))
        })?;
    Ok(name.parse::<Provider>()?)
}

/// How the host's frames are encoded, as chosen by the `colourSpace` param.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameColour {
    /// Byte and short frames are sRGB, half and float frames linear.
    Auto,
    Fixed(ColourSpace),
}

impl FrameColour {
    pub fn from_index(index: i32) -> Result<FrameColour> {
        match index {
            0 => Ok(FrameColour::Auto),
            1 => Ok(FrameColour::Fixed(ColourSpace::Linear)),
            2 => Ok(FrameColour::Fixed(ColourSpace::Srgb)),
            other => Err(Error::failed(format!(
                "the colourSpace parameter has an unknown value ({other})"
            ))),
        }
    }

    /// The encoding of frames of the given depth.
    pub fn resolve(self, depth: PixelDepth) -> ColourSpace {
        match self {
            FrameColour::Fixed(c) => c,
            FrameColour::Auto => match depth {
                PixelDepth::Byte | PixelDepth::Short => ColourSpace::Srgb,
                PixelDepth::Half | PixelDepth::Float => ColourSpace::Linear,
            },
        }
    }
}

/// The text shown in the `licence` param for a model path.
pub fn licence_text(model: &str) -> String {
    if model.trim().is_empty() {
        return String::new();
    }
    match Manifest::for_model(Path::new(model.trim())) {
        Ok(m) => {
            let l = &m.licence;
            let use_ = if l.commercial_use {
                "commercial use allowed"
            } else {
                "NON-COMMERCIAL use only"
            };
            let url = l
                .url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default();
            format!(
                "{}: {}, {use_}; weights from {}{url}",
                m.name, l.name, l.source
            )
        }
        Err(e) => format!("unknown: {e}"),
    }
}

/// The effect.
pub struct Inference;

/// A loaded pipeline and what it was loaded for.
struct Loaded {
    model: PathBuf,
    provider: Provider,
    pipeline: Arc<InferencePipeline>,
}

/// Per-instance state: the cached pipeline.
pub struct InferenceInstance {
    loaded: Mutex<Option<Loaded>>,
}

impl InferenceInstance {
    /// The pipeline for (model, provider), loading it (and ONNX Runtime) on first use.
    fn pipeline(&self, model: &str, provider: Provider) -> Result<Arc<InferencePipeline>> {
        let model = model.trim();
        if model.is_empty() {
            return Err(Error::failed(
                "no model chosen: set the Inference node's model parameter to an .onnx file with its manifest (.json) beside it",
            ));
        }
        let path = PathBuf::from(model);
        // Loading holds the lock so concurrent renders of a new model load it once.
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = loaded.as_ref()
            && l.model == path
            && l.provider == provider
        {
            return Ok(l.pipeline.clone());
        }
        if !path.is_file() {
            return Err(Error::failed(format!(
                "model file not found: {}",
                path.display()
            )));
        }
        crate::runtime::ensure_loaded()?;
        let manifest = Manifest::for_model(&path)?;
        let pipeline = Arc::new(InferencePipeline::new(manifest, path.clone(), provider)?);
        *loaded = Some(Loaded {
            model: path,
            provider,
            pipeline: pipeline.clone(),
        });
        Ok(pipeline)
    }

    /// The pipeline for the instance's params at `time`.
    fn pipeline_for(&self, effect: &ImageEffect, time: f64) -> Result<Arc<InferencePipeline>> {
        let params = effect.params()?;
        let model = params.param(PARAM_MODEL)?.get_string_at(time)?;
        let provider = provider_from_index(params.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
        self.pipeline(&model, provider)
    }
}

/// The clips a pipeline reads, each with its distinct frame offsets (sorted).
fn clip_offsets(required: &[(String, i32)]) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for (clip, offset) in required {
        match out.iter_mut().find(|(c, _)| c == clip) {
            Some((_, offsets)) => offsets.push(*offset),
            None => out.push((clip.clone(), vec![*offset])),
        }
    }
    for (_, offsets) in &mut out {
        offsets.sort_unstable();
        offsets.dedup();
    }
    out
}

fn check_clip(clip: &str) -> Result<()> {
    if INPUT_CLIPS.contains(&clip) {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "the model's manifest reads clip '{clip}', which the Inference node does not have; use one of {}",
            INPUT_CLIPS.join(", ")
        )))
    }
}

/// The text that tells the artist a requested provider was not the one that ran, if so.
pub fn provider_fallback_text(
    requested: Provider,
    used: Provider,
    reason: Option<&str>,
) -> Option<String> {
    let reason = reason?;
    Some(format!(
        "Inference: provider '{requested}' ran on '{used}' instead: {reason}"
    ))
}

/// Tells the host (as a warning on the node, and on stderr for its log) when the provider that
/// ran is not the one requested, so a swap to the CPU is never silent.
fn report_provider(effect: &ImageEffect, pipeline: &InferencePipeline) {
    if let Some(text) = provider_fallback_text(
        pipeline.provider_requested(),
        pipeline.provider_in_use(),
        pipeline.fallback_reason(),
    ) {
        effect.set_persistent_message(MessageLevel::Warning, &text);
        eprintln!("Pixelspace {text}");
    }
}

fn set_licence(effect: &ImageEffect, time: Option<f64>) -> Result<()> {
    let params = effect.params()?;
    let model = params.param(PARAM_MODEL)?;
    let model = match time {
        Some(t) => model.get_string_at(t)?,
        None => model.get_string()?,
    };
    params
        .param(PARAM_LICENCE)?
        .set_string(&licence_text(&model))
}

impl Plugin for Inference {
    const ID: &'static std::ffi::CStr = c"org.pixelspace.Inference";
    const VERSION: (u32, u32) = (1, 0);
    type Instance = InferenceInstance;

    fn describe(effect: &ImageEffect) -> Result<()> {
        Description {
            label: "Inference",
            group: crate::GROUP,
            description: "Runs an ONNX model described by a manifest (the .json beside the .onnx) on the \
                          Source clip, and on Source2 and Mask when the model reads them.",
            version: Self::VERSION,
            contexts: &[Context::General, Context::Filter],
            depths: crate::common::ALL_DEPTHS,
            tiles: true,
            multi_resolution: true,
            temporal_access: true,
            thread_safety: ThreadSafety::FullySafe,
            host_frame_threading: false,
        }
        .apply(effect)
    }

    fn describe_in_context(effect: &ImageEffect, context: Context) -> Result<()> {
        effect
            .define_clip(CLIP_OUTPUT)?
            .supported_components(&[Components::Rgba])?
            .supports_tiles(true)?;
        effect
            .define_clip(CLIP_SOURCE)?
            .supported_components(&[Components::Rgba, Components::Alpha])?
            .temporal_access(true)?
            .supports_tiles(true)?;
        // The filter context has Source and Output only.
        if context == Context::General {
            effect
                .define_clip(CLIP_SOURCE2)?
                .supported_components(&[Components::Rgba, Components::Alpha])?
                .temporal_access(true)?
                .supports_tiles(true)?
                .optional(true)?;
            effect
                .define_clip(CLIP_MASK)?
                .supported_components(&[Components::Alpha, Components::Rgba])?
                .temporal_access(true)?
                .supports_tiles(true)?
                .optional(true)?
                .is_mask(true)?;
        }

        let params = effect.params()?;
        params
            .define_string(PARAM_MODEL, "Model", StringMode::FilePath, "")?
            .hint("The .onnx model to run. Its manifest (same name, .json) must sit beside it.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        crate::common::define_provider_and_colour_params(&params, "model")?;
        params
            .define_string(PARAM_LICENCE, "Licence", StringMode::Label, "")?
            .hint("Licence of the loaded model's weights, from its manifest.")?
            .animates(false)?
            .enabled(false)?
            .persistent(false)?
            .evaluate_on_change(false)?;
        Ok(())
    }

    fn create_instance(effect: &ImageEffect) -> Result<InferenceInstance> {
        // Cheap: reads the manifest only. Some hosts refuse param writes here; that is harmless.
        let _ = set_licence(effect, None);
        Ok(InferenceInstance {
            loaded: Mutex::new(None),
        })
    }

    fn instance_changed(
        _inst: &InferenceInstance,
        effect: &ImageEffect,
        args: &InstanceChanged,
    ) -> Result<Reply> {
        if args.kind == ChangedKind::Param && args.name == PARAM_MODEL {
            set_licence(effect, Some(args.time))?;
            return Ok(Reply::Done);
        }
        Ok(Reply::Default)
    }

    fn regions_of_interest(
        inst: &InferenceInstance,
        effect: &ImageEffect,
        args: &RegionsOfInterest,
    ) -> Result<Reply> {
        // Without a usable model, let the host use its defaults: render reports the problem.
        let Ok(pipeline) = inst.pipeline_for(effect, args.time) else {
            return Ok(Reply::Default);
        };
        for (clip_name, _) in clip_offsets(&pipeline.required_inputs()) {
            if check_clip(&clip_name).is_err() {
                continue;
            }
            let Some(clip) = effect.connected_clip(&clip_name) else {
                continue;
            };
            let par = clip.pixel_aspect_ratio();
            let window = args.region.to_pixels(args.render_scale, par);
            let frame = clip
                .region_of_definition(args.time)?
                .to_pixels(args.render_scale, par);
            let roi = pipeline.region_of_interest(window, frame);
            args.set(
                &clip_name,
                CanonicalRect::from_pixels(roi, args.render_scale, par),
            )?;
        }
        Ok(Reply::Done)
    }

    fn frames_needed(
        inst: &InferenceInstance,
        effect: &ImageEffect,
        args: &FramesNeeded,
    ) -> Result<Reply> {
        let Ok(pipeline) = inst.pipeline_for(effect, args.time) else {
            return Ok(Reply::Default);
        };
        for (clip, offsets) in clip_offsets(&pipeline.required_inputs()) {
            if check_clip(&clip).is_err() {
                continue;
            }
            let ranges: Vec<(f64, f64)> = offsets
                .iter()
                .map(|o| (args.time + *o as f64, args.time + *o as f64))
                .collect();
            args.set(&clip, &ranges)?;
        }
        Ok(Reply::Done)
    }

    fn clip_preferences(
        _inst: &InferenceInstance,
        effect: &ImageEffect,
        args: &ClipPreferences,
    ) -> Result<Reply> {
        args.set_components(CLIP_OUTPUT, Components::Rgba)?;
        // RGBA everywhere: a matte arrives with its alpha in `a`, which is what a manifest's
        // `alpha` channel reads, and hosts need no alpha-only buffers.
        for name in INPUT_CLIPS {
            if effect.clip(name).map(|c| c.connected()).unwrap_or(false) {
                args.set_components(name, Components::Rgba)?;
            }
        }
        args.set_frame_varying(false)?;
        Ok(Reply::Done)
    }

    fn render(inst: &InferenceInstance, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let time = args.time;
        let params = effect.params()?;
        let model = params.param(PARAM_MODEL)?.get_string_at(time)?;
        let provider = provider_from_index(params.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
        let colour = FrameColour::from_index(params.param(PARAM_COLOUR_SPACE)?.get_int_at(time)?)?;
        let pipeline = inst.pipeline(&model, provider)?;

        // Fetch every input image first; nothing is written before all of them are here.
        let mut images = Vec::new();
        for (clip_name, offset) in pipeline.required_inputs() {
            check_clip(&clip_name)?;
            let Some(clip) = effect.connected_clip(&clip_name) else {
                return Err(Error::failed(if is_general_context(effect) {
                    format!(
                        "the model reads clip {clip_name}, which is not connected: connect it to the Inference node"
                    )
                } else {
                    format!(
                        "the model reads the {}, or a model that reads Source alone",
                        not_in_filter_context("Inference", &clip_name)
                    )
                }));
            };
            if offset != 0 && !effect.host().temporal_clip_access() {
                return Err(Error::missing_host_feature(format!(
                    "the model reads clip {clip_name} at frame offset {offset:+}, but {}; use \
                     {TEMPORAL_HOSTS}, or a model that reads the current frame only",
                    OneFrameOnly::NoTemporalAccess.reason()
                )));
            }
            let wanted = time + offset as f64;
            let image = match clip.image(wanted) {
                Ok(image) => image,
                // Outside the clip's frames: hold the nearest frame it has.
                Err(e) => match clip.frame_range() {
                    Ok((first, last)) if first <= last && (wanted < first || wanted > last) => {
                        clip.image(wanted.clamp(first, last))?
                    }
                    _ => return Err(e),
                },
            };
            images.push((clip_name, offset, image));
        }
        let inputs = images
            .iter()
            .map(|(clip, offset, image)| {
                Ok(InputImage {
                    clip: clip.clone(),
                    frame_offset: *offset,
                    image: image.view()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let mut output = effect.clip(CLIP_OUTPUT)?.image(time)?;
        let frame_colour = colour.resolve(output.depth());
        let progress = effect.progress("Pixelspace Inference");
        let cancelled_by_progress = AtomicBool::new(false);
        let is_cancelled =
            || cancelled_by_progress.load(Ordering::Relaxed) || effect.abort_requested();
        let report = |fraction: f64| {
            if !progress.update(fraction) {
                cancelled_by_progress.store(true, Ordering::Relaxed);
            }
        };
        let request = RenderRequest {
            inputs,
            window: args.window,
            frame_colour,
            is_cancelled: &is_cancelled,
            progress: &report,
        };
        let mut view = output.view_mut()?;
        pipeline.render(&request, &mut view)?;
        report_provider(effect, &pipeline);
        Ok(())
    }

    fn purge_caches(inst: &InferenceInstance) {
        *inst.loaded.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_choice() {
        assert_eq!(provider_from_index(0).unwrap(), Provider::Auto);
        assert_eq!(provider_from_index(1).unwrap(), Provider::Cpu);
        assert_eq!(provider_from_index(2).unwrap(), Provider::Cuda);
        assert_eq!(provider_from_index(3).unwrap(), Provider::TensorRt);
        assert!(provider_from_index(4).is_err());
        assert!(provider_from_index(-1).is_err());
        // option labels are the provider names the command line uses
        for (i, p) in Provider::ALL.iter().enumerate() {
            assert_eq!(PROVIDER_OPTIONS[i], p.name());
        }
    }

    #[test]
    fn colour_choice() {
        assert_eq!(FrameColour::from_index(0).unwrap(), FrameColour::Auto);
        assert!(FrameColour::from_index(3).is_err());
        let auto = FrameColour::Auto;
        assert_eq!(auto.resolve(PixelDepth::Byte), ColourSpace::Srgb);
        assert_eq!(auto.resolve(PixelDepth::Short), ColourSpace::Srgb);
        assert_eq!(auto.resolve(PixelDepth::Half), ColourSpace::Linear);
        assert_eq!(auto.resolve(PixelDepth::Float), ColourSpace::Linear);
        let lin = FrameColour::from_index(1).unwrap();
        assert_eq!(lin.resolve(PixelDepth::Byte), ColourSpace::Linear);
        let srgb = FrameColour::from_index(2).unwrap();
        assert_eq!(srgb.resolve(PixelDepth::Float), ColourSpace::Srgb);
        for (i, name) in COLOUR_OPTIONS.iter().enumerate().skip(1) {
            let FrameColour::Fixed(c) = FrameColour::from_index(i as i32).unwrap() else {
                panic!()
            };
            assert_eq!(c.name(), *name);
        }
    }

    #[test]
    fn offsets_per_clip() {
        let req = vec![
            ("Source".to_string(), 1),
            ("Source".to_string(), -1),
            ("Mask".to_string(), 0),
            ("Source".to_string(), 1),
        ];
        assert_eq!(
            clip_offsets(&req),
            vec![
                ("Source".to_string(), vec![-1, 1]),
                ("Mask".to_string(), vec![0])
            ]
        );
    }

    #[test]
    fn unknown_clips_are_named() {
        assert!(check_clip("Source").is_ok());
        assert!(check_clip("Mask").is_ok());
        let e = check_clip("FaceSource").unwrap_err();
        assert!(
            e.message().contains("FaceSource") && e.message().contains("Source2"),
            "{e}"
        );
    }

    #[test]
    fn provider_fallback_is_reported_only_when_it_happened() {
        assert_eq!(
            provider_fallback_text(Provider::Cpu, Provider::Cpu, None),
            None
        );
        assert_eq!(
            provider_fallback_text(Provider::Auto, Provider::Cpu, None),
            None
        );
        let text =
            provider_fallback_text(Provider::Auto, Provider::Cpu, Some("CUDA could not start"))
                .expect("a fallback is reported");
        assert!(
            text.contains("'auto'")
                && text.contains("'cpu'")
                && text.contains("CUDA could not start"),
            "{text}"
        );
    }

    #[test]
    fn licence_text_for_missing_models() {
        assert_eq!(licence_text(""), "");
        let t = licence_text("/no/such/model.onnx");
        assert!(t.starts_with("unknown: ") && t.contains("manifest"), "{t}");
    }

    #[test]
    fn empty_model_is_a_clear_error() {
        let inst = InferenceInstance {
            loaded: Mutex::new(None),
        };
        let Err(e) = inst.pipeline("  ", Provider::Cpu) else {
            panic!("loaded an empty model")
        };
        assert!(e.message().contains("no model chosen"), "{e}");
        let Err(e) = inst.pipeline("/no/such/model.onnx", Provider::Cpu) else {
            panic!("loaded a missing model")
        };
        assert_eq!(e.message(), "model file not found: /no/such/model.onnx");
    }
}
