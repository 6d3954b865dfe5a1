//! `org.pixelspace.Face`: finds and follows faces and retouches or replaces them within a
//! feathered face matte.
//!
//! Every frame of `Source` in the smoothing window (time - smoothing .. time + smoothing) is run
//! through the face detector and the 468-point landmark model; the raw results are cached per
//! frame (they depend on that frame's pixels only). The faces of the rendered frame are followed
//! into their neighbours by box overlap and their landmarks smoothed over the window
//! ([`pixelspace_shared::face::track`]), so a frame's result never depends on which frames were
//! rendered before it or on how many threads render.
//!
//! Params: `mode` (retouch | replace | age | swap), `age` (-100..100), `faceAge` (the actor's
//! current age, for FRAN's contract) and `ageModel` (a model with StyleGANEX-age's or FRAN's
//! contract, see [`pixelspace_shared::face::age`]), `swapModel` and `recogniserModel` (a swapper
//! of inswapper_128's contract and its identity recogniser, see
//! [`pixelspace_shared::face::swap`]), `face` (largest | index | all) with `faceIndex` (0 = leftmost),
//! `amount`, `blend` (seamless | feather, for replace and swap), `smoothing` (frames each side), `output` (comp | matte | debug | landmarks),
//! `detector` and `landmarker` (model files; empty = the installed defaults, found in the
//! bundle's `Resources/models` or the user's model folder; with the default detector, the
//! installed full-range detector also looks for small faces it missed), `provider`, `colourSpace`.
//! Clips: `Source`, optional `FaceSource` (the face `replace` and `swap` put in: a still or a clip; its
//! largest face at the same frame, or its nearest frame) and `Mask` (its alpha limits the
//! change).
//!
//! Outputs: `comp` the retouched frame; `matte` the face matte (in all four channels);
//! `debug` the frame with the smoothed landmarks (green) and face boxes (red) drawn; `landmarks`
//! the tracking data as pixels of a float image, for trackers and tests: each face (in the
//! `face` selection's order) has a block of rows counted from the bottom, `r = ceil(n / width)`
//! landmark rows (`n` its landmark count, 468 for the face mesh) holding landmark `i` at pixel
//! `(i mod width, i div width)` of the block as `(x, y, z, 1)` in frame pixels (y up), then an
//! info row holding the smoothed box `(x1, y1, x2, y2)` at pixel 0, the frame's raw detector box
//! at pixel 1 and `(score, landmark count, 0, 1)` at pixel 2. In a frame at least `n` pixels
//! wide, face `f` therefore has its landmarks in row `2f` and its info in row `2f + 1`.
//!
//! Pixels outside the face matte are the source's, bit for bit; inside, the change is added to
//! the source values so float values above 1 survive. A frame without a face passes through
//! unchanged and the node's message says so.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::face::age::AgeModel;
use pixelspace_shared::face::blend::Blend;
use pixelspace_shared::face::detect::FaceDetector;
use pixelspace_shared::face::landmarks::Landmarker;
use pixelspace_shared::face::regions::Plane;
use pixelspace_shared::face::replace::replace_face;
use pixelspace_shared::face::retouch::{Retouch, retouch_face, retouch_rect, union_matte};
use pixelspace_shared::face::search::{Detectors, find_faces_in_view, smallest_face};
use pixelspace_shared::face::swap::{Recogniser, Swapper};
use pixelspace_shared::face::track::{
    Observation, Selection, select, smooth_box, smooth_landmarks, track,
};
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, FloatImage, ImageView, ImageViewMut};
use pixelspace_shared::manifest::Manifest;
use pixelspace_shared::models_dir;
use pixelspace_shared::pipeline::InferencePipeline;
use pixelspace_shared::runtime::Provider;

use crate::host_offers::{
    ClipFrames, TEMPORAL_HOSTS, clip_frames, is_general_context, not_in_filter_context, notice_once,
};
use crate::inference::{FrameColour, provider_from_index};
use crate::ofx::{
    ClipPreferences, Context, Error, FramesNeeded, ImageEffect, MessageLevel, Plugin,
    RegionsOfInterest, RenderArgs, Reply, Result, StringMode,
};

pub const CLIP_SOURCE: &str = "Source";
pub const CLIP_MASK: &str = "Mask";
pub const CLIP_FACE_SOURCE: &str = "FaceSource";
const CLIP_OUTPUT: &str = "Output";

