//! Filling what no frame shows.
//!
//! With an inpainting model of LaMa's public contract (`image` Bx3xHxW RGB and `mask`
//! Bx1xHxW, 1 where to fill; output the filled image, described by its manifest), the hole's
//! bounding box with a margin of context is cut out, run through the model (fitted to its size
//! by the manifest) and the result is written into the hole.
//!
//! Without one, the built-in fill runs:
//! 1. a multi-scale diffusion (push-pull down a pyramid of known pixels, then Gauss-Seidel
//!    relaxation of Laplace's equation inside the hole at every level on the way up): a smooth
//!    membrane that meets the hole's border;
//! 2. PatchMatch texture voting on top of it (7x7 patches, nearest neighbours among patches
//!    wholly outside the hole, found by propagation and random search; each hole pixel becomes
//!    the mean of what the patches covering it vote), a few EM rounds. Holes above
//!    [`PATCH_LIMIT`] pixels skip it at that size, to bound the time.
//!
//! Both run coarse to fine: a hole above [`COARSEST_HOLE`] pixels is first filled on a
//! half-size copy of the frame (recursively), and that result, enlarged, starts PatchMatch at
//! the finer size instead of the membrane, so large holes get texture and structure rather
//! than a blur.
//!
//! Confidence of an invented pixel: `0.5 * exp(-d / 16)` with `d` its distance in pixels from
//! the nearest real pixel.

use super::PlateOptions;
use crate::colour::{ColourSpace, convert_rgba};
use crate::error::{Error, Result};
use crate::geometry::Rect;
use crate::image::FloatImage;
use crate::manifest::Output;
use crate::pipeline::{InferRequest, InferencePipeline};
use crate::resize::resize_to;
use crate::tensor::Layout;

/// Largest hole (pixels) the PatchMatch stage runs on.
pub const PATCH_LIMIT: usize = 400_000;

/// Holes up to this many pixels are filled at their own size; larger ones start on a
/// half-size copy.
pub const COARSEST_HOLE: usize = 4_000;
const PATCH_R: i32 = 3;

/// Fills the `unknown` pixels of `image` (RGB; alpha untouched); returns a confidence per pixel
/// (meaningful where `unknown`).
pub fn fill(image: &mut FloatImage, unknown: &[bool], opts: &PlateOptions) -> Result<Vec<f32>> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if unknown.iter().all(|&u| u) {
        return Err(Error::new(
            "the matte covers the whole frame: nothing is left to build a plate from",
        ));
    }
    match opts.inpaint_model {
        Some(model) => model_fill(model, image, unknown, opts.frame_colour)?,
        None => coarse_to_fine(image, unknown, w, h),
    }
    let d = distance(unknown, w, h);
    Ok(d.iter().map(|&d| 0.5 * (-d / 16.0).exp()).collect())
}

/// The built-in fill, coarse to fine: on a half-size copy first (recursively, while the hole
/// is more than [`COARSEST_HOLE`] pixels and the frame more than 64 on its short side), whose
/// result, enlarged, starts this level's PatchMatch in place of the smooth membrane; so large
/// holes get the texture and structure found at the coarse levels rather than a blur. The
/// coarsest level starts from the diffusion fill.
fn coarse_to_fine(image: &mut FloatImage, unknown: &[bool], w: usize, h: usize) {
    let holes = unknown.iter().filter(|&&u| u).count();
    if holes <= COARSEST_HOLE || w.min(h) < 128 {
        diffuse(image, unknown, w, h);
        if holes <= PATCH_LIMIT {
            patch_fill(image, unknown, w, h, 3);
        }
        return;
    }
    let (hw, hh) = (w / 2, h / 2);
    let mut small = FloatImage::new(Rect::from_size(hw as u32, hh as u32));
    let mut small_unknown = vec![false; hw * hh];
    for y in 0..hh {
        for x in 0..hw {
            let o = y * hw + x;
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let i = (2 * y + dy) * w + 2 * x + dx;
                small_unknown[o] |= unknown[i];
                for c in 0..4 {
                    small.data[4 * o + c] += 0.25 * image.data[4 * i + c];
                }
            }
        }
    }
    coarse_to_fine(&mut small, &small_unknown, hw, hh);
    // Enlarge (bilinear) into this level's hole.
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !unknown[i] {
                continue;
            }
            let fx = ((x as f32 - 0.5) / 2.0).clamp(0.0, (hw - 1) as f32);
            let fy = ((y as f32 - 0.5) / 2.0).clamp(0.0, (hh - 1) as f32);
            let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(hw - 1), (y0 + 1).min(hh - 1));
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            for c in 0..3 {
                let p = |xx: usize, yy: usize| small.data[4 * (yy * hw + xx) + c];
                let b = p(x0, y0) + ax * (p(x1, y0) - p(x0, y0));
                let t = p(x0, y1) + ax * (p(x1, y1) - p(x0, y1));
                image.data[4 * i + c] = b + ay * (t - b);
            }
        }
    }
    if holes <= PATCH_LIMIT {
        patch_fill(image, unknown, w, h, 2);
    }
}

