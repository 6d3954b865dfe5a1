//! The output of one RIFE IFBlock as one ONNX Runtime custom operator
//! (`org.pixelspace:RifeBlockOutput`, version 1).
//!
//! A converted block ends with a 3x3 conv whose channels a depth-to-space by 4 turns into the
//! block's result at its own resolution: a flow update (4 channels) and the mask logit and
//! features the next block takes (`rest`). The update is scaled to full-resolution pixels,
//! enlarged to full size and added to the flow so far. As ONNX nodes that is a depth-to-space,
//! two slices, a multiply, a resize and an add, each moving a tensor through memory;
//! [`block_output`] reads the conv output and the flow once and writes each output once.
//!
//! Inputs (float32, NCHW): 0 `conv` `[1,16C,h,w]` (C >= 5) and 1 `flow` `[1,4,H,W]`
//! (optional; absent for the first block), with H = 4hs and W = 4ws. Attribute `scale` s (1, 2,
//! 4, 8 or 16, no default).
//!
//! Let d = DepthToSpace(conv, blocksize 4, mode CRD), `[1,C,4h,4w]`: d[c][4i+r][4j+t] =
//! conv[16c+4r+t][i][j]. Outputs: 0 `flow` `[1,4,H,W]` = flow + Resize(s * d[0..4]) (the flow
//! input left out when absent; for s = 1 no resize and no multiply), and 1 `rest`
//! `[1,C-4,4h,4w]` = d[4..C]. Resize is ONNX's linear with half_pixel coordinates (torch's
//! bilinear, align_corners=False) by s: output pixel X reads source position (X + 0.5)/s - 0.5
//! clamped into the source, with ONNX Runtime's tap weights, applied along rows first and then
//! between the two rows (ONNX Runtime weighs the four taps at once: the same within rounding).
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
    DOMAIN, declared_shapes, fresh_symbol, given_inputs, is_omitted, known, ort_error,
    output_symbol, ranked,
};
use crate::error::{Error, Result};
use crate::rife_op::SCALES;

/// The operator's name in [`DOMAIN`].
pub const OP_NAME: &str = "RifeBlockOutput";
/// The domain version the operator implements.
pub const OP_VERSION: u32 = 1;
/// The depth-to-space block size of the conv output.
pub const BLOCK: usize = 4;
/// Flow channels at the start of the block's result.
pub const FLOW_CHANNELS: usize = 4;

/// The input names, in order.
const INPUT_NAMES: [&str; 2] = ["conv", "flow"];

fn error(message: impl std::fmt::Display) -> Error {
    Error::new(format!("{DOMAIN}:{OP_NAME}: {message}"))
}

fn check_scale(scale: i64) -> Result<usize> {
    SCALES
        .iter()
        .copied()
        .find(|&s| s as i64 == scale)
        .ok_or_else(|| error(format!("scale must be 1, 2, 4, 8 or 16, got {scale}")))
}

/// One block's result: the conv output and the flow so far.
#[derive(Clone, Copy, Debug)]
pub struct BlockOutput<'a> {
    /// `[1, 16C, h, w]`.
    pub conv: &'a [f32],
    /// C: the block's result channels after the depth-to-space.
    pub channels: usize,
    /// h.
    pub height: usize,
    /// w.
    pub width: usize,
    /// The flow so far, `[1, 4, 4hs, 4ws]`, if any.
    pub flow: Option<&'a [f32]>,
}

/// Computes both outputs (see the module documentation) at `scale` s: `flow_out`
/// `[1,4,4hs,4ws]` and `rest` `[1,C-4,4h,4w]`. Sizes that do not match are an error, never a
/// panic.
pub fn block_output(
    input: &BlockOutput,
    scale: usize,
    flow_out: &mut [f32],
    rest: &mut [f32],
) -> Result<()> {
    let (h, w) = (BLOCK * input.height, BLOCK * input.width);
    let threads = crate::fused::threads_for(h * scale * w * scale);
    block_output_on(input, scale, flow_out, rest, threads)
}

