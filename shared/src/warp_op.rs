//! GridSample as our own ONNX Runtime custom operator (`org.pixelspace:GridSample`, version 1).
//!
//! [`grid_sample`] is ONNX's GridSample for 4-D NCHW float tensors in `linear` (`bilinear`)
//! mode with `zeros` or `border` padding and both `align_corners` settings. It works one output
//! row at a time: the source position (the 2x2 block of input pixels it falls in and the
//! fractions across it) is found once per output pixel and then used for every channel;
//! bands of rows run on scoped threads, and a row's values do not depend on the banding. [`GridSampleOp`] wraps it for ONNX Runtime and
//! [`crate::custom_op::operator_domain`] is the domain every session of the runtime registers
//! ([`crate::runtime`]); models that do not use the domain are unaffected.
//!
//! Grid values are unnormalised as ONNX Runtime does, in f32 and in the same order
//! (`align_corners` 1: `(g + 1) / 2 * (size - 1)`; 0: `((g + 1) * size - 1) / 2`). With
//! `zeros` a tap outside the image reads 0. With `border` the position is clamped into
//! `[0, size - 1]` before interpolating; ONNX Runtime instead clamps each tap, which gives the
//! same value (the weights of taps that land on the same edge pixel add up to 1) up to float
//! rounding.
//!
//! Non-finite grid values never panic. A NaN grid value is read as -1, which is what ONNX
//! Runtime 1.32's CPU kernel gives (measured on x86-64, all four padding/align_corners
//! combinations). Infinite and huge positions (beyond about 1e7 pixels) give the limits: 0
//! with `zeros` (outside the image) and the edge pixel with `border`; ONNX Runtime's results
//! there are artefacts of float-to-integer overflow and cancellation (it samples the -1 edge
//! for infinities and gives 0 with `border` for large finite positions), which we do not copy.

use std::ops::RangeInclusive;

use ort::operator::{
    ComputeContext, Kernel, KernelContext, Operator, OperatorInput, OperatorOutput,
    ShapeInferenceContext,
};
use ort::value::{Shape, SymbolicDimensions, TensorElementType, ValueType};

use crate::custom_op::{known, ort_error, output_symbol, ranked};
use crate::error::{Error, Result};

/// The custom operator domain.
pub use crate::custom_op::DOMAIN;
/// The operator's name in [`DOMAIN`].
pub const OP_NAME: &str = "GridSample";
/// The domain version the operator implements.
pub const OP_VERSION: u32 = 1;

/// What a tap outside the input image reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// 0.
    Zeros,
    /// The nearest edge pixel (the position is clamped into the image).
    Border,
}

impl Padding {
    /// The ONNX `padding_mode` attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Padding::Zeros => "zeros",
            Padding::Border => "border",
        }
    }

    /// Parses an ONNX `padding_mode` (`zeros` or `border`; `reflection` is not supported).
    pub fn parse(s: &str) -> Result<Padding> {
        match s {
            "zeros" => Ok(Padding::Zeros),
            "border" => Ok(Padding::Border),
            other => Err(Error::new(format!(
                "{DOMAIN}:{OP_NAME}: padding_mode '{other}' is not supported (use zeros or border)"
            ))),
        }
    }
}

/// Checks the ONNX `mode` attribute: only `linear` (opset 20) and `bilinear` (opset 16) exist here.
pub fn check_mode(mode: &str) -> Result<()> {
    match mode {
        "linear" | "bilinear" => Ok(()),
        other => Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: mode '{other}' is not supported (only linear/bilinear); \
             use the standard GridSample for other modes"
        ))),
    }
}

/// Where one output pixel reads: the 2x2 block of input pixels whose top-left is `base`
/// (`y0 * w + x0`, negative when that pixel is left of or above the image), the fractions
/// `fx`, `fy` towards its right column and bottom row, and which of the four taps (bit 0
/// top-left, 1 top-right, 2 bottom-left, 3 bottom-right) are inside the image.
#[derive(Clone, Copy, Debug, Default)]
struct Taps {
    base: i32,
    fx: f32,
    fy: f32,
    inside: u8,
}

const ALL_INSIDE: u8 = 0b1111;

