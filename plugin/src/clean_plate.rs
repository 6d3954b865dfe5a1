//! `org.pixelspace.CleanPlate`: removes a person or object that a matte marks and gives the
//! background behind it (see `pixelspace_shared::plate` for the methods).
//!
//! Clips: `Source` (the shot, read over a window of frames) and optional `Mask` (the matte of
//! what to remove, its alpha). Without a `Mask`, `autoMatte` builds a person matte with the
//! segmentation model (default: the installed selfie segmentation), merged (maximum) with the
//! pose matte of every person the installed `pose-detector` and `pose-landmarks-full` find
//! (`pixelspace_shared::plate::person`; whole bodies and small, far people, which the selfie
//! model misses), held over the frames where the detector misses someone it found up to four
//! frames before and after. Without the pose models the selfie matte is used alone.
//!
//! Params: `method` (auto|median|propagate|inpaint), `window` (frames read around the current
//! one), `output` (plate: the source with the hole filled | comp: the source blended with the
//! plate by the matte, untouched where the matte is 0 | confidence: the plate with its
//! confidence in alpha), `autoMatte`, `dilate` (px the matte grows by), `flowModel` (RIFE
//! contract, default the installed `rife-motion`, else `rife`, the other way round on a GPU
//! provider; `none`: neighbours aligned by the global fit alone),
//! `segmenter` (default the installed `selfie-segmentation`), `inpaintModel` (LaMa contract;
//! default an installed `lama`, else the built-in fill; `none`: the built-in fill), `provider`,
//! `colourSpace`, `motionMatte` (on: with method auto or median and no Mask clip, whatever
//! moves against the window's temporal background is removed too, not only people; when the
//! camera moves, found by aligning the window's ends, the background follows the camera:
//! each frame aligned, with a shift per block for parallax, and with autoMatte only movers
//! that the person matte touches in some frame are taken), `motionGrow` (px the motion matte
//! grows by, for motion blur and shadow fringe).
//!
//! A matte that covers the whole frame leaves the frame as it is, with a message.
//!
//! The whole frame is built on each render (the effect asks for full frames, no tiles); frames
//! of the window are fetched one at a time and released as soon as they are converted, the
//! Mask clip as alpha alone (see the memory note in `pixelspace_shared::plate`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pixelspace_shared::colour::ColourSpace;
use pixelspace_shared::error::Error as CoreError;
use pixelspace_shared::geometry::Rect;
use pixelspace_shared::image::{Components, FloatImage};
use pixelspace_shared::manifest::{Manifest, Output};
use pixelspace_shared::models_dir;
use pixelspace_shared::pipeline::{InferRequest, InferencePipeline};
use pixelspace_shared::plate::person::{MatteCache, PersonMatter};
use pixelspace_shared::plate::{self, Method, PlateOptions, ShotFrame, ShotSource};
use pixelspace_shared::runtime::Provider;
use pixelspace_shared::tensor::Layout;

use crate::host_offers::{ClipFrames, TEMPORAL_HOSTS, clip_frames, notice_once};
use crate::inference::{FrameColour, provider_from_index};
use crate::ofx::{
    ClipPreferences, Context, Error, FramesNeeded, ImageEffect, Plugin, RegionsOfInterest,
    RenderArgs, Reply, Result, StringMode,
};

pub const CLIP_SOURCE: &str = "Source";
pub const CLIP_MASK: &str = "Mask";
const CLIP_OUTPUT: &str = "Output";

pub const PARAM_METHOD: &str = "method";
pub const PARAM_WINDOW: &str = "window";
pub const PARAM_OUTPUT: &str = "output";
pub const PARAM_AUTO_MATTE: &str = "autoMatte";
pub const PARAM_DILATE: &str = "dilate";
pub const PARAM_FLOW_MODEL: &str = "flowModel";
pub const PARAM_SEGMENTER: &str = "segmenter";
pub const PARAM_INPAINT_MODEL: &str = "inpaintModel";
pub const PARAM_PROVIDER: &str = "provider";
pub const PARAM_COLOUR_SPACE: &str = "colourSpace";
pub const PARAM_MOTION_MATTE: &str = "motionMatte";
pub const PARAM_MOTION_GROW: &str = "motionGrow";

