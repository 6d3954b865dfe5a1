//! Flow fields in frame pixels and the warps built on them.
//!
//! A [`FlowField`] holds one displacement per frame pixel, in frame pixels, x right and y up
//! (the OFX convention; model flows are y down and are flipped by [`FlowField::from_model`]).
//! [`backward_warp`] samples an image at `p + flow(p)` (bilinear, edges clamped), the warp
//! RIFE itself uses; [`blend_warps`] composes two backward warps with a fusion mask, which is
//! how RIFE makes its frame, applied here to the host's own pixels so values above 1, negative
//! values and alpha survive.
//!
//! [`blend_model_warps`] is the same fusion read straight from a model's flow and mask tensors
//! ([`ModelMotion`]), without making the frame-pixel fields first.
//!
//! The per-pixel passes run over bands of rows on scoped threads ([`for_rows`]); each pixel is
//! computed by the same code whatever the band, so results do not depend on the thread count.

use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::pipeline::FitMapping;

/// A displacement per pixel of `bounds`, frame pixels, x right, y up.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowField {
    pub bounds: Rect,
    /// `(dx, dy)` interleaved, rows bottom-up like [`FloatImage`].
    pub data: Vec<f32>,
}

impl FlowField {
    /// A zero field over `bounds`.
    pub fn zero(bounds: Rect) -> FlowField {
        FlowField {
            bounds,
            data: vec![0.0; 2 * bounds.area()],
        }
    }

    /// A field whose value at `(x, y)` is `f(x, y)`.
    pub fn from_fn(bounds: Rect, mut f: impl FnMut(i32, i32) -> (f32, f32)) -> FlowField {
        let mut data = Vec::with_capacity(2 * bounds.area());
        for (x, y) in bounds.pixels() {
            let (dx, dy) = f(x, y);
            data.push(dx);
            data.push(dy);
        }
        FlowField { bounds, data }
    }

    fn index(&self, x: i32, y: i32) -> usize {
        2 * ((y - self.bounds.y1) as usize * self.bounds.width() as usize
            + (x - self.bounds.x1) as usize)
    }

    /// The displacement at pixel `(x, y)` (inside the bounds).
    pub fn at(&self, x: i32, y: i32) -> (f32, f32) {
        let i = self.index(x, y);
        (self.data[i], self.data[i + 1])
    }

    /// Sets the displacement at pixel `(x, y)`.
    pub fn set(&mut self, x: i32, y: i32, d: (f32, f32)) {
        let i = self.index(x, y);
        self.data[i] = d.0;
        self.data[i + 1] = d.1;
    }

    /// Every value multiplied by `k`.
    pub fn scaled(&self, k: f32) -> FlowField {
        FlowField {
            bounds: self.bounds,
            data: self.data.iter().map(|v| v * k).collect(),
        }
    }

    /// Flow channels `2 * pair` and `2 * pair + 1` of an NCHW model tensor of `width` x
    /// `height` (model pixels, y down), brought to frame pixels over `region` with the fit
    /// `mapping` the model was run with.
    pub fn from_model(
        tensor: &[f32],
        width: usize,
        height: usize,
        pair: usize,
        mapping: &FitMapping,
        region: Rect,
    ) -> FlowField {
        let plane = width * height;
        let planes = [
            &tensor[2 * pair * plane..(2 * pair + 1) * plane],
            &tensor[(2 * pair + 1) * plane..(2 * pair + 2) * plane],
        ];
        FlowField::from_planes(planes, width, height, mapping, region)
    }

