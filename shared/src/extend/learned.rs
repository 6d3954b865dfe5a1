//! The model slot for a learned frame predictor or generative extender.
//!
//! Contract (the manifest says it; nothing is hard-coded): every image input reads clip
//! `Source` at a frame offset `<= 0`, where offset 0 is the newest frame the model is given and
//! `-k` the frame `k` before it; the first output is an image, the next frame (offset +1).
//! Constant inputs keep their manifest values. The pipeline does the rest as for any model:
//! colour conversion, normalisation, size fitting, tiling, `apply` (`replace`, `residual`,
//! `change`), with the newest frame as the plate. To go `n` frames on, predictions are fed
//! back in. Frames before a shot are predicted the same way with time reversed (the first
//! frame as offset 0, the second as offset -1, ...).

use std::sync::Arc;

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::image::{Components, FloatImage, ImageView, ImageViewMut, PixelDepth};
use crate::pipeline::{InferencePipeline, InputImage, RenderRequest};

/// A frame predictor checked against the contract.
pub struct Extender {
    pipeline: Arc<InferencePipeline>,
    /// The distinct frame offsets it reads, most negative first (all <= 0).
    offsets: Vec<i32>,
}

impl std::fmt::Debug for Extender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extender")
            .field("model", &self.pipeline.model_path())
            .field("offsets", &self.offsets)
            .finish()
    }
}

fn bytes_of(img: &FloatImage) -> Vec<u8> {
    img.data.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

impl Extender {
    /// Checks that the pipeline's manifest follows the contract of the module docs.
    pub fn new(pipeline: Arc<InferencePipeline>) -> Result<Extender> {
        let m = pipeline.manifest();
        let bad = |why: String| {
            Error::new(format!(
                "model '{}' ({}) cannot extend a shot: {why}. An extender reads clip Source at \
                 frame offsets <= 0 (0 = the newest frame) and outputs the next frame",
                m.name,
                pipeline.model_path().display()
            ))
        };
        let mut offsets = Vec::new();
        for input in m.image_inputs() {
            if input.clip != "Source" {
                return Err(bad(format!(
                    "input '{}' reads clip '{}'",
                    input.name, input.clip
                )));
            }
            if input.frame_offset > 0 {
                return Err(bad(format!(
                    "input '{}' reads frame offset {} (a frame after the newest)",
                    input.name, input.frame_offset
                )));
            }
            offsets.push(input.frame_offset);
        }
        offsets.sort_unstable();
        offsets.dedup();
        if offsets.is_empty() {
            return Err(bad("it has no image input".into()));
        }
        if !matches!(m.outputs.first(), Some(crate::manifest::Output::Image(_))) {
            return Err(bad("its first output is not an image".into()));
        }
        Ok(Extender { pipeline, offsets })
    }

    /// How many frames of history it reads (newest included).
    pub fn history_len(&self) -> usize {
        (-self.offsets[0]) as usize + 1
    }

    /// The next frame after `history` (oldest first, newest last, all the same bounds; shorter
    /// histories repeat their oldest frame).
    pub fn predict(&self, history: &[&FloatImage], frame: ColourSpace) -> Result<FloatImage> {
        let newest = *history
            .last()
            .ok_or_else(|| Error::new("the extender was given no frames"))?;
        let b = newest.bounds;
        let row = 16 * b.width() as isize;
        let n = history.len() as i32;
        let buffers: Vec<(i32, Vec<u8>)> = self
            .offsets
            .iter()
            .map(|&o| {
                let i = (n - 1 + o).max(0) as usize;
                (o, bytes_of(history[i]))
            })
            .collect();
        let mut inputs = Vec::new();
        for (o, bytes) in &buffers {
            inputs.push(InputImage {
                clip: "Source".to_string(),
                frame_offset: *o,
                image: ImageView::new(bytes, 0, row, b, PixelDepth::Float, Components::Rgba)?,
            });
        }
        let mut out = bytes_of(newest);
        {
            let mut view =
                ImageViewMut::new(&mut out, 0, row, b, PixelDepth::Float, Components::Rgba)?;
            let request = RenderRequest {
                inputs,
                window: b,
                frame_colour: frame,
                is_cancelled: &|| false,
                progress: &|_| {},
            };
            self.pipeline.render(&request, &mut view)?;
        }
        let data = out
            .chunks_exact(4)
            .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        FloatImage::from_data(b, data)
    }

    /// `steps` frames (>= 1) after `history`, feeding predictions back in; returns the last.
    pub fn extend(
        &self,
        history: Vec<FloatImage>,
        steps: u32,
        frame: ColourSpace,
        is_cancelled: &dyn Fn() -> bool,
    ) -> Result<FloatImage> {
        let mut frames = history;
        for _ in 0..steps.max(1) {
            if is_cancelled() {
                return Err(Error::new(crate::pipeline::CANCELLED));
            }
            let keep = frames.len().saturating_sub(self.history_len());
            let refs: Vec<&FloatImage> = frames[keep..].iter().collect();
            let next = self.predict(&refs, frame)?;
            frames.push(next);
        }
        Ok(frames.pop().expect("at least one prediction"))
    }
}