/// Options of the `output` choice.
pub const OUTPUT_OPTIONS: [&str; 3] = ["plate", "comp", "confidence"];

/// What the effect writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputKind {
    Plate,
    Comp,
    Confidence,
}

/// The model a path param names, else the installed model called `default` (None when absent).
fn resolve(param: &str, default: &str) -> Option<PathBuf> {
    let param = param.trim();
    if param.eq_ignore_ascii_case("none") {
        return None;
    }
    if !param.is_empty() {
        return Some(PathBuf::from(param));
    }
    models_dir::find_model(&crate::common::default_model_dirs(), default).map(|m| m.model_path())
}

type Cache = Mutex<Vec<(PathBuf, Provider, Arc<InferencePipeline>)>>;

/// The effect.
pub struct CleanPlate;

/// Per-instance state: loaded models.
pub struct CleanPlateInstance {
    models: Cache,
    /// Pose mattes of frames seen by earlier renders (each render reads a window of frames).
    pose_mattes: MatteCache,
}

/// Bytes of pose mattes an instance keeps (one byte a pixel: about 170 frames of 1080p).
const POSE_MATTE_BUDGET: usize = 256 << 20;

impl CleanPlateInstance {
    fn pipeline(
        &self,
        path: &PathBuf,
        provider: Provider,
        what: &str,
    ) -> Result<Arc<InferencePipeline>> {
        let mut cache = self.models.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, p)) = cache.iter().find(|(m, pr, _)| m == path && *pr == provider) {
            return Ok(p.clone());
        }
        if !path.is_file() {
            return Err(Error::failed(format!(
                "{what} model file not found: {}",
                path.display()
            )));
        }
        crate::runtime::ensure_loaded()?;
        let manifest = Manifest::for_model(path)?;
        let p = Arc::new(InferencePipeline::new(manifest, path.clone(), provider)?);
        cache.push((path.clone(), provider, p.clone()));
        Ok(p)
    }
}

impl CleanPlateInstance {
    /// The pose person matte from the installed `pose-detector` and `pose-landmarks-full`, or
    /// None when either is not installed.
    fn pose_models(&self, provider: Provider) -> Result<Option<PersonMatter>> {
        let dirs = crate::common::default_model_dirs();
        let (Some(detector), Some(landmarks)) = (
            models_dir::find_model(&dirs, "pose-detector"),
            models_dir::find_model(&dirs, "pose-landmarks-full"),
        ) else {
            return Ok(None);
        };
        let detector = self.pipeline(&detector.model_path(), provider, "person detector")?;
        let landmarks = self.pipeline(&landmarks.model_path(), provider, "pose")?;
        Ok(Some(PersonMatter::new(detector, landmarks)?))
    }
}

/// The params of one render.
struct Settings {
    method: Method,
    window: u32,
    output: OutputKind,
    auto_matte: bool,
    dilate: u32,
    motion_matte: bool,
    motion_grow: u32,
    flow: String,
    segmenter: String,
    inpaint: String,
    provider: Provider,
    colour: FrameColour,
}

fn read_settings(effect: &ImageEffect, time: f64) -> Result<Settings> {
    let p = effect.params()?;
    let output = match p.param(PARAM_OUTPUT)?.get_int_at(time)? {
        0 => OutputKind::Plate,
        1 => OutputKind::Comp,
        2 => OutputKind::Confidence,
        o => {
            return Err(Error::failed(format!(
                "the output parameter has an unknown value ({o})"
            )));
        }
    };
    Ok(Settings {
        method: Method::from_index(p.param(PARAM_METHOD)?.get_int_at(time)?)?,
        window: p.param(PARAM_WINDOW)?.get_int_at(time)?.clamp(1, 256) as u32,
        output,
        auto_matte: p.param(PARAM_AUTO_MATTE)?.get_int_at(time)? != 0,
        dilate: p.param(PARAM_DILATE)?.get_int_at(time)?.clamp(0, 256) as u32,
        motion_matte: p.param(PARAM_MOTION_MATTE)?.get_int_at(time)? != 0,
        motion_grow: p.param(PARAM_MOTION_GROW)?.get_int_at(time)?.clamp(0, 256) as u32,
        flow: p.param(PARAM_FLOW_MODEL)?.get_string_at(time)?,
        segmenter: p.param(PARAM_SEGMENTER)?.get_string_at(time)?,
        inpaint: p.param(PARAM_INPAINT_MODEL)?.get_string_at(time)?,
        provider: provider_from_index(p.param(PARAM_PROVIDER)?.get_int_at(time)?)?,
        colour: FrameColour::from_index(p.param(PARAM_COLOUR_SPACE)?.get_int_at(time)?)?,
    })
}

