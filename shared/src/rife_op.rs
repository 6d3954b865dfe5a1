//! The input of one RIFE IFBlock as one ONNX Runtime custom operator
//! (`org.pixelspace:RifeBlockInput`, version 1).
//!
//! A converted RIFE model builds each block's input from full-resolution tensors: both frames
//! and their encoder features warped by the flow so far and shrunk to the block's scale, the
//! timestep as a plane, the previous block's mask and features enlarged 2x and the flow shrunk.
//! As separate ONNX nodes that moves every full-resolution tensor several times; [`block_input`]
//! reads each input once and writes each output value once.
//!
//! Inputs (float32, NCHW): 0 `img0` `[1,3,H,W]`, 1 `img1` `[1,3,H,W]`, 2 `feats` `[2,4,H,W]`
//! (features of img0, then img1), 3 `timestep` `[1,1,1,1]` (t), 4 `flow` `[1,4,H,W]`
//! (optional; full-resolution pixels, channels x0, y0 lead from the new frame into img0 and x1,
//! y1 into img1) and 5 `rest` `[1,9,H/(2s),W/(2s)]` (present exactly when `flow` is: the
//! previous block's mask logit and 8 features). Attribute `scale` s (1, 2, 4, 8 or 16, no
//! default); H and W are multiples of s, and of 2s with `rest`.
//!
//! Attribute `feats_block` (1 or 2, default 1) is the form of `feats`: 1 is `[2,4,H,W]`; 2 is
//! `[2,16,H/2,W/2]`, the features before a depth-to-space by 2 (ONNX DepthToSpace, blocksize
//! 2, mode CRD), which the operator then undoes as it reads: feature channel c at pixel (Y, X)
//! is channel 4c + 2(Y mod 2) + (X mod 2) at (Y/2, X/2). The output is the same, bit for bit,
//! as with the features depth-to-spaced first; H and W must be even.
//!
//! Output `x` `[1,C,H/s,W/s]`, C = 15 without flow and 28 with it: 0-2 img0 and 3-5 img1 warped
//! and shrunk, 6-9 feats[0] and 10-13 feats[1] warped and shrunk, 14 t, then 15-23 `rest`
//! enlarged 2x and 24-27 the flow shrunk and divided by s. For output pixel (i, j) the *phases*
//! are the full-resolution pixels (Y, X) = (i, j) for s = 1 and (i*s + a, j*s + c) with a, c in
//! {s/2 - 1, s/2} otherwise. Warped and shrunk is the mean over the phases of the source sampled
//! at (X + fx, Y + fy) with its frame's flow (0 without `flow`): bilinear with the position
//! clamped into the image first (a NaN position counts as 0); the position is X + fx in f32,
//! found once per pixel, phase and frame and used for all 7 channels of that frame. The 2x
//! enlargement is ONNX Resize linear/half_pixel (torch's bilinear, align_corners=False): source
//! position (i + 0.5)/2 - 0.5 clamped into the smaller image. The shrunk flow is the mean over
//! the phases times 1/s.
//!
//! Bands of output rows run on scoped threads; a row's values do not depend on the banding.
//! Shapes are checked when the session is created (as far as the graph knows them) and always
//! when the node runs; a wrong shape is an error naming the input, never a panic.

use std::ops::RangeInclusive;

use ort::operator::{
    ComputeContext, Kernel, KernelContext, Operator, OperatorInput, OperatorOutput,
    ShapeInferenceContext,
};
use ort::value::{Shape, SymbolicDimensions, TensorElementType, ValueType};

use crate::custom_op::{
    DOMAIN, declared_shapes, fresh_symbol, given_inputs, is_omitted, known, ort_error, ranked,
};
use crate::error::{Error, Result};

/// The operator's name in [`DOMAIN`].
pub const OP_NAME: &str = "RifeBlockInput";
/// The domain version the operator implements.
pub const OP_VERSION: u32 = 1;
/// The scales a block can work at.
pub const SCALES: [usize; 5] = [1, 2, 4, 8, 16];
/// The forms of `feats` (attribute `feats_block`): 1 is `[2,4,H,W]`, 2 is `[2,16,H/2,W/2]`.
pub const FEATS_BLOCKS: [usize; 2] = [1, 2];
/// Output channels without the flow input.
pub const CHANNELS_PLAIN: usize = 15;
/// Output channels with the flow and rest inputs.
pub const CHANNELS_WITH_FLOW: usize = 28;

/// The input names, in order.
const INPUT_NAMES: [&str; 6] = ["img0", "img1", "feats", "timestep", "flow", "rest"];

fn error(message: impl std::fmt::Display) -> Error {
    Error::new(format!("{DOMAIN}:{OP_NAME}: {message}"))
}

/// Checks the `feats_block` attribute (the form of `feats`).
pub fn check_feats_block(block: i64) -> Result<usize> {
    FEATS_BLOCKS
        .iter()
        .copied()
        .find(|&b| b as i64 == block)
        .ok_or_else(|| {
            error(format!(
                "feats_block must be 1 (feats [2, 4, H, W]) or 2 (feats [2, 16, H/2, W/2], \
                 before a depth-to-space by 2), got {block}"
            ))
        })
}

/// Checks the `scale` attribute.
pub fn check_scale(scale: i64) -> Result<usize> {
    SCALES
        .iter()
        .copied()
        .find(|&s| s as i64 == scale)
        .ok_or_else(|| error(format!("scale must be 1, 2, 4, 8 or 16, got {scale}")))
}

/// The inputs of one block: NCHW slices of full-resolution `height` x `width` tensors.
#[derive(Clone, Copy, Debug)]
pub struct BlockInput<'a> {
    /// `[1,3,H,W]`.
    pub img0: &'a [f32],
    /// `[1,3,H,W]`.
    pub img1: &'a [f32],
    /// The features of img0, then of img1: `[2,4,H,W]`, or `[2,16,H/2,W/2]` before their
    /// depth-to-space (see `feats_block`).
    pub feats: &'a [f32],
    /// The form of `feats`: 1 (`[2,4,H,W]`) or 2 (`[2,16,H/2,W/2]`, depth-to-space by 2, CRD).
    pub feats_block: usize,
    /// t.
    pub timestep: f32,
    /// `flow` `[1,4,H,W]` and `rest` `[1,9,H/(2s),W/(2s)]`, or neither.
    pub motion: Option<(&'a [f32], &'a [f32])>,
    /// H.
    pub height: usize,
    /// W.
    pub width: usize,
}

/// Output channels for a block with or without the flow.
pub fn output_channels(with_flow: bool) -> usize {
    if with_flow {
        CHANNELS_WITH_FLOW
    } else {
        CHANNELS_PLAIN
    }
}

