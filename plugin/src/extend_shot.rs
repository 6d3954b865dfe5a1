//! `org.pixelspace.ExtendShot`: lengthens a shot by frames made with a frame interpolation
//! model (RIFE), in the host's timeline.
//!
//! Modes (`mode`): `retime` stretches the shot by `speed` (output frame `i` shows source time
//! `i / speed` from the first frame; in-between times are interpolated); `extend` keeps every
//! source frame at its time (copied bit for bit) and adds `head` frames before the first and
//! `tail` frames after the last. The effect's time domain grows accordingly, and the frames each
//! output frame needs are declared to the host. Frames past the ends carry the end frame on
//! along the motion of the scene's last three distinct frames, each pixel's motion eased to a
//! still as far as it cannot be trusted (`pixelspace_shared::extend::extrapolate`), or are
//! predicted by the model in `extender` when one is set. A frame held for want of motion (a
//! one-frame shot, a cut right before the end) says why in the host's message area. A scene cut (score above
//! `cutThreshold`) is never interpolated or extrapolated across. The maths lives in
//! `pixelspace_shared::extend`; this file reads params and clips and writes the output.
//!
//! Params: `mode`, `speed`, `head`, `tail`, `model` (empty: the installed RIFE, from the
//! bundle's `Resources/models/` or the user's model folder: `rife-motion`, the network without
//! its frame output, else the full `rife`; on a GPU provider the other way round),
//! `extender` (optional),
//! `cutThreshold`, `view` (`frames`, or `confidence`: white where a frame carries real pixels,
//! black where they were invented), `provider`, `colourSpace`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pixelspace_shared::error::Error as SharedError;
use pixelspace_shared::extend::warp::for_rows;
use pixelspace_shared::extend::{
    self, Confidence, Context as ExtendContext, Extender, Frame, Interpolator, Mode, Sample,
    Settings, TimeMap, VelocityCache,
};
use pixelspace_shared::fused::threads_for;
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, FloatImage, ImageView, ImageViewMut, RowMut};
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::pipeline::InferencePipeline;
use pixelspace_shared::runtime::Provider;

use crate::host_offers::{ClipFrames, LENGTHENING_HOSTS, clip_frames, is_general_context};
use crate::inference::{FrameColour, provider_from_index};
use crate::ofx::{
    ClipPreferences, Context, Error, FramesNeeded, Image, ImageEffect, MessageLevel, Plugin,
    RegionsOfInterest, RenderArgs, Reply, Result, StringMode,
};

const CLIP_SOURCE: &str = "Source";
const CLIP_OUTPUT: &str = "Output";

pub const PARAM_MODE: &str = "mode";
pub const PARAM_SPEED: &str = "speed";
pub const PARAM_HEAD: &str = "head";
pub const PARAM_TAIL: &str = "tail";
pub const PARAM_MODEL: &str = "model";
pub const PARAM_EXTENDER: &str = "extender";
pub const PARAM_CUT_THRESHOLD: &str = "cutThreshold";
pub const PARAM_PROVIDER: &str = "provider";
pub const PARAM_COLOUR_SPACE: &str = "colourSpace";
pub const PARAM_VIEW: &str = "view";

/// Options of the `view` choice, in index order: the frames, or how much of each frame carries
/// real pixels of the shot (white) and how much was invented (black).
pub const VIEW_OPTIONS: [&str; 2] = ["frames", "confidence"];

/// Options of the `mode` choice, in index order.
pub const MODE_OPTIONS: [&str; 2] = ["retime", "extend"];

/// Where the default models sit inside a model folder: the RIFE network with only the flow and
/// mask outputs (the effect fuses the host's pixels itself, so the model's own fused frame
/// would be computed for nothing), and the full, portable network.
const MOTION_MODEL: &str = "rife-motion/rife_motion.onnx";
const FULL_MODEL: &str = "rife/rife.onnx";