    /// The flow whose x and y displacements are the model planes `planes` (`width` x `height`
    /// model pixels, y down), in frame pixels over `region` (see [`FlowField::from_model`]).
    pub fn from_planes(
        planes: [&[f32]; 2],
        width: usize,
        height: usize,
        mapping: &FitMapping,
        region: Rect,
    ) -> FlowField {
        let dx = PlaneSampler::new(planes[0], width, height, mapping);
        let dy = PlaneSampler::new(planes[1], width, height, mapping);
        let (sx, sy) = mapping.flow_to_frame(1.0, 1.0);
        let (sx, sy) = (sx as f32, sy as f32);
        let mut data = vec![0.0; 2 * region.area()];
        for_rows(&mut data, 2 * region.width() as usize, |r, row| {
            let y = region.y1 + r as i32;
            for (i, out) in row.chunks_exact_mut(2).enumerate() {
                let x = region.x1 + i as i32;
                out[0] = dx.at(x, y) * sx;
                out[1] = dy.at(x, y) * sy;
            }
        });
        FlowField {
            bounds: region,
            data,
        }
    }
}

/// Reads one channel of a model tensor at the centres of frame pixels (bilinear, edges
/// clamped), with the fit mapping's frame-to-model transform.
struct PlaneSampler<'a> {
    plane: &'a [f32],
    width: usize,
    height: usize,
    mapping: &'a FitMapping,
    /// The mapping is a whole-pixel shift (padding only): frame pixel centres land on model
    /// pixel centres and are read directly.
    direct: bool,
}

impl<'a> PlaneSampler<'a> {
    fn new(plane: &'a [f32], width: usize, height: usize, mapping: &'a FitMapping) -> Self {
        let direct = mapping.covered.width() == mapping.model_width
            && mapping.covered.height() == mapping.model_height;
        PlaneSampler {
            plane,
            width,
            height,
            mapping,
            direct,
        }
    }

    fn texel(&self, c: i64, r: i64) -> f32 {
        let c = c.clamp(0, self.width as i64 - 1) as usize;
        let r = r.clamp(0, self.height as i64 - 1) as usize;
        self.plane[r * self.width + c]
    }

    /// The value at the centre of frame pixel `(x, y)`.
    fn at(&self, x: i32, y: i32) -> f32 {
        let m = self.mapping;
        if self.direct {
            let c = (x - m.covered.x1) as i64;
            let r = (m.covered.y2 - 1 - y) as i64;
            return self.texel(c, r);
        }
        let (u, v) = m.frame_to_model(x as f64 + 0.5, y as f64 + 0.5);
        let (u, v) = (u - 0.5, v - 0.5);
        let (c0, r0) = (u.floor(), v.floor());
        let (fu, fv) = ((u - c0) as f32, (v - r0) as f32);
        let (c0, r0) = (c0 as i64, r0 as i64);
        if fu == 0.0 && fv == 0.0 {
            return self.texel(c0, r0);
        }
        let top = self.texel(c0, r0) * (1.0 - fu) + self.texel(c0 + 1, r0) * fu;
        let bottom = self.texel(c0, r0 + 1) * (1.0 - fu) + self.texel(c0 + 1, r0 + 1) * fu;
        top * (1.0 - fv) + bottom * fv
    }
}

/// One channel of a model tensor (plane of `width` x `height`, rows top-down) sampled at the
/// centre of every frame pixel of `region` (bilinear, edges clamped), rows bottom-up.
pub fn sample_plane(
    plane: &[f32],
    width: usize,
    height: usize,
    mapping: &FitMapping,
    region: Rect,
) -> Vec<f32> {
    let sampler = PlaneSampler::new(plane, width, height, mapping);
    let mut out = vec![0.0; region.area()];
    for_rows(&mut out, region.width() as usize, |r, row| {
        let y = region.y1 + r as i32;
        for (i, v) in row.iter_mut().enumerate() {
            *v = sampler.at(region.x1 + i as i32, y);
        }
    });
    out
}