/// Multi-scale diffusion fill of the unknown pixels.
pub fn diffuse(image: &mut FloatImage, unknown: &[bool], w: usize, h: usize) {
    let rgb: Vec<[f32; 3]> = image
        .data
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let known: Vec<bool> = unknown.iter().map(|u| !u).collect();
    let filled = push_pull(&rgb, &known, w, h);
    for (i, p) in filled.iter().enumerate() {
        if unknown[i] {
            image.data[4 * i..4 * i + 3].copy_from_slice(p);
        }
    }
}

fn push_pull(rgb: &[[f32; 3]], known: &[bool], w: usize, h: usize) -> Vec<[f32; 3]> {
    let mut out = rgb.to_vec();
    if known.iter().all(|&k| k) || !known.iter().any(|&k| k) {
        return out;
    }
    // Coarser level: means of known pixels.
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let mut crgb = vec![[0f32; 3]; hw * hh];
    let mut cknown = vec![false; hw * hh];
    for y in 0..hh {
        for x in 0..hw {
            let (mut s, mut n) = ([0f32; 3], 0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (sx, sy) = (2 * x + dx, 2 * y + dy);
                if sx < w && sy < h && known[sy * w + sx] {
                    for c in 0..3 {
                        s[c] += rgb[sy * w + sx][c];
                    }
                    n += 1;
                }
            }
            if n > 0 {
                crgb[y * hw + x] = s.map(|v| v / n as f32);
                cknown[y * hw + x] = true;
            }
        }
    }
    let coarse = if (hw, hh) == (w, h) {
        crgb
    } else {
        push_pull(&crgb, &cknown, hw, hh)
    };
    // Up: unknown pixels from the coarse level (bilinear), then relax.
    for y in 0..h {
        for x in 0..w {
            if known[y * w + x] {
                continue;
            }
            let fx = ((x as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (hw - 1) as f32);
            let fy = ((y as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (hh - 1) as f32);
            let (x0, y0) = (fx as usize, fy as usize);
            let (x1, y1) = ((x0 + 1).min(hw - 1), (y0 + 1).min(hh - 1));
            let (wx, wy) = (fx - x0 as f32, fy - y0 as f32);
            for c in 0..3 {
                let a = coarse[y0 * hw + x0][c] * (1.0 - wx) + coarse[y0 * hw + x1][c] * wx;
                let b = coarse[y1 * hw + x0][c] * (1.0 - wx) + coarse[y1 * hw + x1][c] * wx;
                out[y * w + x][c] = a * (1.0 - wy) + b * wy;
            }
        }
    }
    let holes: Vec<usize> = (0..w * h).filter(|&i| !known[i]).collect();
    for _ in 0..8 {
        for &i in &holes {
            let (x, y) = (i % w, i / w);
            let (mut s, mut n) = ([0f32; 3], 0f32);
            for (nx, ny) in [
                (x.wrapping_sub(1), y),
                (x + 1, y),
                (x, y.wrapping_sub(1)),
                (x, y + 1),
            ] {
                if nx < w && ny < h {
                    for c in 0..3 {
                        s[c] += out[ny * w + nx][c];
                    }
                    n += 1.0;
                }
            }
            out[i] = s.map(|v| v / n);
        }
    }
    out
}

/// Small deterministic generator for the random search.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// PatchMatch texture voting over the unknown pixels of `image` (which holds a first fill).
pub fn patch_fill(image: &mut FloatImage, unknown: &[bool], w: usize, h: usize, rounds: usize) {
    let r = PATCH_R;
    // Source patch centres: whole patch inside the image and clear of the hole.
    let near_hole = {
        let d = distance(unknown, w, h);
        d.into_iter()
            .map(|d| d <= (r as f32) * 1.5 + 0.5)
            .collect::<Vec<_>>()
    };
    let sources: Vec<usize> = (0..w * h)
        .filter(|&i| {
            let (x, y) = ((i % w) as i32, (i / w) as i32);
            x >= r && y >= r && x < w as i32 - r && y < h as i32 - r && !near_hole[i]
        })
        .collect();
    let targets: Vec<usize> = (0..w * h).filter(|&i| unknown[i]).collect();
    if sources.is_empty() || targets.is_empty() {
        return;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut nnf: Vec<usize> = targets
        .iter()
        .map(|_| sources[rng.below(sources.len())])
        .collect();
    let mut index_of = vec![usize::MAX; w * h];
    for (k, &i) in targets.iter().enumerate() {
        index_of[i] = k;
    }
    let valid_src = |s: usize| -> bool {
        let (x, y) = ((s % w) as i32, (s / w) as i32);
        x >= r && y >= r && x < w as i32 - r && y < h as i32 - r && !near_hole[s]
    };
    for _round in 0..rounds {
        let cur: Vec<[f32; 3]> = image
            .data
            .chunks_exact(4)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        let dist = |t: usize, s: usize, best: f32| -> f32 {
            let (tx, ty) = ((t % w) as i32, (t / w) as i32);
            let (sx, sy) = ((s % w) as i32, (s / w) as i32);
            let mut d = 0f32;
            for dy in -r..=r {
                let ty2 = (ty + dy).clamp(0, h as i32 - 1) as usize;
                let sy2 = (sy + dy) as usize;
                for dx in -r..=r {
                    let tx2 = (tx + dx).clamp(0, w as i32 - 1) as usize;
                    let a = cur[ty2 * w + tx2];
                    let b = cur[sy2 * w + (sx + dx) as usize];
                    d += (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2);
                }
                if d >= best {
                    return d;
                }
            }
            d
        };
        let mut cost: Vec<f32> = targets
            .iter()
            .zip(&nnf)
            .map(|(&t, &s)| dist(t, s, f32::INFINITY))
            .collect();
        for pass in 0..4 {
            let order: Box<dyn Iterator<Item = usize>> = if pass % 2 == 0 {
                Box::new(0..targets.len())
            } else {
                Box::new((0..targets.len()).rev())
            };
            let step: i32 = if pass % 2 == 0 { 1 } else { -1 };
            for k in order {
                let t = targets[k];
                let (tx, ty) = ((t % w) as i32, (t / w) as i32);
                // Propagation from the neighbours already visited.
                for (nx, ny) in [(tx - step, ty), (tx, ty - step)] {
                    if nx < 0 || ny < 0 || nx >= w as i32 || ny >= h as i32 {
                        continue;
                    }
                    let nk = index_of[ny as usize * w + nx as usize];
                    if nk == usize::MAX {
                        continue;
                    }
                    let ns = nnf[nk];
                    let (sx, sy) = ((ns % w) as i32 + (tx - nx), (ns / w) as i32 + (ty - ny));
                    if sx < 0 || sy < 0 || sx >= w as i32 || sy >= h as i32 {
                        continue;
                    }
                    let cand = sy as usize * w + sx as usize;
                    if valid_src(cand) {
                        let d = dist(t, cand, cost[k]);
                        if d < cost[k] {
                            cost[k] = d;
                            nnf[k] = cand;
                        }
                    }
                }
                // Random search around the current match, shrinking.
                let mut radius = w.max(h) as i32;
                while radius >= 1 {
                    let s = nnf[k];
                    let (sx, sy) = ((s % w) as i32, (s / w) as i32);
                    let cx = sx + (rng.below(2 * radius as usize + 1) as i32 - radius);
                    let cy = sy + (rng.below(2 * radius as usize + 1) as i32 - radius);
                    if cx >= 0 && cy >= 0 && cx < w as i32 && cy < h as i32 {
                        let cand = cy as usize * w + cx as usize;
                        if valid_src(cand) {
                            let d = dist(t, cand, cost[k]);
                            if d < cost[k] {
                                cost[k] = d;
                                nnf[k] = cand;
                            }
                        }
                    }
                    radius /= 2;
                }
            }
        }
        // Voting: each hole pixel is the weighted mean of the pixels the covering patches put there.
        let sigma2 = {
            let mut c = cost.clone();
            let mid = c.len() / 2;
            c.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
            c[mid].max(1e-6)
        };
        let mut acc = vec![[0f32; 4]; targets.len()];
        for (k, &t) in targets.iter().enumerate() {
            let (tx, ty) = ((t % w) as i32, (t / w) as i32);
            let s = nnf[k];
            let (sx, sy) = ((s % w) as i32, (s / w) as i32);
            let wt = (-cost[k] / (2.0 * sigma2)).exp().max(1e-6);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (qx, qy) = (tx + dx, ty + dy);
                    if qx < 0 || qy < 0 || qx >= w as i32 || qy >= h as i32 {
                        continue;
                    }
                    let qk = index_of[qy as usize * w + qx as usize];
                    if qk == usize::MAX {
                        continue;
                    }
                    let v = cur[(sy + dy) as usize * w + (sx + dx) as usize];
                    let a = &mut acc[qk];
                    for c in 0..3 {
                        a[c] += wt * v[c];
                    }
                    a[3] += wt;
                }
            }
        }
        for (k, &t) in targets.iter().enumerate() {
            let a = acc[k];
            if a[3] > 0.0 {
                for c in 0..3 {
                    image.data[4 * t + c] = a[c] / a[3];
                }
            }
        }
    }
}

/// Chamfer (3-4) distance in pixels from each pixel to the nearest pixel not in `mask`.
pub fn distance(mask: &[bool], w: usize, h: usize) -> Vec<f32> {
    let big = 1e9f32;
    let mut d: Vec<f32> = mask.iter().map(|&m| if m { big } else { 0.0 }).collect();
    let at = |x: i64, y: i64| -> Option<usize> {
        (x >= 0 && y >= 0 && x < w as i64 && y < h as i64).then(|| y as usize * w + x as usize)
    };
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let i = y as usize * w + x as usize;
            for (dx, dy, c) in [
                (-1, 0, 1.0),
                (0, -1, 1.0),
                (-1, -1, std::f32::consts::SQRT_2),
                (1, -1, std::f32::consts::SQRT_2),
            ] {
                if let Some(j) = at(x + dx, y + dy) {
                    d[i] = d[i].min(d[j] + c);
                }
            }
        }
    }
    for y in (0..h as i64).rev() {
        for x in (0..w as i64).rev() {
            let i = y as usize * w + x as usize;
            for (dx, dy, c) in [
                (1, 0, 1.0),
                (0, 1, 1.0),
                (1, 1, std::f32::consts::SQRT_2),
                (-1, 1, std::f32::consts::SQRT_2),
            ] {
                if let Some(j) = at(x + dx, y + dy) {
                    d[i] = d[i].min(d[j] + c);
                }
            }
        }
    }
    d
}

