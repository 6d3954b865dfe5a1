//! The inference pipeline: host frames in, a manifest-described ONNX model run, host frame out.
//!
//! Per render: read the region the model needs from every input clip (edge replicate), replace
//! NaN/inf, convert the frame's colour encoding to the model's, fit the size (pad to a multiple,
//! resize to the fixed size, or letterbox), split into overlapping tiles when the manifest asks,
//! pack tensors, run, unpack the first output, convert back, combine with the plate (`replace`,
//! `residual`, `change`) and write only the render window. Nothing is written when the render
//! fails or is cancelled.
//!
//! Data models (detectors, landmarkers, flows an effect reads) go through
//! [`InferencePipeline::infer`] instead: the same input preparation, every output returned as
//! a raw f32 tensor, with the [`FitMapping`] that maps model coordinates back to the frame.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::colour::{self, ColourSpace};
use crate::error::{Error, Result};
use crate::fused;
use crate::geometry::Rect;
use crate::image::{FloatImage, ImageView, ImageViewMut};
use crate::manifest::{
    Apply, Dim, Fit, ImageInput, ImageOutput, Manifest, Output, Size, shape_text,
};
use crate::policy::LicencePolicy;
use crate::resize;
use crate::runtime::{InputTensor, Provider, SessionCache, SharedSession, TensorInfo};
use crate::tensor::{self, AlphaUnpack, ChannelOrder, Layout};
use crate::tiling::{self, TileAccumulator};

/// One host image handed to [`InferencePipeline::render`].
pub struct InputImage<'a> {
    /// Clip name as in the manifest (`Source`, …).
    pub clip: String,
    /// Frame offset relative to the rendered frame, as in the manifest.
    pub frame_offset: i32,
    /// The pixels (at render scale).
    pub image: ImageView<'a>,
}

/// Everything one render call needs.
pub struct RenderRequest<'a> {
    /// One image per (clip, frame offset) from [`InferencePipeline::required_inputs`].
    pub inputs: Vec<InputImage<'a>>,
    /// Render window in output pixel coordinates (at render scale).
    pub window: Rect,
    /// How the host frame is encoded.
    pub frame_colour: ColourSpace,
    /// Polled between tiles; `true` stops the render with an error and writes nothing.
    pub is_cancelled: &'a (dyn Fn() -> bool + Sync),
    /// Called after each tile with the fraction done (0..1).
    pub progress: &'a (dyn Fn(f64) + Sync),
}

/// Message of the error returned when a render is cancelled.
pub const CANCELLED: &str = "render cancelled";

/// What [`InferencePipeline::infer`] is given.
pub struct InferRequest<'a> {
    /// One image per manifest image input, by ONNX input name. All cover the same region
    /// (their `bounds`, in frame pixels, y up); pixels are RGBA in the frame's encoding.
    pub images: &'a [(&'a str, &'a FloatImage)],
    /// How the images are encoded (converted to each input's `colour_space`).
    pub frame_colour: ColourSpace,
    /// Values for constant inputs instead of their manifest `value` (e.g. the timestep), by
    /// name; each must have as many numbers as the manifest's `value`.
    pub constants: &'a [(&'a str, &'a [f32])],
}

/// One model output as raw numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// ONNX output name.
    pub name: String,
    /// Its shape, e.g. `[1, 896, 16]` or `[1, 4, H, W]`.
    pub shape: Vec<usize>,
    /// The values, row-major, converted to f32; image tensors are top-down.
    pub data: Vec<f32>,
}

/// The result of [`InferencePipeline::infer`].
#[derive(Clone, Debug, PartialEq)]
pub struct Inferred {
    /// Every manifest output, in manifest order.
    pub outputs: Vec<NamedTensor>,
    /// How model pixels map to the frame.
    pub mapping: FitMapping,
}

impl Inferred {
    /// An output by name.
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.outputs.iter().find(|t| t.name == name)
    }
}

/// How a frame region was fitted to the model's input, to map model coordinates back.
///
/// Model coordinates `(u, v)` are continuous pixels of the model tensor: `u` to the right,
/// `v` down the rows, pixel `(i, j)` covering `[i, i+1) x [j, j+1)`. Frame coordinates
/// `(x, y)` are continuous OFX pixels, `y` up. The model tensor covers `covered`, which is
/// the region plus any padding (`dynamic` pads right and at the bottom, `letterbox` centres
/// the region between black bars; `stretch` covers exactly the region).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FitMapping {
    /// The frame region that was given.
    pub region: Rect,
    /// The frame area the model tensor covers.
    pub covered: Rect,
    /// Model input width in pixels.
    pub model_width: u32,
    /// Model input height in pixels.
    pub model_height: u32,
}

impl FitMapping {
    /// The mapping a manifest's `size` gives for a region.
    pub fn new(size: Size, region: Rect) -> FitMapping {
        let (w, h) = (region.width(), region.height());
        match size {
            Size::Dynamic { multiple } => {
                let m = multiple.max(1);
                let (pw, ph) = (w.div_ceil(m) * m, h.div_ceil(m) * m);
                FitMapping {
                    region,
                    covered: Rect::new(
                        region.x1,
                        region.y2 - ph as i32,
                        region.x1 + pw as i32,
                        region.y2,
                    ),
                    model_width: pw,
                    model_height: ph,
                }
            }
            Size::Fixed {
                width,
                height,
                fit: Fit::Stretch,
            } => FitMapping {
                region,
                covered: region,
                model_width: width,
                model_height: height,
            },
            Size::Fixed {
                width,
                height,
                fit: Fit::Letterbox,
            } => {
                // Pad to the model's aspect ratio: the longer side (relative to the model) stays.
                let (pw, ph) = if w as u64 * height as u64 >= h as u64 * width as u64 {
                    let ph = (w as f64 * height as f64 / width as f64).round() as u32;
                    (w, ph.max(h))
                } else {
                    let pw = (h as f64 * width as f64 / height as f64).round() as u32;
                    (pw.max(w), h)
                };
                let left = ((pw - w) / 2) as i32;
                let top = ((ph - h) / 2) as i32;
                let x1 = region.x1 - left;
                let y2 = region.y2 + top;
                FitMapping {
                    region,
                    covered: Rect::new(x1, y2 - ph as i32, x1 + pw as i32, y2),
                    model_width: width,
                    model_height: height,
                }
            }
        }
    }

