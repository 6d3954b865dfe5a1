//! The inference pipeline: host frames in, a manifest-described ONNX model run, host frame out.
//!
//! Per render: read the region the model needs from every input clip (edge replicate), replace
//! NaN/inf, convert the frame's colour encoding to the model's, fit the size (pad to a multiple
//! or resize to the fixed size), split into overlapping tiles when the manifest asks, pack
//! tensors, run, unpack the first output, convert back, combine with the plate (`replace`,
//! `residual`, `change`) and write only the render window. Nothing is written when the render
//! fails or is cancelled.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::colour::{self, ColourSpace};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::{FloatImage, ImageView, ImageViewMut};
use crate::manifest::{Apply, ImageInput, Manifest, Output, Size};
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

/// A model checked against its manifest, ready to render frames. Shared by render threads.
pub struct InferencePipeline {
    manifest: Manifest,
    model_path: PathBuf,
    requested: Provider,
    session: Arc<SharedSession>,
    /// Index of the first manifest output among the model's outputs.
    output_index: usize,
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

impl InferencePipeline {
    /// Checks the model file against the manifest's sha256, gets the shared session for
    /// `provider`, and checks the model's real inputs and outputs against the manifest.
    pub fn new(manifest: Manifest, model_path: PathBuf, provider: Provider) -> Result<Self> {
        manifest.validate()?;
        manifest.verify_model(&model_path)?;
        let session = SessionCache::global().get(&model_path, provider, None)?;
        let (output_index, constants) = check_model(&manifest, &model_path, &session)?;
        Ok(InferencePipeline {
            manifest,
            model_path,
            requested: provider,
            session,
            output_index,
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

    /// Renders `req.window` into `output`. On error (including cancellation) nothing is written.
    pub fn render(&self, req: &RenderRequest, output: &mut ImageViewMut) -> Result<()> {
        let window = req.window.intersect(&output.bounds());
        if window.is_empty() {
            return Ok(());
        }
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

        // Host pixels of the area, one image per manifest image input, in the model's colour space.
        let output_spec = &self.manifest.outputs[0];
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
        let result = self.render_tiles(req, &tiles, area, &host, &model_inputs, &mut scratch);
        self.give_back_scratch(scratch);
        let result = result?;
        result.write_to(output, window);
        Ok(())
    }

    fn render_tiles(
        &self,
        req: &RenderRequest,
        tiles: &[tiling::Tile],
        area: Rect,
        host: &FloatImage,
        model_inputs: &[FloatImage],
        scratch: &mut Scratch,
    ) -> Result<FloatImage> {
        let n = tiles.len();
        if n == 1 && tiles[0].input == area {
            if (req.is_cancelled)() {
                return Err(Error::new(CANCELLED));
            }
            let out = self.render_region(req.frame_colour, area, host, model_inputs, scratch)?;
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
            let out =
                self.render_region(req.frame_colour, t.input, &host_tile, &inputs, scratch)?;
            acc.add(t, &out)?;
            (req.progress)((i + 1) as f64 / n as f64);
        }
        Ok(acc.finish())
    }

    /// Runs the model on one region (images cover exactly `region`) and returns the combined
    /// result in the frame's colour space over `region`.
    fn render_region(
        &self,
        frame_colour: ColourSpace,
        region: Rect,
        host: &FloatImage,
        inputs: &[FloatImage],
        scratch: &mut Scratch,
    ) -> Result<FloatImage> {
        let out_spec = &self.manifest.outputs[0];
        // Fit to the model: pad (dynamic) or resize (fixed). Model-space images have bounds
        // starting at the region's origin.
        let fitted: Vec<std::borrow::Cow<FloatImage>> =
            inputs.iter().map(|img| self.fit(img)).collect();
        let model_rect = fitted[0].bounds;
        let (mw, mh) = (model_rect.width(), model_rect.height());

        // Pack every input.
        let image_inputs: Vec<&ImageInput> = self.manifest.image_inputs().collect();
        scratch.tensors.resize_with(image_inputs.len(), Vec::new);
        let mut shapes: Vec<Vec<i64>> = Vec::with_capacity(image_inputs.len());
        for ((spec, img), buf) in image_inputs
            .iter()
            .zip(&fitted)
            .zip(scratch.tensors.iter_mut())
        {
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
            shapes.push(
                tensor::tensor_shape(spec.layout, spec.channels, mw, mh)
                    .iter()
                    .map(|d| *d as i64)
                    .collect(),
            );
        }
        let mut feeds: Vec<InputTensor> =
            Vec::with_capacity(image_inputs.len() + self.constants.len());
        for ((spec, buf), shape) in image_inputs.iter().zip(&scratch.tensors).zip(&shapes) {
            feeds.push(InputTensor {
                name: &spec.name,
                shape,
                data: buf,
            });
        }
        for (name, shape, value) in &self.constants {
            feeds.push(InputTensor {
                name,
                shape,
                data: value,
            });
        }

        let session = self.session_for(&feeds)?;
        let out_shape = session.run(&feeds, self.output_index, &mut scratch.output)?;
        drop(feeds);
        let expected: Vec<i64> = tensor::tensor_shape(out_spec.layout, out_spec.channels, mw, mh)
            .iter()
            .map(|d| *d as i64)
            .collect();
        if out_shape != expected {
            return Err(Error::new(format!(
                "model output '{}' has shape {:?} but the manifest (layout {:?}, channels '{}') and the {}x{} input make {:?}",
                out_spec.name,
                out_shape,
                out_spec.layout,
                out_spec.channels.name(),
                mw,
                mh,
                expected
            )));
        }
        colour::sanitize(&mut scratch.output);
        if out_spec.apply == Apply::Residual {
            // Added to the model's own input tensor (same layout and channels, validated).
            for (o, i) in scratch.output.iter_mut().zip(&scratch.tensors[0]) {
                *o += *i;
            }
        }

        // Unpack over a copy of the model's first input (so channels the output lacks are defined).
        let first_in = &image_inputs[0];
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
        let mut out = self.unfit(model_out, region);
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
                let mut model_in = self.unfit(fitted[0].clone().into_owned(), region);
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

    /// Fits a region's image to the model: padded to the size multiple, or resized to the fixed size.
    fn fit<'i>(&self, img: &'i FloatImage) -> std::borrow::Cow<'i, FloatImage> {
        match self.manifest.size {
            Size::Dynamic { multiple } => {
                let (w, h) = (img.bounds.width(), img.bounds.height());
                if multiple <= 1 || (w % multiple == 0 && h % multiple == 0) {
                    std::borrow::Cow::Borrowed(img)
                } else {
                    std::borrow::Cow::Owned(resize::pad_to_multiple(img, multiple).0)
                }
            }
            Size::Fixed { width, height } => {
                if img.bounds.width() == width && img.bounds.height() == height {
                    std::borrow::Cow::Borrowed(img)
                } else {
                    let b = img.bounds;
                    std::borrow::Cow::Owned(resize::resize_to(
                        img,
                        Rect::new(b.x1, b.y1, b.x1 + width as i32, b.y1 + height as i32),
                    ))
                }
            }
        }
    }

    /// Inverse of [`Self::fit`]: crop the padding away, or resize back to `region`.
    fn unfit(&self, img: FloatImage, region: Rect) -> FloatImage {
        if img.bounds == region {
            return img;
        }
        match self.manifest.size {
            Size::Dynamic { .. } => resize::crop(&img, region),
            Size::Fixed { .. } => resize::resize_to(&img, region),
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

/// Checks the manifest against the model's real inputs/outputs. Returns the index of the first
/// manifest output among the model's outputs and the constant inputs with resolved shapes.
#[allow(clippy::type_complexity)]
fn check_model(
    manifest: &Manifest,
    model_path: &Path,
    session: &SharedSession,
) -> Result<(usize, Vec<(String, Vec<i64>, Vec<f32>)>)> {
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
    let mut output_index = 0;
    for (k, out) in manifest.outputs.iter().enumerate() {
        let Some(pos) = session.outputs().iter().position(|t| t.name == out.name) else {
            return Err(err(format!(
                "the model has no output '{}'; its outputs are {}",
                out.name,
                names(session.outputs())
            )));
        };
        if k == 0 {
            output_index = pos;
            check_output(out, &session.outputs()[pos], manifest.size).map_err(err)?;
        }
    }
    Ok((output_index, constants))
}

fn check_output(out: &Output, info: &TensorInfo, size: Size) -> std::result::Result<(), String> {
    check_image_tensor(
        &format!("output '{}'", out.name),
        info,
        out.layout,
        out.channels,
        size,
    )
}

fn check_image_tensor(
    what: &str,
    info: &TensorInfo,
    layout: Layout,
    channels: ChannelOrder,
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
    if s[c] >= 0 && s[c] as usize != channels.count() {
        return Err(format!(
            "{what} has {} channels at axis {c} (shape {:?}, layout {:?}) but channels '{}' needs {}",
            s[c],
            s,
            layout,
            channels.name(),
            channels.count()
        ));
    }
    match size {
        Size::Fixed { width, height } => {
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