pub const PARAM_MODE: &str = "mode";
pub const PARAM_FACE: &str = "face";
pub const PARAM_FACE_INDEX: &str = "faceIndex";
pub const PARAM_AMOUNT: &str = "amount";
pub const PARAM_AGE: &str = "age";
pub const PARAM_AGE_MODEL: &str = "ageModel";
pub const PARAM_FACE_AGE: &str = "faceAge";
pub const PARAM_SWAP_MODEL: &str = "swapModel";
pub const PARAM_RECOGNISER_MODEL: &str = "recogniserModel";
pub const PARAM_BLEND: &str = "blend";
pub const PARAM_SMOOTHING: &str = "smoothing";
pub const PARAM_OUTPUT: &str = "output";
pub const PARAM_DETECTOR: &str = "detector";
pub const PARAM_LANDMARKER: &str = "landmarker";
pub const PARAM_PROVIDER: &str = "provider";
pub const PARAM_COLOUR_SPACE: &str = "colourSpace";

/// Options of `mode`.
pub const MODE_OPTIONS: [&str; 4] = ["retouch", "replace", "age", "swap"];
/// Options of `blend`.
pub const BLEND_OPTIONS: [&str; 2] = ["seamless", "feather"];
/// Options of `face`.
pub const FACE_OPTIONS: [&str; 3] = ["largest", "index", "all"];
/// Options of `output`.
pub const OUTPUT_OPTIONS: [&str; 4] = ["comp", "matte", "debug", "landmarks"];

/// Manifest names of the default models.
const DEFAULT_DETECTOR: &str = "face-detector-short-range";
/// The detector for small faces (the finest of the search's windows, for faces the default
/// detector missed), used with the default detector where it is installed.
const SMALL_FACE_DETECTOR: &str = "face-detector-full-range";
const DEFAULT_LANDMARKER: &str = "face-landmarks-468";
/// Most faces looked at per frame.
const MAX_FACES: usize = 8;
/// Box overlap that links a face to the next frame's.
const MIN_IOU: f64 = 0.3;
/// Frames whose detections are kept.
const CACHE_FRAMES: usize = 256;

/// The model file a param names, or the installed model with manifest name `default`.
fn resolve_model(param: &str, default: &str, what: &str) -> Result<PathBuf> {
    let param = param.trim();
    if !param.is_empty() {
        let path = PathBuf::from(param);
        if !path.is_file() {
            return Err(Error::failed(format!(
                "{what} model file not found: {}",
                path.display()
            )));
        }
        return Ok(path);
    }
    let dirs = crate::common::default_model_dirs();
    models_dir::find_model(&dirs, default)
        .map(|m| m.model_path())
        .ok_or_else(|| {
            Error::failed(format!(
                "no {what} model: '{default}' was not found in {}; run `pixelspace models fetch \
                 --defaults` (or `pixelspace install`), or set the Face node's {what} parameter",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))
        })
}

/// The detectors and landmarker in use.
struct Models {
    key: (PathBuf, Option<PathBuf>, PathBuf, Provider),
    detector: FaceDetector,
    small_detector: Option<FaceDetector>,
    landmarker: Landmarker,
}

impl Models {
    fn detectors(&self) -> Detectors<'_> {
        Detectors {
            main: &self.detector,
            small: self.small_detector.as_ref(),
        }
    }
}

/// Raw observations per (frame in thousandths, render scale bits, colour-space choice).
type ObservationCache = HashMap<(i64, u64, u8), Arc<Vec<Observation>>>;

/// A swapper and its recogniser, with the swapper file, the recogniser param and the provider
/// they were loaded with.
struct SwapModels {
    key: (PathBuf, String, Provider),
    swapper: Swapper,
    recogniser: Recogniser,
}

/// Per-instance state: the models and the raw observations of the frames seen.
pub struct FaceInstance {
    models: Mutex<Option<Arc<Models>>>,
    age_model: Mutex<Option<(PathBuf, Provider, Arc<AgeModel>)>>,
    swap_models: Mutex<Option<Arc<SwapModels>>>,
    cache: Mutex<ObservationCache>,
}