/// Fill through an inpainting model of LaMa's contract.
fn model_fill(
    model: &InferencePipeline,
    image: &mut FloatImage,
    unknown: &[bool],
    frame_colour: ColourSpace,
) -> Result<()> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let b = image.bounds;
    // Hole bounding box (array coordinates), grown by half its size (at least 32 px) of context.
    let (mut x1, mut y1, mut x2, mut y2) = (w, h, 0, 0);
    for (i, _) in unknown.iter().enumerate().filter(|(_, u)| **u) {
        let (x, y) = (i % w, i / w);
        x1 = x1.min(x);
        y1 = y1.min(y);
        x2 = x2.max(x + 1);
        y2 = y2.max(y + 1);
    }
    let m = ((x2 - x1).max(y2 - y1) / 2).max(32);
    let region = Rect::new(
        b.x1 + x1.saturating_sub(m) as i32,
        b.y1 + y1.saturating_sub(m) as i32,
        b.x1 + (x2 + m).min(w) as i32,
        b.y1 + (y2 + m).min(h) as i32,
    );
    let crop = FloatImage::from_fn(region, |x, y| image.pixel(x, y));
    let mask = FloatImage::from_fn(region, |x, y| {
        let i = (y - b.y1) as usize * w + (x - b.x1) as usize;
        let v = if unknown[i] { 1.0 } else { 0.0 };
        [v, v, v, v]
    });
    let spec = model.manifest();
    let names: Vec<String> = spec.image_inputs().map(|i| i.name.clone()).collect();
    if names.len() != 2 {
        return Err(Error::new(format!(
            "inpainting model '{}' has {} image inputs; the LaMa contract has two (image, mask)",
            spec.name,
            names.len()
        )));
    }
    let mask_name = spec
        .image_inputs()
        .find(|i| i.channels == crate::tensor::ChannelOrder::Alpha)
        .map(|i| i.name.clone())
        .ok_or_else(|| {
            Error::new(format!(
                "inpainting model '{}' has no alpha (mask) input",
                spec.name
            ))
        })?;
    let image_name = names
        .iter()
        .find(|n| **n != mask_name)
        .cloned()
        .expect("two inputs");
    let out = model.infer(&InferRequest {
        images: &[(image_name.as_str(), &crop), (mask_name.as_str(), &mask)],
        frame_colour,
        constants: &[],
    })?;
    let Some(Output::Image(o)) = spec.outputs.first() else {
        return Err(Error::new(format!(
            "inpainting model '{}' has no image output first",
            spec.name
        )));
    };
    let t = out
        .get(&o.name)
        .ok_or_else(|| Error::new(format!("inpainting model output '{}' missing", o.name)))?;
    if t.shape.len() != 4 {
        return Err(Error::new(format!(
            "inpainting output has shape {:?}; expected 4 dims",
            t.shape
        )));
    }
    let (th, tw, nch) = match o.layout {
        Layout::Nchw => (t.shape[2], t.shape[3], t.shape[1]),
        Layout::Nhwc => (t.shape[1], t.shape[2], t.shape[3]),
    };
    if nch < 3 {
        return Err(Error::new(format!(
            "inpainting output has {nch} channels; expected RGB"
        )));
    }
    let norm = o.normalisation();
    let unnorm = |c: usize, v: f32| -> f32 {
        let v = if norm.std.len() > c {
            v * norm.std[c] + norm.mean[c]
        } else {
            v
        };
        (v - norm.range[0]) / (norm.range[1] - norm.range[0])
    };
    let bgr = o.channels == crate::tensor::ChannelOrder::Bgr;
    let covered = out.mapping.covered;
    let mut model_img = FloatImage::new(Rect::new(0, 0, tw as i32, th as i32));
    for row in 0..th {
        let y = (th - 1 - row) as i32;
        for col in 0..tw {
            let mut px = [0f32, 0.0, 0.0, 1.0];
            for c in 0..3 {
                let sc = if bgr { 2 - c } else { c };
                let v = match o.layout {
                    Layout::Nchw => t.data[(sc * th + row) * tw + col],
                    Layout::Nhwc => t.data[(row * tw + col) * nch + sc],
                };
                px[c] = unnorm(c, v);
            }
            model_img.set_pixel(col as i32, y, px);
        }
    }
    let mut back = resize_to(&model_img, covered);
    convert_rgba(&mut back.data, o.colour_space, frame_colour);
    for (i, _) in unknown.iter().enumerate().filter(|(_, u)| **u) {
        let (x, y) = (b.x1 + (i % w) as i32, b.y1 + (i / w) as i32);
        if covered.contains(x, y) {
            let p = back.pixel(x, y);
            image.data[4 * i..4 * i + 3].copy_from_slice(&p[..3]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plate::median::tests::background;

    #[test]
    fn builtin_fill_beats_a_flat_mean() {
        let (w, h) = (96usize, 80usize);
        let bounds = Rect::from_size(w as u32, h as u32);
        let truth = FloatImage::from_fn(bounds, |x, y| background(x as f32, y as f32));
        let unknown: Vec<bool> = bounds
            .pixels()
            .map(|(x, y)| (30..62).contains(&x) && (24..56).contains(&y))
            .collect();
        let mut img = truth.clone();
        let mut mean = [0f64; 3];
        let mut n = 0.0;
        for (i, &u) in unknown.iter().enumerate() {
            if !u {
                for c in 0..3 {
                    mean[c] += truth.data[4 * i + c] as f64;
                }
                n += 1.0;
            } else {
                img.data[4 * i..4 * i + 3].copy_from_slice(&[f32::NAN; 3]);
            }
        }
        let err = |img: &FloatImage| -> f64 {
            let mut s = 0.0;
            for (i, &u) in unknown.iter().enumerate() {
                if u {
                    for c in 0..3 {
                        s += (img.data[4 * i + c] as f64 - truth.data[4 * i + c] as f64).powi(2);
                    }
                }
            }
            s
        };
        let mut flat = truth.clone();
        for (i, &u) in unknown.iter().enumerate() {
            if u {
                for c in 0..3 {
                    flat.data[4 * i + c] = (mean[c] / n) as f32;
                }
            }
        }
        let opts = crate::plate::median::tests::opts(crate::plate::Method::Inpaint, 1);
        let conf = fill(&mut img, &unknown, &opts).unwrap();
        assert!(img.data.iter().all(|v| v.is_finite()));
        let (e_fill, e_flat) = (err(&img), err(&flat));
        assert!(e_fill < e_flat, "fill {e_fill} vs flat {e_flat}");
        for (i, &u) in unknown.iter().enumerate() {
            if u {
                assert!(conf[i] < 0.5 && conf[i] > 0.0);
            }
        }
    }
}