/// ONNX Runtime's unnormalisation of grid value `g` along an axis of `size` pixels.
#[inline]
fn unnormalise(g: f32, size: usize, align_corners: bool) -> f32 {
    if align_corners {
        (g + 1.0) / 2.0 * (size - 1) as f32
    } else {
        ((g + 1.0) * size as f32 - 1.0) / 2.0
    }
}

/// `v.floor()` for finite values of moderate size, without the maths library call that
/// `floor` is on x86-64 without SSE4.1; callers range-check `v` first.
#[inline]
fn floor_small(v: f32) -> f32 {
    let t = v as i64 as f32;
    if t > v { t - 1.0 } else { t }
}

/// The taps of one output pixel whose grid value is (`gx`, `gy`), in an input of `h` x `w`
/// pixels (`h * w` within i32, checked by the caller).
#[inline]
fn taps(gx: f32, gy: f32, h: usize, w: usize, align_corners: bool, padding: Padding) -> Taps {
    // NaN reads as -1, as in ONNX Runtime (see the module documentation).
    let nan_to_edge = |g: f32| if g.is_nan() { -1.0 } else { g };
    let x = unnormalise(nan_to_edge(gx), w, align_corners);
    let y = unnormalise(nan_to_edge(gy), h, align_corners);
    let (wf, hf) = (w as f32, h as f32);
    let (wi, hi) = (w as i32, h as i32);
    match padding {
        Padding::Border => {
            // Clamped into the image, the block is inside it: on the last column (row) it is
            // the block left of (above) it with fraction 1. A 1-pixel-wide (high) image has no
            // second column (row): fraction 0 and those taps left out.
            let block = |v: f32, size: i32| -> (i32, f32, bool) {
                let v = v.clamp(0.0, (size - 1) as f32);
                let v0 = floor_small(v).min((size - 2).max(0) as f32);
                (v0 as i32, v - v0, size >= 2)
            };
            let (x0, fx, two_cols) = block(x, wi);
            let (y0, fy, two_rows) = block(y, hi);
            let mut inside = 0b0001;
            if two_cols {
                inside |= 0b0010;
            }
            if two_rows {
                inside |= 0b0100;
            }
            if two_cols && two_rows {
                inside |= 0b1000;
            }
            Taps {
                base: y0 * wi + x0,
                fx,
                fy,
                inside,
            }
        }
        Padding::Zeros => {
            // Outside (-1, size) no tap can be inside; this also keeps huge and infinite
            // positions away from the integer conversion.
            if !(x > -1.0 && x < wf && y > -1.0 && y < hf) {
                return Taps::default();
            }
            let (x0, y0) = (floor_small(x), floor_small(y));
            let (xi, yi) = (x0 as i32, y0 as i32);
            let cols = [xi >= 0, xi + 1 < wi];
            let rows = [yi >= 0, yi + 1 < hi];
            let inside = (rows[0] && cols[0]) as u8
                | ((rows[0] && cols[1]) as u8) << 1
                | ((rows[1] && cols[0]) as u8) << 2
                | ((rows[1] && cols[1]) as u8) << 3;
            Taps {
                base: yi * wi + xi,
                fx: x - x0,
                fy: y - y0,
                inside,
            }
        }
    }
}

/// One output row of one channel: `dst[i]` from `plane` (one input channel, `w` pixels a row)
/// through `row[i]`.
#[inline]
fn apply_row(plane: &[f32], w: usize, row: &[Taps], dst: &mut [f32]) {
    for (d, t) in dst.iter_mut().zip(row) {
        *d = if t.inside == ALL_INSIDE {
            let i = t.base as usize;
            let (top, bottom) = (&plane[i..i + 2], &plane[i + w..i + w + 2]);
            let upper = top[0] + t.fx * (top[1] - top[0]);
            let lower = bottom[0] + t.fx * (bottom[1] - bottom[0]);
            upper + t.fy * (lower - upper)
        } else if t.inside == 0 {
            0.0
        } else {
            let (gx, gy) = ([1.0 - t.fx, t.fx], [1.0 - t.fy, t.fy]);
            let mut v = 0.0;
            for k in 0..4 {
                if t.inside & (1 << k) != 0 {
                    let offset = (k >> 1) as i32 * w as i32 + (k & 1) as i32;
                    v += gy[k >> 1] * gx[k & 1] * plane[(t.base + offset) as usize];
                }
            }
            v
        };
    }
}