/// [`block_output`] on at most `threads` threads.
fn block_output_on(
    input: &BlockOutput,
    s: usize,
    flow_out: &mut [f32],
    rest: &mut [f32],
    threads: usize,
) -> Result<()> {
    if !SCALES.contains(&s) {
        return Err(error(format!("scale must be 1, 2, 4, 8 or 16, got {s}")));
    }
    let c = input.channels;
    if c <= FLOW_CHANNELS {
        return Err(error(format!(
            "the conv output must have 16C channels with C >= 5, got C = {c}"
        )));
    }
    let (sh, sw) = (BLOCK * input.height, BLOCK * input.width);
    let (fh, fw) = (sh * s, sw * s);
    let expect = |what: &str, len: usize, dims: &[usize]| -> Result<()> {
        let want = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| error(format!("a tensor of {dims:?} is too large")))?;
        if len != want {
            return Err(error(format!(
                "{what} has {len} values, expected {want} for {dims:?}"
            )));
        }
        Ok(())
    };
    expect(
        "input conv",
        input.conv.len(),
        &[1, 16 * c, input.height, input.width],
    )?;
    if let Some(flow) = input.flow {
        expect("input flow", flow.len(), &[1, FLOW_CHANNELS, fh, fw])?;
    }
    expect("output flow", flow_out.len(), &[1, FLOW_CHANNELS, fh, fw])?;
    expect("output rest", rest.len(), &[1, c - FLOW_CHANNELS, sh, sw])?;
    if fh == 0 || fw == 0 {
        return Ok(());
    }

    let cols = columns(sw, s);
    run_bands(flow_out, FLOW_CHANNELS, fh, fw, threads, |first, planes| {
        flow_rows(input, s, &cols, first, planes)
    });
    run_bands(rest, c - FLOW_CHANNELS, sh, sw, threads, |first, planes| {
        rest_rows(input, first, planes)
    });
    Ok(())
}

/// Splits `out` (`channels` planes of `rows` x `row_len`) into bands of rows, one per thread,
/// and calls `work(first row, the band's slice of every plane)` for each.
fn run_bands(
    out: &mut [f32],
    channels: usize,
    rows: usize,
    row_len: usize,
    threads: usize,
    work: impl Fn(usize, Vec<&mut [f32]>) + Sync,
) {
    let band = rows.div_ceil(threads.clamp(1, rows.max(1)));
    let mut jobs: Vec<(usize, Vec<&mut [f32]>)> = (0..rows.div_ceil(band))
        .map(|b| (b * band, Vec::with_capacity(channels)))
        .collect();
    for plane in out.chunks_exact_mut(rows * row_len) {
        for (b, part) in plane.chunks_mut(band * row_len).enumerate() {
            jobs[b].1.push(part);
        }
    }
    let work = &work;
    let mut jobs = jobs.into_iter();
    let first = jobs.next();
    std::thread::scope(|scope| {
        for (row, planes) in jobs {
            scope.spawn(move || work(row, planes));
        }
        if let Some((row, planes)) = first {
            work(row, planes);
        }
    });
}

/// The two source taps and weights of one output position on an axis, as ONNX Runtime's
/// linear resize computes them: `(i0, i1, w0, w1)`, the value `w0 * v[i0] + w1 * v[i1]`.
#[derive(Clone, Copy, Debug)]
struct Tap {
    i0: usize,
    i1: usize,
    w0: f32,
    w1: f32,
}