impl FaceInstance {
    fn models(&self, effect: &ImageEffect, time: f64) -> Result<Arc<Models>> {
        let params = effect.params()?;
        let det_param = params.param(PARAM_DETECTOR)?.get_string_at(time)?;
        let det = resolve_model(&det_param, DEFAULT_DETECTOR, "detector")?;
        // With the default detector, the full-range one (where installed) also searches for
        // small faces the default missed; a detector the artist names searches alone.
        let small = if det_param.trim().is_empty() {
            models_dir::find_model(&crate::common::default_model_dirs(), SMALL_FACE_DETECTOR)
                .map(|m| m.model_path())
        } else {
            None
        };
        let lm = resolve_model(
            &params.param(PARAM_LANDMARKER)?.get_string_at(time)?,
            DEFAULT_LANDMARKER,
            "landmarker",
        )?;
        let provider = provider_from_index(params.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
        let key = (det, small, lm, provider);
        let mut models = self.models.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = models.as_ref()
            && m.key == key
        {
            return Ok(m.clone());
        }
        crate::runtime::ensure_loaded()?;
        let load = |path: &PathBuf| -> Result<InferencePipeline> {
            let manifest = Manifest::for_model(path)?;
            Ok(InferencePipeline::new(manifest, path.clone(), provider)?)
        };
        let detector = FaceDetector::new(load(&key.0)?)?;
        let small_detector = match &key.1 {
            Some(path) => Some(FaceDetector::new(load(path)?)?),
            None => None,
        };
        let landmarker = Landmarker::new(load(&key.2)?)?;
        let m = Arc::new(Models {
            key,
            detector,
            small_detector,
            landmarker,
        });
        *models = Some(m.clone());
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(m)
    }

    /// The age model the `ageModel` param names, loaded on first use.
    fn age_model(&self, effect: &ImageEffect, time: f64) -> Result<Arc<AgeModel>> {
        let params = effect.params()?;
        let path = params.param(PARAM_AGE_MODEL)?.get_string_at(time)?;
        let path = path.trim();
        if path.is_empty() {
            return Err(Error::failed(
                "mode age needs an age model: set the Face node's age model parameter to styleganex_age.onnx or fran.onnx (fetch one with `pixelspace models fetch styleganex_age` or `fran`)",
            ));
        }
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(Error::failed(format!(
                "age model file not found: {}",
                path.display()
            )));
        }
        let provider = provider_from_index(params.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
        let mut slot = self.age_model.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, pr, m)) = slot.as_ref()
            && *p == path
            && *pr == provider
        {
            return Ok(m.clone());
        }
        crate::runtime::ensure_loaded()?;
        let model = Arc::new(AgeModel::load(&path, provider)?);
        *slot = Some((path, provider, model.clone()));
        Ok(model)
    }

    /// The swapper the `swapModel` param names and the recogniser of `recogniserModel` (empty:
    /// the installed model the swapper's manifest requires), loaded on first use.
    fn swap_models(&self, effect: &ImageEffect, time: f64) -> Result<Arc<SwapModels>> {
        let params = effect.params()?;
        let swap = params.param(PARAM_SWAP_MODEL)?.get_string_at(time)?;
        if swap.trim().is_empty() {
            return Err(Error::failed(
                "mode swap needs a face swapper: set the Face node's swap model parameter to inswapper_128.onnx (fetch it with `pixelspace models fetch inswapper_128`)",
            ));
        }
        let swap = resolve_model(&swap, "", "swap")?;
        let provider = provider_from_index(params.param(PARAM_PROVIDER)?.get_int_at(time)?)?;
        let recogniser_param = params.param(PARAM_RECOGNISER_MODEL)?.get_string_at(time)?;
        {
            let slot = self.swap_models.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(m) = slot.as_ref()
                && m.key.0 == swap
                && m.key.1 == recogniser_param.trim()
                && m.key.2 == provider
            {
                return Ok(m.clone());
            }
        }
        crate::runtime::ensure_loaded()?;
        let swapper = Swapper::load(&swap, provider)?;
        let required = swapper
            .manifest()
            .requires
            .first()
            .cloned()
            .unwrap_or_default();
        if recogniser_param.trim().is_empty() && required.is_empty() {
            return Err(Error::failed(format!(
                "the swap model '{}' names no recogniser in its manifest's `requires`: set the Face node's recogniser model parameter",
                swapper.manifest().name
            )));
        }
        let rec = resolve_model(&recogniser_param, &required, "recogniser")?;
        let recogniser = Recogniser::load(&rec, provider)?;
        let m = Arc::new(SwapModels {
            key: (swap, recogniser_param.trim().to_string(), provider),
            swapper,
            recogniser,
        });
        *self.swap_models.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());
        Ok(m)
    }

    /// The faces in `Source` at `time` (cached).
    fn observe(
        &self,
        effect: &ImageEffect,
        models: &Models,
        clip_name: &str,
        time: f64,
        scale: [f64; 2],
        colour: FrameColour,
    ) -> Result<Arc<Vec<Observation>>> {
        let colour_key = match colour {
            FrameColour::Auto => 0,
            FrameColour::Fixed(ColourSpace::Linear) => 1,
            FrameColour::Fixed(ColourSpace::Srgb) => 2,
        };
        let clip_key = if clip_name == CLIP_SOURCE { 0 } else { 4 };
        let key = (
            (time * 1000.0).round() as i64,
            scale[0].to_bits(),
            colour_key + clip_key,
        );
        if let Some(v) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(v.clone());
        }
        let image = clip_image(effect, clip_name, time)?;
        let view = image.view()?;
        let space = colour.resolve(view.depth());
        let faces = find_faces_in_view(models.detectors(), &view, space)?;
        let faces = &faces[..faces.len().min(MAX_FACES)];
        let marks = models.landmarker.run_view_each(&view, space, faces)?;
        let mut found = Vec::new();
        for (face, lm) in faces.iter().zip(marks) {
            if lm.present {
                found.push(Observation {
                    bbox: face.bbox,
                    score: face.score,
                    points: lm.points,
                });
            }
        }
        let found = Arc::new(found);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_FRAMES {
            cache.clear();
        }
        cache.insert(key, found.clone());
        Ok(found)
    }
}