/// The frames a render at `t` reads from (first and last frame of the clip) and the method it
/// uses: the one asked for when the host gives other frames and says which it has; otherwise
/// this frame alone with the single-frame fill, and one message saying why.
fn frames_and_method(effect: &ImageEffect, t: i32, asked: Method) -> Result<((i32, i32), Method)> {
    match clip_frames(effect, &effect.clip(CLIP_SOURCE)?) {
        ClipFrames::Range { first, last } => Ok(((first, last), asked)),
        ClipFrames::CurrentOnly(why) => {
            if asked != Method::Inpaint {
                notice_once(
                    effect,
                    "CleanPlate",
                    "one-frame",
                    &format!(
                        "CleanPlate: {}, so the plate is rebuilt from each frame alone: what the \
                         matte covers is filled from its surroundings (method inpaint) instead of \
                         from the shot's other frames; {TEMPORAL_HOSTS} rebuild it from the shot",
                        why.reason()
                    ),
                );
            }
            Ok(((t, t), Method::Inpaint))
        }
    }
}

/// A person matte from a segmentation model, over `frame`'s bounds: one pass over the whole
/// frame, one over each square of the frame's height (or width) spread across a wide (or
/// tall) frame, undistorted as the model was trained (a wide frame squeezed into its square
/// input hides legs and bodies), then a pass over a square box around what they found (grown
/// by half), so that a person who fills little of the frame is seen at the model's full
/// resolution; the matte is the largest of them.
pub fn person_matte(
    model: &InferencePipeline,
    frame: &FloatImage,
    colour: ColourSpace,
) -> std::result::Result<Vec<f32>, CoreError> {
    let b = frame.bounds;
    let mut matte = segment(model, frame, colour)?;
    let w = b.width() as usize;
    let merge = |matte: &mut [f32], r: Rect, fine: Vec<f32>| {
        for ((x, y), m) in r.pixels().zip(fine) {
            let i = (y - b.y1) as usize * w + (x - b.x1) as usize;
            matte[i] = matte[i].max(m);
        }
    };
    let (long, short) = (b.width().max(b.height()), b.width().min(b.height()));
    if short > 0 && long * 5 > short * 6 {
        // Squares from one end to the other, overlapping by at least a third.
        let count = (long - short).div_ceil(short * 2 / 3).max(1) + 1;
        for k in 0..count {
            let off = ((long - short) as u64 * k as u64 / (count - 1) as u64) as i32;
            let r = if b.width() >= b.height() {
                Rect::new(b.x1 + off, b.y1, b.x1 + off + short as i32, b.y2)
            } else {
                Rect::new(b.x1, b.y1 + off, b.x2, b.y1 + off + short as i32)
            };
            let square = FloatImage::from_fn(r, |x, y| frame.pixel(x, y));
            let fine = segment(model, &square, colour)?;
            merge(&mut matte, r, fine);
        }
    }
    let (mut x1, mut y1, mut x2, mut y2) = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
    for ((x, y), m) in b.pixels().zip(&matte) {
        if *m > 0.3 {
            x1 = x1.min(x);
            y1 = y1.min(y);
            x2 = x2.max(x + 1);
            y2 = y2.max(y + 1);
        }
    }
    if x1 >= x2 {
        return Ok(matte);
    }
    let side = ((x2 - x1).max(y2 - y1) as f64 * 1.5) as i32;
    let (cx, cy) = ((x1 + x2) / 2, (y1 + y2) / 2);
    let boxr = Rect::new(
        cx - side / 2,
        cy - side / 2,
        cx - side / 2 + side,
        cy - side / 2 + side,
    )
    .intersect(&b);
    if boxr.is_empty() || boxr.area() * 10 > b.area() * 9 {
        return Ok(matte);
    }
    let crop = FloatImage::from_fn(boxr, |x, y| frame.pixel(x, y));
    let fine = segment(model, &crop, colour)?;
    merge(&mut matte, boxr, fine);
    Ok(matte)
}