/// The tap of output index `i` when an axis of `size` source pixels is enlarged by `s`
/// (half-pixel centres, clamped into the source).
fn tap(i: usize, size: usize, s: usize) -> Tap {
    let p = (i as f32 + 0.5) / s as f32 - 0.5;
    let p = p.clamp(0.0, (size - 1) as f32);
    let i0 = (p as usize).min(size - 1);
    let i1 = (i0 + 1).min(size - 1);
    if i0 == i1 {
        return Tap {
            i0,
            i1,
            w0: 0.5,
            w1: 0.5,
        };
    }
    let w1 = (p - i0 as f32).abs();
    let w0 = (p - i1 as f32).abs();
    Tap { i0, i1, w0, w1 }
}

/// The column taps of every output column.
fn columns(source_width: usize, s: usize) -> Vec<Tap> {
    (0..source_width * s)
        .map(|j| tap(j, source_width, s))
        .collect()
}

/// Row `y` of result channel `c` (the depth-to-space of the conv output), times `k`, into
/// `row` (4w values).
fn result_row(input: &BlockOutput, c: usize, y: usize, k: f32, row: &mut [f32]) {
    let (h, w) = (input.height, input.width);
    let plane = h * w;
    let (i, r) = (y / BLOCK, y % BLOCK);
    let phases: [&[f32]; BLOCK] = std::array::from_fn(|t| {
        let ch = BLOCK * BLOCK * c + BLOCK * r + t;
        &input.conv[ch * plane + i * w..][..w]
    });
    for (j, quad) in row.chunks_exact_mut(BLOCK).enumerate() {
        for (t, v) in quad.iter_mut().enumerate() {
            *v = phases[t][j] * k;
        }
    }
}

/// Output flow rows `first..` (as many as `planes[0]` holds) of all four channels.
fn flow_rows(input: &BlockOutput, s: usize, cols: &[Tap], first: usize, planes: Vec<&mut [f32]>) {
    let (sh, sw) = (BLOCK * input.height, BLOCK * input.width);
    let (fh, fw) = (sh * s, sw * s);
    // A source row, and the two source rows an output row lies between enlarged along x.
    let mut row = vec![0.0f32; sw];
    let mut upper = vec![0.0f32; fw];
    let mut lower = vec![0.0f32; fw];
    let widen = |row: &[f32], wide: &mut [f32]| {
        for (o, t) in wide.iter_mut().zip(cols) {
            *o = t.w0 * row[t.i0] + t.w1 * row[t.i1];
        }
    };
    for (ch, plane) in planes.into_iter().enumerate() {
        // The rows in `upper` and `lower`: consecutive output rows mostly share them.
        let mut loaded: Option<(usize, usize)> = None;
        let prev = input.flow.map(|f| &f[ch * fh * fw..(ch + 1) * fh * fw]);
        for (r, out) in plane.chunks_exact_mut(fw).enumerate() {
            let y = first + r;
            if s == 1 {
                result_row(input, ch, y, 1.0, out);
            } else {
                let ty = tap(y, sh, s);
                if loaded != Some((ty.i0, ty.i1)) {
                    result_row(input, ch, ty.i0, s as f32, &mut row);
                    widen(&row, &mut upper);
                    result_row(input, ch, ty.i1, s as f32, &mut row);
                    widen(&row, &mut lower);
                    loaded = Some((ty.i0, ty.i1));
                }
                for ((o, u), l) in out.iter_mut().zip(&upper).zip(&lower) {
                    *o = ty.w0 * u + ty.w1 * l;
                }
            }
            if let Some(prev) = prev {
                for (o, p) in out.iter_mut().zip(&prev[y * fw..(y + 1) * fw]) {
                    *o += *p;
                }
            }
        }
    }
}

/// Rest rows `first..` (as many as `planes[0]` holds) of every rest channel.
fn rest_rows(input: &BlockOutput, first: usize, planes: Vec<&mut [f32]>) {
    let sw = BLOCK * input.width;
    for (ch, plane) in planes.into_iter().enumerate() {
        for (r, out) in plane.chunks_exact_mut(sw).enumerate() {
            result_row(input, FLOW_CHANNELS + ch, first + r, 1.0, out);
        }
    }
}