fn checked_len(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::new(format!("{DOMAIN}:{OP_NAME}: the {what} is too large")))
}

/// ONNX GridSample (`linear` mode, 4-D): `out` `[n, c, out_h, out_w]` sampled from `input`
/// `[n, c, h, w]` at the normalised positions of `grid` `[n, out_h, out_w, 2]` (x then y,
/// -1 and 1 the image's edges as `align_corners` defines them).
///
/// Sizes that do not match the slices are an error, never a panic; see the module
/// documentation for non-finite grid values.
#[allow(clippy::too_many_arguments)]
pub fn grid_sample(
    input: &[f32],
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    grid: &[f32],
    out_h: usize,
    out_w: usize,
    align_corners: bool,
    padding: Padding,
    out: &mut [f32],
) -> Result<()> {
    let in_len = checked_len(&[n, c, h, w], "input")?;
    let grid_len = checked_len(&[n, out_h, out_w, 2], "grid")?;
    let out_len = checked_len(&[n, c, out_h, out_w], "output")?;
    if input.len() != in_len || grid.len() != grid_len || out.len() != out_len {
        return Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: sizes do not match: input {} values for [{n},{c},{h},{w}], \
             grid {} for [{n},{out_h},{out_w},2], output {} for [{n},{c},{out_h},{out_w}]",
            input.len(),
            grid.len(),
            out.len()
        )));
    }
    if out_len == 0 {
        return Ok(());
    }
    if h == 0 || w == 0 {
        return match padding {
            Padding::Zeros => {
                out.fill(0.0);
                Ok(())
            }
            Padding::Border => Err(Error::new(format!(
                "{DOMAIN}:{OP_NAME}: the input image is empty ({h}x{w}); border padding has no edge to repeat"
            ))),
        };
    }
    if h.checked_mul(w).is_none_or(|p| p > i32::MAX as usize) {
        return Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: input planes of {h}x{w} pixels are too large"
        )));
    }

    // Jobs: one band of output rows of one batch item, as the C channel slices it covers.
    let threads = crate::fused::threads_for(out_len / c.max(1)).min(out_h);
    let band = out_h.div_ceil(threads.max(1));
    let bands = out_h.div_ceil(band);
    let plane_out = out_h * out_w;
    let mut jobs: Vec<(usize, usize, Vec<&mut [f32]>)> = (0..n * bands)
        .map(|j| (j / bands, (j % bands) * band, Vec::with_capacity(c)))
        .collect();
    for (ni, item) in out.chunks_exact_mut(c * plane_out).enumerate() {
        for plane in item.chunks_exact_mut(plane_out) {
            for (b, rows) in plane.chunks_mut(band * out_w).enumerate() {
                jobs[ni * bands + b].2.push(rows);
            }
        }
    }

    let plane_in = h * w;
    let work = |(ni, first_row, mut channels): (usize, usize, Vec<&mut [f32]>),
                row: &mut Vec<Taps>| {
        let rows = channels.first().map_or(0, |s| s.len() / out_w);
        let input = &input[ni * c * plane_in..(ni + 1) * c * plane_in];
        for r in 0..rows {
            let oy = first_row + r;
            let g = &grid[(ni * out_h + oy) * out_w * 2..(ni * out_h + oy + 1) * out_w * 2];
            row.clear();
            row.extend(
                g.chunks_exact(2)
                    .map(|p| taps(p[0], p[1], h, w, align_corners, padding)),
            );
            for (ci, dst) in channels.iter_mut().enumerate() {
                let plane = &input[ci * plane_in..(ci + 1) * plane_in];
                apply_row(plane, w, row, &mut dst[r * out_w..(r + 1) * out_w]);
            }
        }
    };

    if threads <= 1 {
        let mut row = Vec::with_capacity(out_w);
        for job in jobs {
            work(job, &mut row);
        }
        return Ok(());
    }
    // Worker t takes every job whose index is t modulo the thread count.
    let mut per_worker: Vec<Vec<_>> = (0..threads).map(|_| Vec::new()).collect();
    for (j, job) in jobs.into_iter().enumerate() {
        per_worker[j % threads].push(job);
    }
    let work = &work;
    std::thread::scope(|s| {
        let mut workers = per_worker.into_iter();
        let first = workers.next();
        for list in workers {
            s.spawn(move || {
                let mut row = Vec::with_capacity(out_w);
                for job in list {
                    work(job, &mut row);
                }
            });
        }
        let mut row = Vec::with_capacity(out_w);
        for job in first.into_iter().flatten() {
            work(job, &mut row);
        }
    });
    Ok(())
}