    /// Frame pixels per model pixel, (x, y).
    pub fn scale(&self) -> (f64, f64) {
        (
            self.covered.width() as f64 / self.model_width.max(1) as f64,
            self.covered.height() as f64 / self.model_height.max(1) as f64,
        )
    }

    /// A model point (u right, v down) in frame coordinates (x right, y up).
    pub fn model_to_frame(&self, u: f64, v: f64) -> (f64, f64) {
        let (sx, sy) = self.scale();
        (
            self.covered.x1 as f64 + u * sx,
            self.covered.y2 as f64 - v * sy,
        )
    }

    /// A frame point (x right, y up) in model coordinates (u right, v down).
    pub fn frame_to_model(&self, x: f64, y: f64) -> (f64, f64) {
        let (sx, sy) = self.scale();
        (
            (x - self.covered.x1 as f64) / sx,
            (self.covered.y2 as f64 - y) / sy,
        )
    }

    /// A model displacement (dx right, dy down, model pixels; e.g. a flow vector) in frame
    /// pixels (x right, y up).
    pub fn flow_to_frame(&self, dx: f64, dy: f64) -> (f64, f64) {
        let (sx, sy) = self.scale();
        (dx * sx, -dy * sy)
    }
}

/// A constant input for one run: (name, shape, values).
type ConstantFeed<'a> = (&'a str, &'a [i64], &'a [f32]);

/// A model checked against its manifest, ready to render frames. Shared by render threads.
pub struct InferencePipeline {
    manifest: Manifest,
    model_path: PathBuf,
    requested: Provider,
    session: Arc<SharedSession>,
    /// For each manifest output, its index among the model's outputs.
    output_indices: Vec<usize>,
    /// Constant inputs with their resolved shapes.
    constants: Vec<(String, Vec<i64>, Vec<f32>)>,
    /// Reusable tensor buffers (one set per concurrent render).
    scratch: Mutex<Vec<Scratch>>,
}

#[derive(Default)]
struct Scratch {
    tensors: Vec<Vec<f32>>,
    output: Vec<f32>,
}

impl std::fmt::Debug for InferencePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferencePipeline")
            .field("model", &self.model_path)
            .field("provider", &self.session.provider())
            .finish()
    }
}

fn is_float(info: &TensorInfo) -> bool {
    use ort::value::TensorElementType as T;
    matches!(
        info.element_type,
        Some(T::Float32) | Some(T::Float16) | Some(T::Float64)
    )
}

/// (channel, height, width) dimension positions for a layout.
fn chw_axes(layout: Layout) -> (usize, usize, usize) {
    match layout {
        Layout::Nchw => (1, 2, 3),
        Layout::Nhwc => (3, 1, 2),
    }
}

/// Shape of a `channels`-channel image tensor of `w` x `h`.
fn grid_shape(layout: Layout, channels: usize, w: u32, h: u32) -> Vec<i64> {
    let (c, h, w) = (channels as i64, h as i64, w as i64);
    match layout {
        Layout::Nchw => vec![1, c, h, w],
        Layout::Nhwc => vec![1, h, w, c],
    }
}

impl InferencePipeline {
    /// Checks the licence against the studio policy (see [`crate::policy`]), the model file
    /// against the manifest's sha256, gets the shared session for `provider`, and checks the
    /// model's real inputs and outputs against the manifest.
    pub fn new(manifest: Manifest, model_path: PathBuf, provider: Provider) -> Result<Self> {
        let policy = LicencePolicy::from_environment()?;
        InferencePipeline::new_with_policy(manifest, model_path, provider, &policy)
    }

    /// Like [`InferencePipeline::new`] with an explicit licence policy.
    pub fn new_with_policy(
        manifest: Manifest,
        model_path: PathBuf,
        provider: Provider,
        policy: &LicencePolicy,
    ) -> Result<Self> {
        manifest.validate()?;
        policy.check(&manifest)?;
        manifest.verify_model(&model_path)?;
        let session = SessionCache::global().get(&model_path, provider, None)?;
        let (output_indices, constants) = check_model(&manifest, &model_path, &session)?;
        Ok(InferencePipeline {
            manifest,
            model_path,
            requested: provider,
            session,
            output_indices,
            constants,
            scratch: Mutex::new(Vec::new()),
        })
    }

    /// The manifest this pipeline runs.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model file.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The provider the model actually runs on (never `Auto`).
    pub fn provider_in_use(&self) -> Provider {
        self.session.provider()
    }