/// An input's expected shape as text.
fn describe(input: usize) -> &'static str {
    match input {
        0 => "[1, 16C, h, w] with C >= 5",
        _ => "[1, 4, 4*h*scale, 4*w*scale]",
    }
}

fn shape_text(shape: &[Option<i64>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

/// Checks the inputs' shapes (`None` for unknown dimensions; 1 input, or 2 with the flow) at
/// `scale` and returns the conv output's channels, h and w as far as they are known.
fn check_shapes(shapes: &[Vec<Option<i64>>], scale: usize) -> Result<[Option<i64>; 3]> {
    if shapes.is_empty() || shapes.len() > 2 {
        return Err(error(format!(
            "takes 1 input (conv) or 2 (conv and flow), got {}",
            shapes.len()
        )));
    }
    for (k, shape) in shapes.iter().enumerate() {
        let wrong = || {
            error(format!(
                "input {} must be {}, got {}",
                INPUT_NAMES[k],
                describe(k),
                shape_text(shape)
            ))
        };
        if shape.len() != 4 || shape[0].is_some_and(|d| d != 1) {
            return Err(wrong());
        }
        if k == 0 && shape[1].is_some_and(|c| c % 16 != 0 || c < 16 * 5) {
            return Err(wrong());
        }
        if k == 1 && shape[1].is_some_and(|c| c != FLOW_CHANNELS as i64) {
            return Err(wrong());
        }
    }
    let conv = &shapes[0];
    if let Some(flow) = shapes.get(1) {
        for axis in 0..2 {
            let want = conv[2 + axis].map(|d| d * (BLOCK * scale) as i64);
            if let (Some(want), Some(got)) = (want, flow[2 + axis])
                && want != got
            {
                return Err(error(format!(
                    "input flow {} does not fit input conv {} at scale {scale}: its {} must be \
                     4*scale times the conv's, {want}",
                    shape_text(flow),
                    shape_text(conv),
                    if axis == 0 { "height" } else { "width" }
                )));
            }
        }
    }
    Ok([conv[1], conv[2], conv[3]])
}

/// The ONNX Runtime custom operator `org.pixelspace:RifeBlockOutput` (version 1); see the
/// module documentation for its inputs, attribute and outputs.
pub struct RifeBlockOutputOp;

/// The kernel of one `RifeBlockOutput` node: its scale.
pub struct RifeBlockOutputKernel {
    scale: usize,
}

fn scale_attribute(value: Option<i64>) -> Result<usize> {
    value
        .ok_or_else(|| error("the attribute scale (1, 2, 4, 8 or 16) is required"))
        .and_then(check_scale)
}

impl Operator for RifeBlockOutputOp {
    type Kernel<'attr> = RifeBlockOutputKernel;

    fn name(&self) -> &str {
        OP_NAME
    }

    fn versions(&self) -> RangeInclusive<u32> {
        OP_VERSION..=OP_VERSION
    }

    fn inputs(&self) -> impl IntoIterator<Item = OperatorInput> {
        [
            OperatorInput::required(TensorElementType::Float32),
            OperatorInput::optional(TensorElementType::Float32),
        ]
    }

    fn outputs(&self) -> impl IntoIterator<Item = OperatorOutput> {
        [
            OperatorOutput::required(TensorElementType::Float32),
            OperatorOutput::required(TensorElementType::Float32),
        ]
    }

    fn create_kernel<'attr>(
        &self,
        kctx: &KernelContext<'attr>,
    ) -> ort::Result<RifeBlockOutputKernel> {
        let node = kctx.node_name().unwrap_or_default();
        let in_node = |e: Error| ort_error(e.context(format!("node '{node}'")));
        let scale = scale_attribute(kctx.get("scale")).map_err(in_node)?;
        // ONNX Runtime ignores errors from `infer_shape`: a wrong declared shape fails here,
        // when the session is created.
        if let Some(shapes) = declared_shapes(kctx) {
            check_shapes(&shapes, scale).map_err(in_node)?;
        }
        Ok(RifeBlockOutputKernel { scale })
    }

    fn infer_shape(&self, ctx: &mut ShapeInferenceContext) -> ort::Result<()> {
        let mut inputs = ctx.inputs();
        while inputs.len() > 1 && inputs.last().is_some_and(is_omitted) {
            inputs.pop();
        }
        let mut shapes = Vec::with_capacity(inputs.len());
        let mut symbols = Vec::with_capacity(inputs.len());
        for input in &inputs {
            let ValueType::Tensor {
                shape,
                dimension_symbols,
                ..
            } = input
            else {
                return Err(ort_error(error("its inputs must be tensors")));
            };
            if is_omitted(input) {
                return Err(ort_error(error("input conv is missing")));
            }
            shapes.push(known(&ranked(shape)));
            symbols.push(dimension_symbols.clone());
        }
        let scale = scale_attribute(ctx.attr::<i64>("scale").ok()).map_err(ort_error)?;
        let [c, h, w] = check_shapes(&shapes, scale).map_err(ort_error)?;
        // The flow's size: the flow input's (and its names) when given, else 4*scale times
        // the conv's.
        let full = |axis: usize, small: Option<i64>| -> (i64, String) {
            if let Some(flow) = shapes.get(1) {
                let size = flow[2 + axis]
                    .or(small.map(|d| d * (BLOCK * scale) as i64))
                    .unwrap_or(-1);
                return (size, output_symbol(OP_NAME, size, symbols[1].get(2 + axis)));
            }
            match small {
                Some(d) => (d * (BLOCK * scale) as i64, String::new()),
                None => (-1, fresh_symbol(OP_NAME)),
            }
        };
        let (fh, fw) = (full(0, h), full(1, w));
        let flow = ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new([1, FLOW_CHANNELS as i64, fh.0, fw.0]),
            dimension_symbols: SymbolicDimensions::new([String::new(), String::new(), fh.1, fw.1]),
        };
        let small = |d: Option<i64>| match d {
            Some(d) => (d * BLOCK as i64, String::new()),
            None => (-1, fresh_symbol(OP_NAME)),
        };
        let (rh, rw) = (small(h), small(w));
        let rest_channels = c.map_or(-1, |c| c / 16 - FLOW_CHANNELS as i64);
        let rest = ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape: Shape::new([1, rest_channels, rh.0, rw.0]),
            dimension_symbols: SymbolicDimensions::new([
                String::new(),
                if c.is_some() {
                    String::new()
                } else {
                    fresh_symbol(OP_NAME)
                },
                rh.1,
                rw.1,
            ]),
        };
        ctx.set_output(0, &flow)?;
        ctx.set_output(1, &rest)
    }
}