/// The effect.
pub struct Face;

/// A clip's image at `time`, or at the nearest frame it has (a still FaceSource has one).
fn clip_image<'a>(
    effect: &ImageEffect<'a>,
    clip_name: &str,
    time: f64,
) -> Result<crate::ofx::Image<'a>> {
    let clip = effect.clip(clip_name)?;
    match clip.frame_range() {
        Ok((first, last)) if first <= last && (time < first || time > last) => {
            clip.image(time.clamp(first, last))
        }
        _ => clip.image(time),
    }
}

fn selection(effect: &ImageEffect, time: f64) -> Result<Selection> {
    let params = effect.params()?;
    Ok(match params.param(PARAM_FACE)?.get_int_at(time)? {
        0 => Selection::Largest,
        1 => Selection::Index(params.param(PARAM_FACE_INDEX)?.get_int_at(time)?.max(0) as usize),
        _ => Selection::All,
    })
}

fn smoothing(effect: &ImageEffect, time: f64) -> Result<u32> {
    Ok(effect
        .params()?
        .param(PARAM_SMOOTHING)?
        .get_int_at(time)?
        .clamp(0, 24) as u32)
}

/// A tracked, smoothed face of the rendered frame.
struct Tracked {
    points: Vec<[f64; 3]>,
    bbox: pixelspace_shared::face::FaceBox,
    raw: pixelspace_shared::face::FaceBox,
    score: f32,
}

const GREEN: [f32; 4] = [0.0, 1.0, 0.0, 1.0];
const RED: [f32; 4] = [1.0, 0.0, 0.0, 1.0];

/// The pixels the `debug` output marks for a face: its landmarks (green) and the edges of its
/// smoothed box (red).
fn debug_dots(face: &Tracked) -> Vec<(i32, i32, [f32; 4])> {
    let dot = |x: f64, y: f64, rgba| (x.floor() as i32, y.floor() as i32, rgba);
    let mut dots: Vec<_> = face.points.iter().map(|p| dot(p[0], p[1], GREEN)).collect();
    let b = face.bbox;
    let n = 200;
    for k in 0..=n {
        let f = k as f64 / n as f64;
        let (x, y) = (b.x1 + f * b.width(), b.y1 + f * b.height());
        for (px, py) in [(x, b.y1), (x, b.y2 - 0.5), (b.x1, y), (b.x2 - 0.5, y)] {
            dots.push(dot(px, py, RED));
        }
    }
    dots
}

/// Writes `window` of the source to the output: bit for bit when they share depth and
/// components, through float otherwise (pixels outside the source transparent black, as a
/// float copy of it writes them).
fn copy_source(src: &ImageView, dst: &mut ImageViewMut, window: Rect) {
    let area = window.intersect(&dst.bounds());
    let sb = src.bounds();
    if area.is_empty() {
        return;
    }
    if src.depth() == dst.depth() && src.components() == dst.components() && sb.contains_rect(&area)
    {
        let pb = src.depth().bytes_per_component() * src.components().count();
        let start = (area.x1 - sb.x1) as usize * pb;
        let len = area.width() as usize * pb;
        for mut row in dst.rows_mut(area) {
            let from = &src.row(row.y())[start..start + len];
            row.bytes_mut().copy_from_slice(from);
        }
        return;
    }
    FloatImage::from_view(src, area.intersect(&sb)).write_to(dst, area);
}