/// The default models in order of preference for `provider`
/// ([`crate::common::rife_models`]: the motion-only model first on the CPU, the portable one on a
/// GPU).
fn default_models(provider: Provider) -> [&'static str; 2] {
    crate::common::rife_models(provider).map(|name| match name {
        "rife-motion" => MOTION_MODEL,
        _ => FULL_MODEL,
    })
}

/// The model file the `model` param names, or the installed default for `provider`.
pub fn resolve_model(param: &str, provider: Provider) -> Result<PathBuf> {
    let param = param.trim();
    if !param.is_empty() {
        return Ok(PathBuf::from(param));
    }
    let dirs = crate::common::default_model_dirs();
    dirs.iter()
        .flat_map(|d| default_models(provider).map(|m| d.join(m)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::failed(format!(
                "no frame interpolation model: the RIFE model was not found in {}; run \
                 `pixelspace models fetch --defaults` (or `pixelspace install`), or set the \
                 ExtendShot node's model parameter to a RIFE .onnx file with its manifest beside it",
                dirs.iter()
                    .map(|d| d.join(FULL_MODEL).display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))
        })
}

/// The time mapping the params ask for.
#[derive(Clone, Copy, Debug)]
struct Params {
    mode: Mode,
    cut_threshold: f64,
    /// The confidence view instead of the frames.
    confidence_view: bool,
}

fn read_params(effect: &ImageEffect, time: f64) -> Result<Params> {
    let params = effect.params()?;
    let mode = match params.param(PARAM_MODE)?.get_int_at(time)? {
        0 => Mode::Retime {
            speed: params.param(PARAM_SPEED)?.get_double_at(time)?,
        },
        1 => Mode::Extend {
            head: params.param(PARAM_HEAD)?.get_int_at(time)?.max(0) as u32,
            tail: params.param(PARAM_TAIL)?.get_int_at(time)?.max(0) as u32,
        },
        other => {
            return Err(Error::failed(format!(
                "the mode parameter has an unknown value ({other})"
            )));
        }
    };
    Ok(Params {
        mode,
        cut_threshold: params.param(PARAM_CUT_THRESHOLD)?.get_double_at(time)?,
        confidence_view: params.param(PARAM_VIEW)?.get_int_at(time)? == 1,
    })
}

/// The time map for the Source clip's frames. Lengthening a shot needs what some hosts do not
/// offer: frames of the clip at other times, the frames it has, and the general context's time
/// domain (a filter keeps its clip's length); without them every frame fails with a message
/// that names what is missing.
fn time_map(effect: &ImageEffect, params: &Params) -> Result<TimeMap> {
    let mut missing = Vec::new();
    let range = match clip_frames(effect, &effect.clip(CLIP_SOURCE)?) {
        ClipFrames::Range { first, last } => Some((first, last)),
        ClipFrames::CurrentOnly(why) => {
            missing.push(why.reason().to_string());
            None
        }
    };
    if !is_general_context(effect) {
        missing.push(
            "it runs ExtendShot as a filter, whose output keeps the length of its input \
             (no general context, so no time domain)"
                .to_string(),
        );
    }
    match range {
        Some((first, last)) if missing.is_empty() => Ok(TimeMap::new(params.mode, first, last)),
        _ => Err(Error::missing_host_feature(format!(
            "ExtendShot cannot lengthen a shot in {}: {}. It needs a host that gives an effect \
             other frames of its clip and lets it change the clip's length (the general \
             context with temporal clip access), such as {LENGTHENING_HOSTS}",
            effect.host().name(),
            missing.join("; and ")
        ))),
    }
}

/// The effect.
pub struct ExtendShot;

type Cached<T> = Mutex<Option<(PathBuf, Provider, Arc<T>)>>;

/// Per-instance state: the loaded models, and the motion measured at the shot's edge (shared
/// by every head or tail frame made from it).
pub struct ExtendShotInstance {
    interpolator: Cached<Interpolator>,
    extender: Cached<Extender>,
    velocity: VelocityCache,
}

fn load_pipeline(path: &Path, provider: Provider) -> Result<Arc<InferencePipeline>> {
    if !path.is_file() {
        return Err(Error::failed(format!(
            "model file not found: {}",
            path.display()
        )));
    }
    crate::runtime::ensure_loaded()?;
    let manifest = Manifest::for_model(path)?;
    Ok(Arc::new(InferencePipeline::new(
        manifest,
        path.to_path_buf(),
        provider,
    )?))
}

fn cached<T>(
    slot: &Cached<T>,
    path: PathBuf,
    provider: Provider,
    make: impl FnOnce(Arc<InferencePipeline>) -> pixelspace_shared::error::Result<T>,
) -> Result<Arc<T>> {
    let mut guard = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((p, pr, v)) = guard.as_ref()
        && *p == path
        && *pr == provider
    {
        return Ok(v.clone());
    }
    let value = Arc::new(make(load_pipeline(&path, provider)?)?);
    *guard = Some((path, provider, value.clone()));
    Ok(value)
}

impl ExtendShotInstance {
    fn interpolator(&self, model: &str, provider: Provider) -> Result<Arc<Interpolator>> {
        cached(
            &self.interpolator,
            resolve_model(model, provider)?,
            provider,
            Interpolator::new,
        )
    }

    fn extender(&self, model: &str, provider: Provider) -> Result<Option<Arc<Extender>>> {
        let model = model.trim();
        if model.is_empty() {
            return Ok(None);
        }
        cached(
            &self.extender,
            PathBuf::from(model),
            provider,
            Extender::new,
        )
        .map(Some)
    }

    /// Frames of history an extender reads (2 for the built-in extrapolation).
    fn history(&self, effect: &ImageEffect, time: f64) -> usize {
        let read = || -> Result<usize> {
            let params = effect.params()?;
            let model = params.param(PARAM_EXTENDER)?.get_string_at(time)?;
            let provider = provider_from_index(params.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
            Ok(self
                .extender(&model, provider)?
                .map_or(2, |e| e.history_len().max(2)))
        };
        read().unwrap_or(2)
    }
}

/// Copies `window` of `src` into `dst` bit for bit when they share depth and components
/// (pixels outside `src` repeat its edge, through float otherwise).
fn copy_frame(src: &Image, dst: &mut Image, window: Rect) -> Result<()> {
    let sv = src.view()?;
    let mut dv = dst.view_mut()?;
    let window = window.intersect(&dv.bounds());
    if sv.depth() == dv.depth()
        && sv.components() == dv.components()
        && sv.bounds().contains_rect(&window)
    {
        let pb = sv.depth().bytes_per_component() * sv.components().count();
        let sb = sv.bounds();
        for mut row in dv.rows_mut(window) {
            let r = sv.row(row.y());
            let start = (window.x1 - sb.x1) as usize * pb;
            row.bytes_mut()
                .copy_from_slice(&r[start..start + window.width() as usize * pb]);
        }
        return Ok(());
    }
    FloatImage::from_view(&sv, window).write_to(&mut dv, window);
    Ok(())
}

/// Writes `window` of `img` to `output`; where the window reaches past `img` (the source is
/// smaller than the output), its edge pixels repeat.
fn write_clamped(img: &FloatImage, output: &mut ImageViewMut, window: Rect) {
    if img.bounds.contains_rect(&window) {
        write_rows(img, output, window);
    } else {
        let mut full = FloatImage::new(window);
        for (x, y) in window.pixels() {
            full.set_pixel(x, y, img.pixel_clamped(x, y));
        }
        full.write_to(output, window);
    }
}

/// The confidence view of a frame: grey levels from 0 (invented) to 1 (real pixels), opaque.
/// `bounds` are those of the frame a per-pixel map belongs to.
fn write_confidence(
    confidence: &Confidence,
    bounds: Option<Rect>,
    output: &mut Image,
    window: Rect,
) -> Result<()> {
    let mut view = output.view_mut()?;
    let window = window.intersect(&view.bounds());
    let grey = |v: f32| [v, v, v, 1.0];
    let img = match (confidence, bounds) {
        (Confidence::Map(map), Some(b)) if map.len() == b.area() => {
            let w = b.width() as usize;
            FloatImage::from_fn(b, |x, y| {
                grey(map[(y - b.y1) as usize * w + (x - b.x1) as usize])
            })
        }
        (Confidence::Invented, _) => FloatImage::filled(window, grey(0.0)),
        _ => FloatImage::filled(window, grey(1.0)),
    };
    write_clamped(&img, &mut view, window);
    Ok(())
}

/// The whole of `view` as a working image, its rows decoded on every core (the same values
/// as `FloatImage::from_view` over the view's bounds).
fn read_whole(view: &ImageView) -> FloatImage {
    let b = view.bounds();
    if b.is_empty() {
        return FloatImage::from_view(view, b);
    }
    let mut img = FloatImage::new(b);
    for_rows(&mut img.data, 4 * b.width() as usize, |r, row| {
        view.read_row_rgba(b.y1 + r as i32, b.x1, b.x2, row)
    });
    img
}

/// Writes `window` (inside both `img` and `output`) of `img` to `output`, bands of rows
/// encoded on every core (the same bytes as `FloatImage::write_to`).
fn write_rows(img: &FloatImage, output: &mut ImageViewMut, window: Rect) {
    let mut rows = output.rows_mut(window);
    if rows.is_empty() {
        return;
    }
    let threads = threads_for(window.area()).min(rows.len());
    let band = rows.len().div_ceil(threads.max(1));
    let (a, b) = (
        4 * (window.x1 - img.bounds.x1) as usize,
        4 * (window.x2 - img.bounds.x1) as usize,
    );
    let write = |band: &mut [RowMut]| {
        for row in band {
            let y = row.y();
            row.write_rgba(&img.row(y)[a..b]);
        }
    };
    let mut bands = rows.chunks_mut(band);
    let first = bands.next();
    std::thread::scope(|s| {
        for chunk in bands {
            s.spawn(|| write(chunk));
        }
        if let Some(chunk) = first {
            write(chunk);
        }
    });
}

impl Plugin for ExtendShot {
    const ID: &'static std::ffi::CStr = c"org.pixelspace.ExtendShot";
    const VERSION: (u32, u32) = (1, 0);
    type Instance = ExtendShotInstance;

    fn describe(effect: &ImageEffect) -> Result<()> {
        crate::common::describe_whole_frame_effect(
            effect,
            "Extend Shot",
            "Lengthens a shot with frames made by a frame interpolation model (RIFE): \
                          retime stretches it, extend adds frames before and after it. Scene cuts \
                          are never blended across.",
            Self::VERSION,
        )
    }

    fn describe_in_context(effect: &ImageEffect, _context: Context) -> Result<()> {
        crate::common::define_whole_frame_clips(effect, CLIP_OUTPUT, CLIP_SOURCE)?;

        let params = effect.params()?;
        params
            .define_choice(PARAM_MODE, "Mode", &MODE_OPTIONS, 1)?
            .hint("retime: stretch the whole shot by Speed. extend: keep the shot and add Head and Tail frames.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_double(PARAM_SPEED, "Speed", 2.0, (1.0, 100.0), (1.0, 4.0))?
            .hint("retime: output duration over input duration (2 = twice as long).")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_int(PARAM_HEAD, "Head frames", 0, (0, 10000))?
            .hint("extend: frames added before the first frame.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_int(PARAM_TAIL, "Tail frames", 12, (0, 10000))?
            .hint("extend: frames added after the last frame.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_MODEL, "Model", StringMode::FilePath, "")?
            .hint("Frame interpolation model (.onnx with its manifest beside it). Empty: the installed RIFE.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_EXTENDER, "Extender", StringMode::FilePath, "")?
            .hint("Optional learned frame predictor (.onnx + manifest) used past the ends instead of extrapolating the motion.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_double(
                PARAM_CUT_THRESHOLD,
                "Cut threshold",
                extend::cut::DEFAULT_THRESHOLD,
                (0.0, 1.0),
                (0.0, 1.0),
            )?
            .hint("How different two frames must be to count as a scene cut (never blended across). Lower finds more cuts.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_choice(PARAM_VIEW, "View", &VIEW_OPTIONS, 0)?
            .hint("frames: the shot. confidence: white where a frame carries the shot's real pixels, black where they were invented (the edge a pan reveals, background behind a moving object), grey where the motion they were carried along was uncertain.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        crate::common::define_provider_and_colour_params(&params, "model")?;
        Ok(())
    }

    fn create_instance(_effect: &ImageEffect) -> Result<ExtendShotInstance> {
        Ok(ExtendShotInstance {
            interpolator: Mutex::new(None),
            extender: Mutex::new(None),
            velocity: VelocityCache::new(),
        })
    }

    fn time_domain(_inst: &ExtendShotInstance, effect: &ImageEffect) -> Result<Option<(f64, f64)>> {
        let params = read_params(effect, 0.0)?;
        let (a, b) = time_map(effect, &params)?.domain();
        Ok(Some((a as f64, b as f64)))
    }

    fn regions_of_interest(
        _inst: &ExtendShotInstance,
        effect: &ImageEffect,
        args: &RegionsOfInterest,
    ) -> Result<Reply> {
        // Motion reaches across the frame: the whole source frame is needed.
        let clip = effect.clip(CLIP_SOURCE)?;
        args.set(CLIP_SOURCE, clip.region_of_definition(args.time)?)?;
        Ok(Reply::Done)
    }

    fn frames_needed(
        inst: &ExtendShotInstance,
        effect: &ImageEffect,
        args: &FramesNeeded,
    ) -> Result<Reply> {
        let params = read_params(effect, args.time)?;
        let map = time_map(effect, &params)?;
        let (first, last) = (map.first, map.last);
        let range = |a: i32, b: i32| (a.clamp(first, last) as f64, b.clamp(first, last) as f64);
        let ranges = match map.sample(args.time) {
            Sample::Source(k) => vec![range(k, k)],
            Sample::Between { k0, k1, .. } => vec![range(k0, k1)],
            Sample::After { last: l, .. } => {
                let h = inst.history(effect, args.time) as i32;
                vec![range(l - h + 1, l)]
            }
            Sample::Before { first: f, .. } => {
                let h = inst.history(effect, args.time) as i32;
                vec![range(f, f + h - 1)]
            }
        };
        args.set(CLIP_SOURCE, &ranges)?;
        Ok(Reply::Done)
    }

    fn clip_preferences(
        _inst: &ExtendShotInstance,
        _effect: &ImageEffect,
        args: &ClipPreferences,
    ) -> Result<Reply> {
        args.set_components(CLIP_OUTPUT, Components::Rgba)?;
        args.set_components(CLIP_SOURCE, Components::Rgba)?;
        args.set_frame_varying(true)?;
        Ok(Reply::Done)
    }

    fn render(inst: &ExtendShotInstance, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let time = args.time;
        let params = read_params(effect, time)?;
        let map = time_map(effect, &params)?;
        let sample = map.sample(time);
        let source = effect.clip(CLIP_SOURCE)?;
        if !source.connected() {
            return Err(Error::failed(
                "the Source clip is not connected: connect the shot to the ExtendShot node",
            ));
        }
        let mut output = effect.clip(CLIP_OUTPUT)?.image(time)?;

        // Passthrough needs no model at all.
        if let Sample::Source(k) = sample {
            if params.confidence_view {
                return write_confidence(&Confidence::Real, None, &mut output, args.window);
            }
            let src = source.image(k as f64)?;
            return copy_frame(&src, &mut output, args.window);
        }

        let p = effect.params()?;
        let provider = provider_from_index(p.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
        let colour = FrameColour::from_index(p.param(PARAM_COLOUR_SPACE)?.get_int_at(time)?)?;
        let interpolator =
            inst.interpolator(&p.param(PARAM_MODEL)?.get_string_at(time)?, provider)?;
        let extender = inst.extender(&p.param(PARAM_EXTENDER)?.get_string_at(time)?, provider)?;

        let images: Mutex<HashMap<i32, Arc<Image>>> = Mutex::new(HashMap::new());
        let fetch = |k: i32| -> Result<Arc<Image>> {
            if let Some(img) = images.lock().unwrap_or_else(|e| e.into_inner()).get(&k) {
                return Ok(img.clone());
            }
            let img = Arc::new(source.image(k as f64)?);
            images
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(k, img.clone());
            Ok(img)
        };
        let read = |k: i32| -> pixelspace_shared::error::Result<FloatImage> {
            let img = fetch(k).map_err(|e| SharedError::new(e.message()))?;
            let view = img.view().map_err(|e| SharedError::new(e.message()))?;
            Ok(read_whole(&view))
        };

        let frame_colour = colour.resolve(output.depth());
        let progress = effect.progress("Pixelspace ExtendShot");
        let cancelled_by_progress = AtomicBool::new(false);
        let is_cancelled =
            || cancelled_by_progress.load(Ordering::Relaxed) || effect.abort_requested();
        let report = |fraction: f64| {
            if !progress.update(fraction) {
                cancelled_by_progress.store(true, Ordering::Relaxed);
            }
        };
        let cx = ExtendContext {
            first: map.first,
            last: map.last,
            read: &read,
            interpolator: &interpolator,
            extender: extender.as_deref(),
            frame_colour,
            settings: Settings {
                cut_threshold: params.cut_threshold,
                ..Settings::default()
            },
            is_cancelled: &is_cancelled,
            progress: &report,
            velocity_cache: Some(&inst.velocity),
        };
        let made = extend::make_frame(sample, &cx)?;
        if let Some(warning) = &made.warning {
            effect.set_persistent_message(MessageLevel::Warning, &format!("ExtendShot: {warning}"));
            eprintln!("Pixelspace ExtendShot, frame {time}: {warning}");
        } else {
            effect.clear_persistent_message();
        }
        if params.confidence_view {
            let bounds = match &made.frame {
                Frame::New(img) => Some(img.bounds),
                Frame::Copy(_) => None,
            };
            return write_confidence(&made.confidence, bounds, &mut output, args.window);
        }
        match made.frame {
            Frame::Copy(k) => {
                let src = fetch(k)?;
                copy_frame(&src, &mut output, args.window)
            }
            Frame::New(img) => {
                let mut view = output.view_mut()?;
                let window = args.window.intersect(&view.bounds());
                write_clamped(&img, &mut view, window);
                Ok(())
            }
        }
    }

    fn purge_caches(inst: &ExtendShotInstance) {
        *inst.interpolator.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *inst.extender.lock().unwrap_or_else(|e| e.into_inner()) = None;
        inst.velocity.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_model_paths_are_taken_as_given() {
        assert_eq!(
            resolve_model(" /models/rife.onnx ", Provider::Cpu).unwrap(),
            PathBuf::from("/models/rife.onnx")
        );
    }

    #[test]
    fn the_motion_only_model_comes_first_on_the_cpu_and_the_portable_one_on_a_gpu() {
        assert_eq!(default_models(Provider::Cpu), [MOTION_MODEL, FULL_MODEL]);
        assert_eq!(default_models(Provider::Cuda), [FULL_MODEL, MOTION_MODEL]);
        assert_eq!(
            default_models(Provider::TensorRt),
            [FULL_MODEL, MOTION_MODEL]
        );
        let auto = if Provider::Cuda.compiled_in() {
            [FULL_MODEL, MOTION_MODEL]
        } else {
            [MOTION_MODEL, FULL_MODEL]
        };
        assert_eq!(default_models(Provider::Auto), auto);
    }

    #[test]
    fn mode_options_match_the_time_map() {
        assert_eq!(MODE_OPTIONS, ["retime", "extend"]);
    }
}
