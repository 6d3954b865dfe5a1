//! Frame interpolation with a flow model (RIFE) described by its manifest, composed on the
//! host's own pixels.
//!
//! The model needs (models/README.md): two image inputs (the first two, in manifest order: the
//! frame before and the frame after), a constant input with role `timestep`, a `flow` output
//! whose `flows` name both image inputs, and an `alpha` image output, the fusion mask (the
//! weight of the first frame). The model sees what its manifest asks for (its colour space,
//! 0..1 values); the new frame is then made from the host's pixels:
//! `mask * warp(frame0, flow0) + (1 - mask) * warp(frame1, flow1)`, which is RIFE's own
//! fusion, so HDR values, negative values and alpha come through, warped with the colour.

use std::sync::Arc;

use crate::colour::ColourSpace;
use crate::error::{Error, Result};
use crate::image::FloatImage;
use crate::manifest::Output;
use crate::pipeline::{InferRequest, InferencePipeline, Inferred};
use crate::tensor::{ChannelOrder, Layout};

use super::warp::{FlowField, ModelMotion, blend_model_warps};

/// A flow model checked for what interpolation needs.
pub struct Interpolator {
    pipeline: Arc<InferencePipeline>,
    img0: String,
    img1: String,
    timestep: String,
    flow: String,
    /// Channel pairs of the flow output leading into img0 and img1.
    pairs: (usize, usize),
    mask: String,
}

impl std::fmt::Debug for Interpolator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpolator")
            .field("model", &self.pipeline.model_path())
            .finish()
    }
}

/// What one model run gives: the flows to both frames and the mask, in frame pixels.
pub struct Motion {
    pub flow0: FlowField,
    pub flow1: FlowField,
    pub mask: Vec<f32>,
}

impl Interpolator {
    /// Checks that `pipeline`'s manifest describes a flow model usable for interpolation.
    pub fn new(pipeline: Arc<InferencePipeline>) -> Result<Interpolator> {
        let m = pipeline.manifest();
        let bad = |why: String| {
            Error::new(format!(
                "model '{}' ({}) cannot interpolate frames: {why}. ExtendShot needs a frame \
                 interpolation model such as RIFE (models/README.md: two image inputs, a \
                 timestep input, flow and mask outputs)",
                m.name,
                pipeline.model_path().display()
            ))
        };
        let images: Vec<_> = m.image_inputs().collect();
        if images.len() < 2 {
            return Err(bad(format!(
                "it has {} image input(s), not two",
                images.len()
            )));
        }
        let (img0, img1) = (images[0].name.clone(), images[1].name.clone());
        let timestep = m
            .timestep_input()
            .ok_or_else(|| bad("it has no input with role \"timestep\"".into()))?
            .name
            .clone();
        let mut flow = None;
        let mut mask = None;
        for out in &m.outputs {
            match out {
                Output::Flow(f) => {
                    let p0 = f.flows.iter().position(|n| *n == img0);
                    let p1 = f.flows.iter().position(|n| *n == img1);
                    if let (Some(p0), Some(p1)) = (p0, p1) {
                        if f.layout != Layout::Nchw {
                            return Err(bad(format!("its flow output '{}' is not NCHW", f.name)));
                        }
                        flow = Some((f.name.clone(), (p0, p1)));
                    }
                }
                Output::Image(o) if o.channels == ChannelOrder::Alpha && mask.is_none() => {
                    if o.layout != Layout::Nchw {
                        return Err(bad(format!("its mask output '{}' is not NCHW", o.name)));
                    }
                    mask = Some(o.name.clone());
                }
                _ => {}
            }
        }
        let (flow, pairs) = flow.ok_or_else(|| {
            bad(format!(
                "no flow output leads into both '{img0}' and '{img1}'"
            ))
        })?;
        let mask = mask.ok_or_else(|| bad("it has no alpha (mask) output".into()))?;
        Ok(Interpolator {
            pipeline,
            img0,
            img1,
            timestep,
            flow,
            pairs,
            mask,
        })
    }

    /// The pipeline it runs.
    pub fn pipeline(&self) -> &Arc<InferencePipeline> {
        &self.pipeline
    }

    /// Runs the model on `a` (time 0) and `b` (time 1) for the frame at `t`. Both cover the
    /// same region, pixels encoded as `frame`.
    pub fn motion(
        &self,
        a: &FloatImage,
        b: &FloatImage,
        t: f64,
        frame: ColourSpace,
    ) -> Result<Motion> {
        let out = self.run(a, b, t, frame)?;
        let motion = self.model_motion(&out)?;
        let (flow0, flow1) = motion.flows(a.bounds);
        Ok(Motion {
            flow0,
            flow1,
            mask: motion.mask(a.bounds),
        })
    }