/// The ONNX Runtime custom operator `org.pixelspace:GridSample` (version 1).
///
/// Inputs `X` (float, `[N, C, H, W]`) and `grid` (float, `[N, H_out, W_out, 2]`); output `Y`
/// (float, `[N, C, H_out, W_out]`). Attributes as ONNX GridSample: `mode` (`linear` or
/// `bilinear`, default `linear`), `padding_mode` (`zeros` or `border`, default `zeros`),
/// `align_corners` (int 0 or 1, default 0). Other modes or paddings fail when the session is
/// created; so do other ranks, a grid whose last dimension is not 2 or batch sizes that
/// differ, when the graph's shapes show it, and otherwise when the node runs.
pub struct GridSampleOp;

/// The kernel of one `GridSample` node: its attributes.
pub struct GridSampleKernel {
    align_corners: bool,
    padding: Padding,
}

/// Checks input shapes (`None` for unknown dimensions): 4-D input, 4-D grid ending in 2,
/// matching batch sizes.
fn check_shapes(x: &[Option<i64>], g: &[Option<i64>]) -> Result<()> {
    if x.len() != 4 {
        return Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: input X must be 4-D [N, C, H, W], got {} dimensions",
            x.len()
        )));
    }
    if g.len() != 4 {
        return Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: grid must be 4-D [N, H_out, W_out, 2], got {} dimensions",
            g.len()
        )));
    }
    if let Some(last) = g[3].filter(|&d| d != 2) {
        return Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: the grid's last dimension must be 2 (x, y), got {last}"
        )));
    }
    if let (Some(a), Some(b)) = (x[0], g[0])
        && a != b
    {
        return Err(Error::new(format!(
            "{DOMAIN}:{OP_NAME}: grid batch size {b} does not match input batch size {a}"
        )));
    }
    Ok(())
}

impl Operator for GridSampleOp {
    type Kernel<'attr> = GridSampleKernel;

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
        ]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [OperatorOutput::required(TensorElementType::Float32)]
    }

    fn create_kernel<'attr>(&self, kctx: &KernelContext<'attr>) -> ort::Result<GridSampleKernel> {
        let node = kctx.node_name().unwrap_or_default();
        let in_node = |e: Error| ort_error(e.context(format!("node '{node}'")));
        // The shapes the graph declares or infers (ONNX Runtime ignores errors from
        // `infer_shape`, so this is where a wrong rank fails at session creation).
        if let Ok(inputs) = kctx.inputs()
            && let [x, g] = inputs.as_slice()
            && let (Some(xs), Some(gs)) = (x.dtype().tensor_shape(), g.dtype().tensor_shape())
        {
            check_shapes(&known(&ranked(xs)), &known(&ranked(gs))).map_err(in_node)?;
        }
        let mode: String = kctx.get("mode").unwrap_or_else(|| "linear".to_string());
        check_mode(&mode).map_err(in_node)?;
        let padding: String = kctx
            .get("padding_mode")
            .unwrap_or_else(|| "zeros".to_string());
        let padding = Padding::parse(&padding).map_err(in_node)?;
        let align_corners: i64 = kctx.get("align_corners").unwrap_or(0);
        if align_corners != 0 && align_corners != 1 {
            return Err(in_node(Error::new(format!(
                "{DOMAIN}:{OP_NAME}: align_corners must be 0 or 1, got {align_corners}"
            ))));
        }
        Ok(GridSampleKernel {
            align_corners: align_corners == 1,
            padding,
        })
    }

    fn infer_shape(&self, ctx: &mut ShapeInferenceContext) -> ort::Result<()> {
        let inputs = ctx.inputs();
        let (Some(x), Some(g)) = (inputs.first(), inputs.get(1)) else {
            return Err(ort::Error::new(format!(
                "{DOMAIN}:{OP_NAME} takes two inputs (X, grid)"
            )));
        };
        let (
            ValueType::Tensor {
                shape: xs,
                dimension_symbols: xsym,
                ..
            },
            ValueType::Tensor {
                shape: gs,
                dimension_symbols: gsym,
                ..
            },
        ) = (x, g)
        else {
            return Err(ort::Error::new(format!(
                "{DOMAIN}:{OP_NAME}: X and grid must be tensors"
            )));
        };
        let (xs, gs) = (ranked(xs), ranked(gs));
        check_shapes(&known(&xs), &known(&gs)).map_err(ort_error)?;
        let dims = [
            (xs[0], xsym, 0),
            (xs[1], xsym, 1),
            (gs[1], gsym, 1),
            (gs[2], gsym, 2),
        ];
        let out = ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new(dims.map(|(d, _, _)| d)),
            dimension_symbols: SymbolicDimensions::new(
                dims.map(|(d, symbols, i)| output_symbol(OP_NAME, d, symbols.get(i))),
            ),
        };
        ctx.set_output(0, &out)
    }
}