/// A matte from one run of a segmentation model (alpha output), over `frame`'s bounds.
pub fn segment(
    model: &InferencePipeline,
    frame: &FloatImage,
    colour: ColourSpace,
) -> std::result::Result<Vec<f32>, CoreError> {
    let spec = model.manifest();
    let input = spec
        .image_inputs()
        .next()
        .map(|i| i.name.clone())
        .ok_or_else(|| CoreError::new(format!("segmenter '{}' has no image input", spec.name)))?;
    let out = model.infer(&InferRequest {
        images: &[(input.as_str(), frame)],
        frame_colour: colour,
        constants: &[],
    })?;
    let Some(Output::Image(o)) = spec.outputs.first() else {
        return Err(CoreError::new(format!(
            "segmenter '{}' has no image (matte) output first",
            spec.name
        )));
    };
    let t = out
        .get(&o.name)
        .ok_or_else(|| CoreError::new(format!("segmenter output '{}' missing", o.name)))?;
    if t.shape.len() != 4 {
        return Err(CoreError::new(format!(
            "segmenter output has shape {:?}; expected 4 dims",
            t.shape
        )));
    }
    let (th, tw, nch) = match o.layout {
        Layout::Nchw => (t.shape[2], t.shape[3], t.shape[1]),
        Layout::Nhwc => (t.shape[1], t.shape[2], t.shape[3]),
    };
    let ch = nch - 1; // the last channel holds the matte (alpha output)
    let norm = o.normalisation();
    let mut small = FloatImage::new(Rect::new(0, 0, tw as i32, th as i32));
    for row in 0..th {
        for col in 0..tw {
            let v = match o.layout {
                Layout::Nchw => t.data[(ch * th + row) * tw + col],
                Layout::Nhwc => t.data[(row * tw + col) * nch + ch],
            };
            let v = if norm.std.is_empty() {
                v
            } else {
                v * norm.std[0] + norm.mean[0]
            };
            let a = ((v - norm.range[0]) / (norm.range[1] - norm.range[0])).clamp(0.0, 1.0);
            small.set_pixel(col as i32, (th - 1 - row) as i32, [a; 4]);
        }
    }
    let back = pixelspace_shared::resize::resize_to(&small, out.mapping.covered);
    Ok(frame
        .bounds
        .pixels()
        .map(|(x, y)| {
            if out.mapping.covered.contains(x, y) {
                back.pixel(x, y)[3]
            } else {
                0.0
            }
        })
        .collect())
}

/// The shot as the plate builder reads it: frames fetched from the host one at a time.
struct HostShot<'e, 'a> {
    effect: &'e ImageEffect<'a>,
    range: (i32, i32),
    bounds: Rect,
    mask: bool,
    segmenter: Option<Arc<InferencePipeline>>,
    /// The pose models' person matte, merged with the segmenter's (when installed), and the
    /// instance's cache of it.
    people: Option<(PersonMatter, &'e MatteCache)>,
    /// No Mask and no segmenter: the motion matte alone (frames come with an empty matte).
    motion_only: bool,
    dilate: u32,
    colour: ColourSpace,
}

fn core(e: Error) -> CoreError {
    CoreError::new(e.message().to_string())
}

/// The alpha of `view` over `bounds`, row by row (0 outside the view).
fn alpha_of(view: &pixelspace_shared::image::ImageView, bounds: Rect) -> Vec<f32> {
    let w = bounds.width() as usize;
    let mut matte = vec![0f32; bounds.area()];
    let vb = view.bounds();
    let (x1, x2) = (bounds.x1.max(vb.x1), bounds.x2.min(vb.x2));
    if x1 >= x2 {
        return matte;
    }
    let mut row = vec![0f32; 4 * (x2 - x1) as usize];
    for y in bounds.y1.max(vb.y1)..bounds.y2.min(vb.y2) {
        view.read_row_rgba(y, x1, x2, &mut row);
        let base = (y - bounds.y1) as usize * w + (x1 - bounds.x1) as usize;
        for (k, px) in row.chunks_exact(4).enumerate() {
            matte[base + k] = px[3];
        }
    }
    matte
}

impl ShotSource for HostShot<'_, '_> {
    fn range(&self) -> (i32, i32) {
        self.range
    }