/// Calls `work(row index, row)` for every row of `data` (rows of `row_len` values), over bands
/// of rows on scoped threads.
pub fn for_rows(data: &mut [f32], row_len: usize, work: impl Fn(usize, &mut [f32]) + Sync) {
    if row_len == 0 || data.is_empty() {
        return;
    }
    let rows = data.len() / row_len;
    let threads = crate::fused::threads_for(data.len() / 4).min(rows.max(1));
    if threads <= 1 {
        for (r, row) in data.chunks_exact_mut(row_len).enumerate() {
            work(r, row);
        }
        return;
    }
    let band = rows.div_ceil(threads);
    let work = &work;
    std::thread::scope(|s| {
        for (b, chunk) in data.chunks_mut(band * row_len).enumerate() {
            s.spawn(move || {
                for (i, row) in chunk.chunks_exact_mut(row_len).enumerate() {
                    work(b * band + i, row);
                }
            });
        }
    });
}

/// `v.floor()` for values inside an image's pixel range (well within i32), without the call
/// to the maths library that `floor` is on CPUs without SSE4.1 (the baseline x86-64 target).
#[inline]
fn floor(v: f32) -> f32 {
    let t = v as i32 as f32;
    if t > v { t - 1.0 } else { t }
}

/// `src` sampled at continuous pixel position `(x, y)` (integers are pixel centres), bilinear,
/// coordinates clamped into the image (edge pixels repeat; a NaN coordinate reads the first
/// column or row). Inlined into the per-pixel loops, where it is most of the work.
#[inline(always)]
pub fn sample_bilinear(src: &FloatImage, x: f32, y: f32) -> [f32; 4] {
    let b = src.bounds;
    // max before min: a NaN becomes the lower bound.
    let x = x.max(b.x1 as f32).min((b.x2 - 1) as f32);
    let y = y.max(b.y1 as f32).min((b.y2 - 1) as f32);
    let (x0, y0) = (floor(x), floor(y));
    let (fx, fy) = (x - x0, y - y0);
    // Column and row inside the image, and the steps to the next ones (0 on the last).
    let (w, h) = ((b.x2 - b.x1) as usize, (b.y2 - b.y1) as usize);
    let (cx, cy) = ((x0 as i32 - b.x1) as usize, (y0 as i32 - b.y1) as usize);
    let right = if cx + 1 < w { 4 } else { 0 };
    let down = if cy + 1 < h { 4 * w } else { 0 };
    let i = 4 * (cy * w + cx);
    let texel = |i: usize| -> [f32; 4] {
        let p = &src.data[i..i + 4];
        [p[0], p[1], p[2], p[3]]
    };
    let (p00, p10) = (texel(i), texel(i + right));
    let (p01, p11) = (texel(i + down), texel(i + down + right));
    let mut out = [0.0; 4];
    for c in 0..4 {
        let bottom = p00[c] + (p10[c] - p00[c]) * fx;
        let top = p01[c] + (p11[c] - p01[c]) * fx;
        out[c] = bottom + (top - bottom) * fy;
    }
    out
}

/// `out(p) = src(p + flow(p))` over the flow's bounds (bilinear; outside `src` its edge
/// pixels repeat).
pub fn backward_warp(src: &FloatImage, flow: &FlowField) -> FloatImage {
    let b = flow.bounds;
    let w = b.width() as usize;
    let mut out = FloatImage::new(b);
    for_rows(&mut out.data, 4 * w, |r, row| {
        let y = (b.y1 + r as i32) as f32;
        let f = &flow.data[2 * r * w..2 * (r + 1) * w];
        for (i, px) in row.chunks_exact_mut(4).enumerate() {
            let x = (b.x1 + i as i32) as f32;
            px.copy_from_slice(&sample_bilinear(src, x + f[2 * i], y + f[2 * i + 1]));
        }
    });
    out
}