impl Kernel for GridSampleKernel {
    fn compute(&mut self, ctx: &ComputeContext) -> ort::Result<()> {
        let missing =
            |what: &str| ort::Error::new(format!("{DOMAIN}:{OP_NAME}: input {what} is missing"));
        let x = ctx.input(0)?.ok_or_else(|| missing("X"))?;
        let g = ctx.input(1)?.ok_or_else(|| missing("grid"))?;
        let (xs, xd) = x.try_extract_tensor::<f32>()?;
        let (gs, gd) = g.try_extract_tensor::<f32>()?;
        check_shapes(&known(xs), &known(gs)).map_err(ort_error)?;
        let dims = |s: &[i64]| s.iter().map(|&d| d as usize).collect::<Vec<usize>>();
        let (xs, gs) = (dims(xs), dims(gs));
        let mut y = ctx
            .output(0, [xs[0], xs[1], gs[1], gs[2]])?
            .ok_or_else(|| ort::Error::new(format!("{DOMAIN}:{OP_NAME}: no output Y")))?;
        let (_, yd) = y.try_extract_tensor_mut::<f32>()?;
        grid_sample(
            xd,
            xs[0],
            xs[1],
            xs[2],
            xs[3],
            gd,
            gs[1],
            gs[2],
            self.align_corners,
            self.padding,
            yd,
        )
        .map_err(ort_error)
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
    }