    fn load(&self, t: i32) -> std::result::Result<ShotFrame, CoreError> {
        let src = self.effect.clip(CLIP_SOURCE).map_err(core)?;
        let img = src.image(t as f64).map_err(core)?;
        let image = FloatImage::from_view(&img.view().map_err(core)?, self.bounds);
        drop(img);
        let matte = if self.mask {
            let clip = self.effect.clip(CLIP_MASK).map_err(core)?;
            let m = clip.image(t as f64).map_err(core)?;
            alpha_of(&m.view().map_err(core)?, self.bounds)
        } else if let Some(seg) = &self.segmenter {
            let mut matte = person_matte(seg, &image, self.colour)?;
            if let Some((people, cache)) = &self.people {
                // The frames around, so that a person the detector misses here is held.
                let (range, bounds) = (self.range, self.bounds);
                let fetch = |k: i32| -> pixelspace_shared::error::Result<Option<FloatImage>> {
                    if k < range.0 || k > range.1 {
                        return Ok(None);
                    }
                    let img = src.image(k as f64).map_err(core)?;
                    Ok(Some(FloatImage::from_view(
                        &img.view().map_err(core)?,
                        bounds,
                    )))
                };
                for (m, p) in matte.iter_mut().zip(cache.held_matte(
                    people,
                    t,
                    &image,
                    &fetch,
                    self.colour,
                )?) {
                    *m = m.max(p);
                }
            }
            matte
        } else if self.motion_only {
            vec![0.0; self.bounds.area()]
        } else {
            return Err(CoreError::new(
                "no matte: connect a Mask clip to the CleanPlate node or turn on autoMatte or motionMatte",
            ));
        };
        let matte = plate::dilate(&matte, self.bounds.width() as usize, self.dilate);
        Ok(ShotFrame { image, matte })
    }
}

/// Messages for a plate that did less than asked: the motion matte left off, or a matte that
/// covered everything.
fn report_plate(effect: &ImageEffect, t: i32, built: &plate::Plate) {
    use plate::motion::MotionUse;
    if built.passed_through {
        notice_once(
            effect,
            "CleanPlate",
            "covers-all",
            &format!(
                "CleanPlate: the matte of frame {t} covers the whole frame, so nothing is left \
                 to rebuild the background from; the frame passes through unchanged"
            ),
        );
    }
    match built.motion {
        MotionUse::MovingCamera { shift } => {
            notice_once(
                effect,
                "CleanPlate",
                "motion-camera",
                &format!(
                    "CleanPlate: the camera moves ({shift:.1} px across the window at frame {t}) \
                     and too few of the window's frames could be aligned to it, so the motion \
                     matte is off there: only the person matte is removed"
                ),
            );
        }
        MotionUse::TooLarge { share } => {
            notice_once(
                effect,
                "CleanPlate",
                "motion-large",
                &format!(
                    "CleanPlate: at frame {t} the motion matte covered {:.0} % of the frame (a \
                     light change or a shaking camera?), so it is not used there",
                    100.0 * share
                ),
            );
        }
        MotionUse::Off
        | MotionUse::TooFewFrames
        | MotionUse::Used { .. }
        | MotionUse::Compensated { .. } => {}
    }
}

impl Plugin for CleanPlate {
    const ID: &'static std::ffi::CStr = c"org.pixelspace.CleanPlate";
    const VERSION: (u32, u32) = (1, 0);
    type Instance = CleanPlateInstance;

    fn describe(effect: &ImageEffect) -> Result<()> {
        crate::common::describe_whole_frame_effect(
            effect,
            "CleanPlate",
            "Removes a person or object marked by a matte (the Mask clip, or an automatic \
                          person matte) and rebuilds the background behind it from the shot's other \
                          frames, inpainting what no frame shows.",
            Self::VERSION,
        )
    }