fn checked_len(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| error(format!("a tensor of {dims:?} is too large")))
}

/// Computes the block input `out` (`[1, C, H/s, W/s]`, see the module documentation) at
/// `scale` s. Sizes that do not match the contract are an error, never a panic.
pub fn block_input(input: &BlockInput, scale: usize, out: &mut [f32]) -> Result<()> {
    let (h, w) = (input.height, input.width);
    let threads = crate::fused::threads_for(h / scale.max(1) * (w / scale.max(1)));
    block_input_on(input, scale, out, threads)
}

/// [`block_input`] on at most `threads` threads.
fn block_input_on(input: &BlockInput, s: usize, out: &mut [f32], threads: usize) -> Result<()> {
    let (h, w) = (input.height, input.width);
    if !SCALES.contains(&s) {
        return Err(error(format!("scale must be 1, 2, 4, 8 or 16, got {s}")));
    }
    let step = if input.motion.is_some() { 2 * s } else { s };
    if h == 0 || w == 0 || h % step != 0 || w % step != 0 {
        return Err(error(format!(
            "the frames are {w}x{h} pixels; at scale {s}{} both sizes must be non-zero \
             multiples of {step}",
            if input.motion.is_some() {
                " with rest"
            } else {
                ""
            }
        )));
    }
    let block = input.feats_block;
    if !FEATS_BLOCKS.contains(&block) {
        return Err(error(format!("feats_block must be 1 or 2, got {block}")));
    }
    if h % block != 0 || w % block != 0 {
        return Err(error(format!(
            "the frames are {w}x{h} pixels; with feats_block {block} (feats [2, 16, H/2, W/2]) \
             both sizes must be even"
        )));
    }
    let (oh, ow) = (h / s, w / s);
    let c = output_channels(input.motion.is_some());
    let expect = |what: &str, len: usize, dims: &[usize]| -> Result<()> {
        let want = checked_len(dims)?;
        if len != want {
            return Err(error(format!(
                "input {what} has {len} values, expected {want} for {dims:?}"
            )));
        }
        Ok(())
    };
    expect("img0", input.img0.len(), &[1, 3, h, w])?;
    expect("img1", input.img1.len(), &[1, 3, h, w])?;
    let feats_dims = [2, 4 * block * block, h / block, w / block];
    expect("feats", input.feats.len(), &feats_dims)?;
    if let Some((flow, rest)) = input.motion {
        expect("flow", flow.len(), &[1, 4, h, w])?;
        expect("rest", rest.len(), &[1, 9, oh / 2, ow / 2])?;
    }
    expect("output x", out.len(), &[1, c, oh, ow])?;

    // Jobs: one band of output rows, as the C channel slices it covers.
    let threads = threads.clamp(1, oh);
    let band = oh.div_ceil(threads);
    let bands = oh.div_ceil(band);
    let mut jobs: Vec<(usize, Vec<&mut [f32]>)> = (0..bands)
        .map(|b| (b * band, Vec::with_capacity(c)))
        .collect();
    for plane in out.chunks_exact_mut(oh * ow) {
        for (b, rows) in plane.chunks_mut(band * ow).enumerate() {
            jobs[b].1.push(rows);
        }
    }
    let work = |(first_row, channels): (usize, Vec<&mut [f32]>)| {
        rows(input, s, first_row, channels);
    };
    let mut jobs = jobs.into_iter();
    let first = jobs.next();
    std::thread::scope(|scope| {
        for job in jobs {
            scope.spawn(move || work(job));
        }
        if let Some(job) = first {
            work(job);
        }
    });
    Ok(())
}

/// Where a bilinear sample reads: the top-left tap `base` (`y0 * w + x0`), the offsets to the
/// right (0 or 1) and lower (0 or w) taps, and the fractions towards them.
#[derive(Clone, Copy, Debug, Default)]
struct Taps {
    base: usize,
    right: usize,
    down: usize,
    tx: f32,
    ty: f32,
}

/// Position `p` on an axis of `size` pixels, clamped into it (NaN counts as 0): the tap left
/// of (above) it, the step to the next tap (0 on the last pixel) and the fraction.
#[inline]
fn axis(p: f32, size: usize) -> (usize, usize, f32) {
    let p = if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, (size - 1) as f32)
    };
    // p >= 0: truncation is the floor.
    let p0 = p as usize;
    let step = usize::from(p0 + 1 < size);
    (p0, step, p - p0 as f32)
}

#[inline]
fn sample(plane: &[f32], t: &Taps) -> f32 {
    let a = plane[t.base];
    let b = plane[t.base + t.right];
    let c = plane[t.base + t.down];
    let d = plane[t.base + t.down + t.right];
    let top = a + t.tx * (b - a);
    let bottom = c + t.tx * (d - c);
    top + t.ty * (bottom - top)
}

/// Where a bilinear sample of a feature channel reads when the features come before their
/// depth-to-space by 2 (`feats_block` 2): the offsets of the four taps (top-left, top-right,
/// bottom-left, bottom-right) from the start of the channel's four phase planes, each tap in
/// the plane of its own pixel's phase, and the fractions towards the right and lower taps.
#[derive(Clone, Copy, Debug, Default)]
struct Corners {
    at: [usize; 4],
    tx: f32,
    ty: f32,
}

/// [`sample`] for [`Corners`]: the same arithmetic on the same four values.
#[inline]
fn sample_corners(planes: &[f32], t: &Corners) -> f32 {
    let a = planes[t.at[0]];
    let b = planes[t.at[1]];
    let c = planes[t.at[2]];
    let d = planes[t.at[3]];
    let top = a + t.tx * (b - a);
    let bottom = c + t.tx * (d - c);
    top + t.ty * (bottom - top)
}

/// Adds (or with `first` writes) the samples `sample(src, tap)` of one phase into `dst`.
#[inline]
fn accumulate<T>(dst: &mut [f32], taps: &[T], first: bool, sample: impl Fn(&T) -> f32) {
    if first {
        for (d, t) in dst.iter_mut().zip(taps) {
            *d = sample(t);
        }
    } else {
        for (d, t) in dst.iter_mut().zip(taps) {
            *d += sample(t);
        }
    }
}

/// The phase offsets along one axis at scale `s`.
fn phase_offsets(s: usize) -> &'static [usize] {
    match s {
        1 => &[0],
        2 => &[0, 1],
        4 => &[1, 2],
        8 => &[3, 4],
        _ => &[7, 8],
    }
}

/// An output channel and the input plane it is sampled from.
type Source<'a> = (usize, &'a [f32]);