    /// The definition written out per channel and output pixel in f64: unnormalise, then
    /// bilinear over the four neighbours, each read through the padding rule.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        input: &[f32],
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        grid: &[f32],
        oh: usize,
        ow: usize,
        align: bool,
        padding: Padding,
    ) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * c * oh * ow);
        for b in 0..n {
            for ch in 0..c {
                let plane = &input[(b * c + ch) * h * w..][..h * w];
                let pixel = |yy: f64, xx: f64| -> f64 {
                    let inside = yy >= 0.0 && yy < h as f64 && xx >= 0.0 && xx < w as f64;
                    match padding {
                        Padding::Zeros if !inside => 0.0,
                        _ => {
                            let yy = yy.clamp(0.0, (h - 1) as f64) as usize;
                            let xx = xx.clamp(0.0, (w - 1) as f64) as usize;
                            plane[yy * w + xx] as f64
                        }
                    }
                };
                for oy in 0..oh {
                    for ox in 0..ow {
                        let gi = ((b * oh + oy) * ow + ox) * 2;
                        let (gx, gy) = (grid[gi], grid[gi + 1]);
                        // The position is ONNX Runtime's f32 arithmetic (in f64 it would differ
                        // by up to size * 1e-7 pixels); the rest is f64.
                        let un = |g: f32, size: usize| -> f64 {
                            let size = size as f32;
                            if align {
                                ((g + 1.0) / 2.0 * (size - 1.0)) as f64
                            } else {
                                (((g + 1.0) * size - 1.0) / 2.0) as f64
                            }
                        };
                        let (mut x, mut y) = (un(gx, w), un(gy, h));
                        if padding == Padding::Border {
                            x = x.clamp(0.0, (w - 1) as f64);
                            y = y.clamp(0.0, (h - 1) as f64);
                        }
                        let (x0, y0) = (x.floor(), y.floor());
                        let (ax, ay) = (x - x0, y - y0);
                        let v = (1.0 - ay)
                            * ((1.0 - ax) * pixel(y0, x0) + ax * pixel(y0, x0 + 1.0))
                            + ay * ((1.0 - ax) * pixel(y0 + 1.0, x0)
                                + ax * pixel(y0 + 1.0, x0 + 1.0));
                        out.push(v as f32);
                    }
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn check_case(
        rng: &mut Rng,
        n: usize,
        c: usize,
        h: usize,
        w: usize,
        oh: usize,
        ow: usize,
        spread: f32,
    ) {
        let input: Vec<f32> = (0..n * c * h * w).map(|_| rng.unit() * 2.0 - 1.0).collect();
        let grid: Vec<f32> = (0..n * oh * ow * 2)
            .map(|_| (rng.unit() * 2.0 - 1.0) * spread)
            .collect();
        for padding in [Padding::Zeros, Padding::Border] {
            for align in [false, true] {
                let mut out = vec![f32::NAN; n * c * oh * ow];
                grid_sample(&input, n, c, h, w, &grid, oh, ow, align, padding, &mut out).unwrap();
                let want = reference(&input, n, c, h, w, &grid, oh, ow, align, padding);
                let diff = out
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(
                    diff < 1e-5,
                    "[{n},{c},{h},{w}] -> {oh}x{ow}, {padding:?}, align_corners {align}: max diff {diff}"
                );
            }
        }
    }

    #[test]
    fn matches_the_reference_on_random_inputs() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        // Odd sizes, grids reaching well outside [-1, 1], down- and up-sampling, 1-pixel images.
        check_case(&mut rng, 2, 3, 7, 13, 5, 11, 1.6);
        check_case(&mut rng, 1, 1, 1, 1, 3, 4, 2.0);
        check_case(&mut rng, 1, 2, 1, 9, 2, 5, 1.3);
        check_case(&mut rng, 3, 5, 17, 6, 19, 23, 1.2);
        check_case(&mut rng, 1, 4, 31, 29, 1, 1, 1.0);
        // Large enough to run on several threads (when the machine has them).
        check_case(&mut rng, 2, 3, 61, 97, 131, 257, 1.1);
    }

    #[test]
    fn exact_positions_give_the_pixels() {
        // align_corners 1: -1 and 1 are the centres of the first and last pixels.
        let (h, w) = (3, 4);
        let input: Vec<f32> = (0..h * w).map(|v| v as f32).collect();
        let mut grid = Vec::new();
        for y in 0..h {
            for x in 0..w {
                grid.push(x as f32 / (w - 1) as f32 * 2.0 - 1.0);
                grid.push(y as f32 / (h - 1) as f32 * 2.0 - 1.0);
            }
        }
        for padding in [Padding::Zeros, Padding::Border] {
            let mut out = vec![0.0; h * w];
            grid_sample(&input, 1, 1, h, w, &grid, h, w, true, padding, &mut out).unwrap();
            assert_eq!(out, input, "{padding:?}");
        }
        // align_corners 0, zeros: the image's outer edge (-1) is half a pixel out: half weight.
        let mut out = [0.0];
        grid_sample(
            &input,
            1,
            1,
            h,
            w,
            &[-1.0, -1.0],
            1,
            1,
            false,
            Padding::Zeros,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0], 0.25 * input[0]);
        grid_sample(
            &input,
            1,
            1,
            h,
            w,
            &[1.0, 1.0],
            1,
            1,
            false,
            Padding::Border,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0], input[h * w - 1]);
    }

    #[test]
    fn non_finite_grid_values_do_not_panic() {
        let (h, w) = (4, 5);
        let input: Vec<f32> = (0..2 * h * w).map(|v| v as f32 + 1.0).collect();
        let sample = |grid: &[f32], align: bool, padding: Padding| {
            let pixels = grid.len() / 2;
            let mut out = vec![f32::NAN; 2 * pixels];
            grid_sample(
                &input, 1, 2, h, w, grid, 1, pixels, align, padding, &mut out,
            )
            .unwrap();
            out
        };
        let nan = f32::NAN;
        let (inf, big) = (f32::INFINITY, 1e30);
        for align in [false, true] {
            for padding in [Padding::Zeros, Padding::Border] {
                // NaN reads as -1.
                let with_nan = sample(&[nan, 0.3, -0.4, nan, nan, nan], align, padding);
                let with_edge = sample(&[-1.0, 0.3, -0.4, -1.0, -1.0, -1.0], align, padding);
                assert_eq!(with_nan, with_edge, "{padding:?}, align_corners {align}");
                assert!(with_nan.iter().all(|v| v.is_finite()));
            }
            // Infinite and huge positions: nothing with zeros, the edges with border.
            let far = [inf, 0.0, -inf, -inf, big, -big, f32::MAX, f32::MIN];
            let zeros = sample(&far, align, Padding::Zeros);
            assert!(zeros.iter().all(|&v| v == 0.0), "{zeros:?}");
            let border = sample(&far, align, Padding::Border);
            let plane0 = &input[..h * w];
            // x clamps to the last column; y = 1.5 sits between rows 1 and 2.
            assert_eq!(border[0], 0.5 * plane0[2 * w - 1] + 0.5 * plane0[3 * w - 1]);
            assert_eq!(border[1], plane0[0]);
            assert_eq!(border[2], plane0[w - 1]);
            assert_eq!(border[3], plane0[w - 1]);
        }
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let mut out = vec![0.0; 6];
        let err = grid_sample(
            &[0.0; 5],
            1,
            1,
            2,
            3,
            &[0.0; 12],
            2,
            3,
            false,
            Padding::Zeros,
            &mut out,
        )
        .unwrap_err();
        assert!(err.message().contains("sizes do not match"), "{err}");
        let err = grid_sample(
            &[],
            1,
            1,
            0,
            3,
            &[0.0; 12],
            2,
            3,
            false,
            Padding::Border,
            &mut out,
        )
        .unwrap_err();
        assert!(err.message().contains("empty"), "{err}");
        let err = grid_sample(
            &[],
            usize::MAX,
            2,
            2,
            2,
            &[],
            1,
            1,
            false,
            Padding::Zeros,
            &mut out,
        )
        .unwrap_err();
        assert!(err.message().contains("too large"), "{err}");
    }

    #[test]
    fn attributes_are_checked() {
        assert!(check_mode("linear").is_ok() && check_mode("bilinear").is_ok());
        for bad in ["nearest", "bicubic", "cubic", ""] {
            let err = check_mode(bad).unwrap_err();
            assert!(err.message().contains(&format!("mode '{bad}'")), "{err}");
        }
        assert_eq!(Padding::parse("zeros").unwrap(), Padding::Zeros);
        assert_eq!(Padding::parse("border").unwrap().name(), "border");
        let err = Padding::parse("reflection").unwrap_err();
        assert!(
            err.message().contains("'reflection' is not supported"),
            "{err}"
        );
        let s = |v: &[i64]| known(v);
        assert!(check_shapes(&s(&[2, 7, -1, -1]), &s(&[2, -1, -1, 2])).is_ok());
        let err = check_shapes(&s(&[1, 1, 2, 2, 2]), &s(&[1, 2, 2, 2, 3])).unwrap_err();
        assert!(err.message().contains("must be 4-D"), "{err}");
        let err = check_shapes(&s(&[1, 1, 2, 2]), &s(&[1, 2, 2, 3])).unwrap_err();
        assert!(err.message().contains("last dimension must be 2"), "{err}");
        let err = check_shapes(&s(&[2, 1, 2, 2]), &s(&[3, 2, 2, 2])).unwrap_err();
        assert!(err.message().contains("batch size 3"), "{err}");
    }
}