impl Plugin for Face {
    const ID: &'static std::ffi::CStr = c"org.pixelspace.Face";
    const VERSION: (u32, u32) = (1, 0);
    type Instance = FaceInstance;

    fn describe(effect: &ImageEffect) -> Result<()> {
        crate::common::describe_whole_frame_effect(
            effect,
            "Face",
            "Finds and follows faces (detector + 468-point landmarks, smoothed over \
                          neighbouring frames) and retouches, replaces, re-ages or swaps them \
                          within a feathered face matte; outputs the comp, the matte, a debug \
                          view or the landmarks.",
            Self::VERSION,
        )
    }

    fn describe_in_context(effect: &ImageEffect, context: Context) -> Result<()> {
        crate::common::define_whole_frame_clips(effect, CLIP_OUTPUT, CLIP_SOURCE)?;
        // The filter context has Source and Output only.
        if context == Context::General {
            effect
                .define_clip(CLIP_FACE_SOURCE)?
                .supported_components(&[Components::Rgba])?
                .temporal_access(true)?
                .supports_tiles(false)?
                .optional(true)?;
            effect
                .define_clip(CLIP_MASK)?
                .supported_components(&[Components::Alpha, Components::Rgba])?
                .supports_tiles(false)?
                .optional(true)?
                .is_mask(true)?;
        }
        let params = effect.params()?;
        params
            .define_choice(PARAM_MODE, "Mode", &MODE_OPTIONS, 0)?
            .hint("retouch: soften wrinkles, blotches and under-eye shadows by Amount (pores and grain kept; eyes, brows, lips and nostrils excluded). replace: put the face of the FaceSource clip onto the face, warped to its landmarks, colour-matched and blended. age: run the age model on the face. swap: run the swap model with the identity of the FaceSource clip's face.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_choice(PARAM_FACE, "Face", &FACE_OPTIONS, 0)?
            .hint("Which faces: the largest, the one at Face index (0 = leftmost), or all.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_int(PARAM_FACE_INDEX, "Face index", 0, (0, 16))?
            .hint("With Face = index: which face, counted from the left of the picture (0 = leftmost).")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_double(PARAM_AMOUNT, "Amount", 1.0, (0.0, 1.0), (0.0, 1.0))?
            .hint("Strength of the change: 0 leaves the face as it is.")?
            .evaluate_on_change(true)?;
        params
            .define_double(PARAM_AGE, "Age", -30.0, (-100.0, 100.0), (-100.0, 100.0))?
            .hint("Mode age: the age change, -100 (much younger) to 100 (much older).")?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_AGE_MODEL, "Age model", StringMode::FilePath, "")?
            .hint("Mode age: an age model with StyleGANEX-age's contract (styleganex_age.onnx, non-commercial licence) or FRAN's (fran.onnx), with its manifest beside it; the manifest says which.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_double(PARAM_FACE_AGE, "Actor's age", 40.0, (0.0, 100.0), (0.0, 100.0))?
            .hint("Mode age with a FRAN model: the actor's current age in years (the model is told this age and this age plus Age).")?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_SWAP_MODEL, "Swap model", StringMode::FilePath, "")?
            .hint("Mode swap: a face swapper with inswapper_128's contract (inswapper_128.onnx, non-commercial licence) and its manifest beside it.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_RECOGNISER_MODEL, "Recogniser model", StringMode::FilePath, "")?
            .hint("Mode swap: the identity recogniser (arcface_w600k_r50.onnx). Empty: the installed model the swap model's manifest requires.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_choice(PARAM_BLEND, "Blend", &BLEND_OPTIONS, 0)?
            .hint("Modes replace and swap: seamless bends the new face's colours to meet the frame at the matte's edge (its detail kept) before the feathered blend; feather blends the new face as it is.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_int(PARAM_SMOOTHING, "Smoothing (frames)", 3, (0, 24))?
            .hint("Landmarks are smoothed over this many frames on each side of the rendered frame. 0 = no smoothing.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_choice(PARAM_OUTPUT, "Output", &OUTPUT_OPTIONS, 0)?
            .hint("comp: the result; matte: the face matte; debug: landmarks and boxes drawn; landmarks: tracking data as float pixels.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_DETECTOR, "Detector model", StringMode::FilePath, "")?
            .hint("Face detector .onnx (manifest beside it). Empty: the installed face-detector-short-range, and face-detector-full-range (where installed) for small faces it missed.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        params
            .define_string(PARAM_LANDMARKER, "Landmark model", StringMode::FilePath, "")?
            .hint("Face landmark .onnx (manifest beside it). Empty: the installed face-landmarks-468.")?
            .animates(false)?
            .evaluate_on_change(true)?;
        crate::common::define_provider_and_colour_params(&params, "models")?;
        Ok(())
    }

    fn create_instance(_effect: &ImageEffect) -> Result<FaceInstance> {
        Ok(FaceInstance {
            models: Mutex::new(None),
            age_model: Mutex::new(None),
            swap_models: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn regions_of_interest(
        _inst: &FaceInstance,
        effect: &ImageEffect,
        args: &RegionsOfInterest,
    ) -> Result<Reply> {
        // Faces are found on whole frames.
        let clip = effect.clip(CLIP_SOURCE)?;
        args.set(CLIP_SOURCE, clip.region_of_definition(args.time)?)?;
        if let Some(face_source) = effect.connected_clip(CLIP_FACE_SOURCE) {
            args.set(
                CLIP_FACE_SOURCE,
                face_source.region_of_definition(args.time)?,
            )?;
        }
        Ok(Reply::Done)
    }

    fn frames_needed(
        _inst: &FaceInstance,
        effect: &ImageEffect,
        args: &FramesNeeded,
    ) -> Result<Reply> {
        let k = smoothing(effect, args.time)? as f64;
        args.set(CLIP_SOURCE, &[(args.time - k, args.time + k)])?;
        if effect.connected_clip(CLIP_FACE_SOURCE).is_some() {
            args.set(CLIP_FACE_SOURCE, &[(args.time, args.time)])?;
        }
        Ok(Reply::Done)
    }

    fn clip_preferences(
        _inst: &FaceInstance,
        effect: &ImageEffect,
        args: &ClipPreferences,
    ) -> Result<Reply> {
        args.set_components(CLIP_OUTPUT, Components::Rgba)?;
        for name in [CLIP_SOURCE, CLIP_FACE_SOURCE, CLIP_MASK] {
            if effect.clip(name).map(|c| c.connected()).unwrap_or(false) {
                args.set_components(name, Components::Rgba)?;
            }
        }
        args.set_frame_varying(false)?;
        Ok(Reply::Done)
    }

    fn render(inst: &FaceInstance, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let time = args.time;
        let params = effect.params()?;
        let colour = FrameColour::from_index(params.param(PARAM_COLOUR_SPACE)?.get_int_at(time)?)?;
        let output_kind = params.param(PARAM_OUTPUT)?.get_int_at(time)?;
        let amount = params.param(PARAM_AMOUNT)?.get_double_at(time)? as f32;
        let sel = selection(effect, time)?;
        let models = inst.models(effect, time)?;

        // Raw observations of the window (frames the clip has). A host that gives no other
        // frames, or does not say which it has, gets no smoothing, and one message saying why.
        let source = effect.clip(CLIP_SOURCE)?;
        let asked = smoothing(effect, time)?;
        let (radius, first, last) = match clip_frames(effect, &source) {
            ClipFrames::Range { first, last } => (asked, first as f64, last as f64),
            ClipFrames::CurrentOnly(why) => {
                if asked > 0 {
                    notice_once(
                        effect,
                        "Face",
                        "smoothing",
                        &format!(
                            "Face: {}, so the landmarks are not smoothed over neighbouring frames \
                             (smoothing is off) and faces may jitter a little; {TEMPORAL_HOSTS} \
                             smooth them",
                            why.reason()
                        ),
                    );
                }
                (0, time, time)
            }
        };
        let mut offsets = Vec::new();
        let mut observed = Vec::new();
        for o in -(radius as i32)..=(radius as i32) {
            let t = time + o as f64;
            if o != 0 && (t < first || t > last) {
                continue;
            }
            offsets.push(o);
            observed.push(inst.observe(
                effect,
                &models,
                CLIP_SOURCE,
                t,
                args.render_scale,
                colour,
            )?);
            if effect.abort_requested() {
                return Err(Error::failed("render cancelled"));
            }
        }
        let centre_slot = offsets.iter().position(|&o| o == 0).expect("offset 0");
        let frames: Vec<&[Observation]> = observed.iter().map(|v| v.as_slice()).collect();
        let tracked: Vec<Tracked> = select(frames[centre_slot], sel)
            .into_iter()
            .map(|i| {
                let samples = track(&offsets, &frames, centre_slot, i, MIN_IOU);
                let c = &frames[centre_slot][i];
                Tracked {
                    points: smooth_landmarks(&samples, radius),
                    bbox: smooth_box(&samples, radius).unwrap_or(c.bbox),
                    raw: c.bbox,
                    score: c.score,
                }
            })
            .collect();

        let src_image = source.image(time)?;
        let src_view = src_image.view()?;
        let space = colour.resolve(src_view.depth());
        let frame = src_view.bounds();
        let mode = params.param(PARAM_MODE)?.get_int_at(time)?;
        // The part of the frame worked on in float: what retouch reads and changes, or what the
        // debug view draws on; the whole frame for the modes with a new face. The rest of the
        // output is the source copied as it is.
        let work = match output_kind {
            _ if tracked.is_empty() => Rect::EMPTY,
            0 | 1 if matches!(mode, 1..=3) => frame,
            0 | 1 => tracked
                .iter()
                .fold(Rect::EMPTY, |r, f| r.union(&retouch_rect(&f.points))),
            2 => tracked
                .iter()
                .flat_map(debug_dots)
                .fold(Rect::EMPTY, |r, (x, y, _)| {
                    r.union(&Rect::new(x, y, x.saturating_add(1), y.saturating_add(1)))
                }),
            _ => Rect::EMPTY,
        }
        .intersect(&frame);
        let src = FloatImage::from_view(&src_view, work);
        let mut out = src.clone();
        if tracked.is_empty() {
            effect.set_persistent_message(
                MessageLevel::Warning,
                &format!(
                    "Face: no face found at frame {time} (faces {:.0} pixels wide and larger are \
                     searched; a face turned away or cut by the frame's edge may not be found); \
                     the frame passes through unchanged",
                    smallest_face(frame)
                ),
            );
        } else {
            effect.clear_persistent_message();
        }

        let mut mattes = Vec::new();
        match output_kind {
            // comp, matte
            0 | 1 if (mode == 1 || mode == 3) && !tracked.is_empty() => {
                let swap = if mode == 3 {
                    Some(inst.swap_models(effect, time)?)
                } else {
                    None
                };
                if effect.connected_clip(CLIP_FACE_SOURCE).is_none() {
                    let mode = MODE_OPTIONS[mode.clamp(0, 3) as usize];
                    return Err(Error::failed(if is_general_context(effect) {
                        format!(
                            "mode {mode} takes the new face from the FaceSource clip: connect a clip or still with a face to it"
                        )
                    } else {
                        format!(
                            "mode {mode} takes the new face from the {}, or mode retouch or age",
                            not_in_filter_context("Face", CLIP_FACE_SOURCE)
                        )
                    }));
                }
                let faces = inst.observe(
                    effect,
                    &models,
                    CLIP_FACE_SOURCE,
                    time,
                    args.render_scale,
                    colour,
                )?;
                let Some(&best) = select(&faces, Selection::Largest).first() else {
                    return Err(Error::failed(format!(
                        "no face found in the FaceSource clip at frame {time}: it needs a clearly visible face"
                    )));
                };
                let face_image = clip_image(effect, CLIP_FACE_SOURCE, time)?;
                let face_view = face_image.view()?;
                let face_space = colour.resolve(face_view.depth());
                let mut face_src = FloatImage::from_view(&face_view, face_view.bounds());
                if face_space != space {
                    pixelspace_shared::colour::convert_image(&mut face_src, face_space, space);
                }
                let amt = if output_kind == 0 { amount } else { 0.0 };
                let blend = match params.param(PARAM_BLEND)?.get_int_at(time)? {
                    1 => Blend::Feather,
                    _ => Blend::Seamless,
                };
                if let Some(models) = swap {
                    let embedding =
                        models
                            .recogniser
                            .embedding(&face_src, space, &faces[best].points)?;
                    let identity = models.swapper.identity(&embedding)?;
                    for face in &tracked {
                        mattes.push(models.swapper.apply(
                            &mut out,
                            space,
                            &face.points,
                            &identity,
                            amt,
                            blend,
                        )?);
                    }
                } else {
                    for face in &tracked {
                        mattes.push(replace_face(
                            &mut out,
                            space,
                            &face.points,
                            &face_src,
                            &faces[best].points,
                            amt,
                            blend,
                        ));
                    }
                }
            }
            0 | 1 if mode == 2 && !tracked.is_empty() => {
                let model = inst.age_model(effect, time)?;
                let age = params.param(PARAM_AGE)?.get_double_at(time)?;
                let current = params.param(PARAM_FACE_AGE)?.get_double_at(time)?;
                let amt = if output_kind == 0 { amount } else { 0.0 };
                for face in &tracked {
                    mattes.push(model.apply(&mut out, space, &face.points, age, current, amt)?);
                }
            }
            0 | 1 => {
                for face in &tracked {
                    let amt = if output_kind == 0 { amount } else { 0.0 };
                    mattes.push(retouch_face(
                        &mut out,
                        space,
                        &face.points,
                        Retouch { amount: amt },
                    ));
                }
            }
            _ => {}
        }
        // The Mask clip limits the change.
        let mask = if let Some(mask_clip) = effect.connected_clip(CLIP_MASK) {
            let m = mask_clip.image(time)?;
            let v = m.view()?;
            Some(FloatImage::from_view(
                &v,
                if output_kind == 1 { frame } else { work },
            ))
        } else {
            None
        };
        let mask_at = |x: i32, y: i32| mask.as_ref().map(|m| m.pixel(x, y)[3]).unwrap_or(1.0);

        match output_kind {
            0 => {
                if mask.is_some() {
                    for (x, y) in src.bounds.pixels() {
                        let (a, b) = (src.pixel(x, y), out.pixel(x, y));
                        if a != b {
                            let m = mask_at(x, y);
                            let mut p = a;
                            for c in 0..3 {
                                p[c] = a[c] + m * (b[c] - a[c]);
                            }
                            out.set_pixel(x, y, p);
                        }
                    }
                }
            }
            1 => {
                let u: Plane = union_matte(&mattes, frame);
                out = FloatImage::from_fn(frame, |x, y| {
                    let v = u.get(x, y) * mask_at(x, y);
                    [v, v, v, v]
                });
            }
            2 => {
                for (x, y, rgba) in tracked.iter().flat_map(debug_dots) {
                    if out.bounds.contains(x, y) {
                        out.set_pixel(x, y, rgba);
                    }
                }
            }
            _ => {
                let b = frame;
                out = FloatImage::new(b);
                let width = b.width().max(1) as usize;
                let mut first = b.y1;
                for face in &tracked {
                    // Landmark rows (wrapped where the frame is narrower than the points), then
                    // the info row.
                    let info = first + face.points.len().div_ceil(width).max(1) as i32;
                    if info >= b.y2 {
                        break;
                    }
                    for (i, p) in face.points.iter().enumerate() {
                        let (x, y) = (b.x1 + (i % width) as i32, first + (i / width) as i32);
                        out.set_pixel(x, y, [p[0] as f32, p[1] as f32, p[2] as f32, 1.0]);
                    }
                    let rows = [
                        [face.bbox.x1, face.bbox.y1, face.bbox.x2, face.bbox.y2],
                        [face.raw.x1, face.raw.y1, face.raw.x2, face.raw.y2],
                        [face.score as f64, face.points.len() as f64, 0.0, 1.0],
                    ];
                    for (i, v) in rows.iter().enumerate() {
                        let x = b.x1 + i as i32;
                        if x < b.x2 {
                            out.set_pixel(x, info, v.map(|c| c as f32));
                        }
                    }
                    first = info + 1;
                }
            }
        }
        let mut output = effect.clip(CLIP_OUTPUT)?.image(time)?;
        let mut view = output.view_mut()?;
        if matches!(output_kind, 0 | 2) {
            // The source outside the part worked on, then that part.
            if !out
                .bounds
                .contains_rect(&args.window.intersect(&view.bounds()))
            {
                copy_source(&src_view, &mut view, args.window);
            }
            out.write_to(&mut view, args.window.intersect(&out.bounds));
        } else {
            out.write_to(&mut view, args.window);
        }
        Ok(())
    }

    fn purge_caches(inst: &FaceInstance) {
        inst.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *inst.models.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *inst.age_model.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *inst.swap_models.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