    fn describe_in_context(effect: &ImageEffect, context: Context) -> Result<()> {
        crate::common::define_whole_frame_clips(effect, CLIP_OUTPUT, CLIP_SOURCE)?;
        // The filter context has Source and Output only: the matte is then automatic.
        if context == Context::General {
            effect
                .define_clip(CLIP_MASK)?
                .supported_components(&[Components::Alpha, Components::Rgba])?
                .temporal_access(true)?
                .supports_tiles(false)?
                .optional(true)?
                .is_mask(true)?;
        }
        let params = effect.params()?;
        params
            .define_choice(PARAM_METHOD, "Method", &Method::NAMES, 0)?
            .hint("auto: median, then propagate, then inpaint. median: locked-off camera. propagate: moving camera (neighbours aligned to this frame). inpaint: this frame alone.")?
            .animates(false)?;
        params
            .define_int(PARAM_WINDOW, "Window (frames)", 8, (1, 256))?
            .hint("How many frames around the current one the background is gathered from.")?
            .animates(false)?;
        params
            .define_choice(PARAM_OUTPUT, "Output", &OUTPUT_OPTIONS, 0)?
            .hint("plate: the background with the hole filled. comp: the source with the subject removed (untouched outside the matte). confidence: the plate with its confidence in alpha (1 = real pixels, lower = invented).")?
            .animates(false)?;
        params
            .define_boolean(PARAM_AUTO_MATTE, "Automatic person matte", true)?
            .hint("Without a Mask clip, matte people with the segmentation model.")?
            .animates(false)?;
        params
            .define_int(PARAM_DILATE, "Dilate (px)", 4, (0, 256))?
            .hint("Grows the matte so the subject's edges and shadow fringe go too.")?
            .animates(false)?;
        for (name, label, hint) in [
            (
                PARAM_FLOW_MODEL,
                "Flow model",
                "RIFE-contract .onnx for aligning frames per pixel (empty: the installed RIFE model; none: the global fit alone, started by a translation search).",
            ),
            (
                PARAM_SEGMENTER,
                "Segmenter",
                "Person segmentation .onnx for autoMatte (empty: the installed selfie-segmentation model).",
            ),
            (
                PARAM_INPAINT_MODEL,
                "Inpaint model",
                "LaMa-contract .onnx for what no frame shows (empty: an installed lama model, else the built-in fill; none: the built-in fill).",
            ),
        ] {
            params
                .define_string(name, label, StringMode::FilePath, "")?
                .hint(hint)?
                .animates(false)?;
        }
        params
            .define_boolean(PARAM_MOTION_MATTE, "Motion matte", true)?
            .hint("No Mask clip: also remove whatever moves against the shot's background (method auto or median; when the camera moves, against a background aligned to each frame).")?
            .animates(false)?;
        params
            .define_int(PARAM_MOTION_GROW, "Motion grow (px)", 6, (0, 256))?
            .hint("Grows the motion matte so motion blur and shadow fringes go too.")?
            .animates(false)?;
        crate::common::define_provider_and_colour_params(&params, "models")?;
        Ok(())
    }

    fn create_instance(_effect: &ImageEffect) -> Result<CleanPlateInstance> {
        Ok(CleanPlateInstance {
            models: Mutex::new(Vec::new()),
            pose_mattes: MatteCache::new(POSE_MATTE_BUDGET),
        })
    }

    fn regions_of_interest(
        _inst: &CleanPlateInstance,
        effect: &ImageEffect,
        args: &RegionsOfInterest,
    ) -> Result<Reply> {
        for name in [CLIP_SOURCE, CLIP_MASK] {
            if let Some(clip) = effect.connected_clip(name) {
                args.set(name, clip.region_of_definition(args.time)?)?;
            }
        }
        Ok(Reply::Done)
    }

    fn frames_needed(
        _inst: &CleanPlateInstance,
        effect: &ImageEffect,
        args: &FramesNeeded,
    ) -> Result<Reply> {
        let s = read_settings(effect, args.time)?;
        let t = args.time.round() as i32;
        let (range, method) = frames_and_method(effect, t, s.method)?;
        let frames = if method == Method::Inpaint {
            vec![t]
        } else {
            plate::window_frames(t, s.window, range)
        };
        let (a, b) = (
            *frames.iter().min().expect("a frame") as f64,
            *frames.iter().max().expect("a frame") as f64,
        );
        args.set(CLIP_SOURCE, &[(a, b)])?;
        if effect.connected_clip(CLIP_MASK).is_some() {
            args.set(CLIP_MASK, &[(a, b)])?;
        }
        Ok(Reply::Done)
    }