/// RIFE's fusion on any pixels: `mask * warp(img0, flow0) + (1 - mask) * warp(img1, flow1)`,
/// all four channels, over the flows' bounds. `mask` has one weight per pixel (rows bottom-up).
pub fn blend_warps(
    img0: &FloatImage,
    flow0: &FlowField,
    img1: &FloatImage,
    flow1: &FlowField,
    mask: &[f32],
) -> FloatImage {
    assert_eq!(flow0.bounds, flow1.bounds);
    assert_eq!(mask.len(), flow0.bounds.area());
    let b = flow0.bounds;
    let w = b.width() as usize;
    let mut out = FloatImage::new(b);
    for_rows(&mut out.data, 4 * w, |r, row| {
        let y = (b.y1 + r as i32) as f32;
        let f0 = &flow0.data[2 * r * w..2 * (r + 1) * w];
        let f1 = &flow1.data[2 * r * w..2 * (r + 1) * w];
        let m = &mask[r * w..(r + 1) * w];
        for (i, px) in row.chunks_exact_mut(4).enumerate() {
            let x = (b.x1 + i as i32) as f32;
            let a = sample_bilinear(img0, x + f0[2 * i], y + f0[2 * i + 1]);
            let c = sample_bilinear(img1, x + f1[2 * i], y + f1[2 * i + 1]);
            fuse(px, m[i], a, c);
        }
    });
    out
}

/// One fused pixel: `mask * a + (1 - mask) * c`, the mask clamped to 0..1.
#[inline]
fn fuse(px: &mut [f32], mask: f32, a: [f32; 4], c: [f32; 4]) {
    let m = mask.clamp(0.0, 1.0);
    for k in 0..4 {
        px[k] = m * a[k] + (1.0 - m) * c[k];
    }
}

/// A flow model's outputs as the model gave them: NCHW planes of `width` x `height` model
/// pixels, rows top-down, displacements in model pixels with y down, run with `mapping`.
pub struct ModelMotion<'a> {
    /// The x and y displacement planes leading into the first frame.
    pub flow0: [&'a [f32]; 2],
    /// The same into the second frame.
    pub flow1: [&'a [f32]; 2],
    /// The fusion mask (the first frame's weight).
    pub mask: &'a [f32],
    pub width: usize,
    pub height: usize,
    pub mapping: &'a FitMapping,
}

impl ModelMotion<'_> {
    /// Both flows in frame pixels over `region`.
    pub fn flows(&self, region: Rect) -> (FlowField, FlowField) {
        let field =
            |planes| FlowField::from_planes(planes, self.width, self.height, self.mapping, region);
        (field(self.flow0), field(self.flow1))
    }

    /// The mask at every frame pixel of `region`, rows bottom-up.
    pub fn mask(&self, region: Rect) -> Vec<f32> {
        sample_plane(self.mask, self.width, self.height, self.mapping, region)
    }

    /// How frame pixels of `region` find their model pixels when the fit is padding only
    /// (model pixels are frame pixels, shifted and flipped); `None` for any other fit.
    fn direct(&self, region: Rect) -> Option<DirectRead> {
        let m = self.mapping;
        let direct = m.covered.width() == m.model_width
            && m.covered.height() == m.model_height
            && m.covered.contains_rect(&region)
            && m.model_width as usize == self.width
            && m.model_height as usize == self.height;
        if !direct {
            return None;
        }
        let (sx, sy) = m.flow_to_frame(1.0, 1.0);
        Some(DirectRead {
            top: m.covered.y2,
            first_col: (region.x1 - m.covered.x1) as usize,
            scale: (sx as f32, sy as f32),
        })
    }
}

/// Frame pixels read straight from model pixels (see [`ModelMotion::direct`]).
struct DirectRead {
    /// The frame row above the model's first (top) row.
    top: i32,
    /// The model column of the region's first column.
    first_col: usize,
    /// The frame displacement of one model pixel, (1, -1) for an unscaled fit.
    scale: (f32, f32),
}

impl DirectRead {
    /// The model row of frame row `y`.
    fn model_row(&self, y: i32) -> usize {
        (self.top - 1 - y) as usize
    }
}