/// Writes output rows `first_row..` (as many as `channels[0]` holds) of every channel.
fn rows(input: &BlockInput, s: usize, first_row: usize, mut channels: Vec<&mut [f32]>) {
    let (h, w) = (input.height, input.width);
    let (oh, ow) = (h / s, w / s);
    let plane = h * w;
    let count = channels.first().map_or(0, |c| c.len() / ow);
    let offsets = phase_offsets(s);
    let phases = offsets.len() * offsets.len();
    let inv_phases = 1.0 / phases as f32;
    let mut taps = vec![Taps::default(); ow];
    // Features before their depth-to-space: each feature channel is 4 phase planes of
    // (H/2) x (W/2) pixels, H*W values in all.
    let block = input.feats_block;
    let (quarter, half_w) = (plane / 4, w / 2);
    let mut corners = vec![Corners::default(); if block == 2 { ow } else { 0 }];

    // The 2x enlargement of rest: the same columns on every row.
    let (rh, rw) = (oh / 2, ow / 2);
    let half_pixel = |i: usize| (i as f32 + 0.5) / 2.0 - 0.5;
    let rest_cols: Vec<(usize, usize, f32)> = if input.motion.is_some() {
        (0..ow).map(|j| axis(half_pixel(j), rw)).collect()
    } else {
        Vec::new()
    };

    for r in 0..count {
        let i = first_row + r;
        let out_row = r * ow..(r + 1) * ow;
        for k in 0..2 {
            let img = if k == 0 { input.img0 } else { input.img1 };
            let feats = &input.feats[k * 4 * plane..(k + 1) * 4 * plane];
            let flow = input.motion.map(|(f, _)| {
                (
                    &f[2 * k * plane..][..plane],
                    &f[(2 * k + 1) * plane..][..plane],
                )
            });
            let img_sources = (0..3).map(|ch| (3 * k + ch, &img[ch * plane..(ch + 1) * plane]));
            let feat_sources =
                (0..4).map(|ch| (6 + 4 * k + ch, &feats[ch * plane..(ch + 1) * plane]));
            // Channels sampled through `taps`, and (features before their depth-to-space)
            // through `corners`.
            let (sources, corner_sources): (Vec<Source>, Vec<Source>) = if block == 1 {
                (img_sources.chain(feat_sources).collect(), Vec::new())
            } else {
                (img_sources.collect(), feat_sources.collect())
            };
            for (p, (&a, &c)) in offsets
                .iter()
                .flat_map(|a| offsets.iter().map(move |c| (a, c)))
                .enumerate()
            {
                let y = i * s + a;
                if block == 1 {
                    for (j, t) in taps.iter_mut().enumerate() {
                        let x = j * s + c;
                        *t = match flow {
                            None => Taps {
                                base: y * w + x,
                                ..Taps::default()
                            },
                            Some((fx, fy)) => {
                                let (x0, right, tx) = axis(x as f32 + fx[y * w + x], w);
                                let (y0, down, ty) = axis(y as f32 + fy[y * w + x], h);
                                Taps {
                                    base: y0 * w + x0,
                                    right,
                                    down: down * w,
                                    tx,
                                    ty,
                                }
                            }
                        };
                    }
                } else {
                    // Pixel (Y, X) of a phase plane: (Y mod 2, X mod 2) picks the plane.
                    let at = |y: usize, x: usize| {
                        ((y & 1) * 2 + (x & 1)) * quarter + (y >> 1) * half_w + (x >> 1)
                    };
                    for (j, (t, q)) in taps.iter_mut().zip(corners.iter_mut()).enumerate() {
                        let x = j * s + c;
                        let ((x0, right, tx), (y0, down, ty)) = match flow {
                            None => ((x, 0, 0.0), (y, 0, 0.0)),
                            Some((fx, fy)) => (
                                axis(x as f32 + fx[y * w + x], w),
                                axis(y as f32 + fy[y * w + x], h),
                            ),
                        };
                        *t = Taps {
                            base: y0 * w + x0,
                            right,
                            down: down * w,
                            tx,
                            ty,
                        };
                        let (x1, y1) = (x0 + right, y0 + down);
                        *q = Corners {
                            at: [at(y0, x0), at(y0, x1), at(y1, x0), at(y1, x1)],
                            tx,
                            ty,
                        };
                    }
                }
                for &(oc, src) in &sources {
                    let dst = &mut channels[oc][out_row.clone()];
                    accumulate(dst, &taps, p == 0, |t| sample(src, t));
                }
                for &(oc, src) in &corner_sources {
                    let dst = &mut channels[oc][out_row.clone()];
                    accumulate(dst, &corners, p == 0, |t| sample_corners(src, t));
                }
            }
            if phases > 1 {
                for &(oc, _) in sources.iter().chain(&corner_sources) {
                    for d in &mut channels[oc][out_row.clone()] {
                        *d *= inv_phases;
                    }
                }
            }
        }
        channels[14][out_row.clone()].fill(input.timestep);

        let Some((flow, rest)) = input.motion else {
            continue;
        };
        let (y0, down, ty) = axis(half_pixel(i), rh);
        for ch in 0..9 {
            let src = &rest[ch * rh * rw..(ch + 1) * rh * rw];
            let (upper, lower) = (&src[y0 * rw..][..rw], &src[(y0 + down) * rw..][..rw]);
            for (d, &(x0, right, tx)) in channels[15 + ch][out_row.clone()]
                .iter_mut()
                .zip(&rest_cols)
            {
                let top = upper[x0] + tx * (upper[x0 + right] - upper[x0]);
                let bottom = lower[x0] + tx * (lower[x0 + right] - lower[x0]);
                *d = top + ty * (bottom - top);
            }
        }
        let factor = inv_phases / s as f32;
        for ch in 0..4 {
            let src = &flow[ch * plane..(ch + 1) * plane];
            let dst = &mut channels[24 + ch][out_row.clone()];
            for (j, d) in dst.iter_mut().enumerate() {
                let mut sum = 0.0;
                for &a in offsets {
                    let row = &src[(i * s + a) * w..][..w];
                    for &c in offsets {
                        sum += row[j * s + c];
                    }
                }
                *d = sum * factor;
            }
        }
    }
}

/// An input's expected shape; `None` entries are H or W.
fn expected(input: usize, feats_block: usize) -> [Option<i64>; 4] {
    match input {
        0 | 1 => [Some(1), Some(3), None, None],
        2 => [
            Some(2),
            Some(4 * (feats_block * feats_block) as i64),
            None,
            None,
        ],
        3 => [Some(1); 4],
        4 => [Some(1), Some(4), None, None],
        _ => [Some(1), Some(9), None, None],
    }
}