    fn clip_preferences(
        _inst: &CleanPlateInstance,
        effect: &ImageEffect,
        args: &ClipPreferences,
    ) -> Result<Reply> {
        args.set_components(CLIP_OUTPUT, Components::Rgba)?;
        args.set_components(CLIP_SOURCE, Components::Rgba)?;
        if effect.connected_clip(CLIP_MASK).is_some() {
            // Alpha alone: a quarter of the RGBA the host would otherwise convert and keep.
            args.set_components(CLIP_MASK, Components::Alpha)?;
        }
        args.set_frame_varying(true)?;
        Ok(Reply::Done)
    }

    fn render(inst: &CleanPlateInstance, effect: &ImageEffect, args: &RenderArgs) -> Result<()> {
        let time = args.time;
        let t = time.round() as i32;
        let mut s = read_settings(effect, time)?;
        let source = effect.clip(CLIP_SOURCE)?;
        let (range, method) = frames_and_method(effect, t, s.method)?;
        s.method = method;
        let mask = effect.connected_clip(CLIP_MASK).is_some();
        let mut output = effect.clip(CLIP_OUTPUT)?.image(time)?;
        let colour = s.colour.resolve(output.depth());
        let bounds = source.image(time)?.bounds();
        let segmenter = if !mask && s.auto_matte {
            let path = resolve(&s.segmenter, "selfie-segmentation").ok_or_else(|| {
                Error::failed(
                    "no person segmentation model for autoMatte: run `pixelspace models fetch --defaults`, \
                     set the segmenter parameter, or connect a Mask clip",
                )
            })?;
            Some(inst.pipeline(&path, s.provider, "segmenter")?)
        } else {
            None
        };
        let people = match &segmenter {
            Some(_) => inst
                .pose_models(s.provider)?
                .map(|p| (p, &inst.pose_mattes)),
            None => None,
        };
        let wants_flow = matches!(s.method, Method::Auto | Method::Propagate);
        let flow_model = crate::common::rife_models(s.provider)
            .into_iter()
            .find_map(|name| resolve(&s.flow, name));
        let flow = match (wants_flow, flow_model) {
            (true, Some(p)) => Some(inst.pipeline(&p, s.provider, "flow")?),
            _ => None,
        };
        let inpaint = match resolve(&s.inpaint, "lama") {
            Some(p) if matches!(s.method, Method::Auto | Method::Inpaint) => {
                Some(inst.pipeline(&p, s.provider, "inpaint")?)
            }
            _ => None,
        };
        let shot = HostShot {
            effect,
            range,
            bounds,
            mask,
            motion_only: !mask && !s.auto_matte && s.motion_matte,
            segmenter,
            people,
            dilate: s.dilate,
            colour,
        };
        let is_cancelled = || effect.abort_requested();
        let opts = PlateOptions {
            method: s.method,
            window: s.window,
            flow: flow.as_ref(),
            inpaint_model: inpaint.as_deref(),
            frame_colour: colour,
            is_cancelled: &is_cancelled,
            motion_grow: (!mask && s.motion_matte).then_some(s.motion_grow),
            mattes_mark_people: shot.segmenter.is_some(),
        };
        let built = plate::build(&shot, t, &opts)?;
        report_plate(effect, t, &built);
        let mut result = built.image;
        match s.output {
            OutputKind::Plate => {}
            OutputKind::Confidence => {
                for (px, c) in result.data.chunks_exact_mut(4).zip(&built.confidence) {
                    px[3] = *c;
                }
            }
            OutputKind::Comp => {
                // The source blended towards the plate by the (dilated) matte: exactly the
                // source where the matte is 0 (the plate is the source outside the hole).
                for (k, &i) in built.hole_pixels.iter().enumerate() {
                    let m = built.matte[i].clamp(0.0, 1.0);
                    let src = built.hole_source[k];
                    let px = &mut result.data[4 * i..4 * i + 4];
                    for c in 0..3 {
                        px[c] = src[c] + m * (px[c] - src[c]);
                    }
                    px[3] = src[3];
                }
            }
        }
        let mut view = output.view_mut()?;
        result.write_to(&mut view, args.window.intersect(&bounds));
        Ok(())
    }

    fn purge_caches(inst: &CleanPlateInstance) {
        inst.models
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        inst.pose_mattes.clear();
    }
}