/// [`blend_warps`] with the flows and mask of `motion` read where the model left them, over
/// `region`: the same values, without the frame-pixel flow fields (two full-size passes and
/// their buffers). A fit that is not padding only goes through the fields.
pub fn blend_model_warps(
    img0: &FloatImage,
    img1: &FloatImage,
    motion: &ModelMotion,
    region: Rect,
) -> FloatImage {
    let Some(direct) = motion.direct(region) else {
        let (flow0, flow1) = motion.flows(region);
        return blend_warps(img0, &flow0, img1, &flow1, &motion.mask(region));
    };
    let (sx, sy) = direct.scale;
    let w = region.width() as usize;
    let mut out = FloatImage::new(region);
    for_rows(&mut out.data, 4 * w, |r, row| {
        let y = region.y1 + r as i32;
        let start = direct.model_row(y) * motion.width + direct.first_col;
        let span = start..start + w;
        let (dx0, dy0) = (
            &motion.flow0[0][span.clone()],
            &motion.flow0[1][span.clone()],
        );
        let (dx1, dy1) = (
            &motion.flow1[0][span.clone()],
            &motion.flow1[1][span.clone()],
        );
        let mask = &motion.mask[span];
        let y = y as f32;
        for (i, px) in row.chunks_exact_mut(4).enumerate() {
            let x = (region.x1 + i as i32) as f32;
            let a = sample_bilinear(img0, x + dx0[i] * sx, y + dy0[i] * sy);
            let c = sample_bilinear(img1, x + dx1[i] * sx, y + dy1[i] * sy);
            fuse(px, mask[i], a, c);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Rect;
    use crate::manifest::Size;

    fn ramp(bounds: Rect) -> FloatImage {
        FloatImage::from_fn(bounds, |x, y| [x as f32, y as f32, 2.0 * x as f32, 0.5])
    }

    #[test]
    fn warps_shift_by_the_flow_and_clamp_at_edges() {
        let b = Rect::from_size(10, 6);
        let src = ramp(b);
        let out = backward_warp(&src, &FlowField::from_fn(b, |_, _| (1.5, -1.0)));
        assert_eq!(out.pixel(3, 3), [4.5, 2.0, 9.0, 0.5]);
        // Past the right edge the edge column repeats.
        assert_eq!(out.pixel(9, 3)[0], 9.0);
        // A NaN position reads the first column (row); never outside the image.
        let nan = backward_warp(&src, &FlowField::from_fn(b, |_, _| (f32::NAN, 0.0)));
        assert_eq!(nan.pixel(5, 2), src.pixel(0, 2));
        let nan = backward_warp(&src, &FlowField::from_fn(b, |_, _| (0.0, f32::NAN)));
        assert_eq!(nan.pixel(5, 4), src.pixel(5, 0));
        // Values are never clipped: HDR and negatives go through.
        let mut hdr = src.clone();
        hdr.data.iter_mut().for_each(|v| *v = *v * 10.0 - 3.0);
        let w = backward_warp(&hdr, &FlowField::zero(b));
        assert_eq!(w, hdr);
    }

    #[test]
    fn the_inline_floor_is_floor() {
        for i in -4000..4000 {
            let v = i as f32 * 0.37 - 3.0;
            assert_eq!(floor(v), v.floor(), "{v}");
        }
        for v in [
            -2.0f32, -1.0, -0.0, 0.0, 1.0, -1e-7, 1e-7, 1919.999, -1919.999,
        ] {
            assert_eq!(floor(v), v.floor(), "{v}");
        }
    }

    #[test]
    fn blend_with_a_mask_picks_and_mixes() {
        let b = Rect::from_size(8, 4);
        let a = FloatImage::filled(b, [2.0, 0.0, 0.0, 1.0]);
        let c = FloatImage::filled(b, [0.0, 4.0, 0.0, 0.0]);
        let z = FlowField::zero(b);
        let m: Vec<f32> = (0..b.area()).map(|i| (i % 2) as f32 * 0.25).collect();
        let out = blend_warps(&a, &z, &c, &z, &m);
        assert_eq!(out.pixel(0, 0), [0.0, 4.0, 0.0, 0.0]);
        assert_eq!(out.pixel(1, 0), [0.5, 3.0, 0.0, 0.25]);
    }

    /// Random model outputs for `mapping`: 2 flow pairs (up to 40 model pixels either way,
    /// so samples leave the frame) and a mask reaching past 0..1.
    fn random_model_outputs(mapping: &FitMapping, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = crate::image::tests::Rng(seed);
        let plane = (mapping.model_width * mapping.model_height) as usize;
        let flow = (0..4 * plane).map(|_| 80.0 * rng.unit() - 40.0).collect();
        let mask = (0..plane).map(|_| 1.4 * rng.unit() - 0.2).collect();
        (flow, mask)
    }

    #[test]
    fn blending_from_model_tensors_matches_blending_the_frame_fields() {
        let region = Rect::new(-7, 13, 93, 63);
        let mut rng = crate::image::tests::Rng(11);
        let img0 = FloatImage::from_fn(region, |_, _| {
            [rng.unit(), rng.unit() * 4.0, -rng.unit(), 1.0]
        });
        let img1 = FloatImage::from_fn(region, |_, _| {
            [rng.unit(), rng.unit(), rng.unit(), rng.unit()]
        });
        let sizes = [
            // Padding only (the model reads the frame pixel for pixel): the direct path.
            Size::Dynamic { multiple: 32 },
            Size::Dynamic { multiple: 1 },
            // A stretched fit: the frame-field path.
            Size::Fixed {
                width: 64,
                height: 48,
                fit: crate::manifest::Fit::Stretch,
            },
        ];
        for (n, size) in sizes.into_iter().enumerate() {
            let mapping = FitMapping::new(size, region);
            let (w, h) = (mapping.model_width as usize, mapping.model_height as usize);
            let (flow, mask) = random_model_outputs(&mapping, 5 + n as u64);
            let plane = w * h;
            let motion = ModelMotion {
                flow0: [&flow[2 * plane..3 * plane], &flow[3 * plane..4 * plane]],
                flow1: [&flow[..plane], &flow[plane..2 * plane]],
                mask: &mask,
                width: w,
                height: h,
                mapping: &mapping,
            };
            let fused = blend_model_warps(&img0, &img1, &motion, region);
            let f0 = FlowField::from_model(&flow, w, h, 1, &mapping, region);
            let f1 = FlowField::from_model(&flow, w, h, 0, &mapping, region);
            let m = sample_plane(&mask, w, h, &mapping, region);
            let fields = blend_warps(&img0, &f0, &img1, &f1, &m);
            assert_eq!(fused.bounds, fields.bounds);
            let same = fused
                .data
                .iter()
                .zip(&fields.data)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{size:?}: the fused blend differs from the field blend"
            );
            assert!(fused.data.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn model_flows_come_to_frame_pixels_y_up() {
        // A 64x64 model tensor for a 50x40 region padded right and at the bottom.
        let region = Rect::new(10, 20, 60, 60);
        let mapping = FitMapping::new(Size::Dynamic { multiple: 64 }, region);
        let (w, h) = (64usize, 64usize);
        let mut t = vec![0.0f32; 4 * w * h];
        // pair 1 (the second flow): dx = column, dy = row (down).
        for r in 0..h {
            for c in 0..w {
                t[2 * w * h + r * w + c] = c as f32;
                t[3 * w * h + r * w + c] = r as f32;
            }
        }
        let f = FlowField::from_model(&t, w, h, 1, &mapping, region);
        // Frame pixel (10, 59) is the region's top-left: model column 0, row 0.
        assert_eq!(f.at(10, 59), (0.0, 0.0));
        // Frame (15, 50): column 5, row 9; y flips.
        assert_eq!(f.at(15, 50), (5.0, -9.0));
    }
}