/// How an input's shape is written in messages.
fn describe(input: usize, feats_block: usize) -> &'static str {
    match input {
        0 | 1 => "[1, 3, H, W]",
        2 if feats_block == 2 => {
            "[2, 16, H/2, W/2] with feats_block 2 (the features of both frames before their \
             depth-to-space by 2)"
        }
        2 => "[2, 4, H, W] (the features of both frames)",
        3 => "[1, 1, 1, 1]",
        4 => "[1, 4, H, W]",
        _ => "[1, 9, H/(2*scale), W/(2*scale)]",
    }
}

fn shape_text(shape: &[Option<i64>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

/// The frame size the inputs agree on (`None` where no input knows it).
type FrameSize = [Option<i64>; 2];

/// Checks the inputs' shapes (`None` for unknown dimensions; 4 inputs, or 6 with flow and
/// rest) at `scale` (when known) with `feats` in the form `feats_block` (1 or 2), and returns
/// H and W as far as they are known.
fn check_shapes(
    shapes: &[Vec<Option<i64>>],
    scale: Option<usize>,
    feats_block: usize,
) -> Result<FrameSize> {
    if shapes.len() != 4 && shapes.len() != 6 {
        return Err(error(format!(
            "takes 4 inputs (img0, img1, feats, timestep) or 6 (with flow and rest), got {}",
            shapes.len()
        )));
    }
    for (k, shape) in shapes.iter().enumerate() {
        let wrong = || {
            error(format!(
                "input {} must be {}, got {}",
                INPUT_NAMES[k],
                describe(k, feats_block),
                shape_text(shape)
            ))
        };
        if shape.len() != 4 {
            return Err(wrong());
        }
        for (d, want) in shape.iter().zip(expected(k, feats_block)) {
            if let (Some(d), Some(want)) = (d, want)
                && *d != want
            {
                return Err(wrong());
            }
        }
    }
    // H and W: the frames, features and flow must agree.
    // Each known size with the input it came from.
    let mut from: [Option<(i64, usize)>; 2] = [None, None];
    let full = [0, 1, 2, 4].into_iter().filter(|&k| k < shapes.len());
    for k in full {
        for (axis, known) in from.iter_mut().enumerate() {
            let Some(d) = shapes[k][2 + axis] else {
                continue;
            };
            // Features before their depth-to-space are half the frames' size.
            let d = if k == 2 {
                d * feats_block as i64
            } else {
                if feats_block == 2 && d % 2 != 0 {
                    return Err(error(format!(
                        "input {} is {}: with feats_block 2 (feats [2, 16, H/2, W/2]) the \
                         frames' height and width must be even",
                        INPUT_NAMES[k],
                        shape_text(&shapes[k])
                    )));
                }
                d
            };
            match *known {
                Some((want, first)) if want != d => {
                    return Err(error(format!(
                        "inputs {} {} and {} {} differ in {}: img0, img1, feats and flow \
                         must all be [.., .., H, W]{}",
                        INPUT_NAMES[first],
                        shape_text(&shapes[first]),
                        INPUT_NAMES[k],
                        shape_text(&shapes[k]),
                        if axis == 0 { "height" } else { "width" },
                        if feats_block == 2 {
                            " (feats [2, 16, H/2, W/2] with feats_block 2)"
                        } else {
                            ""
                        }
                    )));
                }
                _ => *known = Some((d, k)),
            }
        }
    }
    let size: FrameSize = from.map(|f| f.map(|(d, _)| d));
    let Some(s) = scale else {
        return Ok(size);
    };
    let with_rest = shapes.len() == 6;
    let step = if with_rest { 2 * s as i64 } else { s as i64 };
    for (axis, known) in size.iter().enumerate() {
        if let Some(d) = *known
            && (d <= 0 || d % step != 0)
        {
            return Err(error(format!(
                "the frames are {d} pixels {}; at scale {s}{} that must be a non-zero \
                 multiple of {step}",
                if axis == 0 { "high" } else { "wide" },
                if with_rest { " with rest" } else { "" }
            )));
        }
    }
    if with_rest {
        for axis in 0..2 {
            if let (Some(d), Some(r)) = (size[axis], shapes[5][2 + axis])
                && r != d / step
            {
                let want: Vec<Option<i64>> = vec![
                    Some(1),
                    Some(9),
                    size[0].map(|h| h / step),
                    size[1].map(|w| w / step),
                ];
                return Err(error(format!(
                    "input rest must be {} = {} for {}x{} frames at scale {s}, got {}",
                    describe(5, feats_block),
                    shape_text(&want),
                    size[1].map_or("?".to_string(), |w| w.to_string()),
                    size[0].map_or("?".to_string(), |h| h.to_string()),
                    shape_text(&shapes[5])
                )));
            }
        }
    }
    Ok(size)
}

/// The ONNX Runtime custom operator `org.pixelspace:RifeBlockInput` (version 1); see the
/// module documentation for its inputs, attribute and output.
pub struct RifeBlockInputOp;

/// The kernel of one `RifeBlockInput` node: its scale and the form of its features.
pub struct RifeBlockInputKernel {
    scale: usize,
    feats_block: usize,
}

impl Operator for RifeBlockInputOp {
    type Kernel<'attr> = RifeBlockInputKernel;

    fn name(&self) -> &str {
        OP_NAME
    }

    fn versions(&self) -> RangeInclusive<u32> {
        OP_VERSION..=OP_VERSION
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::optional(TensorElementType::Float32),
            OperatorInput::optional(TensorElementType::Float32),
        ]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(
        &self,
        kctx: &KernelContext<'attr>,
    ) -> ort::Result<RifeBlockInputKernel> {
        let node = kctx.node_name().unwrap_or_default();
        let in_node = |e: Error| ort_error(e.context(format!("node '{node}'")));
        let scale: Option<i64> = kctx.get("scale");
        let scale = scale
            .ok_or_else(|| error("the attribute scale (1, 2, 4, 8 or 16) is required"))
            .and_then(check_scale)
            .map_err(in_node)?;
        let feats_block: Option<i64> = kctx.get("feats_block");
        let feats_block = check_feats_block(feats_block.unwrap_or(1)).map_err(in_node)?;
        // The shapes the graph declares or infers (ONNX Runtime ignores errors from
        // `infer_shape`, so this is where a wrong shape fails at session creation). ONNX
        // Runtime lists no inputs here when an optional one is named "" (omitted): those
        // nodes are checked when they run.
        if let Some(shapes) = declared_shapes(kctx) {
            check_shapes(&shapes, Some(scale), feats_block).map_err(in_node)?;
        }
        Ok(RifeBlockInputKernel { scale, feats_block })
    }

    fn infer_shape(&self, ctx: &mut ShapeInferenceContext) -> ort::Result<()> {
        let mut inputs = ctx.inputs();
        while inputs.len() > 4 && inputs.last().is_some_and(is_omitted) {
            inputs.pop();
        }
        let mut shapes = Vec::with_capacity(inputs.len());
        let mut symbols = Vec::with_capacity(inputs.len());
        for (k, input) in inputs.iter().enumerate() {
            let name = INPUT_NAMES.get(k).unwrap_or(&"?");
            if is_omitted(input) {
                return Err(ort_error(error(format!("input {name} is missing"))));
            }
            let ValueType::Tensor {
                shape,
                dimension_symbols,
                ..
            } = input
            else {
                return Err(ort_error(error(format!("input {name} must be a tensor"))));
            };
            shapes.push(known(&ranked(shape)));
            symbols.push(dimension_symbols.clone());
        }
        let scale = ctx
            .attr::<i64>("scale")
            .map_err(|_| error("the attribute scale (1, 2, 4, 8 or 16) is required"))
            .and_then(check_scale)
            .map_err(ort_error)?;
        let feats_block =
            check_feats_block(ctx.attr::<i64>("feats_block").unwrap_or(1)).map_err(ort_error)?;
        let size = check_shapes(&shapes, Some(scale), feats_block).map_err(ort_error)?;
        let with_rest = shapes.len() == 6;
        let out_dim = |axis: usize| -> (i64, String) {
            if let Some(d) = size[axis] {
                return (d / scale as i64, String::new());
            }
            if with_rest && let Some(r) = shapes[5][2 + axis] {
                return (2 * r, String::new());
            }
            // At scale 1 the output has the frames' size: keep their name when they have one
            // (not the features' in the form before their depth-to-space: that is half).
            let named = [0, 1, 2, 4]
                .into_iter()
                .filter(|&k| k < symbols.len() && (k != 2 || feats_block == 1))
                .filter_map(|k| symbols[k].get(2 + axis).filter(|s| !s.is_empty()))
                .next();
            match named {
                Some(name) if scale == 1 => (-1, name.clone()),
                _ => (-1, fresh_symbol(OP_NAME)),
            }
        };
        let (oh, ow) = (out_dim(0), out_dim(1));
        let c = output_channels(with_rest) as i64;
        let out = ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new([1, c, oh.0, ow.0]),
            dimension_symbols: SymbolicDimensions::new([String::new(), String::new(), oh.1, ow.1]),
        };
        ctx.set_output(0, &out)
    }
}

impl Kernel for RifeBlockInputKernel {
    fn compute(&mut self, ctx: &ComputeContext) -> ort::Result<()> {
        let values = given_inputs(ctx, &INPUT_NAMES, 4, error)?;
        let mut tensors = Vec::with_capacity(values.len());
        for value in &values {
            let (shape, data) = value.try_extract_tensor::<f32>()?;
            tensors.push((known(shape), data));
        }
        let shapes: Vec<Vec<Option<i64>>> = tensors.iter().map(|(s, _)| s.clone()).collect();
        let size = check_shapes(&shapes, Some(self.scale), self.feats_block).map_err(ort_error)?;
        let (h, w) = (size[0].unwrap_or(0) as usize, size[1].unwrap_or(0) as usize);
        let motion = (tensors.len() == 6).then(|| (tensors[4].1, tensors[5].1));
        let input = BlockInput {
            img0: tensors[0].1,
            img1: tensors[1].1,
            feats: tensors[2].1,
            feats_block: self.feats_block,
            timestep: tensors[3]
                .1
                .first()
                .copied()
                .ok_or_else(|| ort_error(error("input timestep is empty")))?,
            motion,
            height: h,
            width: w,
        };
        let c = output_channels(motion.is_some());
        let mut x = ctx
            .output(0, [1, c, h / self.scale, w / self.scale])?
            .ok_or_else(|| ort_error(error("no output x")))?;
        let (_, xd) = x.try_extract_tensor_mut::<f32>()?;
        block_input(&input, self.scale, xd).map_err(ort_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random numbers in [0, 1) (xorshift).
    struct Rng(u64);

    impl Rng {
        fn unit(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32
        }

        fn values(&mut self, n: usize, spread: f32) -> Vec<f32> {
            (0..n).map(|_| (self.unit() * 2.0 - 1.0) * spread).collect()
        }
    }

    /// Owned inputs for the tests.
    struct Inputs {
        img0: Vec<f32>,
        img1: Vec<f32>,
        feats: Vec<f32>,
        t: f32,
        flow: Option<Vec<f32>>,
        rest: Option<Vec<f32>>,
        h: usize,
        w: usize,
    }

    impl Inputs {
        fn view(&self) -> BlockInput<'_> {
            BlockInput {
                img0: &self.img0,
                img1: &self.img1,
                feats: &self.feats,
                feats_block: 1,
                timestep: self.t,
                motion: self.flow.as_deref().zip(self.rest.as_deref()),
                height: self.h,
                width: self.w,
            }
        }
    }

    /// Random frames and features in [-1, 1]; with `flow`, a flow reaching `reach` times the
    /// frame size past every edge, with NaN, infinities and huge values sprinkled in.
    fn inputs(rng: &mut Rng, h: usize, w: usize, s: usize, flow: bool, reach: f32) -> Inputs {
        let plane = h * w;
        let (flow, rest) = if flow {
            let mut f = rng.values(4 * plane, reach * h.max(w) as f32);
            for (n, i) in (3..f.len()).step_by(29).enumerate() {
                f[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30][n % 5];
            }
            let rest = rng.values(9 * (h / (2 * s)) * (w / (2 * s)), 1.0);
            (Some(f), Some(rest))
        } else {
            (None, None)
        };
        Inputs {
            img0: rng.values(3 * plane, 1.0),
            img1: rng.values(3 * plane, 1.0),
            feats: rng.values(8 * plane, 1.0),
            t: rng.unit(),
            flow,
            rest,
            h,
            w,
        }
    }

    /// The definition followed literally, one output channel at a time, in f64 (only the
    /// sample position X + fx is f32, as the operator defines it).
    fn reference(inp: &Inputs, s: usize) -> Vec<f32> {
        let (h, w) = (inp.h, inp.w);
        let (oh, ow) = (h / s, w / s);
        let plane = h * w;
        let phases: Vec<usize> = if s == 1 {
            vec![0]
        } else {
            vec![s / 2 - 1, s / 2]
        };
        let bilinear = |src: &[f32], sh: usize, sw: usize, x: f64, y: f64| -> f64 {
            let x = x.clamp(0.0, (sw - 1) as f64);
            let y = y.clamp(0.0, (sh - 1) as f64);
            let (x0, y0) = (x.floor(), y.floor());
            let (tx, ty) = (x - x0, y - y0);
            let (x0, y0) = (x0 as usize, y0 as usize);
            let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
            let at = |yy: usize, xx: usize| src[yy * sw + xx] as f64;
            (1.0 - ty) * ((1.0 - tx) * at(y0, x0) + tx * at(y0, x1))
                + ty * ((1.0 - tx) * at(y1, x0) + tx * at(y1, x1))
        };
        let nan_to_zero = |v: f32| if v.is_nan() { 0.0 } else { v as f64 };
        let channels = if inp.flow.is_some() { 28 } else { 15 };
        let mut out = Vec::with_capacity(channels * oh * ow);
        for oc in 0..channels {
            for i in 0..oh {
                for j in 0..ow {
                    let v = match oc {
                        0..14 => {
                            let (k, src) = match oc {
                                0..3 => (0, &inp.img0[oc * plane..][..plane]),
                                3..6 => (1, &inp.img1[(oc - 3) * plane..][..plane]),
                                6..10 => (0, &inp.feats[(oc - 6) * plane..][..plane]),
                                _ => (1, &inp.feats[(oc - 6) * plane..][..plane]),
                            };
                            let mut sum = 0.0;
                            for &a in &phases {
                                for &c in &phases {
                                    let (y, x) = (i * s + a, j * s + c);
                                    let (fx, fy) = match &inp.flow {
                                        Some(f) => (
                                            f[2 * k * plane + y * w + x],
                                            f[(2 * k + 1) * plane + y * w + x],
                                        ),
                                        None => (0.0, 0.0),
                                    };
                                    let px = nan_to_zero(x as f32 + fx);
                                    let py = nan_to_zero(y as f32 + fy);
                                    sum += bilinear(src, h, w, px, py);
                                }
                            }
                            sum / (phases.len() * phases.len()) as f64
                        }
                        14 => inp.t as f64,
                        15..24 => {
                            let (rh, rw) = (oh / 2, ow / 2);
                            let rest = &inp.rest.as_ref().unwrap()[(oc - 15) * rh * rw..];
                            let y = (i as f64 + 0.5) / 2.0 - 0.5;
                            let x = (j as f64 + 0.5) / 2.0 - 0.5;
                            bilinear(&rest[..rh * rw], rh, rw, x, y)
                        }
                        _ => {
                            let f = &inp.flow.as_ref().unwrap()[(oc - 24) * plane..][..plane];
                            let mut sum = 0.0;
                            for &a in &phases {
                                for &c in &phases {
                                    sum += f[(i * s + a) * w + j * s + c] as f64;
                                }
                            }
                            sum / (phases.len() * phases.len()) as f64 / s as f64
                        }
                    };
                    out.push(v as f32);
                }
            }
        }
        out
    }

    fn run(inp: &Inputs, s: usize, threads: usize) -> Vec<f32> {
        let c = if inp.flow.is_some() { 28 } else { 15 };
        let mut out = vec![f32::NAN; c * (inp.h / s) * (inp.w / s)];
        block_input_on(&inp.view(), s, &mut out, threads).unwrap();
        out
    }

    /// Finite flow channels compare within 1e-5; channels of flows that are not finite are
    /// not finite in both.
    fn compare(what: &str, ours: &[f32], want: &[f32], plane: usize) {
        assert_eq!(ours.len(), want.len(), "{what}");
        let mut max_diff = 0.0f32;
        for (n, (&a, &b)) in ours.iter().zip(want).enumerate() {
            let channel = n / plane;
            if channel < 24 {
                assert!(a.is_finite(), "{what}: channel {channel} value {n} is {a}");
            }
            if b.is_finite() {
                max_diff = max_diff.max((a - b).abs());
            } else {
                assert!(
                    channel >= 24 && !a.is_finite(),
                    "{what}: value {n}: {a} vs {b}"
                );
            }
        }
        assert!(max_diff < 1e-5, "{what}: max diff {max_diff}");
    }

    #[test]
    fn matches_the_reference_on_random_inputs() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for (s, h, w) in [
            (1, 10, 14),
            (1, 7, 5),
            (2, 12, 20),
            (2, 2, 6),
            (4, 24, 40),
            (16, 32, 64),
        ] {
            for flow in [false, true] {
                if flow && (h % (2 * s) != 0 || w % (2 * s) != 0) {
                    continue;
                }
                for reach in [0.3, 1.5] {
                    let inp = inputs(&mut rng, h, w, s, flow, reach);
                    let what = format!("scale {s}, {w}x{h}, flow {flow}, reach {reach}");
                    compare(
                        &what,
                        &run(&inp, s, 1),
                        &reference(&inp, s),
                        (h / s) * (w / s),
                    );
                }
            }
        }
    }

    #[test]
    fn bands_do_not_change_the_result() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for (s, flow) in [(1, true), (2, true), (4, false)] {
            let inp = inputs(&mut rng, 64, 48, s, flow, 0.5);
            let one = run(&inp, s, 1);
            for threads in [2, 3, 7, 1000] {
                let many = run(&inp, s, threads);
                assert!(
                    one.iter()
                        .zip(&many)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "scale {s}, {threads} threads"
                );
            }
            // The public entry point (threads by machine and size) gives the same.
            let mut out = vec![0.0; one.len()];
            block_input(&inp.view(), s, &mut out).unwrap();
            assert!(
                one.iter()
                    .zip(&out)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
        // Large enough for several threads in the public entry point.
        let inp = inputs(&mut rng, 260, 256, 1, true, 0.2);
        let mut out = vec![0.0; 28 * 260 * 256];
        block_input(&inp.view(), 1, &mut out).unwrap();
        compare("260x256", &out, &reference(&inp, 1), 260 * 256);
    }

    #[test]
    fn zero_flow_at_scale_2_is_the_box_mean() {
        let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
        let (h, w) = (8, 12);
        let mut inp = inputs(&mut rng, h, w, 2, true, 1.0);
        inp.flow = Some(vec![0.0; 4 * h * w]);
        let with_zero_flow = run(&inp, 2, 1);
        let without = {
            let mut plain = inputs(&mut rng, h, w, 2, false, 0.0);
            (plain.img0, plain.img1, plain.feats) =
                (inp.img0.clone(), inp.img1.clone(), inp.feats.clone());
            plain.t = inp.t;
            run(&plain, 2, 1)
        };
        let (oh, ow) = (h / 2, w / 2);
        for (c, src) in [(0, &inp.img0), (3, &inp.img1)] {
            for ch in 0..3 {
                let p = &src[ch * h * w..][..h * w];
                for i in 0..oh {
                    for j in 0..ow {
                        let box_mean = (p[2 * i * w + 2 * j]
                            + p[2 * i * w + 2 * j + 1]
                            + p[(2 * i + 1) * w + 2 * j]
                            + p[(2 * i + 1) * w + 2 * j + 1])
                            / 4.0;
                        let n = ((c + ch) * oh + i) * ow + j;
                        assert!((with_zero_flow[n] - box_mean).abs() < 1e-6);
                        assert!((without[n] - box_mean).abs() < 1e-6);
                    }
                }
            }
        }
        // The flow channels are 0, the timestep plane is t.
        assert!(with_zero_flow[24 * oh * ow..].iter().all(|&v| v == 0.0));
        assert!(without[14 * oh * ow..].iter().all(|&v| v == inp.t));
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let mut rng = Rng(77);
        let inp = inputs(&mut rng, 8, 8, 2, true, 0.5);
        let mut out = vec![0.0; 28 * 16];
        let err = |inp: &BlockInput, s: usize, out: &mut [f32]| {
            block_input(inp, s, out).unwrap_err().message().to_string()
        };
        let view = inp.view();
        assert!(err(&view, 3, &mut out).contains("scale must be 1, 2, 4, 8 or 16, got 3"));
        // 8 is not a multiple of 2 * 8 (rest is half the block's size).
        assert!(err(&view, 8, &mut out).contains("multiples of 16"));
        let short = BlockInput {
            feats: &inp.feats[..6 * 64],
            ..view
        };
        assert!(err(&short, 2, &mut out).contains("input feats has 384 values, expected 512"));
        let small_rest = BlockInput {
            motion: Some((
                inp.flow.as_deref().unwrap(),
                &inp.rest.as_deref().unwrap()[..9],
            )),
            ..view
        };
        assert!(err(&small_rest, 2, &mut out).contains("input rest has 9 values, expected 36"));
        assert!(err(&view, 2, &mut out[..5]).contains("output x"));
        let empty = BlockInput {
            img0: &[],
            img1: &[],
            feats: &[],
            motion: None,
            height: 0,
            width: 0,
            ..view
        };
        assert!(err(&empty, 1, &mut []).contains("non-zero"));
    }

    #[test]
    fn shapes_are_checked() {
        let k = |v: &[i64]| known(v);
        let good = [
            k(&[1, 3, -1, 64]),
            k(&[1, 3, 32, -1]),
            k(&[2, 4, -1, -1]),
            k(&[1, 1, 1, 1]),
            k(&[1, 4, 32, 64]),
            k(&[1, 9, 8, 16]),
        ];
        assert_eq!(
            check_shapes(&good, Some(2), 1).unwrap(),
            [Some(32), Some(64)]
        );
        assert_eq!(
            check_shapes(&good[..4], Some(4), 1).unwrap(),
            [Some(32), Some(64)]
        );
        let fails = |shapes: &[Vec<Option<i64>>], s: usize, message: &str| {
            let err = check_shapes(shapes, Some(s), 1).unwrap_err();
            assert!(err.message().contains(message), "{err}");
            assert!(
                err.message().contains("org.pixelspace:RifeBlockInput"),
                "{err}"
            );
        };
        fails(&good[..5], 2, "takes 4 inputs");
        let mut bad = good.to_vec();
        bad[2] = k(&[2, 3, 32, 64]);
        fails(&bad, 2, "input feats must be [2, 4, H, W]");
        let mut bad = good.to_vec();
        bad[5] = k(&[1, 9, 16, 16]);
        fails(
            &bad,
            2,
            "input rest must be [1, 9, H/(2*scale), W/(2*scale)] = [1, 9, 8, 16]",
        );
        let mut bad = good.to_vec();
        bad[1] = k(&[1, 3, 30, -1]);
        fails(
            &bad,
            2,
            "inputs img1 [1, 3, 30, ?] and flow [1, 4, 32, 64] differ in height",
        );
        fails(&good, 32, "that must be a non-zero multiple of 64");
        fails(
            &good,
            16,
            "= [1, 9, 1, 2] for 64x32 frames at scale 16, got [1, 9, 8, 16]",
        );
        let mut bad = good.to_vec();
        bad[0] = k(&[1, 3, 40, 64]);
        (bad[1], bad[4], bad[5]) = (k(&[1, 3, -1, -1]), k(&[1, 4, -1, -1]), k(&[1, 9, -1, -1]));
        fails(
            &bad,
            8,
            "the frames are 40 pixels high; at scale 8 with rest that must be",
        );
        assert!(check_shapes(&bad, Some(4), 1).is_ok());
        let mut bad = good.to_vec();
        bad[3] = k(&[1, 1, 1]);
        fails(
            &bad,
            2,
            "input timestep must be [1, 1, 1, 1], got [1, 1, 1]",
        );
        assert!(check_scale(16).is_ok() && check_scale(0).is_err() && check_scale(6).is_err());
    }

    /// ONNX DepthToSpace, mode CRD, of `x` `[n, c*b*b, h, w]` into `[n, c, h*b, w*b]`, as the
    /// ONNX operator documents it: reshape to `[n, c, b, b, h, w]`, transpose to
    /// `[n, c, h, b, w, b]`, reshape.
    fn depth_to_space_crd(x: &[f32], n: usize, c: usize, b: usize, h: usize, w: usize) -> Vec<f32> {
        let mut y = vec![0.0; x.len()];
        for nn in 0..n {
            for cc in 0..c {
                for i in 0..b {
                    for j in 0..b {
                        for yy in 0..h {
                            for xx in 0..w {
                                let src = ((((nn * c + cc) * b + i) * b + j) * h + yy) * w + xx;
                                let dst = ((nn * c + cc) * h * b + yy * b + i) * w * b + xx * b + j;
                                y[dst] = x[src];
                            }
                        }
                    }
                }
            }
        }
        y
    }

    /// Runs `inp` with its `feats` taken as the form before the depth-to-space (feats_block 2)
    /// and with those features depth-to-spaced first (feats_block 1).
    fn both_forms(inp: &Inputs, s: usize, threads: usize) -> (Vec<f32>, Vec<f32>) {
        let (h, w) = (inp.h, inp.w);
        let spaced = depth_to_space_crd(&inp.feats, 2, 4, 2, h / 2, w / 2);
        let c = if inp.flow.is_some() { 28 } else { 15 };
        let mut packed_out = vec![f32::NAN; c * (h / s) * (w / s)];
        let packed = BlockInput {
            feats_block: 2,
            ..inp.view()
        };
        block_input_on(&packed, s, &mut packed_out, threads).unwrap();
        let mut spaced_out = vec![f32::NAN; packed_out.len()];
        let plain = BlockInput {
            feats: &spaced,
            ..inp.view()
        };
        block_input_on(&plain, s, &mut spaced_out, threads).unwrap();
        (packed_out, spaced_out)
    }

    fn same_bits(what: &str, a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{what}");
        for (n, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(x.to_bits() == y.to_bits(), "{what}: value {n}: {x} vs {y}");
        }
    }

    #[test]
    fn features_before_their_depth_to_space_give_the_same_bits() {
        let mut rng = Rng(0x0DD5_EED5_1234_ABCD);
        for (s, h, w) in [
            (1, 2, 2),
            (1, 6, 10),
            (1, 8, 14),
            (2, 12, 20),
            (2, 4, 8),
            (4, 24, 40),
            (8, 32, 48),
            (16, 32, 64),
        ] {
            for flow in [false, true] {
                if flow && (h % (2 * s) != 0 || w % (2 * s) != 0) {
                    continue;
                }
                for reach in [0.3, 1.5] {
                    let inp = inputs(&mut rng, h, w, s, flow, reach);
                    let what = format!("scale {s}, {w}x{h}, flow {flow}, reach {reach}");
                    let (packed, spaced) = both_forms(&inp, s, 1);
                    // The features are there, not just equal (NaN would compare unequal).
                    assert!(
                        packed[6 * (h / s) * (w / s)..14 * (h / s) * (w / s)]
                            .iter()
                            .all(|v| v.is_finite())
                    );
                    same_bits(&what, &packed, &spaced);
                }
            }
        }
        // Several bands.
        let inp = inputs(&mut rng, 64, 48, 1, true, 0.5);
        let (one, _) = both_forms(&inp, 1, 1);
        let (packed, spaced) = both_forms(&inp, 1, 5);
        same_bits("5 bands", &packed, &spaced);
        same_bits("1 and 5 bands", &one, &packed);
    }

    #[test]
    fn features_before_their_depth_to_space_follow_the_reference() {
        // Independent of the other form: the reference on the depth-to-spaced features.
        let mut rng = Rng(0x005E_ED0F_FEA7);
        for (s, h, w, flow) in [(1, 6, 8, true), (2, 8, 12, true), (4, 8, 16, false)] {
            let inp = inputs(&mut rng, h, w, s, flow, 0.7);
            let (packed, _) = both_forms(&inp, s, 1);
            let spaced = Inputs {
                feats: depth_to_space_crd(&inp.feats, 2, 4, 2, h / 2, w / 2),
                img0: inp.img0.clone(),
                img1: inp.img1.clone(),
                flow: inp.flow.clone(),
                rest: inp.rest.clone(),
                ..inp
            };
            compare(
                &format!("scale {s}, {w}x{h}"),
                &packed,
                &reference(&spaced, s),
                (h / s) * (w / s),
            );
        }
    }

    #[test]
    fn features_before_their_depth_to_space_need_even_sizes() {
        let mut rng = Rng(91);
        let inp = inputs(&mut rng, 7, 8, 1, false, 0.0);
        let mut out = vec![0.0; 15 * 56];
        let odd = BlockInput {
            feats_block: 2,
            ..inp.view()
        };
        let err = block_input(&odd, 1, &mut out).unwrap_err();
        assert!(err.message().contains("with feats_block 2"), "{err}");
        assert!(err.message().contains("both sizes must be even"), "{err}");
        let inp = inputs(&mut rng, 8, 8, 1, false, 0.0);
        let short = BlockInput {
            feats: &inp.feats[..2 * 15 * 16],
            feats_block: 2,
            ..inp.view()
        };
        let err = block_input(&short, 1, &mut vec![0.0; 15 * 64]).unwrap_err();
        assert!(
            err.message()
                .contains("input feats has 480 values, expected 512 for [2, 16, 4, 4]"),
            "{err}"
        );
        let three = BlockInput {
            feats_block: 3,
            ..inp.view()
        };
        let err = block_input(&three, 1, &mut vec![0.0; 15 * 64]).unwrap_err();
        assert!(
            err.message().contains("feats_block must be 1 or 2, got 3"),
            "{err}"
        );
    }

    #[test]
    fn shapes_of_features_before_their_depth_to_space_are_checked() {
        let k = |v: &[i64]| known(v);
        let good = [
            k(&[1, 3, -1, 64]),
            k(&[1, 3, 32, -1]),
            k(&[2, 16, 16, -1]),
            k(&[1, 1, 1, 1]),
            k(&[1, 4, -1, -1]),
            k(&[1, 9, 8, 16]),
        ];
        assert_eq!(
            check_shapes(&good, Some(2), 2).unwrap(),
            [Some(32), Some(64)]
        );
        // Only the features know the size: twice theirs.
        let only_feats = [
            k(&[1, 3, -1, -1]),
            k(&[1, 3, -1, -1]),
            k(&[2, 16, 5, 7]),
            k(&[1, 1, 1, 1]),
        ];
        assert_eq!(
            check_shapes(&only_feats, Some(1), 2).unwrap(),
            [Some(10), Some(14)]
        );
        // The same shapes are wrong for the other form, and the other form's for this one.
        let fails = |shapes: &[Vec<Option<i64>>], s: usize, block: usize, message: &str| {
            let err = check_shapes(shapes, Some(s), block).unwrap_err();
            assert!(err.message().contains(message), "{err}");
            assert!(
                err.message().contains("org.pixelspace:RifeBlockInput"),
                "{err}"
            );
        };
        fails(&good, 2, 1, "input feats must be [2, 4, H, W]");
        let mut bad = good.to_vec();
        bad[2] = k(&[2, 4, 32, 64]);
        fails(
            &bad,
            2,
            2,
            "input feats must be [2, 16, H/2, W/2] with feats_block 2",
        );
        bad[2] = k(&[2, 15, 16, 32]);
        fails(&bad, 2, 2, "got [2, 15, 16, 32]");
        let mut bad = good.to_vec();
        bad[2] = k(&[2, 16, 16, 30]);
        fails(
            &bad,
            2,
            2,
            "inputs img0 [1, 3, ?, 64] and feats [2, 16, 16, 30] differ in width",
        );
        let mut bad = only_feats.to_vec();
        bad[1] = k(&[1, 3, 7, -1]);
        fails(
            &bad,
            1,
            2,
            "input img1 is [1, 3, 7, ?]: with feats_block 2 (feats [2, 16, H/2, W/2]) the \
             frames' height and width must be even",
        );
        assert!(check_shapes(&bad, Some(1), 1).is_err()); // 7 rows, features of 5
        bad[2] = k(&[2, 4, -1, -1]);
        assert!(check_shapes(&bad, Some(1), 1).is_ok());
        assert!(check_feats_block(1).is_ok() && check_feats_block(2).is_ok());
        let err = check_feats_block(4).unwrap_err();
        assert!(err.message().contains("feats_block must be 1"), "{err}");
        assert!(check_feats_block(0).is_err());
    }
}