impl Kernel for RifeBlockOutputKernel {
    fn compute(&mut self, ctx: &ComputeContext) -> ort::Result<()> {
        let values = given_inputs(ctx, &INPUT_NAMES, 1, error)?;
        let mut tensors = Vec::with_capacity(values.len());
        for value in &values {
            let (shape, data) = value.try_extract_tensor::<f32>()?;
            tensors.push((known(shape), data));
        }
        let shapes: Vec<Vec<Option<i64>>> = tensors.iter().map(|(s, _)| s.clone()).collect();
        let [c, h, w] = check_shapes(&shapes, self.scale).map_err(ort_error)?;
        let dim = |d: Option<i64>| d.unwrap_or(0) as usize;
        let input = BlockOutput {
            conv: tensors[0].1,
            channels: dim(c) / 16,
            height: dim(h),
            width: dim(w),
            flow: tensors.get(1).map(|t| t.1),
        };
        let s = self.scale;
        let (sh, sw) = (BLOCK * input.height, BLOCK * input.width);
        let mut flow = ctx
            .output(0, [1, FLOW_CHANNELS, sh * s, sw * s])?
            .ok_or_else(|| ort_error(error("no output flow")))?;
        let mut rest = ctx
            .output(1, [1, input.channels.saturating_sub(FLOW_CHANNELS), sh, sw])?
            .ok_or_else(|| ort_error(error("no output rest")))?;
        let (_, flow) = flow.try_extract_tensor_mut::<f32>()?;
        let (_, rest) = rest.try_extract_tensor_mut::<f32>()?;
        block_output(&input, s, flow, rest).map_err(ort_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) (xorshift).
    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// The spec written out plainly: the depth-to-space as its own tensor, then the scaled
    /// flow resized pixel by pixel (along x on both rows, then between them) and added.
    fn reference(input: &BlockOutput, s: usize) -> (Vec<f32>, Vec<f32>) {
        let (h, w, c) = (input.height, input.width, input.channels);
        let (sh, sw) = (4 * h, 4 * w);
        let mut d = vec![0.0f32; c * sh * sw];
        for ch in 0..c {
            for y in 0..sh {
                for x in 0..sw {
                    let src = (16 * ch + 4 * (y % 4) + x % 4) * h * w + (y / 4) * w + x / 4;
                    d[(ch * sh + y) * sw + x] = input.conv[src];
                }
            }
        }
        let (fh, fw) = (sh * s, sw * s);
        let mut flow = vec![0.0f32; 4 * fh * fw];
        for ch in 0..4 {
            let small = &d[ch * sh * sw..(ch + 1) * sh * sw];
            for y in 0..fh {
                for x in 0..fw {
                    let v = if s == 1 {
                        small[y * sw + x]
                    } else {
                        let (ty, tx) = (tap(y, sh, s), tap(x, sw, s));
                        let k = s as f32;
                        let at = |r: usize, c: usize| small[r * sw + c] * k;
                        let along = |r: usize| tx.w0 * at(r, tx.i0) + tx.w1 * at(r, tx.i1);
                        ty.w0 * along(ty.i0) + ty.w1 * along(ty.i1)
                    };
                    let i = (ch * fh + y) * fw + x;
                    flow[i] = v + input.flow.map_or(0.0, |f| f[i]);
                }
            }
        }
        (flow, d[4 * sh * sw..].to_vec())
    }

    fn run(input: &BlockOutput, s: usize, threads: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let (sh, sw) = (4 * input.height, 4 * input.width);
        let mut flow = vec![f32::NAN; 4 * sh * s * sw * s];
        let mut rest = vec![f32::NAN; (input.channels - 4) * sh * sw];
        block_output_on(input, s, &mut flow, &mut rest, threads)?;
        Ok((flow, rest))
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    #[test]
    fn matches_the_plain_spec_at_every_scale_with_and_without_flow() {
        for (n, &s) in SCALES.iter().enumerate() {
            for with_flow in [false, true] {
                let (h, w, c) = (3, 5, 5 + n % 3 * 4);
                let conv = values(1 + n as u64, 16 * c * h * w);
                let prev = values(99 + n as u64, 4 * 16 * h * w * s * s);
                let input = BlockOutput {
                    conv: &conv,
                    channels: c,
                    height: h,
                    width: w,
                    flow: with_flow.then_some(&prev[..]),
                };
                let (flow, rest) = run(&input, s, 1).unwrap();
                let (want_flow, want_rest) = reference(&input, s);
                assert!(
                    same_bits(&flow, &want_flow),
                    "flow at scale {s}, flow {with_flow}"
                );
                assert!(same_bits(&rest, &want_rest), "rest at scale {s}");
                // Bands of rows on several threads give the same bits.
                let (flow3, rest3) = run(&input, s, 3).unwrap();
                assert!(same_bits(&flow, &flow3) && same_bits(&rest, &rest3));
            }
        }
    }

    #[test]
    fn a_constant_update_enlarges_to_the_same_constant_times_the_scale() {
        // Resizing a constant gives the constant: the flow update is s * v everywhere.
        let (h, w, c, s) = (2, 3, 5, 8);
        let mut conv = vec![0.25f32; 16 * c * h * w];
        conv[4 * 16 * h * w..].iter_mut().for_each(|v| *v = -3.0);
        let input = BlockOutput {
            conv: &conv,
            channels: c,
            height: h,
            width: w,
            flow: None,
        };
        let (flow, rest) = run(&input, s, 2).unwrap();
        assert!(
            flow.iter().all(|&v| (v - 2.0).abs() < 1e-6),
            "{:?}",
            &flow[..8]
        );
        assert!(rest.iter().all(|&v| v == -3.0));
    }

    #[test]
    fn the_depth_to_space_places_each_phase() {
        // One conv pixel: channel 16c + 4r + t lands at row r, column t of channel c.
        let c = 5;
        let conv: Vec<f32> = (0..16 * c).map(|i| i as f32).collect();
        let input = BlockOutput {
            conv: &conv,
            channels: c,
            height: 1,
            width: 1,
            flow: None,
        };
        let (flow, rest) = run(&input, 1, 1).unwrap();
        assert_eq!(flow[4 * 4 + 2 * 4 + 3], (16 + 2 * 4 + 3) as f32);
        assert_eq!(rest[4 + 1], (16 * 4 + 4 + 1) as f32);
    }

    #[test]
    fn wrong_sizes_are_errors_not_panics() {
        let conv = values(3, 16 * 5 * 2 * 2);
        let input = BlockOutput {
            conv: &conv,
            channels: 5,
            height: 2,
            width: 2,
            flow: None,
        };
        let mut rest = vec![0.0; 8 * 8];
        let mut short = vec![0.0; 4 * 16 * 16 - 1];
        let err = block_output_on(&input, 2, &mut short, &mut rest, 1).unwrap_err();
        assert!(err.message().contains("output flow"), "{}", err.message());
        let mut flow = vec![0.0; 4 * 16 * 16];
        let err = block_output_on(&input, 3, &mut flow, &mut rest, 1).unwrap_err();
        assert!(err.message().contains("scale must be"), "{}", err.message());
        let prev = vec![0.0; 10];
        let with_bad_flow = BlockOutput {
            flow: Some(&prev),
            ..input
        };
        let err = block_output_on(&with_bad_flow, 2, &mut flow, &mut rest, 1).unwrap_err();
        assert!(err.message().contains("input flow"), "{}", err.message());
        let few = BlockOutput {
            channels: 4,
            ..input
        };
        assert!(block_output_on(&few, 2, &mut flow, &mut rest, 1).is_err());
    }

    #[test]
    fn shapes_are_checked_before_running() {
        let shape = |d: [i64; 4]| known(&d);
        assert!(check_shapes(&[shape([1, 80, 3, 5])], 2).is_ok());
        assert!(check_shapes(&[shape([1, 80, 3, 5]), shape([1, 4, 24, 40])], 2).is_ok());
        let msg = |r: Result<[Option<i64>; 3]>| r.unwrap_err().message().to_string();
        assert!(msg(check_shapes(&[shape([1, 72, 3, 5])], 2)).contains("16C"));
        assert!(msg(check_shapes(&[shape([1, 64, 3, 5])], 2)).contains("C >= 5"));
        assert!(
            msg(check_shapes(
                &[shape([1, 80, 3, 5]), shape([1, 4, 24, 41])],
                2
            ))
            .contains("width")
        );
        assert!(
            msg(check_shapes(
                &[shape([1, 80, 3, 5]), shape([1, 2, 24, 40])],
                2
            ))
            .contains("flow")
        );
        assert!(check_shapes(&[], 2).is_err());
        // Unknown sizes pass until the node runs.
        assert!(check_shapes(&[vec![None; 4], vec![None; 4]], 4).is_ok());
    }
}