    fn run(&self, a: &FloatImage, b: &FloatImage, t: f64, frame: ColourSpace) -> Result<Inferred> {
        let t = [t as f32];
        self.pipeline.infer(&InferRequest {
            images: &[(self.img0.as_str(), a), (self.img1.as_str(), b)],
            frame_colour: frame,
            constants: &[(self.timestep.as_str(), &t)],
        })
    }

    /// The flow and mask planes of a run's outputs, their shapes checked.
    fn model_motion<'o>(&self, out: &'o Inferred) -> Result<ModelMotion<'o>> {
        let get = |name: &str| {
            out.get(name)
                .ok_or_else(|| Error::new(format!("the model returned no output '{name}'")))
        };
        let flow = get(&self.flow)?;
        let mask = get(&self.mask)?;
        let dims = |t: &crate::pipeline::NamedTensor| -> Result<(usize, usize)> {
            match t.shape.as_slice() {
                [1, _, h, w] => Ok((*w, *h)),
                other => Err(Error::new(format!(
                    "model output '{}' has shape {other:?}, expected [1, C, H, W]",
                    t.name
                ))),
            }
        };
        let (w, h) = dims(flow)?;
        if dims(mask)? != (w, h) || flow.shape[1] < 2 * (self.pairs.0.max(self.pairs.1) + 1) {
            return Err(Error::new(format!(
                "model outputs '{}' {:?} and '{}' {:?} do not fit together",
                flow.name, flow.shape, mask.name, mask.shape
            )));
        }
        let plane = w * h;
        let channel = |c: usize| &flow.data[c * plane..(c + 1) * plane];
        Ok(ModelMotion {
            flow0: [channel(2 * self.pairs.0), channel(2 * self.pairs.0 + 1)],
            flow1: [channel(2 * self.pairs.1), channel(2 * self.pairs.1 + 1)],
            mask: &mask.data[..plane],
            width: w,
            height: h,
            mapping: &out.mapping,
        })
    }

    /// The frame at `t` (0..1) between `a` and `b`, made from their own pixels.
    pub fn interpolate(
        &self,
        a: &FloatImage,
        b: &FloatImage,
        t: f64,
        frame: ColourSpace,
    ) -> Result<FloatImage> {
        let out = self.run(a, b, t, frame)?;
        let motion = self.model_motion(&out)?;
        Ok(blend_model_warps(a, b, &motion, a.bounds))
    }

    /// Per-frame velocity of the pixels of `last`, from the motion between `prev` (the frame
    /// before it) and `last`.
    ///
    /// RIFE's flows at timestep 0 or 1 are not usable (measured: a pan of (8, 2) px gives
    /// (17, 17) at t = 1), so the model runs at t = 0.5: a pixel `p` of the middle frame comes
    /// from `prev` at `p + flow0(p)` and goes to `last` at `p + flow1(p)`, so it moves by
    /// `flow1 - flow0` per frame. That field is moved onto `last`'s pixels: pixel `q` of
    /// `last` was at about `q - flow1(q)` in the middle frame.
    pub fn velocity(
        &self,
        prev: &FloatImage,
        last: &FloatImage,
        frame: ColourSpace,
    ) -> Result<FlowField> {
        let m = self.motion(prev, last, 0.5, frame)?;
        let mid = FlowField {
            bounds: m.flow0.bounds,
            data: m
                .flow1
                .data
                .iter()
                .zip(&m.flow0.data)
                .map(|(a, b)| a - b)
                .collect(),
        };
        let b = mid.bounds;
        let mut out = FlowField::zero(b);
        for (x, y) in b.pixels() {
            let (fx, fy) = m.flow1.at(x, y);
            out.set(x, y, sample_flow(&mid, x as f32 - fx, y as f32 - fy));
        }
        Ok(out)
    }
}

/// A flow field sampled at a continuous pixel position (bilinear, edges clamped).
pub fn sample_flow(f: &FlowField, x: f32, y: f32) -> (f32, f32) {
    let b = f.bounds;
    let x = x.clamp(b.x1 as f32, (b.x2 - 1) as f32);
    let y = y.clamp(b.y1 as f32, (b.y2 - 1) as f32);
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as i32, y0 as i32);
    let (x1, y1) = ((x0 + 1).min(b.x2 - 1), (y0 + 1).min(b.y2 - 1));
    let lerp =
        |a: (f32, f32), c: (f32, f32), t: f32| (a.0 + (c.0 - a.0) * t, a.1 + (c.1 - a.1) * t);
    let bottom = lerp(f.at(x0, y0), f.at(x1, y0), fx);
    let top = lerp(f.at(x0, y1), f.at(x1, y1), fx);
    lerp(bottom, top, fy)
}