    /// Why a GPU was not used for an `Auto` request, if one was tried.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.session.fallback_reason()
    }

    /// The distinct (clip, frame offset) pairs the render needs, in manifest order.
    pub fn required_inputs(&self) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = Vec::new();
        for input in self.manifest.image_inputs() {
            let key = (input.clip.clone(), input.frame_offset);
            if !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    /// The region of the input frame needed to render `window`: the window grown by the
    /// manifest's context (within `frame`), or the whole frame when the model has no bounded
    /// context or a fixed size.
    pub fn region_of_interest(&self, window: Rect, frame: Rect) -> Rect {
        match (self.manifest.size, self.manifest.context) {
            (Size::Dynamic { .. }, Some(context)) => window
                .grow(context.min(i32::MAX as u32) as i32)
                .intersect(&frame),
            _ => frame,
        }
    }

    /// The first output, which [`InferencePipeline::render`] writes; an error for data models.
    fn image_output(&self) -> Result<&ImageOutput> {
        match &self.manifest.outputs[0] {
            Output::Image(o) => Ok(o),
            other => Err(Error::new(format!(
                "model '{}' ({}) produces data, not an image: its first output '{}' is a {} output. \
                 It is read by effects that use detections, landmarks or embeddings, not rendered as a picture",
                self.manifest.name,
                self.model_path.display(),
                other.name(),
                other.kind_name()
            ))),
        }
    }

    /// Renders `req.window` into `output`. On error (including cancellation) nothing is written.
    pub fn render(&self, req: &RenderRequest, output: &mut ImageViewMut) -> Result<()> {
        self.render_with_constants(req, &[], output)
    }

    /// Like [`InferencePipeline::render`], with values for constant inputs instead of their
    /// manifest `value` (e.g. the input with role `timestep`), by name.
    pub fn render_with_constants(
        &self,
        req: &RenderRequest,
        constants: &[(&str, &[f32])],
        output: &mut ImageViewMut,
    ) -> Result<()> {
        let output_spec = self.image_output()?;
        let window = req.window.intersect(&output.bounds());
        if window.is_empty() {
            return Ok(());
        }
        let consts = self.constant_values(constants)?;
        let first = self
            .manifest
            .image_inputs()
            .next()
            .expect("validated manifest has an image input");
        let primary = find_input(req, first)?;
        let area = self.region_of_interest(req.window, primary.image.bounds());
        if area.is_empty() {
            return Err(Error::new(format!(
                "clip '{}' has no pixels around the render window {:?} (its image covers {:?})",
                first.clip,
                req.window,
                primary.image.bounds()
            )));
        }

        if self.fused_applies(req, area)? {
            return self.render_fused(req, area, window, &consts, output);
        }

        // Host pixels of the area, one image per manifest image input, in the model's colour space.
        let mut host: Option<FloatImage> = None;
        let mut model_inputs: Vec<FloatImage> = Vec::new();
        for (i, input) in self.manifest.image_inputs().enumerate() {
            let view = find_input(req, input)?;
            let mut img = FloatImage::from_view(&view.image, area);
            colour::sanitize(&mut img.data);
            if i == 0 {
                host = Some(img.clone());
            }
            colour::convert_image(&mut img, req.frame_colour, input.colour_space);
            if i == 0 && output_spec.apply == Apply::Change {
                // The model sees what it can represent; the rest stays in the plate.
                img.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
            }
            model_inputs.push(img);
        }
        let host = host.expect("at least one image input");

        let (tile, overlap) = match self.manifest.tiling {
            Some(t) => (t.tile, t.overlap),
            None => (0, 0),
        };
        let tiles = tiling::plan_tiles(area, tile, overlap);
        let mut scratch = self.take_scratch();
        let result = self.render_tiles(
            req,
            &tiles,
            area,
            &host,
            &model_inputs,
            &consts,
            &mut scratch,
        );
        self.give_back_scratch(scratch);
        let result = result?;
        result.write_to(output, window);
        Ok(())
    }

    /// Whether [`Self::render_fused`] can render `area`: a `dynamic` model (the region at its
    /// own size, perhaps padded) that needs no tiles, with every input image non-empty.
    fn fused_applies(&self, req: &RenderRequest, area: Rect) -> Result<bool> {
        if !matches!(self.manifest.size, Size::Dynamic { .. }) {
            return Ok(false);
        }
        if let Some(t) = self.manifest.tiling {
            let tiles = tiling::plan_tiles(area, t.tile, t.overlap);
            if tiles.len() != 1 || tiles[0].input != area {
                return Ok(false);
            }
        }
        for input in self.manifest.image_inputs() {
            if find_input(req, input)?.image.bounds().is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The common case in one pass each way (see [`crate::fused`]): host views straight into
    /// the reused input tensors, the output tensor straight into `output`.
    fn render_fused(
        &self,
        req: &RenderRequest,
        area: Rect,
        window: Rect,
        consts: &[ConstantFeed],
        output: &mut ImageViewMut,
    ) -> Result<()> {
        let out_spec = self.image_output()?;
        let mapping = FitMapping::new(self.manifest.size, area);
        let size = (mapping.model_width, mapping.model_height);
        let threads = fused::threads_for(size.0 as usize * size.1 as usize);
        let specs: Vec<&ImageInput> = self.manifest.image_inputs().collect();
        let change = out_spec.apply == Apply::Change;
        let mut scratch = self.take_scratch();
        let result = (|| {
            scratch.tensors.resize_with(specs.len(), Vec::new);
            let mut shapes = Vec::with_capacity(specs.len());
            for (i, (spec, buf)) in specs.iter().zip(scratch.tensors.iter_mut()).enumerate() {
                let view = find_input(req, spec)?;
                let pack = fused::PackSpec {
                    layout: spec.layout,
                    channels: spec.channels,
                    normalisation: &spec.normalisation,
                    frame_colour: req.frame_colour,
                    model_colour: spec.colour_space,
                    clamp: i == 0 && change,
                };
                fused::pack_view(&view.image, area, size, &pack, threads, buf)?;
                shapes.push(grid_shape(
                    spec.layout,
                    spec.channels.count(),
                    size.0,
                    size.1,
                ));
            }
            if (req.is_cancelled)() {
                return Err(Error::new(CANCELLED));
            }
            let feeds = self.feeds(&scratch.tensors, &shapes, consts);
            let session = self.session_for(&feeds)?;
            let out_shape = session.run(&feeds, self.output_indices[0], &mut scratch.output)?;
            drop(feeds);
            self.check_image_output_shape(out_spec, &out_shape, size.0, size.1)?;
            let unpack = fused::UnpackSpec {
                tensor: &scratch.output,
                residual: (out_spec.apply == Apply::Residual).then_some(&scratch.tensors[0][..]),
                layout: out_spec.layout,
                channels: out_spec.channels,
                normalisation: &out_spec.normalisation(),
                model_colour: out_spec.colour_space,
                frame_colour: req.frame_colour,
                apply: out_spec.apply,
                input_colour: specs[0].colour_space,
            };
            let plate = find_input(req, specs[0])?;
            fused::unpack_to_view(&unpack, &plate.image, area, size, window, output, threads)?;
            (req.progress)(1.0);
            Ok(())
        })();
        self.give_back_scratch(scratch);
        result
    }

    /// The first output's shape after a run on a `mw` x `mh` input, against the manifest.
    fn check_image_output_shape(
        &self,
        out_spec: &ImageOutput,
        out_shape: &[i64],
        mw: u32,
        mh: u32,
    ) -> Result<()> {
        let expected = grid_shape(out_spec.layout, out_spec.channels.count(), mw, mh);
        if out_shape == expected {
            return Ok(());
        }
        Err(Error::new(format!(
            "model output '{}' has shape {:?} but the manifest (layout {:?}, channels '{}') and the {}x{} input make {:?}",
            out_spec.name,
            out_shape,
            out_spec.layout,
            out_spec.channels.name(),
            mw,
            mh,
            expected
        )))
    }

    #[allow(clippy::too_many_arguments)]
    fn render_tiles(
        &self,
        req: &RenderRequest,
        tiles: &[tiling::Tile],
        area: Rect,
        host: &FloatImage,
        model_inputs: &[FloatImage],
        consts: &[(&str, &[i64], &[f32])],
        scratch: &mut Scratch,
    ) -> Result<FloatImage> {
        let n = tiles.len();
        if n == 1 && tiles[0].input == area {
            if (req.is_cancelled)() {
                return Err(Error::new(CANCELLED));
            }
            let out =
                self.render_region(req.frame_colour, area, host, model_inputs, consts, scratch)?;
            (req.progress)(1.0);
            return Ok(out);
        }
        let mut acc = TileAccumulator::new(area);
        for (i, t) in tiles.iter().enumerate() {
            if (req.is_cancelled)() {
                return Err(Error::new(CANCELLED));
            }
            let host_tile = resize::crop(host, t.input);
            let inputs: Vec<FloatImage> = model_inputs
                .iter()
                .map(|img| resize::crop(img, t.input))
                .collect();
            let out = self.render_region(
                req.frame_colour,
                t.input,
                &host_tile,
                &inputs,
                consts,
                scratch,
            )?;
            acc.add(t, &out)?;
            (req.progress)((i + 1) as f64 / n as f64);
        }
        Ok(acc.finish())
    }

    /// Packs every fitted image input into `buffers`; returns their shapes.
    fn pack_inputs(
        &self,
        fitted: &[Cow<FloatImage>],
        buffers: &mut Vec<Vec<f32>>,
    ) -> Result<Vec<Vec<i64>>> {
        let model_rect = fitted[0].bounds;
        let (mw, mh) = (model_rect.width(), model_rect.height());
        let image_inputs: Vec<&ImageInput> = self.manifest.image_inputs().collect();
        buffers.resize_with(image_inputs.len(), Vec::new);
        let mut shapes: Vec<Vec<i64>> = Vec::with_capacity(image_inputs.len());
        for ((spec, img), buf) in image_inputs.iter().zip(fitted).zip(buffers.iter_mut()) {
            if img.bounds.width() != mw || img.bounds.height() != mh {
                return Err(Error::new(format!(
                    "input '{}' is {}x{} but the first input is {}x{}; all image inputs must cover the same region",
                    spec.name,
                    img.bounds.width(),
                    img.bounds.height(),
                    mw,
                    mh
                )));
            }
            tensor::pack_into(
                img,
                img.bounds,
                spec.layout,
                spec.channels,
                &spec.normalisation,
                buf,
            )?;
            shapes.push(grid_shape(spec.layout, spec.channels.count(), mw, mh));
        }
        Ok(shapes)
    }

    /// The feeds for one run: packed image inputs, then the constants.
    fn feeds<'f>(
        &'f self,
        buffers: &'f [Vec<f32>],
        shapes: &'f [Vec<i64>],
        consts: &'f [(&'f str, &'f [i64], &'f [f32])],
    ) -> Vec<InputTensor<'f>> {
        let mut feeds: Vec<InputTensor> = Vec::with_capacity(shapes.len() + consts.len());
        for ((spec, buf), shape) in self.manifest.image_inputs().zip(buffers).zip(shapes) {
            feeds.push(InputTensor {
                name: &spec.name,
                shape,
                data: buf,
            });
        }
        for (name, shape, value) in consts {
            feeds.push(InputTensor {
                name,
                shape,
                data: value,
            });
        }
        feeds
    }

    /// The constant inputs' (name, shape, values), with `overrides` in place of manifest values.
    fn constant_values<'s>(
        &'s self,
        overrides: &[(&str, &'s [f32])],
    ) -> Result<Vec<ConstantFeed<'s>>> {
        for (name, value) in overrides {
            let Some((_, _, default)) = self.constants.iter().find(|(n, _, _)| n == name) else {
                let known: Vec<String> = self
                    .constants
                    .iter()
                    .map(|(n, _, _)| format!("'{n}'"))
                    .collect();
                return Err(Error::new(format!(
                    "model '{}' has no constant input '{name}' to set (its constant inputs: {})",
                    self.manifest.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            };
            if value.len() != default.len() {
                return Err(Error::new(format!(
                    "constant input '{name}' of model '{}' takes {} values, {} were given",
                    self.manifest.name,
                    default.len(),
                    value.len()
                )));
            }
            if !value.iter().all(|v| v.is_finite()) {
                return Err(Error::new(format!(
                    "constant input '{name}' of model '{}' was given a value that is not a finite number",
                    self.manifest.name
                )));
            }
        }
        Ok(self
            .constants
            .iter()
            .map(|(name, shape, default)| {
                let value = overrides
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(default.as_slice(), |(_, v)| *v);
                (name.as_str(), shape.as_slice(), value)
            })
            .collect())
    }

    /// Runs the model on one region (images cover exactly `region`) and returns the combined
    /// result in the frame's colour space over `region`.
    fn render_region(
        &self,
        frame_colour: ColourSpace,
        region: Rect,
        host: &FloatImage,
        inputs: &[FloatImage],
        consts: &[(&str, &[i64], &[f32])],
        scratch: &mut Scratch,
    ) -> Result<FloatImage> {
        let out_spec = self.image_output()?;
        let mapping = FitMapping::new(self.manifest.size, region);
        // Fit to the model: pad (dynamic), resize (fixed) or letterbox.
        let fitted: Vec<Cow<FloatImage>> =
            inputs.iter().map(|img| self.fit(img, &mapping)).collect();
        let model_rect = fitted[0].bounds;
        let (mw, mh) = (model_rect.width(), model_rect.height());

        let shapes = self.pack_inputs(&fitted, &mut scratch.tensors)?;
        let feeds = self.feeds(&scratch.tensors, &shapes, consts);
        let session = self.session_for(&feeds)?;
        let out_shape = session.run(&feeds, self.output_indices[0], &mut scratch.output)?;
        drop(feeds);
        self.check_image_output_shape(out_spec, &out_shape, mw, mh)?;
        colour::sanitize(&mut scratch.output);
        if out_spec.apply == Apply::Residual {
            // Added to the model's own input tensor (same layout and channels, validated).
            for (o, i) in scratch.output.iter_mut().zip(&scratch.tensors[0]) {
                *o += *i;
            }
        }

        // Unpack over a copy of the model's first input (so channels the output lacks are defined).
        let first_in = self
            .manifest
            .image_inputs()
            .next()
            .expect("validated manifest has an image input");
        let mut model_out = fitted[0].clone().into_owned();
        tensor::unpack(
            &scratch.output,
            out_spec.layout,
            out_spec.channels,
            &out_spec.normalisation(),
            AlphaUnpack::AlphaOnly,
            &mut model_out,
            model_rect,
        )?;

        // Back to the region's size and the frame's colour space.
        let mut out = self.unfit(model_out, &mapping);
        colour::convert_image(&mut out, out_spec.colour_space, frame_colour);
        let produced = produced_components(out_spec.channels);
        match out_spec.apply {
            Apply::Replace | Apply::Residual => {
                for (o, h) in out.data.chunks_exact_mut(4).zip(host.data.chunks_exact(4)) {
                    for c in 0..4 {
                        if !produced[c] {
                            o[c] = h[c];
                        }
                    }
                }
            }
            Apply::Change => {
                let mut model_in = self.unfit(fitted[0].clone().into_owned(), &mapping);
                colour::convert_image(&mut model_in, first_in.colour_space, frame_colour);
                for ((o, h), i) in out
                    .data
                    .chunks_exact_mut(4)
                    .zip(host.data.chunks_exact(4))
                    .zip(model_in.data.chunks_exact(4))
                {
                    for c in 0..4 {
                        o[c] = if produced[c] {
                            h[c] + (o[c] - i[c])
                        } else {
                            h[c]
                        };
                    }
                }
            }
        }
        Ok(out)
    }

    /// Runs the model once on images already cut out by the caller and returns every manifest
    /// output as raw f32 tensors, after the same input preparation as a render (NaN/inf
    /// replaced, colour conversion, normalisation, size fitting: padding, resize or
    /// letterbox). No tiling: the whole region goes through in one run. For `dynamic` models
    /// (padding only) each image goes straight into its tensor in one row-parallel pass
    /// ([`fused::pack_image`], the same values); resize and letterbox take whole-image steps.
    /// The returned
    /// [`FitMapping`] maps model coordinates (detections, landmarks, flow vectors) back to the
    /// images' frame coordinates.
    pub fn infer(&self, req: &InferRequest) -> Result<Inferred> {
        let specs: Vec<&ImageInput> = self.manifest.image_inputs().collect();
        let spec_names = || {
            specs
                .iter()
                .map(|s| format!("'{}'", s.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (name, _) in req.images {
            if !specs.iter().any(|s| s.name == *name) {
                return Err(Error::new(format!(
                    "model '{}' has no image input '{name}'; its image inputs are {}",
                    self.manifest.name,
                    spec_names()
                )));
            }
        }
        let consts = self.constant_values(req.constants)?;
        let clamp_first = matches!(
            self.manifest.outputs.first(),
            Some(Output::Image(o)) if o.apply == Apply::Change
        );
        let mut region: Option<Rect> = None;
        let mut images: Vec<&FloatImage> = Vec::with_capacity(specs.len());
        for spec in &specs {
            let Some((_, img)) = req.images.iter().find(|(n, _)| *n == spec.name) else {
                return Err(Error::new(format!(
                    "no image was given for input '{}' of model '{}' (give one per image input: {})",
                    spec.name,
                    self.manifest.name,
                    spec_names()
                )));
            };
            let r = *region.get_or_insert(img.bounds);
            if img.bounds != r || r.is_empty() {
                return Err(Error::new(format!(
                    "image for input '{}' covers {:?} but the first covers {:?}; all image inputs must cover the same non-empty region",
                    spec.name, img.bounds, r
                )));
            }
            if img.data.len() != 4 * r.area() {
                return Err(Error::new(format!(
                    "image for input '{}' holds {} values but {:?} needs {} (RGBA)",
                    spec.name,
                    img.data.len(),
                    r,
                    4 * r.area()
                )));
            }
            images.push(img);
        }
        let region = region.expect("validated manifest has an image input");
        let mapping = FitMapping::new(self.manifest.size, region);

        let mut scratch = self.take_scratch();
        let result = (|| -> Result<Vec<NamedTensor>> {
            let (mw, mh, shapes) = if matches!(self.manifest.size, Size::Dynamic { .. }) {
                // Padding only: each image goes straight into its tensor in one pass.
                let size = (mapping.model_width, mapping.model_height);
                let threads = fused::threads_for(size.0 as usize * size.1 as usize);
                scratch.tensors.resize_with(specs.len(), Vec::new);
                let mut shapes = Vec::with_capacity(specs.len());
                for (i, ((spec, img), buf)) in specs
                    .iter()
                    .zip(&images)
                    .zip(scratch.tensors.iter_mut())
                    .enumerate()
                {
                    let pack = fused::PackSpec {
                        layout: spec.layout,
                        channels: spec.channels,
                        normalisation: &spec.normalisation,
                        frame_colour: req.frame_colour,
                        model_colour: spec.colour_space,
                        clamp: i == 0 && clamp_first,
                    };
                    fused::pack_image(img, size, &pack, threads, buf)?;
                    shapes.push(grid_shape(
                        spec.layout,
                        spec.channels.count(),
                        size.0,
                        size.1,
                    ));
                }
                (size.0, size.1, shapes)
            } else {
                let mut prepared: Vec<FloatImage> = Vec::with_capacity(specs.len());
                for (i, (spec, img)) in specs.iter().zip(&images).enumerate() {
                    let mut img = (*img).clone();
                    colour::sanitize(&mut img.data);
                    colour::convert_image(&mut img, req.frame_colour, spec.colour_space);
                    if i == 0 && clamp_first {
                        img.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 1.0));
                    }
                    prepared.push(img);
                }
                let fitted: Vec<Cow<FloatImage>> =
                    prepared.iter().map(|img| self.fit(img, &mapping)).collect();
                let (mw, mh) = (fitted[0].bounds.width(), fitted[0].bounds.height());
                let shapes = self.pack_inputs(&fitted, &mut scratch.tensors)?;
                (mw, mh, shapes)
            };
            let feeds = self.feeds(&scratch.tensors, &shapes, &consts);
            let session = self.session_for(&feeds)?;
            let results = session.run_many(&feeds, &self.output_indices)?;
            drop(feeds);

            let mut outputs = Vec::with_capacity(results.len());
            for (spec, (shape, data)) in self.manifest.outputs.iter().zip(results) {
                check_output_shape(spec, &shape, mw, mh).map_err(|detail| {
                    Error::new(format!(
                        "model {} output '{}': {detail}",
                        self.model_path.display(),
                        spec.name()
                    ))
                })?;
                outputs.push(NamedTensor {
                    name: spec.name().to_string(),
                    shape: shape.iter().map(|d| *d as usize).collect(),
                    data,
                });
            }
            Ok(outputs)
        })();
        self.give_back_scratch(scratch);
        let outputs = result?;
        Ok(Inferred { outputs, mapping })
    }

    /// Fits a region's image to the model (see [`FitMapping`]). Model-space images start at the
    /// region's origin, or cover the padded area for `dynamic`.
    fn fit<'i>(&self, img: &'i FloatImage, mapping: &FitMapping) -> Cow<'i, FloatImage> {
        let b = img.bounds;
        let model_rect = |w: u32, h: u32| Rect::new(b.x1, b.y1, b.x1 + w as i32, b.y1 + h as i32);
        match self.manifest.size {
            Size::Dynamic { multiple } => {
                let (w, h) = (b.width(), b.height());
                if multiple <= 1 || (w % multiple == 0 && h % multiple == 0) {
                    Cow::Borrowed(img)
                } else {
                    Cow::Owned(resize::pad_to_multiple(img, multiple).0)
                }
            }
            Size::Fixed {
                width,
                height,
                fit: Fit::Stretch,
            } => {
                if b.width() == width && b.height() == height {
                    Cow::Borrowed(img)
                } else {
                    Cow::Owned(resize::resize_to(img, model_rect(width, height)))
                }
            }
            Size::Fixed {
                width,
                height,
                fit: Fit::Letterbox,
            } => {
                if b.width() == width && b.height() == height {
                    return Cow::Borrowed(img);
                }
                // Black bars (transparent black: 0 in every colour encoding), then resize.
                let mut padded = FloatImage::new(mapping.covered);
                for y in b.y1..b.y2 {
                    let x0 = 4 * (b.x1 - mapping.covered.x1) as usize;
                    padded.row_mut(y)[x0..x0 + 4 * b.width() as usize].copy_from_slice(img.row(y));
                }
                Cow::Owned(resize::resize_to(&padded, model_rect(width, height)))
            }
        }
    }

    /// Inverse of [`Self::fit`]: crop the padding away, or resize back to the region.
    fn unfit(&self, img: FloatImage, mapping: &FitMapping) -> FloatImage {
        let region = mapping.region;
        if img.bounds == region {
            return img;
        }
        match self.manifest.size {
            Size::Dynamic { .. } => resize::crop(&img, region),
            Size::Fixed {
                fit: Fit::Stretch, ..
            } => resize::resize_to(&img, region),
            Size::Fixed {
                fit: Fit::Letterbox,
                ..
            } => resize::crop(&resize::resize_to(&img, mapping.covered), region),
        }
    }

    fn session_for(&self, feeds: &[InputTensor]) -> Result<Arc<SharedSession>> {
        if self.session.provider() == Provider::TensorRt {
            // TensorRT engines are built per set of input shapes.
            let shapes: Vec<(&str, &[i64])> = feeds.iter().map(|f| (f.name, f.shape)).collect();
            SessionCache::global().get(&self.model_path, Provider::TensorRt, Some(&shapes))
        } else {
            Ok(self.session.clone())
        }
    }

    fn take_scratch(&self) -> Scratch {
        self.scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give_back_scratch(&self, scratch: Scratch) {
        let mut pool = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(scratch);
        }
    }

    /// The provider that was asked for when the pipeline was made.
    pub fn provider_requested(&self) -> Provider {
        self.requested
    }
}

/// Which RGBA components an output with these channels writes.
fn produced_components(order: ChannelOrder) -> [bool; 4] {
    let mut p = [false; 4];
    for &s in order.sources() {
        p[s] = true;
    }
    p
}

fn find_input<'r, 'a>(
    req: &'r RenderRequest<'a>,
    input: &ImageInput,
) -> Result<&'r InputImage<'a>> {
    req.inputs
        .iter()
        .find(|i| i.clip == input.clip && i.frame_offset == input.frame_offset)
        .ok_or_else(|| {
            Error::new(format!(
                "no image from clip '{}' at frame offset {} was given for model input '{}'; is the clip connected?",
                input.clip, input.frame_offset, input.name
            ))
        })
}

/// Checks an output's real shape after a run on a `mw` x `mh` model input.
fn check_output_shape(
    spec: &Output,
    shape: &[i64],
    mw: u32,
    mh: u32,
) -> std::result::Result<(), String> {
    let expected: Vec<Option<i64>> = match spec {
        Output::Image(o) => grid_shape(o.layout, o.channels.count(), mw, mh)
            .into_iter()
            .map(Some)
            .collect(),
        Output::Flow(o) => grid_shape(o.layout, o.channel_count(), mw, mh)
            .into_iter()
            .map(Some)
            .collect(),
        Output::Tensor(o) => o
            .shape
            .iter()
            .map(|d| d.resolve(mw, mh).map(|v| v as i64))
            .collect(),
    };
    let matches = expected.len() == shape.len()
        && expected
            .iter()
            .zip(shape)
            .all(|(e, s)| e.is_none_or(|e| e == *s));
    if matches {
        return Ok(());
    }
    let want: Vec<String> = expected
        .iter()
        .map(|e| e.map_or("?".to_string(), |v| v.to_string()))
        .collect();
    Err(format!(
        "has shape {shape:?} but the manifest and the {mw}x{mh} model input make [{}]",
        want.join(", ")
    ))
}

/// Checks the manifest against the model's real inputs/outputs. Returns, for each manifest
/// output, its index among the model's outputs, and the constant inputs with resolved shapes.
#[allow(clippy::type_complexity)]
fn check_model(
    manifest: &Manifest,
    model_path: &Path,
    session: &SharedSession,
) -> Result<(Vec<usize>, Vec<(String, Vec<i64>, Vec<f32>)>)> {
    let err = |detail: String| {
        Error::new(format!(
            "model {} does not match its manifest {}: {detail}",
            model_path.display(),
            manifest.source.display()
        ))
    };
    let names = |list: &[TensorInfo]| {
        list.iter()
            .map(|t| format!("'{}'", t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for model_input in session.inputs() {
        if !manifest.inputs.iter().any(|i| i.name() == model_input.name) {
            return Err(err(format!(
                "model input '{}' is not described in the manifest (add it to `inputs`)",
                model_input.name
            )));
        }
    }
    let find_in = |name: &str| {
        session
            .inputs()
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| {
                err(format!(
                    "the model has no input '{name}'; its inputs are {}",
                    names(session.inputs())
                ))
            })
    };
    for input in manifest.image_inputs() {
        let info = find_in(&input.name)?;
        check_image_tensor(
            &format!("input '{}'", input.name),
            info,
            input.layout,
            input.channels,
            manifest.size,
        )
        .map_err(err)?;
    }
    let mut constants = Vec::new();
    for c in manifest.constant_inputs() {
        let info = find_in(&c.name)?;
        let shape = constant_shape(&info.shape, c.value.len()).ok_or_else(|| {
            err(format!(
                "constant input '{}' gives {} values but the model's shape is {:?}",
                c.name,
                c.value.len(),
                info.shape
            ))
        })?;
        constants.push((c.name.clone(), shape, c.value.clone()));
    }
    let mut output_indices = Vec::with_capacity(manifest.outputs.len());
    for out in &manifest.outputs {
        let Some(pos) = session.outputs().iter().position(|t| t.name == out.name()) else {
            return Err(err(format!(
                "the model has no output '{}'; its outputs are {}",
                out.name(),
                names(session.outputs())
            )));
        };
        check_output(out, &session.outputs()[pos], manifest.size).map_err(err)?;
        output_indices.push(pos);
    }
    Ok((output_indices, constants))
}

fn check_output(out: &Output, info: &TensorInfo, size: Size) -> std::result::Result<(), String> {
    let what = format!("output '{}'", out.name());
    match out {
        Output::Image(o) => check_image_tensor(&what, info, o.layout, o.channels, size),
        Output::Flow(o) => check_grid_tensor(
            &what,
            info,
            o.layout,
            o.channel_count(),
            &format!("a flow into {} input(s)", o.flows.len()),
            size,
        ),
        Output::Tensor(o) => check_tensor(&what, info, &o.shape, size),
    }
}

/// A tensor output's declared shape against the model's.
fn check_tensor(
    what: &str,
    info: &TensorInfo,
    shape: &[Dim],
    size: Size,
) -> std::result::Result<(), String> {
    if !is_float(info) {
        return Err(format!(
            "{what} has element type {:?}; outputs must be float, half or double",
            info.element_type
        ));
    }
    if info.rank() != shape.len() {
        return Err(format!(
            "{what} has rank {} (shape {:?}) but the manifest's shape {} has {} entries",
            info.rank(),
            info.shape,
            shape_text(shape),
            shape.len()
        ));
    }
    let fixed = match size {
        Size::Fixed { width, height, .. } => Some((width, height)),
        Size::Dynamic { .. } => None,
    };
    for (k, (d, &m)) in shape.iter().zip(&info.shape).enumerate() {
        if m < 0 {
            continue; // free in the model: checked after each run
        }
        let want = match (d, fixed) {
            (Dim::Fixed(n), _) => Some(*n as i64),
            (Dim::Batch, _) => (m > 1).then_some(1),
            (_, Some((w, h))) => d.resolve(w, h).map(|v| v as i64),
            (_, None) => {
                return Err(format!(
                    "{what} has a fixed dimension {m} at axis {k} (shape {:?}) but the manifest says \"{}\", which follows the dynamic input size",
                    info.shape,
                    d.text()
                ));
            }
        };
        if let Some(want) = want
            && want != m
        {
            return Err(format!(
                "{what} has shape {:?} but the manifest's shape {} makes {want} at axis {k}",
                info.shape,
                shape_text(shape)
            ));
        }
    }
    Ok(())
}

fn check_image_tensor(
    what: &str,
    info: &TensorInfo,
    layout: Layout,
    channels: ChannelOrder,
    size: Size,
) -> std::result::Result<(), String> {
    check_grid_tensor(
        what,
        info,
        layout,
        channels.count(),
        &format!("channels '{}'", channels.name()),
        size,
    )
}

/// An image-like tensor (`[1, C, H, W]` or `[1, H, W, C]`) against the manifest.
fn check_grid_tensor(
    what: &str,
    info: &TensorInfo,
    layout: Layout,
    channel_count: usize,
    channels_label: &str,
    size: Size,
) -> std::result::Result<(), String> {
    if !is_float(info) {
        return Err(format!(
            "{what} has element type {:?}; image tensors must be float, half or double",
            info.element_type
        ));
    }
    if info.rank() != 4 {
        return Err(format!(
            "{what} has rank {} (shape {:?}) but an image tensor in layout {:?} has rank 4",
            info.rank(),
            info.shape,
            layout
        ));
    }
    let (c, h, w) = chw_axes(layout);
    let s = &info.shape;
    if s[0] > 1 {
        return Err(format!(
            "{what} has batch size {} (shape {:?}); only batch 1 is supported",
            s[0], s
        ));
    }
    if s[c] >= 0 && s[c] as usize != channel_count {
        return Err(format!(
            "{what} has {} channels at axis {c} (shape {:?}, layout {:?}) but {channels_label} needs {channel_count}",
            s[c], s, layout,
        ));
    }
    match size {
        Size::Fixed { width, height, .. } => {
            if (s[h] >= 0 && s[h] != height as i64) || (s[w] >= 0 && s[w] != width as i64) {
                return Err(format!(
                    "{what} is {}x{} (shape {:?}) but the manifest's fixed size is {width}x{height}",
                    s[w], s[h], s
                ));
            }
        }
        Size::Dynamic { .. } => {
            if s[h] >= 0 || s[w] >= 0 {
                return Err(format!(
                    "{what} has a fixed size (shape {:?}) but the manifest says size mode \"dynamic\"; \
                     use {{\"mode\": \"fixed\", \"width\": {}, \"height\": {}}}",
                    s,
                    s[w].max(0),
                    s[h].max(0)
                ));
            }
        }
    }
    Ok(())
}

/// The shape to feed a constant of `len` values into an input declared as `declared`
/// (`-1` = free): free dimensions become 1, or take up the remaining values when exactly one
/// is free. `None` when the counts cannot agree.
fn constant_shape(declared: &[i64], len: usize) -> Option<Vec<i64>> {
    let known: i64 = declared.iter().filter(|d| **d >= 0).product();
    let free = declared.iter().filter(|d| **d < 0).count();
    let len = len as i64;
    let shape: Vec<i64> = match free {
        0 => declared.to_vec(),
        1 if known > 0 && len % known == 0 => declared
            .iter()
            .map(|d| if *d < 0 { len / known } else { *d })
            .collect(),
        _ => declared
            .iter()
            .map(|d| if *d < 0 { 1 } else { *d })
            .collect(),
    };
    (shape.iter().product::<i64>() == len).then_some(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_shapes() {
        assert_eq!(constant_shape(&[], 1), Some(vec![]));
        assert_eq!(constant_shape(&[1], 1), Some(vec![1]));
        assert_eq!(constant_shape(&[1, 1, 1, 1], 1), Some(vec![1, 1, 1, 1]));
        assert_eq!(constant_shape(&[-1, 2], 6), Some(vec![3, 2]));
        assert_eq!(constant_shape(&[-1, -1], 1), Some(vec![1, 1]));
        assert_eq!(constant_shape(&[2], 3), None);
        assert_eq!(constant_shape(&[-1, 4], 6), None);
    }

    fn info(shape: &[i64]) -> TensorInfo {
        TensorInfo {
            name: "x".into(),
            shape: shape.to_vec(),
            element_type: Some(ort::value::TensorElementType::Float32),
        }
    }

    #[test]
    fn image_tensor_checks() {
        let dynamic = Size::Dynamic { multiple: 1 };
        let fixed = Size::Fixed {
            width: 256,
            height: 128,
            fit: Fit::Stretch,
        };
        assert!(
            check_image_tensor(
                "input 'x'",
                &info(&[1, 3, -1, -1]),
                Layout::Nchw,
                ChannelOrder::Rgb,
                dynamic
            )
            .is_ok()
        );
        assert!(
            check_image_tensor(
                "input 'x'",
                &info(&[-1, -1, -1, 4]),
                Layout::Nhwc,
                ChannelOrder::Rgba,
                dynamic
            )
            .is_ok()
        );
        let e = check_image_tensor(
            "input 'x'",
            &info(&[1, 3, -1, -1]),
            Layout::Nchw,
            ChannelOrder::Rgba,
            dynamic,
        )
        .unwrap_err();
        assert!(e.contains("has 3 channels") && e.contains("needs 4"), "{e}");
        let e = check_image_tensor(
            "input 'x'",
            &info(&[1, 3, 64]),
            Layout::Nchw,
            ChannelOrder::Rgb,
            dynamic,
        )
        .unwrap_err();
        assert!(e.contains("rank 3"), "{e}");
        let e = check_image_tensor(
            "input 'x'",
            &info(&[1, 3, 128, 256]),
            Layout::Nchw,
            ChannelOrder::Rgb,
            dynamic,
        )
        .unwrap_err();
        assert!(e.contains("\"width\": 256, \"height\": 128"), "{e}");
        assert!(
            check_image_tensor(
                "input 'x'",
                &info(&[1, 3, 128, 256]),
                Layout::Nchw,
                ChannelOrder::Rgb,
                fixed
            )
            .is_ok()
        );
        let e = check_image_tensor(
            "input 'x'",
            &info(&[1, 128, 128, 3]),
            Layout::Nhwc,
            ChannelOrder::Rgb,
            fixed,
        )
        .unwrap_err();
        assert!(e.contains("is 128x128") && e.contains("256x128"), "{e}");
        let e = check_image_tensor(
            "input 'x'",
            &info(&[2, 3, -1, -1]),
            Layout::Nchw,
            ChannelOrder::Rgb,
            dynamic,
        )
        .unwrap_err();
        assert!(e.contains("batch size 2"), "{e}");
    }

    #[test]
    fn produced() {
        assert_eq!(
            produced_components(ChannelOrder::Bgr),
            [true, true, true, false]
        );
        assert_eq!(
            produced_components(ChannelOrder::Alpha),
            [false, false, false, true]
        );
    }
}
